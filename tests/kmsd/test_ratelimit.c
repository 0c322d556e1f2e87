/* Per-address limits: connection cap at the limit and one past it, token bucket, bounded table, eviction. */
#include "testutil.h"

#include <errno.h>
#include <string.h>

#include "ratelimit.h"

static void v4(uint32_t n, uint8_t a[16])
{
    memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    a[12] = (uint8_t)(n >> 24);
    a[13] = (uint8_t)(n >> 16);
    a[14] = (uint8_t)(n >> 8);
    a[15] = (uint8_t)n;
}

static struct ratelimit_cfg cfg_of(uint32_t per_addr, uint32_t rate, uint32_t burst, size_t cap)
{
    struct ratelimit_cfg c = {.max_per_address = per_addr, .rate_per_minute = rate, .burst = burst, .capacity = cap,
                              .log_interval_ms = 60000, .hash_key = {0x0123456789abcdefull, 0xfedcba9876543210ull}};
    return c;
}

static void connections(void **state)
{
    (void)state;
    struct ratelimit rl;
    struct ratelimit_cfg c = cfg_of(3, 0, 1, 1024);
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    uint8_t a[16], b[16];
    v4(0x0a000001, a);
    v4(0x0a000002, b);
    for (int i = 0; i < 3; i++) /* the limit */
        assert_int_equal(ratelimit_connect(&rl, a, 1000), RATELIMIT_OK);
    assert_int_equal(ratelimit_connect(&rl, a, 1000), RATELIMIT_OVER); /* limit + 1 */
    assert_int_equal(ratelimit_conns(&rl, a), 3);
    assert_int_equal(ratelimit_connect(&rl, b, 1000), RATELIMIT_OK); /* another address is not affected */
    ratelimit_disconnect(&rl, a);
    assert_int_equal(ratelimit_connect(&rl, a, 1001), RATELIMIT_OK);
    ratelimit_free(&rl);

    /* IPv6: one /64 is one address */
    c = cfg_of(2, 0, 1, 1024);
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    uint8_t x[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_int_equal(ratelimit_connect(&rl, x, 0), RATELIMIT_OK);
    x[15] = 2;
    x[9] = 0x77;
    assert_int_equal(ratelimit_connect(&rl, x, 0), RATELIMIT_OK);
    x[15] = 3;
    assert_int_equal(ratelimit_connect(&rl, x, 0), RATELIMIT_OVER);
    x[7] = 2; /* the next /64 */
    assert_int_equal(ratelimit_connect(&rl, x, 0), RATELIMIT_OK);
    ratelimit_free(&rl);

    /* no cap */
    c = cfg_of(0, 0, 1, 1024);
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(ratelimit_connect(&rl, a, 0), RATELIMIT_OK);
    ratelimit_free(&rl);
}

static void bucket(void **state)
{
    (void)state;
    struct ratelimit rl;
    struct ratelimit_cfg c = cfg_of(0, 60, 5, 1024); /* 1 a second sustained, 5 at once */
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    uint8_t a[16];
    v4(0xc0a80001, a);
    uint64_t t = 5000;
    for (int i = 0; i < 5; i++) /* the burst */
        assert_true(ratelimit_activation(&rl, a, t));
    assert_false(ratelimit_activation(&rl, a, t)); /* burst + 1 */
    assert_false(ratelimit_activation(&rl, a, t + 999));
    assert_true(ratelimit_activation(&rl, a, t + 1000)); /* one token a second */
    assert_false(ratelimit_activation(&rl, a, t + 1000));
    /* many small steps add up (no token lost to rounding) */
    uint64_t u = t + 1000;
    int got = 0;
    for (int i = 0; i < 1000; i++) {
        u += 7;
        got += ratelimit_activation(&rl, a, u);
    }
    assert_true(got >= 6 && got <= 7); /* 7 s of refill */
    /* a long pause refills to the burst, not beyond */
    u += 3600 * 1000;
    for (int i = 0; i < 5; i++)
        assert_true(ratelimit_activation(&rl, a, u));
    assert_false(ratelimit_activation(&rl, a, u));
    ratelimit_free(&rl);
    /* rate 0: no limit */
    c = cfg_of(0, 0, 1, 1024);
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    for (int i = 0; i < 1000; i++)
        assert_true(ratelimit_activation(&rl, a, 0));
    ratelimit_free(&rl);
}

/* New limits (a reload) apply to the next connection and activation: a full bucket above a lowered burst is cut to
 * it, connections already counted stay counted, no limit becomes a limit and back. */
static void new_limits(void **state)
{
    (void)state;
    struct ratelimit rl;
    struct ratelimit_cfg c = cfg_of(0, 60, 100, 1024);
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    uint8_t a[16], b[16];
    v4(0xc0a80001, a);
    v4(0xc0a80002, b);
    assert_true(ratelimit_activation(&rl, a, 1000)); /* a: a bucket of 99 left */
    assert_int_equal(ratelimit_connect(&rl, b, 1000), RATELIMIT_OK);
    assert_int_equal(ratelimit_connect(&rl, b, 1000), RATELIMIT_OK);
    ratelimit_set_limits(&rl, 2, 60, 2); /* burst 2, two connections an address */
    assert_true(ratelimit_activation(&rl, a, 1000));
    assert_true(ratelimit_activation(&rl, a, 1000));
    assert_false(ratelimit_activation(&rl, a, 1000)); /* 99 cut to 2 */
    assert_int_equal(ratelimit_connect(&rl, b, 1000), RATELIMIT_OVER); /* the two open ones count */
    ratelimit_disconnect(&rl, b);
    assert_int_equal(ratelimit_connect(&rl, b, 1000), RATELIMIT_OK);
    ratelimit_set_limits(&rl, 0, 0, 2); /* no limits */
    for (int i = 0; i < 50; i++)
        assert_true(ratelimit_activation(&rl, a, 1000));
    assert_int_equal(ratelimit_connect(&rl, b, 1000), RATELIMIT_OK);
    ratelimit_free(&rl);
}

/* A flood of distinct addresses never grows the table; idle entries are evicted, connected ones kept. */
static void bounded(void **state)
{
    (void)state;
    struct ratelimit rl;
    struct ratelimit_cfg c = cfg_of(1, 60, 1, 1024);
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    size_t slots = rl.n_sets * RATELIMIT_WAYS;
    assert_true(slots >= 1024 && slots < 2 * 1024 + RATELIMIT_WAYS);
    uint8_t held[16], a[16];
    v4(0x0a0a0a0a, held);
    assert_int_equal(ratelimit_connect(&rl, held, 0), RATELIMIT_OK); /* stays connected */
    for (uint32_t i = 0; i < 200000; i++) {
        v4(0x01000000 + i, a);
        enum ratelimit_result r = ratelimit_connect(&rl, a, 1 + i);
        assert_true(r == RATELIMIT_OK);
        ratelimit_disconnect(&rl, a);
    }
    assert_true(rl.used <= slots);
    assert_true(rl.evictions >= 200000 - slots);
    assert_int_equal(ratelimit_conns(&rl, held), 1); /* never evicted while connected */
    assert_int_equal(ratelimit_connect(&rl, held, 300000), RATELIMIT_OVER);
    ratelimit_free(&rl);

    /* a set full of connected addresses: the next one is untracked, not refused, and nothing is evicted */
    c = cfg_of(1, 0, 1, 16);
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    assert_int_equal(rl.n_sets, 1);
    for (uint32_t i = 0; i < RATELIMIT_WAYS; i++) {
        v4(0x0b000000 + i, a);
        assert_int_equal(ratelimit_connect(&rl, a, i), RATELIMIT_OK);
    }
    v4(0x0c000000, a);
    assert_int_equal(ratelimit_connect(&rl, a, 100), RATELIMIT_UNTRACKED);
    assert_true(ratelimit_activation(&rl, a, 100)); /* untracked activations are not limited */
    v4(0x0b000000, a);
    ratelimit_disconnect(&rl, a);
    v4(0x0c000000, a);
    assert_int_equal(ratelimit_connect(&rl, a, 200), RATELIMIT_OK); /* the freed entry is evicted for it */
    assert_int_equal(rl.evictions, 1);
    ratelimit_free(&rl);

    c = cfg_of(1, 0, 1, 0);
    assert_int_equal(ratelimit_init(&rl, &c), -EINVAL);
}

static void log_limit(void **state)
{
    (void)state;
    struct ratelimit rl;
    struct ratelimit_cfg c = cfg_of(1, 0, 1, 1024);
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    uint8_t a[16], b[16];
    v4(1, a);
    v4(2, b);
    assert_true(ratelimit_should_log(&rl, a, 0)); /* not in the table: the caller's global limit applies */
    assert_int_equal(ratelimit_connect(&rl, a, 10), RATELIMIT_OK);
    assert_true(ratelimit_should_log(&rl, a, 10));
    assert_false(ratelimit_should_log(&rl, a, 20));
    assert_false(ratelimit_should_log(&rl, a, 60009));
    assert_true(ratelimit_should_log(&rl, a, 60010));
    assert_int_equal(ratelimit_connect(&rl, b, 10), RATELIMIT_OK);
    assert_true(ratelimit_should_log(&rl, b, 20)); /* per address */
    ratelimit_free(&rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connections),
        cmocka_unit_test(bucket),
        cmocka_unit_test(new_limits),
        cmocka_unit_test(bounded),
        cmocka_unit_test(log_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
