/*
 * kms — the KMS activation messages of protocol versions 4, 5 and 6 (protocol.md sections 3 and 4),
 * both sides: the client encodes requests and decodes + verifies responses, the server decodes requests
 * and encodes responses.
 *
 * Pure: randomness (IVs, the server's salt) and time come in as parameters. Messages are the raw KMS
 * bytes that travel inside the NDR conformant array (see ndr.h). Decoded structs own copies of all
 * fields; nothing borrows from the input after return. Secrets derived on the way (decrypted salts,
 * key schedules, HMAC keys) are wiped before return.
 */
#ifndef KMSD_KMS_H
#define KMSD_KMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guid.h"

#define KMS_REQUEST_BASE_LEN 236
#define KMS_V4_REQUEST_LEN 252  /* base + 16-byte hash */
#define KMS_V56_REQUEST_LEN 260 /* version + IV + 240 encrypted bytes */
#define KMS_MACHINE_NAME_UNITS 64
#define KMS_EPID_MAX_BYTES 128 /* epidLength limit, NUL included */
#define KMS_EPID_UTF8_MAX 192  /* 63 UTF-16 units as UTF-8, plus NUL */
#define KMS_RESPONSE_MAX_LEN 292 /* V6 with the longest ePID: 20 + pad16(132 + 128) */
#define KMS_HWID_LEN 8

/* HRESULTs a host sends in the NDR error stub (protocol.md 7). */
#define KMS_HR_INVALID_DATA 0x8007000Du     /* ERROR_INVALID_DATA: unparsable request, unknown version */
#define KMS_HR_NOT_ENOUGH_COUNT 0xC004F038u /* SL_E_VL_NOT_ENOUGH_COUNT */
#define KMS_HR_ID_MISMATCH 0xC004F042u      /* SL_E_VL_KEY_MANAGEMENT_SERVICE_ID_MISMATCH */
#define KMS_HR_INVALID_TIMESTAMP 0xC004F06Cu /* SL_E_VL_INVALID_TIMESTAMP */
#define KMS_HR_SERVICE_UNAVAILABLE 0xC004F074u /* SL_E_VL_BINDING_SERVICE_UNAVAILABLE (client side) */

/* Licence states of the licenseStatus field. */
enum kms_license_status {
    KMS_LS_UNLICENSED = 0,
    KMS_LS_LICENSED = 1,
    KMS_LS_OOB_GRACE = 2,
    KMS_LS_OOT_GRACE = 3,
    KMS_LS_NONGENUINE_GRACE = 4,
    KMS_LS_NOTIFICATION = 5,
    KMS_LS_EXTENDED_GRACE = 6,
};
#define KMS_LICENSE_STATUS_COUNT 7 /* statuses 0 .. KMS_LICENSE_STATUS_COUNT - 1 */

struct kms_request {
    uint16_t version_minor;
    uint16_t version_major;
    uint32_t is_client_vm;
    uint32_t license_status;
    uint32_t grace_time; /* minutes */
    struct guid app_id;
    struct guid sku_id;
    struct guid kms_id; /* kmsCountedId */
    struct guid cmid;   /* clientMachineId */
    uint32_t required_count;
    uint64_t request_time; /* FILETIME */
    struct guid prev_cmid;
    uint8_t machine_name[2 * KMS_MACHINE_NAME_UNITS]; /* raw UTF-16LE as on the wire */
    /* Filled by kms_decode_request() and kms_encode_request(): */
    uint8_t iv[16];    /* V5/V6: the request IV (IV_req) */
    uint8_t salt[16];  /* V5/V6: S_req = D_K(IV_req), needed to answer and to verify */
    bool v4_hash_ok;   /* V4 (server side): the request hash verified */
};

struct kms_response {
    uint16_t version_minor;
    uint16_t version_major;
    uint32_t epid_bytes;              /* epidLength P, NUL included */
    char epid[KMS_EPID_UTF8_MAX];     /* UTF-8 */
    struct guid cmid;
    uint64_t response_time;
    uint32_t current_count;
    uint32_t activation_interval;     /* minutes */
    uint32_t renewal_interval;        /* minutes */
    uint8_t hwid[KMS_HWID_LEN];       /* V6 only */
    uint8_t iv[16];                   /* V5/V6: the response IV */
};

/* What the server's policy decided; input to kms_encode_response(). */
struct kms_response_params {
    const char *epid; /* UTF-8, at most 63 UTF-16 units */
    uint32_t current_count;
    uint32_t activation_interval;
    uint32_t renewal_interval;
    uint8_t hwid[KMS_HWID_LEN];
};

/* The server's randomness for one response (fresh per response). */
struct kms_response_random {
    uint8_t salt[16]; /* R: V5/V6 */
    uint8_t iv[16];   /* IV_resp: V6 (must differ from IV_req) */
};

/* Sets the workstation name from UTF-8 (at most 63 UTF-16 units). Returns 0, KMS_EINVAL or KMS_ENOSPC. */
int kms_request_set_machine_name(struct kms_request *req, const char *utf8);
/* The workstation name as UTF-8 in out (cap bytes); invalid UTF-16 gives KMS_EINVAL with the valid prefix. */
int kms_request_machine_name(const struct kms_request *req, char *out, size_t cap);

/*
 * Client: encodes req as a request message of its version (major <= 4: V4 layout, 5: V5, >= 6: V6),
 * with the given 16-byte IV for V5/V6 (ignored for V4). Stores the IV and S_req in req for verification.
 * Returns 0 or KMS_ENOSPC; *out_len gets the length (252 or 260).
 */
int kms_encode_request(struct kms_request *req, const uint8_t iv[16], uint8_t *out, size_t cap, size_t *out_len);

/*
 * Decodes a request message of any version by its layout (major <= 4: V4, 5: V5, >= 6: V6) without
 * judging the version: what a client-side tool or a test needs to interpret a recorded request.
 * Returns 0, KMS_ELENGTH, KMS_EPADDING or KMS_EVERSION (inner version differs from the cleartext one).
 */
int kms_parse_request(const uint8_t *msg, size_t len, struct kms_request *req);

/*
 * Server: decodes a request message. Bytes after the 252/260 the version needs are ignored.
 * Returns 0, KMS_ELENGTH (too short), KMS_EVERSION (major not 4/5/6, minor not 0, or V5/V6 inner
 * version differing from the cleartext one) or KMS_EPADDING; every error maps to KMS_HR_INVALID_DATA.
 */
int kms_decode_request(const uint8_t *msg, size_t len, struct kms_request *req);

/*
 * Server: encodes the response to a decoded request. Returns the response in out (KMS_RESPONSE_MAX_LEN is
 * always enough) with its length in *out_len. Returns 0, KMS_EINVAL (ePID empty, too long or not valid
 * UTF-8; V6 response IV equal to the request IV), KMS_EVERSION or KMS_ENOSPC.
 */
int kms_encode_response(const struct kms_request *req, const struct kms_response_params *p,
                        const struct kms_response_random *rnd, uint8_t *out, size_t cap, size_t *out_len);

/*
 * Client: decodes a response to req (as encoded by kms_encode_request or decoded by kms_decode_request)
 * and performs every check of protocol.md 4.6 except the client-count threshold, each failure with its
 * own code (KMS_EV_*). Like a Windows client it also requires the ePID to have the ePID's form (epid_parse);
 * its field values are not judged here (py-kms sends day 000, for one). resp is filled as far as decoding got.
 */
int kms_decode_response(const struct kms_request *req, const uint8_t *msg, size_t len, struct kms_response *resp);

/* Symbolic name of a KMS-related HRESULT ("SL_E_VL_NOT_ENOUGH_COUNT"), or NULL when unknown. */
const char *kms_hresult_name(uint32_t hr);
/* The protocol versions this implementation speaks (major numbers), both sides. */
#define KMS_VERSION_MIN 4
#define KMS_VERSION_MAX 6
#define KMS_VERSIONS (KMS_VERSION_MAX - KMS_VERSION_MIN + 1)
#define KMS_HWID_TEXT_LEN (2 * KMS_HWID_LEN) /* characters of a HWID's text form, without NUL */
/* The HWID's text form: 16 upper-case hex digits, byte 0 first ("3A1C049600B60076"), NUL-terminated. */
void kms_format_hwid(const uint8_t hwid[KMS_HWID_LEN], char out[KMS_HWID_TEXT_LEN + 1]);
/* The one name of a licence status, used in logs, JSON values and keys and listings ("initial grace"), or
 * "unknown" for a status >= KMS_LICENSE_STATUS_COUNT. */
const char *kms_license_status_name(uint32_t status);
/* The same status as slmgr /dli words it ("Initial grace period"), or "unknown". */
const char *kms_license_status_slmgr(uint32_t status);

#endif
