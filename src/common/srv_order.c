#include "srv_order.h"

#include "err.h"

/* Shuffles idx[0..n) uniformly (Fisher-Yates). 0 or the random source's error. */
static int shuffle(size_t *idx, size_t n, const struct kms_rng *rng)
{
    for (size_t i = n; i > 1; i--) {
        uint64_t j;
        int rc = rng_uniform(rng, 0, i - 1, &j);
        if (rc < 0)
            return rc;
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
    return 0;
}

/* Orders one priority's records idx[0..n) (in answer order) into out[0..n) by weighted selection. */
static int order_priority(const struct srv_record *rr, const size_t *idx, size_t n, const struct kms_rng *rng,
                          size_t *out)
{
    size_t list[SRV_ORDER_MAX];
    size_t zeros = 0, len = 0;
    for (size_t i = 0; i < n; i++) /* weight 0 first, the RFC's arrangement */
        if (rr[idx[i]].weight == 0)
            list[len++] = idx[i];
    zeros = len;
    for (size_t i = 0; i < n; i++)
        if (rr[idx[i]].weight != 0)
            list[len++] = idx[i];
    int rc = shuffle(list, zeros, rng);
    if (rc < 0)
        return rc;

    for (size_t k = 0; k < n; k++) {
        size_t left = n - k, pick = 0;
        uint64_t sum = 0;
        for (size_t i = 0; i < left; i++)
            sum += rr[list[i]].weight;
        if (left > 1 && sum > 0) {
            uint64_t r;
            rc = rng_uniform(rng, zeros > 0 ? 0 : 1, sum, &r);
            if (rc < 0)
                return rc;
            uint64_t run = 0;
            for (pick = 0; pick < left; pick++) {
                run += rr[list[pick]].weight;
                if (run >= r)
                    break;
            }
        } /* else: one left, or weight 0 all (already shuffled): the first */
        out[k] = list[pick];
        if (rr[list[pick]].weight == 0)
            zeros--;
        for (size_t i = pick; i + 1 < left; i++)
            list[i] = list[i + 1];
    }
    return 0;
}

int srv_order(const struct srv_record *rr, size_t n, const struct kms_rng *rng, size_t *order)
{
    if (n > SRV_ORDER_MAX)
        return KMS_EINVAL;
    size_t idx[SRV_ORDER_MAX];
    for (size_t i = 0; i < n; i++) { /* stable insertion sort by priority: answer order within a priority */
        size_t j = i;
        while (j > 0 && rr[idx[j - 1]].priority > rr[i].priority) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    for (size_t start = 0; start < n;) {
        size_t end = start + 1;
        while (end < n && rr[idx[end]].priority == rr[idx[start]].priority)
            end++;
        int rc = order_priority(rr, idx + start, end - start, rng, order + start);
        if (rc < 0)
            return rc;
        start = end;
    }
    return 0;
}
