/* pq_fns — see pq_fns.h. */
#include "pq_fns.h"

#include "lazylib.h"

#ifndef KMSD_PQ_SONAME
#error "KMSD_PQ_SONAME must name libpq's shared library (meson option pq_soname)"
#endif

struct pq_fns pq_fn;

static struct lazylib_once once = LAZYLIB_ONCE_INIT;
static const char *const names[] = LAZYLIB_NAMES(PQ_FNS);
#define N_FNS (sizeof names / sizeof names[0])
_Static_assert(sizeof(struct pq_fns) == N_FNS * sizeof(void *), "one pointer per name");

int pq_fns_load(char *err, size_t cap)
{
    return lazylib_open_once(&once, KMSD_PQ_SONAME, names, &pq_fn, N_FNS, err, cap);
}

bool pq_fns_loaded(void)
{
    return lazylib_once_loaded(&once);
}
