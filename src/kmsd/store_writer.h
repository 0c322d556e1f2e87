/*
 * store_writer — the registry's journal and its writer thread, so that database work never blocks the event
 * loop and never stands between an activation and its answer.
 *
 * The loop thread submits records. Each is appended to an in-memory buffer; once per loop iteration (a
 * uv_check handle, after every read of that iteration) the buffer is copied into the journal file through a
 * small shared mapping of it (STORE_WRITER_WINDOW bytes, moved along the file; the file allocated ahead in
 * STORE_WRITER_EXTEND_BYTES steps with fallocate(2), so that a full disk is an error there and never a SIGBUS at
 * the copy), and only then are the records' callbacks run, where the replies are sent: every answered activation
 * is in the journal first, and a record in the journal survives kill -9 of kmsd (journal.h: the bytes are in the
 * kernel's page cache once copied, as after write(2)). The mapping saves the write(2) per loop iteration, 0.7 to
 * 1.5 µs of each activation at one in flight (docs/performance.md). Where the file cannot be allocated or mapped
 * (a file system without fallocate, no address space), the buffer goes in one pwrite(2) instead. The allocated
 * zeros after the last record are cut at a clean stop, and silently at the next start after a crash. The files are
 * kmsd's alone: one cut short under a running kmsd would end it with SIGBUS at the next copy (as cutting the
 * database would corrupt it); kmsd itself cuts a file only once the loop has turned to the other.
 *
 * The writer thread folds the journal into SQLite in large transactions (STORE_WRITER_FOLD_LINGER_MS after the
 * first unfolded record, or on a busy host at cfg.fold_bytes, STORE_WRITER_FOLD_BYTES, or STORE_WRITER_BUSY_LINGER_MS
 * after it; at once at stop or when an answer waits for a count) in client-key order, and stores the last folded
 * sequence number in the same transaction; at start it folds whatever a crash left. Two journal files take turns (<db>-activations.0
 * and .1, STORE_JOURNAL_SUFFIX in store.h): the loop appends to one; once it passes cfg.rotate_bytes
 * (STORE_WRITER_ROTATE_BYTES) and the other is empty, the loop turns to the other, and the writer empties the first
 * when all of it is folded. Neither thread ever waits for the other on this path.
 *
 * Genuine counting (cfg.count): the answer needs the count of distinct clients with this record in it. The
 * count stops at its limit (2N, store_count_limit), as a genuine host's does; the writer publishes each group's
 * count after every fold and prune. While a group's count is at the limit and holds (store_count: until the
 * oldest counted client leaves the window), no record can change it, and the answer goes out at the journal
 * write as in fixed mode. Otherwise (a registry with fewer than 2N clients in the window) the record waits for
 * the writer's next fold (started at once) and a count taken after it; the callback runs from a uv_async_t on
 * the loop thread then. A reload may switch counting on or off (store_writer_set_count); switched on, the counts of
 * an earlier genuine period are forgotten, so the first answers wait for a fold and a fresh count.
 *
 * Faults at run time: a journal write that fails (disk full, I/O error) answers the activation anyway with the
 * error (counted unrecorded, persistently once recording resumes), logged at most once a minute. A fold that
 * fails (database locked, full, read-only) loses nothing: the records stay in the journal and the fold is
 * retried with backoff, logged at most once a minute. The writer also prunes at start (cfg.prune_delay_ms after it
 * has reached the registry, so that the first answers waiting for a count are not behind it) and once a day, in chunks
 * of cfg.prune_chunk rows (each its own transaction, a fold goes first whenever one is due), and then gives the
 * freed pages back (store_vacuum_step).
 *
 * Idle: after cfg.idle_release_ms without a fold the writer hands its buffers and page cache back; after
 * cfg.idle_unload_ms without a fold or a prune step it closes the registry (store_sleep: the library unloads when the
 * HTTP server's connection is closed too) and opens it again (store_wake) before the next fold or prune step. A
 * failed wake is a failed fold: the records stay in the journal and it is retried with backoff.
 */
#ifndef KMSD_STORE_WRITER_H
#define KMSD_STORE_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "metrics.h"
#include "store.h"

#define STORE_WRITER_MAX_FOLD 131072         /* records folded in one transaction at most */
#define STORE_WRITER_MAX_BATCH 16384         /* records decoded (and sorted by key) at once within a fold: 9 MB */
#define STORE_WRITER_PREFAULT_RECS 256       /* the batch's pages made resident this many records at a time (prefault.h) */
#define STORE_WRITER_MAX_QUEUE 65536         /* genuine mode: answers waiting for a count at most */
#define STORE_WRITER_COUNT_PATIENCE_MS 2000  /* genuine mode: how long answers wait for folds that keep failing */
/* The callback's err (positive) for an answer whose record is in the journal but could not be counted: the folds
 * failed for STORE_WRITER_COUNT_PATIENCE_MS (the registry unreachable). It is answered with the count known before; the
 * record is folded once the registry works again. */
#define STORE_WRITER_UNCOUNTED 1
#define STORE_WRITER_FOLD_LINGER_MS 1000     /* a fold starts at the latest this long after the first record, */
                                             /* unless the host is busy: */
/* A busy host (STORE_WRITER_BUSY_BYTES or more unfolded when the linger is over, about 5,000 activations a second)
 * folds at STORE_WRITER_FOLD_BYTES or STORE_WRITER_BUSY_LINGER_MS after the first record: a million-row registry's
 * random-order indexes (the client key's, the workstation's) have most of their leaves written by any fold of
 * thousands of records, so the pages written per record fall as the fold grows (docs/performance.md, "Larger
 * folds when busy"). The registry is then up to that long behind the answers. */
#define STORE_WRITER_BUSY_BYTES (1024 * 1024)
#define STORE_WRITER_BUSY_LINGER_MS 4000
#define STORE_WRITER_FOLD_BYTES (16 * 1024 * 1024) /* unfolded journal bytes that start a fold at once */
#define STORE_WRITER_ROTATE_BYTES (32 * 1024 * 1024) /* journal file size that turns the loop to the other */
#define STORE_WRITER_CACHE_KIB 32768         /* the writer's SQLite page cache at most, handed back when idle */
#define STORE_WRITER_IDLE_RELEASE_MS 5000    /* without a fold this long, the writer hands its memory back */
#define STORE_WRITER_IDLE_UNLOAD_MS 120000   /* --registry-idle-unload's default: without a fold this long, the */
                                             /* registry's connections close (SQLite unloads when nobody uses it) */
#define STORE_WRITER_BUFFER 65536            /* loop-side bytes copied into the journal at once at most */
#define STORE_WRITER_WINDOW 65536            /* the loop's mapping of the journal file, dropped when the writer idles */
#define STORE_WRITER_EXTEND_BYTES (1024 * 1024) /* the journal file is allocated ahead in steps of this */
#define STORE_WRITER_PRUNE_DELAY_MS 1000     /* the prune at start begins this long after the registry is reached: */
                                             /* the first folds (answers waiting for a genuine count) go first */

struct store_writer_cfg {
    bool count;              /* count distinct clients after each fold (genuine mode) */
    uint32_t retention_days;
    uint64_t max_clients;
    uint32_t max_queue;      /* genuine mode: answers waiting for a count at most; 0: STORE_WRITER_MAX_QUEUE */
    const char *journal;     /* the journal's path prefix (the database's path), required */
    uint32_t fold_linger_ms; /* 0: STORE_WRITER_FOLD_LINGER_MS */
    uint32_t idle_release_ms; /* 0: STORE_WRITER_IDLE_RELEASE_MS */
    uint32_t idle_unload_ms;  /* without a fold or maintenance step this long, store_sleep (0: never) */
    uint32_t max_fold;        /* records per fold transaction at most; 0: STORE_WRITER_MAX_FOLD */
    uint32_t fold_bytes;      /* unfolded journal bytes that start a fold at once; 0: STORE_WRITER_FOLD_BYTES */
    uint32_t rotate_bytes;    /* journal file size that turns the loop to the other; 0: STORE_WRITER_ROTATE_BYTES */
    uint32_t prune_chunk;     /* rows deleted per prune transaction at most; 0: STORE_PRUNE_CHUNK */
    uint32_t prune_delay_ms;  /* the prune at start waits this long after the first wake; 0: STORE_WRITER_PRUNE_DELAY_MS */
    int64_t (*now)(void);    /* the clock (Unix seconds) */
    struct metrics *metrics; /* NULL, or where fold latency and failures are counted */
    /* A registry opened asleep (store_open_deferred) is woken at once; when that first attempt fails for a reason
     * other than an unreachable server (-ENOTCONN: retried, and said once) — a refused password, a newer schema, a
     * bad URI — this is called on the loop thread with the code, the reason logged: a configuration to fix. NULL:
     * the writer retries as for any failure. */
    void (*on_fatal)(void *ctx, int err);
    void *fatal_ctx;
};

/* Called on the loop thread: err is 0 when the record is in the journal (and, in genuine mode, folded); count
 * is the group's distinct clients in the counting window (valid in genuine mode when err is 0); STORE_WRITER_UNCOUNTED
 * when it is in the journal but not counted; negative when it is not recorded. */
typedef void (*store_writer_cb)(void *ctx, int err, uint32_t count);

struct store_writer_stats {
    uint64_t committed, failed, batches; /* records folded, fold failures (records kept), transactions */
    uint64_t journaled, journal_failed;  /* records written to the journal, records a journal write lost */
    uint64_t last_failure_time;
    uint64_t idle_releases; /* times the writer handed its page cache and buffers back */
    uint64_t sleeps, wakes; /* times the writer closed the registry while idle, and opened it again */
    uint64_t count_waits;   /* genuine mode: answers that waited for a fold and a count */
    uint64_t count_known;   /* genuine mode: answers given at the journal write from a count at its limit */
    uint64_t count_stale;   /* genuine mode: answers that waited STORE_WRITER_COUNT_PATIENCE_MS for a failing fold and
                             * went out with the count known before (STORE_WRITER_UNCOUNTED) */
    uint64_t pruned, prune_steps; /* rows pruned, prune transactions */
};

struct store_writer;

/* Opens the journal (cutting a torn record off its end), takes ownership of s once it succeeds and starts
 * the thread, which first folds what the journal holds beyond the registry's last folded record. Returns 0 or
 * a negative code (a libuv code or -errno; s is still the caller's then, and the loop must run once more when
 * handles were made). */
int store_writer_start(struct store *s, uv_loop_t *loop, const struct store_writer_cfg *cfg,
                       struct store_writer **out);
/* Appends a record (copied) for this loop iteration's journal write. Returns 0, or a negative code when the
 * writer is stopping or, in genuine mode, too many answers wait for a count (the callback is then not
 * called). */
int store_writer_submit(struct store_writer *w, const struct store_record *rec, store_writer_cb cb, void *ctx);
/* Genuine counting on or off from now (the loop thread; a reload that changes --count-mode). Switched on, no count
 * is known until the next fold: the next answers wait for it. Switched off, answers already waiting still get a
 * count, which the server no longer uses. */
void store_writer_set_count(struct store_writer *w, bool on);
/* --registry-idle-unload from now (any thread; 0: never): the registry's connections close after ms without a fold
 * or a prune step, and open again for the next one. */
void store_writer_set_idle_unload(struct store_writer *w, uint32_t ms);
/* --retention and --max-clients from now (any thread): when either changed, a prune starts at the writer's next
 * chance (after a fold that is due, and not before the start's own prune delay), in chunks as the daily one. */
void store_writer_set_limits(struct store_writer *w, uint32_t retention_days, uint64_t max_clients);
/* Current counters (read on the loop thread). */
void store_writer_stats(struct store_writer *w, struct store_writer_stats *out);
/* Writes and answers what is buffered, folds the whole journal, runs the remaining callbacks, stops the
 * thread, closes the database and the handles (the loop must run once more to finish closing). */
void store_writer_stop(struct store_writer *w);

#endif
