/*
 * The per-connection state machine: every recorded client conversation replayed through it (bind answers
 * as the recorded genuine-like host gave them, every response verified by the client verifier, refusals for
 * unsupported versions), and the odd cases: REQUEST before BIND, unknown context, wrong opnum, fragments,
 * garbage, the request cap.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ndr.h"
#include "session.h"

struct fixture {
    uint64_t seed;
    struct kms_rng rng;
    struct activation_host host;
    struct activation_cfg acfg;
    struct session_cfg cfg;
    struct session s;
};

static struct fixture *fixture_new(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->seed = 11;
    f->rng.fill = tu_det_fill;
    f->rng.ctx = &f->seed;
    assert_int_equal(activation_host_generate(&f->host, activation_default_build(), 1033, NULL, 1795000000, &f->rng),
                     0);
    f->acfg.client_count = -1;
    f->acfg.activation_interval = 120;
    f->acfg.renewal_interval = 10080;
    f->acfg.host = &f->host;
    f->cfg.bind.ndr32 = f->cfg.bind.ndr64 = f->cfg.bind.btfn = true;
    snprintf(f->cfg.sec_addr, sizeof f->cfg.sec_addr, "1688");
    f->cfg.max_requests = 64;
    f->cfg.activation = &f->acfg;
    f->cfg.rng = &f->rng;
    session_init(&f->s, 0x1063bf3f);
    return f;
}

static enum session_action feed(struct fixture *f, const uint8_t *p, size_t n, uint8_t *out, size_t *out_len,
                                struct session_event *ev)
{
    struct wr w;
    wr_init(&w, out, 1024);
    enum session_action a = session_on_pdu(&f->s, &f->cfg, p, n, &w, ev);
    if (a == SESSION_ACTIVATE) { /* the registry would record it here */
        assert_int_equal(w.off, 0);
        a = session_complete(&f->s, &f->cfg, -1, &w, ev);
    }
    *out_len = w.off;
    return a;
}

static void replay_one(const char *file, size_t *verified, size_t *refused)
{
    json_t *root = tu_load_json(file);
    bool vlmcsd = strcmp(tu_str(root, "server"), "vlmcsd") == 0;
    struct fixture *f = fixture_new();
    /* The recorded client followed the recorded host's bind answer: replay against the same choice (the
     * NDR64-capable host was vlmcsd; py-kms offers NDR32 only). */
    f->cfg.bind.ndr64 = vlmcsd;
    json_t *pdus = tu_obj(root, "pdus");
    uint8_t reply[1024];
    size_t rlen = 0;
    bool have_reply = false;
    struct kms_request client_req;
    bool req_ok = false;
    for (size_t i = 0; i < json_array_size(pdus); i++) {
        json_t *p = json_array_get(pdus, i);
        size_t n;
        uint8_t *bytes = tu_unhex(tu_str(p, "hex"), &n);
        struct rpc_pdu rec;
        assert_int_equal(rpc_decode(bytes, n, &rec), 0);
        if (strcmp(tu_str(p, "dir"), "c2s") == 0) {
            struct session_event ev;
            enum session_action a = feed(f, bytes, n, reply, &rlen, &ev);
            assert_int_equal(a, SESSION_REPLY);
            have_reply = true;
            if (rec.hdr.ptype == RPC_PTYPE_REQUEST) {
                enum rpc_syntax syn = rpc_assoc_syntax(&f->s.assoc, rec.request.ctx_id);
                const uint8_t *msg;
                size_t mlen;
                assert_int_equal(
                    ndr_decode_request(rec.request.stub, rec.request.stub_len, syn == RPC_SYNTAX_NDR64, &msg, &mlen),
                    0);
                req_ok = kms_parse_request(msg, mlen, &client_req) == 0;
                struct rpc_pdu out;
                assert_int_equal(rpc_decode(reply, rlen, &out), 0);
                assert_int_equal(out.hdr.ptype, RPC_PTYPE_RESPONSE);
                assert_int_equal(out.hdr.call_id, rec.hdr.call_id);
                assert_int_equal(out.response.ctx_id, rec.request.ctx_id);
                struct ndr_response nr;
                assert_int_equal(
                    ndr_decode_response(out.response.stub, out.response.stub_len, syn == RPC_SYNTAX_NDR64, &nr), 0);
                if (ev.decode_err) {
                    assert_true(nr.error_form);
                    assert_int_equal(nr.hresult, KMS_HR_INVALID_DATA);
                    (*refused)++;
                } else {
                    assert_true(req_ok);
                    assert_false(nr.error_form);
                    struct kms_response resp;
                    int rc = kms_decode_response(&client_req, nr.msg, nr.len, &resp);
                    if (rc)
                        fail_msg("%s: our response does not verify: %s", file, kms_strerror(rc));
                    assert_int_equal(resp.current_count, 2 * client_req.required_count);
                    (*verified)++;
                }
            }
        } else if (vlmcsd && have_reply &&
                   (rec.hdr.ptype == RPC_PTYPE_BIND_ACK || rec.hdr.ptype == RPC_PTYPE_ALTER_CONTEXT_RESP)) {
            /* the same results as the recorded host (which behaves like a Windows host with NDR64) */
            struct rpc_pdu ours;
            assert_int_equal(rpc_decode(reply, rlen, &ours), 0);
            assert_int_equal(ours.hdr.ptype, rec.hdr.ptype);
            assert_int_equal(ours.hdr.flags, rec.hdr.flags);
            assert_int_equal(ours.bind_ack.n_results, rec.bind_ack.n_results);
            for (size_t k = 0; k < rec.bind_ack.n_results; k++) {
                assert_int_equal(ours.bind_ack.results[k].result, rec.bind_ack.results[k].result);
                assert_int_equal(ours.bind_ack.results[k].reason, rec.bind_ack.results[k].reason);
                assert_memory_equal(&ours.bind_ack.results[k].transfer, &rec.bind_ack.results[k].transfer,
                                    sizeof(struct rpc_syntax_id));
            }
        }
        free(bytes);
    }
    session_free(&f->s);
    free(f);
    json_decref(root);
}

static void replay_vectors(void **state)
{
    (void)state;
    char **names;
    size_t n = tu_list_json("vectors", &names);
    assert_int_equal(n, 180);
    size_t verified = 0, refused = 0;
    for (size_t i = 0; i < n; i++)
        replay_one(names[i], &verified, &refused);
    tu_free_names(names, n);
    print_message("%zu responses verified, %zu unsupported versions refused\n", verified, refused);
    assert_int_equal(verified + refused, 179); /* every recorded request answered */
    assert_int_equal(refused, 10);
}

/* A BIND offering NDR32 + NDR64 + BTFN, from the client helper. */
static size_t client_bind(uint8_t *buf, size_t cap, bool ndr64)
{
    struct rpc_pdu b;
    rpc_client_bind(&b, 2, 0x13, ndr64, true);
    struct wr w;
    wr_init(&w, buf, cap);
    assert_int_equal(rpc_encode(&b, &w), 0);
    return w.off;
}

static size_t client_request(uint8_t *buf, size_t cap, uint16_t ctx, uint16_t opnum, uint8_t flags, const uint8_t *stub,
                             size_t stub_len)
{
    struct rpc_pdu r;
    rpc_request_init(&r, 3, ctx, opnum, stub, stub_len);
    r.hdr.flags = flags;
    struct wr w;
    wr_init(&w, buf, cap);
    assert_int_equal(rpc_encode(&r, &w), 0);
    return w.off;
}

static size_t v6_stub(uint8_t *stub, size_t cap, bool ndr64, struct kms_request *req)
{
    memset(req, 0, sizeof *req);
    req->version_major = 6;
    req->required_count = 25;
    assert_int_equal(guid_parse(&req->app_id, "55c92734-d682-4d71-983e-d6ec3f16059f"), 0);
    assert_int_equal(guid_parse(&req->kms_id, "58e2134f-8e11-4d17-9cb2-91069c151148"), 0);
    uint8_t iv[16] = {9, 8, 7};
    uint8_t msg[300];
    size_t n;
    assert_int_equal(kms_encode_request(req, iv, msg, sizeof msg, &n), 0);
    struct wr w;
    wr_init(&w, stub, cap);
    assert_int_equal(ndr_encode_request(&w, ndr64, msg, n), 0);
    return w.off;
}

static void odd_cases(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    uint8_t pdu[1024], reply[1024], stub[512];
    size_t n, rlen;
    struct session_event ev;
    struct kms_request req;
    size_t slen = v6_stub(stub, sizeof stub, false, &req);

    /* REQUEST before BIND: FAULT nca_proto_error, echoing the call id */
    n = client_request(pdu, sizeof pdu, 0, 0, 0x03, stub, slen);
    assert_int_equal(feed(f, pdu, n, reply, &rlen, &ev), SESSION_REPLY);
    struct rpc_pdu out;
    assert_int_equal(rpc_decode(reply, rlen, &out), 0);
    assert_int_equal(out.hdr.ptype, RPC_PTYPE_FAULT);
    assert_int_equal(out.fault.status, RPC_STATUS_PROTO_ERROR);
    assert_int_equal(out.hdr.call_id, 3);

    /* ALTER_CONTEXT before BIND closes */
    struct rpc_pdu alter;
    rpc_client_bind(&alter, 2, 0x03, false, false);
    alter.hdr.ptype = RPC_PTYPE_ALTER_CONTEXT;
    struct wr w;
    wr_init(&w, pdu, sizeof pdu);
    assert_int_equal(rpc_encode(&alter, &w), 0);
    assert_int_equal(feed(f, pdu, w.off, reply, &rlen, &ev), SESSION_CLOSE);

    /* BIND with NDR32 only: context 0 is NDR32 */
    n = client_bind(pdu, sizeof pdu, false);
    assert_int_equal(feed(f, pdu, n, reply, &rlen, &ev), SESSION_REPLY);
    assert_int_equal(rpc_assoc_syntax(&f->s.assoc, 0), RPC_SYNTAX_NDR32);

    /* unknown context: FAULT nca_unk_if; opnum 1: FAULT op_rng_error */
    n = client_request(pdu, sizeof pdu, 7, 0, 0x03, stub, slen);
    assert_int_equal(feed(f, pdu, n, reply, &rlen, &ev), SESSION_REPLY);
    assert_int_equal(rpc_decode(reply, rlen, &out), 0);
    assert_int_equal(out.fault.status, RPC_STATUS_UNK_IF);
    n = client_request(pdu, sizeof pdu, 0, 1, 0x03, stub, slen);
    assert_int_equal(feed(f, pdu, n, reply, &rlen, &ev), SESSION_REPLY);
    assert_int_equal(rpc_decode(reply, rlen, &out), 0);
    assert_int_equal(out.fault.status, SESSION_STATUS_OP_RNG_ERROR);

    /* a request in two fragments: the first waits, the second is answered and verifies */
    size_t half = slen / 2;
    n = client_request(pdu, sizeof pdu, 0, 0, 0x01, stub, half);
    assert_int_equal(feed(f, pdu, n, reply, &rlen, &ev), SESSION_WAIT);
    assert_int_equal(rlen, 0);
    assert_non_null(f->s.reasm.buf); /* allocated for the sequence only */
    n = client_request(pdu, sizeof pdu, 0, 0, 0x02, stub + half, slen - half);
    assert_int_equal(feed(f, pdu, n, reply, &rlen, &ev), SESSION_REPLY);
    assert_null(f->s.reasm.buf); /* and released once the request is decoded */
    assert_true(ev.activation);
    assert_int_equal(ev.hresult, 0);
    assert_int_equal(rpc_decode(reply, rlen, &out), 0);
    struct ndr_response nr;
    assert_int_equal(ndr_decode_response(out.response.stub, out.response.stub_len, false, &nr), 0);
    struct kms_response resp;
    assert_int_equal(kms_decode_response(&req, nr.msg, nr.len, &resp), 0);
    assert_int_equal(resp.current_count, 50);
    assert_memory_equal(resp.hwid, f->host.hwid, 8);

    /* a truncated KMS message inside a valid stub: error stub 0x8007000D, connection kept */
    uint8_t small[64];
    wr_init(&w, small, sizeof small);
    assert_int_equal(ndr_encode_request(&w, false, stub + 8, 20), 0);
    n = client_request(pdu, sizeof pdu, 0, 0, 0x03, small, w.off);
    assert_int_equal(feed(f, pdu, n, reply, &rlen, &ev), SESSION_REPLY);
    assert_int_equal(ev.hresult, KMS_HR_INVALID_DATA);
    assert_int_not_equal(ev.decode_err, 0);

    /* garbage and server-to-client PDU types close the connection */
    static const uint8_t garbage[16] = {1, 2, 3};
    assert_int_equal(feed(f, garbage, sizeof garbage, reply, &rlen, &ev), SESSION_CLOSE);
    struct rpc_pdu fault;
    rpc_fault_init(&fault, 1, RPC_STATUS_UNK_IF);
    wr_init(&w, pdu, sizeof pdu);
    assert_int_equal(rpc_encode(&fault, &w), 0);
    assert_int_equal(feed(f, pdu, w.off, reply, &rlen, &ev), SESSION_CLOSE);
    session_free(&f->s);
    free(f);
}

/* --max-requests: the reply to the last allowed request asks for the connection to be closed (cap 1 to 3, at
 * the limit and below it); 0 is no limit. */
static void request_cap(void **state)
{
    (void)state;
    for (uint32_t cap = 0; cap <= 3; cap++) {
        struct fixture *f = fixture_new();
        f->cfg.max_requests = cap;
        uint8_t pdu[1024], reply[1024], stub[512];
        size_t n, rlen;
        struct session_event ev;
        struct kms_request req;
        n = client_bind(pdu, sizeof pdu, true);
        assert_int_equal(feed(f, pdu, n, reply, &rlen, &ev), SESSION_REPLY);
        assert_int_equal(rpc_assoc_syntax(&f->s.assoc, 1), RPC_SYNTAX_NDR64);
        size_t slen = v6_stub(stub, sizeof stub, true, &req);
        uint32_t last = cap ? cap : 100; /* without a cap, 100 requests all keep the connection */
        for (uint32_t i = 1; i <= last; i++) {
            n = client_request(pdu, sizeof pdu, 1, 0, 0x03, stub, slen);
            enum session_action a = feed(f, pdu, n, reply, &rlen, &ev);
            assert_int_equal(a, i < cap || cap == 0 ? SESSION_REPLY : SESSION_REPLY_CLOSE);
            assert_int_equal(ev.hresult, 0);
        }
        if (cap == 0) { /* the count stops at its top instead of wrapping */
            f->s.requests = UINT32_MAX - 1;
            for (int i = 0; i < 2; i++) {
                n = client_request(pdu, sizeof pdu, 1, 0, 0x03, stub, slen);
                assert_int_equal(feed(f, pdu, n, reply, &rlen, &ev), SESSION_REPLY);
                assert_int_equal(f->s.requests, UINT32_MAX);
            }
        }
        session_free(&f->s);
    free(f);
    }
}

/* A decided request is answered only through session_complete(), with the count it is given. */
static void two_phase(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    uint8_t pdu[1024], reply[1024], stub[512];
    size_t n, rlen;
    struct session_event ev;
    struct kms_request req;
    n = client_bind(pdu, sizeof pdu, true);
    assert_int_equal(feed(f, pdu, n, reply, &rlen, &ev), SESSION_REPLY);
    size_t slen = v6_stub(stub, sizeof stub, true, &req);
    n = client_request(pdu, sizeof pdu, 1, 0, 0x03, stub, slen);
    struct wr w;
    wr_init(&w, reply, sizeof reply);
    assert_int_equal(session_on_pdu(&f->s, &f->cfg, pdu, n, &w, &ev), SESSION_ACTIVATE);
    assert_int_equal(w.off, 0);
    assert_true(ev.activation);
    assert_true(guid_eq(&ev.req.cmid, &req.cmid));
    /* nothing else may be handed in meanwhile */
    struct session_event ev2;
    assert_int_equal(session_on_pdu(&f->s, &f->cfg, pdu, n, &w, &ev2), SESSION_CLOSE);
    assert_int_equal(session_complete(&f->s, &f->cfg, 7, &w, &ev), SESSION_REPLY);
    assert_int_equal(ev.result.params.current_count, 7);
    struct rpc_pdu out;
    assert_int_equal(rpc_decode(reply, w.off, &out), 0);
    struct ndr_response nr;
    assert_int_equal(ndr_decode_response(out.response.stub, out.response.stub_len, true, &nr), 0);
    struct kms_response resp;
    assert_int_equal(kms_decode_response(&req, nr.msg, nr.len, &resp), 0);
    assert_int_equal(resp.current_count, 7);
    /* nothing pending any more */
    wr_init(&w, reply, sizeof reply);
    assert_int_equal(session_complete(&f->s, &f->cfg, -1, &w, &ev), SESSION_CLOSE);
    session_free(&f->s);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replay_vectors),
        cmocka_unit_test(odd_cases),
        cmocka_unit_test(request_cap),
        cmocka_unit_test(two_phase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
