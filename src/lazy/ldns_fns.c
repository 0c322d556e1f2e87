/* ldns_fns — see ldns_fns.h. */
#include "ldns_fns.h"

#include <pthread.h>
#include <string.h>

#include "lazylib.h"

#ifndef KMSD_LDNS_SONAME
#error "KMSD_LDNS_SONAME must name ldns's shared library (meson option ldns_soname)"
#endif

struct ldns_fns ldns_fn;

static const char *const names[] = LAZYLIB_NAMES(LDNS_FNS);
#define N_FNS (sizeof names / sizeof names[0])
_Static_assert(sizeof(struct ldns_fns) == N_FNS * sizeof(void *), "one pointer per name");

int ldns_fns_load(char *err, size_t cap)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static int loaded;
    pthread_mutex_lock(&mu);
    int rc = 0;
    if (!loaded) {
        void *p[N_FNS];
        rc = lazylib_open(KMSD_LDNS_SONAME, names, p, N_FNS, err, cap);
        if (rc == 0) {
            memcpy(&ldns_fn, p, sizeof ldns_fn);
            loaded = 1;
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}
