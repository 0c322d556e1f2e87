#include "store_writer.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "log.h"

/* Set-up calls (pthread_mutex_init, pthread_cond_init, pthread_create, uv_async_init) are checked in
 * store_writer_start. Lock, unlock, signal, wait, join and uv_async_send on objects it set up fail only on a
 * programming error (EINVAL, EDEADLK), which no check here could recover from: their results are not read. */
#define PRUNE_EVERY_S 86400
#define FAILURE_LOG_EVERY_S 60

struct item {
    struct store_record rec;
    store_writer_cb cb;
    void *ctx;
    int err;
    uint32_t count;
    struct item *next;
};

struct store_writer {
    struct store *db;
    struct store_writer_cfg cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* background checkpoints (see store_split_checkpoints): the writer asks, the checkpointer thread runs */
    bool ckpt_on;
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_cv;
    bool ckpt_wanted;         /* protected by mu */
    uint32_t ckpt_asked_at;   /* WAL frames when the last checkpoint was asked for (writer thread only) */
    int64_t ckpt_last_log;    /* checkpointer thread only */
    struct item *todo, *todo_tail; /* submitted, protected by mu */
    size_t n_todo;
    struct item *done, *done_tail; /* committed, protected by mu */
    bool stop;
    uv_async_t async;
    /* counters: written by the thread under mu */
    struct store_writer_stats stats;
    uint64_t failures_unlogged;
    uint64_t unrecorded_unsaved; /* failures not yet added to the persistent counter (thread only) */
    int64_t last_failure_log;
    int64_t last_prune;
    bool released; /* the cache was handed back and nothing was read since (writer thread only) */
};

static void prune(struct store_writer *w, int64_t now)
{
    uint64_t deleted = 0;
    int rc = store_prune(w->db, now, w->cfg.retention_days, w->cfg.max_clients, &deleted);
    if (rc < 0)
        log_warn("registry: pruning failed: %s", store_errmsg(w->db));
    else if (deleted)
        log_info("registry: pruned %llu client rows", (unsigned long long)deleted);
    w->last_prune = now;
}

/* Microseconds since t0 (CLOCK_MONOTONIC), for the duration histograms. */
static uint64_t us_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t us = (int64_t)(t1.tv_sec - t0->tv_sec) * 1000000 + (t1.tv_nsec - t0->tv_nsec) / 1000;
    return us > 0 ? (uint64_t)us : 0;
}

/* Gives every item of a batch committed with rc its result and, when the writer counts, its group's distinct
 * clients (one count per group and batch). Writer thread, without the lock. */
static void finish_items(struct store_writer *w, struct item *batch, int rc, int64_t now)
{
    uint32_t counts[STORE_APP_GROUPS];
    bool counted[STORE_APP_GROUPS] = {false};
    for (struct item *it = batch; it; it = it->next) {
        it->err = rc;
        if (rc == 0 && w->cfg.count) {
            enum store_app_group g = store_app_group_of(&it->rec.app_id);
            if (!counted[g]) {
                int c = store_count(w->db, g, now, STORE_COUNT_WINDOW_DAYS, &counts[g]);
                if (c < 0)
                    counts[g] = 0;
                counted[g] = c == 0;
                if (c < 0)
                    it->err = c;
            }
            it->count = counts[g];
        }
    }
}

/* Commits one batch and counts per application group; runs on the writer thread without the lock. */
static void commit(struct store_writer *w, struct item *batch, size_t n)
{
    struct store_record *recs = malloc(n * sizeof *recs);
    int rc = recs ? 0 : -ENOMEM;
    size_t i = 0;
    for (struct item *it = batch; it && i < n; it = it->next)
        recs[i++] = it->rec;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rc == 0)
        rc = store_write(w->db, recs, n);
    if (w->cfg.metrics) {
        metrics_observe(&w->cfg.metrics->registry_write, us_since(&t0));
        if (rc != 0)
            metrics_inc(&w->cfg.metrics->registry_errors);
    }
    free(recs);
    if (rc == 0 && w->unrecorded_unsaved) { /* the fault cleared: keep the count of what was lost */
        if (store_note_unrecorded(w->db, w->unrecorded_unsaved) == 0) {
            log_info("registry: recording again; %llu activations were answered without a record",
                     (unsigned long long)w->unrecorded_unsaved);
            w->unrecorded_unsaved = 0;
        }
    } else if (rc < 0) {
        w->unrecorded_unsaved += n;
    }
    int64_t now = w->cfg.now();
    finish_items(w, batch, rc, now);
    uint32_t frames = store_wal_frames(w->db);
    bool ask = false;
    if (w->ckpt_on) {
        if (frames < w->ckpt_asked_at) /* the WAL was reset */
            w->ckpt_asked_at = 0;
        if (frames >= w->ckpt_asked_at + STORE_WAL_CHECKPOINT_PAGES) {
            w->ckpt_asked_at = frames;
            ask = true;
        }
    }
    pthread_mutex_lock(&w->mu);
    if (ask) {
        w->ckpt_wanted = true;
        pthread_cond_signal(&w->ckpt_cv);
    }
    w->stats.batches++;
    if (rc == 0) {
        w->stats.committed += n;
    } else {
        w->stats.failed += n;
        w->stats.last_failure_time = (uint64_t)now;
        w->failures_unlogged += n;
    }
    if (w->failures_unlogged && now - w->last_failure_log >= FAILURE_LOG_EVERY_S) {
        log_error("registry: %llu activations could not be recorded (answered anyway): %s",
                  (unsigned long long)w->failures_unlogged, store_errmsg(w->db));
        w->failures_unlogged = 0;
        w->last_failure_log = now;
    }
    if (w->done_tail)
        w->done_tail->next = batch;
    else
        w->done = batch;
    struct item *last = batch;
    while (last->next)
        last = last->next;
    w->done_tail = last;
    pthread_mutex_unlock(&w->mu);
    uv_async_send(&w->async);
}

/*
 * The writer idles: its connection's page cache (up to SQLite's cache_size, 2 MB, as the registry grows) is
 * worth keeping while records come in, since every upsert walks the same index pages, but not while nothing
 * does. It is handed back, and the freed heap with it: glibc keeps freed memory in this thread's arena until a
 * trim. The next record reads its pages from the file again (the kernel's page cache, usually).
 */
static void idle_release(struct store_writer *w)
{
    store_release_memory(w->db);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    w->released = true;
    pthread_mutex_lock(&w->mu);
    w->stats.idle_releases++;
    pthread_mutex_unlock(&w->mu);
}

static void *run(void *arg)
{
    struct store_writer *w = arg;
    prune(w, w->cfg.now());
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo && !w->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += w->cfg.idle_release_s;
            bool timed_out = pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT;
            if (w->todo || w->stop)
                break;
            bool prune_due = w->cfg.now() - w->last_prune >= PRUNE_EVERY_S;
            bool release_due = timed_out && !w->released;
            if (prune_due || release_due) {
                pthread_mutex_unlock(&w->mu);
                if (prune_due) {
                    prune(w, w->cfg.now());
                    w->released = false;
                }
                if (release_due)
                    idle_release(w);
                pthread_mutex_lock(&w->mu);
            }
        }
        if (!w->todo && w->stop)
            break;
        /* take up to a batch */
        struct item *batch = w->todo, *it = batch;
        size_t n = 1;
        while (it->next && n < STORE_WRITER_MAX_BATCH) {
            it = it->next;
            n++;
        }
        w->todo = it->next;
        if (!w->todo)
            w->todo_tail = NULL;
        it->next = NULL;
        w->n_todo -= n;
        pthread_mutex_unlock(&w->mu);
        commit(w, batch, n);
        w->released = false;
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* The checkpointer thread: copies the WAL back into the database when the writer asks, so that the fsyncs
 * of a checkpoint never hold up a commit (and the activations waiting for it). */
static void *run_checkpoints(void *arg)
{
    struct store_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->ckpt_wanted && !w->stop)
            pthread_cond_wait(&w->ckpt_cv, &w->mu);
        if (w->stop)
            break;
        w->ckpt_wanted = false;
        pthread_mutex_unlock(&w->mu);
        char err[256];
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = store_checkpoint(w->db, err, sizeof err);
        if (w->cfg.metrics) {
            metrics_observe(&w->cfg.metrics->registry_checkpoint, us_since(&t0));
            if (rc < 0)
                metrics_inc(&w->cfg.metrics->registry_checkpoint_errors);
        }
        if (rc < 0) { /* the writer's backstop still bounds the WAL; say so at most once a minute */
            int64_t now = w->cfg.now();
            if (now - w->ckpt_last_log >= FAILURE_LOG_EVERY_S) {
                log_warn("registry: background checkpoint failed: %s", err);
                w->ckpt_last_log = now;
            }
        }
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Loop thread: run the callbacks of committed records. */
static void on_async(uv_async_t *a)
{
    struct store_writer *w = a->data;
    pthread_mutex_lock(&w->mu);
    struct item *list = w->done;
    w->done = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (list) {
        struct item *next = list->next;
        list->cb(list->ctx, list->err, list->count);
        free(list);
        list = next;
    }
}

static void on_async_closed(uv_handle_t *h);

/* Initialises the lock and the two condition variables. Returns 0 or a negative errno (nothing is left
 * initialised then). */
static int sync_init(struct store_writer *w)
{
    int rc = pthread_mutex_init(&w->mu, NULL);
    if (rc != 0)
        return -rc;
    rc = pthread_cond_init(&w->cv, NULL);
    if (rc != 0) {
        pthread_mutex_destroy(&w->mu);
        return -rc;
    }
    rc = pthread_cond_init(&w->ckpt_cv, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        return -rc;
    }
    return 0;
}

static void sync_destroy(struct store_writer *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->ckpt_cv);
}

int store_writer_start(struct store *s, uv_loop_t *loop, const struct store_writer_cfg *cfg,
                       struct store_writer **out)
{
    struct store_writer *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->db = s;
    w->cfg = *cfg;
    if (w->cfg.max_queue == 0)
        w->cfg.max_queue = STORE_WRITER_MAX_QUEUE;
    if (w->cfg.idle_release_s == 0)
        w->cfg.idle_release_s = STORE_WRITER_IDLE_RELEASE_S;
    w->last_failure_log = -FAILURE_LOG_EVERY_S;
    w->ckpt_last_log = -FAILURE_LOG_EVERY_S;
    int rc = sync_init(w);
    if (rc < 0) {
        free(w);
        return rc;
    }
    rc = uv_async_init(loop, &w->async, on_async);
    if (rc < 0) {
        sync_destroy(w);
        free(w);
        return rc;
    }
    /* Without a second connection SQLite checkpoints inside the commits, as before: slower, not wrong. */
    if (store_split_checkpoints(s) < 0)
        log_warn("registry: %s; checkpoints stay in the commit path", store_errmsg(s));
    else if (pthread_create(&w->ckpt_thread, NULL, run_checkpoints, w) == 0)
        w->ckpt_on = true;
    else /* the writer's backstop checkpoints (every STORE_WAL_BACKSTOP_PAGES) still bound the WAL */
        log_warn("registry: cannot start the checkpoint thread; the writer checkpoints by itself");
    w->async.data = w;
    rc = pthread_create(&w->thread, NULL, run, w);
    if (rc != 0) {
        if (w->ckpt_on) {
            pthread_mutex_lock(&w->mu);
            w->stop = true;
            pthread_cond_signal(&w->ckpt_cv);
            pthread_mutex_unlock(&w->mu);
            pthread_join(w->ckpt_thread, NULL);
        }
        uv_close((uv_handle_t *)&w->async, on_async_closed); /* frees w once closed */
        return -rc;
    }
    *out = w;
    return 0;
}

int store_writer_submit(struct store_writer *w, const struct store_record *rec, store_writer_cb cb, void *ctx)
{
    struct item *it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->rec = *rec;
    it->cb = cb;
    it->ctx = ctx;
    pthread_mutex_lock(&w->mu);
    if (w->stop || w->n_todo >= w->cfg.max_queue) {
        pthread_mutex_unlock(&w->mu);
        free(it);
        return -EAGAIN;
    }
    if (w->todo_tail)
        w->todo_tail->next = it;
    else
        w->todo = it;
    w->todo_tail = it;
    w->n_todo++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void store_writer_stats(struct store_writer *w, struct store_writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

static void on_async_closed(uv_handle_t *h)
{
    struct store_writer *w = h->data;
    sync_destroy(w);
    free(w);
}

void store_writer_stop(struct store_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_cond_signal(&w->ckpt_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    if (w->ckpt_on)
        pthread_join(w->ckpt_thread, NULL); /* before store_close, which closes its connection */
    on_async(&w->async); /* the callbacks of the last batches */
    store_close(w->db);
    w->db = NULL;
    uv_close((uv_handle_t *)&w->async, on_async_closed);
}
