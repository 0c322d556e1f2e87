/* lazylib — see lazylib.h. */
#define _GNU_SOURCE /* dl_iterate_phdr, madvise */
#include "lazylib.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A handle of lazylib_open_handle: the library, and the shared objects its open brought into the process. */
struct lazylib_handle {
    void *dl;
    struct lazylib_objects added;
};

static bool has_addr(const struct lazylib_objects *o, uintptr_t x)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->addr[i] == x)
            return true;
    return false;
}

static int note_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct lazylib_objects *o = arg;
    if (o->n < LAZYLIB_MAX_OBJECTS)
        o->addr[o->n++] = info->dlpi_addr;
    else
        o->whole = false;
    return 0;
}

void lazylib_objects_note(struct lazylib_objects *o)
{
    o->n = 0;
    o->whole = true;
    (void)dl_iterate_phdr(note_object, o);
}

/* added = the objects mapped now that before does not list (none when before was cut short: it would count
 * libraries mapped before). */
static void objects_added(const struct lazylib_objects *before, struct lazylib_objects *added)
{
    struct lazylib_objects *now = malloc(sizeof *now);
    added->n = 0;
    added->whole = true;
    if (!now || !before->whole) {
        free(now);
        return;
    }
    lazylib_objects_note(now);
    for (size_t i = 0; i < now->n; i++)
        if (!has_addr(before, now->addr[i]))
            added->addr[added->n++] = now->addr[i];
    free(now);
}

/* Whether the object was relocated in its text at load (DT_TEXTREL, DF_TEXTREL): its read-only pages were then
 * written, and dropping them would undo the relocations. */
static bool has_textrel(const struct dl_phdr_info *info)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_DYNAMIC)
            continue;
        for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr); d->d_tag != DT_NULL; d++)
            if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL)))
                return true;
    }
    return false;
}

/* Takes the pages of the object's read-only segments (code, constants) out of the process's page tables, as munmap
 * would: they were read from the file and never written, so a later access reads them again from the page cache.
 * The ranges are all read before the first madvise: the program headers are in the first segment, and reading them
 * again would map that segment's first 64 KiB back (the kernel maps pages around a fault). */
#define DROP_SEGMENTS 16 /* read-only segments of one object dropped at most (ELF objects have two or three) */
static void drop_clean_pages(const struct dl_phdr_info *info)
{
    if (has_textrel(info))
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), from[DROP_SEGMENTS], to[DROP_SEGMENTS];
    int n = 0;
    for (int i = 0; i < info->dlpi_phnum && n < DROP_SEGMENTS; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr, e = a + ph->p_filesz;
        /* the loader maps a segment from its first page to the end of its last one; a page it shares with a
         * writable segment (mapped over it) is left alone */
        a = (a + page - 1) & ~(page - 1);
        e = (e + page - 1) & ~(page - 1);
        for (int j = 0; j < info->dlpi_phnum; j++) {
            const ElfW(Phdr) *w = &info->dlpi_phdr[j];
            uintptr_t ws = (info->dlpi_addr + w->p_vaddr) & ~(page - 1);
            if (w->p_type == PT_LOAD && (w->p_flags & PF_W) && ws >= a && ws < e)
                e = ws;
        }
        if (e > a) {
            from[n] = a;
            to[n++] = e;
        }
    }
    for (int i = 0; i < n; i++)
        (void)madvise((void *)from[i], to[i] - from[i], MADV_DONTNEED);
}

/* The objects the loader kept after an unload or a lookup, whose clean pages were dropped: a later dlopen reads their
 * names again (the loader compares every object's name with those it is asked for: 64 KiB mapped back around each),
 * and a library loaded since may have used them (SQLite libm, when the NSS modules keep libm mapped), so every
 * lazylib_close and lazylib_drop_since drops their clean pages again. By load address and a hash of the name, so that
 * another object loaded later at the same address is not taken for one of them. */
#define LEFT_MAX 32
static pthread_mutex_t left_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uintptr_t addr;
    uint64_t name;
} left[LEFT_MAX];
static size_t n_left;

static uint64_t name_hash(const char *s)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static bool is_left(uintptr_t addr, uint64_t name)
{
    for (size_t i = 0; i < n_left; i++)
        if (left[i].addr == addr && left[i].name == name)
            return true;
    return false;
}

/* For dl_iterate_phdr, with left_mu held: the objects of the list arg (or none: NULL) become left ones; every left
 * one has its clean pages dropped. */
static int drop_left(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    const struct lazylib_objects *added = arg;
    uint64_t name = name_hash(info->dlpi_name);
    bool known = is_left(info->dlpi_addr, name);
    if (!known && added && has_addr(added, info->dlpi_addr) && n_left < LEFT_MAX) {
        left[n_left].addr = info->dlpi_addr;
        left[n_left++].name = name;
        known = true;
    }
    if (known)
        drop_clean_pages(info);
    return 0;
}

static void drop_all_left(const struct lazylib_objects *added)
{
    pthread_mutex_lock(&left_mu);
    (void)dl_iterate_phdr(drop_left, (void *)(uintptr_t)added);
    pthread_mutex_unlock(&left_mu);
}

void lazylib_drop_since(const struct lazylib_objects *before)
{
    struct lazylib_objects *added = malloc(sizeof *added);
    if (!added)
        return;
    objects_added(before, added);
    drop_all_left(added);
    free(added);
}

/* dlopen and dlsym of the n names: the library's handle, or NULL with err filled. */
static void *open_resolve(const char *soname, const char *const *names, void **out, size_t n, char *err, size_t cap)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(err, cap, "cannot load %s: %s", soname, e ? e : "unknown error");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        (void)dlerror();
        out[i] = dlsym(h, names[i]);
        if (!out[i]) {
            const char *e = dlerror();
            snprintf(err, cap, "%s has no %s (%s): another version than this program was built for?", soname, names[i],
                     e ? e : "null symbol");
            dlclose(h);
            return NULL;
        }
    }
    return h;
}

int lazylib_open_handle(const char *soname, const char *const *names, void **out, size_t n, char *err, size_t cap,
                        void **handle)
{
    *handle = NULL;
    struct lazylib_handle *lh = malloc(sizeof *lh);
    struct lazylib_objects *before = malloc(sizeof *before);
    if (!lh || !before) {
        free(lh);
        free(before);
        snprintf(err, cap, "cannot load %s: out of memory", soname);
        return -1;
    }
    lazylib_objects_note(before);
    lh->dl = open_resolve(soname, names, out, n, err, cap);
    /* what this open brought in (another thread's dlopen in between would be counted too: lazylib_close would then
     * only make that library read some pages again) */
    if (lh->dl)
        objects_added(before, &lh->added);
    free(before);
    if (!lh->dl) {
        free(lh);
        return -1;
    }
    *handle = lh;
    return 0;
}

int lazylib_open(const char *soname, const char *const *names, void **out, size_t n, char *err, size_t cap)
{
    return open_resolve(soname, names, out, n, err, cap) ? 0 : -1; /* the handle is never closed */
}

int lazylib_open_once(struct lazylib_once *once, const char *soname, const char *const *names, void *table, size_t n,
                      char *err, size_t cap)
{
    pthread_mutex_lock(&once->mu);
    int rc = 0;
    if (!once->loaded) {
        void **p = malloc(n * sizeof *p);
        rc = p ? lazylib_open(soname, names, p, n, err, cap) : -1;
        if (!p)
            snprintf(err, cap, "cannot load %s: out of memory", soname);
        if (rc == 0) {
            memcpy(table, p, n * sizeof *p); /* POSIX: dlsym's void * has a function pointer's representation */
            once->loaded = true;
        }
        free(p);
    }
    pthread_mutex_unlock(&once->mu);
    return rc;
}

bool lazylib_once_loaded(struct lazylib_once *once)
{
    pthread_mutex_lock(&once->mu);
    bool on = once->loaded;
    pthread_mutex_unlock(&once->mu);
    return on;
}

void lazylib_close(void *handle)
{
    struct lazylib_handle *lh = handle;
    if (!lh)
        return;
    dlclose(lh->dl);
    /* What the loader kept of what the open brought in (a library built NODELETE, as p11-kit under GnuTLS, and what
     * it needs) stays mapped: its clean pages go as the others' did, and those of the objects kept before again. */
    drop_all_left(&lh->added);
    free(lh);
}

int lazylib_loaded(const char *soname)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return 0;
    dlclose(h);
    return 1;
}
