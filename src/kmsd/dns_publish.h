/*
 * dns_publish — kmsd announces itself as a genuine KMS host does: the SRV record `_vlmcs._tcp.ZONE` (RFC 2782:
 * priority, weight, port, target) in each zone of --dns-publish, added by RFC 2136 dynamic update, signed with
 * TSIG when a key is given, announced again every --dns-refresh, and removed at a clean stop — exactly that
 * record (and the target's A/AAAA records of --dns-address, when the target lies inside the zone), nothing else.
 *
 * The DNS messages, TSIG signing and verification of the answers are ldns's (ldns_update_pkt_new,
 * ldns_resolver_send_pkt with the resolver's TSIG credentials); nothing here writes DNS wire format.
 *
 * One thread of its own does the updates, so the DNS never stands in the way of activation: a slow, refusing or
 * absent server costs the event loop nothing. Without --dns-server the update goes to the zone's primary, the
 * MNAME of its SOA asked of the system's resolver. A failed update (the server's rcode: REFUSED, NOTAUTH for a
 * bad key, ...; a TSIG answer that does not verify; a timeout; no server) is logged once per kind of failure,
 * retried after 2 s, 4 s, ... up to DNS_PUBLISH_BACKOFF_MAX_S, and counted (metrics: kmsd_dns_updates_total).
 * dns_publish_status() is what /api/v1/host shows.
 */
#ifndef KMSD_DNS_PUBLISH_H
#define KMSD_DNS_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dns_tsig.h"

struct metrics;

#define DNS_PUBLISH_TIMEOUT_MS 3000     /* one update's wait for its answer */
#define DNS_PUBLISH_BACKOFF_MIN_S 2     /* the first retry after a failure */
#define DNS_PUBLISH_BACKOFF_MAX_S 300   /* retries at most this far apart */
#define DNS_PUBLISH_STOP_BUDGET_MS 5000 /* the removals at a stop take at most this long together */
#define DNS_PUBLISH_RECORD_MAX 640      /* bytes of one record's text ("NAME TTL IN SRV P W PORT TARGET.") */

struct dns_publish_cfg {
    const char *zones[CONFIG_MAX_DNS_ZONES]; /* canonical names (dns_name.h) */
    size_t n_zones;
    const char *server;         /* ADDR[:PORT]; "" or NULL: each zone's primary */
    const struct dns_tsig *key; /* NULL: unsigned updates */
    const char *target;         /* the SRV target, a DNS name */
    uint16_t priority, weight, port;
    uint32_t ttl_s, refresh_s;
    const char *addresses[CONFIG_MAX_DNS_ADDRESSES]; /* the target's A/AAAA, textual */
    size_t n_addresses;
    struct metrics *m; /* counters; may be NULL */
};

enum dns_publish_state {
    DNS_PUBLISH_PENDING,   /* not yet tried, or being tried */
    DNS_PUBLISH_PUBLISHED, /* the last update was answered NOERROR */
    DNS_PUBLISH_FAILING,   /* the last update failed; retrying */
};

/* What /api/v1/host shows of one zone. */
struct dns_publish_zone_status {
    char zone[CONFIG_DNS_NAME_LEN];
    char record[DNS_PUBLISH_RECORD_MAX]; /* the SRV record as a zone-file line */
    enum dns_publish_state state;
    int64_t last_success;     /* Unix seconds, 0 never */
    int64_t last_attempt;     /* Unix seconds, 0 never */
    char last_error[160];     /* "" after a success */
    char server[96];          /* where the last update went ("" before the first) */
};

struct dns_publish;

/* The SRV record's owner and text for zone: "_vlmcs._tcp.ZONE. TTL IN SRV PRIORITY WEIGHT PORT TARGET." Pure; used
 * by the publisher, /api/v1/host and `kmsd dns-record`. */
void dns_publish_record_text(const struct dns_publish_cfg *c, const char *zone, char *out, size_t cap);

/* The FQDN of this host (gethostname, then getaddrinfo's canonical name), for --dns-host's default. 0 or -1. */
int dns_publish_fqdn(char *out, size_t cap);

/* Starts the thread (copies what c points to). 0, or -1 (logged) when the thread cannot start. */
int dns_publish_start(const struct dns_publish_cfg *c, struct dns_publish **out);

/* Removes the published records (within DNS_PUBLISH_STOP_BUDGET_MS), stops the thread and frees p (NULL is
 * fine). */
void dns_publish_stop(struct dns_publish *p);

/* Copies up to max zones' status into out; returns how many zones there are. Thread-safe. */
size_t dns_publish_status(struct dns_publish *p, struct dns_publish_zone_status *out, size_t max);

#endif
