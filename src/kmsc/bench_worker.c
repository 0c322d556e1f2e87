/*
 * bench_worker — the workers of `kmsc bench` on the libuv loop. Every worker runs one client association at a
 * time: connect, BIND, then one activation (--new-connection) or activations back to back on the same
 * connection (reuse, the default). Requests are built and answers verified with the calls kmsc itself uses
 * (kms_client.h); this file only drives the sockets, the idle connections (--hold) and the deadlines.
 */
#include "bench_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "kms_crypto.h"
#include "rng.h"

static void activation_start(struct worker *w);
static void worker_close(struct worker *w);

/* ---- outcome of one activation ---- */

static void note_message(struct bench *b, const char *msg)
{
    for (unsigned i = 0; i < b->messages; i++)
        if (strcmp(b->message[i], msg) == 0)
            return;
    if (b->messages < BENCH_MAX_MESSAGES)
        snprintf(b->message[b->messages++], KMSC_MSG_MAX, "%s", msg);
}

static enum err_kind kind_of(const struct kmsc_result *res)
{
    switch (res->status) {
    case KMSC_CONNECT: return EK_CONNECT;
    case KMSC_REFUSED: return EK_REFUSED;
    case KMSC_VERIFY: return EK_VERIFY;
    case KMSC_COUNT: return EK_COUNT;
    case KMSC_RPC: return EK_RPC;
    default: return EK_INTERNAL;
    }
}

/* Counts a failed activation and closes the connection; the worker goes on after the close. */
static void activation_fail(struct worker *w, enum err_kind kind, enum kmsc_status st, const char *msg)
{
    struct bench *b = w->b;
    b->failed++;
    b->errors[kind]++;
    b->worst = kms_client_worse(b->worst, st);
    note_message(b, msg);
    w->retry = false;
    worker_close(w);
}

static void activation_failf(struct worker *w, enum err_kind kind, enum kmsc_status st, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void activation_failf(struct worker *w, enum err_kind kind, enum kmsc_status st, const char *fmt, ...)
{
    char msg[KMSC_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    activation_fail(w, kind, st, msg);
}

static void activation_done(struct worker *w)
{
    struct bench *b = w->b;
    uint64_t now = uv_hrtime();
    bench_hist_add(&b->lat, (now - w->t_start) / 1000u);
    b->ok++;
    uint16_t v = w->req.version_major;
    if (v >= KMS_VERSION_MIN && v <= KMS_VERSION_MAX)
        b->by_version[v - KMS_VERSION_MIN]++;
    w->on_conn++;
    w->retry = false;
    b->t_end = now;
    if (b->o->new_connection) {
        worker_close(w);
        return;
    }
    w->st = W_IDLE;
    if (w->writing) {
        w->next_after_write = true;
        return;
    }
    activation_start(w);
}

/* ---- I/O ---- */

static void on_closed(uv_handle_t *h)
{
    struct worker *w = h->data;
    struct bench *b = w->b;
    w->open = false;
    w->connected = false;
    w->writing = false;
    w->next_after_write = false;
    w->st = W_IDLE;
    w->in_len = 0;
    if (b->ended)
        return;
    activation_start(w);
}

static void worker_close(struct worker *w)
{
    if (!w->open) {
        w->st = W_IDLE;
        activation_start(w);
        return;
    }
    if (w->st == W_CLOSING)
        return;
    w->st = W_CLOSING;
    uv_close((uv_handle_t *)&w->tcp, on_closed);
}

static void on_write(uv_write_t *req, int status)
{
    struct worker *w = req->data;
    w->writing = false;
    if (status == UV_ECANCELED || w->st == W_CLOSING)
        return;
    if (status < 0) {
        activation_failf(w, EK_RPC, KMSC_RPC, "sending to %s: %s", w->b->peer, uv_strerror(status));
        return;
    }
    if (w->next_after_write) {
        w->next_after_write = false;
        activation_start(w);
    }
}

/* Sends out[0..out_len): uv_try_write first (a small PDU nearly always goes at once), uv_write for the rest. */
static void send_out(struct worker *w)
{
    w->deadline = uv_hrtime() + (uint64_t)w->b->o->timeout_ms * 1000000u;
    uv_buf_t buf = uv_buf_init((char *)w->out, (unsigned)w->out_len);
    int n = uv_try_write((uv_stream_t *)&w->tcp, &buf, 1);
    if (n == (int)w->out_len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        activation_failf(w, EK_RPC, KMSC_RPC, "sending to %s: %s", w->b->peer, uv_strerror(n));
        return;
    }
    if (n > 0)
        buf = uv_buf_init((char *)w->out + n, (unsigned)(w->out_len - (size_t)n));
    w->wreq.data = w;
    int rc = uv_write(&w->wreq, (uv_stream_t *)&w->tcp, &buf, 1, on_write);
    if (rc < 0) {
        activation_failf(w, EK_RPC, KMSC_RPC, "sending to %s: %s", w->b->peer, uv_strerror(rc));
        return;
    }
    w->writing = true;
}

static void fill_cmid(struct bench *b, struct guid *g)
{
    if (b->cmids) {
        *g = b->cmids[b->cmid_counter++ % b->o->cmid_pool];
        return;
    }
    /* A random version-4 UUID whose 64 bits at bytes 0-5 and 10-11 are xor'ed with a bijective mix of a counter:
     * distinct for every activation and spread over the whole space as real clients' CMIDs are (a counter in the
     * low bytes alone gave a registry's index an order no real network has: docs/performance.md). */
    uint64_t x = rng_mix64(++b->cmid_counter);
    *g = b->cmid_base;
    for (int i = 0; i < 6; i++)
        g->b[i] ^= (uint8_t)(x >> (8 * i));
    g->b[10] ^= (uint8_t)(x >> 48);
    g->b[11] ^= (uint8_t)(x >> 56);
}

static void send_request(struct worker *w)
{
    struct bench *b = w->b;
    struct kmsc_result res;
    uint8_t iv[16];
    if (kms_random_bytes(iv, sizeof iv) != 0) {
        activation_fail(w, EK_INTERNAL, KMSC_INTERNAL, "random source failed");
        return;
    }
    res.msg[0] = '\0';
    enum kmsc_status st =
        kms_client_encode_activation(&w->req, w->syntax == RPC_SYNTAX_NDR64, w->ctx_id, w->call_id++, iv,
                                     kmsc_now_filetime(), w->out, sizeof w->out, &w->out_len, &res);
    if (st != KMSC_OK) {
        activation_fail(w, EK_INTERNAL, st, res.msg);
        return;
    }
    (void)b;
    w->st = W_REQUESTING;
    send_out(w);
}

/* Handles one whole reply PDU. */
static void on_pdu(struct worker *w, const uint8_t *p, size_t len)
{
    struct bench *b = w->b;
    struct kmsc_result res;
    struct rpc_pdu pdu;
    memset(&res, 0, sizeof res);
    const char *what = w->st == W_BINDING ? "BIND" : "REQUEST";
    enum kmsc_status st = kms_client_decode_reply(p, len, what, b->peer, &pdu, &res);
    if (st == KMSC_OK && w->st == W_BINDING) {
        st = kms_client_check_bind(&pdu, w->call_id, &w->offered, b->peer, &w->ack, &w->ctx_id, &w->syntax, &res);
        if (st == KMSC_OK) {
            w->call_id++;
            send_request(w);
            return;
        }
    } else if (st == KMSC_OK && w->st == W_REQUESTING) {
        uint32_t call_id = w->call_id - 1;
        if (b->o->verify) {
            st = kms_client_check_activation(&pdu, &w->req, w->syntax == RPC_SYNTAX_NDR64, w->ctx_id, call_id, b->peer,
                                             &res);
        } else if (pdu.hdr.ptype != RPC_PTYPE_RESPONSE || pdu.hdr.call_id != call_id) {
            st = KMSC_RPC;
            snprintf(res.msg, sizeof res.msg, "%s answered REQUEST %u with PDU type %u, call_id %u", b->peer, call_id,
                     pdu.hdr.ptype, pdu.hdr.call_id);
        }
        if (st == KMSC_OK) {
            activation_done(w);
            return;
        }
    } else if (st == KMSC_OK) {
        st = KMSC_RPC;
        snprintf(res.msg, sizeof res.msg, "%s sent a PDU (type %u) nothing was asked for", b->peer, pdu.hdr.ptype);
    }
    res.status = st;
    activation_fail(w, kind_of(&res), st, res.msg);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct worker *w = h->data;
    *buf = uv_buf_init((char *)w->in + w->in_len, (unsigned)(sizeof w->in - w->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct worker *w = s->data;
    struct bench *b = w->b;
    if (w->st == W_CLOSING)
        return;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (w->st == W_REQUESTING && w->on_conn > 0 && w->in_len == 0 && !w->retry) {
            /* The host closed a connection that already answered (its per-connection request cap): open a
             * new one and send this activation again. It fails for real if that happens twice in a row. */
            b->reconnects++;
            w->retry = true;
            w->st = W_CLOSING;
            uv_close((uv_handle_t *)&w->tcp, on_closed);
            return;
        }
        if (w->st == W_BINDING || w->st == W_REQUESTING)
            activation_failf(w, EK_CLOSED, KMSC_RPC, "%s closed the connection %s the reply to %s", b->peer,
                             w->in_len ? "in the middle of" : "without", w->st == W_BINDING ? "BIND" : "REQUEST");
        else
            worker_close(w);
        return;
    }
    w->in_len += (size_t)nread;
    while (w->in_len >= RPC_HEADER_LEN && (w->st == W_BINDING || w->st == W_REQUESTING)) {
        struct rpc_header h;
        int rc = rpc_peek_header(w->in, w->in_len, &h);
        if (rc < 0) {
            activation_failf(w, EK_RPC, KMSC_RPC, "malformed reply from %s: %s", b->peer, kms_strerror(rc));
            return;
        }
        if (w->in_len < h.frag_length)
            return;
        size_t len = h.frag_length;
        /* copy out: on_pdu may start the next exchange, which reuses in[] */
        uint8_t pdu[KMS_LIMIT_PDU_MAX];
        memcpy(pdu, w->in, len);
        memmove(w->in, w->in + len, w->in_len - len);
        w->in_len -= len;
        on_pdu(w, pdu, len);
    }
    if (w->in_len && w->st != W_BINDING && w->st != W_REQUESTING && w->st != W_CLOSING)
        activation_failf(w, EK_RPC, KMSC_RPC, "%s sent %zu bytes nothing was asked for", b->peer, w->in_len);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct worker *w = req->data;
    struct bench *b = w->b;
    if (status == UV_ECANCELED || w->st == W_CLOSING)
        return;
    if (status < 0) {
        activation_failf(w, EK_CONNECT, KMSC_CONNECT, "cannot connect to %s: %s", b->peer, uv_strerror(status));
        return;
    }
    w->connected = true;
    b->connections++;
    (void)uv_tcp_nodelay(&w->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&w->tcp, on_alloc, on_read);
    if (rc < 0) {
        activation_failf(w, EK_RPC, KMSC_RPC, "reading from %s: %s", b->peer, uv_strerror(rc));
        return;
    }
    rc = kms_client_encode_bind(w->call_id, b->o->ndr64, b->o->btfn, b->o->bind_flags, &w->offered, w->out,
                                sizeof w->out, &w->out_len);
    if (rc < 0) {
        activation_failf(w, EK_INTERNAL, KMSC_INTERNAL, "encoding BIND: %s", kms_strerror(rc));
        return;
    }
    w->st = W_BINDING;
    send_out(w);
}

static void worker_connect(struct worker *w)
{
    struct bench *b = w->b;
    w->call_id = 2; /* as Windows clients (protocol.md 2.1) */
    w->on_conn = 0;
    w->in_len = 0;
    int rc = uv_tcp_init(b->loop, &w->tcp);
    if (rc < 0) { /* no socket (descriptor limit): stop starting activations rather than spin */
        b->stopping = true;
        activation_failf(w, EK_INTERNAL, KMSC_INTERNAL, "socket: %s", uv_strerror(rc));
        return;
    }
    w->tcp.data = w;
    w->open = true;
    w->st = W_CONNECTING;
    w->deadline = uv_hrtime() + (uint64_t)b->o->timeout_ms * 1000000u;
    w->creq.data = w;
    rc = uv_tcp_connect(&w->creq, &w->tcp, (const struct sockaddr *)&b->addr, on_connect);
    if (rc < 0)
        activation_failf(w, EK_CONNECT, KMSC_CONNECT, "cannot connect to %s: %s", b->peer, uv_strerror(rc));
}

static void worker_done(struct worker *w)
{
    struct bench *b = w->b;
    w->st = W_DONE;
    if (--b->live == 0) {
        b->ended = true;
        if (b->t_end == 0)
            b->t_end = uv_hrtime();
        for (unsigned long i = 0; i < b->o->hold; i++)
            if (b->h[i].open) {
                b->h[i].open = false;
                uv_close((uv_handle_t *)&b->h[i].tcp, NULL);
            }
        uv_close((uv_handle_t *)&b->tick, NULL);
    }
}

/* Starts the worker's next activation, or ends the worker when the run is over. */
static void activation_start(struct worker *w)
{
    struct bench *b = w->b;
    const struct bench_opts *o = b->o;
    if (!w->retry) {
        if (b->stopping || (o->n && b->started >= o->n)) {
            if (w->open) {
                w->st = W_CLOSING;
                uv_close((uv_handle_t *)&w->tcp, NULL);
                w->open = false;
            }
            worker_done(w);
            return;
        }
        uint64_t k = b->started++;
        w->version_slot = bench_mix_pick(&o->vmix, k);
        w->product_slot = bench_mix_pick(&o->pmix, k / o->vmix.total);
        w->req = b->templ[w->product_slot];
        if (o->versions[w->version_slot])
            w->req.version_major = o->versions[w->version_slot];
        fill_cmid(b, &w->req.cmid);
        w->t_start = uv_hrtime();
    }
    if (!w->open) {
        worker_connect(w);
        return;
    }
    send_request(w);
}

/* ---- idle connections (--hold) ---- */

static void start_load(struct bench *b);

static void hold_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct hold *x = h->data;
    *buf = uv_buf_init((char *)x->b->holdbuf, sizeof x->b->holdbuf);
}

static void hold_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct hold *x = s->data;
    if (nread < 0 && x->open) { /* the host closed an idle connection (idle timeout, limit) */
        x->b->hold_lost++;
        x->open = false;
        uv_close((uv_handle_t *)&x->tcp, NULL);
    }
}

static void hold_connected(uv_connect_t *req, int status)
{
    struct hold *x = req->data;
    struct bench *b = x->b;
    b->hold_pending--;
    if (status == UV_ECANCELED)
        return;
    if (status < 0) {
        b->hold_failed++;
        if (x->open) {
            x->open = false;
            uv_close((uv_handle_t *)&x->tcp, NULL);
        }
        char msg[KMSC_MSG_MAX];
        snprintf(msg, sizeof msg, "idle connection to %s: %s", b->peer, uv_strerror(status));
        note_message(b, msg);
    } else {
        b->hold_ok++;
        (void)uv_read_start((uv_stream_t *)&x->tcp, hold_alloc, hold_read);
    }
    bench_hold_next(b);
}

void bench_hold_next(struct bench *b)
{
    while (b->hold_next < b->o->hold && b->hold_pending < BENCH_HOLD_INFLIGHT) {
        struct hold *x = &b->h[b->hold_next++];
        x->b = b;
        if (uv_tcp_init(b->loop, &x->tcp) < 0) {
            b->hold_failed++;
            continue;
        }
        x->tcp.data = x;
        x->open = true;
        x->creq.data = x;
        if (uv_tcp_connect(&x->creq, &x->tcp, (const struct sockaddr *)&b->addr, hold_connected) < 0) {
            b->hold_failed++;
            x->open = false;
            uv_close((uv_handle_t *)&x->tcp, NULL);
            continue;
        }
        b->hold_pending++;
    }
    if (b->hold_pending == 0 && b->hold_next >= b->o->hold && !b->loading)
        start_load(b);
}

void bench_on_tick(uv_timer_t *t)
{
    struct bench *b = t->data;
    uint64_t now = uv_hrtime();
    if (!b->loading)
        return;
    if (b->o->seconds > 0 && (double)(now - b->t0) >= b->o->seconds * 1e9)
        b->stopping = true;
    for (unsigned long i = 0; i < b->o->workers; i++) {
        struct worker *w = &b->w[i];
        if ((w->st == W_CONNECTING || w->st == W_BINDING || w->st == W_REQUESTING) && now >= w->deadline) {
            const char *what = w->st == W_CONNECTING ? "connect to"
                               : w->st == W_BINDING  ? "BIND reply from"
                                                     : "REQUEST reply from";
            enum kmsc_status st = w->st == W_CONNECTING ? KMSC_CONNECT : KMSC_RPC;
            activation_failf(w, EK_TIMEOUT, st, "%s %s timed out after %d ms", what, b->peer, b->o->timeout_ms);
        }
        if (b->ended)
            return;
    }
    if (b->progress && now - b->t_last_progress >= 1000000000u) {
        b->t_last_progress = now;
        bench_print_progress(b, now, false);
    }
}

static void start_load(struct bench *b)
{
    b->loading = true;
    b->t0 = uv_hrtime();
    b->t_last_progress = b->t0;
    for (unsigned long i = 0; i < b->o->workers && !b->ended; i++)
        activation_start(&b->w[i]);
}
