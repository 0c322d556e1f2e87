/* store_pg_write — recording, merging, counting, pruning and statistics on PostgreSQL; see store_pg.h. */
#include "store_pg_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pq_fns.h"

#include "kms.h"
#include "timeutil.h"

/* Upserts sent before their results are read (pipeline mode): their results, a row each, stay far below what the
 * socket buffers hold, so neither side waits for the other. */
#define PG_PIPELINE_CHUNK 512
#define PG_SUMMARY_KEYS 16

/* A batch's records of one client (cmid, application), as one upsert: the last record's fields, the earliest and
 * latest times, how many, and the ePID last given (a refusal keeps the one before). */
struct coalesced {
    const struct store_record *last;
    int64_t first, latest;
    uint64_t n;
    bool answered;
    const char *epid;
};

/* New rows by (group, product), added to the summary in one order (hosts sharing the registry lock its rows alike). */
struct pg_summary {
    struct {
        int group;
        const char *product;
        uint64_t n;
    } k[PG_SUMMARY_KEYS];
    size_t n;
};

static int summary_cmp(const void *a, const void *b)
{
    const __typeof__(((struct pg_summary *)0)->k[0]) *x = a, *y = b;
    return x->group != y->group ? (x->group > y->group) - (x->group < y->group) : strcmp(x->product, y->product);
}

static int summary_flush(struct store *s, struct pg_summary *a)
{
    qsort(a->k, a->n, sizeof a->k[0], summary_cmp);
    int ret = 0;
    for (size_t i = 0; i < a->n && !ret; i++) {
        struct pg_params p = {0};
        pg_p_int(&p, a->k[i].group);
        pg_p_text(&p, a->k[i].product, strlen(a->k[i].product) + 1);
        pg_p_int(&p, (int64_t)a->k[i].n);
        PGresult *r;
        ret = pg_run_prepared(s, PS_SUMMARY_ADD, &p, &r, "cannot count the new clients");
        if (!ret)
            pq_fn.PQclear(r);
    }
    a->n = 0;
    return ret;
}

static int summary_note(struct store *s, struct pg_summary *a, const struct guid *app_id, const char *product)
{
    int g = (int)store_app_group_of(app_id);
    for (size_t i = 0; i < a->n; i++)
        if (a->k[i].group == g && strcmp(a->k[i].product, product) == 0) {
            a->k[i].n++;
            return 0;
        }
    int ret = a->n == PG_SUMMARY_KEYS ? summary_flush(s, a) : 0;
    if (!ret) {
        a->k[a->n].group = g;
        a->k[a->n].product = product;
        a->k[a->n].n = 1;
        a->n++;
    }
    return ret;
}

static int stat_put(struct store *s, enum pg_stmt id, const char *key, int64_t v)
{
    struct pg_params p = {0};
    pg_p_text(&p, key, strlen(key) + 1);
    pg_p_int(&p, v);
    PGresult *r;
    int ret = pg_run_prepared(s, id, &p, &r, "cannot update statistics");
    if (!ret)
        pq_fn.PQclear(r);
    return ret;
}

static int stat_add(struct store *s, const char *key, uint64_t n)
{
    return n ? stat_put(s, PS_STAT_ADD, key, (int64_t)n) : 0;
}

static int daily_add(void *ctx, int64_t day, uint64_t answered, uint64_t refused)
{
    struct store *s = ctx;
    struct pg_params p = {0};
    pg_p_int(&p, day);
    pg_p_int(&p, (int64_t)answered);
    pg_p_int(&p, (int64_t)refused);
    PGresult *r;
    int ret = pg_run_prepared(s, PS_DAILY_ADD, &p, &r, "cannot update the daily counts");
    if (!ret)
        pq_fn.PQclear(r);
    return ret;
}

/* The stats key of this host's last folded journal record: each host sharing a registry has its own journal. */
static void journal_key(const struct store *s, char *out, size_t cap)
{
    if (s->host[0])
        snprintf(out, cap, "%s@%s", STORE_STAT_JOURNAL_SEQ, s->host);
    else
        snprintf(out, cap, "%s", STORE_STAT_JOURNAL_SEQ);
}

static void upsert_params(const struct store *s, const struct coalesced *c, struct pg_params *p)
{
    const struct store_record *r = c->last;
    memset(p, 0, offsetof(struct pg_params, num));
    p->nfix = 0;
    pg_p_guid(p, &r->cmid);
    pg_p_guid(p, &r->app_id);
    pg_p_int(p, store_app_group_of(&r->app_id));
    pg_p_guid(p, &r->sku_id);
    pg_p_guid(p, &r->kms_id);
    pg_p_text(p, r->workstation, sizeof r->workstation);
    pg_p_text(p, r->product, sizeof r->product);
    pg_p_int(p, r->license_status);
    pg_p_int(p, r->grace_time);
    pg_p_int(p, r->is_vm);
    pg_p_int(p, r->version_major);
    pg_p_int(p, r->version_minor);
    pg_p_int(p, c->first);
    pg_p_int(p, c->latest);
    pg_p_int(p, (int64_t)c->n);
    pg_p_text(p, r->address, sizeof r->address);
    pg_p_text(p, c->epid, sizeof r->epid);
    pg_p_int(p, r->hresult);
    pg_p_text(p, s->host, sizeof s->host);
    pg_p_bool(p, c->answered);
}

/* Sends up to n upserts in one pipeline and reads their results; a new row is counted in a. */
static int upsert_chunk(struct store *s, const struct coalesced *c, size_t n, struct pg_summary *a)
{
    PGconn *conn = s->pg->conn;
    if (!pq_fn.PQenterPipelineMode(conn))
        return pg_fail(s, NULL, "cannot record the activations");
    int ret = 0;
    size_t sent = 0;
    static struct pg_params p; /* large; only the writer thread records */
    for (; sent < n; sent++) {
        upsert_params(s, &c[sent], &p);
        if (!pq_fn.PQsendQueryPrepared(conn, pg_stmt_name(PS_UPSERT), p.n, p.v, p.len, p.fmt, 0)) {
            ret = pg_note(s, NULL, "cannot record the activations");
            break;
        }
    }
    if (!pq_fn.PQpipelineSync(conn) && !ret)
        ret = pg_note(s, NULL, "cannot record the activations");
    bool inserted[PG_PIPELINE_CHUNK] = {false};
    size_t idx = 0, nulls = 0;
    /* results: one per query, each followed by NULL, then the sync's; bounded by what was sent */
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
        if (st == PGRES_TUPLES_OK && idx < n) {
            const char *v = pq_fn.PQntuples(r) == 1 ? pq_fn.PQgetvalue(r, 0, 0) : NULL;
            inserted[idx] = v && v[0] == 't';
        } else if (st != PGRES_PIPELINE_ABORTED && !ret) {
            ret = pg_note(s, r, "cannot record the activations");
        }
        idx++;
        pq_fn.PQclear(r);
    }
    if (!pq_fn.PQexitPipelineMode(conn) && !ret)
        ret = pg_note(s, NULL, "cannot record the activations");
    if (!ret && idx < sent) {
        snprintf(s->err, sizeof s->err, "cannot record the activations: %zu of %zu results", idx, sent);
        ret = -EIO;
    }
    ret = pg_check_connection(s, ret);
    for (size_t i = 0; i < sent && !ret; i++)
        if (inserted[i])
            ret = summary_note(s, a, &c[i].last->app_id, c[i].last->product);
    return ret;
}

int store_pg_batch_begin(struct store *s)
{
    int ret = pg_ready(s);
    if (!ret)
        ret = pg_prepare(s, PS_UPSERT);
    return ret ? ret : pg_cmd(s, "BEGIN", "cannot start a transaction");
}

/* The batch's records of one client, coalesced: k[from..to) share a key, in their given order. */
static void coalesce(const struct store_keyed *k, size_t from, size_t to, struct coalesced *out)
{
    const struct store_record *f = k[from].r;
    *out = (struct coalesced){k[to - 1].r, f->time, f->time, to - from, false, f->epid};
    for (size_t i = from; i < to; i++) {
        const struct store_record *r = k[i].r;
        if (r->time < out->first)
            out->first = r->time;
        if (r->time > out->latest)
            out->latest = r->time;
        if (r->hresult == 0) {
            out->answered = true;
            out->epid = r->epid;
        }
    }
}

static bool same_key(const struct store_record *a, const struct store_record *b)
{
    return memcmp(a->cmid.b, b->cmid.b, sizeof a->cmid.b) == 0 && memcmp(a->app_id.b, b->app_id.b, sizeof a->app_id.b) == 0;
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
    struct coalesced *c = malloc(PG_PIPELINE_CHUNK * sizeof *c);
    if (!k || !c) {
        free(k);
        free(c);
        snprintf(s->err, sizeof s->err, "cannot record the activations: out of memory");
        return -ENOMEM;
    }
    struct pg_summary a = {.n = 0};
    int ret = 0;
    size_t nc = 0;
    for (size_t i = 0; i < n && !ret;) {
        size_t j = i + 1;
        while (j < n && same_key(k[i].r, k[j].r))
            j++;
        coalesce(k, i, j, &c[nc++]);
        i = j;
        if (nc == PG_PIPELINE_CHUNK || i == n) {
            ret = upsert_chunk(s, c, nc, &a);
            nc = 0;
        }
    }
    if (!ret)
        ret = summary_flush(s, &a);
    free(c);
    free(k);
    struct store_tally t;
    if (!ret)
        ret = store_tally(recs, n, &t, daily_add, s);
    if (!ret)
        ret = stat_add(s, "requests", n);
    if (!ret)
        ret = stat_add(s, "failed", t.failed);
    for (size_t i = 0; i < KMS_LICENSE_STATUS_COUNT && !ret; i++)
        ret = stat_add(s, store_stat_status_keys[i], t.by_status[i]);
    return ret;
}

int store_pg_batch_commit(struct store *s, uint64_t journal_seq)
{
    if (!s->pg->conn || pq_fn.PQtransactionStatus(s->pg->conn) != PQTRANS_INTRANS) {
        snprintf(s->err, sizeof s->err, "cannot commit: no transaction (the connection was lost or a statement failed)");
        store_pg_batch_abort(s);
        return s->pg->conn ? -EIO : -ENOTCONN;
    }
    char key[sizeof STORE_STAT_JOURNAL_SEQ + STORE_HOST_MAX + 2];
    journal_key(s, key, sizeof key);
    int ret = journal_seq ? stat_put(s, PS_STAT_SET, key, (int64_t)journal_seq) : 0;
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

int store_pg_journal_seq(struct store *s, uint64_t *seq)
{
    char key[sizeof STORE_STAT_JOURNAL_SEQ + STORE_HOST_MAX + 2];
    journal_key(s, key, sizeof key);
    int64_t v = 0;
    int ret = store_pg_stat_one(s, key, &v);
    *seq = (uint64_t)v;
    return ret;
}

static int merge_one(struct store *s, const struct store_client *c, bool *changed, struct pg_summary *a)
{
    struct pg_params p = {0};
    pg_p_guid(&p, &c->cmid);
    pg_p_guid(&p, &c->app_id);
    pg_p_int(&p, store_app_group_of(&c->app_id));
    pg_p_guid(&p, &c->sku_id);
    pg_p_guid(&p, &c->kms_id);
    pg_p_text(&p, c->workstation, sizeof c->workstation);
    pg_p_text(&p, c->product, sizeof c->product);
    pg_p_int(&p, c->license_status);
    pg_p_int(&p, c->grace_time);
    pg_p_int(&p, c->is_vm);
    pg_p_int(&p, c->version_major);
    pg_p_int(&p, c->version_minor);
    pg_p_int(&p, c->first_seen < c->last_seen ? c->first_seen : c->last_seen);
    pg_p_int(&p, c->last_seen);
    pg_p_int(&p, c->request_count ? (int64_t)c->request_count : 1);
    pg_p_text(&p, c->address, sizeof c->address);
    pg_p_text(&p, c->epid, sizeof c->epid);
    pg_p_text(&p, c->host, sizeof c->host);
    PGresult *r;
    int ret = pg_run_prepared(s, PS_MERGE, &p, &r, "cannot import the row");
    if (ret)
        return ret;
    *changed = pq_fn.PQntuples(r) == 1;
    bool inserted = *changed && pq_fn.PQgetvalue(r, 0, 0)[0] == 't';
    pq_fn.PQclear(r);
    return inserted ? summary_note(s, a, &c->app_id, c->product) : 0;
}

int store_pg_merge(struct store *s, const struct store_client *rows, size_t n, uint64_t *changed)
{
    *changed = 0;
    if (n == 0)
        return 0;
    int ret = pg_ready(s);
    if (!ret)
        ret = pg_cmd(s, "BEGIN", "cannot start a transaction");
    if (ret)
        return ret;
    uint64_t count = 0;
    struct pg_summary a = {.n = 0};
    for (size_t i = 0; i < n && !ret; i++) {
        bool ch = false;
        ret = merge_one(s, &rows[i], &ch, &a);
        count += ch;
    }
    if (!ret)
        ret = summary_flush(s, &a);
    if (!ret)
        ret = stat_add(s, STORE_STAT_ROWS_CHANGED, count);
    if ((ret = pg_end(s, ret, "cannot commit")) == 0)
        *changed = count;
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

/* Runs a DELETE and adds the rows it deleted to *n and to rows_changed. */
static int prune_run(struct store *s, const char *sql, const struct pg_params *p, uint64_t *n, const char *what)
{
    PGresult *r;
    int ret = pg_run(s, sql, p, &r, what);
    if (ret)
        return ret;
    uint64_t k = strtoull(pq_fn.PQcmdTuples(r), NULL, 10);
    pq_fn.PQclear(r);
    *n += k;
    return stat_add(s, STORE_STAT_ROWS_CHANGED, k);
}

static int count_rows(struct store *s, uint64_t *rows)
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

int store_pg_prune_step(struct store *s, int64_t now, uint32_t retention_days, uint64_t row_cap, uint32_t chunk,
                        uint64_t *deleted, bool *more)
{
    *deleted = 0;
    *more = false;
    if (chunk == 0)
        chunk = STORE_PRUNE_CHUNK;
    int ret = pg_ready(s);
    if (!ret)
        ret = pg_cmd(s, "BEGIN", "cannot start a transaction");
    if (ret)
        return ret;
    uint64_t n = 0, rows = 0;
    struct pg_params p = {0};
    pg_p_int(&p, now - (int64_t)retention_days * SECONDS_PER_DAY);
    pg_p_int(&p, chunk);
    ret = prune_run(s,
                    "DELETE FROM clients WHERE id IN (SELECT id FROM clients WHERE last_seen <= $1 ORDER BY last_seen"
                    " LIMIT $2)",
                    &p, &n, "cannot prune old rows");
    if (!ret && n < chunk)
        ret = count_rows(s, &rows);
    if (!ret && n < chunk && rows > row_cap) {
        uint64_t excess = rows - row_cap, room = chunk - n;
        struct pg_params q = {0};
        pg_p_int(&q, (int64_t)(excess < room ? excess : room));
        ret = prune_run(s, "DELETE FROM clients WHERE id IN (SELECT id FROM clients ORDER BY last_seen, id LIMIT $1)",
                        &q, &n, "cannot prune rows above the cap");
        *more = excess > room;
    } else if (!ret && n == chunk) {
        *more = true;
    }
    if ((ret = pg_end(s, ret, "cannot commit")) != 0) {
        *more = false;
        return ret;
    }
    *deleted = n;
    return 0;
}

int store_pg_stats_get(struct store *s, int64_t now, struct store_stats *out)
{
    memset(out, 0, sizeof *out);
    int ret = pg_ready(s);
    /* one snapshot for the counters and the counts */
    if (!ret)
        ret = pg_cmd(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "cannot start a transaction");
    if (ret)
        return ret;
    PGresult *r;
    ret = pg_run(s, "SELECT key, value FROM stats", NULL, &r, "cannot read statistics");
    if (!ret) {
        for (int i = 0; i < pq_fn.PQntuples(r); i++) {
            const char *key = pq_fn.PQgetvalue(r, i, 0);
            uint64_t v = (uint64_t)pg_int(r, i, 1);
            if (strcmp(key, "requests") == 0)
                out->requests = v;
            else if (strcmp(key, "failed") == 0)
                out->failed = v;
            else if (strcmp(key, "unrecorded") == 0)
                out->unrecorded = v;
            for (size_t k = 0; k < KMS_LICENSE_STATUS_COUNT; k++)
                if (strcmp(key, store_stat_status_keys[k]) == 0)
                    out->by_status[k] = v;
        }
        pq_fn.PQclear(r);
    }
    if (!ret)
        ret = count_rows(s, &out->clients);
    for (int g = 0; g < STORE_APP_GROUPS && !ret; g++) {
        struct pg_params p = {0};
        pg_p_int(&p, g);
        pg_p_int(&p, now - (int64_t)STORE_COUNT_WINDOW_DAYS * SECONDS_PER_DAY);
        pg_p_int(&p, now);
        ret = pg_run(s,
                     g == STORE_APP_OTHER ? "SELECT count(DISTINCT cmid) FROM clients WHERE app_group = $1 AND"
                                            " last_seen > $2 AND last_seen <= $3"
                                          : "SELECT count(*) FROM clients WHERE app_group = $1 AND last_seen > $2 AND"
                                            " last_seen <= $3",
                     &p, &r, "cannot count clients");
        if (!ret) {
            int64_t v = pg_int(r, 0, 0);
            out->current_count[g] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
            pq_fn.PQclear(r);
        }
    }
    return pg_end(s, ret, "cannot end the transaction");
}

int store_pg_counters_raise(struct store *s, const struct store_stats *st, const struct store_day *days, size_t n)
{
    int ret = pg_ready(s);
    if (!ret)
        ret = pg_cmd(s, "BEGIN", "cannot start a transaction");
    if (ret)
        return ret;
    for (size_t i = 0; i < STORE_COUNTER_KEYS && !ret; i++) {
        uint64_t v = 0;
        const char *key = store_counter_key(i, st, &v);
        ret = stat_put(s, PS_STAT_RAISE, key, (int64_t)v);
    }
    for (size_t i = 0; i < n && !ret; i++) {
        struct pg_params p = {0};
        pg_p_int(&p, days[i].day);
        pg_p_int(&p, (int64_t)days[i].answered);
        pg_p_int(&p, (int64_t)days[i].refused);
        PGresult *r;
        ret = pg_run_prepared(s, PS_DAILY_RAISE, &p, &r, "cannot copy the daily counts");
        if (!ret)
            pq_fn.PQclear(r);
    }
    return pg_end(s, ret, "cannot commit");
}

int store_pg_note_unrecorded(struct store *s, uint64_t n)
{
    int ret = pg_ready(s);
    return ret ? ret : stat_add(s, "unrecorded", n); /* one statement: its own transaction */
}

int store_pg_delete_client(struct store *s, const struct guid *cmid, uint64_t *deleted)
{
    *deleted = 0;
    int ret = pg_ready(s);
    if (!ret)
        ret = pg_cmd(s, "BEGIN", "cannot start a transaction");
    if (ret)
        return ret;
    struct pg_params p = {0};
    pg_p_guid(&p, cmid);
    uint64_t n = 0;
    ret = prune_run(s, "DELETE FROM clients WHERE cmid = $1", &p, &n, "cannot delete the client");
    if ((ret = pg_end(s, ret, "cannot commit")) == 0)
        *deleted = n;
    return ret;
}
