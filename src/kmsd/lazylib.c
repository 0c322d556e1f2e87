/* lazylib — see lazylib.h. */
#include "lazylib.h"

#include <dlfcn.h>
#include <stdio.h>

int lazylib_open_handle(const char *soname, const char *const *names, void **out, size_t n, char *err, size_t cap,
                        void **handle)
{
    *handle = NULL;
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(err, cap, "cannot load %s: %s", soname, e ? e : "unknown error");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        (void)dlerror();
        out[i] = dlsym(h, names[i]);
        if (!out[i]) {
            const char *e = dlerror();
            snprintf(err, cap, "%s has no %s (%s): another version than kmsd was built for?", soname, names[i],
                     e ? e : "null symbol");
            dlclose(h);
            return -1;
        }
    }
    *handle = h;
    return 0;
}

int lazylib_open(const char *soname, const char *const *names, void **out, size_t n, char *err, size_t cap)
{
    void *h;
    return lazylib_open_handle(soname, names, out, n, err, cap, &h); /* h is never closed */
}

void lazylib_close(void *handle)
{
    if (handle)
        dlclose(handle);
}

int lazylib_loaded(const char *soname)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return 0;
    dlclose(h);
    return 1;
}
