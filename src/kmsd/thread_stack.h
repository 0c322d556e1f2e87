/*
 * thread_stack — threads whose stacks leave nothing resident behind them.
 *
 * glibc keeps the stack of a thread that ended in a cache for the next thread, with the pages the thread touched
 * still resident (at least 16 kB each) and its dynamic TLS allocated; and a thread that lives as long as kmsd keeps
 * every page its deepest call ever touched. Both count in an idle kmsd's memory (docs/performance.md, "What the web
 * page left behind"): the HTTP lanes' threads end whenever the HTTP server dozes, and the registry writer reopens
 * SQLite (dlopen, its deepest call) after each --registry-idle-unload. Hand-written: no library offers this; it is a
 * few system calls.
 */
#ifndef KMSD_THREAD_STACK_H
#define KMSD_THREAD_STACK_H

#include <pthread.h>
#include <stddef.h>

/* Starts a thread with a stack of that many bytes. 0 or a positive errno.
 * own NULL: glibc's stack (for a thread that lives as long as kmsd).
 * Else the stack is mapped here, with a PROT_NONE page below it as glibc's guard, and *own set: the caller calls
 * thread_stack_unmap(*own, stack) after pthread_join; then nothing of the thread stays. */
int thread_stack_start(pthread_t *t, size_t stack, void **own, void *(*fn)(void *), void *arg);
void thread_stack_unmap(void *own, size_t stack);

/* Gives back the pages of the calling thread's stack below its current frame (less a margin), for a thread about
 * to idle: they come back zeroed, one fault each, when a call reaches that deep again. Not for the main thread
 * (its stack's extent is only known from /proc). Best effort: nothing happens where the extent is unknown. */
void thread_stack_release(void);

#endif
