#include "rpc.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Wire bytes from protocol.md 2.2. */
const struct guid rpc_uuid_kms = {
    {0x75, 0x21, 0xc8, 0x51, 0x4e, 0x84, 0x50, 0x47, 0xb0, 0xd8, 0xec, 0x25, 0x55, 0x55, 0xbc, 0x06}};
const struct guid rpc_uuid_ndr32 = {
    {0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60}};
const struct guid rpc_uuid_ndr64 = {
    {0x33, 0x05, 0x71, 0x71, 0xba, 0xbe, 0x37, 0x49, 0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc, 0x36}};

/* BTFN is recognised by its first 8 bytes; bytes 8-9 carry the feature bits, the rest is zero. */
static const uint8_t btfn_prefix[8] = {0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45};

static const uint8_t drep_le_ascii_ieee[4] = {0x10, 0x00, 0x00, 0x00};

/* Fixed body sizes that follow the 16-byte header. */
#define BIND_FIXED_LEN 12u    /* max_xmit, max_recv, assoc_group, n_ctx, 3 reserved */
#define REQUEST_FIXED_LEN 8u  /* alloc_hint, ctx_id, opnum */
#define RESPONSE_FIXED_LEN 8u /* alloc_hint, ctx_id, cancel_count, reserved */
#define OBJECT_UUID_LEN 16u

/* ---- header ---- */

int rpc_peek_header(const uint8_t *p, size_t len, struct rpc_header *h)
{
    if (!p || len < RPC_HEADER_LEN)
        return KMS_ETRUNC;
    struct rd r;
    rd_init(&r, p, RPC_HEADER_LEN);
    uint8_t vers = rd_u8(&r);
    uint8_t vers_minor = rd_u8(&r);
    h->ptype = rd_u8(&r);
    h->flags = rd_u8(&r);
    const uint8_t *drep = rd_view(&r, 4);
    h->frag_length = rd_u16le(&r);
    h->auth_length = rd_u16le(&r);
    h->call_id = rd_u32le(&r);
    if (r.err)
        return r.err;
    if (vers != 5 || vers_minor != 0)
        return KMS_ERPC_VERSION;
    if (memcmp(drep, drep_le_ascii_ieee, sizeof drep_le_ascii_ieee) != 0)
        return KMS_ERPC_DREP;
    if (h->auth_length != 0)
        return KMS_ERPC_AUTH;
    if (h->frag_length < KMS_LIMIT_PDU_MIN)
        return KMS_ERPC_FRAGLEN;
    if (h->frag_length > KMS_LIMIT_PDU_MAX)
        return KMS_ERPC_TOOBIG;
    return 0;
}

/* ---- decode ---- */

static void read_syntax(struct rd *r, struct rpc_syntax_id *s)
{
    guid_read(r, &s->uuid);
    s->version = rd_u32le(r);
}

static int decode_bind(struct rd *r, struct rpc_bind *b)
{
    b->max_xmit = rd_u16le(r);
    b->max_recv = rd_u16le(r);
    b->assoc_group = rd_u32le(r);
    b->n_ctx = rd_u8(r);
    rd_skip(r, 3);
    if (r->err)
        return r->err;
    if (b->n_ctx > KMS_LIMIT_BIND_CONTEXTS)
        return KMS_ERPC_COUNT;
    for (size_t i = 0; i < b->n_ctx; i++) {
        struct rpc_ctx_elem *e = &b->ctx[i];
        e->ctx_id = rd_u16le(r);
        e->n_transfer = rd_u8(r);
        rd_skip(r, 1);
        if (r->err)
            return r->err;
        if (e->n_transfer > KMS_LIMIT_TRANSFER_SYNTAXES)
            return KMS_ERPC_COUNT;
        guid_read(r, &e->abstract);
        e->abstract_major = rd_u16le(r);
        e->abstract_minor = rd_u16le(r);
        for (size_t j = 0; j < e->n_transfer; j++)
            read_syntax(r, &e->transfer[j]);
    }
    return rd_expect_end(r);
}

/* r covers the whole PDU so that the secondary-address pad is aligned relative to the PDU start. */
static int decode_bind_ack(struct rd *r, struct rpc_bind_ack *a)
{
    a->max_xmit = rd_u16le(r);
    a->max_recv = rd_u16le(r);
    a->assoc_group = rd_u32le(r);
    a->sec_addr_len = rd_u16le(r);
    if (r->err)
        return r->err;
    if (a->sec_addr_len > KMS_LIMIT_SEC_ADDR)
        return KMS_ERPC_TOOBIG;
    rd_bytes(r, a->sec_addr, a->sec_addr_len);
    a->sec_addr[a->sec_addr_len] = '\0';
    rd_align(r, 4); /* pad values ignored: recorded ALTER_CONTEXT_RESPs carry leftovers there */
    a->n_results = rd_u8(r);
    rd_skip(r, 3);
    if (r->err)
        return r->err;
    if (a->n_results > KMS_LIMIT_BIND_CONTEXTS)
        return KMS_ERPC_COUNT;
    for (size_t i = 0; i < a->n_results; i++) {
        a->results[i].result = rd_u16le(r);
        a->results[i].reason = rd_u16le(r);
        read_syntax(r, &a->results[i].transfer);
    }
    return rd_expect_end(r);
}

static int decode_bind_nak(struct rd *r, struct rpc_bind_nak *n)
{
    n->reject_reason = rd_u16le(r);
    n->n_versions = rd_u8(r);
    if (r->err)
        return r->err;
    if (n->n_versions > KMS_LIMIT_NAK_VERSIONS)
        return KMS_ERPC_COUNT;
    for (size_t i = 0; i < n->n_versions; i++) {
        n->versions[i].major = rd_u8(r);
        n->versions[i].minor = rd_u8(r);
    }
    return rd_expect_end(r);
}

/* The stub of a REQUEST or RESPONSE: every byte that remains, as a borrowed view (none after an error). */
static int read_stub(struct rd *r, const uint8_t **stub, size_t *len)
{
    *len = rd_left(r);
    *stub = rd_view(r, *len);
    if (r->err)
        *len = 0;
    return r->err;
}

static int decode_request(struct rd *r, uint8_t flags, struct rpc_request *q)
{
    q->alloc_hint = rd_u32le(r);
    q->ctx_id = rd_u16le(r);
    q->opnum = rd_u16le(r);
    if (flags & RPC_PFC_OBJECT_UUID)
        guid_read(r, &q->object);
    return read_stub(r, &q->stub, &q->stub_len);
}

static int decode_response(struct rd *r, struct rpc_response *s)
{
    s->alloc_hint = rd_u32le(r);
    s->ctx_id = rd_u16le(r);
    s->cancel_count = rd_u8(r);
    rd_skip(r, 1);
    return read_stub(r, &s->stub, &s->stub_len);
}

static int decode_fault(struct rd *r, struct rpc_fault *f)
{
    f->alloc_hint = rd_u32le(r);
    f->ctx_id = rd_u16le(r);
    f->cancel_count = rd_u8(r);
    rd_skip(r, 1);
    f->status = rd_u32le(r);
    rd_skip(r, 4);
    return rd_expect_end(r);
}

int rpc_decode(const uint8_t *p, size_t len, struct rpc_pdu *out)
{
    memset(out, 0, sizeof *out);
    int rc = rpc_peek_header(p, len, &out->hdr);
    if (rc)
        return rc;
    if (out->hdr.frag_length != len)
        return KMS_ERPC_FRAGLEN;
    struct rd r;
    rd_init(&r, p, len);
    rd_skip(&r, RPC_HEADER_LEN);
    switch (out->hdr.ptype) {
    case RPC_PTYPE_BIND:
    case RPC_PTYPE_ALTER_CONTEXT: return decode_bind(&r, &out->bind);
    case RPC_PTYPE_BIND_ACK:
    case RPC_PTYPE_ALTER_CONTEXT_RESP: return decode_bind_ack(&r, &out->bind_ack);
    case RPC_PTYPE_BIND_NAK: return decode_bind_nak(&r, &out->bind_nak);
    case RPC_PTYPE_REQUEST: return decode_request(&r, out->hdr.flags, &out->request);
    case RPC_PTYPE_RESPONSE: return decode_response(&r, &out->response);
    case RPC_PTYPE_FAULT: return decode_fault(&r, &out->fault);
    default: return KMS_ERPC_PTYPE;
    }
}

/* ---- encode ---- */

/* Checks everything that could make encoding index past an array or exceed the PDU limit. */
static int check_encodable(const struct rpc_pdu *pdu)
{
    if (pdu->hdr.auth_length != 0)
        return KMS_ERPC_AUTH;
    size_t fixed = RPC_HEADER_LEN;
    switch (pdu->hdr.ptype) {
    case RPC_PTYPE_BIND:
    case RPC_PTYPE_ALTER_CONTEXT:
        if (pdu->bind.n_ctx > KMS_LIMIT_BIND_CONTEXTS)
            return KMS_ERPC_COUNT;
        for (size_t i = 0; i < pdu->bind.n_ctx; i++)
            if (pdu->bind.ctx[i].n_transfer > KMS_LIMIT_TRANSFER_SYNTAXES)
                return KMS_ERPC_COUNT;
        return 0;
    case RPC_PTYPE_BIND_ACK:
    case RPC_PTYPE_ALTER_CONTEXT_RESP:
        if (pdu->bind_ack.sec_addr_len > KMS_LIMIT_SEC_ADDR)
            return KMS_ERPC_TOOBIG;
        if (pdu->bind_ack.n_results > KMS_LIMIT_BIND_CONTEXTS)
            return KMS_ERPC_COUNT;
        return 0;
    case RPC_PTYPE_BIND_NAK: return pdu->bind_nak.n_versions > KMS_LIMIT_NAK_VERSIONS ? KMS_ERPC_COUNT : 0;
    case RPC_PTYPE_FAULT: return 0;
    case RPC_PTYPE_REQUEST:
        fixed += REQUEST_FIXED_LEN + ((pdu->hdr.flags & RPC_PFC_OBJECT_UUID) ? OBJECT_UUID_LEN : 0);
        if (pdu->request.stub_len > KMS_LIMIT_PDU_MAX - fixed || (pdu->request.stub_len && !pdu->request.stub))
            return KMS_ERPC_TOOBIG;
        return 0;
    case RPC_PTYPE_RESPONSE:
        fixed += RESPONSE_FIXED_LEN;
        if (pdu->response.stub_len > KMS_LIMIT_PDU_MAX - fixed || (pdu->response.stub_len && !pdu->response.stub))
            return KMS_ERPC_TOOBIG;
        return 0;
    default: return KMS_ERPC_PTYPE;
    }
}

static void write_syntax(struct wr *w, const struct rpc_syntax_id *s)
{
    guid_write(w, &s->uuid);
    wr_u32le(w, s->version);
}

static void encode_bind(struct wr *w, const struct rpc_bind *b)
{
    wr_u16le(w, b->max_xmit);
    wr_u16le(w, b->max_recv);
    wr_u32le(w, b->assoc_group);
    wr_u8(w, b->n_ctx);
    wr_zeros(w, 3);
    for (size_t i = 0; i < b->n_ctx; i++) {
        const struct rpc_ctx_elem *e = &b->ctx[i];
        wr_u16le(w, e->ctx_id);
        wr_u8(w, e->n_transfer);
        wr_zeros(w, 1);
        guid_write(w, &e->abstract);
        wr_u16le(w, e->abstract_major);
        wr_u16le(w, e->abstract_minor);
        for (size_t j = 0; j < e->n_transfer; j++)
            write_syntax(w, &e->transfer[j]);
    }
}

static void encode_bind_ack(struct wr *w, size_t start, const struct rpc_bind_ack *a)
{
    wr_u16le(w, a->max_xmit);
    wr_u16le(w, a->max_recv);
    wr_u32le(w, a->assoc_group);
    wr_u16le(w, a->sec_addr_len);
    wr_bytes(w, a->sec_addr, a->sec_addr_len);
    /* Align relative to the PDU start, which need not be the start of w's buffer. */
    wr_zeros(w, (4 - ((w->off - start) & 3)) & 3);
    wr_u8(w, a->n_results);
    wr_zeros(w, 3);
    for (size_t i = 0; i < a->n_results; i++) {
        wr_u16le(w, a->results[i].result);
        wr_u16le(w, a->results[i].reason);
        write_syntax(w, &a->results[i].transfer);
    }
}

static void encode_bind_nak(struct wr *w, const struct rpc_bind_nak *n)
{
    wr_u16le(w, n->reject_reason);
    wr_u8(w, n->n_versions);
    for (size_t i = 0; i < n->n_versions; i++) {
        wr_u8(w, n->versions[i].major);
        wr_u8(w, n->versions[i].minor);
    }
}

int rpc_encode(const struct rpc_pdu *pdu, struct wr *w)
{
    if (w->err)
        return w->err;
    int rc = check_encodable(pdu);
    if (rc)
        return rc;
    size_t start = w->off;
    wr_u8(w, 5);
    wr_u8(w, 0);
    wr_u8(w, pdu->hdr.ptype);
    wr_u8(w, pdu->hdr.flags);
    wr_bytes(w, drep_le_ascii_ieee, sizeof drep_le_ascii_ieee);
    wr_u16le(w, 0); /* frag_length, patched below */
    wr_u16le(w, 0); /* auth_length */
    wr_u32le(w, pdu->hdr.call_id);
    switch (pdu->hdr.ptype) {
    case RPC_PTYPE_BIND:
    case RPC_PTYPE_ALTER_CONTEXT: encode_bind(w, &pdu->bind); break;
    case RPC_PTYPE_BIND_ACK:
    case RPC_PTYPE_ALTER_CONTEXT_RESP: encode_bind_ack(w, start, &pdu->bind_ack); break;
    case RPC_PTYPE_BIND_NAK: encode_bind_nak(w, &pdu->bind_nak); break;
    case RPC_PTYPE_REQUEST:
        wr_u32le(w, (uint32_t)pdu->request.stub_len);
        wr_u16le(w, pdu->request.ctx_id);
        wr_u16le(w, pdu->request.opnum);
        if (pdu->hdr.flags & RPC_PFC_OBJECT_UUID)
            guid_write(w, &pdu->request.object);
        wr_bytes(w, pdu->request.stub, pdu->request.stub_len);
        break;
    case RPC_PTYPE_RESPONSE:
        wr_u32le(w, (uint32_t)pdu->response.stub_len);
        wr_u16le(w, pdu->response.ctx_id);
        wr_u8(w, pdu->response.cancel_count);
        wr_zeros(w, 1);
        wr_bytes(w, pdu->response.stub, pdu->response.stub_len);
        break;
    case RPC_PTYPE_FAULT:
        wr_u32le(w, pdu->fault.alloc_hint);
        wr_u16le(w, pdu->fault.ctx_id);
        wr_u8(w, pdu->fault.cancel_count);
        wr_zeros(w, 1);
        wr_u32le(w, pdu->fault.status);
        wr_zeros(w, 4);
        break;
    default: return KMS_ERPC_PTYPE; /* unreachable: check_encodable rejected it */
    }
    if (w->err)
        return w->err;
    /* check_encodable bounds every body so that the total stays within KMS_LIMIT_PDU_MAX. */
    wr_patch_u16le(w, start + 8, (uint16_t)(w->off - start));
    return w->err;
}

/* ---- bind negotiation ---- */

static bool is_kms_interface(const struct rpc_ctx_elem *e)
{
    return guid_eq(&e->abstract, &rpc_uuid_kms) && e->abstract_major == RPC_KMS_IF_MAJOR &&
           e->abstract_minor == RPC_KMS_IF_MINOR;
}

static bool is_ndr32(const struct rpc_syntax_id *s)
{
    return guid_eq(&s->uuid, &rpc_uuid_ndr32) && s->version == RPC_NDR32_VERSION;
}

static bool is_ndr64(const struct rpc_syntax_id *s)
{
    return guid_eq(&s->uuid, &rpc_uuid_ndr64) && s->version == RPC_NDR64_VERSION;
}

static bool is_btfn(const struct rpc_syntax_id *s)
{
    return memcmp(s->uuid.b, btfn_prefix, sizeof btfn_prefix) == 0;
}

void rpc_assoc_init(struct rpc_assoc *a)
{
    memset(a, 0, sizeof *a);
}

enum rpc_syntax rpc_assoc_syntax(const struct rpc_assoc *a, uint16_t ctx_id)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->ctx[i].ctx_id == ctx_id)
            return (enum rpc_syntax)a->ctx[i].syntax;
    return RPC_SYNTAX_NONE;
}

/* Records ctx_id with syntax; false if it is new and the association is full. */
static bool assoc_put(struct rpc_assoc *a, uint16_t ctx_id, enum rpc_syntax syntax)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->ctx[i].ctx_id == ctx_id) {
            a->ctx[i].syntax = (uint8_t)syntax;
            return true;
        }
    }
    if (a->n == KMS_LIMIT_ASSOC_CONTEXTS)
        return false;
    a->ctx[a->n].ctx_id = ctx_id;
    a->ctx[a->n].syntax = (uint8_t)syntax;
    a->n++;
    return true;
}

/* Rule 2's condition: the server does NDR64 and this message offers NDR64 for the KMS interface. */
static bool message_offers_ndr64(const struct rpc_bind_policy *pol, const struct rpc_bind *req)
{
    if (!pol->ndr64)
        return false;
    for (size_t i = 0; i < req->n_ctx; i++) {
        const struct rpc_ctx_elem *e = &req->ctx[i];
        if (!is_kms_interface(e))
            continue;
        for (size_t j = 0; j < e->n_transfer; j++)
            if (is_ndr64(&e->transfer[j]))
                return true;
    }
    return false;
}

/* One context element (2.4 rules 1-5 and the decided cases). *res starts as "rejected, zero UUID, version 0". */
static void answer_element(const struct rpc_bind_policy *pol, const struct rpc_ctx_elem *e, bool offers_ndr64,
                           struct rpc_assoc *a, struct rpc_result *res)
{
    memset(res, 0, sizeof *res);
    res->result = RPC_RESULT_PROVIDER_REJECT;
    /* Rule 1 comes first, also for BTFN; a version other than 1.0 counts as a wrong interface. */
    if (!is_kms_interface(e)) {
        res->reason = RPC_REASON_ABSTRACT_SYNTAX;
        return;
    }
    /* Several syntaxes in one element: the first one this server accepts wins. */
    for (size_t j = 0; j < e->n_transfer; j++) {
        const struct rpc_syntax_id *s = &e->transfer[j];
        enum rpc_syntax syn;
        if (is_ndr32(s) && pol->ndr32 && !offers_ndr64) {
            syn = RPC_SYNTAX_NDR32;
        } else if (is_ndr64(s) && pol->ndr64) {
            syn = RPC_SYNTAX_NDR64;
        } else if (is_btfn(s) && pol->btfn) {
            res->result = RPC_RESULT_NEGOTIATE_ACK;
            res->reason = buf_le16(s->uuid.b + 8) & RPC_BTFN_FEATURES;
            return;
        } else {
            continue;
        }
        if (!assoc_put(a, e->ctx_id, syn)) {
            res->reason = RPC_REASON_LOCAL_LIMIT;
            return;
        }
        res->result = RPC_RESULT_ACCEPT;
        res->reason = RPC_REASON_NONE;
        res->transfer = *s;
        return;
    }
    res->reason = RPC_REASON_TRANSFER_SYNTAX;
}

int rpc_negotiate(const struct rpc_bind_policy *pol, const struct rpc_bind *req, struct rpc_result *res,
                  struct rpc_assoc *a)
{
    if (req->n_ctx > KMS_LIMIT_BIND_CONTEXTS)
        return KMS_ERPC_COUNT;
    for (size_t i = 0; i < req->n_ctx; i++)
        if (req->ctx[i].n_transfer > KMS_LIMIT_TRANSFER_SYNTAXES)
            return KMS_ERPC_COUNT;
    bool offers_ndr64 = message_offers_ndr64(pol, req);
    for (size_t i = 0; i < req->n_ctx; i++)
        answer_element(pol, &req->ctx[i], offers_ndr64, a, &res[i]);
    return 0;
}

int rpc_bind_reply(const struct rpc_pdu *req, const struct rpc_bind_policy *pol, uint32_t assoc_group,
                   const char *sec_addr, struct rpc_assoc *a, struct rpc_pdu *out)
{
    bool bind = req->hdr.ptype == RPC_PTYPE_BIND;
    if (!bind && req->hdr.ptype != RPC_PTYPE_ALTER_CONTEXT)
        return KMS_ERPC_PTYPE;
    size_t sec_len = 0;
    if (bind && sec_addr) {
        sec_len = strnlen(sec_addr, KMS_LIMIT_SEC_ADDR) + 1;
        if (sec_len > KMS_LIMIT_SEC_ADDR)
            return KMS_ERPC_TOOBIG;
    }
    if (req->bind.n_ctx > KMS_LIMIT_BIND_CONTEXTS)
        return KMS_ERPC_COUNT;
    memset(out, 0, sizeof *out);
    if (bind) {
        /* Echo the client's multiplex bit as vlmcsd (and Windows) do; ALTER_CONTEXT_RESP is plain 0x03. */
        out->hdr.ptype = RPC_PTYPE_BIND_ACK;
        out->hdr.flags = RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG | (req->hdr.flags & RPC_PFC_CONC_MPX);
    } else {
        out->hdr.ptype = RPC_PTYPE_ALTER_CONTEXT_RESP;
        out->hdr.flags = RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG;
    }
    out->hdr.call_id = req->hdr.call_id;
    struct rpc_bind_ack *ack = &out->bind_ack;
    ack->max_xmit = req->bind.max_xmit;
    ack->max_recv = req->bind.max_recv;
    ack->assoc_group = assoc_group;
    ack->sec_addr_len = (uint16_t)sec_len;
    if (sec_len)
        memcpy(ack->sec_addr, sec_addr, sec_len);
    ack->n_results = req->bind.n_ctx;
    return rpc_negotiate(pol, &req->bind, ack->results, a);
}

void rpc_fault_init(struct rpc_pdu *out, uint32_t call_id, uint32_t status)
{
    memset(out, 0, sizeof *out);
    out->hdr.ptype = RPC_PTYPE_FAULT;
    out->hdr.flags = RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG | RPC_PFC_DID_NOT_EXECUTE;
    out->hdr.call_id = call_id;
    out->fault.alloc_hint = 32; /* vlmcsd's value (protocol.md 2.7); strictly the fault stub is 16 bytes */
    out->fault.status = status;
}

void rpc_response_init(struct rpc_pdu *out, uint32_t call_id, uint16_t ctx_id, const uint8_t *stub, size_t len)
{
    memset(out, 0, sizeof *out);
    out->hdr.ptype = RPC_PTYPE_RESPONSE;
    out->hdr.flags = RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG;
    out->hdr.call_id = call_id;
    out->response.alloc_hint = (uint32_t)len;
    out->response.ctx_id = ctx_id;
    out->response.stub = stub;
    out->response.stub_len = len;
}

/* ---- reassembly ---- */

void rpc_reasm_init(struct rpc_reasm *r)
{
    r->active = false;
    r->call_id = 0;
    r->ctx_id = 0;
    r->opnum = 0;
    r->len = 0;
    r->buf = NULL;
}

void rpc_reasm_release(struct rpc_reasm *r)
{
    if (r->active || !r->buf)
        return;
    free(r->buf); /* request bytes as they came over the wire: nothing secret to wipe */
    r->buf = NULL;
    r->len = 0;
}

void rpc_reasm_free(struct rpc_reasm *r)
{
    free(r->buf);
    rpc_reasm_init(r);
}

static int reasm_fail(struct rpc_reasm *r, int err)
{
    rpc_reasm_free(r);
    return err;
}

int rpc_reasm_feed(struct rpc_reasm *r, const struct rpc_pdu *pdu, const uint8_t **stub, size_t *len)
{
    if (pdu->hdr.ptype != RPC_PTYPE_REQUEST)
        return reasm_fail(r, KMS_ERPC_PTYPE);
    const struct rpc_request *q = &pdu->request;
    bool first = pdu->hdr.flags & RPC_PFC_FIRST_FRAG;
    bool last = pdu->hdr.flags & RPC_PFC_LAST_FRAG;
    if (!r->active) {
        if (!first)
            return reasm_fail(r, KMS_ERPC_FRAG);
        if (q->stub_len > KMS_LIMIT_REQUEST_STUB_MAX)
            return reasm_fail(r, KMS_ERPC_TOOBIG);
        if (last) { /* the normal case: no copy */
            rpc_reasm_release(r);
            *stub = q->stub;
            *len = q->stub_len;
            return 1;
        }
        if (!r->buf) {
            r->buf = malloc(KMS_LIMIT_REQUEST_STUB_MAX);
            if (!r->buf)
                return reasm_fail(r, KMS_ENOMEM);
        }
        r->active = true;
        r->call_id = pdu->hdr.call_id;
        r->ctx_id = q->ctx_id;
        r->opnum = q->opnum;
        r->len = 0;
    } else {
        if (first || pdu->hdr.call_id != r->call_id || q->ctx_id != r->ctx_id || q->opnum != r->opnum)
            return reasm_fail(r, KMS_ERPC_FRAG);
        if (q->stub_len > KMS_LIMIT_REQUEST_STUB_MAX - r->len)
            return reasm_fail(r, KMS_ERPC_TOOBIG);
    }
    if (q->stub_len)
        memcpy(r->buf + r->len, q->stub, q->stub_len);
    r->len += q->stub_len;
    if (!last)
        return 0;
    r->active = false;
    *stub = r->buf;
    *len = r->len;
    return 1;
}

/* ---- client side ---- */

static void offer_kms(struct rpc_ctx_elem *e, uint16_t ctx_id, const struct guid *uuid, uint32_t version)
{
    e->ctx_id = ctx_id;
    e->n_transfer = 1;
    e->abstract = rpc_uuid_kms;
    e->abstract_major = RPC_KMS_IF_MAJOR;
    e->abstract_minor = RPC_KMS_IF_MINOR;
    e->transfer[0].uuid = *uuid;
    e->transfer[0].version = version;
}

void rpc_client_bind(struct rpc_pdu *out, uint32_t call_id, uint8_t flags, bool ndr64, bool btfn)
{
    memset(out, 0, sizeof *out);
    out->hdr.ptype = RPC_PTYPE_BIND;
    out->hdr.flags = flags;
    out->hdr.call_id = call_id;
    struct rpc_bind *b = &out->bind;
    b->max_xmit = KMS_LIMIT_PDU_MAX;
    b->max_recv = KMS_LIMIT_PDU_MAX;
    offer_kms(&b->ctx[b->n_ctx], b->n_ctx, &rpc_uuid_ndr32, RPC_NDR32_VERSION);
    b->n_ctx++;
    if (ndr64) {
        offer_kms(&b->ctx[b->n_ctx], b->n_ctx, &rpc_uuid_ndr64, RPC_NDR64_VERSION);
        b->n_ctx++;
    }
    if (btfn) {
        struct guid g = {{0}};
        memcpy(g.b, btfn_prefix, sizeof btfn_prefix);
        buf_put_le16(g.b + 8, RPC_BTFN_FEATURES);
        offer_kms(&b->ctx[b->n_ctx], b->n_ctx, &g, RPC_BTFN_VERSION);
        b->n_ctx++;
    }
}

void rpc_request_init(struct rpc_pdu *out, uint32_t call_id, uint16_t ctx_id, uint16_t opnum, const uint8_t *stub,
                      size_t len)
{
    memset(out, 0, sizeof *out);
    out->hdr.ptype = RPC_PTYPE_REQUEST;
    out->hdr.flags = RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG;
    out->hdr.call_id = call_id;
    out->request.alloc_hint = (uint32_t)len;
    out->request.ctx_id = ctx_id;
    out->request.opnum = opnum;
    out->request.stub = stub;
    out->request.stub_len = len;
}

/* Whether the accepted syntax s was among those offered in e. */
static bool was_offered(const struct rpc_ctx_elem *e, const struct rpc_syntax_id *s)
{
    for (size_t j = 0; j < e->n_transfer && j < KMS_LIMIT_TRANSFER_SYNTAXES; j++)
        if (guid_eq(&e->transfer[j].uuid, &s->uuid) && e->transfer[j].version == s->version)
            return true;
    return false;
}

int rpc_client_pick(const struct rpc_bind *offered, const struct rpc_bind_ack *ack, uint16_t *ctx_id,
                    enum rpc_syntax *syntax)
{
    if (ack->n_results != offered->n_ctx || ack->n_results > KMS_LIMIT_BIND_CONTEXTS)
        return KMS_ERPC_COUNT;
    int pick32 = -1, pick64 = -1;
    for (int i = 0; i < (int)ack->n_results; i++) {
        const struct rpc_result *res = &ack->results[i];
        const struct rpc_ctx_elem *e = &offered->ctx[i];
        if (res->result != RPC_RESULT_ACCEPT || !is_kms_interface(e) || !was_offered(e, &res->transfer))
            continue;
        if (is_ndr64(&res->transfer) && pick64 < 0)
            pick64 = i;
        else if (is_ndr32(&res->transfer) && pick32 < 0)
            pick32 = i;
    }
    int i = pick64 >= 0 ? pick64 : pick32;
    if (i < 0)
        return KMS_ERPC_NOCTX;
    *ctx_id = offered->ctx[i].ctx_id;
    *syntax = pick64 >= 0 ? RPC_SYNTAX_NDR64 : RPC_SYNTAX_NDR32;
    return 0;
}
