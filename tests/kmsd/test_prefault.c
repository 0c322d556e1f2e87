/* prefault: the whole pages of the block become resident in one call, none outside it, none for a small block
 * (mincore(2) reports which pages of an anonymous mapping have been touched). */
#define _DEFAULT_SOURCE /* mincore */
#include "testutil.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prefault.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_pages_within),
        cmocka_unit_test(small_block_left_alone),
        cmocka_unit_test(release_whole_pages_within),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
