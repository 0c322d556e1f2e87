/* store_writer — the registry's writer thread: folds, genuine counts, checkpoints, pruning; start and stop
 * (store_writer.h, store_writer_int.h). */
#include "store_writer_int.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "journal.h"
#include "log.h"
#include "prefault.h"
#include "thread_stack.h"

#define PRUNE_EVERY_S 86400
#define BACKOFF_MAX_MS 5000 /* a failed fold is retried at least this often */
#define MAINT_PAUSE_MIN_MS 10 /* between two prune or vacuum steps at least */

uint64_t store_writer_mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Microseconds since t0 (CLOCK_MONOTONIC), for the duration histograms. */
static uint64_t us_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t us = (int64_t)(t1.tv_sec - t0->tv_sec) * 1000000 + (t1.tv_nsec - t0->tv_nsec) / 1000;
    return us > 0 ? (uint64_t)us : 0;
}

/* Genuine mode: counts every group and publishes the counts for the loop thread and the waiting answers (writer
 * thread, or the starting thread before the writer runs; without the lock). */
static void publish_counts(struct store_writer *w)
{
    if (!store_writer_counting(w))
        return;
    struct known_count k[STORE_APP_GROUPS];
    int64_t now = w->cfg.now();
    for (int g = 0; g < STORE_APP_GROUPS; g++)
        k[g].err = store_count(w->db, (enum store_app_group)g, now, STORE_COUNT_WINDOW_DAYS, w->count_limit[g], &k[g].c);
    pthread_mutex_lock(&w->mu);
    memcpy(w->known, k, sizeof k);
    pthread_mutex_unlock(&w->mu);
}

/* One chunk of the prune under way (writer thread, without the lock); the last one logs what the prune deleted
 * and asks for the freed pages to be given back. */
static void prune_step(struct store_writer *w)
{
    int64_t now = w->cfg.now();
    uint64_t deleted = 0;
    bool more = false;
    int rc = store_prune_step(w->db, now, atomic_load_explicit(&w->retention_days, memory_order_relaxed),
                              atomic_load_explicit(&w->max_clients, memory_order_relaxed), w->cfg.prune_chunk,
                              &deleted, &more);
    if (rc < 0)
        log_warn("registry: pruning failed (tried again in a day): %s", store_errmsg(w->db));
    w->pruned_run += deleted;
    w->prune_more = rc == 0 && more;
    if (!w->prune_more) {
        w->last_prune = now;
        if (w->pruned_run) {
            log_info("registry: pruned %llu client rows", (unsigned long long)w->pruned_run);
            w->vacuum_more = true;
        }
        w->pruned_run = 0;
    }
    if (deleted)
        publish_counts(w);
    pthread_mutex_lock(&w->mu);
    w->stats.pruned += deleted;
    w->stats.prune_steps++;
    pthread_mutex_unlock(&w->mu);
}

static void log_fold_failure(struct store_writer *w);

/* Each connection to the registry claims this host's name (store_claim_host): two hosts with one name would skip or
 * count again each other's records. Said, not refused: the holder may be this host's connection from before a crash. */
static void claim_host(struct store_writer *w)
{
    bool alone = true;
    if (store_claim_host(w->db, &alone) < 0)
        log_warn("registry: %s", store_errmsg(w->db));
    else if (!alone)
        log_warn("registry: another connection to the registry holds this host's name (--host-name): another kmsd with "
                 "the same name, whose records and journal position mix with this host's, or this host's connection "
                 "from before a crash that the server has not closed yet");
}

/* Opens the registry again when it sleeps (writer thread, without the lock). 0 or the negative code of store_wake,
 * with the reason in store_errmsg. */
static int awake(struct store_writer *w)
{
    if (store_asleep(w->db)) {
        int rc = store_wake(w->db);
        bool first = !w->tried_wake;
        w->tried_wake = true;
        if (rc && first && rc == -ENOTCONN)
            log_warn("registry: %s; activations are answered from the journal and recorded once it is reached",
                     store_errmsg(w->db));
        else if (rc && first && w->cfg.on_fatal) { /* a configuration to fix: kmsd stops (exit 2) */
            log_error("registry: %s", store_errmsg(w->db));
            atomic_store(&w->fatal, rc);
            uv_async_send(&w->async);
        }
        if (rc)
            return rc;
        claim_host(w);
        pthread_mutex_lock(&w->mu);
        w->stats.wakes++;
        pthread_mutex_unlock(&w->mu);
    }
    if (!w->folded_known) { /* a registry first reached now: where its folds stand */
        uint64_t seq = 0;
        int rc = store_journal_seq(w->db, &seq);
        if (rc)
            return rc;
        if (seq >= w->first_seq) {
            /* the registry's position for this host is past the numbers this run gave: the state directory is new
             * (a container without its volume) or older than the registry, or another host has this host's name.
             * Folding from it would skip what this run answered; folding from this run's first record keeps it. */
            log_warn("registry: its journal position for this host (%llu) is past this host's journal (%llu): a new "
                     "state directory, or another host with the same --host-name; folding this run's records from %llu",
                     (unsigned long long)seq, (unsigned long long)(w->first_seq - 1), (unsigned long long)w->first_seq);
            seq = w->first_seq - 1;
        }
        pthread_mutex_lock(&w->mu);
        w->folded = seq;
        w->folded_known = true;
        pthread_mutex_unlock(&w->mu);
        log_info("registry: reached; folding the journal from record %llu", (unsigned long long)seq + 1);
    }
    return 0;
}

/* Pruning and giving pages back, one short transaction at a time, when no fold is due and the pause after the
 * last step is over (writer thread). */
static bool maintenance_due(const struct store_writer *w, uint64_t now_ms)
{
    if (now_ms < w->maint_after_ms)
        return false;
    return w->prune_more || w->vacuum_more || atomic_load_explicit(&w->prune_asked, memory_order_relaxed) ||
           w->cfg.now() - w->last_prune >= PRUNE_EVERY_S;
}

static void maintenance_step_run(struct store_writer *w);

/* One step, then a pause as long as the step took (at least MAINT_PAUSE_MIN_MS): a prune of many rows (a lowered
 * --max-clients) takes at most half of a core from the loop thread, whose activations never wait for it. */
static void maintenance_step(struct store_writer *w)
{
    uint64_t t0 = store_writer_mono_ms();
    if (awake(w) < 0) { /* tried again after the longest fold backoff */
        log_fold_failure(w);
        w->maint_after_ms = t0 + BACKOFF_MAX_MS;
        return;
    }
    if (!w->maint_begun) { /* the first step only reached the registry: its prune waits, the first folds go first */
        w->maint_begun = true;
        w->last_use_ms = store_writer_mono_ms();
        w->maint_after_ms = w->last_use_ms + w->cfg.prune_delay_ms;
        return;
    }
    maintenance_step_run(w);
    uint64_t t1 = store_writer_mono_ms(), took = t1 - t0;
    w->maint_after_ms = t1 + (took > MAINT_PAUSE_MIN_MS ? took : MAINT_PAUSE_MIN_MS);
    w->last_use_ms = t1;
}

static void maintenance_step_run(struct store_writer *w)
{
    bool asked = atomic_exchange_explicit(&w->prune_asked, false, memory_order_relaxed);
    if (w->prune_more || asked || !w->vacuum_more) {
        w->prune_more = true; /* a new day's prune, or one a reload asked for, starts here */
        prune_step(w);
        return;
    }
    bool more = false;
    if (store_vacuum_step(w->db, 0, &more) < 0)
        log_warn("registry: cannot give free pages back: %s", store_errmsg(w->db));
    w->vacuum_more = more;
}

struct batch {
    struct store_record *recs;
    size_t n, cap;
    size_t *ready;      /* records of recs whose pages are resident (the writer's recs_ready) */
    uint64_t skip_upto; /* records at or below this sequence number are in the registry already */
    uint64_t last;      /* the last sequence number read */
};

static int batch_add(void *ctx, const struct store_record *r, uint64_t seq)
{
    struct batch *b = ctx;
    b->last = seq;
    if (seq > b->skip_upto) {
        if (b->n == *b->ready) { /* the next records' pages in one call rather than a fault each */
            size_t k = STORE_WRITER_MAX_BATCH - b->n;
            if (k > STORE_WRITER_PREFAULT_RECS)
                k = STORE_WRITER_PREFAULT_RECS;
            prefault(b->recs + b->n, k * sizeof *b->recs);
            *b->ready += k;
        }
        b->recs[b->n++] = *r;
    }
    return b->n == b->cap;
}

/* Asks for a background checkpoint when the WAL has grown enough (writer thread). */
static void maybe_checkpoint(struct store_writer *w)
{
    if (!w->ckpt_on)
        return;
    uint32_t frames = store_wal_frames(w->db);
    if (frames < w->ckpt_asked_at) /* the WAL was reset */
        w->ckpt_asked_at = 0;
    if (frames >= w->ckpt_asked_at + STORE_WAL_CHECKPOINT_PAGES) {
        w->ckpt_asked_at = frames;
        pthread_mutex_lock(&w->mu);
        w->ckpt_wanted = true;
        pthread_cond_signal(&w->ckpt_cv);
        pthread_mutex_unlock(&w->mu);
    }
}

/* Takes the waiting answers whose records are folded (all of them with give_up) off the list, gives them the
 * counts published after the fold (publish_counts) and hands them to the loop thread. Called with mu held;
 * fold_rc is what the unfolded ones get with give_up. */
static void answer_waiters(struct store_writer *w, int fold_rc, bool give_up)
{
    struct gwait **pp = &w->gw, *last = NULL, *ready = NULL, *rlast = NULL;
    while (*pp) {
        struct gwait *g = *pp;
        if (g->seq > w->folded && !give_up) {
            last = g;
            pp = &g->next;
            continue;
        }
        *pp = g->next;
        w->n_gw--;
        g->next = NULL;
        if (g->seq > w->folded) {
            g->err = fold_rc ? fold_rc : -EIO;
            if (fold_rc == STORE_WRITER_UNCOUNTED)
                w->stats.count_stale++;
        }
        else if (w->known[g->group].err)
            g->err = w->known[g->group].err;
        else
            g->count = w->known[g->group].c.count;
        if (rlast)
            rlast->next = g;
        else
            ready = g;
        rlast = g;
    }
    w->gw_tail = last;
    if (!ready)
        return;
    store_writer_append(&w->done, &w->done_tail, ready, rlast);
    uv_async_send(&w->async);
}

/* Folds up to cfg.max_fold (STORE_WRITER_MAX_FOLD) records from the current file in one transaction, decoding them
 * STORE_WRITER_MAX_BATCH at a time (without the lock). Returns 0 or a negative code; *consumed gets the
 * journal bytes the fold took (0 when it failed: it is retried from the same place). */
static int fold_once(struct store_writer *w, uint64_t end, uint64_t *consumed)
{
    *consumed = 0;
    int woke = awake(w);
    if (woke < 0)
        return woke;
    if (!w->recs) { /* allocated once per busy period: fresh pages each fold cost a page fault per 4 KiB */
        w->recs = malloc(STORE_WRITER_MAX_BATCH * sizeof *w->recs);
        w->recs_ready = 0;
    }
    if (!w->rbuf)
        w->rbuf = malloc(READ_CHUNK);
    struct batch b = {w->recs, 0, STORE_WRITER_MAX_BATCH, &w->recs_ready, w->folded, w->folded};
    uint8_t *buf = w->rbuf;
    int rc = b.recs && buf ? 0 : -ENOMEM;
    uint64_t off = w->rd_off;
    size_t total = 0;
    bool begun = false;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!rc && off < end && total < w->cfg.max_fold) {
        b.n = 0;
        b.cap = w->cfg.max_fold - total < STORE_WRITER_MAX_BATCH ? w->cfg.max_fold - total : STORE_WRITER_MAX_BATCH;
        int r = store_writer_read_records(w->fd[w->rd], &off, end, buf, batch_add, &b);
        if (r < 0) {
            rc = r;
            break;
        }
        if (r == 1) { /* cannot happen short of a bug or an outside edit: say so and skip the rest */
            log_error("registry: journal file %d has bytes that are not a record at offset %llu; skipping to %llu",
                      w->rd, (unsigned long long)off, (unsigned long long)end);
            off = end;
        }
        if (b.n && !begun) {
            rc = store_batch_begin(w->db);
            begun = rc == 0;
        }
        if (!rc && b.n)
            rc = store_batch_add(w->db, b.recs, b.n);
        total += b.n;
    }
    if (!rc && b.last > w->folded) {
        if (!begun) /* only records folded before: the position alone moves */
            rc = store_batch_begin(w->db);
        begun = false;
        if (!rc)
            rc = store_batch_commit(w->db, b.last); /* rolls back by itself when it fails */
    }
    if (begun)
        store_batch_abort(w->db);
    if (w->cfg.metrics && total) {
        metrics_observe(&w->cfg.metrics->registry_write, us_since(&t0));
        if (rc != 0)
            metrics_inc(&w->cfg.metrics->registry_errors);
    }
    pthread_mutex_lock(&w->mu);
    w->stats.batches += total > 0;
    if (rc == 0) {
        w->stats.committed += total;
    } else {
        w->stats.failed += total;
        w->stats.last_failure_time = (uint64_t)w->cfg.now();
    }
    pthread_mutex_unlock(&w->mu);
    if (rc == 0) {
        *consumed = off - w->rd_off;
        w->rd_off = off;
        if (b.last > w->folded)
            w->folded = b.last;
        maybe_checkpoint(w);
    }
    return rc;
}

/*
 * The writer idles: its buffers and its connection's page cache (up to STORE_WRITER_CACHE_KIB while folds
 * follow each other: every fold walks the same index pages) go back, and the freed heap with them (glibc keeps
 * freed memory in this thread's arena until a trim). The next fold reads its pages from the file again (the
 * kernel's page cache, usually). Writer thread.
 */
static void release_memory(struct store_writer *w)
{
    free(w->recs);
    free(w->rbuf);
    w->recs = NULL;
    w->rbuf = NULL;
    if (!store_asleep(w->db))
        store_release_memory(w->db);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    atomic_store_explicit(&w->unmap_wanted, true, memory_order_relaxed);
    uv_async_send(&w->async); /* the loop drops its window onto the journal (store_writer_on_async) */
    pthread_mutex_lock(&w->mu);
    w->stats.idle_releases++;
    pthread_mutex_unlock(&w->mu);
    log_debug("registry: idle: the writer's buffers and page cache handed back");
}

/* Adds the records that journal writes lost to the persistent counter once the registry writes again. */
static void save_unrecorded(struct store_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->unrecorded_unsaved += w->unrecorded_new;
    w->unrecorded_new = 0;
    pthread_mutex_unlock(&w->mu);
    if (w->unrecorded_unsaved && store_note_unrecorded(w->db, w->unrecorded_unsaved) == 0) {
        log_info("registry: recording again; %llu activations were answered without a record",
                 (unsigned long long)w->unrecorded_unsaved);
        w->unrecorded_unsaved = 0;
    }
}

/* At most once a minute (FAILURE_LOG_EVERY_S), else counted for the next message (writer thread). */
static void log_fold_failure(struct store_writer *w)
{
    if (atomic_load(&w->fatal)) /* said once by awake, and kmsd is stopping */
        return;
    int64_t now = w->cfg.now();
    if (now - w->last_failure_log < FAILURE_LOG_EVERY_S) {
        w->failures_unlogged++;
        return;
    }
    log_error("registry: cannot fold the journal into the database (%llu more times since the last message; "
              "the records stay in the journal, retrying): %s",
              (unsigned long long)w->failures_unlogged, store_errmsg(w->db));
    w->failures_unlogged = 0;
    w->last_failure_log = now;
}

/* When the unfolded records are due (mu held, w->pending): cfg.fold_linger_ms after the first, unless by then
 * STORE_WRITER_BUSY_BYTES or more are unfolded (a busy host: they fold at cfg.fold_bytes, or
 * STORE_WRITER_BUSY_LINGER_MS after the first). The writer wakes at the first deadline and decides there. */
static uint64_t fold_deadline(const struct store_writer *w, uint64_t now_ms)
{
    uint64_t t = w->pending_since + w->cfg.fold_linger_ms;
    if (now_ms >= t && w->pending >= STORE_WRITER_BUSY_BYTES && w->cfg.fold_linger_ms < STORE_WRITER_BUSY_LINGER_MS)
        t = w->pending_since + STORE_WRITER_BUSY_LINGER_MS;
    return t;
}

/* Whether the writer should fold now (mu held). */
static bool fold_due(const struct store_writer *w, uint64_t now_ms)
{
    if (!w->pending)
        return false;
    return w->stop || w->gw || w->backlog || w->pending >= w->cfg.fold_bytes ||
           now_ms >= fold_deadline(w, now_ms);
}

/* Empties the file the writer finished when the loop has turned to the other (mu held). */
static void maybe_rotate(struct store_writer *w)
{
    if (w->rd == w->active || w->rd_off < w->end[w->rd])
        return;
    if (ftruncate(w->fd[w->rd], 0) < 0) {
        log_warn("registry: cannot empty journal file %d: %s", w->rd, strerror(errno));
        return; /* tried again after the next fold; the loop keeps appending to the other meanwhile */
    }
    w->end[w->rd] = 0;
    w->rd = !w->rd;
    w->rd_off = 0;
}

static void wait_until(struct store_writer *w, uint64_t deadline_ms)
{
    struct timespec ts = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000};
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

/* Whether the writer may close the registry now, its idle time aside (mu held): it is open, --registry-idle-unload
 * is on, nothing waits for a fold, no prune or vacuum is under way and no checkpoint is asked for or running (the
 * checkpointer uses the store's second connection). */
static bool may_sleep(const struct store_writer *w)
{
    return atomic_load_explicit(&w->idle_unload_ms, memory_order_relaxed) && !store_asleep(w->db) && !w->pending &&
           !w->gw && !w->stop && !w->prune_more && !w->vacuum_more && !w->ckpt_wanted && !w->ckpt_busy;
}

static void *run(void *arg)
{
    struct store_writer *w = arg;
    log_thread_name("writer");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        maybe_rotate(w);
        if (w->gw && w->gw->seq <= w->folded) /* handed over after the fold that took its record */
            answer_waiters(w, 0, false);
        uint64_t now = store_writer_mono_ms();
        if (!fold_due(w, now)) {
            if (w->stop)
                break;
            if (maintenance_due(w, now)) { /* one chunk, then a fold first if one has become due */
                pthread_mutex_unlock(&w->mu);
                maintenance_step(w);
                pthread_mutex_lock(&w->mu);
                continue;
            }
            uint64_t wake = w->pending ? fold_deadline(w, now)
                            : w->recs ? w->last_fold_ms + w->cfg.idle_release_ms
                                         : now + 60000;
            if ((w->prune_more || w->vacuum_more || atomic_load_explicit(&w->prune_asked, memory_order_relaxed)) &&
                w->maint_after_ms < wake)
                wake = w->maint_after_ms;
            uint32_t unload_ms = atomic_load_explicit(&w->idle_unload_ms, memory_order_relaxed);
            if (may_sleep(w) && w->last_use_ms + unload_ms < wake)
                wake = w->last_use_ms + unload_ms;
            wait_until(w, wake > now ? wake : now);
            if (!w->pending && w->recs && store_writer_mono_ms() - w->last_fold_ms >= w->cfg.idle_release_ms) {
                /* idle: the buffers and the page cache the folds filled go back (docs/performance.md) */
                pthread_mutex_unlock(&w->mu);
                release_memory(w);
                pthread_mutex_lock(&w->mu);
            }
            unload_ms = atomic_load_explicit(&w->idle_unload_ms, memory_order_relaxed);
            if (may_sleep(w) && store_writer_mono_ms() - w->last_use_ms >= unload_ms) {
                /* idle longer: the registry closes, and SQLite unloads unless the HTTP server reads it */
                pthread_mutex_unlock(&w->mu);
                bool slept = store_sleep(w->db) == 0;
                if (slept) {
                    log_debug("registry: no fold for %u ms: closed until the next one", unload_ms);
                    release_memory(w); /* and what SQLite freed goes back to the system */
                    thread_stack_release(); /* and what its reopening (dlopen, the schema's check) reached */
                }
                pthread_mutex_lock(&w->mu);
                w->stats.sleeps += slept;
                if (!slept) /* an in-memory registry (tests): it stays open */
                    atomic_store_explicit(&w->idle_unload_ms, 0, memory_order_relaxed);
            }
            continue;
        }
        uint64_t end = w->end[w->rd], due = w->pending;
        pthread_mutex_unlock(&w->mu);
        uint64_t consumed = 0;
        int rc = fold_once(w, end, &consumed);
        if (rc == 0)
            save_unrecorded(w);
        else
            log_fold_failure(w);
        if (rc == 0 && consumed)
            publish_counts(w);
        pthread_mutex_lock(&w->mu);
        w->pending -= consumed <= w->pending ? consumed : w->pending;
        if (w->pending && consumed) /* what came during the fold waits its linger, unless it is already due */
            w->pending_since = store_writer_mono_ms();
        if (consumed) /* what the fold left of what was due (cfg.max_fold reached, the other file) goes next */
            w->backlog = due > consumed && w->pending ? due - consumed : 0;
        if (rc == 0 && consumed) {
            w->backoff_ms = 0;
            w->failing_since_ms = 0;
            w->last_fold_ms = w->last_use_ms = store_writer_mono_ms();
            answer_waiters(w, 0, false);
            continue;
        }
        if (rc == 0) /* nothing to take although bytes are pending (a file that could not be emptied): wait */
            rc = -EAGAIN;
        if (w->stop) { /* give up: what is unfolded stays in the journal for the next start */
            answer_waiters(w, rc, true);
            break;
        }
        /* answers waiting for a count wait through a short fault (a lock, a reconnection), not a long one (the
         * database unreachable): after STORE_WRITER_COUNT_PATIENCE_MS they go out with the count known before */
        uint64_t now_ms = store_writer_mono_ms();
        if (!w->failing_since_ms)
            w->failing_since_ms = now_ms;
        if (w->gw && now_ms - w->failing_since_ms >= STORE_WRITER_COUNT_PATIENCE_MS)
            answer_waiters(w, STORE_WRITER_UNCOUNTED, true);
        w->backoff_ms = w->backoff_ms ? (w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2)
                                      : 100;
        wait_until(w, store_writer_mono_ms() + w->backoff_ms);
    }
    if (!w->pending && w->folded_known) { /* everything is in the registry: both files can go */
        if (store_on_postgresql(w->db)) /* their last number kept for a start without the server */
            store_writer_save_seq(w);
        for (int i = 0; i < 2; i++)
            if (w->end[i] && ftruncate(w->fd[i], 0) == 0)
                w->end[i] = 0;
    }
    answer_waiters(w, -EIO, true);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* The checkpointer thread: copies the WAL back into the database when the writer asks, so that the fsyncs
 * of a checkpoint never hold up a fold. */
static void *run_checkpoints(void *arg)
{
    struct store_writer *w = arg;
    log_thread_name("checkpoint");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->ckpt_wanted && !w->stop)
            pthread_cond_wait(&w->ckpt_cv, &w->mu);
        if (w->stop)
            break;
        w->ckpt_wanted = false;
        w->ckpt_busy = true;
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
        w->ckpt_busy = false;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}


static void sync_destroy(struct store_writer *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->ckpt_cv);
}

/* Initialises the lock and the two condition variables. Returns 0 or a negative errno (nothing is left
 * initialised then). */
static int sync_init(struct store_writer *w)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc != 0)
        return -rc;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_mutex_init(&w->mu, NULL);
    if (rc != 0) {
        pthread_condattr_destroy(&ca);
        return -rc;
    }
    rc = pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
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

static void free_writer(struct store_writer *w)
{
    store_writer_unmap(w); /* done by store_writer_stop already, unless the start failed */
    for (int i = 0; i < 2; i++)
        if (w->fd[i] >= 0)
            close(w->fd[i]);
    free(w->buf);
    free(w->recs);
    free(w->rbuf);
    free(w->lw);
    free(w->lw_spare);
    sync_destroy(w);
    free(w);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct store_writer *w = h->data;
    if (--w->open_handles == 0)
        free_writer(w);
}

static void close_handles(struct store_writer *w)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&w->async, (uv_handle_t *)&w->check, (uv_handle_t *)&w->idle};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        uv_close(hs[i], on_handle_closed);
}

/* The three loop handles; 0 or a libuv code (then w->open_handles say which exist). */
static int handles_init(struct store_writer *w, uv_loop_t *loop)
{
    int rc = uv_async_init(loop, &w->async, store_writer_on_async);
    if (rc < 0)
        return rc;
    w->open_handles++;
    w->async.data = w;
    rc = uv_check_init(loop, &w->check);
    if (rc < 0)
        return rc;
    w->open_handles++;
    w->check.data = w;
    rc = uv_idle_init(loop, &w->idle);
    if (rc < 0)
        return rc;
    w->open_handles++;
    w->idle.data = w;
    return uv_check_start(&w->check, store_writer_on_check);
}

int store_writer_start(struct store *s, uv_loop_t *loop, const struct store_writer_cfg *cfg,
                       struct store_writer **out)
{
    if (!cfg->journal)
        return -EINVAL;
    struct store_writer *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->fd[0] = w->fd[1] = -1;
    w->db = s;
    w->cfg = *cfg;
    atomic_init(&w->counting, cfg->count);
    w->loop = loop;
    if (w->cfg.max_queue == 0)
        w->cfg.max_queue = STORE_WRITER_MAX_QUEUE;
    if (w->cfg.fold_linger_ms == 0)
        w->cfg.fold_linger_ms = STORE_WRITER_FOLD_LINGER_MS;
    if (w->cfg.max_fold == 0)
        w->cfg.max_fold = STORE_WRITER_MAX_FOLD;
    if (w->cfg.fold_bytes == 0)
        w->cfg.fold_bytes = STORE_WRITER_FOLD_BYTES;
    if (w->cfg.rotate_bytes == 0)
        w->cfg.rotate_bytes = STORE_WRITER_ROTATE_BYTES;
    if (w->cfg.prune_chunk == 0)
        w->cfg.prune_chunk = STORE_PRUNE_CHUNK;
    if (w->cfg.prune_delay_ms == 0)
        w->cfg.prune_delay_ms = STORE_WRITER_PRUNE_DELAY_MS;
    for (int g = 0; g < STORE_APP_GROUPS; g++)
        w->count_limit[g] = store_count_limit((enum store_app_group)g);
    w->prune_more = true; /* the first prune runs at start, a chunk at a time */
    /* after a migration (schema 7 rebuilt the table) the old table's pages go back once the first prune is done */
    w->vacuum_more = store_was_migrated(s);
    w->last_prune = w->cfg.now();
    if (w->cfg.idle_release_ms == 0)
        w->cfg.idle_release_ms = STORE_WRITER_IDLE_RELEASE_MS;
    atomic_init(&w->idle_unload_ms, cfg->idle_unload_ms);
    atomic_init(&w->retention_days, cfg->retention_days);
    atomic_init(&w->max_clients, cfg->max_clients);
    atomic_init(&w->prune_asked, false);
    w->last_use_ms = store_writer_mono_ms();
    w->last_failure_log = w->ckpt_last_log = w->last_journal_log = -FAILURE_LOG_EVERY_S;
    int rc = sync_init(w);
    if (rc < 0) {
        free(w);
        return rc;
    }
    w->buf = malloc(STORE_WRITER_BUFFER);
    rc = w->buf ? store_writer_journal_start(w) : -ENOMEM;
    if (rc == 0 && store_cache_size(s, STORE_WRITER_CACHE_KIB) < 0) /* only slower folds */
        log_warn("registry: %s", store_errmsg(s));
    if (rc == 0 && !store_asleep(s)) {
        w->tried_wake = true;
        claim_host(w);
    }
    if (rc == 0)
        publish_counts(w); /* what the registry holds at start: a count at its limit answers at once */
    if (rc < 0) {
        free_writer(w);
        return rc;
    }
    rc = handles_init(w, loop);
    if (rc < 0) {
        if (w->open_handles == 0) {
            free_writer(w);
            return rc;
        }
        uv_handle_t *hs[] = {(uv_handle_t *)&w->async, (uv_handle_t *)&w->check, (uv_handle_t *)&w->idle};
        for (int i = 0, n = w->open_handles; i < n; i++)
            uv_close(hs[i], on_handle_closed); /* the last one frees w; the store stays the caller's */
        return rc;
    }
    /* Without a second connection SQLite checkpoints inside the folds, as before: slower, not wrong. */
    if (store_split_checkpoints(s) < 0)
        log_warn("registry: %s; checkpoints stay in the commit path", store_errmsg(s));
    else if (pthread_create(&w->ckpt_thread, NULL, run_checkpoints, w) == 0)
        w->ckpt_on = true;
    else /* the writer's backstop checkpoints (every STORE_WAL_BACKSTOP_PAGES) still bound the WAL */
        log_warn("registry: cannot start the checkpoint thread; the writer checkpoints by itself");
    rc = pthread_create(&w->thread, NULL, run, w);
    if (rc != 0) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->ckpt_cv);
        pthread_mutex_unlock(&w->mu);
        if (w->ckpt_on)
            pthread_join(w->ckpt_thread, NULL);
        w->db = NULL;
        close_handles(w); /* frees w once closed */
        return -rc;
    }
    *out = w;
    return 0;
}

void store_writer_stop(struct store_writer *w)
{
    w->stopping = true;
    store_writer_on_check(&w->check); /* the last journal write and its answers */
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_cond_signal(&w->ckpt_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    store_writer_unmap(w); /* the journal's ends are final now */
    if (w->ckpt_on)
        pthread_join(w->ckpt_thread, NULL); /* before store_close, which closes its connection */
    store_writer_on_async(&w->async); /* the answers of the last folds */
    store_close(w->db);
    w->db = NULL;
    close_handles(w);
}

void store_writer_set_idle_unload(struct store_writer *w, uint32_t ms)
{
    atomic_store_explicit(&w->idle_unload_ms, ms, memory_order_relaxed);
    pthread_mutex_lock(&w->mu);
    pthread_cond_signal(&w->cv); /* the writer computes its next wake-up again */
    pthread_mutex_unlock(&w->mu);
}

void store_writer_set_limits(struct store_writer *w, uint32_t retention_days, uint64_t max_clients)
{
    uint32_t r0 = atomic_exchange_explicit(&w->retention_days, retention_days, memory_order_relaxed);
    uint64_t m0 = atomic_exchange_explicit(&w->max_clients, max_clients, memory_order_relaxed);
    if (r0 == retention_days && m0 == max_clients)
        return;
    atomic_store_explicit(&w->prune_asked, true, memory_order_relaxed);
    pthread_mutex_lock(&w->mu);
    pthread_cond_signal(&w->cv); /* the writer computes its next wake-up again: a prune is due */
    pthread_mutex_unlock(&w->mu);
}

void store_writer_set_count(struct store_writer *w, bool on)
{
    if (store_writer_counting(w) == on)
        return;
    pthread_mutex_lock(&w->mu);
    if (on) {
        /* counts published in an earlier genuine period may be stale: none is known until the writer counts again
         * after the next fold, which the first answer waiting for a count starts */
        for (int g = 0; g < STORE_APP_GROUPS; g++) {
            w->known[g] = (struct known_count){{0}, 0};
            w->lknown[g] = w->known[g];
        }
    }
    atomic_store_explicit(&w->counting, on, memory_order_release);
    pthread_mutex_unlock(&w->mu);
}
