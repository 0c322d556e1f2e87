/* prefault — see prefault.h. */
#define _DEFAULT_SOURCE /* madvise: the project's _POSIX_C_SOURCE alone hides it and the MADV_ flags */
#include "prefault.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14's value; an older kernel answers EINVAL, and the pages fault in */
#endif

/* Advises the whole pages within [p, p + len) only (the partial ones at either end may be another block's), for a
 * block of min_pages pages or more. */
static void advise_whole_pages(void *p, size_t len, size_t min_pages, int advice)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || len < min_pages * (size_t)page)
        return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1), e = (uintptr_t)p + len;
    e &= ~((uintptr_t)page - 1);
    if (e > a)
        (void)madvise((void *)a, e - a, advice);
}

void prefault(void *p, size_t len)
{
    advise_whole_pages(p, len, PREFAULT_MIN_PAGES, MADV_POPULATE_WRITE);
}

void prefault_large(void *p, size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    if (len >= PREFAULT_HUGE_MIN && page > 0) {
        /* the pages that hold the block, the partial ones at its ends too, so that malloc's mapping of a large block
         * is not split (prefault.h) */
        uintptr_t a = (uintptr_t)p & ~((uintptr_t)page - 1);
        uintptr_t e = ((uintptr_t)p + len + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
        (void)madvise((void *)a, e - a, MADV_HUGEPAGE); /* EINVAL without CONFIG_TRANSPARENT_HUGEPAGE: 4 KiB */
    }
    prefault(p, len);
}

void prefault_release(void *p, size_t len)
{
    advise_whole_pages(p, len, 1, MADV_DONTNEED);
}
