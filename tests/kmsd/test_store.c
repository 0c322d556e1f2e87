/* The client registry: counting window, upserts, pruning, row cap, statistics, listing, transactions,
 * migrations and open errors. Times are injected; databases are ":memory:" or files in a temp directory. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "guid.h"
#include "products.h"
#include "sqltest.h"
#include "storetest.h"
#include "store.h"
#include "store_internal.h" /* bind_failure_refuses: the connection, to lower a limit */

static uint32_t count(struct store *s, enum store_app_group g, int64_t now)
{
    struct store_count c = {0xffffffff, 0};
    assert_int_equal(store_count(s, g, now, STORE_COUNT_WINDOW_DAYS, STORE_COUNT_LIMIT_MAX, &c), 0);
    return c.count;
}

/* Collects listed rows. */
struct rows {
    struct store_client r[64];
    size_t n;
    size_t stop_after; /* 0: never stop */
};

static int collect(void *ctx, const struct store_client *c)
{
    struct rows *rs = ctx;
    assert_true(rs->n < 64);
    rs->r[rs->n++] = *c;
    return rs->stop_after && rs->n >= rs->stop_after;
}

/* Runs q into rs (emptied first); the total of its rows. */
static uint64_t query_into(struct store *s, const struct store_query *q, struct rows *rs)
{
    uint64_t total = 0;
    memset(rs, 0, sizeof *rs);
    assert_int_equal(store_query(s, q, &total, collect, rs), 0);
    return total;
}

static size_t list_all(struct store *s, const struct store_filter *f, struct rows *rs)
{
    memset(rs, 0, sizeof *rs);
    assert_int_equal(store_list(s, f, collect, rs), 0);
    return rs->n;
}


static void app_groups(void **state)
{
    (void)state;
    struct guid g = gid(APP_WIN);
    assert_int_equal(store_app_group_of(&g), STORE_APP_WINDOWS);
    g = gid(APP_O2010);
    assert_int_equal(store_app_group_of(&g), STORE_APP_OFFICE2010);
    g = gid(APP_O2013);
    assert_int_equal(store_app_group_of(&g), STORE_APP_OFFICE);
    g = gid(APP_UNKNOWN);
    assert_int_equal(store_app_group_of(&g), STORE_APP_OTHER);
    /* the groups come from the product table: one per application, "other" for the rest */
    assert_int_equal(products_app_count(), STORE_APP_OTHER);
    assert_string_equal(store_app_group_key(STORE_APP_WINDOWS), "windows");
    assert_string_equal(store_app_group_key(STORE_APP_OFFICE2010), "office2010");
    assert_string_equal(store_app_group_key(STORE_APP_OFFICE), "office2013");
    assert_string_equal(store_app_group_key(STORE_APP_OTHER), "other");
    assert_string_equal(store_app_group_label(STORE_APP_OFFICE), "Office 2013+");
    assert_string_equal(store_app_group_label(STORE_APP_OTHER), "other");
}

/* (now - 30 days, now]: a client seen exactly 30 days ago is out, one second later it is in. */
static void window_boundaries(void **state)
{
    (void)state;
    struct store *s = open_mem();
    write1(s, rec(1, APP_WIN, T0));
    const int64_t w = (int64_t)STORE_COUNT_WINDOW_DAYS * DAY;
    assert_int_equal(count(s, STORE_APP_WINDOWS, T0), 1);
    assert_int_equal(count(s, STORE_APP_WINDOWS, T0 + w - 1), 1);
    assert_int_equal(count(s, STORE_APP_WINDOWS, T0 + w), 0);
    assert_int_equal(count(s, STORE_APP_WINDOWS, T0 + w + 1), 0);
    /* seen after "now": not in (now - w, now] */
    assert_int_equal(count(s, STORE_APP_WINDOWS, T0 - 1), 0);
    /* the window is a parameter */
    struct store_count c = {9, 0};
    assert_int_equal(store_count(s, STORE_APP_WINDOWS, T0 + DAY, 1, 50, &c), 0);
    assert_int_equal(c.count, 0);
    assert_int_equal(store_count(s, STORE_APP_WINDOWS, T0 + DAY - 1, 1, 50, &c), 0);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.holds_until, T0 + DAY - 1); /* below the limit: no promise beyond now */
    store_close(s);
}

static void distinct_per_group(void **state)
{
    (void)state;
    struct store *s = open_mem();
    /* client 1: Windows twice (one row), Office 2013+ and Office 2010 once each */
    struct store_record batch[] = {
        rec(1, APP_WIN, T0), rec(1, APP_WIN, T0 + 10), rec(1, APP_O2013, T0), rec(1, APP_O2010, T0),
        rec(2, APP_WIN, T0), rec(3, APP_WIN, T0),      rec(3, APP_O2013, T0), rec(4, APP_UNKNOWN, T0),
    };
    assert_int_equal(store_write(s, batch, sizeof batch / sizeof batch[0]), 0);
    assert_int_equal(count(s, STORE_APP_WINDOWS, T0 + 100), 3);
    assert_int_equal(count(s, STORE_APP_OFFICE, T0 + 100), 2);
    assert_int_equal(count(s, STORE_APP_OFFICE2010, T0 + 100), 1);
    assert_int_equal(count(s, STORE_APP_OTHER, T0 + 100), 1);
    struct rows rs;
    assert_int_equal(list_all(s, NULL, &rs), 7);
    store_close(s);
}

static void upsert_keeps_first_seen(void **state)
{
    (void)state;
    struct store *s = open_mem();
    write1(s, rec(7, APP_WIN, T0));
    struct store_record r = rec(7, APP_WIN, T0 + 3600);
    snprintf(r.workstation, sizeof r.workstation, "renamed");
    snprintf(r.address, sizeof r.address, "198.51.100.1:1");
    r.license_status = 2;
    r.grace_time = 43200;
    write1(s, r);
    /* a refusal: counted, but the last ePID given is kept */
    r = rec(7, APP_WIN, T0 + 7200);
    r.hresult = 0xC004F042;
    r.epid[0] = '\0';
    write1(s, r);
    struct rows rs;
    assert_int_equal(list_all(s, NULL, &rs), 1);
    const struct store_client *c = &rs.r[0];
    assert_memory_equal(c->cmid.b, cmid_n(7).b, 16);
    assert_int_equal(c->first_seen, T0);
    assert_int_equal(c->last_seen, T0 + 7200);
    assert_int_equal(c->request_count, 3);
    assert_string_equal(c->workstation, "pc-7");
    assert_string_equal(c->epid, "epid-7");
    /* an out-of-order (older) record does not move last_seen back nor first_seen forward */
    write1(s, rec(7, APP_WIN, T0 - 50));
    assert_int_equal(list_all(s, NULL, &rs), 1);
    assert_int_equal(rs.r[0].first_seen, T0 - 50);
    assert_int_equal(rs.r[0].last_seen, T0 + 7200);
    assert_int_equal(rs.r[0].request_count, 4);
    store_close(s);
}

static void fields_round_trip(void **state)
{
    (void)state;
    struct store *s = open_mem();
    struct store_record r = rec(9, APP_O2013, T0);
    r.license_status = 5;
    r.grace_time = 1234;
    r.is_vm = 1;
    r.version_major = 5;
    r.version_minor = 0;
    /* fields filled to the last byte without a NUL are bounded, not overread */
    memset(r.workstation, 'w', sizeof r.workstation);
    write1(s, r);
    struct rows rs;
    assert_int_equal(list_all(s, NULL, &rs), 1);
    const struct store_client *c = &rs.r[0];
    assert_memory_equal(c->app_id.b, r.app_id.b, 16);
    assert_memory_equal(c->sku_id.b, r.sku_id.b, 16);
    assert_memory_equal(c->kms_id.b, r.kms_id.b, 16);
    assert_int_equal(c->license_status, 5);
    assert_int_equal(c->grace_time, 1234);
    assert_int_equal(c->is_vm, 1);
    assert_int_equal(c->version_major, 5);
    assert_int_equal(strlen(c->workstation), sizeof c->workstation - 1);
    assert_string_equal(c->address, "192.0.2.9:50000");
    assert_string_equal(c->product, "Windows 10/11 Pro");
    store_close(s);
}

/* Rows not seen for the retention: one seen exactly retention days ago goes, one second later stays. */
static void prune_retention_boundary(void **state)
{
    (void)state;
    struct store *s = open_mem();
    const uint32_t R = 90;
    const int64_t now = T0 + 200 * DAY, edge = now - (int64_t)R * DAY;
    write1(s, rec(1, APP_WIN, edge - 1));
    write1(s, rec(2, APP_WIN, edge));
    write1(s, rec(3, APP_WIN, edge + 1));
    write1(s, rec(4, APP_WIN, now));
    uint64_t del = 99;
    assert_int_equal(store_prune(s, now, R, STORE_DEFAULT_ROW_CAP, &del), 0);
    assert_int_equal(del, 2);
    struct rows rs;
    assert_int_equal(list_all(s, NULL, &rs), 2);
    assert_memory_equal(rs.r[0].cmid.b, cmid_n(4).b, 16);
    assert_memory_equal(rs.r[1].cmid.b, cmid_n(3).b, 16);
    /* nothing left to prune */
    assert_int_equal(store_prune(s, now, R, STORE_DEFAULT_ROW_CAP, &del), 0);
    assert_int_equal(del, 0);
    store_close(s);
}

/* Above the cap, the least recently seen rows go first. */
static void row_cap_keeps_most_recent(void **state)
{
    (void)state;
    struct store *s = open_mem();
    /* written in an order unrelated to last_seen */
    const unsigned order[] = {5, 2, 8, 1, 7, 3, 6, 4};
    for (size_t i = 0; i < 8; i++)
        write1(s, rec(order[i], APP_WIN, T0 + order[i]));
    uint64_t del = 0;
    /* at the cap: nothing */
    assert_int_equal(store_prune(s, T0 + 10, 365, 8, &del), 0);
    assert_int_equal(del, 0);
    /* cap - 1 and then 3 */
    assert_int_equal(store_prune(s, T0 + 10, 365, 7, &del), 0);
    assert_int_equal(del, 1);
    assert_int_equal(store_prune(s, T0 + 10, 365, 3, &del), 0);
    assert_int_equal(del, 4);
    struct rows rs;
    assert_int_equal(list_all(s, NULL, &rs), 3);
    for (unsigned i = 0; i < 3; i++)
        assert_memory_equal(rs.r[i].cmid.b, cmid_n(8 - i).b, 16);
    /* cap 0 empties the table */
    assert_int_equal(store_prune(s, T0 + 10, 365, 0, &del), 0);
    assert_int_equal(del, 3);
    assert_int_equal(list_all(s, NULL, &rs), 0);
    store_close(s);
}

static void stats_counters(void **state)
{
    (void)state;
    char path[512], err[256];
    tmp_path(path, sizeof path, "stats.db");
    struct store *s = NULL;
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    struct store_record b[6];
    b[0] = rec(1, APP_WIN, T0);
    b[1] = rec(2, APP_WIN, T0);
    b[1].license_status = 2;
    b[2] = rec(3, APP_O2013, T0);
    b[2].license_status = 0;
    b[2].hresult = 0xC004F038;
    b[3] = rec(1, APP_WIN, T0 + 1);
    b[4] = rec(4, APP_O2010, T0 - 40 * DAY); /* outside the window */
    b[4].license_status = 6;
    b[5] = rec(5, APP_UNKNOWN, T0);
    b[5].license_status = 77; /* out of range: counted in requests only */
    b[5].hresult = 0x8007000D;
    assert_int_equal(store_write(s, b, 6), 0);
    struct store_stats st;
    assert_int_equal(store_stats_get(s, T0 + 10, &st), 0);
    assert_int_equal(st.requests, 6);
    assert_int_equal(st.failed, 2);
    const uint64_t want[7] = {1, 2, 1, 0, 0, 0, 1};
    for (int k = 0; k < 7; k++)
        assert_int_equal(st.by_status[k], want[k]);
    assert_int_equal(st.clients, 5);
    assert_int_equal(st.current_count[STORE_APP_WINDOWS], 2);
    assert_int_equal(st.current_count[STORE_APP_OFFICE], 1);
    assert_int_equal(st.current_count[STORE_APP_OFFICE2010], 0);
    assert_int_equal(st.current_count[STORE_APP_OTHER], 1);
    store_close(s);
    /* persistent: a reopened database (read-only too) has the same counters */
    assert_int_equal(store_open_readonly(path, &s, err, sizeof err), 0);
    struct store_stats st2;
    assert_int_equal(store_stats_get(s, T0 + 10, &st2), 0);
    assert_memory_equal(&st, &st2, sizeof st);
    store_close(s);
    /* an empty registry */
    s = open_mem();
    assert_int_equal(store_stats_get(s, T0, &st), 0);
    assert_int_equal(st.requests + st.failed + st.clients, 0);
    store_close(s);
}

static void delete_client(void **state)
{
    (void)state;
    struct store *s = open_mem();
    struct store_record b[] = {rec(1, APP_WIN, T0), rec(1, APP_O2013, T0), rec(2, APP_WIN, T0)};
    assert_int_equal(store_write(s, b, 3), 0);
    struct guid c1 = cmid_n(1), c9 = cmid_n(9);
    uint64_t del = 0;
    assert_int_equal(store_delete_client(s, &c1, &del), 0);
    assert_int_equal(del, 2);
    assert_int_equal(store_delete_client(s, &c9, &del), 0);
    assert_int_equal(del, 0);
    struct rows rs;
    assert_int_equal(list_all(s, NULL, &rs), 1);
    assert_memory_equal(rs.r[0].cmid.b, cmid_n(2).b, 16);
    assert_int_equal(count(s, STORE_APP_WINDOWS, T0), 1);
    store_close(s);
}

static void list_filters_and_order(void **state)
{
    (void)state;
    struct store *s = open_mem();
    struct store_record b[4];
    b[0] = rec(1, APP_WIN, T0 + 20);
    b[1] = rec(2, APP_O2013, T0 + 30);
    snprintf(b[1].product, sizeof b[1].product, "Office LTSC Professional Plus 2021");
    b[2] = rec(3, APP_WIN, T0 + 10);
    snprintf(b[2].product, sizeof b[2].product, "Windows Server 2022 Datacenter");
    b[3] = rec(4, APP_WIN, T0 + 30); /* same last_seen as 2: the newer row (inserted later) first */
    assert_int_equal(store_write(s, b, 4), 0);
    struct rows rs;
    assert_int_equal(list_all(s, NULL, &rs), 4);
    /* a batch is written in client-key order (store_client_key): of 2 and 4, the one with the larger key later */
    struct guid c2 = cmid_n(2), c4 = cmid_n(4), win = gid(APP_WIN), o2013 = gid(APP_O2013);
    bool four_later = store_client_key(&c4, &win) > store_client_key(&c2, &o2013);
    const unsigned want[] = {four_later ? 4 : 2, four_later ? 2 : 4, 1, 3};
    for (size_t i = 0; i < 4; i++)
        assert_memory_equal(rs.r[i].cmid.b, cmid_n(want[i]).b, 16);
    struct store_filter f = {.product = "windows"};
    assert_int_equal(list_all(s, &f, &rs), 3);
    f.product = "SERVER 2022";
    assert_int_equal(list_all(s, &f, &rs), 1);
    assert_memory_equal(rs.r[0].cmid.b, cmid_n(3).b, 16);
    f.product_exact = true; /* a whole name (a resolved product): a part no longer matches */
    assert_int_equal(list_all(s, &f, &rs), 0);
    f.product = "Windows Server 2022 Datacenter";
    assert_int_equal(list_all(s, &f, &rs), 1);
    assert_memory_equal(rs.r[0].cmid.b, cmid_n(3).b, 16);
    f.product_exact = false;
    f.product = "%"; /* no wildcards */
    assert_int_equal(list_all(s, &f, &rs), 0);
    f.product = NULL;
    f.since = T0 + 20; /* inclusive */
    assert_int_equal(list_all(s, &f, &rs), 3);
    f.since = T0 + 21;
    assert_int_equal(list_all(s, &f, &rs), 2);
    f.product = "office";
    assert_int_equal(list_all(s, &f, &rs), 1);
    /* the callback stops the listing */
    memset(&rs, 0, sizeof rs);
    rs.stop_after = 2;
    assert_int_equal(store_list(s, NULL, collect, &rs), 0);
    assert_int_equal(rs.n, 2);
    store_close(s);
}

/* A record that fails in the middle of a batch: nothing of the batch is kept, statistics included. */
static void batch_rolls_back(void **state)
{
    (void)state;
    char path[512], err[256];
    tmp_path(path, sizeof path, "rollback.db");
    struct store *s = NULL;
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    write1(s, rec(1, APP_WIN, T0));
    sqltest_exec(path, "CREATE TRIGGER boom BEFORE INSERT ON clients WHEN NEW.workstation = 'BOOM'"
                   " BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    struct store_record b[3] = {rec(2, APP_WIN, T0), rec(1, APP_WIN, T0 + 5), rec(3, APP_WIN, T0)};
    snprintf(b[2].workstation, sizeof b[2].workstation, "BOOM");
    assert_true(store_write(s, b, 3) < 0);
    assert_non_null(strstr(store_errmsg(s), "injected failure"));
    struct rows rs;
    assert_int_equal(list_all(s, NULL, &rs), 1);
    assert_int_equal(rs.r[0].request_count, 1);
    assert_int_equal(rs.r[0].last_seen, T0);
    struct store_stats st;
    assert_int_equal(store_stats_get(s, T0, &st), 0);
    assert_int_equal(st.requests, 1);
    /* the connection is still usable afterwards */
    b[2].workstation[0] = 'b';
    assert_int_equal(store_write(s, b, 3), 0);
    assert_int_equal(list_all(s, NULL, &rs), 3);
    store_close(s);

    /* a read-only connection refuses the whole batch */
    assert_int_equal(store_open_readonly(path, &s, err, sizeof err), 0);
    struct store_record r = rec(50, APP_WIN, T0);
    int ret = store_write(s, &r, 1);
    assert_true(ret < 0);
    assert_true(store_errmsg(s)[0] != '\0');
    store_close(s);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 3);
    assert_int_equal(sqltest_int(path, "SELECT value FROM stats WHERE key = 'requests'"), 4);
}

/* A parameter SQLite cannot bind (a text over the connection's length limit) fails the statement with SQLite's
 * message instead of running it with that parameter NULL: a query keeps its filter, a record is not written. */
static void bind_failure_refuses(void **state)
{
    (void)state;
    char path[512], err[256];
    tmp_path(path, sizeof path, "bind.db");
    struct store *s = NULL;
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    write1(s, rec(1, APP_WIN, T0));
    sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, 8);
    struct store_query q;
    memset(&q, 0, sizeof q);
    q.limit = 10;
    q.q = "a-filter-longer-than-eight";
    struct rows rs;
    memset(&rs, 0, sizeof rs);
    uint64_t total = 99;
    assert_true(store_query(s, &q, &total, collect, &rs) < 0); /* unchecked, the NULL filter listed every row */
    assert_int_equal(rs.n, 0);
    assert_non_null(strstr(store_errmsg(s), "too big"));
    struct store_record r = rec(2, APP_WIN, T0);
    snprintf(r.workstation, sizeof r.workstation, "a-workstation-name");
    assert_true(store_write(s, &r, 1) < 0);
    assert_non_null(strstr(store_errmsg(s), "too big"));
    sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, 1000000);
    assert_int_equal(store_query(s, &(struct store_query){.limit = 10}, &total, collect, &rs), 0);
    assert_int_equal(total, 1);
    store_close(s);
}

static void merge_is_idempotent(void **state)
{
    (void)state;
    struct store *s = open_mem();
    write1(s, rec(1, APP_WIN, T0)); /* a client known already, seen later than the import says */
    struct store_client in[3];
    memset(in, 0, sizeof in);
    for (unsigned i = 0; i < 3; i++) {
        in[i].cmid = cmid_n(i + 1);
        in[i].app_id = gid(APP_WIN);
        in[i].first_seen = in[i].last_seen = T0 - 100 + i;
        in[i].request_count = 5;
        snprintf(in[i].workstation, sizeof in[i].workstation, "old-%u", i + 1);
    }
    uint64_t changed = 0;
    assert_int_equal(store_merge(s, in, 3, &changed), 0);
    assert_int_equal(changed, 3); /* 2 new; client 1 gets the earlier first_seen and the larger count */
    struct rows rs;
    assert_int_equal(list_all(s, NULL, &rs), 3);
    assert_memory_equal(rs.r[0].cmid.b, cmid_n(1).b, 16);
    assert_string_equal(rs.r[0].workstation, "pc-1"); /* the registry's row is newer */
    assert_int_equal(rs.r[0].first_seen, T0 - 100);
    assert_int_equal(rs.r[0].last_seen, T0);
    assert_int_equal(rs.r[0].request_count, 5);
    assert_int_equal(rs.r[1].request_count, 5);
    struct rows before = rs;
    assert_int_equal(store_merge(s, in, 3, &changed), 0);
    assert_int_equal(changed, 0);
    assert_int_equal(list_all(s, NULL, &rs), 3);
    assert_memory_equal(&before, &rs, sizeof rs);
    /* statistics are not touched by a merge */
    struct store_stats st;
    assert_int_equal(store_stats_get(s, T0, &st), 0);
    assert_int_equal(st.requests, 1);
    assert_int_equal(count(s, STORE_APP_WINDOWS, T0), 3);
    store_close(s);
}

/* The compact client key (schema 7, store_internal.h): the applications kmsd knows take distinct keys of one CMID,
 * and every key of a CMID lies in its range. */
static void client_key_layout(void **state)
{
    (void)state;
    const char *apps[] = {APP_WIN, APP_O2010, APP_O2013};
    for (unsigned n = 1; n <= 200; n++) {
        struct guid c = cmid_n(n);
        int64_t lo, hi, k[3];
        store_client_key_range(&c, &lo, &hi);
        assert_int_equal(hi - lo, (1 << STORE_KEY_APP_BITS) - 1);
        for (unsigned i = 0; i < 3; i++) {
            struct guid a = gid(apps[i]);
            k[i] = store_client_key(&c, &a);
            assert_true(k[i] >= lo && k[i] <= hi && k[i] >= 0);
        }
        assert_true(k[0] != k[1] && k[0] != k[2] && k[1] != k[2]);
    }
    struct guid c1 = cmid_n(1), c2 = cmid_n(2), w = gid(APP_WIN);
    assert_true(store_client_key(&c1, &w) != store_client_key(&c2, &w));
    /* stored in every registry: a key must never change (this value computed apart, in Python) */
    assert_true(store_client_key(&c1, &w) == INT64_C(5035699209409182841));
}

/* STORE_KEY_PROBES: a client whose every probe is taken gets a clear error, after that many probes, not a loop. */
static void client_key_probes_bounded(void **state)
{
    (void)state;
    struct store *s = open_mem();
    sqlite3_stmt *taken = NULL; /* every key taken; counts the probes */
    assert_int_equal(store_exec(s, "CREATE TEMP TABLE probes (k)", "test"), 0);
    assert_int_equal(sqlite_fn.sqlite3_prepare_v2(s->db, "INSERT INTO probes VALUES (?1) RETURNING 1", -1, &taken, NULL),
                     SQLITE_OK);
    struct guid c = cmid_n(1), w = gid(APP_WIN);
    int64_t at = 0;
    assert_int_equal(store_key_free(s, taken, &c, &w, &at), -EEXIST);
    assert_non_null(strstr(store_errmsg(s), "no free client key"));
    sqlite_fn.sqlite3_finalize(taken);
    sqlite3_stmt *n = NULL;
    assert_int_equal(sqlite_fn.sqlite3_prepare_v2(s->db, "SELECT count(DISTINCT k) FROM probes", -1, &n, NULL), SQLITE_OK);
    assert_int_equal(sqlite_fn.sqlite3_step(n), SQLITE_ROW);
    assert_int_equal(sqlite_fn.sqlite3_column_int(n, 0), STORE_KEY_PROBES);
    sqlite_fn.sqlite3_finalize(n);
    store_close(s);
}

/* Renews every client 1..n once (one record each, one transaction). */
static void renew_all(struct store *s, unsigned from, unsigned to, int64_t t)
{
    for (unsigned i = from; i <= to; i++)
        write1(s, rec(i, APP_WIN, t));
}

/* Every row of a client its own, whatever the keys: with the CMID's part of the key masked off, every Windows client
 * has the same key, so all but one live at free keys with their own as home_key. Renewals, a rename, deletion (which
 * frees the key others call home: a renewal must find its row, not insert a second), a lookup by CMID and merges each
 * still see exactly one row per client. */
static void client_key_collisions(void **state)
{
    (void)state;
    store_key_cmid_mask = 0;
    struct store *s = open_mem();
    struct store_record b[21];
    for (unsigned i = 0; i < 20; i++)
        b[i] = rec(i + 1, APP_WIN, T0);
    b[20] = rec(1, APP_O2013, T0);
    assert_int_equal(store_write(s, b, 21), 0);
    struct rows rs;
    assert_int_equal(list_all(s, NULL, &rs), 21);
    assert_int_equal(count(s, STORE_APP_WINDOWS, T0), 20);
    renew_all(s, 1, 20, T0 + 10);
    struct store_record r = rec(5, APP_WIN, T0 + 20);
    snprintf(r.workstation, sizeof r.workstation, "renamed-5");
    write1(s, r);
    assert_int_equal(list_all(s, NULL, &rs), 21);
    for (size_t i = 0; i < rs.n; i++) {
        bool win = memcmp(rs.r[i].app_id.b, gid(APP_WIN).b, 16) == 0;
        assert_int_equal(rs.r[i].request_count, win ? (memcmp(rs.r[i].cmid.b, cmid_n(5).b, 16) ? 2 : 3) : 1);
    }
    assert_string_equal(rs.r[0].workstation, "renamed-5");
    /* the client at the shared key goes (the first of the batch in key order: every one's key is the same) */
    uint64_t del = 0;
    for (unsigned i = 1; i <= 20; i++) {
        struct guid c = cmid_n(i);
        struct rows one;
        memset(&one, 0, sizeof one);
        assert_int_equal(store_get_client(s, &c, collect, &one), 0);
        assert_int_equal(one.n, i == 1 ? 2 : 1);
        assert_memory_equal(one.r[0].cmid.b, c.b, 16);
    }
    struct guid c1 = cmid_n(1), c2 = cmid_n(2);
    assert_int_equal(store_delete_client(s, &c1, &del), 0);
    assert_int_equal(del, 2);
    assert_int_equal(store_delete_client(s, &c2, &del), 0);
    assert_int_equal(del, 1);
    renew_all(s, 3, 20, T0 + 30);
    write1(s, rec(30, APP_WIN, T0 + 30)); /* a new client while the shared key may be free */
    renew_all(s, 3, 20, T0 + 40);
    write1(s, rec(30, APP_WIN, T0 + 40));
    assert_int_equal(list_all(s, NULL, &rs), 19);
    assert_int_equal(count(s, STORE_APP_WINDOWS, T0 + 40), 19);
    for (size_t i = 0; i < rs.n; i++)
        assert_int_equal(rs.r[i].last_seen, T0 + 40);
    /* merges: older rows with a larger count change each once, then nothing */
    struct store_client in[4];
    memset(in, 0, sizeof in);
    for (unsigned i = 0; i < 4; i++) {
        in[i].cmid = cmid_n(i + 2); /* 2 is gone: inserted again */
        in[i].app_id = gid(APP_WIN);
        in[i].first_seen = in[i].last_seen = T0 - 100;
        in[i].request_count = 9;
        snprintf(in[i].workstation, sizeof in[i].workstation, "old-%u", i + 2);
    }
    uint64_t changed = 0;
    assert_int_equal(store_merge(s, in, 4, &changed), 0);
    assert_int_equal(changed, 4);
    assert_int_equal(store_merge(s, in, 4, &changed), 0);
    assert_int_equal(changed, 0);
    assert_int_equal(list_all(s, NULL, &rs), 20);
    store_close(s);
    store_key_cmid_mask = UINT64_MAX;
}

/* Schema 6 -> 7 keeps every row and its rowid; rows whose keys collide (the CMID's part masked off again) keep the
 * oldest at the key and the others displaced, each found by its renewals afterwards. */
static void migrate_to_compact_key(void **state)
{
    (void)state;
    char path[512], err[256];
    tmp_path(path, sizeof path, "v6.db");
    unlink(path);
    struct store *s = NULL;
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    for (unsigned i = 1; i <= 12; i++)
        write1(s, rec(i, i % 3 ? APP_WIN : APP_O2013, T0 + i));
    store_close(s);
    sqltest_schema6(path);
    int64_t rowid7 = sqltest_int(path, "SELECT rowid FROM clients WHERE workstation = 'pc-7'");
    store_key_cmid_mask = 0;
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    assert_int_equal(sqltest_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 12);
    assert_int_equal(sqltest_int(path, "SELECT rowid FROM clients WHERE workstation = 'pc-7'"), rowid7);
    /* two applications: one row of each at its own key, the rest displaced from it */
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients WHERE home_key IS NULL"), 2);
    assert_int_equal(sqltest_int(path, "SELECT count(DISTINCT client_key) FROM clients"), 12);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'summary_%'"), 2);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                       " AND tbl_name = 'clients'"), 8); /* 7's, and 8's clients_host */
    for (unsigned i = 1; i <= 12; i++)
        write1(s, rec(i, i % 3 ? APP_WIN : APP_O2013, T0 + 100));
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 12);
    assert_int_equal(sqltest_int(path, "SELECT min(request_count) FROM clients"), 2);
    store_close(s);
    store_key_cmid_mask = UINT64_MAX;
    /* unmasked, every row but the collided ones is at its own key: a fresh registry's are all */
    unlink(path);
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    for (unsigned i = 1; i <= 12; i++)
        write1(s, rec(i, APP_WIN, T0 + i));
    store_close(s);
    sqltest_schema6(path);
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients WHERE home_key IS NULL"), 12);
    store_close(s);
}

/* The host that last served a client (schema 8 indexes it): a renewal from another host moves the row to it, and
 * only that changes; a registry of schema 7, and one of schema 5, are brought to 8 with their rows. */
static const char *host_of(struct store *s, unsigned cmid, char *out, size_t cap, uint64_t *requests)
{
    struct rows rs;
    size_t n = list_all(s, NULL, &rs);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (memcmp(rs.r[i].cmid.b, cmid_n(cmid).b, 16) == 0) {
            snprintf(out, cap, "%s", rs.r[i].host);
            *requests = rs.r[i].request_count;
        }
    return out;
}

static void host_change_and_index(void **state)
{
    (void)state;
    char path[512], err[256], h[STORE_HOST_MAX + 1];
    uint64_t requests = 0;
    tmp_path(path, sizeof path, "hosts.db");
    unlink(path);
    struct store *s = NULL;
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    store_set_host(s, "alpha");
    for (unsigned i = 1; i <= 3; i++)
        write1(s, rec(i, APP_WIN, T0 + i));
    write1(s, rec(2, APP_WIN, T0 + 10)); /* the same host again */
    assert_string_equal(host_of(s, 2, h, sizeof h, &requests), "alpha");
    assert_int_equal(requests, 2);
    store_set_host(s, "beta");
    write1(s, rec(2, APP_WIN, T0 + 20)); /* another host: the row follows it */
    assert_string_equal(host_of(s, 2, h, sizeof h, &requests), "beta");
    assert_int_equal(requests, 3);
    assert_string_equal(host_of(s, 1, h, sizeof h, &requests), "alpha");
    assert_int_equal(requests, 1);
    struct store_record r = rec(3, APP_WIN, T0 + 30); /* another host and another name: both written */
    snprintf(r.workstation, sizeof r.workstation, "renamed");
    write1(s, r);
    assert_string_equal(host_of(s, 3, h, sizeof h, &requests), "beta");
    assert_int_equal(requests, 2);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients WHERE workstation = 'renamed'"), 1);
    /* kmsd clients --host: the rows a host served last, newest first, with the other filters */
    struct rows rs;
    struct store_filter f = {.host = "beta"};
    assert_int_equal(list_all(s, &f, &rs), 2);
    assert_string_equal(rs.r[0].workstation, "renamed");
    assert_int_equal(rs.r[1].last_seen, T0 + 20);
    f.since = T0 + 25;
    assert_int_equal(list_all(s, &f, &rs), 1);
    f = (struct store_filter){.host = "alpha"};
    assert_int_equal(list_all(s, &f, &rs), 1);
    assert_int_equal(rs.r[0].last_seen, T0 + 1);
    f.host = "Alpha"; /* a name is matched exactly, as the API's host= does */
    assert_int_equal(list_all(s, &f, &rs), 0);
    store_close(s);
    /* the index answers the host's rows (the planner's choice, SQLite's own words) */
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients INDEXED BY clients_host"
                                       " WHERE last_host = 'beta'"), 2);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients WHERE last_host = 'alpha'"), 1);

    /* schema 7: no host index yet */
    sqltest_exec(path, "DROP INDEX clients_host; PRAGMA user_version = 7;");
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'clients_host'"), 0);
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    assert_int_equal(sqltest_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'clients_host'"), 1);
    assert_string_equal(host_of(s, 2, h, sizeof h, &requests), "beta");
    store_close(s);

    /* schema 5 (6's table; step 6 adds nothing to SQLite): through 6, 7 and 8 */
    unlink(path);
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    for (unsigned i = 1; i <= 5; i++)
        write1(s, rec(i, APP_WIN, T0 + i));
    store_close(s);
    sqltest_schema6(path);
    sqltest_exec(path, "PRAGMA user_version = 5;");
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    assert_int_equal(sqltest_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 5);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'clients_host'"), 1);
    write1(s, rec(4, APP_WIN, T0 + 40));
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 5);
    assert_int_equal(sqltest_int(path, "SELECT request_count FROM clients WHERE workstation = 'pc-4'"), 2);
    store_close(s);
    unlink(path);
}

/* Version 0 (an empty file, or a database someone else left) migrates to the current version; data kept. */
static void migrate_from_v0(void **state)
{
    (void)state;
    char path[512], err[256];
    struct store *s = NULL;
    tmp_path(path, sizeof path, "empty.db");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    write1(s, rec(1, APP_WIN, T0));
    store_close(s);
    assert_int_equal(sqltest_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
        sqlite3_finalize(st);
        sqlite3_close(db);
    }

    /* a version-0 database holding unrelated data */
    tmp_path(path, sizeof path, "v0.db");
    sqltest_exec(path, "CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('kept')");
    assert_int_equal(sqltest_int(path, "PRAGMA user_version"), 0);
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    write1(s, rec(2, APP_WIN, T0));
    store_close(s);
    assert_int_equal(sqltest_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM notes WHERE x = 'kept'"), 1);

    /* reopening a current database keeps its rows and does not migrate again */
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    struct rows rs;
    assert_int_equal(list_all(s, NULL, &rs), 1);
    assert_memory_equal(rs.r[0].cmid.b, cmid_n(2).b, 16);
    store_close(s);

    /* read-only open of a version-0 database is refused (nothing to read) */
    tmp_path(path, sizeof path, "v0ro.db");
    sqltest_exec(path, "CREATE TABLE notes (x TEXT)");
    s = (struct store *)1;
    assert_true(store_open_readonly(path, &s, err, sizeof err) < 0);
    assert_null(s);
    assert_non_null(strstr(err, "not a kmsd database"));
}

/* A version-0 database whose table named clients is not ours: the migration fails, clearly, changing nothing. */
static void migrate_conflict_fails_whole(void **state)
{
    (void)state;
    char path[512], err[256];
    struct store *s = NULL;
    tmp_path(path, sizeof path, "conflict.db");
    sqltest_exec(path, "CREATE TABLE stats (a TEXT)");
    assert_true(store_open(path, &s, err, sizeof err) < 0);
    assert_null(s);
    assert_non_null(strstr(err, "migration"));
    assert_int_equal(sqltest_int(path, "PRAGMA user_version"), 0);
    /* the step's first table was rolled back with the rest */
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'clients'"), 0);
}

static void newer_schema_refused(void **state)
{
    (void)state;
    char path[512], err[256];
    struct store *s = NULL;
    tmp_path(path, sizeof path, "newer.db");
    sqltest_exec(path, "CREATE TABLE future (x); PRAGMA user_version = 99");
    assert_int_equal(store_open(path, &s, err, sizeof err), -ENOTSUP);
    assert_null(s);
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "99"));
    assert_int_equal(store_open_readonly(path, &s, err, sizeof err), -ENOTSUP);
    assert_int_equal(sqltest_int(path, "PRAGMA user_version"), 99);
}

static void open_errors(void **state)
{
    (void)state;
    char path[512], err[256];
    struct store *s = NULL;

    /* a directory */
    tmp_path(path, sizeof path, "adir");
    assert_int_equal(mkdir(path, 0700), 0);
    err[0] = '\0';
    assert_true(store_open(path, &s, err, sizeof err) < 0);
    assert_null(s);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "unable to open"));

    /* a missing parent directory */
    tmp_path(path, sizeof path, "missing/dir/kmsd.db");
    assert_true(store_open(path, &s, err, sizeof err) < 0);
    assert_null(s);

    /* a file of garbage bytes */
    tmp_path(path, sizeof path, "garbage.db");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++)
        fputc((i * 131 + 7) & 0xff, f);
    fclose(f);
    assert_true(store_open(path, &s, err, sizeof err) < 0);
    assert_null(s);
    assert_non_null(strstr(err, "not a database"));
    assert_true(store_open_readonly(path, &s, err, sizeof err) < 0);
    assert_non_null(strstr(err, "not a database"));

    /* read-only open of a missing file */
    tmp_path(path, sizeof path, "nothere.db");
    assert_int_equal(store_open_readonly(path, &s, err, sizeof err), -ENOENT);
    assert_null(s);
    assert_int_equal(access(path, F_OK), -1); /* and it was not created */

    /* a truncated error buffer is still NUL-terminated */
    char small[8];
    assert_true(store_open_readonly(path, &s, small, sizeof small) < 0);
    assert_true(strlen(small) < sizeof small);
    store_close(NULL);
}

/* A version-1 database (before the daily table) migrates to the current version: rows kept, daily table created and then
 * updated in the same transaction as the records. */
static void migrate_v1_to_v2(void **state)
{
    (void)state;
    char path[512], err[256];
    struct store *s = NULL;
    tmp_path(path, sizeof path, "v1.db");
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    write1(s, rec(1, APP_WIN, T0));
    store_close(s);
    /* make it exactly what version 1 left: no daily table (nor what versions 3 and 7 added), user_version 1 */
    sqltest_schema6(path);
    sqltest_exec(path, "DROP TRIGGER IF EXISTS summary_insert; DROP TRIGGER summary_delete; DROP TRIGGER summary_update;"
                   " DROP TABLE summary; DROP INDEX clients_first_seen; DROP INDEX clients_workstation;"
                   " DROP INDEX clients_product; DROP TABLE daily; ALTER TABLE clients DROP COLUMN last_host;"
                   " PRAGMA user_version = 1");
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'daily'"), 0);
    /* a read-only open of the old version is refused with a hint */
    assert_true(store_open_readonly(path, &s, err, sizeof err) < 0);
    assert_non_null(strstr(err, "older"));
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    assert_int_equal(sqltest_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 1);
    write1(s, rec(2, APP_WIN, T0 + DAY));
    struct store_record r = rec(3, APP_WIN, T0 + DAY);
    r.hresult = 0xC004F042u;
    write1(s, r);
    store_close(s);
    assert_int_equal(sqltest_int(path, "SELECT answered FROM daily WHERE day = 20776"), 1); /* (T0 + DAY) / DAY */
    assert_int_equal(sqltest_int(path, "SELECT refused FROM daily WHERE day = 20776"), 1);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM daily"), 1); /* the v1 row's day was before the table */
}

struct day_rows {
    int64_t day[8];
    uint64_t ok[8], bad[8];
    size_t n;
};

static int collect_day(void *ctx, int64_t day, uint64_t answered, uint64_t refused)
{
    struct day_rows *d = ctx;
    assert_true(d->n < 8);
    d->day[d->n] = day;
    d->ok[d->n] = answered;
    d->bad[d->n++] = refused;
    return 0;
}

static void daily_counts(void **state)
{
    (void)state;
    struct store *s = open_mem();
    struct store_record b[3] = {rec(1, APP_WIN, T0), rec(2, APP_WIN, T0 + 1), rec(3, APP_O2013, T0 + 3 * DAY)};
    b[1].hresult = 0xC004F038u;
    assert_int_equal(store_write(s, b, 3), 0);
    write1(s, rec(1, APP_WIN, T0 + 5)); /* the same client again counts again: activations, not clients */
    struct day_rows d;
    memset(&d, 0, sizeof d);
    assert_int_equal(store_daily(s, T0 / DAY, T0 / DAY + 30, collect_day, &d), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.day[0], T0 / DAY);
    assert_int_equal(d.ok[0], 2);
    assert_int_equal(d.bad[0], 1);
    assert_int_equal(d.day[1], T0 / DAY + 3);
    assert_int_equal(d.ok[1], 1);
    /* the range is inclusive at both ends and excludes what lies outside */
    memset(&d, 0, sizeof d);
    assert_int_equal(store_daily(s, T0 / DAY + 1, T0 / DAY + 3, collect_day, &d), 0);
    assert_int_equal(d.n, 1);
    memset(&d, 0, sizeof d);
    assert_int_equal(store_daily(s, T0 / DAY + 4, T0 / DAY + 40, collect_day, &d), 0);
    assert_int_equal(d.n, 0);
    /* a batch that goes to another day and back: each run is added to its own day */
    struct store_record c[3] = {rec(4, APP_WIN, T0 + 50 * DAY), rec(5, APP_WIN, T0 + 51 * DAY),
                                rec(6, APP_WIN, T0 + 50 * DAY + 7)};
    c[2].hresult = 0xC004F042u;
    assert_int_equal(store_write(s, c, 3), 0);
    memset(&d, 0, sizeof d);
    assert_int_equal(store_daily(s, T0 / DAY + 50, T0 / DAY + 51, collect_day, &d), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.ok[0], 1);
    assert_int_equal(d.bad[0], 1);
    assert_int_equal(d.ok[1], 1);
    assert_int_equal(d.bad[1], 0);
    store_close(s);
}

struct grp_rows {
    enum store_app_group g[8];
    char product[8][128];
    uint64_t n[8];
    size_t count;
};

static int collect_grp(void *ctx, enum store_app_group g, const char *product, uint64_t n)
{
    struct grp_rows *r = ctx;
    assert_true(r->count < 8);
    r->g[r->count] = g;
    snprintf(r->product[r->count], sizeof r->product[0], "%s", product);
    r->n[r->count++] = n;
    return 0;
}

/* Every row of a store, in (cmid, application) order: rowids differ between stores written in another order. */
struct all_rows {
    struct store_client r[128];
    size_t n;
};

static int collect_all(void *ctx, const struct store_client *c)
{
    struct all_rows *rs = ctx;
    assert_true(rs->n < 128);
    rs->r[rs->n++] = *c;
    return 0;
}

static int by_client(const void *a, const void *b)
{
    const struct store_client *x = a, *y = b;
    int d = memcmp(x->cmid.b, y->cmid.b, 16);
    return d ? d : memcmp(x->app_id.b, y->app_id.b, 16);
}

static void rows_sorted(struct store *s, struct all_rows *rs)
{
    memset(rs, 0, sizeof *rs);
    assert_int_equal(store_list(s, NULL, collect_all, rs), 0);
    qsort(rs->r, rs->n, sizeof rs->r[0], by_client);
}

/* One batch's records of a client are written as one (store_coalesce): the rows a batch leaves are those of the same
 * records written one at a time — names and products changed, refusals between answers (the ePID last given stays),
 * times out of order, a CMID with two applications — with every client at its own key and, the CMID's part of the key
 * masked off, every client of an application at one key (the displaced rows' paths). Statistics and the per-product
 * summary too. */
static void batch_coalesces_as_one_by_one(void **state)
{
    (void)state;
    static const char *const apps[] = {APP_WIN, APP_O2013, APP_UNKNOWN};
    for (int masked = 0; masked < 2; masked++) {
        store_key_cmid_mask = masked ? 0 : UINT64_MAX;
        struct store *a = open_mem(), *b = open_mem();
        struct store_record batch[61];
        size_t n = 0;
        uint32_t x = 777;
        for (unsigned i = 0; i < 600; i++) {
            x = x * 1103515245u + 12345u;
            unsigned c = (x >> 8) % 25; /* 25 clients: a batch holds several records of most */
            struct store_record r = rec(c, apps[c % 4 == 0 ? (x >> 3) % 3 : c % 2], T0 + (int64_t)i * 100 -
                                                                                    (int64_t)((x >> 4) % 5000));
            if ((x >> 12) % 7 == 0)
                snprintf(r.workstation, sizeof r.workstation, "pc-%u-r%u", c, i % 3);
            if ((x >> 14) % 11 == 0)
                snprintf(r.product, sizeof r.product, "Windows Server 2022 Standard");
            if ((x >> 16) % 4 == 0) {
                r.hresult = 0xC004F042;
                r.epid[0] = '\0';
            } else {
                snprintf(r.epid, sizeof r.epid, "epid-%u-%u", c, i);
            }
            r.license_status = (x >> 20) % 7;
            snprintf(r.address, sizeof r.address, "192.0.2.%u:%u", c, 1000 + i);
            batch[n++] = r;
            write1(b, r);
            if (n == sizeof batch / sizeof batch[0] || i == 599) {
                assert_int_equal(store_write(a, batch, n), 0);
                n = 0;
            }
        }
        struct all_rows ra, rb;
        rows_sorted(a, &ra);
        rows_sorted(b, &rb);
        assert_int_equal(ra.n, rb.n);
        assert_true(ra.n > 25);
        for (size_t i = 0; i < ra.n; i++) {
            const struct store_client *p = &ra.r[i], *q = &rb.r[i];
            assert_memory_equal(p->cmid.b, q->cmid.b, 16);
            assert_memory_equal(p->app_id.b, q->app_id.b, 16);
            assert_memory_equal(p->sku_id.b, q->sku_id.b, 16);
            assert_memory_equal(p->kms_id.b, q->kms_id.b, 16);
            assert_string_equal(p->workstation, q->workstation);
            assert_string_equal(p->product, q->product);
            assert_string_equal(p->address, q->address);
            assert_string_equal(p->epid, q->epid);
            assert_string_equal(p->host, q->host);
            assert_int_equal(p->license_status, q->license_status);
            assert_int_equal(p->first_seen, q->first_seen);
            assert_int_equal(p->last_seen, q->last_seen);
            assert_int_equal(p->request_count, q->request_count);
        }
        struct store_stats sa, sb;
        assert_int_equal(store_stats_get(a, T0 + 60000, &sa), 0);
        assert_int_equal(store_stats_get(b, T0 + 60000, &sb), 0);
        assert_memory_equal(&sa, &sb, sizeof sa);
        struct grp_rows ga, gb;
        memset(&ga, 0, sizeof ga);
        memset(&gb, 0, sizeof gb);
        assert_int_equal(store_groups(a, collect_grp, &ga), 0);
        assert_int_equal(store_groups(b, collect_grp, &gb), 0);
        assert_true(ga.count >= 3);
        assert_memory_equal(&ga, &gb, sizeof ga);
        store_close(a);
        store_close(b);
    }
    store_key_cmid_mask = UINT64_MAX;
}

/* Schema 4 (last_host): a version-3 registry migrates with its rows kept (host ""), and each record after
 * store_set_host says which host wrote it; store_query's host filter takes that host's rows only. */
static void host_names(void **state)
{
    (void)state;
    char path[512], err[256];
    struct store *s = NULL;
    tmp_path(path, sizeof path, "v3.db");
    unlink(path);
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    write1(s, rec(1, APP_WIN, T0));
    store_close(s);
    sqltest_schema6(path);
    sqltest_exec(path, "ALTER TABLE clients DROP COLUMN last_host; PRAGMA user_version = 3");
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    assert_int_equal(sqltest_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients WHERE last_host = ''"), 1);
    store_set_host(s, "alpha");
    write1(s, rec(2, APP_WIN, T0 + 1));
    store_set_host(s, "beta");
    write1(s, rec(3, APP_WIN, T0 + 2));
    write1(s, rec(1, APP_WIN, T0 + 3)); /* a renewal: the row now says beta */
    struct rows rs;
    struct store_query q;
    memset(&q, 0, sizeof q);
    q.limit = 10;
    q.descending = true;
    q.host = "beta";
    assert_int_equal(query_into(s, &q, &rs), 2);
    assert_int_equal(rs.n, 2);
    assert_string_equal(rs.r[0].workstation, "pc-1");
    assert_string_equal(rs.r[0].host, "beta");
    q.host = "alpha";
    assert_int_equal(query_into(s, &q, &rs), 1);
    assert_string_equal(rs.r[0].workstation, "pc-2");
    q.host = "gamma";
    assert_int_equal(query_into(s, &q, &rs), 0);
    /* a name longer than STORE_HOST_MAX is cut */
    char longname[STORE_HOST_MAX + 8];
    memset(longname, 'h', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    store_set_host(s, longname);
    write1(s, rec(4, APP_WIN, T0 + 4));
    store_close(s);
    assert_int_equal(sqltest_int(path, "SELECT length(last_host) FROM clients WHERE workstation = 'pc-4'"),
                     STORE_HOST_MAX);
    unlink(path);
}

/* The host filter's two ways (store_read.c, HOST_INDEX_ROWS): a host of more rows than that pages along the sort
 * key's index, one of fewer on its own index; both give the same rows in the same order as the unfiltered list. */
static int keep_host(void *ctx, const struct store_client *c)
{
    struct rows *rs = ctx;
    if (strcmp(c->host, "big") == 0 && rs->n < 50)
        rs->r[rs->n++] = *c;
    return 0;
}

/* A listing's rowids, in order, of the host named (NULL: every row's). */
struct rowids {
    const char *host;
    int64_t *id;
    size_t n, cap;
};

static int keep_rowid(void *ctx, const struct store_client *c)
{
    struct rowids *r = ctx;
    if (r->host && strcmp(c->host, r->host) != 0)
        return 0;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->id = realloc(r->id, r->cap * sizeof *r->id);
        assert_non_null(r->id);
    }
    r->id[r->n++] = c->rowid;
    return 0;
}

/* store_list with f->host (either of its statements: list_host_stmt) lists what the plain listing's rows of that
 * host are, in the same order; n: how many. */
static void list_host_matches(struct store *s, const char *host, int64_t since, size_t n)
{
    struct rowids want = {host, NULL, 0, 0}, got = {NULL, NULL, 0, 0};
    struct store_filter f = {.since = since};
    assert_int_equal(store_list(s, &f, keep_rowid, &want), 0);
    f.host = host;
    assert_int_equal(store_list(s, &f, keep_rowid, &got), 0);
    assert_int_equal(got.n, n);
    assert_int_equal(want.n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got.id[i], want.id[i]);
    free(want.id);
    free(got.id);
}

static void host_filter_paths(void **state)
{
    (void)state;
    struct store *s = open_mem();
    enum { BIG = 10050 };
    static struct store_record recs[BIG];
    for (unsigned i = 0; i < BIG; i++)
        recs[i] = rec(100 + i, APP_WIN, T0 + (int64_t)(i * 7919 % BIG)); /* last_seen in another order than rowid */
    store_set_host(s, "big");
    assert_int_equal(store_batch_begin(s), 0);
    assert_int_equal(store_batch_add(s, recs, BIG), 0);
    assert_int_equal(store_batch_commit(s, 0), 0);
    store_set_host(s, "small");
    for (unsigned i = 1; i <= 3; i++)
        write1(s, rec(i, APP_WIN, T0 + BIG + i));
    struct rows want, got;
    memset(&want, 0, sizeof want);
    assert_int_equal(store_list(s, NULL, keep_host, &want), 0); /* the big host's 50 newest, by the plain list */
    assert_int_equal(want.n, 50);
    struct store_query q;
    memset(&q, 0, sizeof q);
    q.limit = 50;
    q.descending = true;
    q.host = "big";
    assert_int_equal(query_into(s, &q, &got), BIG);
    assert_int_equal(got.n, 50);
    for (size_t i = 0; i < 50; i++) {
        assert_string_equal(got.r[i].host, "big");
        assert_int_equal(got.r[i].rowid, want.r[i].rowid);
    }
    q.sort = STORE_SORT_WORKSTATION; /* another sort key's index, and a text filter with it */
    q.descending = false;
    q.q = "pc-1";
    uint64_t total = query_into(s, &q, &got);
    assert_true(total > 1000 && total < BIG);
    for (size_t i = 0; i < got.n; i++) {
        assert_string_equal(got.r[i].host, "big");
        assert_non_null(strstr(got.r[i].workstation, "pc-1"));
        if (i)
            assert_true(strcmp(got.r[i - 1].workstation, got.r[i].workstation) < 0);
    }
    q.host = "small"; /* a few rows: the host's index, sorted */
    q.q = NULL;
    q.sort = STORE_SORT_LAST_SEEN;
    q.descending = true;
    assert_int_equal(query_into(s, &q, &got), 3);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.r[0].workstation, "pc-3");
    assert_string_equal(got.r[2].workstation, "pc-1");
    q.host = "nobody";
    assert_int_equal(query_into(s, &q, &got), 0);
    assert_int_equal(got.n, 0);
    /* kmsd clients --host: a host of many rows with --since (last_seen's range), without (the host's index), a host of
     * few rows with --since (its index) */
    list_host_matches(s, "big", T0 + BIG / 2, BIG / 2);
    list_host_matches(s, "big", 0, BIG);
    list_host_matches(s, "small", T0 + BIG + 2, 2);
    list_host_matches(s, "nobody", T0, 0);
    store_close(s);
}

/* store_sleep closes a file store's connections (the WAL checkpointed and removed) and store_wake opens it again as it
 * was: host name, cache size and split checkpoints kept, rows kept; a wake that cannot open the file says so and the
 * store sleeps on until one can; in-memory and read-only stores do not sleep. */
static void sleep_and_wake(void **state)
{
    (void)state;
    char path[512], side[600], err[256];
    struct store *s = NULL;
    tmp_path(path, sizeof path, "sleep.db");
    unlink(path);
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    store_set_host(s, "alpha");
    assert_int_equal(store_cache_size(s, 1234), 0);
    assert_int_equal(store_split_checkpoints(s), 0);
    write1(s, rec(1, APP_WIN, T0));
    assert_false(store_asleep(s));
    assert_int_equal(store_sleep(s), 0);
    assert_true(store_asleep(s));
    assert_int_equal(store_sleep(s), 0); /* asleep already: nothing to do */
    snprintf(side, sizeof side, "%s-wal", path);
    assert_int_equal(access(side, F_OK), -1); /* the last connection checkpointed and removed it */
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 1);
    assert_int_equal(store_wake(s), 0);
    assert_false(store_asleep(s));
    write1(s, rec(2, APP_WIN, T0 + 1));
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients WHERE last_host = 'alpha'"), 2);
    int64_t kib = 0;
    assert_int_equal(store_pragma_int(s, "PRAGMA cache_size", "cache size", &kib), 0);
    assert_int_equal(kib, -1234);
    assert_non_null(s->ckpt);
    assert_int_equal(store_checkpoint(s, err, sizeof err), 0);
    /* a file that is no database by the time of the wake: refused, asleep still; the right one back: awake */
    assert_int_equal(store_sleep(s), 0);
    snprintf(side, sizeof side, "%s.kept", path);
    assert_int_equal(rename(path, side), 0);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 64; i++)
        fputs("this is not a database file, not at all. ", f);
    fclose(f);
    assert_int_equal(store_wake(s), -EBADMSG);
    assert_true(store_asleep(s));
    assert_non_null(strstr(store_errmsg(s), "cannot open the registry again"));
    assert_int_equal(rename(side, path), 0);
    assert_int_equal(store_wake(s), 0);
    write1(s, rec(3, APP_WIN, T0 + 2));
    store_close(s);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 3);
    /* closed while asleep */
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    assert_int_equal(store_sleep(s), 0);
    store_close(s);
    /* an in-memory store and a read-only one stay open */
    s = open_mem();
    assert_int_equal(store_sleep(s), -ENOTSUP);
    assert_false(store_asleep(s));
    write1(s, rec(4, APP_WIN, T0));
    store_close(s);
    assert_int_equal(store_open_readonly(path, &s, err, sizeof err), 0);
    assert_int_equal(store_sleep(s), -ENOTSUP);
    assert_false(store_asleep(s));
    store_close(s);
    unlink(path);
}

static void query_pages_filters_sort(void **state)
{
    (void)state;
    struct store *s = open_mem();
    for (unsigned i = 1; i <= 10; i++) {
        struct store_record r = rec(i, i <= 7 ? APP_WIN : APP_O2013, T0 + i);
        if (i > 7)
            snprintf(r.product, sizeof r.product, "Office LTSC Professional Plus 2024");
        write1(s, r);
    }
    write1(s, rec(3, APP_WIN, T0 + 100)); /* pc-3 twice */
    struct rows rs;
    uint64_t total = 0;
    struct store_query q;
    memset(&q, 0, sizeof q);
    q.limit = 4;
    q.descending = true;
    memset(&rs, 0, sizeof rs);
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_int_equal(total, 10);
    assert_int_equal(rs.n, 4);
    assert_string_equal(rs.r[0].workstation, "pc-3"); /* most recently seen first */
    assert_string_equal(rs.r[1].workstation, "pc-10");
    q.offset = 8; /* the last page is short */
    memset(&rs, 0, sizeof rs);
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_int_equal(rs.n, 2);
    q.offset = 10; /* past the end: empty, total still right */
    memset(&rs, 0, sizeof rs);
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_int_equal(rs.n, 0);
    assert_int_equal(total, 10);

    memset(&q, 0, sizeof q);
    q.limit = 100;
    q.product = "office";
    memset(&rs, 0, sizeof rs);
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_int_equal(total, 3);
    q.product_exact = true; /* a whole name: exact, on the product index; the total from the summary */
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_int_equal(total, 0);
    q.product = "Office LTSC Professional Plus 2024";
    memset(&rs, 0, sizeof rs);
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_int_equal(total, 3);
    assert_int_equal(rs.n, 3);
    q.since = T0 + 9; /* the total by a count over the table */
    memset(&rs, 0, sizeof rs);
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_int_equal(total, 2);
    assert_int_equal(rs.n, 2);
    q.since = 0;
    q.product_exact = false;
    q.product = NULL;
    q.has_app = true;
    q.app_id = gid(APP_WIN);
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_int_equal(total, 7);
    q.has_app = false;
    q.q = "PC-1"; /* pc-1 and pc-10, case-insensitive */
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_int_equal(total, 2);
    char text[GUID_TEXT_LEN + 1];
    struct guid g9 = cmid_n(9);
    guid_format(&g9, text);
    q.q = text + 24; /* the tail of one CMID's text form */
    memset(&rs, 0, sizeof rs);
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_int_equal(total, 1);
    assert_string_equal(rs.r[0].workstation, "pc-9");
    q.q = NULL;
    q.since = T0 + 8;
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_int_equal(total, 4); /* pc-8, 9, 10 and pc-3 (seen again) */

    memset(&q, 0, sizeof q);
    q.limit = 100;
    q.sort = STORE_SORT_REQUESTS;
    q.descending = true;
    memset(&rs, 0, sizeof rs);
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_string_equal(rs.r[0].workstation, "pc-3");
    q.sort = STORE_SORT_WORKSTATION;
    q.descending = false;
    memset(&rs, 0, sizeof rs);
    assert_int_equal(store_query(s, &q, &total, collect, &rs), 0);
    assert_string_equal(rs.r[0].workstation, "pc-1");
    assert_string_equal(rs.r[1].workstation, "pc-10");
    q.sort = STORE_SORT_COUNT; /* not a key */
    assert_int_equal(store_query(s, &q, &total, collect, &rs), -EINVAL);

    memset(&rs, 0, sizeof rs);
    struct guid c3 = cmid_n(3);
    assert_int_equal(store_get_client(s, &c3, collect, &rs), 0);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].request_count, 2);
    memset(&rs, 0, sizeof rs);
    struct guid c99 = cmid_n(99);
    assert_int_equal(store_get_client(s, &c99, collect, &rs), 0);
    assert_int_equal(rs.n, 0);

    struct grp_rows gr;
    memset(&gr, 0, sizeof gr);
    assert_int_equal(store_groups(s, collect_grp, &gr), 0);
    assert_int_equal(gr.count, 2);
    assert_int_equal(gr.g[0], STORE_APP_WINDOWS);
    assert_int_equal(gr.n[0], 7);
    assert_int_equal(gr.g[1], STORE_APP_OFFICE);
    assert_string_equal(gr.product[1], "Office LTSC Professional Plus 2024");
    assert_int_equal(gr.n[1], 3);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(app_groups),
        cmocka_unit_test(window_boundaries),
        cmocka_unit_test(distinct_per_group),
        cmocka_unit_test(upsert_keeps_first_seen),
        cmocka_unit_test(fields_round_trip),
        cmocka_unit_test(prune_retention_boundary),
        cmocka_unit_test(row_cap_keeps_most_recent),
        cmocka_unit_test(stats_counters),
        cmocka_unit_test(delete_client),
        cmocka_unit_test(list_filters_and_order),
        cmocka_unit_test(batch_rolls_back),
        cmocka_unit_test(bind_failure_refuses),
        cmocka_unit_test(merge_is_idempotent),
        cmocka_unit_test(client_key_layout),
        cmocka_unit_test(client_key_collisions),
        cmocka_unit_test(batch_coalesces_as_one_by_one),
        cmocka_unit_test(client_key_probes_bounded),
        cmocka_unit_test(migrate_to_compact_key),
        cmocka_unit_test(host_change_and_index),
        cmocka_unit_test(host_filter_paths),
        cmocka_unit_test(migrate_from_v0),
        cmocka_unit_test(migrate_v1_to_v2),
        cmocka_unit_test(host_names),
        cmocka_unit_test(sleep_and_wake),
        cmocka_unit_test(daily_counts),
        cmocka_unit_test(query_pages_filters_sort),
        cmocka_unit_test(migrate_conflict_fails_whole),
        cmocka_unit_test(newer_schema_refused),
        cmocka_unit_test(open_errors),
    };
    return cmocka_run_group_tests(tests, storetest_setup, storetest_teardown);
}
