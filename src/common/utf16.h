/*
 * utf16 — strict conversion between UTF-16LE wire strings and UTF-8.
 *
 * KMS carries the workstation name (request) and the ePID (response) as NUL-terminated UTF-16LE.
 * Conversions reject unpaired surrogates and (for UTF-8 input) overlong forms, surrogates encoded in
 * UTF-8 and code points above U+10FFFF. Output is always NUL-terminated when cap > 0, even on error,
 * so callers can log what they have. Nothing allocates.
 */
#ifndef KMSD_UTF16_H
#define KMSD_UTF16_H

#include <stddef.h>
#include <stdint.h>

/*
 * Converts n UTF-16LE code units at src (2n bytes) to UTF-8 in out (capacity cap, NUL included).
 * Conversion stops at the first zero unit. *out_len (if not NULL) gets the UTF-8 byte count.
 * Returns 0, KMS_EINVAL (unpaired surrogate) or KMS_ENOSPC (truncated at a character boundary).
 */
int utf16_to_utf8(const uint8_t *src, size_t n, char *out, size_t cap, size_t *out_len);

/*
 * Converts the NUL-terminated UTF-8 string s to UTF-16LE code units in out (cap units, no NUL written).
 * *units gets the count. Returns 0, KMS_EINVAL (invalid UTF-8) or KMS_ENOSPC.
 */
int utf16_from_utf8(const char *s, uint8_t *out, size_t cap_units, size_t *units);

/*
 * Checks that n units at src are valid UTF-16 (no unpaired surrogates) and contain no zero unit.
 * Returns 0 or KMS_EINVAL.
 */
int utf16_validate(const uint8_t *src, size_t n);

#endif
