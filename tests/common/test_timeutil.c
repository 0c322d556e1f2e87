/* FILETIME and calendar arithmetic. */
#include "testutil.h"

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
        cmocka_unit_test(parse_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
