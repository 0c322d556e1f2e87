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

/* splitmix64's finaliser (a public-domain bit mixer): a bijection of 64 bits in which each input bit changes about
 * half of the output's. Not random — the same on every host and in every version: the registry's client keys are
 * made with it (store_client_key), and kmsc bench spreads a counter over its CMIDs with it. */
uint64_t rng_mix64(uint64_t x);

#endif
