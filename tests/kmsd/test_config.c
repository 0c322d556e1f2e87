/* kmsd configuration: option table, command line, INI file, environment, precedence, errors, docs. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "suggest.h"
#include "config_internal.h" /* the option table itself (live_options_taken) */
#include "kms_limits.h"
#include "products.h"

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NOENV ((const char *const[]){ NULL })

enum src { S_CLI, S_ENV, S_INI };

struct res {
    int rc;
    struct kmsd_config cfg;
    char *out, *err;
    char ini[64]; /* temporary INI file, if any */
};

/* ---- helpers ---- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

/* Runs config_load on defaults with argv = "kmsd" + args and the given environment. */
static void run(struct res *r, const char *const *env, const char *const *args)
{
    char *argv[64];
    char *envp[64];
    int argc = 0, n_env = 0;
    argv[argc++] = xstrdup("kmsd");
    for (size_t i = 0; args && args[i]; i++) {
        assert_true(argc < 63);
        argv[argc++] = xstrdup(args[i]);
    }
    argv[argc] = NULL;
    for (size_t i = 0; env && env[i]; i++) {
        assert_true(n_env < 63);
        envp[n_env++] = xstrdup(env[i]);
    }
    envp[n_env] = NULL;
    size_t on = 0, en = 0;
    FILE *out = open_memstream(&r->out, &on);
    FILE *err = open_memstream(&r->err, &en);
    assert_non_null(out);
    assert_non_null(err);
    config_defaults(&r->cfg);
    r->rc = config_load(&r->cfg, argc, argv, envp, out, err);
    fclose(out);
    fclose(err);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    for (int i = 0; i < n_env; i++)
        free(envp[i]);
}

/* Writes text to a new temporary file; returns its path in buf. */
static void write_tmp(char *buf, size_t cap, const char *text)
{
    const char *dir = getenv("TMPDIR");
    snprintf(buf, cap, "%s/kmsdcfgXXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(buf);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Runs with an INI file holding text, plus args after "-c FILE". */
static void run_ini(struct res *r, const char *text, const char *const *env, const char *const *args)
{
    write_tmp(r->ini, sizeof r->ini, text);
    const char *a[32] = { "-c", r->ini };
    size_t n = 2;
    for (size_t i = 0; args && args[i]; i++) {
        assert_true(n < 31);
        a[n++] = args[i];
    }
    a[n] = NULL;
    run(r, env, a);
}

static void res_free(struct res *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    if (r->ini[0])
        unlink(r->ini);
    r->ini[0] = '\0';
}

static void env_name(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "KMSD_%s", name);
    for (char *p = buf; *p; p++) {
        if (*p == '-')
            *p = '_';
        else if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    }
}

static const struct config_option *opt_named(const char *name)
{
    for (size_t i = 0; i < config_option_count(); i++)
        if (strcmp(config_option_at(i)->name, name) == 0)
            return config_option_at(i);
    fail_msg("no option %s", name);
    return NULL;
}

/* Sets option name to val through one source. Booleans on the command line use --name / --no-name. */
static void run_one(struct res *r, enum src s, const char *name, const char *val)
{
    char buf[8192];
    const struct config_option *o = opt_named(name);
    switch (s) {
    case S_CLI:
        if (o->arg == CONFIG_ARG_BOOL) {
            bool on = strcmp(val, "true") == 0;
            assert_true(on || strcmp(val, "false") == 0);
            snprintf(buf, sizeof buf, "--%s%s", on ? "" : "no-", name);
            run(r, NOENV, ARGS(buf));
        } else {
            snprintf(buf, sizeof buf, "--%s", name);
            run(r, NOENV, ARGS(buf, val));
        }
        break;
    case S_ENV: {
        char env[64];
        env_name(name, env, sizeof env);
        snprintf(buf, sizeof buf, "%s=%s", env, val);
        run(r, ARGS(buf), NULL);
        break;
    }
    case S_INI:
        snprintf(buf, sizeof buf, "# test\n%s = %s\n", name, val);
        run_ini(r, buf, NOENV, NULL);
        break;
    }
}

/* Asserts that s has exactly one line, ending in a newline. */
static void assert_one_line(const char *s)
{
    size_t n = strlen(s);
    assert_true(n > 0);
    assert_int_equal(s[n - 1], '\n');
    assert_null(memchr(s, '\n', n - 1));
}

/* Asserts a usage error from source s that names option name and contains what (if not NULL). */
static void assert_usage(struct res *r, enum src s, const char *name, const char *what)
{
    char want[256];
    if (r->rc != KMSD_CONFIG_EXIT_USAGE)
        fail_msg("--%s: expected exit 2, got %d (err \"%s\")", name, r->rc, r->err);
    switch (s) {
    case S_CLI:
        snprintf(want, sizeof want, "kmsd: --%s: ", name);
        break;
    case S_ENV: {
        char env[64];
        env_name(name, env, sizeof env);
        snprintf(want, sizeof want, "kmsd: %s: ", env);
        break;
    }
    case S_INI:
        snprintf(want, sizeof want, "kmsd: %s:2: %s: ", r->ini, name);
        break;
    }
    if (strncmp(r->err, want, strlen(want)) != 0)
        fail_msg("expected \"%s...\", got \"%s\"", want, r->err);
    assert_one_line(r->err);
    if (what && !strstr(r->err, what))
        fail_msg("expected \"%s\" in \"%s\"", what, r->err);
    assert_string_equal(r->out, "");
}

static char *print_cfg(const struct kmsd_config *cfg)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    assert_non_null(f);
    config_print(cfg, f);
    fclose(f);
    return p;
}

/* The lines of config_print() output for one key, joined. */
static void printed(const struct kmsd_config *cfg, const char *name, char *buf, size_t cap)
{
    char *all = print_cfg(cfg);
    size_t kl = strlen(name), len = 0;
    buf[0] = '\0';
    for (char *line = all; *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        if (ll > kl && strncmp(line, name, kl) == 0 && line[kl] == ' ') {
            int w = snprintf(buf + len, cap - len, "%.*s\n", (int)ll, line);
            assert_true(w > 0 && (size_t)w < cap - len);
            len += (size_t)w;
        }
        line = nl ? nl + 1 : line + ll;
    }
    free(all);
}

static char *read_source_file(const char *rel)
{
    const char *root = getenv("TEST_SOURCE_ROOT");
    assert_non_null(root);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* ---- defaults ---- */

static void defaults(void **state)
{
    (void)state;
    struct kmsd_config c;
    memset(&c, 0x5a, sizeof c);
    config_defaults(&c);
    assert_int_equal(c.n_listen, 0);
    assert_int_equal(c.port, 1688);
    assert_int_equal(c.max_connections, 4096);
    assert_int_equal(c.idle_timeout_ms, 30000);
    assert_int_equal(c.max_pdu, KMS_LIMIT_PDU_MAX);
    assert_int_equal(c.max_requests, 0); /* no per-connection caps: docs/security.md says why */
    assert_int_equal(c.max_pdus, 0);
    assert_false(c.limit_private); /* the per-address limits spare private addresses */
    assert_int_equal(c.max_conn_buffer, 16384);
    assert_true(c.ndr64);
    assert_true(c.btfn);
    assert_int_equal(c.client_count, -1);
    assert_false(c.allow_low_count);
    assert_int_equal(c.activation_interval, 120);
    assert_int_equal(c.renewal_interval, 10080);
    assert_int_equal(c.n_epids, 0);
    assert_false(c.hwid_set);
    assert_int_equal(c.lcid, 1033);
    assert_int_equal(c.host_build, 0);
    assert_string_equal(c.state_dir, "/var/lib/kmsd");
    assert_string_equal(c.config_file, "");
    assert_int_equal(c.log_level, CONFIG_LOG_INFO);
    assert_string_equal(c.log_file, "");
    assert_false(c.syslog);
    assert_false(c.check_config);

    struct res r = { 0 };
    run(&r, ARGS("PATH=/usr/bin", "HOME=/root"), NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "");
    char *a = print_cfg(&c), *b = print_cfg(&r.cfg);
    assert_string_equal(a, b);
    free(a);
    free(b);
    res_free(&r);
}

/* The table's default texts are what config_defaults() sets: each prints back as "name = def". */
static void defaults_match_table(void **state)
{
    (void)state;
    struct kmsd_config c;
    config_defaults(&c);
    size_t n_ini = 0;
    for (size_t i = 0; i < config_option_count(); i++) {
        const struct config_option *o = config_option_at(i);
        assert_non_null(o->name);
        assert_non_null(o->help);
        assert_true(o->in & CONFIG_IN_CLI);
        if (!(o->in & CONFIG_IN_INI))
            continue;
        n_ini++;
        assert_non_null(o->def);
        char want[256], got[1024];
        snprintf(want, sizeof want, "%s =%s%s\n", o->name, o->def[0] ? " " : "", o->def);
        printed(&c, o->name, got, sizeof got);
        assert_string_equal(got, want);
        if (o->negated)
            assert_string_equal(o->def, "true");
    }
    assert_true(n_ini >= 21);
    assert_null(config_option_at(config_option_count()));
}

/* ---- good values through every source ---- */

struct good {
    const char *name, *val, *canon; /* canon: how config_print writes it back */
};

static const struct good goods[] = {
    { "pdu-timeout", "5", "5s" },
    { "pdu-timeout", "2m", "2m" },
    { "max-per-address", "0", "0" },
    { "rate-limit", "0", "0" },
    { "rate-burst", "7", "7" },
    { "limit-private", "true", "true" },
    { "limit-private", "false", "false" },
    { "max-addresses", "1024", "1024" },
    { "allow", "10.0.0.0/8", "10.0.0.0/8" },
    { "allow", "192.168.1.7", "192.168.1.7/32" },
    { "allow", "FD00::/8", "fd00::/8" },
    { "allow", "::ffff:10.0.0.0/104", "10.0.0.0/8" },
    { "deny", "::1", "::1/128" },
    { "private-only", "true", "true" },
    { "products", "volume", "volume" },
    { "products", "known", "known" },
    { "csvlk", "win2025", "win2025" },
    { "time-check", "true", "true" },
    { "user", "nobody", "nobody" },
    { "user", "65534", "65534" },
    { "group", "nogroup", "nogroup" },
    { "allow-root", "true", "true" },
    { "listen", "1.2.3.4", "1.2.3.4" },
    { "listen", "[::1]:1689", "[::1]:1689" },
    { "port", "1689", "1689" },
    { "port", "01688", "1688" },
    { "max-connections", "10", "10" },
    { "idle-timeout", "45", "45s" },
    { "idle-timeout", "90s", "90s" },
    { "idle-timeout", "120", "2m" },
    { "idle-timeout", "5m", "5m" },
    { "idle-timeout", "1h", "1h" },
    { "idle-timeout", "1d", "1d" },
    { "max-pdu", "1024", "1024" },
    { "max-requests", "3", "3" },
    { "max-requests", "0", "0" },
    { "max-pdus", "5", "5" },
    { "max-pdus", "0", "0" },
    { "max-conn-buffer", "65536", "65536" },
    { "ndr64", "false", "false" },
    { "btfn", "false", "false" },
    { "ndr64", "true", "true" },
    { "client-count", "50", "50" },
    { "client-count", "auto", "auto" },
    { "allow-low-count", "true", "true" },
    { "syslog", "true", "true" },
    { "activation-interval", "90", "90m" },
    { "activation-interval", "60m", "1h" },
    { "activation-interval", "3h", "3h" },
    { "activation-interval", "1d", "1d" },
    { "renewal-interval", "2w", "2w" },
    { "renewal-interval", "1441", "1441m" },
    { "epid", "win2025=03612-04918-030-000001-03-1033-26100.0000-3052024",
      "win2025=03612-04918-030-000001-03-1033-26100.0000-3052024" },
    { "epid", "Office2024=03612-00206-670-000123-03-1031-20348.0000-0012025",
      "office2024=03612-00206-670-000123-03-1031-20348.0000-0012025" },
    { "hwid", "0123456789abcdef", "0123456789ABCDEF" },
    { "lcid", "1031", "1031" },
    { "host-build", "26100", "26100" },
    { "host-build", "9200", "9200" },
    { "state-dir", "/srv/kms state", "/srv/kms state" },
    { "log-level", "debug", "debug" },
    { "log-level", "error", "error" },
    { "log-file", "/var/log/kmsd.log", "/var/log/kmsd.log" },
};

static void good_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
        const struct good *g = &goods[i];
        char first[8192] = ""; /* the whole printed configuration */
        for (int s = S_CLI; s <= S_INI; s++) {
            struct res r = { 0 };
            run_one(&r, (enum src)s, g->name, g->val);
            if (r.rc != KMSD_CONFIG_OK)
                fail_msg("%s = %s (source %d): rc %d, %s", g->name, g->val, s, r.rc, r.err);
            assert_string_equal(r.err, "");
            char got[1024], want[256];
            printed(&r.cfg, g->name, got, sizeof got);
            snprintf(want, sizeof want, "%s = %s\n", g->name, g->canon);
            if (strcmp(got, want) != 0)
                fail_msg("%s = %s (source %d): printed \"%s\", want \"%s\"", g->name, g->val, s, got, want);
            /* the whole configuration agrees between sources, apart from the file name */
            char *all = print_cfg(&r.cfg);
            assert_true(strlen(all) < sizeof first); /* compared whole, never cut */
            if (s == S_CLI)
                snprintf(first, sizeof first, "%s", all);
            else
                assert_string_equal(all, first);
            free(all);
            res_free(&r);
        }
    }
}

/* What the values mean, field by field. */
static void value_semantics(void **state)
{
    (void)state;
    /* --allow / --deny / --csvlk: repeatable, comma lists in --csvlk, duplicates of a group kept once, a later
     * source replaces the list; at most 64 CIDRs */
    {
        struct res r = { 0 };
        run(&r, NOENV, ARGS("--allow", "10.0.0.0/8", "--allow", "fd00::/8", "--deny", "10.9.0.0/16", "--csvlk",
                            "win2025,office2024", "--csvlk", "win2025"));
        assert_int_equal(r.rc, KMSD_CONFIG_OK);
        assert_int_equal(r.cfg.n_allow, 2);
        assert_string_equal(r.cfg.allow[1], "fd00::/8");
        assert_int_equal(r.cfg.n_deny, 1);
        assert_int_equal(r.cfg.n_csvlks, 2);
        assert_string_equal(r.cfg.csvlks[1], "office2024");
        res_free(&r);
        run(&r, ARGS("KMSD_ALLOW=192.168.0.0/16, 10.0.0.0/8", "KMSD_CSVLK=office2021"), ARGS("--deny", "::1"));
        assert_int_equal(r.rc, KMSD_CONFIG_OK);
        assert_int_equal(r.cfg.n_allow, 2);
        assert_string_equal(r.cfg.allow[0], "192.168.0.0/16");
        assert_int_equal(r.cfg.n_csvlks, 1);
        res_free(&r);
        char ini[66 * 32] = "";
        size_t off = 0;
        for (int i = 0; i < 64; i++)
            off += (size_t)snprintf(ini + off, sizeof ini - off, "allow = 10.%d.0.0/16\n", i);
        run_ini(&r, ini, NOENV, NULL); /* 64: the limit */
        assert_int_equal(r.rc, KMSD_CONFIG_OK);
        assert_int_equal(r.cfg.n_allow, 64);
        res_free(&r);
        snprintf(ini + off, sizeof ini - off, "allow = 10.64.0.0/16\n");
        run_ini(&r, ini, NOENV, NULL);
        assert_int_equal(r.rc, KMSD_CONFIG_EXIT_USAGE);
        assert_non_null(strstr(r.err, "more than 64 entries"));
        res_free(&r);
    }
    static const struct {
        const char *val;
        uint32_t ms;
    } idle[] = { { "45", 45000 }, { "45s", 45000 }, { "5m", 300000 }, { "1h", 3600000 }, { "1d", 86400000 } };
    for (size_t i = 0; i < sizeof idle / sizeof idle[0]; i++) {
        struct res r = { 0 };
        run(&r, NOENV, ARGS("--idle-timeout", idle[i].val));
        assert_int_equal(r.rc, KMSD_CONFIG_OK);
        assert_int_equal(r.cfg.idle_timeout_ms, idle[i].ms);
        res_free(&r);
    }
    static const struct {
        const char *val;
        uint32_t min;
    } iv[] = { { "90", 90 }, { "90m", 90 }, { "2h", 120 }, { "1d", 1440 }, { "1w", 10080 }, { "3w", 30240 } };
    for (size_t i = 0; i < sizeof iv / sizeof iv[0]; i++) {
        struct res r = { 0 };
        run(&r, NOENV, ARGS("--activation-interval", iv[i].val, "--renewal-interval", iv[i].val));
        assert_int_equal(r.rc, KMSD_CONFIG_OK);
        assert_int_equal(r.cfg.activation_interval, iv[i].min);
        assert_int_equal(r.cfg.renewal_interval, iv[i].min);
        res_free(&r);
    }
    struct res r = { 0 };
    run(&r, NOENV,
        ARGS("--hwid", "0123456789aBcDeF", "--lcid", "1049", "--port", "2000", "--log-level", "warn", "--no-ndr64",
             "--no-btfn", "--allow-low-count", "--client-count", "7", "--syslog", "--host-build", "20348", "-L",
             "*:1700", "--listen", "[fe80::1%eth0]:1688"));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    static const uint8_t hw[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
    assert_true(r.cfg.hwid_set);
    assert_memory_equal(r.cfg.hwid, hw, 8);
    assert_int_equal(r.cfg.lcid, 1049);
    assert_int_equal(r.cfg.port, 2000);
    assert_int_equal(r.cfg.log_level, CONFIG_LOG_WARN);
    assert_false(r.cfg.ndr64);
    assert_false(r.cfg.btfn);
    assert_true(r.cfg.allow_low_count);
    assert_int_equal(r.cfg.client_count, 7);
    assert_true(r.cfg.syslog);
    assert_int_equal(r.cfg.host_build, 20348);
    assert_int_equal(r.cfg.n_listen, 2);
    assert_string_equal(r.cfg.listen[0], "*:1700");
    assert_string_equal(r.cfg.listen[1], "[fe80::1%eth0]:1688");
    res_free(&r);

    /* booleans in INI and environment: every spelling */
    static const char *const yes[] = { "true", "yes", "1", "on", "TRUE", "Yes", "ON" };
    static const char *const no[] = { "false", "no", "0", "off", "False", "NO", "Off" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        char e[64], ini[64];
        snprintf(e, sizeof e, "KMSD_NDR64=%s", no[i]);
        snprintf(ini, sizeof ini, "syslog = %s\nndr64 = %s\n", yes[i], yes[i]);
        run_ini(&r, ini, ARGS(e), NULL);
        assert_int_equal(r.rc, KMSD_CONFIG_OK);
        assert_true(r.cfg.syslog);
        assert_false(r.cfg.ndr64);
        res_free(&r);
    }
    /* --ndr64 turns it back on over the file */
    run_ini(&r, "ndr64 = off\n", NOENV, ARGS("--ndr64"));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_true(r.cfg.ndr64);
    res_free(&r);
    /* a [kmsd] section is accepted, as are comments and "key: value" */
    run_ini(&r, "; comment\n# comment\n[kmsd]\nport: 1999 ; inline\n", NOENV, NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.port, 1999);
    res_free(&r);
}

/* ---- bad values ---- */

struct bad {
    const char *name, *val, *what; /* what: text the message must contain */
};

static const struct bad bads[] = {
    { "host-name", "kms one", "is not a host name (at most 64" },
    { "host-name", "h12345678901234567890123456789012345678901234567890123456789012345", "is not a host name" },
    { "trusted-proxy", "10.0.0.0/x", "not a number" },
    { "allow", "10.1.0.0/8", "address bits are set below the prefix length" },
    { "allow", "10.0.0.0/33", "an IPv4 prefix length is 0 to 32" },
    { "allow", "::/129", "an IPv6 prefix length is 0 to 128" },
    { "allow", "example.org", "not an IPv4 or IPv6 address" },
    { "deny", "10.0.0.0/x", "not a number" },
    { "deny", "1.2.3.4/", "not a number" },
    { "products", "retail", "not a product policy (expected all, known or volume)" },
    { "products", "", "not a product policy" },
    { "csvlk", "win3000", "not a CSVLK group of the product table" },
    { "csvlk", "win2025,win3000", "\"win3000\" is not a CSVLK group" },
    { "user", "-root", "not a user or group name" },
    { "user", "a b", "not a user or group name" },
    { "user", "0123456789012345678901234567890123456789012345678901234567890123", "too long" },
    { "group", "x/y", "not a user or group name" },
    { "private-only", "maybe", "not a boolean" },
    { "time-check", "2", "not a boolean" },
    { "pdu-timeout", "0", "out of range" },
    { "pdu-timeout", "2d", "out of range" },
    { "listen", "1.2.3.4:0", "port must be 1 to 65535" },
    { "listen", "1.2.3.4:65536", "port must be 1 to 65535" },
    { "listen", "1.2.3.4:", "port must be 1 to 65535" },
    { "listen", "1.2.3.4:+80", "port" },
    { "listen", "1.2.3.4:http", "port" },
    { "listen", "1.2.3", "not an IPv4 address" },
    { "listen", "1.2.3.256", "not an IPv4 address" },
    { "listen", "::1", "brackets" },
    { "listen", "[::1", "missing \"]\"" },
    { "listen", "::1]", "brackets" },
    { "listen", "1.2.3.4]", "unbalanced" },
    { "listen", "[::1]x", "after \"]\"" },
    { "listen", "[::1]:", "port" },
    { "listen", "[]:1688", "IPv6" },
    { "listen", "[1.2.3.4]:1688", "IPv6" },
    { "listen", "[::g]", "IPv6" },
    { "listen", "[fe80::1%]:1688", "interface" },
    { "listen", "[fe80::1%e th0]", "interface" },
    { "listen", ":1688", "missing address" },
    { "listen", "-host:1688", "host name" },
    { "listen", "host-.example", "host name" },
    { "listen", "host..example", "host name" },
    { "listen", "host_name", "host name" },
    { "listen", "**:1688", "host name" },
    { "port", "0", "out of range" },
    { "port", "65536", "out of range" },
    { "port", "-1", "not a number" },
    { "port", "+1", "not a number" },
    { "port", " 1", "not a number" },
    { "port", "1x", "not a number" },
    { "port", "0x10", "not a number" },
    { "port", "99999999999999999999999", "out of range" },
    { "max-connections", "abc", "not a number" },
    { "max-connections", "0", "out of range" },
    { "idle-timeout", "abc", "is not a duration (expected e.g. 30, 30s, 5m, 1h; 1 s to 1 d)" },
    { "idle-timeout", "10x", "not a duration" },
    { "idle-timeout", "10 s", "not a duration" },
    { "idle-timeout", "s", "not a duration" },
    { "idle-timeout", "10S", "not a duration" },
    { "idle-timeout", "1w", "not a duration" },
    { "idle-timeout", "-5", "not a duration" },
    { "idle-timeout", "1.5h", "not a duration" },
    { "idle-timeout", "0", "out of range" },
    { "idle-timeout", "2d", "out of range" },
    { "idle-timeout", "99999999999999999999999h", "out of range" },
    { "max-pdu", "big", "not a number" },
    { "max-requests", "", "not a number" },
    { "max-pdus", "1000001", "out of range" },
    { "max-conn-buffer", "1k", "not a number" },
    { "ndr64", "maybe", "not a boolean" },
    { "btfn", "2", "not a boolean" },
    { "client-count", "0", "out of range" },
    { "client-count", "1001", "out of range" },
    { "client-count", "many", "not a client count" },
    { "client-count", "-1", "not a client count" },
    { "allow-low-count", "", "not a boolean" },
    { "activation-interval", "abc", "not an interval in minutes" },
    { "activation-interval", "0", "out of range" },
    { "activation-interval", "0h", "out of range" },
    { "activation-interval", "1s", "not an interval" },
    { "activation-interval", "4294967296", "out of range" },
    { "renewal-interval", "1y", "not an interval" },
    { "renewal-interval", "", "not an interval" },
    { "epid", "win2025", "GROUP=EPID" },
    { "epid", "=03612-04918-030-000001-03-1033-26100.0000-3052024", "GROUP=EPID" },
    { "epid", "nosuch=03612-04918-030-000001-03-1033-26100.0000-3052024", "not a CSVLK group" },
    { "epid", "win2019azure=03612-00206-030-000001-03-1033-17763.0000-3052024", "no known ePID group" },
    { "epid", "win2025=03612-00206-030-000001-03-1033-26100.0000-3052024", "not the group of CSVLK win2025" },
    { "epid", "win2025=garbage", "not an ePID" },
    { "epid", "win2025=", "not an ePID" },
    { "epid", "win2025=03612-04918-030-000001-02-1033-26100.0000-3052024", "out of range" },
    { "epid", "win2025=03612-04918-030-000001-03-0-26100.0000-3052024", "out of range" },
    { "epid", "win2025=03612-04918-030-000001-03-1033-26100.0000-3662023", "out of range" },
    { "hwid", "0123456789abcde", "16 hex digits" },
    { "hwid", "0123456789abcdef0", "16 hex digits" },
    { "hwid", "0x23456789abcdef", "16 hex digits" },
    { "hwid", "g123456789abcdef", "16 hex digits" },
    { "lcid", "0", "out of range" },
    { "lcid", "65536", "out of range" },
    { "lcid", "en-US", "not a number" },
    { "host-build", "26101", "not a host build" },
    { "host-build", "10240", "not a host build" },
    { "host-build", "-1", "not a host build" },
    { "host-build", "abc", "not a host build" },
    { "host-build", "", "not a host build" },
    { "state-dir", "", "must not be empty" },
    { "state-dir", "/a\tb", "control character" },
    { "log-level", "verbose", "not a log level (expected error, warn, info or debug)" },
    { "log-level", "INFO", "not a log level" },
    { "log-level", "", "not a log level" },
    { "log-file", "/x\033y", "control character" },
    /* values --check-config could not write back (found by fuzz/fuzz_config.c) */
    { "state-dir", "a ;b", "cannot be written in an INI file" },
    { "db", ";", "cannot be written in an INI file" },
    { "log-file", "/x ", "cannot be written in an INI file" },
    { "db", " /lead", "cannot be written in an INI file" },
};

static void bad_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        const struct bad *b = &bads[i];
        for (int s = S_CLI; s <= S_INI; s++) {
            if (s == S_CLI && opt_named(b->name)->arg == CONFIG_ARG_BOOL)
                continue; /* command-line booleans take no value: see cli_errors */
            size_t vl = strlen(b->val);
            if (s == S_INI && (strchr(b->val, '\t') || strchr(b->val, '\033') || strchr(b->val, ';') ||
                               b->val[0] == ' ' || (vl && b->val[vl - 1] == ' ')))
                continue; /* INI trims blanks and ends values at comments; control characters cannot be written */
            struct res r = { 0 };
            run_one(&r, (enum src)s, b->name, b->val);
            assert_usage(&r, (enum src)s, b->name, b->what);
            res_free(&r);
        }
    }
    /* the --host-build message lists every build meant for ePIDs */
    struct res r = { 0 };
    run(&r, NOENV, ARGS("--host-build", "1234"));
    assert_usage(&r, S_CLI, "host-build", "0 to choose");
    size_t n_epid = 0;
    for (size_t i = 0; i < products_build_count(); i++) {
        const struct products_build *b = products_build_at(i);
        char num[16];
        snprintf(num, sizeof num, "%u", (unsigned)b->build);
        if (b->epid) {
            n_epid++;
            assert_non_null(strstr(r.err, num));
        }
    }
    assert_true(n_epid > 0);
    res_free(&r);
    /* --host-name at its limit, CONFIG_HOST_NAME_LEN characters (one more is in bads) */
    char name64[CONFIG_HOST_NAME_LEN + 1];
    memset(name64, 'h', CONFIG_HOST_NAME_LEN);
    name64[CONFIG_HOST_NAME_LEN] = '\0';
    run(&r, NOENV, ARGS("--host-name", name64));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_string_equal(r.cfg.host_name, name64);
    res_free(&r);
    /* environment lists: empty entries */
    run(&r, ARGS("KMSD_LISTEN=1.2.3.4,,5.6.7.8"), NULL);
    assert_usage(&r, S_ENV, "listen", "empty entry");
    res_free(&r);
    run(&r, ARGS("KMSD_LISTEN=1.2.3.4,"), NULL);
    assert_usage(&r, S_ENV, "listen", "empty entry");
    res_free(&r);
    run(&r, ARGS("KMSD_EPID=win2025"), NULL);
    assert_usage(&r, S_ENV, "epid", "GROUP=EPID");
    res_free(&r);
}

/* ---- limits at limit-1, limit, limit+1 ---- */

static void expect(const char *name, const char *val, bool ok, const char *const *extra)
{
    char opt[64];
    snprintf(opt, sizeof opt, "--%s", name);
    const char *a[8] = { opt, val };
    size_t n = 2;
    for (size_t i = 0; extra && extra[i]; i++)
        a[n++] = extra[i];
    a[n] = NULL;
    struct res r = { 0 };
    run(&r, NOENV, a);
    if (ok && r.rc != KMSD_CONFIG_OK)
        fail_msg("%s %s: expected success, got %d: %s", opt, val, r.rc, r.err);
    if (!ok)
        assert_usage(&r, S_CLI, name, "out of range");
    res_free(&r);
}

static void expect_u(const char *name, unsigned long long v, bool ok, const char *suffix, const char *const *extra)
{
    char val[64];
    snprintf(val, sizeof val, "%llu%s", v, suffix);
    expect(name, val, ok, extra);
}

static void limits(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned long long min, max;
    } ints[] = {
        { "port", 1, 65535 },
        { "max-connections", 1, 1000000 },
        { "max-pdu", 256, KMS_LIMIT_PDU_MAX },
        { "max-requests", 0, 1000000 },
        { "max-pdus", 0, 1000000 },
        { "max-conn-buffer", 1024, 1048576 },
        { "lcid", 1, 65535 },
        { "client-count", 1, 1000 },
        { "http-max-connections", 1, 1024 },
        { "http-max-page", 1, 10000 },
        { "max-per-address", 0, 1000000 },
        { "max-addresses", 1024, 16777216 },
        { "rate-limit", 0, 1000000 },
        { "rate-burst", 1, 1000000 },
    };
    const char *const small_pdu[] = { "--max-pdu", "256", NULL };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const char *const *extra = strcmp(ints[i].name, "max-conn-buffer") == 0 ? small_pdu : NULL;
        expect_u(ints[i].name, ints[i].min - 1, false, "", extra);
        expect_u(ints[i].name, ints[i].min, true, "", extra);
        expect_u(ints[i].name, ints[i].min + 1, true, "", extra);
        expect_u(ints[i].name, ints[i].max - 1, true, "", extra);
        expect_u(ints[i].name, ints[i].max, true, "", extra);
        expect_u(ints[i].name, ints[i].max + 1, false, "", extra);
    }
    /* idle timeout: 1 s to 1 d in every unit */
    static const struct {
        const char *suffix;
        unsigned long long mult;
    } su[] = { { "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 } };
    for (size_t i = 0; i < sizeof su / sizeof su[0]; i++) {
        unsigned long long top = 86400 / su[i].mult;
        expect_u("idle-timeout", 0, false, su[i].suffix, NULL);
        expect_u("idle-timeout", 1, true, su[i].suffix, NULL);
        expect_u("idle-timeout", top, true, su[i].suffix, NULL);
        expect_u("idle-timeout", top + 1, false, su[i].suffix, NULL);
    }
    /* intervals: 1 minute to UINT32_MAX minutes in every unit */
    static const struct {
        const char *suffix;
        unsigned long long mult;
    } mu[] = { { "", 1 }, { "m", 1 }, { "h", 60 }, { "d", 1440 }, { "w", 10080 } };
    for (size_t k = 0; k < 2; k++) {
        const char *name = k ? "renewal-interval" : "activation-interval";
        for (size_t i = 0; i < sizeof mu / sizeof mu[0]; i++) {
            unsigned long long top = UINT32_MAX / mu[i].mult;
            expect_u(name, 0, false, mu[i].suffix, NULL);
            expect_u(name, 1, true, mu[i].suffix, NULL);
            expect_u(name, top, true, mu[i].suffix, NULL);
            expect_u(name, top + 1, false, mu[i].suffix, NULL);
        }
    }
    struct res r = { 0 };
    run(&r, NOENV, ARGS("--activation-interval", "4294967295", "--renewal-interval", "426088w"));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.activation_interval, UINT32_MAX);
    assert_int_equal(r.cfg.renewal_interval, 426088ull * 10080);
    res_free(&r);

    /* --max-conn-buffer must hold a whole PDU: buffer = pdu - 1, = pdu, = pdu + 1 */
    for (int d = -1; d <= 1; d++) {
        char pdu[16], buf[16];
        snprintf(pdu, sizeof pdu, "%d", 2000);
        snprintf(buf, sizeof buf, "%d", 2000 + d);
        run(&r, NOENV, ARGS("--max-pdu", pdu, "--max-conn-buffer", buf));
        if (d < 0) {
            assert_usage(&r, S_CLI, "max-conn-buffer", "--max-pdu");
        } else {
            assert_int_equal(r.rc, KMSD_CONFIG_OK);
            assert_int_equal(r.cfg.max_conn_buffer, 2000 + d);
        }
        res_free(&r);
    }
    run(&r, NOENV, ARGS("--max-conn-buffer", "2048")); /* below the default --max-pdu */
    assert_usage(&r, S_CLI, "max-conn-buffer", "less than --max-pdu 5840");
    res_free(&r);

    /* string lengths: a printed option's "NAME = VALUE" must fit one INI line (198 characters, inih's buffer
     * less newline and NUL) so that --check-config loads back; -c is not printed and may use CONFIG_PATH_LEN - 1 */
    char *path = malloc(CONFIG_PATH_LEN + 1);
    assert_non_null(path);
    static const struct { const char *name; size_t max; } lens[] = {
        {"state-dir", 198 - 9 - 3}, {"log-file", 198 - 8 - 3}, {"db", 198 - 2 - 3}};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char opt[32];
        snprintf(opt, sizeof opt, "--%s", lens[i].name);
        memset(path, 'd', lens[i].max);
        path[0] = '/';
        path[lens[i].max] = '\0';
        run(&r, NOENV, ARGS(opt, path));
        assert_int_equal(r.rc, KMSD_CONFIG_OK);
        res_free(&r);
        run(&r, NOENV, ARGS(opt, path, "--check-config")); /* the printed text loads back */
        assert_int_equal(r.rc, KMSD_CONFIG_EXIT_OK);
        struct kmsd_config back;
        config_defaults(&back);
        assert_int_equal(config_load_ini_text(&back, r.out, strlen(r.out), stderr), KMSD_CONFIG_OK);
        res_free(&r);
        path[lens[i].max] = 'd';
        path[lens[i].max + 1] = '\0';
        run(&r, NOENV, ARGS(opt, path));
        assert_usage(&r, S_CLI, lens[i].name, "too long to be written in a configuration file");
        res_free(&r);
    }
    memset(path, 'd', CONFIG_PATH_LEN);
    path[0] = '/';
    path[CONFIG_PATH_LEN - 1] = '\0';
    run(&r, NOENV, ARGS("-c", path)); /* at the limit: the file does not exist */
    assert_true(r.rc == KMSD_CONFIG_EXIT_USAGE && strstr(r.err, "bytes, at most") == NULL);
    res_free(&r);
    path[CONFIG_PATH_LEN - 1] = 'd';
    path[CONFIG_PATH_LEN] = '\0';
    run(&r, NOENV, ARGS("-c", path));
    assert_usage(&r, S_CLI, "config", "too long");
    res_free(&r);
    free(path);

    /* listen: CONFIG_LISTEN_LEN - 1 characters, then one more */
    char host[CONFIG_LISTEN_LEN + 8];
    memset(host, 'a', sizeof host);
    for (size_t i = 40; i < sizeof host; i += 41)
        host[i] = '.';
    snprintf(host + CONFIG_LISTEN_LEN - 6, 6, ":1688");
    assert_int_equal(strlen(host), CONFIG_LISTEN_LEN - 1);
    run(&r, NOENV, ARGS("-L", host));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_string_equal(r.cfg.listen[0], host);
    res_free(&r);
    snprintf(host + CONFIG_LISTEN_LEN - 6, 7, "a:1688");
    run(&r, NOENV, ARGS("-L", host));
    assert_usage(&r, S_CLI, "listen", "too long");
    res_free(&r);

    /* CONFIG_MAX_LISTEN listeners, then one more */
    const char *a[2 * CONFIG_MAX_LISTEN + 4];
    char addrs[CONFIG_MAX_LISTEN + 1][32];
    for (int n = CONFIG_MAX_LISTEN; n <= CONFIG_MAX_LISTEN + 1; n++) {
        size_t k = 0;
        for (int i = 0; i < n; i++) {
            snprintf(addrs[i], sizeof addrs[i], "10.0.0.%d:1688", i + 1);
            a[k++] = "-L";
            a[k++] = addrs[i];
        }
        a[k] = NULL;
        run(&r, NOENV, a);
        if (n == CONFIG_MAX_LISTEN) {
            assert_int_equal(r.rc, KMSD_CONFIG_OK);
            assert_int_equal(r.cfg.n_listen, CONFIG_MAX_LISTEN);
        } else {
            assert_usage(&r, S_CLI, "listen", "more than");
        }
        res_free(&r);
    }
}

/* ---- listen, epid, hwid ---- */

/* The HTTP options: defaults, address forms, none, the token's bounds, and the loopback rule. */
static void http_options(void **state)
{
    (void)state;
    struct kmsd_config c;
    config_defaults(&c);
    assert_int_equal(c.n_http, 0);
    assert_false(c.http_off);
    assert_string_equal(c.http_token, "");
    assert_false(c.http_insecure);
    assert_int_equal(c.http_max_connections, 32);
    assert_int_equal(c.http_timeout_ms, 10000);
    assert_int_equal(c.http_max_page, 500);

    struct res r = { 0 };
    const char *const two[] = { "--http", "127.0.0.1:9000", "--http", "[::1]", NULL };
    run(&r, NOENV, two);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.n_http, 2);
    assert_string_equal(r.cfg.http[1], "[::1]");
    res_free(&r);
    const char *const off[] = { "--no-http", NULL };
    run(&r, NOENV, off);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_true(r.cfg.http_off);
    res_free(&r);
    const char *const env_off[] = { "KMSD_HTTP=none", NULL };
    run(&r, env_off, NULL);
    assert_true(r.cfg.http_off);
    res_free(&r);
    const char *const bad_addr[] = { "--http", "::1:80", NULL };
    run(&r, NOENV, bad_addr);
    assert_usage(&r, S_CLI, "http", "brackets");
    res_free(&r);
    /* CONFIG_MAX_HTTP addresses, then one more */
    const char *many[2 * CONFIG_MAX_HTTP + 3];
    for (int i = 0; i <= CONFIG_MAX_HTTP; i++) {
        many[2 * i] = "--http";
        many[2 * i + 1] = "127.0.0.1:9000";
    }
    many[2 * CONFIG_MAX_HTTP] = NULL;
    run(&r, NOENV, many);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    res_free(&r);
    many[2 * CONFIG_MAX_HTTP] = "--http";
    many[2 * CONFIG_MAX_HTTP + 2] = NULL;
    run(&r, NOENV, many);
    assert_usage(&r, S_CLI, "http", "more than");
    res_free(&r);

    /* token length: CONFIG_TOKEN_MIN - 1 and CONFIG_TOKEN_MAX + 1 refused, the bounds taken; characters checked */
    char tok[CONFIG_TOKEN_MAX + 2];
    memset(tok, 'a', sizeof tok);
    const size_t lens[] = { CONFIG_TOKEN_MIN - 1, CONFIG_TOKEN_MIN, CONFIG_TOKEN_MAX, CONFIG_TOKEN_MAX + 1 };
    for (size_t i = 0; i < 4; i++) {
        tok[lens[i]] = '\0';
        const char *const a[] = { "--http-token", tok, NULL };
        run(&r, NOENV, a);
        if (i == 1 || i == 2)
            assert_int_equal(r.rc, KMSD_CONFIG_OK);
        else
            assert_usage(&r, S_CLI, "http-token", "characters long");
        res_free(&r);
        tok[lens[i]] = 'a';
    }
    const char *const bad_tok[] = { "--http-token", "0123456789abcdef ghij", NULL };
    run(&r, NOENV, bad_tok);
    assert_usage(&r, S_CLI, "http-token", "not allowed");
    res_free(&r);
    const char *const pad_tok[] = { "--http-token", "0123456789abcdef==", NULL };
    run(&r, NOENV, pad_tok);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    res_free(&r);

    /* a non-loopback address needs a token or --http-insecure; loopback ones do not */
    static const struct {
        const char *addr;
        bool loopback;
    } addrs[] = {
        { "127.0.0.1:8080", true }, { "127.1.2.3", true },      { "[::1]:8080", true },   { "localhost:80", true },
        { "0.0.0.0:8080", false },  { "*:8080", false },        { "[::]:8080", false },   { "192.0.2.1", false },
        { "127.example.org", false }, { "localhost.example.org:1", false },
    };
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        const char *const plain[] = { "--http", addrs[i].addr, NULL };
        run(&r, NOENV, plain);
        if (addrs[i].loopback) {
            assert_int_equal(r.rc, KMSD_CONFIG_OK);
        } else {
            assert_int_equal(r.rc, KMSD_CONFIG_EXIT_USAGE);
            assert_non_null(strstr(r.err, "not a loopback address"));
            assert_non_null(strstr(r.err, addrs[i].addr));
        }
        res_free(&r);
        const char *const tokened[] = { "--http", addrs[i].addr, "--http-token", "0123456789abcdef", NULL };
        run(&r, NOENV, tokened);
        assert_int_equal(r.rc, KMSD_CONFIG_OK);
        res_free(&r);
        const char *const insecure[] = { "--http", addrs[i].addr, "--http-insecure", NULL };
        run(&r, NOENV, insecure);
        assert_int_equal(r.rc, KMSD_CONFIG_OK);
        res_free(&r);
    }
}

static void listen_forms(void **state)
{
    (void)state;
    static const char *const good[] = {
        "1.2.3.4", "1.2.3.4:1688", "0.0.0.0:1", "[::1]", "[::1]:1688", "[::]:65535", "[fe80::1%eth0]:1688",
        "[fe80::1%2]", "[::ffff:1.2.3.4]:1688", "host.name:1688", "localhost", "kms-01.example.org:1700", "*",
        "*:1688", "xn--bcher-kva.example",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct res r = { 0 };
        run(&r, NOENV, ARGS("--listen", good[i]));
        if (r.rc != KMSD_CONFIG_OK)
            fail_msg("%s: %s", good[i], r.err);
        assert_int_equal(r.cfg.n_listen, 1);
        assert_string_equal(r.cfg.listen[0], good[i]); /* stored as written, not resolved */
        res_free(&r);
    }
    /* accumulate within a source; an empty value empties the list */
    struct res r = { 0 };
    run(&r, NOENV, ARGS("-L", "1.1.1.1", "-L", "2.2.2.2", "--listen", "[::1]"));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.n_listen, 3);
    assert_string_equal(r.cfg.listen[2], "[::1]");
    res_free(&r);
    run(&r, NOENV, ARGS("-L", "1.1.1.1", "-L", "", "-L", "2.2.2.2"));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.n_listen, 1);
    assert_string_equal(r.cfg.listen[0], "2.2.2.2");
    res_free(&r);
    run(&r, ARGS("KMSD_LISTEN= 1.1.1.1 , [::1]:99"), NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.n_listen, 2);
    assert_string_equal(r.cfg.listen[0], "1.1.1.1");
    assert_string_equal(r.cfg.listen[1], "[::1]:99");
    res_free(&r);
}

static void epid_hwid(void **state)
{
    (void)state;
    const char *e1 = "win2025=03612-04918-030-000001-03-1033-26100.0000-3052024";
    const char *e2 = "WIN2025=03612-04918-031-000002-03-1033-26100.0000-3062024";
    const char *e3 = "office2024=03612-00206-670-000123-03-1031-20348.0000-0012025";
    struct res r = { 0 };
    run(&r, NOENV, ARGS("--epid", e1, "--epid", e3, "--epid", e2));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.n_epids, 2); /* the same group twice: the later wins */
    assert_string_equal(r.cfg.epids[0].csvlk, "win2025");
    assert_string_equal(r.cfg.epids[0].epid, "03612-04918-031-000002-03-1033-26100.0000-3062024");
    assert_string_equal(r.cfg.epids[1].csvlk, "office2024");
    assert_string_equal(r.cfg.epids[1].epid, "03612-00206-670-000123-03-1031-20348.0000-0012025");
    res_free(&r);
    /* every CSVLK with ePID data takes an ePID of its own group, and none of another */
    for (size_t i = 0; i < products_csvlk_count(); i++) {
        const struct products_csvlk *c = products_csvlk_at(i);
        char arg[160];
        snprintf(arg, sizeof arg, "%s=03612-%05u-030-000001-03-1033-26100.0000-3052024", c->key,
                 (unsigned)(c->has_epid ? c->group : 1));
        run(&r, NOENV, ARGS("--epid", arg));
        if (c->has_epid) {
            assert_int_equal(r.rc, KMSD_CONFIG_OK);
            assert_string_equal(r.cfg.epids[0].csvlk, c->key);
        } else {
            assert_usage(&r, S_CLI, "epid", c->key);
        }
        res_free(&r);
        if (!c->has_epid)
            continue;
        snprintf(arg, sizeof arg, "%s=03612-%05u-030-000001-03-1033-26100.0000-3052024", c->key,
                 (unsigned)(c->group + 1) % 100000);
        run(&r, NOENV, ARGS("--epid", arg));
        assert_usage(&r, S_CLI, "epid", "not the group of CSVLK");
        res_free(&r);
    }
    /* a host build without NDR64 needs --no-ndr64, in whichever layer */
    for (size_t i = 0; i < products_build_count(); i++) {
        const struct products_build *b = products_build_at(i);
        if (!b->epid)
            continue;
        char num[16];
        snprintf(num, sizeof num, "%u", (unsigned)b->build);
        run(&r, NOENV, ARGS("--host-build", num));
        if (b->ndr64) {
            assert_int_equal(r.rc, KMSD_CONFIG_OK);
        } else {
            assert_usage(&r, S_CLI, "host-build", "--no-ndr64");
            assert_non_null(strstr(r.err, num));
        }
        res_free(&r);
        run(&r, ARGS("KMSD_NDR64=off"), ARGS("--host-build", num));
        assert_int_equal(r.rc, KMSD_CONFIG_OK);
        assert_int_equal(r.cfg.host_build, b->build);
        res_free(&r);
    }

    /* hwid: empty means random again */
    run_ini(&r, "hwid = FFEEDDCCBBAA9988\n", NOENV, NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_true(r.cfg.hwid_set);
    assert_int_equal(r.cfg.hwid[0], 0xff);
    assert_int_equal(r.cfg.hwid[7], 0x88);
    res_free(&r);
    run_ini(&r, "hwid = FFEEDDCCBBAA9988\n", ARGS("KMSD_HWID="), NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_false(r.cfg.hwid_set);
    res_free(&r);
}

/* ---- precedence ---- */

/* limit-loopback, the former name of limit-private, still sets it from every source and in every form; the
 * configuration prints the new name; --help lists only the new one. */
static void former_names(void **state)
{
    (void)state;
    struct res r = { 0 };
    run(&r, NOENV, ARGS("--limit-loopback"));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_true(r.cfg.limit_private);
    res_free(&r);
    run(&r, NOENV, ARGS("--limit-private", "--no-limit-loopback"));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_false(r.cfg.limit_private);
    res_free(&r);
    run(&r, ARGS("KMSD_LIMIT_LOOPBACK=yes"), NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_true(r.cfg.limit_private);
    res_free(&r);
    run(&r, ARGS("KMSD_LIMIT_LOOPBACK=yes"), ARGS("--no-limit-private")); /* the command line still wins */
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_false(r.cfg.limit_private);
    res_free(&r);
    run_ini(&r, "limit-loopback = true\n", NOENV, NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_true(r.cfg.limit_private);
    res_free(&r);
    run_ini(&r, "limit-loopback = maybe\n", NOENV, NULL); /* errors name the option it became */
    assert_int_equal(r.rc, KMSD_CONFIG_EXIT_USAGE);
    assert_non_null(strstr(r.err, "limit-private"));
    res_free(&r);
    run(&r, NOENV, ARGS("--limit-loopback=yes")); /* a flag given a value, as for any boolean */
    assert_int_equal(r.rc, KMSD_CONFIG_EXIT_USAGE);
    res_free(&r);
    run(&r, NOENV, ARGS("--limit-loopback", "--check-config"));
    assert_int_equal(r.rc, KMSD_CONFIG_EXIT_OK);
    assert_non_null(strstr(r.out, "\nlimit-private = true\n"));
    assert_null(strstr(r.out, "limit-loopback"));
    res_free(&r);
    run(&r, NOENV, ARGS("--help"));
    assert_non_null(strstr(r.out, "--limit-private"));
    assert_null(strstr(r.out, "limit-loopback"));
    res_free(&r);
}

static void precedence(void **state)
{
    (void)state;
    const char *ini = "port = 1000\nlisten = 1.1.1.1\nlisten = 2.2.2.2\nlog-level = debug\nndr64 = false\n"
                      "idle-timeout = 10\n";
    struct res r = { 0 };
    run_ini(&r, ini, NOENV, NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.port, 1000);
    assert_int_equal(r.cfg.n_listen, 2);
    assert_int_equal(r.cfg.log_level, CONFIG_LOG_DEBUG);
    assert_false(r.cfg.ndr64);
    assert_int_equal(r.cfg.idle_timeout_ms, 10000);
    assert_string_equal(r.cfg.config_file, r.ini);
    res_free(&r);

    run_ini(&r, ini, ARGS("KMSD_PORT=2000", "KMSD_LISTEN=3.3.3.3,4.4.4.4,5.5.5.5", "KMSD_NDR64=yes"), NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.port, 2000);
    assert_int_equal(r.cfg.n_listen, 3);
    assert_string_equal(r.cfg.listen[0], "3.3.3.3");
    assert_true(r.cfg.ndr64);
    assert_int_equal(r.cfg.log_level, CONFIG_LOG_DEBUG); /* not overridden: from the file */
    res_free(&r);

    run_ini(&r, ini, ARGS("KMSD_PORT=2000", "KMSD_LISTEN=3.3.3.3,4.4.4.4", "KMSD_IDLE_TIMEOUT=20"),
            ARGS("--port", "3000", "-L", "[::1]", "--no-ndr64", "--log-level", "error"));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.port, 3000);
    assert_int_equal(r.cfg.n_listen, 1);
    assert_string_equal(r.cfg.listen[0], "[::1]");
    assert_false(r.cfg.ndr64);
    assert_int_equal(r.cfg.log_level, CONFIG_LOG_ERROR);
    assert_int_equal(r.cfg.idle_timeout_ms, 20000);
    res_free(&r);

    /* an empty environment list empties the file's list (back to the default listeners) */
    run_ini(&r, ini, ARGS("KMSD_LISTEN="), NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.n_listen, 0);
    res_free(&r);

    /* the file's epid list is replaced by the command line's */
    run_ini(&r, "epid = office2024=03612-00206-670-000123-03-1031-20348.0000-0012025\n", NOENV,
            ARGS("--epid", "win2025=03612-04918-030-000001-03-1033-26100.0000-3052024"));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.n_epids, 1);
    assert_string_equal(r.cfg.epids[0].csvlk, "win2025");
    res_free(&r);

    /* KMSD_CONFIG names the file; -c wins over it; the variable itself is no error */
    char other[64];
    write_tmp(other, sizeof other, "port = 4000\n");
    char envc[128];
    snprintf(envc, sizeof envc, "KMSD_CONFIG=%s", other);
    run(&r, ARGS(envc), NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.port, 4000);
    assert_string_equal(r.cfg.config_file, other);
    res_free(&r);
    run_ini(&r, "port = 5000\n", ARGS(envc), NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_int_equal(r.cfg.port, 5000);
    res_free(&r);
    unlink(other);
    run(&r, ARGS("KMSD_CONFIG=/nonexistent/kmsd.conf"), NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_EXIT_USAGE);
    assert_non_null(strstr(r.err, "/nonexistent/kmsd.conf"));
    res_free(&r);
}

/* ---- command line, INI and environment errors ---- */

static void expect_err(struct res *r, const char *what)
{
    if (r->rc != KMSD_CONFIG_EXIT_USAGE)
        fail_msg("expected exit 2 with \"%s\", got %d", what, r->rc);
    if (!strstr(r->err, what))
        fail_msg("expected \"%s\" in \"%s\"", what, r->err);
    assert_int_equal(strncmp(r->err, "kmsd: ", 6), 0);
    assert_one_line(r->err);
    assert_string_equal(r->out, "");
    res_free(r);
}

static void cli_errors(void **state)
{
    (void)state;
    struct res r = { 0 };
    run(&r, NOENV, ARGS("--bogus"));
    expect_err(&r, "kmsd: --bogus: unknown option");
    run(&r, NOENV, ARGS("--port", "1", "--lisen=1.2.3.4"));
    expect_err(&r, "kmsd: --lisen=1.2.3.4: unknown option");
    run(&r, NOENV, ARGS("-x"));
    expect_err(&r, "kmsd: -x: unknown option");
    run(&r, NOENV, ARGS("--port"));
    expect_err(&r, "kmsd: --port: missing value");
    run(&r, NOENV, ARGS("-L"));
    expect_err(&r, "kmsd: --listen: missing value");
    run(&r, NOENV, ARGS("-c"));
    expect_err(&r, "kmsd: --config: missing value");
    run(&r, NOENV, ARGS("--syslog=yes"));
    expect_err(&r, "kmsd: --syslog: takes no value");
    run(&r, NOENV, ARGS("--no-ndr64=1"));
    expect_err(&r, "kmsd: --no-ndr64: takes no value");
    run(&r, NOENV, ARGS("--help=1"));
    expect_err(&r, "kmsd: --help: takes no value");
    run(&r, NOENV, ARGS("--port", "1689", "extra"));
    expect_err(&r, "\"extra\": unexpected argument");
    run(&r, NOENV, ARGS("--", "--port"));
    expect_err(&r, "\"--port\": unexpected argument");
    run(&r, NOENV, ARGS("--no-port"));
    expect_err(&r, "unknown option");
    /* errors in a value name the option and stop before anything else is printed */
    run(&r, NOENV, ARGS("--check-config", "--idle-timeout", "abc"));
    expect_err(&r, "kmsd: --idle-timeout: \"abc\" is not a duration (expected e.g. 30, 30s, 5m, 1h; 1 s to 1 d)");
}

static void ini_errors(void **state)
{
    (void)state;
    struct res r = { 0 };
    char want[256];
    run_ini(&r, "# kmsd\n\nport = 1689\nlisen = 1.2.3.4\n", NOENV, NULL);
    snprintf(want, sizeof want, "kmsd: %s:4: unknown key \"lisen\"", r.ini);
    expect_err(&r, want);
    run_ini(&r, "listen 127.0.0.1:1688\n", NOENV, NULL); /* no '=': inih takes the ':' as the separator */
    snprintf(want, sizeof want, "kmsd: %s:1: unknown key \"listen 127.0.0.1\" (write \"listen = VALUE\": '=' between key and value)",
             r.ini);
    expect_err(&r, want);
    run_ini(&r, "lisen 127.0.0.1:1688\n", NOENV, NULL); /* the first word no key either: the plain message */
    snprintf(want, sizeof want, "kmsd: %s:1: unknown key \"lisen 127.0.0.1\"", r.ini);
    assert_null(strstr(r.err, "VALUE"));
    expect_err(&r, want);
    run_ini(&r, "no-ndr64 = true\n", NOENV, NULL);
    snprintf(want, sizeof want, "kmsd: %s:1: unknown key \"no-ndr64\" (use \"ndr64 = false\")", r.ini);
    expect_err(&r, want);
    run_ini(&r, "check-config = true\n", NOENV, NULL);
    expect_err(&r, "command line only");
    run_ini(&r, "config = /etc/other.conf\n", NOENV, NULL);
    expect_err(&r, "command line only");
    run_ini(&r, "port = 1\n[server]\nport = 2\n", NOENV, NULL);
    snprintf(want, sizeof want, "kmsd: %s:2: unknown section \"[server]\"", r.ini);
    expect_err(&r, want);
    run_ini(&r, "[other]\n", NOENV, NULL);
    expect_err(&r, "unknown section");
    /* inih reads an indented line as the continuation of the previous value */
    run_ini(&r, "port = 1\n  [indented]\n", NOENV, NULL);
    expect_err(&r, ":2: port: \"[indented]\" is not a number");
}

static void ini_errors2(void **state)
{
    (void)state;
    struct res r = { 0 };
    char want[256];
    run_ini(&r, "port = 1\nthis is not ini\nport = 2\n", NOENV, NULL);
    snprintf(want, sizeof want, "kmsd: %s:2: syntax error", r.ini);
    expect_err(&r, want);
    run_ini(&r, "[kmsd\n", NOENV, NULL);
    expect_err(&r, ":1: syntax error");
    run_ini(&r, "port = 1\nport = abc\nlisen = x\n", NOENV, NULL);
    snprintf(want, sizeof want, "kmsd: %s:2: port: \"abc\" is not a number", r.ini);
    expect_err(&r, want);
    /* a line longer than inih's buffer is an error, not two lines */
    char big[1200];
    memset(big, 'x', sizeof big);
    memcpy(big, "state-dir = /", 13);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    run_ini(&r, big, NOENV, NULL);
    expect_err(&r, ":1: line too long");
    /* unreadable files */
    run(&r, NOENV, ARGS("-c", "/nonexistent/kmsd.conf"));
    expect_err(&r, "kmsd: /nonexistent/kmsd.conf: cannot open configuration file: No such file or directory");
    const char *dir = getenv("TMPDIR");
    run(&r, NOENV, ARGS("--config", dir && *dir ? dir : "/tmp"));
    expect_err(&r, "configuration file");
    if (geteuid() != 0) {
        char path[64];
        write_tmp(path, sizeof path, "port = 1\n");
        assert_int_equal(chmod(path, 0), 0);
        run(&r, NOENV, ARGS("-c", path));
        unlink(path);
        expect_err(&r, "Permission denied");
    }
}

/* An unknown name with a close one where it was given: "did you mean" it, in that source's spelling; none when
 * nothing is close or the close one is not valid there. */
static void suggestions(void **state)
{
    (void)state;
    struct res r = { 0 };
    char want[256];
    run(&r, NOENV, ARGS("--lisen=1.2.3.4"));
    expect_err(&r, "kmsd: --lisen=1.2.3.4: unknown option; did you mean --listen?");
    run(&r, NOENV, ARGS("--count_mode", "genuine"));
    expect_err(&r, "kmsd: --count_mode: unknown option; did you mean --count-mode?");
    run(&r, NOENV, ARGS("--retention-days", "3")); /* an option extended by a dash and more */
    expect_err(&r, "kmsd: --retention-days: unknown option; did you mean --retention?");
    run(&r, NOENV, ARGS("--bogus"));
    assert_null(strstr(r.err, "did you mean"));
    expect_err(&r, "kmsd: --bogus: unknown option (see kmsd --help)");
    run_ini(&r, "lisen = 1.2.3.4\n", NOENV, NULL);
    snprintf(want, sizeof want, "kmsd: %s:1: unknown key \"lisen\" (did you mean \"listen\"?)", r.ini);
    expect_err(&r, want);
    run_ini(&r, "retention_days = 3\n", NOENV, NULL);
    expect_err(&r, "unknown key \"retention_days\" (did you mean \"retention\"?)");
    run(&r, ARGS("KMSD_PORTT=1"), NULL);
    expect_err(&r, "kmsd: KMSD_PORTT: unknown variable; did you mean KMSD_PORT?");
    run(&r, ARGS("KMSD_COUNTMODE=genuine"), NULL);
    expect_err(&r, "kmsd: KMSD_COUNTMODE: unknown variable; did you mean KMSD_COUNT_MODE?");
    run(&r, ARGS("KMSD_CHECK_CONFIG=1"), NULL); /* command line only: not offered in the environment */
    assert_null(strstr(r.err, "did you mean"));
    expect_err(&r, "KMSD_CHECK_CONFIG: unknown variable");
}

static void env_errors(void **state)
{
    (void)state;
    struct res r = { 0 };
    run(&r, ARGS("KMSD_PORTT=1"), NULL);
    expect_err(&r, "kmsd: KMSD_PORTT: unknown variable");
    run(&r, ARGS("KMSD_NO_NDR64=1"), NULL);
    expect_err(&r, "kmsd: KMSD_NO_NDR64: unknown variable (use KMSD_NDR64=false)");
    run(&r, ARGS("KMSD_CHECK_CONFIG=1"), NULL);
    expect_err(&r, "KMSD_CHECK_CONFIG: unknown variable");
    run(&r, ARGS("KMSD_port=1"), NULL);
    expect_err(&r, "KMSD_port: unknown variable");
    run(&r, ARGS("KMSD_MAX-PDU=300"), NULL);
    expect_err(&r, "unknown variable");
    /* the test harness's variables (TEST_*) are no longer KMSD_ ones: each is refused like any unknown one */
    run(&r, ARGS("KMSD_FIXTURES=/x"), NULL);
    expect_err(&r, "KMSD_FIXTURES: unknown variable");
    /* other programs' variables are not errors */
    run(&r, ARGS("TEST_FIXTURES=/x", "KMSC_PORT=1", "PATH=/bin", "KMSD"),
        NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_string_equal(r.err, "");
    res_free(&r);
    /* every option that belongs in the environment is known there */
    for (size_t i = 0; i < config_option_count(); i++) {
        const struct config_option *o = config_option_at(i);
        char e[96];
        env_name(o->name, e, sizeof e);
        snprintf(e + strlen(e), sizeof e - strlen(e), "=%s", o->def ? o->def : "1");
        run(&r, ARGS(e), NULL);
        if (o->in & CONFIG_IN_ENV) {
            if (r.rc != KMSD_CONFIG_OK)
                fail_msg("%s: %s", e, r.err);
            res_free(&r);
        } else {
            expect_err(&r, "unknown variable");
        }
    }
}

/* ---- actions ---- */

static void check_config_roundtrip(void **state)
{
    (void)state;
    struct res r = { 0 };
    run(&r, ARGS("KMSD_LCID=1049", "KMSD_EPID=win2025=03612-04918-030-000001-03-1033-26100.0000-3052024"),
        ARGS("--check-config", "-L", "1.2.3.4", "-L", "[fe80::1%eth0]:1700", "--port", "1999", "--max-connections",
             "7", "--idle-timeout", "90", "--max-pdu", "4000", "--max-requests", "5", "--max-conn-buffer", "8000",
             "--no-ndr64", "--no-btfn", "--client-count", "30", "--allow-low-count", "--activation-interval", "61",
             "--renewal-interval", "2d", "--hwid", "00112233445566aa", "--host-build", "14393", "--state-dir",
             "/srv/kmsd", "--log-level", "debug", "--log-file", "/var/log/kmsd.log", "--syslog"));
    assert_int_equal(r.rc, KMSD_CONFIG_EXIT_OK);
    assert_string_equal(r.err, "");
    assert_true(r.cfg.check_config);
    char *first = print_cfg(&r.cfg);
    assert_string_equal(r.out, first);
    assert_non_null(strstr(first, "ndr64 = false\n"));
    assert_non_null(strstr(first, "hwid = 00112233445566AA\n"));
    assert_non_null(strstr(first, "listen = [fe80::1%eth0]:1700\n"));
    assert_non_null(strstr(first, "lcid = 1049\n"));

    /* the printed text loads back to the same configuration */
    struct res r2 = { 0 };
    run_ini(&r2, r.out, NOENV, NULL);
    assert_int_equal(r2.rc, KMSD_CONFIG_OK);
    assert_string_equal(r2.err, "");
    char *second = print_cfg(&r2.cfg);
    assert_string_equal(first, second);
    assert_int_equal(r2.cfg.idle_timeout_ms, 90000);
    assert_int_equal(r2.cfg.renewal_interval, 2880);
    assert_int_equal(r2.cfg.n_listen, 2);
    assert_int_equal(r2.cfg.n_epids, 1);
    free(second);
    res_free(&r2);
    free(first);
    res_free(&r);

    /* defaults round-trip too, and --check-config prints through config_print */
    run(&r, NOENV, ARGS("--check-config"));
    assert_int_equal(r.rc, KMSD_CONFIG_EXIT_OK);
    run_ini(&r2, r.out, NOENV, NULL);
    assert_int_equal(r2.rc, KMSD_CONFIG_OK);
    struct kmsd_config d;
    config_defaults(&d);
    char *a = print_cfg(&d), *b = print_cfg(&r2.cfg);
    assert_string_equal(a, b);
    assert_string_equal(a, r.out);
    free(a);
    free(b);
    res_free(&r2);
    res_free(&r);
}

/* The spelling of an option on the command line. */
static void cli_form(const struct config_option *o, char *buf, size_t cap)
{
    snprintf(buf, cap, "--%s%s", o->negated ? "no-" : "", o->name);
}

static void help_lists_every_option(void **state)
{
    (void)state;
    static const char *const forms[] = { "--help", "-h" };
    for (size_t f = 0; f < 2; f++) {
        struct res r = { 0 };
        run(&r, NOENV, ARGS("--port", "bad-but-help-wins", forms[f]));
        assert_int_equal(r.rc, KMSD_CONFIG_EXIT_OK);
        assert_string_equal(r.err, "");
        assert_non_null(strstr(r.out, "Usage: kmsd"));
        for (size_t i = 0; i < config_option_count(); i++) {
            const struct config_option *o = config_option_at(i);
            /* the suggestions and the INI file's "KEY VALUE" hint compare names of at most this length */
            assert_true(strlen(o->name) <= SUGGEST_WORD_MAX);
            char want[64];
            cli_form(o, want, sizeof want);
            if (!strstr(r.out, want))
                fail_msg("--help does not list %s", want);
            if (o->short_opt) {
                snprintf(want, sizeof want, "-%c, --%s", o->short_opt, o->name);
                assert_non_null(strstr(r.out, want));
            }
            if (o->metavar) {
                cli_form(o, want, sizeof want);
                snprintf(want + strlen(want), sizeof want - strlen(want), " %s", o->metavar);
                assert_non_null(strstr(r.out, want));
            }
        }
        res_free(&r);
    }
    static const char *const vforms[] = { "--version", "-V" };
    for (size_t f = 0; f < 2; f++) {
        struct res r = { 0 };
        run(&r, NOENV, ARGS(vforms[f]));
        assert_int_equal(r.rc, KMSD_CONFIG_EXIT_OK);
        assert_int_equal(strncmp(r.out, "kmsd ", 5), 0);
        assert_one_line(r.out);
        res_free(&r);
    }
}

/* --products-file: the file's table checks the product names of the other options, from any source and in any order;
 * a file that breaks a rule is a usage error naming its line and the rule; --check-config reads it too. */
static void products_file_option(void **state)
{
    (void)state;
    char *shipped = read_source_file("data/products.tsv");
    char good[4200], bad[4200];
    static char gtext[128 * 1024], btext[129 * 1024];
    /* a CSVLK group only this file has, activating Windows 10/11 (its KMS id) */
    int n = snprintf(gtext, sizeof gtext, "%scsvlk\ttest2099\t206\t1000\t1999\t2024-01-01\t-\tTest 2099\n"
                     "activates\ttest2099\t58e2134f-8e11-4d17-9cb2-91069c151148\n", shipped);
    assert_true(n > 0 && (size_t)n < sizeof gtext);
    size_t lines = 0;
    for (const char *p = gtext; *p; p++)
        lines += *p == '\n';
    snprintf(btext, sizeof btext, "%sactivates\ttest2098\t58e2134f-8e11-4d17-9cb2-91069c151148\n", gtext);
    free(shipped);
    write_tmp(good, sizeof good, gtext);
    write_tmp(bad, sizeof bad, btext);
    static const char epid[] = "test2099=03612-00206-001-000500-03-1033-26100.0000-3052024";

    struct res r = { 0 };
    run(&r, NOENV, ARGS("--products-file", good, "--csvlk", "test2099", "--epid", epid));
    if (r.rc != KMSD_CONFIG_OK)
        fail_msg("with the file: %s", r.err);
    assert_ptr_not_equal(r.cfg.products_table, products_builtin());
    assert_string_equal(r.cfg.products_table->source, good);
    assert_non_null(products_in_find_csvlk(r.cfg.products_table, "test2099"));
    assert_string_equal(r.cfg.csvlks[0], "test2099");
    assert_ptr_equal(products_current(), products_builtin()); /* read, not put in use */
    config_release(&r.cfg);
    assert_null(r.cfg.products_table);
    res_free(&r);

    /* without the file the group is unknown */
    run(&r, NOENV, ARGS("--csvlk", "test2099"));
    assert_usage(&r, S_CLI, "csvlk", "is not a CSVLK group of the product table");
    res_free(&r);
    /* the INI file names the group before the file; the environment names the file, the command line the group */
    char ini[8400];
    snprintf(ini, sizeof ini, "csvlk = test2099\nproducts-file = %s\n", good);
    run_ini(&r, ini, NOENV, NULL);
    if (r.rc != KMSD_CONFIG_OK)
        fail_msg("INI: %s", r.err);
    config_release(&r.cfg);
    res_free(&r);
    char env[4300];
    snprintf(env, sizeof env, "KMSD_PRODUCTS_FILE=%s", good);
    run(&r, ARGS(env), ARGS("--csvlk", "test2099"));
    if (r.rc != KMSD_CONFIG_OK)
        fail_msg("environment: %s", r.err);
    config_release(&r.cfg);
    res_free(&r);
    /* without --products-file the table is the built-in one */
    run(&r, NOENV, ARGS("--csvlk", "win2025"));
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    assert_ptr_equal(r.cfg.products_table, products_builtin());
    config_release(&r.cfg);
    res_free(&r);

    /* a file that breaks a rule: the line and the rule */
    run(&r, NOENV, ARGS("--products-file", bad));
    assert_int_equal(r.rc, KMSD_CONFIG_EXIT_USAGE);
    char want[4400];
    snprintf(want, sizeof want, "kmsd: --products-file: %s:%zu: error: csvlk_key: unknown CSVLK 'test2098'\n", bad,
             lines + 1);
    if (strncmp(r.err, want, strlen(want)) != 0)
        fail_msg("error: %s", r.err);
    assert_non_null(strstr(r.err, "1 error(s); the table is not used"));
    res_free(&r);
    run(&r, NOENV, ARGS("--products-file", "/nonexistent/products.tsv"));
    assert_int_equal(r.rc, KMSD_CONFIG_EXIT_USAGE);
    assert_non_null(strstr(r.err, "/nonexistent/products.tsv: error: cannot read: No such file or directory"));
    res_free(&r);

    /* --check-config reads it, and prints the option */
    run(&r, NOENV, ARGS("--products-file", good, "--check-config"));
    assert_int_equal(r.rc, KMSD_CONFIG_EXIT_OK);
    snprintf(want, sizeof want, "\nproducts-file = %s\n", good);
    assert_non_null(strstr(r.out, want));
    res_free(&r);
    run(&r, NOENV, ARGS("--products-file", bad, "--check-config"));
    assert_int_equal(r.rc, KMSD_CONFIG_EXIT_USAGE);
    res_free(&r);

    /* INI text alone (the fuzzer's entry) checks names against the built-in table and reads no file */
    struct kmsd_config c;
    config_defaults(&c);
    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    snprintf(ini, sizeof ini, "products-file = %s\ncsvlk = win2025\n", bad);
    assert_int_equal(config_load_ini_text(&c, ini, strlen(ini), devnull), KMSD_CONFIG_OK);
    assert_ptr_equal(c.products_table, products_builtin());
    fclose(devnull);
    unlink(good);
    unlink(bad);
}

/* docs/config.md has a section "### `NAME`" per option giving each of its forms and its default. */
static void docs_mention_every_option(void **state)
{
    (void)state;
    char *doc = read_source_file("docs/config.md");
    for (size_t i = 0; i < config_option_count(); i++) {
        const struct config_option *o = config_option_at(i);
        char head[96], want[128];
        snprintf(head, sizeof head, "\n### `%s`\n", o->name);
        const char *sec = strstr(doc, head);
        if (!sec)
            fail_msg("docs/config.md: no section %s", head + 1);
        sec += strlen(head);
        const char *next = strstr(sec, "\n### ");
        size_t len = next ? (size_t)(next - sec) : strlen(sec);
        char *body = strndup(sec, len);
        assert_non_null(body);
        cli_form(o, want, sizeof want);
        if (!strstr(body, want))
            fail_msg("docs/config.md %s: no %s", o->name, want);
        if (o->short_opt) {
            snprintf(want, sizeof want, "`-%c", o->short_opt);
            assert_non_null(strstr(body, want));
        }
        snprintf(want, sizeof want, "`%s = ", o->name);
        if ((o->in & CONFIG_IN_INI) && !strstr(body, want))
            fail_msg("docs/config.md %s: no INI form %s", o->name, want);
        if (!(o->in & CONFIG_IN_INI) && !strstr(body, "INI: not allowed"))
            fail_msg("docs/config.md %s: should say it is not an INI key", o->name);
        env_name(o->name, want, sizeof want);
        if ((o->in & CONFIG_IN_ENV) && !strstr(body, want))
            fail_msg("docs/config.md %s: no variable %s", o->name, want);
        if (!(o->in & CONFIG_IN_ENV) && !strstr(body, "Environment: not allowed"))
            fail_msg("docs/config.md %s: should say it is not a variable", o->name);
        if (o->def && o->def[0]) {
            snprintf(want, sizeof want, "Default: `%s`", o->def);
            if (!strstr(body, want))
                fail_msg("docs/config.md %s: no \"%s\"", o->name, want);
        }
        free(body);
    }
    free(doc);

    /* the man page names every option too (dashes escaped as \-) */
    char *man = read_source_file("docs/kmsd.8");
    for (size_t i = 0; i < config_option_count(); i++) {
        char form[64], want[128];
        cli_form(config_option_at(i), form, sizeof form);
        size_t k = 0;
        for (const char *p = form; *p && k + 2 < sizeof want; p++) {
            if (*p == '-')
                want[k++] = '\\';
            want[k++] = *p;
        }
        want[k] = '\0';
        if (!strstr(man, want))
            fail_msg("docs/kmsd.8 does not mention %s", form);
    }
    free(man);
}

/* The option names listed in doc after marker, up to the first '.': separated by commas, blanks and "and", in
 * backticks (config.md) or with their dashes escaped as \- (kmsd.8). Sets named[i] for each option named; a word
 * that is not an option, or an option named twice, fails. */
static void doc_option_list(const char *doc, const char *file, const char *marker, bool *named)
{
    const char *p = strstr(doc, marker);
    if (!p)
        fail_msg("%s: no \"%s\"", file, marker);
    p += strlen(marker);
    const char *end = strchr(p, '.');
    assert_non_null(end);
    memset(named, 0, config_option_count() * sizeof *named);
    while (p < end) {
        if (strchr(", \n`", *p)) {
            p++;
            continue;
        }
        char word[64];
        size_t k = 0;
        while (p < end && !strchr(", \n`", *p)) {
            if (p[0] == '\\' && p[1] == '-')
                p++;
            if (k + 1 >= sizeof word)
                fail_msg("%s: a long word in the list after \"%s\"", file, marker);
            word[k++] = *p++;
        }
        word[k] = '\0';
        if (strcmp(word, "and") == 0)
            continue;
        size_t i = 0;
        while (i < config_option_count() && strcmp(config_option_at(i)->name, word) != 0)
            i++;
        if (i == config_option_count())
            fail_msg("%s: \"%s\", in the list after \"%s\", is no option", file, word, marker);
        if (named[i])
            fail_msg("%s: %s twice in the list after \"%s\"", file, word, marker);
        named[i] = true;
    }
}

/* kmsd.8 (SIGNALS) and config.md (Reload) list the options a reload applies, exactly those the table marks live, and
 * those that wait for a restart: every other option a configuration file can set. */
static void docs_reload_lists(void **state)
{
    (void)state;
    static const char *const files[] = {"docs/kmsd.8", "docs/config.md"};
    static const char live_marker[] = "open connections staying open:";
    static const char restart_marker[] = "each one that changed being logged as such:";
    size_t n = config_option_count();
    bool *live = calloc(n, sizeof *live), *restart = calloc(n, sizeof *restart);
    assert_non_null(live);
    assert_non_null(restart);
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char *doc = read_source_file(files[f]);
        doc_option_list(doc, files[f], live_marker, live);
        doc_option_list(doc, files[f], restart_marker, restart);
        for (size_t i = 0; i < n; i++) {
            const struct config_option *o = config_option_at(i);
            bool is_live = config_option_live(o->name);
            if (is_live && !live[i])
                fail_msg("%s: %s applies at a reload but is not in the list after \"%s\"", files[f], o->name,
                         live_marker);
            if (!is_live && live[i])
                fail_msg("%s: %s needs a restart but is in the list after \"%s\"", files[f], o->name, live_marker);
            if (!is_live && (o->in & CONFIG_IN_INI) && !restart[i])
                fail_msg("%s: %s needs a restart but is not in the list after \"%s\"", files[f], o->name,
                         restart_marker);
            if (is_live && restart[i])
                fail_msg("%s: %s applies at a reload but is in the list after \"%s\"", files[f], o->name,
                         restart_marker);
        }
        free(doc);
    }
    free(live);
    free(restart);
}

/* packaging/kmsd.conf.example: every key commented out at its default. Loading it, and loading it with every
 * "# key = value" line uncommented, both give the defaults. */
static void example_config(void **state)
{
    (void)state;
    char *ex = read_source_file("packaging/kmsd.conf.example");
    struct kmsd_config d;
    config_defaults(&d);
    char *want = print_cfg(&d);

    struct res r = { 0 };
    run_ini(&r, ex, NOENV, NULL);
    assert_int_equal(r.rc, KMSD_CONFIG_OK);
    char *got = print_cfg(&r.cfg);
    assert_string_equal(got, want);
    free(got);
    res_free(&r);

    size_t cap = strlen(ex) + 1, len = 0;
    char *un = malloc(cap);
    assert_non_null(un);
    bool seen[128] = { false };
    assert_true(config_option_count() <= 128);
    for (const char *line = ex; *line;) {
        const char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line + 1) : strlen(line);
        const char *body = line;
        for (size_t i = 0; strncmp(line, "# ", 2) == 0 && i < config_option_count(); i++) {
            const char *n = config_option_at(i)->name;
            size_t nlen = strlen(n);
            if (strncmp(line + 2, n, nlen) == 0 && strncmp(line + 2 + nlen, " =", 2) == 0) {
                seen[i] = true;
                body = line + 2;
                ll -= 2;
                break;
            }
        }
        memcpy(un + len, body, ll);
        len += ll;
        line = body + ll;
    }
    un[len] = '\0';
    for (size_t i = 0; i < config_option_count(); i++)
        if ((config_option_at(i)->in & CONFIG_IN_INI) && !seen[i])
            fail_msg("kmsd.conf.example: no \"# %s = ...\" line", config_option_at(i)->name);
    run_ini(&r, un, NOENV, NULL);
    if (r.rc != KMSD_CONFIG_OK)
        fail_msg("uncommented example: %s", r.err);
    got = print_cfg(&r.cfg);
    assert_string_equal(got, want);
    free(got);
    res_free(&r);
    free(un);
    free(want);
    free(ex);
}

/* config_command_args: a command's own value options taken out (both forms), -h noted, the rest passed on, up to
 * CONFIG_COMMAND_ARGS of them (limit - 1, limit, limit + 1). */
#define W(s) ((char *)(uintptr_t)(s)) /* argv strings are not written */
static void command_args(void **state)
{
    (void)state;
    static const char *const own[] = {"--zone", "--form"};
    static char *argv[CONFIG_COMMAND_ARGS + 8];
    char *pass[CONFIG_COMMAND_ARGS + 1];
    const char *vals[2];
    bool help;
    char *a[] = {W("kmsd"), W("dns-record"), W("--zone"), W("z.example"), W("-L"), W("127.0.0.1:1"), W("--form=unbound"),
                 W("--zonex"), W("-h")};
    vals[0] = vals[1] = NULL;
    int np = config_command_args("dns-record", 9, a, 2, own, vals, 2, pass, &help);
    assert_int_equal(np, 4); /* kmsd -L 127.0.0.1:1 --zonex: a name only matches whole */
    assert_string_equal(vals[0], "z.example");
    assert_string_equal(vals[1], "unbound");
    assert_true(help);
    assert_string_equal(pass[3], "--zonex");
    assert_null(pass[4]);
    char *b[] = {W("kmsd"), W("dns-record"), W("--form")};
    assert_int_equal(config_command_args("dns-record", 3, b, 2, own, vals, 2, pass, &help), -1); /* no value */
    argv[0] = W("kmsd");
    argv[1] = W("dns-record");
    for (int i = 2; i < CONFIG_COMMAND_ARGS + 8; i++)
        argv[i] = W("--no-db");
    /* argv[0] counts: the limit is CONFIG_COMMAND_ARGS entries in pass */
    assert_int_equal(config_command_args("dns-record", CONFIG_COMMAND_ARGS, argv, 2, own, vals, 2, pass, &help),
                     CONFIG_COMMAND_ARGS - 1);
    assert_int_equal(config_command_args("dns-record", CONFIG_COMMAND_ARGS + 1, argv, 2, own, vals, 2, pass, &help),
                     CONFIG_COMMAND_ARGS);
    assert_int_equal(config_command_args("dns-record", CONFIG_COMMAND_ARGS + 2, argv, 2, own, vals, 2, pass, &help),
                     -1);
}

#undef W

/* A reload takes the options the table marks live, all of them, lists with their entries, and no other: after
 * config_take_live the running configuration differs from the new one only in options that wait for a restart. */
static void live_options_taken(void **state)
{
    (void)state;
    struct res a = {0}, b = {0};
    run_ini(&a, "port = 1700\n", NOENV, NULL);
    assert_int_equal(a.rc, KMSD_CONFIG_OK);
    run_ini(&b,
            "port = 1701\nstate-dir = /tmp/elsewhere\nallow = 10.0.0.0/8\nallow = 192.168.0.0/16\ndeny = 10.9.0.0/16\n"
            "csvlk = win2025\nmax-connections = 77\nidle-timeout = 45s\nlog-level = debug\ncount-mode = genuine\n"
            "count-floor = 3\nhttp-token = 0123456789abcdef0123\nhttp-max-page = 9\nproxy-protocol = true\n"
            "trusted-proxy = 10.0.0.5\ndns-publish = example.org\ndns-address = 192.0.2.1\ndns-priority = 5\n",
            NOENV, NULL);
    assert_int_equal(b.rc, KMSD_CONFIG_OK);
    const char *names[64];
    size_t n = config_changed(&a.cfg, &b.cfg, names, 64);
    assert_int_equal(n, 17); /* the 17 options the second text sets */
    config_take_live(&a.cfg, &b.cfg);
    n = config_changed(&a.cfg, &b.cfg, names, 64);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "port");
    assert_string_equal(names[1], "state-dir");
    assert_false(config_option_live("port"));
    assert_true(config_option_live("allow"));
    assert_false(config_option_live("no-such-option"));
    /* every live list option names its entries (else a reload would take the count without them) */
    for (size_t i = 0; i < config_option_count(); i++) {
        const struct config_option *o = config_option_at(i);
        if (config_option_live(o->name) && o->arg == CONFIG_ARG_LIST)
            assert_true(config_opts[i].list_size > 0);
    }
    res_free(&a);
    res_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(defaults_match_table),
        cmocka_unit_test(good_values),
        cmocka_unit_test(value_semantics),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(limits),
        cmocka_unit_test(listen_forms),
        cmocka_unit_test(http_options),
        cmocka_unit_test(epid_hwid),
        cmocka_unit_test(former_names),
        cmocka_unit_test(precedence),
        cmocka_unit_test(cli_errors),
        cmocka_unit_test(ini_errors),
        cmocka_unit_test(ini_errors2),
        cmocka_unit_test(env_errors),
        cmocka_unit_test(suggestions),
        cmocka_unit_test(check_config_roundtrip),
        cmocka_unit_test(help_lists_every_option),
        cmocka_unit_test(products_file_option),
        cmocka_unit_test(docs_mention_every_option),
        cmocka_unit_test(docs_reload_lists),
        cmocka_unit_test(example_config),
        cmocka_unit_test(command_args),
        cmocka_unit_test(live_options_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
