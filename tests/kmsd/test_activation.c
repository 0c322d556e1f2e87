/* The activation policy and the host identity: counts, ePID choice per CSVLK group, overrides. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "epid.h"
#include "err.h"
#include "products_load.h"
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

static int64_t fixed_now(void *ctx)
{
    return *(const int64_t *)ctx;
}

/* --products, --csvlk, --time-check: refusals with the genuine host's HRESULTs, and their reasons. */
static void policy_refusals(void **state)
{
    (void)state;
    static struct activation_host h;
    make_host(&h, 5);
    int64_t now = NOW;
    struct activation_clock clk = {fixed_now, &now};
    struct activation_cfg cfg = {.client_count = -1, .activation_interval = 120, .renewal_interval = 10080, .host = &h,
                                 .clock = &clk};
    struct kms_request vol, unknown, retail, preview, office;
    struct activation_result res;
    request_for(&vol, "55c92734-d682-4d71-983e-d6ec3f16059f", "58e2134f-8e11-4d17-9cb2-91069c151148", 25);
    request_for(&unknown, "55c92734-d682-4d71-983e-d6ec3f16059f", "11111111-2222-4333-8444-555555555555", 25);
    request_for(&retail, "55c92734-d682-4d71-983e-d6ec3f16059f", "e1c51358-fe3e-4203-a4a2-3b6b20c9734e", 25);
    request_for(&preview, "55c92734-d682-4d71-983e-d6ec3f16059f", "6d5f5270-31ac-433e-b90a-39892923c657", 5);
    request_for(&office, "0ff1ce15-a989-479d-af46-f275c6370663", "85b5f61b-320b-4be3-814a-b76b2bfafc82", 5);
    struct kms_request *all[] = {&vol, &unknown, &retail, &preview, &office};

    /* all (the default): everything is answered */
    for (size_t i = 0; i < 5; i++) {
        activation_decide(&cfg, all[i], &res);
        assert_int_equal(res.hresult, 0);
        assert_int_equal(res.reason, ACTIVATION_REFUSE_NONE);
    }
    /* known: only the unknown id is refused */
    cfg.products = ACTIVATION_PRODUCTS_KNOWN;
    activation_decide(&cfg, &unknown, &res);
    assert_int_equal(res.hresult, KMS_HR_ID_MISMATCH);
    assert_int_equal(res.reason, ACTIVATION_REFUSE_UNKNOWN_PRODUCT);
    activation_decide(&cfg, &retail, &res);
    assert_int_equal(res.hresult, 0);
    /* volume: unknown, retail and preview refused; volume ids answered */
    cfg.products = ACTIVATION_PRODUCTS_VOLUME;
    activation_decide(&cfg, &unknown, &res);
    assert_int_equal(res.reason, ACTIVATION_REFUSE_UNKNOWN_PRODUCT);
    activation_decide(&cfg, &retail, &res);
    assert_int_equal(res.hresult, KMS_HR_ID_MISMATCH);
    assert_int_equal(res.reason, ACTIVATION_REFUSE_NOT_VOLUME);
    activation_decide(&cfg, &preview, &res);
    assert_int_equal(res.reason, ACTIVATION_REFUSE_NOT_VOLUME);
    activation_decide(&cfg, &vol, &res);
    assert_int_equal(res.hresult, 0);
    activation_decide(&cfg, &office, &res);
    assert_int_equal(res.hresult, 0);
    cfg.products = ACTIVATION_PRODUCTS_ALL;

    /* --csvlk win10-2019: Windows 10/11 volume is activated by it, Office 2016 is not, unknown ids never */
    const struct products_csvlk *win = products_find_csvlk("win10-2019");
    assert_non_null(win);
    assert_true(win->has_epid);
    const struct products_csvlk *list[] = {win};
    cfg.csvlks = list;
    cfg.n_csvlks = 1;
    activation_decide(&cfg, &vol, &res);
    assert_int_equal(res.hresult, 0);
    assert_ptr_equal(res.csvlk, win); /* answered with the listed group's ePID */
    activation_decide(&cfg, &office, &res);
    assert_int_equal(res.hresult, KMS_HR_ID_MISMATCH);
    assert_int_equal(res.reason, ACTIVATION_REFUSE_CSVLK);
    activation_decide(&cfg, &unknown, &res);
    assert_int_equal(res.reason, ACTIVATION_REFUSE_CSVLK);
    cfg.n_csvlks = 0;

    /* --time-check: 4 h either way is accepted, 4 h + 1 s is refused with 0xC004F06C */
    cfg.time_check = true;
    int64_t offsets[] = {0, 14400, -14400, 14401, -14401, 86400 * 365};
    uint32_t want[] = {0, 0, 0, KMS_HR_INVALID_TIMESTAMP, KMS_HR_INVALID_TIMESTAMP, KMS_HR_INVALID_TIMESTAMP};
    for (size_t i = 0; i < 6; i++) {
        vol.request_time = timeutil_filetime_from_unix(NOW + offsets[i]);
        activation_decide(&cfg, &vol, &res);
        assert_int_equal(res.hresult, want[i]);
        assert_int_equal(res.reason, want[i] ? ACTIVATION_REFUSE_TIME : ACTIVATION_REFUSE_NONE);
    }
    vol.request_time = 0; /* a zero FILETIME (1601) is far off */
    activation_decide(&cfg, &vol, &res);
    assert_int_equal(res.hresult, KMS_HR_INVALID_TIMESTAMP);
    cfg.time_check = false;
    activation_decide(&cfg, &vol, &res);
    assert_int_equal(res.hresult, 0);
    /* product refusals come before the time check */
    cfg.time_check = true;
    cfg.products = ACTIVATION_PRODUCTS_KNOWN;
    unknown.request_time = 0;
    activation_decide(&cfg, &unknown, &res);
    assert_int_equal(res.hresult, KMS_HR_ID_MISMATCH);
    for (int r = ACTIVATION_REFUSE_NONE; r <= ACTIVATION_REFUSE_OTHER; r++)
        assert_string_not_equal(activation_refusal_name((enum activation_refusal)r), "?");
}

/* A small table: three CSVLKs with ePID data (group, range as given) that all activate one KMS id. */
static const struct products_tables *small_table(const char *c1, const char *c2, const char *c3)
{
    char text[4096];
    snprintf(text, sizeof text,
             "app\twindows\t55c92734-d682-4d71-983e-d6ec3f16059f\t50\ta\t0\tWindows\tWindows\n"
             "kms\t58e2134f-8e11-4d17-9cb2-91069c151148\twindows\t25\t6\t-\tWindows 10\n"
             "sku\t2de67392-b7a7-462a-b1ca-108dd189f588\t58e2134f-8e11-4d17-9cb2-91069c151148\twin10pro\t-\t-\tPro\n"
             "%s\n%s\n%s\n"
             "build\t17763\t3612\t2018-10-02\tndr64,server,epid\tServer 2019\n",
             c1, c2, c3);
    const struct products_tables *t = NULL;
    struct products_load_errors *e = calloc(1, sizeof *e);
    assert_non_null(e);
    if (products_load("small.tsv", text, strlen(text), &t, e) != 0)
        fail_msg("%s", e->n ? e->e[0].text : "?");
    free(e);
    return t;
}

#define CSVLK(key, group, lo, hi)                                                                                      \
    "csvlk\t" key "\t" group "\t" lo "\t" hi "\t2018-10-02\t-\tName " key "\nactivates\t" key                         \
    "\t58e2134f-8e11-4d17-9cb2-91069c151148"

/* activation_host_rebase: the same HWID, LCID and build; an ePID is kept for a CSVLK of the same key whose group and
 * range still fit it, made anew otherwise and for a new key; a key the new table lacks is gone; indexes follow the new
 * table (answers and overrides find them). */
static void rebase(void **state)
{
    (void)state;
    const struct products_tables *a = small_table(CSVLK("a", "206", "1", "999999"), CSVLK("b", "206", "1000", "1999"),
                                                  CSVLK("gone", "96", "5", "6"));
    const struct products_tables *b = small_table(CSVLK("new", "206", "7", "8"), CSVLK("b", "3612", "1000", "1999"),
                                                  CSVLK("a", "206", "1", "999999"));
    products_use(a);
    static struct activation_host h, r, r2;
    uint64_t seed = 7;
    struct kms_rng rng = {tu_det_fill, &seed};
    assert_int_equal(activation_host_generate(&h, &a->builds[0], 1031, NULL, NOW, &rng), 0);
    assert_ptr_equal(h.table, a);
    assert_int_equal(h.n, 3);
    size_t made = 99;
    assert_int_equal(activation_host_rebase(&r, &h, b, NOW, &rng, &made), 0);
    assert_int_equal(made, 2); /* "new", and "b" whose group id changed */
    assert_ptr_equal(r.table, b);
    assert_int_equal(r.n, 3);
    assert_memory_equal(r.hwid, h.hwid, sizeof h.hwid);
    assert_int_equal(r.lcid, 1031);
    assert_ptr_equal(r.build, h.build);
    assert_string_equal(r.epid[2], h.epid[0]); /* "a": kept, at its new index */
    struct epid e;
    assert_int_equal(epid_parse(r.epid[0], &e), 0); /* "new": made for its group and range */
    assert_true(e.group == 206 && e.key_id >= 7 && e.key_id <= 8 && e.lcid == 1031);
    assert_int_equal(epid_parse(r.epid[1], &e), 0); /* "b": made anew for its new group */
    assert_int_equal(e.group, 3612);
    /* an activation answered with the new host names the group of the new table */
    products_use(b);
    struct activation_cfg cfg = {.client_count = -1, .host = &r};
    struct kms_request req;
    memset(&req, 0, sizeof req);
    assert_int_equal(guid_parse(&req.app_id, "55c92734-d682-4d71-983e-d6ec3f16059f"), 0);
    assert_int_equal(guid_parse(&req.kms_id, "58e2134f-8e11-4d17-9cb2-91069c151148"), 0);
    req.required_count = 25;
    struct activation_result res;
    activation_decide(&cfg, &req, &res);
    assert_int_equal(res.hresult, 0);
    assert_ptr_equal(res.csvlk, b->kms[0].epid_csvlk);
    assert_string_equal(res.params.epid, r.epid[res.csvlk - b->csvlks]);
    /* overrides and lookups find a CSVLK of another table by its key */
    assert_int_equal(activation_host_set_epid(&r, &a->csvlks[0], h.epid[0]), 0);
    assert_int_equal(activation_host_set_epid(&r, &a->csvlks[2], "03612-00096-005-000005-03-1033-17763.0000-2772018"),
                     KMS_EINVAL); /* "gone" */
    /* a key range that no longer holds the ePID: made anew */
    const struct products_tables *c = small_table(CSVLK("a", "206", "1000000", "1000001"), CSVLK("x", "1", "1", "2"),
                                                  CSVLK("y", "2", "1", "2"));
    assert_int_equal(activation_host_rebase(&r2, &r, c, NOW, &rng, &made), 0);
    assert_int_equal(made, 3);
    assert_int_equal(epid_parse(r2.epid[0], &e), 0);
    assert_true(e.key_id >= 1000000 && e.key_id <= 1000001);
    products_use(NULL);
    products_load_free(a);
    products_load_free(b);
    products_load_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(host_identity),
        cmocka_unit_test(rebase),
        cmocka_unit_test(set_epid),
        cmocka_unit_test(counts),
        cmocka_unit_test(epid_group_per_kms),
        cmocka_unit_test(genuine_count),
        cmocka_unit_test(policy_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
