#include "utf16.h"

#include "buf.h"
#include "err.h"

static int is_high(uint16_t u) { return u >= 0xD800 && u <= 0xDBFF; }
static int is_low(uint16_t u) { return u >= 0xDC00 && u <= 0xDFFF; }

/* Reads one code point at units[i]; returns units consumed (1 or 2) or 0 on an unpaired surrogate. */
static size_t decode_one(const uint8_t *src, size_t n, size_t i, uint32_t *cp)
{
    uint16_t u = buf_le16(src + 2 * i);
    if (is_high(u)) {
        if (i + 1 >= n)
            return 0;
        uint16_t v = buf_le16(src + 2 * (i + 1));
        if (!is_low(v))
            return 0;
        *cp = 0x10000 + (((uint32_t)u - 0xD800) << 10) + ((uint32_t)v - 0xDC00);
        return 2;
    }
    if (is_low(u))
        return 0;
    *cp = u;
    return 1;
}

int utf16_validate(const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = decode_one(src, n, i, &cp);
        if (!k || cp == 0)
            return KMS_EINVAL;
        i += k;
    }
    return 0;
}

int utf16_to_utf8(const uint8_t *src, size_t n, char *out, size_t cap, size_t *out_len)
{
    size_t o = 0;
    int rc = 0;
    if (cap == 0)
        return KMS_ENOSPC;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = decode_one(src, n, i, &cp);
        if (!k) {
            rc = KMS_EINVAL;
            break;
        }
        if (cp == 0)
            break;
        uint8_t tmp[4];
        size_t len;
        if (cp < 0x80) {
            tmp[0] = (uint8_t)cp;
            len = 1;
        } else if (cp < 0x800) {
            tmp[0] = (uint8_t)(0xC0 | cp >> 6);
            tmp[1] = (uint8_t)(0x80 | (cp & 0x3F));
            len = 2;
        } else if (cp < 0x10000) {
            tmp[0] = (uint8_t)(0xE0 | cp >> 12);
            tmp[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            tmp[2] = (uint8_t)(0x80 | (cp & 0x3F));
            len = 3;
        } else {
            tmp[0] = (uint8_t)(0xF0 | cp >> 18);
            tmp[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
            tmp[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            tmp[3] = (uint8_t)(0x80 | (cp & 0x3F));
            len = 4;
        }
        if (cap - 1 - o < len) {
            rc = KMS_ENOSPC;
            break;
        }
        for (size_t j = 0; j < len; j++)
            out[o++] = (char)tmp[j];
        i += k;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return rc;
}

/* Decodes one UTF-8 sequence at s; returns bytes consumed or 0 when invalid. */
static size_t utf8_one(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the NUL terminator */
            return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

int utf16_from_utf8(const char *s, uint8_t *out, size_t cap_units, size_t *units)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t u = 0;
    int rc = 0;
    while (*p) {
        uint32_t cp;
        size_t k = utf8_one(p, &cp);
        if (!k) {
            rc = KMS_EINVAL;
            break;
        }
        if (cp >= 0x10000) {
            if (cap_units - u < 2) {
                rc = KMS_ENOSPC;
                break;
            }
            cp -= 0x10000;
            buf_put_le16(out + 2 * u++, (uint16_t)(0xD800 | cp >> 10));
            buf_put_le16(out + 2 * u++, (uint16_t)(0xDC00 | (cp & 0x3FF)));
        } else {
            if (cap_units - u < 1) {
                rc = KMS_ENOSPC;
                break;
            }
            buf_put_le16(out + 2 * u++, (uint16_t)cp);
        }
        p += k;
    }
    *units = u;
    return rc;
}
