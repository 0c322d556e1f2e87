/* thread_stack — see thread_stack.h. */
#define _GNU_SOURCE /* pthread_getattr_np; MAP_ANONYMOUS and MAP_STACK beside _POSIX_C_SOURCE */
#include "thread_stack.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prefault.h"

/* Below the current frame, kept: this function's locals, the frames of its calls (prefault_release, madvise) and the
 * x86-64 ABI's red zone (128 bytes), with room to spare. A signal handler that runs on this stack afterwards finds
 * zeroed pages, as any new frame does. */
#define RELEASE_MARGIN 4096u

static size_t page_bytes(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    return pg > 0 ? (size_t)pg : 4096u;
}

int thread_stack_start(pthread_t *t, size_t stack, void **own, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return rc;
    void *mem = MAP_FAILED;
    size_t guard = page_bytes();
    if (own) {
        mem = mmap(NULL, guard + stack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (mem == MAP_FAILED)
            rc = errno;
        else if (mprotect(mem, guard, PROT_NONE) != 0)
            rc = errno;
        else
            rc = pthread_attr_setstack(&attr, (char *)mem + guard, stack);
    } else {
        rc = pthread_attr_setstacksize(&attr, stack);
    }
    if (rc == 0)
        rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (own && mem != MAP_FAILED) {
        if (rc == 0)
            *own = mem;
        else
            munmap(mem, guard + stack);
    }
    return rc;
}

void thread_stack_unmap(void *own, size_t stack)
{
    if (own)
        munmap(own, page_bytes() + stack);
}

void thread_stack_release(void)
{
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    void *lo = NULL;
    size_t size = 0;
    int rc = pthread_attr_getstack(&attr, &lo, &size);
    pthread_attr_destroy(&attr);
    if (rc != 0 || !lo)
        return;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0), base = (uintptr_t)lo;
    if (here < base + RELEASE_MARGIN || here > base + size)
        return; /* not on this stack (a signal stack), or too shallow to give anything back */
    prefault_release(lo, here - RELEASE_MARGIN - base); /* the whole pages below the margin */
}
