#include "server.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "err.h"
#include "guid.h"
#include "hostport.h"
#include "kms_crypto.h"
#include "log.h"
#include "listen.h"
#include "metrics.h"
#include "products.h"
#include "ratelimit.h"
#include "session.h"
#include "store_writer.h"

#define SERVER_READ_BUF 65536    /* one shared receive buffer per loop: data are consumed in the read callback */
#define SERVER_WRITE_MAX 1024    /* the largest reply PDU (BIND_ACK with 16 results is under 500 bytes) */
#define SERVER_STOP_GRACE_MS 5000 /* after SIGTERM, connections still open this long are closed anyway */
#define SERVER_TRIM_PEAK 1024     /* a burst of at least this many connections is trimmed from the heap after it */
#define SERVER_LOG_PER_SECOND 20  /* refusal log lines per second in all; the rest are counted, then summed up */
#define SERVER_LOG_ADDR_MS 60000  /* at most one refusal line per client address per minute */
#define SERVER_FD_LOG_MS 60000    /* at most one "out of file descriptors" line per minute */
#define SERVER_FD_PAUSE_MS 100    /* out of descriptors and without a reserve: listeners rest this long */
#define SERVER_ACCEPT_BATCH 64    /* connections accepted per wake-up before the loop serves others */
#define SERVER_SHED_MAX 256       /* connections accepted-and-closed per EMFILE event at most */
#define SERVER_BACKLOG 4096       /* listen queue (the kernel caps it at net.core.somaxconn): a flood fills a short
                                   * queue and a client's SYN is then dropped, costing it a 1 s retransmission */

struct server;

struct listener {
    uv_tcp_t tcp;   /* owns the bound socket */
    uv_poll_t poll; /* readable: connections to accept (kmsd accepts itself, see on_listen) */
    bool polling;
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
    int open_handles;
    int closing;        /* close requested: no more reads, close once the replies are out */
    int handles_closed; /* uv_close() called on both handles */
    int awaiting;       /* an activation waits for its record: further PDUs stay buffered */
    int store_refs;     /* registry callbacks still to come; the connection is freed after them */
    int freed_pending;  /* both handles closed while store_refs > 0 */
    int close_counted;  /* the reason for the close is counted */
    uint64_t t_request; /* uv_hrtime() when the pending activation request arrived */
    uint8_t addr[16];   /* the peer in acl.h's 16-byte form, when have_addr */
    bool have_addr;
    bool limited;       /* the per-address limits apply (have_addr, and not an exempt loopback peer) */
    uint32_t pdus;      /* whole PDUs received (--max-pdus) */
    bool rl_counted;    /* counted in the per-address table: uncount on free */
    bool admitted;      /* counted in srv->active: uncount on free */
    struct session sess;
    char peer[80];
};

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
    uv_signal_t sig_term, sig_int;
    uv_timer_t grace;
    int stopping;
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
    uint64_t fd_logged_ms;                 /* last "out of file descriptors" line (uv_now), 0 never */
    uint64_t log_window_ms;                /* refusal log limiter: start of the current second */
    unsigned log_lines;
    uint64_t log_suppressed;
    uint8_t readbuf[SERVER_READ_BUF];
};

/* ---- connections ---- */

static void conn_free(struct conn *c);

static void conn_on_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    if (c->store_refs > 0) {
        c->freed_pending = 1; /* the registry callback frees it */
        return;
    }
    conn_free(c);
}

/* Once a burst of connections has mostly closed, hands the freed heap back to the system: glibc returns only
 * the top of the heap by itself, and connections closing in any order leave it fragmented. */
static void server_trim(struct server *srv, int64_t open)
{
#ifdef __GLIBC__
    if (srv->open_peak >= SERVER_TRIM_PEAK && open <= srv->open_peak / 4) {
        malloc_trim(0);
        srv->open_peak = open;
    }
#else
    (void)srv;
    (void)open;
#endif
}

static void conn_free(struct conn *c)
{
    struct server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    int64_t open = atomic_fetch_sub_explicit(&srv->m->open, 1, memory_order_relaxed) - 1;
    if (c->rl_counted)
        ratelimit_disconnect(&srv->rl, c->addr);
    if (c->admitted)
        srv->active--;
    free(c->in);
    session_free(&c->sess);
    kms_wipe(&c->sess, sizeof c->sess);
    free(c);
    server_trim(srv, open);
    if (srv->stopping && !srv->conns && !uv_is_closing((uv_handle_t *)&srv->grace))
        uv_close((uv_handle_t *)&srv->grace, NULL);
}

static void conn_close(struct conn *c);

/* Closes c and counts why (only the first reason of a connection counts). */
static void conn_close_why(struct conn *c, enum metrics_close why)
{
    if (!c->close_counted && !c->handles_closed) {
        c->close_counted = 1;
        metrics_inc(&c->srv->m->closed[why]);
    }
    conn_close(c);
}

static void conn_close(struct conn *c)
{
    if (c->handles_closed)
        return;
    if (!c->closing) {
        c->closing = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
        uv_timer_stop(&c->idle);
        uv_timer_stop(&c->pdu);
    }
    if (c->pending_writes > 0 || c->awaiting)
        return; /* on_write / on_recorded call again once the replies are out */
    c->handles_closed = 1;
    c->open_handles = 3;
    uv_close((uv_handle_t *)&c->tcp, conn_on_close);
    uv_close((uv_handle_t *)&c->idle, conn_on_close);
    uv_close((uv_handle_t *)&c->pdu, conn_on_close);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct conn *c = w->c;
    free(w);
    if (c->pending_writes > 0)
        c->pending_writes--;
    if (status < 0 && !c->closing)
        log_debug("%s: write failed: %s", c->peer, uv_strerror(status));
    if (status < 0)
        conn_close_why(c, METRICS_CLOSE_ERROR);
    else if (c->closing)
        conn_close(c);
}

/* Whether a refusal may be logged now: at most one line per tracked address per SERVER_LOG_ADDR_MS and
 * SERVER_LOG_PER_SECOND lines in all; what is held back is counted and summed up in the next line's second. */
static bool refusal_log_ok(struct server *srv, const uint8_t *addr)
{
    uint64_t now = uv_now(srv->loop);
    if (now - srv->log_window_ms >= 1000) {
        if (srv->log_suppressed)
            log_warn("%llu more refusals not logged (at most %d lines a second, one per address a minute)",
                     (unsigned long long)srv->log_suppressed, SERVER_LOG_PER_SECOND);
        srv->log_window_ms = now;
        srv->log_lines = 0;
        srv->log_suppressed = 0;
    }
    if ((addr && !ratelimit_should_log(&srv->rl, addr, now)) || srv->log_lines >= SERVER_LOG_PER_SECOND) {
        srv->log_suppressed++;
        return false;
    }
    srv->log_lines++;
    return true;
}

static void log_activation(const struct conn *c, const struct session_event *ev)
{
    if (!log_enabled(LOG_LVL_INFO))
        return;
    if (ev->decode_err) {
        log_info("%s: activation refused: undecodable request (%s), HRESULT 0x%08X", c->peer,
                 kms_strerror(ev->decode_err), (unsigned)ev->hresult);
        return;
    }
    char ws[256], wse[512], cmid[GUID_TEXT_LEN + 1], kid[GUID_TEXT_LEN + 1];
    (void)kms_request_machine_name(&ev->req, ws, sizeof ws); /* on invalid UTF-16 the valid prefix is kept */
    log_escape(ws, wse, sizeof wse);
    guid_format(&ev->req.cmid, cmid);
    guid_format(&ev->req.kms_id, kid);
    const char *product = ev->result.sku ? ev->result.sku->name : ev->result.kms ? ev->result.kms->name : kid;
    if (ev->hresult)
        log_info("%s: \"%s\" %s v%u.%u cmid %s status %s: refused (%s), HRESULT 0x%08X", c->peer, wse, product,
                 ev->req.version_major, ev->req.version_minor, cmid, kms_license_status_name(ev->req.license_status),
                 activation_refusal_name(ev->result.reason), (unsigned)ev->hresult);
    else
        log_info("%s: \"%s\" %s v%u.%u cmid %s status %s: activated, count %u", c->peer, wse, product,
                 ev->req.version_major, ev->req.version_minor, cmid, kms_license_status_name(ev->req.license_status),
                 (unsigned)ev->result.params.current_count);
}

/* Sends what the session wrote to w (or frees w) according to the action. Returns 0, or -1 when the
 * connection is closing. */
static int conn_send(struct conn *c, struct write_req *w, size_t len, enum session_action a,
                     const struct session_event *ev)
{
    if (a == SESSION_CLOSE || a == SESSION_WAIT) {
        free(w);
        if (a == SESSION_WAIT)
            return 0;
        log_debug("%s: closing: %s", c->peer, kms_strerror(ev->close_err));
        conn_close_why(c, METRICS_CLOSE_PROTOCOL);
        return -1;
    }
    w->c = c;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(w);
        conn_close_why(c, METRICS_CLOSE_ERROR);
        return -1;
    }
    c->pending_writes++;
    if (a == SESSION_REPLY_CLOSE) {
        conn_close_why(c, METRICS_CLOSE_MAX_REQUESTS);
        return -1;
    }
    return 0;
}

/* A write request with its writer ready, or NULL (the connection is then closed). */
static struct write_req *conn_write_req(struct conn *c, struct wr *out)
{
    struct write_req *w = malloc(sizeof *w);
    if (!w) {
        log_error("%s: out of memory", c->peer);
        conn_close_why(c, METRICS_CLOSE_ERROR);
        return NULL;
    }
    wr_init(out, w->data, sizeof w->data);
    return w;
}

static void count_activation(struct metrics *m, const struct session_event *ev)
{
    if (ev->decode_err) {
        metrics_activation(m, 0, m->n_kms, ev->hresult);
        if (ev->hresult)
            metrics_inc(&m->refusals[METRICS_REFUSE_UNDECODABLE]);
        return;
    }
    metrics_activation(m, ev->req.version_major, products_kms_index(ev->result.kms), ev->hresult);
    if (!ev->hresult)
        return;
    enum metrics_refusal r = METRICS_REFUSE_POLICY;
    switch (ev->result.reason) {
    case ACTIVATION_REFUSE_UNKNOWN_PRODUCT:
        r = METRICS_REFUSE_UNKNOWN_PRODUCT;
        break;
    case ACTIVATION_REFUSE_NOT_VOLUME:
        r = METRICS_REFUSE_NOT_VOLUME;
        break;
    case ACTIVATION_REFUSE_CSVLK:
        r = METRICS_REFUSE_CSVLK;
        break;
    case ACTIVATION_REFUSE_TIME:
        r = METRICS_REFUSE_TIME;
        break;
    default:
        break;
    }
    metrics_inc(&m->refusals[r]);
}

/* Answers the pending activation with count (-1: the policy's) and sends it. */
static int conn_complete(struct conn *c, int64_t count)
{
    struct server *srv = c->srv;
    struct wr out;
    struct write_req *w = conn_write_req(c, &out);
    if (!w)
        return -1;
    struct session_event ev;
    enum session_action a = session_complete(&c->sess, &c->l->scfg, count, &out, &ev);
    count_activation(srv->m, &ev);
    metrics_observe(&srv->m->request_latency, (uv_hrtime() - c->t_request) / 1000);
    log_activation(c, &ev);
    return conn_send(c, w, out.off, a, &ev);
}

static long conn_frame(struct conn *c, const uint8_t *p, size_t len);
static void conn_consume(struct conn *c, const uint8_t *p, size_t len);

/* Registry callback (loop thread): the record is committed (or failed); now answer, then go on with any
 * PDUs that arrived meanwhile. */
static void on_recorded(void *ctx, int err, uint32_t distinct)
{
    struct conn *c = ctx;
    struct server *srv = c->srv;
    c->store_refs--;
    c->awaiting = 0;
    if (c->freed_pending) {
        if (c->store_refs == 0)
            conn_free(c);
        return;
    }
    int64_t count = -1;
    if (err)
        metrics_inc(&srv->m->unrecorded);
    if (srv->cfg->genuine_count) {
        enum store_app_group g = store_app_group_of(&c->sess.pending.req.app_id);
        if (!err)
            srv->last_count[g] = distinct;
        count = activation_genuine_count(&c->sess.pending.req, srv->last_count[g], srv->cfg->count_floor);
    }
    if (conn_complete(c, count) < 0)
        return;
    if (c->closing) { /* kmsd is stopping or the peer went away: the answer goes out, then the close */
        conn_close(c);
        return;
    }
    if (c->in_len) { /* PDUs that arrived while the record was written */
        size_t n = c->in_len;
        c->in_len = 0;
        conn_consume(c, c->in, n);
    }
}

static void fill_record(const struct conn *c, const struct session_event *ev, struct store_record *r)
{
    memset(r, 0, sizeof *r);
    r->cmid = ev->req.cmid;
    r->app_id = ev->req.app_id;
    r->sku_id = ev->req.sku_id;
    r->kms_id = ev->req.kms_id;
    (void)kms_request_machine_name(&ev->req, r->workstation, sizeof r->workstation);
    if (ev->result.sku)
        snprintf(r->product, sizeof r->product, "%s", ev->result.sku->name);
    else if (ev->result.kms)
        snprintf(r->product, sizeof r->product, "%s", ev->result.kms->name);
    else
        guid_format(&ev->req.kms_id, r->product);
    snprintf(r->address, sizeof r->address, "%s", c->peer);
    if (ev->hresult == 0)
        snprintf(r->epid, sizeof r->epid, "%s", ev->result.params.epid);
    r->license_status = ev->req.license_status;
    r->grace_time = ev->req.grace_time;
    r->is_vm = ev->req.is_client_vm;
    r->version_major = ev->req.version_major;
    r->version_minor = ev->req.version_minor;
    r->hresult = ev->hresult;
    r->time = (int64_t)time(NULL);
}

/* Hands one whole PDU to the session and sends its reply. Returns 0, 1 when the connection now waits for
 * the registry, or -1 when it is closing. */
static int conn_pdu(struct conn *c, const uint8_t *p, size_t len)
{
    struct server *srv = c->srv;
    struct wr out;
    struct write_req *w = conn_write_req(c, &out);
    if (!w)
        return -1;
    struct session_event ev;
    uint64_t t0 = uv_hrtime();
    enum session_action a = session_on_pdu(&c->sess, &c->l->scfg, p, len, &out, &ev);
    if (a == SESSION_ACTIVATE) {
        free(w);
        c->t_request = t0;
        uint64_t ev0 = srv->rl.evictions;
        bool ok = !c->limited || ratelimit_activation(&srv->rl, c->addr, uv_now(srv->loop));
        if (srv->rl.evictions != ev0)
            atomic_fetch_add_explicit(&srv->m->addr_evicted, srv->rl.evictions - ev0, memory_order_relaxed);
        if (!ok) { /* over --rate-limit: no answer, no record; the client retries later or elsewhere */
            metrics_inc(&srv->m->refusals[METRICS_REFUSE_RATE]);
            if (refusal_log_ok(srv, c->addr))
                log_warn("%s: activation refused: over --rate-limit (%u a minute, burst %u): closed without an "
                         "answer", c->peer, (unsigned)srv->cfg->rate_limit, (unsigned)srv->cfg->rate_burst);
            conn_close_why(c, METRICS_CLOSE_RATE);
            return -1;
        }
        if (srv->writer) {
            struct store_record rec;
            fill_record(c, &ev, &rec);
            if (store_writer_submit(srv->writer, &rec, on_recorded, c) == 0) {
                c->awaiting = 1;
                c->store_refs++;
                return 1;
            }
            metrics_inc(&srv->m->unrecorded); /* queue full: answer unrecorded rather than not at all */
        }
        int64_t count = -1;
        if (srv->cfg->genuine_count) {
            enum store_app_group g = store_app_group_of(&ev.req.app_id);
            count = activation_genuine_count(&ev.req, srv->last_count[g], srv->cfg->count_floor);
        }
        return conn_complete(c, count);
    }
    if (ev.activation) { /* refused before a decision (undecodable request) */
        count_activation(srv->m, &ev);
        metrics_observe(&srv->m->request_latency, (uv_hrtime() - t0) / 1000);
        log_activation(c, &ev);
    }
    return conn_send(c, w, out.off, a, &ev);
}

/* Frames PDUs in p[0..len); returns how many bytes were consumed, or -1 when the connection is closing. */
static long conn_frame(struct conn *c, const uint8_t *p, size_t len)
{
    const struct server_cfg *cfg = c->srv->cfg;
    size_t off = 0;
    while (len - off >= RPC_HEADER_LEN) {
        struct rpc_header h;
        int rc = rpc_peek_header(p + off, len - off, &h);
        if (rc < 0 || h.frag_length > cfg->max_pdu) {
            log_debug("%s: closing: %s", c->peer, rc < 0 ? kms_strerror(rc) : "PDU above --max-pdu");
            conn_close_why(c, rc < 0 ? METRICS_CLOSE_PROTOCOL : METRICS_CLOSE_BUFFER);
            return -1;
        }
        if (len - off < h.frag_length)
            break;
        if (cfg->max_pdus && ++c->pdus > cfg->max_pdus) { /* e.g. a client that only ever BINDs */
            log_debug("%s: closing: more than --max-pdus (%u) PDUs", c->peer, (unsigned)cfg->max_pdus);
            conn_close_why(c, METRICS_CLOSE_MAX_PDUS);
            return -1;
        }
        int r = conn_pdu(c, p + off, h.frag_length);
        if (r < 0)
            return -1;
        off += h.frag_length;
        if (r > 0)
            break; /* waiting for the registry: the rest stays buffered */
    }
    return (long)off;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = h->data;
    *buf = uv_buf_init((char *)c->srv->readbuf, sizeof c->srv->readbuf);
}

static void on_pdu_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    log_debug("%s: closing: a PDU took longer than --pdu-timeout to arrive", c->peer);
    conn_close_why(c, METRICS_CLOSE_SLOW);
}

/* Keeps rest bytes at p in the connection's buffer (p may point into it); progressed: a PDU was completed
 * in this pass (the remaining bytes start a new one). Runs the PDU timer while an incomplete PDU waits.
 * Returns 0 or -1 (closing). */
static int conn_keep(struct conn *c, const uint8_t *p, size_t rest, bool progressed)
{
    const struct server_cfg *cfg = c->srv->cfg;
    if (rest > cfg->max_conn_buffer) {
        log_debug("%s: closing: more than --max-conn-buffer bytes buffered", c->peer);
        conn_close_why(c, METRICS_CLOSE_BUFFER);
        return -1;
    }
    if (rest && !c->in) {
        c->in = malloc(cfg->max_conn_buffer);
        if (!c->in) {
            conn_close_why(c, METRICS_CLOSE_ERROR);
            return -1;
        }
    }
    if (rest)
        memmove(c->in, p, rest);
    c->in_len = rest;
    if (c->closing)
        return 0;
    if (rest && !c->awaiting) {
        if (progressed || !uv_is_active((uv_handle_t *)&c->pdu))
            uv_timer_start(&c->pdu, on_pdu_timeout, c->srv->cfg->pdu_timeout_ms, 0);
    } else {
        uv_timer_stop(&c->pdu); /* nothing incomplete, or whole PDUs wait for the registry */
    }
    return 0;
}

/* Frames and handles what it can of p[0..len) and buffers the rest. */
static void conn_consume(struct conn *c, const uint8_t *p, size_t len)
{
    long used = c->awaiting ? 0 : conn_frame(c, p, len);
    if (used < 0)
        return;
    (void)conn_keep(c, p + used, len - (size_t)used, used > 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    const struct server_cfg *cfg = c->srv->cfg;
    if (nread < 0) {
        conn_close_why(c, METRICS_CLOSE_PEER);
        return;
    }
    if (nread == 0 || c->closing)
        return;
    uv_timer_again(&c->idle);
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t len = (size_t)nread;
    if (c->in_len) { /* continue an incomplete PDU: append, then frame from the connection's buffer */
        if (len > cfg->max_conn_buffer - c->in_len) {
            log_debug("%s: closing: more than --max-conn-buffer bytes buffered", c->peer);
            conn_close_why(c, METRICS_CLOSE_BUFFER);
            return;
        }
        memcpy(c->in + c->in_len, p, len);
        c->in_len += len;
        p = c->in;
        len = c->in_len;
    }
    conn_consume(c, p, len);
}

static void on_idle(uv_timer_t *t)
{
    struct conn *c = t->data;
    log_debug("%s: idle timeout", c->peer);
    conn_close_why(c, METRICS_CLOSE_IDLE);
}

static void peer_name(uv_tcp_t *tcp, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int n = sizeof ss;
    char host[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &n) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            port = ntohs(a->sin6_port);
            if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) { /* an IPv4 peer on the dual-stack listener */
                const uint8_t *b = a->sin6_addr.s6_addr + 12;
                snprintf(out, cap, "%u.%u.%u.%u:%d", b[0], b[1], b[2], b[3], port);
                return;
            }
            uv_ip6_name(a, host, sizeof host);
            snprintf(out, cap, "[%s]:%d", host, port);
            return;
        }
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, host, sizeof host);
        port = ntohs(a->sin_port);
    }
    snprintf(out, cap, "%s:%d", host, port);
}

static void on_fd_pause(uv_timer_t *t);

/* accept() failed. Out of descriptors, the pending connections would stay queued and the listener readable:
 * give up the reserve descriptor, accept and close what is queued (the clients see a close and retry), take
 * the reserve back. Without a reserve (it could not be taken back) the listener is not polled for
 * SERVER_FD_PAUSE_MS instead, so the loop never spins. Logged once a minute; counted. */
static void on_accept_error(struct server *srv, struct listener *l, int err)
{
    metrics_inc(&srv->m->rejected[METRICS_REJECT_ACCEPT_ERROR]);
    uint64_t now = uv_now(srv->loop);
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
        if (refusal_log_ok(srv, NULL))
            log_warn("%s: accept failed: %s", l->name, strerror(err));
        return;
    }
    uv_os_fd_t fd;
    unsigned shed = 0;
    bool had_reserve = srv->reserve_fd >= 0;
    if (had_reserve) {
        close(srv->reserve_fd);
        srv->reserve_fd = -1;
        if (uv_fileno((uv_handle_t *)&l->tcp, &fd) == 0) {
            for (; shed < SERVER_SHED_MAX; shed++) {
                int a = accept(fd, NULL, NULL); /* non-blocking listener: EAGAIN once the queue is empty */
                if (a < 0)
                    break;
                close(a);
            }
        }
        srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (!had_reserve || srv->reserve_fd < 0) { /* nothing to shed with: stop listening for a moment */
        uv_poll_stop(&l->poll);
        l->polling = false;
        uv_timer_start(&srv->fd_pause, on_fd_pause, SERVER_FD_PAUSE_MS, 0);
    }
    atomic_fetch_add_explicit(&srv->m->fd_shed, shed, memory_order_relaxed);
    if (srv->fd_logged_ms == 0 || now - srv->fd_logged_ms >= SERVER_FD_LOG_MS) {
        srv->fd_logged_ms = now ? now : 1;
        log_warn("%s: out of file descriptors (%s): closing new connections at once until some are free; %llu "
                 "shed so far (counted as fd_shed, logged once a minute)",
                 l->name, strerror(err), (unsigned long long)metrics_get(&srv->m->fd_shed));
    }
}

/* Refuses c (already counted as a rejection) and logs why through the limiter. */
static void refuse(struct conn *c, enum metrics_reject why, const char *reason)
{
    struct server *srv = c->srv;
    metrics_inc(&srv->m->rejected[why]);
    if (refusal_log_ok(srv, c->have_addr && why == METRICS_REJECT_PER_ADDRESS ? c->addr : NULL))
        log_info("%s: connection refused: %s", c->peer, reason);
    conn_close(c);
}

/* Takes over an accepted socket fd. */
static void accept_one(struct listener *l, int fd)
{
    struct server *srv = l->srv;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        log_error("out of memory accepting a connection");
        close(fd);
        return;
    }
    c->srv = srv;
    c->l = l;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->idle);
    uv_timer_init(srv->loop, &c->pdu);
    c->tcp.data = c;
    c->idle.data = c;
    c->pdu.data = c;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    int64_t open = atomic_fetch_add_explicit(&srv->m->open, 1, memory_order_relaxed) + 1;
    if (open > srv->open_peak)
        srv->open_peak = open;
    c->close_counted = 1; /* not yet a counted connection: a rejection is counted as such */
    if (uv_tcp_open(&c->tcp, fd) < 0) {
        close(fd);
        metrics_inc(&srv->m->rejected[METRICS_REJECT_ACCEPT_ERROR]);
        conn_close(c);
        return;
    }
    peer_name(&c->tcp, c->peer, sizeof c->peer);
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    c->have_addr = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0 &&
                   acl_addr_from_sockaddr((struct sockaddr *)&ss, c->addr) == 0;
    if (srv->stopping) {
        metrics_inc(&srv->m->rejected[METRICS_REJECT_STOPPING]);
        conn_close(c);
        return;
    }
    if (srv->cfg->acl && c->have_addr) {
        enum acl_verdict v = acl_check(srv->cfg->acl, c->addr);
        if (v != ACL_PASS) {
            static const char *const rule[] = {"", "address matches --deny", "address matches no --allow",
                                               "public address (--private-only)"};
            refuse(c, METRICS_REJECT_ACCESS, rule[v]);
            return;
        }
    }
    c->limited = c->have_addr && (srv->cfg->limit_loopback || !acl_is_loopback(c->addr));
    if (c->limited) {
        uint64_t ev0 = srv->rl.evictions;
        enum ratelimit_result r = ratelimit_connect(&srv->rl, c->addr, uv_now(srv->loop));
        if (srv->rl.evictions != ev0)
            atomic_fetch_add_explicit(&srv->m->addr_evicted, srv->rl.evictions - ev0, memory_order_relaxed);
        if (r == RATELIMIT_OVER) {
            char why[96];
            snprintf(why, sizeof why, "the address holds --max-per-address (%u) connections",
                     (unsigned)srv->cfg->max_per_address);
            refuse(c, METRICS_REJECT_PER_ADDRESS, why);
            return;
        }
        if (r == RATELIMIT_UNTRACKED)
            metrics_inc(&srv->m->addr_untracked);
        c->rl_counted = r == RATELIMIT_OK;
    }
    /* Last: a flood refused above (denied, over its address's cap) never takes the room of a client. */
    if (srv->active >= srv->cfg->max_connections) {
        metrics_inc(&srv->m->rejected[METRICS_REJECT_MAX_CONNECTIONS]);
        if (refusal_log_ok(srv, NULL))
            log_info("%s: connection refused: --max-connections (%u) reached", c->peer,
                     (unsigned)srv->cfg->max_connections);
        conn_close(c);
        return;
    }
    c->admitted = true;
    srv->active++;
    c->close_counted = 0;
    metrics_inc(&srv->m->accepted);
    session_init(&c->sess, srv->next_assoc++);
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->idle, on_idle, srv->cfg->idle_timeout_ms, srv->cfg->idle_timeout_ms);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* The listener is readable: accept up to SERVER_ACCEPT_BATCH connections (then let the loop serve the
 * others). kmsd accepts itself rather than through uv_listen: libuv retries accept() in a loop while it fails
 * with EMFILE, which spins when no connection can be taken, and sheds silently with a reserve of its own. */
static void on_listen(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct listener *l = p->data;
    uv_os_fd_t lfd;
    if (status < 0 || uv_fileno((uv_handle_t *)&l->tcp, &lfd) != 0)
        return;
    for (int i = 0; i < SERVER_ACCEPT_BATCH && l->polling; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            on_accept_error(l->srv, l, errno);
            return;
        }
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
            close(fd);
            continue;
        }
        accept_one(l, fd);
    }
}

/* The pause after EMFILE without a reserve is over: take the reserve back and listen again. */
static void on_fd_pause(uv_timer_t *t)
{
    struct server *srv = t->data;
    if (srv->reserve_fd < 0)
        srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (srv->stopping)
        return;
    for (int i = 0; i < srv->n_lis; i++) {
        struct listener *l = &srv->lis[i];
        if (!l->polling && uv_poll_start(&l->poll, UV_READABLE, on_listen) == 0)
            l->polling = true;
    }
}

/* ---- listeners ---- */

/* Splits "ADDR[:PORT]", "[V6][:PORT]" or "*[:PORT]" into host and port. Returns 0 or -1. */
static int split_listen(const char *text, uint16_t def_port, char *host, size_t cap, uint16_t *port)
{
    struct hostport hp;
    if (hostport_split(text, &hp, NULL) != 0 || hp.host_len >= cap)
        return -1;
    memcpy(host, hp.host, hp.host_len);
    host[hp.host_len] = '\0';
    *port = def_port;
    return hp.port && hostport_port(hp.port, hp.port_len, port) != 0 ? -1 : 0;
}

/* Opens one listener on sa. Returns 0 or a negative errno (nothing is left open then). The listener's name is
 * the address the socket is bound to, read back from it. */
static int listen_on(struct server *srv, const struct sockaddr *sa, uint16_t port)
{
    if (srv->n_lis >= SERVER_MAX_LISTENERS)
        return -ENOBUFS;
    int fd = listen_open(sa, SERVER_BACKLOG);
    if (fd < 0)
        return fd;
    struct listener *l = &srv->lis[srv->n_lis];
    memset(l, 0, sizeof *l);
    int rc = listen_bound(fd, NULL, l->name, sizeof l->name);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    l->srv = srv;
    l->scfg.bind = srv->cfg->bind;
    l->scfg.max_requests = srv->cfg->max_requests;
    l->scfg.activation = srv->cfg->activation;
    l->scfg.rng = srv->cfg->rng;
    snprintf(l->scfg.sec_addr, sizeof l->scfg.sec_addr, "%u", (unsigned)port);
    rc = uv_tcp_init(srv->loop, &l->tcp);
    if (rc < 0) {
        close(fd);
        return rc; /* libuv codes are negative errnos on POSIX */
    }
    l->tcp.data = l;
    rc = uv_tcp_open(&l->tcp, fd); /* the handle owns the socket from here */
    if (rc < 0) {
        close(fd);
        uv_close((uv_handle_t *)&l->tcp, NULL);
        return rc; /* libuv codes are negative errnos on POSIX */
    }
    rc = uv_poll_init_socket(srv->loop, &l->poll, fd);
    if (rc < 0) {
        uv_close((uv_handle_t *)&l->tcp, NULL);
        return rc; /* libuv codes are negative errnos on POSIX */
    }
    l->poll.data = l;
    rc = uv_poll_start(&l->poll, UV_READABLE, on_listen);
    if (rc < 0) {
        uv_close((uv_handle_t *)&l->poll, NULL);
        uv_close((uv_handle_t *)&l->tcp, NULL);
        return rc; /* libuv codes are negative errnos on POSIX */
    }
    l->polling = true;
    srv->n_lis++;
    return 0;
}

static void listener_close(struct listener *l)
{
    uv_close((uv_handle_t *)&l->poll, NULL); /* stops polling the socket before the tcp handle closes it */
    uv_close((uv_handle_t *)&l->tcp, NULL);
}

/* The wildcard listener on port: [::] dual-stack, or 0.0.0.0 only where IPv6 itself is unavailable (never
 * because the port is taken). what names the setting in messages. Returns 0 or -1 after a message. */
static int open_wildcard(struct server *srv, uint16_t port, const char *what)
{
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_any;
    a6.sin6_port = htons(port);
    int rc = listen_on(srv, (const struct sockaddr *)&a6, port);
    if (rc == 0)
        return 0;
    if (!listen_ipv6_unavailable(rc)) {
        log_error("%s: cannot listen on [::]:%u: %s", what, (unsigned)port, listen_strerror(rc));
        return -1;
    }
    log_info("IPv6 unavailable (%s): listening on 0.0.0.0:%u instead of [::]:%u", strerror(-rc), (unsigned)port,
             (unsigned)port);
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_addr.s_addr = htonl(INADDR_ANY);
    a4.sin_port = htons(port);
    rc = listen_on(srv, (const struct sockaddr *)&a4, port);
    if (rc < 0) {
        log_error("%s: cannot listen on 0.0.0.0:%u: %s", what, (unsigned)port, listen_strerror(rc));
        return -1;
    }
    return 0;
}

/* One --listen entry. A name listens on the first address it resolves to; "*" is the wildcard listener.
 * Returns 0 or -1 after a message. */
static int open_listener(struct server *srv, const char *text)
{
    char host[256], what[300];
    uint16_t port;
    if (split_listen(text, srv->cfg->port, host, sizeof host, &port) < 0) {
        log_error("--listen %s: expected ADDR[:PORT], [IPV6][:PORT] or *[:PORT]", text);
        return -1;
    }
    snprintf(what, sizeof what, "--listen %s", text);
    if (strcmp(host, "*") == 0 || host[0] == '\0')
        return open_wildcard(srv, port, what);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    int g = getaddrinfo(host, portstr, &hints, &res);
    if (g != 0 || !res) {
        log_error("%s: %s", what, g ? gai_strerror(g) : "no address");
        return -1;
    }
    int rc = listen_on(srv, res->ai_addr, port); /* a named address: the first that resolves */
    if (rc < 0) {
        char name[LISTEN_NAME_LEN];
        listen_format(res->ai_addr, name, sizeof name);
        log_error("%s: cannot listen on %s: %s", what, name, listen_strerror(rc));
    }
    freeaddrinfo(res);
    return rc < 0 ? -1 : 0;
}

static int64_t unix_now(void)
{
    return (int64_t)time(NULL);
}

/* ---- shutdown ---- */

static void on_grace(uv_timer_t *t)
{
    struct server *srv = t->data;
    for (struct conn *c = srv->conns; c; c = c->next) {
        c->pending_writes = 0; /* give up on replies the peer does not read */
        c->awaiting = 0;
        conn_close(c);
    }
    uv_close((uv_handle_t *)t, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct server *srv = s->data;
    if (srv->stopping)
        return;
    srv->stopping = 1;
    log_info("signal %d: stopping (%lld connections open)", signum,
             (long long)atomic_load_explicit(&srv->m->open, memory_order_relaxed));
    for (int i = 0; i < srv->n_lis; i++)
        listener_close(&srv->lis[i]);
    uv_close((uv_handle_t *)&srv->sig_term, NULL);
    uv_close((uv_handle_t *)&srv->sig_int, NULL);
    uv_close((uv_handle_t *)&srv->fd_pause, NULL);
    struct conn *next;
    for (struct conn *c = srv->conns; c; c = next) {
        next = c->next;
        conn_close_why(c, METRICS_CLOSE_SHUTDOWN); /* replies already queued still go out first */
    }
    if (srv->writer) { /* commits what is queued and answers those activations, then closes the database */
        store_writer_stop(srv->writer);
        srv->writer = NULL;
    }
    uv_timer_init(srv->loop, &srv->grace);
    srv->grace.data = srv;
    if (srv->conns)
        uv_timer_start(&srv->grace, on_grace, SERVER_STOP_GRACE_MS, 0);
    else
        uv_close((uv_handle_t *)&srv->grace, NULL);
}

/* Hands the bound listeners to cfg->on_bound. Returns 0 or -1 when it refused. */
static int report_bound(struct server *srv)
{
    struct server_bound b[SERVER_MAX_LISTENERS];
    memset(b, 0, sizeof b);
    for (int i = 0; i < srv->n_lis; i++) {
        uv_os_fd_t fd;
        char name[LISTEN_NAME_LEN];
        if (uv_fileno((uv_handle_t *)&srv->lis[i].tcp, &fd) != 0 || listen_bound(fd, &b[i].addr, name, sizeof name) < 0)
            return -1;
        snprintf(b[i].name, sizeof b[i].name, "%s", name);
    }
    return srv->cfg->on_bound(srv->cfg->on_bound_arg, b, (size_t)srv->n_lis) == 0 ? 0 : -1;
}

/* One line with every non-zero rejection, close and refusal counter by name (the same names as the metrics),
 * e.g. "rejected access=3 per_address=1; closed peer=10 slow_sender=2; refused rate=4". */
static void log_counters(const struct metrics *m)
{
    char line[1024];
    size_t off = 0;
    const char *sep = "";
    for (int g = 0; g < 3; g++) {
        int n = g == 0 ? METRICS_REJECT_COUNT : g == 1 ? METRICS_CLOSE_COUNT : METRICS_REFUSE_COUNT;
        int first = 1;
        for (int i = 0; i < n; i++) {
            uint64_t v = metrics_get(g == 0 ? &m->rejected[i] : g == 1 ? &m->closed[i] : &m->refusals[i]);
            if (v == 0 || off >= sizeof line)
                continue;
            const char *name = g == 0 ? metrics_reject_name((enum metrics_reject)i)
                               : g == 1 ? metrics_close_name((enum metrics_close)i)
                                        : metrics_refusal_name((enum metrics_refusal)i);
            int k = snprintf(line + off, sizeof line - off, "%s%s%s=%llu", first ? sep : " ",
                             first ? (g == 0 ? "rejected " : g == 1 ? "closed " : "refused ") : "", name,
                             (unsigned long long)v);
            if (k > 0)
                off += (size_t)k;
            first = 0;
            sep = "; ";
        }
    }
    uint64_t shed = metrics_get(&m->fd_shed), untracked = metrics_get(&m->addr_untracked),
             evicted = metrics_get(&m->addr_evicted);
    if (off < sizeof line && (shed || untracked || evicted))
        snprintf(line + off, sizeof line - off, "%sfd_shed=%llu addr_untracked=%llu addr_evicted=%llu", sep,
                 (unsigned long long)shed, (unsigned long long)untracked, (unsigned long long)evicted);
    if (off > 0 || shed || untracked || evicted)
        log_info("counters: %s", line);
}

static void server_free(struct server *srv)
{
    ratelimit_free(&srv->rl);
    if (srv->reserve_fd >= 0)
        close(srv->reserve_fd);
    free(srv);
}

int server_run(const struct server_cfg *cfg, struct metrics *m)
{
    struct server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return 1;
    srv->cfg = cfg;
    srv->m = m;
    struct ratelimit_cfg rc_cfg = {
        .max_per_address = cfg->max_per_address,
        .rate_per_minute = cfg->rate_limit,
        .burst = cfg->rate_burst,
        .capacity = cfg->max_addresses ? cfg->max_addresses : 1024,
        .log_interval_ms = SERVER_LOG_ADDR_MS,
    };
    if (cfg->rng->fill(cfg->rng->ctx, rc_cfg.hash_key, sizeof rc_cfg.hash_key) != 0 ||
        ratelimit_init(&srv->rl, &rc_cfg) < 0) {
        log_error("cannot set up the per-address table (%u addresses)", (unsigned)rc_cfg.capacity);
        if (cfg->db)
            store_close(cfg->db);
        free(srv);
        return 1;
    }
    srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv->loop = &loop;
    uv_timer_init(&loop, &srv->fd_pause);
    srv->fd_pause.data = srv;
    uint8_t r[4];
    if (cfg->rng->fill(cfg->rng->ctx, r, sizeof r) == 0)
        srv->next_assoc = buf_le32(r) | 1u;
    signal(SIGPIPE, SIG_IGN);

    int rc = 0;
    if (cfg->n_listen == 0)
        rc = open_wildcard(srv, cfg->port, "--port");
    for (int i = 0; rc == 0 && i < cfg->n_listen; i++)
        rc = open_listener(srv, cfg->listen[i]);
    if (rc == 0 && cfg->on_bound)
        rc = report_bound(srv);
    if (rc == 0 && cfg->after_bind && cfg->after_bind(cfg->after_bind_ctx) != 0)
        rc = -1;
    for (int i = 0; rc == 0 && i < srv->n_lis; i++) /* every listener holds its address: now say so */
        log_info("listening on %s", srv->lis[i].name);
    if (rc < 0) {
        for (int i = 0; i < srv->n_lis; i++)
            listener_close(&srv->lis[i]);
        uv_close((uv_handle_t *)&srv->fd_pause, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        if (cfg->db)
            store_close(cfg->db);
        server_free(srv);
        return 2;
    }
    if (cfg->db) {
        for (int g = 0; g < STORE_APP_GROUPS; g++) /* the counts known at start, for genuine mode */
            if (store_count(cfg->db, (enum store_app_group)g, (int64_t)time(NULL), STORE_COUNT_WINDOW_DAYS,
                            &srv->last_count[g]) < 0)
                srv->last_count[g] = 0;
        struct store_writer_cfg wc = {
            .count = cfg->genuine_count,
            .retention_days = cfg->retention_days,
            .max_clients = cfg->max_clients,
            .now = unix_now,
            .metrics = m,
        };
        rc = store_writer_start(cfg->db, &loop, &wc, &srv->writer);
        if (rc < 0) {
            log_error("registry: cannot start the writer thread: %s", uv_strerror(rc));
            store_close(cfg->db);
            for (int i = 0; i < srv->n_lis; i++)
                listener_close(&srv->lis[i]);
            uv_close((uv_handle_t *)&srv->fd_pause, NULL);
            uv_run(&loop, UV_RUN_DEFAULT);
            uv_loop_close(&loop);
            server_free(srv);
            return 1;
        }
    }
    uv_signal_init(&loop, &srv->sig_term);
    uv_signal_init(&loop, &srv->sig_int);
    srv->sig_term.data = srv;
    srv->sig_int.data = srv;
    uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
    uv_signal_start(&srv->sig_int, on_signal, SIGINT);

    rc = uv_run(&loop, UV_RUN_DEFAULT);
    int closed = uv_loop_close(&loop);
    server_free(srv);
    if (closed != 0) {
        log_error("event loop ended with handles still open");
        return 1;
    }
    uint64_t activations = 0, refused = 0;
    for (unsigned v = 4; v <= 6; v++)
        for (size_t k = 0; k <= m->n_kms; k++) {
            activations += metrics_activation_get(m, v, k, 0) + metrics_activation_get(m, v, k, 1);
            refused += metrics_activation_get(m, v, k, 1);
        }
    log_info("stopped: %llu connections, %llu activations (%llu refused, %llu unrecorded)",
             (unsigned long long)metrics_get(&m->accepted), (unsigned long long)activations,
             (unsigned long long)refused, (unsigned long long)metrics_get(&m->unrecorded));
    log_counters(m);
    return rc < 0 ? 1 : 0;
}
