/*
 * http_int — what the parts of kmsd's HTTP server share (http.c: dispatch, start and stop; http_lane.c: the
 * worker threads for what may wait; http_api.c: the JSON endpoints; http_readyz.c: /readyz). Not for use outside
 * src/kmsd/http*.c. docs/internals/http.md.
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
#include "mhd_fns.h"
#include "store.h"

#define HTTP_JSON_TYPE "application/json; charset=utf-8"

/* An answer made and not yet queued: the endpoints fill one, and the libmicrohttpd thread queues it (at once, or
 * when the connection is resumed after a lane ran the endpoint). r NULL: out of memory, the connection is closed. */
struct http_reply {
    struct MHD_Response *r;
    unsigned code;
};

struct http_lane;

/* A request handed to a lane (embedded in http.c's per-request state). Its connection is suspended from
 * http_lane_submit until the lane has filled out and resumed it; done is then true. */
struct http_job {
    struct http_job *next;
    struct MHD_Connection *con;
    struct http_reply out;
    bool done;
};

/* One worker thread and its queue: what may wait (a registry query, the /readyz self-activation) runs there, one
 * job at a time in arrival order, never on libmicrohttpd's thread, which goes on serving the other requests. */
struct http_lane {
    const char *name; /* for the log: "registry", "readyz" */
    struct http_server *h;
    void (*run)(struct http_server *h, struct http_job *job); /* fills job->out */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct http_job *head, *tail; /* waiting, under mu */
    bool started;                 /* the thread runs (started on the first job) */
    bool stopping;                /* http_lane_stop: no more jobs taken */
    pthread_t thread;
    void *stack; /* the thread's own stack (thread_stack_start), unmapped once the thread is joined */
};

/* One libmicrohttpd daemon and the copies of the PEM texts it was started with (NULL: plain HTTP), wiped and freed
 * when it stops. */
struct http_daemon {
    struct MHD_Daemon *d;
    char *cert, *key;
};

/* The idle thread (http_idle.c): unloads libmicrohttpd once no connection came for cfg.idle_unload_ms, watches the
 * listening sockets meanwhile, and loads it again for the next connection. */
struct http_idle {
    pthread_t thread;
    bool started;
    int wake_fd;   /* an eventfd: http_idle_poke and http_idle_stop wake the thread */
    bool stopping; /* under the server's d_mu */
    uint64_t fail_logged_ms; /* when a failure to load was last logged (once a minute) */
};

struct http_server {
    /* cfg: what http_start was given. Its live part (token, max_page, count_mode, client_count, dns) is changed by
     * http_reload and http_set_dns under live_mu, and read under it by the other threads; max_connections is
     * max_conn's, timeout_s and the TLS texts the daemons'. */
    struct http_cfg cfg;
    pthread_mutex_t live_mu;
    char token[512];                 /* "Bearer TOKEN", "" for none; under live_mu */
    char count_mode[16];             /* under live_mu */
    _Atomic uint32_t max_conn;       /* --http-max-connections, read by accept_policy */
    /* d_mu: the daemons, the TLS texts and awake, changed by the loop thread's reloads and by the idle thread. */
    pthread_mutex_t d_mu;
    char *tls_cert, *tls_key;        /* the texts the daemons serve (each has its own copy), NULL: plain */
    int lfd[HTTP_MAX_ADDRS];         /* the listening sockets, kmsd's own: each daemon is given a duplicate */
    struct http_daemon d[HTTP_MAX_ADDRS]; /* one per address while awake; d[i].d NULL while asleep */
    int family[HTTP_MAX_ADDRS];      /* of each socket */
    char names[HTTP_MAX_ADDRS][96];
    int n_d;                         /* addresses */
    bool awake;                      /* the daemons run (and libmicrohttpd is loaded) */
    /* Daemons a reload or the idle thread replaced or put to sleep: they accept nothing and serve the connections
     * they had until those end; stopped once they have none (the idle thread checks every second), and at
     * http_stop. libmicrohttpd stays loaded while any is left. */
    struct http_daemon retired[HTTP_MAX_RETIRED];
    int n_retired;
    _Atomic uint64_t last_use_ms;    /* monotonic time a connection last started or ended, or the daemons started */
    _Atomic uint32_t idle_ms;        /* --http-idle-unload (0: never) */
    struct http_idle idle;
    struct server_bound kms[SERVER_MAX_LISTENERS];
    size_t n_kms;
    struct kmsc_target probe_target;
    bool have_probe;

    struct http_lane registry; /* every registry query, one at a time: the only user of db */
    struct store *db;          /* the read-only connection, opened on first use */
    char db_path[4096];

    struct http_lane readyz;  /* the /readyz self-activations, one at a time */
    pthread_mutex_t probe_mu; /* the /readyz cache: written by the readyz lane, read by libmicrohttpd's threads */
    uint64_t probe_at_ms;     /* monotonic time of the last probe, 0: none yet */
    enum kmsc_status probe_status;
    char probe_msg[KMSC_MSG_MAX];
    double probe_rtt_ms;
    int64_t probe_wall;
};

/* Makes an answer with Content-Type type, Cache-Control cache and nosniff into out. body is freed (mode
 * MHD_RESPMEM_MUST_FREE, also on failure) or kept (MHD_RESPMEM_PERSISTENT) as MHD's mode says. */
void http_reply_body(struct http_reply *out, unsigned code, const char *type, const char *cache, void *body, size_t len,
                     enum MHD_ResponseMemoryMode mode);
/* j as JSON (a reference is taken over; NULL answers 500 out of memory). */
void http_reply_json(struct http_reply *out, unsigned code, json_t *j);
/* {"error": error, "message": printf(fmt, ...)[, "parameter": param]}. */
void http_reply_error(struct http_reply *out, unsigned code, const char *error, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 400 bad_parameter for e. */
void http_reply_bad(struct http_reply *out, const struct httpq_error *e);
/* The read-only registry connection (opened on first use), or NULL; the registry lane's alone. Every call is
 * paired with http_db_put. */
struct store *http_db_get(struct http_server *h);
/* Done with the connection of http_db_get (db may be NULL): hands back its cached pages (the writer's next
 * commit would make SQLite drop them before the next read anyway). */
void http_db_put(struct http_server *h, struct store *db);

/* Monotonic milliseconds. */
uint64_t http_now_ms(void);

/* With d_mu held, for the idle thread (http.c): http_wake starts a daemon per address with the running settings
 * (loading libmicrohttpd first); 0 or -1 with err filled. http_doze quiesces them (they go on serving the
 * connections they have, as retired daemons). http_settle stops the retired daemons left without a connection, and
 * once none is left while asleep closes the registry connection, ends the lanes' threads and unloads
 * libmicrohttpd. */
int http_wake(struct http_server *h, char *err, size_t cap);
void http_doze(struct http_server *h);
void http_settle(struct http_server *h);

/* The idle thread (http_idle.c). start: 0 or a positive errno. poke: look at idle_ms and awake again (a reload
 * changed them). stop: ends and joins it (before the daemons stop). */
int http_idle_start(struct http_server *h);
void http_idle_poke(struct http_server *h);
void http_idle_stop(struct http_server *h);

/* The lanes (http_lane.c). init: 0 or a positive errno; the thread starts with the first job. */
int http_lane_init(struct http_lane *l, struct http_server *h, const char *name,
                   void (*run)(struct http_server *h, struct http_job *job));
/* From the access handler: suspends job->con and queues job. false when the lane is stopping or its thread cannot
 * start: nothing is queued or suspended, and the caller answers. */
bool http_lane_submit(struct http_lane *l, struct http_job *job);
/* Before the daemons stop: the job running finishes, those waiting are answered 503, every connection the lane
 * suspended is resumed, and the thread is joined. Later submissions return false. */
void http_lane_stop(struct http_lane *l);
/* After http_lane_stop, with no connection open: the lane takes jobs again, its thread started with the next one. */
void http_lane_reopen(struct http_lane *l);
/* After http_lane_stop (or a lane never used): frees the mutex and condition. */
void http_lane_destroy(struct http_lane *l);

/* The endpoints (http_api.c, http_readyz.c): each checks its parameters and makes its answer. Those that read
 * the registry run on the registry lane, http_readyz_probe on the readyz lane, the others on libmicrohttpd's. */
void http_api_clients(struct http_server *h, struct http_reply *out, const struct httpq_req *r);
void http_api_client(struct http_server *h, struct http_reply *out, const struct httpq_req *r, const struct guid *cmid);
void http_api_products(struct http_server *h, struct http_reply *out, const struct httpq_req *r);
void http_api_stats(struct http_server *h, struct http_reply *out, const struct httpq_req *r);
void http_api_host(struct http_server *h, struct http_reply *out, const struct httpq_req *r);
/* /readyz from the cache while it is fresh: true when out holds the answer (or a 400), false when a probe is
 * due (then http_readyz_probe, on the readyz lane). Never waits for a probe. */
bool http_readyz_cached(struct http_server *h, struct http_reply *out, const struct httpq_req *r);
/* /readyz: probes unless a probe that finished while this request waited made the cache fresh. */
void http_readyz_probe(struct http_server *h, struct http_reply *out, const struct httpq_req *r);

#endif
