/*
 * The registry on PostgreSQL (store_pg.h), against a cluster that tests/kmsd/with-postgresql.sh starts for this test
 * (KMSD_TEST_PG_URI, password file KMSD_TEST_PG_PASSFILE): every answer of the store API is the same as SQLite's for
 * the same records (the two engines are fed alike and their outputs compared as text); a registry made by every older
 * schema version migrates; bad URIs, a missing server and a newer schema are refused with a reason; a connection
 * killed under the store leaves it asleep, and it wakes and records; two hosts share one registry.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pq_fns.h"
#include "store_pg.h"
#include "storetest.h"

static const char *uri(void)
{
    const char *u = getenv("KMSD_TEST_PG_URI");
    if (!u || !*u)
        fail_msg("KMSD_TEST_PG_URI is not set: run this test through tests/kmsd/with-postgresql.sh (meson does)");
    return u;
}

/* Runs sql on a connection of its own (the test's view of the server); returns the first value of the first row. */
static void sql(const char *q, char *out, size_t cap)
{
    char err[256];
    assert_int_equal(pq_fns_load(err, sizeof err), 0);
    const char *kw[] = {"dbname", "password", NULL};
    char pw[256] = "";
    FILE *f = fopen(getenv("KMSD_TEST_PG_PASSFILE"), "r");
    assert_non_null(f);
    assert_non_null(fgets(pw, sizeof pw, f));
    fclose(f);
    pw[strcspn(pw, "\r\n")] = '\0';
    const char *val[] = {uri(), pw, NULL};
    PGconn *c = pq_fn.PQconnectdbParams(kw, val, 1);
    assert_int_equal(pq_fn.PQstatus(c), CONNECTION_OK);
    pq_fn.PQclear(pq_fn.PQexec(c, "SET client_min_messages = warning")); /* no NOTICEs of DROP ... CASCADE */
    PGresult *r = pq_fn.PQexec(c, q);
    ExecStatusType st = pq_fn.PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", q, pq_fn.PQerrorMessage(c));
    if (out) {
        snprintf(out, cap, "%s", st == PGRES_TUPLES_OK && pq_fn.PQntuples(r) > 0 ? pq_fn.PQgetvalue(r, 0, 0) : "");
    }
    pq_fn.PQclear(r);
    pq_fn.PQfinish(c);
}

static void reset_db(void)
{
    sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public", NULL, 0);
}

static struct store *open_pg(void)
{
    struct store *s = NULL;
    char err[512];
    int rc = store_open(uri(), &s, err, sizeof err);
    if (rc)
        fail_msg("store_open: %s", err);
    return s;
}

static int setup(void **state)
{
    store_set_password_file(getenv("KMSD_TEST_PG_PASSFILE"));
    return storetest_setup(state);
}

/* ---- everything a store answers, as text ---- */

struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof line);
    if (o->len + (size_t)n + 1 > o->cap) {
        o->cap = (o->cap + (size_t)n + 1) * 2;
        o->p = realloc(o->p, o->cap);
        assert_non_null(o->p);
    }
    memcpy(o->p + o->len, line, (size_t)n + 1);
    o->len += (size_t)n;
}

static int put_client(void *ctx, const struct store_client *c)
{
    char cm[GUID_TEXT_LEN + 1], app[GUID_TEXT_LEN + 1], sku[GUID_TEXT_LEN + 1], kms[GUID_TEXT_LEN + 1];
    guid_format(&c->cmid, cm);
    guid_format(&c->app_id, app);
    guid_format(&c->sku_id, sku);
    guid_format(&c->kms_id, kms);
    put(ctx, "%s %s %s %s |%s|%s|%s|%s|%s| %u %u %u %u.%u %lld %lld %llu\n", cm, app, sku, kms, c->workstation,
        c->product, c->address, c->epid, c->host, c->license_status, c->grace_time, c->is_vm, c->version_major,
        c->version_minor, (long long)c->first_seen, (long long)c->last_seen, (unsigned long long)c->request_count);
    return 0;
}

static int put_day(void *ctx, int64_t day, uint64_t a, uint64_t r)
{
    put(ctx, "day %lld %llu %llu\n", (long long)day, (unsigned long long)a, (unsigned long long)r);
    return 0;
}

static int put_group(void *ctx, enum store_app_group g, const char *product, uint64_t n)
{
    put(ctx, "group %d |%s| %llu\n", (int)g, product, (unsigned long long)n);
    return 0;
}

/* A page walk: every page of q (limit rows each) by cursor, and the total. */
struct walk {
    struct out *o;
    const struct store_query *q;
    struct store_client last;
    unsigned rows;
};

static int walk_row(void *ctx, const struct store_client *c)
{
    struct walk *w = ctx;
    w->last = *c;
    w->rows++;
    return put_client(w->o, c);
}

static void put_query(struct store *s, struct out *o, struct store_query q)
{
    uint64_t total = 0;
    for (unsigned page = 0; page < 100; page++) {
        struct walk w;
        memset(&w, 0, sizeof w);
        w.o = o;
        w.q = &q;
        assert_int_equal(store_query(s, &q, &total, walk_row, &w), 0);
        put(o, "page %u total %llu rows %u\n", page, (unsigned long long)total, w.rows);
        if (w.rows < q.limit)
            return;
        store_cursor_of(&q, &w.last, &q.cursor);
        q.has_cursor = true;
        q.offset = 0;
    }
    fail_msg("more than 100 pages");
}

static void snapshot(struct store *s, int64_t now, struct out *o)
{
    struct store_stats st;
    assert_int_equal(store_stats_get(s, now, &st), 0);
    put(o, "stats %llu %llu %llu %llu", (unsigned long long)st.requests, (unsigned long long)st.failed,
        (unsigned long long)st.clients, (unsigned long long)st.unrecorded);
    for (int i = 0; i < KMS_LICENSE_STATUS_COUNT; i++)
        put(o, " %llu", (unsigned long long)st.by_status[i]);
    for (int g = 0; g < STORE_APP_GROUPS; g++)
        put(o, " %u", st.current_count[g]);
    put(o, "\n");
    /* each group's clients of the window at other moments: PostgreSQL sums its days' counts and counts the two edge
     * days' ranges (schema 6), SQLite counts the whole range; moments in mid-day and on a day's first and last second,
     * the later records then after "now" (the upper edge's day holds clients seen after it) */
    int64_t day0 = now - now % DAY; /* the first second of now's day */
    const int64_t moments[] = {now - 3 * DAY - 12345, day0 - 17 * DAY, day0 - 17 * DAY - 1, now - 40 * DAY + 777,
                               day0 - 4 * DAY - 1};
    for (size_t m = 0; m < sizeof moments / sizeof moments[0]; m++) {
        int64_t t = moments[m];
        struct store_stats sm;
        assert_int_equal(store_stats_get(s, t, &sm), 0);
        put(o, "window at %lld:", (long long)t);
        for (int g = 0; g < STORE_APP_GROUPS; g++)
            put(o, " %u", sm.current_count[g]);
        put(o, "\n");
    }
    for (int g = 0; g < STORE_APP_GROUPS; g++)
        for (uint32_t limit = 1; limit <= 61; limit += 30) {
            struct store_count c;
            assert_int_equal(store_count(s, (enum store_app_group)g, now, 30, limit, &c), 0);
            put(o, "count %d %u: %u %lld\n", g, limit, c.count, (long long)c.holds_until);
        }
    uint64_t seq = 0;
    assert_int_equal(store_journal_seq(s, &seq), 0);
    put(o, "seq %llu\n", (unsigned long long)seq);
    assert_int_equal(store_daily(s, 0, now / DAY + 1, put_day, o), 0);
    assert_int_equal(store_groups(s, put_group, o), 0);
    struct store_filter f = {NULL, false, 0, NULL};
    put(o, "list all\n");
    assert_int_equal(store_list(s, &f, put_client, o), 0);
    f = (struct store_filter){"office", false, now - 20 * DAY, NULL};
    put(o, "list office, 20 days\n");
    assert_int_equal(store_list(s, &f, put_client, o), 0);
    f = (struct store_filter){"Windows 10/11 Pro", true, 0, NULL};
    put(o, "list exact\n");
    assert_int_equal(store_list(s, &f, put_client, o), 0);
    struct guid c7 = cmid_n(7);
    put(o, "client 7\n");
    assert_int_equal(store_get_client(s, &c7, put_client, o), 0);
    static const char *const texts[] = {NULL, "pc-1", "PC-1", "büro", "c0000000", "-0000-", "zz-no", "c-1_", "%", "_"};
    for (int sort = 0; sort < STORE_SORT_COUNT; sort++)
        for (int desc = 0; desc < 2; desc++)
            for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
                struct store_query q = {0};
                q.sort = (enum store_sort)sort;
                q.descending = desc;
                q.q = texts[t];
                q.limit = 7;
                put(o, "query sort %d desc %d q %s\n", sort, desc, texts[t] ? texts[t] : "-");
                put_query(s, o, q);
            }
    /* a first page by offset with each sort key (PostgreSQL walks the skipped rows in the key's index alone) */
    for (int sort = 0; sort < STORE_SORT_COUNT; sort++)
        for (int desc = 0; desc < 2; desc++)
            for (size_t t = 0; t < 2; t++) {
                struct store_query q = {0};
                q.sort = (enum store_sort)sort;
                q.descending = desc;
                q.q = texts[t];
                q.limit = 7;
                q.offset = 11 + (unsigned)sort;
                put(o, "query offset %u sort %d desc %d q %s\n", q.offset, sort, desc, texts[t] ? texts[t] : "-");
                put_query(s, o, q);
                /* pages past the middle, across the end and past it (PostgreSQL reads those from the other end) */
                static const unsigned deep[] = {95, 118, 121, 400};
                for (size_t d = 0; t == 0 && d < sizeof deep / sizeof deep[0]; d++) {
                    q.offset = deep[d];
                    put(o, "query offset %u sort %d desc %d\n", q.offset, sort, desc);
                    put_query(s, o, q);
                }
            }
    struct store_query q = {0};
    q.limit = 5;
    q.offset = 3;
    q.product = "OFFICE";
    q.has_app = true;
    q.app_id = gid(APP_O2013);
    q.since = now - 40 * DAY;
    put(o, "query filters\n");
    put_query(s, o, q);
    q = (struct store_query){0};
    q.limit = 50;
    q.host = "h2";
    q.sort = STORE_SORT_WORKSTATION;
    put(o, "query host\n");
    put_query(s, o, q);
    q = (struct store_query){0};
    q.limit = 50;
    q.product = "Office Professional Plus 2010";
    q.product_exact = true;
    put(o, "query exact product\n");
    put_query(s, o, q);
}

/* Deterministic records: 120 clients of four applications, names of mixed case and one not ASCII, refusals, clients
 * renamed and moved to another product, times over 60 days and some out of order, two host names. */
static void feed(struct store *s, int64_t now, uint64_t *seq)
{
    static const char *const apps[] = {APP_WIN, APP_O2010, APP_O2013, APP_UNKNOWN};
    static const char *const products[] = {"Windows 10/11 Pro", "Office Professional Plus 2010",
                                           "Office LTSC Professional Plus 2021", "Something else"};
    struct store_record batch[97];
    size_t n = 0;
    uint32_t x = 12345;
    for (unsigned i = 0; i < 700; i++) {
        x = x * 1103515245u + 12345u;
        unsigned c = (x >> 8) % 120;
        unsigned a = c % 7 == 0 ? 3 : c % 3;
        struct store_record r = rec(c, apps[a], now - 60 * DAY + (int64_t)i * 7000 - (int64_t)((x >> 4) % 50000));
        snprintf(r.product, sizeof r.product, "%s", products[a]);
        if (c % 5 == 0)
            snprintf(r.workstation, sizeof r.workstation, "PC-%u-Lab", c);
        if (c == 11)
            snprintf(r.workstation, sizeof r.workstation, "Büro-%u", i % 3);
        if (c == 17) /* LIKE's wildcards in a name: searched as themselves */
            snprintf(r.workstation, sizeof r.workstation, "Lab_50%%-C-1");
        if (c == 13 && i > 400)
            snprintf(r.product, sizeof r.product, "Windows Server 2022 Standard");
        if ((x >> 20) % 9 == 0) {
            r.hresult = 0xC004F042;
            r.epid[0] = '\0';
        }
        r.license_status = (x >> 12) % 8; /* 7 is out of range: counted in requests only */
        if (c % 11 == 0) /* a second application for some CMIDs: the "other" group's distinct count */
            r.app_id = gid(APP_UNKNOWN);
        batch[n++] = r;
        if (n == sizeof batch / sizeof batch[0] || i == 699) {
            store_set_host(s, (i / 97) % 2 ? "h2" : "h1");
            *seq += n;
            assert_int_equal(store_write_folded(s, batch, n, *seq), 0);
            n = 0;
        }
    }
}

static void compare(struct out *a, struct out *b, const char *when)
{
    if (a->len == b->len && memcmp(a->p, b->p, a->len) == 0)
        return;
    size_t i = 0, line = 1, start = 0;
    while (i < a->len && i < b->len && a->p[i] == b->p[i]) {
        if (a->p[i] == '\n') {
            line++;
            start = i + 1;
        }
        i++;
    }
    fail_msg("%s: the engines differ at line %zu:\nSQLite:     %.300s\nPostgreSQL: %.300s", when, line, a->p + start,
             b->p + start);
}

static void same_as_sqlite(void **state)
{
    (void)state;
    reset_db();
    struct store *lite = open_mem(), *pg = open_pg();
    int64_t now = T0 + 60 * DAY;
    uint64_t seq_a = 0, seq_b = 0;
    feed(lite, now, &seq_a);
    feed(pg, now, &seq_b);
    struct out a = {0}, b = {0};
    snapshot(lite, now, &a);
    snapshot(pg, now, &b);
    compare(&a, &b, "after the records");
    assert_true(a.len > 20000); /* the comparison saw rows, pages and counts */
    /* the searches had the trigram indexes (pg_trgm is in Debian's server package) */
    char n[16];
    sql("SELECT count(*) FROM pg_indexes WHERE indexname IN ('clients_workstation_trgm', 'clients_cmid_trgm')", n,
        sizeof n);
    assert_string_equal(n, "2");

    /* merges (import-pykms), a deletion, unrecorded, pruning by age and by the row cap */
    struct store_client rows[3];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 3; i++) {
        rows[i].cmid = cmid_n(i == 0 ? 7u : 500u + (unsigned)i);
        rows[i].app_id = gid(APP_WIN);
        snprintf(rows[i].workstation, sizeof rows[i].workstation, "imported-%d", i);
        snprintf(rows[i].product, sizeof rows[i].product, "Windows 10/11 Pro");
        rows[i].first_seen = now - 100 * DAY;
        rows[i].last_seen = now - (i + 1) * DAY;
        rows[i].request_count = 40;
    }
    uint64_t ch_a = 0, ch_b = 0, del_a = 0, del_b = 0;
    assert_int_equal(store_merge(lite, rows, 3, &ch_a), 0);
    assert_int_equal(store_merge(pg, rows, 3, &ch_b), 0);
    assert_int_equal(ch_a, ch_b);
    assert_int_equal(store_merge(pg, rows, 3, &ch_b), 0);
    assert_int_equal(ch_b, 0); /* idempotent */
    struct guid c9 = cmid_n(9);
    assert_int_equal(store_delete_client(lite, &c9, &del_a), 0);
    assert_int_equal(store_delete_client(pg, &c9, &del_b), 0);
    assert_int_equal(del_a, del_b);
    assert_true(del_a > 0);
    assert_int_equal(store_note_unrecorded(lite, 5), 0);
    assert_int_equal(store_note_unrecorded(pg, 5), 0);
    uint64_t pa = 0, pb = 0;
    assert_int_equal(store_prune(lite, now, 45, 1000000, &pa), 0);
    assert_int_equal(store_prune(pg, now, 45, 1000000, &pb), 0);
    assert_int_equal(pa, pb);
    assert_true(pa > 0);
    bool more_a = true, more_b = true;
    assert_int_equal(store_prune_step(lite, now, 90, 60, 10, &pa, &more_a), 0);
    assert_int_equal(store_prune_step(pg, now, 90, 60, 10, &pb, &more_b), 0);
    assert_int_equal(pa, pb);
    assert_int_equal(more_a, more_b);
    free(a.p);
    free(b.p);
    a = (struct out){0};
    b = (struct out){0};
    snapshot(lite, now, &a);
    snapshot(pg, now, &b);
    compare(&a, &b, "after merges, a deletion and pruning");
    free(a.p);
    free(b.p);
    store_close(lite);
    store_close(pg);
}

/* A registry left by each older version (its tables as that version made them, one client in them) migrates when
 * kmsd opens it, and keeps the client. */
static void migrates_from_every_version(void **state)
{
    (void)state;
    for (int v = 1; v < STORE_SCHEMA_VERSION; v++) {
        reset_db();
        char err[512], got[64];
        assert_int_equal(store_pg_create_at_version(uri(), v, err, sizeof err), 0);
        snprintf(got, sizeof got, "%d", v);
        char version[64];
        sql("SELECT version FROM kmsd_schema", version, sizeof version);
        assert_string_equal(version, got);
        sql("INSERT INTO clients (cmid, app_id, app_group, sku_id, kms_id, workstation, product, license_status,"
            " grace_time, is_vm, version_major, version_minor, first_seen, last_seen, request_count, last_address,"
            " last_epid, last_hresult) VALUES (decode('c0000000000000000000000000000063', 'hex'),"
            " decode('3427c95582d6714d983ed6ec3f16059f', 'hex'), 0, decode(repeat('11', 16), 'hex'),"
            " decode(repeat('22', 16), 'hex'), 'old-pc', 'Windows 10/11 Pro', 1, 0, 0, 6, 0, 1795000000, 1795000000,"
            " 3, '192.0.2.1:1', 'epid', 0)",
            NULL, 0);
        struct store *s = open_pg();
        sql("SELECT version FROM kmsd_schema", version, sizeof version);
        snprintf(got, sizeof got, "%d", STORE_SCHEMA_VERSION);
        assert_string_equal(version, got);
        /* the days' counts from version 6 on: built from the rows there were */
        struct store_stats st;
        assert_int_equal(store_stats_get(s, 1795000000 + 10, &st), 0);
        assert_int_equal(st.current_count[STORE_APP_WINDOWS], 1);
        assert_int_equal(store_stats_get(s, 1795000000 + 31 * DAY, &st), 0);
        assert_int_equal(st.current_count[STORE_APP_WINDOWS], 0);
        struct out o = {0};
        struct guid c = cmid_n(99);
        assert_int_equal(store_get_client(s, &c, put_client, &o), 0);
        assert_non_null(strstr(o.p, "|old-pc|Windows 10/11 Pro|"));
        assert_int_equal(store_groups(s, put_group, &o), 0);
        /* the summary built from the rows by version 3 (from version 5 on, the code that inserts a row counts it: the
         * INSERT above, written past it, is not in a version 5 registry's summary) */
        if (v < 5)
            assert_non_null(strstr(o.p, "group 0 |Windows 10/11 Pro| 1"));
        /* and it records */
        struct store_record r = rec(99, APP_WIN, T0 + DAY);
        assert_int_equal(store_write(s, &r, 1), 0);
        free(o.p);
        o = (struct out){0};
        assert_int_equal(store_get_client(s, &c, put_client, &o), 0);
        assert_non_null(strstr(o.p, " 4\n"));
        free(o.p);
        store_close(s);
    }
}

/* store_redact(db) is want. */
static void expect_redacted(const char *db, const char *want)
{
    char shown[512];
    store_redact(db, shown, sizeof shown);
    assert_string_equal(shown, want);
}

static void refusals(void **state)
{
    (void)state;
    reset_db();
    struct store *s = NULL;
    char err[512];
    char bad[512];
    /* a password in the URI, in the authority or as a parameter: refused, and never shown */
    const char *u = uri();
    const char *at = strchr(u, '@');
    assert_non_null(at);
    snprintf(bad, sizeof bad, "%.*s:s3cret%s", (int)(at - u), u, at);
    assert_int_equal(store_open(bad, &s, err, sizeof err), -EINVAL);
    assert_null(s);
    assert_non_null(strstr(err, "--db-password-file"));
    assert_null(strstr(err, "s3cret"));
    snprintf(bad, sizeof bad, "%s?sslmode=disable&password=s3cret", u);
    assert_int_equal(store_open(bad, &s, err, sizeof err), -EINVAL);
    assert_null(strstr(err, "s3cret"));
    expect_redacted("postgresql://u:pw@h:1/d?password=pw2&x=1", "postgresql://u:***@h:1/d?password=***&x=1");
    expect_redacted("postgres://u:p@h/d?a=1&password=p", "postgres://u:***@h/d?a=1&password=***");
    expect_redacted("postgresql://h/d?xpassword=1", "postgresql://h/d?xpassword=1");
    expect_redacted("/var/lib/kmsd/kmsd.db", "/var/lib/kmsd/kmsd.db");
    /* libpq's keyword/value form: taken for PostgreSQL, its passwords masked, quoted or not */
    assert_true(store_is_postgresql("host=db1 dbname=kmsd"));
    assert_true(store_is_postgresql("  service = kms"));
    assert_false(store_is_postgresql("hostx=1"));
    assert_false(store_is_postgresql("/var/lib/kmsd/host=1.db"));
    assert_false(store_is_postgresql("kmsd.db"));
    assert_false(store_is_postgresql("=x"));
    expect_redacted("host=h password=pw2 dbname=d", "host=h password=*** dbname=d");
    expect_redacted("host=h password = 'a b\\'c' sslpassword=x user=u", "host=h password = *** sslpassword=*** user=u");
    expect_redacted("host=h passwordx=1", "host=h passwordx=1");
    char tiny[8];
    store_redact("host=h password=secret", tiny, sizeof tiny);
    assert_string_equal(tiny, "host=h ");
    /* the same server by keywords (postgresql://USER@HOST:PORT/DB, tests/integration/pg.sh): opened as by its URI; a
     * password among the keywords refused as in a URI */
    char user[64], host[64], db[64], kw[400];
    unsigned port = 0;
    assert_int_equal(sscanf(u, "postgresql://%63[^@]@%63[^:]:%u/%63[^?]", user, host, &port, db), 4);
    snprintf(kw, sizeof kw, "host=%s port=%u user='%s' dbname=%s connect_timeout=5", host, port, user, db);
    assert_true(store_is_postgresql(kw));
    assert_int_equal(store_open(kw, &s, err, sizeof err), 0);
    assert_true(store_on_postgresql(s));
    store_close(s);
    s = NULL;
    reset_db(); /* the schema it made gone again, for the read-only checks below */
    snprintf(bad, sizeof bad, "%s password=s3cret", kw);
    assert_int_equal(store_open(bad, &s, err, sizeof err), -EINVAL);
    assert_null(s);
    assert_null(strstr(err, "s3cret"));
    /* not a URI libpq can read */
    assert_int_equal(store_open("postgresql://h:notaport/d", &s, err, sizeof err), -ENOTCONN);
    /* nothing listening there */
    assert_int_equal(store_open("postgresql://kmsd@127.0.0.1:1/kmsd?connect_timeout=2", &s, err, sizeof err), -ENOTCONN);
    assert_non_null(strstr(err, "cannot connect"));
    assert_null(strpbrk(err, "\n\t")); /* libpq's lines and tab joined into one, one space each */
    assert_null(strstr(err, "  "));
    /* read-only on a database without the schema; a schema newer than this kmsd's */
    assert_int_equal(store_open_readonly(u, &s, err, sizeof err), -ENOTSUP);
    assert_non_null(strstr(err, "not a kmsd registry"));
    s = open_pg();
    store_close(s);
    sql("UPDATE kmsd_schema SET version = 99", NULL, 0);
    assert_int_equal(store_open(u, &s, err, sizeof err), -ENOTSUP);
    assert_non_null(strstr(err, "newer than this kmsd"));
    assert_int_equal(store_open_file(u, STORE_LIVE, &s, err, sizeof err), -ENOTSUP);
    assert_non_null(strstr(err, "pg_dump"));
}

/* The server ends the store's connection (a restart, a failover): the next batch fails with the connection named, the
 * store sleeps, and once woken it records again; nothing half-written. */
static void reconnects(void **state)
{
    (void)state;
    reset_db();
    struct store *s = open_pg();
    store_set_host(s, "h1");
    struct store_record r = rec(1, APP_WIN, T0);
    assert_int_equal(store_write_folded(s, &r, 1, 1), 0);
    sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kmsd'", NULL, 0);
    r = rec(2, APP_WIN, T0 + 1);
    int rc = store_write_folded(s, &r, 1, 2);
    assert_int_equal(rc, -ENOTCONN);
    assert_true(store_asleep(s));
    assert_int_equal(store_wake(s), 0);
    assert_false(store_asleep(s));
    assert_int_equal(store_write_folded(s, &r, 1, 2), 0);
    uint64_t seq = 0;
    assert_int_equal(store_journal_seq(s, &seq), 0);
    assert_int_equal(seq, 2);
    char n[32];
    sql("SELECT count(*) || ' ' || (SELECT value FROM stats WHERE key = 'requests') FROM clients", n, sizeof n);
    assert_string_equal(n, "2 2");
    store_close(s);
}

/* The password file read at the first connection stays known: after kmsd dropped its privileges the file may be out
 * of its reach, and a reconnection must still work. A store opened without it cannot connect at all. */
static void password_kept(void **state)
{
    (void)state;
    reset_db();
    char tmp[512], pw[256] = "";
    tmp_path(tmp, sizeof tmp, "pw");
    FILE *in = fopen(getenv("KMSD_TEST_PG_PASSFILE"), "r"), *out = fopen(tmp, "w");
    assert_non_null(in);
    assert_non_null(out);
    assert_non_null(fgets(pw, sizeof pw, in));
    fputs(pw, out);
    fclose(in);
    fclose(out);
    store_set_password_file(tmp);
    struct store *s = open_pg();
    assert_int_equal(unlink(tmp), 0);
    sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kmsd'", NULL, 0);
    struct store_record r = rec(1, APP_WIN, T0);
    assert_int_equal(store_write(s, &r, 1), -ENOTCONN);
    assert_int_equal(store_wake(s), 0);
    assert_int_equal(store_write(s, &r, 1), 0);
    store_close(s);
    /* the daemon's open (store_open_deferred) connects at the first wake: a wrong password is then -EACCES, a
     * configuration to fix (the writer stops kmsd for it); nothing listening, -ENOTCONN (it waits); a password in the
     * URI, -EINVAL without showing it; the password file is read at the open itself (before the privilege drop) */
    FILE *w = fopen(tmp, "w");
    assert_non_null(w);
    fputs("not-the-password\n", w);
    fclose(w);
    store_set_password_file(tmp);
    char err[512];
    assert_int_equal(store_open_deferred(uri(), &s, err, sizeof err), 0);
    assert_true(store_asleep(s));
    assert_int_equal(store_wake(s), -EACCES);
    assert_non_null(strstr(store_errmsg(s), "cannot connect"));
    assert_true(store_asleep(s));
    store_close(s);
    assert_int_equal(store_open_deferred("postgresql://kmsd@127.0.0.1:1/kmsd?connect_timeout=2", &s, err, sizeof err),
                     0);
    assert_int_equal(store_wake(s), -ENOTCONN);
    assert_true(store_asleep(s));
    store_close(s);
    char bad[512];
    const char *u = uri(), *at = strchr(u, '@');
    assert_non_null(at);
    snprintf(bad, sizeof bad, "%.*s:s3cret%s", (int)(at - u), u, at);
    assert_int_equal(store_open_deferred(bad, &s, err, sizeof err), 0);
    assert_int_equal(store_wake(s), -EINVAL);
    assert_non_null(strstr(store_errmsg(s), "--db-password-file"));
    assert_null(strstr(store_errmsg(s), "s3cret"));
    store_close(s);
    assert_int_equal(store_open_deferred("/tmp/a-file.db", &s, err, sizeof err), -EINVAL);
    assert_null(s);
    assert_int_equal(unlink(tmp), 0);
    store_set_password_file(tmp); /* forgets the password kept: the file is gone, and nothing to connect with */
    assert_int_not_equal(store_open_deferred(uri(), &s, err, sizeof err), 0);
    assert_null(s);
    assert_non_null(strstr(err, "cannot read the password file"));
    /* a first line longer than PG_PASSWORD_MAX - 1 bytes: refused with the reason, not cut into a wrong password */
    w = fopen(tmp, "w");
    assert_non_null(w);
    for (int i = 0; i < 1100; i++)
        fputc('p', w);
    fputc('\n', w);
    fclose(w);
    store_set_password_file(tmp);
    assert_int_not_equal(store_open(uri(), &s, err, sizeof err), 0);
    assert_non_null(strstr(err, "longer than 1023 bytes"));
    assert_int_equal(unlink(tmp), 0);
    /* a new file setting forgets the password: nothing to connect with now */
    store_set_password_file(tmp);
    assert_int_not_equal(store_open(uri(), &s, err, sizeof err), 0);
    assert_non_null(strstr(err, "cannot read the password file"));
    store_set_password_file(getenv("KMSD_TEST_PG_PASSFILE"));
}

static void snapshot_rows(struct store *s, int64_t now, struct out *o)
{
    struct store_stats st;
    assert_int_equal(store_stats_get(s, now, &st), 0);
    put(o, "stats %llu %llu %llu\n", (unsigned long long)st.requests, (unsigned long long)st.failed,
        (unsigned long long)st.clients);
    assert_int_equal(store_groups(s, put_group, o), 0);
    assert_int_equal(store_list(s, NULL, put_client, o), 0);
}

/* Batches larger than the pipeline's chunk (PG_PIPELINE_CHUNK, 512 statements) and listings longer than a cursor's
 * fetch (PG_LIST_FETCH, 500 rows): one fold of 1,400 records of 1,100 clients, one merge of 1,200 rows, every row
 * listed; the same as SQLite's. A listing stopped early. */
struct count_upto {
    unsigned n, stop;
};

/* store_list's callback: counts the rows, and stops the listing at the stop-th. */
static int count_upto(void *ctx, const struct store_client *c)
{
    (void)c;
    struct count_upto *k = ctx;
    return ++k->n >= k->stop;
}

static void large_batches(void **state)
{
    (void)state;
    reset_db();
    struct store *lite = open_mem(), *pg = open_pg();
    int64_t now = T0 + DAY;
    static struct store_record recs[1400];
    for (unsigned i = 0; i < 1400; i++)
        recs[i] = rec(i < 1100 ? i : i - 1100, APP_WIN, T0 + i);
    assert_int_equal(store_write_folded(lite, recs, 1400, 1400), 0);
    assert_int_equal(store_write_folded(pg, recs, 1400, 1400), 0);
    static struct store_client rows[1200];
    memset(rows, 0, sizeof rows);
    for (unsigned i = 0; i < 1200; i++) {
        rows[i].cmid = cmid_n(900 + i); /* 200 known, 1,000 new */
        rows[i].app_id = gid(APP_O2013);
        snprintf(rows[i].workstation, sizeof rows[i].workstation, "m-%u", i);
        snprintf(rows[i].product, sizeof rows[i].product, "Office LTSC Professional Plus 2021");
        rows[i].first_seen = rows[i].last_seen = T0 + 5000 + i;
        rows[i].request_count = 2;
    }
    uint64_t ca = 0, cb = 0;
    assert_int_equal(store_merge(lite, rows, 1200, &ca), 0);
    assert_int_equal(store_merge(pg, rows, 1200, &cb), 0);
    assert_int_equal(ca, 1200);
    assert_int_equal(cb, 1200);
    struct out a = {0}, b = {0};
    snapshot_rows(lite, now, &a);
    snapshot_rows(pg, now, &b);
    compare(&a, &b, "large batches");
    assert_non_null(strstr(b.p, "stats 1400 0 2300\n"));
    /* a listing its callback stops (in the first batch, in the second) while the next batch is on its way: it ends
     * cleanly, and the connection serves the next listing whole */
    static const unsigned stops[] = {10, 600};
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        struct count_upto c = {0, stops[i]};
        assert_int_equal(store_list(pg, NULL, count_upto, &c), 0);
        assert_int_equal(c.n, stops[i]);
        c = (struct count_upto){0, UINT32_MAX};
        assert_int_equal(store_list(pg, NULL, count_upto, &c), 0);
        assert_int_equal(c.n, 2300);
    }
    free(a.p);
    free(b.p);
    store_close(lite);
    store_close(pg);
}

/* The days' counts follow rows changed outside kmsd (an administrator's psql: its session writes the deltas to seen
 * itself) as they follow kmsd's own, and a rolled-back batch leaves them as they were. */
static void days_follow_other_sessions(void **state)
{
    (void)state;
    reset_db();
    struct store *s = open_pg();
    struct store_record r[3];
    for (unsigned i = 0; i < 3; i++)
        r[i] = rec(i, APP_WIN, T0 + i);
    assert_int_equal(store_write(s, r, 3), 0);
    struct store_stats st;
    assert_int_equal(store_stats_get(s, T0 + 10, &st), 0);
    assert_int_equal(st.current_count[STORE_APP_WINDOWS], 3);
    sql("DELETE FROM clients WHERE last_seen = 1795000000", NULL, 0);
    assert_int_equal(store_stats_get(s, T0 + 10, &st), 0);
    assert_int_equal(st.current_count[STORE_APP_WINDOWS], 2);
    sql("UPDATE clients SET last_seen = 1795000000 - 40 * 86400 WHERE last_seen = 1795000001", NULL, 0);
    assert_int_equal(store_stats_get(s, T0 + 10, &st), 0);
    assert_int_equal(st.current_count[STORE_APP_WINDOWS], 1);
    char n[32];
    sql("SELECT sum(n) FROM seen", n, sizeof n);
    assert_string_equal(n, "2");
    /* a batch abandoned (a fold that failed) takes its deltas with its rows */
    assert_int_equal(store_batch_begin(s), 0);
    struct store_record more = rec(7, APP_WIN, T0 + 5);
    assert_int_equal(store_batch_add(s, &more, 1), 0);
    store_batch_abort(s);
    assert_int_equal(store_stats_get(s, T0 + 10, &st), 0);
    assert_int_equal(st.current_count[STORE_APP_WINDOWS], 1);
    sql("SELECT sum(n) FROM seen", n, sizeof n);
    assert_string_equal(n, "2");
    store_close(s);
}

/* Two hosts on one registry: each its own journal sequence; the genuine count sees the clients of both; rows say who
 * served them last. */
static void two_hosts(void **state)
{
    (void)state;
    reset_db();
    struct store *a = open_pg(), *b = open_pg();
    store_set_host(a, "alpha");
    store_set_host(b, "beta");
    struct store_record ra[10], rb[10];
    for (unsigned i = 0; i < 10; i++) {
        ra[i] = rec(i, APP_WIN, T0 + i);
        rb[i] = rec(100 + i, APP_WIN, T0 + i);
    }
    rb[9] = rec(0, APP_WIN, T0 + 50); /* alpha's first client, renewing on beta */
    assert_int_equal(store_write_folded(a, ra, 10, 10), 0);
    assert_int_equal(store_write_folded(b, rb, 10, 7), 0);
    uint64_t sa = 0, sb = 0;
    assert_int_equal(store_journal_seq(a, &sa), 0);
    assert_int_equal(store_journal_seq(b, &sb), 0);
    assert_int_equal(sa, 10);
    assert_int_equal(sb, 7);
    struct store_count ca, cb;
    assert_int_equal(store_count(a, STORE_APP_WINDOWS, T0 + 60, 30, 100, &ca), 0);
    assert_int_equal(store_count(b, STORE_APP_WINDOWS, T0 + 60, 30, 100, &cb), 0);
    assert_int_equal(ca.count, 19);
    assert_int_equal(cb.count, 19);
    struct out o = {0};
    struct guid c0 = cmid_n(0);
    assert_int_equal(store_get_client(a, &c0, put_client, &o), 0);
    assert_non_null(strstr(o.p, "|beta|"));
    assert_non_null(strstr(o.p, " 2\n"));
    free(o.p);
    /* kmsd clients --host: the rows each host served last (client 0 now beta's), exactly by name, with --since */
    static const struct {
        const char *host;
        int64_t since;
        unsigned n;
    } by_host[] = {{"alpha", 0, 9}, {"beta", 0, 10}, {"beta", T0 + 8, 2}, {"Beta", 0, 0}, {"gamma", 0, 0}};
    for (size_t i = 0; i < sizeof by_host / sizeof by_host[0]; i++) {
        struct store_filter f = {NULL, false, by_host[i].since, by_host[i].host};
        struct count_upto c = {0, UINT32_MAX};
        assert_int_equal(store_list(b, &f, count_upto, &c), 0);
        assert_int_equal(c.n, by_host[i].n);
    }
    store_close(a);
    store_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_as_sqlite),
        cmocka_unit_test(migrates_from_every_version),
        cmocka_unit_test(refusals),
        cmocka_unit_test(reconnects),
        cmocka_unit_test(days_follow_other_sessions),
        cmocka_unit_test(two_hosts),
        cmocka_unit_test(password_kept),
        cmocka_unit_test(large_batches),
    };
    return cmocka_run_group_tests(tests, setup, storetest_teardown);
}
