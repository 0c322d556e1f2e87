/* The registry's writer thread: every record committed and its callback run on the loop thread, counts
 * after each commit, the queue flushed at stop. */
#include "testutil.h"

#include <string.h>
#include <time.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <errno.h>

#include "sqltest.h"
#include "err.h"
#include "journal.h"
#include "log.h"
#include "store_writer.h"

#define N 300

struct result {
    int called, err;
    uint32_t count;
    unsigned long thread;
};

static struct result results[N];
static int callbacks;

static int64_t fixed_now(void)
{
    return 1795000000;
}

static void on_done(void *ctx, int err, uint32_t count)
{
    struct result *r = ctx;
    r->called++;
    r->err = err;
    r->count = count;
    r->thread = (unsigned long)uv_thread_self();
    callbacks++;
}

/* The clock of the tests that move time (genuine_answers_at_limit). */
static int64_t moving_now_value = 1795000000;
static int64_t moving_now(void)
{
    return moving_now_value;
}

static void record(struct store_record *r, int i)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(guid_parse(&r->app_id, "55c92734-d682-4d71-983e-d6ec3f16059f"), 0);
    assert_int_equal(guid_parse(&r->kms_id, "58e2134f-8e11-4d17-9cb2-91069c151148"), 0);
    r->cmid.b[0] = (uint8_t)(i & 0xff);
    r->cmid.b[1] = (uint8_t)(i >> 8);
    r->cmid.b[7] = 0x40;
    snprintf(r->workstation, sizeof r->workstation, "ws-%d", i);
    snprintf(r->product, sizeof r->product, "Windows 10/11 Enterprise");
    r->version_major = 6;
    r->time = fixed_now();
}

/* Record i of one client with an application the product table does not know (group "other"): a new row each,
 * and the group's count stays 1, so every answer waits for the fold of its record. */
static void record_other(struct store_record *r, int i)
{
    record(r, 0);
    assert_int_equal(guid_parse(&r->app_id, "12345678-1234-1234-1234-123456789abc"), 0);
    r->app_id.b[0] = (uint8_t)(i & 0xff);
    r->app_id.b[1] = (uint8_t)(i >> 8);
}

static void run_until(uv_loop_t *loop, int want)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (callbacks < want) {
        uv_run(loop, UV_RUN_NOWAIT);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 20)
            fail_msg("only %d of %d callbacks within 20 s", callbacks, want);
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
    }
}

/* Stops the writer and lets the loop close its handles. */
static void finish(struct store_writer *w, uv_loop_t *loop)
{
    store_writer_stop(w);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* An in-memory registry, loop and journal directory (jdir: "/tmp/kmsd-journal-XXXXXX", jpath 64 bytes) for a
 * writer started with count; the journal's files are removed by journal_dir_remove. */
static struct store_writer *mem_writer(uv_loop_t *loop, char *jdir, char *jpath, bool count)
{
    struct store *db;
    char err[256];
    assert_int_equal(store_open(":memory:", &db, err, sizeof err), 0);
    uv_loop_init(loop);
    assert_non_null(mkdtemp(jdir));
    snprintf(jpath, 64, "%s/db", jdir);
    struct store_writer_cfg cfg = {
        .count = count, .retention_days = 90, .max_clients = 1000000, .journal = jpath, .now = fixed_now};
    struct store_writer *w;
    assert_int_equal(store_writer_start(db, loop, &cfg, &w), 0);
    return w;
}

static void journal_dir_remove(const char *jdir, const char *jpath)
{
    char j[80];
    for (int i = 0; i < 2; i++) {
        snprintf(j, sizeof j, "%s-activations.%d", jpath, i);
        unlink(j);
    }
    rmdir(jdir);
}

static void commits_and_counts(void **state)
{
    (void)state;
    uv_loop_t loop;
    char jdir[] = "/tmp/kmsd-journal-XXXXXX", jpath[64];
    struct store_writer *w = mem_writer(&loop, jdir, jpath, true);
    memset(results, 0, sizeof results);
    callbacks = 0;
    for (int i = 0; i < N; i++) {
        struct store_record r;
        record(&r, i);
        assert_int_equal(store_writer_submit(w, &r, on_done, &results[i]), 0);
    }
    run_until(&loop, N);
    unsigned long me = (unsigned long)uv_thread_self();
    for (int i = 0; i < N; i++) {
        assert_int_equal(results[i].called, 1);
        assert_int_equal(results[i].err, 0);
        /* counted after its commit, up to the limit */
        uint32_t limit = store_count_limit(STORE_APP_WINDOWS);
        uint32_t least = (uint32_t)i + 1 < limit ? (uint32_t)i + 1 : limit;
        assert_true(results[i].count >= least && results[i].count <= limit);
        assert_true(results[i].thread == me); /* on the loop thread */
    }
    assert_int_equal(results[N - 1].count, store_count_limit(STORE_APP_WINDOWS));
    struct store_writer_stats st;
    store_writer_stats(w, &st);
    assert_int_equal(st.committed, N);
    assert_int_equal(st.failed, 0);
    assert_true(st.batches >= 1 && st.batches <= N);
    print_message("%d records in %llu transactions\n", N, (unsigned long long)st.batches);

    /* stop: what is still queued is committed and answered before it returns */
    callbacks = 0;
    memset(results, 0, sizeof results);
    for (int i = 0; i < 10; i++) {
        struct store_record r;
        record(&r, N + i);
        assert_int_equal(store_writer_submit(w, &r, on_done, &results[i]), 0);
    }
    store_writer_stop(w);
    assert_int_equal(callbacks, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(results[i].err, 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* finishes closing the async handle */
    assert_int_equal(uv_loop_close(&loop), 0);
    journal_dir_remove(jdir, jpath);
}

/* --count-mode switched at a reload (store_writer_set_count): off, answers carry no count (0) and none waits for
 * one; on, each answer carries the group's distinct clients counted after its fold; off again, 0. */
static void count_switched_live(void **state)
{
    (void)state;
    uv_loop_t loop;
    char jdir[] = "/tmp/kmsd-journal-XXXXXX", jpath[64];
    struct store_writer *w = mem_writer(&loop, jdir, jpath, false);
    int next = 0;
    for (int phase = 0; phase < 3; phase++) {
        bool on = phase == 1;
        if (phase)
            store_writer_set_count(w, on);
        memset(results, 0, sizeof results);
        callbacks = 0;
        for (int i = 0; i < 5; i++) {
            struct store_record r;
            record(&r, next++);
            assert_int_equal(store_writer_submit(w, &r, on_done, &results[i]), 0);
        }
        run_until(&loop, 5);
        for (int i = 0; i < 5; i++) {
            assert_int_equal(results[i].called, 1);
            assert_int_equal(results[i].err, 0);
            if (on) /* the five of phase 0 are in the registry: counted after the fold, whatever the mode then */
                assert_true(results[i].count >= 6 && results[i].count <= 10);
            else
                assert_int_equal(results[i].count, 0);
        }
    }
    struct store_writer_stats st;
    store_writer_stats(w, &st);
    assert_int_equal(st.count_waits, 5); /* only the genuine phase waited for a count */
    finish(w, &loop);
    journal_dir_remove(jdir, jpath);
}

/* A new database file at a unique path made from the template (which it overwrites). */
static struct store *open_temp_db(char *path)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct store *db;
    char err[256];
    if (store_open(path, &db, err, sizeof err) != 0)
        fail_msg("%s", err);
    return db;
}

/* Removes the database file and what WAL mode left beside it. */
static void remove_db(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-activations.0", "-activations.1"};
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char p[64];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

/* A connection holding path's write lock (BEGIN EXCLUSIVE) until it commits: the writer's folds wait on it. */
static sqlite3 *lock_db(const char *path)
{
    sqlite3 *locker;
    assert_int_equal(sqlite3_open(path, &locker), SQLITE_OK);
    assert_int_equal(sqlite3_exec(locker, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    return locker;
}

/*
 * The queue cap: with the writer blocked on a locked database, exactly max_queue more records are accepted
 * and the next is refused (-EAGAIN, so the caller answers without a record); once the lock goes, every
 * accepted record is committed and called back.
 */
static void queue_cap(void **state)
{
    (void)state;
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    struct store *db = open_temp_db(path);
    sqlite3 *locker = lock_db(path);

    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_writer *w;
    const uint32_t cap = 4;
    struct store_writer_cfg cfg = {
        .count = true, .retention_days = 90, .max_clients = 1000000, .max_queue = cap, .journal = path,
        .prune_delay_ms = 1, .now = fixed_now,
    };
    memset(results, 0, sizeof results);
    callbacks = 0;
    assert_int_equal(store_writer_start(db, &loop, &cfg, &w), 0);
    /* The writer starts with a prune, which waits on the lock (busy timeout 5 s), so it takes nothing from
     * the queue meanwhile: limit - 1 and limit are accepted, limit + 1 is refused. */
    struct store_record r;
    int accepted = 0;
    for (int i = 0; i < (int)cap; i++) {
        record(&r, i);
        assert_int_equal(store_writer_submit(w, &r, on_done, &results[i]), 0);
        accepted++;
    }
    record(&r, 99);
    assert_int_equal(store_writer_submit(w, &r, on_done, &results[cap]), -EAGAIN);
    assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(locker);
    run_until(&loop, accepted);
    for (int i = 0; i < accepted; i++) {
        assert_int_equal(results[i].called, 1);
        assert_int_equal(results[i].err, 0);
    }
    assert_int_equal(results[cap].called, 0);
    finish(w, &loop);
    remove_db(path);
}

/* Checkpoints run on their own thread and connection: a file database written in many small transactions
 * (well over STORE_WAL_CHECKPOINT_PAGES WAL frames) gets background checkpoints, none fails, the WAL stays
 * below the writer's backstop and is reset there, the file is cut back to STORE_WAL_SIZE_LIMIT when it is,
 * and every record is in the database after stop. */
static void background_checkpoints(void **state)
{
    (void)state;
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    struct store *db = open_temp_db(path);
    struct metrics m;
    assert_int_equal(metrics_init(&m, 0), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_writer *w;
    struct store_writer_cfg cfg = {
        /* genuine mode below the count's limit (record_other): each answer waits for the fold of its record,
         * so each record is one transaction */
        .count = true, .retention_days = 90, .max_clients = 1000000, .journal = path, .now = fixed_now,
        .metrics = &m,
    };
    callbacks = 0;
    assert_int_equal(store_writer_start(db, &loop, &cfg, &w), 0);
    /* one record per transaction (each waits for the last): about 5 WAL frames each */
    enum { WAVES = 1200 };
    static struct result res[WAVES];
    memset(res, 0, sizeof res);
    uint32_t max_frames = 0, resets = 0, last = 0;
    uint64_t wal_after_reset = 0; /* the largest WAL file seen right after a reset */
    for (int i = 0; i < WAVES; i++) {
        struct store_record r;
        record_other(&r, i);
        assert_int_equal(store_writer_submit(w, &r, on_done, &res[i]), 0);
        run_until(&loop, i + 1);
        assert_int_equal(res[i].err, 0);
        uint32_t f = store_wal_frames(db); /* the writer is idle now: no race on the value */
        if (f > max_frames)
            max_frames = f;
        if (f < last) { /* the WAL started afresh: journal_size_limit has cut the file back */
            resets++;
            char wal[64];
            snprintf(wal, sizeof wal, "%s-wal", path);
            struct stat st;
            assert_int_equal(stat(wal, &st), 0);
            if ((uint64_t)st.st_size > wal_after_reset)
                wal_after_reset = (uint64_t)st.st_size;
        }
        last = f;
    }
    /* the checkpointer may still be running its last pass: wait (bounded) until one has been counted */
    for (int i = 0; i < 2000 && metrics_get(&m.registry_checkpoint.count) == 0; i++) {
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
    }
    printf("# %d one-record transactions: %llu background checkpoints, WAL at most %u frames, reset %u times\n",
           WAVES, (unsigned long long)metrics_get(&m.registry_checkpoint.count), max_frames, resets);
    assert_true(max_frames >= STORE_WAL_CHECKPOINT_PAGES); /* the test did make the WAL grow that far */
    /* bounded: the backstop checkpoint runs at the commit that reaches it, the next transaction resets */
    assert_true(max_frames < STORE_WAL_BACKSTOP_PAGES + 64);
    assert_true(resets >= 1);
    printf("# WAL file right after a reset: at most %llu bytes (STORE_WAL_SIZE_LIMIT %d)\n",
           (unsigned long long)wal_after_reset, STORE_WAL_SIZE_LIMIT);
    assert_true(wal_after_reset <= STORE_WAL_SIZE_LIMIT);
    assert_true(metrics_get(&m.registry_checkpoint.count) >= 1);
    assert_int_equal(metrics_get(&m.registry_checkpoint_errors), 0);
    finish(w, &loop);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), WAVES);
    metrics_free(&m);
    remove_db(path);
}

/* Whether a line of the text file path contains text. */
static bool file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

/* Whether this process maps file path (/proc/self/maps). */
static bool mapped(const char *path)
{
    return file_has("/proc/self/maps", path);
}

/* Idle, the writer hands its buffers and page cache back (once per idle spell, not again while nothing is
 * folded) and the loop its window onto the journal; records that come after are folded and counted as before,
 * and the next idle spell releases again. */
static void idle_release(void **state)
{
    (void)state;
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    struct store *db = open_temp_db(path);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_writer *w;
    struct store_writer_cfg cfg = {
        .count = true, .retention_days = 90, .max_clients = 1000000, .journal = path, .idle_release_ms = 1000,
        .now = fixed_now,
    };
    assert_int_equal(store_writer_start(db, &loop, &cfg, &w), 0);
    memset(results, 0, sizeof results);
    callbacks = 0;
    struct store_record r;
    for (int i = 0; i < N / 2; i++) {
        record(&r, i);
        assert_int_equal(store_writer_submit(w, &r, on_done, &results[i]), 0);
    }
    run_until(&loop, N / 2);
    char journal[96];
    snprintf(journal, sizeof journal, "%s-activations.0", path);
    assert_true(mapped(journal));
    struct timespec nap = {2, 500000000}; /* 1 s idle spells: released, and not again */
    nanosleep(&nap, NULL);
    struct store_writer_stats st;
    store_writer_stats(w, &st);
    assert_int_equal(st.idle_releases, 1);
    uv_run(&loop, UV_RUN_NOWAIT); /* the writer's word to the loop */
    assert_false(mapped(journal));
    nanosleep(&nap, NULL);
    store_writer_stats(w, &st);
    assert_int_equal(st.idle_releases, 1); /* nothing folded since: not again */
    for (int i = N / 2; i < N; i++) {
        record(&r, i);
        assert_int_equal(store_writer_submit(w, &r, on_done, &results[i]), 0);
    }
    run_until(&loop, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(results[i].err, 0);
    assert_int_equal(results[N - 1].count, store_count_limit(STORE_APP_WINDOWS)); /* read back after the release */
    nanosleep(&nap, NULL);
    store_writer_stats(w, &st);
    assert_int_equal(st.idle_releases, 2);
    assert_int_equal(st.committed, N);
    finish(w, &loop);
    remove_db(path);
}

/* Genuine mode: below the count's limit each answer waits for its fold and a count taken after it; once the
 * limit is reached (and holds), answers go out at the journal write with the limit, before any fold; when the
 * window has moved past the counted clients, answers wait again and get the new count. */
static void genuine_answers_at_limit(void **state)
{
    (void)state;
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    struct store *db = open_temp_db(path);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_writer *w;
    moving_now_value = 1795000000;
    struct store_writer_cfg cfg = {
        .count = true, .retention_days = 90, .max_clients = 1000000, .journal = path, .fold_linger_ms = 60000,
        .now = moving_now,
    };
    assert_int_equal(store_writer_start(db, &loop, &cfg, &w), 0);
    const int limit = (int)store_count_limit(STORE_APP_WINDOWS);
    assert_true(limit >= 2 && limit + 20 <= N);
    memset(results, 0, sizeof results);
    callbacks = 0;
    struct store_record r;
    for (int i = 0; i < limit; i++) { /* one at a time: each waits for its own fold */
        record(&r, i);
        r.time = moving_now_value;
        assert_int_equal(store_writer_submit(w, &r, on_done, &results[i]), 0);
        run_until(&loop, i + 1);
        assert_int_equal(results[i].err, 0);
        assert_int_equal(results[i].count, (uint32_t)i + 1);
    }
    struct store_writer_stats st;
    store_writer_stats(w, &st);
    assert_int_equal(st.count_waits, (uint64_t)limit);
    assert_int_equal(st.count_known, 0);
    assert_int_equal(st.committed, (uint64_t)limit);
    /* at the limit: 20 new clients in one iteration are answered at the journal write, none folded yet (the
     * linger is a minute) */
    for (int i = limit; i < limit + 20; i++) {
        record(&r, i);
        r.time = moving_now_value;
        assert_int_equal(store_writer_submit(w, &r, on_done, &results[i]), 0);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(callbacks, limit + 20);
    store_writer_stats(w, &st);
    assert_int_equal(st.count_known, 20);
    assert_int_equal(st.committed, (uint64_t)limit);
    for (int i = limit; i < limit + 20; i++) {
        assert_int_equal(results[i].err, 0);
        assert_int_equal(results[i].count, (uint32_t)limit);
    }
    /* 30 days later every counted client has left the window: the next answer waits and counts itself alone */
    moving_now_value += (int64_t)STORE_COUNT_WINDOW_DAYS * 86400;
    record(&r, limit + 20);
    r.time = moving_now_value;
    assert_int_equal(store_writer_submit(w, &r, on_done, &results[limit + 20]), 0);
    run_until(&loop, limit + 21);
    assert_int_equal(results[limit + 20].err, 0);
    assert_int_equal(results[limit + 20].count, 1);
    store_writer_stats(w, &st);
    assert_int_equal(st.count_waits, (uint64_t)limit + 1);
    finish(w, &loop);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), limit + 21);
    remove_db(path);
}

/* A file database (path as for open_temp_db) holding OLD rows last seen beyond a 90-day retention. */
enum { OLD = 100 };
static struct store *db_with_old_rows(char *path)
{
    struct store *db = open_temp_db(path);
    static struct store_record old[OLD];
    for (int i = 0; i < OLD; i++) {
        record(&old[i], 1000 + i);
        old[i].time = fixed_now() - 200 * 86400;
    }
    assert_int_equal(store_write(db, old, OLD), 0);
    return db;
}

/* The prune at start waits STORE_WRITER_PRUNE_DELAY_MS after the registry is reached: an answer waiting for a genuine
 * count at start is folded before any prune step (one is tens of ms on PostgreSQL), and the prune runs after. */
static void first_fold_before_prune(void **state)
{
    (void)state;
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    struct store *db = db_with_old_rows(path);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_writer *w;
    struct store_writer_cfg cfg = {
        .count = true, .retention_days = 90, .max_clients = 1000000, .journal = path, .now = fixed_now};
    assert_int_equal(store_writer_start(db, &loop, &cfg, &w), 0);
    memset(results, 0, sizeof results);
    callbacks = 0;
    struct store_record r;
    record_other(&r, 1); /* a count that only the fold can give: the answer waits for it */
    assert_int_equal(store_writer_submit(w, &r, on_done, &results[0]), 0);
    run_until(&loop, 1);
    assert_int_equal(results[0].err, 0);
    struct store_writer_stats st = {0};
    store_writer_stats(w, &st);
    assert_int_equal(st.prune_steps, 0);
    for (int i = 0; i < 60 && st.pruned < OLD; i++) { /* 3 s at most */
        struct timespec nap = {0, 50000000};
        nanosleep(&nap, NULL);
        store_writer_stats(w, &st);
    }
    assert_int_equal(st.pruned, OLD);
    finish(w, &loop);
    remove_db(path);
}

/* The prune at start runs in chunks of prune_chunk rows with a pause after each (at least 10 ms), while
 * activations are answered at their journal writes as usual; it ends with the rows beyond the retention gone. */
static void prune_in_paced_steps(void **state)
{
    (void)state;
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    struct store *db = db_with_old_rows(path);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_writer *w;
    struct store_writer_cfg cfg = {
        .retention_days = 90, .max_clients = 1000000, .journal = path, .prune_chunk = 10, .prune_delay_ms = 1,
        .now = fixed_now};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(store_writer_start(db, &loop, &cfg, &w), 0);
    memset(results, 0, sizeof results);
    callbacks = 0;
    struct store_writer_stats st = {0};
    for (int i = 0; i < 400 && st.pruned < OLD; i++) { /* 2 s at most */
        struct store_record r;
        record(&r, i);
        assert_int_equal(store_writer_submit(w, &r, on_done, &results[i % N]), 0);
        uv_run(&loop, UV_RUN_NOWAIT); /* answered at the journal write: no wait for the prune */
        assert_int_equal(callbacks, i + 1);
        struct timespec nap = {0, 5000000};
        nanosleep(&nap, NULL);
        store_writer_stats(w, &st);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(st.pruned, OLD);
    assert_true(st.prune_steps >= OLD / 10);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("# %d rows pruned in %llu steps over %.0f ms\n", OLD, (unsigned long long)st.prune_steps, ms);
    assert_true(ms >= (OLD / 10 - 1) * 10.0); /* a pause of at least 10 ms after each step */
    finish(w, &loop);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients WHERE last_seen < 1795000000"), 0);
    remove_db(path);
}

/* Appends records first..last (sequence numbers seq0, seq0+1, ...) to journal file i of db, as a loop
 * iteration would; with torn, a record's first half after them (a write cut by a crash). */
static void journal_append_raw(const char *db, int i, int first, int last, uint64_t seq0, bool torn)
{
    char p[96];
    snprintf(p, sizeof p, "%s-activations.%d", db, i);
    FILE *f = fopen(p, "ab");
    assert_non_null(f);
    uint8_t buf[JOURNAL_RECORD_MAX];
    for (int k = first; k <= last; k++) {
        struct store_record r;
        record(&r, k);
        long n = journal_encode(&r, seq0 + (uint64_t)(k - first), buf, sizeof buf);
        assert_true(n > 0);
        assert_int_equal(fwrite(buf, 1, (size_t)n, f), (size_t)n);
    }
    if (torn) {
        struct store_record r;
        record(&r, 9999);
        long n = journal_encode(&r, seq0 + (uint64_t)(last - first) + 1, buf, sizeof buf);
        assert_int_equal(fwrite(buf, 1, (size_t)n / 2, f), (size_t)n / 2);
    }
    fclose(f);
}

static long file_size(const char *db, int i)
{
    char p[96];
    snprintf(p, sizeof p, "%s-activations.%d", db, i);
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* Starts a writer on path and stops it at once: it folds what the journal holds. */
static void start_stop(const char *path)
{
    struct store *db;
    char err[256];
    assert_int_equal(store_open(path, &db, err, sizeof err), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_writer *w;
    struct store_writer_cfg cfg = {.retention_days = 90, .max_clients = 1000000, .journal = path, .now = fixed_now};
    assert_int_equal(store_writer_start(db, &loop, &cfg, &w), 0);
    finish(w, &loop);
}

/*
 * What a crash leaves in the journal is folded at the next start, exactly once: records in both files (the
 * older one first), a torn record at the end cut off, records at or below the registry's last folded sequence
 * number skipped (a crash between a fold's commit and the emptying of its file must not count them twice), and
 * both files empty after a clean stop.
 */
static void journal_replay(void **state)
{
    (void)state;
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    struct store *db = open_temp_db(path);
    store_close(db);
    journal_append_raw(path, 1, 0, 9, 1, false);   /* the older file: seq 1..10 */
    journal_append_raw(path, 0, 10, 14, 11, true); /* the newer: seq 11..15, then a torn record */
    start_stop(path);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 15);
    assert_int_equal(sqltest_int(path, "SELECT sum(request_count) FROM clients"), 15);
    assert_int_equal(sqltest_int(path, "SELECT value FROM stats WHERE key = 'journal_seq'"), 15);
    assert_int_equal(sqltest_int(path, "SELECT value FROM stats WHERE key = 'requests'"), 15);
    assert_int_equal(file_size(path, 0), 0);
    assert_int_equal(file_size(path, 1), 0);

    /* a crash after the fold's commit, before the files were emptied: the same records again, and new ones */
    journal_append_raw(path, 0, 10, 14, 11, false); /* seq 11..15: folded already */
    journal_append_raw(path, 0, 3, 4, 16, false);   /* seq 16..17: clients 3 and 4 return */
    start_stop(path);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 15);
    assert_int_equal(sqltest_int(path, "SELECT sum(request_count) FROM clients"), 17);
    assert_int_equal(sqltest_int(path, "SELECT value FROM stats WHERE key = 'journal_seq'"), 17);
    remove_db(path);
}

/* A writer on a new temporary registry file (path: "/tmp/kmsd-writer-XXXXXX", filled in) with its journal beside
 * it, started with cfg on loop (initialised here). */
static struct store_writer *file_writer(char *path, uv_loop_t *loop, struct store_writer_cfg cfg)
{
    struct store *db = open_temp_db(path);
    uv_loop_init(loop);
    cfg.journal = path;
    struct store_writer *w;
    assert_int_equal(store_writer_start(db, loop, &cfg, &w), 0);
    return w;
}

/* Submits records from..to-1, record k's result in res[k]. */
static void submit_range(struct store_writer *w, struct result *res, int from, int to)
{
    for (int k = from; k < to; k++) {
        struct store_record r;
        record(&r, k);
        assert_int_equal(store_writer_submit(w, &r, on_done, &res[k]), 0);
    }
}

/* Submits records 0..n-1 (n <= N) with results[] and callbacks reset. */
static void submit_records(struct store_writer *w, int n)
{
    memset(results, 0, sizeof results);
    callbacks = 0;
    submit_range(w, results, 0, n);
}

/* In fixed mode an answer waits only for the journal write: every callback runs within the loop iteration
 * (no fold yet: the registry is still empty), each record is in the journal file, and the fold at stop puts
 * them all in the registry. */
static void answers_before_fold(void **state)
{
    (void)state;
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    uv_loop_t loop;
    struct store_writer *w = file_writer(
        path, &loop, (struct store_writer_cfg){.retention_days = 90, .max_clients = 1000000, .fold_linger_ms = 60000,
                                               .now = fixed_now});
    submit_records(w, 100);
    assert_int_equal(callbacks, 0); /* nothing is answered before the journal write */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(callbacks, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(results[i].err, 0);
    assert_true(file_size(path, 0) > 100 * 100);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 0); /* the fold waits (linger 60 s) */
    struct store_writer_stats st;
    store_writer_stats(w, &st);
    assert_int_equal(st.journaled, 100);
    finish(w, &loop);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 100);
    assert_int_equal(file_size(path, 0), 0);
    remove_db(path);
}

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Waits (bounded, 20 s) until the writer has folded at least want records in all; returns the stats. */
static struct store_writer_stats wait_committed(struct store_writer *w, uint64_t want)
{
    struct store_writer_stats st;
    for (int i = 0; i < 2000; i++) {
        store_writer_stats(w, &st);
        if (st.committed >= want)
            break;
        struct timespec nap = {0, 10000000};
        nanosleep(&nap, NULL);
    }
    assert_true(st.committed >= want);
    return st;
}

/*
 * The fold's timing: a few records fold STORE_WRITER_FOLD_LINGER_MS after the first; when STORE_WRITER_BUSY_BYTES
 * or more are unfolded by then (a busy host) they wait until STORE_WRITER_BUSY_LINGER_MS after the first, and what
 * one fold leaves of them (cfg.max_fold reached) is folded at once, not after another linger.
 */
static void busy_linger(void **state)
{
    (void)state;
    enum { QUIET = 10, BUSY = 10000, PER_ITERATION = 1000, MAX_FOLD = 1000 };
    static struct result res[QUIET + BUSY];
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    uv_loop_t loop;
    struct store_writer *w = file_writer(path, &loop,
                                         (struct store_writer_cfg){.retention_days = 90, .max_clients = 1000000,
                                                                   .max_fold = MAX_FOLD, .now = fixed_now});
    memset(res, 0, sizeof res);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    submit_range(w, res, 0, QUIET);
    uv_run(&loop, UV_RUN_NOWAIT);
    wait_committed(w, QUIET);
    long quiet_ms = ms_since(&t0);
    assert_true(quiet_ms >= STORE_WRITER_FOLD_LINGER_MS - 50 && quiet_ms < STORE_WRITER_BUSY_LINGER_MS - 500);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = QUIET; i < QUIET + BUSY; i += PER_ITERATION) {
        submit_range(w, res, i, i + PER_ITERATION);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    assert_true((long)BUSY * JOURNAL_RECORD_MIN >= STORE_WRITER_BUSY_BYTES); /* busy */
    struct timespec nap = {(STORE_WRITER_FOLD_LINGER_MS + 1000) / 1000, 0};
    nanosleep(&nap, NULL);
    struct store_writer_stats st;
    store_writer_stats(w, &st);
    assert_int_equal(st.committed, QUIET); /* past the quiet linger, nothing folded */
    uint64_t batches = st.batches;
    st = wait_committed(w, QUIET + BUSY);
    long busy_ms = ms_since(&t0);
    assert_true(busy_ms >= STORE_WRITER_BUSY_LINGER_MS - 50);
    /* ten folds of MAX_FOLD, one after the other: nowhere near ten lingers */
    assert_true(st.batches - batches >= BUSY / MAX_FOLD);
    assert_true(busy_ms < STORE_WRITER_BUSY_LINGER_MS + 2 * STORE_WRITER_FOLD_LINGER_MS);
    finish(w, &loop);
    for (int i = 0; i < QUIET + BUSY; i++)
        assert_true(res[i].called == 1 && res[i].err == 0);
    remove_db(path);
}

/*
 * The fold by size: with the lingers out of reach (60 s), records below cfg.fold_bytes stay unfolded, and the
 * iteration that takes the journal past it starts a fold at once (of what is unfolded then: at least fold_bytes;
 * what comes after waits for the next trigger, here the stop).
 */
static void fold_at_bytes(void **state)
{
    (void)state;
    enum { FEW = 100, MANY = 10000, PER_ITERATION = 1000, FOLD_BYTES = 1024 * 1024 };
    static struct result res[MANY];
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    uv_loop_t loop;
    struct store_writer *w = file_writer(path, &loop,
                                         (struct store_writer_cfg){.retention_days = 90, .max_clients = 1000000,
                                                                   .fold_linger_ms = 60000, .fold_bytes = FOLD_BYTES,
                                                                   .now = fixed_now});
    memset(res, 0, sizeof res);
    submit_range(w, res, 0, FEW);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_true((long)FEW * JOURNAL_RECORD_MAX < FOLD_BYTES);
    struct timespec nap = {1, 500000000};
    nanosleep(&nap, NULL);
    struct store_writer_stats st;
    store_writer_stats(w, &st);
    assert_int_equal(st.committed, 0); /* below fold_bytes, before the linger: nothing */
    for (int i = FEW; i < MANY; i += PER_ITERATION) {
        submit_range(w, res, i, i + PER_ITERATION < MANY ? i + PER_ITERATION : MANY);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    assert_true((long)MANY * JOURNAL_RECORD_MIN > FOLD_BYTES);
    st = wait_committed(w, 1); /* within 20 s, the linger 60 s away: folded by size */
    assert_true((long)st.committed * JOURNAL_RECORD_MAX >= FOLD_BYTES);
    finish(w, &loop);
    for (int i = 0; i < MANY; i++)
        assert_true(res[i].called == 1 && res[i].err == 0);
    remove_db(path);
}

/*
 * Volume: 70,000 records, 1,000 per loop iteration, more than the loop-side buffer holds (STORE_WRITER_BUFFER: it
 * is written early), more than one journal file holds (cfg.rotate_bytes, 8 MiB here: the loop turns to the other
 * file and the writer empties the first once folded), folds of at most max_fold records decoded
 * STORE_WRITER_MAX_BATCH at a time (more than one batch a fold): every record answered once and in the registry once.
 */
static void volume_rotation(void **state)
{
    (void)state;
    enum { TOTAL = 70000, PER_ITERATION = 1000, MAX_FOLD = 40000, ROTATE = 8 * 1024 * 1024 };
    assert_true(MAX_FOLD > STORE_WRITER_MAX_BATCH);
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    uv_loop_t loop;
    struct store_writer *w = file_writer(path, &loop,
                                         (struct store_writer_cfg){.retention_days = 90, .max_clients = 1000000,
                                                                   .max_fold = MAX_FOLD, .rotate_bytes = ROTATE,
                                                                   .now = fixed_now});
    static struct result res[TOTAL];
    memset(res, 0, sizeof res);
    callbacks = 0;
    bool turned = false; /* the loop appended to the second file */
    for (int i = 0; i < TOTAL; i += PER_ITERATION) {
        submit_range(w, res, i, i + PER_ITERATION);
        assert_true(STORE_WRITER_BUFFER / JOURNAL_RECORD_MIN < PER_ITERATION); /* the buffer overflows */
        uv_run(&loop, UV_RUN_NOWAIT);
        assert_int_equal(callbacks, i + PER_ITERATION);
        turned = turned || file_size(path, 1) > 0;
    }
    assert_true((long)TOTAL * JOURNAL_RECORD_MIN > ROTATE);
    assert_true(turned);
    /* all folded within the linger (bounded wait): in folds of at most MAX_FOLD */
    struct store_writer_stats st = wait_committed(w, TOTAL);
    assert_true(st.batches >= TOTAL / MAX_FOLD);
    finish(w, &loop);
    for (int i = 0; i < TOTAL; i++)
        assert_true(res[i].called == 1 && res[i].err == 0);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 65536); /* record() has 2^16 CMIDs */
    assert_int_equal(sqltest_int(path, "SELECT sum(request_count) FROM clients"), TOTAL);
    assert_int_equal(sqltest_int(path, "SELECT value FROM stats WHERE key = 'journal_seq'"), TOTAL);
    assert_int_equal(file_size(path, 0), 0);
    assert_int_equal(file_size(path, 1), 0);
    remove_db(path);
}

static uint8_t *read_file(const char *db, int i, size_t *len)
{
    char p[96];
    snprintf(p, sizeof p, "%s-activations.%d", db, i);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(4 * STORE_WRITER_EXTEND_BYTES);
    assert_non_null(buf);
    *len = fread(buf, 1, 4 * STORE_WRITER_EXTEND_BYTES, f);
    fclose(f);
    return buf;
}

static void write_file(const char *db, int i, const uint8_t *buf, size_t len)
{
    char p[96];
    snprintf(p, sizeof p, "%s-activations.%d", db, i);
    FILE *f = fopen(p, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/*
 * The loop copies the records into the journal through a mapping of the file, allocated ahead in
 * STORE_WRITER_EXTEND_BYTES: before the first answer the records are in the file, read through another descriptor
 * as the next start after a kill -9 reads them, then zeros. What such a crash leaves (those bytes) is folded at the
 * next start and the zeros cut without the torn-write warning; a torn record before zeros is cut with it. A stop
 * that cannot fold (the registry locked) leaves the records for the next start and cuts the zeros.
 */
static void journal_mapped(void **state)
{
    (void)state;
    char path[] = "/tmp/kmsd-writer-XXXXXX", crash[] = "/tmp/kmsd-writer-XXXXXX", torn[] = "/tmp/kmsd-writer-XXXXXX";
    char logp[] = "/tmp/kmsd-writer-log-XXXXXX";
    struct store *db = open_temp_db(path);
    sqlite3 *locker = lock_db(path);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_writer *w;
    struct store_writer_cfg cfg = {.retention_days = 90, .max_clients = 1000000, .journal = path,
                                   .fold_linger_ms = 60000, .prune_delay_ms = 60000, .now = fixed_now};
    assert_int_equal(store_writer_start(db, &loop, &cfg, &w), 0);
    submit_records(w, 100);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(callbacks, 100);
    assert_int_equal(file_size(path, 0), STORE_WRITER_EXTEND_BYTES); /* allocated ahead */
    size_t len, at = 0;
    uint8_t *buf = read_file(path, 0, &len);
    assert_int_equal(len, STORE_WRITER_EXTEND_BYTES);
    for (uint64_t k = 1; k <= 100; k++) { /* the records, in order */
        struct store_record r;
        uint64_t seq;
        size_t used;
        assert_int_equal(journal_decode(buf + at, len - at, &r, &seq, &used), 0);
        assert_int_equal(seq, k);
        at += used;
    }
    size_t records_len = at;
    for (; at < len; at++) /* then the zeros */
        assert_int_equal(buf[at], 0);

    /* the stop cannot fold (locked, 5 s busy timeout): the records stay, the zeros go */
    finish(w, &loop);
    assert_int_equal(file_size(path, 0), (long)records_len);
    assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(locker);

    int lfd = mkstemp(logp);
    assert_true(lfd >= 0);
    close(lfd);
    assert_int_equal(log_open(LOG_LVL_WARN, logp, 0), 0);
    start_stop(path); /* and the next start folds them */
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), 100);
    assert_int_equal(file_size(path, 0), 0);

    /* what a kill -9 leaves: the records, then the zeros allocated ahead */
    store_close(open_temp_db(crash));
    write_file(crash, 0, buf, len);
    start_stop(crash);
    assert_int_equal(sqltest_int(crash, "SELECT count(*) FROM clients"), 100);
    assert_int_equal(file_size(crash, 0), 0);
    assert_false(file_has(logp, "not a whole record"));

    /* a torn record, then zeros: the torn record is said */
    store_close(open_temp_db(torn));
    journal_append_raw(torn, 0, 0, 4, 1, true);
    write_file(torn, 0, buf + records_len, 4096);
    start_stop(torn);
    assert_int_equal(sqltest_int(torn, "SELECT count(*) FROM clients"), 5);
    assert_true(file_has(logp, "not a whole record"));
    log_close();
    unlink(logp);
    free(buf);
    remove_db(path);
    remove_db(crash);
    remove_db(torn);
}

/* A registry on path with what its journal file 0 holds folded: clients, the sum of their request counts, the
 * last sequence number folded, and whether the log (logp) said the journal had bytes that are not records. */
static void check_folded(const char *path, const char *logp, int clients, int requests, int seq, bool damage)
{
    start_stop(path);
    assert_int_equal(sqltest_int(path, "SELECT count(*) FROM clients"), clients);
    assert_int_equal(sqltest_int(path, "SELECT sum(request_count) FROM clients"), requests);
    assert_int_equal(sqltest_int(path, "SELECT value FROM stats WHERE key = 'journal_seq'"), seq);
    assert_int_equal(file_size(path, 0), 0);
    assert_int_equal(file_has(logp, "are not records in order"), damage);
}

/*
 * Bytes in the middle of a journal file that are not records — a disk error, or a power loss that kept a later
 * page of the unsynced file and lost an earlier one (non-zero garbage, or a page of zeros) — are cut out at start
 * and the records after them kept, each folded once. What an interrupted repair leaves (whole or partial copies of
 * records already read, then the records after them) is repaired the same way without folding the copies twice.
 */
static void journal_damage(void **state)
{
    (void)state;
    char logp[] = "/tmp/kmsd-writer-log-XXXXXX";
    int lfd = mkstemp(logp);
    assert_true(lfd >= 0);
    close(lfd);
    uint8_t junk[1000], zeros[4096] = {0};
    for (size_t k = 0; k < sizeof junk; k++)
        junk[k] = (uint8_t)(0xa5 ^ k);

    struct {
        const char *what;
        int clients, requests, seq;
    } cases[] = {{"garbage", 10, 10, 10}, {"zeros", 10, 10, 10}, {"repair cut in a record", 10, 10, 10},
                 {"repair cut between records", 10, 10, 10}, {"damage at the start", 5, 5, 10}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[] = "/tmp/kmsd-writer-XXXXXX";
        printf("# %s\n", cases[c].what);
        store_close(open_temp_db(path));
        assert_int_equal(log_open(LOG_LVL_WARN, logp, 0), 0);
        switch (c) {
        case 0: /* seq 1..5, 1000 bytes of garbage, seq 6..10, the zeros allocated ahead */
            journal_append_raw(path, 0, 0, 4, 1, false);
            write_file(path, 0, junk, sizeof junk);
            journal_append_raw(path, 0, 5, 9, 6, false);
            write_file(path, 0, zeros, sizeof zeros);
            break;
        case 1: /* a page of zeros between them */
            journal_append_raw(path, 0, 0, 4, 1, false);
            write_file(path, 0, zeros, sizeof zeros);
            journal_append_raw(path, 0, 5, 9, 6, false);
            break;
        case 2: /* seq 1..8 moved down, the move cut in seq 9, what it had not overwritten: copies of 6..8, 9, 10 */
            journal_append_raw(path, 0, 0, 7, 1, true);
            journal_append_raw(path, 0, 5, 9, 6, false);
            break;
        case 3: /* the move cut between two records: seq 1..8, then whole copies of 6..8, then 9, 10 */
            journal_append_raw(path, 0, 0, 7, 1, false);
            journal_append_raw(path, 0, 5, 9, 6, false);
            break;
        default: /* garbage first, then seq 6..10 (seq 1..5 lost) */
            write_file(path, 0, junk, sizeof junk);
            journal_append_raw(path, 0, 5, 9, 6, false);
            break;
        }
        check_folded(path, logp, cases[c].clients, cases[c].requests, cases[c].seq, true);
        log_close();
        assert_int_equal(truncate(logp, 0), 0);
        remove_db(path);
    }

    /* a torn record at the end, after whole ones, is cut without that warning (and with the torn-write one) */
    char path[] = "/tmp/kmsd-writer-XXXXXX";
    store_close(open_temp_db(path));
    assert_int_equal(log_open(LOG_LVL_WARN, logp, 0), 0);
    journal_append_raw(path, 0, 0, 4, 1, true);
    check_folded(path, logp, 5, 5, 5, false);
    assert_true(file_has(logp, "not a whole record"));
    log_close();
    unlink(logp);
    remove_db(path);
}

/* The record format: a round trip keeps every field; a cut record is incomplete, a flipped byte is refused. */
static void journal_codec(void **state)
{
    (void)state;
    struct store_record r, back;
    record(&r, 7);
    snprintf(r.address, sizeof r.address, "[::1]:1688");
    snprintf(r.epid, sizeof r.epid, "06401-00206-551-123456-03-1033-26100.0000-3452025");
    r.hresult = 0xC004F042;
    r.license_status = 5;
    r.grace_time = 43200;
    r.is_vm = 1;
    r.time = -5;
    uint8_t buf[JOURNAL_RECORD_MAX];
    long n = journal_encode(&r, 42, buf, sizeof buf);
    assert_true(n > 0);
    uint64_t seq = 0;
    size_t used = 0;
    assert_int_equal(journal_decode(buf, (size_t)n, &back, &seq, &used), 0);
    assert_int_equal(used, (size_t)n);
    assert_int_equal(seq, 42);
    assert_memory_equal(&r, &back, sizeof r);
    for (long cut = 0; cut < n; cut++)
        assert_int_equal(journal_decode(buf, (size_t)cut, &back, &seq, &used), KMS_ETRUNC);
    for (long i = 0; i < n; i++) {
        buf[i] ^= 0x20;
        int rc = journal_decode(buf, (size_t)n, &back, &seq, &used);
        assert_true(rc == KMS_EINVAL || rc == KMS_ETRUNC); /* a changed length may ask for more bytes */
        buf[i] ^= 0x20;
    }
    /* the longest record fits JOURNAL_RECORD_MAX, one byte less does not */
    memset(r.workstation, 'w', sizeof r.workstation - 1);
    memset(r.product, 'p', sizeof r.product - 1);
    memset(r.address, 'a', sizeof r.address - 1);
    memset(r.epid, 'e', sizeof r.epid - 1);
    assert_int_equal(journal_encode(&r, 1, buf, sizeof buf), (long)JOURNAL_RECORD_MAX - 4);
    assert_int_equal(journal_encode(&r, 1, buf, JOURNAL_RECORD_MAX - 5), KMS_ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(commits_and_counts),   cmocka_unit_test(queue_cap),
                                       cmocka_unit_test(background_checkpoints), cmocka_unit_test(journal_replay),
                                       cmocka_unit_test(answers_before_fold),    cmocka_unit_test(journal_codec),
                                       cmocka_unit_test(idle_release),           cmocka_unit_test(volume_rotation),
                                       cmocka_unit_test(genuine_answers_at_limit),
                                       cmocka_unit_test(first_fold_before_prune),
                                       cmocka_unit_test(prune_in_paced_steps), cmocka_unit_test(count_switched_live),
                                       cmocka_unit_test(journal_mapped), cmocka_unit_test(journal_damage),
                                       cmocka_unit_test(busy_linger), cmocka_unit_test(fold_at_bytes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
