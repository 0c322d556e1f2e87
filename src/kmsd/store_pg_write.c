/* store_pg_write — recording and the genuine count on PostgreSQL, and its engine primitives (store_internal.h); see
 * store_pg.h. */
#include "store_pg_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pq_fns.h"

#include "kms.h"
#include "num.h"
#include "timeutil.h"

/* Upserts sent before their results are read (pipeline mode): their results, a row each, stay far below what the
 * socket buffers hold, so neither side waits for the other. */
#define PG_PIPELINE_CHUNK 512

/* Runs a prepared statement whose result is not read. */
static int run_cmd(struct store *s, enum pg_stmt id, const struct pg_params *p, const char *what)
{
    PGresult *r;
    int ret = pg_run_prepared(s, id, p, &r, what);
    if (!ret)
        pq_fn.PQclear(r);
    return ret;
}

int store_pg_stat_op(struct store *s, enum store_stat_op op, const char *key, uint64_t v)
{
    static const enum pg_stmt ids[] = {[STORE_STAT_ADD] = PS_STAT_ADD, [STORE_STAT_SET] = PS_STAT_SET,
                                       [STORE_STAT_RAISE] = PS_STAT_RAISE};
    struct pg_params p = {0};
    pg_p_text(&p, key, strlen(key) + 1);
    pg_p_int(&p, (int64_t)v);
    return run_cmd(s, ids[op], &p, "cannot update statistics");
}

int store_pg_daily_op(struct store *s, bool raise, int64_t day, uint64_t answered, uint64_t refused)
{
    struct pg_params p = {0};
    pg_p_int(&p, day);
    pg_p_int(&p, (int64_t)answered);
    pg_p_int(&p, (int64_t)refused);
    return run_cmd(s, raise ? PS_DAILY_RAISE : PS_DAILY_ADD, &p, "cannot update the daily counts");
}

int store_pg_summary_add(struct store *s, int group, const char *product, size_t len, uint64_t n)
{
    struct pg_params p = {0};
    pg_p_int(&p, group);
    pg_p_text(&p, product, len);
    pg_p_int(&p, (int64_t)n);
    return run_cmd(s, PS_SUMMARY_ADD, &p, "cannot count the new clients");
}

struct upsert_ctx {
    const struct store *s;
    const struct store_coalesced *c;
};

/* $1 to $12 of PS_UPSERT and PS_MERGE, the columns an activation record (struct store_record) and an imported row
 * (struct store_client) share under the same field names (as SQLite's BIND_CLIENT_COLUMNS, store_write.c). */
#define PG_CLIENT_COLUMNS(p, x)                                                                                        \
    do {                                                                                                               \
        pg_p_guid((p), &(x)->cmid);                                                                                    \
        pg_p_guid((p), &(x)->app_id);                                                                                  \
        pg_p_int((p), store_app_group_of(&(x)->app_id));                                                               \
        pg_p_guid((p), &(x)->sku_id);                                                                                  \
        pg_p_guid((p), &(x)->kms_id);                                                                                  \
        pg_p_text((p), (x)->workstation, sizeof(x)->workstation);                                                      \
        pg_p_text((p), (x)->product, sizeof(x)->product);                                                              \
        pg_p_int((p), (x)->license_status);                                                                            \
        pg_p_int((p), (x)->grace_time);                                                                                \
        pg_p_int((p), (x)->is_vm);                                                                                     \
        pg_p_int((p), (x)->version_major);                                                                             \
        pg_p_int((p), (x)->version_minor);                                                                             \
    } while (0)

static void upsert_params(const struct store *s, const struct store_coalesced *c, struct pg_params *p)
{
    const struct store_record *r = c->last;
    PG_CLIENT_COLUMNS(p, r);
    pg_p_int(p, c->first);
    pg_p_int(p, c->latest);
    pg_p_int(p, (int64_t)c->n);
    pg_p_text(p, r->address, sizeof r->address);
    pg_p_text(p, c->epid, sizeof r->epid);
    pg_p_int(p, r->hresult);
    pg_p_text(p, s->host, sizeof s->host);
    pg_p_bool(p, c->answered);
}

/* What a pipelined statement's result held (pipeline's flags). */
#define PG_ROW 1  /* a row */
#define PG_TRUE 2 /* whose first value is true */

/* Runs prepared statement id (prepared before) n times (at most PG_PIPELINE_CHUNK) in one pipeline, the i-th with the
 * parameters fill(ctx, i, p) builds, then reads the results: flags[i] gets PG_ROW and PG_TRUE as its result held. No
 * round trip per statement. what names it in errors. 0 or pg_fail's code. */
static int pipeline(struct store *s, enum pg_stmt id, size_t n,
                    void (*fill)(const void *ctx, size_t i, struct pg_params *p), const void *ctx, uint8_t *flags,
                    const char *what)
{
    PGconn *conn = s->pg->conn;
    if (!conn || !pq_fn.PQenterPipelineMode(conn))
        return pg_fail(s, NULL, what);
    int ret = 0;
    size_t sent = 0;
    struct pg_params p;
    for (; sent < n; sent++) {
        memset(&p, 0, offsetof(struct pg_params, num));
        p.nfix = 0;
        fill(ctx, sent, &p);
        if (!pq_fn.PQsendQueryPrepared(conn, pg_stmt_name(id), p.n, p.v, p.len, p.fmt, 0)) {
            ret = pg_note(s, NULL, what);
            break;
        }
    }
    if (!pq_fn.PQpipelineSync(conn) && !ret)
        ret = pg_note(s, NULL, what);
    memset(flags, 0, n);
    size_t idx = 0, nulls = 0;
    /* results: one per statement, each followed by NULL, then the sync's; bounded by what was sent */
    while (nulls <= sent + 1) {
        PGresult *r = pq_fn.PQgetResult(conn);
        if (!r) {
            nulls++;
            if (pq_fn.PQstatus(conn) == CONNECTION_BAD)
                break;
            continue;
        }
        ExecStatusType st = pq_fn.PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            pq_fn.PQclear(r);
            break;
        }
        if (st == PGRES_TUPLES_OK && idx < n && pq_fn.PQntuples(r) == 1)
            flags[idx] = PG_ROW | (pq_fn.PQgetvalue(r, 0, 0)[0] == 't' ? PG_TRUE : 0);
        else if (st != PGRES_TUPLES_OK && st != PGRES_PIPELINE_ABORTED && !ret)
            ret = pg_note(s, r, what);
        idx++;
        pq_fn.PQclear(r);
    }
    if (!pq_fn.PQexitPipelineMode(conn) && !ret)
        ret = pg_note(s, NULL, what);
    if (!ret && idx < sent) {
        snprintf(s->err, sizeof s->err, "%s: %zu of %zu results", what, idx, sent);
        ret = -EIO;
    }
    return pg_check_connection(s, ret);
}

static void fill_upsert(const void *ctx, size_t i, struct pg_params *p)
{
    const struct upsert_ctx *u = ctx;
    upsert_params(u->s, &u->c[i], p);
}

/* Sends up to n upserts in one pipeline; a new row is counted in a. */
static int upsert_chunk(struct store *s, const struct store_coalesced *c, size_t n, struct store_summary_acc *a)
{
    uint8_t flags[PG_PIPELINE_CHUNK];
    struct upsert_ctx u = {s, c};
    int ret = pipeline(s, PS_UPSERT, n, fill_upsert, &u, flags, "cannot record the activations");
    for (size_t i = 0; i < n && !ret; i++)
        if (flags[i] & PG_TRUE) /* RETURNING (xmax = 0): inserted */
            ret = store_summary_note(s, a, &c[i].last->app_id, c[i].last->product, sizeof c[i].last->product);
    return ret;
}

int store_pg_batch_begin(struct store *s)
{
    int ret = pg_ready(s);
    if (!ret)
        ret = pg_prepare(s, PS_UPSERT);
    return ret ? ret : store_pg_tx_write(s);
}

int store_pg_batch_add(struct store *s, const struct store_record *recs, size_t n)
{
    if (n == 0)
        return 0;
    if (!s->pg->conn || pq_fn.PQtransactionStatus(s->pg->conn) != PQTRANS_INTRANS) {
        snprintf(s->err, sizeof s->err, "cannot record the activations: no transaction (the connection was lost)");
        return -ENOTCONN;
    }
    struct store_keyed *k = store_by_key(recs, n);
    struct store_coalesced *c = malloc(PG_PIPELINE_CHUNK * sizeof *c);
    if (!k || !c) {
        free(k);
        free(c);
        snprintf(s->err, sizeof s->err, "cannot record the activations: out of memory");
        return -ENOMEM;
    }
    struct store_summary_acc a = {.n = 0};
    int ret = 0;
    size_t nc = 0;
    for (size_t i = 0; i < n && !ret;) {
        i = store_coalesce(k, i, n, &c[nc++]);
        if (nc == PG_PIPELINE_CHUNK || i == n) {
            ret = upsert_chunk(s, c, nc, &a);
            nc = 0;
        }
    }
    if (!ret)
        ret = store_summary_flush(s, &a);
    free(c);
    free(k);
    return ret ? ret : store_add_statistics(s, recs, n);
}

int store_pg_batch_commit(struct store *s, uint64_t journal_seq)
{
    if (!s->pg->conn || pq_fn.PQtransactionStatus(s->pg->conn) != PQTRANS_INTRANS) {
        snprintf(s->err, sizeof s->err, "cannot commit: no transaction (the connection was lost or a statement failed)");
        store_pg_batch_abort(s);
        return s->pg->conn ? -EIO : -ENOTCONN;
    }
    char key[sizeof STORE_STAT_JOURNAL_SEQ + STORE_HOST_MAX + 2];
    store_journal_key(s, key, sizeof key);
    int ret = journal_seq ? store_pg_stat_op(s, STORE_STAT_SET, key, journal_seq) : 0;
    return pg_end(s, ret, "cannot commit");
}

void store_pg_batch_abort(struct store *s)
{
    if (s->pg->conn)
        (void)pg_end(s, -1, "rollback");
}

int store_pg_stat_one(struct store *s, const char *key, int64_t *v)
{
    *v = 0;
    int ret = pg_ready(s);
    if (ret)
        return ret;
    struct pg_params p = {0};
    pg_p_text(&p, key, strlen(key) + 1);
    PGresult *r;
    ret = pg_run(s, "SELECT value FROM stats WHERE key = $1", &p, &r, "cannot read the statistics");
    if (ret)
        return ret;
    if (pq_fn.PQntuples(r) == 1)
        *v = pg_int(r, 0, 0);
    pq_fn.PQclear(r);
    return 0;
}

static void fill_merge(const void *ctx, size_t i, struct pg_params *p)
{
    const struct store_client *c = (const struct store_client *)ctx + i;
    PG_CLIENT_COLUMNS(p, c);
    pg_p_int(p, c->first_seen < c->last_seen ? c->first_seen : c->last_seen);
    pg_p_int(p, c->last_seen);
    pg_p_int(p, c->request_count ? (int64_t)c->request_count : 1);
    pg_p_text(p, c->address, sizeof c->address);
    pg_p_text(p, c->epid, sizeof c->epid);
    pg_p_text(p, c->host, sizeof c->host);
}

int store_pg_merge_rows(struct store *s, const struct store_client *rows, size_t n, uint8_t *flags)
{
    int ret = pg_prepare(s, PS_MERGE);
    for (size_t i = 0; i < n && !ret; i += PG_PIPELINE_CHUNK) {
        size_t k = n - i < PG_PIPELINE_CHUNK ? n - i : PG_PIPELINE_CHUNK;
        uint8_t f[PG_PIPELINE_CHUNK];
        ret = pipeline(s, PS_MERGE, k, fill_merge, rows + i, f, "cannot import the rows");
        /* RETURNING (xmax = 0): a row when one was written, true when it was inserted */
        for (size_t j = 0; j < k && !ret; j++)
            flags[i + j] = (uint8_t)((f[j] & PG_ROW ? STORE_ROW_CHANGED : 0) | (f[j] & PG_TRUE ? STORE_ROW_INSERTED : 0));
    }
    return ret;
}

int store_pg_count(struct store *s, enum store_app_group g, int64_t now, uint32_t window_days, uint32_t limit,
                   struct store_count *out)
{
    *out = (struct store_count){0, now};
    if (limit > STORE_COUNT_LIMIT_MAX)
        limit = STORE_COUNT_LIMIT_MAX;
    int ret = pg_ready(s);
    if (ret)
        return ret;
    struct pg_params p = {0};
    pg_p_int(&p, g);
    pg_p_int(&p, now - (int64_t)window_days * SECONDS_PER_DAY);
    pg_p_int(&p, now);
    pg_p_int(&p, limit);
    /* newest first on clients_group_seen, stopping at the limit; in "other" a CMID may have several rows */
    const char *sql = g == STORE_APP_OTHER
                          ? "SELECT max(last_seen) AS m FROM clients WHERE app_group = $1 AND last_seen > $2 AND"
                            " last_seen <= $3 GROUP BY cmid ORDER BY m DESC LIMIT $4"
                          : "SELECT last_seen FROM clients WHERE app_group = $1 AND last_seen > $2 AND last_seen <= $3"
                            " ORDER BY last_seen DESC LIMIT $4";
    PGresult *r;
    ret = pg_run(s, sql, &p, &r, "cannot count clients");
    if (ret)
        return ret;
    int rows = pq_fn.PQntuples(r);
    out->count = (uint32_t)rows;
    if (limit > 0 && (uint32_t)rows == limit)
        out->holds_until = pg_int(r, rows - 1, 0) + (int64_t)window_days * SECONDS_PER_DAY;
    pq_fn.PQclear(r);
    return 0;
}

/* Runs a DELETE; *n gets the rows it deleted. */
static int delete_run(struct store *s, const char *sql, const struct pg_params *p, uint64_t *n, const char *what)
{
    PGresult *r;
    int ret = pg_run(s, sql, p, &r, what);
    if (ret)
        return ret;
    uint64_t k = 0;
    bool ok = num_u64(pq_fn.PQcmdTuples(r), 0, UINT64_MAX, &k) == 0;
    pq_fn.PQclear(r);
    *n = k;
    if (!ok) {
        snprintf(s->err, sizeof s->err, "%s: no row count in the server's answer", what);
        return -EIO;
    }
    return 0;
}

int store_pg_delete_rows(struct store *s, const struct guid *cmid, uint64_t *n)
{
    struct pg_params p = {0};
    pg_p_guid(&p, cmid);
    return delete_run(s, "DELETE FROM clients WHERE cmid = $1", &p, n, "cannot delete the client");
}

int store_pg_prune_rows(struct store *s, bool by_age, int64_t before, uint64_t limit, uint64_t *n)
{
    struct pg_params p = {0};
    if (by_age) {
        pg_p_int(&p, before);
        pg_p_int(&p, (int64_t)limit);
        return delete_run(s,
                          "DELETE FROM clients WHERE id IN (SELECT id FROM clients WHERE last_seen <= $1 ORDER BY"
                          " last_seen LIMIT $2)",
                          &p, n, "cannot prune old rows");
    }
    pg_p_int(&p, (int64_t)limit);
    return delete_run(s, "DELETE FROM clients WHERE id IN (SELECT id FROM clients ORDER BY last_seen, id LIMIT $1)", &p,
                      n, "cannot prune rows above the cap");
}

int store_pg_row_count(struct store *s, uint64_t *rows)
{
    PGresult *r;
    int ret = pg_run(s, "SELECT coalesce(sum(n), 0) FROM summary", NULL, &r, "cannot count rows");
    if (ret)
        return ret;
    int64_t v = pg_int(r, 0, 0);
    *rows = v > 0 ? (uint64_t)v : 0;
    pq_fn.PQclear(r);
    return 0;
}

int store_pg_active_count(struct store *s, enum store_app_group g, int64_t now, uint32_t window_days, uint32_t *out)
{
    struct pg_params p = {0};
    pg_p_int(&p, g);
    pg_p_int(&p, now - (int64_t)window_days * SECONDS_PER_DAY);
    pg_p_int(&p, now);
    PGresult *r;
    int ret;
    if (g == STORE_APP_OTHER) /* distinct CMIDs: a CMID may hold several "other" applications */
        ret = pg_run(s,
                     "SELECT count(DISTINCT cmid) FROM clients WHERE app_group = $1 AND last_seen > $2 AND"
                     " last_seen <= $3",
                     &p, &r, "cannot count clients");
    else {
        /* (a, b] from the days' counts (schema 6): the days after a's up to b's whole, plus the clients of a's day
         * after a, minus those of b's day after b; each edge an index range of one day at most */
        int64_t a = now - (int64_t)window_days * SECONDS_PER_DAY, da = store_day_of(a), db = store_day_of(now);
        pg_p_int(&p, da);
        pg_p_int(&p, db);
        pg_p_int(&p, (da + 1) * SECONDS_PER_DAY);
        pg_p_int(&p, (db + 1) * SECONDS_PER_DAY);
        ret = pg_run(s,
                     "SELECT (SELECT coalesce(sum(n), 0) FROM seen WHERE app_group = $1 AND day > $4 AND day <= $5)"
                     " + (SELECT count(*) FROM clients WHERE app_group = $1 AND last_seen > $2 AND last_seen < $6)"
                     " - (SELECT count(*) FROM clients WHERE app_group = $1 AND last_seen > $3 AND last_seen < $7)",
                     &p, &r, "cannot count clients");
    }
    if (ret)
        return ret;
    int64_t v = pg_int(r, 0, 0);
    *out = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    pq_fn.PQclear(r);
    return 0;
}

int store_pg_stat_rows(struct store *s, int (*fn)(void *ctx, const char *key, uint64_t v), void *ctx)
{
    PGresult *r;
    int ret = pg_run(s, "SELECT key, value FROM stats", NULL, &r, "cannot read statistics");
    if (ret)
        return ret;
    for (int i = 0; i < pq_fn.PQntuples(r); i++)
        if (fn(ctx, pq_fn.PQgetvalue(r, i, 0), (uint64_t)pg_int(r, i, 1)) != 0)
            break;
    pq_fn.PQclear(r);
    return 0;
}

int store_pg_tx_write(struct store *s)
{
    int ret = pg_ready(s);
    if (!ret)
        ret = pg_cmd(s, "BEGIN", "cannot start a transaction");
    s->pg->wrote = !ret;
    return ret;
}

int store_pg_tx_read(struct store *s)
{
    int ret = pg_ready(s);
    return ret ? ret : pg_cmd(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "cannot start a transaction");
}

int store_pg_tx_end(struct store *s, int ret, const char *what)
{
    return pg_end(s, ret, what);
}
