/* The activation policy and the host identity: counts, ePID choice per CSVLK group, overrides. */
#include "testutil.h"

#include <string.h>

#include "activation.h"
#include "epid.h"
#include "err.h"
#include "timeutil.h"

static const int64_t NOW = 1795000000; /* 2026-11-18 */

static void make_host(struct activation_host *h, uint64_t seed)
{
    struct kms_rng rng = {tu_det_fill, &seed};
    assert_int_equal(activation_host_generate(h, activation_default_build(), 1033, NULL, NOW, &rng), 0);
}

static void host_identity(void **state)
{
    (void)state;
    static struct activation_host h, h2;
    make_host(&h, 1);
    const struct products_build *b = activation_default_build();
    assert_non_null(b);
    assert_true(b->epid && b->ndr64 && b->build >= 9200);
    size_t with_epid = 0;
    for (size_t i = 0; i < h.n; i++) {
        const struct products_csvlk *c = products_csvlk_at(i);
        if (!c->has_epid) {
            assert_string_equal(h.epid[i], "");
            continue;
        }
        with_epid++;
        struct epid e;
        assert_int_equal(epid_parse(h.epid[i], &e), 0);
        assert_int_equal(epid_validate(&e), 0);
        assert_int_equal(e.group, c->group); /* each ePID belongs to its CSVLK's group ... */
        assert_true(e.key_id >= c->key_min && e.key_id <= c->key_max);
        assert_int_equal(e.build, b->build); /* ... and all share one host build and LCID */
        assert_int_equal(e.platform, b->platform);
        assert_int_equal(e.lcid, 1033);
        int64_t day = (timeutil_days_from_civil((int)e.year, 1, 1) + e.yday - 1) * 86400;
        int64_t not_before = c->released > b->released ? c->released : b->released;
        assert_true(day >= not_before - 86400 && day <= NOW);
    }
    assert_true(with_epid > 10);
    /* another random source gives another identity; the same one the same */
    make_host(&h2, 2);
    assert_memory_not_equal(h.hwid, h2.hwid, 8);
    make_host(&h2, 1);
    assert_memory_equal(&h, &h2, sizeof h);

    uint8_t hw[8] = {0x3A, 0x1C, 0x04, 0x96, 0x00, 0xB6, 0x00, 0x76};
    uint64_t seed = 5;
    struct kms_rng rng = {tu_det_fill, &seed};
    assert_int_equal(activation_host_generate(&h2, b, 1031, hw, NOW, &rng), 0);
    assert_memory_equal(h2.hwid, hw, 8);
    assert_int_equal(activation_host_generate(&h2, b, 0, NULL, NOW, &rng), KMS_EINVAL);
    assert_int_equal(activation_host_generate(&h2, NULL, 1033, NULL, NOW, &rng), KMS_EINVAL);
}

static void set_epid(void **state)
{
    (void)state;
    static struct activation_host h;
    make_host(&h, 3);
    const struct products_csvlk *c = products_find_csvlk("win2025");
    assert_non_null(c);
    char text[64];
    snprintf(text, sizeof text, "03612-%05u-%03u-%06u-03-1033-26100.0000-0012025", (unsigned)c->group,
             (unsigned)(c->key_min / 1000000), (unsigned)(c->key_min % 1000000));
    assert_int_equal(activation_host_set_epid(&h, c, text), 0);
    /* another group's id, and garbage, are refused */
    char other[64];
    snprintf(other, sizeof other, "03612-%05u-551-234567-03-1033-26100.0000-0012025", (unsigned)(c->group + 1));
    assert_int_equal(activation_host_set_epid(&h, c, other), KMS_EINVAL);
    assert_int_equal(activation_host_set_epid(&h, c, "not an epid"), KMS_EINVAL);
}

static void request_for(struct kms_request *r, const char *app, const char *kms, uint32_t n)
{
    memset(r, 0, sizeof *r);
    r->version_major = 6;
    assert_int_equal(guid_parse(&r->app_id, app), 0);
    assert_int_equal(guid_parse(&r->kms_id, kms), 0);
    r->required_count = n;
}

static void counts(void **state)
{
    (void)state;
    static struct activation_host h;
    make_host(&h, 4);
    struct activation_cfg cfg = {.client_count = -1, .activation_interval = 120, .renewal_interval = 10080, .host = &h};
    struct kms_request r;
    struct activation_result res;
    request_for(&r, "55c92734-d682-4d71-983e-d6ec3f16059f", "58e2134f-8e11-4d17-9cb2-91069c151148", 25);
    activation_decide(&cfg, &r, &res);
    assert_int_equal(res.hresult, 0);
    assert_int_equal(res.params.current_count, 50);
    assert_int_equal(res.params.activation_interval, 120);
    assert_int_equal(res.params.renewal_interval, 10080);
    assert_memory_equal(res.params.hwid, h.hwid, 8);
    r.required_count = 5;
    activation_decide(&cfg, &r, &res);
    assert_int_equal(res.params.current_count, 10);
    r.required_count = 0; /* a client asking for nothing still gets a count of at least 1 */
    activation_decide(&cfg, &r, &res);
    assert_int_equal(res.params.current_count, 1);
    r.required_count = UINT32_MAX; /* 2N does not overflow */
    activation_decide(&cfg, &r, &res);
    assert_int_equal(res.params.current_count, UINT32_MAX);

    /* --client-count: used as given at or above N, raised to N below it unless allowed */
    r.required_count = 25;
    cfg.client_count = 30;
    activation_decide(&cfg, &r, &res);
    assert_int_equal(res.params.current_count, 30);
    cfg.client_count = 24;
    activation_decide(&cfg, &r, &res);
    assert_int_equal(res.params.current_count, 25);
    cfg.client_count = 25;
    activation_decide(&cfg, &r, &res);
    assert_int_equal(res.params.current_count, 25);
    cfg.allow_low_count = true;
    cfg.client_count = 3;
    activation_decide(&cfg, &r, &res);
    assert_int_equal(res.params.current_count, 3);
}

/* For every KMS id of the table, the ePID comes from a CSVLK group that really activates it. */
static void epid_group_per_kms(void **state)
{
    (void)state;
    static struct activation_host h;
    make_host(&h, 6);
    struct activation_cfg cfg = {.client_count = -1, .host = &h};
    size_t checked = 0;
    for (size_t i = 0; i < products_kms_count(); i++) {
        const struct products_kms *k = products_kms_at(i);
        struct kms_request r;
        memset(&r, 0, sizeof r);
        r.app_id = k->app->id;
        r.kms_id = k->id;
        r.required_count = k->n_policy;
        struct activation_result res;
        activation_decide(&cfg, &r, &res);
        assert_int_equal(res.hresult, 0);
        assert_ptr_equal(res.kms, k);
        struct epid e;
        assert_int_equal(epid_parse(res.params.epid, &e), 0);
        assert_int_equal(e.group, res.csvlk->group);
        bool any = false; /* does a CSVLK with ePID data activate it? */
        for (size_t c = 0; c < k->csvlk_count; c++)
            any |= k->csvlks[c]->has_epid;
        if (any) {
            assert_true(products_csvlk_activates(res.csvlk, &k->id));
            checked++;
        } else {
            assert_ptr_equal(res.csvlk, k->app->default_csvlk);
        }
    }
    assert_true(checked > 20);

    /* unknown KMS id: the application's default; unknown application too: Windows' */
    struct kms_request r;
    struct activation_result res;
    request_for(&r, "0ff1ce15-a989-479d-af46-f275c6370663", "11111111-2222-4333-8444-555555555555", 5);
    activation_decide(&cfg, &r, &res);
    assert_null(res.kms);
    assert_ptr_equal(res.csvlk, products_app_by_id(&r.app_id)->default_csvlk);
    request_for(&r, "22222222-2222-4333-8444-555555555555", "11111111-2222-4333-8444-555555555555", 25);
    activation_decide(&cfg, &r, &res);
    assert_int_equal(res.hresult, 0);
    assert_ptr_equal(res.csvlk, products_app_at(0)->default_csvlk);
}

static void genuine_count(void **state)
{
    (void)state;
    struct kms_request r;
    request_for(&r, "55c92734-d682-4d71-983e-d6ec3f16059f", "58e2134f-8e11-4d17-9cb2-91069c151148", 25);
    assert_int_equal(activation_genuine_count(&r, 0, 0), 0);
    assert_int_equal(activation_genuine_count(&r, 24, 0), 24);
    assert_int_equal(activation_genuine_count(&r, 49, 0), 49);
    assert_int_equal(activation_genuine_count(&r, 50, 0), 50); /* the cap: 2 x 25 */
    assert_int_equal(activation_genuine_count(&r, 51, 0), 50);
    assert_int_equal(activation_genuine_count(&r, 3, 25), 25); /* the floor */
    request_for(&r, "0ff1ce15-a989-479d-af46-f275c6370663", "85b5f61b-320b-4be3-814a-b76b2bfafc82", 5);
    assert_int_equal(activation_genuine_count(&r, 9, 0), 9);
    assert_int_equal(activation_genuine_count(&r, 11, 0), 10); /* Office: 2 x 5 */
    request_for(&r, "22222222-2222-4333-8444-555555555555", "11111111-2222-4333-8444-555555555555", 7);
    assert_int_equal(activation_genuine_count(&r, 100, 0), 14); /* unknown application: 2 x its own N */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(host_identity),
        cmocka_unit_test(set_epid),
        cmocka_unit_test(counts),
        cmocka_unit_test(epid_group_per_kms),
        cmocka_unit_test(genuine_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
