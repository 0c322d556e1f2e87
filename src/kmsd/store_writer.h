/*
 * store_writer — the registry's writer thread, so that database work never blocks the event loop.
 *
 * The loop thread submits records; the writer takes everything queued, commits it in one transaction
 * (group commit), optionally counts the distinct clients of each record's application group, and hands
 * each record's result back to the loop thread through a uv_async_t, where its callback runs. A reply is
 * sent only from that callback, so every answered activation is committed first (WAL with
 * synchronous=NORMAL survives a crash of the process).
 *
 * Faults at run time (disk full, locked, I/O error) do not stop activations: the callback gets the error,
 * the failures are counted and logged at most once a minute, and recording resumes when the fault clears.
 * The writer also prunes the registry at start and once a day, and after idle_release_s without records hands
 * back its connection's page cache and trims the heap (docs/performance.md, "Memory").
 */
#ifndef KMSD_STORE_WRITER_H
#define KMSD_STORE_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "metrics.h"
#include "store.h"

#define STORE_WRITER_MAX_BATCH 512   /* records committed in one transaction at most */
#define STORE_WRITER_MAX_QUEUE 65536 /* records waiting at most; beyond, submit refuses (answered unrecorded) */
#define STORE_WRITER_IDLE_RELEASE_S 60 /* without records this long, the writer gives its cache back */

struct store_writer_cfg {
    bool count;              /* count distinct clients after each commit (genuine mode) */
    uint32_t retention_days;
    uint64_t max_clients;
    uint32_t max_queue;      /* records waiting at most; 0: STORE_WRITER_MAX_QUEUE */
    uint32_t idle_release_s; /* seconds without records before the writer hands back its page cache and trims
                              * the heap; 0: STORE_WRITER_IDLE_RELEASE_S */
    int64_t (*now)(void);    /* the clock (Unix seconds) */
    struct metrics *metrics; /* NULL, or where transaction latency and failures are counted */
};

/* Called on the loop thread: err is 0 when the record is committed; count is the group's distinct clients
 * in the counting window (valid when the writer counts and err is 0). */
typedef void (*store_writer_cb)(void *ctx, int err, uint32_t count);

struct store_writer_stats {
    uint64_t committed, failed, batches;
    uint64_t last_failure_time;
    uint64_t idle_releases; /* times the writer, idle, handed its page cache back */
};

struct store_writer;

/* Takes ownership of s once it succeeds; starts the thread. Returns 0 or a negative code (a libuv code or
 * -errno; s is still the caller's then, and the loop must run once more when the thread could not start). */
int store_writer_start(struct store *s, uv_loop_t *loop, const struct store_writer_cfg *cfg,
                       struct store_writer **out);
/* Queues a record (copied). Returns 0, or a negative code when the queue is full or the writer stopped
 * (the callback is then not called). */
int store_writer_submit(struct store_writer *w, const struct store_record *rec, store_writer_cb cb, void *ctx);
/* Current counters (read on the loop thread). */
void store_writer_stats(struct store_writer *w, struct store_writer_stats *out);
/* Commits what is queued, runs the remaining callbacks, stops the thread, closes the database and the
 * async handle (the loop must run once more to finish closing). */
void store_writer_stop(struct store_writer *w);

#endif
