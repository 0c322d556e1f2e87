/* store_read — reading client rows and summaries; see store_internal.h. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kms.h"
#include "products.h"
#include "timeutil.h"

#define CLIENT_COLUMNS                                                                                                 \
    "cmid, app_id, sku_id, kms_id, workstation, product, last_address, last_epid, license_status, grace_time,"         \
    " is_vm, version_major, version_minor, first_seen, last_seen, request_count"

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
    c->license_status = (uint32_t)sqlite3_column_int64(st, 8);
    c->grace_time = (uint32_t)sqlite3_column_int64(st, 9);
    c->is_vm = (uint32_t)sqlite3_column_int64(st, 10);
    c->version_major = (uint32_t)sqlite3_column_int64(st, 11);
    c->version_minor = (uint32_t)sqlite3_column_int64(st, 12);
    c->first_seen = sqlite3_column_int64(st, 13);
    c->last_seen = sqlite3_column_int64(st, 14);
    c->request_count = (uint64_t)sqlite3_column_int64(st, 15);
}

/* Steps st (prepared here, finalized here) and hands each client row to fn. */
static int each_client(struct store *s, sqlite3_stmt *st, int (*fn)(void *ctx, const struct store_client *c), void *ctx,
                       const char *what)
{
    int rc;
    struct store_client c;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        column_client(st, &c);
        if (fn(ctx, &c) != 0)
            break;
    }
    int ret = rc != SQLITE_ROW && rc != SQLITE_DONE ? store_fail(s, rc, what) : 0;
    sqlite3_finalize(st);
    return ret;
}

int store_get_client(struct store *s, const struct guid *cmid, int (*fn)(void *ctx, const struct store_client *c),
                     void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        s->db, "SELECT " CLIENT_COLUMNS " FROM clients WHERE cmid = ?1 ORDER BY last_seen DESC, app_id", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    int b = store_bind_guid(st, 1, cmid);
    if (b) {
        int ret = store_bind_failed(s, st, b, "cannot read the client");
        sqlite3_finalize(st);
        return ret;
    }
    return each_client(s, st, fn, ctx, "cannot read the client");
}

/* The WHERE clause of store_query; parameters ?1 product, ?2 app_id, ?3 q, ?4 since. */
#define QUERY_WHERE                                                                                                    \
    " WHERE (?1 IS NULL OR instr(lower(product), lower(?1)) > 0) AND (?2 IS NULL OR app_id = ?2)"                      \
    " AND (?3 IS NULL OR instr(lower(workstation), lower(?3)) > 0 OR instr(kmsd_guid_text(cmid), lower(?3)) > 0)"      \
    " AND last_seen >= ?4"

/* Returns the OR of the sqlite3_bind_* results: 0 when every parameter was bound. */
static int bind_query(sqlite3_stmt *st, const struct store_query *q)
{
    int b = 0;
    if (q->product)
        b |= sqlite3_bind_text(st, 1, q->product, -1, SQLITE_TRANSIENT);
    if (q->has_app)
        b |= store_bind_guid(st, 2, &q->app_id);
    if (q->q)
        b |= sqlite3_bind_text(st, 3, q->q, -1, SQLITE_TRANSIENT);
    return b | sqlite3_bind_int64(st, 4, q->since != 0 ? q->since : INT64_MIN);
}

int store_query(struct store *s, const struct store_query *q, uint64_t *total,
                int (*fn)(void *ctx, const struct store_client *c), void *ctx)
{
    static const char *const order[STORE_SORT_COUNT][2] = {
        [STORE_SORT_LAST_SEEN] = {"last_seen ASC", "last_seen DESC"},
        [STORE_SORT_FIRST_SEEN] = {"first_seen ASC", "first_seen DESC"},
        [STORE_SORT_WORKSTATION] = {"lower(workstation) ASC", "lower(workstation) DESC"},
        [STORE_SORT_PRODUCT] = {"product ASC", "product DESC"},
        [STORE_SORT_REQUESTS] = {"request_count ASC", "request_count DESC"},
    };
    *total = 0;
    if ((unsigned)q->sort >= STORE_SORT_COUNT) {
        snprintf(s->err, sizeof s->err, "bad sort key");
        return -EINVAL;
    }
    /* One read transaction: the total and the page come from the same snapshot. */
    int ret = store_exec(s, "BEGIN", "cannot start a transaction");
    if (ret)
        return ret;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM clients" QUERY_WHERE, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = store_fail(s, rc, "prepare");
        goto out;
    }
    int b = bind_query(st, q);
    int64_t n = 0;
    ret = b ? store_bind_failed(s, st, b, "cannot count clients") : store_query_int(s, st, &n, "cannot count clients");
    sqlite3_finalize(st);
    if (ret)
        goto out;
    *total = (uint64_t)n;
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM clients%s ORDER BY %s, cmid ASC, app_id ASC LIMIT ?5 OFFSET ?6",
             CLIENT_COLUMNS, QUERY_WHERE, order[q->sort][q->descending]);
    rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = store_fail(s, rc, "prepare");
        goto out;
    }
    b = bind_query(st, q) | sqlite3_bind_int64(st, 5, q->limit) | sqlite3_bind_int64(st, 6, q->offset);
    if (b) {
        ret = store_bind_failed(s, st, b, "cannot list clients");
        sqlite3_finalize(st);
        goto out;
    }
    ret = each_client(s, st, fn, ctx, "cannot list clients");
out:
    if (!ret)
        ret = store_exec(s, "COMMIT", "cannot end the transaction");
    if (ret)
        store_rollback(s);
    return ret;
}

int store_daily(struct store *s, int64_t first, int64_t last,
                int (*fn)(void *ctx, int64_t day, uint64_t answered, uint64_t refused), void *ctx)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_DAILY_GET, &st);
    if (ret)
        return ret;
    int b = sqlite3_bind_int64(st, 1, first) | sqlite3_bind_int64(st, 2, last);
    if (b)
        return store_bind_failed(s, st, b, "cannot read the daily counts");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, sqlite3_column_int64(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
               (uint64_t)sqlite3_column_int64(st, 2)) != 0)
            break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot read the daily counts");
    sqlite3_reset(st);
    return ret;
}

int store_groups(struct store *s, int (*fn)(void *ctx, enum store_app_group g, const char *product, uint64_t n),
                 void *ctx)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_GROUPS, &st);
    if (ret)
        return ret;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int g = sqlite3_column_int(st, 0);
        const char *p = (const char *)sqlite3_column_text(st, 1);
        if (fn(ctx, g >= 0 && g < STORE_APP_GROUPS ? (enum store_app_group)g : STORE_APP_OTHER, p ? p : "",
               (uint64_t)sqlite3_column_int64(st, 2)) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot count products");
    sqlite3_reset(st);
    return ret;
}

int store_list(struct store *s, const struct store_filter *f, int (*fn)(void *ctx, const struct store_client *c),
               void *ctx)
{
    sqlite3_stmt *st;
    int ret = store_stmt_get(s, ST_LIST, &st);
    if (ret)
        return ret;
    int b = 0;
    if (f && f->product)
        b |= sqlite3_bind_text(st, 1, f->product, -1, SQLITE_TRANSIENT);
    b |= sqlite3_bind_int64(st, 2, f && f->since != 0 ? f->since : INT64_MIN);
    if (b)
        return store_bind_failed(s, st, b, "cannot list clients");
    int rc;
    struct store_client c;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        column_client(st, &c);
        if (fn(ctx, &c) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot list clients");
    sqlite3_reset(st);
    return ret;
}
