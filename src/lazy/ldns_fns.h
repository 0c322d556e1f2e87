/*
 * ldns_fns — the ldns functions both programs call, loaded when they are asked for (lazylib.h): kmsd's DNS
 * publishing (--dns-publish) and the client library's discovery (kmsc --discover, kmsc discover). A kmsd that
 * publishes nothing and a kmsc that discovers nothing never map ldns or the OpenSSL libraries ldns links (a kmsc
 * start took 15 ms with them and libcurl's linked, 4 ms without: docs/performance.md, "kmsc without the libraries
 * it rarely needs"). The callers write ldns_fn.NAME(...) where they would write NAME(...); the pointer types come
 * from ldns's headers.
 */
#ifndef KMSD_LDNS_FNS_H
#define KMSD_LDNS_FNS_H

#include <stddef.h>

#include <ldns/ldns.h>

#include "lazylib.h"

#define LDNS_FNS(X)                                                                                                  \
    X(ldns_dname_new_frm_str) X(ldns_get_errorstr_by_id) X(ldns_lookup_by_id) X(ldns_pkt_free) X(ldns_pkt_get_rcode) \
    X(ldns_pkt_rr_list_by_type) X(ldns_pkt_set_random_id) X(ldns_rcodes) X(ldns_rdf2native_int16) X(ldns_rdf2str)    \
    X(ldns_rdf_deep_free) X(ldns_rdf_new_frm_str) X(ldns_resolver_deep_free) X(ldns_resolver_domain)                 \
    X(ldns_resolver_nameserver_count) X(ldns_resolver_new) X(ldns_resolver_new_frm_file)                             \
    X(ldns_resolver_push_nameserver) X(ldns_resolver_query) X(ldns_resolver_searchlist)                              \
    X(ldns_resolver_searchlist_count) X(ldns_resolver_send) X(ldns_resolver_send_pkt) X(ldns_resolver_set_fallback)  \
    X(ldns_resolver_set_port) X(ldns_resolver_set_random) X(ldns_resolver_set_recursive)                             \
    X(ldns_resolver_set_retrans) X(ldns_resolver_set_retry) X(ldns_resolver_set_timeout)                             \
    X(ldns_resolver_set_tsig_algorithm) X(ldns_resolver_set_tsig_keydata) X(ldns_resolver_set_tsig_keyname)          \
    X(ldns_rr_free) X(ldns_rr_list_deep_free) X(ldns_rr_list_new) X(ldns_rr_list_push_rr) X(ldns_rr_list_rr)         \
    X(ldns_rr_list_rr_count) X(ldns_rr_new_frm_str) X(ldns_rr_rd_count) X(ldns_rr_rdf) X(ldns_rr_set_class)          \
    X(ldns_rr_set_ttl) X(ldns_update_pkt_new) X(ldns_update_pkt_tsig_add)

struct ldns_fns {
    LAZYLIB_MEMBERS(LDNS_FNS)
};

/* Filled by ldns_fns_load; read-only after it. */
extern struct ldns_fns ldns_fn;

/* Loads ldns (KMSD_LDNS_SONAME, set by meson's ldns_soname option) once (lazylib_open_once). 0, or -1 with err
 * filled (cap bytes). */
int ldns_fns_load(char *err, size_t cap);

#endif
