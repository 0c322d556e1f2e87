/* bench_hist — the latency histogram of `kmsc bench`: exact below 128 us, then 64 buckets per power of two. */
#include "bench_int.h"

#include <math.h>

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_LINEAR)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 7 */
    unsigned sub = (unsigned)(v >> (e - 6u)) - HIST_SUB;
    unsigned i = HIST_LINEAR + (e - 7u) * HIST_SUB + sub;
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

/* The middle of bucket i, in us. */
static double hist_value(unsigned i)
{
    if (i < HIST_LINEAR)
        return (double)i;
    unsigned e = (i - HIST_LINEAR) / HIST_SUB + 7u, sub = (i - HIST_LINEAR) % HIST_SUB;
    double lo = (double)((uint64_t)(HIST_SUB + sub) << (e - 6u));
    return lo + (double)(1ull << (e - 6u)) / 2.0;
}

void bench_hist_add(struct hist *h, uint64_t us)
{
    h->b[hist_index(us)]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

double bench_hist_ms(const struct hist *h, double p)
{
    if (h->n == 0)
        return 0.0;
    uint64_t want = (uint64_t)ceil(p * (double)h->n), seen = 0;
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            double v = hist_value(i);
            return (v > (double)h->max ? (double)h->max : v) / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}
