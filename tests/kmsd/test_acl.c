/* Access control: CIDR parsing (IPv4, IPv6, v4-mapped), deny winning over allow, private addresses. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "acl.h"

static void addr(const char *text, uint8_t out[16])
{
    struct sockaddr_in s4;
    struct sockaddr_in6 s6;
    memset(&s4, 0, sizeof s4);
    memset(&s6, 0, sizeof s6);
    if (inet_pton(AF_INET, text, &s4.sin_addr) == 1) {
        s4.sin_family = AF_INET;
        assert_int_equal(acl_addr_from_sockaddr((struct sockaddr *)&s4, out), 0);
        return;
    }
    assert_int_equal(inet_pton(AF_INET6, text, &s6.sin6_addr), 1);
    s6.sin6_family = AF_INET6;
    assert_int_equal(acl_addr_from_sockaddr((struct sockaddr *)&s6, out), 0);
}

static void parse(void **state)
{
    (void)state;
    struct acl_net n;
    const char *why;
    char text[ACL_CIDR_TEXT];
    static const char *const good[][2] = {
        {"10.0.0.0/8", "10.0.0.0/8"},       {"192.168.1.7", "192.168.1.7/32"}, {"0.0.0.0/0", "0.0.0.0/0"},
        {"fd00::/8", "fd00::/8"},           {"::1", "::1/128"},                {"::/0", "::/0"},
        {"2001:db8::/32", "2001:db8::/32"}, {"::ffff:10.0.0.0/104", "10.0.0.0/8"}, {"1.2.3.4/32", "1.2.3.4/32"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (acl_parse_cidr(good[i][0], &n, &why) != 0)
            fail_msg("%s: %s", good[i][0], why);
        acl_format_cidr(&n, text, sizeof text);
        assert_string_equal(text, good[i][1]);
    }
    static const char *const bad[] = {
        "", "10.0.0.0/33", "10.1.0.0/8", "1.2.3", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/8a", "::/129", "fe80::1/10",
        "example.org", "10.0.0.0/8/8", "1.2.3.4 ", "::1%lo", "10.0.0.0/0008",
        "0123456789012345678901234567890123456789012345678901234567890123456789",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (acl_parse_cidr(bad[i], &n, &why) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(why);
    }
    /* prefix lengths at the limit and one past it */
    assert_int_equal(acl_parse_cidr("1.2.3.4/32", &n, &why), 0);
    assert_int_equal(acl_parse_cidr("1.2.3.4/33", &n, &why), -1);
    assert_int_equal(acl_parse_cidr("::1/128", &n, &why), 0);
    assert_int_equal(acl_parse_cidr("::1/129", &n, &why), -1);
}

static void contains(void **state)
{
    (void)state;
    struct acl_net n;
    const char *why;
    uint8_t a[16];
    assert_int_equal(acl_parse_cidr("172.16.0.0/12", &n, &why), 0);
    addr("172.16.0.1", a);
    assert_true(acl_net_contains(&n, a));
    addr("172.31.255.255", a);
    assert_true(acl_net_contains(&n, a));
    addr("172.32.0.0", a);
    assert_false(acl_net_contains(&n, a));
    addr("::ffff:172.20.1.1", a); /* an IPv4 peer on a dual-stack listener */
    assert_true(acl_net_contains(&n, a));
    addr("::172.20.1.1", a); /* IPv4-compatible is not IPv4 */
    assert_false(acl_net_contains(&n, a));
    assert_int_equal(acl_parse_cidr("0.0.0.0/0", &n, &why), 0); /* every IPv4 address, no IPv6 one */
    addr("8.8.8.8", a);
    assert_true(acl_net_contains(&n, a));
    addr("2001:db8::1", a);
    assert_false(acl_net_contains(&n, a));
    assert_int_equal(acl_parse_cidr("::/0", &n, &why), 0); /* everything */
    assert_true(acl_net_contains(&n, a));
    addr("8.8.8.8", a);
    assert_true(acl_net_contains(&n, a));
    assert_int_equal(acl_parse_cidr("2001:db8:1::/48", &n, &why), 0);
    addr("2001:db8:1:ffff::1", a);
    assert_true(acl_net_contains(&n, a));
    addr("2001:db8:2::1", a);
    assert_false(acl_net_contains(&n, a));
}

static void private_addresses(void **state)
{
    (void)state;
    static const char *const priv[] = {
        "10.0.0.1",  "10.255.255.255", "172.16.0.1",  "172.31.255.254", "192.168.0.1", "127.0.0.1", "127.255.0.9",
        "169.254.1.1", "100.64.0.1", "100.127.255.255", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1",
        "::ffff:192.168.1.1", "::ffff:127.0.0.1",
    };
    static const char *const pub[] = {
        "8.8.8.8",   "172.15.255.255", "172.32.0.0", "192.169.0.1", "100.63.255.255", "100.128.0.0", "169.253.1.1",
        "11.0.0.1",  "0.0.0.0",        "224.0.0.1",  "2001:db8::1", "fec0::1",        "fe00::1",     "ff02::1",
        "::",        "::2",            "64:ff9b::a00:1", "::ffff:8.8.8.8",
    };
    uint8_t a[16];
    for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++) {
        addr(priv[i], a);
        if (!acl_is_private(a))
            fail_msg("%s should be private", priv[i]);
    }
    for (size_t i = 0; i < sizeof pub / sizeof pub[0]; i++) {
        addr(pub[i], a);
        if (acl_is_private(a))
            fail_msg("%s should be public", pub[i]);
    }
}

static void verdicts(void **state)
{
    (void)state;
    static struct acl acl;
    char allow[2][ACL_CIDR_TEXT] = {"10.0.0.0/8", "2001:db8::/32"};
    char deny[1][ACL_CIDR_TEXT] = {"10.1.0.0/16"};
    uint8_t a[16];
    /* nothing configured: everyone passes */
    assert_int_equal(acl_build(&acl, NULL, 0, NULL, 0, ACL_CIDR_TEXT, false), 0);
    addr("8.8.8.8", a);
    assert_int_equal(acl_check(&acl, a), ACL_PASS);
    /* allow + deny: deny wins, others outside allow are refused */
    assert_int_equal(acl_build(&acl, allow[0], 2, deny[0], 1, ACL_CIDR_TEXT, false), 0);
    addr("10.2.3.4", a);
    assert_int_equal(acl_check(&acl, a), ACL_PASS);
    addr("10.1.3.4", a);
    assert_int_equal(acl_check(&acl, a), ACL_DENIED);
    addr("::ffff:10.1.3.4", a);
    assert_int_equal(acl_check(&acl, a), ACL_DENIED);
    addr("192.168.1.1", a);
    assert_int_equal(acl_check(&acl, a), ACL_NOT_ALLOWED);
    addr("2001:db8::5", a);
    assert_int_equal(acl_check(&acl, a), ACL_PASS);
    /* private-only on top: the public allowed IPv6 range is still refused */
    assert_int_equal(acl_build(&acl, allow[0], 2, deny[0], 1, ACL_CIDR_TEXT, true), 0);
    assert_int_equal(acl_check(&acl, a), ACL_PUBLIC);
    addr("10.2.3.4", a);
    assert_int_equal(acl_check(&acl, a), ACL_PASS);
    /* deny only */
    assert_int_equal(acl_build(&acl, NULL, 0, deny[0], 1, ACL_CIDR_TEXT, false), 0);
    addr("10.1.0.0", a);
    assert_int_equal(acl_check(&acl, a), ACL_DENIED);
    addr("10.2.0.0", a);
    assert_int_equal(acl_check(&acl, a), ACL_PASS);
    /* a bad entry and too many entries are refused */
    char badl[1][ACL_CIDR_TEXT] = {"10.1.0.0/8"};
    assert_int_equal(acl_build(&acl, badl[0], 1, NULL, 0, ACL_CIDR_TEXT, false), -1);
    assert_int_equal(acl_build(&acl, allow[0], ACL_MAX_RULES + 1, NULL, 0, ACL_CIDR_TEXT, false), -1);
    for (int v = ACL_PASS; v <= ACL_PUBLIC; v++)
        assert_string_not_equal(acl_verdict_name((enum acl_verdict)v), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse),
        cmocka_unit_test(contains),
        cmocka_unit_test(private_addresses),
        cmocka_unit_test(verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
