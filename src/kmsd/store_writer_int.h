/*
 * store_writer_int.h — what the files of store_writer share (see store_writer.h): the writer's state, and the
 * functions one file gives the others.
 *   store_writer.c          the writer thread (folds, genuine counts, checkpoints, pruning), start and stop
 *   store_writer_journal.c  the journal files: reading whole records, opening and scanning at start
 *   store_writer_loop.c     the loop thread's side: submit, the iteration's journal write, the answers
 *
 * Set-up calls (pthread_mutex_init, pthread_cond_init, pthread_create, uv_*_init) are checked in
 * store_writer_start. Lock, unlock, signal, wait, join, uv_async_send and uv_idle_start/stop on objects it set
 * up fail only on a programming error (EINVAL, EDEADLK), which no check here could recover from: their results
 * are not read.
 */
#ifndef KMSD_STORE_WRITER_INT_H
#define KMSD_STORE_WRITER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store_writer.h"

#define FAILURE_LOG_EVERY_S 60
#define READ_CHUNK (256 * 1024) /* journal bytes read at once by the writer */


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

/* A group's genuine count as the writer last published it: the loop answers from it at once while it is at the
 * limit and holds (store_count), else the answer waits for the fold of its record and a count taken after it. */
struct known_count {
    struct store_count c;
    int err; /* the count failed: answers that wait get this */
};

struct store_writer {
    struct store *db;
    struct store_writer_cfg cfg;
    _Atomic bool counting; /* genuine mode: cfg.count at start, then store_writer_set_count (a reload) */
    uv_loop_t *loop;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    /* background checkpoints (see store_split_checkpoints): the writer asks, the checkpointer thread runs */
    bool ckpt_on;
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_cv;
    bool ckpt_wanted;       /* protected by mu */
    bool ckpt_busy;         /* protected by mu: the checkpointer is in store_checkpoint (the store may not sleep) */
    uint32_t ckpt_asked_at; /* WAL frames when the last checkpoint was asked for (writer thread only) */
    int64_t ckpt_last_log;  /* checkpointer thread only */
    int fd[2];              /* the two journal files */
    /* protected by mu */
    uint64_t end[2];          /* bytes of whole records in each file */
    int active;               /* the file the loop appends to (written by the loop only) */
    uint64_t pending;         /* journal bytes the writer has not folded yet */
    uint64_t pending_since;   /* monotonic ms when pending last left 0 */
    uint64_t backlog;         /* of pending, bytes that were already there when the last fold began: due at once */
    uint64_t unrecorded_new;  /* records a journal write lost, not yet added to the persistent counter */
    struct gwait *gw, *gw_tail; /* waiting for a fold */
    size_t n_gw;
    struct gwait *done, *done_tail; /* counted, for the loop thread */
    struct known_count known[STORE_APP_GROUPS]; /* genuine mode: the counts after the last fold or prune */
    bool stop;
    struct store_writer_stats stats;
    /* writer thread only */
    int rd;            /* the file being folded */
    uint64_t rd_off;   /* how far */
    uint64_t folded;   /* the last folded sequence number */
    bool folded_known; /* folded is the registry's (false: a registry not reached at start; read at the first wake) */
    uint64_t first_seq; /* the first number this run gives a record (the first wake never folds from past it) */
    bool tried_wake;    /* a wake was tried (or the registry was open at start): later failures are retried */
    _Atomic int fatal;  /* the first wake's configuration error, for cfg.on_fatal on the loop thread (0: none) */
    bool fatal_told;    /* loop thread: cfg.on_fatal was called */
    uint64_t failures_unlogged, unrecorded_unsaved;
    int64_t last_failure_log, last_prune;
    uint32_t count_limit[STORE_APP_GROUPS]; /* store_count_limit(g), set before the thread starts */
    bool prune_more;        /* a prune is under way: more chunks to delete */
    bool vacuum_more;       /* free pages to give back after a prune */
    uint64_t pruned_run;    /* rows the prune under way has deleted */
    uint64_t maint_after_ms; /* monotonic ms before which no prune or vacuum step starts (the pause after one) */
    bool maint_begun;        /* the first maintenance step (a wake only, then the prune's delay) is done */
    uint32_t backoff_ms;
    uint64_t failing_since_ms; /* monotonic ms of the first of the folds failing now (0: the last one worked) */
    uint64_t last_fold_ms;
    uint64_t last_use_ms;   /* monotonic ms of the last fold, maintenance step or wake (--registry-idle-unload) */
    _Atomic uint32_t idle_unload_ms; /* cfg.idle_unload_ms, changed by store_writer_set_idle_unload (0: never) */
    _Atomic uint32_t retention_days; /* cfg.retention_days and cfg.max_clients, changed by store_writer_set_limits */
    _Atomic uint64_t max_clients;
    atomic_bool prune_asked;         /* store_writer_set_limits changed them: a prune starts at the next chance */
    struct store_record *recs; /* the fold's decoded records and read buffer, kept while folds follow each */
                               /* (recs != NULL: memory held since the last fold, handed back when idle) */
    size_t recs_ready;         /* records of recs whose pages are resident (prefault, STORE_WRITER_PREFAULT_RECS) */
    uint8_t *rbuf;             /* other, handed back when the writer goes idle (release_memory) */
    /* loop thread only */
    uint8_t *buf;
    size_t buf_len;
    uint8_t *map;      /* the window onto the active file (NULL: none yet, or pwrite(2) from now on) */
    int map_file;      /* the file it maps */
    uint64_t map_off;  /* where in the file it starts (a multiple of the page size) */
    size_t map_len;
    uint64_t alloc[2]; /* each file's size as the loop made it (whole records, then allocated zeros) */
    bool no_map;       /* fallocate(2) or mmap(2) is not available: pwrite(2) from now on */
    _Atomic bool unmap_wanted; /* the writer went idle: the loop drops the window (its pages leave kmsd's RSS) */
    uint64_t next_seq;
    struct lwait *lw, *lw_spare;
    size_t n_lw, n_written, cap_lw, cap_spare; /* lw[0..n_written) already have their write's result */
    bool stopping;
    int64_t last_journal_log;
    struct known_count lknown[STORE_APP_GROUPS]; /* known, as read at the last journal write */
    uv_check_t check;
    uv_idle_t idle;
    uv_async_t async;
    int open_handles;
};

/* Appends the list first..last to the list *head..*tail (mu held). */
static inline void store_writer_append(struct gwait **head, struct gwait **tail, struct gwait *first,
                                       struct gwait *last)
{
    if (*tail)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
}

/* Monotonic milliseconds. */
uint64_t store_writer_mono_ms(void);

/* Decodes the whole records of fd in [*off, end) through buf (READ_CHUNK bytes), calling fn for each until fn
 * returns non-zero: positive, the record is taken and the reading stops; negative, it stops before the record.
 * *off advances past every record taken. Returns 0 at end or when fn stopped, 1 when the bytes at *off are not a
 * whole record (torn or corrupt), or -errno when reading fails. */
int store_writer_read_records(int fd, uint64_t *off, uint64_t end, uint8_t *buf,
                              int (*fn)(void *ctx, const struct store_record *r, uint64_t seq), void *ctx);
/* Opens both journal files (cutting a torn tail) and decides where the loop appends, where the writer starts
 * and the next sequence number, from the registry's last folded one; a registry not reached at start (a PostgreSQL
 * server down) gives none, and the numbers go on from the journal's last or the one saved at the last clean stop
 * (store_writer_save_seq), which the registry's cannot exceed. Returns 0 or -errno. */
int store_writer_journal_start(struct store_writer *w);
/* Saves the last folded sequence number beside the journal (<journal>-activations.seq) at a clean stop, before the
 * emptied files forget it. Best effort: logged when it fails. */
void store_writer_save_seq(struct store_writer *w);

/* Loop thread: drops the window onto the journal and cuts each file's allocated zeros after its last record (a
 * clean stop, after the writer thread has ended). */
void store_writer_unmap(struct store_writer *w);

/* Loop thread: runs the callbacks of counted answers (genuine mode); after the iteration's reads, the journal
 * write and the answers; the idle handle's no-op. */
void store_writer_on_async(uv_async_t *a);
void store_writer_on_check(uv_check_t *h);
void store_writer_on_idle(uv_idle_t *h);

/* Whether the writer counts (genuine mode) now: read by the loop thread and the writer thread. */
static inline bool store_writer_counting(struct store_writer *w)
{
    return atomic_load_explicit(&w->counting, memory_order_acquire);
}

#endif
