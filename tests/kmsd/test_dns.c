/* DNS publishing's pure parts: the names users give (dns_name), the TSIG key forms (dns_tsig: NAME:ALG:SECRET and
 * a BIND key file), the record's text and the five forms of kmsd dns-record (dns_record), and the --dns-* options
 * with their limits (config). The updates themselves are tested against BIND's named in 26-dns-publish. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dns_name.h"
#include "dns_publish.h"
#include "dns_record.h"
#include "dns_tsig.h"

#define SECRET "9KKugJB7KxuY4o2XFmUB5w3EhA3mgx+/QXwEjbLIZpQ="

static void names(void **state)
{
    (void)state;
    static const char *const ok[] = {"example.org", "example.org.", "a", "_vlmcs._tcp.example.org", "x-1.y_2.z",
                                     "EXAMPLE.ORG"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (dns_name_problem(ok[i]))
            fail_msg("%s refused: %s", ok[i], dns_name_problem(ok[i]));
    static const char *const bad[] = {"", ".", "a..b", ".a", "a b", "a/b", "-a.org", "a-.org", "a.org..", "é.org"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!dns_name_problem(bad[i]))
            fail_msg("%s accepted", bad[i]);
    char label[80], name[300], out[DNS_NAME_MAX + 1];
    memset(label, 'a', 63); /* a label of 63 characters, then 64 */
    label[63] = '\0';
    assert_null(dns_name_problem(label));
    label[63] = 'a';
    label[64] = '\0';
    assert_non_null(dns_name_problem(label));
    memset(name, 'a', sizeof name); /* 253 characters in labels of 63: at the limit, then one more */
    for (size_t i = 63; i < 253; i += 64)
        name[i] = '.';
    name[253] = '\0';
    assert_null(dns_name_problem(name));
    name[253] = 'a';
    name[254] = '\0';
    assert_non_null(dns_name_problem(name));
    assert_int_equal(dns_name_canonical("Kms1.Example.ORG.", out, sizeof out), 0);
    assert_string_equal(out, "kms1.example.org");
    assert_int_equal(dns_name_canonical("a b", out, sizeof out), -1);
}

static void tsig_text(void **state)
{
    (void)state;
    struct dns_tsig k;
    const char *why;
    assert_int_equal(dns_tsig_parse("kmsd-update:hmac-sha256:" SECRET, &k, &why), 0);
    assert_string_equal(k.name, "kmsd-update");
    assert_string_equal(k.algorithm, "hmac-sha256");
    assert_string_equal(k.secret, SECRET);
    assert_int_equal(dns_tsig_parse("Key.Example.:HMAC-SHA512.:" SECRET, &k, &why), 0);
    assert_string_equal(k.name, "key.example");
    assert_string_equal(k.algorithm, "hmac-sha512");
    static const char *const bad[] = {"k:hmac-sha256", "k:hmac-md5:" SECRET, ":hmac-sha256:" SECRET,
                                      "k:hmac-sha256:short", "k:hmac-sha256:" SECRET "=", "k:hmac-sha256:AAAA=AAAAAAAAAAAAAAAAAAA",
                                      "a b:hmac-sha256:" SECRET};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        if (dns_tsig_parse(bad[i], &k, &why) != -1 || !why)
            fail_msg("%s accepted", bad[i]);
    }
}

static int parse_file(const char *text, struct dns_tsig *k, const char **why, unsigned *line)
{
    return dns_tsig_parse_file(text, strlen(text), k, why, line);
}

static void tsig_file(void **state)
{
    (void)state;
    struct dns_tsig k;
    const char *why;
    unsigned line;
    /* as tsig-keygen writes it, and with comments and odd spacing */
    assert_int_equal(parse_file("key \"kmsd-update\" {\n\talgorithm hmac-sha256;\n\tsecret \"" SECRET "\";\n};\n", &k,
                                &why, &line),
                     0);
    assert_string_equal(k.name, "kmsd-update");
    assert_string_equal(k.secret, SECRET);
    assert_int_equal(parse_file("# made by hand\nkey k.example. { // the key\n secret \"" SECRET "\" ; /* and\n */ "
                                "algorithm \"hmac-sha512\";};",
                                &k, &why, &line),
                     0);
    assert_string_equal(k.algorithm, "hmac-sha512");
    static const struct {
        const char *text;
        unsigned line;
    } bad[] = {
        {"", 1},
        {"zone \"x\" {};", 1},
        {"key \"k\" {\n algorithm hmac-sha256;\n};\n", 3},                    /* no secret */
        {"key \"k\" {\n algorithm hmac-md5;\n secret \"" SECRET "\";\n};", 2}, /* an algorithm not taken */
        {"key \"k\" {\n algorithm hmac-sha256;\n secret \"" SECRET "\"\n};", 4}, /* ';' missing */
        {"key \"k\" { algorithm hmac-sha256; secret \"" SECRET "\"; };\nkey \"j\" {};", 2}, /* two keys */
        {"key \"k\" { algorithm hmac-sha256; secret \"" SECRET "; };", 1},     /* an unterminated string */
        {"key \"k\" { algorithm hmac-sha256; algorithm hmac-sha256; secret \"" SECRET "\"; };", 1},
        {"key \"k\" { /* never closed", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse_file(bad[i].text, &k, &why, &line) != -1 || !why)
            fail_msg("case %zu accepted", i);
        if (line != bad[i].line)
            fail_msg("case %zu: line %u, expected %u (%s)", i, line, bad[i].line, why);
    }
    /* the file: read whole, bounded */
    char path[] = "/tmp/kmsd-test-dns-XXXXXX", msg[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char good[] = "key \"k\" { algorithm hmac-sha256; secret \"" SECRET "\"; };\n";
    assert_int_equal(write(fd, good, sizeof good - 1), (ssize_t)(sizeof good - 1));
    close(fd);
    assert_int_equal(dns_tsig_read_file(path, &k, msg, sizeof msg), 0);
    FILE *f = fopen(path, "a");
    for (int i = 0; i < DNS_TSIG_FILE_MAX / 10; i++)
        fputs("#comment\n\n", f);
    fclose(f);
    assert_int_equal(dns_tsig_read_file(path, &k, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "larger than 4096 bytes"));
    unlink(path);
    assert_int_equal(dns_tsig_read_file(path, &k, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "No such file"));
}

static char *form(enum dns_record_form f, const struct dns_publish_cfg *c, const char *zone, const char *server)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&buf, &n);
    dns_record_write(out, f, c, zone, server);
    fclose(out);
    return buf;
}

static void records(void **state)
{
    (void)state;
    struct dns_publish_cfg c = {.target = "kms1.example.org", .priority = 10, .weight = 5, .port = 1688, .ttl_s = 3600,
                                .addresses = {"192.0.2.5", "2001:db8::5"}, .n_addresses = 2};
    char rec[DNS_PUBLISH_RECORD_MAX];
    dns_publish_record_text(&c, "example.org", rec, sizeof rec);
    assert_string_equal(rec, "_vlmcs._tcp.example.org. 3600 IN SRV 10 5 1688 kms1.example.org.");
    char *t = form(DNS_RECORD_ZONE, &c, "example.org", NULL);
    assert_string_equal(t, "; kmsd's KMS SRV record for the zone example.org (BIND zone file)\n"
                           "_vlmcs._tcp.example.org. 3600 IN SRV 10 5 1688 kms1.example.org.\n"
                           "kms1.example.org. 3600 IN A 192.0.2.5\n"
                           "kms1.example.org. 3600 IN AAAA 2001:db8::5\n");
    free(t);
    t = form(DNS_RECORD_DNSMASQ, &c, "example.org", NULL);
    assert_non_null(strstr(t, "\nsrv-host=_vlmcs._tcp.example.org,kms1.example.org,1688,10,5\n"
                              "host-record=kms1.example.org,192.0.2.5,3600\n"));
    free(t);
    t = form(DNS_RECORD_UNBOUND, &c, "example.org", NULL);
    assert_non_null(strstr(t, "\nserver:\n    local-data: \"_vlmcs._tcp.example.org. 3600 IN SRV 10 5 1688 kms1.example.org.\"\n"));
    free(t);
    t = form(DNS_RECORD_POWERSHELL, &c, "example.org", NULL);
    assert_non_null(strstr(t, "Add-DnsServerResourceRecord -ZoneName \"example.org\" -Name \"_vlmcs._tcp\" -Srv -DomainName "
                              "\"kms1.example.org\" -Priority 10 -Weight 5 -Port 1688"));
    assert_non_null(strstr(t, "-Name \"kms1\" -AAAA -IPv6Address \"2001:db8::5\""));
    free(t);
    t = form(DNS_RECORD_NSUPDATE, &c, "example.org", "[2001:db8::53]:5353");
    assert_non_null(strstr(t, "\nserver 2001:db8::53 5353\nzone example.org.\n"
                              "update add _vlmcs._tcp.example.org. 3600 IN SRV 10 5 1688 kms1.example.org.\n"));
    assert_non_null(strstr(t, "update add kms1.example.org. 3600 IN A 192.0.2.5\n"));
    assert_non_null(strstr(t, "\nsend\n"));
    free(t);
    t = form(DNS_RECORD_NSUPDATE, &c, "example.org", "ns1.example.org");
    assert_non_null(strstr(t, "\nserver ns1.example.org 53\n"));
    free(t);
    /* a target outside the zone: its addresses are not the zone's, in no form */
    for (int f = 0; f < DNS_RECORD_FORMS; f++) {
        t = form((enum dns_record_form)f, &c, "other.example", NULL);
        if (strstr(t, "192.0.2.5"))
            fail_msg("%s publishes the target's address in a zone not its own", dns_record_form_name((enum dns_record_form)f));
        free(t);
    }
    assert_int_equal(dns_record_form_find("unbound"), DNS_RECORD_UNBOUND);
    assert_int_equal(dns_record_form_find("bind"), DNS_RECORD_FORMS);
}

static int load(struct kmsd_config *cfg, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)(uintptr_t)"kmsd";
    for (; args[argc - 1]; argc++)
        argv[argc] = (char *)(uintptr_t)args[argc - 1];
    argv[argc] = NULL;
    char *envp[] = {NULL};
    config_defaults(cfg);
    FILE *null = fopen("/dev/null", "w");
    int rc = config_load(cfg, argc, argv, envp, null, null);
    fclose(null);
    return rc;
}

#define LOAD(cfg, ...) load((cfg), (const char *const[]){__VA_ARGS__, NULL})

static void options(void **state)
{
    (void)state;
    static struct kmsd_config cfg;
    assert_int_equal(LOAD(&cfg, "--port", "1688"), KMSD_CONFIG_OK); /* the defaults */
    assert_int_equal(cfg.n_dns_publish, 0);
    assert_int_equal(cfg.dns_ttl_ms, 3600u * 1000);
    assert_int_equal(cfg.dns_refresh_ms, 86400u * 1000);
    assert_int_equal(cfg.dns_priority, 0);
    assert_int_equal(LOAD(&cfg, "--dns-publish", "Example.ORG.", "--dns-publish", "b.example", "--dns-publish",
                          "example.org", "--dns-host", "KMS1.example.org", "--dns-priority", "65535", "--dns-weight",
                          "0", "--dns-ttl", "1m", "--dns-refresh", "7d", "--dns-address", "2001:DB8::1",
                          "--dns-server", "[2001:db8::53]:5353", "--dns-tsig", "k:hmac-sha256:" SECRET),
                     KMSD_CONFIG_OK);
    assert_int_equal(cfg.n_dns_publish, 2); /* canonical, each once */
    assert_string_equal(cfg.dns_publish[0], "example.org");
    assert_string_equal(cfg.dns_host, "kms1.example.org");
    assert_int_equal(cfg.dns_priority, 65535);
    assert_int_equal(cfg.dns_ttl_ms, 60000);
    assert_int_equal(cfg.dns_refresh_ms, 604800u * 1000);
    assert_string_equal(cfg.dns_address[0], "2001:db8::1");
    static const char *const bad[][2] = {
        {"--dns-publish", "a b"},      {"--dns-priority", "65536"}, {"--dns-weight", "-1"},
        {"--dns-ttl", "59"},           {"--dns-ttl", "2d"},         {"--dns-refresh", "9s"},
        {"--dns-refresh", "8d"},       {"--dns-address", "example.org"}, {"--dns-server", "*:53"},
        {"--dns-server", "[::1"},      {"--dns-tsig", "k:hmac-sha1:" SECRET}, {"--dns-host", "-x.org"},
        {"--dns-tsig-file", "/nonexistent/kmsd.key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (LOAD(&cfg, bad[i][0], bad[i][1]) != KMSD_CONFIG_EXIT_USAGE)
            fail_msg("%s %s accepted", bad[i][0], bad[i][1]);
    /* limits: CONFIG_MAX_DNS_ZONES zones, then one more; CONFIG_MAX_DNS_ADDRESSES addresses, then one more */
    const char *a[2 * (CONFIG_MAX_DNS_ZONES + 1) + 1];
    char names[CONFIG_MAX_DNS_ZONES + 1][16];
    for (int i = 0; i <= CONFIG_MAX_DNS_ZONES; i++) {
        snprintf(names[i], sizeof names[i], "z%d.example", i);
        a[2 * i] = "--dns-publish";
        a[2 * i + 1] = names[i];
    }
    a[2 * CONFIG_MAX_DNS_ZONES] = NULL;
    assert_int_equal(load(&cfg, a), KMSD_CONFIG_OK);
    assert_int_equal(cfg.n_dns_publish, CONFIG_MAX_DNS_ZONES);
    a[2 * CONFIG_MAX_DNS_ZONES] = "--dns-publish";
    a[2 * CONFIG_MAX_DNS_ZONES + 2] = NULL;
    assert_int_equal(load(&cfg, a), KMSD_CONFIG_EXIT_USAGE);
    assert_int_equal(LOAD(&cfg, "--dns-address", "192.0.2.1", "--dns-address", "192.0.2.2", "--dns-address",
                          "192.0.2.3", "--dns-address", "192.0.2.4"),
                     KMSD_CONFIG_OK);
    assert_int_equal(LOAD(&cfg, "--dns-address", "192.0.2.1", "--dns-address", "192.0.2.2", "--dns-address",
                          "192.0.2.3", "--dns-address", "192.0.2.4", "--dns-address", "192.0.2.5"),
                     KMSD_CONFIG_EXIT_USAGE);
    /* one key, not two */
    char path[] = "/tmp/kmsd-test-dnskey-XXXXXX";
    int fd = mkstemp(path);
    const char good[] = "key \"k\" { algorithm hmac-sha256; secret \"" SECRET "\"; };\n";
    assert_int_equal(write(fd, good, sizeof good - 1), (ssize_t)(sizeof good - 1));
    close(fd);
    assert_int_equal(LOAD(&cfg, "--dns-tsig-file", path), KMSD_CONFIG_OK);
    struct dns_tsig k;
    char msg[256];
    assert_int_equal(config_dns_key(&cfg, &k, msg, sizeof msg), 1);
    assert_string_equal(k.name, "k");
    assert_int_equal(LOAD(&cfg, "--dns-tsig-file", path, "--dns-tsig", "k:hmac-sha256:" SECRET), KMSD_CONFIG_EXIT_USAGE);
    unlink(path);
    assert_int_equal(LOAD(&cfg, "--port", "1688"), KMSD_CONFIG_OK);
    assert_int_equal(config_dns_key(&cfg, &k, msg, sizeof msg), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(names), cmocka_unit_test(tsig_text), cmocka_unit_test(tsig_file),
                                       cmocka_unit_test(records), cmocka_unit_test(options)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
