/* store_pg_read — client rows, pages, listings, daily counts and groups on PostgreSQL; see store_pg.h. */
#include "store_pg_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pq_fns.h"

#define PG_CLIENT_COLUMNS                                                                                             \
    "cmid, app_id, sku_id, kms_id, workstation, product, last_address, last_epid, license_status, grace_time,"         \
    " is_vm, version_major, version_minor, first_seen, last_seen, request_count, id, last_host"
#define PG_LIST_FETCH 500 /* rows a listing reads at a time through its cursor (a listing may be the whole registry) */
#define PG_TEXT_(x) #x
#define PG_TEXT(x) PG_TEXT_(x)

static void row_client(const PGresult *r, int i, struct store_client *c)
{
    memset(c, 0, sizeof *c);
    pg_guid(r, i, 0, &c->cmid);
    pg_guid(r, i, 1, &c->app_id);
    pg_guid(r, i, 2, &c->sku_id);
    pg_guid(r, i, 3, &c->kms_id);
    pg_text(r, i, 4, c->workstation, sizeof c->workstation);
    pg_text(r, i, 5, c->product, sizeof c->product);
    pg_text(r, i, 6, c->address, sizeof c->address);
    pg_text(r, i, 7, c->epid, sizeof c->epid);
    c->license_status = (uint32_t)pg_int(r, i, 8);
    c->grace_time = (uint32_t)pg_int(r, i, 9);
    c->is_vm = (uint32_t)pg_int(r, i, 10);
    c->version_major = (uint32_t)pg_int(r, i, 11);
    c->version_minor = (uint32_t)pg_int(r, i, 12);
    c->first_seen = pg_int(r, i, 13);
    c->last_seen = pg_int(r, i, 14);
    c->request_count = (uint64_t)pg_int(r, i, 15);
    c->rowid = pg_int(r, i, 16);
    pg_text(r, i, 17, c->host, sizeof c->host);
}

/* Hands r's rows to fn in their order (backwards: last first), until fn returns non-zero (*stopped); clears r. */
static void each_row(PGresult *r, int (*fn)(void *ctx, const struct store_client *c), void *ctx, bool *stopped,
                     bool backwards)
{
    struct store_client c;
    int n = pq_fn.PQntuples(r);
    for (int k = 0; k < n && !*stopped; k++) {
        row_client(r, backwards ? n - 1 - k : k, &c);
        *stopped = fn(ctx, &c) != 0;
    }
    pq_fn.PQclear(r);
}

static int run_rows(struct store *s, const char *sql, const struct pg_params *p,
                    int (*fn)(void *ctx, const struct store_client *c), void *ctx, const char *what, bool backwards)
{
    PGresult *r;
    int ret = pg_ready(s);
    if (!ret)
        ret = pg_run(s, sql, p, &r, what);
    if (ret)
        return ret;
    bool stopped = false;
    each_row(r, fn, ctx, &stopped, backwards);
    return 0;
}

int store_pg_get_client(struct store *s, const struct guid *cmid, int (*fn)(void *ctx, const struct store_client *c),
                        void *ctx)
{
    struct pg_params p = {0};
    pg_p_guid(&p, cmid);
    return run_rows(s, "SELECT " PG_CLIENT_COLUMNS " FROM clients WHERE cmid = $1 ORDER BY last_seen DESC, app_id", &p,
                    fn, ctx, "cannot read the client", false);
}

/* "$n" of the next parameter. */
static const char *next_param(struct pg_params *p, char buf[8])
{
    snprintf(buf, 8, "$%u", (unsigned)(p->n + 1) % 100u); /* PG_PARAMS_MAX at most */
    return buf;
}

/* Appends to out (cap bytes) the condition of a product filter and adds its parameter. */
static void product_term(struct pg_params *p, const char *product, bool exact, char *out, size_t cap)
{
    char k[8];
    size_t len = strlen(out);
    snprintf(out + len, cap - len,
             exact ? " AND product = (%s COLLATE \"C\")" : " AND strpos(lower(product), lower(%s COLLATE \"C\")) > 0",
             next_param(p, k));
    pg_p_text(p, product, strlen(product) + 1);
}

int store_pg_list(struct store *s, const struct store_filter *f, int (*fn)(void *ctx, const struct store_client *c),
                  void *ctx)
{
    struct pg_params p = {0};
    char where[256] = "", sql[768], k[8];
    if (f && f->product)
        product_term(&p, f->product, f->product_exact, where, sizeof where);
    if (f && f->since) {
        size_t len = strlen(where);
        snprintf(where + len, sizeof where - len, " AND last_seen >= %s", next_param(&p, k));
        pg_p_int(&p, f->since);
    }
    if (f && f->host) {
        size_t len = strlen(where);
        snprintf(where + len, sizeof where - len, " AND last_host = (%s COLLATE \"C\")", next_param(&p, k));
        pg_p_text(&p, f->host, strlen(f->host) + 1);
    }
    snprintf(sql, sizeof sql,
             "DECLARE kmsd_list NO SCROLL CURSOR FOR SELECT " PG_CLIENT_COLUMNS " FROM clients WHERE true%s"
             " ORDER BY last_seen DESC, id DESC",
             where);
    /* through a cursor, a few hundred rows at a time: a listing may be the whole registry */
    int ret = pg_ready(s);
    if (!ret)
        ret = pg_cmd(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "cannot start a transaction");
    if (ret)
        return ret;
    static const char fetch[] = "FETCH " PG_TEXT(PG_LIST_FETCH) " FROM kmsd_list";
    PGresult *r;
    ret = pg_run(s, sql, &p, &r, "cannot list clients");
    if (!ret)
        pq_fn.PQclear(r);
    /* each batch is asked for before the one before it is handled, so that the server reads it meanwhile: waiting
     * for each batch in turn was about half of a long listing's time (docs/performance.md) */
    bool stopped = false, asked = !ret && !(ret = pg_send(s, fetch, "cannot list clients"));
    for (unsigned guard = 0; asked && guard < UINT32_MAX; guard++) {
        asked = false;
        ret = pg_wait(s, &r, "cannot list clients");
        if (ret)
            break;
        bool last = pq_fn.PQntuples(r) < PG_LIST_FETCH;
        if (!last)
            asked = !(ret = pg_send(s, fetch, "cannot list clients"));
        each_row(r, fn, ctx, &stopped, false);
        if (stopped || ret)
            break;
    }
    if (asked) { /* stopped by fn with a batch on its way: read it, so that the connection is free for the COMMIT */
        ret = pg_wait(s, &r, "cannot list clients");
        if (!ret)
            pq_fn.PQclear(r);
    }
    return pg_end(s, ret, "cannot end the transaction");
}

/* The sort key's expression, as its index has it. */
static const char *const sort_expr[STORE_SORT_COUNT] = {
    [STORE_SORT_LAST_SEEN] = "last_seen",
    [STORE_SORT_FIRST_SEEN] = "first_seen",
    [STORE_SORT_WORKSTATION] = "lower(workstation)",
    [STORE_SORT_PRODUCT] = "product",
    [STORE_SORT_REQUESTS] = "request_count",
};

/* The WHERE terms of q's filters (each only when given), their parameters added to p. */
/* A query's search: its LIKE pattern (NULL: no q) and whether the CMIDs' texts are searched too. */
struct pg_search {
    const char *like;
    bool cmid;
};

static void query_where(const struct store_query *q, const struct pg_search *sr, struct pg_params *p, char *out,
                        size_t cap)
{
    char k[8];
    snprintf(out, cap, " WHERE true");
    if (q->product)
        product_term(p, q->product, q->product_exact, out, cap);
    size_t len = strlen(out);
    if (q->has_app) {
        snprintf(out + len, cap - len, " AND app_id = %s", next_param(p, k));
        pg_p_guid(p, &q->app_id);
        len = strlen(out);
    }
    if (sr->like) { /* a LIKE pattern, which the trigram indexes serve (store_pg.c, schema 3) */
        next_param(p, k);
        /* no COLLATE on the pattern: a LIKE in another collation than its index's cannot use the index (the CMID
         * texts' is the database's) */
        if (sr->cmid) /* the same parameter twice */
            snprintf(out + len, cap - len, " AND (lower(workstation) LIKE %s OR kmsd_guid_text(cmid) LIKE %s)", k, k);
        else
            snprintf(out + len, cap - len, " AND lower(workstation) LIKE %s", k);
        pg_p_text(p, sr->like, strlen(sr->like) + 1);
        len = strlen(out);
    }
    if (q->since) {
        snprintf(out + len, cap - len, " AND last_seen >= %s", next_param(p, k));
        pg_p_int(p, q->since);
        len = strlen(out);
    }
    if (q->host) {
        snprintf(out + len, cap - len, " AND last_host = (%s COLLATE \"C\")", next_param(p, k));
        pg_p_text(p, q->host, strlen(q->host) + 1);
    }
}

static int query_total(struct store *s, const struct store_query *q, const struct pg_search *sr, uint64_t *total)
{
    enum store_app_group g = q->has_app ? store_app_group_of(&q->app_id) : STORE_APP_OTHER;
    bool summary = !sr->like && q->since == 0 && !q->host && (!q->has_app || g != STORE_APP_OTHER);
    struct pg_params p = {0};
    char where[1024], sql[1280], k[8];
    if (summary) {
        where[0] = '\0';
        if (q->product)
            product_term(&p, q->product, q->product_exact, where, sizeof where);
        if (q->has_app) {
            size_t len = strlen(where);
            snprintf(where + len, sizeof where - len, " AND app_group = %s", next_param(&p, k));
            pg_p_int(&p, g);
        }
        snprintf(sql, sizeof sql, "SELECT coalesce(sum(n), 0) FROM summary WHERE true%s", where);
    } else {
        query_where(q, sr, &p, where, sizeof where);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM clients%s", where);
    }
    PGresult *r;
    int ret = pg_run(s, sql, &p, &r, "cannot count clients");
    if (ret)
        return ret;
    int64_t v = pg_int(r, 0, 0);
    *total = v > 0 ? (uint64_t)v : 0;
    pq_fn.PQclear(r);
    return 0;
}

static int query_page(struct store *s, const struct store_query *q, const struct pg_search *sr, uint64_t total,
                      int (*fn)(void *ctx, const struct store_client *c), void *ctx)
{
    uint64_t offset = q->offset, limit = q->limit;
    bool desc = q->descending, flip = false;
    if (!q->has_cursor && offset > 0) {
        /* total is exact and from the same snapshot: a page at or past the end is empty, and a page past the middle
         * is read from the other end — rows [offset, end) of total are rows [total - end, total - offset) in the
         * opposite order (key and id order every row), fewer index entries to walk (offset=900,000 of a million:
         * 100,000) — and handed on backwards */
        if (offset >= total)
            return 0;
        if (offset > total / 2) {
            uint64_t end = offset + limit < total ? offset + limit : total;
            flip = true;
            desc = !desc;
            limit = end - offset;
            offset = total - end;
        }
    }
    struct pg_params p = {0};
    char where[1024], after[256] = "", sql[3072], k1[8], k2[8];
    query_where(q, sr, &p, where, sizeof where);
    const char *key = sort_expr[q->sort], *dir = desc ? "DESC" : "ASC";
    bool text = store_sort_is_text(q->sort);
    if (q->has_cursor) {
        next_param(&p, k1);
        if (text)
            pg_p_text(&p, q->cursor.text, sizeof q->cursor.text);
        else
            pg_p_int(&p, q->cursor.num);
        next_param(&p, k2);
        pg_p_int(&p, q->cursor.rowid);
        const char *c = text ? " COLLATE \"C\"" : "";
        snprintf(after, sizeof after, " AND %s %s (%s%s) AND (%s, id) %s ((%s%s), %s)", key, q->descending ? "<=" : ">=",
                 k1, c, key, q->descending ? "<" : ">", k1, c, k2);
    }
    next_param(&p, k1);
    pg_p_int(&p, (int64_t)limit);
    if (offset) {
        next_param(&p, k2);
        pg_p_int(&p, (int64_t)offset);
    }
    if (offset == 0)
        snprintf(sql, sizeof sql, "SELECT " PG_CLIENT_COLUMNS " FROM clients%s%s ORDER BY %s %s, id %s LIMIT %s", where,
                 after, key, dir, dir, k1);
    else /* the rows skipped are walked in the sort key's index alone (key, id: an index-only scan), and only the
          * page's rows read from the table: OFFSET over whole rows reads every skipped row (at 900,000: 0.14-0.28 s
          * against 0.04 s) */
        snprintf(sql, sizeof sql,
                 "SELECT " PG_CLIENT_COLUMNS " FROM clients WHERE id IN (SELECT id FROM clients%s%s ORDER BY %s %s, id %s"
                 " LIMIT %s OFFSET %s) ORDER BY %s %s, id %s",
                 where, after, key, dir, dir, k1, k2, key, dir, dir);
    return run_rows(s, sql, &p, fn, ctx, "cannot list clients", flip);
}

/* q->q lower-cased as lower() does under COLLATE "C" (ASCII only), at most STORE_QUERY_TEXT_MAX bytes, as a LIKE
 * pattern: "%" before and after, and "%", "_" and "\\" escaped. NULL without q or when empty. */
static const char *like_q(const struct store_query *q, char *buf, size_t cap)
{
    if (!q->q || !q->q[0])
        return NULL;
    char lq[STORE_QUERY_TEXT_MAX + 1];
    store_lower_ascii(q->q, lq, sizeof lq);
    size_t o = 0;
    buf[o++] = '%';
    for (size_t i = 0; lq[i] && o + 3 < cap; i++) {
        if (lq[i] == '%' || lq[i] == '_' || lq[i] == '\\')
            buf[o++] = '\\';
        buf[o++] = lq[i];
    }
    buf[o++] = '%';
    buf[o] = '\0';
    return buf;
}

int store_pg_query(struct store *s, const struct store_query *q, uint64_t *total,
                   int (*fn)(void *ctx, const struct store_client *c), void *ctx)
{
    *total = 0;
    if ((unsigned)q->sort >= STORE_SORT_COUNT) {
        snprintf(s->err, sizeof s->err, "bad sort key");
        return -EINVAL;
    }
    char lqb[2 * STORE_QUERY_TEXT_MAX + 3], plain[STORE_QUERY_TEXT_MAX + 1];
    struct pg_search sr = {like_q(q, lqb, sizeof lqb), false};
    if (sr.like) { /* whether a CMID's text could hold it is a question about the text itself */
        store_lower_ascii(q->q, plain, sizeof plain);
        sr.cmid = store_could_be_cmid(plain);
    }
    int ret = pg_ready(s);
    /* the total and the page from one snapshot */
    if (!ret)
        ret = pg_cmd(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "cannot start a transaction");
    if (ret)
        return ret;
    ret = query_total(s, q, &sr, total);
    if (!ret)
        ret = query_page(s, q, &sr, *total, fn, ctx);
    return pg_end(s, ret, "cannot end the transaction");
}

int store_pg_daily(struct store *s, int64_t first, int64_t last,
                   int (*fn)(void *ctx, int64_t day, uint64_t answered, uint64_t refused), void *ctx)
{
    struct pg_params p = {0};
    pg_p_int(&p, first);
    pg_p_int(&p, last);
    PGresult *r;
    int ret = pg_ready(s);
    if (!ret)
        ret = pg_run(s, "SELECT day, answered, refused FROM daily WHERE day >= $1 AND day <= $2 ORDER BY day", &p, &r,
                     "cannot read the daily counts");
    if (ret)
        return ret;
    for (int i = 0; i < pq_fn.PQntuples(r); i++)
        if (fn(ctx, pg_int(r, i, 0), (uint64_t)pg_int(r, i, 1), (uint64_t)pg_int(r, i, 2)) != 0)
            break;
    pq_fn.PQclear(r);
    return 0;
}

int store_pg_groups(struct store *s, int (*fn)(void *ctx, enum store_app_group g, const char *product, uint64_t n),
                    void *ctx)
{
    PGresult *r;
    int ret = pg_ready(s);
    if (!ret)
        ret = pg_run(s, "SELECT app_group, product, n FROM summary WHERE n > 0 ORDER BY app_group, product", NULL, &r,
                     "cannot count products");
    if (ret)
        return ret;
    for (int i = 0; i < pq_fn.PQntuples(r); i++) {
        int64_t g = pg_int(r, i, 0);
        if (fn(ctx, g >= 0 && g < STORE_APP_GROUPS ? (enum store_app_group)g : STORE_APP_OTHER,
               pq_fn.PQgetvalue(r, i, 1), (uint64_t)pg_int(r, i, 2)) != 0)
            break;
    }
    pq_fn.PQclear(r);
    return 0;
}
