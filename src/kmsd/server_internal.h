/*
 * server_internal — what the parts of kmsd's network side share; private to src/kmsd/server*.c.
 *
 * server.c runs the loop and stops it (server_run, signals, grace, the counters line); server_listen.c owns
 * the libuv side of the KMS listeners (the sockets themselves come from listen.c); server_admit.c decides
 * which accepted connections are served (ACL, per-address cap and rate, --max-connections, running out of
 * descriptors); server_conn.c owns a served connection (reads, framing, the session, writes, close).
 * Everything runs on the loop thread. A connection is freed in the close callback of its last libuv handle
 * (or by the registry callback still due to it); every function that may close one says so, and a caller
 * does not touch the connection after such a call returned "closing".
 */
#ifndef KMSD_SERVER_INTERNAL_H
#define KMSD_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "metrics.h"
#include "ratelimit.h"
#include "server.h"
#include "session.h"
#include "store.h"
#include "store_writer.h"

#define SERVER_READ_BUF 65536    /* one shared receive buffer per loop: data are consumed in the read callback */
#define SERVER_WRITE_MAX 1024    /* the largest reply PDU (BIND_ACK with 16 results is under 500 bytes) */
#define SERVER_CONN_WRITES 16    /* replies in flight per connection: at this many its PDUs wait and it is not read
                                  * until they are out, so a peer that sends without reading holds this much */
#define SERVER_STOP_GRACE_MS 5000 /* after SIGTERM, connections still open this long are closed anyway */
#define SERVER_TRIM_PEAK 1024     /* a burst of at least this many connections is trimmed from the heap after it */
#define SERVER_CONN_POOL 32       /* freed connections kept for the next ones (about 1.2 KiB each; emptied by the
                                   * trim after a burst, when idle and at the end): the loop takes no malloc lock */
#define SERVER_IDLE_RELEASE_MS 5000 /* no connection open and none accepted this long: the pooled connections and
                                     * the heap's free pages are handed back (as the writer's, after 5 s idle) */
#define SERVER_LOG_PER_SECOND 20  /* refusal log lines per second in all; the rest are counted, then summed up */
#define SERVER_LOG_ADDR_MS 60000  /* at most one refusal line per client address per minute */
#define SERVER_FD_LOG_MS 60000    /* at most one "out of file descriptors" line per minute */
#define SERVER_FD_PAUSE_MS 100    /* out of descriptors and without a reserve: listeners rest this long */
#define SERVER_ACCEPT_BATCH 64    /* connections accepted per wake-up before the loop serves others, when they queue
                                   * (one per wake-up while they come one at a time: on_listen) */
#define SERVER_SHED_MAX 256       /* connections accepted-and-closed per EMFILE event at most */
#define SERVER_BACKLOG 4096       /* listen queue (the kernel caps it at net.core.somaxconn): a flood fills a short
                                   * queue and a client's SYN is then dropped, costing it a 1 s retransmission */

/* The loop-wide handles of struct server, as bits of its handles field. */
#define SERVER_H_FD_PAUSE 1u
#define SERVER_H_GRACE 2u
#define SERVER_H_SIG_TERM 4u
#define SERVER_H_SIG_INT 8u
#define SERVER_H_SIG_HUP 16u
#define SERVER_H_SD_TICK 32u
#define SERVER_H_TURN 64u
#define SERVER_H_FLUSH 128u
#define SERVER_H_IDLE_RELEASE 256u

struct server;

struct listener {
    uv_tcp_t tcp;   /* owns the bound socket */
    uv_poll_t poll; /* readable: connections to accept (kmsd accepts itself, see on_listen) */
    bool polling;
    bool nodelay;       /* the socket's TCP_NODELAY is set, and Linux gives it to every connection accepted from it */
    bool nodelay_known; /* the first connection accepted told whether it did (then nodelay stays as it found) */
    uint64_t woke_turn; /* the loop turn (server.turns) of the last wake-up */
    struct server *srv;
    struct session_cfg scfg;
    char name[96];
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t idle;
    uv_timer_t pdu; /* --pdu-timeout: runs while an incomplete PDU is buffered */
    struct server *srv;
    struct listener *l;
    struct conn *prev, *next;
    uint8_t *in; /* bytes of an incomplete PDU, allocated on first need, capacity max_conn_buffer */
    size_t in_len;
    int pending_writes;
    int n_handles;      /* handles initialised: tcp, idle, pdu in that order (3 unless setting one up failed) */
    int open_handles;
    int closing;        /* close requested: no more reads, close once the replies are out (at most
                         * --idle-timeout later: the idle timer then bounds the wait) */
    int handles_closed; /* uv_close() called on both handles */
    int awaiting;       /* an activation waits for its record: further PDUs stay buffered */
    bool paused;        /* SERVER_CONN_WRITES replies in flight: not read, PDUs buffered until they are out */
    int store_refs;     /* registry callbacks still to come; the connection is freed after them */
    int freed_pending;  /* both handles closed while store_refs > 0 */
    int close_counted;  /* the reason for the close is counted */
    uint64_t t_request; /* uv_hrtime() when the pending activation request arrived */
    uint8_t addr[16];   /* the peer in acl.h's 16-byte form, when have_addr */
    bool have_addr;
    bool limited;       /* the per-address limits apply (have_addr, and public or --limit-private) */
    uint32_t pdus;      /* whole PDUs received (--max-pdus) */
    bool rl_counted;    /* counted in the per-address table: uncount on free */
    bool admitted;      /* counted in srv->active: uncount on free */
    bool proxy_wait;    /* --proxy-protocol, from a --trusted-proxy: its PROXY header is awaited (server_proxy_admit) */
    bool proxy_check;   /* --proxy-protocol, from anyone else: a PROXY header in its first bytes closes it */
    struct session sess;
    char peer[80];
};

/* A reply the socket did not take at once (conn_send): the rest of it, queued with libuv. */
struct write_req {
    uv_write_t req;
    struct conn *c;
    uint8_t data[SERVER_WRITE_MAX];
};

struct server {
    uv_loop_t *loop;
    const struct server_cfg *cfg;
    struct metrics *m;
    struct listener lis[SERVER_MAX_LISTENERS];
    int n_lis;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t grace;  /* after SIGTERM: SERVER_STOP_GRACE_MS for the replies still going out */
    unsigned handles;  /* SERVER_H_*: which of the loop-wide handles are initialised (for server_teardown) */
    struct store *db;  /* the registry until the writer takes it over (then NULL) */
    int stopping;
    int registry_fatal; /* the writer's on_fatal code: server_run returns SERVER_ERR_REGISTRY */
    struct conn *conns;
    uint32_t next_assoc;
    int64_t open_peak; /* most connections open at once since the last heap trim */
    struct store_writer *writer;
    uint32_t last_count[STORE_APP_GROUPS]; /* genuine mode: the last count known per group */
    struct ratelimit rl;                   /* per-address connections and activation tokens */
    uint32_t active;                       /* admitted connections not yet freed (--max-connections); unlike
                                            * metrics.open, refused ones still closing do not count */
    int reserve_fd;                        /* spare descriptor given up to shed connections on EMFILE */
    uv_timer_t fd_pause;                   /* listeners paused for want of descriptors */
    uv_timer_t idle_release;               /* SERVER_IDLE_RELEASE_MS after the last connection closed */
    uint64_t idle_release_accepted;        /* metrics.accepted when it was started */
    uint64_t fd_logged_ms;                 /* last "out of file descriptors" line (uv_now), 0 never */
    uint64_t log_window_ms;                /* refusal log limiter: start of the current second */
    unsigned log_lines;
    uint64_t log_suppressed;
    uv_timer_t sd_tick;       /* the service manager's STATUS= and watchdog (sdnotify.h), when it listens */
    uint64_t sd_folded;       /* the writer's records folded at the last tick */
    bool sd_stalled;          /* the last tick found the writer stalled (logged once) */
    uv_check_t turn;          /* counts the loop's turns (turns): a listener readable two turns running has a queue */
    uv_prepare_t flush;       /* before the loop waits: the log lines it held (log_hold) are written */
    uint64_t turns;
    struct conn *pool;        /* freed connections kept for reuse, linked through their first bytes */
    unsigned n_pool;          /* how many (SERVER_CONN_POOL at most) */
    uint8_t readbuf[SERVER_READ_BUF]; /* server_new zeroes everything before it, not the buffers */
    uint8_t wbuf[SERVER_WRITE_MAX];   /* the reply being made; copied to a write_req only if the socket waits */
};

/* ---- listeners (server_listen.c) ---- */

/* Opens every configured listener (cfg->listen, or the wildcard on cfg->port). Returns 0, or SERVER_ERR_LISTEN
 * after a message; the listeners opened before a failure stay in srv->lis for server_listeners_close. */
int server_listeners_open(struct server *srv);
/* Hands the bound listeners to cfg->on_bound (which must be set). Returns 0 or SERVER_ERR_LISTEN when it
 * refused or a listener's address cannot be read back. */
int server_listeners_report(struct server *srv);
/* Closes every listener (their handles finish closing when the loop runs). */
void server_listeners_close(struct server *srv);
/* Whether tcp, a connection just accepted from l, has TCP_NODELAY from l's socket (Linux copies it to the
 * connections a listening socket accepts; the first connection of each listener is asked, once). When not, the
 * caller sets it on the connection. */
bool server_listener_gives_nodelay(struct listener *l, const uv_tcp_t *tcp);
/* Stops accepting on l until server_listeners_resume. */
void server_listener_pause(struct listener *l);
/* Accepts again on every paused listener (a listener that cannot be polled stays paused). */
void server_listeners_resume(struct server *srv);

/* ---- admission (server_admit.c) ---- */

/* Takes over the accepted socket fd (non-blocking, close-on-exec) of listener l: serves it or refuses it. */
void server_admit(struct listener *l, int fd, const struct sockaddr *peer, socklen_t peer_len);
/* accept() on l failed with errno err: counted; out of descriptors, queued connections are shed. */
void server_accept_error(struct server *srv, struct listener *l, int err);
/* Takes an activation token of c's address (--rate-limit). Returns 0, or -1 after closing c (over it). */
int server_admit_activation(struct conn *c);
struct proxy_info;
/* A trusted proxy's PROXY header arrived (proxy_header.h): c takes the client's address it names (unless LOCAL or
 * UNKNOWN) for its logs, its record, the ACL and the per-address limits, which are checked now. Returns 0, or -1
 * after refusing (closing) c. */
int server_proxy_admit(struct conn *c, const struct proxy_info *pi);
/* Closes c for its PROXY header (malformed, missing from a trusted proxy, or sent by anyone else): logged through
 * the refusal limiter with why, counted as closed{reason="proxy"}. */
void server_proxy_refuse(struct conn *c, const char *why);

/* ---- connections (server_conn.c) ---- */

/* A connection on l with its handles initialised and linked into srv->conns, not yet holding fd: NULL when
 * it cannot be made (nothing is left behind; the caller still owns fd). When only some of its handles could be
 * initialised, the connection is returned closing (c->closing set): the caller closes it and goes no further. */
struct conn *server_conn_new(struct listener *l);
/* Starts serving an admitted connection: session, idle timer, reads. Returns 0, or -1 after closing it. */
int server_conn_start(struct conn *c);
/* Closes c once its replies are out, or --idle-timeout later if they are not (a peer that does not read);
 * c is freed later (close callbacks). */
void server_conn_close(struct conn *c);
/* Closes c as server_conn_close does and counts why (only the first reason of a connection counts). */
void server_conn_close_why(struct conn *c, enum metrics_close why);
/* Closes c now, giving up on replies not yet written and on an activation waiting for the registry (its
 * callback still comes and frees c if it is the last). */
void server_conn_abort(struct conn *c);
/* Frees the connections kept for reuse (srv->pool). */
void server_conn_pool_drain(struct server *srv);

#endif
