/*
 * buf — bounded reader and writer over byte buffers. All wire parsing and building goes through these.
 *
 * Invariants: a reader never reads outside [p, p+len); a writer never writes outside [p, p+cap).
 * The first failure sets `err` (KMS_ETRUNC for the reader, KMS_ENOSPC for the writer) and it is sticky:
 * every later call is a no-op that returns zeros, so a parser can read a whole structure and check the
 * error once at the end. Nothing here aborts or allocates. All multi-byte integers are little-endian.
 * Readers borrow their input; the caller keeps it alive while views taken from it are used.
 */
#ifndef KMSD_BUF_H
#define KMSD_BUF_H

#include <stddef.h>
#include <stdint.h>

struct rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    int err; /* 0 or the first error (sticky) */
};

struct wr {
    uint8_t *p;
    size_t cap;
    size_t off; /* bytes written so far */
    int err;    /* 0 or the first error (sticky) */
};

/* Reader over len bytes at p (p may be NULL when len is 0). */
void rd_init(struct rd *r, const void *p, size_t len);
/* Bytes not yet consumed (0 once an error is set). */
size_t rd_left(const struct rd *r);
uint8_t rd_u8(struct rd *r);
uint16_t rd_u16le(struct rd *r);
uint32_t rd_u32le(struct rd *r);
uint64_t rd_u64le(struct rd *r);
/* Copies n bytes to dst; on failure dst is zero-filled. */
void rd_bytes(struct rd *r, void *dst, size_t n);
/* Borrows n bytes: returns a pointer into the input, or NULL (and sets the error) if fewer remain. */
const uint8_t *rd_view(struct rd *r, size_t n);
void rd_skip(struct rd *r, size_t n);
/* Skips to the next multiple of `align` counted from the start of the input (align is a power of 2). */
void rd_align(struct rd *r, size_t align);
/* Splits off the next n bytes as an independent reader and advances past them. */
struct rd rd_sub(struct rd *r, size_t n);
/* For text: the bytes from the current position up to the first byte equal to c, or rd_left() when none is (0 once
 * the error is set). Consumes nothing; take them with rd_view or rd_sub. */
size_t rd_span_to(const struct rd *r, uint8_t c);
/* Returns the sticky error, or KMS_ETRAILING if bytes remain; sets that error. */
int rd_expect_end(struct rd *r);

/* Writer into cap bytes at p. */
void wr_init(struct wr *w, void *p, size_t cap);
void wr_u8(struct wr *w, uint8_t v);
void wr_u16le(struct wr *w, uint16_t v);
void wr_u32le(struct wr *w, uint32_t v);
void wr_u64le(struct wr *w, uint64_t v);
void wr_bytes(struct wr *w, const void *src, size_t n);
void wr_zeros(struct wr *w, size_t n);
/* Writes zero bytes up to the next multiple of `align` from the start of the buffer. */
void wr_align(struct wr *w, size_t align);
/* Overwrites a u16/u32 already written at offset `at` (for length fields known only at the end). */
void wr_patch_u16le(struct wr *w, size_t at, uint16_t v);
void wr_patch_u32le(struct wr *w, size_t at, uint32_t v);

/* Plain little-endian loads/stores on memory the caller has bounds-checked. */
static inline uint16_t buf_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t buf_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t buf_le64(const uint8_t *p) { return buf_le32(p) | ((uint64_t)buf_le32(p + 4) << 32); }
static inline void buf_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void buf_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void buf_put_le64(uint8_t *p, uint64_t v)
{
    buf_put_le32(p, (uint32_t)v);
    buf_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Each byte's hex digit value plus one, 0 for a byte that is not a hex digit (buf.c): a lookup, as PostgreSQL's rows
 * give their GUIDs in hex (128 digits a row of a listing). */
extern const uint8_t buf_hex_value[256];

/* Value of a hex digit (either case), or -1. */
static inline int buf_hexval(char c)
{
    return (int)buf_hex_value[(unsigned char)c] - 1;
}

#endif
