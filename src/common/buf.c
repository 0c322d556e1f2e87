#include "buf.h"

#include <string.h>

#include "err.h"

const uint8_t buf_hex_value[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

void rd_init(struct rd *r, const void *p, size_t len)
{
    r->p = p;
    r->len = p ? len : 0;
    r->off = 0;
    r->err = 0;
}

size_t rd_left(const struct rd *r)
{
    return r->err ? 0 : r->len - r->off;
}

/* Claims n bytes; returns a pointer to them or NULL after setting the sticky error. */
static const uint8_t *take(struct rd *r, size_t n)
{
    if (r->err)
        return NULL;
    if (n > r->len - r->off) {
        r->err = KMS_ETRUNC;
        return NULL;
    }
    const uint8_t *q = r->p + r->off;
    r->off += n;
    return q;
}

uint8_t rd_u8(struct rd *r)
{
    const uint8_t *q = take(r, 1);
    return q ? q[0] : 0;
}

uint16_t rd_u16le(struct rd *r)
{
    const uint8_t *q = take(r, 2);
    return q ? buf_le16(q) : 0;
}

uint32_t rd_u32le(struct rd *r)
{
    const uint8_t *q = take(r, 4);
    return q ? buf_le32(q) : 0;
}

uint64_t rd_u64le(struct rd *r)
{
    const uint8_t *q = take(r, 8);
    return q ? buf_le64(q) : 0;
}

void rd_bytes(struct rd *r, void *dst, size_t n)
{
    const uint8_t *q = take(r, n);
    if (q)
        memcpy(dst, q, n);
    else if (n)
        memset(dst, 0, n);
}

const uint8_t *rd_view(struct rd *r, size_t n)
{
    return take(r, n);
}

void rd_skip(struct rd *r, size_t n)
{
    (void)take(r, n);
}

void rd_align(struct rd *r, size_t align)
{
    if (r->err)
        return;
    size_t rem = r->off & (align - 1);
    if (rem)
        (void)take(r, align - rem);
}

size_t rd_span_to(const struct rd *r, uint8_t c)
{
    size_t left = rd_left(r);
    const uint8_t *q = left ? memchr(r->p + r->off, c, left) : NULL;
    return q ? (size_t)(q - (r->p + r->off)) : left;
}

struct rd rd_sub(struct rd *r, size_t n)
{
    struct rd s;
    const uint8_t *q = take(r, n);
    rd_init(&s, q, q ? n : 0);
    if (!q)
        s.err = r->err;
    return s;
}

int rd_expect_end(struct rd *r)
{
    if (!r->err && r->off != r->len)
        r->err = KMS_ETRAILING;
    return r->err;
}

void wr_init(struct wr *w, void *p, size_t cap)
{
    w->p = p;
    w->cap = p ? cap : 0;
    w->off = 0;
    w->err = 0;
}

static uint8_t *claim(struct wr *w, size_t n)
{
    if (w->err)
        return NULL;
    if (n > w->cap - w->off) {
        w->err = KMS_ENOSPC;
        return NULL;
    }
    uint8_t *q = w->p + w->off;
    w->off += n;
    return q;
}

void wr_u8(struct wr *w, uint8_t v)
{
    uint8_t *q = claim(w, 1);
    if (q)
        q[0] = v;
}

void wr_u16le(struct wr *w, uint16_t v)
{
    uint8_t *q = claim(w, 2);
    if (q)
        buf_put_le16(q, v);
}

void wr_u32le(struct wr *w, uint32_t v)
{
    uint8_t *q = claim(w, 4);
    if (q)
        buf_put_le32(q, v);
}

void wr_u64le(struct wr *w, uint64_t v)
{
    uint8_t *q = claim(w, 8);
    if (q)
        buf_put_le64(q, v);
}

void wr_bytes(struct wr *w, const void *src, size_t n)
{
    uint8_t *q = claim(w, n);
    if (q && n)
        memcpy(q, src, n);
}

void wr_zeros(struct wr *w, size_t n)
{
    uint8_t *q = claim(w, n);
    if (q && n)
        memset(q, 0, n);
}

void wr_align(struct wr *w, size_t align)
{
    if (w->err)
        return;
    size_t rem = w->off & (align - 1);
    if (rem)
        wr_zeros(w, align - rem);
}

void wr_patch_u16le(struct wr *w, size_t at, uint16_t v)
{
    if (w->err)
        return;
    if (at > w->off || w->off - at < 2) {
        w->err = KMS_EINVAL;
        return;
    }
    buf_put_le16(w->p + at, v);
}

void wr_patch_u32le(struct wr *w, size_t at, uint32_t v)
{
    if (w->err)
        return;
    if (at > w->off || w->off - at < 4) {
        w->err = KMS_EINVAL;
        return;
    }
    buf_put_le32(w->p + at, v);
}
