/* pq_fns — see pq_fns.h. */
#include "pq_fns.h"

#include <pthread.h>
#include <string.h>

#include "lazylib.h"

#ifndef KMSD_PQ_SONAME
#error "KMSD_PQ_SONAME must name libpq's shared library (meson option pq_soname)"
#endif

struct pq_fns pq_fn;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool loaded;

static const char *const names[] = LAZYLIB_NAMES(PQ_FNS);
#define N_FNS (sizeof names / sizeof names[0])
_Static_assert(sizeof(struct pq_fns) == N_FNS * sizeof(void *), "one pointer per name");

int pq_fns_load(char *err, size_t cap)
{
    pthread_mutex_lock(&mu);
    int rc = 0;
    if (!loaded) {
        void *p[N_FNS];
        rc = lazylib_open(KMSD_PQ_SONAME, names, p, N_FNS, err, cap);
        if (rc == 0) {
            memcpy(&pq_fn, p, sizeof pq_fn);
            loaded = true;
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

bool pq_fns_loaded(void)
{
    pthread_mutex_lock(&mu);
    bool on = loaded;
    pthread_mutex_unlock(&mu);
    return on;
}
