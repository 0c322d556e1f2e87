/*
 * lazylib — opens a shared library that a program needs only for an optional feature, when that feature is asked
 * for. kmsd: ldns (and the OpenSSL it links) for --dns-publish, libsystemd (and its libgcrypt) under a service
 * manager, SQLite, libmicrohttpd and libpq while they are used; linked at build time they were loaded by every kmsd,
 * about 2.6 MB of idle RSS whether used or not (docs/performance.md, "What [dns] and [deploy] cost in memory").
 * kmsc: ldns for discovery and libcurl for `kmsc health --http`; with the 30 libraries those two link, every kmsc
 * took 15 ms to start (docs/performance.md, "kmsc without the libraries it rarely needs"). Both programs link this
 * folder's library (src/lazy, lazy_dep).
 *
 * The functions called are still the libraries' own: the caller keeps a table of pointers whose types are taken
 * from the libraries' headers (`__typeof__(name) *`), so a changed signature is a compile error, and fills it
 * with lazylib_open. ldns, libpq, libcurl and libsystemd stay loaded until the process ends (a thread of theirs may
 * still run, and their atexit handlers must find them); the first three through lazylib_open_once. libmicrohttpd
 * (and the GnuTLS it links) is opened with a handle and closed again while the HTTP server idles (http_idle.c): its
 * caller guarantees that no thread runs its code then.
 */
#ifndef KMSD_LAZYLIB_H
#define KMSD_LAZYLIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A table of a library's functions, from an X-macro LIST(X) that names them: LAZYLIB_MEMBERS(LIST) declares one pointer
 * per function in a struct (its type from the library's header, so a changed signature is a compile error) and
 * LAZYLIB_NAMES(LIST) is the initialiser of the array of their names for lazylib_open. The struct holds nothing else:
 * its callers check sizeof(table) == n * sizeof(void *) and copy the n pointers lazylib_open resolved into it with one
 * memcpy (POSIX gives dlsym's void * the representation of a function pointer). */
#define LAZYLIB_MEMBER_(f) __typeof__(f) *f;
#define LAZYLIB_MEMBERS(LIST) LIST(LAZYLIB_MEMBER_)
#define LAZYLIB_NAME_(f) #f,
#define LAZYLIB_NAMES(LIST) {LIST(LAZYLIB_NAME_)}

/* Opens soname (RTLD_NOW | RTLD_LOCAL) and resolves the n symbols named in names into out[0..n-1] (function
 * pointers are stored through memcpy: POSIX gives dlsym's void * their representation). 0, or -1 with err filled
 * (cap bytes) naming the library and what is missing; nothing is kept open then. */
int lazylib_open(const char *soname, const char *const *names, void **out, size_t n, char *err, size_t cap);

/* A table of functions loaded once and kept for the process's life (ldns, libpq, libcurl): the first
 * lazylib_open_once that succeeds opens soname (lazylib_open) and copies the n pointers it resolved into table (a
 * struct of LAZYLIB_MEMBERS, n * sizeof(void *) bytes); a later call returns 0 at once. From any thread. A failed
 * open leaves nothing loaded (err says why) and the next call tries again. */
struct lazylib_once {
    pthread_mutex_t mu;
    bool loaded;
};
#define LAZYLIB_ONCE_INIT {PTHREAD_MUTEX_INITIALIZER, false}
int lazylib_open_once(struct lazylib_once *once, const char *soname, const char *const *names, void *table, size_t n,
                      char *err, size_t cap);
/* Whether lazylib_open_once has loaded that table. */
bool lazylib_once_loaded(struct lazylib_once *once);

#define LAZYLIB_MAX_OBJECTS 128 /* shared objects in the process that lazylib_objects lists at most */

/* The shared objects mapped in the process at one moment, by load address. */
struct lazylib_objects {
    size_t n;
    bool whole; /* false: more than LAZYLIB_MAX_OBJECTS, the list is cut short */
    uintptr_t addr[LAZYLIB_MAX_OBJECTS];
};

/* Lists the shared objects mapped now. */
void lazylib_objects_note(struct lazylib_objects *o);

/* Of the shared objects mapped now that before does not list (loaded by glibc for a one-time use and kept mapped
 * for good, as the NSS modules of a user lookup), takes the pages of the read-only segments (code and constants,
 * never written) out of the process with madvise(MADV_DONTNEED), as munmap would: the page cache keeps them, and a
 * later use reads them again from it. Their written data (relocations, variables) stay. Nothing when before was
 * cut short. Those objects are remembered (32 at most), and this and every lazylib_close drop their clean pages
 * again: each dlopen reads their names, and a library opened since may have run their code. */
void lazylib_drop_since(const struct lazylib_objects *before);

/* The same, with the handle kept in *handle for lazylib_close; the handle also remembers which shared objects the
 * open brought into the process (the library and what it links, up to LAZYLIB_MAX_OBJECTS). */
int lazylib_open_handle(const char *soname, const char *const *names, void **out, size_t n, char *err, size_t cap,
                        void **handle);

/* Closes a handle of lazylib_open_handle (NULL is fine): the pointers it filled must not be called again. The dynamic
 * loader unmaps what the open brought in, except an object built NODELETE (p11-kit, which GnuTLS links under
 * libmicrohttpd) and what another object still needs (libm, which SQLite brings and the NSS modules keep): of those
 * the clean pages go as lazylib_drop_since takes them, with those of the objects kept before. */
void lazylib_close(void *handle);

/* Whether soname is mapped in this process already (for tests and the memory benchmark's explanations). */
int lazylib_loaded(const char *soname);

#endif
