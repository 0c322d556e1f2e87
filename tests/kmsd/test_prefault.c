/* prefault: the whole pages of the block become resident in one call, none outside it, none for a small block
 * (mincore(2) reports which pages of an anonymous mapping have been touched). */
#define _DEFAULT_SOURCE /* mincore */
#include "testutil.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prefault.h"
#include "sanitizer.h"

#define PAGES 64

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    assert_true(p > 0);
    return (size_t)p;
}

/* Which of the PAGES pages at m are resident: vec[i] & 1. */
static void resident(uint8_t *m, unsigned char vec[PAGES])
{
    assert_int_equal(mincore(m, PAGES * page_size(), vec), 0);
}

static uint8_t *fresh(void)
{
    void *m = mmap(NULL, PAGES * page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    unsigned char vec[PAGES];
    resident(m, vec);
    for (int i = 0; i < PAGES; i++)
        assert_int_equal(vec[i] & 1, 0); /* nothing touched yet */
    return m;
}

static void whole_pages_within(void **state)
{
    (void)state;
    size_t ps = page_size();
    uint8_t *m = fresh();
    /* from 100 bytes into page 8 to 100 bytes into page 24: pages 9 to 23 lie wholly within */
    prefault(m + 8 * ps + 100, 16 * ps);
    unsigned char vec[PAGES];
    resident(m, vec);
    for (int i = 0; i < PAGES; i++) {
        if ((vec[i] & 1) != (i >= 9 && i <= 23))
            fail_msg("page %d: resident %d", i, vec[i] & 1);
    }
    /* and they are writable and zero, as fresh anonymous memory is */
    for (size_t i = 9 * ps; i < 24 * ps; i += ps)
        assert_int_equal(m[i], 0);
    m[9 * ps] = 1;
    assert_int_equal(munmap(m, PAGES * ps), 0);
}

static void small_block_left_alone(void **state)
{
    (void)state;
    size_t ps = page_size();
    uint8_t *m = fresh();
    prefault(m, (PREFAULT_MIN_PAGES - 1) * ps); /* below the minimum: not worth a system call */
    prefault(m + 32 * ps, 0);
    unsigned char vec[PAGES];
    resident(m, vec);
    for (int i = 0; i < PAGES; i++)
        assert_int_equal(vec[i] & 1, 0);
    prefault(m + 32 * ps, PREFAULT_MIN_PAGES * ps); /* at it: done */
    resident(m, vec);
    for (int i = 0; i < PAGES; i++) {
        if ((vec[i] & 1) != (i >= 32 && i < 32 + PREFAULT_MIN_PAGES))
            fail_msg("page %d: resident %d", i, vec[i] & 1);
    }
    assert_int_equal(munmap(m, PAGES * ps), 0);
}

/* prefault_release: the whole pages within the block go (and read as zero), the partial ones at its ends and the
 * pages outside stay with their contents; a block within one page gives nothing back. */
static void release_whole_pages_within(void **state)
{
    (void)state;
    size_t ps = page_size();
    uint8_t *m = fresh();
    for (size_t i = 0; i < PAGES; i++)
        m[i * ps] = 0xA5; /* every page resident, with something in it */
    prefault_release(m + 8 * ps + 100, 16 * ps); /* pages 9 to 23 lie wholly within */
    unsigned char vec[PAGES];
    resident(m, vec);
    for (int i = 0; i < PAGES; i++) {
        bool gone = i >= 9 && i <= 23;
        if ((vec[i] & 1) == gone)
            fail_msg("page %d: resident %d", i, vec[i] & 1);
        assert_int_equal(m[(size_t)i * ps], gone ? 0 : 0xA5);
    }
    prefault_release(m + 40 * ps + 8, ps - 16); /* within page 40: nothing */
    assert_int_equal(m[40 * ps], 0xA5);
    assert_int_equal(munmap(m, PAGES * ps), 0);
}

/* The VmFlags line of /proc/self/smaps for the mapping that holds address a ("" when none is found). */
static void vm_flags_at(const void *a, char *out, size_t cap)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    bool in = false;
    out[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = (uintptr_t)a >= lo && (uintptr_t)a < hi;
        } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(out, cap, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

/* Whether this kernel takes the huge page advice at all (CONFIG_TRANSPARENT_HUGEPAGE): asked of a scratch mapping. */
static bool kernel_has_thp(void)
{
    size_t len = 2 * PREFAULT_HUGE_MIN;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    bool ok = madvise(m, len, MADV_HUGEPAGE) == 0;
    assert_int_equal(munmap(m, len), 0);
    return ok;
}

/* prefault_large: the whole pages of the block resident as prefault's; the pages that hold it (the partial ones at its
 * ends too, nothing outside) advised for huge pages (smaps' VmFlags "hg"), which the kernel's default mode gives
 * only on request; none for a block under PREFAULT_HUGE_MIN. */
static void large_block_advised_and_resident(void **state)
{
    (void)state;
    size_t ps = page_size(), huge = PREFAULT_HUGE_MIN;
    size_t span = 4 * huge;
    uint8_t *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    /* from 100 bytes into page 16 to 100 bytes into the page 3 MiB after it */
    uint8_t *p = m + 16 * ps + 100;
    size_t len = 3 * huge / 2;
    prefault_large(p, len);
    char flags[512];
    bool thp = kernel_has_thp();
    if (thp) {
        const uint8_t *inside[] = {m + 16 * ps, p + len / 2, p + len - 1};
        for (size_t i = 0; i < sizeof inside / sizeof *inside; i++) {
            vm_flags_at(inside[i], flags, sizeof flags);
            if (!strstr(flags, " hg"))
                fail_msg("a page of the block is not advised for huge pages: VmFlags%s", flags);
        }
        const uint8_t *outside[] = {m + 15 * ps, m + 16 * ps + 100 + len + ps, m + span - 1};
        for (size_t i = 0; i < sizeof outside / sizeof *outside; i++) {
            vm_flags_at(outside[i], flags, sizeof flags);
            if (strstr(flags, " hg"))
                fail_msg("a page outside the block is advised for huge pages: VmFlags%s", flags);
        }
    }
    unsigned char *vec = malloc(span / ps);
    assert_non_null(vec);
    assert_int_equal(mincore(m, span, vec), 0);
    uintptr_t first = ((uintptr_t)p + ps - 1) & ~(uintptr_t)(ps - 1), end = ((uintptr_t)p + len) & ~(uintptr_t)(ps - 1);
    for (size_t i = 0; i < span / ps; i++) {
        uintptr_t at = (uintptr_t)m + i * ps;
        if ((vec[i] & 1) != (at >= first && at < end))
            fail_msg("page %zu: resident %d", i, vec[i] & 1);
    }
    free(vec);
    /* a block under PREFAULT_HUGE_MIN: no advice, populated as prefault's */
    uint8_t *q = m + 3 * huge + 8 * ps;
    prefault_large(q, huge - 16 * ps);
    if (thp) {
        vm_flags_at(q, flags, sizeof flags);
        assert_null(strstr(flags, " hg"));
    }
    assert_int_equal(q[0], 0);
    assert_int_equal(munmap(m, span), 0);
}

/* A large malloc'd block given the advice can still be grown by realloc moving its mapping whole (mremap), the advice
 * with it; advice on part of the mapping split it, and realloc then copied the block into fresh memory without it.
 * (glibc maps a block this large on its own; the grown block's mapping carries "hg" only if it was moved whole.) */
static void large_block_grows_with_its_advice(void **state)
{
    (void)state;
    if (!kernel_has_thp())
        skip(); /* nothing to carry: this kernel refuses the advice (reported as skipped, not passed) */
    size_t len = 3 * PREFAULT_HUGE_MIN + 1000;
    uint8_t *b = malloc(len);
    assert_non_null(b);
    prefault_large(b, len);
    memset(b, 0x5A, len);
    uint8_t *g = realloc(b, 2 * len);
    assert_non_null(g);
    assert_int_equal(g[0], 0x5A);
    assert_int_equal(g[len - 1], 0x5A);
#ifndef KMSD_ASAN /* AddressSanitizer's realloc always copies into a block of its own: glibc's is what kmsd runs on */
    char flags[512];
    vm_flags_at(g + len / 2, flags, sizeof flags);
    if (!strstr(flags, " hg"))
        fail_msg("the grown block lost the advice (copied instead of moved): VmFlags%s", flags);
#endif
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_pages_within),
        cmocka_unit_test(small_block_left_alone),
        cmocka_unit_test(release_whole_pages_within),
        cmocka_unit_test(large_block_advised_and_resident),
        cmocka_unit_test(large_block_grows_with_its_advice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
