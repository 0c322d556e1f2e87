/*
 * ratelimit — per-address state for the limits that look at who is asking: open connections per address
 * (--max-per-address) and a token bucket of activations per address (--rate-limit, --rate-burst). Pure:
 * the caller passes the time in milliseconds (any monotonic clock) and the hash key.
 *
 * The "address" is the peer's IPv4 address, or the /64 prefix of an IPv6 peer (one IPv6 host usually
 * holds a whole /64, so counting /128s would let it take 2^64 addresses).
 *
 * Bounded: the table holds at most RATELIMIT_WAYS x sets entries, sets a power of two chosen from the
 * capacity asked for (--max-addresses); it never grows. An address hashes (keyed, so that a remote peer
 * cannot aim at one set) to one set of RATELIMIT_WAYS slots. A new address takes a free slot of its set, else
 * evicts the slot of that set with no open connection that was used least recently (its bucket refills
 * fully in at most burst/rate anyway, so evicting an idle address only ever forgives it early). When every
 * slot of the set holds open connections, the address is not tracked: ratelimit_connect() says so and the
 * caller decides (kmsd admits it untracked and counts it; with RATELIMIT_WAYS = 16 and a table larger than
 * --max-connections this needs 17 connected addresses in one set of a keyed hash).
 */
#ifndef KMSD_RATELIMIT_H
#define KMSD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_WAYS 16

struct ratelimit_entry {
    uint8_t key[16];       /* the address in 16-byte form (acl.h), IPv6 cut to /64 */
    uint32_t conns;        /* connections open now */
    bool used;
    uint64_t tokens_milli; /* activation tokens x 1000 */
    uint64_t t_refill;     /* ms: tokens are exact as of this time */
    uint64_t t_used;       /* ms: last connect or activation (for eviction) */
    uint64_t t_logged;     /* ms: last time a refusal for this address was logged; 0 never */
};

struct ratelimit_cfg {
    uint32_t max_per_address; /* connections open per address at most; 0: no cap */
    uint32_t rate_per_minute; /* activations per address per minute, sustained; 0: no limit */
    uint32_t burst;           /* bucket size (activations at once); at least 1 when rate_per_minute > 0 */
    size_t capacity;          /* addresses tracked at most (rounded up to a multiple of RATELIMIT_WAYS) */
    uint64_t log_interval_ms; /* at most one refusal log line per address per this interval */
    uint64_t hash_key[2];     /* random, for the keyed hash */
};

struct ratelimit {
    struct ratelimit_cfg cfg;
    struct ratelimit_entry *slots;
    size_t n_sets; /* power of two */
    size_t used;   /* slots in use */
    uint64_t evictions;
};

enum ratelimit_result {
    RATELIMIT_OK,        /* admitted and counted: call ratelimit_disconnect() when it closes */
    RATELIMIT_OVER,      /* refused: the address holds max_per_address connections */
    RATELIMIT_UNTRACKED, /* the address's set is full of connected addresses: not counted */
};

/* Allocates the table. Returns 0 or -ENOMEM / -EINVAL (capacity 0). */
int ratelimit_init(struct ratelimit *rl, const struct ratelimit_cfg *cfg);
void ratelimit_free(struct ratelimit *rl);
/* New limits (a reload), for the next connection and activation: connections already counted stay counted, and a
 * bucket above the new burst is cut to it. The table's size stays. */
void ratelimit_set_limits(struct ratelimit *rl, uint32_t max_per_address, uint32_t rate_per_minute, uint32_t burst);

/* The key of a 16-byte address (IPv6 outside ::ffff:0:0/96 cut to its /64). */
void ratelimit_key(const uint8_t addr[16], uint8_t key[16]);

/* A connection from addr (16-byte form) at now_ms. */
enum ratelimit_result ratelimit_connect(struct ratelimit *rl, const uint8_t addr[16], uint64_t now_ms);
/* The connection admitted by RATELIMIT_OK closed. */
void ratelimit_disconnect(struct ratelimit *rl, const uint8_t addr[16]);

/* Takes one activation token for addr at now_ms. Returns true when it may activate. An address that is not
 * in the table (untracked, or never connected) gets a fresh bucket if a slot can be had, else true. */
bool ratelimit_activation(struct ratelimit *rl, const uint8_t addr[16], uint64_t now_ms);

/* Whether a refusal for addr should be logged now (at most once per log_interval_ms per address); true for
 * an address not in the table. */
bool ratelimit_should_log(struct ratelimit *rl, const uint8_t addr[16], uint64_t now_ms);

/* Open connections counted for addr (0 if not tracked); for tests and statistics. */
uint32_t ratelimit_conns(const struct ratelimit *rl, const uint8_t addr[16]);

#endif
