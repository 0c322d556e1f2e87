/*
 * products_load — see products_load.h. A port of scripts/gen_products.py's read_records() and build_model(): the
 * functions below follow the script's in name and order (p_guid, p_int, ...; one loop per record kind, then the
 * whole-table rules), and add their errors in the same order, so that the sorted lists come out identical. Where the
 * script keeps a dict, this keeps a hash map (struct map) so that no check costs more than its share of a 1 MB file.
 */
#include "products_load.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "guid.h"
#include "kms_crypto.h"
#include "timeutil.h"

/* ------------------------------------------------------------------------------------------------ the format */

enum kind { K_APP, K_KMS, K_SKU, K_CSVLK, K_ACTIVATES, K_BUILD, K_COUNT };

#define FIELDS_MAX 7 /* the most fields after the record type (app) */

static const char *const kind_names[K_COUNT] = {"app", "kms", "sku", "csvlk", "activates", "build"};
/* Field names per kind, the record type itself left out (gen_products.py's LAYOUT). */
static const char *const layout[K_COUNT][FIELDS_MAX] = {
    [K_APP] = {"key", "id", "min_active_clients", "default_csvlk", "count_group", "group_label", "name"},
    [K_KMS] = {"id", "app", "n_policy", "protocol", "flags", "name"},
    [K_SKU] = {"id", "kms_id", "aliases", "gvlk", "flags", "name"},
    [K_CSVLK] = {"key", "group", "key_min", "key_max", "released", "flags", "name"},
    [K_ACTIVATES] = {"csvlk_key", "kms_id"},
    [K_BUILD] = {"number", "platform", "released", "flags", "name"},
};
static const size_t field_count[K_COUNT] = {7, 6, 6, 7, 2, 5};
/* Records of each kind at most (gen_products.py's RECORDS_MAX); 0: no limit (activates, bounded by the file). */
static const size_t records_max[K_COUNT] = {
    [K_APP] = PRODUCTS_LOAD_APP_MAX,     [K_KMS] = PRODUCTS_LOAD_KMS_MAX,     [K_SKU] = PRODUCTS_LOAD_SKU_MAX,
    [K_CSVLK] = PRODUCTS_LOAD_CSVLK_MAX, [K_BUILD] = PRODUCTS_LOAD_BUILD_MAX,
};
/* Flags allowed per kind, in the script's order (its messages list them so); bit i is word i. */
static const char *const flag_words[K_COUNT][5] = {
    [K_KMS] = {"retail", "preview", "office14", "office15", "office16"},
    [K_SKU] = {"gengvlk"},
    [K_CSVLK] = {"lab", "preview"},
    [K_BUILD] = {"ndr64", "server", "epid"},
};
enum { F_RETAIL = 1, F_PREVIEW = 2, F_OFFICE14 = 4, F_OFFICE15 = 8, F_OFFICE16 = 16 };
enum { F_GENGVLK = 1 };
enum { F_LAB = 1, F_CPREVIEW = 2 };
enum { F_NDR64 = 1, F_SERVER = 2, F_EPID = 4 };
static const char *const office_folders[3] = {"Office14", "Office15", "Office16"};

#define NAME_MAX_CHARS 120
#define PROTOCOLS "4, 5, 6"

_Static_assert(PRODUCTS_LOAD_APP_MAX <= 0xffff && PRODUCTS_LOAD_KMS_MAX <= 0xffff && PRODUCTS_LOAD_SKU_MAX <= 0xffff,
               "the *_by_id indexes are uint16_t");

/* ------------------------------------------------------------------------------------------------ text views */

struct view {
    const char *p;
    size_t n;
};

static bool v_eq(struct view v, const char *s)
{
    return strlen(s) == v.n && memcmp(v.p, s, v.n) == 0;
}

static bool v_eqv(struct view a, struct view b)
{
    return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_lower_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

/* The next UTF-8 character of v at *i (the text is valid UTF-8: checked first), advancing *i. */
static uint32_t next_cp(struct view v, size_t *i)
{
    const unsigned char *s = (const unsigned char *)v.p + *i;
    uint32_t c = s[0];
    size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (len > v.n - *i)
        len = v.n - *i;
    if (len > 1)
        c &= 0x3fu >> (len - 1);
    for (size_t k = 1; k < len; k++)
        c = (c << 6) | (s[k] & 0x3fu);
    *i += len;
    return c;
}

/* The first invalid byte sequence of s[0, n) by Python's strict UTF-8 decoder (overlong forms, surrogates, code
 * points above U+10FFFF and truncated sequences rejected): its offset, or n when all is valid. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            return i;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
        i += len;
    }
    return n;
}

/* Python's str.isspace(), for the script's value.strip() test. */
static bool is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Whether Python's repr() shows c as itself (str.isprintable): control, format, separator, private-use and
 * non-characters are escaped. Unassigned code points are not tabled here: shown as themselves (a difference from the
 * script's message only, never of whether the file is accepted). */
static bool is_printable(uint32_t c)
{
    if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad)
        return false;
    if (c < 0x600)
        return true;
    static const uint32_t ranges[][2] = {
        {0x600, 0x605},     {0x61c, 0x61c},     {0x6dd, 0x6dd},     {0x70f, 0x70f},     {0x890, 0x891},
        {0x8e2, 0x8e2},     {0x1680, 0x1680},   {0x180e, 0x180e},   {0x2000, 0x200f},   {0x2028, 0x202f},
        {0x205f, 0x2064},   {0x2066, 0x206f},   {0x3000, 0x3000},   {0xd800, 0xf8ff},   {0xfdd0, 0xfdef},
        {0xfeff, 0xfeff},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x110cd, 0x110cd}, {0x13430, 0x1343f},
        {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0001, 0xe0001}, {0xe0020, 0xe007f}, {0xf0000, 0x10ffff},
    };
    if ((c & 0xfffe) == 0xfffe)
        return false;
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (c >= ranges[i][0] && c <= ranges[i][1])
            return false;
    return true;
}

/* ------------------------------------------------------------------------------------------------ errors */

/* A message being built, cut at PRODUCTS_LOAD_ERROR_LEN - 1 bytes. */
struct msg {
    char s[PRODUCTS_LOAD_ERROR_LEN];
    size_t n;
};

static void m_put(struct msg *m, const char *p, size_t n)
{
    size_t room = sizeof m->s - 1 - m->n;
    if (n > room)
        n = room;
    memcpy(m->s + m->n, p, n);
    m->n += n;
    m->s[m->n] = '\0';
}

static void m_str(struct msg *m, const char *s)
{
    m_put(m, s, strlen(s));
}

#if defined(__GNUC__) || defined(__clang__)
static void m_fmt(struct msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
static void m_fmt(struct msg *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(m->s + m->n, sizeof m->s - m->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        m->n = (size_t)k < sizeof m->s - m->n ? m->n + (size_t)k : sizeof m->s - 1;
}

/* Python's repr() of the text v. */
static void m_repr(struct msg *m, struct view v)
{
    bool single = false, dbl = false;
    for (size_t i = 0; i < v.n; i++) {
        single |= v.p[i] == '\'';
        dbl |= v.p[i] == '"';
    }
    char q = single && !dbl ? '"' : '\'';
    m_put(m, &q, 1);
    for (size_t i = 0; i < v.n;) {
        size_t at = i;
        uint32_t c = next_cp(v, &i);
        if (c == (uint32_t)q || c == '\\') {
            m_put(m, "\\", 1);
            m_put(m, v.p + at, 1);
        } else if (c == '\t') {
            m_put(m, "\\t", 2);
        } else if (c == '\n') {
            m_put(m, "\\n", 2);
        } else if (c == '\r') {
            m_put(m, "\\r", 2);
        } else if (is_printable(c)) {
            m_put(m, v.p + at, i - at);
        } else if (c <= 0xff) {
            m_fmt(m, "\\x%02x", (unsigned)c);
        } else if (c <= 0xffff) {
            m_fmt(m, "\\u%04x", (unsigned)c);
        } else {
            m_fmt(m, "\\U%08x", (unsigned)c);
        }
    }
    m_put(m, &q, 1);
}

void products_load_error(struct products_load_errors *errs, const char *name, size_t line, const char *text)
{
    if (!errs)
        return;
    errs->count++;
    /* stable by line: after every kept error of the same or a lower line */
    size_t at = errs->n;
    while (at > 0 && errs->e[at - 1].line > line)
        at--;
    if (at >= PRODUCTS_LOAD_ERRORS_MAX)
        return;
    size_t keep = errs->n < PRODUCTS_LOAD_ERRORS_MAX ? errs->n : PRODUCTS_LOAD_ERRORS_MAX - 1;
    memmove(&errs->e[at + 1], &errs->e[at], (keep - at) * sizeof errs->e[0]);
    errs->n = keep + 1;
    struct products_load_error *e = &errs->e[at];
    e->line = line;
    if (line)
        snprintf(e->text, sizeof e->text, "%s:%zu: error: %s", name, line, text);
    else
        snprintf(e->text, sizeof e->text, "%s: error: %s", name, text);
}

/* ------------------------------------------------------------------------------------------------ a hash map */

/* Names of what the map holds (the script's dicts); a name space's keys are compared ignoring ASCII case when
 * ns_fold says so. */
enum ns { NS_ID, NS_NAME, NS_NAME_END = NS_NAME + K_COUNT, NS_SKU_WORD, NS_GVLK, NS_KMS_ID, NS_PAIR };

static bool ns_fold(unsigned ns)
{
    return (ns >= NS_NAME && ns < NS_NAME_END) || ns == NS_SKU_WORD;
}

struct slot {
    const char *p;
    size_t n;
    unsigned ns; /* 0 in an empty slot is fine: used says */
    bool used;
    size_t a, b; /* the values: a line, a kind, an index */
};

struct map {
    struct slot *s;
    size_t cap, used; /* cap a power of 2, used <= cap / 2 */
};

static uint64_t m_hash(unsigned ns, const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ ns;
    bool f = ns_fold(ns);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)(f ? lower(p[i]) : p[i]);
        h *= 1099511628211ull;
    }
    return h;
}

static bool m_same(const struct slot *s, unsigned ns, const char *p, size_t n)
{
    if (!s->used || s->ns != ns || s->n != n)
        return false;
    if (!ns_fold(ns))
        return memcmp(s->p, p, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (lower(s->p[i]) != lower(p[i]))
            return false;
    return true;
}

static struct slot *map_find(const struct map *m, unsigned ns, const char *p, size_t n)
{
    if (!m->cap)
        return NULL;
    for (size_t i = m_hash(ns, p, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->s[i].used)
            return NULL;
        if (m_same(&m->s[i], ns, p, n))
            return &m->s[i];
    }
}

/* Adds a key that is not in m (the caller looked). p must outlive m. Returns 0 or -ENOMEM. */
static int map_add(struct map *m, unsigned ns, const char *p, size_t n, size_t a, size_t b)
{
    if (2 * (m->used + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 1024;
        struct slot *s = calloc(cap, sizeof *s);
        if (!s)
            return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->s[i].used)
                continue;
            size_t j = m_hash(m->s[i].ns, m->s[i].p, m->s[i].n) & (cap - 1);
            while (s[j].used)
                j = (j + 1) & (cap - 1);
            s[j] = m->s[i];
        }
        free(m->s);
        m->s = s;
        m->cap = cap;
    }
    size_t i = m_hash(ns, p, n) & (m->cap - 1);
    while (m->s[i].used)
        i = (i + 1) & (m->cap - 1);
    m->s[i] = (struct slot){p, n, ns, true, a, b};
    m->used++;
    return 0;
}

/* ------------------------------------------------------------------------------------------------ the arena */

/* The built table and everything it points to live in blocks of one arena, freed together. */
struct block {
    struct block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

struct loaded {
    struct products_tables t; /* first: products_load_free finds the arena from the table */
    struct block *blocks;
};

#define BLOCK_MIN (64u * 1024u)

static void *arena_alloc(struct loaded *l, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct block *b = l->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = l->blocks;
        b->used = 0;
        b->cap = cap;
        l->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_str(struct loaded *l, struct view v)
{
    char *s = arena_alloc(l, v.n + 1);
    if (s)
        memcpy(s, v.p, v.n);
    return s;
}

void products_load_free(const struct products_tables *t)
{
    if (!t || t == products_builtin())
        return;
    struct loaded *l = (struct loaded *)(uintptr_t)t; /* t is the first member of the struct loaded it came in */
    for (struct block *b = l->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(l);
}

/* ------------------------------------------------------------------------------------------------ the model */

struct rec {
    enum kind kind;
    size_t line;
    struct view f[FIELDS_MAX];
};

struct m_app {
    size_t line;
    struct view key, id, dflt, label, name;
    uint32_t min_active, group;
};

struct m_kms {
    size_t line;
    struct view id, name;
    size_t app;
    uint32_t n, proto;
    unsigned flags;
    int office; /* -1, or an index of office_folders */
    size_t n_csvlks;
    size_t epid_csvlk;
};

struct m_sku {
    size_t line;
    struct view id, aliases, gvlk, name; /* gvlk.p NULL: none */
    size_t kms, n_aliases;
    bool generated;
};

struct m_csvlk {
    size_t line;
    struct view key, name;
    bool has_epid, lab, preview;
    uint32_t group, kmin, kmax;
    int64_t released;
    size_t n_activates;
};

struct m_build {
    size_t line;
    struct view name;
    uint32_t number, platform;
    int64_t released;
    unsigned flags;
};

struct pair {
    uint32_t csvlk, kms; /* indexes; the map keys on these 8 bytes */
};

struct ctx {
    const char *name;
    struct products_load_errors *errs; /* NULL: errors only counted */
    struct rec *recs;
    size_t n_recs, cap_recs;
    struct map map;
    struct m_app *apps;
    struct m_kms *kms;
    struct m_sku *skus;
    struct m_csvlk *csvlks;
    struct m_build *builds;
    size_t n_app, n_kms, n_sku, n_csvlk, n_build;
    struct pair *pairs; /* the activations, in file order */
    size_t n_pairs;
};

/* Keeps an error when the caller gave a list (struct pctx counts them either way). */
static void add_err(struct ctx *c, size_t line, const struct msg *m)
{
    if (c->errs)
        products_load_error(c->errs, c->name, line, m->s);
}

/* ------------------------------------------------------------------------------------------------ field parsers */

/* Each takes a record's field by index and either stores the parsed value and returns true, or records the
 * script's error and returns false. */

struct pctx {
    struct ctx *c;
    size_t n_err;
};

static void err_repr(struct pctx *x, size_t line, const char *before, struct view v, const char *after)
{
    struct msg m = {.n = 0};
    m_put(&m, before, strlen(before));
    m_repr(&m, v);
    m_put(&m, after, strlen(after));
    add_err(x->c, line, &m);
    x->n_err++;
}

/* "FIELD: " then the repr of v, then after. */
static void err_field_repr(struct pctx *x, const struct rec *r, const char *field, const char *before, struct view v,
                           const char *after)
{
    struct msg m = {.n = 0};
    m_fmt(&m, "%s: %s", field, before);
    m_repr(&m, v);
    m_put(&m, after, strlen(after));
    add_err(x->c, r->line, &m);
    x->n_err++;
}

#define PERR(x, line, ...)                                                                                             \
    do {                                                                                                               \
        struct msg m_ = {.n = 0};                                                                                      \
        m_fmt(&m_, __VA_ARGS__);                                                                                       \
        add_err((x)->c, (line), &m_);                                                                                  \
        (x)->n_err++;                                                                                                  \
    } while (0)

static size_t field_index(enum kind k, const char *field)
{
    for (size_t i = 0; i < field_count[k]; i++)
        if (strcmp(layout[k][i], field) == 0)
            return i;
    return 0; /* not reached: every caller names a field of the layout */
}

static struct view fv(const struct rec *r, const char *field)
{
    return r->f[field_index(r->kind, field)];
}

static bool guid_syntax(struct view v)
{
    if (v.n != GUID_TEXT_LEN)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? v.p[i] != '-' : !is_lower_hex(v.p[i]))
            return false;
    }
    return true;
}

static bool p_guid(struct pctx *x, const struct rec *r, const char *field, struct view *out)
{
    struct view v = fv(r, field);
    if (!guid_syntax(v)) {
        err_field_repr(x, r, field, "bad GUID ", v, " (want lower-case 8-4-4-4-12 hex)");
        return false;
    }
    if (v_eq(v, "00000000-0000-0000-0000-000000000000")) {
        PERR(x, r->line, "%s: the all-zero GUID is not an id", field);
        return false;
    }
    *out = v;
    return true;
}

/* INT_RE: "0" or 1 to 10 digits without a leading zero. */
static bool int_syntax(struct view v, uint64_t *value)
{
    if (v.n == 0 || v.n > 10 || (v.p[0] == '0' && v.n > 1))
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (!is_digit(v.p[i]))
            return false;
        x = x * 10 + (uint64_t)(v.p[i] - '0');
    }
    *value = x;
    return true;
}

static bool p_int(struct pctx *x, const struct rec *r, const char *field, uint64_t lo, uint64_t hi, uint32_t *out)
{
    struct view v = fv(r, field);
    uint64_t value;
    if (!int_syntax(v, &value)) {
        err_field_repr(x, r, field, "", v, " is not a decimal number");
        return false;
    }
    if (value < lo || value > hi) {
        PERR(x, r->line, "%s: %llu outside %llu..%llu", field, (unsigned long long)value, (unsigned long long)lo,
             (unsigned long long)hi);
        return false;
    }
    *out = (uint32_t)value;
    return true;
}

static bool p_date(struct pctx *x, const struct rec *r, const char *field, int64_t *out)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    struct view v = fv(r, field);
    bool ok = v.n == 10 && v.p[4] == '-' && v.p[7] == '-';
    for (size_t i = 0; ok && i < 10; i++)
        ok = i == 4 || i == 7 || is_digit(v.p[i]);
    if (ok) {
        int y = (v.p[0] - '0') * 1000 + (v.p[1] - '0') * 100 + (v.p[2] - '0') * 10 + (v.p[3] - '0');
        int mo = (v.p[5] - '0') * 10 + (v.p[6] - '0'), d = (v.p[8] - '0') * 10 + (v.p[9] - '0');
        ok = y >= 1980 && y <= 2100 && mo >= 1 && mo <= 12 && d >= 1 &&
             d <= mdays[mo - 1] + (mo == 2 && timeutil_is_leap(y) ? 1 : 0);
        if (ok) {
            *out = timeutil_days_from_civil(y, mo, d) * SECONDS_PER_DAY;
            return true;
        }
    }
    err_field_repr(x, r, field, "bad date ", v, " (want a real YYYY-MM-DD between 1980 and 2100)");
    return false;
}

/* The comma-separated words of v, one at a time: *at is where the next starts (v.n + 1 after the last). */
static bool next_word(struct view v, size_t *at, struct view *w)
{
    if (*at > v.n)
        return false;
    const char *comma = memchr(v.p + *at, ',', v.n - *at);
    size_t end = comma ? (size_t)(comma - v.p) : v.n;
    *w = (struct view){v.p + *at, end - *at};
    *at = end + 1;
    return true;
}

static bool p_flags(struct pctx *x, const struct rec *r, unsigned *out)
{
    struct view v = fv(r, "flags");
    *out = 0;
    if (v_eq(v, "-"))
        return true;
    const char *const *allowed = flag_words[r->kind];
    char list[128] = "";
    for (size_t i = 0; i < 5 && allowed[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", allowed[i]);
    bool ok = true, repeated = false;
    unsigned flags = 0;
    struct view w;
    for (size_t at = 0; next_word(v, &at, &w);) {
        size_t k = 0;
        while (k < 5 && allowed[k] && !v_eq(w, allowed[k]))
            k++;
        if (k == 5 || !allowed[k]) {
            struct msg m = {.n = 0};
            m_str(&m, "flags: unknown flag ");
            m_repr(&m, w);
            m_fmt(&m, " for %s (allowed: %s)", kind_names[r->kind], list);
            add_err(x->c, r->line, &m);
            x->n_err++;
            ok = false;
        } else {
            flags |= 1u << k;
        }
        struct view u; /* a word seen before this one: len(set(words)) != len(words) */
        for (size_t at2 = 0; !repeated && next_word(v, &at2, &u) && u.p < w.p;)
            repeated = v_eqv(u, w);
    }
    if (repeated) {
        err_repr(x, r->line, "flags: ", v, " repeats a flag");
        ok = false;
    }
    if (ok)
        *out = flags;
    return ok;
}

static bool key_syntax(struct view v)
{
    if (v.n < 1 || v.n > 32 || v.p[0] == '-')
        return false;
    for (size_t i = 0; i < v.n; i++)
        if (!(is_digit(v.p[i]) || (v.p[i] >= 'a' && v.p[i] <= 'z') || v.p[i] == '-'))
            return false;
    return true;
}

static bool p_key(struct pctx *x, const struct rec *r, const char *field, struct view *out)
{
    struct view v = fv(r, field);
    if (!key_syntax(v)) {
        err_field_repr(x, r, field, "bad key ", v, " (want 1-32 of [a-z0-9-], not starting with -)");
        return false;
    }
    *out = v;
    return true;
}

static bool p_label(struct pctx *x, const struct rec *r, const char *field, struct view *out)
{
    struct view v = fv(r, field);
    bool ok = v.n >= 1 && v.n <= 16;
    for (size_t i = 0; ok && i < v.n; i++) {
        char ch = v.p[i];
        bool alnum = is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        ok = alnum || (i > 0 && (ch == ' ' || ch == '+' || ch == '.' || ch == '-'));
    }
    if (!ok) {
        err_field_repr(x, r, field, "bad label ", v, " (want 1-16 of [A-Za-z0-9 +.-])");
        return false;
    }
    *out = v;
    return true;
}

static bool p_name(struct pctx *x, const struct rec *r, struct view *out)
{
    struct view v = fv(r, "name");
    size_t chars = 0;
    for (size_t i = 0; i < v.n; i++)
        chars += ((unsigned char)v.p[i] & 0xc0) != 0x80;
    if (chars > NAME_MAX_CHARS) {
        PERR(x, r->line, "name: longer than %d characters", NAME_MAX_CHARS);
        return false;
    }
    for (size_t i = 0; i < v.n; i++) {
        if ((unsigned char)v.p[i] < ' ' || (unsigned char)v.p[i] > '~') {
            PERR(x, r->line, "name: only printable ASCII is allowed");
            return false;
        }
    }
    for (size_t i = 0; i + 1 < v.n; i++) {
        if (v.p[i] == ' ' && v.p[i + 1] == ' ') {
            err_repr(x, r->line, "name: ", v, " contains a double space");
            return false;
        }
    }
    *out = v;
    return true;
}

/* ------------------------------------------------------------------------------------------------ reading */

static int add_rec(struct ctx *c, const struct rec *r)
{
    if (c->n_recs == c->cap_recs) {
        size_t cap = c->cap_recs ? 2 * c->cap_recs : 256;
        struct rec *n = realloc(c->recs, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        c->recs = n;
        c->cap_recs = cap;
    }
    c->recs[c->n_recs++] = *r;
    return 0;
}

static size_t count_newlines(const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == '\n';
    return k;
}

/* The leading or trailing character of v is a blank (the script's value != value.strip()). */
static bool blank_at_ends(struct view v)
{
    if (v.n == 0)
        return false;
    size_t i = 0;
    if (is_space(next_cp(v, &i)))
        return true;
    size_t last = v.n - 1;
    while (last > 0 && ((unsigned char)v.p[last] & 0xc0) == 0x80)
        last--;
    i = last;
    return is_space(next_cp(v, &i));
}

/* gen_products.py's read_records(): the file's lines into records, with the errors of single lines. */
static int read_records(struct ctx *c, struct pctx *x, const char *text, size_t len)
{
    if (len > PRODUCTS_LOAD_FILE_MAX) {
        PERR(x, 0, "larger than %u bytes", PRODUCTS_LOAD_FILE_MAX);
        return 0;
    }
    size_t bad = utf8_invalid_at((const unsigned char *)text, len);
    if (bad < len) {
        PERR(x, count_newlines(text, bad) + 1, "not valid UTF-8");
        return 0;
    }
    if (len && text[len - 1] != '\n')
        PERR(x, count_newlines(text, len) + 1, "last line has no newline");
    size_t counts[K_COUNT] = {0};
    struct rd rd;
    rd_init(&rd, text, len);
    for (size_t lineno = 1; rd_left(&rd) > 0; lineno++) {
        size_t n = rd_span_to(&rd, '\n');
        struct rd line = rd_sub(&rd, n);
        if (rd_left(&rd) > 0)
            rd_skip(&rd, 1); /* the newline */
        if (n > PRODUCTS_LOAD_LINE_MAX) {
            PERR(x, lineno, "line longer than %u bytes", PRODUCTS_LOAD_LINE_MAX);
            continue;
        }
        if (n == 0 || rd_span_to(&line, '#') == 0)
            continue;
        if (rd_span_to(&line, '\r') < n) {
            PERR(x, lineno, "carriage return (the file must use LF line ends)");
            continue;
        }
        struct view f[FIELDS_MAX + 1];
        size_t nf = 0;
        for (;;) { /* the fields: every TAB separates two, so n TABs make n + 1 fields */
            size_t k = rd_span_to(&line, '\t');
            const char *p = (const char *)rd_view(&line, k);
            if (nf < FIELDS_MAX + 1)
                f[nf] = (struct view){p ? p : "", k};
            nf++;
            if (rd_left(&line) == 0)
                break;
            rd_skip(&line, 1);
            if (rd_left(&line) == 0) { /* a TAB at the end: one more, empty field */
                if (nf < FIELDS_MAX + 1)
                    f[nf] = (struct view){"", 0};
                nf++;
                break;
            }
        }
        enum kind kind = K_COUNT;
        for (int k = 0; k < K_COUNT; k++)
            if (v_eq(f[0], kind_names[k]))
                kind = (enum kind)k;
        if (kind == K_COUNT) {
            err_repr(x, lineno, "unknown record type ", f[0], " (known: app, kms, sku, csvlk, activates, build)");
            continue;
        }
        if (nf - 1 != field_count[kind]) {
            struct msg m = {.n = 0};
            m_fmt(&m, "%s record has %zu fields, want %zu:", kind_names[kind], nf - 1, field_count[kind]);
            for (size_t i = 0; i < field_count[kind]; i++)
                m_fmt(&m, " %s", layout[kind][i]);
            add_err(c, lineno, &m);
            x->n_err++;
            continue;
        }
        bool blank = false;
        for (size_t i = 0; i < field_count[kind]; i++) {
            if (f[i + 1].n == 0) {
                PERR(x, lineno, "%s: empty field (write - for none)", layout[kind][i]);
                blank = true;
            } else if (blank_at_ends(f[i + 1])) {
                struct msg m = {.n = 0};
                m_fmt(&m, "%s: leading or trailing blanks in ", layout[kind][i]);
                m_repr(&m, f[i + 1]);
                add_err(c, lineno, &m);
                x->n_err++;
                blank = true;
            }
        }
        if (blank)
            continue;
        counts[kind]++;
        if (records_max[kind] && counts[kind] > records_max[kind]) {
            if (counts[kind] == records_max[kind] + 1)
                PERR(x, lineno, "more than %zu %s records", records_max[kind], kind_names[kind]);
            continue;
        }
        struct rec r = {.kind = kind, .line = lineno};
        memcpy(r.f, f + 1, field_count[kind] * sizeof r.f[0]);
        if (add_rec(c, &r) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------ validation */

static const char *kind_of_ns_id(size_t k)
{
    return k < K_COUNT ? kind_names[k] : "?";
}

/* claim_id: ids are unique across apps, KMS ids and SKUs. */
static int claim_id(struct ctx *c, struct pctx *x, const struct rec *r, struct view id, bool *ok)
{
    struct slot *s = map_find(&c->map, NS_ID, id.p, id.n);
    if (s) {
        struct msg m = {.n = 0};
        m_str(&m, "duplicate id ");
        m_put(&m, id.p, id.n);
        m_fmt(&m, " (already used by the %s on line %zu)", kind_of_ns_id(s->b), s->a);
        add_err(c, r->line, &m);
        x->n_err++;
        *ok = false;
        return 0;
    }
    *ok = true;
    return map_add(&c->map, NS_ID, id.p, id.n, r->line, r->kind);
}

/* claim_name: names are unique within a kind, ignoring case. */
static int claim_name(struct ctx *c, struct pctx *x, const struct rec *r, struct view name, bool *ok)
{
    struct slot *s = map_find(&c->map, NS_NAME + r->kind, name.p, name.n);
    if (s) {
        struct msg m = {.n = 0};
        m_fmt(&m, "duplicate %s name ", kind_names[r->kind]);
        m_repr(&m, name);
        m_fmt(&m, " (line %zu)", s->a);
        add_err(c, r->line, &m);
        x->n_err++;
        *ok = false;
        return 0;
    }
    *ok = true;
    return map_add(&c->map, NS_NAME + r->kind, name.p, name.n, r->line, 0);
}

/* claim_sku_word: SKU names and aliases together are unique, ignoring case (products_find_sku). */
static int claim_sku_word(struct ctx *c, struct pctx *x, const struct rec *r, struct view w, const char *what,
                          bool *ok)
{
    struct slot *s = map_find(&c->map, NS_SKU_WORD, w.p, w.n);
    if (s) {
        struct msg m = {.n = 0};
        m_fmt(&m, "duplicate SKU %s ", what);
        m_repr(&m, w);
        m_fmt(&m, " (case-insensitive; line %zu)", s->a);
        add_err(c, r->line, &m);
        x->n_err++;
        *ok = false;
        return 0;
    }
    *ok = true;
    return map_add(&c->map, NS_SKU_WORD, w.p, w.n, r->line, 0);
}

static size_t find_app_key(const struct ctx *c, struct view key)
{
    for (size_t i = 0; i < c->n_app; i++)
        if (v_eqv(c->apps[i].key, key))
            return i;
    return SIZE_MAX;
}

static size_t find_csvlk_key(const struct ctx *c, struct view key)
{
    for (size_t i = 0; i < c->n_csvlk; i++)
        if (v_eqv(c->csvlks[i].key, key))
            return i;
    return SIZE_MAX;
}

static size_t find_kms_id(const struct ctx *c, struct view id)
{
    struct slot *s = map_find(&c->map, NS_KMS_ID, id.p, id.n);
    return s ? s->a : SIZE_MAX;
}

static bool gvlk_syntax(struct view v)
{
    if (v.n != 29)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        char ch = v.p[i];
        if (i % 6 == 5 ? ch != '-' : !(is_digit(ch) || (ch >= 'A' && ch <= 'Z')))
            return false;
    }
    return true;
}

static int apps_pass(struct ctx *c, struct pctx *x)
{
    for (size_t i = 0; i < c->n_recs; i++) {
        const struct rec *r = &c->recs[i];
        if (r->kind != K_APP)
            continue;
        struct m_app a = {.line = r->line};
        bool ok = p_key(x, r, "key", &a.key);
        ok &= p_guid(x, r, "id", &a.id);
        ok &= p_int(x, r, "min_active_clients", 1, 65535, &a.min_active);
        ok &= p_key(x, r, "default_csvlk", &a.dflt);
        ok &= p_name(x, r, &a.name);
        ok &= p_int(x, r, "count_group", 0, 99, &a.group);
        ok &= p_label(x, r, "group_label", &a.label);
        if (!ok)
            continue;
        if (find_app_key(c, a.key) != SIZE_MAX) {
            err_repr(x, r->line, "duplicate app key ", a.key, "");
            continue;
        }
        bool used = false;
        for (size_t k = 0; k < c->n_app; k++)
            used |= c->apps[k].group == a.group;
        if (used) {
            PERR(x, r->line, "count_group %u used twice", (unsigned)a.group);
            continue;
        }
        bool id_ok, name_ok;
        if (claim_id(c, x, r, a.id, &id_ok) < 0)
            return -ENOMEM;
        if (!id_ok)
            continue;
        if (claim_name(c, x, r, a.name, &name_ok) < 0)
            return -ENOMEM;
        if (name_ok)
            c->apps[c->n_app++] = a;
    }
    return 0;
}

static int kms_pass(struct ctx *c, struct pctx *x)
{
    for (size_t i = 0; i < c->n_recs; i++) {
        const struct rec *r = &c->recs[i];
        if (r->kind != K_KMS)
            continue;
        struct m_kms k = {.line = r->line, .office = -1};
        bool ok = p_guid(x, r, "id", &k.id);
        ok &= p_int(x, r, "n_policy", 1, 255, &k.n);
        bool proto_ok = p_int(x, r, "protocol", 0, 99, &k.proto);
        ok &= proto_ok;
        ok &= p_flags(x, r, &k.flags);
        ok &= p_name(x, r, &k.name);
        if (proto_ok && (k.proto < 4 || k.proto > 6)) {
            PERR(x, r->line, "protocol: %u is not one of " PROTOCOLS, (unsigned)k.proto);
            ok = false;
        }
        k.app = find_app_key(c, fv(r, "app"));
        if (k.app == SIZE_MAX) {
            err_field_repr(x, r, "app", "unknown application key ", fv(r, "app"), "");
            ok = false;
        }
        if (!ok)
            continue;
        unsigned folders = k.flags & (F_OFFICE14 | F_OFFICE15 | F_OFFICE16);
        if (folders & (folders - 1)) {
            struct msg m = {.n = 0};
            m_str(&m, "flags: more than one Office folder (");
            for (int f = 0, first = 1; f < 3; f++) {
                if (folders & (F_OFFICE14 << f)) {
                    m_fmt(&m, "%s%s", first ? "" : ", ", flag_words[K_KMS][2 + f]);
                    first = 0;
                }
            }
            m_str(&m, ")");
            add_err(c, r->line, &m);
            x->n_err++;
            continue;
        }
        for (int f = 0; f < 3; f++)
            if (folders & (F_OFFICE14 << f))
                k.office = f;
        bool id_ok, name_ok;
        if (claim_id(c, x, r, k.id, &id_ok) < 0)
            return -ENOMEM;
        if (!id_ok)
            continue;
        if (claim_name(c, x, r, k.name, &name_ok) < 0)
            return -ENOMEM;
        if (!name_ok)
            continue;
        if (map_add(&c->map, NS_KMS_ID, k.id.p, k.id.n, c->n_kms, 0) < 0)
            return -ENOMEM;
        c->kms[c->n_kms++] = k;
    }
    return 0;
}

static int sku_pass(struct ctx *c, struct pctx *x)
{
    for (size_t i = 0; i < c->n_recs; i++) {
        const struct rec *r = &c->recs[i];
        if (r->kind != K_SKU)
            continue;
        struct m_sku s = {.line = r->line, .kms = SIZE_MAX};
        struct view kid;
        unsigned flags = 0;
        bool gid_ok = p_guid(x, r, "id", &s.id);
        bool kid_ok = p_guid(x, r, "kms_id", &kid);
        bool flags_ok = p_flags(x, r, &flags);
        bool name_ok = p_name(x, r, &s.name);
        if (kid_ok && (s.kms = find_kms_id(c, kid)) == SIZE_MAX) {
            struct msg m = {.n = 0};
            m_str(&m, "kms_id: ");
            m_put(&m, kid.p, kid.n);
            m_str(&m, " is not a KMS counted id of this table");
            add_err(c, r->line, &m);
            x->n_err++;
            kid_ok = false;
        }
        bool ok = true;
        s.aliases = fv(r, "aliases");
        struct view w;
        for (size_t at = 0; next_word(s.aliases, &at, &w);) {
            s.n_aliases++;
            if (!key_syntax(w)) {
                err_repr(x, r->line, "aliases: bad alias ", w, " (want 1-32 of [a-z0-9-], not starting with -)");
                ok = false;
            }
        }
        struct view g = fv(r, "gvlk");
        if (v_eq(g, "-")) {
            s.gvlk = (struct view){NULL, 0};
        } else if (!gvlk_syntax(g)) {
            err_repr(x, r->line, "gvlk: malformed key ", g,
                     " (want five groups of five [A-Z0-9] joined by -)");
            s.gvlk = g;
            ok = false;
        } else {
            struct slot *seen = map_find(&c->map, NS_GVLK, g.p, g.n);
            s.gvlk = g;
            if (seen) {
                struct msg m = {.n = 0};
                m_str(&m, "gvlk: ");
                m_put(&m, g.p, g.n);
                m_fmt(&m, " is already the key of the SKU on line %zu", seen->a);
                add_err(c, r->line, &m);
                x->n_err++;
                ok = false;
            } else if (map_add(&c->map, NS_GVLK, g.p, g.n, r->line, 0) < 0) {
                return -ENOMEM;
            }
        }
        if (flags_ok && (flags & F_GENGVLK) && !s.gvlk.p) {
            PERR(x, r->line, "flags: gengvlk given but the SKU has no GVLK");
            ok = false;
        }
        if (!ok || !gid_ok || !kid_ok || !flags_ok || !name_ok)
            continue;
        s.generated = flags & F_GENGVLK;
        bool claimed;
        if (claim_id(c, x, r, s.id, &claimed) < 0)
            return -ENOMEM;
        if (!claimed)
            continue;
        if (claim_name(c, x, r, s.name, &claimed) < 0)
            return -ENOMEM;
        if (!claimed)
            continue;
        if (claim_sku_word(c, x, r, s.name, "name", &claimed) < 0)
            return -ENOMEM;
        if (!claimed)
            continue;
        bool all = true; /* every alias is claimed, also after one that is not */
        for (size_t at = 0; next_word(s.aliases, &at, &w);) {
            if (claim_sku_word(c, x, r, w, "alias", &claimed) < 0)
                return -ENOMEM;
            all &= claimed;
        }
        if (all)
            c->skus[c->n_sku++] = s;
    }
    return 0;
}

static int csvlk_pass(struct ctx *c, struct pctx *x)
{
    for (size_t i = 0; i < c->n_recs; i++) {
        const struct rec *r = &c->recs[i];
        if (r->kind != K_CSVLK)
            continue;
        struct m_csvlk v = {.line = r->line};
        unsigned flags = 0;
        bool key_ok = p_key(x, r, "key", &v.key);
        bool rel_ok = p_date(x, r, "released", &v.released);
        bool flags_ok = p_flags(x, r, &flags);
        bool name_ok = p_name(x, r, &v.name);
        struct view g = fv(r, "group"), lo = fv(r, "key_min"), hi = fv(r, "key_max");
        bool ok = true;
        if (v_eq(g, "-") && v_eq(lo, "-") && v_eq(hi, "-")) {
            v.has_epid = false;
        } else if (v_eq(g, "-") || v_eq(lo, "-") || v_eq(hi, "-")) {
            PERR(x, r->line, "group, key_min and key_max must be given together or all be -");
            ok = false;
        } else {
            v.has_epid = true;
            bool a = p_int(x, r, "group", 0, 99999, &v.group);
            bool b = p_int(x, r, "key_min", 0, 999999999, &v.kmin);
            bool d = p_int(x, r, "key_max", 0, 999999999, &v.kmax);
            if (!a || !b || !d) {
                ok = false;
            } else if (v.kmin > v.kmax) {
                PERR(x, r->line, "key_min %u is above key_max %u", (unsigned)v.kmin, (unsigned)v.kmax);
                ok = false;
            }
        }
        if (!ok || !key_ok || !rel_ok || !flags_ok || !name_ok)
            continue;
        v.lab = flags & F_LAB;
        v.preview = flags & F_CPREVIEW;
        if (find_csvlk_key(c, v.key) != SIZE_MAX) {
            err_repr(x, r->line, "duplicate CSVLK key ", v.key, "");
            continue;
        }
        bool claimed;
        if (claim_name(c, x, r, v.name, &claimed) < 0)
            return -ENOMEM;
        if (claimed)
            c->csvlks[c->n_csvlk++] = v;
    }
    return 0;
}

static int activates_pass(struct ctx *c, struct pctx *x)
{
    for (size_t i = 0; i < c->n_recs; i++) {
        const struct rec *r = &c->recs[i];
        if (r->kind != K_ACTIVATES)
            continue;
        size_t ci = find_csvlk_key(c, fv(r, "csvlk_key"));
        struct view kid;
        bool kid_ok = p_guid(x, r, "kms_id", &kid);
        if (ci == SIZE_MAX)
            err_field_repr(x, r, "csvlk_key", "unknown CSVLK ", fv(r, "csvlk_key"), "");
        size_t ki = SIZE_MAX;
        if (kid_ok && (ki = find_kms_id(c, kid)) == SIZE_MAX) {
            struct msg m = {.n = 0};
            m_str(&m, "kms_id: ");
            m_put(&m, kid.p, kid.n);
            m_str(&m, " is not a KMS counted id of this table");
            add_err(c, r->line, &m);
            x->n_err++;
        }
        if (ci == SIZE_MAX || ki == SIZE_MAX)
            continue;
        struct pair *p = &c->pairs[c->n_pairs];
        *p = (struct pair){(uint32_t)ci, (uint32_t)ki};
        if (map_find(&c->map, NS_PAIR, (const char *)p, sizeof *p)) {
            struct msg m = {.n = 0};
            m_str(&m, "CSVLK ");
            m_repr(&m, c->csvlks[ci].key);
            m_str(&m, " already activates ");
            m_put(&m, kid.p, kid.n);
            add_err(c, r->line, &m);
            x->n_err++;
            continue;
        }
        if (map_add(&c->map, NS_PAIR, (const char *)p, sizeof *p, 0, 0) < 0)
            return -ENOMEM;
        c->n_pairs++;
        c->csvlks[ci].n_activates++;
        c->kms[ki].n_csvlks++;
    }
    return 0;
}

static int build_pass(struct ctx *c, struct pctx *x)
{
    for (size_t i = 0; i < c->n_recs; i++) {
        const struct rec *r = &c->recs[i];
        if (r->kind != K_BUILD)
            continue;
        struct m_build b = {.line = r->line};
        bool ok = p_int(x, r, "number", 1, 99999, &b.number);
        ok &= p_int(x, r, "platform", 0, 99999, &b.platform);
        ok &= p_date(x, r, "released", &b.released);
        ok &= p_flags(x, r, &b.flags);
        ok &= p_name(x, r, &b.name);
        if (!ok)
            continue;
        if ((b.flags & F_EPID) && (!(b.flags & F_SERVER) || b.number < 1000)) {
            PERR(x, r->line, "flags: an epid build must be a server build numbered 1000 or more");
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < c->n_build; k++)
            dup |= c->builds[k].number == b.number;
        if (dup) {
            PERR(x, r->line, "duplicate build number %u", (unsigned)b.number);
            continue;
        }
        bool claimed;
        if (claim_name(c, x, r, b.name, &claimed) < 0)
            return -ENOMEM;
        if (claimed)
            c->builds[c->n_build++] = b;
    }
    return 0;
}

/* The whole-table rules, after every record: in the script's order. */
static void table_rules(struct ctx *c, struct pctx *x)
{
    for (size_t i = 0; i < c->n_csvlk; i++)
        if (c->csvlks[i].n_activates == 0)
            err_repr(x, c->csvlks[i].line, "CSVLK ", c->csvlks[i].key, " activates nothing (add activates records)");
    for (size_t i = 0; i < c->n_app; i++) {
        const struct m_app *a = &c->apps[i];
        size_t d = find_csvlk_key(c, a->dflt);
        if (d == SIZE_MAX)
            err_repr(x, a->line, "default_csvlk: unknown CSVLK ", a->dflt, "");
        else if (!c->csvlks[d].has_epid)
            err_repr(x, a->line, "default_csvlk: CSVLK ", a->dflt, " has no ePID data");
        bool any = false, with = false, without = false;
        for (size_t k = 0; k < c->n_kms; k++) {
            if (c->kms[k].app != i)
                continue;
            any = true;
            with |= c->kms[k].office >= 0;
            without |= c->kms[k].office < 0;
        }
        if (!any)
            err_repr(x, a->line, "application ", a->key, " has no KMS counted id");
        if (with && without)
            err_repr(x, a->line, "application ", a->key, ": either all its KMS ids name an Office folder or none");
    }
    uint32_t max_group = 0;
    for (size_t i = 0; i < c->n_app; i++)
        max_group = c->apps[i].group > max_group ? c->apps[i].group : max_group;
    if (c->n_app && max_group >= c->n_app) /* the groups are distinct: they number 0 .. n-1 unless one is >= n */
        PERR(x, c->apps[c->n_app - 1].line, "count_group: the applications must number 0 .. %zu", c->n_app - 1);
    static const enum kind needed[] = {K_APP, K_KMS, K_SKU, K_CSVLK, K_BUILD};
    bool have[K_COUNT] = {false};
    for (size_t i = 0; i < c->n_recs; i++)
        have[c->recs[i].kind] = true;
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (!have[needed[i]])
            PERR(x, 0, "no %s records", kind_names[needed[i]]);
    bool epid = false;
    for (size_t i = 0; i < c->n_build; i++)
        epid |= (c->builds[i].flags & F_EPID) != 0;
    if (have[K_BUILD] && !epid)
        PERR(x, 0, "no build has the epid flag");
}

/* The ePID CSVLK suggested for each KMS id: the newest CSVLK with ePID data that activates it, released ones (neither
 * lab nor preview) first, ties to the first in table order; failing that the application's default. */
static void epid_suggestions(struct ctx *c)
{
    for (size_t k = 0; k < c->n_kms; k++) {
        size_t best = SIZE_MAX;
        for (size_t ci = 0; ci < c->n_csvlk; ci++) {
            const struct m_csvlk *v = &c->csvlks[ci];
            struct pair key = {(uint32_t)ci, (uint32_t)k};
            if (!v->has_epid || !map_find(&c->map, NS_PAIR, (const char *)&key, sizeof key))
                continue;
            if (best == SIZE_MAX) {
                best = ci;
                continue;
            }
            const struct m_csvlk *b = &c->csvlks[best];
            bool rel_v = !(v->lab || v->preview), rel_b = !(b->lab || b->preview);
            if (rel_v > rel_b || (rel_v == rel_b && v->released > b->released))
                best = ci;
        }
        c->kms[k].epid_csvlk = best != SIZE_MAX ? best : find_csvlk_key(c, c->apps[c->kms[k].app].dflt);
    }
}

/* ------------------------------------------------------------------------------------------------ the table */

struct sort_ent {
    struct guid id;
    uint16_t pos;
};

static int by_wire(const void *a, const void *b)
{
    return memcmp(((const struct sort_ent *)a)->id.b, ((const struct sort_ent *)b)->id.b, 16);
}

static struct guid guid_of(struct view v)
{
    char text[GUID_TEXT_LEN + 1];
    struct guid g = {{0}};
    memcpy(text, v.p, GUID_TEXT_LEN); /* checked: exactly GUID_TEXT_LEN lower-case characters */
    text[GUID_TEXT_LEN] = '\0';
    (void)guid_parse(&g, text);
    return g;
}

/* The positions of n ids (at base, stride size, each entry starting with its struct guid) sorted by wire bytes. */
static uint16_t *make_index(struct loaded *l, const void *base, size_t size, size_t n)
{
    uint16_t *idx = arena_alloc(l, (n ? n : 1) * sizeof *idx);
    struct sort_ent *e = malloc((n ? n : 1) * sizeof *e);
    if (!idx || !e) {
        free(e);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        e[i].id = *(const struct guid *)(const void *)((const char *)base + i * size);
        e[i].pos = (uint16_t)i;
    }
    qsort(e, n, sizeof *e, by_wire);
    for (size_t i = 0; i < n; i++)
        idx[i] = e[i].pos;
    free(e);
    return idx;
}

static int build_table(struct ctx *c, struct loaded *l, const void *text, size_t len)
{
    struct products_tables *t = &l->t;
    struct products_app *apps = arena_alloc(l, (c->n_app + 1) * sizeof *apps);
    struct products_kms *kms = arena_alloc(l, (c->n_kms + 1) * sizeof *kms);
    struct products_sku *skus = arena_alloc(l, (c->n_sku + 1) * sizeof *skus);
    struct products_csvlk *csvlks = arena_alloc(l, (c->n_csvlk + 1) * sizeof *csvlks);
    struct products_build *builds = arena_alloc(l, (c->n_build + 1) * sizeof *builds);
    char *source = arena_str(l, (struct view){c->name, strlen(c->name)});
    if (!apps || !kms || !skus || !csvlks || !builds || !source)
        return -ENOMEM;
    for (size_t i = 0; i < c->n_csvlk; i++) {
        const struct m_csvlk *v = &c->csvlks[i];
        struct products_csvlk *o = &csvlks[i];
        const struct products_kms **act = arena_alloc(l, v->n_activates * sizeof *act);
        if (!(o->key = arena_str(l, v->key)) || !(o->name = arena_str(l, v->name)) || !act)
            return -ENOMEM;
        o->has_epid = v->has_epid;
        o->group = v->group;
        o->key_min = v->kmin;
        o->key_max = v->kmax;
        o->released = v->released;
        o->lab = v->lab;
        o->preview = v->preview;
        for (size_t p = 0; p < c->n_pairs; p++) /* in the order of the activates records */
            if (c->pairs[p].csvlk == i)
                act[o->activate_count++] = &kms[c->pairs[p].kms];
        o->activates = act;
    }
    for (size_t i = 0; i < c->n_app; i++) {
        const struct m_app *a = &c->apps[i];
        struct products_app *o = &apps[i];
        o->id = guid_of(a->id);
        if (!(o->key = arena_str(l, a->key)) || !(o->name = arena_str(l, a->name)) ||
            !(o->group_label = arena_str(l, a->label)))
            return -ENOMEM;
        o->min_active_clients = a->min_active;
        o->default_csvlk = &csvlks[find_csvlk_key(c, a->dflt)];
        o->count_group = a->group;
    }
    for (size_t i = 0; i < c->n_kms; i++) {
        const struct m_kms *k = &c->kms[i];
        struct products_kms *o = &kms[i];
        o->id = guid_of(k->id);
        if (!(o->name = arena_str(l, k->name)))
            return -ENOMEM;
        o->app = &apps[k->app];
        o->n_policy = k->n;
        o->protocol = k->proto;
        o->retail = k->flags & F_RETAIL;
        o->preview = k->flags & F_PREVIEW;
        o->office_folder = k->office >= 0 ? office_folders[k->office] : NULL;
        if (k->n_csvlks) { /* in CSVLK table order, whatever order the activates records came in */
            const struct products_csvlk **cs = arena_alloc(l, k->n_csvlks * sizeof *cs);
            if (!cs)
                return -ENOMEM;
            size_t n = 0;
            for (size_t ci = 0; ci < c->n_csvlk; ci++) {
                struct pair key = {(uint32_t)ci, (uint32_t)i};
                if (map_find(&c->map, NS_PAIR, (const char *)&key, sizeof key))
                    cs[n++] = &csvlks[ci];
            }
            o->csvlks = cs;
            o->csvlk_count = n;
        }
        o->epid_csvlk = &csvlks[k->epid_csvlk];
    }
    for (size_t i = 0; i < c->n_sku; i++) {
        const struct m_sku *s = &c->skus[i];
        struct products_sku *o = &skus[i];
        o->id = guid_of(s->id);
        const char **al = arena_alloc(l, s->n_aliases * sizeof *al);
        if (!al || !(o->name = arena_str(l, s->name)))
            return -ENOMEM;
        struct view w;
        for (size_t at = 0; next_word(s->aliases, &at, &w);)
            if (!(al[o->alias_count++] = arena_str(l, w)))
                return -ENOMEM;
        o->aliases = al;
        o->alias = al[0];
        if (s->gvlk.p && !(o->gvlk = arena_str(l, s->gvlk)))
            return -ENOMEM;
        o->gvlk_generated = s->generated;
        o->kms = &kms[s->kms];
    }
    for (size_t i = 0; i < c->n_build; i++) {
        const struct m_build *b = &c->builds[i];
        struct products_build *o = &builds[i];
        if (!(o->name = arena_str(l, b->name)))
            return -ENOMEM;
        o->build = b->number;
        o->platform = b->platform;
        o->released = b->released;
        o->ndr64 = b->flags & F_NDR64;
        o->server = b->flags & F_SERVER;
        o->epid = b->flags & F_EPID;
    }
    t->apps = apps;
    t->app_count = c->n_app;
    t->kms = kms;
    t->kms_count = c->n_kms;
    t->skus = skus;
    t->sku_count = c->n_sku;
    t->csvlks = csvlks;
    t->csvlk_count = c->n_csvlk;
    t->builds = builds;
    t->build_count = c->n_build;
    t->app_by_id = make_index(l, apps, sizeof *apps, c->n_app);
    t->kms_by_id = make_index(l, kms, sizeof *kms, c->n_kms);
    t->sku_by_id = make_index(l, skus, sizeof *skus, c->n_sku);
    if (!t->app_by_id || !t->kms_by_id || !t->sku_by_id)
        return -ENOMEM;
    t->source = source;
    kms_sha256(text, len, l->t.sha256);
    return 0;
}

/* ------------------------------------------------------------------------------------------------ entry */

static int model_arrays(struct ctx *c)
{
    size_t n[K_COUNT] = {0};
    for (size_t i = 0; i < c->n_recs; i++)
        n[c->recs[i].kind]++;
    c->apps = calloc(n[K_APP] + 1, sizeof *c->apps);
    c->kms = calloc(n[K_KMS] + 1, sizeof *c->kms);
    c->skus = calloc(n[K_SKU] + 1, sizeof *c->skus);
    c->csvlks = calloc(n[K_CSVLK] + 1, sizeof *c->csvlks);
    c->builds = calloc(n[K_BUILD] + 1, sizeof *c->builds);
    c->pairs = calloc(n[K_ACTIVATES] + 1, sizeof *c->pairs);
    return c->apps && c->kms && c->skus && c->csvlks && c->builds && c->pairs ? 0 : -ENOMEM;
}

static void ctx_free(struct ctx *c)
{
    free(c->recs);
    free(c->map.s);
    free(c->apps);
    free(c->kms);
    free(c->skus);
    free(c->csvlks);
    free(c->builds);
    free(c->pairs);
}

int products_load(const char *name, const void *text, size_t len, const struct products_tables **out,
                  struct products_load_errors *errs)
{
    *out = NULL;
    if (errs)
        memset(errs, 0, sizeof *errs);
    struct ctx c = {.name = name, .errs = errs};
    struct pctx x = {.c = &c};
    int rc = read_records(&c, &x, text ? text : "", text ? len : 0);
    if (rc == 0 && x.n_err == 0)
        rc = model_arrays(&c);
    if (rc == 0 && x.n_err == 0) {
        /* gen_products.py's build_model(): one pass per kind, in its order, then the whole-table rules */
        int (*const passes[])(struct ctx *, struct pctx *) = {apps_pass,      kms_pass,   sku_pass,
                                                               csvlk_pass,     activates_pass, build_pass};
        for (size_t i = 0; rc == 0 && i < sizeof passes / sizeof passes[0]; i++)
            rc = passes[i](&c, &x);
        if (rc == 0)
            table_rules(&c, &x);
    }
    if (rc == 0 && x.n_err == 0) {
        epid_suggestions(&c);
        struct loaded *l = calloc(1, sizeof *l);
        rc = l ? build_table(&c, l, text, len) : -ENOMEM;
        if (rc == 0)
            *out = &l->t;
        else if (l)
            products_load_free(&l->t);
    }
    ctx_free(&c);
    if (rc < 0)
        return rc;
    return x.n_err ? KMS_EINVAL : 0;
}
