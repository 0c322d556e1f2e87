/*
 * acl — who may connect: --allow / --deny CIDR lists and --private-only. Pure: no sockets, no clock.
 *
 * Every address is handled as 16 bytes: an IPv4 address a.b.c.d is the IPv4-mapped ::ffff:a.b.c.d, so an
 * IPv4 peer on a dual-stack listener and the same peer on an IPv4 listener match the same rules, and an
 * IPv4 CIDR a.b.c.d/n is ::ffff:a.b.c.d/(96+n).
 *
 * Verdict for a peer, in this order: a matching --deny refuses (deny wins); with any --allow given, an
 * address matching none of them is refused; with --private-only, an address that is not private is refused.
 *
 * Private (acl_is_private), exactly: IPv4 10/8, 172.16/12, 192.168/16 (RFC 1918), 127/8 (loopback),
 * 169.254/16 (link-local), 100.64/10 (CGNAT, RFC 6598); IPv6 ::1/128, fc00::/7 (ULA), fe80::/10
 * (link-local); IPv4 ranges count whether the peer arrives as IPv4 or IPv4-mapped IPv6. Nothing else:
 * not 0/8, not multicast, not 64:ff9b::/96 (NAT64 can carry public peers), not site-local fec0::/10.
 */
#ifndef KMSD_ACL_H
#define KMSD_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#define ACL_MAX_RULES 64   /* --allow entries at most, and --deny entries at most */
#define ACL_CIDR_TEXT 64   /* longest CIDR text accepted, NUL included */

struct acl_net {
    uint8_t addr[16]; /* masked to the prefix */
    uint8_t prefix;   /* 0..128, in the 16-byte form */
};

struct acl {
    struct acl_net allow[ACL_MAX_RULES];
    size_t n_allow;
    struct acl_net deny[ACL_MAX_RULES];
    size_t n_deny;
    bool private_only;
};

enum acl_verdict {
    ACL_PASS,        /* let it connect */
    ACL_DENIED,      /* matches a --deny */
    ACL_NOT_ALLOWED, /* --allow given and none matches */
    ACL_PUBLIC,      /* --private-only and the address is not private */
};

/* Parses "ADDR" or "ADDR/PREFIX" (IPv4 prefix 0-32, IPv6 0-128; no prefix: the single address). Host bits
 * set below the prefix are refused (10.1.2.3/8 is an error: say 10.0.0.0/8) so that a typo does not
 * silently widen a rule. Returns 0, or -1 with a reason in *why (a static string). */
int acl_parse_cidr(const char *text, struct acl_net *out, const char **why);
/* Formats net as text ("10.0.0.0/8", "fc00::/7"; IPv4-mapped nets in IPv4 form) into buf[cap]. */
void acl_format_cidr(const struct acl_net *net, char *buf, size_t cap);

/* The 16-byte form of a socket address (AF_INET or AF_INET6). Returns 0 or -1 (other family). */
int acl_addr_from_sockaddr(const struct sockaddr *sa, uint8_t out[16]);

bool acl_net_contains(const struct acl_net *net, const uint8_t addr[16]);
/* The private addresses listed above: --private-only admits only them, and the per-address limits spare them
 * unless --limit-private. */
bool acl_is_private(const uint8_t addr[16]);
bool acl_is_v4(const uint8_t addr[16]); /* IPv4-mapped */

/* Fills acl from CIDR texts (entries of text_len bytes each, as in struct kmsd_config). Returns 0, or -1
 * when an entry does not parse (the configuration has already checked them) or there are too many. */
int acl_build(struct acl *acl, const char *allow, int n_allow, const char *deny, int n_deny, size_t text_len,
              bool private_only);

enum acl_verdict acl_check(const struct acl *acl, const uint8_t addr[16]);
/* "deny", "not-allowed", "public" (for logs); "pass" for ACL_PASS. */
const char *acl_verdict_name(enum acl_verdict v);

#endif
