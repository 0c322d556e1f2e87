/*
 * http — kmsd's HTTP server: the web page, the JSON API, Prometheus metrics, /healthz and /readyz.
 *
 * libmicrohttpd with one internal polling thread per bound address (a connection cap shared by all addresses, an
 * idle timeout), which answers whatever cannot wait; registry queries and /readyz probes run on two worker threads
 * (lanes, small stacks) with their connections suspended meanwhile, so that /healthz, /readyz from its cache and
 * /metrics never wait for them. The HTTP threads only read: the metrics atomics, the host identity through the
 * pointer given here (each identity immutable; a reload that swaps the product table publishes a new one, the old one
 * staying valid), the product table in use (products_current), and the registry through their own read-only SQLite
 * connection (WAL lets it read while the writer thread writes; it is never the writer's connection). Request targets
 * are parsed by http_query.c. libmicrohttpd itself is loaded while HTTP is used and unloaded once no connection
 * came for --http-idle-unload (http_idle.c: kmsd keeps the listening sockets, and one small thread watches them
 * meanwhile). docs/internals/http.md and docs/api.md describe it.
 */
#ifndef KMSD_HTTP_H
#define KMSD_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activation.h"
#include "metrics.h"
#include "server.h"

#define HTTP_MAX_ADDRS 8
#define HTTP_THREAD_STACK (256u * 1024u)   /* bytes of each HTTP thread's stack (libmicrohttpd's, the lanes') */
#define HTTP_CONN_MEMORY (16u * 1024u)     /* bytes per connection for headers and the request line */
#define HTTP_READYZ_TIMEOUT_MS 2000        /* each step of the /readyz self-activation */
#define HTTP_READYZ_CACHE_MS 1000          /* a /readyz result is reused this long */
#define HTTP_MAX_RETIRED (2 * HTTP_MAX_ADDRS) /* replaced daemons still serving their connections, at most */

struct http_cfg {
    const char *addrs[HTTP_MAX_ADDRS]; /* "ADDR[:PORT]" texts; none: the defaults (HTTP_DEFAULT_ADDRS) */
    int n_addrs;
    const char *token;                 /* Bearer token required on every request; "" or NULL: none */
    uint32_t max_connections;
    uint32_t timeout_s;
    uint32_t idle_unload_ms;           /* no connection this long: libmicrohttpd is unloaded until the next (0: never) */
    uint32_t max_page;
    const char *db_path;               /* the registry to read; NULL without one */
    const char *host_name;             /* this kmsd's name in the registry (--host-name) */
    struct metrics *m;
    _Atomic(const struct activation_host *) *host; /* the identity in use, read with acquire at each request */
    const char *count_mode;            /* "fixed" or "genuine" */
    int32_t client_count;              /* -1: auto */
    struct dns_publish *dns;           /* the DNS publisher (/api/v1/host shows its zones); NULL: none */
    const char *tls_cert, *tls_key;    /* PEM texts: serve HTTPS (libmicrohttpd's TLS); NULL: plain HTTP. Copied. */
};

struct http_server;
struct dns_publish;

/* Binds every address and starts serving. kms lists the bound KMS listeners (what /api/v1/host shows and
 * what /readyz activates against; n_kms may be 0). An explicit address that cannot be bound is an error
 * (logged; returns -1); a default one is logged and skipped. *out is NULL when nothing is served. */
int http_start(const struct http_cfg *cfg, const struct server_bound *kms, size_t n_kms, struct http_server **out);
/* A reload (the loop thread's; h may be NULL): takes cfg's token, max_page, count_mode and client_count at once
 * for the next request, and when the TLS texts (a certificate renewed in place, HTTPS turned on or off),
 * max_connections or timeout_s changed, replaces each daemon by a new one on the same listening socket (nothing is
 * refused meanwhile; the old one finishes the connections it has; asleep, libmicrohttpd is loaded to check them), and
 * takes idle_unload_ms. The addresses, the registry and the rest of cfg
 * are not looked at. Returns 0, or -1 when a new daemon did not start (the certificate and key do not go
 * together, ...): the running daemons stay, with their certificate and limits, and the message is logged. */
int http_reload(struct http_server *h, const struct http_cfg *cfg);
/* The DNS publisher /api/v1/host reports on (NULL: none), after a reload replaced it; the old one may be freed
 * once this returns. */
void http_set_dns(struct http_server *h, struct dns_publish *dns);
/* Stops the threads and frees everything (NULL is fine). */
void http_stop(struct http_server *h);

#endif
