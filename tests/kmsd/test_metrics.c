/* metrics: histogram buckets at their bounds, the activation table's cells, HRESULT counters, names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kms.h"
#include "metrics.h"
#include "products.h"

static void histogram_bounds(void **state)
{
    (void)state;
    static struct metrics m;
    assert_int_equal(metrics_init(&m, 1000), 0);
    struct metrics_hist *h = &m.request_latency;
    for (size_t i = 0; i + 1 < METRICS_HIST_BUCKETS; i++) {
        uint64_t b = metrics_hist_bound(i);
        assert_true(i == 0 || b > metrics_hist_bound(i - 1));
        metrics_observe(h, b); /* = bound: this bucket */
        assert_int_equal(metrics_get(&h->bucket[i]), 1);
        metrics_observe(h, b + 1); /* bound + 1: the next */
        assert_int_equal(metrics_get(&h->bucket[i + 1]), 1);
        memset(h, 0, sizeof *h);
    }
    assert_true(metrics_hist_bound(METRICS_HIST_BUCKETS - 1) == UINT64_MAX);
    metrics_observe(h, UINT64_MAX / 2);
    metrics_observe(h, 0);
    assert_int_equal(metrics_get(&h->bucket[METRICS_HIST_BUCKETS - 1]), 1);
    assert_int_equal(metrics_get(&h->bucket[0]), 1);
    assert_int_equal(metrics_get(&h->count), 2);
    assert_true(metrics_get(&h->sum_us) == UINT64_MAX / 2);
    metrics_free(&m);
}

static void activation_cells(void **state)
{
    (void)state;
    static struct metrics m;
    assert_int_equal(metrics_init(&m, 0), 0);
    assert_int_equal(m.n_kms, products_kms_count());
    const struct products_kms *k = products_kms_at(3);
    size_t ki = products_kms_index(k);
    assert_int_equal(ki, 3);
    assert_int_equal(products_kms_index(NULL), products_kms_count());
    metrics_activation(&m, 6, ki, 0);
    metrics_activation(&m, 6, ki, 0);
    metrics_activation(&m, 4, ki, KMS_HR_ID_MISMATCH);
    metrics_activation(&m, 5, m.n_kms, KMS_HR_NOT_ENOUGH_COUNT);
    metrics_activation(&m, 5, m.n_kms + 7, KMS_HR_INVALID_TIMESTAMP); /* out of range: unknown */
    metrics_activation(&m, 3, 0, 0x80070005u);                         /* no version cell, HRESULT counted */
    assert_int_equal(metrics_activation_get(&m, 6, ki, 0), 2);
    assert_int_equal(metrics_activation_get(&m, 6, ki, 1), 0);
    assert_int_equal(metrics_activation_get(&m, 4, ki, 1), 1);
    assert_int_equal(metrics_activation_get(&m, 5, m.n_kms, 1), 2);
    assert_int_equal(metrics_activation_get(&m, 3, 0, 0), 0);
    assert_int_equal(metrics_activation_get(&m, 7, 0, 0), 0);
    assert_int_equal(metrics_get(&m.refusals_hr_id_mismatch), 1);
    assert_int_equal(metrics_get(&m.refusals_hr_not_enough_count), 1);
    assert_int_equal(metrics_get(&m.refusals_hr_timestamp), 1);
    assert_int_equal(metrics_get(&m.refusals_hr_other), 1);
    /* totals over every version and product: 2 answered (v6); 3 refused (v4, and v5 twice); v3 not counted */
    uint64_t answered = 0, refused = 0;
    metrics_activation_totals(&m, &answered, &refused);
    assert_int_equal(answered, 2);
    assert_int_equal(refused, 3);
    metrics_activation_totals(&m, NULL, &refused);
    assert_int_equal(refused, 3);
    metrics_free(&m);
}

static void names(void **state)
{
    (void)state;
    for (int i = 0; i < METRICS_REJECT_COUNT; i++)
        assert_non_null(metrics_reject_name((enum metrics_reject)i));
    for (int i = 0; i < METRICS_CLOSE_COUNT; i++)
        assert_non_null(metrics_close_name((enum metrics_close)i));
    for (int i = 0; i < METRICS_REFUSE_COUNT; i++)
        assert_non_null(metrics_refusal_name((enum metrics_refusal)i));
    assert_string_equal(metrics_close_name(METRICS_CLOSE_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(histogram_bounds),
        cmocka_unit_test(activation_cells),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
