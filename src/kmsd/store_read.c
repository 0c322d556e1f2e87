/* store_read — reading client rows and summaries; see store_internal.h. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlite_fns.h"
#include "store_pg.h"

#include "kms.h"
#include "products.h"
#include "timeutil.h"

#define CLIENT_COLUMNS                                                                                                 \
    "cmid, app_id, sku_id, kms_id, workstation, product, last_address, last_epid, license_status, grace_time,"         \
    " is_vm, version_major, version_minor, first_seen, last_seen, request_count, rowid, last_host"

/* Reads the CLIENT_COLUMNS of the current row. */
static void column_client(sqlite3_stmt *st, struct store_client *c)
{
    memset(c, 0, sizeof *c);
    store_column_guid(st, 0, &c->cmid);
    store_column_guid(st, 1, &c->app_id);
    store_column_guid(st, 2, &c->sku_id);
    store_column_guid(st, 3, &c->kms_id);
    store_column_text(st, 4, c->workstation, sizeof c->workstation);
    store_column_text(st, 5, c->product, sizeof c->product);
    store_column_text(st, 6, c->address, sizeof c->address);
    store_column_text(st, 7, c->epid, sizeof c->epid);
    c->license_status = (uint32_t)sqlite_fn.sqlite3_column_int64(st, 8);
    c->grace_time = (uint32_t)sqlite_fn.sqlite3_column_int64(st, 9);
    c->is_vm = (uint32_t)sqlite_fn.sqlite3_column_int64(st, 10);
    c->version_major = (uint32_t)sqlite_fn.sqlite3_column_int64(st, 11);
    c->version_minor = (uint32_t)sqlite_fn.sqlite3_column_int64(st, 12);
    c->first_seen = sqlite_fn.sqlite3_column_int64(st, 13);
    c->last_seen = sqlite_fn.sqlite3_column_int64(st, 14);
    c->request_count = (uint64_t)sqlite_fn.sqlite3_column_int64(st, 15);
    c->rowid = sqlite_fn.sqlite3_column_int64(st, 16);
    store_column_text(st, 17, c->host, sizeof c->host);
}

/* Steps st (prepared here, finalized here) and hands each client row to fn. */
static int each_client(struct store *s, sqlite3_stmt *st, int (*fn)(void *ctx, const struct store_client *c), void *ctx,
                       const char *what)
{
    int rc;
    struct store_client c;
    while ((rc = sqlite_fn.sqlite3_step(st)) == SQLITE_ROW) {
        column_client(st, &c);
        if (fn(ctx, &c) != 0)
            break;
    }
    int ret = rc != SQLITE_ROW && rc != SQLITE_DONE ? store_fail(s, rc, what) : 0;
    sqlite_fn.sqlite3_finalize(st);
    return ret;
}

int store_get_client(struct store *s, const struct guid *cmid, int (*fn)(void *ctx, const struct store_client *c),
                     void *ctx)
{
    if (s->pg)
        return store_pg_get_client(s, cmid, fn, ctx);
    sqlite3_stmt *st = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(
        s->db,
        "SELECT " CLIENT_COLUMNS " FROM clients WHERE (client_key BETWEEN ?2 AND ?3 OR home_key BETWEEN ?2 AND ?3)"
        " AND cmid = ?1 ORDER BY last_seen DESC, app_id",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    int64_t lo, hi;
    store_client_key_range(cmid, &lo, &hi);
    int b = store_bind_guid(st, 1, cmid) | sqlite_fn.sqlite3_bind_int64(st, 2, lo) | sqlite_fn.sqlite3_bind_int64(st, 3, hi);
    if (b) {
        int ret = store_bind_failed(s, st, b, "cannot read the client");
        sqlite_fn.sqlite3_finalize(st);
        return ret;
    }
    return each_client(s, st, fn, ctx, "cannot read the client");
}

/*
 * Where q's rows come from in a query. QSET_SQL: lower(workstation) on clients_workstation and — only when q could
 * be part of a CMID's text — the CMIDs, read from the table (no index holds them since schema 7's compact key),
 * formatted without an allocation (kmsd_guid_has), ?3 the lower-cased text. From memory (store_search.c):
 * QSET_LIST, a JSON array of rowids (?10), read row by row; QSET_FUNC, kmsd_q_has(rowid), tested while the page
 * walks its sort key's index. n: the rows q matches alone (QSET_LIST, QSET_FUNC).
 */
enum qset_kind { QSET_NONE, QSET_SQL, QSET_LIST, QSET_FUNC };
struct qset {
    enum qset_kind kind;
    const char *lq;
    char *json;
    size_t n;
};

static void search_set(const char *lq, char *out, size_t cap)
{
    snprintf(out, cap, "SELECT rowid FROM clients INDEXED BY clients_workstation WHERE instr(lower(workstation), ?3) > 0%s",
             store_could_be_cmid(lq) ? " UNION SELECT rowid FROM clients WHERE kmsd_guid_has(cmid, ?3)" : "");
}

/* A host filter whose rows are more than this is not read through the host's index for a page: its rows are
 * common enough that walking the sort key's index finds a page at once, where the host's index would read and sort
 * all of them (a host serving 60 % of a million clients: 0.14 s). Fewer: the host's index, and its rows sorted. With
 * a search (q), the search's rows lead and the host is tested on them, as before the index. */
#define HOST_INDEX_ROWS 10000

/* The WHERE clause of store_query, with a term only for each filter given (the planner sees what it has to do);
 * parameters ?1 product, ?2 app_id, q's (struct qset), ?4 since, ?9 host. host_index: the host's term may use its
 * index (else it is written +last_host, which no index serves). */
static void query_where(const struct store_query *q, const struct qset *set, bool host_index, char *out, size_t cap)
{
    char term[400] = "";
    if (set->kind == QSET_SQL) {
        char sub[384];
        search_set(set->lq, sub, sizeof sub);
        snprintf(term, sizeof term, " AND rowid IN (%s)", sub);
    } else if (set->kind == QSET_LIST) {
        snprintf(term, sizeof term, " AND rowid IN (SELECT value FROM json_each(?10))");
    } else if (set->kind == QSET_FUNC) {
        snprintf(term, sizeof term, " AND kmsd_q_has(rowid)");
    }
    snprintf(out, cap, " WHERE 1%s%s%s%s%s",
             !q->product ? "" : q->product_exact ? " AND product = ?1" : " AND instr(lower(product), lower(?1)) > 0",
             q->has_app ? " AND app_id = ?2" : "", term, q->since ? " AND last_seen >= ?4" : "",
             !q->host ? "" : host_index ? " AND last_host = ?9" : " AND +last_host = ?9");
}

/* The JSON array of hits' rowids (malloc'ed), or NULL out of memory. */
static char *hits_json(const struct store_search_hits *hits)
{
    size_t cap = 2 + hits->n_list * 21 + 1, len = 0;
    char *j = malloc(cap);
    if (!j)
        return NULL;
    j[len++] = '[';
    for (size_t i = 0; i < hits->n_list; i++)
        len += (size_t)snprintf(j + len, cap - len, "%s%lld", i ? "," : "", (long long)hits->rowids[i]);
    snprintf(j + len, cap - len, "]");
    return j;
}

/* The index of the sort key (NULL: requests has none), which a search's page walks, testing each rowid against
 * the search's set: a common text fills the page from the first entries, a rare one reads index entries only. */
static const char *const sort_index[STORE_SORT_COUNT] = {
    [STORE_SORT_LAST_SEEN] = "clients_last_seen",     [STORE_SORT_FIRST_SEEN] = "clients_first_seen",
    [STORE_SORT_WORKSTATION] = "clients_workstation", [STORE_SORT_PRODUCT] = "clients_product",
};

/* in lower-cased as SQLite's lower() does (ASCII only) into out (cap bytes, NUL-terminated, cut to fit). */
void store_lower_ascii(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i < cap - 1; i++)
        out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] - 'A' + 'a') : in[i];
    out[i] = '\0';
}

/* q->q lower-cased as SQLite's lower() does (ASCII only) into buf, or NULL without q. */
static const char *lower_q(const struct store_query *q, char *buf, size_t cap)
{
    if (!q->q)
        return NULL;
    store_lower_ascii(q->q, buf, cap);
    return buf;
}

/* The sort key's SQL expression, as its index has it. */
static const char *const sort_expr[STORE_SORT_COUNT] = {
    [STORE_SORT_LAST_SEEN] = "last_seen",        [STORE_SORT_FIRST_SEEN] = "first_seen",
    [STORE_SORT_WORKSTATION] = "lower(workstation)", [STORE_SORT_PRODUCT] = "product",
    [STORE_SORT_REQUESTS] = "request_count",
};

void store_cursor_of(const struct store_query *q, const struct store_client *c, struct store_cursor *out)
{
    memset(out, 0, sizeof *out);
    out->rowid = c->rowid;
    switch (q->sort) {
    case STORE_SORT_FIRST_SEEN:
        out->num = c->first_seen;
        break;
    case STORE_SORT_WORKSTATION: /* lower() as SQLite's: ASCII only */
        store_lower_ascii(c->workstation, out->text, sizeof out->text);
        break;
    case STORE_SORT_PRODUCT:
        snprintf(out->text, sizeof out->text, "%s", c->product);
        break;
    case STORE_SORT_REQUESTS:
        out->num = (int64_t)c->request_count;
        break;
    default:
        out->num = c->last_seen;
        break;
    }
}

/* Binds the parameters query_where used; returns the OR of the sqlite3_bind_* results: 0 when every parameter was
 * bound. */
static int bind_query(sqlite3_stmt *st, const struct store_query *q, const struct qset *set)
{
    int b = 0;
    if (q->product)
        b |= sqlite_fn.sqlite3_bind_text(st, 1, q->product, -1, SQLITE_TRANSIENT);
    if (q->has_app)
        b |= store_bind_guid(st, 2, &q->app_id);
    if (set->kind == QSET_SQL)
        b |= sqlite_fn.sqlite3_bind_text(st, 3, set->lq, -1, SQLITE_TRANSIENT);
    if (set->kind == QSET_LIST)
        b |= sqlite_fn.sqlite3_bind_text(st, 10, set->json, -1, SQLITE_STATIC);
    if (q->since)
        b |= sqlite_fn.sqlite3_bind_int64(st, 4, q->since);
    if (q->host)
        b |= sqlite_fn.sqlite3_bind_text(st, 9, q->host, -1, SQLITE_TRANSIENT);
    return b;
}

/* The number of rows matching q: from the summary table (a few rows) when q filters by at most a product and an
 * application of a one-application group, else a count over the table. */
static int query_total(struct store *s, const struct store_query *q, const struct qset *set, uint64_t *total)
{
    enum store_app_group g = q->has_app ? store_app_group_of(&q->app_id) : STORE_APP_OTHER;
    bool summary = set->kind == QSET_NONE && q->since == 0 && !q->host && (!q->has_app || g != STORE_APP_OTHER);
    bool alone = set->kind != QSET_NONE && !q->product && !q->has_app && !q->since && !q->host;
    if (alone && set->kind != QSET_SQL) { /* q alone, found in memory: its rows are the total */
        *total = set->n;
        return 0;
    }
    char where[768], sql[1024];
    query_where(q, set, set->kind == QSET_NONE, where, sizeof where); /* with q, q's rows lead (as before schema 8) */
    if (alone) { /* q alone, in SQL: count its set */
        char sub[384];
        search_set(set->lq, sub, sizeof sub);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM (%s)", sub);
    } else {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM clients%s", where);
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db,
                                summary ? "SELECT total(n) FROM summary WHERE (?1 IS NULL OR (?3 AND product = ?1) OR"
                                          " (NOT ?3 AND instr(lower(product), lower(?1)) > 0)) AND (?2 IS NULL OR"
                                          " app_group = ?2)"
                                        : sql,
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    int b = 0;
    if (summary) {
        if (q->product)
            b |= sqlite_fn.sqlite3_bind_text(st, 1, q->product, -1, SQLITE_TRANSIENT);
        if (q->has_app)
            b |= sqlite_fn.sqlite3_bind_int(st, 2, (int)g);
        b |= sqlite_fn.sqlite3_bind_int(st, 3, q->product_exact);
    } else {
        b = bind_query(st, q, set);
    }
    int ret = 0;
    if (b) {
        ret = store_bind_failed(s, st, b, "cannot count clients");
    } else if ((rc = sqlite_fn.sqlite3_step(st)) == SQLITE_ROW) {
        double v = sqlite_fn.sqlite3_column_double(st, 0); /* total() is a float, count() an integer: both exact here */
        *total = v > 0 ? (uint64_t)v : 0;
    } else {
        ret = store_fail(s, rc, "cannot count clients");
    }
    sqlite_fn.sqlite3_finalize(st);
    return ret;
}

/* The page's statement: QUERY_WHERE, the cursor's condition (?7 key, ?8 rowid), the order, ?5 limit, ?6 offset.
 * total: the rows matching q (query_total), which says how a host filter is best read (HOST_INDEX_ROWS). */
static int query_page(struct store *s, const struct store_query *q, const struct qset *set, uint64_t total,
                      int (*fn)(void *ctx, const struct store_client *c), void *ctx)
{
    const char *k = sort_expr[q->sort], *dir = q->descending ? "DESC" : "ASC";
    char after[128] = "";
    if (q->has_cursor)
        snprintf(after, sizeof after, " AND %s %s ?7 AND (%s, rowid) %s (?7, ?8)", k, q->descending ? "<=" : ">=", k,
                 q->descending ? "<" : ">"); /* the first comparison lets the index seek (an expression index too) */
    /* with q its rows lead, as before schema 8: a rare text on a common host must not scan the host's index */
    bool host_few = q->host && total <= HOST_INDEX_ROWS && set->kind == QSET_NONE;
    char where[768], sql[1536];
    query_where(q, set, host_few, where, sizeof where);
    char by[64] = "";
    if (host_few && !q->product && !q->has_app) /* a few rows of one host: its index, whatever else q asks */
        snprintf(by, sizeof by, " INDEXED BY clients_host");
    else if ((set->kind == QSET_SQL || set->kind == QSET_FUNC) && sort_index[q->sort]) /* a list: row by row */
        snprintf(by, sizeof by, " INDEXED BY %s", sort_index[q->sort]);
    snprintf(sql, sizeof sql, "SELECT %s FROM clients%s%s%s ORDER BY %s %s, rowid %s LIMIT ?5 OFFSET ?6",
             CLIENT_COLUMNS, by, where, after, k, dir, dir);
    sqlite3_stmt *st = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    int b = bind_query(st, q, set) | sqlite_fn.sqlite3_bind_int64(st, 5, q->limit) | sqlite_fn.sqlite3_bind_int64(st, 6, q->offset);
    if (q->has_cursor) {
        b |= store_sort_is_text(q->sort) ? sqlite_fn.sqlite3_bind_text(st, 7, q->cursor.text, -1, SQLITE_TRANSIENT)
                                   : sqlite_fn.sqlite3_bind_int64(st, 7, q->cursor.num);
        b |= sqlite_fn.sqlite3_bind_int64(st, 8, q->cursor.rowid);
    }
    if (b) {
        int ret = store_bind_failed(s, st, b, "cannot list clients");
        sqlite_fn.sqlite3_finalize(st);
        return ret;
    }
    return each_client(s, st, fn, ctx, "cannot list clients");
}

/* sort=requests for one host of many rows (more than HOST_INDEX_ROWS), nothing else filtering: the page from the
 * memory's first rows of the whole registry in that order (store_search_top), four times as many as the host's
 * share of the rows needs (at most STORE_SEARCH_TOP_MAX). The order is total (request count, rowid), so the host's
 * rows among the registry's first k are the host's first ones: when the page's depth of them is there (or k took
 * every row after the cursor), they are the page. *done false: too few were (a host whose rows have fewer requests
 * than the others'), and the caller reads the host's rows in SQL. Inside the caller's read transaction; total is
 * the host's count. */
static int host_top_page(struct store *s, const struct store_query *q, uint64_t total, uint64_t now_ms, bool *done,
                         int (*fn)(void *ctx, const struct store_client *c), void *ctx)
{
    *done = false;
    uint64_t rows = 0, need = (uint64_t)q->offset + q->limit;
    int ret = store_row_count(s, &rows);
    if (ret || total == 0 || need == 0)
        return ret;
    if (need > total)
        need = total;
    uint64_t k = need * (rows > total ? rows : total) / total * 4 + 64;
    struct store_query all = *q;
    all.host = NULL;
    all.offset = 0;
    all.limit = (uint32_t)(k < STORE_SEARCH_TOP_MAX ? k : STORE_SEARCH_TOP_MAX);
    struct store_search_hits hits = {0, NULL, 0};
    ret = store_search_top(s, &all, false, now_ms, &hits);
    struct qset set = {QSET_LIST, NULL, NULL, hits.n_list};
    if (!ret && !(set.json = hits_json(&hits))) {
        snprintf(s->err, sizeof s->err, "out of memory for the sort");
        ret = -ENOMEM;
    }
    int64_t in_host = 0; /* the candidates of this host */
    sqlite3_stmt *st = NULL;
    int rc = ret ? SQLITE_OK
                 : sqlite_fn.sqlite3_prepare_v2(s->db, "SELECT count(*) FROM clients WHERE rowid IN"
                                                " (SELECT value FROM json_each(?10)) AND +last_host = ?9",
                                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        ret = store_fail(s, rc, "prepare");
    if (st) {
        int b = sqlite_fn.sqlite3_bind_text(st, 10, set.json, -1, SQLITE_STATIC) |
                sqlite_fn.sqlite3_bind_text(st, 9, q->host, -1, SQLITE_TRANSIENT);
        ret = b ? store_bind_failed(s, st, b, "cannot sort clients")
                : store_query_int(s, st, &in_host, "cannot sort clients");
        sqlite_fn.sqlite3_finalize(st);
    }
    if (!ret && ((uint64_t)in_host >= need || hits.n_list < all.limit)) {
        *done = true;
        ret = query_page(s, q, &set, total, fn, ctx);
    }
    free(set.json);
    free(hits.rowids);
    return ret;
}

int store_query_at(struct store *s, const struct store_query *q, uint64_t now_ms, uint64_t *total,
                   int (*fn)(void *ctx, const struct store_client *c), void *ctx)
{
    if (s->pg)
        return store_pg_query(s, q, total, fn, ctx);
    *total = 0;
    if ((unsigned)q->sort >= STORE_SORT_COUNT) {
        snprintf(s->err, sizeof s->err, "bad sort key");
        return -EINVAL;
    }
    char lqb[STORE_QUERY_TEXT_MAX + 1];
    const char *lq = lower_q(q, lqb, sizeof lqb);
    if (lq && !lq[0]) /* every row has the empty text */
        lq = NULL;
    /* sort=requests has no index (request_count changes with every activation): from memory too, when nothing but q
     * filters and the page is not deep */
    bool top = s->search_on && q->sort == STORE_SORT_REQUESTS && !q->product && !q->has_app && !q->since && !q->host &&
               (uint64_t)q->offset + q->limit <= STORE_SEARCH_TOP_MAX;
    /* the same for one host, nothing else filtering: from memory when the host has many rows (host_top_page) */
    bool host_top = s->search_on && q->sort == STORE_SORT_REQUESTS && q->host && !lq && !q->product && !q->has_app &&
                    !q->since && (uint64_t)q->offset + q->limit <= STORE_SEARCH_TOP_MAX;
    struct store_search_hits hits = {0, NULL, 0};
    struct qset set = {lq ? QSET_SQL : QSET_NONE, lq, NULL, 0};
    /* One read transaction: the search's memory, the total and the page come from the same snapshot. */
    int ret = store_exec(s, "BEGIN", "cannot start a transaction");
    if (!ret && lq && s->search_on)
        ret = store_search_find(s, lq, now_ms, &hits);
    if (!ret && top) { /* the page's candidates, among q's rows when given: they stand for q */
        free(hits.rowids);
        ret = store_search_top(s, q, lq != NULL, now_ms, &hits);
    }
    if (!ret && (top || (lq && s->search_on))) {
        set.kind = hits.rowids ? QSET_LIST : QSET_FUNC;
        set.n = hits.n;
        if (hits.rowids && !(set.json = hits_json(&hits))) {
            snprintf(s->err, sizeof s->err, "out of memory for the search");
            ret = -ENOMEM;
        }
    }
    if (!ret)
        ret = query_total(s, q, &set, total);
    bool done = false;
    if (!ret && host_top && *total > HOST_INDEX_ROWS)
        ret = host_top_page(s, q, *total, now_ms, &done, fn, ctx);
    if (!ret && !done)
        ret = query_page(s, q, &set, *total, fn, ctx);
    ret = store_end(s, ret, "cannot end the transaction");
    free(set.json);
    free(hits.rowids);
    return ret;
}

int store_query(struct store *s, const struct store_query *q, uint64_t *total,
                int (*fn)(void *ctx, const struct store_client *c), void *ctx)
{
    return store_query_at(s, q, 0, total, fn, ctx);
}

int store_daily(struct store *s, int64_t first, int64_t last,
                int (*fn)(void *ctx, int64_t day, uint64_t answered, uint64_t refused), void *ctx)
{
    if (s->pg)
        return store_pg_daily(s, first, last, fn, ctx);
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_DAILY_GET, &st);
    if (ret)
        return ret;
    int b = sqlite_fn.sqlite3_bind_int64(st, 1, first) | sqlite_fn.sqlite3_bind_int64(st, 2, last);
    if (b)
        return store_bind_failed(s, st, b, "cannot read the daily counts");
    int rc;
    while ((rc = sqlite_fn.sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, sqlite_fn.sqlite3_column_int64(st, 0), (uint64_t)sqlite_fn.sqlite3_column_int64(st, 1),
               (uint64_t)sqlite_fn.sqlite3_column_int64(st, 2)) != 0)
            break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot read the daily counts");
    sqlite_fn.sqlite3_reset(st);
    return ret;
}

int store_groups(struct store *s, int (*fn)(void *ctx, enum store_app_group g, const char *product, uint64_t n),
                 void *ctx)
{
    if (s->pg)
        return store_pg_groups(s, fn, ctx);
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_GROUPS, &st);
    if (ret)
        return ret;
    int rc;
    while ((rc = sqlite_fn.sqlite3_step(st)) == SQLITE_ROW) {
        int g = sqlite_fn.sqlite3_column_int(st, 0);
        const char *p = (const char *)sqlite_fn.sqlite3_column_text(st, 1);
        if (fn(ctx, g >= 0 && g < STORE_APP_GROUPS ? (enum store_app_group)g : STORE_APP_OTHER, p ? p : "",
               (uint64_t)sqlite_fn.sqlite3_column_int64(st, 2)) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot count products");
    sqlite_fn.sqlite3_reset(st);
    return ret;
}

/* Whether a listing of one host's rows reads the host's index (its rows then sorted), as a page does for a host
 * of at most HOST_INDEX_ROWS rows: always without --since (a whole listing of a common host reads its rows rather
 * than every row's); with --since only for such a host, else the range of last_seen's index, the host tested on each
 * row. Counting up to HOST_INDEX_ROWS + 1 of the host's index entries tells which (without the choice, SQLite took the
 * host's index even for a day of a host of 600,000 rows). 0 or a negative errno. */
static int list_by_host_index(struct store *s, const struct store_filter *f, bool *by_index)
{
    *by_index = true;
    if (!f->since)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db, "SELECT count(*) FROM (SELECT 1 FROM clients INDEXED BY clients_host"
                                                 " WHERE last_host = ?1 LIMIT ?2)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    int b = sqlite_fn.sqlite3_bind_text(st, 1, f->host, -1, SQLITE_TRANSIENT) |
            sqlite_fn.sqlite3_bind_int64(st, 2, HOST_INDEX_ROWS + 1);
    int64_t n = 0;
    int ret = b ? store_bind_failed(s, st, b, "cannot count the host's clients")
                : store_query_int(s, st, &n, "cannot count the host's clients");
    sqlite_fn.sqlite3_finalize(st);
    *by_index = n <= HOST_INDEX_ROWS;
    return ret;
}

int store_list(struct store *s, const struct store_filter *f, int (*fn)(void *ctx, const struct store_client *c),
               void *ctx)
{
    if (s->pg)
        return store_pg_list(s, f, fn, ctx);
    const char *host = f ? f->host : NULL;
    bool by_index = false;
    int ret = host ? list_by_host_index(s, f, &by_index) : 0;
    if (ret)
        return ret;
    /* the product and --since written so that no index serves them: the listing walks last_seen's index (the
     * order it prints), as a product's index would read all of a common product's rows for a day of them */
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT " CLIENT_COLUMNS " FROM clients%s WHERE (?1 IS NULL OR (?3 AND product = ?1) OR"
             " (NOT ?3 AND instr(lower(product), lower(?1)) > 0)) AND last_seen >= ?2%s"
             " ORDER BY last_seen DESC, rowid DESC",
             by_index ? " INDEXED BY clients_host" : "",
             !host ? "" : by_index ? " AND last_host = ?4" : " AND +last_host = ?4");
    sqlite3_stmt *st = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    int b = sqlite_fn.sqlite3_bind_int64(st, 2, f && f->since != 0 ? f->since : INT64_MIN) |
            sqlite_fn.sqlite3_bind_int(st, 3, f && f->product_exact);
    if (f && f->product)
        b |= sqlite_fn.sqlite3_bind_text(st, 1, f->product, -1, SQLITE_TRANSIENT);
    if (host)
        b |= sqlite_fn.sqlite3_bind_text(st, 4, host, -1, SQLITE_TRANSIENT);
    if (b) {
        ret = store_bind_failed(s, st, b, "cannot list clients");
        sqlite_fn.sqlite3_finalize(st);
        return ret;
    }
    return each_client(s, st, fn, ctx, "cannot list clients"); /* finalizes st */
}
