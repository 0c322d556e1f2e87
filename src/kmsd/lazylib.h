/*
 * lazylib — opens a shared library that kmsd needs only for an optional feature, when that feature is asked for:
 * ldns (and the OpenSSL it links) for --dns-publish, libsystemd (and its libgcrypt) under a service manager.
 * Linked at build time they were loaded by every kmsd, about 2.6 MB of idle RSS whether used or not
 * (docs/performance.md, "What [dns] and [deploy] cost in memory").
 *
 * The functions called are still the libraries' own: the caller keeps a table of pointers whose types are taken
 * from the libraries' headers (`__typeof__(name) *`), so a changed signature is a compile error, and fills it
 * with lazylib_open. ldns and libsystemd stay loaded until the process ends (a thread of theirs may still run, and
 * their atexit handlers must find them). libmicrohttpd (and the GnuTLS it links) is opened with a handle and closed
 * again while the HTTP server idles (http_idle.c): its caller guarantees that no thread runs its code then.
 */
#ifndef KMSD_LAZYLIB_H
#define KMSD_LAZYLIB_H

#include <stddef.h>

/* Opens soname (RTLD_NOW | RTLD_LOCAL) and resolves the n symbols named in names into out[0..n-1] (function
 * pointers are stored through memcpy: POSIX gives dlsym's void * their representation). 0, or -1 with err filled
 * (cap bytes) naming the library and what is missing; nothing is kept open then. */
int lazylib_open(const char *soname, const char *const *names, void **out, size_t n, char *err, size_t cap);

/* The same, with the handle kept in *handle for lazylib_close. */
int lazylib_open_handle(const char *soname, const char *const *names, void **out, size_t n, char *err, size_t cap,
                        void **handle);

/* Closes a handle of lazylib_open_handle (NULL is fine): the pointers it filled must not be called again. */
void lazylib_close(void *handle);

/* Whether soname is mapped in this process already (for tests and the memory benchmark's explanations). */
int lazylib_loaded(const char *soname);

#endif
