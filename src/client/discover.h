/*
 * discover — finding KMS hosts in DNS as a Windows client does without slmgr /skms: the SRV record
 * _vlmcs._tcp.DOMAIN (RFC 2782), its targets in the order to try them (srv_order of src/common, randomness from
 * the caller), and each target's addresses. What kmsc --discover and kmsc discover run (docs/internals/dns.md).
 *
 * Lookups go through ldns (no DNS wire code here), asked of --dns-server when one is given, else of the system's
 * resolver (/etc/resolv.conf, through ldns_resolver_new_frm_file). Without a domain, the resolver's search list is
 * tried in order (resolv.conf's `search`, or its `domain` when there is no search list), as Windows walks its DNS
 * suffix list, up to the first domain with records. A target's addresses are its A then AAAA records asked of
 * the same --dns-server (a name that exists only there resolves), else getaddrinfo(3) (so /etc/hosts and nsswitch
 * apply as for any other host name). Blocking; every query bounded (KMSC_DISCOVER_DNS_TIMEOUT_MS times
 * KMSC_DISCOVER_DNS_TRIES per name server); every answer read through ldns's parser and bounded by the limits
 * below. No state between calls.
 */
#ifndef KMSC_DISCOVER_H
#define KMSC_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kms_client.h"
#include "rng.h"
#include "srv_order.h"

#define KMSC_DISCOVER_SERVICE "_vlmcs._tcp." /* the owner name's prefix Windows asks for */
/* The longest DOMAIN (without its final dot): _vlmcs._tcp.DOMAIN must fit in DNS_NAME_MAX. */
#define KMSC_DISCOVER_DOMAIN_MAX (DNS_NAME_MAX - (sizeof KMSC_DISCOVER_SERVICE - 1))
#define KMSC_DISCOVER_ADDRS_MAX 8         /* addresses of one target kept (A, then AAAA), the rest left out */
#define KMSC_DISCOVER_DOMAINS_MAX 6       /* search domains tried at most (glibc's MAXDNSRCH) */
#define KMSC_DISCOVER_DNS_TIMEOUT_MS 2000 /* one DNS query's wait for its answer, per try and name server */
#define KMSC_DISCOVER_DNS_TRIES 2         /* tries of one query per name server */
#define KMSC_DISCOVER_ADDR_TEXT 64        /* a numeric address as text, an IPv6 scope included, NUL included */
#define KMSC_DISCOVER_WHY 128             /* why a target has no address, NUL included */
#define KMSC_DISCOVER_DNS_PORT 53

/* --dns-server ADDR[:PORT]: an address or a name (resolved when asked), port 53 unless given. */
struct kmsc_dns_server {
    char host[KMSC_HOST_MAX + 1];
    uint16_t port;
};

/* One SRV record's target, with its addresses (none: why says so). */
struct kmsc_discover_host {
    struct srv_record rr;
    size_t n_addr;
    char addr[KMSC_DISCOVER_ADDRS_MAX][KMSC_DISCOVER_ADDR_TEXT];
    char why[KMSC_DISCOVER_WHY];
};

/* What one discovery found: the hosts in the order to try them. About 44 KB: not on a small stack. */
struct kmsc_discovery {
    char owner[DNS_NAME_MAX + 1]; /* _vlmcs._tcp.DOMAIN where the records were found, without the final dot */
    size_t n;                     /* hosts in host[] */
    size_t left_out;              /* records beyond SRV_ORDER_MAX (those of the highest priorities go), or whose
                                   * target is no usable name */
    struct kmsc_discover_host host[SRV_ORDER_MAX];
};

/* Parses --dns-server's text. Returns 0 or KMS_EINVAL with the reason in msg (cap bytes). */
int kmsc_discover_parse_server(const char *text, struct kmsc_dns_server *out, char *msg, size_t cap);

/* Checks a DOMAIN as given on a command line (a DNS name short enough for the service prefix). Returns 0 or
 * KMS_EINVAL with the reason in msg (cap bytes). */
int kmsc_discover_check_domain(const char *domain, char *msg, size_t cap);

/* Looks up _vlmcs._tcp.DOMAIN SRV (domain NULL: each search domain in turn, up to the first with records) of
 * server (NULL: the system's resolver), orders the records with rng (srv_order) and resolves every target.
 * Returns KMSC_OK with d->n >= 1 (a host may have no address: d->host[i].why); KMSC_NO_SRV when no domain
 * asked has a record (or only "." targets: the service is decidedly not there), KMSC_NO_HOST when the records
 * name no usable target; KMSC_CONNECT when the DNS did not answer (no answer, SERVFAIL, REFUSED; the search
 * list: when no domain had records and one such failure hid an answer), KMSC_USAGE for a bad domain, or
 * KMSC_INTERNAL. res->msg says why on every failure. */
enum kmsc_status kmsc_discover(const char *domain, const struct kmsc_dns_server *server, const struct kms_rng *rng,
                               struct kmsc_discovery *d, struct kmsc_result *res);

#endif
