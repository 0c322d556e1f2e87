/*
 * Fuzz target: DCE/RPC PDU decoding (rpc_peek_header, rpc_decode) and the encode/decode round trip.
 *
 * Input: one PDU as the server hands it to rpc_decode (the whole input, whatever its frag_length says).
 * Invariant (rpc.h): a PDU that decodes re-encodes to the same length (pads become zeros, alloc_hint the stub
 * length), that encoding decodes again to the same header and stub, and encoding is then a fixed point.
 */
#include "fuzz.h"

#include <string.h>

#include "rpc.h"

/* Encodes pdu into out (KMS_LIMIT_PDU_MAX bytes); returns the length, aborting if an accepted PDU fails. */
static size_t reencode(const struct rpc_pdu *pdu, uint8_t *out)
{
    struct wr w;
    wr_init(&w, out, KMS_LIMIT_PDU_MAX);
    fuzz_check(rpc_encode(pdu, &w) == 0);
    return w.off;
}

static void same_header(const struct rpc_header *a, const struct rpc_header *b)
{
    fuzz_check(a->ptype == b->ptype);
    fuzz_check(a->flags == b->flags);
    fuzz_check(a->frag_length == b->frag_length);
    fuzz_check(a->call_id == b->call_id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rpc_header h;
    int peek = rpc_peek_header(data, size, &h);

    struct rpc_pdu pdu;
    if (rpc_decode(data, size, &pdu) != 0)
        return 0;
    fuzz_check(peek == 0); /* a PDU rpc_decode accepts has a header rpc_peek_header accepts */
    fuzz_check(pdu.hdr.frag_length == size);

    static uint8_t out1[KMS_LIMIT_PDU_MAX], out2[KMS_LIMIT_PDU_MAX];
    size_t n1 = reencode(&pdu, out1);
    fuzz_check(n1 == size);

    struct rpc_pdu again;
    fuzz_check(rpc_decode(out1, n1, &again) == 0);
    same_header(&pdu.hdr, &again.hdr);
    if (pdu.hdr.ptype == RPC_PTYPE_REQUEST) {
        fuzz_check(again.request.stub_len == pdu.request.stub_len);
        fuzz_check(memcmp(again.request.stub, pdu.request.stub, pdu.request.stub_len) == 0);
        fuzz_check(again.request.opnum == pdu.request.opnum && again.request.ctx_id == pdu.request.ctx_id);
    } else if (pdu.hdr.ptype == RPC_PTYPE_RESPONSE) {
        fuzz_check(again.response.stub_len == pdu.response.stub_len);
        fuzz_check(memcmp(again.response.stub, pdu.response.stub, pdu.response.stub_len) == 0);
    }
    size_t n2 = reencode(&again, out2);
    fuzz_check(n2 == n1 && memcmp(out1, out2, n1) == 0);
    return 0;
}
