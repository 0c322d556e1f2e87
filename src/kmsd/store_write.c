/* store_write — SQLite's recording and genuine count, and its engine primitives (store_internal.h); each public
 * function hands a PostgreSQL store to its store_pg_* twin first. */
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

/* Binds ?1 to ?12 of ST_UPSERT, ST_UPDATE_ALL and ST_MERGE, the columns an activation record (struct store_record)
 * and an imported row (struct store_client) share under the same field names: cmid, app_id, app_group, sku_id,
 * kms_id, workstation, product, license_status, grace_time, is_vm, version_major, version_minor. */
#define BIND_CLIENT_COLUMNS(st, x)                                                                                     \
    (store_bind_guid((st), 1, &(x)->cmid) | store_bind_guid((st), 2, &(x)->app_id) |                                  \
     sqlite_fn.sqlite3_bind_int((st), 3, (int)store_app_group_of(&(x)->app_id)) | store_bind_guid((st), 4, &(x)->sku_id) |     \
     store_bind_guid((st), 5, &(x)->kms_id) | store_bind_text((st), 6, (x)->workstation, sizeof(x)->workstation) |   \
     store_bind_text((st), 7, (x)->product, sizeof(x)->product) | sqlite_fn.sqlite3_bind_int64((st), 8, (x)->license_status) |  \
     sqlite_fn.sqlite3_bind_int64((st), 9, (x)->grace_time) | sqlite_fn.sqlite3_bind_int64((st), 10, (x)->is_vm) |                        \
     sqlite_fn.sqlite3_bind_int64((st), 11, (x)->version_major) | sqlite_fn.sqlite3_bind_int64((st), 12, (x)->version_minor))

/* ---- engine primitives ---- */

int store_tx_write(struct store *s)
{
    if (s->pg)
        return store_pg_tx_write(s);
    return store_exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
}

int store_tx_read(struct store *s)
{
    if (s->pg)
        return store_pg_tx_read(s);
    return store_exec(s, "BEGIN", "cannot start a transaction");
}

int store_tx_end(struct store *s, int ret, const char *what)
{
    if (s->pg)
        return store_pg_tx_end(s, ret, what);
    return store_end(s, ret, what);
}

int store_stat_op(struct store *s, enum store_stat_op op, const char *key, uint64_t v)
{
    if (op == STORE_STAT_ADD && v == 0)
        return 0;
    if (s->pg)
        return store_pg_stat_op(s, op, key, v);
    static const enum stmt_id ids[] = {[STORE_STAT_ADD] = ST_STAT_ADD, [STORE_STAT_SET] = ST_STAT_SET,
                                       [STORE_STAT_RAISE] = ST_STAT_RAISE};
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ids[op], &st);
    if (ret)
        return ret;
    int b = sqlite_fn.sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    b |= sqlite_fn.sqlite3_bind_int64(st, 2, (sqlite3_int64)v);
    return store_step_bound(s, st, b, "cannot update statistics");
}

int store_daily_op(struct store *s, bool raise, int64_t day, uint64_t answered, uint64_t refused)
{
    if (s->pg)
        return store_pg_daily_op(s, raise, day, answered, refused);
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, raise ? ST_DAILY_RAISE : ST_DAILY_ADD, &st);
    if (ret)
        return ret;
    int b = sqlite_fn.sqlite3_bind_int64(st, 1, day);
    b |= sqlite_fn.sqlite3_bind_int64(st, 2, (sqlite3_int64)answered);
    b |= sqlite_fn.sqlite3_bind_int64(st, 3, (sqlite3_int64)refused);
    return store_step_bound(s, st, b, "cannot update the daily counts");
}

int store_summary_add(struct store *s, int group, const char *product, size_t len, uint64_t n)
{
    if (s->pg)
        return store_pg_summary_add(s, group, product, len, n);
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_SUMMARY_ADD, &st);
    if (ret)
        return ret;
    int b = sqlite_fn.sqlite3_bind_int(st, 1, group) |
            sqlite_fn.sqlite3_bind_text(st, 2, product, (int)len, SQLITE_STATIC) |
            sqlite_fn.sqlite3_bind_int64(st, 3, (sqlite3_int64)n);
    return store_step_bound(s, st, b, "cannot count the new clients");
}

/* The client's key placing (ST_UPSERT, ST_MERGE and ST_UPDATE_ALL's ?20 to ?22, store_internal.h): the key the row
 * is written at, the home key an inserted row keeps (0 with home false: none) and whether an insert first checks
 * that no displaced row calls the key home (the first try at a client's own key). */
struct key_at {
    int64_t key, home;
    bool has_home, guard;
};

/* ?22 only for a guard (ST_UPSERT has none; store_stmt_get left every parameter NULL). */
static int bind_key(sqlite3_stmt *st, const struct key_at *k)
{
    return sqlite_fn.sqlite3_bind_int64(st, 20, k->key) |
           (k->has_home ? sqlite_fn.sqlite3_bind_int64(st, 21, k->home) : sqlite_fn.sqlite3_bind_null(st, 21)) |
           (k->guard ? sqlite_fn.sqlite3_bind_int64(st, 22, k->key) : SQLITE_OK);
}

/* Where the client's row is, after a first try at its own key changed nothing: *found, and its key in *at; or, when
 * there is none, a free key for it in *at (its own is held by another client, or the insert's guard stopped it). */
static int find_row(struct store *s, const struct guid *cmid, const struct guid *app, int64_t key, bool *found,
                    int64_t *at)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_FIND, &st);
    if (ret)
        return ret;
    int b = store_bind_guid(st, 1, cmid) | store_bind_guid(st, 2, app) | sqlite_fn.sqlite3_bind_int64(st, 3, key);
    if (b)
        return store_bind_failed(s, st, b, "cannot find the client");
    int rc = sqlite_fn.sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (*found)
        *at = sqlite_fn.sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot find the client");
    sqlite_fn.sqlite3_reset(st);
    if (ret || *found)
        return ret;
    /* Its own key is taken (a hash collision) or, freed since, guarded by a displaced row: not its own */
    sqlite3_stmt *taken;
    ret = store_stmt_get(s, ST_KEY_TAKEN, &taken);
    return ret ? ret : store_key_free(s, taken, cmid, app, at);
}

/* A client neither found nor inserted at the free key found for it: never expected (the write transaction holds the
 * table), but a row never goes missing without an error. */
static int unplaced(struct store *s)
{
    snprintf(s->err, sizeof s->err, "cannot record the client: its row was neither found nor inserted");
    return -EIO;
}

static int merge_run(struct store *s, const struct store_client *c, const struct key_at *k, bool *changed,
                     bool *inserted)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_MERGE, &st);
    if (ret)
        return ret;
    sqlite_fn.sqlite3_set_last_insert_rowid(s->db, 0); /* an insert sets it (rowids start at 1); an update leaves it */
    int b = BIND_CLIENT_COLUMNS(st, c);
    b |= sqlite_fn.sqlite3_bind_int64(st, 13, c->first_seen < c->last_seen ? c->first_seen : c->last_seen);
    b |= sqlite_fn.sqlite3_bind_int64(st, 14, c->last_seen);
    b |= sqlite_fn.sqlite3_bind_int64(st, 15, c->request_count ? (sqlite3_int64)c->request_count : 1);
    b |= store_bind_text(st, 16, c->address, sizeof c->address);
    b |= store_bind_text(st, 17, c->epid, sizeof c->epid);
    b |= store_bind_text(st, 18, c->host, sizeof c->host);
    b |= bind_key(st, k);
    ret = store_step_bound(s, st, b, "cannot import the row");
    *changed = !ret && sqlite_fn.sqlite3_changes(s->db) > 0;
    *inserted = *changed && sqlite_fn.sqlite3_last_insert_rowid(s->db) != 0;
    return ret;
}

/* At the client's own key first; when that changed nothing, at the key its row has (which merges only what is
 * newer), or at a free one. */
static int merge_row(struct store *s, const struct store_client *c, bool *changed, bool *inserted)
{
    struct key_at k = {.key = store_client_key(&c->cmid, &c->app_id), .guard = true};
    int ret = merge_run(s, c, &k, changed, inserted);
    if (ret || *changed)
        return ret;
    bool found = false;
    int64_t at = 0;
    ret = find_row(s, &c->cmid, &c->app_id, k.key, &found, &at);
    if (ret)
        return ret;
    struct key_at again = {.key = at, .home = k.key, .has_home = !found};
    ret = merge_run(s, c, &again, changed, inserted);
    return ret || *changed || found ? ret : unplaced(s);
}

int store_merge_rows(struct store *s, const struct store_client *rows, size_t n, uint8_t *flags)
{
    if (s->pg)
        return store_pg_merge_rows(s, rows, n, flags);
    int ret = 0;
    for (size_t i = 0; i < n && !ret; i++) {
        bool changed = false, inserted = false;
        ret = merge_row(s, &rows[i], &changed, &inserted);
        flags[i] = (uint8_t)((changed ? STORE_ROW_CHANGED : 0) | (inserted ? STORE_ROW_INSERTED : 0));
    }
    return ret;
}

int store_delete_rows(struct store *s, const struct guid *cmid, uint64_t *n)
{
    if (s->pg)
        return store_pg_delete_rows(s, cmid, n);
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_DELETE, &st);
    if (ret)
        return ret;
    int64_t lo, hi;
    store_client_key_range(cmid, &lo, &hi);
    int b = store_bind_guid(st, 1, cmid) | sqlite_fn.sqlite3_bind_int64(st, 2, lo) | sqlite_fn.sqlite3_bind_int64(st, 3, hi);
    ret = store_step_bound(s, st, b, "cannot delete the client");
    *n = ret ? 0 : (uint64_t)sqlite_fn.sqlite3_changes(s->db);
    return ret;
}

int store_prune_rows(struct store *s, bool by_age, int64_t before, uint64_t limit, uint64_t *n)
{
    if (s->pg)
        return store_pg_prune_rows(s, by_age, before, limit, n);
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, by_age ? ST_PRUNE_AGE : ST_PRUNE_CAP, &st);
    if (ret)
        return ret;
    int b = by_age ? sqlite_fn.sqlite3_bind_int64(st, 1, before) | sqlite_fn.sqlite3_bind_int64(st, 2, (sqlite3_int64)limit)
                   : sqlite_fn.sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
    ret = store_step_bound(s, st, b, by_age ? "cannot prune old rows" : "cannot prune rows above the cap");
    *n = ret ? 0 : (uint64_t)sqlite_fn.sqlite3_changes(s->db);
    return ret;
}

int store_row_count(struct store *s, uint64_t *rows)
{
    if (s->pg)
        return store_pg_row_count(s, rows);
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

/* Binds ?1 group and the window (now - window_days, now] as ?2, ?3. */
static int bind_window(sqlite3_stmt *st, enum store_app_group g, int64_t now, uint32_t window_days)
{
    return sqlite_fn.sqlite3_bind_int(st, 1, (int)g) | sqlite_fn.sqlite3_bind_int64(st, 2, now - (int64_t)window_days * SECONDS_PER_DAY) |
           sqlite_fn.sqlite3_bind_int64(st, 3, now);
}

int store_active_count(struct store *s, enum store_app_group g, int64_t now, uint32_t window_days, uint32_t *out)
{
    if (s->pg)
        return store_pg_active_count(s, g, now, window_days, out);
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

int store_stat_rows(struct store *s, int (*fn)(void *ctx, const char *key, uint64_t v), void *ctx)
{
    if (s->pg)
        return store_pg_stat_rows(s, fn, ctx);
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_STAT_GET, &st);
    if (ret)
        return ret;
    int rc;
    while ((rc = sqlite_fn.sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite_fn.sqlite3_column_text(st, 0);
        if (key && fn(ctx, key, (uint64_t)sqlite_fn.sqlite3_column_int64(st, 1)) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot read statistics");
    sqlite_fn.sqlite3_reset(st);
    return ret;
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

/* ---- recording ---- */

/* Runs ST_UPSERT, ST_UPSERT_GUARDED, ST_UPDATE_HOST or ST_UPDATE_ALL with a client's coalesced records (store_coalesce)
 * at key k; *changed gets whether a row was written, and a row the upsert inserted is counted in a (NULL for the
 * updates, which never insert). */
static int upsert_run(struct store *s, enum stmt_id id, const struct store_coalesced *c, const struct key_at *k,
                      bool *changed, struct store_summary_acc *a)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, id, &st);
    if (ret)
        return ret;
    if (a) /* an insert sets it (rowids start at 1); an update leaves it */
        sqlite_fn.sqlite3_set_last_insert_rowid(s->db, 0);
    const struct store_record *r = c->last;
    int b = BIND_CLIENT_COLUMNS(st, r);
    b |= sqlite_fn.sqlite3_bind_int64(st, 13, c->latest);
    b |= store_bind_text(st, 14, r->address, sizeof r->address);
    b |= store_bind_text(st, 15, c->epid, sizeof r->epid);
    b |= sqlite_fn.sqlite3_bind_int64(st, 16, r->hresult);
    b |= sqlite_fn.sqlite3_bind_text(st, 17, s->host, -1, SQLITE_STATIC);
    b |= id == ST_UPDATE_ALL || id == ST_UPDATE_HOST ? sqlite_fn.sqlite3_bind_int64(st, 20, k->key) : bind_key(st, k);
    b |= sqlite_fn.sqlite3_bind_int64(st, 23, c->first);
    b |= sqlite_fn.sqlite3_bind_int64(st, 24, (int64_t)c->n);
    b |= sqlite_fn.sqlite3_bind_int(st, 25, c->answered);
    ret = store_step_bound(s, st, b, "cannot record the activation");
    *changed = !ret && sqlite_fn.sqlite3_changes(s->db) > 0;
    if (*changed && a && sqlite_fn.sqlite3_last_insert_rowid(s->db) != 0)
        ret = store_summary_note(s, a, &r->app_id, r->product, sizeof r->product);
    return ret;
}

/* An insert, or the common update, at the client's own key: one statement. A row whose host alone changes takes
 * the update that writes it (and its index), one whose workstation, product or first_seen changes the update that
 * writes them all; a client whose own key another holds is found at the key it has, or inserted at a free one. */
static int upsert_one(struct store *s, const struct store_coalesced *c, int64_t key, bool *homes,
                      struct store_summary_acc *a)
{
    bool changed = false, found = false;
    struct key_at k = {.key = key, .guard = *homes};
    int ret = upsert_run(s, *homes ? ST_UPSERT_GUARDED : ST_UPSERT, c, &k, &changed, a);
    if (ret || changed)
        return ret;
    int64_t at = 0;
    ret = find_row(s, &c->last->cmid, &c->last->app_id, key, &found, &at);
    if (ret)
        return ret;
    struct key_at again = {.key = at, .home = key, .has_home = !found};
    if (!found) {
        ret = upsert_run(s, ST_UPSERT, c, &again, &changed, a);
        *homes = true; /* from now on an insert checks its key is nobody's home */
        return ret || changed ? ret : unplaced(s);
    }
    if (at != key) { /* displaced: the upsert at the key it has */
        ret = upsert_run(s, ST_UPSERT, c, &again, &changed, a);
        if (ret || changed)
            return ret;
    }
    ret = upsert_run(s, ST_UPDATE_HOST, c, &again, &changed, NULL);
    if (ret || changed)
        return ret;
    return upsert_run(s, ST_UPDATE_ALL, c, &again, &changed, NULL);
}

/* Whether any row is displaced from its key (in practice none: a 63-bit collision), read once per batch inside its
 * transaction, so that another process's import is seen too. */
static int any_home(struct store *s, bool *homes)
{
    sqlite3_stmt *st;
    int64_t v = 1;
    int ret = store_stmt_get(s, ST_ANY_HOME, &st);
    if (!ret)
        ret = store_query_int(s, st, &v, "cannot read the client keys");
    *homes = v != 0;
    return ret;
}

static int upsert_all(struct store *s, const struct store_record *recs, size_t n)
{
    struct store_summary_acc a = {.n = 0};
    bool homes = true;
    int ret = any_home(s, &homes);
    if (ret)
        return ret;
    struct store_keyed *k = n > 1 ? store_by_key(recs, n) : NULL;
    struct store_coalesced c;
    if (!k) { /* one record, or no memory to sort: each record alone, in the given order, is as correct, only slower */
        for (size_t i = 0; i < n && !ret; i++) {
            struct store_keyed one = {&recs[i], i, store_client_key(&recs[i].cmid, &recs[i].app_id)};
            store_coalesce(&one, 0, 1, &c);
            ret = upsert_one(s, &c, one.key, &homes, &a);
        }
        return ret ? ret : store_summary_flush(s, &a);
    }
    /* a client's records of the batch are adjacent in key order: one write each */
    for (size_t i = 0; i < n && !ret;) {
        size_t next = store_coalesce(k, i, n, &c);
        ret = upsert_one(s, &c, k[i].key, &homes, &a);
        i = next;
    }
    free(k);
    return ret ? ret : store_summary_flush(s, &a);
}

int store_batch_begin(struct store *s)
{
    if (s->pg)
        return store_pg_batch_begin(s);
    return store_tx_write(s);
}

int store_batch_add(struct store *s, const struct store_record *recs, size_t n)
{
    if (s->pg)
        return store_pg_batch_add(s, recs, n);
    if (n == 0)
        return 0;
    int ret = upsert_all(s, recs, n);
    return ret ? ret : store_add_statistics(s, recs, n);
}

int store_batch_commit(struct store *s, uint64_t journal_seq)
{
    if (s->pg)
        return store_pg_batch_commit(s, journal_seq);
    int ret = journal_seq ? store_stat_op(s, STORE_STAT_SET, STORE_STAT_JOURNAL_SEQ, journal_seq) : 0;
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

/* ---- the genuine count ---- */

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

/* ---- the file's space ---- */

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
