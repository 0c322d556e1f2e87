/* hostport: every form the options accept, the two errors, ports at their limits. */
#include "testutil.h"

#include <string.h>

#include "err.h"
#include "hostport.h"

static void check(const char *text, const char *host, const char *port, bool bracketed, bool bare)
{
    struct hostport hp;
    const char *why = NULL;
    assert_int_equal(hostport_split(text, &hp, &why), 0);
    assert_int_equal(hp.host_len, strlen(host));
    assert_memory_equal(hp.host, host, hp.host_len);
    if (port) {
        assert_non_null(hp.port);
        assert_int_equal(hp.port_len, strlen(port));
        assert_memory_equal(hp.port, port, hp.port_len);
    } else {
        assert_null(hp.port);
    }
    assert_int_equal(hp.bracketed, bracketed);
    assert_int_equal(hp.bare_ipv6, bare);
}

static void splits(void **state)
{
    (void)state;
    check("192.0.2.1", "192.0.2.1", NULL, false, false);
    check("192.0.2.1:1688", "192.0.2.1", "1688", false, false);
    check("kms.example:1688", "kms.example", "1688", false, false);
    check("*:8080", "*", "8080", false, false);
    check("host:", "host", "", false, false);
    check(":1688", "", "1688", false, false);
    check("", "", NULL, false, false);
    check("[::1]", "::1", NULL, true, false);
    check("[::1]:1688", "::1", "1688", true, false);
    check("[fe80::1%eth0]:1688", "fe80::1%eth0", "1688", true, false);
    check("[]:1", "", "1", true, false);
    check("[::1]:", "::1", "", true, false);
    check("::1", "::1", NULL, false, true);
    check("fe80::1%eth0", "fe80::1%eth0", NULL, false, true);
}

static void errors(void **state)
{
    (void)state;
    struct hostport hp;
    const char *why = NULL;
    assert_int_equal(hostport_split("[::1", &hp, &why), KMS_EINVAL);
    assert_string_equal(why, "missing \"]\"");
    why = NULL;
    assert_int_equal(hostport_split("[::1]1688", &hp, &why), KMS_EINVAL);
    assert_string_equal(why, "unexpected text after \"]\"");
    assert_int_equal(hostport_split("[::1]x", &hp, NULL), KMS_EINVAL); /* why is optional */
    why = NULL;
    assert_int_equal(hostport_split("http://kms.example.org:1688/", &hp, &why), KMS_EINVAL); /* a browser's address */
    assert_string_equal(why, "a URL, not an address");
    assert_int_equal(hostport_split("[::1]://x", &hp, NULL), KMS_EINVAL);
}

static void ports(void **state)
{
    (void)state;
    uint16_t p = 7;
    assert_int_equal(hostport_port("1", 1, &p), 0);
    assert_int_equal(p, 1);
    assert_int_equal(hostport_port("65535", 5, &p), 0);
    assert_int_equal(p, 65535);
    assert_int_equal(hostport_port("01688", 5, &p), 0);
    assert_int_equal(p, 1688);
    assert_int_equal(hostport_port("1688x", 4, &p), 0); /* exactly n characters are read */
    assert_int_equal(p, 1688);
    p = 7;
    assert_int_equal(hostport_port("0", 1, &p), KMS_EINVAL);
    assert_int_equal(hostport_port("65536", 5, &p), KMS_EINVAL);
    assert_int_equal(hostport_port("100000", 6, &p), KMS_EINVAL);
    assert_int_equal(hostport_port("", 0, &p), KMS_EINVAL);
    assert_int_equal(hostport_port("+1", 2, &p), KMS_EINVAL);
    assert_int_equal(hostport_port("-1", 2, &p), KMS_EINVAL);
    assert_int_equal(hostport_port(" 1", 2, &p), KMS_EINVAL);
    assert_int_equal(hostport_port("1 ", 2, &p), KMS_EINVAL);
    assert_int_equal(p, 7); /* untouched on error */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(splits), cmocka_unit_test(errors), cmocka_unit_test(ports)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
