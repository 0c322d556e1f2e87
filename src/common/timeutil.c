#include "timeutil.h"

#include "err.h"

uint64_t timeutil_filetime_from_unix(int64_t unix_s)
{
    if (unix_s < -TIMEUTIL_FILETIME_UNIX_EPOCH_S)
        return 0;
    return (uint64_t)(unix_s + TIMEUTIL_FILETIME_UNIX_EPOCH_S) * 10000000u;
}

int64_t timeutil_unix_from_filetime(uint64_t ft)
{
    return (int64_t)(ft / 10000000u) - TIMEUTIL_FILETIME_UNIX_EPOCH_S;
}

int timeutil_is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Howard Hinnant's days_from_civil algorithm (public domain arithmetic on 400-year eras). */
int64_t timeutil_days_from_civil(int year, int month, int day)
{
    int64_t y = (int64_t)year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void timeutil_civil_from_unix(int64_t unix_s, int *year, int *month, int *day)
{
    int64_t z = floor_div(unix_s, SECONDS_PER_DAY) + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(yoe + era * 400 + (m <= 2));
    *month = (int)m;
    *day = (int)d;
}

/* Writes v as n decimal digits (zeros in front) at p. */
static char *digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

size_t timeutil_format_utc(int64_t unix_s, enum timeutil_utc_form form, char out[TIMEUTIL_UTC_TEXT_MAX])
{
    out[0] = '\0';
    if (unix_s < TIMEUTIL_UTC_MIN || unix_s > TIMEUTIL_UTC_MAX)
        return 0;
    int y, m, d;
    timeutil_civil_from_unix(unix_s, &y, &m, &d);
    int64_t secs = unix_s - floor_div(unix_s, SECONDS_PER_DAY) * SECONDS_PER_DAY; /* 0..86399 */
    char *p = digits(out, (unsigned)y, 4);
    *p++ = '-';
    p = digits(p, (unsigned)m, 2);
    *p++ = '-';
    p = digits(p, (unsigned)d, 2);
    if (form != TIMEUTIL_UTC_DAY) {
        *p++ = form == TIMEUTIL_UTC_MINUTE || form == TIMEUTIL_UTC_TEXT ? ' ' : 'T';
        p = digits(p, (unsigned)(secs / 3600), 2);
        *p++ = ':';
        p = digits(p, (unsigned)(secs / 60 % 60), 2);
        if (form != TIMEUTIL_UTC_MINUTE) {
            *p++ = ':';
            p = digits(p, (unsigned)(secs % 60), 2);
        }
        if (form == TIMEUTIL_UTC_ISO)
            *p++ = 'Z';
    }
    *p = '\0';
    return (size_t)(p - out);
}

void timeutil_yday_from_unix(int64_t unix_s, int *year, int *yday)
{
    int y, m, d;
    timeutil_civil_from_unix(unix_s, &y, &m, &d);
    *year = y;
    *yday = (int)(timeutil_days_from_civil(y, m, d) - timeutil_days_from_civil(y, 1, 1)) + 1;
}

static int days_in_month(int year, int month)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && timeutil_is_leap(year) ? 29 : dim[month - 1];
}

int timeutil_parse_date(const char *s, int64_t *unix_s)
{
    int v[3] = {0, 0, 0};
    static const int width[3] = {4, 2, 2};
    const char *p = s;
    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < width[f]; i++, p++) {
            if (*p < '0' || *p > '9')
                return KMS_EINVAL;
            v[f] = v[f] * 10 + (*p - '0');
        }
        if (f < 2 && *p++ != '-')
            return KMS_EINVAL;
    }
    if (*p != '\0' || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > days_in_month(v[0], v[1]))
        return KMS_EINVAL;
    *unix_s = timeutil_days_from_civil(v[0], v[1], v[2]) * SECONDS_PER_DAY;
    return 0;
}
