/*
 * canned — the benchmark's ceiling: a libuv server that answers BIND and REQUEST with fixed bytes.
 *
 * It frames PDUs like kmsd (16-byte header, frag_length), answers a BIND with one BIND_ACK and a REQUEST with
 * one RESPONSE built once at start-up (only the call_id is patched in, so that a client can match them), and
 * keeps kmsd's loop structure: one shared read buffer, one heap connection with a heap write request per
 * reply, TCP_NODELAY. No crypto, no state, no logging, no registry: what is left is the cost of the traffic
 * itself on this machine. Not a KMS host; `kmsc bench --no-verify` is the client to use.
 *
 * Usage: canned ADDRESS PORT   (stops on SIGTERM or SIGINT; prints "listening" once ready)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "buf.h"
#include "kms_limits.h"
#include "ndr.h"
#include "rpc.h"

#define CANNED_READ_BUF 65536
#define CANNED_WRITE_MAX 1024
#define CANNED_RESPONSE_KMS_LEN 276 /* a V6 response with a 64-character ePID: what kmsd sends */

struct canned {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_signal_t sig_term, sig_int;
    size_t ack_len, resp_len;
    uint8_t ack[CANNED_WRITE_MAX];
    uint8_t resp[CANNED_WRITE_MAX];
    uint8_t readbuf[CANNED_READ_BUF];
};

struct cconn {
    uv_tcp_t tcp;
    struct canned *cd;
    size_t in_len;
    uint8_t *in; /* an incomplete PDU, allocated on first need */
};

struct cwrite {
    uv_write_t req;
    uint8_t data[CANNED_WRITE_MAX];
};

static struct canned g;

static void on_closed(uv_handle_t *h)
{
    struct cconn *c = h->data;
    free(c->in);
    free(c);
}

static void on_write(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static int reply(struct cconn *c, const uint8_t *bytes, size_t len, uint32_t call_id)
{
    struct cwrite *w = malloc(sizeof *w);
    if (!w)
        return -1;
    memcpy(w->data, bytes, len);
    buf_put_le32(w->data + 12, call_id); /* call_id at offset 12 of the common header */
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* Answers the whole PDUs in p[0..len); returns bytes used or -1 to close. */
static long frame(struct cconn *c, const uint8_t *p, size_t len)
{
    size_t off = 0;
    while (len - off >= RPC_HEADER_LEN) {
        struct rpc_header h;
        if (rpc_peek_header(p + off, len - off, &h) < 0)
            return -1;
        if (len - off < h.frag_length)
            break;
        int rc = 0;
        if (h.ptype == RPC_PTYPE_BIND)
            rc = reply(c, c->cd->ack, c->cd->ack_len, h.call_id);
        else if (h.ptype == RPC_PTYPE_REQUEST)
            rc = reply(c, c->cd->resp, c->cd->resp_len, h.call_id);
        else
            rc = -1;
        if (rc < 0)
            return -1;
        off += h.frag_length;
    }
    return (long)off;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct cconn *c = h->data;
    *buf = uv_buf_init((char *)c->cd->readbuf, sizeof c->cd->readbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct cconn *c = s->data;
    if (nread < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t len = (size_t)nread;
    if (c->in_len) {
        if (len > KMS_LIMIT_PDU_MAX - c->in_len) {
            uv_close((uv_handle_t *)&c->tcp, on_closed);
            return;
        }
        memcpy(c->in + c->in_len, p, len);
        c->in_len += len;
        p = c->in;
        len = c->in_len;
    }
    long used = frame(c, p, len);
    if (used < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    size_t rest = len - (size_t)used;
    if (rest && !c->in) {
        c->in = malloc(KMS_LIMIT_PDU_MAX);
        if (!c->in) {
            uv_close((uv_handle_t *)&c->tcp, on_closed);
            return;
        }
    }
    if (rest)
        memmove(c->in, p + used, rest);
    c->in_len = rest;
}

static void on_connection(uv_stream_t *ls, int status)
{
    if (status < 0)
        return;
    struct cconn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->cd = &g;
    uv_tcp_init(g.loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP && h != (uv_handle_t *)&g.listener ? on_closed : NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    uv_walk(g.loop, close_any, NULL);
}

/* The fixed replies: the BIND_ACK kmsd's negotiation gives the BIND kmsc sends (NDR32, NDR64, BTFN offered),
 * and a RESPONSE carrying a V6-sized KMS message of fixed filler bytes in NDR64. */
static int build_replies(uint16_t port)
{
    struct rpc_pdu bind, ack;
    rpc_client_bind(&bind, 2, RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG, true, true);
    struct rpc_bind_policy pol = {.ndr32 = true, .ndr64 = true, .btfn = true};
    struct rpc_assoc assoc;
    rpc_assoc_init(&assoc);
    char sec[8];
    snprintf(sec, sizeof sec, "%u", (unsigned)port);
    if (rpc_bind_reply(&bind, &pol, 0x1688u, sec, &assoc, &ack) != 0)
        return -1;
    struct wr w;
    wr_init(&w, g.ack, sizeof g.ack);
    if (rpc_encode(&ack, &w) != 0)
        return -1;
    g.ack_len = w.off;

    uint8_t kms[CANNED_RESPONSE_KMS_LEN], stub[CANNED_RESPONSE_KMS_LEN + 64];
    for (size_t i = 0; i < sizeof kms; i++)
        kms[i] = (uint8_t)(i * 7u + 1u);
    wr_init(&w, stub, sizeof stub);
    if (ndr_encode_response(&w, true, kms, sizeof kms) != 0)
        return -1;
    struct rpc_pdu resp;
    rpc_response_init(&resp, 2, 1, stub, w.off);
    struct wr w2;
    wr_init(&w2, g.resp, sizeof g.resp);
    if (rpc_encode(&resp, &w2) != 0)
        return -1;
    g.resp_len = w2.off;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: canned ADDRESS PORT\n");
        return 2;
    }
    char *end;
    unsigned long port = strtoul(argv[2], &end, 10);
    if (*end || port == 0 || port > 65535) {
        fprintf(stderr, "canned: bad port '%s'\n", argv[2]);
        return 2;
    }
    struct sockaddr_storage ss;
    if (uv_ip4_addr(argv[1], (int)port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(argv[1], (int)port, (struct sockaddr_in6 *)&ss) != 0) {
        fprintf(stderr, "canned: bad address '%s'\n", argv[1]);
        return 2;
    }
    if (build_replies((uint16_t)port) != 0) {
        fprintf(stderr, "canned: cannot build the replies\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    g.loop = &loop;
    uv_tcp_init(&loop, &g.listener);
    int rc = uv_tcp_bind(&g.listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&g.listener, 511, on_connection);
    if (rc < 0) {
        fprintf(stderr, "canned: cannot listen on %s port %lu: %s\n", argv[1], port, uv_strerror(rc));
        return 1;
    }
    uv_signal_init(&loop, &g.sig_term);
    uv_signal_init(&loop, &g.sig_int);
    uv_signal_start(&g.sig_term, on_signal, SIGTERM);
    uv_signal_start(&g.sig_int, on_signal, SIGINT);
    printf("listening\n");
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop) == 0 ? 0 : 1;
}
