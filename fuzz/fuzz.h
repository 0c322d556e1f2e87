/*
 * fuzz — what every fuzz target shares: the libFuzzer entry point each fuzz_<target>.c defines, and
 * fuzz_check(), the one place a harness aborts (a broken invariant of project code, never bad input).
 *
 * Each target is linked either with libFuzzer (clang, -Dfuzz=true) or with replay.c, which runs the committed
 * corpus through the same entry point under gcc in `meson test`. Targets must accept any input without
 * leaking, aborting or reading out of bounds.
 */
#ifndef KMSD_FUZZ_H
#define KMSD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs the target on data[0..size); always returns 0 (libFuzzer's contract). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the failed invariant's text when cond is false. */
#define fuzz_check(cond)                                                                                        \
    do {                                                                                                        \
        if (!(cond)) {                                                                                          \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);                        \
            abort();                                                                                            \
        }                                                                                                       \
    } while (0)

#endif
