/*
 * host_identity — the lines of kmsd configuration (INI keys `epid = GROUP=EPID` and `hwid = HEX16`,
 * docs/config.md) that make a kmsd answer with the ePID and HWID another KMS host answered a client with: what
 * `kmsc --save-identity FILE` writes after a verified activation, so that a host can be replaced by kmsd
 * without its clients seeing a new identity.
 *
 * kmsd takes an ePID only under a CSVLK group of its product table whose ePID group id is the ePID's (field
 * GGGGG), and answers a KMS id from one group (the table's epid_csvlk of that id, as activation.c picks it).
 * Several groups share a group id (206 is most of Windows and Office), so the group is chosen in this order:
 * the one kmsd answers the request's KMS id from, when its group id matches (kmsd then answers that product
 * with the saved ePID); else a group that activates the KMS id; else any group with that group id — among
 * several, the first in table order whose key-id range holds the ePID's key id, else the first. The last two
 * cases get a comment saying what kmsd will do. An ePID that kmsd would refuse (no group has its group id, a
 * field out of range) is written as a comment with the reason, so that the file still loads.
 *
 * Pure: the time of saving is a parameter; the text is built in the caller's buffer, never longer than
 * HOST_IDENTITY_TEXT_MAX bytes with its NUL.
 */
#ifndef KMSD_HOST_IDENTITY_H
#define KMSD_HOST_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "epid.h"
#include "guid.h"
#include "kms.h"
#include "products.h"

#define HOST_IDENTITY_TEXT_MAX 2048 /* bytes of the whole text with its NUL: a 255-byte source fits many times */
#define HOST_IDENTITY_SOURCE_MAX 160 /* bytes of the source named in the header; a longer one is cut */

/* What one verified answer tells about the host that sent it. */
struct host_identity {
    const char *source;         /* where it came from, e.g. "kms.example.com:1688 ([2001:db8::1]:1688)"; control
                                 * bytes are written as '?' */
    int64_t saved_at;           /* Unix seconds, written as UTC */
    struct guid app_id, kms_id; /* the request's applicationId and kmsCountedId */
    const char *epid;           /* the answer's ePID (kms_decode_response checked its form) */
    bool has_hwid;              /* a V6 answer: V4 and V5 answers carry no HWID */
    uint8_t hwid[KMS_HWID_LEN];
};

/* How the chosen group relates to the request's KMS id. */
enum host_identity_fit {
    HOST_IDENTITY_ANSWERS,    /* kmsd answers the KMS id from this group */
    HOST_IDENTITY_ACTIVATES,  /* the group activates the KMS id, but kmsd answers it from another */
    HOST_IDENTITY_GROUP_ONLY, /* only the group id matches */
};

/* The CSVLK group to save an ePID e under for a request with app_id and kms_id (the order above), or NULL when
 * no group with ePID data has e's group id. *fit (may be NULL) says how it relates to kms_id; *answering (may
 * be NULL) gets the group kmsd answers kms_id from (never NULL with a valid table). */
const struct products_csvlk *host_identity_csvlk(const struct epid *e, const struct guid *app_id,
                                                 const struct guid *kms_id, enum host_identity_fit *fit,
                                                 const struct products_csvlk **answering);

/* Writes the configuration text for id into out (cap bytes, NUL-terminated): a header comment naming the source
 * and the time, the epid line (or a comment with the reason kmsd would refuse it) and the hwid line (or a
 * comment that a V4/V5 answer has none). note (ncap bytes) gets one line for the user when the file will not
 * make kmsd answer as the host did (ePID commented out or under a group kmsd does not answer this product from,
 * no HWID), else "". Returns the length of the text, KMS_EINVAL when id->epid is not in an ePID's form, or
 * KMS_ENOSPC when out is too small (HOST_IDENTITY_TEXT_MAX always suffices). */
int host_identity_format(const struct host_identity *id, char *out, size_t cap, char *note, size_t ncap);

#endif
