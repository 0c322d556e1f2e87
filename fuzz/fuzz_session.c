/*
 * Fuzz target: the per-connection state machine (session_on_pdu, session_complete) fed a connection's worth
 * of client bytes.
 *
 * Input: one options byte, one count byte, then the client's byte stream. The stream is cut into PDUs the
 * way the server frames it (rpc_peek_header's frag_length; a bad header or a PDU running past the end ends
 * the connection), each PDU handed to session_on_pdu; a pending activation is completed at once, with the
 * policy's count or the count byte. Options: bit 0 NDR64, bit 1 BTFN, bit 2 refuse NDR32, bit 3 genuine count
 * (use the count byte), bits 4-7 the request cap (0: none).
 *
 * Invariants: every reply decodes as a PDU of the type the input called for, echoing its call_id; every
 * successful activation response is accepted by the client verifier (kms_decode_response) for the request
 * the session decoded.
 *
 * Static context, set up once and read-only afterwards: the host identity (generating ePIDs for every
 * CSVLK group is too slow to repeat per input). The random source is re-seeded for every input, so runs
 * are deterministic.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

#include "kms.h"
#include "ndr.h"
#include "session.h"

#define OUT_CAP 1024 /* the server's SERVER_WRITE_MAX */

/* splitmix64: a deterministic stand-in for the system random source. */
static int det_fill(void *ctx, void *buf, size_t len)
{
    uint64_t *s = ctx;
    uint8_t *b = buf;
    for (size_t i = 0; i < len; i++) {
        uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        b[i] = (uint8_t)(z ^ (z >> 31));
    }
    return 0;
}

static const struct activation_host *host_once(void)
{
    static struct activation_host host;
    static bool ready;
    if (!ready) {
        uint64_t seed = 1688;
        struct kms_rng rng = { det_fill, &seed };
        fuzz_check(activation_host_generate(&host, activation_default_build(), 1033, NULL, 1795000000, &rng) == 0);
        ready = true;
    }
    return &host;
}

/* Checks a reply the session wrote for the PDU `in`; `activated` when it answers a decided activation. */
static void check_reply(const struct session *s, const struct rpc_header *in, const uint8_t *out, size_t n,
                        const struct session_event *ev, bool activated)
{
    struct rpc_pdu r;
    fuzz_check(rpc_decode(out, n, &r) == 0);
    fuzz_check(r.hdr.call_id == in->call_id);
    switch (in->ptype) {
    case RPC_PTYPE_BIND:
        fuzz_check(r.hdr.ptype == RPC_PTYPE_BIND_ACK);
        return;
    case RPC_PTYPE_ALTER_CONTEXT:
        fuzz_check(r.hdr.ptype == RPC_PTYPE_ALTER_CONTEXT_RESP);
        return;
    case RPC_PTYPE_REQUEST:
        break;
    default:
        fuzz_check(!"a reply to a PDU the session should have refused");
    }
    fuzz_check(r.hdr.ptype == RPC_PTYPE_RESPONSE || r.hdr.ptype == RPC_PTYPE_FAULT);
    if (r.hdr.ptype != RPC_PTYPE_RESPONSE)
        return;
    fuzz_check(ev->activation);
    enum rpc_syntax syn = rpc_assoc_syntax(&s->assoc, r.response.ctx_id);
    fuzz_check(syn != RPC_SYNTAX_NONE);
    struct ndr_response nr;
    fuzz_check(ndr_decode_response(r.response.stub, r.response.stub_len, syn == RPC_SYNTAX_NDR64, &nr) == 0);
    fuzz_check(nr.hresult == ev->hresult);
    if (!activated || ev->hresult != 0) {
        fuzz_check(nr.error_form);
        return;
    }
    fuzz_check(!nr.error_form);
    struct kms_response resp;
    fuzz_check(kms_decode_response(&ev->req, nr.msg, nr.len, &resp) == 0);
    fuzz_check(resp.current_count == ev->result.params.current_count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t opt = data[0], count_byte = data[1];
    data += 2;
    size -= 2;

    uint64_t seed = 11;
    struct kms_rng rng = { det_fill, &seed };
    struct activation_cfg acfg = { .client_count = -1, .activation_interval = 120, .renewal_interval = 10080,
                                   .host = host_once() };
    struct session_cfg cfg = { .bind = { .ndr32 = !(opt & 4), .ndr64 = opt & 1, .btfn = opt & 2 },
                               .sec_addr = "1688", .max_requests = (uint32_t)(opt >> 4), .activation = &acfg,
                               .rng = &rng };
    int64_t count = (opt & 8) ? count_byte : -1;

    struct session *s = malloc(sizeof *s);
    fuzz_check(s != NULL);
    session_init(s, 0x1063bf3f);
    uint8_t out[OUT_CAP];
    struct session_event ev;
    size_t off = 0;
    bool open = true;
    while (open && size - off >= RPC_HEADER_LEN) {
        struct rpc_header h;
        if (rpc_peek_header(data + off, size - off, &h) < 0 || h.frag_length > size - off)
            break; /* the server closes the connection */
        struct wr w;
        wr_init(&w, out, sizeof out);
        enum session_action a = session_on_pdu(s, &cfg, data + off, h.frag_length, &w, &ev);
        bool activated = false;
        if (a == SESSION_ACTIVATE) { /* the registry records it here */
            fuzz_check(w.off == 0);
            fuzz_check(s->pending.active);
            a = session_complete(s, &cfg, count, &w, &ev);
            activated = true;
        }
        switch (a) {
        case SESSION_WAIT:
            fuzz_check(w.off == 0 && h.ptype == RPC_PTYPE_REQUEST);
            break;
        case SESSION_REPLY:
        case SESSION_REPLY_CLOSE:
            check_reply(s, &h, out, w.off, &ev, activated);
            open = a == SESSION_REPLY;
            break;
        case SESSION_CLOSE:
            open = false;
            break;
        case SESSION_ACTIVATE:
            fuzz_check(!"session_complete asked for another activation");
            break;
        }
        off += h.frag_length;
    }
    session_free(s);
    free(s);
    return 0;
}
