/*
 * dns_name — the DNS names kmsd and kmsc take from users (zones, SRV targets, TSIG key names, discovery domains)
 * checked before any goes on the wire or into a record text: labels of 1 to 63 letters, digits, '-' and '_'
 * (for "_vlmcs._tcp"), separated by single dots, at most DNS_NAME_MAX characters without the optional final dot,
 * no '-' at a label's ends. The DNS itself allows any octet in a label; these are the names a zone file,
 * dnsmasq and a Windows DNS server all take as they are. Pure.
 */
#ifndef KMS_DNS_NAME_H
#define KMS_DNS_NAME_H

#include <stddef.h>

#define DNS_NAME_MAX 253  /* characters of a name without its final dot (RFC 1035: 255 octets on the wire) */
#define DNS_LABEL_MAX 63

/* NULL when text is such a name, else why not ("empty label", "label longer than 63 characters", ...). */
const char *dns_name_problem(const char *text);

/* Copies text without its final dot, lower-cased, into out (cap >= DNS_NAME_MAX + 1). Returns 0, or -1 when
 * dns_name_problem(text) is not NULL. */
int dns_name_canonical(const char *text, char *out, size_t cap);

#endif
