/* server_listen — the libuv side of the KMS listeners: open them from the --listen texts (the sockets come
 * from listen.c), poll and accept, report them to on_bound, pause and resume, close (server_internal.h). */
#define _GNU_SOURCE /* accept4 */
#include "server_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hostport.h"
#include "listen.h"
#include "log.h"
#include "sdnotify.h"

/* The listener is readable: accept a connection, or up to SERVER_ACCEPT_BATCH when they queue (then let the
 * loop serve the others). kmsd accepts itself rather than through uv_listen: libuv retries accept() in a loop
 * while it fails with EMFILE, which spins when no connection can be taken, and sheds silently with a reserve of
 * its own.
 * While connections come one at a time (the few in flight of a real network), a second accept4 per wake-up
 * would only return EAGAIN: one system call in 17 of a new connection's (docs/performance.md). So a wake-up
 * takes one, and the listener, level-triggered, is readable again at the next turn of the loop if more wait;
 * readable two turns running, it has a queue, and that wake-up takes a batch. */
static void on_listen(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct listener *l = p->data;
    uv_os_fd_t lfd;
    if (status < 0 || uv_fileno((uv_handle_t *)&l->tcp, &lfd) != 0)
        return;
    struct server *srv = l->srv;
    int batch = l->woke_turn + 1 == srv->turns ? SERVER_ACCEPT_BATCH : 1;
    l->woke_turn = srv->turns;
    for (int i = 0; i < batch && l->polling; i++) {
        /* accept4: non-blocking and close-on-exec, and the peer's address, in the one system call (with accept they
         * were three fcntl and two getpeername calls more per connection, 5 of its 21: docs/performance.md) */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            server_accept_error(l->srv, l, errno);
            return;
        }
        server_admit(l, fd, (const struct sockaddr *)&ss, sl);
    }
}

bool server_listener_gives_nodelay(struct listener *l, const uv_tcp_t *tcp)
{
    if (!l->nodelay_known && l->nodelay) {
        uv_os_fd_t fd;
        int on = 0;
        socklen_t len = sizeof on;
        l->nodelay = uv_fileno((const uv_handle_t *)tcp, &fd) == 0 &&
                     getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 && on != 0;
        l->nodelay_known = true;
        if (!l->nodelay)
            log_debug("%s: accepted connections do not inherit TCP_NODELAY: set on each", l->name);
    }
    return l->nodelay;
}

/* Splits "ADDR[:PORT]", "[V6][:PORT]" or "*[:PORT]" into host and port. Returns 0 or -EINVAL. */
static int split_listen(const char *text, uint16_t def_port, char *host, size_t cap, uint16_t *port)
{
    struct hostport hp;
    if (hostport_split(text, &hp, NULL) != 0 || hp.host_len >= cap)
        return -EINVAL;
    memcpy(host, hp.host, hp.host_len);
    host[hp.host_len] = '\0';
    *port = def_port;
    return hp.port && hostport_port(hp.port, hp.port_len, port) != 0 ? -EINVAL : 0;
}

/* Opens one listener on sa. Returns 0 or a negative errno (nothing is left open then). The listener's name is
 * the address the socket is bound to, read back from it. */
static int adopt(struct server *srv, int fd, uint16_t port);

static int listen_on(struct server *srv, const struct sockaddr *sa, uint16_t port)
{
    if (srv->n_lis >= SERVER_MAX_LISTENERS)
        return -ENOBUFS;
    int fd = listen_open(sa, SERVER_BACKLOG);
    if (fd < 0)
        return fd;
    return adopt(srv, fd, port);
}

/* Makes the listening socket fd a listener (its port: port). Returns 0 or a negative errno (fd closed then). */
static int adopt(struct server *srv, int fd, uint16_t port)
{
    if (srv->n_lis >= SERVER_MAX_LISTENERS) {
        close(fd);
        return -ENOBUFS;
    }
    struct listener *l = &srv->lis[srv->n_lis];
    memset(l, 0, sizeof *l);
    int rc = listen_bound(fd, NULL, l->name, sizeof l->name);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    l->srv = srv;
    int one = 1; /* the connections it accepts inherit it (server_listener_gives_nodelay) */
    l->nodelay = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
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

/* The wildcard listener on port: [::] dual-stack, or 0.0.0.0 only where IPv6 itself is unavailable (never
 * because the port is taken). what names the setting in messages. Returns 0 or SERVER_ERR_LISTEN after a
 * message. */
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
        return SERVER_ERR_LISTEN;
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
        return SERVER_ERR_LISTEN;
    }
    return 0;
}

/* One --listen entry. A name listens on the first address it resolves to; "*" is the wildcard listener.
 * Returns 0 or SERVER_ERR_LISTEN after a message. */
static int open_listener(struct server *srv, const char *text)
{
    char host[256], what[300];
    uint16_t port;
    if (split_listen(text, srv->cfg->port, host, sizeof host, &port) < 0) {
        log_error("--listen %s: expected ADDR[:PORT], [IPV6][:PORT] or *[:PORT]", text);
        return SERVER_ERR_LISTEN;
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
        return SERVER_ERR_LISTEN;
    }
    int rc = listen_on(srv, res->ai_addr, port); /* a named address: the first that resolves */
    if (rc < 0) {
        char name[LISTEN_NAME_LEN];
        listen_format(res->ai_addr, name, sizeof name);
        log_error("%s: cannot listen on %s: %s", what, name, listen_strerror(rc));
    }
    freeaddrinfo(res);
    return rc < 0 ? SERVER_ERR_LISTEN : 0;
}

/* Socket activation: the listening sockets the service manager passed (kmsd.socket), instead of --listen and
 * --port. Returns 1 when it passed some (all adopted), 0 when it passed none, SERVER_ERR_LISTEN after a message. */
static int open_activated(struct server *srv)
{
    int fds[SDNOTIFY_MAX_FDS];
    int n = sdnotify_listen_fds(fds, SDNOTIFY_MAX_FDS < SERVER_MAX_LISTENERS ? SDNOTIFY_MAX_FDS : SERVER_MAX_LISTENERS);
    if (n == 0)
        return 0;
    if (n == -ELIBACC) {
        log_error("socket activation: the service manager passed listening sockets, but libsystemd did not load");
        return SERVER_ERR_LISTEN;
    }
    if (n < 0) {
        log_error("socket activation: the service manager passed a descriptor that is not a listening TCP socket, or "
                  "more than %d", SERVER_MAX_LISTENERS);
        return SERVER_ERR_LISTEN;
    }
    for (int i = 0; i < n; i++) {
        struct sockaddr_storage ss;
        char name[LISTEN_NAME_LEN];
        int rc = listen_bound(fds[i], &ss, name, sizeof name);
        uint16_t port = rc < 0 ? 0
                        : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                                   : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        if (rc == 0)
            rc = adopt(srv, fds[i], port);
        else
            close(fds[i]);
        if (rc < 0) {
            log_error("socket activation: cannot take listening socket %d: %s", fds[i], strerror(-rc));
            for (int k = i + 1; k < n; k++)
                close(fds[k]);
            return SERVER_ERR_LISTEN;
        }
    }
    if (srv->cfg->n_listen > 0)
        log_warn("socket activation: listening on the %d socket(s) the service manager passed; --listen is ignored", n);
    return 1;
}

int server_listeners_open(struct server *srv)
{
    const struct server_cfg *cfg = srv->cfg;
    int act = open_activated(srv);
    if (act != 0)
        return act < 0 ? act : 0;
    if (cfg->n_listen == 0)
        return open_wildcard(srv, cfg->port, "--port");
    for (int i = 0; i < cfg->n_listen; i++) {
        int rc = open_listener(srv, cfg->listen[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int server_listeners_report(struct server *srv)
{
    struct server_bound b[SERVER_MAX_LISTENERS];
    memset(b, 0, sizeof b);
    for (int i = 0; i < srv->n_lis; i++) {
        uv_os_fd_t fd;
        char name[LISTEN_NAME_LEN];
        if (uv_fileno((uv_handle_t *)&srv->lis[i].tcp, &fd) != 0 || listen_bound(fd, &b[i].addr, name, sizeof name) < 0)
            return SERVER_ERR_LISTEN;
        snprintf(b[i].name, sizeof b[i].name, "%s", name);
    }
    return srv->cfg->on_bound(srv->cfg->on_bound_arg, b, (size_t)srv->n_lis) == 0 ? 0 : SERVER_ERR_LISTEN;
}

void server_listeners_close(struct server *srv)
{
    for (int i = 0; i < srv->n_lis; i++) {
        struct listener *l = &srv->lis[i];
        uv_close((uv_handle_t *)&l->poll, NULL); /* stops polling the socket before the tcp handle closes it */
        uv_close((uv_handle_t *)&l->tcp, NULL);
    }
}

void server_listener_pause(struct listener *l)
{
    (void)uv_poll_stop(&l->poll); /* never fails */
    l->polling = false;
}

void server_listeners_resume(struct server *srv)
{
    for (int i = 0; i < srv->n_lis; i++) {
        struct listener *l = &srv->lis[i];
        if (l->polling)
            continue;
        int rc = uv_poll_start(&l->poll, UV_READABLE, on_listen);
        if (rc < 0)
            log_error("%s: cannot accept again: %s", l->name, uv_strerror(rc));
        else
            l->polling = true;
    }
}
