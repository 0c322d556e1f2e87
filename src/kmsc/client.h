/*
 * client — one KMS client association over TCP: resolve and connect, BIND, then any number of activation
 * REQUEST/RESPONSE exchanges, each fully verified (protocol.md 2, 3, 4.6, 8.2). The reusable part of kmsc:
 * a load generator drives the same calls.
 *
 * I/O is blocking in effect (non-blocking sockets waited on with poll() against a deadline), single-threaded
 * per connection, no allocation. Every PDU is read as header first (rpc_peek_header), then the rest of
 * frag_length, never more than KMS_LIMIT_PDU_MAX bytes. Each call reports what happened in a struct
 * kmsc_result: a status that is also kmsc's exit code, the core error or -errno behind it, a HRESULT when the
 * host sent one, and a one-line message for people.
 */
#ifndef KMSC_CLIENT_H
#define KMSC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kms.h"
#include "kms_limits.h"
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
    KMSC_USAGE = 2,   /* bad command line */
    KMSC_CONNECT = 3, /* name resolution failed, connection refused, connect timed out */
    KMSC_RPC = 4,     /* BIND refused, FAULT, malformed PDU, closed without reply, reply timed out */
    KMSC_REFUSED = 5, /* the host answered with a non-zero HRESULT */
    KMSC_VERIFY = 6,  /* the KMS response failed a check of protocol.md 4.6 */
    KMSC_COUNT = 7,   /* currentClientCount below requiredClientCount (0xC004F038) */
};

/* "HOST[:PORT]" split into its parts (brackets removed from an IPv6 literal). */
struct kmsc_target {
    char host[KMSC_HOST_MAX + 1];
    char port[KMSC_PORT_MAX + 1];
};

/* One connection and its association. Embed it, kmsc_conn_init() it, kmsc_close() it. */
struct kmsc_conn {
    int fd; /* -1 when closed */
    int timeout_ms;
    uint32_t call_id; /* call_id of the next PDU */
    bool bound;
    uint16_t ctx_id;       /* the context requests use once bound */
    int64_t time_offset;   /* seconds added to the request time (--time-offset; tests a host's clock check) */
    enum rpc_syntax syntax;
    char peer[KMSC_ADDR_TEXT];
    struct rpc_bind offered;   /* what the BIND offered */
    struct rpc_bind_ack ack;   /* what the host answered */
    uint8_t buf[KMS_LIMIT_PDU_MAX];
};

struct kmsc_result {
    enum kmsc_status status;
    int err;          /* 0, a negative core code (err.h) or -errno; meaning depends on status */
    bool has_hresult; /* hresult holds a host-sent HRESULT or FAULT status */
    uint32_t hresult;
    char msg[KMSC_MSG_MAX]; /* empty on success */
    struct kms_response resp; /* filled by kmsc_activate on KMSC_OK, KMSC_COUNT (and partly on KMSC_VERIFY) */
    double rtt_ms;            /* request sent to response received */
};

/* Parses "HOST[:PORT]": "host", "host:port", "[v6]", "[v6]:port"; an unbracketed text with several colons
 * is an IPv6 address without port. PORT is decimal 1..65535 (default 1688). Returns 0 or KMS_EINVAL with a
 * reason in msg (cap bytes). */
int kmsc_parse_target(const char *text, struct kmsc_target *t, char *msg, size_t cap);

/* Parses a decimal unsigned integer in [lo, hi] (no sign, no spaces, no trailing bytes). 0 or KMS_EINVAL. */
int kmsc_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out);

/* A fresh random version-4 UUID (RFC 4122 variant) in wire order. Returns 0 or KMS_ECRYPTO. */
int kmsc_random_uuid(struct guid *g);

/* Current time as FILETIME (100-ns resolution from CLOCK_REALTIME). */
uint64_t kmsc_now_filetime(void);

void kmsc_conn_init(struct kmsc_conn *c, int timeout_ms);

/* Resolves t with getaddrinfo and tries each address in turn, each with the connection timeout. On success
 * c->fd is connected and c->peer names the address. Status KMSC_CONNECT on failure. */
enum kmsc_status kmsc_connect(struct kmsc_conn *c, const struct kmsc_target *t, struct kmsc_result *res);

/* Sends a BIND offering NDR32 [+ NDR64] [+ BTFN] with the given pfc_flags and waits for BIND_ACK; picks NDR64
 * when accepted, else NDR32 (rpc_client_pick). Status KMSC_RPC on any failure (BIND_NAK, nothing usable, bad
 * PDU, closed, timeout). c->offered and c->ack keep what was exchanged. */
enum kmsc_status kmsc_bind(struct kmsc_conn *c, bool ndr64, bool btfn, uint8_t flags, struct kmsc_result *res);

/* One activation on a bound connection: stamps req->request_time with the current time, encodes it with a
 * fresh random IV, sends REQUEST, reads the reply and verifies the RPC layer (ptype, call_id, ctx id,
 * cancel_count, single fragment), the NDR stub, the return code and every check of kms_decode_response, then
 * compares currentClientCount with req->required_count. After KMSC_RPC the connection must be closed. */
enum kmsc_status kmsc_activate(struct kmsc_conn *c, struct kms_request *req, struct kmsc_result *res);

/* ---- the same protocol steps without I/O (for an event-driven load generator) ---- */

/* Decodes one whole reply PDU p[0..len) (len == its frag_length) into *pdu and rejects fragmented replies
 * and FAULT (status KMSC_RPC, the FAULT status as hresult). `what` and `peer` only name things in res->msg. */
enum kmsc_status kmsc_decode_reply(const uint8_t *p, size_t len, const char *what, const char *peer,
                                   struct rpc_pdu *pdu, struct kmsc_result *res);

/* Encodes the BIND kmsc_bind sends into buf[0..cap) (*len bytes) and keeps the offer in *offered.
 * Returns 0 or a core error. */
int kmsc_encode_bind(uint32_t call_id, bool ndr64, bool btfn, uint8_t flags, struct rpc_bind *offered, uint8_t *buf,
                     size_t cap, size_t *len);

/* Checks a decoded reply to the BIND with call_id and picks the context (fills *ack, *ctx_id, *syntax). */
enum kmsc_status kmsc_check_bind(const struct rpc_pdu *pdu, uint32_t call_id, const struct rpc_bind *offered,
                                 const char *peer, struct rpc_bind_ack *ack, uint16_t *ctx_id,
                                 enum rpc_syntax *syntax, struct kmsc_result *res);

/* Stamps req->request_time with now (FILETIME) and encodes the whole REQUEST PDU with the given IV into
 * buf[0..cap) (*len bytes); req keeps what verification needs. Status KMSC_INTERNAL on failure. */
enum kmsc_status kmsc_encode_activation(struct kms_request *req, bool ndr64, uint16_t ctx_id, uint32_t call_id,
                                        const uint8_t iv[16], uint64_t now, uint8_t *buf, size_t cap, size_t *len,
                                        struct kmsc_result *res);

/* Verifies a decoded reply (after kmsc_decode_reply) to the activation request req sent with call_id on
 * ctx_id: everything kmsc_activate checks. res->resp is filled on KMSC_OK and KMSC_COUNT. */
enum kmsc_status kmsc_check_activation(const struct rpc_pdu *pdu, const struct kms_request *req, bool ndr64,
                                       uint16_t ctx_id, uint32_t call_id, const char *peer, struct kmsc_result *res);

/* Closes the socket (if open); c may be reused after kmsc_conn_init. */
void kmsc_close(struct kmsc_conn *c);

/* Exit-code precedence for several requests: returns whichever of a and b is worse
 * (1 > 2 > 3 > 4 > 6 > 5 > 7 > 0; 1 and 2 never come from a host). */
enum kmsc_status kmsc_worse(enum kmsc_status a, enum kmsc_status b);

#endif
