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

/* Each byte's hex digit value plus 16, and 0 for any other byte: a table rather than buf_hexval's comparisons, as
 * PostgreSQL's rows give their GUIDs in hex (128 digits a row of a listing). */
static const uint8_t hex_value[256] = {
    ['0'] = 0x10, ['1'] = 0x11, ['2'] = 0x12, ['3'] = 0x13, ['4'] = 0x14, ['5'] = 0x15, ['6'] = 0x16, ['7'] = 0x17,
    ['8'] = 0x18, ['9'] = 0x19, ['a'] = 0x1a, ['b'] = 0x1b, ['c'] = 0x1c, ['d'] = 0x1d, ['e'] = 0x1e, ['f'] = 0x1f,
    ['A'] = 0x1a, ['B'] = 0x1b, ['C'] = 0x1c, ['D'] = 0x1d, ['E'] = 0x1e, ['F'] = 0x1f,
};

int num_hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned hi = hex_value[(unsigned char)s[2 * i]], lo = hex_value[(unsigned char)s[2 * i + 1]];
        if (!hi || !lo)
            return KMS_EINVAL;
        out[i] = (uint8_t)((hi - 16) << 4 | (lo - 16));
    }
    return 0;
}
