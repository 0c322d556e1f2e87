/* proxy_header: versions 1 and 2 as HAProxy sends them, byte by byte (need more, then the length), LOCAL and
 * UNKNOWN, TLVs skipped, the length limits, and what is refused. */
#include "testutil.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "proxy_header.h"

/* Every prefix of a complete header asks for more; the whole (with bytes after it) gives its length. */
static void whole_and_prefixes(const uint8_t *h, size_t n, struct proxy_info *out)
{
    uint8_t buf[PROXY_V2_MAX + 16];
    memcpy(buf, h, n);
    memcpy(buf + n, "\x05\x00\x0b\x03", 4); /* an RPC PDU's first bytes, after it */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(proxy_parse(buf, i, out), 0);
    assert_int_equal(proxy_parse(buf, n + 4, out), (int)n);
}

static void v1(void **state)
{
    (void)state;
    struct proxy_info pi;
    const char *t4 = "PROXY TCP4 192.0.2.7 127.0.0.1 50123 1688\r\n";
    whole_and_prefixes((const uint8_t *)t4, strlen(t4), &pi);
    assert_int_equal(pi.version, 1);
    assert_false(pi.local);
    assert_int_equal(pi.family, AF_INET);
    assert_memory_equal(pi.src, "\xc0\x00\x02\x07", 4);
    assert_int_equal(pi.src_port, 50123);
    assert_int_equal(pi.dst_port, 1688);

    const char *t6 = "PROXY TCP6 2001:db8::7 ::1 65535 0\r\n";
    whole_and_prefixes((const uint8_t *)t6, strlen(t6), &pi);
    assert_int_equal(pi.family, AF_INET6);
    uint8_t want[16];
    inet_pton(AF_INET6, "2001:db8::7", want);
    assert_memory_equal(pi.src, want, 16);
    assert_int_equal(pi.src_port, 65535);

    const char *unk = "PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 1 2\r\n";
    whole_and_prefixes((const uint8_t *)unk, strlen(unk), &pi);
    assert_true(pi.local);
    assert_int_equal(proxy_parse((const uint8_t *)"PROXY UNKNOWN\r\n", 15, &pi), 15);
    assert_true(pi.local);

    /* the longest line the specification allows: accepted; one byte more without an end of line: refused */
    char longest[PROXY_V1_MAX + 1];
    snprintf(longest, sizeof longest, "PROXY UNKNOWN %*s\r\n", PROXY_V1_MAX - 16, "x");
    assert_int_equal(strlen(longest), PROXY_V1_MAX);
    assert_int_equal(proxy_parse((const uint8_t *)longest, PROXY_V1_MAX, &pi), PROXY_V1_MAX);
    char over[PROXY_V1_MAX + 8];
    memset(over, 'x', sizeof over);
    memcpy(over, "PROXY UNKNOWN ", 14);
    assert_int_equal(proxy_parse((const uint8_t *)over, sizeof over, &pi), KMS_EINVAL);

    static const char *const bad[] = {
        "PROXY TCP4 192.0.2.7 127.0.0.1 50123 1688\n",        /* LF without CR */
        "PROXY TCP5 192.0.2.7 127.0.0.1 50123 1688\r\n",      /* no such protocol */
        "PROXY TCP4 192.0.2.7 127.0.0.1 50123\r\n",           /* a field missing */
        "PROXY TCP4 192.0.2.7 127.0.0.1 50123 1688 9\r\n",    /* one too many */
        "PROXY TCP4 192.0.2.7  127.0.0.1 50123 1688\r\n",     /* an empty field */
        "PROXY TCP4 2001:db8::7 127.0.0.1 50123 1688\r\n",    /* not IPv4 */
        "PROXY TCP6 192.0.2.7 ::1 50123 1688\r\n",            /* not IPv6 */
        "PROXY TCP4 192.0.2.7 127.0.0.1 050123 1688\r\n",     /* a leading zero */
        "PROXY TCP4 192.0.2.7 127.0.0.1 -1 1688\r\n",         /* a sign */
        "PROXY TCP4 192.0.2.256 127.0.0.1 50123 1688\r\n",    /* not an address */
        "proxy TCP4 192.0.2.7 127.0.0.1 50123 1688\r\n",      /* case */
        "\x05\x00\x0b\x03\x10\x00\x00\x00",                   /* an RPC BIND: no header at all */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_true(proxy_parse((const uint8_t *)bad[i], strlen(bad[i]) ? strlen(bad[i]) : 8, &pi) < 0);
    assert_int_equal(proxy_parse((const uint8_t *)"PROXY TCP4 192.0.2.7 127.0.0.1 65536 1688\r\n", 43, &pi),
                     KMS_ERANGE);
}

/* A version 2 header: signature, ver_cmd, fam, length, then body. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *body, uint16_t blen)
{
    static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(blen >> 8);
    out[15] = (uint8_t)blen;
    memcpy(out + 16, body, blen);
    return 16u + blen;
}

static void version2(void **state)
{
    (void)state;
    struct proxy_info pi;
    uint8_t h[PROXY_V2_MAX + 64], body[PROXY_V2_MAX];
    /* TCP over IPv4, with a TLV after the addresses (skipped) */
    uint8_t b4[] = {198, 51, 100, 9, 127, 0, 0, 1, 0xC3, 0x50, 0x06, 0x98, 0x04, 0x00, 0x02, 'h', 'i'};
    size_t n = v2(h, 0x21, 0x11, b4, sizeof b4);
    whole_and_prefixes(h, n, &pi);
    assert_int_equal(pi.version, 2);
    assert_false(pi.local);
    assert_int_equal(pi.family, AF_INET);
    assert_memory_equal(pi.src, "\xc6\x33\x64\x09", 4);
    assert_int_equal(pi.src_port, 50000);
    assert_int_equal(pi.dst_port, 1688);
    /* TCP over IPv6 */
    memset(body, 0, 36);
    body[0] = 0x20;
    body[1] = 0x01;
    body[15] = 7;
    body[31] = 1;
    body[32] = 0x01;
    body[33] = 0x02;
    n = v2(h, 0x21, 0x21, body, 36);
    whole_and_prefixes(h, n, &pi);
    assert_int_equal(pi.family, AF_INET6);
    assert_int_equal(pi.src[0], 0x20);
    assert_int_equal(pi.src[15], 7);
    assert_int_equal(pi.src_port, 258);
    /* LOCAL (the proxy's own health check), with or without a block: the connection's own address */
    n = v2(h, 0x20, 0x00, body, 0);
    whole_and_prefixes(h, n, &pi);
    assert_true(pi.local);
    n = v2(h, 0x20, 0x11, b4, 12);
    assert_int_equal(proxy_parse(h, n, &pi), (int)n);
    assert_true(pi.local);
    /* PROXY over UNSPEC, UDP or a UNIX socket: kept as the connection's own */
    n = v2(h, 0x21, 0x00, body, 0);
    assert_int_equal(proxy_parse(h, n, &pi), (int)n);
    assert_true(pi.local);
    n = v2(h, 0x21, 0x12, b4, 12);
    assert_int_equal(proxy_parse(h, n, &pi), (int)n);
    assert_true(pi.local);
    /* the limit: a body of PROXY_V2_MAX - 16 bytes is taken, one more refused at once (from the head alone) */
    memset(body, 0, sizeof body);
    n = v2(h, 0x21, 0x11, body, PROXY_V2_MAX - 16);
    assert_int_equal(proxy_parse(h, n, &pi), PROXY_V2_MAX);
    v2(h, 0x21, 0x11, body, PROXY_V2_MAX - 15);
    assert_int_equal(proxy_parse(h, 16, &pi), KMS_ERANGE);
    /* refused: version 1 in a version 2 head, a command above PROXY, a family above UNIX, addresses that do not
     * fit in the announced length */
    n = v2(h, 0x11, 0x11, b4, 12);
    assert_int_equal(proxy_parse(h, n, &pi), KMS_EINVAL);
    n = v2(h, 0x22, 0x11, b4, 12);
    assert_int_equal(proxy_parse(h, n, &pi), KMS_EINVAL);
    n = v2(h, 0x21, 0x41, b4, 12);
    assert_int_equal(proxy_parse(h, n, &pi), KMS_EINVAL);
    n = v2(h, 0x21, 0x11, b4, 11);
    assert_int_equal(proxy_parse(h, n, &pi), KMS_EINVAL);
    n = v2(h, 0x21, 0x21, body, 35);
    assert_int_equal(proxy_parse(h, n, &pi), KMS_EINVAL);
    /* a broken signature */
    n = v2(h, 0x21, 0x11, b4, 12);
    h[7] = 'q';
    assert_int_equal(proxy_parse(h, n, &pi), KMS_EINVAL);
}

static void looks_like(void **state)
{
    (void)state;
    assert_true(proxy_looks_like((const uint8_t *)"PRO", 3));
    assert_true(proxy_looks_like((const uint8_t *)"PROXY TCP4", 10));
    assert_true(proxy_looks_like((const uint8_t *)"\r\n\r\n\0\r\nQ", 8));
    assert_false(proxy_looks_like((const uint8_t *)"PROXZ", 5));
    assert_false(proxy_looks_like((const uint8_t *)"\x05\x00\x0b", 3));
    assert_false(proxy_looks_like((const uint8_t *)"", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(v1), cmocka_unit_test(version2), cmocka_unit_test(looks_like)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
