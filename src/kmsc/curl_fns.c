/* curl_fns — see curl_fns.h. */
#include "curl_fns.h"

#include <string.h>

#ifndef KMSC_CURL_SONAME
#error "KMSC_CURL_SONAME must name libcurl's shared library (meson option curl_soname)"
#endif

struct curl_fns curl_fn;

static const char *const names[] = LAZYLIB_NAMES(CURL_FNS);
#define N_FNS (sizeof names / sizeof names[0])
_Static_assert(sizeof(struct curl_fns) == N_FNS * sizeof(void *), "one pointer per name");

int curl_fns_load(char *err, size_t cap)
{
    static int loaded;
    if (loaded)
        return 0;
    void *p[N_FNS];
    if (lazylib_open(KMSC_CURL_SONAME, names, p, N_FNS, err, cap) < 0)
        return -1;
    memcpy(&curl_fn, p, sizeof curl_fn);
    loaded = 1;
    return 0;
}
