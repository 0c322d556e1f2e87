/* FILETIME and calendar arithmetic. */
#include "testutil.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "timeutil.h"

static void filetime(void **state)
{
    (void)state;
    /* kat/exchanges.json: 2024-06-01T12:00:00Z is FILETIME 133617168000000000 */
    assert_true(timeutil_filetime_from_unix(1717243200) == 133617168000000000ull);
    assert_int_equal(timeutil_unix_from_filetime(133617168000000000ull), 1717243200);
    assert_true(timeutil_filetime_from_unix(0) == 116444736000000000ull);
    assert_true(timeutil_filetime_from_unix(-TIMEUTIL_FILETIME_UNIX_EPOCH_S - 1) == 0);
    assert_int_equal(timeutil_unix_from_filetime(0), -TIMEUTIL_FILETIME_UNIX_EPOCH_S);
}

/* Compares the civil conversion with the C library's gmtime_r over 1601..2400, day by day. */
static void civil_matches_gmtime(void **state)
{
    (void)state;
    int64_t start = timeutil_days_from_civil(1601, 1, 1), end = timeutil_days_from_civil(2400, 12, 31);
    assert_int_equal(timeutil_days_from_civil(1970, 1, 1), 0);
    for (int64_t d = start; d <= end; d++) {
        time_t t = (time_t)(d * 86400 + 43200);
        struct tm tm;
        assert_non_null(gmtime_r(&t, &tm));
        int y, m, dd, yy, yday;
        timeutil_civil_from_unix(d * 86400 + 43200, &y, &m, &dd);
        timeutil_yday_from_unix(d * 86400, &yy, &yday);
        if (y != tm.tm_year + 1900 || m != tm.tm_mon + 1 || dd != tm.tm_mday || yday != tm.tm_yday + 1 || yy != y)
            fail_msg("day %lld: got %d-%d-%d yday %d", (long long)d, y, m, dd, yday);
        assert_int_equal(timeutil_days_from_civil(y, m, dd), d);
    }
}

/* timeutil_format_utc gives what gmtime_r and strftime give, every day of 1000..9999 at a drawn second (the C
 * library writes years before 1000 with fewer digits, RFC 3339 with four); nothing outside 0000..9999. */
static void format_utc(void **state)
{
    (void)state;
    static const enum timeutil_utc_form form[] = {TIMEUTIL_UTC_DAY, TIMEUTIL_UTC_MINUTE, TIMEUTIL_UTC_SECOND,
                                                  TIMEUTIL_UTC_ISO, TIMEUTIL_UTC_TEXT};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int64_t start = timeutil_days_from_civil(1000, 1, 1), end = timeutil_days_from_civil(9999, 12, 31);
    for (int64_t d = start; d <= end; d++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int64_t t = d * 86400 + (int64_t)((x >> 33) % 86400);
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(gmtime_r(&tt, &tm));
        for (size_t f = 0; f < sizeof form / sizeof form[0]; f++) {
            char want[64], got[TIMEUTIL_UTC_TEXT_MAX];
            size_t n = f == 0   ? strftime(want, sizeof want, "%Y-%m-%d", &tm)
                       : f == 1 ? strftime(want, sizeof want, "%Y-%m-%d %H:%M", &tm)
                       : f == 2 ? strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm)
                       : f == 3 ? strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm)
                                : strftime(want, sizeof want, "%Y-%m-%d %H:%M:%S", &tm);
            assert_true(n > 0);
            assert_int_equal(timeutil_format_utc(t, form[f], got), n);
            if (strcmp(got, want) != 0)
                fail_msg("%lld: got \"%s\", want \"%s\"", (long long)t, got, want);
        }
    }
    char out[TIMEUTIL_UTC_TEXT_MAX];
    assert_int_equal(timeutil_format_utc(0, TIMEUTIL_UTC_ISO, out), 20);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    assert_int_equal(timeutil_format_utc(-1, TIMEUTIL_UTC_SECOND, out), 19);
    assert_string_equal(out, "1969-12-31T23:59:59");
    assert_int_equal(timeutil_format_utc(TIMEUTIL_UTC_MIN, TIMEUTIL_UTC_ISO, out), 20);
    assert_string_equal(out, "0000-01-01T00:00:00Z");
    assert_int_equal(timeutil_format_utc(TIMEUTIL_UTC_MAX, TIMEUTIL_UTC_MINUTE, out), 16);
    assert_string_equal(out, "9999-12-31 23:59");
    assert_int_equal(timeutil_format_utc(timeutil_days_from_civil(999, 2, 3) * 86400, TIMEUTIL_UTC_DAY, out), 10);
    assert_string_equal(out, "0999-02-03");
    static const int64_t outside[] = {TIMEUTIL_UTC_MIN - 1, TIMEUTIL_UTC_MAX + 1, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        memcpy(out, "x", 2);
        assert_int_equal(timeutil_format_utc(outside[i], TIMEUTIL_UTC_ISO, out), 0);
        assert_string_equal(out, "");
    }
}

static void parse_date(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(timeutil_parse_date("2018-10-02", &t), 0);
    assert_int_equal(t, 1538438400);
    assert_int_equal(timeutil_parse_date("2024-02-29", &t), 0);
    static const char *const bad[] = {"2023-02-29", "2024-13-01", "2024-00-10", "2024-01-32", "2024-1-01",
                                      "24-01-01",   "2024/01/01", "2024-01-01x", "", "2024-01-0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(timeutil_parse_date(bad[i], &t), KMS_EINVAL);
    assert_true(timeutil_is_leap(2000));
    assert_false(timeutil_is_leap(1900));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(filetime),
        cmocka_unit_test(civil_matches_gmtime),
        cmocka_unit_test(format_utc),
        cmocka_unit_test(parse_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
