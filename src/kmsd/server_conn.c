/* server_conn — one served KMS connection: reads, framing, the session, writes, the registry round trip and
 * the close (server_internal.h). */
#include "server_internal.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "guid.h"
#include "kms_crypto.h"
#include "log.h"
#include "proxy_header.h"
#include "products.h"
#include "sanitizer.h"

/* A connection kept in srv->pool is poisoned for AddressSanitizer but for its link, so that a use after its
 * close is still reported in the sanitizer build. */
#ifdef KMSD_ASAN
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static void conn_free(struct conn *c);

/* The link of a pooled connection, in its first bytes (its closed uv_tcp_t). */
static struct conn **pool_link(struct conn *c)
{
    return (struct conn **)(void *)c;
}

/* A zeroed connection: one kept from before, or a new one. The pool (SERVER_CONN_POOL) keeps the connection's
 * 1.2 KiB, above glibc's per-thread cache, off the malloc arena that the loop may share with other threads
 * (main.c, KMSD_MALLOC_ARENAS). */
static struct conn *conn_alloc(struct server *srv)
{
    struct conn *c = srv->pool;
    if (!c)
        return calloc(1, sizeof *c);
    POOL_UNPOISON(c, sizeof *c);
    srv->pool = *pool_link(c);
    srv->n_pool--;
    memset(c, 0, sizeof *c);
    return c;
}

static void conn_release(struct server *srv, struct conn *c)
{
    if (srv->n_pool >= SERVER_CONN_POOL) {
        free(c);
        return;
    }
    *pool_link(c) = srv->pool;
    POOL_POISON((char *)c + sizeof(struct conn *), sizeof *c - sizeof(struct conn *));
    srv->pool = c;
    srv->n_pool++;
}

void server_conn_pool_drain(struct server *srv)
{
    while (srv->pool) {
        struct conn *c = srv->pool;
        srv->pool = *pool_link(c);
        POOL_UNPOISON(c, sizeof *c);
        free(c);
    }
    srv->n_pool = 0;
}

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

/* Hands the loop's memory back: the pooled connections go, then the arenas' free pages (glibc returns only the top
 * of a heap by itself, and connections closing in any order leave it fragmented). open: the connections still
 * open, from which the next burst's peak is counted. */
static void heap_release(struct server *srv, int64_t open)
{
    server_conn_pool_drain(srv);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    srv->open_peak = open;
}

/* Once a burst of connections has mostly closed. */
static void server_trim(struct server *srv, int64_t open)
{
    if (srv->open_peak >= SERVER_TRIM_PEAK && open <= srv->open_peak / 4)
        heap_release(srv, open);
}

static void on_idle_release(uv_timer_t *t);

/* Starts the idle release's timer unless it runs: when the last connection closes. */
static void idle_release_arm(struct server *srv)
{
    if (srv->stopping || !(srv->handles & SERVER_H_IDLE_RELEASE) || uv_is_active((uv_handle_t *)&srv->idle_release))
        return;
    srv->idle_release_accepted = metrics_get(&srv->m->accepted);
    (void)uv_timer_start(&srv->idle_release, on_idle_release, SERVER_IDLE_RELEASE_MS, 0); /* an initialised timer */
}

/* SERVER_IDLE_RELEASE_MS after the last connection closed. If none was accepted since, the loop is idle and hands
 * its memory back. Connections of a busy period are allocated wherever the arena has room, often high in a heap the
 * other threads that share it (the writer folding, the HTTP server's lanes) grew by megabytes meanwhile: 32 pooled
 * connections then pin as many pages far apart, each with the free chunks beside it, 76 to 100 kB of an idle kmsd
 * after activations, the web page, a hostile wave and a reload (docs/performance.md, "What the loop's heap kept").
 * Otherwise it starts again: once per interval while connections come and go. */
static void on_idle_release(uv_timer_t *t)
{
    struct server *srv = t->data;
    if (srv->stopping || atomic_load_explicit(&srv->m->open, memory_order_relaxed) > 0)
        return; /* the next close at none open starts it again */
    if (metrics_get(&srv->m->accepted) != srv->idle_release_accepted) {
        idle_release_arm(srv);
        return;
    }
    heap_release(srv, 0);
    log_debug("idle: the loop's pooled connections and free heap pages handed back");
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
    conn_release(srv, c);
    server_trim(srv, open);
    if (open == 0)
        idle_release_arm(srv);
    if (srv->stopping && !srv->conns && !uv_is_closing((uv_handle_t *)&srv->grace))
        uv_close((uv_handle_t *)&srv->grace, NULL);
}

void server_conn_close_why(struct conn *c, enum metrics_close why)
{
    if (!c->close_counted && !c->handles_closed) {
        c->close_counted = 1;
        metrics_inc(&c->srv->m->closed[why]);
    }
    server_conn_close(c);
}

void server_conn_abort(struct conn *c)
{
    c->pending_writes = 0; /* uv_close cancels the writes still queued; on_write runs for each, before the close */
    c->awaiting = 0;       /* the registry callback still comes (store_refs) and frees c if it is the last */
    server_conn_close(c);
}

/* The replies of a closing connection were not all written within --idle-timeout: the peer does not read. */
static void on_linger(uv_timer_t *t)
{
    struct conn *c = t->data;
    log_debug("%s: closing: replies not read within --idle-timeout", c->peer);
    server_conn_abort(c);
}

void server_conn_close(struct conn *c)
{
    uv_handle_t *h[3] = {(uv_handle_t *)&c->tcp, (uv_handle_t *)&c->idle, (uv_handle_t *)&c->pdu};
    if (c->handles_closed)
        return;
    if (!c->closing) {
        c->closing = 1;
        (void)uv_read_stop((uv_stream_t *)&c->tcp); /* both always succeed */
        for (int i = 1; i < c->n_handles; i++)
            (void)uv_timer_stop((uv_timer_t *)h[i]);
    }
    if (c->pending_writes > 0 || c->awaiting) { /* on_write / on_recorded call again once the replies are out */
        if (c->n_handles < 2 || uv_is_active(h[1]))
            return; /* already lingering (or without timers: only the shutdown grace bounds it) */
        /* the idle timer now bounds the wait: a peer that does not read its replies must not hold them for good */
        if (uv_timer_start(&c->idle, on_linger, c->srv->cfg->idle_timeout_ms, 0) == 0) {
            if (c->pending_writes > 0)
                log_debug("%s: closing once its %u queued replies are read, within --idle-timeout", c->peer,
                          (unsigned)c->pending_writes);
            return;
        }
        c->pending_writes = 0; /* cannot happen with an initialised timer: close now rather than perhaps never */
        c->awaiting = 0;
    }
    c->handles_closed = 1;
    c->open_handles = c->n_handles;
    for (int i = 0; i < c->n_handles; i++)
        uv_close(h[i], conn_on_close);
}

struct conn *server_conn_new(struct listener *l)
{
    struct server *srv = l->srv;
    struct conn *c = conn_alloc(srv);
    if (!c) {
        log_error("out of memory accepting a connection");
        return NULL;
    }
    c->srv = srv;
    c->l = l;
    int rc = uv_tcp_init(srv->loop, &c->tcp);
    if (rc < 0) {
        log_error("cannot set up a connection: %s", uv_strerror(rc));
        conn_release(srv, c);
        return NULL;
    }
    c->n_handles = 1;
    rc = uv_timer_init(srv->loop, &c->idle);
    if (rc == 0) {
        c->n_handles++;
        rc = uv_timer_init(srv->loop, &c->pdu);
    }
    if (rc == 0)
        c->n_handles++;
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
    if (rc < 0) { /* the handles that exist close; the last close callback frees c */
        log_error("cannot set up a connection's timers: %s", uv_strerror(rc));
        c->closing = 1;
    }
    return c;
}

static void conn_resume(struct conn *c);

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
        server_conn_close_why(c, METRICS_CLOSE_ERROR);
    else if (c->closing)
        server_conn_close(c);
    else if (c->paused && c->pending_writes == 0)
        conn_resume(c);
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

/* Sends the len bytes the session wrote to the loop's reply buffer (conn_reply_buf) according to the action.
 * Returns 0, or -1 when the connection is closing. */
static int conn_send(struct conn *c, size_t len, enum session_action a, const struct session_event *ev)
{
    if (a == SESSION_CLOSE || a == SESSION_WAIT) {
        if (a == SESSION_WAIT)
            return 0;
        log_debug("%s: closing: %s", c->peer, kms_strerror(ev->close_err));
        server_conn_close_why(c, METRICS_CLOSE_PROTOCOL);
        return -1;
    }
    uint8_t *reply = c->srv->wbuf;
    uv_buf_t b = uv_buf_init((char *)reply, (unsigned)len);
    /* Most replies fit the socket buffer at once: written here, they need no write request, no allocation, no
     * callback and no epoll change (libuv re-arms the watcher after every queued write). uv_try_write refuses
     * while earlier replies are still queued, so the order holds; what it could not write is copied to a write
     * request and goes through uv_write. */
    int rc = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (rc != (int)len) {
        size_t done = rc > 0 ? (size_t)rc : 0;
        bool writable = rc >= 0 || rc == UV_EAGAIN || rc == UV_ENOSYS; /* else the socket failed */
        struct write_req *w = writable ? malloc(sizeof *w) : NULL;
        if (!w) {
            if (writable)
                log_error("%s: out of memory", c->peer);
            server_conn_close_why(c, METRICS_CLOSE_ERROR);
            return -1;
        }
        w->c = c;
        memcpy(w->data, reply + done, len - done);
        b = uv_buf_init((char *)w->data, (unsigned)(len - done));
        if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
            free(w);
            server_conn_close_why(c, METRICS_CLOSE_ERROR);
            return -1;
        }
        c->pending_writes++;
    }
    if (a == SESSION_REPLY_CLOSE) {
        server_conn_close_why(c, METRICS_CLOSE_MAX_REQUESTS);
        return -1;
    }
    return 0;
}

/* The writer of a reply: the loop's reply buffer, which conn_send sends before anything else is written to it. */
static void conn_reply_buf(struct conn *c, struct wr *out)
{
    wr_init(out, c->srv->wbuf, sizeof c->srv->wbuf);
}

static void count_activation(struct metrics *m, const struct session_event *ev)
{
    if (ev->decode_err) {
        metrics_activation(m, 0, m->n_kms, ev->hresult);
        if (ev->hresult)
            metrics_inc(&m->refusals[METRICS_REFUSE_UNDECODABLE]);
        return;
    }
    metrics_activation(m, ev->req.version_major, metrics_kms_index(m, ev->result.kms), ev->hresult);
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

/* The count to answer req with: -1 (the policy's), or in genuine mode the last one known for its group. */
static int64_t conn_count(const struct server *srv, const struct kms_request *req)
{
    if (!srv->cfg->genuine_count)
        return -1;
    return activation_genuine_count(req, srv->last_count[store_app_group_of(&req->app_id)], srv->cfg->count_floor);
}

/* Counts, times (from t0, uv_hrtime) and logs an answered activation. */
static void conn_note_activation(const struct conn *c, const struct session_event *ev, uint64_t t0)
{
    count_activation(c->srv->m, ev);
    metrics_observe(&c->srv->m->request_latency, (uv_hrtime() - t0) / 1000);
    log_activation(c, ev);
}

/* Answers the pending activation with count (-1: the policy's) and sends it. */
static int conn_complete(struct conn *c, int64_t count)
{
    struct wr out;
    conn_reply_buf(c, &out);
    struct session_event ev;
    enum session_action a = session_complete(&c->sess, &c->l->scfg, count, &out, &ev);
    conn_note_activation(c, &ev, c->t_request);
    return conn_send(c, out.off, a, &ev);
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
    if (err < 0) /* STORE_WRITER_UNCOUNTED: in the journal, answered with the count known before */
        metrics_inc(&srv->m->unrecorded);
    if (srv->cfg->genuine_count && !err)
        srv->last_count[store_app_group_of(&c->sess.pending.req.app_id)] = distinct;
    if (conn_complete(c, conn_count(srv, &c->sess.pending.req)) < 0)
        return;
    if (c->closing) { /* kmsd is stopping or the peer went away: the answer goes out, then the close */
        server_conn_close(c);
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
    conn_reply_buf(c, &out);
    struct session_event ev;
    uint64_t t0 = uv_hrtime();
    enum session_action a = session_on_pdu(&c->sess, &c->l->scfg, p, len, &out, &ev);
    if (a == SESSION_ACTIVATE) {
        c->t_request = t0;
        if (server_admit_activation(c) < 0)
            return -1;
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
        return conn_complete(c, conn_count(srv, &ev.req));
    }
    if (ev.activation) /* refused before a decision (undecodable request) */
        conn_note_activation(c, &ev, t0);
    return conn_send(c, out.off, a, &ev);
}

/* Frames PDUs in p[0..len); returns how many bytes were consumed, or -1 when the connection is closing. */
static long conn_frame(struct conn *c, const uint8_t *p, size_t len)
{
    const struct server_cfg *cfg = c->srv->cfg;
    size_t off = 0;
    while (len - off >= RPC_HEADER_LEN) {
        if (c->pending_writes >= SERVER_CONN_WRITES) { /* the peer reads slower than it sends: wait for it */
            c->paused = true;
            break;
        }
        struct rpc_header h;
        int rc = rpc_peek_header(p + off, len - off, &h);
        if (rc < 0 || h.frag_length > cfg->max_pdu) {
            log_debug("%s: closing: %s", c->peer, rc < 0 ? kms_strerror(rc) : "PDU above --max-pdu");
            server_conn_close_why(c, rc < 0 ? METRICS_CLOSE_PROTOCOL : METRICS_CLOSE_BUFFER);
            return -1;
        }
        if (len - off < h.frag_length)
            break;
        int r = conn_pdu(c, p + off, h.frag_length);
        if (r < 0)
            return -1;
        off += h.frag_length;
        if (cfg->max_pdus && ++c->pdus >= cfg->max_pdus) {
            /* the cap's own PDU is handled: its reply, or the answer the registry is still due, goes out first */
            log_debug("%s: closing: --max-pdus (%u) PDUs received", c->peer, (unsigned)cfg->max_pdus);
            server_conn_close_why(c, METRICS_CLOSE_MAX_PDUS);
            return -1;
        }
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
    server_conn_close_why(c, METRICS_CLOSE_SLOW);
}

/* Keeps rest bytes at p in the connection's buffer (p may point into it); progressed: a PDU was completed
 * in this pass (the remaining bytes start a new one). Runs the PDU timer while an incomplete PDU waits.
 * Returns 0 or -1 (closing). */
static int conn_keep(struct conn *c, const uint8_t *p, size_t rest, bool progressed)
{
    const struct server_cfg *cfg = c->srv->cfg;
    if (rest > cfg->max_conn_buffer) {
        log_debug("%s: closing: more than --max-conn-buffer bytes buffered", c->peer);
        server_conn_close_why(c, METRICS_CLOSE_BUFFER);
        return -1;
    }
    if (rest && !c->in) {
        c->in = malloc(cfg->max_conn_buffer);
        if (!c->in) {
            server_conn_close_why(c, METRICS_CLOSE_ERROR);
            return -1;
        }
    }
    if (rest)
        memmove(c->in, p, rest);
    c->in_len = rest;
    if (c->closing)
        return 0;
    if (c->paused) /* not read again until the replies are out (conn_resume); never fails */
        (void)uv_read_stop((uv_stream_t *)&c->tcp);
    if (!rest || c->awaiting || c->paused) {
        /* nothing incomplete, or whole PDUs wait for the registry or for the replies; never fails */
        (void)uv_timer_stop(&c->pdu);
        return 0;
    }
    int rc = 0;
    if (progressed || !uv_is_active((uv_handle_t *)&c->pdu))
        rc = uv_timer_start(&c->pdu, on_pdu_timeout, cfg->pdu_timeout_ms, 0);
    if (rc < 0) {
        log_debug("%s: closing: cannot start the PDU timer: %s", c->peer, uv_strerror(rc));
        server_conn_close_why(c, METRICS_CLOSE_ERROR);
        return -1;
    }
    return 0;
}

/* --proxy-protocol: the PROXY header a trusted proxy sends first (proxy_header.h), or a header from a peer not
 * trusted to send one. Returns 0 when framing goes on at *p (advanced past a header), 1 when the header is not
 * whole yet (kept; the PDU timer bounds the wait), -1 when c is closing. */
static int conn_proxy(struct conn *c, const uint8_t **p, size_t *len)
{
    if (c->proxy_check) { /* no RPC PDU starts like a PROXY header */
        c->proxy_check = false;
        if (proxy_looks_like(*p, *len)) {
            server_proxy_refuse(c, "a PROXY header from an address not given as --trusted-proxy");
            return -1;
        }
        return 0;
    }
    struct proxy_info pi;
    int n = proxy_parse(*p, *len, &pi);
    if (n == 0)
        return conn_keep(c, *p, *len, false) < 0 ? -1 : 1;
    if (n < 0) {
        server_proxy_refuse(c, n == KMS_ERANGE ? "a PROXY header longer than kmsd takes (PROXY_V2_MAX)"
                                               : "a trusted proxy's connection without a valid PROXY header");
        return -1;
    }
    if (server_proxy_admit(c, &pi) < 0)
        return -1;
    *p += n;
    *len -= (size_t)n;
    return 0;
}

/* Frames and handles what it can of p[0..len) and buffers the rest. */
static void conn_consume(struct conn *c, const uint8_t *p, size_t len)
{
    if ((c->proxy_wait || c->proxy_check) && conn_proxy(c, &p, &len) != 0)
        return;
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
        server_conn_close_why(c, METRICS_CLOSE_PEER);
        return;
    }
    if (nread == 0 || c->closing)
        return;
    int rc = uv_timer_again(&c->idle);
    if (rc < 0) {
        log_debug("%s: closing: cannot restart the idle timer: %s", c->peer, uv_strerror(rc));
        server_conn_close_why(c, METRICS_CLOSE_ERROR);
        return;
    }
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t len = (size_t)nread;
    /* continue an incomplete PDU: append what the connection's buffer holds, frame from it, and go on with the rest
     * of the read while framing frees room: a request this read completes is handled (answered) before the
     * buffer's limit can close the connection, as a request in hand always is */
    while (c->in_len && len && !c->closing) {
        size_t room = cfg->max_conn_buffer - c->in_len, n = len < room ? len : room, had = c->in_len + n;
        memcpy(c->in + c->in_len, p, n);
        c->in_len = had;
        p += n;
        len -= n;
        conn_consume(c, c->in, had);
        if (len && !c->closing && c->in_len == had) { /* nothing framed: no room for the rest of this read */
            log_debug("%s: closing: more than --max-conn-buffer bytes buffered", c->peer);
            server_conn_close_why(c, METRICS_CLOSE_BUFFER);
            return;
        }
    }
    if (len && !c->closing)
        conn_consume(c, p, len);
}

/* The replies that paused c are out: handle the PDUs it buffered meanwhile, then read again. */
static void conn_resume(struct conn *c)
{
    c->paused = false;
    int rc = uv_timer_again(&c->idle); /* the peer reads its replies: it is not idle */
    if (rc == 0 && c->in_len) {
        size_t n = c->in_len;
        c->in_len = 0;
        conn_consume(c, c->in, n);
    }
    if (rc == 0 && !c->closing && !c->paused)
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        log_debug("%s: closing: cannot read again: %s", c->peer, uv_strerror(rc));
        server_conn_close_why(c, METRICS_CLOSE_ERROR);
    }
}

static void on_idle(uv_timer_t *t)
{
    struct conn *c = t->data;
    log_debug("%s: idle timeout", c->peer);
    server_conn_close_why(c, METRICS_CLOSE_IDLE);
}

int server_conn_start(struct conn *c)
{
    struct server *srv = c->srv;
    session_init(&c->sess, srv->next_assoc++);
    int rc = 0;
    if (!server_listener_gives_nodelay(c->l, &c->tcp)) /* else the socket has it from the listener */
        rc = uv_tcp_nodelay(&c->tcp, 1);
    if (rc < 0) /* only slower replies: serve the connection anyway */
        log_debug("%s: cannot set TCP_NODELAY: %s", c->peer, uv_strerror(rc));
    rc = uv_timer_start(&c->idle, on_idle, srv->cfg->idle_timeout_ms, srv->cfg->idle_timeout_ms);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        log_debug("%s: closing: cannot start reading: %s", c->peer, uv_strerror(rc));
        server_conn_close_why(c, METRICS_CLOSE_ERROR);
        return -1;
    }
    return 0;
}
