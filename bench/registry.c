/*
 * bench/registry — the registry alone, without the network: kmsd's writer thread (store_writer) on a file
 * database in DIR, driven by a closed loop that keeps C records in flight (as C workers would: a record is
 * submitted when the previous one's commit has been reported back to the loop thread), distinct clients.
 *
 * Usage: registry DIR [RECORDS [PRELOAD]]
 *   RECORDS per concurrency level (default 20,000), PRELOAD client rows written first (default 20,000).
 * Prints one markdown table: in flight, records/s, transactions per record, latency p50/p99 from submit to
 * callback, and CPU time per record (the whole process: loop thread, writer and checkpointer).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "metrics.h"
#include "store_writer.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static int64_t wall_now(void)
{
    return (int64_t)time(NULL);
}

/* Deterministic distinct CMIDs: a counter mixed by splitmix64. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static void fill(struct store_record *r, uint64_t k)
{
    /* Windows' application id in wire order (any fixed value would do) */
    static const struct guid windows = {{0x34, 0x27, 0xc9, 0x55, 0x82, 0xd6, 0x71, 0x4d, 0x98, 0x3e, 0xd6, 0xec, 0x3f,
                                         0x16, 0x05, 0x9f}};
    memset(r, 0, sizeof *r);
    uint64_t a = mix(k), b = mix(k ^ 0x5555555555555555u);
    memcpy(r->cmid.b, &a, 8);
    memcpy(r->cmid.b + 8, &b, 8);
    r->app_id = windows;
    r->sku_id = windows;
    r->kms_id = windows;
    snprintf(r->workstation, sizeof r->workstation, "bench-%llu.example.test", (unsigned long long)k);
    snprintf(r->product, sizeof r->product, "Windows 11 Pro");
    snprintf(r->address, sizeof r->address, "127.0.0.1:%u", (unsigned)(k % 60000));
    snprintf(r->epid, sizeof r->epid, "06401-00206-551-123456-03-1033-22631.0000-3342024");
    r->license_status = 2;
    r->grace_time = 43200;
    r->version_major = 6;
    r->time = wall_now();
}

#define MAX_IN_FLIGHT 512

struct run;
struct slot { /* one of the closed loop's workers */
    struct run *r;
    uint64_t t_submit;
};

struct run {
    struct store_writer *w;
    uint64_t next_id; /* next client number */
    size_t submitted, done, total, failed;
    uint64_t *lat_ns; /* per record, in completion order */
    struct slot slots[MAX_IN_FLIGHT];
};

static void on_done(void *ctx, int err, uint32_t count);

static int submit(struct slot *sl)
{
    struct store_record rec;
    fill(&rec, sl->r->next_id++);
    sl->t_submit = now_ns();
    sl->r->submitted++;
    return store_writer_submit(sl->r->w, &rec, on_done, sl);
}

static void on_done(void *ctx, int err, uint32_t count)
{
    (void)count;
    struct slot *sl = ctx;
    struct run *r = sl->r;
    if (err)
        r->failed++;
    r->lat_ns[r->done++] = now_ns() - sl->t_submit;
    if (r->submitted < r->total && submit(sl) < 0)
        r->failed++;
}

/* A decimal count in lo..hi; false when text is anything else. */
static bool parse_count(const char *text, size_t lo, size_t hi, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v < lo || v > hi)
        return false;
    *out = (size_t)v;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: registry DIR [RECORDS [PRELOAD]]\n");
        return 2;
    }
    size_t total = 20000, preload = 20000;
    if ((argc > 2 && !parse_count(argv[2], MAX_IN_FLIGHT, 10000000, &total)) ||
        (argc > 3 && !parse_count(argv[3], 0, 10000000, &preload))) {
        fprintf(stderr, "registry: RECORDS must be 512 to 10,000,000 and PRELOAD at most 10,000,000\n");
        return 2;
    }
    char path[4096];
    if (snprintf(path, sizeof path, "%s/registry-bench.db", argv[1]) >= (int)sizeof path) {
        fprintf(stderr, "registry: directory name too long\n");
        return 2;
    }
    char err[512];
    struct store *s;
    if (store_open(path, &s, err, sizeof err) < 0) {
        fprintf(stderr, "registry: %s\n", err);
        return 1;
    }
    static struct metrics m;
    if (metrics_init(&m, 0) < 0)
        return 1;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_writer_cfg wc = {
        .retention_days = 90, .max_clients = 10000000, .journal = path, .now = wall_now, .metrics = &m};
    static struct run r;
    if (store_writer_start(s, &loop, &wc, &r.w) < 0) {
        fprintf(stderr, "registry: cannot start the writer\n");
        return 1;
    }
    r.lat_ns = calloc(total > preload ? total : preload, sizeof *r.lat_ns);
    if (!r.lat_ns)
        return 1;
    for (size_t i = 0; i < MAX_IN_FLIGHT; i++)
        r.slots[i].r = &r;
    static const size_t levels[] = {0, 1, 8, 64, MAX_IN_FLIGHT}; /* 0: the preload, MAX_IN_FLIGHT at once */
    int rc = 0;
    printf("| in flight | records/s | records per transaction | p50 ms | p99 ms | CPU us/record |\n"
           "|---:|---:|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < sizeof levels / sizeof levels[0] && rc == 0; k++) {
        size_t c = levels[k] ? levels[k] : MAX_IN_FLIGHT;
        r.total = levels[k] ? total : preload;
        if (r.total == 0)
            continue;
        r.submitted = r.done = r.failed = 0;
        uint64_t tx0 = metrics_get(&m.registry_write.count);
        double cpu0 = cpu_s();
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < c && r.submitted < r.total; i++)
            if (submit(&r.slots[i]) < 0)
                r.failed++;
        /* bounded: every record is answered (or counted failed) within 10 min */
        while (r.done + r.failed < r.total && now_ns() - t0 < 600ull * 1000000000u)
            uv_run(&loop, UV_RUN_ONCE);
        double secs = (double)(now_ns() - t0) / 1e9;
        double cpu = cpu_s() - cpu0;
        uint64_t tx = metrics_get(&m.registry_write.count) - tx0;
        if (r.failed || r.done < r.total) {
            fprintf(stderr, "registry: %zu of %zu records failed or unanswered\n", r.total - r.done + r.failed,
                    r.total);
            rc = 1;
            break;
        }
        if (levels[k] == 0)
            continue;
        qsort(r.lat_ns, r.done, sizeof *r.lat_ns, cmp_u64);
        printf("| %zu | %.0f | %.1f | %.2f | %.2f | %.1f |\n", c, (double)r.done / secs,
               tx ? (double)r.done / (double)tx : 0.0, (double)r.lat_ns[r.done / 2] / 1e6,
               (double)r.lat_ns[r.done * 99 / 100] / 1e6, cpu * 1e6 / (double)r.done);
    }
    store_writer_stop(r.w);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    printf("\nbackground checkpoints: %llu (%.1f ms on average), failed %llu\n",
           (unsigned long long)metrics_get(&m.registry_checkpoint.count),
           metrics_get(&m.registry_checkpoint.count)
               ? (double)metrics_get(&m.registry_checkpoint.sum_us) / 1000.0 /
                     (double)metrics_get(&m.registry_checkpoint.count)
               : 0.0,
           (unsigned long long)metrics_get(&m.registry_checkpoint_errors));
    metrics_free(&m);
    free(r.lat_ns);
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        (void)unlink(p);
    }
    return rc;
}
