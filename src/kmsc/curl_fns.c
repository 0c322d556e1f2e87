/* curl_fns — see curl_fns.h. */
#include "curl_fns.h"

#ifndef KMSC_CURL_SONAME
#error "KMSC_CURL_SONAME must name libcurl's shared library (meson option curl_soname)"
#endif

struct curl_fns curl_fn;

static struct lazylib_once once = LAZYLIB_ONCE_INIT;
static const char *const names[] = LAZYLIB_NAMES(CURL_FNS);
#define N_FNS (sizeof names / sizeof names[0])
_Static_assert(sizeof(struct curl_fns) == N_FNS * sizeof(void *), "one pointer per name");

int curl_fns_load(char *err, size_t cap)
{
    return lazylib_open_once(&once, KMSC_CURL_SONAME, names, &curl_fn, N_FNS, err, cap);
}
