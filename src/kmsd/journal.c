/* journal — the activation journal's record format; see journal.h. The checksum is zlib's CRC-32. */
#include "journal.h"

#include <string.h>

#include <zlib.h>

#include "buf.h"
#include "err.h"

/* The bytes of a text field up to its NUL (or its whole capacity). */
static size_t text_len(const char *p, size_t cap)
{
    const char *z = memchr(p, '\0', cap);
    return z ? (size_t)(z - p) : cap;
}

static void put_text(struct wr *w, const char *p, size_t cap)
{
    size_t n = text_len(p, cap);
    wr_u16le(w, (uint16_t)n);
    wr_bytes(w, p, n);
}

/* Reads a text into out[0..cap) with its NUL; a text that would not fit with one is malformed. */
static void get_text(struct rd *r, char *out, size_t cap)
{
    uint16_t n = rd_u16le(r);
    if (n >= cap) {
        r->err = r->err ? r->err : KMS_EINVAL;
        out[0] = '\0';
        return;
    }
    rd_bytes(r, out, n);
    out[n] = '\0';
    if (memchr(out, '\0', n)) /* a NUL inside would cut the text short on the way back */
        r->err = r->err ? r->err : KMS_EINVAL;
}

long journal_encode(const struct store_record *r, uint64_t seq, uint8_t *out, size_t cap)
{
    struct wr w;
    wr_init(&w, out, cap);
    wr_zeros(&w, JOURNAL_HEADER_LEN);
    wr_u64le(&w, seq);
    wr_bytes(&w, r->cmid.b, 16);
    wr_bytes(&w, r->app_id.b, 16);
    wr_bytes(&w, r->sku_id.b, 16);
    wr_bytes(&w, r->kms_id.b, 16);
    wr_u64le(&w, (uint64_t)r->time);
    const uint32_t u[] = {r->license_status, r->grace_time, r->is_vm, r->version_major, r->version_minor, r->hresult};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        wr_u32le(&w, u[i]);
    put_text(&w, r->workstation, sizeof r->workstation);
    put_text(&w, r->product, sizeof r->product);
    put_text(&w, r->address, sizeof r->address);
    put_text(&w, r->epid, sizeof r->epid);
    if (w.err)
        return KMS_ENOSPC;
    size_t body = w.off - JOURNAL_HEADER_LEN;
    wr_patch_u32le(&w, 0, (uint32_t)body);
    wr_patch_u32le(&w, 4, (uint32_t)crc32(0L, out + JOURNAL_HEADER_LEN, (uInt)body));
    return (long)w.off;
}

int journal_decode(const uint8_t *p, size_t len, struct store_record *r, uint64_t *seq, size_t *used)
{
    if (len < JOURNAL_HEADER_LEN)
        return KMS_ETRUNC;
    uint32_t body = buf_le32(p);
    if (body < JOURNAL_RECORD_MIN - JOURNAL_HEADER_LEN || body > JOURNAL_RECORD_MAX - JOURNAL_HEADER_LEN)
        return KMS_EINVAL;
    if (len - JOURNAL_HEADER_LEN < body)
        return KMS_ETRUNC;
    const uint8_t *b = p + JOURNAL_HEADER_LEN;
    if ((uint32_t)crc32(0L, b, (uInt)body) != buf_le32(p + 4))
        return KMS_EINVAL;
    struct rd rd;
    rd_init(&rd, b, body);
    memset(r, 0, sizeof *r);
    *seq = rd_u64le(&rd);
    rd_bytes(&rd, r->cmid.b, 16);
    rd_bytes(&rd, r->app_id.b, 16);
    rd_bytes(&rd, r->sku_id.b, 16);
    rd_bytes(&rd, r->kms_id.b, 16);
    r->time = (int64_t)rd_u64le(&rd);
    uint32_t *u[] = {&r->license_status, &r->grace_time, &r->is_vm, &r->version_major, &r->version_minor,
                     &r->hresult};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        *u[i] = rd_u32le(&rd);
    get_text(&rd, r->workstation, sizeof r->workstation);
    get_text(&rd, r->product, sizeof r->product);
    get_text(&rd, r->address, sizeof r->address);
    get_text(&rd, r->epid, sizeof r->epid);
    if (rd_expect_end(&rd) != 0)
        return KMS_EINVAL;
    *used = JOURNAL_HEADER_LEN + body;
    return 0;
}
