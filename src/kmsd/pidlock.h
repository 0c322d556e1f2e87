/*
 * pidlock — one kmsd per state directory and per registry: an advisory lock (flock) on a small file that
 * holds the PID of the process that has it, kept for the process's life.
 *
 * The kernel drops the lock when the process ends, however it ends (kill -9 included), so a stale file never
 * blocks a start; the PID inside only names the holder in the message of a second kmsd. Readers (`kmsd
 * clients`, `kmsd stats`) take no lock and read while kmsd runs.
 */
#ifndef KMSD_PIDLOCK_H
#define KMSD_PIDLOCK_H

#include <stddef.h>
#include <sys/types.h>

#define PIDLOCK_STATE_FILE "kmsd.pid"    /* in the state directory: its lock */
#define PIDLOCK_REGISTRY_SUFFIX ".lock" /* appended to the registry's path: its lock */
#define PIDLOCK_FILE_MODE 0644          /* it holds only a PID, which anyone may read */

/* Takes the lock on path (created PIDLOCK_FILE_MODE when missing) and writes this process's PID into it. Returns the
 * descriptor, to keep open until exit (it is close-on-exec), or -EWOULDBLOCK when another process holds the
 * lock (*holder: its PID as the file says, 0 when unreadable), or another negative errno. */
int pidlock_acquire(const char *path, pid_t *holder);

#endif
