/* store_writer_loop — the loop thread's side of the registry writer: submit, the iteration's journal write
 * through the window onto the journal file (store_writer.h) and the answers (store_writer_int.h). */
#define _GNU_SOURCE /* fallocate */
#include "store_writer_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "prefault.h"

static void drop_window(struct store_writer *w)
{
    if (w->map)
        (void)munmap(w->map, w->map_len); /* fails only on bad arguments */
    w->map = NULL;
}

/* Loop thread: drop the window when the writer has gone idle; run the callbacks of counted answers (genuine mode). */
void store_writer_on_async(uv_async_t *a)
{
    struct store_writer *w = a->data;
    if (atomic_exchange_explicit(&w->unmap_wanted, false, memory_order_relaxed))
        drop_window(w);
    int fatal = atomic_load(&w->fatal);
    if (fatal && !w->fatal_told && w->cfg.on_fatal) {
        w->fatal_told = true;
        w->cfg.on_fatal(w->cfg.fatal_ctx, fatal);
    }
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

static uint64_t round_up(uint64_t v, uint64_t step)
{
    return (v + step - 1) / step * step;
}

enum { COPIED, PWRITE_ONCE, PWRITE_FROM_NOW };

/* Copies w->buf into file f at offset at through the window, allocating the file ahead and moving the window as
 * needed. PWRITE_ONCE: the allocation failed (a full disk, say; pwrite(2) reports it or needs less);
 * PWRITE_FROM_NOW: this file system cannot allocate or map files. */
static int map_copy(struct store_writer *w, int f, uint64_t at)
{
    uint64_t end = at + w->buf_len;
    if (end > w->alloc[f]) {
        uint64_t want = round_up(end, STORE_WRITER_EXTEND_BYTES);
        if (fallocate(w->fd[f], 0, (off_t)w->alloc[f], (off_t)(want - w->alloc[f])) != 0) {
            if (errno != EOPNOTSUPP && errno != ENOSYS)
                return PWRITE_ONCE;
            log_debug("registry: the journal's file system cannot allocate ahead: written with pwrite(2)");
            return PWRITE_FROM_NOW;
        }
        w->alloc[f] = want;
    }
    if (!w->map || w->map_file != f || at < w->map_off || end > w->map_off + w->map_len) {
        drop_window(w);
        long ps = sysconf(_SC_PAGESIZE);
        uint64_t page = ps > 0 ? (uint64_t)ps : 4096;
        uint64_t base = at / page * page;
        uint64_t len = round_up(end - base > STORE_WRITER_WINDOW ? end - base : STORE_WRITER_WINDOW, page);
        if (base + len > w->alloc[f]) /* never past the file's end, where a store would be a SIGBUS */
            len = w->alloc[f] - base;
        void *m = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd[f], (off_t)base);
        if (m == MAP_FAILED) {
            log_debug("registry: cannot map the journal (%s): written with pwrite(2)", strerror(errno));
            return PWRITE_FROM_NOW;
        }
        prefault(m, (size_t)len); /* one call instead of a fault per page; best effort */
        w->map = m;
        w->map_file = f;
        w->map_off = base;
        w->map_len = (size_t)len;
    }
    memcpy(w->map + (at - w->map_off), w->buf, w->buf_len);
    return COPIED;
}

/* Writes w->buf into file f at offset at with pwrite(2). Returns 0 or a negative code; a partial write is cut back
 * (a torn record would hide every later one). */
static int pwrite_buf(struct store_writer *w, int f, uint64_t at)
{
    size_t done = 0;
    int err = 0;
    while (done < w->buf_len) {
        ssize_t n = pwrite(w->fd[f], w->buf + done, w->buf_len - done, (off_t)(at + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? -errno : -EIO;
            break;
        }
        done += (size_t)n;
    }
    if (err && done) {
        drop_window(w); /* it may reach past the end cut here */
        if (ftruncate(w->fd[f], (off_t)at) < 0)
            log_error("registry: cannot cut a partial journal write: %s", strerror(errno));
        w->alloc[f] = at;
    } else if (!err && at + done > w->alloc[f]) {
        w->alloc[f] = at + done;
    }
    return err;
}

void store_writer_unmap(struct store_writer *w)
{
    drop_window(w);
    for (int i = 0; i < 2; i++)
        if (w->fd[i] >= 0 && w->alloc[i] > w->end[i] && ftruncate(w->fd[i], (off_t)w->end[i]) == 0)
            w->alloc[i] = w->end[i]; /* else the next start cuts the zeros */
}

/* Writes the buffered records to the active journal file, all or none. Gives the waiters of those records the
 * result. */
static void journal_write(struct store_writer *w)
{
    if (!w->buf_len) {
        return;
    }
    int f = w->active;
    uint64_t start = w->end[f]; /* the loop alone moves the active file's end */
    int err = 0, how = w->no_map ? PWRITE_ONCE : map_copy(w, f, start);
    if (how == PWRITE_FROM_NOW) {
        drop_window(w);
        w->no_map = true;
    }
    if (how != COPIED)
        err = pwrite_buf(w, f, start);
    size_t records = w->n_lw - w->n_written;
    for (size_t i = w->n_written; i < w->n_lw; i++)
        w->lw[i].err = err;
    w->n_written = w->n_lw;
    pthread_mutex_lock(&w->mu);
    if (store_writer_counting(w))
        memcpy(w->lknown, w->known, sizeof w->known);
    if (err) {
        w->unrecorded_new += records;
        w->stats.journal_failed += records;
    } else {
        w->end[w->active] += w->buf_len;
        w->stats.journaled += records;
        bool was_idle = !w->pending;
        w->pending += w->buf_len;
        if (was_idle)
            w->pending_since = store_writer_mono_ms();
        if (was_idle || w->pending >= w->cfg.fold_bytes)
            pthread_cond_signal(&w->cv);
        if (w->end[w->active] >= w->cfg.rotate_bytes && w->end[!w->active] == 0) {
            w->active = !w->active;
            w->alloc[w->active] = 0; /* the writer emptied it (maybe_rotate) */
        }
    }
    pthread_mutex_unlock(&w->mu);
    if (w->map && w->map_file != w->active)
        drop_window(w); /* before the writer empties that file */
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
void store_writer_on_check(uv_check_t *h)
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
    size_t handed = 0, known = 0;
    int64_t now = store_writer_counting(w) ? w->cfg.now() : 0;
    for (size_t i = 0; i < n; i++) {
        struct lwait *l = &list[i];
        const struct known_count *k = &w->lknown[l->group];
        if (store_writer_counting(w) && !l->err && !k->err && k->c.count >= w->count_limit[l->group] && now < k->c.holds_until) {
            known++; /* the count is at its limit and holds: this record cannot change the answer */
            l->cb(l->ctx, 0, k->c.count);
            continue;
        }
        struct gwait *g = store_writer_counting(w) && !l->err ? malloc(sizeof *g) : NULL;
        if (!g) {
            l->cb(l->ctx, l->err ? l->err : store_writer_counting(w) ? -ENOMEM : 0, 0);
            continue;
        }
        *g = (struct gwait){l->cb, l->ctx, l->seq, l->group, 0, 0, NULL};
        *tail = t = g;
        tail = &g->next;
        handed++;
    }
    if (head || known) {
        pthread_mutex_lock(&w->mu);
        if (head) {
            store_writer_append(&w->gw, &w->gw_tail, head, t);
            w->n_gw += handed;
            pthread_cond_signal(&w->cv);
        }
        w->stats.count_waits += handed;
        w->stats.count_known += known;
        pthread_mutex_unlock(&w->mu);
    }
    w->lw_spare = list;
    w->cap_spare = cap;
    if (!w->n_lw)
        (void)uv_idle_stop(&w->idle);
}

void store_writer_on_idle(uv_idle_t *h)
{
    (void)h; /* only keeps the loop from sleeping in poll while answers wait for on_check */
}

int store_writer_submit(struct store_writer *w, const struct store_record *rec, store_writer_cb cb, void *ctx)
{
    if (w->stopping)
        return -EAGAIN;
    if (store_writer_counting(w)) {
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
        (void)uv_idle_start(&w->idle, store_writer_on_idle);
    return 0;
}

void store_writer_stats(struct store_writer *w, struct store_writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}
