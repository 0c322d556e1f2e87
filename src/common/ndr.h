/*
 * ndr — NDR32 and NDR64 framing of the single KMS operation's stub (protocol.md 2.5 and 2.6):
 *   request:  [in] int requestSize, [in, size_is(requestSize)] byte *request
 *   response: [out] int *responseSize, [out, size_is(, *responseSize)] byte **response, int return value
 *
 * Invariants: alignment is counted from the start of the stub (which the RPC layer places at an 8-byte
 * boundary of its PDU); pad bytes are written as zeros and ignored when read; decoders check that every
 * size field agrees with its conformance (max_count) and with the bytes present, and report the KMS
 * message as a view borrowed from the stub. HRESULTs are protocol data returned in structs, never as the
 * C return value. Pure: no allocation, no I/O.
 */
#ifndef KMSD_NDR_H
#define KMSD_NDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The unique-pointer referent id both emulators (and Windows) use for the response array. */
#define NDR_REFERENT_ID 0x00020000u

/* Stub bytes around an n-byte KMS message. */
#define NDR32_REQUEST_OVERHEAD 8u  /* requestSize, max_count */
#define NDR64_REQUEST_OVERHEAD 16u /* requestSize, pad, u64 max_count */
#define NDR32_ERROR_STUB_LEN 12u   /* responseSize, NULL referent, return value */
#define NDR64_ERROR_STUB_LEN 20u   /* responseSize + pad, u64 NULL referent, return value */

/* Length of the request stub for an n-byte message. */
size_t ndr_request_stub_len(bool ndr64, size_t n);

/* Length of the success-form response stub for an m-byte message (data, pad to 4, return value). */
size_t ndr_response_stub_len(bool ndr64, size_t m);

/* Appends the request stub wrapping msg[0..n) at w's offset (which counts as stub offset 0).
 * Errors: KMS_ERANGE (n does not fit a u32), KMS_ENOSPC. */
int ndr_encode_request(struct wr *w, bool ndr64, const uint8_t *msg, size_t n);

/* Unwraps a request stub: requestSize must equal max_count (KMS_ENDR) and the N bytes must be present
 * (KMS_ETRUNC); bytes after the array are ignored (py-kms's client appends 4). *msg borrows from stub. */
int ndr_decode_request(const uint8_t *stub, size_t len, bool ndr64, const uint8_t **msg, size_t *n);

/* Appends the success-form response stub: responseSize, referent NDR_REFERENT_ID, max_count, msg[0..m),
 * zeros to a 4-byte boundary, return value 0. Errors: KMS_ERANGE, KMS_ENOSPC. */
int ndr_encode_response(struct wr *w, bool ndr64, const uint8_t *msg, size_t m);

/* Appends the error-form response stub: responseSize 0, NULL referent, return value hresult.
 * Errors: KMS_ENOSPC. */
int ndr_encode_error(struct wr *w, bool ndr64, uint32_t hresult);

/* A decoded response stub. */
struct ndr_response {
    bool error_form;    /* NULL referent: no array was sent */
    uint32_t hresult;   /* the return value; non-zero means the activation failed */
    const uint8_t *msg; /* success form: the KMS response bytes, borrowed; NULL in the error form */
    size_t len;
};

/* Decodes a response stub. Success form: responseSize must equal max_count (KMS_ENDR), the array, its pad
 * and the return value must be present (KMS_ETRUNC) and nothing may follow (KMS_ETRAILING); a non-zero
 * return value is reported in hresult alongside the view. Error form (referent 0): hresult is the return
 * value; a zero return value there is KMS_ENDR (no data and no error). */
int ndr_decode_response(const uint8_t *stub, size_t len, bool ndr64, struct ndr_response *out);

#endif
