/* The API's search from memory (store_search.c) against the same search in SQL (a read connection without it), on
 * the same registry: every total and every page equal, for rare and common texts (a list of rows and the function),
 * CMID texts, each sort key, other filters and cursors; after new rows, renamed rows, deleted and pruned rows
 * (brought up to date, or built again); and the memory handed back once unused. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guid.h"
#include "storetest.h"
#include "store.h"
#include "store_internal.h" /* the limits: STORE_SEARCH_SLACK_S, STORE_SEARCH_TOP_MAX */

#define MAX_ROWS 12000

struct rows {
    size_t n;
    int64_t rowid[MAX_ROWS];
    char ws[MAX_ROWS][192];
};

static int collect(void *ctx, const struct store_client *c)
{
    struct rows *r = ctx;
    if (r->n < MAX_ROWS) {
        r->rowid[r->n] = c->rowid;
        snprintf(r->ws[r->n], sizeof r->ws[0], "%s", c->workstation);
        r->n++;
    }
    return 0;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

/* n records of clients first..first+n-1: a third named "fin-NNNN", the rest "PC-NNNN" or "lab-NNNN" (or prefix),
 * some Office too, seen at t (spread: over ten days before it, as a registry that has run a while). */
static void fill(struct store *w, unsigned first, unsigned n, int64_t t, const char *prefix, bool spread)
{
    struct store_record *rs = calloc(n, sizeof *rs);
    assert_non_null(rs);
    for (unsigned i = 0; i < n; i++) {
        unsigned c = first + i;
        bool office = c % 7 == 0;
        rs[i] = rec(c, office ? APP_O2013 : APP_WIN, spread ? t - (int64_t)(rnd() % (10 * DAY)) : t);
        const char *p = prefix ? prefix : c % 3 == 0 ? "fin" : c % 3 == 1 ? "PC" : "lab";
        snprintf(rs[i].workstation, sizeof rs[i].workstation, "%s-%04u", p, c);
        if (office)
            snprintf(rs[i].product, sizeof rs[i].product, "Office LTSC Professional Plus 2024");
    }
    assert_int_equal(store_write(w, rs, n), 0);
    free(rs);
}

/* The same query on both connections: equal totals and pages, followed page by page with cursors. */
static void same(struct store *mem, struct store *sql, struct store_query q, uint64_t *total_out)
{
    static struct rows a, b;
    uint64_t ta = 0, tb = 0;
    for (int page = 0; page < 3; page++) {
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        assert_int_equal(store_query_at(mem, &q, 1000, &ta, collect, &a), 0);
        assert_int_equal(store_query(sql, &q, &tb, collect, &b), 0);
        if (ta != tb || a.n != b.n)
            fail_msg("q=%s sort=%d page %d: total %llu/%llu rows %zu/%zu", q.q, (int)q.sort, page,
                     (unsigned long long)ta, (unsigned long long)tb, a.n, b.n);
        for (size_t i = 0; i < a.n; i++)
            if (a.rowid[i] != b.rowid[i])
                fail_msg("q=%s sort=%d page %d row %zu: %s / %s", q.q, (int)q.sort, page, i, a.ws[i], b.ws[i]);
        if (a.n < q.limit)
            break;
        q.offset += q.limit; /* the next page by offset (cursors_match_sql follows cursors) */
    }
    if (total_out)
        *total_out = ta;
}

static const char *const texts[] = {"fin-00", "pc-", "-0", "c0", "zzz", "N-0012"};

static void all_queries(struct store *mem, struct store *sql)
{
    for (size_t t = 0; t <= sizeof texts / sizeof texts[0]; t++) /* and no text: sort=requests from memory alone */
        for (int sort = 0; sort < STORE_SORT_COUNT; sort++) {
            struct store_query q;
            memset(&q, 0, sizeof q);
            q.q = t < sizeof texts / sizeof texts[0] ? texts[t] : NULL;
            q.sort = (enum store_sort)sort;
            q.descending = sort % 2 == 0;
            q.limit = 50;
            same(mem, sql, q, NULL);
            q.product = "Office";
            same(mem, sql, q, NULL);
            q.product = NULL;
            q.since = T0 - 3 * DAY;
            same(mem, sql, q, NULL);
        }
}

/* The two read connections every test compares: mem searches in memory, sql as before. */
static void open_readers(const char *path, struct store **mem, struct store **sql)
{
    char err[256];
    assert_int_equal(store_open_readonly(path, mem, err, sizeof err), 0);
    assert_int_equal(store_open_readonly(path, sql, err, sizeof err), 0);
    assert_int_equal(store_search_enable(*mem), 0);
}

/* A first page of 50 of the clients whose name or CMID holds text (NULL: every client). */
static struct store_query page_of(const char *text)
{
    struct store_query q;
    memset(&q, 0, sizeof q);
    q.limit = 50;
    q.q = text;
    return q;
}

/* A new registry named name in the test's directory (its path in path), open for writing. */
static struct store *writer_at(const char *name, char *path, size_t cap)
{
    tmp_path(path, cap, name);
    struct store *w = NULL;
    char err[256];
    assert_int_equal(store_open(path, &w, err, sizeof err), 0);
    return w;
}

static void close_all(struct store *w, struct store *mem, struct store *sql)
{
    store_close(sql);
    store_close(mem);
    store_close(w);
}

/* sort=requests with a host filter: a host of many rows takes its page from the memory's first rows of the whole
 * registry (store_read.c, host_top_page), or reads its rows in SQL when too few of them are among those (a host
 * whose rows come last in that order); a host of a few rows reads its index. Every way gives SQL's pages. */
static void host_requests_match_sql(void **state)
{
    (void)state;
    char path[512];
    struct store *w = writer_at("host-requests.db", path, sizeof path), *mem = NULL, *sql = NULL;
    store_set_host(w, "b"); /* first: the lowest rowids, one request each */
    fill(w, 20001, 11000, T0, NULL, true);
    store_set_host(w, "a");
    fill(w, 1, 12000, T0, NULL, true);
    fill(w, 1, 3000, T0 + 10, NULL, false); /* two requests */
    fill(w, 1, 1000, T0 + 20, NULL, false); /* three */
    store_set_host(w, "c");
    fill(w, 40001, 5, T0, NULL, false);
    open_readers(path, &mem, &sql);
    static const char *const hosts[] = {"a", "b", "c", "nobody"};
    for (size_t h = 0; h < sizeof hosts / sizeof hosts[0]; h++)
        for (int desc = 0; desc < 2; desc++) {
            struct store_query q = page_of(NULL);
            q.sort = STORE_SORT_REQUESTS;
            q.descending = desc;
            q.host = hosts[h];
            uint64_t total = 0;
            same(mem, sql, q, &total);
            assert_int_equal(total, h == 0 ? 12000 : h == 1 ? 11000 : h == 2 ? 5 : 0);
            q.offset = 9000; /* deep: past the memory's reach, SQL's */
            same(mem, sql, q, NULL);
        }
    /* a search with a host: the search's rows lead (a rare text on a common host, a common one on a rare host) */
    for (size_t h = 0; h < sizeof hosts / sizeof hosts[0]; h++)
        for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++)
            for (int sort = 0; sort < STORE_SORT_COUNT; sort++) {
                struct store_query q = page_of(texts[t]);
                q.sort = (enum store_sort)sort;
                q.descending = sort % 2 == 0;
                q.host = hosts[h];
                same(mem, sql, q, NULL);
            }
    close_all(w, mem, sql);
}

static void search_matches_sql(void **state)
{
    (void)state;
    char path[512];
    struct store *w = writer_at("search.db", path, sizeof path), *mem = NULL, *sql = NULL;
    fill(w, 1, 6000, T0, NULL, true);
    open_readers(path, &mem, &sql);

    uint64_t total = 0;
    struct store_query q = page_of("FIN-");
    same(mem, sql, q, &total);
    assert_int_equal(total, 2000); /* a common text, handed to SQL as a list */
    q.q = "-";
    same(mem, sql, q, &total);
    assert_int_equal(total, 6000); /* every row: more than a list holds (STORE_SEARCH_LIST_MAX), the function */
    assert_true(store_search_bytes(mem) > 0);
    all_queries(mem, sql);

    /* a CMID's text: its tail, and a piece in the middle */
    char text[GUID_TEXT_LEN + 1];
    struct guid g = cmid_n(4321);
    guid_format(&g, text);
    q.q = text + 20;
    same(mem, sql, q, &total);
    assert_int_equal(total, 1);
    text[30] = '\0';
    q.q = text + 22;
    same(mem, sql, q, NULL);

    /* new rows, renamed rows (the same clients under new names), and rows seen again */
    fill(w, 6001, 500, T0 + 2 * DAY, NULL, false);
    fill(w, 10, 40, T0 + 2 * DAY, "renamed", false);
    fill(w, 3000, 20, T0 + 2 * DAY, NULL, false);
    fill(w, 3000, 10, T0 + 2 * DAY + 1, NULL, false); /* seen a third time: their request counts move up */
    all_queries(mem, sql);
    q.q = "renamed";
    same(mem, sql, q, &total);
    assert_int_equal(total, 40);
    q.q = "fin-0012"; /* client 12 was renamed: gone from this text */
    same(mem, sql, q, &total);

    /* the newest row deleted and a new one written: SQLite gives it the same rowid; the CMIDs' texts are in memory
     * (a search that could be part of one ran above), and the new CMID is found, the old one not */
    struct guid c6500 = cmid_n(6500), c7777 = cmid_n(7777);
    char t6500[GUID_TEXT_LEN + 1], t7777[GUID_TEXT_LEN + 1];
    guid_format(&c6500, t6500);
    guid_format(&c7777, t7777);
    q.q = t6500 + 24;
    same(mem, sql, q, &total);
    assert_int_equal(total, 1);
    uint64_t del = 0;
    assert_int_equal(store_delete_client(w, &c6500, &del), 0);
    assert_int_equal(del, 1);
    fill(w, 7777, 1, T0 + 3 * DAY, NULL, false);
    q.q = t7777 + 24;
    same(mem, sql, q, &total);
    assert_int_equal(total, 1);
    q.q = t6500 + 24;
    same(mem, sql, q, &total);
    assert_int_equal(total, 0);

    /* a new row seen at a time before the newest read (a clock stepped back): the row count tells, built again */
    fill(w, 8888, 1, T0 - 5 * DAY, NULL, false);
    q.q = "lab-8888";
    same(mem, sql, q, &total);
    assert_int_equal(total, 1);

    /* deleted and pruned rows: built again */
    struct guid c33 = cmid_n(33);
    assert_int_equal(store_delete_client(w, &c33, &del), 0);
    assert_int_equal(del, 1);
    all_queries(mem, sql);
    assert_int_equal(store_prune(w, T0 + 2 * DAY, 5, 2500, &del), 0); /* by age, then down to 2,500 rows */
    assert_true(del > 0);
    all_queries(mem, sql);

    /* unused for STORE_SEARCH_KEEP_MS: handed back; the next search builds it again */
    store_search_trim(mem, 1000 + STORE_SEARCH_KEEP_MS - 1);
    assert_true(store_search_bytes(mem) > 0);
    store_search_trim(mem, 1000 + STORE_SEARCH_KEEP_MS);
    assert_int_equal(store_search_bytes(mem), 0);
    all_queries(mem, sql);

    close_all(w, mem, sql);
}

/* The limits: STORE_SEARCH_SLACK_S (a row renamed by a record 2 s older than the newest row read is still read
 * again: last_seen only moves forward, so it keeps the older time) and STORE_SEARCH_TOP_MAX (a sort by
 * requests whose page ends deeper stays in SQL and builds nothing; one that ends there uses the memory). */
static void limits(void **state)
{
    (void)state;
    char path[512];
    struct store *w = writer_at("limits.db", path, sizeof path), *mem = NULL, *sql = NULL;
    _Static_assert(STORE_SEARCH_SLACK_S >= 2, "the slack covers the 2 s below");
    fill(w, 1, 300, T0 - 2, NULL, false);
    fill(w, 301, 1, T0, NULL, false); /* the newest */
    open_readers(path, &mem, &sql);
    struct store_query q = page_of("-");
    uint64_t total = 0;
    same(mem, sql, q, &total); /* builds the memory: the newest last_seen read is T0 */
    assert_int_equal(total, 301);
    fill(w, 1, 1, T0 - 2, "slack", false); /* 2 s older than the newest row read */
    q.q = "slack";
    same(mem, sql, q, &total);
    assert_int_equal(total, 1);

    struct store *fresh = NULL;
    char err[256];
    assert_int_equal(store_open_readonly(path, &fresh, err, sizeof err), 0);
    assert_int_equal(store_search_enable(fresh), 0);
    q.q = NULL;
    q.sort = STORE_SORT_REQUESTS;
    q.descending = true;
    q.offset = STORE_SEARCH_TOP_MAX - q.limit + 1;
    same(fresh, sql, q, &total);
    assert_int_equal(total, 301);
    assert_int_equal(store_search_bytes(fresh), 0); /* deeper than STORE_SEARCH_TOP_MAX: SQL's */
    q.offset = STORE_SEARCH_TOP_MAX - q.limit;
    same(fresh, sql, q, &total);
    assert_true(store_search_bytes(fresh) > 0);
    store_close(fresh);
    close_all(w, mem, sql);
}

/* A registry of fewer than 256 rows: the rowids' sort (radix_sort, a pass per byte that differs) takes one pass,
 * an odd number, so its result is copied back from the room; the search and the sort by requests still agree with
 * SQL. */
static void one_sort_pass(void **state)
{
    (void)state;
    char path[512];
    struct store *w = writer_at("one_pass.db", path, sizeof path), *mem = NULL, *sql = NULL;
    fill(w, 1, 200, T0, NULL, true);
    fill(w, 50, 20, T0 + 1, NULL, false); /* seen again: their request counts move up */
    open_readers(path, &mem, &sql);
    struct store_query q = page_of("-");
    uint64_t total = 0;
    same(mem, sql, q, &total);
    assert_int_equal(total, 200);
    assert_true(store_search_bytes(mem) > 0);
    q.q = NULL;
    q.sort = STORE_SORT_REQUESTS;
    q.descending = true;
    same(mem, sql, q, &total);
    assert_int_equal(total, 200);
    close_all(w, mem, sql);
}

/* Pages followed by cursor, the same on both. */
static int last_of(void *ctx, const struct store_client *c)
{
    struct store_client *out = ctx;
    *out = *c;
    return 0;
}

static void cursors_match_sql(void **state)
{
    (void)state;
    char path[512];
    struct store *w = writer_at("cursor.db", path, sizeof path), *mem = NULL, *sql = NULL;
    fill(w, 1, 5000, T0, NULL, true);
    for (unsigned i = 0; i < 6; i++) /* request counts 1 to 7, so that sort=requests has ties and an order */
        fill(w, 1 + i * 97, 400 + i * 50, T0 + 1 + i, NULL, false);
    open_readers(path, &mem, &sql);
    static const char *const qs[] = {"fin-00", "-", "lab", NULL};
    for (size_t t = 0; t < 4; t++)
        for (int sort = 0; sort < STORE_SORT_COUNT; sort++) {
            struct store_query q;
            memset(&q, 0, sizeof q);
            q.q = qs[t];
            q.sort = (enum store_sort)sort;
            q.descending = sort % 2 == 1;
            q.limit = 37;
            for (int page = 0; page < 5; page++) {
                static struct rows a, b;
                memset(&a, 0, sizeof a);
                memset(&b, 0, sizeof b);
                uint64_t ta, tb;
                assert_int_equal(store_query_at(mem, &q, 5, &ta, collect, &a), 0);
                assert_int_equal(store_query(sql, &q, &tb, collect, &b), 0);
                assert_int_equal(ta, tb);
                assert_int_equal(a.n, b.n);
                for (size_t i = 0; i < a.n; i++)
                    assert_int_equal(a.rowid[i], b.rowid[i]);
                if (a.n < q.limit)
                    break;
                struct store_client lastc;
                assert_int_equal(store_query_at(mem, &q, 5, &ta, last_of, &lastc), 0);
                store_cursor_of(&q, &lastc, &q.cursor);
                q.has_cursor = true;
            }
        }
    close_all(w, mem, sql);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(search_matches_sql),
        cmocka_unit_test(host_requests_match_sql),
        cmocka_unit_test(limits),
        cmocka_unit_test(one_sort_pass),
        cmocka_unit_test(cursors_match_sql),
    };
    return cmocka_run_group_tests(tests, storetest_setup, storetest_teardown);
}
