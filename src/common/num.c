/* num — see num.h. */
#include "num.h"

#include "buf.h"
#include "err.h"

int num_digits(const char *s, uint64_t *out, const char **end)
{
    if (*s < '0' || *s > '9')
        return KMS_EINVAL;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return KMS_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    *end = s;
    return 0;
}

int num_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v;
    const char *end;
    int rc = num_digits(s, &v, &end);
    if (rc < 0)
        return rc;
    if (*end != '\0')
        return KMS_EINVAL;
    if (v < lo || v > hi)
        return KMS_ERANGE;
    *out = v;
    return 0;
}

int num_hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = buf_hexval(s[2 * i]);
        if (hi < 0)
            return KMS_EINVAL;
        int lo = buf_hexval(s[2 * i + 1]);
        if (lo < 0)
            return KMS_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
