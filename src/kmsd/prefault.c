/* prefault — see prefault.h. */
#define _DEFAULT_SOURCE /* madvise: the project's _POSIX_C_SOURCE alone hides it and the MADV_ flags */
#include "prefault.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14's value; an older kernel answers EINVAL, and the pages fault in */
#endif

void prefault(void *p, size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || len < PREFAULT_MIN_PAGES * (size_t)page)
        return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1), e = (uintptr_t)p + len;
    e &= ~((uintptr_t)page - 1); /* whole pages only: the partial ones at either end may be another block's */
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
}
