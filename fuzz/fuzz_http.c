/*
 * Fuzz target: kmsd's HTTP request-target parsing (http_query.c): split and percent-decode, route, and the
 * checked parameters of /api/v1/clients.
 *
 * Input: a request target as it follows the method on the request line ("/api/v1/clients?limit=5").
 * Invariants: a parsed path starts with '/' and fits HTTPQ_PATH_MAX; every parameter fits its bound and no
 * name repeats; an accepted clients query has 1 <= limit <= the cap and a known sort key.
 */
#include "fuzz.h"

#include <string.h>

#include "http_query.h"

#define CAP 500u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct httpq_req r;
    struct httpq_error e;
    if (httpq_parse_target((const char *)data, size, &r, &e) < 0) {
        fuzz_check(e.param[0] != '\0' && strlen(e.message) < sizeof e.message);
        return 0;
    }
    fuzz_check(r.path[0] == '/' && strlen(r.path) <= HTTPQ_PATH_MAX);
    fuzz_check(r.n_params <= HTTPQ_PARAMS_MAX);
    for (size_t i = 0; i < r.n_params; i++) {
        fuzz_check(r.params[i].key[0] != '\0' && strlen(r.params[i].key) <= HTTPQ_KEY_MAX);
        fuzz_check(strlen(r.params[i].value) <= HTTPQ_VALUE_MAX);
        for (size_t j = 0; j < i; j++)
            fuzz_check(strcmp(r.params[i].key, r.params[j].key) != 0);
    }
    struct guid g;
    (void)httpq_route(&r, &g, &e);
    struct httpq_clients c;
    if (httpq_clients(&r, CAP, 1795000000, &c, &e) == 0) {
        fuzz_check(c.sq.limit >= 1 && c.sq.limit <= CAP);
        fuzz_check(c.sq.offset <= HTTPQ_OFFSET_MAX);
        fuzz_check((unsigned)c.sq.sort < STORE_SORT_COUNT);
        fuzz_check(!c.sq.q || strlen(c.sq.q) <= HTTPQ_TEXT_MAX);
    }
    return 0;
}
