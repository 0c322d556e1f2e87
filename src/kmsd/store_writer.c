#include "store_writer.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "journal.h"
#include "log.h"

/* Set-up calls (pthread_mutex_init, pthread_cond_init, pthread_create, uv_*_init) are checked in
 * store_writer_start. Lock, unlock, signal, wait, join, uv_async_send and uv_idle_start/stop on objects it set
 * up fail only on a programming error (EINVAL, EDEADLK), which no check here could recover from: their results
 * are not read. */
#define PRUNE_EVERY_S 86400
#define FAILURE_LOG_EVERY_S 60
#define READ_CHUNK (256 * 1024) /* journal bytes read at once by the writer */
#define BACKOFF_MAX_MS 5000 /* a failed fold is retried at least this often */

/* An answer waiting on the loop thread for this iteration's journal write. */
struct lwait {
    store_writer_cb cb;
    void *ctx;
    uint64_t seq;
    uint8_t group;
    int err;
};

/* Genuine mode: an answer waiting for the fold of its record and its group's count. */
struct gwait {
    store_writer_cb cb;
    void *ctx;
    uint64_t seq;
    uint8_t group;
    int err;
    uint32_t count;
    struct gwait *next;
};

struct store_writer {
    struct store *db;
    struct store_writer_cfg cfg;
    uv_loop_t *loop;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    /* background checkpoints (see store_split_checkpoints): the writer asks, the checkpointer thread runs */
    bool ckpt_on;
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_cv;
    bool ckpt_wanted;       /* protected by mu */
    uint32_t ckpt_asked_at; /* WAL frames when the last checkpoint was asked for (writer thread only) */
    int64_t ckpt_last_log;  /* checkpointer thread only */
    int fd[2];              /* the two journal files */
    /* protected by mu */
    uint64_t end[2];          /* bytes of whole records in each file */
    int active;               /* the file the loop appends to (written by the loop only) */
    uint64_t pending;         /* journal bytes the writer has not folded yet */
    uint64_t pending_since;   /* monotonic ms when pending last left 0 */
    uint64_t unrecorded_new;  /* records a journal write lost, not yet added to the persistent counter */
    struct gwait *gw, *gw_tail; /* waiting for a fold */
    size_t n_gw;
    struct gwait *done, *done_tail; /* counted, for the loop thread */
    bool stop;
    struct store_writer_stats stats;
    /* writer thread only */
    int rd;            /* the file being folded */
    uint64_t rd_off;   /* how far */
    uint64_t folded;   /* the last folded sequence number */
    uint64_t failures_unlogged, unrecorded_unsaved;
    int64_t last_failure_log, last_prune;
    uint32_t backoff_ms;
    bool holding;              /* buffers or cache pages held since the last fold */
    uint64_t last_fold_ms;
    struct store_record *recs; /* the fold's decoded records and read buffer, kept while folds follow each */
    uint8_t *rbuf;             /* other, handed back when the writer goes idle (release_memory) */
    /* loop thread only */
    uint8_t *buf;
    size_t buf_len;
    uint64_t next_seq;
    struct lwait *lw, *lw_spare;
    size_t n_lw, n_written, cap_lw, cap_spare; /* lw[0..n_written) already have their write's result */
    bool stopping;
    int64_t last_journal_log;
    uv_check_t check;
    uv_idle_t idle;
    uv_async_t async;
    int open_handles;
};

static uint64_t mono_ms(void)
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

/* ---- reading the journal (start and writer thread) ---- */

/* Decodes the whole records of fd in [*off, end) through buf (READ_CHUNK bytes), calling fn for each until fn
 * returns non-zero; *off advances past every record handed to fn. Returns 0 at end or when fn stopped, 1 when
 * the bytes at *off are not a whole record (torn or corrupt), or -errno when reading fails. */
static int read_records(int fd, uint64_t *off, uint64_t end, uint8_t *buf,
                        int (*fn)(void *ctx, const struct store_record *r, uint64_t seq), void *ctx)
{
    while (*off < end) {
        size_t want = end - *off < READ_CHUNK ? (size_t)(end - *off) : READ_CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)*off);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (got == 0)
            return 1; /* shorter than we were told: treat the rest as torn */
        size_t at = 0;
        for (;;) {
            struct store_record r;
            uint64_t seq;
            size_t used;
            int rc = journal_decode(buf + at, (size_t)got - at, &r, &seq, &used);
            if (rc == KMS_ETRUNC && at > 0)
                break; /* the rest of this record is in the next chunk */
            if (rc < 0)
                return 1;
            at += used;
            *off += used;
            if (fn(ctx, &r, seq))
                return 0;
            if (at == (size_t)got)
                break;
        }
    }
    return 0;
}

struct scan {
    uint64_t first, last, records;
};

static int scan_one(void *ctx, const struct store_record *r, uint64_t seq)
{
    (void)r;
    struct scan *s = ctx;
    if (!s->records++)
        s->first = seq;
    s->last = seq;
    return 0;
}

/* Opens journal file i, finds its whole records and cuts anything after them. Returns 0 or -errno. */
static int open_journal(struct store_writer *w, int i, uint8_t *buf, struct scan *sc)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s%s%d", w->cfg.journal, STORE_JOURNAL_SUFFIX, i);
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;
    w->fd[i] = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, STORE_FILE_MODE);
    if (w->fd[i] < 0) {
        int e = errno;
        log_error("registry: cannot open the journal %s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(w->fd[i], &st) < 0)
        return -errno;
    memset(sc, 0, sizeof *sc);
    uint64_t off = 0;
    int rc = read_records(w->fd[i], &off, (uint64_t)st.st_size, buf, scan_one, sc);
    if (rc < 0)
        return rc;
    if (off < (uint64_t)st.st_size) {
        log_warn("registry: journal %s: cutting %llu bytes that are not a whole record (a write torn by a crash)",
                 path, (unsigned long long)((uint64_t)st.st_size - off));
        if (ftruncate(w->fd[i], (off_t)off) < 0)
            return -errno;
    }
    w->end[i] = off;
    return 0;
}

/* Opens both files and decides where the loop appends, where the writer starts and the next sequence
 * number. Returns 0 or -errno. */
static int journal_start(struct store_writer *w)
{
    uint8_t *buf = malloc(READ_CHUNK);
    if (!buf)
        return -ENOMEM;
    struct scan sc[2];
    int rc = open_journal(w, 0, buf, &sc[0]);
    if (!rc)
        rc = open_journal(w, 1, buf, &sc[1]);
    free(buf);
    if (rc)
        return rc;
    rc = store_journal_seq(w->db, &w->folded);
    if (rc) {
        log_error("registry: %s", store_errmsg(w->db));
        return rc;
    }
    /* the older file is folded first; the loop appends to the newer one (or to the only non-empty one) */
    int older = 0;
    if (sc[0].records && sc[1].records)
        older = sc[1].first < sc[0].first;
    else if (sc[1].records)
        older = 1;
    w->rd = older;
    w->active = sc[0].records && sc[1].records ? !older : older;
    uint64_t last = w->folded;
    for (int i = 0; i < 2; i++)
        if (sc[i].records && sc[i].last > last)
            last = sc[i].last;
    w->next_seq = last + 1;
    w->pending = w->end[0] + w->end[1];
    if (w->pending)
        log_info("registry: folding %llu journal records left by the last run",
                 (unsigned long long)(sc[0].records + sc[1].records));
    return 0;
}

/* ---- the writer thread ---- */

struct batch {
    struct store_record *recs;
    size_t n, cap;
    uint64_t skip_upto; /* records at or below this sequence number are in the registry already */
    uint64_t last;      /* the last sequence number read */
};

static int batch_add(void *ctx, const struct store_record *r, uint64_t seq)
{
    struct batch *b = ctx;
    b->last = seq;
    if (seq > b->skip_upto)
        b->recs[b->n++] = *r;
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

/* Counts the waiting answers whose records are folded and hands them to the loop thread. Called with mu
 * held; fold_rc is the last fold's result (the waiters get it when it failed at stop). */
static void answer_waiters(struct store_writer *w, int fold_rc, bool give_up)
{
    uint32_t counts[STORE_APP_GROUPS];
    bool counted[STORE_APP_GROUPS] = {false};
    struct gwait **pp = &w->gw, *last = NULL, *ready = NULL, *rlast = NULL;
    int64_t now = w->cfg.now();
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
        } else {
            if (!counted[g->group]) {
                int c = store_count(w->db, (enum store_app_group)g->group, now, STORE_COUNT_WINDOW_DAYS,
                                    &counts[g->group]);
                counted[g->group] = c == 0;
                if (c < 0) {
                    counts[g->group] = 0;
                    g->err = c;
                }
            }
            g->count = counts[g->group];
        }
        if (rlast)
            rlast->next = g;
        else
            ready = g;
        rlast = g;
    }
    w->gw_tail = last;
    if (!ready)
        return;
    if (w->done_tail)
        w->done_tail->next = ready;
    else
        w->done = ready;
    w->done_tail = rlast;
    uv_async_send(&w->async);
}

/* Folds up to STORE_WRITER_MAX_FOLD records from the current file in one transaction, decoding them
 * STORE_WRITER_MAX_BATCH at a time (without the lock). Returns 0 or a negative code; *consumed gets the
 * journal bytes the fold took (0 when it failed: it is retried from the same place). */
static int fold_once(struct store_writer *w, uint64_t end, uint64_t *consumed)
{
    *consumed = 0;
    if (!w->recs) /* allocated once per busy period: fresh pages each fold cost a page fault per 4 KiB */
        w->recs = malloc(STORE_WRITER_MAX_BATCH * sizeof *w->recs);
    if (!w->rbuf)
        w->rbuf = malloc(READ_CHUNK);
    struct batch b = {w->recs, 0, STORE_WRITER_MAX_BATCH, w->folded, w->folded};
    uint8_t *buf = w->rbuf;
    int rc = b.recs && buf ? 0 : -ENOMEM;
    uint64_t off = w->rd_off;
    size_t total = 0;
    bool begun = false;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!rc && off < end && total < STORE_WRITER_MAX_FOLD) {
        b.n = 0;
        int r = read_records(w->fd[w->rd], &off, end, buf, batch_add, &b);
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
    store_release_memory(w->db);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    pthread_mutex_lock(&w->mu);
    w->stats.idle_releases++;
    pthread_mutex_unlock(&w->mu);
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

static void log_fold_failure(struct store_writer *w)
{
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

/* Whether the writer should fold now (mu held). */
static bool fold_due(const struct store_writer *w, uint64_t now_ms)
{
    if (!w->pending)
        return false;
    return w->stop || w->gw || w->pending >= STORE_WRITER_FOLD_BYTES ||
           now_ms - w->pending_since >= w->cfg.fold_linger_ms;
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

static void *run(void *arg)
{
    struct store_writer *w = arg;
    prune(w, w->cfg.now());
    pthread_mutex_lock(&w->mu);
    for (;;) {
        maybe_rotate(w);
        uint64_t now = mono_ms();
        if (!fold_due(w, now)) {
            if (w->stop)
                break;
            uint64_t wake = w->pending ? w->pending_since + w->cfg.fold_linger_ms
                            : w->holding ? w->last_fold_ms + w->cfg.idle_release_ms
                                         : now + 60000;
            wait_until(w, wake > now ? wake : now);
            if (!w->pending && w->holding && mono_ms() - w->last_fold_ms >= w->cfg.idle_release_ms) {
                /* idle: the buffers and the page cache the folds filled go back (docs/performance.md) */
                w->holding = false;
                pthread_mutex_unlock(&w->mu);
                release_memory(w);
                pthread_mutex_lock(&w->mu);
            }
            if (!w->pending && w->cfg.now() - w->last_prune >= PRUNE_EVERY_S) {
                pthread_mutex_unlock(&w->mu);
                prune(w, w->cfg.now());
                pthread_mutex_lock(&w->mu);
            }
            continue;
        }
        uint64_t end = w->end[w->rd];
        pthread_mutex_unlock(&w->mu);
        uint64_t consumed = 0;
        int rc = fold_once(w, end, &consumed);
        if (rc == 0)
            save_unrecorded(w);
        else
            log_fold_failure(w);
        pthread_mutex_lock(&w->mu);
        w->pending -= consumed <= w->pending ? consumed : w->pending;
        if (w->pending && consumed) /* what came during the fold waits its linger, unless it is already due */
            w->pending_since = mono_ms();
        if (rc == 0 && consumed) {
            w->backoff_ms = 0;
            w->holding = true;
            w->last_fold_ms = mono_ms();
            answer_waiters(w, 0, false);
            continue;
        }
        if (rc == 0) /* nothing to take although bytes are pending (a file that could not be emptied): wait */
            rc = -EAGAIN;
        if (w->stop) { /* give up: what is unfolded stays in the journal for the next start */
            answer_waiters(w, rc, true);
            break;
        }
        w->backoff_ms = w->backoff_ms ? (w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2)
                                      : 100;
        wait_until(w, mono_ms() + w->backoff_ms);
    }
    if (!w->pending) /* everything is in the registry: both files can go */
        for (int i = 0; i < 2; i++)
            if (w->end[i] && ftruncate(w->fd[i], 0) == 0)
                w->end[i] = 0;
    answer_waiters(w, -EIO, true);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* The checkpointer thread: copies the WAL back into the database when the writer asks, so that the fsyncs
 * of a checkpoint never hold up a fold. */
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

/* ---- the loop thread ---- */

/* Loop thread: run the callbacks of counted answers (genuine mode). */
static void on_async(uv_async_t *a)
{
    struct store_writer *w = a->data;
    pthread_mutex_lock(&w->mu);
    struct gwait *list = w->done;
    w->done = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (list) {
        struct gwait *next = list->next;
        list->cb(list->ctx, list->err, list->count);
        free(list);
        list = next;
    }
}

/* Writes the buffered records to the active journal file, all or none (a partial write is cut back). Gives
 * the waiters of those records the result. */
static void journal_write(struct store_writer *w)
{
    if (!w->buf_len) {
        return;
    }
    int fd = w->fd[w->active];
    uint64_t start = w->end[w->active];
    size_t done = 0;
    int err = 0;
    while (done < w->buf_len) {
        ssize_t n = write(fd, w->buf + done, w->buf_len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? -errno : -EIO;
            break;
        }
        done += (size_t)n;
    }
    size_t records = w->n_lw - w->n_written;
    if (err && done && ftruncate(fd, (off_t)start) < 0) /* a torn record would hide every later one */
        log_error("registry: cannot cut a partial journal write: %s", strerror(errno));
    for (size_t i = w->n_written; i < w->n_lw; i++)
        w->lw[i].err = err;
    w->n_written = w->n_lw;
    pthread_mutex_lock(&w->mu);
    if (err) {
        w->unrecorded_new += records;
        w->stats.journal_failed += records;
    } else {
        w->end[w->active] += w->buf_len;
        w->stats.journaled += records;
        bool was_idle = !w->pending;
        w->pending += w->buf_len;
        if (was_idle)
            w->pending_since = mono_ms();
        if (was_idle || w->pending >= STORE_WRITER_FOLD_BYTES)
            pthread_cond_signal(&w->cv);
        if (w->end[w->active] >= STORE_WRITER_ROTATE_BYTES && w->end[!w->active] == 0)
            w->active = !w->active;
    }
    pthread_mutex_unlock(&w->mu);
    w->buf_len = 0;
    if (err) {
        int64_t now = w->cfg.now();
        if (now - w->last_journal_log >= FAILURE_LOG_EVERY_S) {
            log_error("registry: %zu activations could not be recorded (answered anyway): cannot write the "
                      "journal: %s",
                      records, strerror(-err));
            w->last_journal_log = now;
        }
    }
}

/* After the iteration's reads: one journal write, then the answers (or, genuine mode, the wait for a count). */
static void on_check(uv_check_t *h)
{
    struct store_writer *w = h->data;
    if (!w->n_lw) {
        (void)uv_idle_stop(&w->idle);
        return;
    }
    journal_write(w);
    /* the callbacks may submit more (PDUs that waited behind this one): they go to a fresh list */
    struct lwait *list = w->lw;
    size_t n = w->n_lw, cap = w->cap_lw;
    w->lw = w->lw_spare;
    w->cap_lw = w->cap_spare;
    w->n_lw = w->n_written = 0;
    struct gwait *head = NULL, **tail = &head, *t = NULL;
    size_t handed = 0;
    for (size_t i = 0; i < n; i++) {
        struct lwait *l = &list[i];
        struct gwait *g = w->cfg.count && !l->err ? malloc(sizeof *g) : NULL;
        if (!g) {
            l->cb(l->ctx, l->err ? l->err : w->cfg.count ? -ENOMEM : 0, 0);
            continue;
        }
        *g = (struct gwait){l->cb, l->ctx, l->seq, l->group, 0, 0, NULL};
        *tail = t = g;
        tail = &g->next;
        handed++;
    }
    if (head) {
        pthread_mutex_lock(&w->mu);
        if (w->gw_tail)
            w->gw_tail->next = head;
        else
            w->gw = head;
        w->gw_tail = t;
        w->n_gw += handed;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    w->lw_spare = list;
    w->cap_spare = cap;
    if (!w->n_lw)
        (void)uv_idle_stop(&w->idle);
}

static void on_idle(uv_idle_t *h)
{
    (void)h; /* only keeps the loop from sleeping in poll while answers wait for on_check */
}

int store_writer_submit(struct store_writer *w, const struct store_record *rec, store_writer_cb cb, void *ctx)
{
    if (w->stopping)
        return -EAGAIN;
    if (w->cfg.count) {
        pthread_mutex_lock(&w->mu);
        bool full = w->n_gw + w->n_lw >= w->cfg.max_queue;
        pthread_mutex_unlock(&w->mu);
        if (full)
            return -EAGAIN;
    }
    if (w->n_lw == w->cap_lw) {
        size_t cap = w->cap_lw ? w->cap_lw * 2 : 64;
        struct lwait *p = realloc(w->lw, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        w->lw = p;
        w->cap_lw = cap;
    }
    if (STORE_WRITER_BUFFER - w->buf_len < JOURNAL_RECORD_MAX)
        journal_write(w); /* a full buffer goes now; its answers still wait for on_check */
    long len = journal_encode(rec, w->next_seq, w->buf + w->buf_len, STORE_WRITER_BUFFER - w->buf_len);
    if (len < 0)
        return (int)len;
    w->buf_len += (size_t)len;
    w->lw[w->n_lw++] = (struct lwait){cb, ctx, w->next_seq++, (uint8_t)store_app_group_of(&rec->app_id), 0};
    if (w->n_lw == 1)
        (void)uv_idle_start(&w->idle, on_idle);
    return 0;
}

void store_writer_stats(struct store_writer *w, struct store_writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

/* ---- start and stop ---- */

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
    int rc = uv_async_init(loop, &w->async, on_async);
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
    return uv_check_start(&w->check, on_check);
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
    w->loop = loop;
    if (w->cfg.max_queue == 0)
        w->cfg.max_queue = STORE_WRITER_MAX_QUEUE;
    if (w->cfg.fold_linger_ms == 0)
        w->cfg.fold_linger_ms = STORE_WRITER_FOLD_LINGER_MS;
    if (w->cfg.idle_release_ms == 0)
        w->cfg.idle_release_ms = STORE_WRITER_IDLE_RELEASE_MS;
    w->last_failure_log = w->ckpt_last_log = w->last_journal_log = -FAILURE_LOG_EVERY_S;
    int rc = sync_init(w);
    if (rc < 0) {
        free(w);
        return rc;
    }
    w->buf = malloc(STORE_WRITER_BUFFER);
    rc = w->buf ? journal_start(w) : -ENOMEM;
    if (rc == 0 && store_cache_size(s, STORE_WRITER_CACHE_KIB) < 0) /* only slower folds */
        log_warn("registry: %s", store_errmsg(s));
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
    on_check(&w->check); /* the last journal write and its answers */
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_cond_signal(&w->ckpt_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    if (w->ckpt_on)
        pthread_join(w->ckpt_thread, NULL); /* before store_close, which closes its connection */
    on_async(&w->async); /* the answers of the last folds */
    store_close(w->db);
    w->db = NULL;
    close_handles(w);
}
