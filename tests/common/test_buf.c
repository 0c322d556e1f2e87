/* Bounded reader/writer and GUID text/wire conversion. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "guid.h"

/* An exactly-sized heap copy, so that ASan reports any read past the end. */
static uint8_t *exact(const void *src, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    if (n)
        memcpy(p, src, n);
    return p;
}

static void reader_integers(void **state)
{
    (void)state;
    static const uint8_t in[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    uint8_t *p = exact(in, sizeof in);
    struct rd r;
    rd_init(&r, p, sizeof in);
    assert_int_equal(rd_u8(&r), 1);
    assert_int_equal(rd_u16le(&r), 0x0302);
    assert_int_equal(rd_u32le(&r), 0x07060504);
    assert_true(rd_u64le(&r) == 0x0f0e0d0c0b0a0908ull);
    assert_int_equal(rd_left(&r), 0);
    assert_int_equal(rd_expect_end(&r), 0);
    free(p);
}

/* Reading n bytes from a buffer of limit-1, limit and limit+1 bytes, for every read primitive. */
static void reader_limits(void **state)
{
    (void)state;
    static const size_t widths[] = {1, 2, 4, 8, 16};
    for (size_t k = 0; k < sizeof widths / sizeof widths[0]; k++) {
        size_t n = widths[k];
        for (size_t len = n - 1; len <= n + 1; len++) {
            uint8_t src[32];
            memset(src, 0xab, sizeof src);
            uint8_t *p = exact(src, len);
            struct rd r;
            rd_init(&r, p, len);
            uint8_t dst[16];
            switch (n) {
            case 1: (void)rd_u8(&r); break;
            case 2: (void)rd_u16le(&r); break;
            case 4: (void)rd_u32le(&r); break;
            case 8: (void)rd_u64le(&r); break;
            default: rd_bytes(&r, dst, n); break;
            }
            if (len < n) {
                assert_int_equal(r.err, KMS_ETRUNC);
                assert_int_equal(rd_expect_end(&r), KMS_ETRUNC);
            } else if (len == n) {
                assert_int_equal(r.err, 0);
                assert_int_equal(rd_expect_end(&r), 0);
            } else {
                assert_int_equal(r.err, 0);
                assert_int_equal(rd_left(&r), 1);
                assert_int_equal(rd_expect_end(&r), KMS_ETRAILING);
            }
            free(p);
        }
    }
}

static void reader_sticky(void **state)
{
    (void)state;
    static const uint8_t in[] = {0xff, 0xff, 0xff};
    struct rd r;
    rd_init(&r, in, sizeof in);
    assert_int_equal(rd_u32le(&r), 0); /* fails: only 3 bytes */
    assert_int_equal(r.err, KMS_ETRUNC);
    assert_int_equal(rd_u8(&r), 0); /* sticky: even a read that would fit returns 0 */
    assert_null(rd_view(&r, 1));
    uint8_t d[2] = {9, 9};
    rd_bytes(&r, d, 2);
    assert_int_equal(d[0], 0);
    assert_int_equal(rd_left(&r), 0);
}

static void reader_view_sub_align(void **state)
{
    (void)state;
    static const uint8_t in[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    struct rd r;
    rd_init(&r, in, sizeof in);
    (void)rd_u8(&r);
    rd_align(&r, 4);
    assert_int_equal(r.off, 4);
    rd_align(&r, 4);
    assert_int_equal(r.off, 4);
    struct rd s = rd_sub(&r, 3);
    assert_int_equal(s.len, 3);
    assert_int_equal(rd_u8(&s), 5);
    assert_int_equal(rd_left(&r), 3);
    const uint8_t *v = rd_view(&r, 3);
    assert_ptr_equal(v, in + 7);
    struct rd bad = rd_sub(&r, 1);
    assert_int_equal(bad.err, KMS_ETRUNC);
    assert_int_equal(rd_u8(&bad), 0);
    rd_align(&r, 8); /* at 10: would need 6 more bytes */
    assert_int_equal(r.err, KMS_ETRUNC);
    struct rd empty;
    rd_init(&empty, NULL, 5);
    assert_int_equal(rd_left(&empty), 0);
    assert_int_equal(rd_expect_end(&empty), 0);
}

/* rd_span_to: the bytes before a delimiter, or all that is left; nothing consumed; 0 once the error is set. */
static void reader_span_to(void **state)
{
    (void)state;
    static const char text[] = "ab\tc\n";
    struct rd r;
    rd_init(&r, text, sizeof text - 1);
    assert_int_equal(rd_span_to(&r, '\t'), 2);
    assert_int_equal(rd_span_to(&r, '\n'), 4);
    assert_int_equal(rd_span_to(&r, 'x'), 5);
    assert_int_equal(rd_span_to(&r, 'a'), 0);
    assert_int_equal(r.off, 0);
    rd_skip(&r, 5);
    assert_int_equal(rd_span_to(&r, '\n'), 0);
    rd_skip(&r, 1);
    assert_int_equal(r.err, KMS_ETRUNC);
    assert_int_equal(rd_span_to(&r, '\n'), 0);
    struct rd empty;
    rd_init(&empty, NULL, 0);
    assert_int_equal(rd_span_to(&empty, 'a'), 0);
}

static void writer_limits(void **state)
{
    (void)state;
    for (size_t cap = 0; cap <= 16; cap++) {
        uint8_t *p = malloc(cap ? cap : 1);
        assert_non_null(p);
        struct wr w;
        wr_init(&w, p, cap);
        wr_u8(&w, 1);
        wr_u16le(&w, 0x0302);
        wr_u32le(&w, 0x07060504);
        wr_u64le(&w, 0x0f0e0d0c0b0a0908ull);
        if (cap < 15) {
            assert_int_equal(w.err, KMS_ENOSPC);
        } else {
            assert_int_equal(w.err, 0);
            assert_int_equal(w.off, 15);
            for (int i = 0; i < 15; i++)
                assert_int_equal(p[i], i + 1);
        }
        free(p);
    }
}

static void writer_align_patch(void **state)
{
    (void)state;
    uint8_t b[16];
    memset(b, 0xee, sizeof b);
    struct wr w;
    wr_init(&w, b, sizeof b);
    wr_u16le(&w, 0);
    wr_u8(&w, 7);
    wr_align(&w, 4);
    assert_int_equal(w.off, 4);
    assert_int_equal(b[3], 0);
    wr_patch_u16le(&w, 0, 0xbeef);
    assert_int_equal(b[0], 0xef);
    assert_int_equal(b[1], 0xbe);
    wr_patch_u32le(&w, 2, 1); /* would cover bytes 2..5, only 4 written */
    assert_int_equal(w.err, KMS_EINVAL);
    wr_init(&w, b, sizeof b);
    wr_zeros(&w, 16);
    assert_int_equal(w.err, 0);
    wr_align(&w, 8);
    assert_int_equal(w.err, 0);
    wr_bytes(&w, "x", 1);
    assert_int_equal(w.err, KMS_ENOSPC);
}

static void guid_text_and_wire(void **state)
{
    (void)state;
    /* protocol.md conventions: the Windows application id and its wire bytes */
    struct guid g;
    assert_int_equal(guid_parse(&g, "55c92734-d682-4d71-983e-d6ec3f16059f"), 0);
    static const uint8_t wire[16] = {0x34, 0x27, 0xc9, 0x55, 0x82, 0xd6, 0x71, 0x4d,
                                     0x98, 0x3e, 0xd6, 0xec, 0x3f, 0x16, 0x05, 0x9f};
    assert_memory_equal(g.b, wire, 16);
    char t[GUID_TEXT_LEN + 1];
    guid_format(&g, t);
    assert_string_equal(t, "55c92734-d682-4d71-983e-d6ec3f16059f");
    struct guid h;
    assert_int_equal(guid_parse(&h, "{55C92734-D682-4D71-983E-D6EC3F16059F}"), 0);
    assert_true(guid_eq(&g, &h));
    assert_false(guid_is_zero(&g));
    memset(&h, 0, sizeof h);
    assert_true(guid_is_zero(&h));

    struct rd r;
    rd_init(&r, wire, sizeof wire);
    guid_read(&r, &h);
    assert_true(guid_eq(&g, &h));
    uint8_t out[16];
    struct wr w;
    wr_init(&w, out, sizeof out);
    guid_write(&w, &g);
    assert_memory_equal(out, wire, 16);
}

static void guid_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "55c92734-d682-4d71-983e-d6ec3f16059",   /* short */
        "55c92734-d682-4d71-983e-d6ec3f16059f0", /* long */
        "55c92734d6824d71983ed6ec3f16059f",      /* no dashes */
        "55c92734-d682-4d71-983e_d6ec3f16059f",  /* wrong separator */
        "55c9273g-d682-4d71-983e-d6ec3f16059f",  /* not hex */
        "{55c92734-d682-4d71-983e-d6ec3f16059f", /* one brace */
        "55c92734-d682-4d71-983e-d6ec3f16059f}",
    };
    struct guid g;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(guid_parse(&g, bad[i]), KMS_EINVAL);
    assert_int_equal(guid_parse(&g, NULL), KMS_EINVAL);
}

/* buf_hexval's table for every byte, against the digits written out. */
static void hex_digits(void **state)
{
    (void)state;
    static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
    for (int c = 0; c < 256; c++) {
        int want = -1;
        for (int v = 0; v < 16; v++)
            if (c == lower[v] || c == upper[v])
                want = v;
        if (buf_hexval((char)c) != want)
            fail_msg("byte %d: %d, want %d", c, buf_hexval((char)c), want);
    }
}

static void strerror_total(void **state)
{
    (void)state;
    for (int e = KMS_EINVAL; e <= KMS_ENOMEM; e++) {
        const char *s = kms_strerror(e);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown error");
    }
    assert_string_equal(kms_strerror(0), "success");
    assert_non_null(kms_strerror(-2)); /* -ENOENT passes through */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_integers),    cmocka_unit_test(reader_limits),
        cmocka_unit_test(reader_sticky),      cmocka_unit_test(reader_view_sub_align), cmocka_unit_test(reader_span_to),
        cmocka_unit_test(writer_limits),      cmocka_unit_test(writer_align_patch),
        cmocka_unit_test(guid_text_and_wire), cmocka_unit_test(guid_rejects),
        cmocka_unit_test(hex_digits),
        cmocka_unit_test(strerror_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
