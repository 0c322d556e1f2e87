/* ldns_fns — see ldns_fns.h. */
#include "ldns_fns.h"

#include "lazylib.h"

#ifndef KMSD_LDNS_SONAME
#error "KMSD_LDNS_SONAME must name ldns's shared library (meson option ldns_soname)"
#endif

struct ldns_fns ldns_fn;

static struct lazylib_once once = LAZYLIB_ONCE_INIT;
static const char *const names[] = LAZYLIB_NAMES(LDNS_FNS);
#define N_FNS (sizeof names / sizeof names[0])
_Static_assert(sizeof(struct ldns_fns) == N_FNS * sizeof(void *), "one pointer per name");

int ldns_fns_load(char *err, size_t cap)
{
    return lazylib_open_once(&once, KMSD_LDNS_SONAME, names, &ldns_fn, N_FNS, err, cap);
}
