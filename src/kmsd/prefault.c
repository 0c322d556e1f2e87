/* prefault — see prefault.h. */
#define _DEFAULT_SOURCE /* madvise: the project's _POSIX_C_SOURCE alone hides it and the MADV_ flags */
#include "prefault.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14's value; an older kernel answers EINVAL, and the pages fault in */
#endif

/* Advises the pages of [p, p + len) for a block of min_pages pages or more: the whole pages within it only (the
 * partial ones at either end may be another block's), or, covering, the partial ones too (advice that changes no
 * contents, only the pages' size). */
static void advise_pages(void *p, size_t len, size_t min_pages, bool covering, int advice)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || len < min_pages * (size_t)page)
        return;
    uintptr_t mask = (uintptr_t)page - 1, in = covering ? 0 : mask, out = covering ? mask : 0;
    uintptr_t a = ((uintptr_t)p + in) & ~mask, e = ((uintptr_t)p + len + out) & ~mask;
    if (e > a)
        (void)madvise((void *)a, e - a, advice);
}

void prefault(void *p, size_t len)
{
    advise_pages(p, len, PREFAULT_MIN_PAGES, false, MADV_POPULATE_WRITE);
}

void prefault_large(void *p, size_t len)
{
    /* the pages that hold the block, the partial ones at its ends too, so that malloc's mapping of a large block is
     * not split (prefault.h); EINVAL without CONFIG_TRANSPARENT_HUGEPAGE, and the pages stay 4 KiB */
    if (len >= PREFAULT_HUGE_MIN)
        advise_pages(p, len, 1, true, MADV_HUGEPAGE);
    prefault(p, len);
}

void prefault_release(void *p, size_t len)
{
    advise_pages(p, len, 1, false, MADV_DONTNEED);
}
