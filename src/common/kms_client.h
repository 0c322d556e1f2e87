/*
 * kms_client — the client side of one KMS exchange without I/O: build the BIND and the activation REQUEST,
 * check the BIND_ACK and verify the RESPONSE (protocol.md 2, 3, 4.6, 8.2), plus the texts a client is given
 * (HOST[:PORT], bounded integers). Pure like the rest of src/common: the IV, the request time and every byte
 * received are parameters; no socket, clock or random source. The socket client (src/client/client.h), kmsc
 * bench and kmsd's /readyz probe all verify answers through these calls.
 *
 * Outcomes: a function that can fail for a reason a person should read fills a struct kmsc_result through
 * kms_client_fail() — the one way the client carries a message — and returns its status; KMSC_OK (0) is
 * success. The kmsc_ type names are the client's vocabulary, shared by kmsc, the client library and kmsd.
 */
#ifndef KMSD_KMS_CLIENT_H
#define KMSD_KMS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guid.h"
#include "kms.h"
#include "rpc.h"

#define KMSC_DEFAULT_PORT "1688"
#define KMSC_HOST_MAX 255 /* bytes of a host name or address literal */
#define KMSC_PORT_MAX 5   /* decimal digits of a port */
#define KMSC_ADDR_TEXT 80 /* "[address]:port" of the peer, NUL included */
#define KMSC_MSG_MAX 256

/* Outcome of an operation; the values are kmsc's exit codes (docs/kmsc.1). */
enum kmsc_status {
    KMSC_OK = 0,
    KMSC_INTERNAL = 1, /* the client itself failed (random source, encoder) */
    KMSC_USAGE = 2,    /* bad command line */
    KMSC_CONNECT = 3,  /* name resolution failed, connection refused, connect timed out */
    KMSC_RPC = 4,      /* BIND refused, FAULT, malformed PDU, closed without reply, reply timed out */
    KMSC_REFUSED = 5,  /* the host answered with a non-zero HRESULT */
    KMSC_VERIFY = 6,   /* the KMS response failed a check of protocol.md 4.6 */
    KMSC_COUNT = 7,    /* currentClientCount below requiredClientCount (0xC004F038) */
    KMSC_NO_SRV = 8,   /* discovery: no _vlmcs._tcp SRV record in the domain(s) asked (or only the target ".") */
    KMSC_NO_HOST = 9,  /* discovery: records, but no host they name answered (each one: status 3 or 4) */
};

/* The address family a client connects with (kmsc --ipv4, --ipv6). */
enum kmsc_family {
    KMSC_FAMILY_ANY = 0, /* every address the name resolves to, in getaddrinfo's order */
    KMSC_FAMILY_IPV4 = 4,
    KMSC_FAMILY_IPV6 = 6,
};

/* "HOST[:PORT]" split into its parts (brackets removed from an IPv6 literal), and the family to use. */
struct kmsc_target {
    char host[KMSC_HOST_MAX + 1];
    char port[KMSC_PORT_MAX + 1];
    enum kmsc_family family; /* KMSC_FAMILY_ANY from kms_client_parse_target; a zeroed target has it too */
};

struct kmsc_result {
    enum kmsc_status status;
    int err;          /* 0, a negative core code (err.h) or -errno; meaning depends on status */
    bool has_hresult; /* hresult holds a host-sent HRESULT or FAULT status */
    uint32_t hresult;
    char msg[KMSC_MSG_MAX];   /* empty on success */
    struct kms_response resp; /* filled by an activation on KMSC_OK, KMSC_COUNT (and partly on KMSC_VERIFY) */
    double rtt_ms;            /* request sent to response received (set by the caller that timed it) */
};

/* Records a failure in res: status st, code err, the printf-formatted message (cut to KMSC_MSG_MAX).
 * Returns st, so that callers can `return kms_client_fail(...)`. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 4, 5)))
#endif
enum kmsc_status kms_client_fail(struct kmsc_result *res, enum kmsc_status st, int err, const char *fmt, ...);

/* Parses "HOST[:PORT]": "host", "host:port", "[v6]", "[v6]:port"; an unbracketed text with several colons
 * is an IPv6 address without port. PORT is decimal 1..65535 (default 1688). Returns 0 or KMS_EINVAL with a
 * reason in msg (cap bytes). */
int kms_client_parse_target(const char *text, struct kmsc_target *t, char *msg, size_t cap);

/* Sets t->family to f after checking that t->host is not an address literal of the other family ("127.0.0.1"
 * with KMSC_FAMILY_IPV6, "::1" with KMSC_FAMILY_IPV4). `opt` names the switch in the message. Returns 0, or
 * KMS_EINVAL with a reason naming the conflict in msg (cap bytes). A name is not judged: what it resolves to is. */
int kms_client_set_family(struct kmsc_target *t, enum kmsc_family f, const char *opt, char *msg, size_t cap);

/* Parses a decimal unsigned integer in [lo, hi] (no sign, no spaces, no trailing bytes). 0 or KMS_EINVAL. */
int kms_client_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out);

/* Turns 16 random bytes in g into a version-4 UUID (RFC 4122 variant) in wire order. */
void kms_client_uuid_v4(struct guid *g);

/* The request time now (FILETIME) shifted by offset_s seconds; 0 when the shift would go below 0. */
uint64_t kms_client_shift_time(uint64_t now, int64_t offset_s);

/* Exit-code precedence for several requests: returns whichever of a and b is worse
 * (1 > 2 > 8 > 9 > 3 > 4 > 6 > 5 > 7 > 0; 1 and 2 never come from a host, 8 and 9 come before any host
 * answered: nothing a host did is worse than finding none). */
enum kmsc_status kms_client_worse(enum kmsc_status a, enum kmsc_status b);

/* Decodes one whole reply PDU p[0..len) (len == its frag_length) into *pdu and rejects fragmented replies
 * and FAULT (status KMSC_RPC, the FAULT status as hresult). `what` and `peer` only name things in res->msg. */
enum kmsc_status kms_client_decode_reply(const uint8_t *p, size_t len, const char *what, const char *peer,
                                         struct rpc_pdu *pdu, struct kmsc_result *res);

/* Encodes a BIND offering NDR32 [+ NDR64] [+ BTFN] with pfc_flags `flags` into buf[0..cap) (*len bytes) and
 * keeps the offer in *offered. Returns 0 or a core error. */
int kms_client_encode_bind(uint32_t call_id, bool ndr64, bool btfn, uint8_t flags, struct rpc_bind *offered,
                           uint8_t *buf, size_t cap, size_t *len);

/* Checks a decoded reply to the BIND with call_id and picks the context: NDR64 when accepted, else NDR32
 * (fills *ack, *ctx_id, *syntax). Status KMSC_RPC on BIND_NAK, another PDU type, call_id or no usable context. */
enum kmsc_status kms_client_check_bind(const struct rpc_pdu *pdu, uint32_t call_id, const struct rpc_bind *offered,
                                       const char *peer, struct rpc_bind_ack *ack, uint16_t *ctx_id,
                                       enum rpc_syntax *syntax, struct kmsc_result *res);

/* Stamps req->request_time with now (FILETIME) and encodes the whole REQUEST PDU with the given IV into
 * buf[0..cap) (*len bytes); req keeps what verification needs. Status KMSC_INTERNAL on failure. */
enum kmsc_status kms_client_encode_activation(struct kms_request *req, bool ndr64, uint16_t ctx_id, uint32_t call_id,
                                              const uint8_t iv[16], uint64_t now, uint8_t *buf, size_t cap, size_t *len,
                                              struct kmsc_result *res);

/* Verifies a decoded reply (after kms_client_decode_reply) to the activation request req sent with call_id on
 * ctx_id: the RPC layer (ptype, call_id, ctx id, cancel_count), the NDR stub, the return code (KMSC_REFUSED),
 * every check of kms_decode_response (KMSC_VERIFY) and currentClientCount against req->required_count
 * (KMSC_COUNT). res->resp is filled on KMSC_OK and KMSC_COUNT. */
enum kmsc_status kms_client_check_activation(const struct rpc_pdu *pdu, const struct kms_request *req, bool ndr64,
                                             uint16_t ctx_id, uint32_t call_id, const char *peer,
                                             struct kmsc_result *res);

#endif
