/*
 * The HTTP server's idle thread. Debian's libmicrohttpd links GnuTLS, which with what it pulls in holds about 2 MB
 * of RSS and two threads per address (libmicrohttpd's, plus the lanes'); a KMS host's web page and API are read now
 * and then. Once no HTTP connection has started or ended for --http-idle-unload (2 min by default: longer than the web page's 30 s refresh and a
 * Prometheus scrape's usual minute, so that a watched kmsd keeps it), this thread
 * quiesces the daemons, lets them finish what they serve, ends the lanes' threads, closes the registry connection
 * and unloads libmicrohttpd (http_settle). The listening sockets stay open, kmsd's own: the kernel queues a new
 * connection on them while this thread, woken by poll(2), loads libmicrohttpd again and starts the daemons on
 * duplicates of them (http_wake), which then accept it. Nothing is refused meanwhile; the first request after a
 * sleep waits for the load (about 2.5 ms, docs/performance.md).
 *
 * Everything it changes is under the server's d_mu, which a reload (the loop thread) takes too. One thread and an
 * eventfd, not the KMS loop: the loop ends before the HTTP server stops, and a load on it would hold up activations.
 */
#include "http_int.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "thread_stack.h"

#define IDLE_THREAD_STACK (64u * 1024u)  /* bytes: poll, the library load and the log line */
#define IDLE_SWEEP_MS 1000               /* asleep with retired daemons still serving: how often they are checked */
#define IDLE_RETRY_MS 1000               /* libmicrohttpd failed to load or start: the next try */
#define IDLE_FAIL_LOG_MS 60000           /* that failure is logged at most this often */

uint64_t http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits (d_mu released meanwhile) for the wake eventfd, and asleep for the listening sockets, at most timeout_ms
 * (-1: no limit). Returns whether a listening socket is readable. */
static bool wait_for(struct http_server *h, bool sockets, int timeout_ms)
{
    struct pollfd p[1 + HTTP_MAX_ADDRS];
    nfds_t n = 0;
    p[n++] = (struct pollfd){h->idle.wake_fd, POLLIN, 0};
    for (int i = 0; sockets && i < h->n_d; i++)
        p[n++] = (struct pollfd){h->lfd[i], POLLIN, 0};
    pthread_mutex_unlock(&h->d_mu);
    int r = poll(p, n, timeout_ms);
    pthread_mutex_lock(&h->d_mu);
    if (r <= 0)
        return false;
    if (p[0].revents) {
        uint64_t v;
        ssize_t got = read(h->idle.wake_fd, &v, sizeof v); /* resets it; EAGAIN when a stop raced a poke */
        (void)got;
    }
    for (nfds_t i = 1; i < n; i++)
        if (p[i].revents)
            return true;
    return false;
}

/* How long the awake thread may wait before it looks again: until the idle time is up, or forever without one. */
static int awake_wait_ms(struct http_server *h, uint64_t now)
{
    uint32_t idle = atomic_load_explicit(&h->idle_ms, memory_order_relaxed);
    if (idle == 0)
        return h->n_retired ? IDLE_SWEEP_MS : -1;
    uint64_t last = atomic_load_explicit(&h->last_use_ms, memory_order_relaxed);
    uint64_t due = last + idle;
    uint64_t left = due > now ? due - now : 0;
    if (atomic_load_explicit(&h->cfg.m->http_open, memory_order_relaxed) > 0 && left < idle)
        left = idle; /* a connection is open: its end will set last_use_ms */
    if (h->n_retired && left > IDLE_SWEEP_MS)
        left = IDLE_SWEEP_MS;
    if (left == 0) /* due, and not dozed: too many retired daemons still serving; look again later */
        left = IDLE_SWEEP_MS;
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

static void *idle_main(void *arg)
{
    struct http_server *h = arg;
    log_thread_name("http-idle");
    pthread_mutex_lock(&h->d_mu);
    uint64_t retry_at = 0;
    while (!h->idle.stopping) {
        uint64_t now = http_now_ms();
        if (h->awake) {
            uint32_t idle = atomic_load_explicit(&h->idle_ms, memory_order_relaxed);
            uint64_t last = atomic_load_explicit(&h->last_use_ms, memory_order_relaxed);
            if (idle && now - last >= idle && atomic_load_explicit(&h->cfg.m->http_open, memory_order_relaxed) == 0) {
                http_doze(h);
                if (!h->awake)
                    log_debug("http: no connection for %u ms: libmicrohttpd is unloaded until the next one", idle);
            }
            http_settle(h);
            if (h->awake)
                (void)wait_for(h, false, awake_wait_ms(h, now));
            continue;
        }
        http_settle(h);
        bool retrying = retry_at > now;
        int timeout = retrying ? (int)(retry_at - now) : h->n_retired ? IDLE_SWEEP_MS : -1;
        if (!wait_for(h, !retrying, timeout) || h->idle.stopping)
            continue;
        char err[256];
        if (http_wake(h, err, sizeof err) == 0) {
            log_debug("http: a connection: libmicrohttpd loaded again");
            retry_at = 0;
            continue;
        }
        /* The connection waits in the kernel's queue; the next try comes after IDLE_RETRY_MS. */
        now = http_now_ms();
        retry_at = now + IDLE_RETRY_MS;
        if (h->idle.fail_logged_ms == 0 || now - h->idle.fail_logged_ms >= IDLE_FAIL_LOG_MS) {
            h->idle.fail_logged_ms = now;
            log_error("http: cannot serve a new connection: %s (tried again every %d ms, logged once a minute)", err,
                      IDLE_RETRY_MS);
        }
    }
    pthread_mutex_unlock(&h->d_mu);
    return NULL;
}

int http_idle_start(struct http_server *h)
{
    h->idle.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->idle.wake_fd < 0)
        return errno;
    int rc = thread_stack_start(&h->idle.thread, IDLE_THREAD_STACK, NULL, idle_main, h);
    h->idle.started = rc == 0;
    return rc;
}

void http_idle_poke(struct http_server *h)
{
    if (h->idle.wake_fd < 0)
        return;
    uint64_t one = 1;
    ssize_t w = write(h->idle.wake_fd, &one, sizeof one); /* EAGAIN only when already poked */
    (void)w;
}

void http_idle_stop(struct http_server *h)
{
    if (h->idle.started) {
        pthread_mutex_lock(&h->d_mu);
        h->idle.stopping = true;
        http_idle_poke(h);
        pthread_mutex_unlock(&h->d_mu);
        pthread_join(h->idle.thread, NULL);
        h->idle.started = false;
    }
    if (h->idle.wake_fd >= 0)
        close(h->idle.wake_fd);
    h->idle.wake_fd = -1;
}
