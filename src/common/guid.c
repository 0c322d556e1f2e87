#include "guid.h"

#include <string.h>

#include "err.h"

/* Text position of each wire byte: Data1..Data3 are little-endian on the wire, Data4 is not. */
static const uint8_t text_order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

int guid_parse(struct guid *out, const char *text)
{
    if (!text)
        return KMS_EINVAL;
    size_t n = strlen(text);
    if (n == GUID_TEXT_LEN + 2 && text[0] == '{' && text[n - 1] == '}') {
        text++;
        n -= 2;
    }
    if (n != GUID_TEXT_LEN)
        return KMS_EINVAL;
    uint8_t seq[16]; /* bytes in text order */
    size_t k = 0;
    for (size_t i = 0; i < GUID_TEXT_LEN;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return KMS_EINVAL;
            i++;
            continue;
        }
        int hi = buf_hexval(text[i]), lo = buf_hexval(text[i + 1]);
        if (hi < 0 || lo < 0)
            return KMS_EINVAL;
        seq[k++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    for (size_t i = 0; i < 16; i++)
        out->b[i] = seq[text_order[i]];
    return 0;
}

void guid_format(const struct guid *g, char out[GUID_TEXT_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        uint8_t b = g->b[text_order[i]];
        out[o++] = hex[b >> 4];
        out[o++] = hex[b & 15];
    }
    out[o] = '\0';
}

bool guid_eq(const struct guid *a, const struct guid *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

bool guid_is_zero(const struct guid *g)
{
    static const struct guid zero;
    return guid_eq(g, &zero);
}

void guid_read(struct rd *r, struct guid *out)
{
    rd_bytes(r, out->b, 16);
}

void guid_write(struct wr *w, const struct guid *g)
{
    wr_bytes(w, g->b, 16);
}
