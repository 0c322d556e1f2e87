/*
 * rng — randomness as a parameter.
 *
 * The core never draws random numbers itself: functions that need them take a `struct kms_rng`, whose
 * `fill` callback the program points at kms_random_bytes() and tests point at a deterministic source.
 */
#ifndef KMSD_RNG_H
#define KMSD_RNG_H

#include <stddef.h>
#include <stdint.h>

struct kms_rng {
    /* Fills len bytes; returns 0 or a negative error. */
    int (*fill)(void *ctx, void *buf, size_t len);
    void *ctx;
};

/* Uniform integer in [lo, hi] (lo <= hi) by rejection sampling (bounded number of draws).
 * Returns 0, KMS_EINVAL (lo > hi) or the callback's error. */
int rng_uniform(const struct kms_rng *rng, uint64_t lo, uint64_t hi, uint64_t *out);

#endif
