/* sqlite_fns — see sqlite_fns.h. */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include "sqlite_fns.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "lazylib.h"

#ifndef KMSD_SQLITE_SONAME
#error "KMSD_SQLITE_SONAME must name SQLite's shared library (meson option sqlite_soname)"
#endif

struct sqlite_fns sqlite_fn;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned users;
static void *handle;
static bool resident; /* in the process before the first acquire: its owner set it up, and it stays */
static uint64_t loads;

static const char *const names[] = LAZYLIB_NAMES(SQLITE_FNS);
#define N_FNS (sizeof names / sizeof names[0])
_Static_assert(sizeof(struct sqlite_fns) == N_FNS * sizeof(void *), "one pointer per name");

/*
 * Before the library's first use (each load is a fresh library):
 * - Debian's SQLite is built with SQLITE_DEFAULT_PCACHE_INITSZ=20: every connection's page cache starts with one
 *   20-line block (about 87 KB, every line touched to thread its free list) on its first read, whatever it goes on
 *   to use. kmsd has three connections (writer, checkpoints, HTTP reads), and the checkpoint one reads a page or
 *   two. With no initial block, lines are allocated one at a time as pages are read; cache_size still bounds them.
 * - No memory statistics: kmsd reads none, and keeping them takes a global mutex on every allocation (4 % of the
 *   writer's time in a fold, perf).
 * Both are memory and speed settings: SQLite works as well without them, so a refusal is not an error.
 */
static void setup(void)
{
    (void)sqlite_fn.sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
    (void)sqlite_fn.sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int load(char *err, size_t cap)
{
    resident = lazylib_loaded(KMSD_SQLITE_SONAME);
    void *p[N_FNS];
    if (lazylib_open_handle(KMSD_SQLITE_SONAME, names, p, N_FNS, err, cap, &handle) < 0)
        return -1;
    /* SQLite already in the process is called as the process sees it: through an LD_PRELOAD wrapper, if any (the
     * integration tests' slow_sqlite) */
    for (size_t k = 0; resident && k < N_FNS; k++) {
        void *g = dlsym(RTLD_DEFAULT, names[k]);
        if (g)
            p[k] = g;
    }
    memcpy(&sqlite_fn, p, sizeof sqlite_fn);
    if (!resident)
        setup();
    loads++;
    return 0;
}

int sqlite_fns_acquire(char *err, size_t cap)
{
    pthread_mutex_lock(&mu);
    int rc = handle ? 0 : load(err, cap);
    if (rc == 0)
        users++;
    pthread_mutex_unlock(&mu);
    return rc;
}

void sqlite_fns_release(void)
{
    pthread_mutex_lock(&mu);
    if (users && --users == 0 && handle && !resident) {
        /* every connection is closed: SQLite's own allocations go back before its code does */
        (void)sqlite_fn.sqlite3_shutdown();
        memset(&sqlite_fn, 0, sizeof sqlite_fn);
        lazylib_close(handle);
        handle = NULL;
    }
    pthread_mutex_unlock(&mu);
}

bool sqlite_fns_loaded(void)
{
    pthread_mutex_lock(&mu);
    bool on = handle != NULL;
    pthread_mutex_unlock(&mu);
    return on;
}

uint64_t sqlite_fns_loads(void)
{
    pthread_mutex_lock(&mu);
    uint64_t n = loads;
    pthread_mutex_unlock(&mu);
    return n;
}
