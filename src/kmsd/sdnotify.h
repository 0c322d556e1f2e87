/*
 * sdnotify — kmsd and its service manager (systemd), through libsystemd's sd-daemon: readiness (READY=1 once the
 * listeners, the registry and the HTTP server are up), a STATUS= line, STOPPING=1, the watchdog (WATCHDOG=1, sent by
 * the server only while its loop turns and the registry writer makes progress), and socket activation (the
 * listening sockets systemd passes in LISTEN_FDS). A thin layer so that libsystemd is named in one file; every call
 * is a no-op outside a service manager (no NOTIFY_SOCKET, LISTEN_PID or WATCHDOG_USEC), and libsystemd is loaded
 * (lazylib.h) only inside one, at the first call: a kmsd started by hand or in a container does not map it.
 */
#ifndef KMSD_SDNOTIFY_H
#define KMSD_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#define SDNOTIFY_MAX_FDS 16 /* listening sockets taken from the service manager at most (SERVER_MAX_LISTENERS) */
#define SDNOTIFY_STATUS_INTERVAL_MS 10000 /* STATUS= at least this often when there is no watchdog */

/* Whether a service manager listens for notifications (NOTIFY_SOCKET is set). */
bool sdnotify_enabled(void);

/* READY=1 with STATUS=status. */
void sdnotify_ready(const char *status);
/* STATUS=status, and WATCHDOG=1 when ping. */
void sdnotify_status(const char *status, bool ping);
/* RELOADING=1 (with MONOTONIC_USEC, as systemd asks) and STATUS=status; READY=1 ends it (sdnotify_ready). */
void sdnotify_reloading(const char *status);
/* STOPPING=1 with STATUS=status. */
void sdnotify_stopping(const char *status);
/* EXTEND_TIMEOUT_USEC=usec with STATUS=status: a start (or stop) that takes longer, such as a registry's migration,
 * is given usec more from now before the service manager gives up on it. */
void sdnotify_extend(uint64_t usec, const char *status);

/* The watchdog interval the service manager set for kmsd (WATCHDOG_USEC for this PID), 0 for none. */
uint64_t sdnotify_watchdog_usec(void);

/* The listening stream sockets passed by socket activation (LISTEN_FDS for this PID), up to max of them, in fds
 * (already non-blocking and close-on-exec). Returns how many (0: none passed), -EINVAL when a passed descriptor
 * is not a listening TCP socket (then none is used) or more than max were passed, -ELIBACC when sockets were
 * passed but libsystemd did not load (logged). */
int sdnotify_listen_fds(int *fds, int max);

#endif
