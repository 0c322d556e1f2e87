#include "session.h"

#include <string.h>

#include "err.h"
#include "kms_crypto.h"
#include "ndr.h"

void session_init(struct session *s, uint32_t assoc_group)
{
    memset(s, 0, sizeof *s);
    rpc_assoc_init(&s->assoc);
    rpc_reasm_init(&s->reasm);
    s->assoc_group = assoc_group;
}

void session_free(struct session *s)
{
    rpc_reasm_free(&s->reasm);
}

static enum session_action fault(uint32_t call_id, uint32_t status, struct wr *out)
{
    struct rpc_pdu f;
    rpc_fault_init(&f, call_id, status);
    return rpc_encode(&f, out) == 0 ? SESSION_REPLY : SESSION_CLOSE;
}

/* Draws the server's randomness for one response; the V6 response IV must differ from the request's. */
static int draw_random(const struct session_cfg *cfg, const struct kms_request *req, struct kms_response_random *r)
{
    int rc = cfg->rng->fill(cfg->rng->ctx, r, sizeof *r);
    for (int i = 0; rc == 0 && i < 4 && memcmp(r->iv, req->iv, sizeof r->iv) == 0; i++)
        rc = cfg->rng->fill(cfg->rng->ctx, r->iv, sizeof r->iv);
    if (rc == 0 && memcmp(r->iv, req->iv, sizeof r->iv) == 0)
        rc = KMS_ECRYPTO; /* a random source repeating 16 bytes five times is broken */
    return rc;
}

/* Wraps a KMS response (or, with hresult != 0, the error stub) in a RESPONSE PDU. */
static enum session_action respond(struct session *s, const struct session_cfg *cfg, uint32_t call_id,
                                   uint16_t ctx_id, bool ndr64, uint32_t hresult, const uint8_t *kms, size_t kms_len,
                                   struct wr *out, struct session_event *ev)
{
    uint8_t ndr_buf[KMS_RESPONSE_MAX_LEN + 64];
    struct wr nw;
    wr_init(&nw, ndr_buf, sizeof ndr_buf);
    int rc = hresult ? ndr_encode_error(&nw, ndr64, hresult) : ndr_encode_response(&nw, ndr64, kms, kms_len);
    struct rpc_pdu resp;
    if (rc == 0) {
        rpc_response_init(&resp, call_id, ctx_id, ndr_buf, nw.off);
        rc = rpc_encode(&resp, out);
    }
    if (rc < 0) {
        ev->close_err = rc;
        return SESSION_CLOSE;
    }
    if (s->requests < UINT32_MAX)
        s->requests++;
    return cfg->max_requests && s->requests >= cfg->max_requests ? SESSION_REPLY_CLOSE : SESSION_REPLY;
}

/* Decodes a complete request stub and decides it: undecodable requests are refused at once, decided ones
 * become pending until the caller has recorded them. */
static enum session_action decide(struct session *s, const struct session_cfg *cfg, uint32_t call_id,
                                  uint16_t ctx_id, bool ndr64, const uint8_t *stub, size_t stub_len, struct wr *out,
                                  struct session_event *ev)
{
    const uint8_t *msg;
    size_t n;
    ev->activation = true;
    int rc = ndr_decode_request(stub, stub_len, ndr64, &msg, &n);
    if (rc == 0)
        rc = kms_decode_request(msg, n, &ev->req);
    if (rc < 0) {
        ev->decode_err = rc;
        ev->hresult = KMS_HR_INVALID_DATA;
        return respond(s, cfg, call_id, ctx_id, ndr64, ev->hresult, NULL, 0, out, ev);
    }
    activation_decide(cfg->activation, &ev->req, &ev->result);
    ev->hresult = ev->result.hresult;
    struct session_pending *p = &s->pending;
    p->active = true;
    p->call_id = call_id;
    p->ctx_id = ctx_id;
    p->ndr64 = ndr64;
    p->req = ev->req;
    p->result = ev->result;
    return SESSION_ACTIVATE;
}

enum session_action session_complete(struct session *s, const struct session_cfg *cfg, int64_t count, struct wr *out,
                                     struct session_event *ev)
{
    memset(ev, 0, sizeof *ev);
    struct session_pending *p = &s->pending;
    if (!p->active) {
        ev->close_err = KMS_EINVAL;
        return SESSION_CLOSE;
    }
    p->active = false;
    ev->activation = true;
    ev->req = p->req;
    ev->result = p->result;
    if (count >= 0)
        ev->result.params.current_count = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
    ev->hresult = ev->result.hresult;
    uint8_t kms_out[KMS_RESPONSE_MAX_LEN];
    size_t kms_len = 0;
    if (ev->hresult == 0) {
        struct kms_response_random rnd;
        int rc = draw_random(cfg, &p->req, &rnd);
        if (rc == 0)
            rc = kms_encode_response(&p->req, &ev->result.params, &rnd, kms_out, sizeof kms_out, &kms_len);
        kms_wipe(&rnd, sizeof rnd);
        if (rc < 0) {
            ev->decode_err = rc;
            ev->hresult = KMS_HR_INVALID_DATA;
        }
    }
    enum session_action a =
        respond(s, cfg, p->call_id, p->ctx_id, p->ndr64, ev->hresult, kms_out, kms_len, out, ev);
    kms_wipe(p, sizeof *p);
    kms_wipe(kms_out, sizeof kms_out);
    return a;
}

static enum session_action on_request(struct session *s, const struct session_cfg *cfg, const struct rpc_pdu *pdu,
                                      struct wr *out, struct session_event *ev)
{
    if (!s->bound) /* protocol.md 2.4: a REQUEST before a successful BIND gets a FAULT */
        return fault(pdu->hdr.call_id, RPC_STATUS_PROTO_ERROR, out);
    const uint8_t *stub;
    size_t stub_len;
    int rc = rpc_reasm_feed(&s->reasm, pdu, &stub, &stub_len);
    if (rc < 0) {
        ev->close_err = rc;
        return SESSION_CLOSE;
    }
    if (rc == 0)
        return SESSION_WAIT;
    enum rpc_syntax syn = rpc_assoc_syntax(&s->assoc, pdu->request.ctx_id);
    enum session_action a;
    if (syn == RPC_SYNTAX_NONE)
        a = fault(pdu->hdr.call_id, RPC_STATUS_UNK_IF, out);
    else if (pdu->request.opnum != 0)
        a = fault(pdu->hdr.call_id, SESSION_STATUS_OP_RNG_ERROR, out);
    else
        a = decide(s, cfg, pdu->hdr.call_id, pdu->request.ctx_id, syn == RPC_SYNTAX_NDR64, stub, stub_len, out, ev);
    rpc_reasm_release(&s->reasm); /* the request is decoded: an idle connection keeps no reassembly buffer */
    return a;
}

enum session_action session_on_pdu(struct session *s, const struct session_cfg *cfg, const uint8_t *bytes,
                                   size_t len, struct wr *out, struct session_event *ev)
{
    memset(ev, 0, sizeof *ev);
    if (s->pending.active) { /* the caller must complete the pending activation first */
        ev->close_err = KMS_EINVAL;
        return SESSION_CLOSE;
    }
    struct rpc_pdu pdu;
    int rc = rpc_decode(bytes, len, &pdu);
    if (rc < 0) {
        ev->close_err = rc;
        return SESSION_CLOSE;
    }
    switch (pdu.hdr.ptype) {
    case RPC_PTYPE_BIND:
    case RPC_PTYPE_ALTER_CONTEXT: {
        if (pdu.hdr.ptype == RPC_PTYPE_ALTER_CONTEXT && !s->bound) {
            ev->close_err = KMS_ERPC_PTYPE;
            return SESSION_CLOSE;
        }
        struct rpc_pdu reply;
        rc = rpc_bind_reply(&pdu, &cfg->bind, s->assoc_group, cfg->sec_addr, &s->assoc, &reply);
        if (rc == 0)
            rc = rpc_encode(&reply, out);
        if (rc < 0) {
            ev->close_err = rc;
            return SESSION_CLOSE;
        }
        s->bound = true;
        return SESSION_REPLY;
    }
    case RPC_PTYPE_REQUEST:
        return on_request(s, cfg, &pdu, out, ev);
    default:
        ev->close_err = KMS_ERPC_PTYPE;
        return SESSION_CLOSE;
    }
}
