/*
 * client — one KMS client association over TCP: resolve and connect, BIND, then any number of activation
 * REQUEST/RESPONSE exchanges, each fully verified (protocol.md 2, 3, 4.6, 8.2). Part of the client library
 * (src/client, Meson's kmsclient_dep) that kmsc and kmsd link; the encoding and the checks themselves are the
 * pure kms_client module of src/common, and this file adds the sockets, the clock and the random source.
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
#include "kms_client.h"
#include "kms_limits.h"
#include "rpc.h"

/* One connection and its association. Embed it, kmsc_conn_init() it, kmsc_close() it. */
struct kmsc_conn {
    int fd; /* -1 when closed */
    int timeout_ms;
    int wait_ms; /* kmsc --wait: a connection every address refused is tried again until this long after the first
                  * try (0, kmsc_conn_init's: once); every KMSC_WAIT_RETRY_MS for KMSC_WAIT_FAST_MS, then every
                  * KMSC_WAIT_SLOW_RETRY_MS */
    int bind_timeout_ms; /* the wait for the BIND's answer (kmsc_conn_init: timeout_ms); a KMS host answers a BIND
                          * at once, so kmsc waits less for it than for an activation (KMSC_BIND_TIMEOUT_MS) */
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

/* A fresh random version-4 UUID (RFC 4122 variant) in wire order. Returns 0 or KMS_ECRYPTO. */
int kmsc_random_uuid(struct guid *g);

/* Current time as FILETIME (100-ns resolution from CLOCK_REALTIME). */
uint64_t kmsc_now_filetime(void);

void kmsc_conn_init(struct kmsc_conn *c, int timeout_ms);

/* kmsc --wait: a host that is starting refuses connections until it listens. Tried again every KMSC_WAIT_RETRY_MS
 * for the wait's first KMSC_WAIT_FAST_MS (a host on the same machine is answered within a few ms of listening: a
 * start is timed by it, bench/registry), then every KMSC_WAIT_SLOW_RETRY_MS (a host that takes longer is not pressed
 * with hundreds of connection attempts a second). Only a refusal is tried again: a name that does not resolve, a
 * connect that times out or an unreachable network is an answer. */
#define KMSC_WAIT_RETRY_MS 2
#define KMSC_WAIT_FAST_MS 1000
#define KMSC_WAIT_SLOW_RETRY_MS 100

struct addrinfo;

/* Resolves t->host and t->port with getaddrinfo (TCP, numeric port) in t->family (KMSC_FAMILY_ANY: both). On
 * KMSC_OK *list holds at least one address; the caller frees it with freeaddrinfo. Status KMSC_CONNECT when
 * nothing resolves: "HOST has no IPv6 address" when the name has addresses of the other family only, else
 * "cannot resolve 'HOST': ...". */
enum kmsc_status kmsc_resolve(const struct kmsc_target *t, struct addrinfo **list, struct kmsc_result *res);

/* Resolves t (kmsc_resolve) and tries each address in turn, each with the connection timeout. On success
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

/* Closes the socket (if open); c may be reused after kmsc_conn_init. */
void kmsc_close(struct kmsc_conn *c);

#endif
