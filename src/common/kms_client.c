#include "kms_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hostport.h"
#include "num.h"
#include "ndr.h"

#define RPC_FIRST_LAST (RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG)

enum kmsc_status kms_client_fail(struct kmsc_result *res, enum kmsc_status st, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->msg, sizeof res->msg, fmt, ap);
    va_end(ap);
    res->status = st;
    res->err = err;
    return st;
}

int kms_client_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    uint64_t v;
    if (!s || num_u64(s, lo, hi, &v) < 0)
        return KMS_EINVAL;
    *out = (unsigned long)v;
    return 0;
}

void kms_client_uuid_v4(struct guid *g)
{
    /* Data3 is little-endian on the wire, so its version nibble is the high nibble of byte 7. */
    g->b[7] = (uint8_t)((g->b[7] & 0x0fu) | 0x40u);
    g->b[8] = (uint8_t)((g->b[8] & 0x3fu) | 0x80u);
}

uint64_t kms_client_shift_time(uint64_t now, int64_t offset_s)
{
    /* FILETIME counts 100 ns */
    if (offset_s < 0 && (uint64_t)(-offset_s) * 10000000u > now)
        return 0;
    return (uint64_t)((int64_t)now + offset_s * 10000000);
}

/* Copies n bytes of src into dst (cap >= n + 1) with a NUL; KMS_EINVAL when they do not fit or are empty. */
static int copy_part(char *dst, size_t cap, const char *src, size_t n)
{
    if (n == 0 || n >= cap)
        return KMS_EINVAL;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

int kms_client_parse_target(const char *text, struct kmsc_target *t, char *msg, size_t cap)
{
    struct hostport hp;
    const char *why = NULL;
    if (hostport_split(text, &hp, &why) != 0) {
        snprintf(msg, cap, "%s in '%s'", why, text);
        return KMS_EINVAL;
    }
    if (hp.bracketed && !memchr(hp.host, ':', hp.host_len)) {
        snprintf(msg, cap, "brackets are for IPv6 addresses: '%s'", text);
        return KMS_EINVAL;
    }
    /* a bare IPv6 address (two or more ':' without brackets) is the host alone, on the default port */
    if (copy_part(t->host, sizeof t->host, hp.host, hp.host_len) != 0) {
        snprintf(msg, cap, "empty or too long host in '%s'", text);
        return KMS_EINVAL;
    }
    uint16_t p = 1688;
    if (hp.port && hostport_port(hp.port, hp.port_len, &p) != 0) {
        snprintf(msg, cap, "bad port in '%s' (expected 1..65535)", text);
        return KMS_EINVAL;
    }
    snprintf(t->port, sizeof t->port, "%u", (unsigned)p);
    t->family = KMSC_FAMILY_ANY;
    return 0;
}

int kms_client_set_family(struct kmsc_target *t, enum kmsc_family f, const char *opt, char *msg, size_t cap)
{
    struct in_addr a4;
    /* no host name holds a ':', so any host with one is an IPv6 literal (a scope id included) */
    bool v6 = strchr(t->host, ':') != NULL;
    bool v4 = !v6 && inet_pton(AF_INET, t->host, &a4) == 1;
    if ((f == KMSC_FAMILY_IPV6 && v4) || (f == KMSC_FAMILY_IPV4 && v6)) {
        snprintf(msg, cap, "%s conflicts with the %s address %s", opt, v4 ? "IPv4" : "IPv6", t->host);
        return KMS_EINVAL;
    }
    t->family = f;
    return 0;
}

enum kmsc_status kms_client_worse(enum kmsc_status a, enum kmsc_status b)
{
    static const int rank[10] = {
        [KMSC_OK] = 0,  [KMSC_INTERNAL] = 10, [KMSC_USAGE] = 9,   [KMSC_CONNECT] = 6, [KMSC_RPC] = 5,
        [KMSC_VERIFY] = 4, [KMSC_REFUSED] = 3, [KMSC_COUNT] = 2, [KMSC_NO_SRV] = 8,  [KMSC_NO_HOST] = 7,
    };
    int ra = (unsigned)a < 10 ? rank[a] : 10;
    int rb = (unsigned)b < 10 ? rank[b] : 10;
    return ra >= rb ? a : b;
}

enum kmsc_status kms_client_decode_reply(const uint8_t *p, size_t len, const char *what, const char *peer,
                                         struct rpc_pdu *pdu, struct kmsc_result *res)
{
    int rc = rpc_decode(p, len, pdu);
    if (rc < 0)
        return kms_client_fail(res, KMSC_RPC, rc, "malformed reply to %s: %s", what, kms_strerror(rc));
    if ((pdu->hdr.flags & RPC_FIRST_LAST) != RPC_FIRST_LAST)
        return kms_client_fail(res, KMSC_RPC, KMS_ERPC_FRAG, "fragmented reply to %s (flags 0x%02x) is not supported",
                               what, pdu->hdr.flags);
    if (pdu->hdr.ptype == RPC_PTYPE_FAULT) {
        const char *name = kms_hresult_name(pdu->fault.status);
        res->has_hresult = true;
        res->hresult = pdu->fault.status;
        return kms_client_fail(res, KMSC_RPC, 0, "%s answered %s with FAULT, status 0x%08X%s%s%s", peer, what,
                               pdu->fault.status, name ? " (" : "", name ? name : "", name ? ")" : "");
    }
    return KMSC_OK;
}

int kms_client_encode_bind(uint32_t call_id, bool ndr64, bool btfn, uint8_t flags, struct rpc_bind *offered,
                           uint8_t *buf, size_t cap, size_t *len)
{
    struct rpc_pdu pdu;
    rpc_client_bind(&pdu, call_id, flags, ndr64, btfn);
    *offered = pdu.bind;
    struct wr w;
    wr_init(&w, buf, cap);
    int rc = rpc_encode(&pdu, &w);
    *len = w.off;
    return rc;
}

enum kmsc_status kms_client_check_bind(const struct rpc_pdu *pdu, uint32_t call_id, const struct rpc_bind *offered,
                                       const char *peer, struct rpc_bind_ack *ack, uint16_t *ctx_id,
                                       enum rpc_syntax *syntax, struct kmsc_result *res)
{
    if (pdu->hdr.ptype == RPC_PTYPE_BIND_NAK)
        return kms_client_fail(res, KMSC_RPC, 0, "%s rejected the BIND (BIND_NAK, reason %u)", peer,
                               pdu->bind_nak.reject_reason);
    if (pdu->hdr.ptype != RPC_PTYPE_BIND_ACK)
        return kms_client_fail(res, KMSC_RPC, KMS_ERPC_PTYPE, "%s answered BIND with PDU type %u", peer,
                               pdu->hdr.ptype);
    if (pdu->hdr.call_id != call_id)
        return kms_client_fail(res, KMSC_RPC, 0, "BIND_ACK call_id %u differs from the BIND's %u", pdu->hdr.call_id,
                               call_id);
    *ack = pdu->bind_ack;
    int rc = rpc_client_pick(offered, ack, ctx_id, syntax);
    if (rc < 0)
        return kms_client_fail(res, KMSC_RPC, rc, "%s accepted no usable presentation context: %s", peer,
                               kms_strerror(rc));
    return KMSC_OK;
}

enum kmsc_status kms_client_encode_activation(struct kms_request *req, bool ndr64, uint16_t ctx_id, uint32_t call_id,
                                              const uint8_t iv[16], uint64_t now, uint8_t *buf, size_t cap, size_t *len,
                                              struct kmsc_result *res)
{
    req->request_time = now;
    uint8_t msg[KMS_V56_REQUEST_LEN];
    size_t mlen;
    int rc = kms_encode_request(req, iv, msg, sizeof msg, &mlen);
    if (rc < 0)
        return kms_client_fail(res, KMSC_INTERNAL, rc, "encoding the request: %s", kms_strerror(rc));
    uint8_t stub[NDR64_REQUEST_OVERHEAD + KMS_V56_REQUEST_LEN];
    struct wr w;
    wr_init(&w, stub, sizeof stub);
    rc = ndr_encode_request(&w, ndr64, msg, mlen);
    if (rc < 0)
        return kms_client_fail(res, KMSC_INTERNAL, rc, "encoding the request stub: %s", kms_strerror(rc));
    struct rpc_pdu pdu;
    rpc_request_init(&pdu, call_id, ctx_id, 0, stub, w.off);
    wr_init(&w, buf, cap);
    rc = rpc_encode(&pdu, &w);
    if (rc < 0)
        return kms_client_fail(res, KMSC_INTERNAL, rc, "encoding REQUEST: %s", kms_strerror(rc));
    *len = w.off;
    return KMSC_OK;
}

enum kmsc_status kms_client_check_activation(const struct rpc_pdu *pdu, const struct kms_request *req, bool ndr64,
                                             uint16_t ctx_id, uint32_t call_id, const char *peer,
                                             struct kmsc_result *res)
{
    if (pdu->hdr.ptype != RPC_PTYPE_RESPONSE)
        return kms_client_fail(res, KMSC_RPC, KMS_ERPC_PTYPE, "%s answered REQUEST with PDU type %u", peer,
                               pdu->hdr.ptype);
    if (pdu->hdr.call_id != call_id)
        return kms_client_fail(res, KMSC_RPC, 0, "RESPONSE call_id %u differs from the REQUEST's %u", pdu->hdr.call_id,
                               call_id);
    if (pdu->response.ctx_id != ctx_id)
        return kms_client_fail(res, KMSC_RPC, 0, "RESPONSE context id %u differs from the REQUEST's %u",
                               pdu->response.ctx_id, ctx_id);
    if (pdu->response.cancel_count != 0)
        return kms_client_fail(res, KMSC_RPC, 0, "RESPONSE cancel_count is %u, expected 0", pdu->response.cancel_count);

    struct ndr_response nr;
    int rc = ndr_decode_response(pdu->response.stub, pdu->response.stub_len, ndr64, &nr);
    if (rc < 0)
        return kms_client_fail(res, KMSC_RPC, rc, "malformed RESPONSE stub: %s", kms_strerror(rc));
    if (nr.error_form || nr.hresult != 0) {
        const char *name = kms_hresult_name(nr.hresult);
        res->has_hresult = true;
        res->hresult = nr.hresult;
        return kms_client_fail(res, KMSC_REFUSED, 0, "%s refused the activation: HRESULT 0x%08X (%s)", peer, nr.hresult,
                               name ? name : "unknown");
    }
    rc = kms_decode_response(req, nr.msg, nr.len, &res->resp);
    if (rc < 0)
        return kms_client_fail(res, KMSC_VERIFY, rc, "response from %s failed verification: %s", peer,
                               kms_strerror(rc));
    if (res->resp.current_count < req->required_count) {
        res->has_hresult = true;
        res->hresult = KMS_HR_NOT_ENOUGH_COUNT;
        return kms_client_fail(res, KMSC_COUNT, 0,
                               "current count %u is below the required %u: 0x%08X (SL_E_VL_NOT_ENOUGH_COUNT)",
                               res->resp.current_count, req->required_count, KMS_HR_NOT_ENOUGH_COUNT);
    }
    return KMSC_OK;
}
