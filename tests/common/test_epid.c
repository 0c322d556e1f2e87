/* ePID text form, validation and generation with injected time and randomness. */
#include "testutil.h"

#include <string.h>

#include "epid.h"
#include "err.h"
#include "rng.h"
#include "timeutil.h"

static int failing_fill(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return KMS_ECRYPTO;
}

/* A source that returns all-ones bytes: every draw is rejected for spans that do not divide 2^64. */
static int ones_fill(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0xff, len);
    return 0;
}

static void parse_format_roundtrip(void **state)
{
    (void)state;
    /* ePIDs seen in kat/exchanges.json and in the recorded sessions */
    static const char *const good[] = {
        "03612-00206-551-234567-03-1033-17763.0000-1522024",
        "06401-00206-570-926760-03-1106-9600.0000-2382021",
        "55041-00096-199-799188-03-1033-7601.0000-0012010",
        "03612-03858-053-089516-03-1033-17763.0000-2972018",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct epid e;
        assert_int_equal(epid_parse(good[i], &e), 0);
        assert_int_equal(epid_validate(&e), 0);
        char out[EPID_MAX_LEN + 1];
        assert_int_equal(epid_format(&e, out, sizeof out), (int)strlen(good[i]));
        assert_string_equal(out, good[i]);
    }
    struct epid e;
    assert_int_equal(epid_parse(good[0], &e), 0);
    assert_int_equal(e.platform, 3612);
    assert_int_equal(e.group, 206);
    assert_int_equal(e.key_id, 551234567);
    assert_int_equal(e.channel, 3);
    assert_int_equal(e.lcid, 1033);
    assert_int_equal(e.build, 17763);
    assert_int_equal(e.yday, 152);
    assert_int_equal(e.year, 2024);
}

static void parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "3612-00206-551-234567-03-1033-17763.0000-1522024",    /* 4-digit platform */
        "03612-0206-551-234567-03-1033-17763.0000-1522024",    /* 4-digit group */
        "03612-00206-55-234567-03-1033-17763.0000-1522024",    /* short key id */
        "03612-00206-551-23456-03-1033-17763.0000-1522024",    /* short key id */
        "03612-00206-551-234567-3-1033-17763.0000-1522024",    /* 1-digit channel */
        "03612-00206-551-234567-03-01033-17763.0000-1522024",  /* padded LCID */
        "03612-00206-551-234567-03-1033-177630.0000-1522024",  /* 6-digit build */
        "03612-00206-551-234567-03-1033-776.0000-1522024",     /* 3-digit build */
        "03612-00206-551-234567-03-1033-17763.0001-1522024",   /* wrong literal */
        "03612-00206-551-234567-03-1033-17763.0000-152202",    /* short date */
        "03612-00206-551-234567-03-1033-17763.0000-15220244",  /* long date */
        "03612-00206-551-234567-03-1033-17763.0000-1522024 ",  /* trailing */
        "03612_00206-551-234567-03-1033-17763.0000-1522024",
        "03612-00206-551-234567-03--17763.0000-1522024",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct epid e;
        if (epid_parse(bad[i], &e) != KMS_EINVAL)
            fail_msg("accepted: '%s'", bad[i]);
    }
    struct epid e;
    assert_int_equal(epid_parse(NULL, &e), KMS_EINVAL);
}

static void validate_ranges(void **state)
{
    (void)state;
    struct epid e;
    assert_int_equal(epid_parse("03612-00206-551-234567-03-1033-17763.0000-3662024", &e), 0);
    assert_int_equal(epid_validate(&e), 0); /* 2024 is a leap year: day 366 exists */
    assert_int_equal(epid_parse("03612-00206-551-234567-03-1033-17763.0000-3662023", &e), 0);
    assert_int_equal(epid_validate(&e), KMS_ERANGE);
    char out[64];
    assert_int_equal(epid_format(&e, out, sizeof out), KMS_ERANGE);
    assert_int_equal(epid_parse("03612-00206-551-234567-04-1033-17763.0000-1522024", &e), 0);
    assert_int_equal(epid_validate(&e), KMS_ERANGE); /* channel must be 03 */
    assert_int_equal(epid_parse("03612-00206-551-234567-03-99999-17763.0000-1522024", &e), 0);
    assert_int_equal(epid_validate(&e), KMS_ERANGE); /* LCID above 65535 */
    assert_int_equal(epid_parse("03612-00206-551-234567-03-1033-17763.0000-0002024", &e), 0);
    assert_int_equal(epid_validate(&e), KMS_ERANGE); /* day 0 */
    assert_int_equal(epid_parse("03612-00206-551-234567-03-1033-17763.0000-1522024", &e), 0);
    assert_int_equal(epid_format(&e, out, 49), KMS_ENOSPC); /* 49 characters need 50 bytes */
    assert_int_equal(epid_format(&e, out, 50), 49);
}

static void generate(void **state)
{
    (void)state;
    uint64_t seed = 42;
    struct kms_rng rng = {tu_det_fill, &seed};
    int64_t rel;
    assert_int_equal(timeutil_parse_date("2018-10-02", &rel), 0);
    int64_t now = 1764000000; /* 2025-11-24 */
    struct epid_params p = {
        .group = 206, .key_min = 551000000, .key_max = 570999999, .platform = 3612, .build = 17763,
        .lcid = 1033, .not_before = rel, .now = now,
    };
    int64_t first_day = rel / 86400, last_day = now / 86400;
    int hit_min_year = 0, hit_max_year = 0;
    for (int i = 0; i < 2000; i++) {
        struct epid e;
        assert_int_equal(epid_generate(&p, &rng, &e), 0);
        assert_int_equal(epid_validate(&e), 0);
        assert_true(e.key_id >= p.key_min && e.key_id <= p.key_max);
        assert_int_equal(e.group, 206);
        assert_int_equal(e.platform, 3612);
        assert_int_equal(e.build, 17763);
        assert_int_equal(e.lcid, 1033);
        int64_t day = timeutil_days_from_civil((int)e.year, 1, 1) + e.yday - 1;
        assert_true(day >= first_day && day <= last_day);
        hit_min_year |= e.year == 2018;
        hit_max_year |= e.year == 2025;
        char out[EPID_MAX_LEN + 1];
        assert_true(epid_format(&e, out, sizeof out) > 0);
        struct epid back;
        assert_int_equal(epid_parse(out, &back), 0);
        assert_memory_equal(&back, &e, sizeof e);
    }
    assert_true(hit_min_year && hit_max_year); /* the date spreads over the whole range */

    /* a clock before the release date pins the date to the release day */
    p.now = rel - 86400 * 30;
    struct epid e;
    assert_int_equal(epid_generate(&p, &rng, &e), 0);
    assert_int_equal(e.year, 2018);
    assert_int_equal(e.yday, 275);

    /* a single-value key range */
    p.key_min = p.key_max = 123456789;
    assert_int_equal(epid_generate(&p, &rng, &e), 0);
    assert_int_equal(e.key_id, 123456789);

    p.key_min = 2;
    p.key_max = 1;
    assert_int_equal(epid_generate(&p, &rng, &e), KMS_EINVAL);
    p.key_min = 1;
    p.key_max = 1000000000;
    assert_int_equal(epid_generate(&p, &rng, &e), KMS_EINVAL);

    struct kms_rng bad = {failing_fill, NULL};
    p.key_max = 5;
    assert_int_equal(epid_generate(&p, &bad, &e), KMS_ECRYPTO);
    p.lcid = 0; /* invalid LCID is refused */
    assert_int_equal(epid_generate(&p, &rng, &e), KMS_EINVAL);
}

static void uniform(void **state)
{
    (void)state;
    uint64_t seed = 7;
    struct kms_rng rng = {tu_det_fill, &seed};
    unsigned counts[6] = {0};
    for (int i = 0; i < 60000; i++) {
        uint64_t v;
        assert_int_equal(rng_uniform(&rng, 10, 15, &v), 0);
        assert_true(v >= 10 && v <= 15);
        counts[v - 10]++;
    }
    for (int i = 0; i < 6; i++)
        assert_true(counts[i] > 9000 && counts[i] < 11000);
    uint64_t v;
    assert_int_equal(rng_uniform(&rng, 0, UINT64_MAX, &v), 0);
    assert_int_equal(rng_uniform(&rng, 5, 4, &v), KMS_EINVAL);
    struct kms_rng ones = {ones_fill, NULL};
    assert_int_equal(rng_uniform(&ones, 0, 2, &v), KMS_ECRYPTO); /* draws exhausted, no endless loop */
    assert_int_equal(rng_uniform(&ones, 0, 3, &v), 0);           /* 4 divides 2^64: nothing rejected */
    assert_int_equal(v, 3);
}

/* rng_mix64: the values of splitmix64's finaliser (computed apart, in Python), which registries' keys depend on */
static void mix64(void **state)
{
    (void)state;
    assert_true(rng_mix64(0) == 0);
    assert_true(rng_mix64(1) == UINT64_C(0x5692161d100b05e5));
    assert_true(rng_mix64(UINT64_C(0x0123456789abcdef)) == UINT64_C(0xb2c058e4ebb5112c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_format_roundtrip), cmocka_unit_test(parse_rejects),
        cmocka_unit_test(validate_ranges),        cmocka_unit_test(generate),
        cmocka_unit_test(uniform),                cmocka_unit_test(mix64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
