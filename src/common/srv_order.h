/*
 * srv_order — the order in which a client tries the targets of one SRV RRset (RFC 2782, "Usage rules"), what
 * kmsc --discover and kmsc discover follow for _vlmcs._tcp.DOMAIN. Pure: the records and the random source are
 * parameters (struct kms_rng), so a fixed seed gives a fixed order.
 *
 * The rules: lower priority first, a priority's records all before the next's. Within a priority the RFC's
 * weighted selection: the records not yet ordered are listed with those of weight 0 first; a number is drawn
 * uniformly and the first record whose running sum of weights reaches it is next; it leaves the list and the
 * draw is repeated for the rest. Two refinements of the RFC's wording, both within its "any order" and its
 * intent: the draw is over 0..sum when weight-0 records remain (0 picks the first of them, so together they
 * have the chance 1/(sum+1), "a very small chance"), else over 1..sum, so that weights 3:1 give exactly 3:1
 * whatever the order of the answer (the literal 0..sum favours whichever record happens to be listed first:
 * 4:1 or 3:2); and the weight-0 records are shuffled first, so that hosts all published with weight 0 (kmsd's
 * default) share clients evenly instead of the first in the DNS answer taking them all.
 */
#ifndef KMS_SRV_ORDER_H
#define KMS_SRV_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "dns_name.h"
#include "rng.h"

/* Records of one RRset ordered at most: a client tries no more hosts than this (a caller keeps SRV_ORDER_MAX of
 * the lowest priorities of a larger answer and says so). Weights then sum to less than 2^22. */
#define SRV_ORDER_MAX 64

/* One SRV record's data (RFC 2782): target without its final dot; "." (the service is decidedly not available)
 * is the caller's to handle, srv_order only orders. */
struct srv_record {
    uint16_t priority;
    uint16_t weight;
    uint16_t port;
    char target[DNS_NAME_MAX + 1];
};

/* Fills order[0..n) with the indexes of rr[0..n) in the order to try them, each index once. Draws from rng
 * (rng_uniform) at most once per record, plus the weight-0 shuffle. Returns 0, KMS_EINVAL when n > SRV_ORDER_MAX
 * (order untouched), or the random source's error. n == 0 is a valid, empty order. */
int srv_order(const struct srv_record *rr, size_t n, const struct kms_rng *rng, size_t *order);

#endif
