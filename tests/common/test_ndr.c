/* NDR32/NDR64 stub framing of the KMS operation: known answers from kat/exchanges.json and kat/rpc.json,
 * size and conformance checks, truncation (exactly-sized heap copies, so ASan sees overreads), error form. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "ndr.h"

#define RPC_REQ_HDR 24 /* common header + alloc_hint, ctx_id, opnum / cancel_count: the stub starts here */

/* An exactly-sized heap copy, so that ASan reports any read past the end. */
static uint8_t *exact(const void *src, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    if (n)
        memcpy(p, src, n);
    return p;
}

static void assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *exp, size_t exp_len)
{
    assert_int_equal(got_len, exp_len);
    assert_memory_equal(got, exp, exp_len);
}

/* An exactly-sized copy of the stub of a single-fragment REQUEST/RESPONSE PDU (which this test takes as
 * the bytes after offset 24; the RPC layer's own tests decode the PDUs); checks alloc_hint = its length. */
static uint8_t *pdu_stub(const uint8_t *pdu, size_t len, size_t *stub_len)
{
    assert_true(len >= RPC_REQ_HDR);
    assert_int_equal(buf_le16(pdu + 8), len);
    *stub_len = len - RPC_REQ_HDR;
    assert_int_equal(buf_le32(pdu + 16), *stub_len);
    return exact(pdu + RPC_REQ_HDR, *stub_len);
}

/* Decode and re-encode the request and response stubs of every exchange, NDR32 and NDR64. */
static void kat_exchanges(void **state)
{
    (void)state;
    json_t *j = tu_load_json("kat/exchanges.json");
    json_t *ex = tu_obj(j, "exchanges");
    const char *names[] = {"v4", "v5", "v6"};
    for (size_t k = 0; k < 3; k++) {
        json_t *e = tu_obj(ex, names[k]);
        size_t qlen, rlen;
        uint8_t *kreq = tu_unhex(tu_str(e, "kms_request"), &qlen);
        uint8_t *kresp = tu_unhex(tu_str(e, "kms_response"), &rlen);
        assert_int_equal(qlen, tu_int(e, "kms_request_length"));
        assert_int_equal(rlen, tu_int(e, "kms_response_length"));
        for (int ndr64 = 0; ndr64 <= 1; ndr64++) {
            size_t plen, slen;
            uint8_t *pdu = tu_unhex(tu_str(e, ndr64 ? "rpc_request_pdu_ndr64" : "rpc_request_pdu_ndr32"), &plen);
            uint8_t *stub = pdu_stub(pdu, plen, &slen);
            const uint8_t *msg = NULL;
            size_t n = 0;
            assert_int_equal(ndr_decode_request(stub, slen, ndr64, &msg, &n), 0);
            assert_bytes(msg, n, kreq, qlen);
            assert_true(msg >= stub && msg + n <= stub + slen); /* a view, not a copy */
            assert_int_equal(ndr_request_stub_len(ndr64, qlen), slen);
            uint8_t out[1024];
            struct wr w;
            wr_init(&w, out, sizeof out);
            assert_int_equal(ndr_encode_request(&w, ndr64, kreq, qlen), 0);
            assert_bytes(out, w.off, stub, slen);
            free(stub);
            free(pdu);

            pdu = tu_unhex(tu_str(e, ndr64 ? "rpc_response_pdu_ndr64" : "rpc_response_pdu_ndr32"), &plen);
            stub = pdu_stub(pdu, plen, &slen);
            struct ndr_response resp;
            assert_int_equal(ndr_decode_response(stub, slen, ndr64, &resp), 0);
            assert_false(resp.error_form);
            assert_int_equal(resp.hresult, 0);
            assert_bytes(resp.msg, resp.len, kresp, rlen);
            assert_int_equal(ndr_response_stub_len(ndr64, rlen), slen);
            wr_init(&w, out, sizeof out);
            assert_int_equal(ndr_encode_response(&w, ndr64, kresp, rlen), 0);
            assert_bytes(out, w.off, stub, slen);
            free(stub);
            free(pdu);
        }
        free(kreq);
        free(kresp);
    }
    json_decref(j);
}

/* The error stub vlmcsd sends for KMS version 7 (kat/rpc.json), and the NDR64 error form of 2.6. */
static void error_form(void **state)
{
    (void)state;
    json_t *j = tu_load_json("kat/rpc.json");
    json_t *c = tu_obj(tu_obj(j, "cases"), "unsupported_version_7");
    size_t plen, slen;
    uint8_t *pdu = tu_unhex(tu_str(c, "vlmcsd_rpc_response_pdu"), &plen);
    uint8_t *stub = pdu_stub(pdu, plen, &slen);
    assert_int_equal(slen, NDR32_ERROR_STUB_LEN);

    uint8_t out[64];
    struct wr w;
    wr_init(&w, out, sizeof out);
    assert_int_equal(ndr_encode_error(&w, false, 0x8007000Du), 0);
    assert_bytes(out, w.off, stub, slen);
    struct ndr_response r;
    assert_int_equal(ndr_decode_response(stub, slen, false, &r), 0);
    assert_true(r.error_form);
    assert_int_equal(r.hresult, 0x8007000Du);
    assert_null(r.msg);
    assert_int_equal(r.len, 0);
    free(stub);
    free(pdu);
    json_decref(j);

    /* NDR64: u64 0 (responseSize + pad), u64 0 (NULL referent), u32 hr. */
    static const uint8_t e64[NDR64_ERROR_STUB_LEN] = {0, 0, 0, 0, 0, 0, 0,    0,    0,    0,
                                                      0, 0, 0, 0, 0, 0, 0x42, 0xf0, 0x04, 0xc0};
    wr_init(&w, out, sizeof out);
    assert_int_equal(ndr_encode_error(&w, true, 0xC004F042u), 0);
    assert_bytes(out, w.off, e64, sizeof e64);
    stub = exact(e64, sizeof e64);
    assert_int_equal(ndr_decode_response(stub, sizeof e64, true, &r), 0);
    assert_true(r.error_form);
    assert_int_equal(r.hresult, 0xC004F042u);
    /* The NDR64 form read as NDR32 is not an error stub: its referent (bytes 4..7) is 0 but then the
     * return value would be bytes 8..11 = 0 with 8 bytes left over. */
    assert_int_not_equal(ndr_decode_response(stub, sizeof e64, false, &r), 0);
    free(stub);

    /* Error form: truncated at every length, one byte too long, and a zero HRESULT (no data, no error). */
    for (int ndr64 = 0; ndr64 <= 1; ndr64++) {
        uint8_t full[32];
        wr_init(&w, full, sizeof full);
        assert_int_equal(ndr_encode_error(&w, ndr64, 0x8007000Du), 0);
        size_t n = w.off;
        assert_int_equal(n, ndr64 ? NDR64_ERROR_STUB_LEN : NDR32_ERROR_STUB_LEN);
        for (size_t l = 0; l < n; l++) {
            uint8_t *p = exact(full, l);
            assert_int_equal(ndr_decode_response(p, l, ndr64, &r), KMS_ETRUNC);
            free(p);
        }
        full[n] = 0;
        uint8_t *p = exact(full, n + 1);
        assert_int_equal(ndr_decode_response(p, n + 1, ndr64, &r), KMS_ETRAILING);
        free(p);
        wr_init(&w, full, sizeof full);
        assert_int_equal(ndr_encode_error(&w, ndr64, 0), 0);
        p = exact(full, w.off);
        assert_int_equal(ndr_decode_response(p, w.off, ndr64, &r), KMS_ENDR);
        free(p);
        /* responseSize is a separate [out] value: a non-zero one beside a NULL referent is still the error form. */
        wr_init(&w, full, sizeof full);
        assert_int_equal(ndr_encode_error(&w, ndr64, 0xC004F038u), 0);
        full[0] = 7;
        p = exact(full, w.off);
        assert_int_equal(ndr_decode_response(p, w.off, ndr64, &r), 0);
        assert_true(r.error_form);
        assert_int_equal(r.hresult, 0xC004F038u);
        free(p);
    }
}

/* Request stubs: requestSize != max_count, N against the bytes that remain (limit-1, limit, limit+1),
 * extra bytes after the array ignored, truncation at every length. */
static void request_checks(void **state)
{
    (void)state;
    uint8_t msg[260];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7 + 1);
    for (int ndr64 = 0; ndr64 <= 1; ndr64++) {
        size_t hdr = ndr64 ? NDR64_REQUEST_OVERHEAD : NDR32_REQUEST_OVERHEAD;
        size_t cnt_off = ndr64 ? 8 : 4; /* max_count */
        uint8_t stub[300];
        struct wr w;
        wr_init(&w, stub, sizeof stub);
        assert_int_equal(ndr_encode_request(&w, ndr64, msg, sizeof msg), 0);
        size_t len = w.off;
        assert_int_equal(len, hdr + sizeof msg);
        assert_int_equal(buf_le32(stub), sizeof msg);
        if (ndr64) {
            assert_int_equal(buf_le32(stub + 4), 0); /* alignment pad */
            assert_true(buf_le64(stub + 8) == sizeof msg);
        } else {
            assert_int_equal(buf_le32(stub + 4), sizeof msg);
        }

        const uint8_t *m;
        size_t n;
        /* Truncated anywhere: N no longer fits, or the size fields are cut. */
        for (size_t l = 0; l < len; l++) {
            uint8_t *p = exact(stub, l);
            assert_int_equal(ndr_decode_request(p, l, ndr64, &m, &n), KMS_ETRUNC);
            free(p);
        }
        /* Extra bytes after the array (py-kms's client sends 4) are ignored. */
        for (size_t extra = 0; extra <= 4; extra++) {
            uint8_t tmp[310];
            memcpy(tmp, stub, len);
            memset(tmp + len, 0xee, extra);
            uint8_t *p = exact(tmp, len + extra);
            assert_int_equal(ndr_decode_request(p, len + extra, ndr64, &m, &n), 0);
            assert_int_equal(n, sizeof msg);
            assert_ptr_equal(m, p + hdr);
            assert_memory_equal(m, msg, sizeof msg);
            free(p);
        }
        /* N (= max_count) at remaining-1, remaining, remaining+1. */
        for (int d = -1; d <= 1; d++) {
            uint8_t tmp[300];
            memcpy(tmp, stub, len);
            uint32_t nn = (uint32_t)((int)sizeof msg + d);
            buf_put_le32(tmp, nn);
            if (ndr64)
                buf_put_le64(tmp + cnt_off, nn);
            else
                buf_put_le32(tmp + cnt_off, nn);
            uint8_t *p = exact(tmp, len);
            int rc = ndr_decode_request(p, len, ndr64, &m, &n);
            if (d <= 0) {
                assert_int_equal(rc, 0);
                assert_int_equal(n, nn);
            } else {
                assert_int_equal(rc, KMS_ETRUNC);
            }
            free(p);
        }
        /* requestSize != max_count, either way, and a huge max_count. */
        for (int d = -1; d <= 1; d += 2) {
            uint8_t tmp[300];
            memcpy(tmp, stub, len);
            buf_put_le32(tmp, (uint32_t)((int)sizeof msg + d));
            uint8_t *p = exact(tmp, len);
            assert_int_equal(ndr_decode_request(p, len, ndr64, &m, &n), KMS_ENDR);
            free(p);
        }
        if (ndr64) {
            uint8_t tmp[300];
            memcpy(tmp, stub, len);
            buf_put_le64(tmp + 8, ((uint64_t)1 << 32) | sizeof msg); /* low half agrees, high half does not */
            uint8_t *p = exact(tmp, len);
            assert_int_equal(ndr_decode_request(p, len, ndr64, &m, &n), KMS_ENDR);
            free(p);
            /* the pad after requestSize is ignored */
            memcpy(tmp, stub, len);
            memset(tmp + 4, 0x5a, 4);
            p = exact(tmp, len);
            assert_int_equal(ndr_decode_request(p, len, ndr64, &m, &n), 0);
            assert_int_equal(n, sizeof msg);
            free(p);
        }
        /* Empty message. */
        wr_init(&w, stub, sizeof stub);
        assert_int_equal(ndr_encode_request(&w, ndr64, NULL, 0), 0);
        assert_int_equal(w.off, hdr);
        uint8_t *p = exact(stub, w.off);
        assert_int_equal(ndr_decode_request(p, w.off, ndr64, &m, &n), 0);
        assert_int_equal(n, 0);
        free(p);
    }
}

/* Response stubs for every message length modulo 4: layout, pad before the return value, non-zero return
 * code in the success form, size checks, truncation and trailing bytes. */
static void response_checks(void **state)
{
    (void)state;
    uint8_t msg[164];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(0xa0 ^ i);
    for (int ndr64 = 0; ndr64 <= 1; ndr64++) {
        size_t head = ndr64 ? 24 : 12;
        for (size_t m = 156; m <= 160; m++) {
            uint8_t stub[256];
            struct wr w;
            wr_init(&w, stub, sizeof stub);
            assert_int_equal(ndr_encode_response(&w, ndr64, msg, m), 0);
            size_t len = w.off;
            size_t p = (4 - (head + m) % 4) % 4;
            /* alloc_hint of 2.6: NDR32 16 + M + p, NDR64 28 + M + p */
            assert_int_equal(len, (ndr64 ? 28 : 16) + m + p);
            assert_int_equal(ndr_response_stub_len(ndr64, m), len);
            assert_int_equal(buf_le32(stub), m);
            if (ndr64) {
                assert_int_equal(buf_le32(stub + 4), 0);
                assert_true(buf_le64(stub + 8) == NDR_REFERENT_ID);
                assert_true(buf_le64(stub + 16) == m);
            } else {
                assert_int_equal(buf_le32(stub + 4), NDR_REFERENT_ID);
                assert_int_equal(buf_le32(stub + 8), m);
            }
            assert_memory_equal(stub + head, msg, m);
            for (size_t i = 0; i < p + 4; i++)
                assert_int_equal(stub[head + m + i], 0);

            struct ndr_response r;
            uint8_t *q = exact(stub, len);
            assert_int_equal(ndr_decode_response(q, len, ndr64, &r), 0);
            assert_false(r.error_form);
            assert_int_equal(r.hresult, 0);
            assert_int_equal(r.len, m);
            assert_ptr_equal(r.msg, q + head);
            free(q);

            for (size_t l = 0; l < len; l++) {
                q = exact(stub, l);
                assert_int_equal(ndr_decode_response(q, l, ndr64, &r), KMS_ETRUNC);
                free(q);
            }
            uint8_t tmp[260];
            memcpy(tmp, stub, len);
            tmp[len] = 0;
            q = exact(tmp, len + 1);
            assert_int_equal(ndr_decode_response(q, len + 1, ndr64, &r), KMS_ETRAILING);
            free(q);

            /* Pad bytes before the return value are ignored; the return value is read after them. */
            if (p) {
                memcpy(tmp, stub, len);
                memset(tmp + head + m, 0x31, p);
                buf_put_le32(tmp + head + m + p, 0xC004F06Cu);
                q = exact(tmp, len);
                assert_int_equal(ndr_decode_response(q, len, ndr64, &r), 0);
                assert_int_equal(r.hresult, 0xC004F06Cu);
                assert_int_equal(r.len, m);
                free(q);
            }
            /* Success form with a non-zero return code: reported with its HRESULT. */
            memcpy(tmp, stub, len);
            buf_put_le32(tmp + len - 4, 0x8007000Du);
            q = exact(tmp, len);
            assert_int_equal(ndr_decode_response(q, len, ndr64, &r), 0);
            assert_false(r.error_form);
            assert_int_equal(r.hresult, 0x8007000Du);
            assert_int_equal(r.len, m);
            free(q);
            /* responseSize != max_count */
            memcpy(tmp, stub, len);
            buf_put_le32(tmp, (uint32_t)m - 4);
            q = exact(tmp, len);
            assert_int_equal(ndr_decode_response(q, len, ndr64, &r), KMS_ENDR);
            free(q);
            /* any non-zero referent is a valid unique pointer */
            memcpy(tmp, stub, len);
            tmp[ndr64 ? 8 : 4] = 0x04;
            q = exact(tmp, len);
            assert_int_equal(ndr_decode_response(q, len, ndr64, &r), 0);
            assert_int_equal(r.len, m);
            free(q);
        }
    }
}

/* Alignment counts from the stub start, not from the writer's buffer; short writers fail cleanly. */
static void writer_offsets_and_space(void **state)
{
    (void)state;
    static const uint8_t msg[5] = {1, 2, 3, 4, 5};
    for (int ndr64 = 0; ndr64 <= 1; ndr64++) {
        uint8_t a[64], b[64];
        struct wr w;
        wr_init(&w, a, sizeof a);
        assert_int_equal(ndr_encode_response(&w, ndr64, msg, sizeof msg), 0);
        size_t len = w.off;
        wr_init(&w, b, sizeof b);
        wr_u8(&w, 0xff);
        assert_int_equal(ndr_encode_response(&w, ndr64, msg, sizeof msg), 0);
        assert_int_equal(w.off, len + 1);
        assert_memory_equal(b + 1, a, len);
        for (size_t cap = 0; cap < len; cap++) {
            wr_init(&w, b, cap);
            assert_int_equal(ndr_encode_response(&w, ndr64, msg, sizeof msg), KMS_ENOSPC);
        }
        size_t rl = ndr_request_stub_len(ndr64, sizeof msg);
        for (size_t cap = 0; cap < rl; cap++) {
            wr_init(&w, b, cap);
            assert_int_equal(ndr_encode_request(&w, ndr64, msg, sizeof msg), KMS_ENOSPC);
        }
        size_t el = ndr64 ? NDR64_ERROR_STUB_LEN : NDR32_ERROR_STUB_LEN;
        for (size_t cap = 0; cap < el; cap++) {
            wr_init(&w, b, cap);
            assert_int_equal(ndr_encode_error(&w, ndr64, 1), KMS_ENOSPC);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kat_exchanges),
        cmocka_unit_test(error_form),
        cmocka_unit_test(request_checks),
        cmocka_unit_test(response_checks),
        cmocka_unit_test(writer_offsets_and_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
