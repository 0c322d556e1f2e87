/*
 * server — kmsd's network side on libuv: listeners, connections, framing, limits, timeouts, shutdown.
 *
 * Each connection owns a session (session.h) and a capped input buffer; bytes are framed by the RPC
 * frag_length and each whole PDU goes to the session. A protocol error, a limit or the idle timeout closes
 * that connection only. SIGTERM/SIGINT stop accepting, let pending replies go out, and end the loop.
 * Ownership: a connection is freed in the close callback of its last libuv handle.
 */
#ifndef KMSD_SERVER_H
#define KMSD_SERVER_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "acl.h"
#include "activation.h"
#include "metrics.h"
#include "rng.h"
#include "rpc.h"
#include "store.h"

#define SERVER_MAX_LISTENERS 16

/* One bound KMS listener, as reported to server_cfg.on_bound. */
struct server_bound {
    struct sockaddr_storage addr; /* the bound address (the actual port) */
    char name[96];                /* as logged: "127.0.0.1:1688", "[::]:1688" */
};

struct server_cfg {
    const char *listen[SERVER_MAX_LISTENERS]; /* "ADDR[:PORT]" texts; none: [::]:port, else 0.0.0.0:port */
    int n_listen;
    uint16_t port;
    uint32_t max_connections;
    uint32_t idle_timeout_ms;
    uint32_t max_pdu;
    uint32_t max_requests; /* activation requests per connection; 0: no limit */
    uint32_t max_pdus;     /* PDUs of any type per connection; 0: no limit */
    uint32_t max_conn_buffer;
    uint32_t pdu_timeout_ms;  /* first byte of a PDU to its last */
    uint32_t max_per_address; /* 0: no cap */
    uint32_t max_addresses;   /* per-address table capacity */
    uint32_t rate_limit;      /* activations per address per minute; 0: none */
    uint32_t rate_burst;
    bool limit_private;       /* per-address limits for private peers too (else only public ones: acl_is_private) */
    const struct acl *acl;    /* NULL: everyone */
    bool proxy_protocol;      /* --proxy-protocol: PROXY headers from the proxies, refused from anyone else */
    const struct acl *proxies; /* --trusted-proxy, as an allow list */
    /* Called once every listener is bound, before anything is served or any thread started (privilege
     * drop). Non-zero makes server_run return SERVER_ERR_LISTEN (kmsd exits 2). NULL: nothing. */
    int (*after_bind)(void *ctx);
    void *after_bind_ctx;
    /* SIGHUP: re-reads the configuration and applies what can change live (main.c), on the loop's thread between
     * events, so it may change this struct's limits and what they point to. NULL: SIGHUP is logged and ignored. */
    void (*reload)(void *ctx);
    void *reload_ctx;
    struct rpc_bind_policy bind;
    const struct activation_cfg *activation;
    const struct kms_rng *rng;
    /* registry: NULL to run without one; server_run takes ownership and closes it */
    struct store *db;
    const char *db_path;   /* the journal files are named after it (store_writer.h): store_local_path */
    bool genuine_count;    /* count from the registry instead of the policy's fixed count */
    uint32_t count_floor;  /* genuine mode: at least this */
    uint32_t retention_days;
    uint64_t max_clients;
    uint32_t registry_idle_unload_ms; /* --registry-idle-unload (live: the server tells its writer at a reload) */
    /* Called once with every bound listener, after binding and before the loop runs (NULL: not called);
     * a non-zero return makes server_run return SERVER_ERR_LISTEN without serving. kmsd starts its HTTP server here. */
    int (*on_bound)(void *arg, const struct server_bound *l, size_t n);
    void *on_bound_arg;
};

/* What server_run returns when the listeners could not be set up: a listener that cannot be opened (bind,
 * listen, a name that does not resolve, a bad --listen text) or a refusal of on_bound or after_bind. No other
 * failure returns it (kmsd exits 2 for it, 1 for the others). */
#define SERVER_ERR_LISTEN (-EADDRINUSE)
/* What server_run returns when the registry, opened asleep (store_open_deferred), could not be used at its first
 * connection for a reason to fix in the configuration (a refused password, a newer schema, a bad URI: the writer's
 * on_fatal); kmsd stops as for SIGTERM, keeping its journal, and exits 2. */
#define SERVER_ERR_REGISTRY (-EBADE)

/* Binds every listener, then runs until SIGTERM/SIGINT. Returns 0 after a clean stop, SERVER_ERR_LISTEN when the
 * listeners cannot be set up, SERVER_ERR_REGISTRY (above), or another negative code (a libuv code or -errno) when something else fails at
 * start or the loop ends badly; every failure is logged. m (metrics_init()ed by the caller) receives every
 * counter. */
int server_run(const struct server_cfg *cfg, struct metrics *m);

#endif
