/* config_set — value parsers and the setters of the option table; see config_internal.h. */
#include "config_internal.h"

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
#include "dns_name.h"
#include "dns_tsig.h"
#include "epid.h"
#include "hostport.h"
#include "kms_limits.h"
#include "err.h"
#include "num.h"
#include "products.h"

/* ---- scalar parsers ---- */

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
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
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

int config_set_bool(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    bool b;
    if (parse_bool(val, &b) < 0)
        return config_fail(ld, "\"%.100s\" is not a boolean (expected true, false, yes, no, on, off, 1 or 0)", val);
    *(bool *)config_field(o, cfg) = b;
    return 0;
}

int config_set_uint(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    uint64_t v;
    int rc = num_u64(val, o->min, o->max, &v);
    if (rc == KMS_EINVAL)
        return config_fail(ld, "\"%.100s\" is not a number (expected %llu to %llu)", val, (unsigned long long)o->min,
                           (unsigned long long)o->max);
    if (rc < 0)
        return config_fail(ld, "%.100s is out of range (expected %llu to %llu)", val, (unsigned long long)o->min,
                           (unsigned long long)o->max);
    if (o->size == sizeof(uint16_t))
        *(uint16_t *)config_field(o, cfg) = (uint16_t)v;
    else
        *(uint32_t *)config_field(o, cfg) = (uint32_t)v;
    return 0;
}

const struct unit config_seconds_units[] = {{0, 1}, {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
const struct unit config_minutes_units[] = {{0, 1}, {'m', 1}, {'h', 60}, {'d', 1440}, {'w', 10080}};

/* A number of seconds as its largest whole unit: "1 s", "5 m", "1 h", "7 d". */
static void seconds_text(uint64_t v, char *out, size_t cap)
{
    static const struct {
        uint64_t mult;
        char unit;
    } u[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (v >= u[i].mult && v % u[i].mult == 0) {
            snprintf(out, cap, "%llu %c", (unsigned long long)(v / u[i].mult), u[i].unit);
            return;
        }
    snprintf(out, cap, "%llu s", (unsigned long long)v);
}

/* A duration stored in milliseconds; the text is in seconds (bare or s) or m, h, d. */
int config_set_seconds(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    uint64_t v = 0; /* set when parse_scaled returns 0 (GCC -O3 cannot tell: -Wmaybe-uninitialized) */
    int rc = parse_scaled(val, config_seconds_units, sizeof config_seconds_units / sizeof config_seconds_units[0],
                          o->min, o->max, &v);
    char lo[32], hi[32];
    seconds_text(o->min, lo, sizeof lo);
    seconds_text(o->max, hi, sizeof hi);
    if (rc == -1)
        return config_fail(ld, "\"%.100s\" is not a duration (expected e.g. 30, 30s, 5m, 1h; %s to %s)", val, lo, hi);
    if (rc == -2)
        return config_fail(ld, "\"%.100s\" is out of range (%s to %s)", val, lo, hi);
    *(uint32_t *)config_field(o, cfg) = (uint32_t)(v * 1000);
    return 0;
}

/* An interval stored in minutes; the text is in minutes (bare or m) or h, d, w. */
int config_set_minutes(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    uint64_t v = 0;
    int rc = parse_scaled(val, config_minutes_units, sizeof config_minutes_units / sizeof config_minutes_units[0],
                          o->min, o->max, &v);
    if (rc == -1)
        return config_fail(ld, "\"%.100s\" is not an interval in minutes (expected e.g. 120, 90m, 2h, 1d, 1w)", val);
    if (rc == -2)
        return config_fail(ld, "\"%.100s\" is out of range (1 to %llu minutes)", val, (unsigned long long)o->max);
    *(uint32_t *)config_field(o, cfg) = (uint32_t)v;
    return 0;
}

/* A path or name: at most o->max bytes, no control characters; empty only where o->min is 0. */
int config_set_string(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    size_t n = strlen(val);
    if (n < o->min)
        return config_fail(ld, "must not be empty");
    if (n > o->max)
        return config_fail(ld, "\"%.40s...\" is too long (%zu bytes, at most %llu)", val, n,
                           (unsigned long long)o->max);
    /* --check-config prints "NAME = VALUE" on one INI line, which must fit inih's line buffer to load back. */
    size_t ini_room = CONFIG_INI_LINE_MAX - strlen(o->d.name) - 3;
    if (o->print && n > ini_room)
        return config_fail(ld,
                           "\"%.40s...\" is too long to be written in a configuration file (%zu bytes, at most %zu)",
                           val, n, ini_room);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)val[i];
        if (c < 0x20 || c == 0x7f)
            return config_fail(ld, "\"%.100s\" contains a control character", val);
    }
    /* What an INI file cannot carry (the value would not load back as printed by --check-config): blanks at
     * either end (trimmed) and ';' at the start or after a blank (an inline comment). */
    bool blank_end = n > 0 && (val[0] == ' ' || val[n - 1] == ' ');
    bool comment = n > 0 && val[0] == ';';
    for (size_t i = 1; i < n && !comment; i++)
        comment = val[i] == ';' && val[i - 1] == ' ';
    if (blank_end || comment)
        return config_fail(ld,
                           "\"%.100s\" cannot be written in an INI file (no blanks at either end, no ';' at the start "
                           "or after a blank)",
                           val);
    memcpy(config_field(o, cfg), val, n + 1);
    return 0;
}

const char *const config_log_levels[] = {"error", "warn", "info", "debug"};

int config_set_log_level(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    for (size_t i = 0; i < sizeof config_log_levels / sizeof config_log_levels[0]; i++) {
        if (strcmp(val, config_log_levels[i]) == 0) {
            *(enum config_log_level *)config_field(o, cfg) = (enum config_log_level)i;
            return 0;
        }
    }
    return config_fail(ld, "\"%.100s\" is not a log level (expected error, warn, info or debug)", val);
}

int config_set_count_mode(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    if (strcmp(val, "fixed") == 0)
        cfg->count_mode = CONFIG_COUNT_FIXED;
    else if (strcmp(val, "genuine") == 0)
        cfg->count_mode = CONFIG_COUNT_GENUINE;
    else
        return config_fail(ld, "\"%.100s\" is not a count mode (expected fixed or genuine)", val);
    return 0;
}

int config_set_no_db(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    (void)val;
    (void)ld;
    snprintf(cfg->db, sizeof cfg->db, "none");
    return 0;
}

int config_set_client_count(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    if (strcmp(val, "auto") == 0) {
        cfg->client_count = -1;
        return 0;
    }
    uint64_t v;
    int rc = num_u64(val, o->min, o->max, &v);
    if (rc == KMS_EINVAL)
        return config_fail(ld, "\"%.100s\" is not a client count (expected auto or %llu to %llu)", val,
                           (unsigned long long)o->min, (unsigned long long)o->max);
    if (rc < 0)
        return config_fail(ld, "%.100s is out of range (expected auto or %llu to %llu)", val,
                           (unsigned long long)o->min, (unsigned long long)o->max);
    cfg->client_count = (int32_t)v;
    return 0;
}

int config_set_hwid(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    if (val[0] == '\0') {
        cfg->hwid_set = false;
        memset(cfg->hwid, 0, sizeof cfg->hwid);
        return 0;
    }
    uint8_t hwid[sizeof cfg->hwid];
    if (strlen(val) != 2 * sizeof hwid || num_hex(val, hwid, sizeof hwid) < 0)
        return config_fail(ld, "\"%.100s\" is not a HWID (expected exactly 16 hex digits, e.g. 3A1C049600B60076)", val);
    memcpy(cfg->hwid, hwid, sizeof hwid);
    cfg->hwid_set = true;
    return 0;
}

/* Lists the builds --host-build accepts into buf (t's; the built-in table's when t is NULL). */
static void epid_builds(const struct products_tables *t, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    if (!t)
        t = products_builtin();
    for (size_t i = 0; i < t->build_count; i++) {
        const struct products_build *b = &t->builds[i];
        if (!b->epid)
            continue;
        int n = snprintf(buf + len, cap - len, "%s%u", len ? ", " : "", (unsigned)b->build);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
}

int config_set_host_build(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    uint64_t v;
    char builds[256];
    epid_builds(ld->table, builds, sizeof builds);
    if (num_u64(val, 0, o->max, &v) < 0)
        return config_fail(ld, "\"%.100s\" is not a host build (expected 0 to choose, or one of %s)", val, builds);
    const struct products_build *b = ld->table ? products_in_build_by_number(ld->table, (uint32_t)v) : NULL;
    if (ld->table && v != 0 && (!b || !b->epid))
        return config_fail(ld, "%.100s is not a host build for ePIDs (expected 0 to choose, or one of %s)", val,
                           builds);
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
        offsetof(struct kmsd_config, n_trusted_proxy),
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
            if (zn == 0 || zn > 15 ||
                strspn(zone + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
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
        return config_fail(ld, "\"%.40s...\" is too long (at most %d characters)", val, CONFIG_LISTEN_LEN - 1);
    const char *why = listen_problem(val);
    if (why)
        return config_fail(ld,
                           "\"%.100s\": %s (expected ADDR[:PORT]: 1.2.3.4, [::1]:1688, [fe80::1%%eth0]:1688, "
                           "host.name:1688 or *:1688)",
                           val, why);
    if (cfg->n_listen >= CONFIG_MAX_LISTEN)
        return config_fail(ld, "more than %d listen addresses", CONFIG_MAX_LISTEN);
    memcpy(cfg->listen[cfg->n_listen++], val, strlen(val) + 1);
    return 0;
}

static int add_epid(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    const char *eq = strchr(val, '=');
    if (!eq || eq == val)
        return config_fail(ld, "\"%.100s\" is not GROUP=EPID (e.g. win2025=03612-04918-...)", val);
    char group[sizeof cfg->epids[0].csvlk];
    size_t gn = (size_t)(eq - val);
    const struct products_csvlk *c = NULL;
    struct products_csvlk unchecked = {.key = group, .has_epid = true}; /* first pass: checked in the second */
    if (gn < sizeof group) {
        memcpy(group, val, gn);
        group[gn] = '\0';
        c = ld->table ? products_in_find_csvlk(ld->table, group) : NULL;
    }
    if (!ld->table && gn < sizeof group)
        c = &unchecked;
    if (!c)
        return config_fail(ld, "\"%.*s\" is not a CSVLK group of the product table (e.g. win2025, office2024)",
                           (int)(gn < 64 ? gn : 64), val);
    if (!c->has_epid)
        return config_fail(ld, "CSVLK group %s has no known ePID group id", c->key);
    const char *text = eq + 1;
    struct epid e;
    if (strlen(text) > EPID_MAX_LEN || epid_parse(text, &e) < 0)
        return config_fail(ld, "\"%.100s\" is not an ePID (expected PPPPP-GGGGG-KKK-KKKKKK-03-LCID-BUILD.0000-DDDYYYY)",
                           text);
    if (epid_validate(&e) < 0)
        return config_fail(ld, "\"%.100s\": an ePID field is out of range (channel 03, LCID 1-65535, a real day)",
                           text);
    if (ld->table && e.group != c->group)
        return config_fail(ld, "ePID group %05u is not the group of CSVLK %s (%05u)", (unsigned)e.group, c->key,
                           (unsigned)c->group);
    int i = 0;
    while (i < cfg->n_epids && strcmp(cfg->epids[i].csvlk, c->key) != 0)
        i++;
    if (i == cfg->n_epids) {
        if (cfg->n_epids >= CONFIG_MAX_EPIDS)
            return config_fail(ld, "more than %d ePIDs", CONFIG_MAX_EPIDS);
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
        *(int *)config_field(o, cfg) = 0; /* n_listen or n_epids */
    if (val[0] == '\0')
        return 0;
    return add(o, cfg, val, ld);
}

/* --allow / --deny / --trusted-proxy: one CIDR; the list is the field before the count (allow/n_allow,
 * deny/n_deny, trusted_proxy/n_trusted_proxy). */
static int add_cidr(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    bool deny = o->off == offsetof(struct kmsd_config, n_deny);
    bool proxy = o->off == offsetof(struct kmsd_config, n_trusted_proxy);
    char(*list)[CONFIG_CIDR_LEN] = proxy ? cfg->trusted_proxy : deny ? cfg->deny : cfg->allow;
    int *n = proxy ? &cfg->n_trusted_proxy : deny ? &cfg->n_deny : &cfg->n_allow;
    struct acl_net net;
    const char *why;
    if (acl_parse_cidr(val, &net, &why) < 0)
        return config_fail(ld, "\"%.100s\": %s (expected ADDR or ADDR/PREFIX: 10.0.0.0/8, 192.168.1.7, fd00::/8, ::1)",
                           val, why);
    if (*n >= CONFIG_MAX_CIDRS)
        return config_fail(ld, "more than %d entries", CONFIG_MAX_CIDRS);
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
        struct products_csvlk unchecked = {.key = key}; /* the first pass (no table yet): the second checks it */
        if (n > 0 && n < sizeof key) {
            memcpy(key, p, n);
            key[n] = '\0';
            c = ld->table ? products_in_find_csvlk(ld->table, key) : &unchecked;
        }
        if (!c)
            return config_fail(ld,
                               "\"%.*s\" is not a CSVLK group of the product table (e.g. win2025, office2024; the "
                               "csvlk lines of data/products.tsv list them)",
                               (int)(n < 64 ? n : 64), p);
        int i = 0;
        while (i < cfg->n_csvlks && strcmp(cfg->csvlks[i], c->key) != 0)
            i++;
        if (i == cfg->n_csvlks) {
            if (cfg->n_csvlks >= CONFIG_MAX_CSVLKS)
                return config_fail(ld, "more than %d groups", CONFIG_MAX_CSVLKS);
            snprintf(cfg->csvlks[cfg->n_csvlks++], sizeof cfg->csvlks[0], "%s", c->key);
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int config_set_cidr(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    return set_list(o, cfg, val, ld, add_cidr);
}

int config_set_csvlk(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    return set_list(o, cfg, val, ld, add_csvlk);
}

const char *const config_products_names[] = {"all", "known", "volume"};

int config_set_products(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    for (size_t i = 0; i < sizeof config_products_names / sizeof config_products_names[0]; i++) {
        if (strcmp(val, config_products_names[i]) == 0) {
            cfg->products = (enum config_products)i;
            return 0;
        }
    }
    return config_fail(ld, "\"%.100s\" is not a product policy (expected all, known or volume)", val);
}

/* --user / --group: a name or a number as getpwnam/getgrnam take it; "" = the default. Checked against the
 * system only when kmsd starts as root (privdrop). */
int config_set_account(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    size_t n = strlen(val);
    if (n >= o->size)
        return config_fail(ld, "\"%.40s...\" is too long (at most %zu characters)", val, o->size - 1);
    if (n > 0 &&
        (val[0] == '-' || strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-$") != n))
        return config_fail(
            ld, "\"%.100s\" is not a user or group name (letters, digits, '.', '_', '-'; not starting with '-')", val);
    memcpy(config_field(o, cfg), val, n + 1);
    return 0;
}

int config_set_listen(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
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
        return config_fail(ld, "\"%.40s...\" is too long (at most %d characters)", val, CONFIG_LISTEN_LEN - 1);
    const char *why = listen_problem(val);
    if (why)
        return config_fail(ld, "\"%.100s\": %s (expected ADDR[:PORT]: 127.0.0.1:8080, [::1]:8080, *:8080 or none)", val,
                           why);
    if (cfg->n_http >= CONFIG_MAX_HTTP)
        return config_fail(ld, "more than %d HTTP addresses", CONFIG_MAX_HTTP);
    cfg->http_off = false;
    memcpy(cfg->http[cfg->n_http++], val, strlen(val) + 1);
    return 0;
}

int config_set_http(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    if (list_fresh(o, ld) || val[0] == '\0') {
        cfg->n_http = 0;
        cfg->http_off = false;
    }
    if (val[0] == '\0')
        return 0;
    return add_http(o, cfg, val, ld);
}

int config_set_no_http(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    (void)val;
    (void)ld;
    cfg->n_http = 0;
    cfg->http_off = true;
    return 0;
}

/* A Bearer token (RFC 6750 token68 characters), CONFIG_TOKEN_MIN to CONFIG_TOKEN_MAX long, or empty. */
int config_set_token(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    size_t n = strlen(val);
    if (n == 0) {
        cfg->http_token[0] = '\0';
        return 0;
    }
    if (n < CONFIG_TOKEN_MIN || n > CONFIG_TOKEN_MAX)
        return config_fail(ld, "the token is %zu characters long (expected %d to %d)", n, CONFIG_TOKEN_MIN,
                           CONFIG_TOKEN_MAX);
    size_t ok = strspn(val, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/");
    while (ok < n && val[ok] == '=')
        ok++;
    if (ok != n)
        return config_fail(
            ld, "character %zu of the token is not allowed (letters, digits, - . _ ~ + / and trailing =)", ok + 1);
    memcpy(cfg->http_token, val, n + 1);
    return 0;
}

int config_set_epid(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    return set_list(o, cfg, val, ld, add_epid);
}

int config_set_check_config(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    (void)val;
    (void)ld;
    cfg->check_config = true;
    return 0;
}

/* ---- DNS publishing ---- */

/* --dns-publish ZONE: a DNS name (dns_name.h), kept canonical (lower case, no final dot), each once. */
static int add_dns_zone(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    char zone[CONFIG_DNS_NAME_LEN];
    const char *why = dns_name_problem(val);
    if (why || dns_name_canonical(val, zone, sizeof zone) < 0)
        return config_fail(ld, "\"%.100s\" is not a DNS zone name: %s (expected e.g. example.org)", val, why ? why : "");
    for (int i = 0; i < cfg->n_dns_publish; i++)
        if (strcmp(cfg->dns_publish[i], zone) == 0)
            return 0;
    if (cfg->n_dns_publish >= CONFIG_MAX_DNS_ZONES)
        return config_fail(ld, "more than %d zones", CONFIG_MAX_DNS_ZONES);
    memcpy(cfg->dns_publish[cfg->n_dns_publish++], zone, strlen(zone) + 1);
    return 0;
}

int config_set_dns_zone(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    return set_list(o, cfg, val, ld, add_dns_zone);
}

/* --dns-host NAME: a DNS name or empty (this host's FQDN), kept canonical. */
int config_set_dns_name(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    char *out = config_field(o, cfg);
    if (val[0] == '\0') {
        out[0] = '\0';
        return 0;
    }
    const char *why = dns_name_problem(val);
    if (why || dns_name_canonical(val, out, o->size) < 0)
        return config_fail(ld, "\"%.100s\" is not a DNS name: %s (expected e.g. kms1.example.org)", val, why ? why : "");
    return 0;
}

/* --dns-server ADDR[:PORT]: an address or a name, port 53 unless given; empty: the zone's primary. */
int config_set_dns_server(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    if (strlen(val) >= sizeof cfg->dns_server)
        return config_fail(ld, "\"%.40s...\" is too long (at most %zu characters)", val, sizeof cfg->dns_server - 1);
    const char *why = val[0] == '*' ? "not one address" : val[0] ? listen_problem(val) : NULL;
    if (why)
        return config_fail(ld, "\"%.100s\": %s (expected ADDR[:PORT], port 53 unless given: 192.0.2.53, "
                               "[2001:db8::53]:5353, ns1.example.org)",
                           val, why);
    memcpy(cfg->dns_server, val, strlen(val) + 1);
    return 0;
}

/* --dns-tsig NAME:ALGORITHM:SECRET, checked now (dns_tsig.h); empty: none. */
int config_set_dns_tsig(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    if (val[0] != '\0') {
        struct dns_tsig k;
        const char *why;
        if (strlen(val) >= sizeof cfg->dns_tsig || dns_tsig_parse(val, &k, &why) < 0)
            return config_fail(ld, "%s", strlen(val) >= sizeof cfg->dns_tsig ? "too long" : why);
    }
    memcpy(cfg->dns_tsig, val, strlen(val) + 1);
    return 0;
}

/* --dns-address ADDR: an IPv4 or IPv6 address published as the target's A or AAAA record. */
static int add_dns_address(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    unsigned char b[16];
    char text[INET6_ADDRSTRLEN];
    int af = inet_pton(AF_INET, val, b) == 1 ? AF_INET : inet_pton(AF_INET6, val, b) == 1 ? AF_INET6 : 0;
    if (!af || !inet_ntop(af, b, text, sizeof text))
        return config_fail(ld, "\"%.100s\" is not an IPv4 or IPv6 address", val);
    if (cfg->n_dns_address >= CONFIG_MAX_DNS_ADDRESSES)
        return config_fail(ld, "more than %d addresses", CONFIG_MAX_DNS_ADDRESSES);
    snprintf(cfg->dns_address[cfg->n_dns_address++], sizeof cfg->dns_address[0], "%s", text);
    return 0;
}

int config_set_dns_address(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    return set_list(o, cfg, val, ld, add_dns_address);
}

/* --host-name NAME: 1 to CONFIG_HOST_NAME_LEN letters, digits, '.', '-', '_'; empty: the system's host name. */
int config_set_host_name(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    (void)o;
    size_t n = strlen(val);
    if (n > CONFIG_HOST_NAME_LEN || strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != n)
        return config_fail(ld, "\"%.80s\" is not a host name (at most %d letters, digits, '.', '-' and '_')", val,
                           CONFIG_HOST_NAME_LEN);
    memcpy(cfg->host_name, val, n + 1);
    return 0;
}
