/*
 * http_query — the pure part of kmsd's HTTP server: the request target (path and query string) split,
 * percent-decoded and bounded; the route; the parameters of each endpoint checked against their ranges.
 * No sockets, no clock (the current time is a parameter), no allocation. Every error names the parameter
 * and says why, for a 400 answer. Fuzzed by fuzz/fuzz_http.c.
 */
#ifndef KMSD_HTTP_QUERY_H
#define KMSD_HTTP_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guid.h"
#include "store.h"

#define HTTPQ_URI_MAX 2048    /* bytes of a request target (path and query); longer: 414 */
#define HTTPQ_PATH_MAX 256    /* bytes of the decoded path */
#define HTTPQ_KEY_MAX 32      /* bytes of a parameter name */
#define HTTPQ_VALUE_MAX 512   /* bytes of a decoded parameter value (a cursor on a long workstation name) */
#define HTTPQ_PARAMS_MAX 16   /* parameters in one query */
#define HTTPQ_TEXT_MAX 128    /* bytes of a search text (q, product) */
#define HTTPQ_OFFSET_MAX 1000000000u
#define HTTPQ_DEFAULT_LIMIT 50u

struct httpq_param {
    char key[HTTPQ_KEY_MAX + 1];
    char value[HTTPQ_VALUE_MAX + 1];
};

/* A request target split and decoded. */
struct httpq_req {
    char path[HTTPQ_PATH_MAX + 1];
    struct httpq_param params[HTTPQ_PARAMS_MAX];
    size_t n_params;
};

/* What is wrong, for a 400 answer: the parameter ("path" for the path itself) and why. */
struct httpq_error {
    char param[HTTPQ_KEY_MAX + 1];
    char message[192];
};

enum httpq_route {
    HTTPQ_NOT_FOUND,
    HTTPQ_PAGE,     /* GET / */
    HTTPQ_CLIENTS,  /* /api/v1/clients */
    HTTPQ_CLIENT,   /* /api/v1/clients/{cmid} */
    HTTPQ_PRODUCTS, /* /api/v1/products */
    HTTPQ_STATS,    /* /api/v1/stats */
    HTTPQ_HOST,     /* /api/v1/host */
    HTTPQ_METRICS,  /* /metrics */
    HTTPQ_HEALTHZ,  /* /healthz */
    HTTPQ_READYZ,   /* /readyz */
};

/* Percent-decodes src[0..n) into out (cap bytes, NUL-terminated); in a query (query = true) '+' is a space.
 * Refuses a bad or truncated escape, an encoded NUL and output that does not fit. Returns the decoded length
 * or -1. */
int httpq_decode(const char *src, size_t n, bool query, char *out, size_t cap);

/* Splits uri ("/path?k=v&k2=v2", n bytes, need not be NUL-terminated) into r: the decoded path, and the decoded
 * parameters in order (an empty "k" without "=" has an empty value; empty pairs from "&&" are skipped). A
 * repeated parameter, more than HTTPQ_PARAMS_MAX, an over-long key or value or a bad escape is an error.
 * Returns 0 or -1 with e filled. */
int httpq_parse_target(const char *uri, size_t n, struct httpq_req *r, struct httpq_error *e);

/* The endpoint of a path. For HTTPQ_CLIENT the CMID is parsed into *cmid; a path under /api/v1/clients/ that
 * is not a GUID is an error (-1, e filled). Unknown paths are HTTPQ_NOT_FOUND. */
int httpq_route(const struct httpq_req *r, struct guid *cmid, struct httpq_error *e);

/* Checks that every parameter of r is one of the NULL-terminated names in allowed. 0 or -1 with e. */
int httpq_only(const struct httpq_req *r, const char *const *allowed, struct httpq_error *e);

/* A parameter's value, or NULL when absent. */
const char *httpq_get(const struct httpq_req *r, const char *key);

/* The query of GET /api/v1/clients, checked. Strings point into the httpq_req. */
struct httpq_clients {
    struct store_query sq; /* product, application, q, since, host, sort, limit, offset, cursor */
};

/* Reads limit (1..max_limit, default min(HTTPQ_DEFAULT_LIMIT, max_limit)), offset (0..HTTPQ_OFFSET_MAX),
 * product and q (at most HTTPQ_TEXT_MAX bytes), application (an application key of the product table such
 * as "windows" or "office2013", or its GUID), since (Unix seconds, or "Nd": N days (1..36500) before now) and
 * sort (last_seen, first_seen, workstation, product or requests; a leading '-' for descending; default
 * -last_seen), cursor (a page's next_cursor under the same sort: the page starts after that row) and host (the
 * --host-name that last served the client, exactly; at most HTTPQ_TEXT_MAX bytes). Unknown
 * parameters are errors. Returns 0 or -1 with e. */
int httpq_clients(const struct httpq_req *r, uint32_t max_limit, int64_t now, struct httpq_clients *out,
                  struct httpq_error *e);

/* The next_cursor of a page of q that ends with the row whose cursor is c (store_cursor_of): "[-]SORT.VALUE.ROWID",
 * VALUE decimal for the numeric sort keys and the key's bytes in lower-case hex for workstation and product.
 * At most HTTPQ_CURSOR_MAX bytes with the NUL. Returns 0 or -1 when cap is too small. */
#define HTTPQ_CURSOR_MAX 448
int httpq_cursor_format(const struct store_query *q, const struct store_cursor *c, char *out, size_t cap);

/* Parses a decimal integer in [lo, hi] (digits only). 0 or -1. */
int httpq_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

#endif
