/*
 * kmsc bench — load generator. Every worker runs one client association at a time: connect, BIND, then one
 * activation (--new-connection) or activations back to back on the same connection (reuse, the default).
 * Requests are built and answers verified with the calls kmsc itself uses (client.h); this file only drives
 * the sockets on a libuv loop, keeps the statistics and prints them.
 *
 * Bounds: at most BENCH_MAX_WORKERS workers, BENCH_MAX_HOLD idle connections, -d at most BENCH_MAX_SECONDS,
 * -N at most BENCH_MAX_ACTIVATIONS; every connect and reply waits at most --timeout; a tick timer enforces
 * the deadlines, the duration and the progress line.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "client.h"
#include "err.h"
#include "guid.h"
#include "kms.h"
#include "kms_crypto.h"
#include "products.h"
#include "rpc.h"

#define BENCH_MAX_WORKERS 10000ul
#define BENCH_MAX_HOLD 100000ul
#define BENCH_MAX_SECONDS 86400.0
#define BENCH_MAX_ACTIVATIONS 1000000000ul
#define BENCH_MAX_CMID_POOL 1000000ul
#define BENCH_MAX_MIX 16          /* entries of --mix and --product */
#define BENCH_MAX_WEIGHT 1000ul   /* one weight of a mix */
#define BENCH_DEFAULT_SECONDS 10.0
#define BENCH_DEFAULT_WORKERS 8ul
#define BENCH_DEFAULT_TIMEOUT_MS 10000
#define BENCH_TICK_MS 50          /* deadline and duration checks */
#define BENCH_HOLD_INFLIGHT 128   /* idle connections being opened at once */
#define BENCH_MAX_MESSAGES 5      /* distinct error messages printed */
#define BENCH_OUT_MAX 1024        /* a BIND or REQUEST PDU (a V6 REQUEST is under 400 bytes) */
#define BIND_FLAGS (RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG)

/* ---- latency histogram: exact below 128 us, then 64 buckets per power of two (under 1.6 % wide) ---- */

#define HIST_LINEAR 128u
#define HIST_SUB 64u
#define HIST_OCTAVES 36u /* up to 2^43 us */
#define HIST_BUCKETS (HIST_LINEAR + HIST_OCTAVES * HIST_SUB)

struct hist {
    uint64_t n;
    uint64_t max;
    uint64_t b[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_LINEAR)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 7 */
    unsigned sub = (unsigned)(v >> (e - 6u)) - HIST_SUB;
    unsigned i = HIST_LINEAR + (e - 7u) * HIST_SUB + sub;
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

/* The middle of bucket i, in us. */
static double hist_value(unsigned i)
{
    if (i < HIST_LINEAR)
        return (double)i;
    unsigned e = (i - HIST_LINEAR) / HIST_SUB + 7u, sub = (i - HIST_LINEAR) % HIST_SUB;
    double lo = (double)((uint64_t)(HIST_SUB + sub) << (e - 6u));
    return lo + (double)(1ull << (e - 6u)) / 2.0;
}

static void hist_add(struct hist *h, uint64_t us)
{
    h->b[hist_index(us)]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

/* The p-quantile (0 < p <= 1) in ms; 0 when empty. */
static double hist_ms(const struct hist *h, double p)
{
    if (h->n == 0)
        return 0.0;
    uint64_t want = (uint64_t)ceil(p * (double)h->n), seen = 0;
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            double v = hist_value(i);
            return (v > (double)h->max ? (double)h->max : v) / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

/* ---- options ---- */

/* A weighted choice: entry k is taken weight[k] times in every total consecutive picks. */
struct mix {
    unsigned n;
    unsigned long total;
    unsigned long weight[BENCH_MAX_MIX];
};

static unsigned mix_pick(const struct mix *m, uint64_t counter)
{
    unsigned long r = (unsigned long)(counter % m->total);
    for (unsigned k = 0; k < m->n; k++) {
        if (r < m->weight[k])
            return k;
        r -= m->weight[k];
    }
    return 0;
}

struct bench_opts {
    struct kmsc_target target;
    unsigned long workers;
    double seconds; /* 0: until -N */
    unsigned long n; /* 0: until -d */
    bool new_connection;
    bool verify;
    bool json;
    bool quiet;
    bool ndr64, btfn;
    int timeout_ms;
    unsigned long cmid_pool; /* 0: a distinct CMID per activation */
    unsigned long hold;
    struct mix vmix;
    uint16_t versions[BENCH_MAX_MIX]; /* 0: the product's own protocol */
    struct mix pmix;
    const struct products_sku *products[BENCH_MAX_MIX];
};

/* ---- state ---- */

enum err_kind { EK_CONNECT, EK_TIMEOUT, EK_CLOSED, EK_RPC, EK_REFUSED, EK_VERIFY, EK_COUNT, EK_INTERNAL, EK_N };

static const char *const err_names[EK_N] = {
    [EK_CONNECT] = "connect", [EK_TIMEOUT] = "timeout", [EK_CLOSED] = "closed", [EK_RPC] = "rpc",
    [EK_REFUSED] = "refused", [EK_VERIFY] = "verify",   [EK_COUNT] = "count",   [EK_INTERNAL] = "internal",
};

enum wstate { W_IDLE, W_CONNECTING, W_BINDING, W_REQUESTING, W_CLOSING, W_DONE };

struct bench;

struct worker {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    struct bench *b;
    enum wstate st;
    bool open;             /* tcp is initialised and not yet closed */
    bool connected;
    bool writing;          /* a uv_write is in flight: out[] is still in use */
    bool next_after_write; /* the reply came before the write callback: start the next one from there */
    bool retry;            /* resend the current activation on a new connection (host closed a reused one) */
    unsigned long on_conn; /* activations answered on this connection */
    uint32_t call_id;
    uint16_t ctx_id;
    enum rpc_syntax syntax;
    unsigned version_slot, product_slot;
    uint64_t t_start;  /* ns: this activation began (connect included with --new-connection) */
    uint64_t deadline; /* ns: the pending connect or reply must complete by then */
    struct rpc_bind offered;
    struct rpc_bind_ack ack;
    struct kms_request req;
    size_t out_len;
    uint8_t out[BENCH_OUT_MAX];
    size_t in_len;
    uint8_t in[KMS_LIMIT_PDU_MAX];
};

struct hold {
    uv_tcp_t tcp;
    uv_connect_t creq;
    struct bench *b;
    bool open;
};

struct bench {
    const struct bench_opts *o;
    uv_loop_t *loop;
    uv_timer_t tick;
    struct sockaddr_storage addr;
    char peer[KMSC_ADDR_TEXT];
    struct worker *w;
    unsigned long live; /* workers not yet W_DONE */
    struct hold *h;
    unsigned long hold_next, hold_pending, hold_ok, hold_failed, hold_lost;
    bool loading;  /* the load phase has begun */
    bool stopping; /* no new activations */
    bool ended;
    bool progress; /* stderr is a terminal: one progress line */
    uint64_t t0, t_end, t_last_progress;
    uint64_t started, ok, failed, connections, reconnects;
    uint64_t errors[EK_N];
    uint64_t by_version[3]; /* answered activations of versions 4, 5, 6 (others count in none) */
    enum kmsc_status worst;
    unsigned messages;
    char message[BENCH_MAX_MESSAGES][KMSC_MSG_MAX];
    struct kms_request templ[BENCH_MAX_MIX]; /* per product of the mix */
    struct guid *cmids;                       /* --cmid-pool */
    struct guid cmid_base;
    uint64_t cmid_counter;
    struct hist lat;
    uint8_t holdbuf[256];
};

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
    case KMSC_CONNECT:
        return EK_CONNECT;
    case KMSC_REFUSED:
        return EK_REFUSED;
    case KMSC_VERIFY:
        return EK_VERIFY;
    case KMSC_COUNT:
        return EK_COUNT;
    case KMSC_RPC:
        return EK_RPC;
    default:
        return EK_INTERNAL;
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
    hist_add(&b->lat, (now - w->t_start) / 1000u);
    b->ok++;
    uint16_t v = w->req.version_major;
    if (v >= 4 && v <= 6)
        b->by_version[v - 4]++;
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
    /* A random version-4 UUID with a 48-bit counter folded into Data1/Data2: distinct for every activation. */
    uint64_t k = ++b->cmid_counter;
    *g = b->cmid_base;
    for (int i = 0; i < 6; i++)
        g->b[i] ^= (uint8_t)(k >> (8 * i));
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
    enum kmsc_status st = kms_client_encode_activation(&w->req, w->syntax == RPC_SYNTAX_NDR64, w->ctx_id, w->call_id++, iv,
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
    rc = kms_client_encode_bind(w->call_id, b->o->ndr64, b->o->btfn, BIND_FLAGS, &w->offered, w->out, sizeof w->out,
                          &w->out_len);
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
        w->version_slot = mix_pick(&o->vmix, k);
        w->product_slot = mix_pick(&o->pmix, k / o->vmix.total);
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
static void hold_next(struct bench *b);

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
    hold_next(b);
}

static void hold_next(struct bench *b)
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

/* ---- the run ---- */

static void print_progress(struct bench *b, uint64_t now, bool final)
{
    double el = (double)(now - b->t0) / 1e9;
    uint64_t errs = b->failed;
    fprintf(stderr, "\r%7.1f s  %10llu ok  %9.0f/s  %llu errors%s", el, (unsigned long long)b->ok,
            el > 0 ? (double)b->ok / el : 0.0, (unsigned long long)errs, final ? "\n" : "   ");
}

static void on_tick(uv_timer_t *t)
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
            const char *what = w->st == W_CONNECTING ? "connect to" : w->st == W_BINDING ? "BIND reply from"
                                                                                         : "REQUEST reply from";
            enum kmsc_status st = w->st == W_CONNECTING ? KMSC_CONNECT : KMSC_RPC;
            activation_failf(w, EK_TIMEOUT, st, "%s %s timed out after %d ms", what, b->peer, b->o->timeout_ms);
        }
        if (b->ended)
            return;
    }
    if (b->progress && now - b->t_last_progress >= 1000000000u) {
        b->t_last_progress = now;
        print_progress(b, now, false);
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

/* ---- output ---- */

static void print_json(const struct bench *b, double el)
{
    const struct bench_opts *o = b->o;
    printf("{\"target\":\"%s\",\"mode\":\"%s\",\"workers\":%lu,\"verify\":%s,", b->peer,
           o->new_connection ? "new-connection" : "reuse", o->workers, o->verify ? "true" : "false");
    printf("\"elapsed_s\":%.6f,\"started\":%llu,\"activations\":%llu,\"errors\":%llu,\"rate\":%.1f,", el,
           (unsigned long long)b->started, (unsigned long long)b->ok, (unsigned long long)b->failed,
           el > 0 ? (double)b->ok / el : 0.0);
    printf("\"connections\":%llu,\"reconnects\":%llu,", (unsigned long long)b->connections,
           (unsigned long long)b->reconnects);
    printf("\"by_version\":{\"4\":%llu,\"5\":%llu,\"6\":%llu},", (unsigned long long)b->by_version[0],
           (unsigned long long)b->by_version[1], (unsigned long long)b->by_version[2]);
    printf("\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},", hist_ms(&b->lat, 0.50),
           hist_ms(&b->lat, 0.90), hist_ms(&b->lat, 0.99), (double)b->lat.max / 1000.0);
    printf("\"errors_by_kind\":{");
    for (int k = 0; k < EK_N; k++)
        printf("%s\"%s\":%llu", k ? "," : "", err_names[k], (unsigned long long)b->errors[k]);
    printf("},\"hold\":{\"asked\":%lu,\"open\":%lu,\"failed\":%lu,\"lost\":%lu},", o->hold, b->hold_ok,
           b->hold_failed, b->hold_lost);
    printf("\"exit\":%d}\n", (int)b->worst);
}

static void print_text(const struct bench *b, double el)
{
    const struct bench_opts *o = b->o;
    printf("target %s, %s, %lu workers%s\n", b->peer, o->new_connection ? "new connection per activation" : "reuse",
           o->workers, o->verify ? "" : ", responses not verified");
    printf("activations: %llu in %.3f s = %.1f/s (%llu by v4, %llu v5, %llu v6), %llu errors\n",
           (unsigned long long)b->ok, el, el > 0 ? (double)b->ok / el : 0.0, (unsigned long long)b->by_version[0],
           (unsigned long long)b->by_version[1], (unsigned long long)b->by_version[2],
           (unsigned long long)b->failed);
    printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", hist_ms(&b->lat, 0.50), hist_ms(&b->lat, 0.90),
           hist_ms(&b->lat, 0.99), (double)b->lat.max / 1000.0);
    printf("connections: %llu (%llu reopened after the host closed them)\n", (unsigned long long)b->connections,
           (unsigned long long)b->reconnects);
    if (o->hold)
        printf("idle connections: %lu asked, %lu open, %lu failed, %lu closed by the host\n", o->hold, b->hold_ok,
               b->hold_failed, b->hold_lost);
    printf("errors:");
    for (int k = 0; k < EK_N; k++)
        printf(" %s %llu%s", err_names[k], (unsigned long long)b->errors[k], k + 1 < EK_N ? "," : "\n");
}

/* ---- command line ---- */

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("kmsc bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'kmsc bench --help' for more information.\n", stderr);
    return KMSC_USAGE;
}

static void help(void)
{
    fputs("Usage: kmsc bench [options] [HOST[:PORT]]\n"
          "Load a KMS host with concurrent activations, verify every answer, report rate and latency.\n"
          "\n"
          "  -c N                  concurrent workers, 1..10000 (default 8)\n"
          "  -d SECONDS            run this long, 0.01..86400 (default 10 unless -N is given)\n"
          "  -N N                  stop after N activations, 1..1000000000 (with -d: whichever comes first)\n"
          "  --new-connection      connect and BIND for every activation (as real clients do)\n"
          "  --reuse               keep each worker's connection (the default)\n"
          "  -4, -5, -6            protocol version (default: each product's own)\n"
          "  --mix V:W[,V:W...]    protocol mix by weight, e.g. 4:1,5:1,6:8\n"
          "  --product P[:W][,...] product mix by SKU name or alias (default win10ent)\n"
          "  --cmid-pool N         draw CMIDs from a fixed pool of N (default: a distinct CMID per activation)\n"
          "  --no-verify           only check PDU type and call_id of each answer (baselines)\n"
          "  --no-ndr64            do not offer NDR64 in the BIND\n"
          "  --no-btfn             do not offer bind-time feature negotiation\n"
          "  --hold N              keep N idle connections open during the run, 0..100000\n"
          "  --timeout SECONDS     limit for each connect and each reply (default 10)\n"
          "  --json                print the result as one JSON object\n"
          "  -q, --quiet           no progress line and no error messages\n"
          "  -h, --help            print this help and exit\n"
          "\n"
          "Exit status: 0 when every activation was verified, 2 on a usage error, else the worst\n"
          "failure in kmsc's codes (3 connect, 4 RPC or timeout, 5 refused, 6 verification, 7 count).\n",
          stdout);
}

/* Parses "ITEM[:W],ITEM[:W]..." calling item() for each ITEM text; weights default to 1. */
static int parse_mix(const char *opt, const char *text, struct mix *m, int (*item)(const char *, unsigned, void *),
                     void *ctx)
{
    char buf[512];
    if (strlen(text) >= sizeof buf)
        return usage_error("%s: too long", opt);
    memcpy(buf, text, strlen(text) + 1);
    m->n = 0;
    m->total = 0;
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (m->n >= BENCH_MAX_MIX)
            return usage_error("%s: more than %d entries", opt, BENCH_MAX_MIX);
        char *colon = strrchr(p, ':');
        unsigned long wgt = 1;
        if (colon) {
            *colon = '\0';
            if (kms_client_parse_uint(colon + 1, 1, BENCH_MAX_WEIGHT, &wgt) != 0)
                return usage_error("%s: weight '%s' is not an integer in 1..%lu", opt, colon + 1, BENCH_MAX_WEIGHT);
        }
        if (*p == '\0')
            return usage_error("%s: empty entry in '%s'", opt, text);
        if (item(p, m->n, ctx) != 0)
            return KMSC_USAGE;
        m->weight[m->n++] = wgt;
        m->total += wgt;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

static int version_item(const char *text, unsigned k, void *ctx)
{
    struct bench_opts *o = ctx;
    unsigned long v;
    if (kms_client_parse_uint(text, 4, 6, &v) != 0)
        return usage_error("--mix: version '%s' is not 4, 5 or 6", text);
    o->versions[k] = (uint16_t)v;
    return 0;
}

static int product_item(const char *text, unsigned k, void *ctx)
{
    struct bench_opts *o = ctx;
    const struct products_sku *s = products_find_sku(text);
    if (!s)
        return usage_error("--product: unknown product '%s' (see kmsc --list-products)", text);
    o->products[k] = s;
    return 0;
}

static int parse_seconds(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    double s = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(s) || s < lo || s > hi)
        return usage_error("%s: '%s' is not a number of seconds in %g..%g", opt, text, lo, hi);
    *out = s;
    return 0;
}

enum { OPT_NEWCONN = 256, OPT_REUSE, OPT_MIX, OPT_PRODUCT, OPT_CMID_POOL, OPT_NO_VERIFY, OPT_NO_NDR64, OPT_NO_BTFN,
       OPT_HOLD, OPT_TIMEOUT, OPT_JSON };

static const struct option bench_long[] = {
    {"new-connection", no_argument, NULL, OPT_NEWCONN},
    {"reuse", no_argument, NULL, OPT_REUSE},
    {"mix", required_argument, NULL, OPT_MIX},
    {"product", required_argument, NULL, OPT_PRODUCT},
    {"cmid-pool", required_argument, NULL, OPT_CMID_POOL},
    {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
    {"no-ndr64", no_argument, NULL, OPT_NO_NDR64},
    {"no-btfn", no_argument, NULL, OPT_NO_BTFN},
    {"hold", required_argument, NULL, OPT_HOLD},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Returns 0, KMSC_USAGE (printed) or -1 after --help. */
static int parse_args(struct bench_opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->workers = BENCH_DEFAULT_WORKERS;
    o->verify = true;
    o->ndr64 = true;
    o->btfn = true;
    o->timeout_ms = BENCH_DEFAULT_TIMEOUT_MS;
    o->vmix.n = 1;
    o->vmix.total = 1;
    o->vmix.weight[0] = 1;
    bool have_d = false, have_mix = false, have_v = false;
    const char *mix_text = NULL, *product_text = NULL;
    double s = 0.0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:d:N:456qh", bench_long, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (kms_client_parse_uint(optarg, 1, BENCH_MAX_WORKERS, &o->workers) != 0)
                return usage_error("-c: '%s' is not an integer in 1..%lu", optarg, BENCH_MAX_WORKERS);
            break;
        case 'd':
            if (parse_seconds("-d", optarg, 0.01, BENCH_MAX_SECONDS, &o->seconds))
                return KMSC_USAGE;
            have_d = true;
            break;
        case 'N':
            if (kms_client_parse_uint(optarg, 1, BENCH_MAX_ACTIVATIONS, &o->n) != 0)
                return usage_error("-N: '%s' is not an integer in 1..%lu", optarg, BENCH_MAX_ACTIVATIONS);
            break;
        case '4':
        case '5':
        case '6':
            have_v = true;
            o->versions[0] = (uint16_t)(c - '0');
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            help();
            return -1;
        case OPT_NEWCONN:
            o->new_connection = true;
            break;
        case OPT_REUSE:
            o->new_connection = false;
            break;
        case OPT_MIX:
            have_mix = true;
            mix_text = optarg;
            break;
        case OPT_PRODUCT:
            product_text = optarg;
            break;
        case OPT_CMID_POOL:
            if (kms_client_parse_uint(optarg, 1, BENCH_MAX_CMID_POOL, &o->cmid_pool) != 0)
                return usage_error("--cmid-pool: '%s' is not an integer in 1..%lu", optarg, BENCH_MAX_CMID_POOL);
            break;
        case OPT_NO_VERIFY:
            o->verify = false;
            break;
        case OPT_NO_NDR64:
            o->ndr64 = false;
            break;
        case OPT_NO_BTFN:
            o->btfn = false;
            break;
        case OPT_HOLD:
            if (kms_client_parse_uint(optarg, 0, BENCH_MAX_HOLD, &o->hold) != 0)
                return usage_error("--hold: '%s' is not an integer in 0..%lu", optarg, BENCH_MAX_HOLD);
            break;
        case OPT_TIMEOUT:
            if (parse_seconds("--timeout", optarg, 0.001, 3600.0, &s))
                return KMSC_USAGE;
            o->timeout_ms = (int)(s * 1000.0 + 0.999);
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt && optopt < 256)
                return usage_error("unknown option '-%c'", optopt);
            return usage_error("unknown or ambiguous option '%s'", argv[optind - 1]);
        }
    }
    if (have_mix && have_v)
        return usage_error("-4/-5/-6 and --mix exclude each other");
    if (mix_text && parse_mix("--mix", mix_text, &o->vmix, version_item, o) != 0)
        return KMSC_USAGE;
    if (parse_mix("--product", product_text ? product_text : "win10ent", &o->pmix, product_item, o) != 0)
        return KMSC_USAGE;
    if (!have_d && o->n == 0)
        o->seconds = BENCH_DEFAULT_SECONDS;
    if (argc - optind > 1)
        return usage_error("too many arguments (expected one HOST[:PORT])");
    char msg[KMSC_MSG_MAX];
    if (kms_client_parse_target(optind < argc ? argv[optind] : "127.0.0.1", &o->target, msg, sizeof msg) != 0)
        return usage_error("%s", msg);
    return 0;
}

/* Resolves the target once (the first address); 0 or KMSC_CONNECT (printed). */
static int resolve(struct bench *b)
{
    struct addrinfo hints, *list = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(b->o->target.host, b->o->target.port, &hints, &list);
    if (rc != 0 || !list) {
        fprintf(stderr, "kmsc bench: cannot resolve '%s': %s\n", b->o->target.host, gai_strerror(rc));
        return KMSC_CONNECT;
    }
    memcpy(&b->addr, list->ai_addr, list->ai_addrlen);
    char host[INET6_ADDRSTRLEN + 16], serv[8];
    if (getnameinfo(list->ai_addr, list->ai_addrlen, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(b->peer, sizeof b->peer, "%.60s:%s", b->o->target.host, b->o->target.port);
    else if (list->ai_family == AF_INET6)
        snprintf(b->peer, sizeof b->peer, "[%s]:%s", host, serv);
    else
        snprintf(b->peer, sizeof b->peer, "%s:%s", host, serv);
    freeaddrinfo(list);
    return 0;
}

/* The request template of each product of the mix. */
static int build_templates(struct bench *b)
{
    const struct bench_opts *o = b->o;
    for (unsigned k = 0; k < o->pmix.n; k++) {
        struct kms_request *r = &b->templ[k];
        const struct products_sku *s = o->products[k];
        memset(r, 0, sizeof *r);
        r->app_id = s->kms->app->id;
        r->sku_id = s->id;
        r->kms_id = s->kms->id;
        r->version_major = (uint16_t)s->kms->protocol;
        r->required_count = s->kms->n_policy;
        r->license_status = KMS_LS_OOB_GRACE;
        r->grace_time = 43200u;
        if (kms_request_set_machine_name(r, "kmsc-bench") != 0)
            return KMSC_INTERNAL;
    }
    if (kmsc_random_uuid(&b->cmid_base) != 0)
        return KMSC_INTERNAL;
    if (o->cmid_pool) {
        b->cmids = calloc(o->cmid_pool, sizeof *b->cmids);
        if (!b->cmids)
            return KMSC_INTERNAL;
        for (unsigned long i = 0; i < o->cmid_pool; i++)
            if (kmsc_random_uuid(&b->cmids[i]) != 0)
                return KMSC_INTERNAL;
    }
    return 0;
}

int kmsc_bench_main(int argc, char **argv)
{
    static struct bench_opts o;
    int rc = parse_args(&o, argc, argv);
    if (rc < 0)
        return 0;
    if (rc)
        return rc;
    struct bench *b = calloc(1, sizeof *b);
    if (!b) {
        fputs("kmsc bench: out of memory\n", stderr);
        return KMSC_INTERNAL;
    }
    b->o = &o;
    b->worst = KMSC_OK;
    rc = resolve(b);
    if (rc == 0) {
        rc = build_templates(b);
        if (rc)
            fputs("kmsc bench: cannot build the requests (random source or product table)\n", stderr);
    }
    if (rc == 0) {
        b->w = calloc(o.workers, sizeof *b->w);
        b->h = o.hold ? calloc(o.hold, sizeof *b->h) : NULL;
        if (!b->w || (o.hold && !b->h)) {
            fputs("kmsc bench: out of memory\n", stderr);
            rc = KMSC_INTERNAL;
        }
    }
    if (rc) {
        free(b->w);
        free(b->h);
        free(b->cmids);
        free(b);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    b->loop = &loop;
    b->progress = !o.quiet && isatty(STDERR_FILENO);
    b->live = o.workers;
    for (unsigned long i = 0; i < o.workers; i++) {
        b->w[i].b = b;
        b->w[i].st = W_IDLE;
    }
    uv_timer_init(&loop, &b->tick);
    b->tick.data = b;
    uv_timer_start(&b->tick, on_tick, BENCH_TICK_MS, BENCH_TICK_MS);
    hold_next(b); /* starts the load itself once the idle connections are open (at once without --hold) */
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);

    double el = b->t_end > b->t0 ? (double)(b->t_end - b->t0) / 1e9 : 0.0;
    if (b->progress)
        print_progress(b, b->t_end ? b->t_end : uv_hrtime(), true);
    if (!o.quiet)
        for (unsigned i = 0; i < b->messages; i++)
            fprintf(stderr, "kmsc bench: %s\n", b->message[i]);
    if (o.json)
        print_json(b, el);
    else
        print_text(b, el);
    int worst = (int)b->worst;
    free(b->w);
    free(b->h);
    free(b->cmids);
    free(b);
    if (fflush(stdout) != 0 && worst == 0)
        worst = KMSC_INTERNAL;
    return worst;
}
