/* The registry at scale: the genuine count stops at its limit and says how long it holds, the summary table
 * follows every change of the clients table, pruning runs in chunks, pruned pages go back to the file system,
 * and a version-2 database migrates to the summary. Times are injected. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "sqltest.h"
#include "store.h"
#include "storetest.h"

static struct store *open_file(const char *path)
{
    struct store *s = NULL;
    char err[256];
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    return s;
}

/* 2N of the group's largest threshold in the table: 25 for Windows client editions, 5 for Office; "other" takes
 * the whole table's. */
static void limit_from_table(void **state)
{
    (void)state;
    assert_int_equal(store_count_limit(STORE_APP_WINDOWS), 50);
    assert_int_equal(store_count_limit(STORE_APP_OFFICE), 10);
    assert_int_equal(store_count_limit(STORE_APP_OFFICE2010), 10);
    assert_int_equal(store_count_limit(STORE_APP_OTHER), 50);
}

/* Newest first, stopping at the limit: holds_until is when the oldest counted client leaves the window, and
 * from then on the count is below the limit. */
static void count_stops_at_limit(void **state)
{
    (void)state;
    struct store *s = open_mem();
    for (unsigned i = 0; i < 60; i++)
        write1(s, rec(i, APP_WIN, T0 + i));
    const int64_t w = (int64_t)STORE_COUNT_WINDOW_DAYS * DAY;
    struct store_count c;
    assert_int_equal(store_count(s, STORE_APP_WINDOWS, T0 + 100, STORE_COUNT_WINDOW_DAYS, 50, &c), 0);
    assert_int_equal(c.count, 50);
    assert_int_equal(c.holds_until, T0 + 10 + w); /* the 50th newest was seen at T0 + 10 */
    assert_int_equal(store_count(s, STORE_APP_WINDOWS, T0 + 10 + w - 1, STORE_COUNT_WINDOW_DAYS, 50, &c), 0);
    assert_int_equal(c.count, 50);
    assert_int_equal(store_count(s, STORE_APP_WINDOWS, T0 + 10 + w, STORE_COUNT_WINDOW_DAYS, 50, &c), 0);
    assert_int_equal(c.count, 49);
    assert_int_equal(c.holds_until, T0 + 10 + w);
    /* a limit above the rows counts them all; other groups are not counted in */
    write1(s, rec(1, APP_O2013, T0));
    assert_int_equal(store_count(s, STORE_APP_WINDOWS, T0 + 100, STORE_COUNT_WINDOW_DAYS, 1000, &c), 0);
    assert_int_equal(c.count, 60);
    assert_int_equal(c.holds_until, T0 + 100);
    assert_int_equal(store_count(s, STORE_APP_OFFICE, T0 + 100, STORE_COUNT_WINDOW_DAYS, 50, &c), 0);
    assert_int_equal(c.count, 1);
    /* limit 0 counts nothing */
    assert_int_equal(store_count(s, STORE_APP_WINDOWS, T0 + 100, STORE_COUNT_WINDOW_DAYS, 0, &c), 0);
    assert_int_equal(c.count, 0);
    store_close(s);
}

/* A limit above STORE_COUNT_LIMIT_MAX counts to STORE_COUNT_LIMIT_MAX (the distinct CMIDs are kept on the stack). */
static void count_limit_max(void **state)
{
    (void)state;
    struct store *s = open_mem();
    enum { ROWS = STORE_COUNT_LIMIT_MAX + 100 };
    static struct store_record recs[ROWS];
    for (unsigned i = 0; i < ROWS; i++)
        recs[i] = rec(i, APP_WIN, T0);
    assert_int_equal(store_write(s, recs, ROWS), 0);
    struct store_count c;
    assert_int_equal(store_count(s, STORE_APP_WINDOWS, T0 + 1, STORE_COUNT_WINDOW_DAYS, UINT32_MAX, &c), 0);
    assert_int_equal(c.count, STORE_COUNT_LIMIT_MAX);
    assert_int_equal(c.holds_until, T0 + (int64_t)STORE_COUNT_WINDOW_DAYS * DAY);
    store_close(s);
}

/* In "other" a client with several applications is one client, also when the limit stops the scan. */
static void count_other_distinct(void **state)
{
    (void)state;
    struct store *s = open_mem();
    for (unsigned a = 0; a < 3; a++) {
        struct store_record r = rec(1, APP_UNKNOWN, T0 + 10 + a);
        r.app_id.b[0] = (uint8_t)a;
        write1(s, r);
    }
    write1(s, rec(2, APP_UNKNOWN, T0));
    struct store_count c;
    assert_int_equal(store_count(s, STORE_APP_OTHER, T0 + 100, STORE_COUNT_WINDOW_DAYS, 50, &c), 0);
    assert_int_equal(c.count, 2);
    assert_int_equal(store_count(s, STORE_APP_OTHER, T0 + 100, STORE_COUNT_WINDOW_DAYS, 2, &c), 0);
    assert_int_equal(c.count, 2);
    assert_int_equal(c.holds_until, T0 + (int64_t)STORE_COUNT_WINDOW_DAYS * DAY); /* client 2, seen at T0 */
    struct store_stats st;
    assert_int_equal(store_stats_get(s, T0 + 100, &st), 0);
    assert_int_equal(st.current_count[STORE_APP_OTHER], 2);
    assert_int_equal(st.clients, 4);
    store_close(s);
}

/* Rows of the summary that disagree with a count of the clients table, both ways. */
static int64_t summary_mismatches(const char *path)
{
    return sqltest_int(path, "SELECT (SELECT count(*) FROM (SELECT app_group, product, count(*) FROM clients"
                             " GROUP BY 1, 2 EXCEPT SELECT app_group, product, n FROM summary WHERE n > 0))"
                             " + (SELECT count(*) FROM (SELECT app_group, product, n FROM summary WHERE n > 0"
                             " EXCEPT SELECT app_group, product, count(*) FROM clients GROUP BY 1, 2))");
}

static int sum_groups(void *ctx, enum store_app_group g, const char *product, uint64_t n)
{
    (void)g;
    (void)product;
    *(uint64_t *)ctx += n;
    return 0;
}

/* Inserts, renewals, a product that changes, a deletion, pruning and an import all keep the summary equal to
 * the table; the statistics and the groups read it. */
static void summary_follows_every_change(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "summary.db");
    struct store *s = open_file(path);
    for (unsigned i = 0; i < 40; i++)
        write1(s, rec(i, i % 3 == 0 ? APP_O2013 : APP_WIN, T0 + i));
    assert_int_equal(summary_mismatches(path), 0);
    for (unsigned i = 0; i < 10; i++) /* renewals: no new rows */
        write1(s, rec(i, i % 3 == 0 ? APP_O2013 : APP_WIN, T0 + 100 + i));
    struct store_record r = rec(5, APP_WIN, T0 + 200); /* an upgrade: another product name */
    snprintf(r.product, sizeof r.product, "Windows 10/11 Enterprise");
    write1(s, r);
    assert_int_equal(summary_mismatches(path), 0);
    uint64_t n = 0;
    assert_int_equal(store_delete_client(s, &r.cmid, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(summary_mismatches(path), 0);
    assert_int_equal(store_prune(s, T0 + 300, 365, 30, &n), 0); /* the row cap */
    assert_int_equal(n, 9);
    assert_int_equal(summary_mismatches(path), 0);
    struct store_client imp;
    memset(&imp, 0, sizeof imp);
    imp.cmid = cmid_n(1000);
    imp.app_id = gid(APP_O2010);
    snprintf(imp.product, sizeof imp.product, "Office Professional Plus 2010");
    imp.first_seen = imp.last_seen = T0;
    imp.request_count = 1;
    assert_int_equal(store_merge(s, &imp, 1, &n), 0);
    assert_int_equal(summary_mismatches(path), 0);
    struct store_stats st;
    assert_int_equal(store_stats_get(s, T0 + 300, &st), 0);
    assert_int_equal(st.clients, 31);
    uint64_t sum = 0;
    assert_int_equal(store_groups(s, sum_groups, &sum), 0);
    assert_int_equal(sum, 31);
    store_close(s);
}

/* Schema 5 counts new clients into the summary per batch: a version-4 registry (with its per-row insert trigger)
 * loses the trigger when it is opened, so that nothing is counted twice; a batch of many new clients of several
 * products (more than SUMMARY_KEYS of them, so the count is flushed within the batch) keeps the summary exact. */
static void summary_by_batch(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "summary5.db");
    struct store *s = open_file(path);
    write1(s, rec(1, APP_WIN, T0));
    store_close(s);
    sqltest_schema6(path);
    sqltest_exec(path, "CREATE TRIGGER summary_insert AFTER INSERT ON clients BEGIN"
                       " INSERT INTO summary (app_group, product, n) VALUES (new.app_group, new.product, 1)"
                       " ON CONFLICT (app_group, product) DO UPDATE SET n = n + 1; END; PRAGMA user_version = 4");
    s = open_file(path);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'summary_insert'"), 0);
    struct store_record batch[60];
    for (unsigned i = 0; i < 60; i++) {
        batch[i] = rec(100 + i, i % 2 ? APP_WIN : APP_O2013, T0 + i);
        snprintf(batch[i].product, sizeof batch[i].product, "Product %u", i % 20); /* 20 products */
    }
    assert_int_equal(store_write(s, batch, 60), 0);
    assert_int_equal(store_write(s, batch, 60), 0); /* the same clients again: renewals, nothing new */
    assert_int_equal(summary_mismatches(path), 0);
    assert_int_equal(sqltest_int(path, "SELECT total(n) FROM summary"), 61);
    store_close(s);
}

/* Each step deletes at most its chunk, the old rows first and then the least recently seen above the cap, and
 * says whether more remain; store_prune runs steps until none do. */
static void prune_in_chunks(void **state)
{
    (void)state;
    struct store *s = open_mem();
    for (unsigned i = 0; i < 25; i++) /* 25 rows beyond a 90-day retention */
        write1(s, rec(i, APP_WIN, T0 + i));
    for (unsigned i = 100; i < 130; i++) /* 30 recent ones */
        write1(s, rec(i, APP_WIN, T0 + 200 * DAY + i));
    const int64_t now = T0 + 200 * DAY + 1000;
    uint64_t n = 0;
    bool more = false;
    /* 25 old rows, then 25 above the cap: the third step finishes the old ones and starts on the cap */
    const uint64_t want[] = {10, 10, 10, 10, 10};
    const bool want_more[] = {true, true, true, true, false};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        assert_int_equal(store_prune_step(s, now, 90, 5, 10, &n, &more), 0);
        assert_int_equal(n, want[k]);
        assert_int_equal(more, want_more[k]);
    }
    struct store_stats st;
    assert_int_equal(store_stats_get(s, now, &st), 0);
    assert_int_equal(st.clients, 5);
    assert_int_equal(store_prune_step(s, now, 90, 5, 10, &n, &more), 0);
    assert_int_equal(n, 0);
    assert_false(more);
    /* the five most recent stay */
    struct store_count c;
    assert_int_equal(store_count(s, STORE_APP_WINDOWS, now, STORE_COUNT_WINDOW_DAYS, 50, &c), 0);
    assert_int_equal(c.count, 5);
    store_close(s);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (int64_t)st.st_size;
}

/* A new database is incremental auto-vacuum: what a prune frees goes back to the file system a step at a time. */
static void vacuum_gives_pages_back(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "vacuum.db");
    struct store *s = open_file(path);
    assert_int_equal(sqltest_int(path, "PRAGMA auto_vacuum"), 2);
    enum { ROWS = 12000 };
    static struct store_record recs[ROWS];
    for (unsigned i = 0; i < ROWS; i++)
        recs[i] = rec(i, APP_WIN, T0);
    assert_int_equal(store_write(s, recs, ROWS), 0);
    uint64_t n = 0;
    assert_int_equal(store_prune(s, T0 + 200 * DAY, 90, 1000000, &n), 0);
    assert_int_equal(n, ROWS);
    store_close(s); /* the last connection checkpoints: the file has its full size */
    int64_t before = file_size(path);
    s = open_file(path);
    assert_true(sqltest_int(path, "PRAGMA freelist_count") > 2 * STORE_VACUUM_PAGES);
    bool more = true;
    int steps = 0;
    while (more && steps < 1000) {
        assert_int_equal(store_vacuum_step(s, 0, &more), 0);
        steps++;
    }
    assert_true(steps >= 2); /* a step at a time */
    store_close(s);
    assert_int_equal(sqltest_int(path, "PRAGMA freelist_count"), 0);
    printf("# vacuum: %lld bytes before, %lld after, %d steps\n", (long long)before, (long long)file_size(path),
           steps);
    assert_true(file_size(path) < before / 2);
}

/* A version-2 database gets the summary from its rows, and the triggers keep it from then on; its pages stay in
 * the file (auto_vacuum cannot be turned on without rewriting it), which a vacuum step says at once. */
static void migrate_v2_to_v3(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "v2.db");
    struct store *s = open_file(path);
    for (unsigned i = 0; i < 12; i++)
        write1(s, rec(i, i % 2 ? APP_O2013 : APP_WIN, T0));
    store_close(s);
    sqltest_schema6(path);
    sqltest_exec(path, "PRAGMA auto_vacuum = NONE; VACUUM; DROP TRIGGER IF EXISTS summary_insert; DROP TRIGGER summary_delete;"
                       " DROP TRIGGER summary_update; DROP TABLE summary; DROP INDEX clients_first_seen;"
                       " DROP INDEX clients_workstation; DROP INDEX clients_product;"
                       " ALTER TABLE clients DROP COLUMN last_host; PRAGMA user_version = 2");
    assert_int_equal(sqltest_int(path, "PRAGMA auto_vacuum"), 0);
    s = open_file(path);
    assert_int_equal(sqltest_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(sqltest_int(path, "SELECT n FROM summary WHERE app_group = 0"), 6);
    assert_int_equal(summary_mismatches(path), 0);
    write1(s, rec(100, APP_WIN, T0 + 1));
    assert_int_equal(sqltest_int(path, "SELECT n FROM summary WHERE app_group = 0"), 7);
    uint64_t n = 0;
    assert_int_equal(store_prune(s, T0 + 200 * DAY, 90, 1000000, &n), 0);
    assert_int_equal(n, 13);
    bool more = true;
    assert_int_equal(store_vacuum_step(s, 0, &more), 0);
    assert_false(more);
    store_close(s);
    assert_int_equal(summary_mismatches(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limit_from_table),       cmocka_unit_test(count_stops_at_limit),
        cmocka_unit_test(count_other_distinct),   cmocka_unit_test(count_limit_max),   cmocka_unit_test(summary_follows_every_change),
        cmocka_unit_test(summary_by_batch),
        cmocka_unit_test(prune_in_chunks),        cmocka_unit_test(vacuum_gives_pages_back),
        cmocka_unit_test(migrate_v2_to_v3),
    };
    return cmocka_run_group_tests(tests, storetest_setup, storetest_teardown);
}
