#include "rng.h"

#include "buf.h"
#include "err.h"

/* Each draw is rejected with probability below 1/2, so 64 draws fail with probability < 2^-64. */
#define RNG_MAX_DRAWS 64

uint64_t rng_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

int rng_uniform(const struct kms_rng *rng, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (lo > hi)
        return KMS_EINVAL;
    uint64_t span = hi - lo; /* inclusive range size minus one */
    for (int i = 0; i < RNG_MAX_DRAWS; i++) {
        uint8_t b[8];
        int rc = rng->fill(rng->ctx, b, sizeof b);
        if (rc < 0)
            return rc;
        uint64_t v = buf_le64(b);
        if (span == UINT64_MAX) {
            *out = v;
            return 0;
        }
        uint64_t n = span + 1;
        /* accept v below the largest multiple of n that fits in 2^64 */
        uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
        if (v <= limit) {
            *out = lo + v % n;
            return 0;
        }
    }
    return KMS_ECRYPTO;
}
