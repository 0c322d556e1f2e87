/*
 * session — one connection's DCE/RPC conversation, as a pure state machine.
 *
 * The server hands it each complete PDU (framed by frag_length); it answers BIND and ALTER_CONTEXT,
 * reassembles REQUEST fragments, decodes the KMS request, asks the activation policy, and writes the
 * reply PDU. It never touches a socket, the clock or a random source directly: randomness comes through
 * a struct kms_rng. A malformed PDU makes it ask for the connection to be closed; it never aborts.
 */
#ifndef KMSD_SESSION_H
#define KMSD_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "activation.h"
#include "buf.h"
#include "kms.h"
#include "rng.h"
#include "rpc.h"

/* FAULT status for an opnum other than 0 (DCE nca_op_rng_error). */
#define SESSION_STATUS_OP_RNG_ERROR 0x1C010002u

struct session_cfg {
    struct rpc_bind_policy bind;
    char sec_addr[8];      /* the listening port as decimal text, for BIND_ACK */
    uint32_t max_requests; /* activation requests answered per connection before it is closed; 0: no limit */
    const struct activation_cfg *activation;
    const struct kms_rng *rng;
};

/* A decoded activation request waiting for its record to be committed before it is answered. */
struct session_pending {
    bool active;
    uint32_t call_id;
    uint16_t ctx_id;
    bool ndr64;
    struct kms_request req;
    struct activation_result result;
};

struct session {
    struct rpc_assoc assoc;
    struct rpc_reasm reasm;
    uint32_t assoc_group;
    bool bound;
    uint32_t requests; /* activation requests answered (it stops at UINT32_MAX) */
    struct session_pending pending;
};

enum session_action {
    SESSION_WAIT,        /* nothing to send yet (a REQUEST fragment is pending) */
    SESSION_REPLY,       /* send the bytes written to out */
    SESSION_REPLY_CLOSE, /* send them, then close (request cap reached) */
    SESSION_CLOSE,       /* protocol error: close without a reply */
    SESSION_ACTIVATE,    /* a request was decided (ev->req, ev->result): record it, then session_complete() */
};

/* What happened, for logging and statistics. */
struct session_event {
    bool activation;             /* a KMS request was decoded (or refused as undecodable) */
    int decode_err;              /* 0, or why the KMS request could not be decoded */
    uint32_t hresult;            /* 0, or the HRESULT sent in the error stub */
    struct kms_request req;      /* valid when decode_err == 0 */
    struct activation_result result;
    int close_err;               /* why SESSION_CLOSE was returned */
};

/* Starts a session; assoc_group is the id its BIND_ACKs carry. */
void session_init(struct session *s, uint32_t assoc_group);

/* Releases what the session allocated (a fragment reassembly buffer); call it before dropping s. */
void session_free(struct session *s);

/*
 * Handles one whole PDU of len bytes (len == its frag_length), writing any reply at out's offset.
 * Returns an enum session_action; ev describes what happened. After SESSION_ACTIVATE no further PDU may be
 * handed in until session_complete() has been called.
 */
enum session_action session_on_pdu(struct session *s, const struct session_cfg *cfg, const uint8_t *pdu,
                                   size_t len, struct wr *out, struct session_event *ev);

/*
 * Answers the pending activation: with count >= 0 that count replaces the one the policy chose (genuine
 * counting). Writes the RESPONSE at out's offset; ev->hresult and ev->decode_err tell what was sent.
 * Returns SESSION_REPLY, SESSION_REPLY_CLOSE (request cap reached) or SESSION_CLOSE.
 */
enum session_action session_complete(struct session *s, const struct session_cfg *cfg, int64_t count, struct wr *out,
                                     struct session_event *ev);

#endif
