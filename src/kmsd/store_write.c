/* store_write — recording, merging, counting, pruning and statistics; see store_internal.h. */
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

enum store_app_group store_app_group_of(const struct guid *app_id)
{
    const struct products_app *a = products_app_by_id(app_id);
    return a && a->count_group < STORE_APP_OTHER ? (enum store_app_group)a->count_group : STORE_APP_OTHER;
}

/* The application whose count group is g, or NULL for STORE_APP_OTHER. One snapshot of the product table: the
 * writer thread and the HTTP lanes call this while a reload may swap it (products.h). */
static const struct products_app *group_app(enum store_app_group g)
{
    const struct products_tables *t = products_current();
    for (size_t i = 0; i < t->app_count; i++)
        if (t->apps[i].count_group == (uint32_t)g && g != STORE_APP_OTHER)
            return &t->apps[i];
    return NULL;
}

const char *store_app_group_key(enum store_app_group g)
{
    const struct products_app *a = group_app(g);
    return a ? a->key : "other";
}

const char *store_app_group_label(enum store_app_group g)
{
    const struct products_app *a = group_app(g);
    return a ? a->group_label : "other";
}

/* Binds ?1 to ?12 of ST_UPSERT and ST_MERGE, the columns an activation record (struct store_record) and an
 * imported row (struct store_client) share under the same field names: cmid, app_id, app_group, sku_id,
 * kms_id, workstation, product, license_status, grace_time, is_vm, version_major, version_minor. */
#define BIND_CLIENT_COLUMNS(st, x)                                                                                     \
    (store_bind_guid((st), 1, &(x)->cmid) | store_bind_guid((st), 2, &(x)->app_id) |                                  \
     sqlite_fn.sqlite3_bind_int((st), 3, (int)store_app_group_of(&(x)->app_id)) | store_bind_guid((st), 4, &(x)->sku_id) |     \
     store_bind_guid((st), 5, &(x)->kms_id) | store_bind_text((st), 6, (x)->workstation, sizeof(x)->workstation) |   \
     store_bind_text((st), 7, (x)->product, sizeof(x)->product) | sqlite_fn.sqlite3_bind_int64((st), 8, (x)->license_status) |  \
     sqlite_fn.sqlite3_bind_int64((st), 9, (x)->grace_time) | sqlite_fn.sqlite3_bind_int64((st), 10, (x)->is_vm) |                        \
     sqlite_fn.sqlite3_bind_int64((st), 11, (x)->version_major) | sqlite_fn.sqlite3_bind_int64((st), 12, (x)->version_minor))

/* New clients, by application group and product, counted into the summary table once per batch (summary_flush)
 * rather than by a trigger per row (schema 5). */
#define SUMMARY_KEYS 16 /* distinct (group, product) pairs held before a flush; a batch usually has a few */
struct summary_acc {
    struct {
        int group;
        const char *product; /* the record's text, alive until the flush */
        size_t len;
        uint64_t n;
    } k[SUMMARY_KEYS];
    size_t n;
};

static int summary_flush(struct store *s, struct summary_acc *a)
{
    int ret = 0;
    for (size_t i = 0; i < a->n && !ret; i++) {
        sqlite3_stmt *st;
        ret = store_stmt_get(s, ST_SUMMARY_ADD, &st);
        if (ret)
            break;
        int b = sqlite_fn.sqlite3_bind_int(st, 1, a->k[i].group) |
                sqlite_fn.sqlite3_bind_text(st, 2, a->k[i].product, (int)a->k[i].len, SQLITE_STATIC) |
                sqlite_fn.sqlite3_bind_int64(st, 3, (sqlite3_int64)a->k[i].n);
        ret = store_step_bound(s, st, b, "cannot count the new clients");
    }
    a->n = 0;
    return ret;
}

/* A row inserted for a client of app_id with product (cap bytes at most, as store_bind_text binds it). */
static int summary_note(struct store *s, struct summary_acc *a, const struct guid *app_id, const char *product,
                        size_t cap)
{
    int g = (int)store_app_group_of(app_id);
    size_t len = strnlen(product, cap);
    for (size_t i = 0; i < a->n; i++)
        if (a->k[i].group == g && a->k[i].len == len && memcmp(a->k[i].product, product, len) == 0) {
            a->k[i].n++;
            return 0;
        }
    int ret = a->n == SUMMARY_KEYS ? summary_flush(s, a) : 0;
    if (!ret)
        a->k[a->n++] = (__typeof__(a->k[0])){g, product, len, 1};
    return ret;
}

/* Runs ST_UPSERT or ST_UPDATE_ALL with the record's values; *changed gets whether a row was written, and a row
 * the upsert inserted is counted in a (NULL for ST_UPDATE_ALL, which never inserts). */
static int upsert_run(struct store *s, enum stmt_id id, const struct store_record *r, bool *changed,
                      struct summary_acc *a)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, id, &st);
    if (ret)
        return ret;
    if (a) /* an insert sets it (rowids start at 1); an update leaves it */
        sqlite_fn.sqlite3_set_last_insert_rowid(s->db, 0);
    int b = BIND_CLIENT_COLUMNS(st, r);
    b |= sqlite_fn.sqlite3_bind_int64(st, 13, r->time);
    b |= store_bind_text(st, 14, r->address, sizeof r->address);
    b |= store_bind_text(st, 15, r->epid, sizeof r->epid);
    b |= sqlite_fn.sqlite3_bind_int64(st, 16, r->hresult);
    b |= sqlite_fn.sqlite3_bind_text(st, 17, s->host, -1, SQLITE_STATIC);
    ret = store_step_bound(s, st, b, "cannot record the activation");
    *changed = !ret && sqlite_fn.sqlite3_changes(s->db) > 0;
    if (*changed && a && sqlite_fn.sqlite3_last_insert_rowid(s->db) != 0)
        ret = summary_note(s, a, &r->app_id, r->product, sizeof r->product);
    return ret;
}

/* An insert, or the common update; a row whose workstation, product or first_seen changes takes the update that
 * writes them (and their indexes). */
static int upsert_one(struct store *s, const struct store_record *r, struct summary_acc *a)
{
    bool changed = false;
    int ret = upsert_run(s, ST_UPSERT, r, &changed, a);
    return ret || changed ? ret : upsert_run(s, ST_UPDATE_ALL, r, &changed, NULL);
}

/* Runs ST_STAT_ADD (adds v to key's value) or ST_STAT_SET (sets it). */
static int stat_put(struct store *s, enum stmt_id id, const char *key, uint64_t v)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, id, &st);
    if (ret)
        return ret;
    int b = sqlite_fn.sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    b |= sqlite_fn.sqlite3_bind_int64(st, 2, (sqlite3_int64)v);
    return store_step_bound(s, st, b, "cannot update statistics");
}

static int stat_add(struct store *s, const char *key, uint64_t n)
{
    return n ? stat_put(s, ST_STAT_ADD, key, n) : 0;
}

static int64_t day_of(int64_t t)
{
    return t >= 0 ? t / SECONDS_PER_DAY : -((-t + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY);
}

/* Adds answered and refused activations to a day's row (UTC day number). */
static int daily_add(struct store *s, int64_t day, uint64_t answered, uint64_t refused)
{
    if (answered == 0 && refused == 0)
        return 0;
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_DAILY_ADD, &st);
    if (ret)
        return ret;
    int b = sqlite_fn.sqlite3_bind_int64(st, 1, day);
    b |= sqlite_fn.sqlite3_bind_int64(st, 2, (sqlite3_int64)answered);
    b |= sqlite_fn.sqlite3_bind_int64(st, 3, (sqlite3_int64)refused);
    return store_step_bound(s, st, b, "cannot update the daily counts");
}

/* Orders records by client key (cmid, application), keeping their given order within a key: the upserts of a
 * batch then walk the table's index once, in order, instead of at random (the fold's main cost at large
 * batches, docs/performance.md); on PostgreSQL, hosts sharing a registry also lock its rows in one order. */
static int by_key(const void *a, const void *b)
{
    const struct store_keyed *x = a, *y = b;
    int c = memcmp(x->r->cmid.b, y->r->cmid.b, sizeof x->r->cmid.b);
    if (!c)
        c = memcmp(x->r->app_id.b, y->r->app_id.b, sizeof x->r->app_id.b);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

struct store_keyed *store_by_key(const struct store_record *recs, size_t n)
{
    struct store_keyed *k = malloc((n ? n : 1) * sizeof *k);
    if (!k)
        return NULL;
    for (size_t i = 0; i < n; i++)
        k[i] = (struct store_keyed){&recs[i], i};
    qsort(k, n, sizeof *k, by_key);
    return k;
}

static int upsert_all(struct store *s, const struct store_record *recs, size_t n)
{
    struct summary_acc a = {.n = 0};
    struct store_keyed *k = n > 1 ? store_by_key(recs, n) : NULL;
    int ret = 0;
    if (!k) { /* one record, or no memory to sort: the given order is as correct, only slower */
        for (size_t i = 0; i < n && !ret; i++)
            ret = upsert_one(s, &recs[i], &a);
        return ret ? ret : summary_flush(s, &a);
    }
    for (size_t i = 0; i < n && !ret; i++)
        ret = upsert_one(s, k[i].r, &a);
    free(k);
    return ret ? ret : summary_flush(s, &a);
}

int store_tally(const struct store_record *recs, size_t n, struct store_tally *t,
                int (*day_fn)(void *ctx, int64_t day, uint64_t answered, uint64_t refused), void *ctx)
{
    memset(t, 0, sizeof *t);
    if (n == 0)
        return 0;
    int64_t day = day_of(recs[0].time);
    uint64_t answered = 0, refused = 0;
    int ret = 0;
    for (size_t i = 0; i < n && !ret; i++) {
        int64_t d = day_of(recs[i].time);
        if (d != day) {
            ret = answered || refused ? day_fn(ctx, day, answered, refused) : 0;
            day = d;
            answered = refused = 0;
        }
        if (recs[i].hresult != 0) {
            t->failed++;
            refused++;
        } else {
            answered++;
        }
        if (recs[i].license_status < KMS_LICENSE_STATUS_COUNT)
            t->by_status[recs[i].license_status]++;
    }
    if (!ret && (answered || refused))
        ret = day_fn(ctx, day, answered, refused);
    return ret;
}

static int daily_add_cb(void *ctx, int64_t day, uint64_t answered, uint64_t refused)
{
    return daily_add(ctx, day, answered, refused);
}

/* The daily counts and the statistics of a batch, in the given (time) order: the daily counts are added once
 * per run of records of the same day (a batch is usually one run). */
static int count_all(struct store *s, const struct store_record *recs, size_t n)
{
    struct store_tally t;
    int ret = store_tally(recs, n, &t, daily_add_cb, s);
    if (!ret)
        ret = stat_add(s, "requests", n);
    if (!ret)
        ret = stat_add(s, "failed", t.failed);
    for (size_t k = 0; k < KMS_LICENSE_STATUS_COUNT && !ret; k++)
        ret = stat_add(s, store_stat_status_keys[k], t.by_status[k]);
    return ret;
}

int store_batch_begin(struct store *s)
{
    if (s->pg)
        return store_pg_batch_begin(s);
    return store_exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
}

int store_batch_add(struct store *s, const struct store_record *recs, size_t n)
{
    if (s->pg)
        return store_pg_batch_add(s, recs, n);
    if (n == 0)
        return 0;
    int ret = upsert_all(s, recs, n);
    return ret ? ret : count_all(s, recs, n);
}

int store_batch_commit(struct store *s, uint64_t journal_seq)
{
    if (s->pg)
        return store_pg_batch_commit(s, journal_seq);
    int ret = journal_seq ? stat_put(s, ST_STAT_SET, STORE_STAT_JOURNAL_SEQ, journal_seq) : 0;
    return store_end(s, ret, "cannot commit");
}

void store_batch_abort(struct store *s)
{
    if (s->pg) {
        store_pg_batch_abort(s);
        return;
    }
    store_rollback(s);
}

int store_write_folded(struct store *s, const struct store_record *recs, size_t n, uint64_t journal_seq)
{
    if (n == 0 && journal_seq == 0)
        return 0;
    int ret = store_batch_begin(s);
    if (ret)
        return ret;
    ret = store_batch_add(s, recs, n);
    if (ret) {
        store_batch_abort(s);
        return ret;
    }
    return store_batch_commit(s, journal_seq);
}

int store_write(struct store *s, const struct store_record *recs, size_t n)
{
    return store_write_folded(s, recs, n, 0);
}

int store_stat_one(struct store *s, const char *key, int64_t *v)
{
    if (s->pg)
        return store_pg_stat_one(s, key, v);
    *v = 0;
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_STAT_ONE, &st);
    if (ret)
        return ret;
    int b = sqlite_fn.sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (b)
        return store_bind_failed(s, st, b, "cannot read the statistics");
    int rc = sqlite_fn.sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *v = sqlite_fn.sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot read the statistics");
    sqlite_fn.sqlite3_reset(st);
    return ret;
}

int store_journal_seq(struct store *s, uint64_t *seq)
{
    if (s->pg)
        return store_pg_journal_seq(s, seq);
    int64_t v = 0;
    int ret = store_stat_one(s, STORE_STAT_JOURNAL_SEQ, &v);
    *seq = (uint64_t)v;
    return ret;
}

static int merge_one(struct store *s, const struct store_client *c, bool *changed, struct summary_acc *a)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_MERGE, &st);
    if (ret)
        return ret;
    sqlite_fn.sqlite3_set_last_insert_rowid(s->db, 0);
    int b = BIND_CLIENT_COLUMNS(st, c);
    b |= sqlite_fn.sqlite3_bind_int64(st, 13, c->first_seen < c->last_seen ? c->first_seen : c->last_seen);
    b |= sqlite_fn.sqlite3_bind_int64(st, 14, c->last_seen);
    b |= sqlite_fn.sqlite3_bind_int64(st, 15, c->request_count ? (sqlite3_int64)c->request_count : 1);
    b |= store_bind_text(st, 16, c->address, sizeof c->address);
    b |= store_bind_text(st, 17, c->epid, sizeof c->epid);
    b |= store_bind_text(st, 18, c->host, sizeof c->host);
    ret = store_step_bound(s, st, b, "cannot import the row");
    *changed = !ret && sqlite_fn.sqlite3_changes(s->db) > 0;
    if (*changed && sqlite_fn.sqlite3_last_insert_rowid(s->db) != 0)
        ret = summary_note(s, a, &c->app_id, c->product, sizeof c->product);
    return ret;
}

int store_merge(struct store *s, const struct store_client *rows, size_t n, uint64_t *changed)
{
    if (s->pg)
        return store_pg_merge(s, rows, n, changed);
    *changed = 0;
    if (n == 0)
        return 0;
    int ret = store_exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (ret)
        return ret;
    uint64_t count = 0;
    struct summary_acc a = {.n = 0};
    for (size_t i = 0; i < n && !ret; i++) {
        bool ch = false;
        ret = merge_one(s, &rows[i], &ch, &a);
        count += ch;
    }
    if (!ret)
        ret = summary_flush(s, &a);
    if (!ret)
        ret = stat_add(s, STORE_STAT_ROWS_CHANGED, count);
    if ((ret = store_end(s, ret, "cannot commit")) == 0)
        *changed = count;
    return ret;
}

/* Runs a statement that returns one integer. */
int store_query_int(struct store *s, sqlite3_stmt *st, int64_t *v, const char *what)
{
    int rc = sqlite_fn.sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *v = sqlite_fn.sqlite3_column_int64(st, 0);
    else
        ret = store_fail(s, rc, what);
    sqlite_fn.sqlite3_reset(st);
    return ret;
}

uint32_t store_count_limit(enum store_app_group g)
{
    const struct products_tables *t = products_current();
    uint64_t cap = 0;
    for (size_t i = 0; i < t->kms_count; i++) {
        const struct products_kms *k = &t->kms[i];
        bool mine = g == STORE_APP_OTHER || (k->app && k->app->count_group == (uint32_t)g);
        if (mine && 2ull * k->n_policy > cap)
            cap = 2ull * k->n_policy;
    }
    if (cap == 0)
        cap = 1;
    return cap > STORE_COUNT_LIMIT_MAX ? STORE_COUNT_LIMIT_MAX : (uint32_t)cap;
}

/* Binds ?1 group and the window (now - window_days, now] as ?2, ?3. */
static int bind_window(sqlite3_stmt *st, enum store_app_group g, int64_t now, uint32_t window_days)
{
    return sqlite_fn.sqlite3_bind_int(st, 1, (int)g) | sqlite_fn.sqlite3_bind_int64(st, 2, now - (int64_t)window_days * SECONDS_PER_DAY) |
           sqlite_fn.sqlite3_bind_int64(st, 3, now);
}

int store_count(struct store *s, enum store_app_group g, int64_t now, uint32_t window_days, uint32_t limit,
                struct store_count *out)
{
    if (s->pg)
        return store_pg_count(s, g, now, window_days, limit, out);
    *out = (struct store_count){0, now};
    if (limit > STORE_COUNT_LIMIT_MAX)
        limit = STORE_COUNT_LIMIT_MAX;
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_COUNT, &st);
    if (ret)
        return ret;
    int b = bind_window(st, g, now, window_days);
    if (b)
        return store_bind_failed(s, st, b, "cannot count clients");
    /* newest first; a CMID met again (another application of the "other" group) is not counted twice */
    struct guid seen[STORE_COUNT_LIMIT_MAX];
    uint32_t n = 0;
    int64_t oldest = now;
    int rc = SQLITE_DONE;
    while (n < limit && (rc = sqlite_fn.sqlite3_step(st)) == SQLITE_ROW) {
        struct guid c;
        store_column_guid(st, 0, &c);
        uint32_t i = 0;
        while (i < n && memcmp(seen[i].b, c.b, sizeof c.b) != 0)
            i++;
        if (i == n) {
            seen[n++] = c;
            oldest = sqlite_fn.sqlite3_column_int64(st, 1);
        }
    }
    if (n < limit && rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot count clients");
    sqlite_fn.sqlite3_reset(st);
    if (ret)
        return ret;
    out->count = n;
    /* the limit's worth of clients stay in the window until the oldest of them leaves it */
    if (n == limit && limit > 0)
        out->holds_until = oldest + (int64_t)window_days * SECONDS_PER_DAY;
    return 0;
}

/* Clients of group g seen in the window, without a limit (the statistics). */
static int count_active(struct store *s, enum store_app_group g, int64_t now, uint32_t window_days, uint32_t *out)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, g == STORE_APP_OTHER ? ST_ACTIVE_OTHER : ST_ACTIVE, &st);
    if (ret)
        return ret;
    int b = bind_window(st, g, now, window_days);
    int64_t v = 0;
    ret = b ? store_bind_failed(s, st, b, "cannot count clients") : store_query_int(s, st, &v, "cannot count clients");
    if (!ret)
        *out = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return ret;
}

static int count_rows(struct store *s, uint64_t *rows)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_ROWS, &st);
    if (ret)
        return ret;
    int rc = sqlite_fn.sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        double v = sqlite_fn.sqlite3_column_double(st, 0); /* total() is a float: exact below 2^53 rows */
        *rows = v > 0 ? (uint64_t)v : 0;
    } else {
        ret = store_fail(s, rc, "cannot count rows");
    }
    sqlite_fn.sqlite3_reset(st);
    return ret;
}

/* Deletes up to chunk rows with one of the two prune statements (?1 bound by the caller's values). */
static int prune_run(struct store *s, enum stmt_id id, int64_t a, int64_t chunk, uint64_t *n, const char *what)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, id, &st);
    if (ret)
        return ret;
    int b = sqlite_fn.sqlite3_bind_int64(st, 1, a);
    if (id == ST_PRUNE_AGE)
        b |= sqlite_fn.sqlite3_bind_int64(st, 2, chunk);
    ret = store_step_bound(s, st, b, what);
    uint64_t k = ret ? 0 : (uint64_t)sqlite_fn.sqlite3_changes(s->db);
    *n += k;
    if (!ret)
        ret = stat_add(s, STORE_STAT_ROWS_CHANGED, k);
    return ret;
}

int store_prune_step(struct store *s, int64_t now, uint32_t retention_days, uint64_t row_cap, uint32_t chunk,
                     uint64_t *deleted, bool *more)
{
    if (s->pg)
        return store_pg_prune_step(s, now, retention_days, row_cap, chunk, deleted, more);
    *deleted = 0;
    *more = false;
    if (chunk == 0)
        chunk = STORE_PRUNE_CHUNK;
    int ret = store_exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (ret)
        return ret;
    uint64_t n = 0;
    ret = prune_run(s, ST_PRUNE_AGE, now - (int64_t)retention_days * SECONDS_PER_DAY, chunk, &n,
                    "cannot prune old rows");
    uint64_t rows = 0;
    if (!ret && n < chunk)
        ret = count_rows(s, &rows);
    if (!ret && n < chunk && rows > row_cap) {
        uint64_t excess = rows - row_cap, room = chunk - n;
        ret = prune_run(s, ST_PRUNE_CAP, (int64_t)(excess < room ? excess : room), 0, &n,
                        "cannot prune rows above the cap");
        *more = excess > room;
    } else if (!ret && n == chunk) {
        *more = true;
    }
    if ((ret = store_end(s, ret, "cannot commit")) != 0) {
        *more = false;
        return ret;
    }
    *deleted = n;
    return 0;
}

int store_prune(struct store *s, int64_t now, uint32_t retention_days, uint64_t row_cap, uint64_t *deleted)
{
    *deleted = 0;
    bool more = true;
    while (more) { /* bounded: a step that deletes nothing ends it, and the table is finite */
        uint64_t n = 0;
        int ret = store_prune_step(s, now, retention_days, row_cap, STORE_PRUNE_CHUNK, &n, &more);
        if (ret)
            return ret;
        *deleted += n;
        if (n == 0)
            break;
    }
    return 0;
}

int store_vacuum_step(struct store *s, uint32_t pages, bool *more)
{
    *more = false;
    if (s->pg) /* PostgreSQL's autovacuum gives dead rows' space to new ones */
        return 0;
    int64_t free_pages = 0, left = 0;
    int ret = store_pragma_int(s, "PRAGMA freelist_count", "cannot read the free page count", &free_pages);
    if (ret || free_pages == 0)
        return ret;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%u)", (unsigned)(pages ? pages : STORE_VACUUM_PAGES));
    ret = store_exec(s, sql, "cannot give free pages back");
    /* a database made before auto_vacuum (kmsd before schema 3) keeps its free pages for new rows */
    if (!ret)
        ret = store_pragma_int(s, "PRAGMA freelist_count", "cannot read the free page count", &left);
    *more = !ret && left > 0 && left < free_pages;
    return ret;
}

/* The database's size in bytes: page_count × page_size. */
static int db_bytes(struct store *s, uint64_t *out)
{
    int64_t count = 0, size = 0;
    int ret = store_pragma_int(s, "PRAGMA page_count", "cannot read the size", &count);
    if (!ret)
        ret = store_pragma_int(s, "PRAGMA page_size", "cannot read the size", &size);
    if (!ret)
        *out = (uint64_t)count * (uint64_t)size;
    return ret;
}

int store_compact(struct store *s, uint64_t *before, uint64_t *after)
{
    if (s->pg) {
        snprintf(s->err, sizeof s->err, "a PostgreSQL registry is compacted by the server (VACUUM FULL clients)");
        return -ENOTSUP;
    }
    int ret = db_bytes(s, before);
    /* VACUUM copies the whole database to a scratch file first: on disk, not in memory (temp_store) */
    if (!ret)
        ret = store_exec(s, "PRAGMA temp_store = FILE", "cannot set temp_store");
    if (!ret)
        ret = store_exec(s, "PRAGMA auto_vacuum = INCREMENTAL", "cannot set auto_vacuum");
    if (!ret)
        ret = store_exec(s, "VACUUM", "cannot compact the database");
    int r2 = store_exec(s, "PRAGMA temp_store = MEMORY", "cannot set temp_store");
    if (!ret)
        ret = r2;
    if (!ret)
        ret = db_bytes(s, after);
    return ret;
}

int store_stats_get(struct store *s, int64_t now, struct store_stats *out)
{
    if (s->pg)
        return store_pg_stats_get(s, now, out);
    memset(out, 0, sizeof *out);
    /* One read transaction, so the counters and counts come from the same snapshot. */
    int ret = store_exec(s, "BEGIN", "cannot start a transaction");
    if (ret)
        return ret;
    sqlite3_stmt *st;
    ret = store_stmt_get(s, ST_STAT_GET, &st);
    if (!ret) {
        int rc;
        while ((rc = sqlite_fn.sqlite3_step(st)) == SQLITE_ROW) {
            const char *key = (const char *)sqlite_fn.sqlite3_column_text(st, 0);
            uint64_t v = (uint64_t)sqlite_fn.sqlite3_column_int64(st, 1);
            if (!key)
                continue;
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
        if (rc != SQLITE_DONE)
            ret = store_fail(s, rc, "cannot read statistics");
        sqlite_fn.sqlite3_reset(st);
    }
    if (!ret)
        ret = count_rows(s, &out->clients);
    for (int g = 0; g < STORE_APP_GROUPS && !ret; g++)
        ret = count_active(s, (enum store_app_group)g, now, STORE_COUNT_WINDOW_DAYS, &out->current_count[g]);
    return store_end(s, ret, "cannot end the transaction");
}

const char *store_counter_key(size_t i, const struct store_stats *st, uint64_t *v)
{
    static const char *const first[] = {"requests", "failed", "unrecorded"};
    const uint64_t fv[] = {st->requests, st->failed, st->unrecorded};
    if (i < 3) {
        *v = fv[i];
        return first[i];
    }
    *v = st->by_status[i - 3];
    return store_stat_status_keys[i - 3];
}

int store_counters_raise(struct store *s, const struct store_stats *st, const struct store_day *days, size_t n)
{
    if (s->pg)
        return store_pg_counters_raise(s, st, days, n);
    int ret = store_exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    for (size_t i = 0; i < STORE_COUNTER_KEYS && !ret; i++) {
        uint64_t v = 0;
        const char *key = store_counter_key(i, st, &v);
        ret = stat_put(s, ST_STAT_RAISE, key, v);
    }
    for (size_t i = 0; i < n && !ret; i++) {
        sqlite3_stmt *q;
        ret = store_stmt_get(s, ST_DAILY_RAISE, &q);
        if (ret)
            break;
        int b = sqlite_fn.sqlite3_bind_int64(q, 1, days[i].day) |
                sqlite_fn.sqlite3_bind_int64(q, 2, (sqlite3_int64)days[i].answered) |
                sqlite_fn.sqlite3_bind_int64(q, 3, (sqlite3_int64)days[i].refused);
        ret = store_step_bound(s, q, b, "cannot copy the daily counts");
    }
    return ret ? (store_rollback(s), ret) : store_end(s, 0, "cannot commit");
}

int store_note_unrecorded(struct store *s, uint64_t n)
{
    if (s->pg)
        return store_pg_note_unrecorded(s, n);
    int ret = store_exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (ret)
        return ret;
    return store_end(s, stat_add(s, "unrecorded", n), "cannot commit");
}

int store_delete_client(struct store *s, const struct guid *cmid, uint64_t *deleted)
{
    if (s->pg)
        return store_pg_delete_client(s, cmid, deleted);
    *deleted = 0;
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_DELETE, &st);
    if (ret)
        return ret;
    if ((ret = store_exec(s, "BEGIN IMMEDIATE", "cannot start a transaction")) != 0)
        return ret;
    ret = store_step_bound(s, st, store_bind_guid(st, 1, cmid), "cannot delete the client");
    uint64_t n = ret ? 0 : (uint64_t)sqlite_fn.sqlite3_changes(s->db);
    if (!ret)
        ret = stat_add(s, STORE_STAT_ROWS_CHANGED, n);
    if ((ret = store_end(s, ret, "cannot commit")) == 0)
        *deleted = n;
    return ret;
}

void store_set_host(struct store *s, const char *name)
{
    snprintf(s->host, sizeof s->host, "%s", name ? name : "");
}
