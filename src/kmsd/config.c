#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "acl.h"
#include "epid.h"
#include "hostport.h"
#include "kms_limits.h"
#include "err.h"
#include "num.h"
#include "products.h"

/* Where a value comes from; errors name the option the way that source spells it. */
enum source { SRC_DEFAULT, SRC_INI, SRC_ENV, SRC_CLI };

#define MAX_OPTS 80
/* The longest INI line inih reads: its buffer (INI_MAX_LINE) less the newline and the NUL. */
#define CONFIG_INI_LINE_MAX (INI_MAX_LINE - 2)
#define MSG_LEN 512

/* State of one config_load(). */
struct load {
    enum source src;
    FILE *err;
    const char *file;             /* SRC_INI: the file and the line being read */
    int line;
    int err_line;                 /* SRC_INI: first line with an error, 0 if none */
    const char *err_key;          /* SRC_INI: the key whose value is wrong, NULL for other errors */
    int list_src[8];              /* per list option: 1 + the source that last wrote it (replace, then accumulate) */
    char msg[MSG_LEN];            /* the setter's complaint, without the "kmsd: WHERE: " prefix */
};

struct opt;
typedef int (*opt_set_fn)(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
typedef void (*opt_print_fn)(const struct opt *o, const struct kmsd_config *cfg, FILE *out);

/* One row of the option table: the public description plus how to parse, store and print the value. */
struct opt {
    struct config_option d;
    opt_set_fn set;     /* NULL for --help and --version (handled while scanning) */
    opt_print_fn print; /* NULL for options that are not part of the configuration file */
    size_t off;         /* field in struct kmsd_config */
    size_t size;        /* its size */
    uint64_t min, max;  /* range of integers, durations and string lengths */
};

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static int fail(struct load *ld, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Records the complaint; the caller prints it with the option's name and source. Returns -1. */
static int fail(struct load *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->msg, sizeof ld->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static void *field(const struct opt *o, struct kmsd_config *cfg)
{
    return (char *)cfg + o->off;
}

static const void *cfield(const struct opt *o, const struct kmsd_config *cfg)
{
    return (const char *)cfg + o->off;
}

/* ---- scalar parsers ---- */

struct unit {
    char suffix; /* 0: a bare number */
    uint32_t mult;
};

/* A number with at most one unit suffix from units[] (the first entry is the bare number's unit), scaled and
 * checked against [min, max]. Returns 0, -1 for bad syntax, -2 for out of range. */
static int parse_scaled(const char *s, const struct unit *units, size_t n_units, uint64_t min, uint64_t max,
                        uint64_t *out)
{
    uint64_t v;
    const char *end;
    if (num_digits(s, &v, &end) < 0) {
        /* all digits but too many of them: a range error, not a syntax error */
        size_t nd = strspn(s, "0123456789");
        if (nd > 0 && (s[nd] == '\0' || (s[nd + 1] == '\0' && strchr("smhdw", s[nd]))))
            return -2;
        return -1;
    }
    uint32_t mult = 0;
    for (size_t i = 0; i < n_units; i++) {
        if ((end[0] == '\0' && i == 0) || (end[0] != '\0' && end[0] == units[i].suffix && end[1] == '\0')) {
            mult = units[i].mult;
            break;
        }
    }
    if (mult == 0)
        return -1;
    if (v > max / mult || v * mult < min || v * mult > max)
        return -2;
    *out = v * mult;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* ---- setters ---- */

static int set_bool(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    bool b;
    if (parse_bool(val, &b) < 0)
        return fail(ld, "\"%.100s\" is not a boolean (expected true, false, yes, no, on, off, 1 or 0)", val);
    *(bool *)field(o, cfg) = b;
    return 0;
}

static int set_uint(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    uint64_t v;
    int rc = num_u64(val, o->min, o->max, &v);
    if (rc == KMS_EINVAL)
        return fail(ld, "\"%.100s\" is not a number (expected %llu to %llu)", val, (unsigned long long)o->min,
                    (unsigned long long)o->max);
    if (rc < 0)
        return fail(ld, "%.100s is out of range (expected %llu to %llu)", val, (unsigned long long)o->min,
                    (unsigned long long)o->max);
    if (o->size == sizeof(uint16_t))
        *(uint16_t *)field(o, cfg) = (uint16_t)v;
    else
        *(uint32_t *)field(o, cfg) = (uint32_t)v;
    return 0;
}

static const struct unit seconds_units[] = { { 0, 1 }, { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
static const struct unit minutes_units[] = { { 0, 1 }, { 'm', 1 }, { 'h', 60 }, { 'd', 1440 }, { 'w', 10080 } };

/* A duration stored in milliseconds; the text is in seconds (bare or s) or m, h, d. */
static int set_seconds(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    uint64_t v;
    int rc = parse_scaled(val, seconds_units, sizeof seconds_units / sizeof seconds_units[0], o->min, o->max, &v);
    if (rc == -1)
        return fail(ld, "\"%.100s\" is not a duration (expected e.g. 30, 30s, 5m, 1h; 1 s to %s)", val,
                    o->max == 86400 ? "1 d" : "1 h");
    if (rc == -2)
        return fail(ld, "\"%.100s\" is out of range (1 s to %s)", val, o->max == 86400 ? "1 d" : "1 h");
    *(uint32_t *)field(o, cfg) = (uint32_t)(v * 1000);
    return 0;
}

/* An interval stored in minutes; the text is in minutes (bare or m) or h, d, w. */
static int set_minutes(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    uint64_t v;
    int rc = parse_scaled(val, minutes_units, sizeof minutes_units / sizeof minutes_units[0], o->min, o->max, &v);
    if (rc == -1)
        return fail(ld, "\"%.100s\" is not an interval in minutes (expected e.g. 120, 90m, 2h, 1d, 1w)", val);
    if (rc == -2)
        return fail(ld, "\"%.100s\" is out of range (1 to %llu minutes)", val, (unsigned long long)o->max);
    *(uint32_t *)field(o, cfg) = (uint32_t)v;
    return 0;
}

/* A path or name: at most o->max bytes, no control characters; empty only where o->min is 0. */
static int set_string(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    size_t n = strlen(val);
    if (n < o->min)
        return fail(ld, "must not be empty");
    if (n > o->max)
        return fail(ld, "\"%.40s...\" is too long (%zu bytes, at most %llu)", val, n, (unsigned long long)o->max);
    /* --check-config prints "NAME = VALUE" on one INI line, which must fit inih's line buffer to load back. */
    size_t ini_room = CONFIG_INI_LINE_MAX - strlen(o->d.name) - 3;
    if (o->print && n > ini_room)
        return fail(ld, "\"%.40s...\" is too long to be written in a configuration file (%zu bytes, at most %zu)", val,
                    n, ini_room);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)val[i];
        if (c < 0x20 || c == 0x7f)
            return fail(ld, "\"%.100s\" contains a control character", val);
    }
    /* What an INI file cannot carry (the value would not load back as printed by --check-config): blanks at
     * either end (trimmed) and ';' at the start or after a blank (an inline comment). */
    bool blank_end = n > 0 && (val[0] == ' ' || val[n - 1] == ' ');
    bool comment = n > 0 && val[0] == ';';
    for (size_t i = 1; i < n && !comment; i++)
        comment = val[i] == ';' && val[i - 1] == ' ';
    if (blank_end || comment)
        return fail(ld, "\"%.100s\" cannot be written in an INI file (no blanks at either end, no ';' at the start "
                        "or after a blank)",
                    val);
    memcpy(field(o, cfg), val, n + 1);
    return 0;
}

static const char *const log_levels[] = { "error", "warn", "info", "debug" };

static int set_log_level(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    for (size_t i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++) {
        if (strcmp(val, log_levels[i]) == 0) {
            *(enum config_log_level *)field(o, cfg) = (enum config_log_level)i;
            return 0;
        }
    }
    return fail(ld, "\"%.100s\" is not a log level (expected error, warn, info or debug)", val);
}

static int set_count_mode(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    if (strcmp(val, "fixed") == 0)
        cfg->count_mode = CONFIG_COUNT_FIXED;
    else if (strcmp(val, "genuine") == 0)
        cfg->count_mode = CONFIG_COUNT_GENUINE;
    else
        return fail(ld, "\"%.100s\" is not a count mode (expected fixed or genuine)", val);
    return 0;
}

static int set_no_db(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    (void)val;
    (void)ld;
    snprintf(cfg->db, sizeof cfg->db, "none");
    return 0;
}

static int set_client_count(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    if (strcmp(val, "auto") == 0) {
        cfg->client_count = -1;
        return 0;
    }
    uint64_t v;
    int rc = num_u64(val, o->min, o->max, &v);
    if (rc == KMS_EINVAL)
        return fail(ld, "\"%.100s\" is not a client count (expected auto or %llu to %llu)", val,
                    (unsigned long long)o->min, (unsigned long long)o->max);
    if (rc < 0)
        return fail(ld, "%.100s is out of range (expected auto or %llu to %llu)", val, (unsigned long long)o->min,
                    (unsigned long long)o->max);
    cfg->client_count = (int32_t)v;
    return 0;
}

static int set_hwid(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    if (val[0] == '\0') {
        cfg->hwid_set = false;
        memset(cfg->hwid, 0, sizeof cfg->hwid);
        return 0;
    }
    uint8_t hwid[sizeof cfg->hwid];
    if (strlen(val) != 2 * sizeof hwid || num_hex(val, hwid, sizeof hwid) < 0)
        return fail(ld, "\"%.100s\" is not a HWID (expected exactly 16 hex digits, e.g. 3A1C049600B60076)", val);
    memcpy(cfg->hwid, hwid, sizeof hwid);
    cfg->hwid_set = true;
    return 0;
}

/* Lists the builds --host-build accepts into buf. */
static void epid_builds(char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < products_build_count(); i++) {
        const struct products_build *b = products_build_at(i);
        if (!b->epid)
            continue;
        int n = snprintf(buf + len, cap - len, "%s%u", len ? ", " : "", (unsigned)b->build);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
}

static int set_host_build(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    uint64_t v;
    char builds[256];
    epid_builds(builds, sizeof builds);
    if (num_u64(val, 0, o->max, &v) < 0)
        return fail(ld, "\"%.100s\" is not a host build (expected 0 to choose, or one of %s)", val, builds);
    const struct products_build *b = products_build_by_number((uint32_t)v);
    if (v != 0 && (!b || !b->epid))
        return fail(ld, "%.100s is not a host build for ePIDs (expected 0 to choose, or one of %s)", val, builds);
    cfg->host_build = (uint32_t)v;
    return 0;
}

/* The list options' source rule: the first value from a new source replaces the list. */
static bool list_fresh(const struct opt *o, struct load *ld)
{
    static const size_t list_offs[] = {
        offsetof(struct kmsd_config, n_listen), offsetof(struct kmsd_config, n_epids),
        offsetof(struct kmsd_config, n_allow),  offsetof(struct kmsd_config, n_deny),
        offsetof(struct kmsd_config, n_csvlks), offsetof(struct kmsd_config, n_http),
    };
    _Static_assert(sizeof list_offs / sizeof list_offs[0] <= sizeof ld->list_src / sizeof ld->list_src[0],
                   "raise list_src");
    size_t k = 0;
    while (k + 1 < sizeof list_offs / sizeof list_offs[0] && list_offs[k] != o->off)
        k++;
    int *last = &ld->list_src[k];
    if (*last == (int)ld->src + 1)
        return false;
    *last = (int)ld->src + 1;
    return true;
}

/* A host name: dot-separated labels of letters, digits and inner dashes (RFC 1123), 253 characters at most. */
static bool hostname_ok(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (c != '-' || label == 0))
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && h[n - 1] != '-';
}

/* Checks "ADDR[:PORT]" without resolving anything: ADDR is an IPv4 address, a host name, "*" (every address)
 * or an IPv6 address in brackets with an optional "%zone". Returns NULL or what is wrong. */
static const char *listen_problem(const char *s)
{
    struct hostport hp;
    const char *why = NULL;
    if (hostport_split(s, &hp, &why) != 0)
        return why;
    if (hp.bracketed) {
        char addr[INET6_ADDRSTRLEN + 1];
        const char *zone = memchr(hp.host, '%', hp.host_len);
        size_t an = zone ? (size_t)(zone - hp.host) : hp.host_len;
        if (an == 0 || an >= sizeof addr)
            return "not an IPv6 address in brackets";
        memcpy(addr, hp.host, an);
        addr[an] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, addr, &a6) != 1)
            return "not an IPv6 address in brackets";
        if (zone) {
            size_t zn = hp.host_len - an - 1;
            if (zn == 0 || zn > 15 || strspn(zone + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                       "-_.") < zn)
                return "bad interface name after \"%\"";
        }
    } else {
        if (hp.bare_ipv6)
            return "IPv6 addresses go in brackets, e.g. [::1]:1688";
        if (strchr(s, ']'))
            return "unbalanced \"]\"";
        size_t hn = hp.host_len;
        if (hn == 0)
            return "missing address (use * for every address)";
        if (!(hn == 1 && s[0] == '*')) {
            char host[256];
            if (hn >= sizeof host)
                return "host name too long";
            memcpy(host, s, hn);
            host[hn] = '\0';
            struct in_addr a4;
            if (strspn(host, "0123456789.") == hn) {
                if (inet_pton(AF_INET, host, &a4) != 1)
                    return "not an IPv4 address";
            } else if (!hostname_ok(host, hn)) {
                return "not an IPv4 address or host name";
            }
        }
    }
    uint16_t port;
    if (hp.port && hostport_port(hp.port, hp.port_len, &port) != 0)
        return "port must be 1 to 65535";
    return NULL;
}

static int add_listen(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    if (strlen(val) >= CONFIG_LISTEN_LEN)
        return fail(ld, "\"%.40s...\" is too long (at most %d characters)", val, CONFIG_LISTEN_LEN - 1);
    const char *why = listen_problem(val);
    if (why)
        return fail(ld, "\"%.100s\": %s (expected ADDR[:PORT]: 1.2.3.4, [::1]:1688, [fe80::1%%eth0]:1688, "
                        "host.name:1688 or *:1688)", val, why);
    if (cfg->n_listen >= CONFIG_MAX_LISTEN)
        return fail(ld, "more than %d listen addresses", CONFIG_MAX_LISTEN);
    memcpy(cfg->listen[cfg->n_listen++], val, strlen(val) + 1);
    return 0;
}

static int add_epid(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    const char *eq = strchr(val, '=');
    if (!eq || eq == val)
        return fail(ld, "\"%.100s\" is not GROUP=EPID (e.g. win2025=03612-04918-...)", val);
    char group[sizeof cfg->epids[0].csvlk];
    size_t gn = (size_t)(eq - val);
    const struct products_csvlk *c = NULL;
    if (gn < sizeof group) {
        memcpy(group, val, gn);
        group[gn] = '\0';
        c = products_find_csvlk(group);
    }
    if (!c)
        return fail(ld, "\"%.*s\" is not a CSVLK group of the product table (e.g. win2025, office2024)",
                    (int)(gn < 64 ? gn : 64), val);
    if (!c->has_epid)
        return fail(ld, "CSVLK group %s has no known ePID group id", c->key);
    const char *text = eq + 1;
    struct epid e;
    if (strlen(text) > EPID_MAX_LEN || epid_parse(text, &e) < 0)
        return fail(ld, "\"%.100s\" is not an ePID (expected PPPPP-GGGGG-KKK-KKKKKK-03-LCID-BUILD.0000-DDDYYYY)",
                    text);
    if (epid_validate(&e) < 0)
        return fail(ld, "\"%.100s\": an ePID field is out of range (channel 03, LCID 1-65535, a real day)", text);
    if (e.group != c->group)
        return fail(ld, "ePID group %05u is not the group of CSVLK %s (%05u)", (unsigned)e.group, c->key,
                    (unsigned)c->group);
    int i = 0;
    while (i < cfg->n_epids && strcmp(cfg->epids[i].csvlk, c->key) != 0)
        i++;
    if (i == cfg->n_epids) {
        if (cfg->n_epids >= CONFIG_MAX_EPIDS)
            return fail(ld, "more than %d ePIDs", CONFIG_MAX_EPIDS);
        cfg->n_epids++;
    }
    snprintf(cfg->epids[i].csvlk, sizeof cfg->epids[i].csvlk, "%s", c->key);
    snprintf(cfg->epids[i].epid, sizeof cfg->epids[i].epid, "%s", text);
    return 0;
}

/* Repeatable options: a new source replaces the list, an empty value empties it (back to the default). */
static int set_list(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld,
                    int (*add)(const struct opt *, struct kmsd_config *, const char *, struct load *))
{
    if (list_fresh(o, ld) || val[0] == '\0')
        *(int *)field(o, cfg) = 0; /* n_listen or n_epids */
    if (val[0] == '\0')
        return 0;
    return add(o, cfg, val, ld);
}

/* --allow / --deny: one CIDR; the list is the field before the count (allow/n_allow, deny/n_deny). */
static int add_cidr(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    bool deny = o->off == offsetof(struct kmsd_config, n_deny);
    char(*list)[CONFIG_CIDR_LEN] = deny ? cfg->deny : cfg->allow;
    int *n = deny ? &cfg->n_deny : &cfg->n_allow;
    struct acl_net net;
    const char *why;
    if (acl_parse_cidr(val, &net, &why) < 0)
        return fail(ld, "\"%.100s\": %s (expected ADDR or ADDR/PREFIX: 10.0.0.0/8, 192.168.1.7, fd00::/8, ::1)", val,
                    why);
    if (*n >= CONFIG_MAX_CIDRS)
        return fail(ld, "more than %d entries", CONFIG_MAX_CIDRS);
    acl_format_cidr(&net, list[*n], CONFIG_CIDR_LEN); /* the canonical text */
    (*n)++;
    return 0;
}

/* --csvlk GROUP[,GROUP...]: CSVLK keys of the product table. */
static int add_csvlk(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    const char *p = val;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char key[sizeof cfg->csvlks[0]];
        const struct products_csvlk *c = NULL;
        if (n > 0 && n < sizeof key) {
            memcpy(key, p, n);
            key[n] = '\0';
            c = products_find_csvlk(key);
        }
        if (!c)
            return fail(ld, "\"%.*s\" is not a CSVLK group of the product table (e.g. win2025, office2024; the "
                            "csvlk lines of data/products.tsv list them)",
                        (int)(n < 64 ? n : 64), p);
        int i = 0;
        while (i < cfg->n_csvlks && strcmp(cfg->csvlks[i], c->key) != 0)
            i++;
        if (i == cfg->n_csvlks) {
            if (cfg->n_csvlks >= CONFIG_MAX_CSVLKS)
                return fail(ld, "more than %d groups", CONFIG_MAX_CSVLKS);
            snprintf(cfg->csvlks[cfg->n_csvlks++], sizeof cfg->csvlks[0], "%s", c->key);
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int set_cidr(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    return set_list(o, cfg, val, ld, add_cidr);
}

static int set_csvlk(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    return set_list(o, cfg, val, ld, add_csvlk);
}

static const char *const products_names[] = { "all", "known", "volume" };

static int set_products(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    for (size_t i = 0; i < sizeof products_names / sizeof products_names[0]; i++) {
        if (strcmp(val, products_names[i]) == 0) {
            cfg->products = (enum config_products)i;
            return 0;
        }
    }
    return fail(ld, "\"%.100s\" is not a product policy (expected all, known or volume)", val);
}

/* --user / --group: a name or a number as getpwnam/getgrnam take it; "" = the default. Checked against the
 * system only when kmsd starts as root (privdrop). */
static int set_account(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    size_t n = strlen(val);
    if (n >= o->size)
        return fail(ld, "\"%.40s...\" is too long (at most %zu characters)", val, o->size - 1);
    if (n > 0 && (val[0] == '-' || strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-$") != n))
        return fail(ld, "\"%.100s\" is not a user or group name (letters, digits, '.', '_', '-'; not starting with '-')",
                    val);
    memcpy(field(o, cfg), val, n + 1);
    return 0;
}

static int set_listen(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    return set_list(o, cfg, val, ld, add_listen);
}

static int add_http(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    if (strcmp(val, "none") == 0) {
        cfg->n_http = 0;
        cfg->http_off = true;
        return 0;
    }
    if (strlen(val) >= CONFIG_LISTEN_LEN)
        return fail(ld, "\"%.40s...\" is too long (at most %d characters)", val, CONFIG_LISTEN_LEN - 1);
    const char *why = listen_problem(val);
    if (why)
        return fail(ld, "\"%.100s\": %s (expected ADDR[:PORT]: 127.0.0.1:8080, [::1]:8080, *:8080 or none)", val,
                    why);
    if (cfg->n_http >= CONFIG_MAX_HTTP)
        return fail(ld, "more than %d HTTP addresses", CONFIG_MAX_HTTP);
    cfg->http_off = false;
    memcpy(cfg->http[cfg->n_http++], val, strlen(val) + 1);
    return 0;
}

static int set_http(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    if (list_fresh(o, ld) || val[0] == '\0') {
        cfg->n_http = 0;
        cfg->http_off = false;
    }
    if (val[0] == '\0')
        return 0;
    return add_http(o, cfg, val, ld);
}

static int set_no_http(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    (void)val;
    (void)ld;
    cfg->n_http = 0;
    cfg->http_off = true;
    return 0;
}

/* A Bearer token (RFC 6750 token68 characters), CONFIG_TOKEN_MIN to CONFIG_TOKEN_MAX long, or empty. */
static int set_token(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    size_t n = strlen(val);
    if (n == 0) {
        cfg->http_token[0] = '\0';
        return 0;
    }
    if (n < CONFIG_TOKEN_MIN || n > CONFIG_TOKEN_MAX)
        return fail(ld, "the token is %zu characters long (expected %d to %d)", n, CONFIG_TOKEN_MIN, CONFIG_TOKEN_MAX);
    size_t ok = strspn(val, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/");
    while (ok < n && val[ok] == '=')
        ok++;
    if (ok != n)
        return fail(ld, "character %zu of the token is not allowed (letters, digits, - . _ ~ + / and trailing =)",
                    ok + 1);
    memcpy(cfg->http_token, val, n + 1);
    return 0;
}

static int set_epid(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    return set_list(o, cfg, val, ld, add_epid);
}

static int set_check_config(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    (void)val;
    (void)ld;
    cfg->check_config = true;
    return 0;
}

/* ---- printers (config_print: INI text that config_load reads back) ---- */

static void print_line(const struct opt *o, const char *val, FILE *out)
{
    /* A line that fits inih's buffer only without the blanks around "=" (it came from an INI line of that
     * length) is written without them, so that it reads back (found by fuzz_config). */
    if (strlen(o->d.name) + 3 + strlen(val) > (size_t)INI_MAX_LINE - 2)
        fprintf(out, "%s=%s\n", o->d.name, val);
    else
        fprintf(out, "%s =%s%s\n", o->d.name, val[0] ? " " : "", val);
}

static void print_bool(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_line(o, *(const bool *)cfield(o, cfg) ? "true" : "false", out);
}

static void print_uint(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    unsigned long v = o->size == sizeof(uint16_t) ? *(const uint16_t *)cfield(o, cfg)
                                                  : (unsigned long)*(const uint32_t *)cfield(o, cfg);
    fprintf(out, "%s = %lu\n", o->d.name, v);
}

/* Prints v in the largest unit of units[1..] that divides it exactly. */
static void print_scaled(const struct opt *o, uint64_t v, const struct unit *units, size_t n, FILE *out)
{
    size_t best = 1;
    for (size_t i = 1; i < n; i++)
        if (v % units[i].mult == 0)
            best = i;
    fprintf(out, "%s = %llu%c\n", o->d.name, (unsigned long long)(v / units[best].mult), units[best].suffix);
}

static void print_seconds(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    uint32_t ms = *(const uint32_t *)cfield(o, cfg);
    print_scaled(o, ms / 1000, seconds_units, sizeof seconds_units / sizeof seconds_units[0], out);
}

static void print_minutes(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_scaled(o, *(const uint32_t *)cfield(o, cfg), minutes_units, sizeof minutes_units / sizeof minutes_units[0],
                 out);
}

static void print_string(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_line(o, (const char *)cfield(o, cfg), out);
}

static void print_log_level(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    size_t l = (size_t)cfg->log_level;
    print_line(o, l < sizeof log_levels / sizeof log_levels[0] ? log_levels[l] : "info", out);
}

static void print_count_mode(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_line(o, cfg->count_mode == CONFIG_COUNT_GENUINE ? "genuine" : "fixed", out);
}

static void print_client_count(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    if (cfg->client_count < 0)
        print_line(o, "auto", out);
    else
        fprintf(out, "%s = %ld\n", o->d.name, (long)cfg->client_count);
}

static void print_hwid(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    char hex[2 * sizeof cfg->hwid + 1];
    hex[0] = '\0';
    for (size_t i = 0; cfg->hwid_set && i < sizeof cfg->hwid; i++)
        snprintf(hex + 2 * i, sizeof hex - 2 * i, "%02X", cfg->hwid[i]);
    print_line(o, hex, out);
}

static void print_listen(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    if (cfg->n_listen == 0)
        print_line(o, "", out);
    for (int i = 0; i < cfg->n_listen; i++)
        print_line(o, cfg->listen[i], out);
}

static void print_http(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    if (cfg->http_off)
        print_line(o, "none", out);
    else if (cfg->n_http == 0)
        print_line(o, "", out);
    for (int i = 0; i < cfg->n_http; i++)
        print_line(o, cfg->http[i], out);
}

/* A list of strings: the array is right before its count in struct kmsd_config. */
static void print_strings(const struct opt *o, const char *items, size_t item_len, int n, FILE *out)
{
    if (n == 0)
        print_line(o, "", out);
    for (int i = 0; i < n; i++)
        print_line(o, items + (size_t)i * item_len, out);
}

static void print_cidr(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    if (o->off == offsetof(struct kmsd_config, n_deny))
        print_strings(o, cfg->deny[0], sizeof cfg->deny[0], cfg->n_deny, out);
    else
        print_strings(o, cfg->allow[0], sizeof cfg->allow[0], cfg->n_allow, out);
}

static void print_csvlk(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_strings(o, cfg->csvlks[0], sizeof cfg->csvlks[0], cfg->n_csvlks, out);
}

static void print_products(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    size_t i = (size_t)cfg->products;
    print_line(o, i < sizeof products_names / sizeof products_names[0] ? products_names[i] : "all", out);
}

static void print_epid(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    if (cfg->n_epids == 0)
        print_line(o, "", out);
    for (int i = 0; i < cfg->n_epids; i++)
        fprintf(out, "%s = %s=%s\n", o->d.name, cfg->epids[i].csvlk, cfg->epids[i].epid);
}

/* ---- the option table ---- */

#define ALL (CONFIG_IN_CLI | CONFIG_IN_INI | CONFIG_IN_ENV)
#define F(m) offsetof(struct kmsd_config, m), sizeof(((struct kmsd_config *)0)->m)

static const struct opt opts[] = {
    { { "listen", 'L', CONFIG_ARG_LIST, false, ALL, "ADDR[:PORT]", "",
        "address to listen on: IPv4, [IPv6[%IF]], host name or * (repeatable) [[::]:PORT]" },
      set_listen, print_listen, F(n_listen), 0, 0 },
    { { "port", 0, CONFIG_ARG_VALUE, false, ALL, "PORT", "1688", "port of listen addresses given without one" },
      set_uint, print_uint, F(port), 1, 65535 },
    { { "max-connections", 0, CONFIG_ARG_VALUE, false, ALL, "N", "4096", "open connections at most (1-1000000)" },
      set_uint, print_uint, F(max_connections), 1, 1000000 },
    { { "idle-timeout", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "30s",
        "close a connection idle this long (1s-1d; seconds, or suffix s, m, h, d)" },
      set_seconds, print_seconds, F(idle_timeout_ms), 1, 86400 },
    { { "max-pdu", 0, CONFIG_ARG_VALUE, false, ALL, "BYTES", "5840", "largest RPC PDU accepted (256-5840)" },
      set_uint, print_uint, F(max_pdu), 256, KMS_LIMIT_PDU_MAX },
    { { "max-requests", 0, CONFIG_ARG_VALUE, false, ALL, "N", "64",
        "activation requests served per connection (1-1000000)" },
      set_uint, print_uint, F(max_requests), 1, 1000000 },
    { { "max-pdus", 0, CONFIG_ARG_VALUE, false, ALL, "N", "256",
        "RPC PDUs of any type (BIND, ALTER_CONTEXT, REQUEST fragments) per connection (1-1000000)" },
      set_uint, print_uint, F(max_pdus), 1, 1000000 },
    { { "max-conn-buffer", 0, CONFIG_ARG_VALUE, false, ALL, "BYTES", "16384",
        "bytes buffered per connection (1024-1048576, at least --max-pdu)" },
      set_uint, print_uint, F(max_conn_buffer), 1024, 1048576 },
    { { "pdu-timeout", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "10s",
        "close a connection whose PDU is not complete this long after its first byte (1s-1d)" },
      set_seconds, print_seconds, F(pdu_timeout_ms), 1, 86400 },
    { { "max-per-address", 0, CONFIG_ARG_VALUE, false, ALL, "N", "64",
        "open connections per client address, IPv6 per /64 (0: no cap, up to 1000000)" },
      set_uint, print_uint, F(max_per_address), 0, 1000000 },
    { { "max-addresses", 0, CONFIG_ARG_VALUE, false, ALL, "N", "65536",
        "client addresses tracked for the per-address limits (1024-16777216)" },
      set_uint, print_uint, F(max_addresses), 1024, 16777216 },
    { { "rate-limit", 0, CONFIG_ARG_VALUE, false, ALL, "N", "120",
        "activations per address per minute, sustained (0: no limit, up to 1000000)" },
      set_uint, print_uint, F(rate_limit), 0, 1000000 },
    { { "rate-burst", 0, CONFIG_ARG_VALUE, false, ALL, "N", "120",
        "activations per address at once before --rate-limit applies (1-1000000)" },
      set_uint, print_uint, F(rate_burst), 1, 1000000 },
    { { "limit-loopback", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
        "apply --max-per-address and --rate-limit to loopback clients too (127.0.0.0/8, ::1)" },
      set_bool, print_bool, F(limit_loopback), 0, 0 },
    { { "allow", 0, CONFIG_ARG_LIST, false, ALL, "CIDR", "",
        "accept clients only from these networks (repeatable; none: every address)" },
      set_cidr, print_cidr, F(n_allow), 0, 0 },
    { { "deny", 0, CONFIG_ARG_LIST, false, ALL, "CIDR", "",
        "refuse clients from these networks; deny wins over allow (repeatable)" },
      set_cidr, print_cidr, F(n_deny), 0, 0 },
    { { "private-only", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
        "refuse clients from public addresses (RFC 1918, loopback, link-local, CGNAT, ULA are private)" },
      set_bool, print_bool, F(private_only), 0, 0 },
    { { "products", 0, CONFIG_ARG_VALUE, false, ALL, "POLICY", "all",
        "all; known: refuse unknown KMS ids; volume: also retail and preview ones (0xC004F042)" },
      set_products, print_products, F(products), 0, 0 },
    { { "csvlk", 0, CONFIG_ARG_LIST, false, ALL, "GROUP[,GROUP...]", "",
        "activate only the KMS ids these CSVLK groups activate (repeatable; none: every group)" },
      set_csvlk, print_csvlk, F(n_csvlks), 0, 0 },
    { { "time-check", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
        "refuse requests whose time is more than 4 h from the host clock (0xC004F06C)" },
      set_bool, print_bool, F(time_check), 0, 0 },
    { { "ndr64", 0, CONFIG_ARG_BOOL, true, ALL, NULL, "true", "refuse the NDR64 transfer syntax (--ndr64: accept)" },
      set_bool, print_bool, F(ndr64), 0, 0 },
    { { "btfn", 0, CONFIG_ARG_BOOL, true, ALL, NULL, "true",
        "refuse bind-time feature negotiation (--btfn: accept)" },
      set_bool, print_bool, F(btfn), 0, 0 },
    { { "client-count", 0, CONFIG_ARG_VALUE, false, ALL, "N", "auto",
        "client count to report (1-1000); auto: twice the client's threshold" },
      set_client_count, print_client_count, F(client_count), 1, 1000 },
    { { "allow-low-count", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
        "let --client-count go below the client's threshold" },
      set_bool, print_bool, F(allow_low_count), 0, 0 },
    { { "activation-interval", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "2h",
        "minutes until a failed client retries (minutes, or suffix m, h, d, w)" },
      set_minutes, print_minutes, F(activation_interval), 1, UINT32_MAX },
    { { "renewal-interval", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "1w",
        "minutes until clients renew (minutes, or suffix m, h, d, w)" },
      set_minutes, print_minutes, F(renewal_interval), 1, UINT32_MAX },
    { { "epid", 0, CONFIG_ARG_LIST, false, ALL, "GROUP=EPID", "",
        "ePID for CSVLK group GROUP, e.g. win2025 (repeatable; none: generated)" },
      set_epid, print_epid, F(n_epids), 0, 0 },
    { { "hwid", 0, CONFIG_ARG_VALUE, false, ALL, "HEX16", "", "host HWID, 16 hex digits (none: random)" },
      set_hwid, print_hwid, F(hwid), 0, 0 },
    { { "lcid", 0, CONFIG_ARG_VALUE, false, ALL, "LCID", "1033", "LCID of generated ePIDs (1-65535)" },
      set_uint, print_uint, F(lcid), 1, 65535 },
    { { "host-build", 0, CONFIG_ARG_VALUE, false, ALL, "BUILD", "0",
        "build in generated ePIDs: 0 chooses, or a server build of the product table" },
      set_host_build, print_uint, F(host_build), 0, UINT32_MAX },
    { { "db", 0, CONFIG_ARG_VALUE, false, ALL, "PATH", "",
        "client registry (SQLite); none: no registry (none given: STATE-DIR/kmsd.db)" },
      set_string, print_string, F(db), 0, CONFIG_PATH_LEN - 1 },
    { { "no-db", 0, CONFIG_ARG_NONE, false, CONFIG_IN_CLI, NULL, NULL, "run without a registry (same as --db none)" },
      set_no_db, NULL, 0, 0, 0, 0 },
    { { "retention", 0, CONFIG_ARG_VALUE, false, ALL, "DAYS", "90",
        "forget clients not seen for this many days (1-36500)" },
      set_uint, print_uint, F(retention_days), 1, 36500 },
    { { "max-clients", 0, CONFIG_ARG_VALUE, false, ALL, "N", "1000000",
        "registry rows kept at most; the least recently seen go first (1000-100000000)" },
      set_uint, print_uint, F(max_clients), 1000, 100000000 },
    { { "count-mode", 0, CONFIG_ARG_VALUE, false, ALL, "MODE", "fixed",
        "fixed: 2N or --client-count; genuine: distinct clients of the last 30 days" },
      set_count_mode, print_count_mode, F(count_mode), 0, 0 },
    { { "count-floor", 0, CONFIG_ARG_VALUE, false, ALL, "N", "0",
        "genuine mode: report at least N clients (0-1000)" },
      set_uint, print_uint, F(count_floor), 0, 1000 },
    { { "state-dir", 0, CONFIG_ARG_VALUE, false, ALL, "DIR", "/var/lib/kmsd", "state directory" },
      set_string, print_string, F(state_dir), 1, CONFIG_PATH_LEN - 1 },
    { { "log-level", 0, CONFIG_ARG_VALUE, false, ALL, "LEVEL", "info", "error, warn, info or debug" },
      set_log_level, print_log_level, F(log_level), 0, 0 },
    { { "log-file", 0, CONFIG_ARG_VALUE, false, ALL, "FILE", "", "log to FILE (none: standard error)" },
      set_string, print_string, F(log_file), 0, CONFIG_PATH_LEN - 1 },
    { { "syslog", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false", "log to syslog instead" },
      set_bool, print_bool, F(syslog), 0, 0 },
    { { "http", 0, CONFIG_ARG_LIST, false, ALL, "ADDR[:PORT]", "",
        "serve the web page, API and metrics here (repeatable; none: off) [127.0.0.1:8080 and [::1]:8080]" },
      set_http, print_http, F(n_http), 0, 0 },
    { { "no-http", 0, CONFIG_ARG_NONE, false, CONFIG_IN_CLI, NULL, NULL, "no HTTP server (same as --http none)" },
      set_no_http, NULL, 0, 0, 0, 0 },
    { { "http-token", 0, CONFIG_ARG_VALUE, false, ALL, "TOKEN", "",
        "every HTTP request must carry Authorization: Bearer TOKEN (16-128 characters)" },
      set_token, print_string, F(http_token), 0, 0 },
    { { "http-insecure", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
        "allow a non-loopback --http address without --http-token" },
      set_bool, print_bool, F(http_insecure), 0, 0 },
    { { "http-max-connections", 0, CONFIG_ARG_VALUE, false, ALL, "N", "32",
        "open HTTP connections at most (1-1024)" },
      set_uint, print_uint, F(http_max_connections), 1, 1024 },
    { { "http-timeout", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "10s",
        "close an HTTP connection idle this long (1s-1h; seconds, or suffix s, m, h)" },
      set_seconds, print_seconds, F(http_timeout_ms), 1, 3600 },
    { { "http-max-page", 0, CONFIG_ARG_VALUE, false, ALL, "N", "500",
        "clients per API page at most (1-10000)" },
      set_uint, print_uint, F(http_max_page), 1, 10000 },
    { { "user", 0, CONFIG_ARG_VALUE, false, ALL, "USER", "",
        "started as root: run as USER after binding (none: kmsd if it exists, else nobody)" },
      set_account, print_string, F(user), 0, 0 },
    { { "group", 0, CONFIG_ARG_VALUE, false, ALL, "GROUP", "", "started as root: run as GROUP (none: USER's group)" },
      set_account, print_string, F(group), 0, 0 },
    { { "allow-root", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
        "started as root: stay root instead of switching to --user" },
      set_bool, print_bool, F(allow_root), 0, 0 },
    { { "config", 'c', CONFIG_ARG_VALUE, false, CONFIG_IN_CLI | CONFIG_IN_ENV, "FILE", "",
        "read this INI file (command line, else KMSD_CONFIG)" },
      set_string, NULL, F(config_file), 0, CONFIG_PATH_LEN - 1 },
    { { "check-config", 0, CONFIG_ARG_NONE, false, CONFIG_IN_CLI, NULL, NULL,
        "print the effective configuration as INI text and exit" },
      set_check_config, NULL, 0, 0, 0, 0 },
    { { "help", 'h', CONFIG_ARG_NONE, false, CONFIG_IN_CLI, NULL, NULL, "print this help and exit" },
      NULL, NULL, 0, 0, 0, 0 },
    { { "version", 'V', CONFIG_ARG_NONE, false, CONFIG_IN_CLI, NULL, NULL, "print the version and exit" },
      NULL, NULL, 0, 0, 0, 0 },
};

#define N_OPTS (sizeof opts / sizeof opts[0])
_Static_assert(N_OPTS <= MAX_OPTS, "raise MAX_OPTS");


size_t config_option_count(void)
{
    return N_OPTS;
}

const struct config_option *config_option_at(size_t i)
{
    return i < N_OPTS ? &opts[i].d : NULL;
}

static const struct opt *find_opt(const char *name, unsigned in)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if ((opts[i].d.in & in) && strcmp(opts[i].d.name, name) == 0)
            return &opts[i];
    return NULL;
}

void config_defaults(struct kmsd_config *cfg)
{
    struct load ld;
    memset(&ld, 0, sizeof ld);
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_OPTS; i++)
        if (opts[i].set && opts[i].d.def)
            (void)opts[i].set(&opts[i], cfg, opts[i].d.def, &ld); /* the tests check every default parses */
}

/* ---- help, version, print ---- */

void config_help(FILE *out)
{
    fprintf(out, "Usage: kmsd [OPTION]...\n"
                 "KMS host for Microsoft volume activation.\n\n"
                 "Every option except the actions can also be set in the INI file (-c; key = long name, booleans as\n"
                 "ndr64 = false) and as KMSD_NAME in the environment (e.g. KMSD_IDLE_TIMEOUT=1m; lists comma-\n"
                 "separated). Precedence: defaults < INI file < environment < command line.\n\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct config_option *d = &opts[i].d;
        char left[64];
        char sh[8] = "    ";
        if (d->short_opt)
            snprintf(sh, sizeof sh, "-%c, ", d->short_opt);
        snprintf(left, sizeof left, "  %s--%s%s%s%s", sh, d->negated ? "no-" : "", d->name, d->metavar ? " " : "",
                 d->metavar ? d->metavar : "");
        fprintf(out, "%-34s %s", left, d->help);
        if (d->def && d->def[0] && d->arg != CONFIG_ARG_BOOL)
            fprintf(out, " [%s]", d->def);
        fputc('\n', out);
    }
    fprintf(out, "\nExit status: 0 ok, 2 bad option or value. Reference: docs/config.md, kmsd(8).\n");
}

static void print_version(FILE *out)
{
#ifdef KMSD_VERSION
    fprintf(out, "kmsd %s\n", KMSD_VERSION);
#else
    fprintf(out, "kmsd (unknown version)\n");
#endif
}

void config_print(const struct kmsd_config *cfg, FILE *out)
{
    fprintf(out, "# kmsd configuration (kmsd --check-config)\n");
    for (size_t i = 0; i < N_OPTS; i++)
        if (opts[i].print && (opts[i].d.in & CONFIG_IN_INI))
            opts[i].print(&opts[i], cfg, out);
}

/* ---- sources ---- */

/* "KMSD_" and the option's name upper-cased, dashes as underscores. */
static void env_name(const struct opt *o, char *buf, size_t cap)
{
    snprintf(buf, cap, "KMSD_%s", o->d.name);
    for (char *p = buf; *p; p++)
        *p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
}

/* Applies one value; on error prints "kmsd: WHERE: complaint" where WHERE is how the source names it. */
static int apply(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    ld->msg[0] = '\0';
    if (o->set(o, cfg, val, ld) == 0)
        return 0;
    switch (ld->src) {
    case SRC_INI:
        ld->err_line = ld->line;
        break; /* printed with the line once inih returns */
    case SRC_ENV: {
        char env[64];
        env_name(o, env, sizeof env);
        fprintf(ld->err, "kmsd: %s: %s\n", env, ld->msg);
        break;
    }
    default:
        fprintf(ld->err, "kmsd: --%s: %s\n", o->d.name, ld->msg);
        break;
    }
    return -1;
}

struct ini_ctx {
    struct load *ld;
    struct kmsd_config *cfg;
    FILE *f;
};

/* Reads one line for inih, counting lines (so the handler knows where it is) and rejecting lines longer than
 * inih's buffer instead of letting inih split them. Stops at the first error. */
static char *ini_read_line(char *str, int num, void *user)
{
    struct ini_ctx *ic = user;
    struct load *ld = ic->ld;
    if (ld->err_line)
        return NULL;
    if (!fgets(str, num, ic->f))
        return NULL;
    ld->line++;
    size_t n = strlen(str);
    if (n > 0 && str[n - 1] != '\n' && !feof(ic->f)) {
        int c;
        while ((c = getc(ic->f)) != EOF && c != '\n')
            ;
        snprintf(ld->msg, sizeof ld->msg, "line too long (at most %d characters)", num - 2);
        ld->err_line = ld->line;
        return NULL;
    }
    /* A section header at the start of a line: only [kmsd] is known. */
    if (str[0] == '[') {
        const char *close = strchr(str, ']');
        if (close && !(close - str - 1 == 4 && strncmp(str + 1, "kmsd", 4) == 0)) {
            snprintf(ld->msg, sizeof ld->msg, "unknown section \"%.*s\" (keys go before any section or in [kmsd])",
                     (int)(close - str + 1 < 100 ? close - str + 1 : 100), str);
            ld->err_line = ld->line;
            str[0] = '\0'; /* let inih count the line, then stop */
        }
    }
    return str;
}

static int ini_handler_fn(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *ic = user;
    struct load *ld = ic->ld;
    if (ld->err_line)
        return 1;
    if (section[0] && strcmp(section, "kmsd") != 0) {
        snprintf(ld->msg, sizeof ld->msg, "unknown section \"[%.100s]\" (keys go before any section or in [kmsd])",
                 section);
        ld->err_line = ld->line;
        return 0;
    }
    const struct opt *o = find_opt(name, CONFIG_IN_INI);
    if (!o) {
        const struct opt *pos = strncmp(name, "no-", 3) == 0 ? find_opt(name + 3, CONFIG_IN_INI) : NULL;
        if (pos && pos->d.arg == CONFIG_ARG_BOOL)
            snprintf(ld->msg, sizeof ld->msg, "unknown key \"%.100s\" (use \"%s = false\")", name, pos->d.name);
        else if (find_opt(name, CONFIG_IN_CLI))
            snprintf(ld->msg, sizeof ld->msg, "key \"%.100s\" is for the command line only", name);
        else
            snprintf(ld->msg, sizeof ld->msg, "unknown key \"%.100s\"", name);
        ld->err_line = ld->line;
        return 0;
    }
    ld->msg[0] = '\0';
    if (o->set(o, ic->cfg, value, ld) < 0) {
        ld->err_key = o->d.name;
        ld->err_line = ld->line;
        return 0;
    }
    return 1;
}

/* Parses the INI text of f (named path in messages) into cfg and closes f. Returns 0 or -1 (message printed). */
static int load_ini_stream(struct kmsd_config *cfg, FILE *f, const char *path, struct load *ld)
{
    struct ini_ctx ic = { ld, cfg, f };
    ld->src = SRC_INI;
    ld->file = path;
    ld->line = 0;
    ld->err_line = 0;
    int rc = ini_parse_stream(ini_read_line, &ic, ini_handler_fn, &ic);
    int read_err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (read_err) {
        fprintf(ld->err, "kmsd: %s: cannot read configuration file: %s\n", path, strerror(read_err));
        return -1;
    }
    if (rc == -2) {
        fprintf(ld->err, "kmsd: %s: out of memory\n", path);
        return -1;
    }
    if (rc > 0 && (ld->err_line == 0 || rc < ld->err_line)) {
        fprintf(ld->err, "kmsd: %s:%d: syntax error (expected \"key = value\", \"[kmsd]\" or a comment)\n", path,
                rc);
        return -1;
    }
    if (ld->err_line) {
        fprintf(ld->err, "kmsd: %s:%d: %s%s%s\n", path, ld->err_line, ld->err_key ? ld->err_key : "",
                ld->err_key ? ": " : "", ld->msg);
        return -1;
    }
    return 0;
}

static int load_ini(struct kmsd_config *cfg, const char *path, struct load *ld)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(ld->err, "kmsd: %s: cannot open configuration file: %s\n", path, strerror(errno));
        return -1;
    }
    return load_ini_stream(cfg, f, path, ld);
}

/* Whether env entry "NAME=..." names option o: NAME is KMSD_ and o's name upper-cased with dashes as
 * underscores. */
static bool env_matches(const char *entry, size_t name_len, const struct opt *o)
{
    size_t n = strlen(o->d.name);
    if (name_len != 5 + n || strncmp(entry, "KMSD_", 5) != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = o->d.name[i];
        char want = c == '-' ? '_' : (c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c);
        if (entry[5 + i] != want)
            return false;
    }
    return true;
}

static const struct opt *env_opt(const char *entry, size_t name_len, unsigned in)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if ((opts[i].d.in & in) && env_matches(entry, name_len, &opts[i]))
            return &opts[i];
    return NULL;
}

/* Applies a comma-separated list, trimming blanks around each entry. */
static int apply_env_list(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    if (val[0] == '\0')
        return apply(o, cfg, val, ld);
    const char *p = val;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        char item[CONFIG_LISTEN_LEN + EPID_MAX_LEN + 64];
        if (n == 0 || n >= sizeof item) {
            char env[64];
            env_name(o, env, sizeof env);
            fprintf(ld->err, "kmsd: %s: %s entry in \"%.100s\" (entries are separated by commas)\n", env,
                    n == 0 ? "empty" : "too long an", val);
            return -1;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        if (apply(o, cfg, item, ld) < 0)
            return -1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int load_env(struct kmsd_config *cfg, char **envp, struct load *ld)
{
    ld->src = SRC_ENV;
    for (size_t k = 0; envp && envp[k]; k++) {
        const char *e = envp[k];
        const char *eq = strchr(e, '=');
        if (!eq || strncmp(e, "KMSD_", 5) != 0)
            continue;
        size_t nl = (size_t)(eq - e);
        if (nl == 11 && strncmp(e, "KMSD_CONFIG", 11) == 0)
            continue; /* KMSD_CONFIG only names the file, which is already read */
        const struct opt *o = env_opt(e, nl, CONFIG_IN_ENV);
        if (!o) {
            const struct opt *pos = NULL;
            if (nl > 8 && strncmp(e + 5, "NO_", 3) == 0) {
                char alt[96];
                snprintf(alt, sizeof alt, "KMSD_%.*s", (int)(nl - 8 < 80 ? nl - 8 : 80), e + 8);
                pos = env_opt(alt, strlen(alt), CONFIG_IN_ENV);
            }
            if (pos && pos->d.arg == CONFIG_ARG_BOOL)
                fprintf(ld->err, "kmsd: %.*s: unknown variable (use KMSD_%.*s=false)\n", (int)nl, e, (int)(nl - 8),
                        e + 8);
            else
                fprintf(ld->err, "kmsd: %.*s: unknown variable (see kmsd --help; remove it or fix its name)\n",
                        (int)(nl < 100 ? nl : 100), e);
            return -1;
        }
        int rc = o->d.arg == CONFIG_ARG_LIST ? apply_env_list(o, cfg, eq + 1, ld) : apply(o, cfg, eq + 1, ld);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* getopt_long codes: short options keep their letter; others are CODE_BASE + 2 x index (+1 for --no-NAME). */
#define CODE_BASE 0x100
#define MAX_LONGOPTS (2 * MAX_OPTS + 1)
#define NAME_LEN 40

struct cli_table {
    struct option lo[MAX_LONGOPTS];
    char no_names[MAX_OPTS][NAME_LEN]; /* "no-ndr64", ... */
    char shortopts[2 * MAX_OPTS + 3];
};

static void build_cli(struct cli_table *t)
{
    size_t n = 0, s = 0;
    t->shortopts[s++] = '+'; /* stop at the first non-option: never permute the caller's argv */
    t->shortopts[s++] = ':'; /* report a missing value as ':' */
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct config_option *d = &opts[i].d;
        if (!(d->in & CONFIG_IN_CLI))
            continue;
        bool val = d->arg == CONFIG_ARG_VALUE || d->arg == CONFIG_ARG_LIST;
        t->lo[n].name = d->name;
        t->lo[n].has_arg = val ? required_argument : no_argument;
        t->lo[n].flag = NULL;
        t->lo[n].val = d->short_opt ? d->short_opt : (int)(CODE_BASE + 2 * i);
        n++;
        if (d->arg == CONFIG_ARG_BOOL) {
            snprintf(t->no_names[i], sizeof t->no_names[i], "no-%s", d->name);
            t->lo[n].name = t->no_names[i];
            t->lo[n].has_arg = no_argument;
            t->lo[n].flag = NULL;
            t->lo[n].val = (int)(CODE_BASE + 2 * i + 1);
            n++;
        }
        if (d->short_opt) {
            t->shortopts[s++] = d->short_opt;
            if (val)
                t->shortopts[s++] = ':';
        }
    }
    t->shortopts[s] = '\0';
    memset(&t->lo[n], 0, sizeof t->lo[n]);
}

/* The table row of a getopt_long code, or NULL. */
static const struct opt *code_opt(int code, bool *negative)
{
    *negative = false;
    if (code >= CODE_BASE && (size_t)(code - CODE_BASE) < 2 * N_OPTS) {
        *negative = (code - CODE_BASE) & 1;
        return &opts[(code - CODE_BASE) / 2];
    }
    for (size_t i = 0; i < N_OPTS; i++)
        if (code > 0 && opts[i].d.short_opt == code)
            return &opts[i];
    return NULL;
}

/* One pass over argv. The scan pass (set_values false) reports unknown options, missing values and stray
 * arguments and notes --help, --version and --config; the second pass sets everything else. */
static int walk_cli(struct cli_table *t, int argc, char **argv, struct kmsd_config *cfg, struct load *ld,
                    bool set_values, bool *help, bool *version)
{
    if (argc < 1)
        return 0;
    optind = 0; /* full reinitialisation (glibc and musl) */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, t->shortopts, t->lo, NULL)) != -1) {
        bool neg;
        const struct opt *o;
        if (c == '?') {
            o = code_opt(optopt, &neg);
            if (o) /* --syslog=yes: a flag given a value */
                fprintf(ld->err, "kmsd: --%s%s: takes no value\n", neg ? "no-" : "", o->d.name);
            else if (optopt > 0 && optopt < CODE_BASE)
                fprintf(ld->err, "kmsd: -%c: unknown option (see kmsd --help)\n", optopt);
            else
                fprintf(ld->err, "kmsd: %.100s: unknown option (see kmsd --help)\n", argv[optind - 1]);
            return -1;
        }
        if (c == ':') {
            o = code_opt(optopt, &neg);
            if (o)
                fprintf(ld->err, "kmsd: --%s: missing value (%s)\n", o->d.name, o->d.metavar ? o->d.metavar : "");
            else
                fprintf(ld->err, "kmsd: %.100s: missing value\n", argv[optind - 1]);
            return -1;
        }
        o = code_opt(c, &neg);
        if (!o)
            return -1; /* not reached: getopt_long returns only codes of the table */
        if (!set_values) {
            if (strcmp(o->d.name, "help") == 0)
                *help = true;
            else if (strcmp(o->d.name, "version") == 0)
                *version = true;
            else if (strcmp(o->d.name, "config") == 0 && apply(o, cfg, optarg, ld) < 0)
                return -1;
            continue;
        }
        if (!o->set || strcmp(o->d.name, "config") == 0)
            continue;
        if (o->d.arg == CONFIG_ARG_BOOL) {
            if (apply(o, cfg, neg ? "false" : "true", ld) < 0)
                return -1;
        } else if (apply(o, cfg, optarg ? optarg : "", ld) < 0) {
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(ld->err, "kmsd: \"%.100s\": unexpected argument (kmsd takes options only; see kmsd --help)\n",
                argv[optind]);
        return -1;
    }
    return 0;
}

/* Whether an --http address is loopback-only: 127.0.0.0/8, [::1] or localhost (any port). */
static bool http_is_loopback(const char *a)
{
    if (strncmp(a, "[::1]", 5) == 0)
        return a[5] == '\0' || a[5] == ':';
    size_t hn = strcspn(a, ":");
    if (hn == 9 && strncmp(a, "localhost", 9) == 0)
        return true;
    return hn >= 4 && strncmp(a, "127.", 4) == 0 && strspn(a, "0123456789.") == hn;
}

/* Checks between options, once every source is applied. */
static int cross_check(const struct kmsd_config *cfg, FILE *err)
{
    for (int i = 0; i < cfg->n_http && !cfg->http_insecure && !cfg->http_token[0]; i++) {
        if (!http_is_loopback(cfg->http[i])) {
            fprintf(err,
                    "kmsd: --http %s: not a loopback address; give --http-token TOKEN (or --http-insecure to serve "
                    "it to anyone who can connect)\n",
                    cfg->http[i]);
            return -1;
        }
    }
    if (cfg->max_conn_buffer < cfg->max_pdu) {
        fprintf(err, "kmsd: --max-conn-buffer: %lu is less than --max-pdu %lu (a connection must hold a whole PDU)\n",
                (unsigned long)cfg->max_conn_buffer, (unsigned long)cfg->max_pdu);
        return -1;
    }
    const struct products_build *b = cfg->host_build ? products_build_by_number(cfg->host_build) : NULL;
    if (cfg->ndr64 && b && !b->ndr64) {
        fprintf(err, "kmsd: --host-build: build %lu does not speak NDR64 (use --no-ndr64 or a build from 9200 on)\n",
                (unsigned long)b->build);
        return -1;
    }
    return 0;
}

int config_load_ini_text(struct kmsd_config *cfg, const char *text, size_t len, FILE *err)
{
    struct load ld;
    memset(&ld, 0, sizeof ld);
    ld.err = err;
    if (len > 0) { /* fmemopen() refuses a zero size; empty text sets nothing */
        FILE *f = fmemopen((void *)(uintptr_t)text, len, "r");
        if (!f) {
            fprintf(err, "kmsd: (text): cannot read configuration text: %s\n", strerror(errno));
            return KMSD_CONFIG_EXIT_USAGE;
        }
        if (load_ini_stream(cfg, f, "(text)", &ld) < 0)
            return KMSD_CONFIG_EXIT_USAGE;
    }
    return cross_check(cfg, err) < 0 ? KMSD_CONFIG_EXIT_USAGE : KMSD_CONFIG_OK;
}

int config_load(struct kmsd_config *cfg, int argc, char **argv, char **envp, FILE *out, FILE *err)
{
    struct load ld;
    memset(&ld, 0, sizeof ld);
    ld.err = err;
    struct cli_table t;
    memset(&t, 0, sizeof t);
    build_cli(&t);

    bool help = false, version = false;
    ld.src = SRC_CLI;
    if (walk_cli(&t, argc, argv, cfg, &ld, false, &help, &version) < 0)
        return KMSD_CONFIG_EXIT_USAGE;
    if (help) {
        config_help(out);
        return KMSD_CONFIG_EXIT_OK;
    }
    if (version) {
        print_version(out);
        return KMSD_CONFIG_EXIT_OK;
    }

    /* The file: -c, else KMSD_CONFIG. */
    if (cfg->config_file[0] == '\0') {
        const struct opt *co = find_opt("config", CONFIG_IN_ENV);
        for (size_t k = 0; envp && envp[k]; k++) {
            if (strncmp(envp[k], "KMSD_CONFIG=", 12) == 0) {
                ld.src = SRC_ENV;
                if (apply(co, cfg, envp[k] + 12, &ld) < 0)
                    return KMSD_CONFIG_EXIT_USAGE;
            }
        }
    }
    if (cfg->config_file[0] && load_ini(cfg, cfg->config_file, &ld) < 0)
        return KMSD_CONFIG_EXIT_USAGE;
    if (load_env(cfg, envp, &ld) < 0)
        return KMSD_CONFIG_EXIT_USAGE;
    ld.src = SRC_CLI;
    if (walk_cli(&t, argc, argv, cfg, &ld, true, NULL, NULL) < 0)
        return KMSD_CONFIG_EXIT_USAGE;
    if (cross_check(cfg, err) < 0)
        return KMSD_CONFIG_EXIT_USAGE;
    if (cfg->check_config) {
        config_print(cfg, out);
        return KMSD_CONFIG_EXIT_OK;
    }
    return KMSD_CONFIG_OK;
}
