/*
 * dns_tsig — the TSIG key kmsd signs its DNS updates with, read from `--dns-tsig NAME:ALGORITHM:SECRET` or from a
 * BIND key file (`--dns-tsig-file`, what `tsig-keygen` and `ddns-confgen` write):
 *
 *     key "kmsd-update" {
 *         algorithm hmac-sha256;
 *         secret "base64...";
 *     };
 *
 * Hand-written: no Debian library reads this format (BIND's own parser is not a public library; ldns signs with
 * a key it is given but reads no key file). The file is small, so it is read whole and parsed with a bounded
 * scan: one key clause, `algorithm` hmac-sha256 or hmac-sha512, a base64 secret of 16 to DNS_TSIG_SECRET_MAX
 * characters; comments (# // and C-style) and blanks anywhere. Pure but for dns_tsig_read_file's read(2).
 */
#ifndef KMSD_DNS_TSIG_H
#define KMSD_DNS_TSIG_H

#include <stddef.h>

#define DNS_TSIG_SECRET_MAX 128 /* base64 characters: a 512-bit key is 88 */
#define DNS_TSIG_FILE_MAX 4096  /* bytes of a key file at most */

struct dns_tsig {
    char name[254];                  /* the key's name, as a DNS name (dns_name.h), without the final dot */
    char algorithm[16];              /* "hmac-sha256" or "hmac-sha512" */
    char secret[DNS_TSIG_SECRET_MAX + 1]; /* base64, as given */
};

/* Parses "NAME:ALGORITHM:SECRET". 0, or -1 with *why set to a static explanation. */
int dns_tsig_parse(const char *text, struct dns_tsig *out, const char **why);

/* Parses the text of a BIND key file (n bytes, need not be NUL-terminated). 0, or -1 with why (a static
 * explanation, possibly naming the line in line_out, 0 when none). */
int dns_tsig_parse_file(const char *text, size_t n, struct dns_tsig *out, const char **why, unsigned *line_out);

/* Reads and parses the key file at path. 0, or -1 with msg filled (cap bytes) naming the path and the problem. */
int dns_tsig_read_file(const char *path, struct dns_tsig *out, char *msg, size_t cap);

#endif
