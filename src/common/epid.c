#include "epid.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "timeutil.h"

static int year_days(uint32_t year)
{
    return timeutil_is_leap((int)year) ? 366 : 365;
}

int epid_validate(const struct epid *e)
{
    if (e->platform > 99999 || e->group > 99999 || e->key_id > 999999999 || e->channel != 3)
        return KMS_ERANGE;
    if (e->lcid < 1 || e->lcid > 65535 || e->build < 1000 || e->build > 99999)
        return KMS_ERANGE;
    if (e->year < 1601 || e->year > 9999 || e->yday < 1 || e->yday > (uint32_t)year_days(e->year))
        return KMS_ERANGE;
    return 0;
}

int epid_format(const struct epid *e, char *out, size_t cap)
{
    if (epid_validate(e) != 0)
        return KMS_ERANGE;
    int n = snprintf(out, cap, "%05u-%05u-%03u-%06u-%02u-%u-%u.0000-%03u%04u", (unsigned)e->platform,
                     (unsigned)e->group, (unsigned)(e->key_id / 1000000), (unsigned)(e->key_id % 1000000),
                     (unsigned)e->channel, (unsigned)e->lcid, (unsigned)e->build, (unsigned)e->yday,
                     (unsigned)e->year);
    if (n < 0 || (size_t)n >= cap)
        return KMS_ENOSPC;
    return n;
}

/* Reads between min and max decimal digits at *p; a leading zero is allowed only if lead0. */
static int digits(const char **p, int min, int max, int lead0, uint32_t *out)
{
    uint32_t v = 0;
    int n = 0;
    const char *s = *p;
    while (n < max && s[n] >= '0' && s[n] <= '9') {
        v = v * 10 + (uint32_t)(s[n] - '0');
        n++;
    }
    if (n < min) /* a digit after max digits is caught by what must follow */
        return -1;
    if (!lead0 && n > 1 && s[0] == '0')
        return -1;
    *p = s + n;
    *out = v;
    return 0;
}

static int lit(const char **p, const char *s)
{
    size_t n = strlen(s);
    if (strncmp(*p, s, n) != 0)
        return -1;
    *p += n;
    return 0;
}

int epid_parse(const char *text, struct epid *out)
{
    struct epid e;
    uint32_t khi, klo;
    const char *p = text;
    if (!text || strlen(text) > EPID_MAX_LEN)
        return KMS_EINVAL;
    if (digits(&p, 5, 5, 1, &e.platform) || lit(&p, "-") || digits(&p, 5, 5, 1, &e.group) || lit(&p, "-") ||
        digits(&p, 3, 3, 1, &khi) || lit(&p, "-") || digits(&p, 6, 6, 1, &klo) || lit(&p, "-") ||
        digits(&p, 2, 2, 1, &e.channel) || lit(&p, "-") || digits(&p, 1, 5, 0, &e.lcid) || lit(&p, "-") ||
        digits(&p, 4, 5, 0, &e.build) || lit(&p, ".0000-") || digits(&p, 3, 3, 1, &e.yday) ||
        digits(&p, 4, 4, 1, &e.year) || *p != '\0')
        return KMS_EINVAL;
    e.key_id = khi * 1000000 + klo;
    *out = e;
    return 0;
}

int epid_generate(const struct epid_params *p, const struct kms_rng *rng, struct epid *out)
{
    if (p->key_min > p->key_max || p->key_max > 999999999)
        return KMS_EINVAL;
    uint64_t key, day;
    int rc = rng_uniform(rng, p->key_min, p->key_max, &key);
    if (rc < 0)
        return rc;
    int64_t first = p->not_before / SECONDS_PER_DAY - (p->not_before % SECONDS_PER_DAY < 0);
    int64_t last = p->now / SECONDS_PER_DAY - (p->now % SECONDS_PER_DAY < 0);
    if (last < first)
        last = first;
    rc = rng_uniform(rng, 0, (uint64_t)(last - first), &day);
    if (rc < 0)
        return rc;
    int year, yday;
    timeutil_yday_from_unix((first + (int64_t)day) * SECONDS_PER_DAY, &year, &yday);
    struct epid e = {
        .platform = p->platform,
        .group = p->group,
        .key_id = (uint32_t)key,
        .channel = 3,
        .lcid = p->lcid,
        .build = p->build,
        .yday = (uint32_t)yday,
        .year = (uint32_t)year,
    };
    rc = epid_validate(&e);
    if (rc < 0)
        return KMS_EINVAL;
    *out = e;
    return 0;
}
