#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "kms_crypto.h"
#include "timeutil.h"

static void result_reset(struct kmsc_result *res)
{
    memset(res, 0, sizeof *res);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t kmsc_now_filetime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return timeutil_filetime_from_unix((int64_t)ts.tv_sec) + (uint64_t)ts.tv_nsec / 100u;
}

int kmsc_random_uuid(struct guid *g)
{
    if (kms_random_bytes(g->b, sizeof g->b) != 0)
        return KMS_ECRYPTO;
    kms_client_uuid_v4(g);
    return 0;
}

/* ---- socket I/O against a monotonic deadline ---- */

/* Waits for events on fd until deadline (ms, monotonic). Returns 0 when ready (or in error: the next call
 * reports it), -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (rc > 0)
            return 0;
        if (rc == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int send_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
    size_t off = 0;
    while (off < n) {
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc < 0)
            return rc;
        ssize_t k = send(fd, p + off, n - off, MSG_NOSIGNAL);
        if (k >= 0)
            off += (size_t)k;
        else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
    }
    return 0;
}

#define RECV_EOF 1

/* Reads exactly n bytes. Returns 0, RECV_EOF (peer closed after *got bytes), -ETIMEDOUT or -errno. */
static int recv_all(int fd, uint8_t *p, size_t n, int64_t deadline, size_t *got)
{
    *got = 0;
    while (*got < n) {
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc < 0)
            return rc;
        ssize_t k = recv(fd, p + *got, n - *got, 0);
        if (k > 0)
            *got += (size_t)k;
        else if (k == 0)
            return RECV_EOF;
        else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
    }
    return 0;
}

/* Reads one whole PDU into c->buf (header, then frag_length - 16 bytes) and decodes it into *pdu. */
static enum kmsc_status read_pdu(struct kmsc_conn *c, int64_t deadline, const char *what, struct rpc_pdu *pdu,
                                 struct kmsc_result *res)
{
    int64_t start = mono_ms();
    size_t got;
    int rc = recv_all(c->fd, c->buf, RPC_HEADER_LEN, deadline, &got);
    if (rc == RECV_EOF && got == 0)
        return kms_client_fail(res, KMSC_RPC, 0, "%s closed the connection without a reply to %s", c->peer, what);
    if (rc == RECV_EOF)
        return kms_client_fail(res, KMSC_RPC, 0, "%s closed the connection in the middle of the reply to %s", c->peer, what);
    if (rc == -ETIMEDOUT)
        return kms_client_fail(res, KMSC_RPC, rc, "no reply to %s from %s within %d ms%s", what, c->peer,
                               (int)(deadline - start), strcmp(what, "BIND") == 0 ? " (is it a KMS host?)" : "");
    if (rc < 0)
        return kms_client_fail(res, KMSC_RPC, rc, "receiving the reply to %s: %s", what, strerror(-rc));

    struct rpc_header h;
    rc = rpc_peek_header(c->buf, RPC_HEADER_LEN, &h);
    if (rc < 0)
        return kms_client_fail(res, KMSC_RPC, rc, "malformed reply to %s: %s", what, kms_strerror(rc));
    size_t len = h.frag_length; /* 16 <= len <= KMS_LIMIT_PDU_MAX == sizeof c->buf, checked above */
    rc = recv_all(c->fd, c->buf + RPC_HEADER_LEN, len - RPC_HEADER_LEN, deadline, &got);
    if (rc == RECV_EOF)
        return kms_client_fail(res, KMSC_RPC, 0, "%s closed the connection in the middle of the reply to %s", c->peer, what);
    if (rc == -ETIMEDOUT)
        return kms_client_fail(res, KMSC_RPC, rc, "incomplete reply to %s from %s within %d ms", what, c->peer,
                               (int)(deadline - start));
    if (rc < 0)
        return kms_client_fail(res, KMSC_RPC, rc, "receiving the reply to %s: %s", what, strerror(-rc));

    return kms_client_decode_reply(c->buf, len, what, c->peer, pdu, res);
}

/* Sends the len bytes already encoded in c->buf. */
static enum kmsc_status send_buf(struct kmsc_conn *c, size_t len, const char *what, struct kmsc_result *res)
{
    int rc = send_all(c->fd, c->buf, len, mono_ms() + c->timeout_ms);
    if (rc == -ETIMEDOUT)
        return kms_client_fail(res, KMSC_RPC, rc, "sending %s to %s timed out", what, c->peer);
    if (rc < 0)
        return kms_client_fail(res, KMSC_RPC, rc, "sending %s to %s: %s", what, c->peer, strerror(-rc));
    return KMSC_OK;
}

/* ---- connection ---- */

void kmsc_conn_init(struct kmsc_conn *c, int timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->bind_timeout_ms = timeout_ms;
    c->call_id = 2; /* Windows clients start at 2 (protocol.md 2.1) */
}

void kmsc_close(struct kmsc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->bound = false;
}

static void format_peer(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN + 16], serv[8]; /* numeric forms only; +16 for a scope id */
    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, cap, "?");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(out, cap, "[%s]:%s", host, serv);
    else
        snprintf(out, cap, "%s:%s", host, serv);
}

/* Connects a fresh non-blocking socket to one address. Returns the fd, or -errno / -ETIMEDOUT. */
static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    int rc = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            rc = -errno;
        } else {
            rc = wait_fd(fd, POLLOUT, mono_ms() + timeout_ms);
            if (rc == 0) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
                    rc = -errno;
                else if (soerr != 0)
                    rc = -soerr;
            }
        }
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* latency only; failure is harmless */
    return fd;
}

static int lookup(const struct kmsc_target *t, int family, struct addrinfo **list)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    *list = NULL;
    int grc = getaddrinfo(t->host, t->port, &hints, list);
    if (grc == 0 && !*list)
        grc = EAI_NONAME;
    return grc;
}

enum kmsc_status kmsc_resolve(const struct kmsc_target *t, struct addrinfo **list, struct kmsc_result *res)
{
    int family = t->family == KMSC_FAMILY_IPV4 ? AF_INET : t->family == KMSC_FAMILY_IPV6 ? AF_INET6 : AF_UNSPEC;
    int grc = lookup(t, family, list);
    if (grc == 0)
        return KMSC_OK;
    int e = errno;
    if (family != AF_UNSPEC) {
        /* whether the name has addresses at all, only not of this family: then say so */
        struct addrinfo *any = NULL;
        int arc = lookup(t, AF_UNSPEC, &any);
        if (arc == 0) {
            freeaddrinfo(any);
            return kms_client_fail(res, KMSC_CONNECT, KMS_ENOTFOUND, "%s has no %s address", t->host,
                                   family == AF_INET ? "IPv4" : "IPv6");
        }
    }
    return kms_client_fail(res, KMSC_CONNECT, grc == EAI_SYSTEM ? -e : KMS_ENOTFOUND, "cannot resolve '%s': %s",
                           t->host, grc == EAI_SYSTEM ? strerror(e) : gai_strerror(grc));
}

enum kmsc_status kmsc_connect(struct kmsc_conn *c, const struct kmsc_target *t, struct kmsc_result *res)
{
    result_reset(res);
    kmsc_close(c);
    struct addrinfo *list = NULL;
    enum kmsc_status st = kmsc_resolve(t, &list, res);
    if (st != KMSC_OK)
        return st;

    int last = -ENOENT;
    char peer[KMSC_ADDR_TEXT] = "";
    size_t tried = 0;
    int64_t first = mono_ms(), until = first + (c->wait_ms > 0 ? c->wait_ms : 0);
    /* bounded by the clock and, should it stall, by the number of tries the wait allows */
    long rounds = c->wait_ms > 0 ? 2 + c->wait_ms / KMSC_WAIT_RETRY_MS : 1;
    for (long round = 0; round < rounds; round++) {
        tried = 0;
        bool all_refused = true;
        for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
            tried++;
            format_peer(ai->ai_addr, ai->ai_addrlen, peer, sizeof peer);
            int fd = connect_one(ai, c->timeout_ms);
            if (fd >= 0) {
                c->fd = fd;
                memcpy(c->peer, peer, sizeof c->peer);
                freeaddrinfo(list);
                return KMSC_OK;
            }
            last = fd;
            all_refused = all_refused && fd == -ECONNREFUSED;
        }
        int64_t now = mono_ms();
        if (!all_refused || now >= until)
            break;
        int64_t pause = now - first < KMSC_WAIT_FAST_MS ? KMSC_WAIT_RETRY_MS : KMSC_WAIT_SLOW_RETRY_MS;
        if (pause > until - now)
            pause = until - now;
        struct timespec ts = {(time_t)(pause / 1000), (long)(pause % 1000) * 1000000L};
        (void)nanosleep(&ts, NULL); /* a signal cuts it short: the clock above still bounds the wait */
    }
    freeaddrinfo(list);
    if (tried == 1)
        return kms_client_fail(res, KMSC_CONNECT, last, "cannot connect to %s: %s", peer,
                    last == -ETIMEDOUT ? "connection timed out" : strerror(-last));
    return kms_client_fail(res, KMSC_CONNECT, last, "cannot connect to '%s' port %s (%zu addresses tried), last error: %s",
                t->host, t->port, tried, last == -ETIMEDOUT ? "connection timed out" : strerror(-last));
}

/* ---- BIND ---- */

enum kmsc_status kmsc_bind(struct kmsc_conn *c, bool ndr64, bool btfn, uint8_t flags, struct kmsc_result *res)
{
    result_reset(res);
    if (c->fd < 0)
        return kms_client_fail(res, KMSC_RPC, KMS_EINVAL, "not connected");
    size_t len;
    int rc = kms_client_encode_bind(c->call_id, ndr64, btfn, flags, &c->offered, c->buf, sizeof c->buf, &len);
    if (rc < 0)
        return kms_client_fail(res, KMSC_INTERNAL, rc, "encoding BIND: %s", kms_strerror(rc));
    enum kmsc_status st = send_buf(c, len, "BIND", res);
    if (st != KMSC_OK)
        return st;
    uint32_t call_id = c->call_id;
    struct rpc_pdu pdu;
    st = read_pdu(c, mono_ms() + c->bind_timeout_ms, "BIND", &pdu, res);
    if (st != KMSC_OK)
        return st;
    st = kms_client_check_bind(&pdu, call_id, &c->offered, c->peer, &c->ack, &c->ctx_id, &c->syntax, res);
    if (st != KMSC_OK)
        return st;
    c->bound = true;
    return KMSC_OK;
}

/* ---- one activation ---- */

enum kmsc_status kmsc_activate(struct kmsc_conn *c, struct kms_request *req, struct kmsc_result *res)
{
    result_reset(res);
    if (c->fd < 0 || !c->bound)
        return kms_client_fail(res, KMSC_RPC, KMS_EINVAL, "not bound");
    bool ndr64 = c->syntax == RPC_SYNTAX_NDR64;

    uint8_t iv[16];
    if (kms_random_bytes(iv, sizeof iv) != 0)
        return kms_client_fail(res, KMSC_INTERNAL, KMS_ECRYPTO, "random source failed");
    uint64_t now = kms_client_shift_time(kmsc_now_filetime(), c->time_offset); /* --time-offset */
    uint32_t call_id = c->call_id++;
    size_t len;
    enum kmsc_status st =
        kms_client_encode_activation(req, ndr64, c->ctx_id, call_id, iv, now, c->buf, sizeof c->buf, &len, res);
    if (st != KMSC_OK)
        return st;
    double t0 = mono_sec();
    st = send_buf(c, len, "REQUEST", res);
    if (st != KMSC_OK)
        return st;
    struct rpc_pdu pdu;
    st = read_pdu(c, mono_ms() + c->timeout_ms, "REQUEST", &pdu, res);
    res->rtt_ms = (mono_sec() - t0) * 1000.0;
    if (st != KMSC_OK)
        return st;
    return kms_client_check_activation(&pdu, req, ndr64, c->ctx_id, call_id, c->peer, res);
}
