/* Strict UTF-16LE <-> UTF-8 conversion (workstation names and ePIDs). */
#include "testutil.h"

#include <string.h>

#include "buf.h"
#include "err.h"
#include "utf16.h"

static size_t units_of(const uint16_t *u, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        buf_put_le16(out + 2 * i, u[i]);
    return n;
}

static void roundtrip(void **state)
{
    (void)state;
    /* ASCII, 2-byte, 3-byte and 4-byte (surrogate pair) characters */
    const char *s = "PC-\xc3\xa9t\xc3\xa9-\xe6\x9d\xb1-\xf0\x9f\x98\x80";
    uint8_t u16[64];
    size_t n;
    assert_int_equal(utf16_from_utf8(s, u16, 32, &n), 0);
    assert_int_equal(n, 3 + 3 + 2 + 1 + 2); /* "PC-" "été" "-東" "-" pair */
    assert_int_equal(buf_le16(u16 + 2 * 9), 0xD83D);
    assert_int_equal(buf_le16(u16 + 2 * 10), 0xDE00);
    assert_int_equal(utf16_validate(u16, n), 0);
    char back[64];
    size_t blen;
    assert_int_equal(utf16_to_utf8(u16, n, back, sizeof back, &blen), 0);
    assert_string_equal(back, s);
    assert_int_equal(blen, strlen(s));
}

static void stops_at_nul(void **state)
{
    (void)state;
    static const uint16_t u[] = {'a', 'b', 0, 'c'};
    uint8_t b[8];
    units_of(u, 4, b);
    char out[8];
    assert_int_equal(utf16_to_utf8(b, 4, out, sizeof out, NULL), 0);
    assert_string_equal(out, "ab");
    assert_int_equal(utf16_validate(b, 4), KMS_EINVAL); /* a zero unit inside */
}

static void unpaired_surrogates(void **state)
{
    (void)state;
    static const uint16_t lone_high[] = {'x', 0xD800};
    static const uint16_t lone_low[] = {0xDC00, 'x'};
    static const uint16_t high_high[] = {0xD800, 0xD800};
    const uint16_t *cases[] = {lone_high, lone_low, high_high};
    for (int i = 0; i < 3; i++) {
        uint8_t b[4];
        units_of(cases[i], 2, b);
        char out[16];
        assert_int_equal(utf16_validate(b, 2), KMS_EINVAL);
        assert_int_equal(utf16_to_utf8(b, 2, out, sizeof out, NULL), KMS_EINVAL);
        assert_true(strlen(out) <= 1); /* the valid prefix, NUL-terminated */
    }
}

static void bad_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong */
        "\xed\xa0\x80",     /* UTF-8-encoded surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\x80",             /* lone continuation */
        "\xc3",             /* truncated */
        "\xf8\x88\x80\x80\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t b[32];
        size_t n;
        assert_int_equal(utf16_from_utf8(bad[i], b, 16, &n), KMS_EINVAL);
    }
}

static void capacity_limits(void **state)
{
    (void)state;
    uint8_t b[8];
    size_t n;
    /* 3 units into capacity 2, 3, 4 */
    assert_int_equal(utf16_from_utf8("abc", b, 2, &n), KMS_ENOSPC);
    assert_int_equal(utf16_from_utf8("abc", b, 3, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(utf16_from_utf8("abc", b, 4, &n), 0);
    /* a surrogate pair does not fit in one remaining unit */
    assert_int_equal(utf16_from_utf8("a\xf0\x9f\x98\x80", b, 2, &n), KMS_ENOSPC);
    assert_int_equal(n, 1);

    static const uint16_t u[] = {'a', 0xE9, 'b'}; /* "aéb" = 4 UTF-8 bytes */
    uint8_t in[6];
    units_of(u, 3, in);
    char out[8];
    assert_int_equal(utf16_to_utf8(in, 3, out, 4, NULL), KMS_ENOSPC); /* 3 bytes + NUL: "aé" fits, b not */
    assert_string_equal(out, "a\xc3\xa9");
    assert_int_equal(utf16_to_utf8(in, 3, out, 5, NULL), 0);
    assert_int_equal(utf16_to_utf8(in, 3, out, 0, NULL), KMS_ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip),  cmocka_unit_test(stops_at_nul),    cmocka_unit_test(unpaired_surrogates),
        cmocka_unit_test(bad_utf8),   cmocka_unit_test(capacity_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
