/*
 * bench/registry — the registry alone, without the network, and the generator of large registries.
 *
 * registry DIR [RECORDS [PRELOAD]]
 *   kmsd's writer thread (store_writer) on a file database in DIR, driven by a closed loop that keeps C
 *   records in flight (as C workers would: a record is submitted when the previous one's commit has been
 *   reported back to the loop thread), distinct clients. RECORDS per concurrency level (default 20,000),
 *   PRELOAD client rows written first (default 20,000). Prints one markdown table: in flight, records/s,
 *   transactions per record, latency p50/p99 from submit to callback, and CPU time per record (the whole
 *   process: loop thread, writer and checkpointer).
 *
 * registry --generate ROWS DB [SEED [NOW]]
 *   Creates the registry DB (which must not exist) through the store API, so with exactly kmsd's schema, and
 *   fills it with ROWS clients (bench/registry --rows drives it; see bench/README.md). Deterministic: row k
 *   depends only on SEED (default 1), k and NOW (Unix seconds, default the current time). Distinct CMIDs;
 *   68 % Windows, 30 % Office 2013+, 2 % Office 2010, by real SKUs of the product table; last seen uniform over
 *   the 90 days before NOW (the oldest hour left out, so that kmsd's start-up retention prune finds nothing
 *   during a run); one client in five also activated earlier (first seen up to 180 days before its last
 *   activation, two requests); last served by one of three hosts, "bench-a" 60 %, "bench-b" 39.9 %, "bench-c"
 *   0.1 %, as on a registry several hosts share. Written as activations (store_batch_*), so the statistics and
 *   daily counts agree with the rows. Prints rows, seconds, rows/s and the file's size.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "epid.h"
#include "metrics.h"
#include "products.h"
#include "store.h"
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

static int writer_main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: registry DIR [RECORDS [PRELOAD]]\n       registry --generate ROWS DB [SEED [NOW]]\n");
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
    static const char *const suffix[] = {"", "-wal", "-shm", STORE_JOURNAL_SUFFIX "0", STORE_JOURNAL_SUFFIX "1"};
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        (void)unlink(p);
    }
    return rc;
}

/* ---- --generate ---- */

/* splitmix64: the stream of one row, seeded from (SEED, row number) so that a row never depends on others. */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = mix(*s);
    *s += 0x9e3779b97f4a7c15u;
    return z;
}

/* Uniform in 0..n-1 (n > 0). */
static uint32_t below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(((rnd(s) >> 32) * n) >> 32);
}

struct weighted {
    const char *alias; /* a SKU alias of the product table */
    uint32_t weight;
    const struct products_sku *sku;
};

/* Within each application, roughly what a site's volume clients are: mostly current Windows client editions,
 * some servers; Office mostly Professional Plus, some Standard, Visio and Project. */
static struct weighted windows_skus[] = {
    {"win11pro", 300, NULL},   {"win11ent", 280, NULL}, {"win11edu", 70, NULL},    {"win10entltsc2019", 40, NULL},
    {"win11prowks", 20, NULL}, {"win11entn", 10, NULL}, {"win11proedu", 10, NULL}, {"win11entms", 10, NULL},
    {"ws2022std", 60, NULL},   {"ws2022dc", 50, NULL},  {"ws2019std", 50, NULL},   {"ws2019dc", 30, NULL},
    {"ws2025std", 20, NULL},   {"ws2025dc", 20, NULL},  {"ws2016std", 20, NULL},   {"ws2012r2std", 10, NULL},
    {"win81pro", 10, NULL},
};
static struct weighted office_skus[] = {
    {"o2019pp", 250, NULL},      {"o2016pp", 200, NULL},     {"o2021pp", 200, NULL},     {"o2024pp", 80, NULL},
    {"o2013pp", 60, NULL},       {"o2016std", 50, NULL},     {"o2021std", 30, NULL},     {"o2019visiopro", 40, NULL},
    {"o2021visiostd", 20, NULL}, {"o2016projpro", 30, NULL}, {"o2019projpro", 20, NULL}, {"o2024visiopro", 10, NULL},
    {"o2013visiopro", 10, NULL},
};
static struct weighted office2010_skus[] = {
    {"o2010pp", 700, NULL},
    {"o2010std", 200, NULL},
    {"o2010visiopro", 50, NULL},
    {"o2010projpro", 50, NULL},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Looks up every alias; false (after a message) when the product table lacks one. */
static bool resolve(struct weighted *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        w[i].sku = products_find_sku(w[i].alias);
        if (!w[i].sku) {
            fprintf(stderr, "registry: the product table has no SKU '%s'\n", w[i].alias);
            return false;
        }
    }
    return true;
}

static const struct products_sku *pick(uint64_t *s, const struct weighted *w, size_t n)
{
    uint32_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i].weight;
    uint32_t x = below(s, total);
    for (size_t i = 0; i < n; i++) {
        if (x < w[i].weight)
            return w[i].sku;
        x -= w[i].weight;
    }
    return w[n - 1].sku;
}

static const char *const sites[] = {"BER", "MUC", "HAM", "FRA", "LON", "PAR", "MAD", "NYC", "SFO", "TOK", "SYD", "AMS"};
static const char *const depts[] = {"FIN", "HR", "ENG", "OPS", "SALES", "IT", "LEGAL", "MKT", "LAB", "SUPPORT"};
static const char *const firsts[] = {"anna",  "ben",   "carla", "david", "emma",  "felix", "greta",  "hans",
                                     "ines",  "jonas", "karin", "lukas", "maria", "noah",  "olga",   "paul",
                                     "quinn", "rosa",  "sven",  "tina",  "uwe",   "vera",  "walter", "yara"};
static const char *const lasts[] = {"mueller", "schmidt", "schneider", "fischer",  "weber", "meyer",
                                    "wagner",  "becker",  "schulz",    "hoffmann", "koch",  "richter",
                                    "klein",   "wolf",    "neumann",   "schwarz",  "braun", "zimmermann"};
static const char *const domains[] = {"corp.example.com", "emea.corp.example.com", "ad.example.org", "lab.example.net",
                                      "vdi.example.com"};

#define PICK(s, a) (a[below((s), (uint32_t)N_OF(a))])

static void random_chars(uint64_t *s, char *out, size_t n)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (size_t i = 0; i < n; i++)
        out[i] = set[below(s, sizeof set - 1)];
    out[n] = '\0';
}

/* Workstation names as sites have them: Windows' own DESKTOP-/LAPTOP- names, SITE-DEPT-NNNN, user-named
 * machines, and fully qualified names (11 to 33 characters, 15 on average). */
static void workstation(uint64_t *s, char *out, size_t cap)
{
    char r[16];
    uint32_t kind = below(s, 100);
    if (kind < 35) {
        random_chars(s, r, 7);
        snprintf(out, cap, "DESKTOP-%s", r);
    } else if (kind < 50) {
        random_chars(s, r, 8);
        snprintf(out, cap, "LAPTOP-%s", r);
    } else if (kind < 80) {
        snprintf(out, cap, "%s-%s-%s%04u", PICK(s, sites), PICK(s, depts), below(s, 4) == 0 ? "LT" : "",
                 below(s, 10000));
    } else if (kind < 92) {
        const char *f = PICK(s, firsts), *l = PICK(s, lasts);
        if (below(s, 2))
            snprintf(out, cap, "%s-%s-pc", f, l);
        else
            snprintf(out, cap, "%c%s-laptop%u", f[0], l, below(s, 10));
    } else {
        snprintf(out, cap, "ws%05u.%s.%s", below(s, 100000), PICK(s, sites), PICK(s, domains));
    }
}

/* Peer addresses as kmsd logs them: mostly private IPv4, some public (documentation ranges), some IPv6. */
static void address(uint64_t *s, char *out, size_t cap)
{
    unsigned port = 49152 + below(s, 16384);
    uint32_t kind = below(s, 100);
    if (kind < 55)
        snprintf(out, cap, "10.%u.%u.%u:%u", below(s, 64), below(s, 256), 1 + below(s, 254), port);
    else if (kind < 75)
        snprintf(out, cap, "192.168.%u.%u:%u", below(s, 32), 1 + below(s, 254), port);
    else if (kind < 85)
        snprintf(out, cap, "172.%u.%u.%u:%u", 16 + below(s, 16), below(s, 256), 1 + below(s, 254), port);
    else if (kind < 92)
        snprintf(out, cap, "%s.%u:%u", below(s, 2) ? "198.51.100" : "203.0.113", 1 + below(s, 254), port);
    else
        snprintf(out, cap, "[2001:db8:%x:%x::%x]:%u", below(s, 65536), below(s, 65536), 1 + below(s, 65535), port);
}

/* The host's ePID for a KMS id (one host answered them all): its CSVLK group, a fixed key id in range. */
static void host_epid(const struct products_kms *k, char *out, size_t cap)
{
    const struct products_csvlk *c = k->epid_csvlk;
    struct epid e = {.platform = 3612,
                     .group = c->group,
                     .key_id = c->key_min + (c->key_max - c->key_min) / 3,
                     .channel = 3,
                     .lcid = 1033,
                     .build = 26100,
                     .yday = 200,
                     .year = 2025};
    if (epid_format(&e, out, cap) < 0)
        out[0] = '\0';
}

#define GEN_WINDOW_S (90 * 86400 - 3600) /* last seen in (NOW - 90 days + 1 h, NOW] */
#define GEN_BATCH 20000                  /* records per store_batch_add */
#define GEN_TXN 200000                   /* records per transaction */

/* Row k's activations: one, or (one client in five) an earlier one as well. Returns how many (1 or 2). */
static size_t gen_row(uint64_t seed, uint64_t k, int64_t now, struct store_record out[2])
{
    uint64_t s = mix(seed * 0x100000001b3u ^ mix(k));
    struct store_record *r = &out[0];
    memset(r, 0, sizeof *r);
    /* distinct CMIDs: 64 bits of a bijection of k in bytes 0-5 and 10-11, random bits elsewhere; version 4 */
    uint64_t a = mix(k ^ (seed << 40)), b = rnd(&s);
    memcpy(r->cmid.b, &a, 6);
    memcpy(r->cmid.b + 10, (const uint8_t *)&a + 6, 2);
    memcpy(r->cmid.b + 6, &b, 4);
    memcpy(r->cmid.b + 12, (const uint8_t *)&b + 4, 4);
    r->cmid.b[7] = (uint8_t)((r->cmid.b[7] & 0x0f) | 0x40);
    r->cmid.b[8] = (uint8_t)((r->cmid.b[8] & 0x3f) | 0x80);
    uint32_t app = below(&s, 100);
    const struct products_sku *sku = app < 68   ? pick(&s, windows_skus, N_OF(windows_skus))
                                     : app < 98 ? pick(&s, office_skus, N_OF(office_skus))
                                                : pick(&s, office2010_skus, N_OF(office2010_skus));
    r->sku_id = sku->id;
    r->kms_id = sku->kms->id;
    r->app_id = sku->kms->app->id;
    snprintf(r->product, sizeof r->product, "%s", sku->name);
    workstation(&s, r->workstation, sizeof r->workstation);
    address(&s, r->address, sizeof r->address);
    host_epid(sku->kms, r->epid, sizeof r->epid);
    uint32_t st = below(&s, 100);
    r->license_status = st < 80 ? 1 : st < 95 ? 2 : st < 98 ? 5 : 3; /* licensed, initial grace, notif., OOT */
    r->grace_time = r->license_status == 2 ? 43200 : r->license_status == 1 ? below(&s, 259200) : 0;
    r->is_vm = below(&s, 4) == 0;
    r->version_major = sku->kms->protocol;
    r->time = now - (int64_t)below(&s, GEN_WINDOW_S);
    if (below(&s, 5))
        return 1;
    out[1] = *r; /* an earlier activation: first_seen up to 180 days before the last */
    out[1].time = r->time - 86400 - (int64_t)below(&s, 179 * 86400);
    out[1].license_status = 2;
    out[1].grace_time = 43200;
    return 2;
}

/* The host that last served row k, as several hosts sharing a registry would have it: "bench-a" 60 %, "bench-b"
 * 39.9 %, "bench-c" 0.1 % (the host filter's common and rare cases). */
#define GEN_HOSTS 3
static const char *const gen_host_names[GEN_HOSTS] = {"bench-a", "bench-b", "bench-c"};
static unsigned gen_host(uint64_t seed, uint64_t k)
{
    uint64_t h = mix(k ^ mix(seed + 0x9e3779b97f4a7c15u)) % 1000;
    return h < 600 ? 0 : h < 999 ? 1 : 2;
}

static int by_time(const void *a, const void *b)
{
    const struct store_record *x = a, *y = b;
    return (x->time > y->time) - (x->time < y->time);
}

static int generate_main(int argc, char **argv)
{
    size_t rows, seed = 1, now = (size_t)time(NULL);
    if (argc < 4 || argc > 6 || !parse_count(argv[2], 0, 100000000, &rows) ||
        (argc > 4 && !parse_count(argv[4], 0, SIZE_MAX, &seed)) ||
        (argc > 5 && !parse_count(argv[5], 1, (size_t)INT32_MAX * 2, &now))) {
        fprintf(stderr, "usage: registry --generate ROWS DB [SEED [NOW]]   (ROWS 0 to 100,000,000; NOW Unix s)\n");
        return 2;
    }
    const char *path = argv[3];
    struct stat sb;
    if (stat(path, &sb) == 0 || errno != ENOENT) {
        fprintf(stderr, "registry: %s exists (or cannot be checked): --generate makes a new registry only\n", path);
        return 1;
    }
    if (!resolve(windows_skus, N_OF(windows_skus)) || !resolve(office_skus, N_OF(office_skus)) ||
        !resolve(office2010_skus, N_OF(office2010_skus)))
        return 1;
    char err[512];
    struct store *s;
    if (store_open(path, &s, err, sizeof err) < 0) {
        fprintf(stderr, "registry: %s\n", err);
        return 1;
    }
    struct store_record *recs = malloc(2 * GEN_BATCH * sizeof *recs);
    if (!recs || store_cache_size(s, 256 * 1024) < 0) {
        fprintf(stderr, "registry: out of memory\n");
        free(recs);
        store_close(s);
        return 1;
    }
    uint64_t t0 = now_ns();
    int rc = 0;
    size_t in_txn = 0;
    for (size_t k = 0; k < rows && rc == 0;) {
        size_t end = k + GEN_BATCH < rows ? k + GEN_BATCH : rows, n = 0;
        if (in_txn == 0)
            rc = store_batch_begin(s);
        for (unsigned h = 0; h < GEN_HOSTS && rc == 0; h++) { /* each host's rows of the batch under its name */
            n = 0;
            for (size_t j = k; j < end; j++)
                if (gen_host(seed, j) == h)
                    n += gen_row(seed, j, (int64_t)now, &recs[n]);
            /* by time, so that the daily counts are one update per day and batch (upserts go by key anyway) */
            qsort(recs, n, sizeof *recs, by_time);
            store_set_host(s, gen_host_names[h]);
            rc = store_batch_add(s, recs, n);
            in_txn += n;
        }
        k = end;
        if (rc == 0 && (in_txn >= GEN_TXN || k == rows)) {
            rc = store_batch_commit(s, 0);
            in_txn = 0;
            fprintf(stderr, "\rregistry: %zu of %zu rows", k, rows);
        } else if (rc) {
            store_batch_abort(s);
        }
    }
    if (rows)
        fprintf(stderr, "\n");
    if (rc)
        fprintf(stderr, "registry: generating failed: %s\n", store_errmsg(s));
    free(recs);
    store_close(s); /* the last connection: SQLite checkpoints the WAL into the file and removes it */
    double secs = (double)(now_ns() - t0) / 1e9;
    if (rc == 0 && stat(path, &sb) == 0)
        printf("generated %zu rows in %.1f s (%.0f rows/s), %.1f MB, seed %zu, now %zu\n", rows, secs,
               secs > 0 ? (double)rows / secs : 0.0, (double)sb.st_size / 1e6, seed, now);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--generate") == 0)
        return generate_main(argc, argv);
    return writer_main(argc, argv);
}
