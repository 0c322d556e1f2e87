/*
 * Every recorded wire session in tests/fixtures/vectors, through the whole core:
 * - every PDU decodes (rpc), every REQUEST stub unwraps (ndr) to a KMS request that decodes to the fields
 *   the recording lists;
 * - every recorded KMS response verifies against its recorded request with the client verifier, and its
 *   fields equal the recorded ones; error stubs carry 0x8007000D and answer only unsupported versions;
 * - as a server, given the recorded response's parameters and the randomness recoverable from it (the
 *   salt R = randomXor ^ S_req, the V6 response IV from the wire), we reproduce the recorded KMS response
 *   and the whole RESPONSE PDU byte for byte; for unsupported versions we produce the recorded error PDU.
 * Nothing is skipped silently: the counts of what was checked are compared with what the recordings hold.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "guid.h"
#include "kms.h"
#include "kms_crypto.h"
#include "ndr.h"
#include "rpc.h"

#define MAX_CTX 16

struct counts {
    size_t sessions, pdus, requests, requests_decoded, unsupported, responses_verified, answered_unsupported, error_stubs,
        reproduced_kms, reproduced_pdu;
    size_t want_requests_decoded, want_responses, want_error_stubs;
};

struct session {
    const char *file;
    bool server_vlmcsd;
    struct rpc_bind offered; /* last BIND / ALTER_CONTEXT body */
    struct {
        uint16_t id;
        enum rpc_syntax syntax;
    } ctx[MAX_CTX];
    size_t nctx;
    /* the last request */
    bool have_req, req_supported;
    uint16_t req_ctx;
    uint32_t req_call;
    struct kms_request req;
};

static enum rpc_syntax ctx_syntax(const struct session *s, uint16_t id)
{
    for (size_t i = 0; i < s->nctx; i++)
        if (s->ctx[i].id == id)
            return s->ctx[i].syntax;
    return RPC_SYNTAX_NONE;
}

static void learn_contexts(struct session *s, const struct rpc_bind_ack *ack)
{
    assert_int_equal(ack->n_results, s->offered.n_ctx);
    for (size_t i = 0; i < ack->n_results; i++) {
        const struct rpc_result *r = &ack->results[i];
        if (r->result != RPC_RESULT_ACCEPT)
            continue;
        enum rpc_syntax syn = guid_eq(&r->transfer.uuid, &rpc_uuid_ndr64)   ? RPC_SYNTAX_NDR64
                              : guid_eq(&r->transfer.uuid, &rpc_uuid_ndr32) ? RPC_SYNTAX_NDR32
                                                                             : RPC_SYNTAX_NONE;
        assert_int_not_equal(syn, RPC_SYNTAX_NONE);
        assert_true(s->nctx < MAX_CTX);
        s->ctx[s->nctx].id = s->offered.ctx[i].ctx_id;
        s->ctx[s->nctx].syntax = syn;
        s->nctx++;
    }
}

static void check_guid(json_t *o, const char *key, const struct guid *g)
{
    char t[GUID_TEXT_LEN + 1];
    guid_format(g, t);
    assert_string_equal(t, tu_str(o, key));
}

static void check_request(const struct kms_request *q, json_t *want)
{
    assert_int_equal(q->version_minor, tu_int(want, "versionMinor"));
    assert_int_equal(q->version_major, tu_int(want, "versionMajor"));
    assert_int_equal(q->is_client_vm, tu_int(want, "isClientVm"));
    assert_int_equal(q->license_status, tu_int(want, "licenseStatus"));
    assert_int_equal(q->grace_time, tu_int(want, "graceTime"));
    check_guid(want, "applicationId", &q->app_id);
    check_guid(want, "skuId", &q->sku_id);
    check_guid(want, "kmsCountedId", &q->kms_id);
    check_guid(want, "clientMachineId", &q->cmid);
    check_guid(want, "previousClientMachineId", &q->prev_cmid);
    assert_int_equal(q->required_count, tu_int(want, "requiredClientCount"));
    assert_true(q->request_time == (uint64_t)tu_int(want, "requestTime"));
    char name[256];
    assert_int_equal(kms_request_machine_name(q, name, sizeof name), 0);
    assert_string_equal(name, tu_str(want, "machineName"));
}

static void check_response(const struct kms_response *r, json_t *kms)
{
    json_t *want = tu_obj(kms, "response");
    assert_int_equal(r->version_minor, tu_int(want, "versionMinor"));
    assert_int_equal(r->version_major, tu_int(want, "versionMajor"));
    assert_int_equal(r->epid_bytes, tu_int(want, "epidLen"));
    assert_string_equal(r->epid, tu_str(want, "kmsEpid"));
    check_guid(want, "clientMachineId", &r->cmid);
    assert_true(r->response_time == (uint64_t)tu_int(want, "responseTime"));
    assert_int_equal(r->current_count, tu_int(want, "currentClientCount"));
    assert_int_equal(r->activation_interval, tu_int(want, "vLActivationInterval"));
    assert_int_equal(r->renewal_interval, tu_int(want, "vLRenewalInterval"));
    if (r->version_major >= 6) {
        uint8_t hw[8];
        tu_unhex_n(tu_str(kms, "hwid"), hw, 8);
        assert_memory_equal(r->hwid, hw, 8);
    }
}

/* Encodes our server's RESPONSE PDU for a KMS message (or an error stub when msg is NULL). */
static size_t server_pdu(const struct session *s, const uint8_t *msg, size_t len, uint32_t hresult, uint8_t *out,
                         size_t cap)
{
    bool ndr64 = ctx_syntax(s, s->req_ctx) == RPC_SYNTAX_NDR64;
    uint8_t stub[512];
    struct wr w;
    wr_init(&w, stub, sizeof stub);
    if (msg)
        assert_int_equal(ndr_encode_response(&w, ndr64, msg, len), 0);
    else
        assert_int_equal(ndr_encode_error(&w, ndr64, hresult), 0);
    struct rpc_pdu pdu;
    rpc_response_init(&pdu, s->req_call, s->req_ctx, stub, w.off);
    struct wr o;
    wr_init(&o, out, cap);
    assert_int_equal(rpc_encode(&pdu, &o), 0);
    return o.off;
}

/* Our server's answer to the recorded request with the recorded response's parameters and randomness. */
static void reproduce(struct session *s, const uint8_t *msg, size_t len, json_t *kms, const uint8_t *pdu_bytes,
                      size_t pdu_len, struct counts *c)
{
    json_t *want = tu_obj(kms, "response");
    struct kms_response_params p;
    memset(&p, 0, sizeof p);
    p.epid = tu_str(want, "kmsEpid");
    p.current_count = (uint32_t)tu_int(want, "currentClientCount");
    p.activation_interval = (uint32_t)tu_int(want, "vLActivationInterval");
    p.renewal_interval = (uint32_t)tu_int(want, "vLRenewalInterval");
    struct kms_response_random rnd;
    memset(&rnd, 0, sizeof rnd);
    int major = s->req.version_major;
    if (major >= 5) {
        /* recover R from the recorded plaintext: randomXor ^ S_req */
        struct kms_aes aes;
        kms_aes_init128(&aes, major == 5 ? kms_key_v5 : kms_key_v6, major == 6);
        uint8_t plain[512];
        size_t plen;
        assert_int_equal(kms_cbc_decrypt(&aes, msg + 4, msg + 20, len - 20, plain, sizeof plain, &plen), 0);
        kms_aes_wipe(&aes);
        size_t base = 44 + (size_t)tu_int(want, "epidLen");
        for (int i = 0; i < 16; i++)
            rnd.salt[i] = plain[base + i] ^ s->req.salt[i];
        memcpy(rnd.iv, msg + 4, 16);
        if (major == 6)
            tu_unhex_n(tu_str(kms, "hwid"), p.hwid, 8);
    }
    uint8_t ours[KMS_RESPONSE_MAX_LEN];
    size_t olen;
    assert_int_equal(kms_encode_response(&s->req, &p, &rnd, ours, sizeof ours, &olen), 0);
    assert_int_equal(olen, len);
    assert_memory_equal(ours, msg, len);
    c->reproduced_kms++;

    uint8_t pdu[1024];
    size_t n = server_pdu(s, ours, olen, 0, pdu, sizeof pdu);
    assert_int_equal(n, pdu_len);
    assert_memory_equal(pdu, pdu_bytes, n);
    c->reproduced_pdu++;
}

static void on_request(struct session *s, const struct rpc_pdu *pdu, json_t *dec, struct counts *c)
{
    enum rpc_syntax syn = ctx_syntax(s, pdu->request.ctx_id);
    assert_int_not_equal(syn, RPC_SYNTAX_NONE);
    assert_int_equal(pdu->request.opnum, 0);
    const uint8_t *msg;
    size_t len;
    assert_int_equal(ndr_decode_request(pdu->request.stub, pdu->request.stub_len, syn == RPC_SYNTAX_NDR64, &msg, &len),
                     0);
    json_t *kms = tu_obj(dec, "kms");
    assert_int_equal(len, tu_int(kms, "kms_body_len"));
    c->requests++;
    s->have_req = true;
    s->req_ctx = pdu->request.ctx_id;
    s->req_call = pdu->hdr.call_id;

    struct kms_request strict;
    int rc = kms_decode_request(msg, len, &strict);
    s->req_supported = rc == 0;
    if (rc != 0) {
        assert_int_equal(rc, KMS_EVERSION);
        c->unsupported++;
    }
    json_t *want = json_object_get(kms, "request");
    if (want) {
        assert_int_equal(kms_parse_request(msg, len, &s->req), 0);
        check_request(&s->req, want);
        if (s->req_supported)
            assert_memory_equal(&strict, &s->req, sizeof strict);
        if (json_object_get(kms, "hash_ok"))
            assert_int_equal(s->req.v4_hash_ok, json_is_true(json_object_get(kms, "hash_ok")));
        c->requests_decoded++;
    } else {
        /* the recording tool could not interpret it either: an unsupported version */
        assert_false(s->req_supported);
        s->have_req = false;
    }
}

static void on_response(struct session *s, const struct rpc_pdu *pdu, json_t *dec, const uint8_t *bytes, size_t n,
                        struct counts *c)
{
    enum rpc_syntax syn = ctx_syntax(s, pdu->response.ctx_id);
    assert_int_not_equal(syn, RPC_SYNTAX_NONE);
    struct ndr_response nr;
    assert_int_equal(ndr_decode_response(pdu->response.stub, pdu->response.stub_len, syn == RPC_SYNTAX_NDR64, &nr), 0);
    if (nr.error_form) {
        assert_int_equal(nr.hresult, KMS_HR_INVALID_DATA);
        assert_false(s->req_supported); /* recorded hosts refuse only what we refuse */
        c->error_stubs++;
        uint8_t ours[256];
        size_t olen = server_pdu(s, NULL, 0, KMS_HR_INVALID_DATA, ours, sizeof ours);
        assert_int_equal(olen, n);
        assert_memory_equal(ours, bytes, n);
        c->reproduced_pdu++;
        return;
    }
    assert_int_equal(nr.hresult, 0);
    assert_true(s->have_req);
    json_t *kms = tu_obj(dec, "kms");
    struct kms_response r;
    int rc = kms_decode_response(&s->req, nr.msg, nr.len, &r);
    if (rc != 0)
        fail_msg("%s: response does not verify: %s", s->file, kms_strerror(rc));
    check_response(&r, kms);
    c->responses_verified++;
    if (s->req_supported)
        reproduce(s, nr.msg, nr.len, kms, bytes, n, c);
    else
        c->answered_unsupported++; /* py-kms answers minor 1 in kind; we refuse it like vlmcsd and Windows */
}

static void run_session(const char *file, struct counts *c)
{
    json_t *root = tu_load_json(file);
    struct session s;
    memset(&s, 0, sizeof s);
    s.file = file;
    s.server_vlmcsd = strcmp(tu_str(root, "server"), "vlmcsd") == 0;
    json_t *pdus = tu_obj(root, "pdus");
    size_t i;
    json_t *p;
    json_array_foreach(pdus, i, p)
    {
        size_t n;
        uint8_t *bytes = tu_unhex(tu_str(p, "hex"), &n);
        uint8_t *exact = malloc(n);
        assert_non_null(exact);
        memcpy(exact, bytes, n);
        free(bytes);
        json_t *dec = tu_obj(p, "decoded");
        struct rpc_pdu pdu;
        int rc = rpc_decode(exact, n, &pdu);
        if (rc != 0)
            fail_msg("%s: PDU %zu does not decode: %s", file, i, kms_strerror(rc));
        c->pdus++;
        switch (pdu.hdr.ptype) {
        case RPC_PTYPE_BIND:
        case RPC_PTYPE_ALTER_CONTEXT:
            s.offered = pdu.bind;
            break;
        case RPC_PTYPE_BIND_ACK:
        case RPC_PTYPE_ALTER_CONTEXT_RESP:
            learn_contexts(&s, &pdu.bind_ack);
            break;
        case RPC_PTYPE_REQUEST:
            on_request(&s, &pdu, dec, c);
            break;
        case RPC_PTYPE_RESPONSE:
            on_response(&s, &pdu, dec, exact, n, c);
            break;
        default:
            fail_msg("%s: unexpected PDU type %u", file, pdu.hdr.ptype);
        }
        free(exact);
        /* what the recording holds, to compare with what was checked */
        json_t *kms = json_object_get(dec, "kms");
        if (kms && json_object_get(kms, "request"))
            c->want_requests_decoded++;
        if (kms && json_object_get(kms, "response"))
            c->want_responses++;
        if (json_object_get(dec, "kms_error_status"))
            c->want_error_stubs++;
    }
    c->sessions++;
    json_decref(root);
}

static void all_sessions(void **state)
{
    (void)state;
    char **names;
    size_t n = tu_list_json("vectors", &names);
    assert_int_equal(n, 180);
    struct counts c;
    memset(&c, 0, sizeof c);
    for (size_t i = 0; i < n; i++)
        run_session(names[i], &c);
    tu_free_names(names, n);
    print_message("sessions %zu, PDUs %zu, requests %zu (decoded %zu, unsupported versions %zu), responses verified "
                  "%zu, error stubs %zu, KMS responses reproduced %zu, RESPONSE PDUs reproduced %zu\n",
                  c.sessions, c.pdus, c.requests, c.requests_decoded, c.unsupported, c.responses_verified,
                  c.error_stubs, c.reproduced_kms, c.reproduced_pdu);
    assert_int_equal(c.sessions, 180);
    assert_int_equal(c.requests_decoded, c.want_requests_decoded);
    assert_int_equal(c.responses_verified, c.want_responses);
    assert_int_equal(c.error_stubs, c.want_error_stubs);
    assert_true(c.requests > 170 && c.responses_verified > 170);
    /* every supported request answered in kind was reproduced, and every error stub */
    assert_int_equal(c.reproduced_kms + c.answered_unsupported, c.responses_verified);
    assert_int_equal(c.reproduced_pdu, c.reproduced_kms + c.error_stubs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(all_sessions)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
