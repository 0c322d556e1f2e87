/* mhd_fns — see mhd_fns.h. */
#include "mhd_fns.h"

#include <string.h>

#include "lazylib.h"

#ifndef KMSD_MHD_SONAME
#error "KMSD_MHD_SONAME must name libmicrohttpd's shared library (meson option mhd_soname)"
#endif

struct mhd_fns mhd_fn;
static void *handle;

static const char *const names[] = LAZYLIB_NAMES(MHD_FNS);
#define N_FNS (sizeof names / sizeof names[0])
_Static_assert(sizeof(struct mhd_fns) == N_FNS * sizeof(void *), "one pointer per name");

int mhd_fns_load(char *err, size_t cap)
{
    if (handle)
        return 0;
    void *p[N_FNS];
    if (lazylib_open_handle(KMSD_MHD_SONAME, names, p, N_FNS, err, cap, &handle) < 0)
        return -1;
    memcpy(&mhd_fn, p, sizeof mhd_fn);
    return 0;
}

void mhd_fns_unload(void)
{
    if (!handle)
        return;
    memset(&mhd_fn, 0, sizeof mhd_fn);
    lazylib_close(handle);
    handle = NULL;
}

bool mhd_fns_loaded(void)
{
    return handle != NULL;
}
