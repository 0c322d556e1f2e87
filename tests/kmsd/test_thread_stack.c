/* thread_stack: a thread on a stack of its own runs on it and leaves nothing mapped once joined and unmapped; the
 * pages of a thread's stack below its frame are given back by thread_stack_release and usable again after
 * (mincore(2) reports which pages of an anonymous mapping are resident). */
#define _DEFAULT_SOURCE /* mincore */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "thread_stack.h"

#define STACK (256u * 1024u)
#define DEPTH 24         /* frames of the deep call */
#define FRAME_BYTES 4096 /* each touches this much: 96 KiB in all */

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    assert_true(p > 0);
    return (size_t)p;
}

struct probe {
    pthread_barrier_t go;     /* the thread waits until lo is known */
    uint8_t *lo;              /* the stack's lowest usable address (own stacks), set by the test */
    uintptr_t local;          /* the address of a local of the thread's function */
    unsigned resident_before; /* pages of the stack resident after the deep call */
    unsigned resident_after;  /* and after thread_stack_release */
    bool same_sum;            /* the deep call again after the release gave the same sum */
};

static unsigned long deep(int n)
{
    volatile unsigned char frame[FRAME_BYTES];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (unsigned char)n;
    unsigned long below = n > 1 ? deep(n - 1) : 0;
    return below + frame[(size_t)n * 97 % FRAME_BYTES]; /* read after the call: the frame lives across it */
}

static unsigned resident_pages(uint8_t *lo, size_t len)
{
    size_t ps = page_size(), n = len / ps;
    unsigned char vec[STACK / 4096];
    if (n > sizeof vec || mincore(lo, len, vec) != 0)
        return 0;
    unsigned r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    return r;
}

/* The permissions of the mapping that holds addr, from /proc/self/maps ("" when none does). */
static const char *perms_at(uintptr_t addr)
{
    static char perms[8];
    perms[0] = '\0';
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char pm[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, pm) == 3 && addr >= lo && addr < hi) {
            memcpy(perms, pm, sizeof perms);
            break;
        }
    }
    fclose(f);
    return perms;
}

static void *run(void *arg)
{
    struct probe *p = arg;
    volatile int here = 0;
    p->local = (uintptr_t)&here;
    (void)pthread_barrier_wait(&p->go);
    unsigned long sum = deep(DEPTH);
    p->resident_before = resident_pages(p->lo, STACK);
    thread_stack_release();
    p->resident_after = resident_pages(p->lo, STACK);
    p->same_sum = deep(DEPTH) == sum;
    return NULL;
}

static void own_stack_used_released_and_unmapped(void **state)
{
    (void)state;
    size_t ps = page_size();
    struct probe p = {0};
    assert_int_equal(pthread_barrier_init(&p.go, NULL, 2), 0);
    pthread_t t;
    void *own = NULL;
    assert_int_equal(thread_stack_start(&t, STACK, &own, run, &p), 0);
    assert_non_null(own);
    p.lo = (uint8_t *)own + ps; /* the guard page first, then the stack */
    (void)pthread_barrier_wait(&p.go);
    assert_int_equal(pthread_join(t, NULL), 0);
    /* it ran on the stack given to it */
    assert_true(p.local >= (uintptr_t)p.lo && p.local < (uintptr_t)p.lo + STACK);
    /* the deep call made 96 KiB resident; the release gave back all but the frames above it, a margin and the
     * thread's TLS at the top (a few pages) */
    if (p.resident_before < DEPTH * FRAME_BYTES / ps)
        fail_msg("%u pages resident after the deep call, expected at least %zu", p.resident_before,
                 DEPTH * FRAME_BYTES / ps);
    if (p.resident_after > 8 || p.resident_after + DEPTH * FRAME_BYTES / ps - 2 > p.resident_before)
        fail_msg("%u pages resident after the release (%u before)", p.resident_after, p.resident_before);
    assert_true(p.same_sum); /* and the released pages serve the next deep call */
    /* the page below the stack is the guard: mapped without access; the stack itself read-write */
    assert_string_equal(perms_at((uintptr_t)own), "---p");
    assert_string_equal(perms_at((uintptr_t)p.lo), "rw-p");
    thread_stack_unmap(own, STACK);
    /* nothing of it stays mapped */
    errno = 0;
    assert_int_equal(mincore(own, ps + STACK, (unsigned char[STACK / 4096 + 1]){0}), -1);
    assert_int_equal(errno, ENOMEM);
    pthread_barrier_destroy(&p.go);
}

static void *note_local(void *arg)
{
    volatile int here = 0;
    *(uintptr_t *)arg = (uintptr_t)&here;
    return NULL;
}

/* Without own, glibc's stack of the size asked: the thread runs, and there is nothing to unmap. */
static void glibc_stack_without_own(void **state)
{
    (void)state;
    pthread_t t;
    uintptr_t local = 0;
    assert_int_equal(thread_stack_start(&t, STACK, NULL, note_local, &local), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(local != 0);
    thread_stack_unmap(NULL, STACK); /* a no-op */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(own_stack_used_released_and_unmapped),
        cmocka_unit_test(glibc_stack_without_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
