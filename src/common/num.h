/*
 * num — the one decimal and the one hexadecimal parser of the project: configuration values, command-line
 * numbers, identity files, lock files and user ids all go through here.
 *
 * Strict on purpose (strtoul alone accepts blanks, signs, "-1" as ULONG_MAX and "0x" prefixes): a decimal is
 * one or more ASCII digits and nothing else, checked for overflow and against a range; hexadecimal is exactly
 * two digits per byte, either case. Pure: no locale, no errno.
 */
#ifndef KMS_NUM_H
#define KMS_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Parses the digits at the start of s (at least one) into *out; *end gets the first byte after them. Returns 0,
 * KMS_EINVAL when s does not start with a digit, or KMS_ERANGE when the number exceeds UINT64_MAX. */
int num_digits(const char *s, uint64_t *out, const char **end);

/* Parses the whole NUL-terminated s as a decimal in [lo, hi]. Returns 0, KMS_EINVAL (empty, or any byte that
 * is not a digit) or KMS_ERANGE (outside [lo, hi], overflow included). *out is written only on success. */
int num_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* Parses exactly 2 * n hexadecimal digits at s (either case; s need not be NUL-terminated past them) into
 * out[0..n). Returns 0 or KMS_EINVAL (a byte that is not a hex digit); out may be partly written then. */
int num_hex(const char *s, uint8_t *out, size_t n);

#endif
