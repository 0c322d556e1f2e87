/*
 * slow_sqlite — a registry query that takes seconds, for the integration tests, without a test hook in kmsd:
 * an LD_PRELOAD library that wraps sqlite3_step. When the file named by $IT_SLOW_SQL_FILE holds a number of
 * milliseconds N (1 to 60000), the next statement run on a read-only connection (in kmsd, the HTTP server's
 * registry connection; the writer's and the checkpointer's are read-write) sleeps N ms before its first step,
 * as a query on a very large registry takes seconds. That statement takes the file: it renames it to
 * $IT_SLOW_SQL_FILE.hit, which tells the test the query is under way, so one query is held up per file
 * written. Without the file it only passes the call on.
 *
 * With IT_SLOW_SQL_RW set, the statement held up is the next one on a read-write connection instead: the registry
 * writer stalls (28-systemd.sh, the watchdog).
 *
 * Usage: env LD_PRELOAD=libslow_sqlite.so IT_SLOW_SQL_FILE=PATH kmsd ...   (22-http-slow-query.sh)
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

/* Takes the file at path (renamed to path.hit: of several threads, one gets it) and returns its number, or 0
 * when there is none or it is not a number from 1 to 60000. */
static long take_delay(const char *path)
{
    char hit[4096], text[32];
    int n = snprintf(hit, sizeof hit, "%s.hit", path);
    if (n < 0 || (size_t)n >= sizeof hit || rename(path, hit) < 0)
        return 0;
    int fd = open(hit, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t len = read(fd, text, sizeof text - 1);
    close(fd);
    if (len <= 0)
        return 0;
    text[len] = '\0';
    char *end;
    errno = 0;
    long ms = strtol(text, &end, 10);
    if (errno != 0 || end == text || ms < 1 || ms > 60000)
        return 0;
    return ms;
}

int sqlite3_step(sqlite3_stmt *st)
{
    static int (*next)(sqlite3_stmt *);
    if (!next) {
        /* a data pointer converted to a function pointer: what dlsym's contract (POSIX) allows */
        *(void **)&next = dlsym(RTLD_NEXT, "sqlite3_step");
        if (!next)
            abort();
    }
    const char *path = getenv("IT_SLOW_SQL_FILE");
    /* the first step of an execution (a statement that is not in progress), on a read-only connection */
    /* IT_SLOW_SQL_RW set: a read-write connection's statement instead (the registry writer's: 28-systemd.sh) */
    int want_ro = getenv("IT_SLOW_SQL_RW") ? 0 : 1;
    if (path && st && !sqlite3_stmt_busy(st) && sqlite3_db_readonly(sqlite3_db_handle(st), "main") == want_ro) {
        long ms = take_delay(path);
        if (ms > 0) {
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
            }
        }
    }
    return next(st);
}
