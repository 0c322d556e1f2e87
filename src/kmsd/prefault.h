/*
 * prefault — makes the pages of a block of memory resident in one system call (madvise MADV_POPULATE_WRITE,
 * Linux 5.14) instead of one page fault each as they are first written. Under the hypervisor of the machines kmsd
 * is measured on, a page fault costs about 14.5 µs and the same page populated with the rest about 0.8 µs
 * (docs/performance.md, "Page faults"); on bare metal the difference is smaller but in the same direction. And the
 * reverse, prefault_release: a block's pages given back while it is not needed.
 */
#ifndef KMSD_PREFAULT_H
#define KMSD_PREFAULT_H

#include <stddef.h>

/* Makes the whole pages within [p, p + len) resident and writable. Best effort: where the kernel cannot, or for a
 * block of fewer than PREFAULT_MIN_PAGES pages, nothing happens and the pages come one fault at a time. */
#define PREFAULT_MIN_PAGES 4
void prefault(void *p, size_t len);

/* prefault for a large block written whole at once (the search's arrays): first asks for transparent huge pages for
 * the pages that hold [p, p + len) (madvise MADV_HUGEPAGE; the kernel's default, transparent_hugepage=madvise, gives
 * them only on request, and only for the 2 MiB-aligned parts), then populates as prefault does. The advice changes
 * no contents, only the size of the pages, so it may reach the partial pages at either end: that way it covers the
 * mapping glibc's malloc makes for a large block, its header's page included, and realloc can still move the mapping
 * whole (mremap), the advice with it. Advice on part of a mapping splits it, and realloc then copies the block into
 * fresh memory instead; that still happens for the rare sizes whose padding ends in a page of its own (about 16 in
 * 4,096). Under the hypervisor of the machines kmsd is measured on, a populated 4 KiB page still costs about 5.5 µs
 * when the process first touches it; in 2 MiB pages, the populate and the first touches together cost about 0.25 µs
 * per 4 KiB (docs/performance.md, "Huge pages for the search's build"). Best effort: where huge pages are off or none
 * is free, 4 KiB pages as prefault's. A block under PREFAULT_HUGE_MIN is prefault's alone. */
#define PREFAULT_HUGE_MIN ((size_t)2 << 20)
void prefault_large(void *p, size_t len);

/* The reverse, for a large block kept for a rare use (the reload's configuration): the whole pages within
 * [p, p + len) are given back to the system and read as zero at their next use, one fault each. Only for
 * anonymous memory whose contents are not needed any more. */
void prefault_release(void *p, size_t len);

#endif
