/*
 * proxy_header — the PROXY protocol header (versions 1 and 2, HAProxy's "PROXY protocol" specification) that a load
 * balancer sends first on a connection it makes to kmsd, naming the client it came from. Pure: it reads bytes
 * through the bounded reader (buf.h) and says how many form the header.
 *
 * Hand-written: no library in Debian parses it for a server (HAProxy's own code is not a library), and the
 * format is small and fixed. Only what kmsd needs is kept: the source address and port of a TCP over IPv4 or
 * IPv6 connection. LOCAL (v2; a health check of the proxy itself), UNKNOWN (v1) and other families keep the
 * connection's own address; TLVs are skipped. Version 1 is at most PROXY_V1_MAX bytes with its CRLF; version 2 at
 * most PROXY_V2_MAX (its 16-byte head and the addresses and TLVs it announces).
 */
#ifndef KMSD_PROXY_HEADER_H
#define KMSD_PROXY_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROXY_V1_MAX 107  /* the specification's longest version 1 line, "PROXY ... \r\n" */
#define PROXY_V2_MAX 1040 /* a version 2 header: 16 bytes and up to 1024 of addresses and TLVs */
#define PROXY_SIG_LEN 12  /* version 2's signature */

struct proxy_info {
    bool local;          /* LOCAL, UNKNOWN, or a family other than TCP over IPv4/IPv6: the connection's own */
    int family;          /* AF_INET or AF_INET6 when !local */
    uint8_t src[16];     /* the client's address: 4 bytes (IPv4) or 16 (IPv6), network order */
    uint16_t src_port;
    uint8_t dst[16];     /* the address the client connected to */
    uint16_t dst_port;
    int version;         /* 1 or 2 */
};

/* Parses a header at the start of p[0..len). Returns its length in bytes (> 0) with out filled, 0 when more bytes
 * are needed (what is there is a valid beginning of one), or a negative code (err.h) when p does not start with a
 * valid header: KMS_EINVAL (not a header, or a malformed one), KMS_ERANGE (a version 2 header longer than
 * PROXY_V2_MAX, a port or address out of range). */
int proxy_parse(const uint8_t *p, size_t len, struct proxy_info *out);

/* Whether p[0..len) could be the beginning of a header ("PROXY " or version 2's signature, as far as len goes):
 * a connection that starts so from a peer not trusted to send one is refused. */
bool proxy_looks_like(const uint8_t *p, size_t len);

#endif
