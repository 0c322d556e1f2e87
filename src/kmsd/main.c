/* kmsd — a KMS host for Microsoft volume activation. See kmsd(8) and docs/config.md. */
#include <arpa/inet.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "activation.h"
#include "cli.h"
#include "cli_dns.h"
#include "cli_products.h"
#include "config.h"
#include "identity.h"
#include "err.h"
#include "http.h"
#include "kms_crypto.h"
#include "log.h"
#include "metrics.h"
#include "pidlock.h"
#include "privdrop.h"
#include "dns_name.h"
#include "dns_publish.h"
#include "dns_tsig.h"
#include "prefault.h"
#include "products.h"
#include "products_file.h"
#include "products_load.h"
#include "sdnotify.h"
#include "server.h"
#include "store.h"

extern char **environ;

static int64_t wall_now(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}
static const struct activation_clock wall_clock = {wall_now, NULL};

/*
 * kmsd's random bytes: the kernel's (getrandom(2), kms_random_bytes), drawn RNG_POOL bytes at a time instead
 * of one system call per activation (a v6 answer needs about 32 bytes; a system call costs more than the rest
 * of the answer's crypto here). Each byte is served once and wiped from the pool as it is served. Used by the
 * loop thread only (and by main before the loop starts).
 */
#define RNG_POOL 4096
#define KMSD_MALLOC_ARENAS 2 /* glibc malloc arenas at most (mallopt M_ARENA_MAX; see main) */
#define KMSD_MALLOC_MMAP_THRESHOLD (128 * 1024) /* blocks mapped on their own, and an arena's top kept (see main) */
struct rng_pool {
    uint8_t b[RNG_POOL];
    size_t pos; /* bytes before pos are served (and zero) */
};

static int rng_fill(void *ctx, void *buf, size_t len)
{
    struct rng_pool *p = ctx;
    if (len > RNG_POOL / 4) /* large draws (none today) go to the kernel directly */
        return kms_random_bytes(buf, len);
    if (RNG_POOL - p->pos < len) {
        int rc = kms_random_bytes(p->b, RNG_POOL);
        if (rc < 0)
            return rc;
        p->pos = 0;
    }
    memcpy(buf, p->b + p->pos, len);
    kms_wipe(p->b + p->pos, len);
    p->pos += len;
    return 0;
}

#define STATE_DIR_MODE 0700       /* the state directory: identity, registry, lock */

/* Creates the state directory (one level, STATE_DIR_MODE) if it is missing; narrows one of kmsd's own that others
 * may enter. Returns 0 or -errno. */
static int ensure_state_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return -ENOTDIR;
        if ((st.st_mode & 077) == 0 || (st.st_uid != geteuid() && geteuid() != 0))
            return 0;
        if (chmod(dir, STATE_DIR_MODE) < 0)
            return -errno;
        log_info("state directory %s: mode %04o narrowed to %04o (it holds the identity and the registry)", dir,
                 (unsigned)(st.st_mode & 07777), (unsigned)STATE_DIR_MODE);
        return 0;
    }
    if (errno != ENOENT)
        return -errno;
    return mkdir(dir, STATE_DIR_MODE) == 0 ? 0 : -errno;
}

/* Takes the lock of path for this process's life (pidlock.h); what ("state directory", "registry") and whose
 * name the thing locked in messages. Returns 0, or pidlock_acquire's negative errno after a message. */
static int lock_path(const char *path, const char *what, const char *whose)
{
    pid_t holder;
    int fd = pidlock_acquire(path, &holder);
    if (fd >= 0)
        return 0; /* kept open until exit: the lock lives as long as the descriptor */
    if (fd == -ENOENT) /* the lock goes beside the thing locked: its directory is missing */
        fprintf(stderr, "kmsd: %s %s: its directory does not exist (kmsd creates the file, not the directories above "
                        "it)\n", what, whose);
    else if (fd != -EWOULDBLOCK)
        fprintf(stderr, "kmsd: %s %s: cannot lock %s: %s\n", what, whose, path, strerror(-fd));
    else if (holder > 0)
        fprintf(stderr, "kmsd: %s %s is in use by another kmsd (PID %ld); one kmsd per %s\n", what, whose,
                (long)holder, what);
    else
        fprintf(stderr, "kmsd: %s %s is in use by another kmsd; one kmsd per %s\n", what, whose, what);
    return fd;
}

/* The host build kmsd presents (--host-build, or the default one). Returns 0 or -EINVAL after a message. */
static int host_build(const struct kmsd_config *cfg, const struct products_build **out)
{
    const struct products_build *build =
        cfg->host_build ? products_build_by_number(cfg->host_build) : activation_default_build();
    if (!build || !build->epid) {
        fprintf(stderr, "kmsd: --host-build %u: not a host build of the product table\n", (unsigned)cfg->host_build);
        return -EINVAL;
    }
    if (cfg->ndr64 && build->build < 9200) {
        fprintf(stderr,
                "kmsd: --host-build %u: a host older than build 9200 does not speak NDR64; use --no-ndr64 or a "
                "newer build\n",
                (unsigned)build->build);
        return -EINVAL;
    }
    *out = build;
    return 0;
}

/* Turns the freshly generated host into kmsd's identity: the one kept in the state directory when there is
 * one (what it lacks is completed from host and kept), else host itself (then kept), with the operator's
 * overrides on top (not kept). Returns 0 or a negative code after a message. */
static int host_identity(const struct kmsd_config *cfg, struct activation_host *host)
{
    char path[CONFIG_PATH_LEN + 32], err[512];
    snprintf(path, sizeof path, "%s/%s", cfg->state_dir, IDENTITY_FILE);
    size_t missing = 0;
    int rc = identity_load(path, host, &missing, err, sizeof err);
    if (rc == -ENOENT || (rc == 0 && missing > 0)) {
        rc = identity_save(path, host, err, sizeof err);
        if (rc == 0)
            log_info("host identity %s: %s", missing ? "completed" : "created", path);
    }
    if (rc < 0) {
        fprintf(stderr, "kmsd: host identity: %s\n", err);
        return rc;
    }
    if (cfg->hwid_set)
        memcpy(host->hwid, cfg->hwid, sizeof host->hwid);
    for (int i = 0; i < cfg->n_epids; i++) {
        const struct products_csvlk *c = products_find_csvlk(cfg->epids[i].csvlk);
        if (!c || activation_host_set_epid(host, c, cfg->epids[i].epid) < 0) {
            fprintf(stderr, "kmsd: --epid %s=%s: not an ePID of that CSVLK group\n", cfg->epids[i].csvlk,
                    cfg->epids[i].epid);
            return -EINVAL;
        }
    }
    return 0;
}

/* This kmsd's name in the registry: --host-name, else the system's host name (gethostname, its first
 * CONFIG_HOST_NAME_LEN bytes of letters, digits, '.', '-', '_'), else "kmsd". */
static void host_name_resolve(const struct kmsd_config *cfg, char out[CONFIG_HOST_NAME_LEN + 1])
{
    if (cfg->host_name[0]) {
        snprintf(out, CONFIG_HOST_NAME_LEN + 1, "%s", cfg->host_name);
        return;
    }
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0)
        h[0] = '\0';
    size_t n = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
    if (n > CONFIG_HOST_NAME_LEN)
        n = CONFIG_HOST_NAME_LEN;
    snprintf(out, CONFIG_HOST_NAME_LEN + 1, "%.*s", (int)n, n ? h : "kmsd");
}

/* An SQLite registry of an older schema is migrated before kmsd listens: said first, since a step can take a while
 * (schema 7 rebuilds the clients table: 24 s per million clients measured), and the service manager is given the
 * time: MIGRATE_EXTEND_S, and as much again per started million clients (systemd's 90 s start timeout would stop
 * a migration of four million). 28-systemd checks the 120 s of one client. */
#define MIGRATE_EXTEND_S 60
static void note_migration(int from, int to, uint64_t rows)
{
    log_info("registry: migrating the schema of %llu clients from version %d to %d before listening (schema 7 rebuilds"
             " the clients table: about 25 s per million clients)",
             (unsigned long long)rows, from, to);
    char status[96];
    snprintf(status, sizeof status, "migrating the registry from schema %d to %d", from, to);
    uint64_t millions = (rows + 999999) / 1000000; /* started */
    sdnotify_extend(MIGRATE_EXTEND_S * (1 + millions) * UINT64_C(1000000), status);
}

/* Opens the registry unless it is switched off. Returns 0 (db NULL when off) or a negative code after a
 * message. */
static int open_registry(const struct kmsd_config *cfg, const char *host_name, struct store **db)
{
    *db = NULL;
    if (strcmp(cfg->db, "none") == 0) {
        if (cfg->count_mode == CONFIG_COUNT_GENUINE) {
            fprintf(stderr, "kmsd: --count-mode genuine needs the registry (remove --no-db / db = none)\n");
            return -EINVAL;
        }
        return 0;
    }
    char path[CONFIG_PATH_LEN + 16], lock[CONFIG_PATH_LEN + 32], err[512];
    store_set_password_file(cfg->db_password_file);
    if (store_path(cfg->db, cfg->state_dir, path, sizeof path) < 0) {
        fprintf(stderr, "kmsd: --db: the registry's path is too long\n");
        return -ENAMETOOLONG;
    }
    char local[CONFIG_PATH_LEN + 16];
    if (store_local_path(cfg->db, cfg->state_dir, local, sizeof local) < 0) {
        fprintf(stderr, "kmsd: --state-dir: the registry's journal path is too long\n");
        return -ENAMETOOLONG;
    }
    snprintf(lock, sizeof lock, "%s%s", local, PIDLOCK_REGISTRY_SUFFIX);
    char shown[CONFIG_PATH_LEN + 16];
    store_redact(path, shown, sizeof shown);
    int rc = lock_path(lock, "registry", shown);
    if (rc < 0)
        return rc;
    /* PostgreSQL: opened asleep, connected by the writer at once (loading libpq and connecting took 40-60 ms that the
     * first answer waited for; the journal needs no registry); a configuration error found then still stops kmsd
     * with exit status 2 (SERVER_ERR_REGISTRY) */
    bool pg = store_is_postgresql(path);
    store_on_migrate = pg ? NULL : note_migration;
    rc = pg ? store_open_deferred(path, db, err, sizeof err) : store_open(path, db, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "kmsd: registry %s (--no-db runs without one)\n", err); /* err begins with the path */
        return rc;
    }
    store_set_host(*db, host_name); /* each record says which host served it */
    log_info(pg ? "registry: %s (connecting)" : "registry: %s", shown);
    return 0;
}

/* What the HTTP server needs, handed over when the KMS listeners are bound. */
struct http_start_ctx {
    const struct kmsd_config *cfg;
    _Atomic(const struct activation_host *) *host;
    struct metrics *m;
    const char *db_path; /* NULL without a registry */
    struct http_server *http;
    struct dns_publish *dns;
    uint16_t kms_port; /* the first KMS listener's: the SRV record's port (0: none bound) */
    const char *host_name; /* this kmsd's name in the registry (/api/v1/host) */
};

/* The port of a bound listener. */
static uint16_t bound_port(const struct server_bound *b)
{
    const struct sockaddr_storage *a = &b->addr;
    return ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)(const void *)a)->sin6_port
                                          : ((const struct sockaddr_in *)(const void *)a)->sin_port);
}

/* Starts a DNS publisher for cfg's --dns-publish zones (none: *out NULL) with the SRV record at port. The TSIG
 * key file is read here: at start still as root (before the privilege drop), at a reload as kmsd's user. 0, or -1
 * (logged; *out NULL). */
static int dns_start(const struct kmsd_config *cfg, uint16_t port, struct metrics *m, struct dns_publish **out)
{
    *out = NULL;
    if (cfg->n_dns_publish == 0 || port == 0)
        return 0;
    struct dns_tsig key;
    char msg[512], target[CONFIG_DNS_NAME_LEN];
    int k = config_dns_key(cfg, &key, msg, sizeof msg);
    if (k < 0) {
        log_error("%s", msg);
        return -1;
    }
    if (cfg->dns_host[0])
        snprintf(target, sizeof target, "%s", cfg->dns_host);
    else if (dns_publish_fqdn(target, sizeof target) < 0 || dns_name_canonical(target, target, sizeof target) < 0) {
        log_error("--dns-publish: this host has no usable DNS name (gethostname); give --dns-host NAME");
        return -1;
    }
    struct dns_publish_cfg dc;
    memset(&dc, 0, sizeof dc);
    for (int i = 0; i < cfg->n_dns_publish; i++)
        dc.zones[dc.n_zones++] = cfg->dns_publish[i];
    dc.server = cfg->dns_server;
    dc.key = k > 0 ? &key : NULL;
    dc.target = target;
    dc.priority = (uint16_t)cfg->dns_priority;
    dc.weight = (uint16_t)cfg->dns_weight;
    dc.port = port;
    dc.ttl_s = cfg->dns_ttl_ms / 1000;
    dc.refresh_s = cfg->dns_refresh_ms / 1000;
    for (int i = 0; i < cfg->n_dns_address; i++)
        dc.addresses[dc.n_addresses++] = cfg->dns_address[i];
    dc.m = m;
    int rc = dns_publish_start(&dc, out);
    kms_wipe(&key, sizeof key);
    return rc;
}

/* Starts the DNS publisher when --dns-publish names zones: the SRV record points at the first listener's port.
 * 0, or -1 (logged). */
static int start_dns(struct http_start_ctx *x, const struct server_bound *l, size_t n)
{
    x->kms_port = n ? bound_port(&l[0]) : 0;
    return dns_start(x->cfg, x->kms_port, x->m, &x->dns);
}

/* What the HTTP server takes from the configuration, at start and at a reload (http_reload: the token, the
 * limits, the count's settings shown). */
static void http_cfg_make(const struct kmsd_config *cfg, struct http_cfg *hc)
{
    hc->token = cfg->http_token;
    hc->max_connections = cfg->http_max_connections;
    hc->timeout_s = cfg->http_timeout_ms / 1000;
    hc->idle_unload_ms = cfg->http_idle_unload_ms;
    hc->max_page = cfg->http_max_page;
    hc->count_mode = cfg->count_mode == CONFIG_COUNT_GENUINE ? "genuine" : "fixed";
    hc->client_count = cfg->client_count;
}

/* Reads --http-tls-cert and --http-tls-key (when given) into pem[0] and pem[1]. 0, or -1 after a message starting
 * with prefix. */
static int read_tls(const struct kmsd_config *cfg, char *pem[2], const char *prefix)
{
    const char *paths[2] = {cfg->http_tls_cert, cfg->http_tls_key};
    pem[0] = pem[1] = NULL;
    for (int i = 0; i < 2 && cfg->http_tls_cert[0]; i++) {
        char msg[512];
        if (!(pem[i] = config_read_pem(paths[i], msg, sizeof msg))) {
            log_error("%s%s %s", prefix, i ? "--http-tls-key" : "--http-tls-cert", msg);
            free(pem[0]);
            pem[0] = NULL;
            return -1;
        }
    }
    return 0;
}

static void free_tls_texts(char *pem[2])
{
    for (int i = 0; i < 2; i++)
        if (pem[i]) {
            kms_wipe(pem[i], strlen(pem[i]));
            free(pem[i]);
        }
}

/* server_cfg.on_bound: starts the HTTP server once the KMS listeners are bound (so that /api/v1/host and
 * /readyz know them). Returns 0 or -1 (an explicit --http address could not be bound; logged). */
static int start_http(void *arg, const struct server_bound *l, size_t n)
{
    struct http_start_ctx *x = arg;
    const struct kmsd_config *cfg = x->cfg;
    if (start_dns(x, l, n) < 0)
        return -1;
    if (cfg->http_off)
        return 0;
    struct http_cfg hc;
    memset(&hc, 0, sizeof hc);
    for (int i = 0; i < cfg->n_http && i < HTTP_MAX_ADDRS; i++)
        hc.addrs[hc.n_addrs++] = cfg->http[i];
    http_cfg_make(cfg, &hc);
    hc.db_path = x->db_path;
    hc.host_name = x->host_name;
    hc.m = x->m;
    hc.host = x->host;
    hc.dns = x->dns;
    char *pem[2]; /* read again here, still as root (the privilege drop comes after on_bound) */
    if (read_tls(cfg, pem, "") < 0)
        return -1;
    hc.tls_cert = pem[0];
    hc.tls_key = pem[1];
    for (int i = 0; i < cfg->n_http && !pem[0] && cfg->http_token[0]; i++)
        if (!http_addr_is_loopback(cfg->http[i]))
            log_warn("--http %s: the token travels in clear over plain HTTP; give --http-tls-cert and --http-tls-key",
                     cfg->http[i]);
    int rc = http_start(&hc, l, n, &x->http) < 0 ? -1 : 0;
    free_tls_texts(pem);
    return rc;
}

/* Something a reload replaced that other threads may still read (a product table, a host identity): kept, never
 * freed while kmsd runs (a list only so that it stays reachable). Bounded by the reloads that changed the table. */
struct kept {
    struct kept *next;
    const void *p;
};

/* Everything kmsd runs with, in one place (main keeps it in static storage: it is large, and the HTTP threads
 * read the host and the metrics until server_run has returned). */
struct kmsd {
    struct kmsd_config cfg;
    struct rng_pool pool;
    struct kms_rng rng;
    struct activation_host host; /* the identity made at start, for the product table of the start */
    /* The identity in use: &host, or after a reload that changed the product table a copy for the new table
     * (activation_host_rebase). hostp is the loop's view (the activation policy's), host_now the HTTP threads'. */
    const struct activation_host *hostp;
    _Atomic(const struct activation_host *) host_now;
    struct kept *kept;
    struct activation_cfg acfg;
    const struct products_csvlk *csvlks[CONFIG_MAX_CSVLKS];
    struct acl acl;
    char host_name[CONFIG_HOST_NAME_LEN + 1]; /* --host-name, or the system's (host_name_resolve) */
    struct acl proxies; /* --trusted-proxy */
    struct privdrop_cfg priv;
    struct server_cfg scfg;
    struct metrics metrics;
    char lock[CONFIG_PATH_LEN + 16];
    char db_path[CONFIG_PATH_LEN + 16];
    char local_path[CONFIG_PATH_LEN + 16]; /* what the journal files are named after (store_local_path) */
    struct http_start_ctx hx;
    int argc; /* the command line, read again at a reload */
    char **argv;
};

static void make_activation_cfg(struct kmsd *k);

/* The server's limits that a reload may change (config_option_live): set at start-up and again at each reload, where
 * the server reads them at their next use. */
static void server_limits(struct server_cfg *s, const struct kmsd_config *cfg)
{
    s->max_connections = cfg->max_connections;
    s->idle_timeout_ms = cfg->idle_timeout_ms;
    s->max_pdu = cfg->max_pdu;
    s->max_requests = cfg->max_requests;
    s->max_pdus = cfg->max_pdus;
    s->max_conn_buffer = cfg->max_conn_buffer;
    s->pdu_timeout_ms = cfg->pdu_timeout_ms;
    s->max_per_address = cfg->max_per_address;
    s->rate_limit = cfg->rate_limit;
    s->rate_burst = cfg->rate_burst;
    s->limit_private = cfg->limit_private;
    s->count_floor = cfg->count_floor;
    s->retention_days = cfg->retention_days;
    s->max_clients = cfg->max_clients;
}

/* Keeps p for the life of the process (struct kept). Out of memory: p stays allocated all the same, unlisted. */
static void keep(struct kmsd *k, const void *p)
{
    struct kept *n = malloc(sizeof *n);
    if (!n)
        return;
    *n = (struct kept){k->kept, p};
    k->kept = n;
}

/* The operator's --epid overrides (the running configuration's: a restart-only option) on host h, whose table may
 * lack some of their groups (then logged). */
static void apply_epid_overrides(const struct kmsd_config *cfg, struct activation_host *h, bool at_reload)
{
    for (int i = 0; i < cfg->n_epids; i++) {
        const struct products_csvlk *c = products_in_find_csvlk(h->table, cfg->epids[i].csvlk);
        if (c && activation_host_set_epid(h, c, cfg->epids[i].epid) == 0)
            continue;
        if (at_reload)
            log_warn("reload: --epid %s: the new product table has no CSVLK group %s with that group id; its "
                     "generated ePID answers", cfg->epids[i].csvlk, cfg->epids[i].csvlk);
    }
}

/* Whether two tables hold the same data from the same source (an unchanged --products-file read again). */
static bool same_table(const struct products_tables *a, const struct products_tables *b)
{
    return a == b || (strcmp(a->source, b->source) == 0 && memcmp(a->sha256, b->sha256, sizeof a->sha256) == 0);
}

/*
 * The product table of a reload: next's (the built-in one, or --products-file's as config_load just read it) takes
 * the place of the one in use when it differs, with the host identity carried over to it (activation_host_rebase:
 * the ePIDs of the groups it has alike, new ones for new groups, written to the identity file) and published for the
 * HTTP threads. The table and the host it replaces are kept (struct kept): other threads may be reading them.
 * Returns 0 (next->products_table is the table in use) or -1 (logged; nothing changed; next's table released).
 */
static int reload_products(struct kmsd *k, struct kmsd_config *next)
{
    const struct products_tables *cur = products_current(), *nt = next->products_table;
    if (same_table(nt, cur)) {
        config_release(next); /* a table read again: the one in use stays */
        next->products_table = cur;
        return 0;
    }
    char summary[PRODUCTS_FILE_SUMMARY_LEN];
    products_file_summary(nt, summary);
    struct activation_host *nh = malloc(sizeof *nh);
    size_t made = 0;
    int rc = nh ? activation_host_rebase(nh, k->hostp, nt, (int64_t)time(NULL), &k->rng, &made) : -ENOMEM;
    if (rc < 0) {
        log_error("reload: the product table %s cannot be used: %s; the running one stays", summary,
                  rc == -ENOMEM ? "out of memory" : kms_strerror(rc));
        free(nh);
        config_release(next);
        return -1;
    }
    if (made > 0) { /* kept like the identity made at start, before the operator's overrides (never written) */
        char path[CONFIG_PATH_LEN + 32], err[512];
        snprintf(path, sizeof path, "%s/%s", k->cfg.state_dir, IDENTITY_FILE);
        if (identity_save(path, nh, err, sizeof err) < 0)
            log_warn("reload: host identity: %s (the %zu new ePID(s) are used, but made anew at the next start)", err,
                     made);
    }
    apply_epid_overrides(&k->cfg, nh, true);
    if (cur != products_builtin())
        keep(k, cur);
    if (k->hostp != &k->host)
        keep(k, k->hostp);
    products_use(nt);
    atomic_store_explicit(&k->host_now, nh, memory_order_release);
    k->hostp = nh;
    size_t unknown = 0; /* KMS ids the metrics, sized at start, count as "unknown" */
    for (size_t i = 0; i < nt->kms_count; i++)
        unknown += metrics_kms_index(&k->metrics, &nt->kms[i]) == k->metrics.n_kms;
    log_info("reload: product table %s in use (%zu new ePID(s))", summary, made);
    if (unknown)
        log_info("reload: %zu KMS id(s) of the new table are counted as product \"unknown\" in /metrics until kmsd "
                 "restarts", unknown);
    return 0;
}

/* A reload's part for the HTTP server (the running configuration already holds the new values): the token,
 * limits and count settings, and the certificate and key read again — a certificate renewed in place under the same
 * name is taken too. A file that does not read keeps the HTTP server as it runs. */
static void reload_http(struct kmsd *k)
{
    if (!k->hx.http)
        return;
    struct http_cfg hc;
    memset(&hc, 0, sizeof hc);
    http_cfg_make(&k->cfg, &hc);
    char *pem[2];
    if (read_tls(&k->cfg, pem, "reload: the HTTP server keeps its settings: ") < 0)
        return;
    hc.tls_cert = pem[0];
    hc.tls_key = pem[1];
    (void)http_reload(k->hx.http, &hc); /* a failure is logged, and the running server stays */
    free_tls_texts(pem);
}

/* A reload's part for DNS publishing, when one of its options changed (the running configuration holds the new
 * values): the new publisher's key is read first; only then does the old publisher stop, removing its records as at
 * a clean stop, and the new one start. The loop waits meanwhile (at most DNS_PUBLISH_TIMEOUT_MS per zone of the old publisher). */
static void reload_dns(struct kmsd *k)
{
    struct kmsd_config *c = &k->cfg;
    struct dns_tsig key;
    char msg[512];
    if (c->n_dns_publish && config_dns_key(c, &key, msg, sizeof msg) < 0) { /* checked before anything stops */
        log_error("reload: DNS publishing goes on as it was: %s", msg);
        return;
    }
    kms_wipe(&key, sizeof key);
    struct dns_publish *old = k->hx.dns;
    http_set_dns(k->hx.http, NULL);
    dns_publish_stop(old);
    k->hx.dns = NULL;
    if (dns_start(c, k->hx.kms_port, &k->metrics, &k->hx.dns) < 0)
        log_error("reload: DNS publishing stopped (above); fix the configuration and reload again");
    http_set_dns(k->hx.http, k->hx.dns);
    if (k->hx.dns)
        log_info("reload: DNS publishing restarted with the new settings");
    else if (old)
        log_info("reload: DNS publishing stopped; its records were removed");
}

/* server_cfg.reload (SIGHUP): reads the configuration again as at start (command line, INI file, environment). A
 * configuration that does not load leaves the running one as it is (logged). Otherwise the live options take effect
 * for the next connection and activation (open connections stay open), the log file is reopened (logrotate), and
 * each changed option that needs a restart is named. */
static void reload_into(struct kmsd *k, struct kmsd_config *next)
{
    static const enum log_level levels[] = {LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG};
    config_defaults(next);
    char *why = NULL;
    size_t why_len = 0;
    FILE *err = open_memstream(&why, &why_len);
    int rc = err ? config_load(next, k->argc, k->argv, environ, err, err) : -1;
    if (err)
        fclose(err);
    if (rc != KMSD_CONFIG_OK || next->check_config) {
        char *nl = why ? strchr(why, '\n') : NULL;
        if (nl)
            *nl = '\0';
        log_error("reload: the configuration does not load, the running one stays: %s",
                  why && *why ? why : "out of memory");
        free(why);
        return;
    }
    free(why);
    int lr = log_reopen(next->log_file); /* always: a rotated file's successor */
    if (lr < 0)
        log_error("reload: cannot reopen the log file %s: %s (logging to the old one)", next->log_file, strerror(-lr));
    const char *changed[64];
    size_t n = config_changed(&k->cfg, next, changed, sizeof changed / sizeof changed[0]);
    if (n > sizeof changed / sizeof changed[0])
        n = sizeof changed / sizeof changed[0];
    struct acl acl, proxies;
    if (acl_build(&acl, next->allow[0], next->n_allow, next->deny[0], next->n_deny, sizeof next->allow[0],
                  next->private_only) ||
        acl_build(&proxies, next->trusted_proxy[0], next->n_trusted_proxy, NULL, 0, sizeof next->trusted_proxy[0],
                  false)) {
        log_error("reload: the access lists do not build; the running configuration stays");
        config_release(next);
        return;
    }
    if (next->count_mode == CONFIG_COUNT_GENUINE && !k->hx.db_path) {
        log_error("reload: --count-mode genuine needs the registry (kmsd runs with --no-db); the running "
                  "configuration stays");
        config_release(next);
        return;
    }
    if (reload_products(k, next) < 0) /* before the policy is made again: --csvlk names the new table's groups */
        return;
    unsigned applied = 0, restart = 0;
    char names[512] = "";
    for (size_t i = 0; i < n; i++) {
        if (config_option_live(changed[i])) {
            applied++;
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", applied > 1 ? ", " : "", changed[i]);
        } else {
            restart++;
            log_warn("reload: %s changed; it takes effect when kmsd restarts", changed[i]);
        }
    }
    /* the live options: the running configuration takes their new values; what follows from them below */
    struct kmsd_config *c = &k->cfg;
    config_take_live(c, next);
    c->products_table = next->products_table; /* the table in use (reload_products) */
    k->scfg.genuine_count = c->count_mode == CONFIG_COUNT_GENUINE; /* the server tells its writer (on_hangup) */
    k->scfg.registry_idle_unload_ms = c->registry_idle_unload_ms;  /* the same */
    log_set_level(levels[c->log_level]);
    k->acl = acl;
    k->proxies = proxies;
    k->scfg.proxy_protocol = c->proxy_protocol; /* for the connections accepted from now */
    server_limits(&k->scfg, c);
    make_activation_cfg(k);
    reload_http(k);
    bool dns_changed = false;
    for (size_t i = 0; i < n; i++)
        dns_changed |= strncmp(changed[i], "dns-", 4) == 0;
    if (dns_changed)
        reload_dns(k);
    log_info("reload: %u option(s) applied%s%s%s; %u need a restart", applied, applied ? " (" : "", names,
             applied ? ")" : "", restart);
}

static void reload(void *arg)
{
    /* Large (64 KiB): static, and only the loop thread reloads. Its pages are given back once the reload is done
     * (what it holds was copied or built into the running configuration): otherwise every reload would leave an
     * idle kmsd 64 KiB larger (docs/performance.md, "What the web page left behind"). */
    static struct kmsd_config next;
    reload_into(arg, &next);
    prefault_release(&next, sizeof next);
#ifdef __GLIBC__
    malloc_trim(0); /* and what the reload allocated and freed (the file's text, the lists it built and replaced) */
#endif
}

/* Opens the log, makes sure of the state directory and takes its lock. Returns 0 or a negative code after a
 * message. */
static int open_state(struct kmsd *k)
{
    static const enum log_level levels[] = {LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG};
    const struct kmsd_config *cfg = &k->cfg;
    int rc = log_open(levels[cfg->log_level], cfg->log_file, cfg->syslog);
    if (rc < 0) {
        fprintf(stderr, "kmsd: --log-file %s: %s\n", cfg->log_file, strerror(-rc));
        return rc;
    }
    rc = ensure_state_dir(cfg->state_dir);
    if (rc == -ENOENT) { /* mkdir: the directory above is missing */
        fprintf(stderr, "kmsd: --state-dir %s: cannot create it: the directory above it does not exist (kmsd creates "
                        "one level)\n", cfg->state_dir);
        return rc;
    }
    if (rc < 0) {
        fprintf(stderr, "kmsd: --state-dir %s: %s\n", cfg->state_dir, strerror(-rc));
        return rc;
    }
    snprintf(k->lock, sizeof k->lock, "%s/%s", cfg->state_dir, PIDLOCK_STATE_FILE);
    return lock_path(k->lock, "state directory", cfg->state_dir);
}

/* The "kmsd starting" line, and each ePID at debug level. */
static void log_host(const struct activation_host *host)
{
    char hw[KMS_HWID_TEXT_LEN + 1];
    kms_format_hwid(host->hwid, hw);
    log_info("kmsd starting: host build %u (%s), LCID %u, HWID %s", (unsigned)host->build->build, host->build->name,
             (unsigned)host->lcid, hw);
    for (size_t i = 0; i < host->n; i++)
        if (host->epid[i][0])
            log_debug("ePID %-14s %s", host->table->csvlks[i].key, host->epid[i]);
}

/* The activation policy from the configuration and the host. */
static void make_activation_cfg(struct kmsd *k)
{
    const struct kmsd_config *cfg = &k->cfg;
    k->acfg = (struct activation_cfg){
        .client_count = cfg->client_count,
        .allow_low_count = cfg->allow_low_count,
        .activation_interval = cfg->activation_interval,
        .renewal_interval = cfg->renewal_interval,
        .host = k->hostp,
        .products = (enum activation_products)cfg->products,
        .time_check = cfg->time_check,
        .clock = &wall_clock,
    };
    for (int i = 0; i < cfg->n_csvlks; i++) /* names checked by config */
        k->csvlks[k->acfg.n_csvlks++] = products_find_csvlk(cfg->csvlks[i]);
    k->acfg.csvlks = k->csvlks;
}

/* The network side's settings, the registry left out (open_registry). Returns 0 or -EINVAL when the access
 * lists do not build (not reached: the configuration checked every entry). */
static int make_server_cfg(struct kmsd *k)
{
    const struct kmsd_config *cfg = &k->cfg;
    struct server_cfg *s = &k->scfg;
    memset(s, 0, sizeof *s);
    for (int i = 0; i < cfg->n_listen && i < SERVER_MAX_LISTENERS; i++)
        s->listen[s->n_listen++] = cfg->listen[i];
    s->port = cfg->port;
    server_limits(s, cfg);
    s->max_addresses = cfg->max_addresses;
    s->acl = &k->acl;
    if (acl_build(&k->acl, cfg->allow[0], cfg->n_allow, cfg->deny[0], cfg->n_deny, sizeof cfg->allow[0],
                  cfg->private_only))
        return -EINVAL;
    s->proxy_protocol = cfg->proxy_protocol;
    s->proxies = &k->proxies;
    if (acl_build(&k->proxies, cfg->trusted_proxy[0], cfg->n_trusted_proxy, NULL, 0, sizeof cfg->trusted_proxy[0],
                  false))
        return -EINVAL;
    privdrop_setup(&k->priv, cfg); /* started as root: switch user once the listeners are bound */
    s->after_bind = privdrop_hook;
    s->after_bind_ctx = &k->priv;
    s->bind.ndr32 = true;
    s->bind.ndr64 = cfg->ndr64;
    s->bind.btfn = cfg->btfn;
    s->activation = &k->acfg;
    s->rng = &k->rng;
    s->genuine_count = cfg->count_mode == CONFIG_COUNT_GENUINE;
    s->registry_idle_unload_ms = cfg->registry_idle_unload_ms;
    return 0;
}

/* Runs the server with the HTTP server started from its on_bound, then stops and frees what main set up.
 * Returns server_run's result. */
static int run(struct kmsd *k)
{
    (void)store_path(k->cfg.db, k->cfg.state_dir, k->db_path, sizeof k->db_path); /* fits: open_registry checked */
    k->hx = (struct http_start_ctx){&k->cfg, &k->host_now, &k->metrics, k->scfg.db ? k->db_path : NULL, NULL, NULL,
                                    0, k->host_name};
    (void)store_local_path(k->cfg.db, k->cfg.state_dir, k->local_path, sizeof k->local_path); /* checked too */
    k->scfg.db_path = k->local_path;
    k->scfg.on_bound = start_http;
    k->scfg.on_bound_arg = &k->hx;
    k->scfg.reload = reload;
    k->scfg.reload_ctx = k;
    int rc = server_run(&k->scfg, &k->metrics);
    http_stop(k->hx.http); /* after the loop: the HTTP threads read the metrics and the host until here */
    dns_publish_stop(k->hx.dns); /* a clean stop: the published records are removed */
    metrics_free(&k->metrics);
    kms_wipe(&k->host, sizeof k->host);
    log_close();
    return rc;
}

/* The only place that turns results into exit statuses: 2 when the configuration, the state directory, the
 * identity, the registry or a listener must change (SERVER_ERR_LISTEN, SERVER_ERR_REGISTRY), 1 for other failures. */
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "dns-record") == 0) /* reads kmsd's configuration, so not a registry command */
        return cli_dns_record(argc, argv, environ);
    if (argc > 1 && strcmp(argv[1], "products") == 0) /* likewise (list), and check needs no registry */
        return cli_products(argc, argv, environ);
    if (argc > 1 && cli_is_command(argv[1]))
        return cli_main(argc, argv);
    if (argc > 1 && argv[1][0] != '-')
        return cli_unknown(argv[1], stderr);
    config_set_help_tail(cli_help_commands);
#ifdef __GLIBC__
    /* Two malloc arenas, set before any thread starts, instead of one per thread (glibc: up to 8 per core), each
     * keeping its top and its fragments resident: 0.45 MB of an idle kmsd. The other threads share them with
     * the loop in turn; the loop's own allocations per activation are in its pool and reply buffer (server_conn.c),
     * so sharing costs it no lock (docs/performance.md, "Memory"). */
    (void)mallopt(M_ARENA_MAX, KMSD_MALLOC_ARENAS);
    /* The mmap and trim thresholds fixed at glibc's starting values. Left dynamic, freeing one large mmapped block
     * (the writer's 9 MB record batch) raises them to its size and twice that, and from then on the threads' arena
     * keeps up to 18 MB of freed memory at its top resident: malloc_trim releases free chunks in the bins, but
     * the top of a thread's arena only when it exceeds the trim threshold (38-registry-release). Blocks above the
     * threshold are off the activation path: the writer's batch and read buffer once per busy period, a fold's
     * key sort (prefaulted), the search's arrays, SQLite's larger allocations for a query. */
    (void)mallopt(M_MMAP_THRESHOLD, KMSD_MALLOC_MMAP_THRESHOLD);
    (void)mallopt(M_TRIM_THRESHOLD, KMSD_MALLOC_MMAP_THRESHOLD);
    /* And no padding kept at an arena's top when it grows or shrinks (glibc: 128 kB): trimmed, the arena the other
     * threads share keeps only what is in use, not up to 128 kB of pages its top once held (docs/performance.md,
     * "What the web page left behind": 16 kB). It grows by what is asked instead, one system call per growth,
     * which happens when a busy period begins, not per activation. */
    (void)mallopt(M_TOP_PAD, 0);
#endif
    /* The time zone read now, by the main thread among start-up's allocations: libmicrohttpd's Date header has glibc
     * read it once, and the strings it keeps for good would otherwise sit in the arena the HTTP threads share,
     * between what they free, and keep its pages resident after the HTTP server dozes. */
    tzset();
    static struct kmsd k;
    k.argc = argc;
    k.argv = argv;
    config_defaults(&k.cfg);
    int rc = config_load(&k.cfg, argc, argv, environ, stdout, stderr);
    if (rc == KMSD_CONFIG_EXIT_OK)
        return 0;
    if (rc != KMSD_CONFIG_OK)
        return 2;
    if (k.cfg.products_table != products_builtin())
        products_use(k.cfg.products_table); /* in use from now on, never freed */
    if (open_state(&k) < 0)
        return 2;
    if (k.cfg.products_table != products_builtin()) {
        char summary[PRODUCTS_FILE_SUMMARY_LEN];
        products_file_summary(k.cfg.products_table, summary);
        log_info("product table %s", summary);
    }
    k.pool.pos = RNG_POOL; /* empty: the first draw fills it */
    k.rng = (struct kms_rng){rng_fill, &k.pool};
    const struct products_build *build;
    if (host_build(&k.cfg, &build) < 0)
        return 2;
    rc = activation_host_generate(&k.host, build, k.cfg.lcid, NULL, time(NULL), &k.rng);
    if (rc < 0) {
        fprintf(stderr, "kmsd: cannot generate the host identity: %s\n", kms_strerror(rc));
        return 1;
    }
    if (host_identity(&k.cfg, &k.host) < 0)
        return 2;
    k.hostp = &k.host;
    atomic_store_explicit(&k.host_now, &k.host, memory_order_release);
    log_host(&k.host);
    make_activation_cfg(&k);
    host_name_resolve(&k.cfg, k.host_name);
    if (make_server_cfg(&k) < 0 || open_registry(&k.cfg, k.host_name, &k.scfg.db) < 0)
        return 2;
    if (metrics_init(&k.metrics, (int64_t)time(NULL)) < 0) {
        fprintf(stderr, "kmsd: out of memory\n");
        return 1;
    }
    rc = run(&k);
    return rc == SERVER_ERR_LISTEN || rc == SERVER_ERR_REGISTRY ? 2 : rc < 0 ? 1 : 0;
}
