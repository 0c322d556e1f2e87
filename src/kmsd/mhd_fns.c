/* mhd_fns — see mhd_fns.h. */
#include "mhd_fns.h"

#include <string.h>

#include "lazylib.h"

#ifndef KMSD_MHD_SONAME
#error "KMSD_MHD_SONAME must name libmicrohttpd's shared library (meson option mhd_soname)"
#endif

struct mhd_fns mhd_fn;
static void *handle;

#define MHD_FNS_NAME(f) #f,
static const char *const names[] = {MHD_FNS(MHD_FNS_NAME)};
#undef MHD_FNS_NAME
#define N_FNS (sizeof names / sizeof names[0])
_Static_assert(sizeof(struct mhd_fns) == N_FNS * sizeof(void *), "one pointer per name");

int mhd_fns_load(char *err, size_t cap)
{
    if (handle)
        return 0;
    void *p[N_FNS];
    if (lazylib_open_handle(KMSD_MHD_SONAME, names, p, N_FNS, err, cap, &handle) < 0)
        return -1;
    size_t i = 0;
#define MHD_FNS_SET(f) memcpy(&mhd_fn.f, &p[i++], sizeof p[0]);
    MHD_FNS(MHD_FNS_SET)
#undef MHD_FNS_SET
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
