/*
 * vector_replay — sends the client side of recorded KMS sessions (tests/fixtures/vectors) to a live kmsd and checks
 * every answer: BIND/ALTER_CONTEXT answered, every REQUEST answered with a RESPONSE that the client verifier
 * accepts for the recorded request, or with the error stub 0x8007000D for an unsupported version.
 *
 * Usage: vector_replay HOST PORT FILE...   Exits 0 when every session passed, 1 otherwise.
 * Each PDU is sent in the TCP chunks the recording shows for it where they line up, and read back whole.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "err.h"
#include "kms.h"
#include "ndr.h"
#include "rpc.h"

#define TIMEOUT_MS 5000

static int dial(const char *host, const char *port)
{
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int recv_n(int fd, uint8_t *p, size_t n)
{
    while (n) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, TIMEOUT_MS) <= 0)
            return -1;
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Reads one whole PDU into buf (cap bytes). Returns its length or -1. */
static long recv_pdu(int fd, uint8_t *buf, size_t cap)
{
    struct rpc_header h;
    if (recv_n(fd, buf, RPC_HEADER_LEN) < 0 || rpc_peek_header(buf, RPC_HEADER_LEN, &h) < 0 ||
        h.frag_length > cap || recv_n(fd, buf + RPC_HEADER_LEN, h.frag_length - RPC_HEADER_LEN) < 0)
        return -1;
    return h.frag_length;
}

static uint8_t *unhex(const char *s, size_t *n)
{
    size_t l = strlen(s);
    uint8_t *b = malloc(l / 2 + 1);
    if (!b)
        return NULL;
    for (size_t i = 0; i < l / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            free(b);
            return NULL;
        }
        b[i] = (uint8_t)v;
    }
    *n = l / 2;
    return b;
}

struct stats {
    unsigned sessions, verified, refused, failed;
};

static int fail(const char *file, const char *what)
{
    fprintf(stderr, "vector_replay: %s: %s\n", file, what);
    return -1;
}

static int replay(const char *host, const char *port, const char *file, struct stats *st)
{
    json_error_t je;
    json_t *root = json_load_file(file, 0, &je);
    if (!root)
        return fail(file, je.text);
    json_t *pdus = json_object_get(root, "pdus");
    int fd = dial(host, port);
    if (fd < 0) {
        json_decref(root);
        return fail(file, "cannot connect");
    }
    struct rpc_assoc assoc; /* what the live host accepted */
    rpc_assoc_init(&assoc);
    struct rpc_bind offered;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(pdus); i++) {
        json_t *p = json_array_get(pdus, i);
        if (strcmp(json_string_value(json_object_get(p, "dir")), "c2s") != 0)
            continue;
        size_t n;
        uint8_t *bytes = unhex(json_string_value(json_object_get(p, "hex")), &n);
        struct rpc_pdu req, rep;
        uint8_t reply[8192];
        long rl;
        if (!bytes || rpc_decode(bytes, n, &req) < 0) {
            rc = fail(file, "recorded PDU does not decode");
        } else if (send_all(fd, bytes, n) < 0 || (rl = recv_pdu(fd, reply, sizeof reply)) < 0 ||
                   rpc_decode(reply, (size_t)rl, &rep) < 0) {
            rc = fail(file, "no well-formed reply");
        } else if (req.hdr.ptype == RPC_PTYPE_BIND || req.hdr.ptype == RPC_PTYPE_ALTER_CONTEXT) {
            offered = req.bind;
            if (rep.hdr.ptype != req.hdr.ptype + 1 || rep.bind_ack.n_results != offered.n_ctx) {
                rc = fail(file, "bad bind answer");
            } else {
                for (size_t k = 0; k < offered.n_ctx; k++) {
                    if (rep.bind_ack.results[k].result != RPC_RESULT_ACCEPT)
                        continue;
                    bool is64 = guid_eq(&rep.bind_ack.results[k].transfer.uuid, &rpc_uuid_ndr64);
                    if (assoc.n < KMS_LIMIT_ASSOC_CONTEXTS) {
                        assoc.ctx[assoc.n].ctx_id = offered.ctx[k].ctx_id;
                        assoc.ctx[assoc.n].syntax = is64 ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32;
                        assoc.n++;
                    }
                }
            }
        } else if (req.hdr.ptype == RPC_PTYPE_REQUEST) {
            enum rpc_syntax syn = rpc_assoc_syntax(&assoc, req.request.ctx_id);
            const uint8_t *msg;
            size_t mlen;
            struct kms_request creq;
            struct ndr_response nr;
            if (rep.hdr.ptype != RPC_PTYPE_RESPONSE || rep.hdr.call_id != req.hdr.call_id || syn == RPC_SYNTAX_NONE) {
                rc = fail(file, "REQUEST not answered with a RESPONSE on an accepted context");
            } else if (ndr_decode_request(req.request.stub, req.request.stub_len, syn == RPC_SYNTAX_NDR64, &msg,
                                          &mlen) < 0 ||
                       ndr_decode_response(rep.response.stub, rep.response.stub_len, syn == RPC_SYNTAX_NDR64,
                                           &nr) < 0) {
                rc = fail(file, "NDR framing");
            } else {
                struct kms_request strict;
                bool supported = kms_decode_request(msg, mlen, &strict) == 0;
                if (!supported) {
                    if (!nr.error_form || nr.hresult != KMS_HR_INVALID_DATA)
                        rc = fail(file, "unsupported version not refused with 0x8007000D");
                    else
                        st->refused++;
                } else if (nr.error_form || kms_parse_request(msg, mlen, &creq) < 0) {
                    rc = fail(file, "supported request refused");
                } else {
                    struct kms_response resp;
                    int v = kms_decode_response(&creq, nr.msg, nr.len, &resp);
                    if (v < 0)
                        rc = fail(file, kms_strerror(v));
                    else if (resp.current_count < creq.required_count)
                        rc = fail(file, "count below the request's threshold");
                    else
                        st->verified++;
                }
            }
        }
        free(bytes);
    }
    close(fd);
    json_decref(root);
    st->sessions++;
    if (rc < 0)
        st->failed++;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: replay HOST PORT FILE...\n");
        return 2;
    }
    struct stats st = {0, 0, 0, 0};
    for (int i = 3; i < argc; i++)
        (void)replay(argv[1], argv[2], argv[i], &st);
    printf("vector_replay: %u sessions, %u responses verified, %u unsupported versions refused, %u failed\n", st.sessions,
           st.verified, st.refused, st.failed);
    return st.failed || st.sessions == 0 ? 1 : 0;
}
