/* srv_order: RFC 2782 order of an SRV RRset — priorities, weighted selection (statistics over a fixed-seed
 * deterministic source, so every run draws the same numbers and the bounds below are fixed facts, chosen at
 * more than 4 standard deviations so that a change of seed would not break them either), weight 0, ties, the
 * SRV_ORDER_MAX limit and a failing random source. */
#include "testutil.h"

#include <stdbool.h>
#include <string.h>

#include "err.h"
#include "rng.h"
#include "srv_order.h"

#define TRIALS 10000

static struct srv_record rec(uint16_t priority, uint16_t weight)
{
    struct srv_record r;
    memset(&r, 0, sizeof r);
    r.priority = priority;
    r.weight = weight;
    r.port = 1688;
    return r;
}

/* order is a permutation of 0..n-1 */
static void assert_permutation(const size_t *order, size_t n)
{
    bool seen[SRV_ORDER_MAX + 1] = {false};
    for (size_t i = 0; i < n; i++) {
        assert_true(order[i] < n);
        assert_false(seen[order[i]]);
        seen[order[i]] = true;
    }
}

/* How often each record came first over TRIALS orders of rr from one fixed seed. */
static void first_counts(const struct srv_record *rr, size_t n, unsigned *count)
{
    uint64_t seed = 2782;
    struct kms_rng rng = {tu_det_fill, &seed};
    memset(count, 0, n * sizeof *count);
    for (int t = 0; t < TRIALS; t++) {
        size_t order[SRV_ORDER_MAX];
        assert_int_equal(srv_order(rr, n, &rng, order), 0);
        assert_permutation(order, n);
        count[order[0]]++;
    }
}

static void priorities(void **state)
{
    (void)state;
    /* answer order 20, 10, 30, 10, 20: both 10s, then both 20s, then 30, whatever the draws */
    struct srv_record rr[] = {rec(20, 5), rec(10, 1), rec(30, 0), rec(10, 7), rec(20, 0)};
    uint64_t seed = 1;
    struct kms_rng rng = {tu_det_fill, &seed};
    bool ten_first[2] = {false, false};
    for (int t = 0; t < 200; t++) {
        size_t o[5];
        assert_int_equal(srv_order(rr, 5, &rng, o), 0);
        assert_permutation(o, 5);
        assert_true((o[0] == 1 && o[1] == 3) || (o[0] == 3 && o[1] == 1));
        assert_true((o[2] == 0 && o[3] == 4) || (o[2] == 4 && o[3] == 0));
        assert_int_equal(o[4], 2);
        ten_first[o[0] == 3] = true;
    }
    assert_true(ten_first[0] && ten_first[1]); /* both of priority 10 came first sometimes */
    /* a lower priority wins over any weight; priority 0 and 65535 are the ends */
    struct srv_record ends[] = {rec(65535, 65535), rec(0, 0)};
    size_t o[2];
    assert_int_equal(srv_order(ends, 2, &rng, o), 0);
    assert_int_equal(o[0], 1);
    assert_int_equal(o[1], 0);
}

static void weights_3_to_1(void **state)
{
    (void)state;
    unsigned c[2];
    /* 3:1 gives 75 % to the heavier record, in either order of the answer (sigma 0.43 %) */
    struct srv_record a[] = {rec(10, 3), rec(10, 1)};
    first_counts(a, 2, c);
    assert_in_range(c[0], TRIALS * 73 / 100, TRIALS * 77 / 100);
    struct srv_record b[] = {rec(10, 1), rec(10, 3)};
    first_counts(b, 2, c);
    assert_in_range(c[1], TRIALS * 73 / 100, TRIALS * 77 / 100);
    /* 1:1:2 -> 25 %, 25 %, 50 % */
    struct srv_record t[] = {rec(0, 1), rec(0, 1), rec(0, 2)};
    unsigned c3[3];
    first_counts(t, 3, c3);
    assert_in_range(c3[0], TRIALS * 23 / 100, TRIALS * 27 / 100);
    assert_in_range(c3[1], TRIALS * 23 / 100, TRIALS * 27 / 100);
    assert_in_range(c3[2], TRIALS * 48 / 100, TRIALS * 52 / 100);
}

static void weight_zero(void **state)
{
    (void)state;
    unsigned c[3];
    /* beside a record of weight 9, the weight-0 ones together come first 1 time in 10 (the draw 0 of 0..9),
     * each of them as often as the other */
    struct srv_record rr[] = {rec(5, 0), rec(5, 9), rec(5, 0)};
    first_counts(rr, 3, c);
    assert_in_range(c[1], TRIALS * 88 / 100, TRIALS * 92 / 100);
    assert_in_range(c[0], TRIALS * 35 / 1000, TRIALS * 65 / 1000);
    assert_in_range(c[2], TRIALS * 35 / 1000, TRIALS * 65 / 1000);
    /* all of weight 0: an even share each (the shuffle), not always the first of the answer */
    struct srv_record z[] = {rec(1, 0), rec(1, 0), rec(1, 0)};
    first_counts(z, 3, c);
    for (int i = 0; i < 3; i++)
        assert_in_range(c[i], TRIALS * 30 / 100, TRIALS * 37 / 100);
}

static void ties(void **state)
{
    (void)state;
    unsigned c[4];
    /* equal priority and weight: an even share; the same seed gives the same order */
    struct srv_record rr[] = {rec(7, 50), rec(7, 50), rec(7, 50), rec(7, 50)};
    first_counts(rr, 4, c);
    for (int i = 0; i < 4; i++)
        assert_in_range(c[i], TRIALS * 22 / 100, TRIALS * 28 / 100);
    uint64_t s1 = 99, s2 = 99;
    struct kms_rng r1 = {tu_det_fill, &s1}, r2 = {tu_det_fill, &s2};
    size_t o1[4], o2[4];
    assert_int_equal(srv_order(rr, 4, &r1, o1), 0);
    assert_int_equal(srv_order(rr, 4, &r2, o2), 0);
    assert_memory_equal(o1, o2, sizeof o1);
    /* one record: itself; none: nothing */
    assert_int_equal(srv_order(rr, 1, &r1, o1), 0);
    assert_int_equal(o1[0], 0);
    assert_int_equal(srv_order(rr, 0, &r1, o1), 0);
}

static int fill_fails(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return KMS_ECRYPTO;
}

static void limits(void **state)
{
    (void)state;
    static struct srv_record rr[SRV_ORDER_MAX + 1];
    for (size_t i = 0; i <= SRV_ORDER_MAX; i++)
        rr[i] = rec((uint16_t)(i % 3), 65535); /* the largest weights: sums far from overflowing */
    uint64_t seed = 5;
    struct kms_rng rng = {tu_det_fill, &seed};
    size_t o[SRV_ORDER_MAX + 1];
    assert_int_equal(srv_order(rr, SRV_ORDER_MAX - 1, &rng, o), 0);
    assert_permutation(o, SRV_ORDER_MAX - 1);
    assert_int_equal(srv_order(rr, SRV_ORDER_MAX, &rng, o), 0);
    assert_permutation(o, SRV_ORDER_MAX);
    for (size_t i = 1; i < SRV_ORDER_MAX; i++)
        assert_true(rr[o[i - 1]].priority <= rr[o[i]].priority);
    o[0] = 12345;
    assert_int_equal(srv_order(rr, SRV_ORDER_MAX + 1, &rng, o), KMS_EINVAL);
    assert_int_equal(o[0], 12345);
    /* the random source's error comes back; a priority of one record draws nothing */
    struct kms_rng bad = {fill_fails, NULL};
    assert_int_equal(srv_order(rr, 2, &bad, o), 0); /* priorities 0 and 1, one record each */
    rr[1].priority = 0;
    assert_int_equal(srv_order(rr, 2, &bad, o), KMS_ECRYPTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(priorities),
        cmocka_unit_test(weights_3_to_1),
        cmocka_unit_test(weight_zero),
        cmocka_unit_test(ties),
        cmocka_unit_test(limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
