/* sdnotify — see sdnotify.h. */
#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include <systemd/sd-daemon.h>

bool sdnotify_enabled(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    return s && *s;
}

void sdnotify_ready(const char *status)
{
    (void)sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void sdnotify_status(const char *status, bool ping)
{
    (void)sd_notifyf(0, "%sSTATUS=%s", ping ? "WATCHDOG=1\n" : "", status);
}

void sdnotify_reloading(const char *status)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    (void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%s",
                     (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000, status);
}

void sdnotify_stopping(const char *status)
{
    (void)sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status);
}

uint64_t sdnotify_watchdog_usec(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

int sdnotify_listen_fds(int *fds, int max)
{
    int n = sd_listen_fds(1); /* unsets LISTEN_* so that children do not see them */
    if (n <= 0)
        return n < 0 ? -EINVAL : 0;
    if (n > max)
        return -EINVAL;
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        if (sd_is_socket_inet(fd, 0, SOCK_STREAM, 1, 0) <= 0) /* a listening TCP socket, IPv4 or IPv6 */
            return -EINVAL;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
            return -EINVAL;
        fds[i] = fd;
    }
    return n;
}
