/*
 * rpc — DCE/RPC connection-oriented PDUs as KMS uses them (protocol.md section 2), both directions:
 * encode and decode of BIND, BIND_ACK, BIND_NAK, ALTER_CONTEXT, ALTER_CONTEXT_RESP, REQUEST, RESPONSE and
 * FAULT; the server's bind negotiation (2.4) as a pure function over a per-connection association; REQUEST
 * fragment reassembly (2.8); the client's BIND and context choice.
 *
 * Invariants:
 * - Wire bytes are only read through `struct rd` and written through `struct wr`; decoded PDUs are native
 *   structs whose REQUEST/RESPONSE stub is a view borrowed from the decoded buffer.
 * - Every PDU accepted has rpc_vers 5.0, drep 10 00 00 00, auth_length 0 and
 *   KMS_LIMIT_PDU_MIN <= frag_length <= KMS_LIMIT_PDU_MAX; counts never exceed their named limits, so
 *   every array below is indexed only below its count.
 * - Pad and reserved bytes are ignored when decoding (recorded peers leave garbage there) and written as
 *   zeros when encoding; everything else round-trips exactly (decode then encode gives the same bytes).
 * - Nothing here reads the clock or draws random numbers: the association group id and the secondary
 *   address are the caller's inputs. The only allocation is the reassembly buffer of a fragmented REQUEST
 *   (rpc_reasm_feed), so that an idle connection does not carry one.
 */
#ifndef KMSD_RPC_H
#define KMSD_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "guid.h"
#include "kms_limits.h"

#define RPC_HEADER_LEN 16

/* PTYPE values (protocol.md 2.1). */
enum rpc_ptype {
    RPC_PTYPE_REQUEST = 0,
    RPC_PTYPE_RESPONSE = 2,
    RPC_PTYPE_FAULT = 3,
    RPC_PTYPE_BIND = 11,
    RPC_PTYPE_BIND_ACK = 12,
    RPC_PTYPE_BIND_NAK = 13,
    RPC_PTYPE_ALTER_CONTEXT = 14,
    RPC_PTYPE_ALTER_CONTEXT_RESP = 15,
};

/* pfc_flags bits. */
#define RPC_PFC_FIRST_FRAG 0x01u
#define RPC_PFC_LAST_FRAG 0x02u
#define RPC_PFC_PENDING_CANCEL 0x04u
#define RPC_PFC_CONC_MPX 0x10u
#define RPC_PFC_DID_NOT_EXECUTE 0x20u
#define RPC_PFC_MAYBE 0x40u
#define RPC_PFC_OBJECT_UUID 0x80u

/* Presentation result values and provider reasons (2.4); reason 3 is DCE's local_limit_exceeded. */
#define RPC_RESULT_ACCEPT 0u
#define RPC_RESULT_USER_REJECT 1u
#define RPC_RESULT_PROVIDER_REJECT 2u
#define RPC_RESULT_NEGOTIATE_ACK 3u
#define RPC_REASON_NONE 0u
#define RPC_REASON_ABSTRACT_SYNTAX 1u
#define RPC_REASON_TRANSFER_SYNTAX 2u
#define RPC_REASON_LOCAL_LIMIT 3u

/* BTFN feature bits a server answers (2.2): security-context multiplexing, keep connection on orphan. */
#define RPC_BTFN_FEATURES 0x0003u

/* FAULT status codes (2.7). */
#define RPC_STATUS_UNK_IF 0x1C010003u
#define RPC_STATUS_PROTO_ERROR 0x1C01000Bu

/* BIND_NAK provider_reject_reason "protocol version not supported". */
#define RPC_NAK_PROTOCOL_VERSION 4u

/* Interface and transfer syntax identities (2.2); the read-only constants are in wire order. */
extern const struct guid rpc_uuid_kms;   /* 51c82175-844e-4750-b0d8-ec255555bc06, version 1.0 */
extern const struct guid rpc_uuid_ndr32; /* 8a885d04-1ceb-11c9-9fe8-08002b104860, version 2 */
extern const struct guid rpc_uuid_ndr64; /* 71710533-beba-4937-8319-b5dbef9ccc36, version 1 */
#define RPC_KMS_IF_MAJOR 1u
#define RPC_KMS_IF_MINOR 0u
#define RPC_NDR32_VERSION 2u
#define RPC_NDR64_VERSION 1u
#define RPC_BTFN_VERSION 1u

/* The NDR flavour of an accepted presentation context. */
enum rpc_syntax {
    RPC_SYNTAX_NONE = 0,
    RPC_SYNTAX_NDR32 = 1,
    RPC_SYNTAX_NDR64 = 2,
};

/* The common header minus its constant parts (version 5.0 and drep are checked, never stored). */
struct rpc_header {
    uint8_t ptype;
    uint8_t flags;
    uint16_t frag_length; /* decode: as received; encode: computed, the value here is ignored */
    uint16_t auth_length; /* always 0 */
    uint32_t call_id;
};

/* A transfer syntax: UUID and u32 version. */
struct rpc_syntax_id {
    struct guid uuid;
    uint32_t version;
};

struct rpc_ctx_elem {
    uint16_t ctx_id;
    uint8_t n_transfer; /* <= KMS_LIMIT_TRANSFER_SYNTAXES */
    struct guid abstract;
    uint16_t abstract_major;
    uint16_t abstract_minor;
    struct rpc_syntax_id transfer[KMS_LIMIT_TRANSFER_SYNTAXES];
};

/* Body of BIND and ALTER_CONTEXT. */
struct rpc_bind {
    uint16_t max_xmit;
    uint16_t max_recv;
    uint32_t assoc_group;
    uint8_t n_ctx; /* <= KMS_LIMIT_BIND_CONTEXTS */
    struct rpc_ctx_elem ctx[KMS_LIMIT_BIND_CONTEXTS];
};

struct rpc_result {
    uint16_t result;
    uint16_t reason;
    struct rpc_syntax_id transfer;
};

/* Body of BIND_ACK and ALTER_CONTEXT_RESP. */
struct rpc_bind_ack {
    uint16_t max_xmit;
    uint16_t max_recv;
    uint32_t assoc_group;
    uint16_t sec_addr_len;                 /* L, NUL included; <= KMS_LIMIT_SEC_ADDR */
    char sec_addr[KMS_LIMIT_SEC_ADDR + 1]; /* the L wire bytes, then always one NUL of ours */
    uint8_t n_results;                     /* <= KMS_LIMIT_BIND_CONTEXTS */
    struct rpc_result results[KMS_LIMIT_BIND_CONTEXTS];
};

struct rpc_version {
    uint8_t major;
    uint8_t minor;
};

/* Body of BIND_NAK. */
struct rpc_bind_nak {
    uint16_t reject_reason;
    uint8_t n_versions; /* <= KMS_LIMIT_NAK_VERSIONS */
    struct rpc_version versions[KMS_LIMIT_NAK_VERSIONS];
};

/* Body of REQUEST. alloc_hint is decode-only: the encoder writes the stub length. */
struct rpc_request {
    uint32_t alloc_hint;
    uint16_t ctx_id;
    uint16_t opnum;
    struct guid object;  /* present on the wire iff the header has RPC_PFC_OBJECT_UUID */
    const uint8_t *stub; /* borrowed */
    size_t stub_len;
};

/* Body of RESPONSE. alloc_hint is decode-only: the encoder writes the stub length. */
struct rpc_response {
    uint32_t alloc_hint;
    uint16_t ctx_id;
    uint8_t cancel_count;
    const uint8_t *stub; /* borrowed */
    size_t stub_len;
};

/* Body of FAULT (fixed 16 bytes). Encoded as stored: rpc_fault_init sets alloc_hint 32 as vlmcsd does. */
struct rpc_fault {
    uint32_t alloc_hint;
    uint16_t ctx_id;
    uint8_t cancel_count;
    uint32_t status;
};

struct rpc_pdu {
    struct rpc_header hdr;
    union {
        struct rpc_bind bind;         /* BIND, ALTER_CONTEXT */
        struct rpc_bind_ack bind_ack; /* BIND_ACK, ALTER_CONTEXT_RESP */
        struct rpc_bind_nak bind_nak;
        struct rpc_request request;
        struct rpc_response response;
        struct rpc_fault fault;
    };
};

/* ---- framing, decode, encode ---- */

/* Reads and checks the 16-byte common header at p (len >= 16, else KMS_ETRUNC): version 5.0
 * (KMS_ERPC_VERSION), drep (KMS_ERPC_DREP), auth_length 0 (KMS_ERPC_AUTH), frag_length >= 16
 * (KMS_ERPC_FRAGLEN) and <= KMS_LIMIT_PDU_MAX (KMS_ERPC_TOOBIG). The PTYPE is not judged here. h is filled
 * whenever 16 bytes are present, also when a check fails (so a FAULT can echo call_id). */
int rpc_peek_header(const uint8_t *p, size_t len, struct rpc_header *h);

/* Decodes exactly one whole PDU of len bytes (len must equal frag_length, else KMS_ERPC_FRAGLEN).
 * The stub of REQUEST/RESPONSE borrows from p. Errors: those of rpc_peek_header, KMS_ERPC_PTYPE for a type
 * not listed above, KMS_ETRUNC / KMS_ETRAILING for a body shorter / longer than its layout,
 * KMS_ERPC_COUNT or KMS_ERPC_TOOBIG for counts and strings above their limits. */
int rpc_decode(const uint8_t *p, size_t len, struct rpc_pdu *out);

/* Appends the PDU at w's current offset, computing frag_length (and alloc_hint = stub length for
 * REQUEST/RESPONSE); pads and reserved bytes are zeros. Errors: KMS_ERPC_PTYPE, KMS_ERPC_AUTH (auth_length
 * != 0), KMS_ERPC_COUNT / KMS_ERPC_TOOBIG (counts, sec_addr or PDU above their limits), KMS_ENOSPC. */
int rpc_encode(const struct rpc_pdu *pdu, struct wr *w);

/* ---- server side: bind negotiation ---- */

/* Which transfer syntaxes / features the server accepts; each can be switched off. */
struct rpc_bind_policy {
    bool ndr32;
    bool ndr64;
    bool btfn;
};

struct rpc_assoc_ctx {
    uint16_t ctx_id;
    uint8_t syntax; /* enum rpc_syntax, never RPC_SYNTAX_NONE */
};

/* Presentation contexts accepted on one association (connection): the union over its BIND and every
 * ALTER_CONTEXT, at most KMS_LIMIT_ASSOC_CONTEXTS distinct ids. Embed it and rpc_assoc_init() it. */
struct rpc_assoc {
    size_t n;
    struct rpc_assoc_ctx ctx[KMS_LIMIT_ASSOC_CONTEXTS];
};

/* Empties the association. */
void rpc_assoc_init(struct rpc_assoc *a);

/* The syntax context ctx_id was accepted with, or RPC_SYNTAX_NONE (answer a REQUEST with FAULT nca_unk_if). */
enum rpc_syntax rpc_assoc_syntax(const struct rpc_assoc *a, uint16_t ctx_id);

/* Answers each context element of a decoded BIND or ALTER_CONTEXT body by the rules of protocol.md 2.4
 * into res[0..req->n_ctx) and records accepted NDR32/NDR64 contexts in a (an id accepted again replaces
 * its syntax; an element that would be accepted when a is full gets result 2, reason 3 and is not
 * recorded). Returns 0, or KMS_ERPC_COUNT if a count in req exceeds its limit (nothing changed then). */
int rpc_negotiate(const struct rpc_bind_policy *pol, const struct rpc_bind *req, struct rpc_result *res,
                  struct rpc_assoc *a);

/* Builds the complete reply to a decoded BIND (BIND_ACK: flags FIRST|LAST plus the request's CONC_MPX bit,
 * secondary address sec_addr, NULL meaning none) or ALTER_CONTEXT (ALTER_CONTEXT_RESP: flags 0x03, no
 * secondary address), echoing call_id, max_xmit and max_recv, with the caller's assoc_group, negotiating
 * through rpc_negotiate (which updates a). req and out must not overlap. Errors: KMS_ERPC_PTYPE, KMS_ERPC_COUNT,
 * KMS_ERPC_TOOBIG (strlen(sec_addr) + 1 > KMS_LIMIT_SEC_ADDR). */
int rpc_bind_reply(const struct rpc_pdu *req, const struct rpc_bind_policy *pol, uint32_t assoc_group,
                   const char *sec_addr, struct rpc_assoc *a, struct rpc_pdu *out);

/* Fills a FAULT: flags FIRST|LAST|DID_NOT_EXECUTE (0x23), alloc_hint 32, context 0, the given call_id
 * (echo the request's) and status (RPC_STATUS_UNK_IF, RPC_STATUS_PROTO_ERROR). */
void rpc_fault_init(struct rpc_pdu *out, uint32_t call_id, uint32_t status);

/* Fills a single-fragment (flags 0x03) RESPONSE whose stub borrows stub[0..len). */
void rpc_response_init(struct rpc_pdu *out, uint32_t call_id, uint16_t ctx_id, const uint8_t *stub, size_t len);

/* ---- server side: REQUEST fragment reassembly (2.8) ---- */

/* Reassembly state; embed it in the session, rpc_reasm_init() it once and rpc_reasm_free() it at the end.
 * The KMS_LIMIT_REQUEST_STUB_MAX buffer is allocated only when a FIRST fragment without LAST arrives, and
 * released by rpc_reasm_release() (the session calls it once the request is decoded), by any error and by
 * rpc_reasm_free(); a connection that only sends single-fragment requests never has one. */
struct rpc_reasm {
    bool active; /* a FIRST fragment without LAST has been seen */
    uint32_t call_id;
    uint16_t ctx_id;
    uint16_t opnum;
    size_t len;
    uint8_t *buf; /* NULL, or KMS_LIMIT_REQUEST_STUB_MAX bytes */
};

/* Initialises a fresh state (no buffer). */
void rpc_reasm_init(struct rpc_reasm *r);

/* Frees the buffer unless a sequence is in progress; a stub returned from it is invalid afterwards. */
void rpc_reasm_release(struct rpc_reasm *r);

/* Abandons any sequence in progress and frees the buffer; r is then as after rpc_reasm_init(). */
void rpc_reasm_free(struct rpc_reasm *r);

/* Feeds one decoded REQUEST. Returns 1 when a request is complete, with *stub and *len set: a single-fragment
 * request's own borrowed stub (no copy), or r's buffer, valid until the next feed or rpc_reasm_release(). Returns 0 while
 * more fragments are needed. Errors (state reset, buffer freed): KMS_ERPC_PTYPE (not a REQUEST), KMS_ERPC_FRAG
 * (missing FIRST, FIRST inside a sequence, call_id / ctx_id / opnum changed), KMS_ERPC_TOOBIG (stub above
 * KMS_LIMIT_REQUEST_STUB_MAX), KMS_ENOMEM (no buffer for a fragmented request). */
int rpc_reasm_feed(struct rpc_reasm *r, const struct rpc_pdu *pdu, const uint8_t **stub, size_t *len);

/* ---- client side ---- */

/* Fills a BIND offering context 0 NDR32, then (if ndr64) NDR64, then (if btfn) BTFN with features 0x0003,
 * with consecutive context ids, max_xmit = max_recv = KMS_LIMIT_PDU_MAX, assoc_group 0. */
void rpc_client_bind(struct rpc_pdu *out, uint32_t call_id, uint8_t flags, bool ndr64, bool btfn);

/* Fills a single-fragment (flags 0x03) REQUEST whose stub borrows stub[0..len). */
void rpc_request_init(struct rpc_pdu *out, uint32_t call_id, uint16_t ctx_id, uint16_t opnum, const uint8_t *stub,
                      size_t len);

/* Picks the context to use from the reply `ack` (BIND_ACK or ALTER_CONTEXT_RESP body) to `offered`: an accepted
 * NDR64 context if any, else an accepted NDR32 one; an acceptance counts only if it names a syntax offered in
 * that element. Errors: KMS_ERPC_COUNT (result count differs from the offer), KMS_ERPC_NOCTX (none usable). */
int rpc_client_pick(const struct rpc_bind *offered, const struct rpc_bind_ack *ack, uint16_t *ctx_id,
                    enum rpc_syntax *syntax);

#endif
