/*
 * timeutil — FILETIME and calendar arithmetic, without reading any clock.
 *
 * FILETIME is the count of 100-ns intervals since 1601-01-01 00:00:00 UTC. Unix times are seconds since
 * 1970-01-01 UTC as int64. Calendar functions use the proleptic Gregorian calendar in UTC and never
 * consult the time zone. Callers pass the current time in; nothing here calls time().
 */
#ifndef KMSD_TIMEUTIL_H
#define KMSD_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define SECONDS_PER_DAY 86400 /* a UTC day: Unix time has no leap seconds */
#define TIMEUTIL_FILETIME_UNIX_EPOCH_S 11644473600LL /* seconds from 1601-01-01 to 1970-01-01 */

/* Unix seconds → FILETIME. Times before 1601 give 0. */
uint64_t timeutil_filetime_from_unix(int64_t unix_s);
/* FILETIME → Unix seconds (rounded down). */
int64_t timeutil_unix_from_filetime(uint64_t ft);
/* Days since 1970-01-01 for a civil date (month 1..12, day 1..31). */
int64_t timeutil_days_from_civil(int year, int month, int day);
/* Civil date of a Unix time (UTC). */
void timeutil_civil_from_unix(int64_t unix_s, int *year, int *month, int *day);
/* Day of the year (1..366) and year of a Unix time (UTC). */
void timeutil_yday_from_unix(int64_t unix_s, int *year, int *yday);
/* 1 for a leap year. */
int timeutil_is_leap(int year);
/* The text forms of a Unix time in UTC (timeutil_format_utc). */
enum timeutil_utc_form {
    TIMEUTIL_UTC_DAY,    /* 2024-06-01 */
    TIMEUTIL_UTC_MINUTE, /* 2024-06-01 12:00 */
    TIMEUTIL_UTC_TEXT,   /* 2024-06-01 12:00:00 (for people, as MINUTE) */
    TIMEUTIL_UTC_SECOND, /* 2024-06-01T12:00:00 */
    TIMEUTIL_UTC_ISO,    /* 2024-06-01T12:00:00Z (RFC 3339) */
};
#define TIMEUTIL_UTC_TEXT_MAX 21 /* the longest form and its NUL */
#define TIMEUTIL_UTC_MIN (-62167219200LL) /* 0000-01-01T00:00:00Z: the years of four digits, */
#define TIMEUTIL_UTC_MAX 253402300799LL   /* to 9999-12-31T23:59:59Z */
/* Writes unix_s in that form into out (TIMEUTIL_UTC_TEXT_MAX bytes) and returns its length, or returns 0 (out "")
 * outside TIMEUTIL_UTC_MIN..TIMEUTIL_UTC_MAX. The same text as gmtime_r and strftime give, without the C library's
 * time-zone lock or its formatter: a listing formats two times a row. */
size_t timeutil_format_utc(int64_t unix_s, enum timeutil_utc_form form, char out[TIMEUTIL_UTC_TEXT_MAX]);
/* Parses "YYYY-MM-DD" (a real calendar date) to Unix seconds at 00:00 UTC. Returns 0 or KMS_EINVAL. */
int timeutil_parse_date(const char *s, int64_t *unix_s);

#endif
