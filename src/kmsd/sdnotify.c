/* sdnotify — see sdnotify.h. */
#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "lazylib.h"
#include "log.h"

#ifndef KMSD_SYSTEMD_SONAME
#error "KMSD_SYSTEMD_SONAME must name libsystemd's shared library (meson option systemd_soname)"
#endif

#define SD_FNS(X) X(sd_notify) X(sd_watchdog_enabled) X(sd_listen_fds) X(sd_is_socket_inet)

static struct {
    LAZYLIB_MEMBERS(SD_FNS)
} sd;
static int sd_state; /* 1: libsystemd loaded, 0: no service manager, -1: one, but libsystemd did not load */
static pthread_once_t sd_once = PTHREAD_ONCE_INIT;

static bool env_set(const char *name)
{
    const char *s = getenv(name);
    return s && *s;
}

/* libsystemd is loaded only when a service manager started kmsd (it set NOTIFY_SOCKET, LISTEN_PID or
 * WATCHDOG_USEC): outside one every call below is a no-op, as sd-daemon's own would be. */
static void sd_load(void)
{
    if (!env_set("NOTIFY_SOCKET") && !env_set("LISTEN_PID") && !env_set("WATCHDOG_USEC"))
        return;
    static const char *const names[] = LAZYLIB_NAMES(SD_FNS);
    enum { N = sizeof names / sizeof names[0] };
    _Static_assert(sizeof sd == N * sizeof(void *), "one pointer per name");
    void *p[N];
    char err[512];
    if (lazylib_open(KMSD_SYSTEMD_SONAME, names, p, N, err, sizeof err) < 0) {
        log_error("service manager: %s; no readiness, watchdog or socket activation", err);
        sd_state = -1;
        return;
    }
    memcpy(&sd, p, sizeof sd);
    sd_state = 1;
}

static int sd_ready(void)
{
    pthread_once(&sd_once, sd_load);
    return sd_state;
}

__attribute__((format(printf, 1, 2))) static void notifyf(const char *fmt, ...)
{
    if (sd_ready() <= 0)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n > 0)
        (void)sd.sd_notify(0, msg);
}

bool sdnotify_enabled(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    return s && *s;
}

void sdnotify_ready(const char *status)
{
    notifyf("READY=1\nSTATUS=%s", status);
}

void sdnotify_status(const char *status, bool ping)
{
    notifyf("%sSTATUS=%s", ping ? "WATCHDOG=1\n" : "", status);
}

void sdnotify_reloading(const char *status)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    notifyf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%s",
                     (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000, status);
}

void sdnotify_stopping(const char *status)
{
    notifyf("STOPPING=1\nSTATUS=%s", status);
}

void sdnotify_extend(uint64_t usec, const char *status)
{
    notifyf("EXTEND_TIMEOUT_USEC=%llu\nSTATUS=%s", (unsigned long long)usec, status);
}

uint64_t sdnotify_watchdog_usec(void)
{
    uint64_t usec = 0;
    return sd_ready() > 0 && sd.sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

int sdnotify_listen_fds(int *fds, int max)
{
    int st = sd_ready();
    if (st == 0)
        return 0;
    if (st < 0)
        return env_set("LISTEN_PID") ? -ELIBACC : 0;
    int n = sd.sd_listen_fds(1); /* unsets LISTEN_* so that children do not see them */
    if (n <= 0)
        return n < 0 ? -EINVAL : 0;
    if (n > max)
        return -EINVAL;
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        if (sd.sd_is_socket_inet(fd, 0, SOCK_STREAM, 1, 0) <= 0) /* a listening TCP socket, IPv4 or IPv6 */
            return -EINVAL;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
            return -EINVAL;
        fds[i] = fd;
    }
    return n;
}
