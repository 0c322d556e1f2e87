/*
 * Fuzz target: the PROXY protocol header (proxy_parse), as kmsd reads it from a trusted load balancer.
 *
 * Invariants (proxy_header.h): a header found is no longer than the input and than its version's limit; the same
 * bytes alone give the same length and the same addresses; every shorter prefix of it asks for more (0), so a
 * header split across reads is never taken early or refused; proxy_looks_like agrees with a non-refusal.
 */
#include "fuzz.h"

#include <string.h>

#include "proxy_header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_info a, b;
    int n = proxy_parse(data, size, &a);
    if (n >= 0 && size > 0)
        fuzz_check(proxy_looks_like(data, size));
    if (n <= 0)
        return 0;
    fuzz_check((size_t)n <= size);
    fuzz_check(n <= (a.version == 1 ? PROXY_V1_MAX : PROXY_V2_MAX));
    fuzz_check(proxy_parse(data, (size_t)n, &b) == n);
    fuzz_check(a.local == b.local && a.version == b.version);
    if (!a.local)
        fuzz_check(a.family == b.family && memcmp(a.src, b.src, 16) == 0 && a.src_port == b.src_port);
    for (size_t i = 0; i < (size_t)n; i++)
        fuzz_check(proxy_parse(data, i, &b) == 0);
    return 0;
}
