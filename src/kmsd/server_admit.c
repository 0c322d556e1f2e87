/* server_admit — which accepted connections kmsd serves: stopping, the ACL, the per-address cap and rate,
 * --max-connections, and what to do when descriptors run out (server_internal.h). */
#include "server_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "proxy_header.h"
#include "log.h"

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

/* An address as logged: "192.0.2.1:50000" (also for an IPv4 peer on the dual-stack listener), "[2001:db8::1]:50000";
 * "?:0" when it is of no family kmsd knows. */
static void format_peer(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[64] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;
        port = ntohs(a->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) { /* an IPv4 peer on the dual-stack listener */
            const uint8_t *b = a->sin6_addr.s6_addr + 12;
            snprintf(out, cap, "%u.%u.%u.%u:%d", b[0], b[1], b[2], b[3], port);
            return;
        }
        (void)uv_ip6_name(a, host, sizeof host); /* host fits any address; it stays "?" on failure */
        snprintf(out, cap, "[%s]:%d", host, port);
        return;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
        (void)uv_ip4_name(a, host, sizeof host);
        port = ntohs(a->sin_port);
    }
    snprintf(out, cap, "%s:%d", host, port);
}

static void on_fd_pause(uv_timer_t *t);

/* accept() failed. Out of descriptors, the pending connections would stay queued and the listener readable:
 * give up the reserve descriptor, accept and close what is queued (the clients see a close and retry), take
 * the reserve back. Without a reserve (it could not be taken back) the listener is not polled for
 * SERVER_FD_PAUSE_MS instead, so the loop never spins. Logged once a minute; counted. */
void server_accept_error(struct server *srv, struct listener *l, int err)
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
        server_listener_pause(l);
        int rc = uv_timer_start(&srv->fd_pause, on_fd_pause, SERVER_FD_PAUSE_MS, 0);
        if (rc < 0) { /* cannot happen with an initialised timer; never leave the listener paused for good */
            log_error("%s: cannot pause accepting: %s", l->name, uv_strerror(rc));
            server_listeners_resume(srv);
        }
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
    server_conn_close(c);
}

/* Adds what the per-address table evicted since ev0 to the metrics. */
static void count_evictions(struct server *srv, uint64_t ev0)
{
    if (srv->rl.evictions != ev0)
        atomic_fetch_add_explicit(&srv->m->addr_evicted, srv->rl.evictions - ev0, memory_order_relaxed);
}

/* The per-address cap (--max-per-address) for c. Returns 0, or -1 after refusing c. */
static int admit_address(struct conn *c)
{
    struct server *srv = c->srv;
    /* by default public addresses only: hundreds of machines behind one NAT address must all activate */
    c->limited = c->have_addr && (srv->cfg->limit_private || !acl_is_private(c->addr));
    if (!c->limited)
        return 0;
    uint64_t ev0 = srv->rl.evictions;
    enum ratelimit_result r = ratelimit_connect(&srv->rl, c->addr, uv_now(srv->loop));
    count_evictions(srv, ev0);
    if (r == RATELIMIT_OVER) {
        char why[96];
        snprintf(why, sizeof why, "the address holds --max-per-address (%u) connections",
                 (unsigned)srv->cfg->max_per_address);
        refuse(c, METRICS_REJECT_PER_ADDRESS, why);
        return -1;
    }
    if (r == RATELIMIT_UNTRACKED)
        metrics_inc(&srv->m->addr_untracked);
    c->rl_counted = r == RATELIMIT_OK;
    return 0;
}

/* The ACL and the per-address cap for c's address. Returns 0, or -1 after refusing (closing) c. */
static int admit_peer(struct conn *c)
{
    struct server *srv = c->srv;
    if (srv->cfg->acl && c->have_addr) {
        enum acl_verdict v = acl_check(srv->cfg->acl, c->addr);
        if (v != ACL_PASS) {
            static const char *const rule[] = {"", "address matches --deny", "address matches no --allow",
                                               "public address (--private-only)"};
            refuse(c, METRICS_REJECT_ACCESS, rule[v]);
            return -1;
        }
    }
    return admit_address(c);
}

/* Admission, in order: stopping, the ACL, the per-address cap (for a trusted proxy's connection, once its PROXY
 * header names the client: server_proxy_admit), --max-connections. Returns 0 when c may be served, or -1 after
 * refusing (closing) it. */
static int admit(struct conn *c)
{
    struct server *srv = c->srv;
    if (srv->stopping) {
        metrics_inc(&srv->m->rejected[METRICS_REJECT_STOPPING]);
        server_conn_close(c);
        return -1;
    }
    if (!c->proxy_wait && admit_peer(c) < 0)
        return -1;
    /* Last: a flood refused above (denied, over its address's cap) never takes the room of a client. */
    if (srv->active >= srv->cfg->max_connections) {
        metrics_inc(&srv->m->rejected[METRICS_REJECT_MAX_CONNECTIONS]);
        if (refusal_log_ok(srv, NULL))
            log_info("%s: connection refused: --max-connections (%u) reached", c->peer,
                     (unsigned)srv->cfg->max_connections);
        server_conn_close(c);
        return -1;
    }
    return 0;
}

void server_admit(struct listener *l, int fd, const struct sockaddr *peer, socklen_t peer_len)
{
    struct server *srv = l->srv;
    struct conn *c = server_conn_new(l);
    if (!c) { /* logged */
        close(fd);
        return;
    }
    c->close_counted = 1; /* not yet a counted connection: a rejection is counted as such */
    int rc = c->closing ? -EIO : uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        close(fd);
        metrics_inc(&srv->m->rejected[METRICS_REJECT_ACCEPT_ERROR]);
        server_conn_close(c);
        return;
    }
    /* the peer as accept4 gave it ("?:0" in the log when it gave none) */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (peer && peer_len > 0 && (size_t)peer_len <= sizeof ss)
        memcpy(&ss, peer, (size_t)peer_len);
    else
        ss.ss_family = AF_UNSPEC;
    format_peer((const struct sockaddr *)&ss, c->peer, sizeof c->peer);
    c->have_addr = ss.ss_family != AF_UNSPEC && acl_addr_from_sockaddr((const struct sockaddr *)&ss, c->addr) == 0;
    if (srv->cfg->proxy_protocol) { /* a trusted proxy's connection starts with a header; anyone else's must not */
        c->proxy_wait = c->have_addr && srv->cfg->proxies && acl_check(srv->cfg->proxies, c->addr) == ACL_PASS;
        c->proxy_check = !c->proxy_wait;
    }
    if (admit(c) < 0)
        return;
    c->admitted = true;
    srv->active++;
    c->close_counted = 0;
    metrics_inc(&srv->m->accepted);
    (void)server_conn_start(c); /* closes c itself when it cannot start */
}

int server_admit_activation(struct conn *c)
{
    struct server *srv = c->srv;
    if (!c->limited)
        return 0;
    uint64_t ev0 = srv->rl.evictions;
    bool ok = ratelimit_activation(&srv->rl, c->addr, uv_now(srv->loop));
    count_evictions(srv, ev0);
    if (ok)
        return 0;
    /* over --rate-limit: no answer, no record; the client retries later or elsewhere */
    metrics_inc(&srv->m->refusals[METRICS_REFUSE_RATE]);
    if (refusal_log_ok(srv, c->addr))
        log_warn("%s: activation refused: over --rate-limit (%u a minute, burst %u): closed without an answer",
                 c->peer, (unsigned)srv->cfg->rate_limit, (unsigned)srv->cfg->rate_burst);
    server_conn_close_why(c, METRICS_CLOSE_RATE);
    return -1;
}

/* The pause after EMFILE without a reserve is over: take the reserve back and listen again. */
static void on_fd_pause(uv_timer_t *t)
{
    struct server *srv = t->data;
    if (srv->reserve_fd < 0)
        srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!srv->stopping)
        server_listeners_resume(srv);
}

int server_proxy_admit(struct conn *c, const struct proxy_info *pi)
{
    c->proxy_wait = false;
    if (pi->local) /* LOCAL or UNKNOWN: the proxy speaking for itself, as itself */
        return 0;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (pi->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, pi->src, 4);
        a->sin_port = htons(pi->src_port);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, pi->src, 16);
        a->sin6_port = htons(pi->src_port);
    }
    char via[sizeof c->peer];
    snprintf(via, sizeof via, "%s", c->peer);
    format_peer((const struct sockaddr *)&ss, c->peer, sizeof c->peer);
    c->have_addr = acl_addr_from_sockaddr((const struct sockaddr *)&ss, c->addr) == 0;
    log_debug("%s: through the proxy %s (PROXY protocol v%d)", c->peer, via, pi->version);
    c->close_counted = 1; /* a refusal now is counted as one (rejected{reason}), not as a close as well */
    if (admit_peer(c) < 0)
        return -1;
    c->close_counted = 0;
    return 0;
}

void server_proxy_refuse(struct conn *c, const char *why)
{
    struct server *srv = c->srv;
    if (refusal_log_ok(srv, c->have_addr ? c->addr : NULL))
        log_warn("%s: connection closed: %s", c->peer, why);
    server_conn_close_why(c, METRICS_CLOSE_PROXY);
}
