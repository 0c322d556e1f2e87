/*
 * mhd_fns — the libmicrohttpd functions kmsd's HTTP server calls, opened with dlopen (lazylib.h) by the HTTP server
 * when it starts serving and closed again while it idles (http_idle.c). Debian's libmicrohttpd links GnuTLS, and
 * GnuTLS and what it pulls in (p11-kit, libunistring, GMP, ...) are about 2 MB of an idle kmsd's RSS
 * (docs/performance.md, "Memory"): linked at build time they stayed mapped for the life of the process.
 *
 * http*.c call mhd_fn.NAME(...) where they would call NAME(...); the pointer types come from microhttpd.h. The table
 * is written by mhd_fns_load and cleared by mhd_fns_unload, both under the HTTP server's daemon mutex and only while
 * no libmicrohttpd daemon exists, so no thread calls through it then.
 */
#ifndef KMSD_MHD_FNS_H
#define KMSD_MHD_FNS_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "lazylib.h"

#define MHD_FNS(X)                                                                                                   \
    X(MHD_add_response_header) X(MHD_create_response_from_buffer) X(MHD_destroy_response) X(MHD_get_daemon_info)     \
    X(MHD_lookup_connection_value) X(MHD_queue_response) X(MHD_quiesce_daemon) X(MHD_resume_connection)              \
    X(MHD_start_daemon) X(MHD_stop_daemon) X(MHD_suspend_connection)

struct mhd_fns {
    LAZYLIB_MEMBERS(MHD_FNS)
};

extern struct mhd_fns mhd_fn;

/* Opens libmicrohttpd (KMSD_MHD_SONAME, meson option mhd_soname) unless it is open. 0, or -1 with err filled (cap
 * bytes). */
int mhd_fns_load(char *err, size_t cap);

/* Closes it (when open) and clears the table. */
void mhd_fns_unload(void);

/* Whether it is open. */
bool mhd_fns_loaded(void);

#endif
