/* kmsd — a KMS host for Microsoft volume activation. See kmsd(8) and docs/config.md. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "activation.h"
#include "cli.h"
#include "config.h"
#include "identity.h"
#include "err.h"
#include "http.h"
#include "kms_crypto.h"
#include "log.h"
#include "metrics.h"
#include "pidlock.h"
#include "privdrop.h"
#include "products.h"
#include "server.h"
#include "store.h"

extern char **environ;

static int64_t wall_now(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}
static const struct activation_clock wall_clock = {wall_now, NULL};

static int rng_fill(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    return kms_random_bytes(buf, len);
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
 * name the thing locked in messages. Returns 0 or 2 after a message. */
static int lock_or_exit(const char *path, const char *what, const char *whose)
{
    pid_t holder;
    int fd = pidlock_acquire(path, &holder);
    if (fd >= 0)
        return 0; /* kept open until exit: the lock lives as long as the descriptor */
    if (fd != -EWOULDBLOCK)
        fprintf(stderr, "kmsd: %s %s: cannot lock %s: %s\n", what, whose, path, strerror(-fd));
    else if (holder > 0)
        fprintf(stderr, "kmsd: %s %s is in use by another kmsd (PID %ld); one kmsd per %s\n", what, whose,
                (long)holder, what);
    else
        fprintf(stderr, "kmsd: %s %s is in use by another kmsd; one kmsd per %s\n", what, whose, what);
    return 2;
}

/* Builds the host identity: the one kept in the state directory, or a new one (then kept there), with the
 * operator's overrides on top (not kept). */
static int make_host(const struct kmsd_config *cfg, const struct kms_rng *rng, struct activation_host *host)
{
    const struct products_build *build =
        cfg->host_build ? products_build_by_number(cfg->host_build) : activation_default_build();
    if (!build || !build->epid) {
        fprintf(stderr, "kmsd: --host-build %u: not a host build of the product table\n", (unsigned)cfg->host_build);
        return 2;
    }
    if (cfg->ndr64 && build->build < 9200) {
        fprintf(stderr,
                "kmsd: --host-build %u: a host older than build 9200 does not speak NDR64; use --no-ndr64 or a "
                "newer build\n",
                (unsigned)build->build);
        return 2;
    }
    int rc = activation_host_generate(host, build, cfg->lcid, NULL, time(NULL), rng);
    if (rc < 0) {
        fprintf(stderr, "kmsd: cannot generate the host identity: %s\n", kms_strerror(rc));
        return 1;
    }
    char path[CONFIG_PATH_LEN + 32], err[512];
    snprintf(path, sizeof path, "%s/%s", cfg->state_dir, IDENTITY_FILE);
    size_t missing = 0;
    rc = identity_load(path, host, &missing, err, sizeof err);
    if (rc == -ENOENT || (rc == 0 && missing > 0)) {
        rc = identity_save(path, host, err, sizeof err);
        if (rc == 0)
            log_info("host identity %s: %s", missing ? "completed" : "created", path);
    }
    if (rc < 0) {
        fprintf(stderr, "kmsd: host identity: %s\n", err);
        return 2;
    }
    if (cfg->hwid_set)
        memcpy(host->hwid, cfg->hwid, sizeof host->hwid);
    for (int i = 0; i < cfg->n_epids; i++) {
        const struct products_csvlk *c = products_find_csvlk(cfg->epids[i].csvlk);
        if (!c || activation_host_set_epid(host, c, cfg->epids[i].epid) < 0) {
            fprintf(stderr, "kmsd: --epid %s=%s: not an ePID of that CSVLK group\n", cfg->epids[i].csvlk,
                    cfg->epids[i].epid);
            return 2;
        }
    }
    return 0;
}

/* Opens the registry unless it is switched off. Returns 0 (db NULL when off) or 2 after a message. */
static int open_registry(const struct kmsd_config *cfg, struct store **db)
{
    *db = NULL;
    if (strcmp(cfg->db, "none") == 0) {
        if (cfg->count_mode == CONFIG_COUNT_GENUINE) {
            fprintf(stderr, "kmsd: --count-mode genuine needs the registry (remove --no-db / db = none)\n");
            return 2;
        }
        return 0;
    }
    char path[CONFIG_PATH_LEN + 16], lock[CONFIG_PATH_LEN + 32], err[512];
    if (store_path(cfg->db, cfg->state_dir, path, sizeof path) < 0) {
        fprintf(stderr, "kmsd: --db: the registry's path is too long\n");
        return 2;
    }
    snprintf(lock, sizeof lock, "%s%s", path, PIDLOCK_REGISTRY_SUFFIX);
    int rc = lock_or_exit(lock, "registry", path);
    if (rc)
        return rc;
    if (store_open(path, db, err, sizeof err) < 0) {
        fprintf(stderr, "kmsd: registry %s: %s (--no-db runs without one)\n", path, err);
        return 2;
    }
    log_info("registry: %s", path);
    return 0;
}

/* What the HTTP server needs, handed over when the KMS listeners are bound. */
struct http_start_ctx {
    const struct kmsd_config *cfg;
    const struct activation_host *host;
    struct metrics *m;
    const char *db_path; /* NULL without a registry */
    struct http_server *http;
};

/* server_cfg.on_bound: starts the HTTP server once the KMS listeners are bound (so that /api/v1/host and
 * /readyz know them). Returns 0 or -1 (an explicit --http address could not be bound; logged). */
static int start_http(void *arg, const struct server_bound *l, size_t n)
{
    struct http_start_ctx *x = arg;
    const struct kmsd_config *cfg = x->cfg;
    if (cfg->http_off)
        return 0;
    struct http_cfg hc;
    memset(&hc, 0, sizeof hc);
    for (int i = 0; i < cfg->n_http && i < HTTP_MAX_ADDRS; i++)
        hc.addrs[hc.n_addrs++] = cfg->http[i];
    hc.token = cfg->http_token;
    hc.max_connections = cfg->http_max_connections;
    hc.timeout_s = cfg->http_timeout_ms / 1000;
    hc.max_page = cfg->http_max_page;
    hc.db_path = x->db_path;
    hc.m = x->m;
    hc.host = x->host;
    hc.count_mode = cfg->count_mode == CONFIG_COUNT_GENUINE ? "genuine" : "fixed";
    hc.client_count = cfg->client_count;
    return http_start(&hc, l, n, &x->http) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && cli_is_command(argv[1]))
        return cli_main(argc, argv);
    static struct kmsd_config cfg;
    config_defaults(&cfg);
    int rc = config_load(&cfg, argc, argv, environ, stdout, stderr);
    if (rc == KMSD_CONFIG_EXIT_OK)
        return 0;
    if (rc != KMSD_CONFIG_OK)
        return 2;

    static const enum log_level levels[] = {LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG};
    rc = log_open(levels[cfg.log_level], cfg.log_file, cfg.syslog);
    if (rc < 0) {
        fprintf(stderr, "kmsd: --log-file %s: %s\n", cfg.log_file, strerror(-rc));
        return 2;
    }
    rc = ensure_state_dir(cfg.state_dir);
    if (rc < 0) {
        fprintf(stderr, "kmsd: --state-dir %s: %s\n", cfg.state_dir, strerror(-rc));
        return 2;
    }
    static char lock[CONFIG_PATH_LEN + 16];
    snprintf(lock, sizeof lock, "%s/%s", cfg.state_dir, PIDLOCK_STATE_FILE);
    rc = lock_or_exit(lock, "state directory", cfg.state_dir);
    if (rc)
        return rc;

    struct kms_rng rng = {rng_fill, NULL};
    static struct activation_host host;
    rc = make_host(&cfg, &rng, &host);
    if (rc)
        return rc;
    char hw[KMS_HWID_TEXT_LEN + 1];
    kms_format_hwid(host.hwid, hw);
    log_info("kmsd starting: host build %u (%s), LCID %u, HWID %s", (unsigned)host.build->build, host.build->name,
             (unsigned)host.lcid, hw);
    for (size_t i = 0; i < host.n; i++)
        if (host.epid[i][0])
            log_debug("ePID %-14s %s", products_csvlk_at(i)->key, host.epid[i]);

    struct activation_cfg acfg = {
        .client_count = cfg.client_count,
        .allow_low_count = cfg.allow_low_count,
        .activation_interval = cfg.activation_interval,
        .renewal_interval = cfg.renewal_interval,
        .host = &host,
        .products = (enum activation_products)cfg.products,
        .time_check = cfg.time_check,
        .clock = &wall_clock,
    };
    static const struct products_csvlk *csvlks[CONFIG_MAX_CSVLKS];
    for (int i = 0; i < cfg.n_csvlks; i++) /* names checked by config */
        csvlks[acfg.n_csvlks++] = products_find_csvlk(cfg.csvlks[i]);
    acfg.csvlks = csvlks;
    struct server_cfg scfg;
    memset(&scfg, 0, sizeof scfg);
    for (int i = 0; i < cfg.n_listen && i < SERVER_MAX_LISTENERS; i++)
        scfg.listen[scfg.n_listen++] = cfg.listen[i];
    scfg.port = cfg.port;
    scfg.max_connections = cfg.max_connections;
    scfg.idle_timeout_ms = cfg.idle_timeout_ms;
    scfg.max_pdu = cfg.max_pdu;
    scfg.max_requests = cfg.max_requests;
    scfg.max_pdus = cfg.max_pdus;
    scfg.max_conn_buffer = cfg.max_conn_buffer;
    scfg.pdu_timeout_ms = cfg.pdu_timeout_ms;
    scfg.max_per_address = cfg.max_per_address;
    scfg.max_addresses = cfg.max_addresses;
    scfg.rate_limit = cfg.rate_limit;
    scfg.rate_burst = cfg.rate_burst;
    scfg.limit_loopback = cfg.limit_loopback;
    static struct acl acl;
    scfg.acl = &acl;
    if (acl_build(&acl, cfg.allow[0], cfg.n_allow, cfg.deny[0], cfg.n_deny, sizeof cfg.allow[0], cfg.private_only))
        return 2; /* not reached: the configuration checked every entry */
    static struct privdrop_cfg priv; /* started as root: switch user once the listeners are bound */
    privdrop_setup(&priv, &cfg);
    scfg.after_bind = privdrop_hook;
    scfg.after_bind_ctx = &priv;
    scfg.bind.ndr32 = true;
    scfg.bind.ndr64 = cfg.ndr64;
    scfg.bind.btfn = cfg.btfn;
    scfg.activation = &acfg;
    scfg.rng = &rng;

    rc = open_registry(&cfg, &scfg.db);
    if (rc)
        return rc;
    scfg.genuine_count = cfg.count_mode == CONFIG_COUNT_GENUINE;
    scfg.count_floor = cfg.count_floor;
    scfg.retention_days = cfg.retention_days;
    scfg.max_clients = cfg.max_clients;

    static struct metrics metrics;
    if (metrics_init(&metrics, (int64_t)time(NULL)) < 0) {
        fprintf(stderr, "kmsd: out of memory\n");
        return 1;
    }
    static char db_path[CONFIG_PATH_LEN + 16];
    (void)store_path(cfg.db, cfg.state_dir, db_path, sizeof db_path); /* fits: open_registry checked it */
    struct http_start_ctx hx = {&cfg, &host, &metrics, scfg.db ? db_path : NULL, NULL};
    scfg.on_bound = start_http;
    scfg.on_bound_arg = &hx;
    rc = server_run(&scfg, &metrics);
    http_stop(hx.http); /* after the loop: the HTTP threads read the metrics and the host until here */
    metrics_free(&metrics);
    kms_wipe(&host, sizeof host);
    log_close();
    return rc;
}
