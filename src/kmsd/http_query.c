#include "http_query.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "num.h"
#include "product_names.h"
#include "products.h"
#include "timeutil.h"

#define SINCE_DAYS_MAX 36500u

static int bad(struct httpq_error *e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct httpq_error *e, const char *param, const char *fmt, ...)
{
    snprintf(e->param, sizeof e->param, "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

int httpq_decode(const char *src, size_t n, bool query, char *out, size_t cap)
{
    struct rd r;
    rd_init(&r, src, n);
    size_t o = 0;
    if (cap == 0)
        return -1;
    while (rd_left(&r) > 0) {
        uint8_t c = rd_u8(&r);
        if (c == '%') {
            if (rd_left(&r) < 2)
                return -1;
            int hi = buf_hexval((char)rd_u8(&r)), lo = buf_hexval((char)rd_u8(&r));
            if (hi < 0 || lo < 0)
                return -1;
            c = (uint8_t)(hi << 4 | lo);
            if (c == 0)
                return -1;
        } else if (c == '+' && query) {
            c = ' ';
        } else if (c == 0) {
            return -1;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (int)o;
}

/* Adds one "key[=value]" pair (raw, n bytes). */
static int add_pair(struct httpq_req *r, const char *p, size_t n, struct httpq_error *e)
{
    const char *eq = memchr(p, '=', n);
    size_t kn = eq ? (size_t)(eq - p) : n;
    struct httpq_param prm;
    if (kn == 0)
        return bad(e, "query", "a parameter without a name");
    if (httpq_decode(p, kn, true, prm.key, sizeof prm.key) < 0)
        return bad(e, "query", "a parameter name is longer than %d bytes or badly percent-encoded", HTTPQ_KEY_MAX);
    prm.value[0] = '\0';
    if (eq && httpq_decode(eq + 1, n - kn - 1, true, prm.value, sizeof prm.value) < 0)
        return bad(e, prm.key, "the value is longer than %d bytes or badly percent-encoded", HTTPQ_VALUE_MAX);
    for (size_t i = 0; i < r->n_params; i++)
        if (strcmp(r->params[i].key, prm.key) == 0)
            return bad(e, prm.key, "given more than once");
    if (r->n_params >= HTTPQ_PARAMS_MAX)
        return bad(e, "query", "more than %d parameters", HTTPQ_PARAMS_MAX);
    r->params[r->n_params++] = prm;
    return 0;
}

int httpq_parse_target(const char *uri, size_t n, struct httpq_req *r, struct httpq_error *e)
{
    memset(r, 0, sizeof *r);
    memset(e, 0, sizeof *e);
    if (n > HTTPQ_URI_MAX)
        return bad(e, "path", "the request target is longer than %d bytes", HTTPQ_URI_MAX);
    const char *q = memchr(uri, '?', n);
    size_t pn = q ? (size_t)(q - uri) : n;
    if (pn == 0 || uri[0] != '/')
        return bad(e, "path", "the path must start with /");
    if (httpq_decode(uri, pn, false, r->path, sizeof r->path) < 0)
        return bad(e, "path", "the path is longer than %d bytes or badly percent-encoded", HTTPQ_PATH_MAX);
    if (!q)
        return 0;
    const char *p = q + 1, *end = uri + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t len = amp ? (size_t)(amp - p) : (size_t)(end - p);
        if (len > 0 && add_pair(r, p, len, e) < 0)
            return -1;
        p += len + (amp ? 1 : 0);
    }
    return 0;
}

int httpq_route(const struct httpq_req *r, struct guid *cmid, struct httpq_error *e)
{
    static const struct {
        const char *path;
        enum httpq_route route;
    } fixed[] = {
        {"/", HTTPQ_PAGE},
        {"/index.html", HTTPQ_PAGE},
        {"/api/v1/clients", HTTPQ_CLIENTS},
        {"/api/v1/products", HTTPQ_PRODUCTS},
        {"/api/v1/stats", HTTPQ_STATS},
        {"/api/v1/host", HTTPQ_HOST},
        {"/metrics", HTTPQ_METRICS},
        {"/healthz", HTTPQ_HEALTHZ},
        {"/readyz", HTTPQ_READYZ},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(r->path, fixed[i].path) == 0)
            return (int)fixed[i].route;
    static const char prefix[] = "/api/v1/clients/";
    if (strncmp(r->path, prefix, sizeof prefix - 1) == 0) {
        const char *id = r->path + sizeof prefix - 1;
        if (strlen(id) > GUID_TEXT_LEN + 2 || guid_parse(cmid, id) != 0)
            return bad(e, "cmid", "not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
        return HTTPQ_CLIENT;
    }
    return HTTPQ_NOT_FOUND;
}

int httpq_only(const struct httpq_req *r, const char *const *allowed, struct httpq_error *e)
{
    for (size_t i = 0; i < r->n_params; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, r->params[i].key) == 0;
        if (!ok)
            return bad(e, r->params[i].key, "unknown parameter");
    }
    return 0;
}

const char *httpq_get(const struct httpq_req *r, const char *key)
{
    for (size_t i = 0; i < r->n_params; i++)
        if (strcmp(r->params[i].key, key) == 0)
            return r->params[i].value;
    return NULL;
}

int httpq_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 19 || strspn(s, "0123456789") != n)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int text_param(const struct httpq_req *r, const char *key, const char **out, struct httpq_error *e)
{
    const char *v = httpq_get(r, key);
    *out = NULL;
    if (!v || !v[0])
        return 0;
    if (strlen(v) > HTTPQ_TEXT_MAX)
        return bad(e, key, "longer than %d bytes", HTTPQ_TEXT_MAX);
    *out = v;
    return 0;
}

static int application_param(const struct httpq_req *r, struct store_query *sq, struct httpq_error *e)
{
    const char *v = httpq_get(r, "application");
    if (!v || !v[0])
        return 0;
    const struct products_tables *t = products_current(); /* one table: a reload may swap it meanwhile */
    for (size_t i = 0; i < t->app_count; i++) {
        const struct products_app *a = &t->apps[i];
        if (strcmp(a->key, v) == 0) {
            sq->has_app = true;
            sq->app_id = a->id;
            return 0;
        }
    }
    if (strlen(v) <= GUID_TEXT_LEN + 2 && guid_parse(&sq->app_id, v) == 0) {
        sq->has_app = true;
        return 0;
    }
    char keys[160] = "";
    for (size_t i = 0; i < t->app_count; i++) {
        size_t k = strlen(keys);
        snprintf(keys + k, sizeof keys - k, "%s%s", i ? ", " : "", t->apps[i].key);
    }
    return bad(e, "application", "not an application (expected one of %s, or an application GUID)", keys);
}

static int since_param(const struct httpq_req *r, int64_t now, struct store_query *sq, struct httpq_error *e)
{
    const char *v = httpq_get(r, "since");
    if (!v || !v[0])
        return 0;
    uint64_t x;
    size_t n = strlen(v);
    if (n >= 2 && v[n - 1] == 'd') {
        char num[24];
        if (n - 1 >= sizeof num)
            return bad(e, "since", "expected Unix seconds or Nd (N days ago, 1 to %u)", SINCE_DAYS_MAX);
        memcpy(num, v, n - 1);
        num[n - 1] = '\0';
        if (httpq_uint(num, 1, SINCE_DAYS_MAX, &x) < 0)
            return bad(e, "since", "expected Unix seconds or Nd (N days ago, 1 to %u)", SINCE_DAYS_MAX);
        sq->since = now - (int64_t)x * SECONDS_PER_DAY;
        return 0;
    }
    /* Unix seconds up to the year 9999 */
    if (httpq_uint(v, 0, 253402300799ull, &x) < 0)
        return bad(e, "since", "expected Unix seconds (0 to 253402300799) or Nd (N days ago, 1 to %u)",
                   SINCE_DAYS_MAX);
    sq->since = (int64_t)x;
    return 0;
}

static const char *const sort_keys[STORE_SORT_COUNT] = {
    [STORE_SORT_LAST_SEEN] = "last_seen",     [STORE_SORT_FIRST_SEEN] = "first_seen",
    [STORE_SORT_WORKSTATION] = "workstation", [STORE_SORT_PRODUCT] = "product",
    [STORE_SORT_REQUESTS] = "requests",
};

static int sort_param(const struct httpq_req *r, struct store_query *sq, struct httpq_error *e)
{
    const char *const *keys = sort_keys;
    const char *v = httpq_get(r, "sort");
    sq->sort = STORE_SORT_LAST_SEEN;
    sq->descending = true;
    if (!v || !v[0])
        return 0;
    bool desc = v[0] == '-';
    const char *k = desc ? v + 1 : v;
    for (size_t i = 0; i < STORE_SORT_COUNT; i++) {
        if (strcmp(keys[i], k) == 0) {
            sq->sort = (enum store_sort)i;
            sq->descending = desc;
            return 0;
        }
    }
    return bad(e, "sort",
               "not a sort key (expected last_seen, first_seen, workstation, product or requests, '-' first for "
               "descending)");
}

int httpq_cursor_format(const struct store_query *q, const struct store_cursor *c, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    int n = snprintf(out, cap, "%s%s.", q->descending ? "-" : "", sort_keys[q->sort]);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    size_t len = (size_t)n;
    if (store_sort_is_text(q->sort)) {
        for (size_t i = 0; c->text[i] && i < sizeof c->text; i++) {
            if (len + 2 >= cap)
                return -1;
            out[len++] = hex[(uint8_t)c->text[i] >> 4];
            out[len++] = hex[(uint8_t)c->text[i] & 15];
        }
        out[len] = '\0';
        n = snprintf(out + len, cap - len, ".%lld", (long long)c->rowid);
    } else {
        n = snprintf(out + len, cap - len, "%lld.%lld", (long long)c->num, (long long)c->rowid);
    }
    return n < 0 || (size_t)n >= cap - len ? -1 : 0;
}

/* A signed decimal int64 of [start, end) (digits, an optional leading '-'). 0 or -1. */
static int parse_i64(const char *start, const char *end, int64_t *out)
{
    char buf[24];
    bool neg = start < end && *start == '-';
    start += neg;
    size_t n = (size_t)(end - start);
    uint64_t x;
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, start, n);
    buf[n] = '\0';
    if (httpq_uint(buf, 0, INT64_MAX, &x) < 0)
        return -1;
    *out = neg ? -(int64_t)x : (int64_t)x;
    return 0;
}

/* cursor: what httpq_cursor_format wrote for the last row of the previous page, under the same sort. */
static int cursor_param(const struct httpq_req *r, struct store_query *sq, struct httpq_error *e)
{
    const char *v = httpq_get(r, "cursor");
    if (!v)
        return 0;
    char want[32];
    snprintf(want, sizeof want, "%s%s.", sq->descending ? "-" : "", sort_keys[sq->sort]);
    size_t wl = strlen(want);
    if (strncmp(v, want, wl) != 0)
        return bad(e, "cursor", "not a cursor of this sort order (%.*s): pass the next_cursor of the same query",
                   (int)(wl - 1), want);
    const char *p = v + wl, *dot = strrchr(p, '.');
    if (!dot || parse_i64(dot + 1, dot + strlen(dot), &sq->cursor.rowid) < 0)
        return bad(e, "cursor", "malformed cursor: pass the next_cursor of the same query");
    if (store_sort_is_text(sq->sort)) {
        size_t hl = (size_t)(dot - p), n = hl / 2;
        /* the key's bytes in hex (num_hex, the project's one hex parser), none of them NUL */
        if (hl % 2 || n >= sizeof sq->cursor.text || num_hex(p, (uint8_t *)sq->cursor.text, n) != 0 ||
            memchr(sq->cursor.text, '\0', n))
            return bad(e, "cursor", "malformed cursor: pass the next_cursor of the same query");
        sq->cursor.text[n] = '\0';
    } else if (parse_i64(p, dot, &sq->cursor.num) < 0) {
        return bad(e, "cursor", "malformed cursor: pass the next_cursor of the same query");
    }
    sq->has_cursor = true;
    return 0;
}

int httpq_clients(const struct httpq_req *r, uint32_t max_limit, int64_t now, struct httpq_clients *out,
                  struct httpq_error *e)
{
    static const char *const allowed[] = {"limit", "offset", "product", "application", "q", "since", "sort",
                                          "cursor", "host", NULL};
    memset(out, 0, sizeof *out);
    memset(e, 0, sizeof *e);
    struct store_query *sq = &out->sq;
    if (httpq_only(r, allowed, e) < 0)
        return -1;
    if (max_limit == 0)
        max_limit = 1;
    sq->limit = max_limit < HTTPQ_DEFAULT_LIMIT ? max_limit : HTTPQ_DEFAULT_LIMIT;
    uint64_t x;
    const char *v = httpq_get(r, "limit");
    if (v) {
        if (httpq_uint(v, 1, max_limit, &x) < 0)
            return bad(e, "limit", "expected 1 to %lu (the page size cap, --http-max-page)", (unsigned long)max_limit);
        sq->limit = (uint32_t)x;
    }
    v = httpq_get(r, "offset");
    if (v) {
        if (httpq_uint(v, 0, HTTPQ_OFFSET_MAX, &x) < 0)
            return bad(e, "offset", "expected 0 to %u", HTTPQ_OFFSET_MAX);
        sq->offset = (uint32_t)x;
    }
    if (text_param(r, "product", &sq->product, e) < 0 || text_param(r, "q", &sq->q, e) < 0 ||
        text_param(r, "host", &sq->host, e) < 0)
        return -1;
    if (sq->product) {
        const char *text = sq->product;
        sq->product = product_names_filter(text, &sq->product_exact);
        if (!sq->product) {
            char msg[sizeof e->message];
            return bad(e, "product", "%s", product_names_unknown(msg, sizeof msg, text, NULL));
        }
    }
    if (application_param(r, sq, e) < 0 || since_param(r, now, sq, e) < 0 || sort_param(r, sq, e) < 0 ||
        cursor_param(r, sq, e) < 0)
        return -1;
    return 0;
}
