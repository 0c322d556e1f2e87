#include "ndr.h"

#include "err.h"

/* Zero bytes needed after `used` stub bytes to reach a multiple of 4 (the return value's alignment). */
static size_t pad4(size_t used)
{
    return (4 - (used & 3)) & 3;
}

size_t ndr_request_stub_len(bool ndr64, size_t n)
{
    return (ndr64 ? NDR64_REQUEST_OVERHEAD : NDR32_REQUEST_OVERHEAD) + n;
}

size_t ndr_response_stub_len(bool ndr64, size_t m)
{
    size_t head = ndr64 ? 24 : 12; /* responseSize (+pad), referent, max_count */
    return head + m + pad4(head + m) + 4;
}

/* requestSize and responseSize are u32; NDR64 puts 4 pad bytes after them so the next u64 is aligned. */
static void write_size(struct wr *w, bool ndr64, uint32_t n)
{
    wr_u32le(w, n);
    if (ndr64)
        wr_zeros(w, 4);
}

static uint32_t read_size(struct rd *r, bool ndr64)
{
    uint32_t n = rd_u32le(r);
    if (ndr64)
        rd_skip(r, 4); /* pad; its value is ignored */
    return n;
}

/* max_count and referent ids are u32 in NDR32 and u64 in NDR64. */
static void write_long(struct wr *w, bool ndr64, uint32_t v)
{
    if (ndr64)
        wr_u64le(w, v);
    else
        wr_u32le(w, v);
}

static uint64_t read_long(struct rd *r, bool ndr64)
{
    return ndr64 ? rd_u64le(r) : rd_u32le(r);
}

int ndr_encode_request(struct wr *w, bool ndr64, const uint8_t *msg, size_t n)
{
    if (n > UINT32_MAX)
        return KMS_ERANGE;
    write_size(w, ndr64, (uint32_t)n);
    write_long(w, ndr64, (uint32_t)n);
    wr_bytes(w, msg, n);
    return w->err;
}

int ndr_decode_request(const uint8_t *stub, size_t len, bool ndr64, const uint8_t **msg, size_t *n)
{
    struct rd r;
    rd_init(&r, stub, len);
    uint32_t size = read_size(&r, ndr64);
    uint64_t max_count = read_long(&r, ndr64);
    if (r.err)
        return r.err;
    if (max_count != size)
        return KMS_ENDR;
    const uint8_t *p = rd_view(&r, size);
    if (r.err)
        return r.err;
    /* Bytes after the array are ignored (protocol.md 8.1 step 2). */
    *msg = p;
    *n = size;
    return 0;
}

int ndr_encode_response(struct wr *w, bool ndr64, const uint8_t *msg, size_t m)
{
    if (m > UINT32_MAX)
        return KMS_ERANGE;
    size_t start = w->off;
    write_size(w, ndr64, (uint32_t)m);
    write_long(w, ndr64, NDR_REFERENT_ID);
    write_long(w, ndr64, (uint32_t)m);
    wr_bytes(w, msg, m);
    /* The return value follows the alignment pad (py-kms's order; vlmcsd's differs only in zero bytes). */
    wr_zeros(w, pad4(w->off - start));
    wr_u32le(w, 0);
    return w->err;
}

int ndr_encode_error(struct wr *w, bool ndr64, uint32_t hresult)
{
    write_size(w, ndr64, 0);
    write_long(w, ndr64, 0); /* NULL referent: no array follows */
    wr_u32le(w, hresult);
    return w->err;
}

int ndr_decode_response(const uint8_t *stub, size_t len, bool ndr64, struct ndr_response *out)
{
    out->error_form = false;
    out->hresult = 0;
    out->msg = NULL;
    out->len = 0;
    struct rd r;
    rd_init(&r, stub, len);
    uint32_t size = read_size(&r, ndr64);
    uint64_t referent = read_long(&r, ndr64);
    if (r.err)
        return r.err;
    if (referent == 0) {
        /* Error form; responseSize is a separate [out] value and is not judged. */
        uint32_t hr = rd_u32le(&r);
        int rc = rd_expect_end(&r);
        if (rc)
            return rc;
        if (hr == 0)
            return KMS_ENDR;
        out->error_form = true;
        out->hresult = hr;
        return 0;
    }
    uint64_t max_count = read_long(&r, ndr64);
    if (r.err)
        return r.err;
    if (max_count != size)
        return KMS_ENDR;
    const uint8_t *p = rd_view(&r, size);
    rd_align(&r, 4); /* pad values ignored */
    uint32_t hr = rd_u32le(&r);
    int rc = rd_expect_end(&r);
    if (rc)
        return rc;
    out->hresult = hr;
    out->msg = p;
    out->len = size;
    return 0;
}
