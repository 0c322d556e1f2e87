/*
 * epid — the KMS host's extended PID (protocol.md 5.3): build, parse, validate, generate.
 *
 * Text form: PPPPP-GGGGG-KKK-KKKKKK-CC-LLLL-BBBB.0000-DDDYYYY
 *   platform id (5 digits), CSVLK group id (5 digits), key id (3 + 6 digits), channel (2 digits, 03),
 *   LCID (decimal, 1..5 digits, no leading zero), host build (4 or 5 digits, no leading zero),
 *   literal ".0000", day of year (3 digits) and year (4 digits) of the host's activation date.
 * Generation is pure: the caller passes the current time and a random source.
 */
#ifndef KMSD_EPID_H
#define KMSD_EPID_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

#define EPID_MAX_LEN 63 /* characters; the protocol's limit (epidLength <= 128 bytes incl. NUL) */

struct epid {
    uint32_t platform; /* 0..99999 */
    uint32_t group;    /* 0..99999 */
    uint32_t key_id;   /* 0..999999999 */
    uint32_t channel;  /* 3 for volume */
    uint32_t lcid;     /* 1..65535 */
    uint32_t build;    /* 1000..99999 */
    uint32_t yday;     /* 1..366 */
    uint32_t year;     /* 1601..9999 */
};

/* Inputs of epid_generate(): the CSVLK group and host build chosen by the caller. */
struct epid_params {
    uint32_t group, key_min, key_max; /* CSVLK group id and key-id range (inclusive) */
    uint32_t platform, build;         /* host build and its platform id */
    uint32_t lcid;
    int64_t not_before; /* Unix s: max(CSVLK release, host build release) */
    int64_t now;        /* Unix s: the current time */
};

/* Writes the text form into out (cap bytes incl. NUL). Returns the length, or KMS_ERANGE for a field out
 * of range, or KMS_ENOSPC. */
int epid_format(const struct epid *e, char *out, size_t cap);
/* Parses the text form strictly (syntax only). Returns 0 or KMS_EINVAL. */
int epid_parse(const char *text, struct epid *out);
/* Checks field ranges and meaning (channel 03, LCID 1..65535, a real day of that year).
 * Returns 0 or KMS_ERANGE. */
int epid_validate(const struct epid *e);
/* Draws a key id uniformly in [key_min, key_max] and an activation date uniformly between the days of
 * not_before and now (not_before's day if now is earlier). Returns 0, KMS_EINVAL or the rng's error. */
int epid_generate(const struct epid_params *p, const struct kms_rng *rng, struct epid *out);

#endif
