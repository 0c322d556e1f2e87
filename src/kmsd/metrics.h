/*
 * metrics — the daemon's counters, shared by the event loop (which writes them) and the HTTP thread (which
 * reads them for /metrics and /api/v1/stats). Every field is a C11 atomic updated with relaxed ordering:
 * each counter is exact on its own, a reader may see two counters from slightly different instants.
 *
 * Adding a reason: append to its enum (before the *_COUNT member) and give it a name in metrics.c; the
 * exposition and the tests follow the name tables.
 */
#ifndef KMSD_METRICS_H
#define KMSD_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "kms.h"
#include "products.h"

typedef _Atomic uint64_t metrics_counter;

/* Why a connection was refused at accept (it never got a session). */
enum metrics_reject {
    METRICS_REJECT_MAX_CONNECTIONS, /* --max-connections reached */
    METRICS_REJECT_PER_ADDRESS,     /* the peer's address holds its connection cap */
    METRICS_REJECT_ACCESS,          /* --allow / --deny / --private-only */
    METRICS_REJECT_STOPPING,        /* arrived during shutdown */
    METRICS_REJECT_ACCEPT_ERROR,    /* accept() failed (e.g. out of file descriptors) */
    METRICS_REJECT_COUNT
};

/* Why a connection was closed. */
enum metrics_close {
    METRICS_CLOSE_PEER,         /* the client closed it (or reset it) */
    METRICS_CLOSE_PROTOCOL,     /* malformed or unexpected PDU */
    METRICS_CLOSE_IDLE,         /* --idle-timeout */
    METRICS_CLOSE_MAX_REQUESTS, /* --max-requests answered */
    METRICS_CLOSE_BUFFER,       /* --max-conn-buffer / --max-pdu exceeded */
    METRICS_CLOSE_SLOW,         /* a PDU took too long to arrive (slow sender) */
    METRICS_CLOSE_SHUTDOWN,     /* closed by SIGTERM/SIGINT */
    METRICS_CLOSE_ERROR,        /* write error or out of memory */
    METRICS_CLOSE_RATE,         /* an activation over --rate-limit: closed without an answer */
    METRICS_CLOSE_MAX_PDUS,     /* --max-pdus PDUs of any type received */
    METRICS_CLOSE_PROXY,        /* --proxy-protocol: a trusted proxy's header malformed or missing, or one sent by
                                 * a peer not trusted to */
    METRICS_CLOSE_COUNT
};

/* Why an activation was refused (an error stub was sent). */
enum metrics_refusal {
    METRICS_REFUSE_POLICY,    /* the activation policy: unknown KMS id, count too low, ... */
    METRICS_REFUSE_UNDECODABLE, /* the KMS request did not decode */
    METRICS_REFUSE_UNKNOWN_PRODUCT, /* --products known|volume: KMS id not in the table (0xC004F042) */
    METRICS_REFUSE_NOT_VOLUME,  /* --products volume: retail or preview group (0xC004F042) */
    METRICS_REFUSE_CSVLK,       /* --csvlk: no listed group activates the id (0xC004F042) */
    METRICS_REFUSE_TIME,        /* --time-check: request time more than 4 h off (0xC004F06C) */
    METRICS_REFUSE_RATE,        /* --rate-limit: the address is over its activation rate (no answer) */
    METRICS_REFUSE_COUNT
};

/* HTTP answers by status: the codes kmsd's HTTP server sends. */
enum metrics_http_status {
    METRICS_HTTP_200,
    METRICS_HTTP_400,
    METRICS_HTTP_401,
    METRICS_HTTP_404,
    METRICS_HTTP_405,
    METRICS_HTTP_413,
    METRICS_HTTP_414,
    METRICS_HTTP_500,
    METRICS_HTTP_503,
    METRICS_HTTP_COUNT
};

/* The outcome of one DNS update (dns_publish.h). */
enum metrics_dns_result {
    METRICS_DNS_OK,          /* NOERROR */
    METRICS_DNS_REFUSED,     /* rcode REFUSED: the server does not let this host update */
    METRICS_DNS_NOTAUTH,     /* rcode NOTAUTH: a key the server does not accept, or a zone it does not serve */
    METRICS_DNS_BADSIG,      /* the answer's TSIG does not verify */
    METRICS_DNS_TIMEOUT,     /* no answer in time */
    METRICS_DNS_UNREACHABLE, /* no server to send to (no SOA, a name that does not resolve) */
    METRICS_DNS_ERROR,       /* any other rcode or failure */
    METRICS_DNS_COUNT
};

/* Histogram with fixed bounds in microseconds (metrics.c lists them); the last bucket is +Inf. */
#define METRICS_HIST_BUCKETS 14
struct metrics_hist {
    metrics_counter bucket[METRICS_HIST_BUCKETS]; /* not cumulative: bucket[i] counts bound[i-1] < x <= bound[i] */
    metrics_counter count;
    metrics_counter sum_us;
};

#define METRICS_VERSION_MIN KMS_VERSION_MIN /* protocol versions counted per product: METRICS_VERSION_MIN .. MAX */
#define METRICS_VERSIONS 3
#define METRICS_VERSION_MAX (METRICS_VERSION_MIN + METRICS_VERSIONS - 1)

struct metrics {
    metrics_counter accepted;
    metrics_counter rejected[METRICS_REJECT_COUNT];
    metrics_counter closed[METRICS_CLOSE_COUNT];
    _Atomic int64_t open; /* connections open now */
    /* activations by [version - 4][KMS id index, n_kms = unknown][0 answered, 1 refused]; the KMS ids are those
     * of products, the product table in use at metrics_init: a table swapped in later (kmsd --products-file and a
     * reload) counts its KMS ids by id under the same cells, and ids that products lacks under "unknown", until
     * kmsd restarts (the table is never resized under the HTTP threads that read it) */
    metrics_counter *activations;
    size_t n_kms;
    const struct products_tables *products; /* never freed while kmsd runs (products.h) */
    metrics_counter refusals[METRICS_REFUSE_COUNT]; /* by reason; the HRESULT is counted below */
    metrics_counter refusals_hr_not_enough_count, refusals_hr_id_mismatch, refusals_hr_timestamp,
        refusals_hr_other;
    metrics_counter fd_shed;            /* connections accepted and closed at once for want of a descriptor */
    metrics_counter addr_untracked;     /* admitted without per-address accounting (its table set was full) */
    metrics_counter addr_evicted;       /* per-address entries evicted to make room (bounded table) */
    metrics_counter unrecorded;         /* answered without a committed record */
    metrics_counter registry_errors;    /* failed registry transactions */
    struct metrics_hist request_latency; /* complete request PDU in -> reply queued (registry commit included) */
    struct metrics_hist registry_write;  /* one registry transaction */
    struct metrics_hist registry_checkpoint; /* one background WAL checkpoint (its own thread) */
    metrics_counter registry_checkpoint_errors;
    int64_t start_time;                  /* Unix seconds at start */
    /* HTTP server (written by its thread) */
    metrics_counter http_responses[METRICS_HTTP_COUNT];
    metrics_counter http_rejected;  /* connections refused at --http-max-connections */
    _Atomic int64_t http_open;      /* HTTP connections open now */
    metrics_counter http_loads;     /* libmicrohttpd loaded (at start, and after each --http-idle-unload) */
    _Atomic int64_t registry_loads; /* SQLite loaded (at start, and after each --registry-idle-unload; http.c reads it) */
    _Atomic int64_t search_bytes;   /* what the API's search and sort by requests hold in memory (store_search.c) */
    metrics_counter readyz_probes;  /* self-activations run by /readyz (cached answers not counted) */
    metrics_counter readyz_failures;
    /* DNS publishing (written by its thread) */
    metrics_counter dns_updates[METRICS_DNS_COUNT];
    metrics_counter dns_last_success; /* Unix seconds of the last update answered NOERROR, 0 never */
};

/* Zeroes m and allocates the per-product table for the product table in use (products_current(): n_kms and the
 * names /metrics shows). Returns 0 or -ENOMEM. */
int metrics_init(struct metrics *m, int64_t start_time);
void metrics_free(struct metrics *m);

static inline void metrics_inc(metrics_counter *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}
static inline uint64_t metrics_get(const metrics_counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* The cell index of KMS id k, an entry of any product table (or NULL): its index in m->products when that table
 * has k's id, else n_kms ("unknown"). */
size_t metrics_kms_index(const struct metrics *m, const struct products_kms *k);
/* The name /metrics gives cell index i: the KMS id's name in m->products, "unknown" for n_kms. */
const char *metrics_kms_name(const struct metrics *m, size_t i);
/* Counts one activation: version_major METRICS_VERSION_MIN..MAX (others are not counted per product), kms_index from
 * metrics_kms_index() (n_kms for an unknown id), hresult 0 when answered. */
void metrics_activation(struct metrics *m, unsigned version_major, size_t kms_index, uint32_t hresult);
/* The counter of one cell of the activation table. */
uint64_t metrics_activation_get(const struct metrics *m, unsigned version_major, size_t kms_index, int refused);
/* Activations answered and refused since start, over every counted version and product (either pointer may
 * be NULL). */
void metrics_activation_totals(const struct metrics *m, uint64_t *answered, uint64_t *refused);

void metrics_observe(struct metrics_hist *h, uint64_t usec);
/* The upper bound of bucket i in microseconds; UINT64_MAX for the last (+Inf). */
uint64_t metrics_hist_bound(size_t i);

const char *metrics_reject_name(enum metrics_reject r);   /* "max_connections", ... */
const char *metrics_close_name(enum metrics_close c);     /* "peer", "protocol", ... */
const char *metrics_refusal_name(enum metrics_refusal r); /* "policy", ... */
const char *metrics_dns_name(enum metrics_dns_result r);  /* "ok", "refused", ... */
unsigned metrics_http_code(enum metrics_http_status s);  /* 200, 400, ... */
/* The enum member of an HTTP status code; METRICS_HTTP_500 for codes not in the list. */
enum metrics_http_status metrics_http_status_of(unsigned code);

#endif
