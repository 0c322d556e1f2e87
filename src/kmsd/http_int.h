/*
 * http_int — what the parts of kmsd's HTTP server share (http.c: dispatch, start and stop; http_api.c: the
 * JSON endpoints; http_readyz.c: /readyz). Not for use outside src/kmsd/http*.c. docs/internals/http.md.
 */
#ifndef KMSD_HTTP_INT_H
#define KMSD_HTTP_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "health.h"
#include "http.h"
#include "http_query.h"
#include "store.h"

#define HTTP_JSON_TYPE "application/json; charset=utf-8"

struct http_server {
    struct http_cfg cfg;
    char token[512];
    struct MHD_Daemon *d[HTTP_MAX_ADDRS];
    char names[HTTP_MAX_ADDRS][96];
    int n_d;
    struct server_bound kms[SERVER_MAX_LISTENERS];
    size_t n_kms;
    struct kmsc_target probe_target;
    bool have_probe;

    pthread_mutex_t db_mu; /* the read-only connection serves one request at a time */
    struct store *db;
    char db_path[4096];

    pthread_mutex_t probe_mu; /* one /readyz probe at a time, and its cache */
    uint64_t probe_at_ms;     /* monotonic time of the last probe, 0: none yet */
    enum kmsc_status probe_status;
    char probe_msg[KMSC_MSG_MAX];
    double probe_rtt_ms;
    int64_t probe_wall;
};

/* Queues an answer with Content-Type type, Cache-Control cache and nosniff, and counts its status. body is
 * freed (mode MHD_RESPMEM_MUST_FREE) or kept (MHD_RESPMEM_PERSISTENT) as MHD's mode says. */
enum MHD_Result http_send_body(struct http_server *h, struct MHD_Connection *con, unsigned code, const char *type,
                               const char *cache, void *body, size_t len, enum MHD_ResponseMemoryMode mode);
/* Sends j as JSON (a reference is taken over; NULL answers 500 out of memory). */
enum MHD_Result http_send_json(struct http_server *h, struct MHD_Connection *con, unsigned code, json_t *j);
/* Sends {"error": error, "message": printf(fmt, ...)[, "parameter": param]}. */
enum MHD_Result http_send_error(struct http_server *h, struct MHD_Connection *con, unsigned code, const char *error,
                                const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* 400 bad_parameter for e. */
enum MHD_Result http_send_bad(struct http_server *h, struct MHD_Connection *con, const struct httpq_error *e);
/* Takes h->db_mu and returns the read-only registry connection (opened on first use), or NULL; every call is
 * paired with http_db_put. */
struct store *http_db_get(struct http_server *h);
/* Done with the connection of http_db_get (db may be NULL): hands back its cached pages (the writer's next
 * commit would make SQLite drop them before the next read anyway) and releases h->db_mu. */
void http_db_put(struct http_server *h, struct store *db);

/* The endpoints (http_api.c, http_readyz.c): each checks its parameters and sends its answer. */
enum MHD_Result http_api_clients(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r);
enum MHD_Result http_api_client(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r,
                                const struct guid *cmid);
enum MHD_Result http_api_products(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r);
enum MHD_Result http_api_stats(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r);
enum MHD_Result http_api_host(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r);
enum MHD_Result http_readyz(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r);

#endif
