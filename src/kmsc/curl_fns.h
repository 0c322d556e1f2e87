/*
 * curl_fns — the libcurl functions `kmsc health --http|--https` calls, loaded at the first such probe (lazylib.h):
 * a kmsc that activates, discovers or benchmarks never maps libcurl, GnuTLS, Kerberos, LDAP and the rest of the
 * libraries libcurl links. health_http.c calls (curl_fn.NAME)(...) where it would call NAME(...): the parentheses
 * keep libcurl's type-checking macros of the same names (curl/typecheck-gcc.h) from expanding there. The pointer
 * types come from libcurl's header.
 */
#ifndef KMSC_CURL_FNS_H
#define KMSC_CURL_FNS_H

#include <stddef.h>

#include <curl/curl.h>

#include "lazylib.h"

#define CURL_FNS(X)                                                                                                  \
    X(curl_easy_cleanup) X(curl_easy_getinfo) X(curl_easy_init) X(curl_easy_perform) X(curl_easy_setopt)             \
    X(curl_easy_strerror) X(curl_global_cleanup) X(curl_global_init)

struct curl_fns {
    LAZYLIB_MEMBERS(CURL_FNS)
};

/* Filled by curl_fns_load; read-only after it. */
extern struct curl_fns curl_fn;

/* Loads libcurl (KMSC_CURL_SONAME, set by meson's curl_soname option) once (lazylib_open_once). 0, or -1 with err
 * filled (cap bytes). */
int curl_fns_load(char *err, size_t cap);

#endif
