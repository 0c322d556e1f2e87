#include "discover.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "hostport.h"
#include "ldns_fns.h"

int kmsc_discover_parse_server(const char *text, struct kmsc_dns_server *out, char *msg, size_t cap)
{
    struct hostport hp;
    const char *why = NULL;
    memset(out, 0, sizeof *out);
    out->port = KMSC_DISCOVER_DNS_PORT;
    if (hostport_split(text, &hp, &why) != 0) {
        snprintf(msg, cap, "--dns-server '%s': %s (expected ADDR[:PORT], e.g. 192.0.2.53 or [2001:db8::53]:5353)", text,
                 why);
        return KMS_EINVAL;
    }
    if (hp.host_len == 0 || hp.host_len > KMSC_HOST_MAX || memchr(hp.host, '*', hp.host_len)) {
        snprintf(msg, cap,
                 "--dns-server '%s': expected one address or name, port 53 unless given (192.0.2.53, "
                 "[2001:db8::53]:5353, ns1.example.org)",
                 text);
        return KMS_EINVAL;
    }
    if (hp.port && hostport_port(hp.port, hp.port_len, &out->port) != 0) {
        snprintf(msg, cap, "--dns-server '%s': the port is not a number in 1..65535", text);
        return KMS_EINVAL;
    }
    memcpy(out->host, hp.host, hp.host_len);
    out->host[hp.host_len] = '\0';
    return 0;
}

/* The length of domain without its final dot when it is a name that fits before the service prefix, else 0. */
static size_t domain_len(const char *domain)
{
    if (dns_name_problem(domain))
        return 0;
    size_t len = strlen(domain);
    if (domain[len - 1] == '.')
        len--;
    return len <= KMSC_DISCOVER_DOMAIN_MAX ? len : 0;
}

int kmsc_discover_check_domain(const char *domain, char *msg, size_t cap)
{
    const char *why = dns_name_problem(domain);
    if (why) {
        snprintf(msg, cap, "'%.100s' is not a DNS domain: %s (expected e.g. example.org)", domain, why);
        return KMS_EINVAL;
    }
    if (domain_len(domain) == 0) {
        snprintf(msg, cap,
                 "the domain '%.40s...' is longer than %zu characters (%s and it make one name of at most %d)", domain,
                 (size_t)KMSC_DISCOVER_DOMAIN_MAX, KMSC_DISCOVER_SERVICE, DNS_NAME_MAX);
        return KMS_EINVAL;
    }
    return 0;
}

/* ---- the resolver ---- */

static void bound_resolver(ldns_resolver *r)
{
    struct timeval tv = {KMSC_DISCOVER_DNS_TIMEOUT_MS / 1000, (KMSC_DISCOVER_DNS_TIMEOUT_MS % 1000) * 1000};
    ldns_fn.ldns_resolver_set_timeout(r, tv);
    ldns_fn.ldns_resolver_set_retry(r, KMSC_DISCOVER_DNS_TRIES);
    ldns_fn.ldns_resolver_set_retrans(r, 1);
    ldns_fn.ldns_resolver_set_fallback(r, true); /* a truncated answer is asked again over TCP */
    ldns_fn.ldns_resolver_set_recursive(r, true);
}

/* A resolver that asks server (its name resolved here), or the system's. NULL with why. */
static ldns_resolver *resolver_new(const struct kmsc_dns_server *server, char *why, size_t wcap)
{
    ldns_resolver *r = NULL;
    if (!server) {
        if (ldns_fn.ldns_resolver_new_frm_file(&r, NULL) != LDNS_STATUS_OK || !r) {
            snprintf(why, wcap, "no system resolver (/etc/resolv.conf; or give --dns-server)");
            return NULL;
        }
        if (ldns_fn.ldns_resolver_nameserver_count(r) == 0) {
            ldns_fn.ldns_resolver_deep_free(r);
            snprintf(why, wcap, "no name server in /etc/resolv.conf (or give --dns-server)");
            return NULL;
        }
        bound_resolver(r);
        return r;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    int rc = getaddrinfo(server->host, NULL, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(why, wcap, "cannot resolve the DNS server '%.100s': %s", server->host, gai_strerror(rc));
        return NULL;
    }
    char addr[INET6_ADDRSTRLEN];
    const void *src = ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr
                                                : (const void *)&((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
    bool ok = inet_ntop(ai->ai_family, src, addr, sizeof addr) != NULL;
    int family = ai->ai_family;
    freeaddrinfo(ai);
    ldns_rdf_type type = family == AF_INET6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A;
    ldns_rdf *ns = ok ? ldns_fn.ldns_rdf_new_frm_str(type, addr) : NULL;
    r = ns ? ldns_fn.ldns_resolver_new() : NULL;
    if (!r || ldns_fn.ldns_resolver_push_nameserver(r, ns) != LDNS_STATUS_OK) {
        ldns_fn.ldns_resolver_deep_free(r);
        ldns_fn.ldns_rdf_deep_free(ns);
        snprintf(why, wcap, "cannot use the DNS server '%.100s'", server->host);
        return NULL;
    }
    ldns_fn.ldns_rdf_deep_free(ns); /* pushed as a copy */
    ldns_fn.ldns_resolver_set_port(r, server->port);
    bound_resolver(r);
    return r;
}

/* What asking gave. */
enum answer { ANSWER_RECORDS, ANSWER_NONE, ANSWER_NXDOMAIN, ANSWER_FAILED, ANSWER_INTERNAL };

/* Asks r for name's records of type t (name without its final dot). ANSWER_RECORDS with *list (the answer
 * section's records of type t, the caller's to free: a CNAME chain is followed by the resolver and its records
 * of type t are the answer's), ANSWER_NONE or ANSWER_NXDOMAIN, or ANSWER_FAILED with why. */
static enum answer ask(ldns_resolver *r, const char *name, ldns_rr_type t, ldns_rr_list **list, char *why, size_t wcap)
{
    char abs[DNS_NAME_MAX + 2];
    snprintf(abs, sizeof abs, "%s.", name);
    *list = NULL;
    ldns_rdf *dn = ldns_fn.ldns_dname_new_frm_str(abs);
    if (!dn) {
        snprintf(why, wcap, "'%s' is no DNS name", name);
        return ANSWER_FAILED;
    }
    ldns_pkt *pkt = NULL;
    ldns_status s = ldns_fn.ldns_resolver_send(&pkt, r, dn, t, LDNS_RR_CLASS_IN, LDNS_RD);
    ldns_fn.ldns_rdf_deep_free(dn);
    if (s != LDNS_STATUS_OK || !pkt) {
        ldns_fn.ldns_pkt_free(pkt);
        snprintf(why, wcap, "no answer from the DNS (%s)", ldns_fn.ldns_get_errorstr_by_id(s));
        return ANSWER_FAILED;
    }
    ldns_pkt_rcode rc = ldns_fn.ldns_pkt_get_rcode(pkt);
    enum answer a = ANSWER_FAILED;
    if (rc == LDNS_RCODE_NXDOMAIN) {
        a = ANSWER_NXDOMAIN;
    } else if (rc == LDNS_RCODE_NOERROR) {
        *list = ldns_fn.ldns_pkt_rr_list_by_type(pkt, t, LDNS_SECTION_ANSWER);
        a = *list && ldns_fn.ldns_rr_list_rr_count(*list) > 0 ? ANSWER_RECORDS : ANSWER_NONE;
    } else {
        ldns_lookup_table *lt = ldns_fn.ldns_lookup_by_id(*ldns_fn.ldns_rcodes, (int)rc);
        snprintf(why, wcap, "the DNS answered %s", lt ? lt->name : "an error");
    }
    if (a != ANSWER_RECORDS) {
        ldns_fn.ldns_rr_list_deep_free(*list);
        *list = NULL;
    }
    ldns_fn.ldns_pkt_free(pkt);
    return a;
}

/* ---- addresses of a target ---- */

static void add_addr(struct kmsc_discover_host *h, const char *text)
{
    for (size_t i = 0; i < h->n_addr; i++)
        if (strcmp(h->addr[i], text) == 0)
            return;
    if (h->n_addr < KMSC_DISCOVER_ADDRS_MAX && strlen(text) < KMSC_DISCOVER_ADDR_TEXT)
        memcpy(h->addr[h->n_addr++], text, strlen(text) + 1);
}

/* A then AAAA of h's target, asked of r (the --dns-server). */
static void addrs_dns(ldns_resolver *r, struct kmsc_discover_host *h)
{
    static const ldns_rr_type types[2] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA};
    char why[KMSC_DISCOVER_WHY] = "";
    bool failed = false;
    for (int k = 0; k < 2; k++) {
        ldns_rr_list *l = NULL;
        enum answer a = ask(r, h->rr.target, types[k], &l, why, sizeof why);
        failed |= a == ANSWER_FAILED;
        for (size_t i = 0; l && i < ldns_fn.ldns_rr_list_rr_count(l); i++) {
            ldns_rr *rr = ldns_fn.ldns_rr_list_rr(l, i);
            char *text = ldns_fn.ldns_rr_rd_count(rr) == 1 ? ldns_fn.ldns_rdf2str(ldns_fn.ldns_rr_rdf(rr, 0)) : NULL;
            if (text)
                add_addr(h, text);
            free(text);
        }
        ldns_fn.ldns_rr_list_deep_free(l);
    }
    if (h->n_addr == 0)
        snprintf(h->why, sizeof h->why, "%s", failed ? why : "no A or AAAA record");
}

/* h's target through getaddrinfo (the system's resolver, /etc/hosts included). */
static void addrs_system(struct kmsc_discover_host *h)
{
    struct addrinfo hints, *list = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    int rc = getaddrinfo(h->rr.target, NULL, &hints, &list);
    if (rc != 0) {
        snprintf(h->why, sizeof h->why, "cannot resolve: %s", gai_strerror(rc));
        return;
    }
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        char text[KMSC_DISCOVER_ADDR_TEXT];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, NULL, 0, NI_NUMERICHOST) == 0)
            add_addr(h, text);
    }
    freeaddrinfo(list);
    if (h->n_addr == 0)
        snprintf(h->why, sizeof h->why, "no usable address");
}

/* ---- the SRV records ---- */

/* Where a record of priority p goes in rr[0..n) full (SRV_ORDER_MAX): over one of a higher priority (the highest,
 * the last such in the answer), since a client reaches the lower ones first; SRV_ORDER_MAX when it is left out. */
static size_t slot_when_full(const struct srv_record *rr, size_t n, uint16_t p)
{
    size_t worst = 0;
    for (size_t i = 1; i < n; i++)
        if (rr[i].priority >= rr[worst].priority)
            worst = i;
    return rr[worst].priority > p ? worst : SRV_ORDER_MAX;
}

/* Reads the SRV records of l into rr[] (at most SRV_ORDER_MAX, of the lowest priorities; the rest and unusable
 * targets counted in *left_out); *dot counts the records whose target is "." (the service is decidedly not
 * available). Returns how many rr[] holds. */
static size_t read_srv(const ldns_rr_list *l, struct srv_record *rr, size_t *left_out, size_t *dot)
{
    size_t n = 0;
    for (size_t i = 0; i < ldns_fn.ldns_rr_list_rr_count(l); i++) {
        const ldns_rr *r = ldns_fn.ldns_rr_list_rr(l, i);
        char *target = ldns_fn.ldns_rr_rd_count(r) == 4 ? ldns_fn.ldns_rdf2str(ldns_fn.ldns_rr_rdf(r, 3)) : NULL;
        struct srv_record one;
        if (target && strcmp(target, ".") == 0) {
            (*dot)++;
        } else if (!target || dns_name_canonical(target, one.target, sizeof one.target) < 0) {
            (*left_out)++;
        } else {
            one.priority = ldns_fn.ldns_rdf2native_int16(ldns_fn.ldns_rr_rdf(r, 0));
            one.weight = ldns_fn.ldns_rdf2native_int16(ldns_fn.ldns_rr_rdf(r, 1));
            one.port = ldns_fn.ldns_rdf2native_int16(ldns_fn.ldns_rr_rdf(r, 2));
            if (n < SRV_ORDER_MAX) {
                rr[n++] = one;
            } else {
                (*left_out)++; /* this one, or the one it replaces */
                size_t at = slot_when_full(rr, n, one.priority);
                if (at < SRV_ORDER_MAX)
                    rr[at] = one;
            }
        }
        free(target);
    }
    return n;
}

/* One domain's records into d, ordered and resolved; rr is room for SRV_ORDER_MAX records. ANSWER_RECORDS (d
 * filled; d->n may be 0 when no target was usable), ANSWER_NONE (none, or only "."; *dot says), ANSWER_NXDOMAIN,
 * ANSWER_FAILED or ANSWER_INTERNAL (the random source) with why. */
static enum answer one_domain(ldns_resolver *r, bool server, const char *domain, const struct kms_rng *rng,
                              struct srv_record *rr, struct kmsc_discovery *d, size_t *dot, char *why, size_t wcap)
{
    size_t order[SRV_ORDER_MAX];
    memset(d, 0, sizeof *d);
    snprintf(d->owner, sizeof d->owner, "%s%.*s", KMSC_DISCOVER_SERVICE, (int)KMSC_DISCOVER_DOMAIN_MAX, domain);
    ldns_rr_list *l = NULL;
    enum answer a = ask(r, d->owner, LDNS_RR_TYPE_SRV, &l, why, wcap);
    if (a != ANSWER_RECORDS)
        return a;
    size_t n = read_srv(l, rr, &d->left_out, dot);
    ldns_fn.ldns_rr_list_deep_free(l);
    if (n == 0 && d->left_out == 0)
        return ANSWER_NONE; /* "." only */
    int rc = srv_order(rr, n, rng, order);
    if (rc < 0) {
        snprintf(why, wcap, "ordering the records: %s", kms_strerror(rc));
        return ANSWER_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        struct kmsc_discover_host *h = &d->host[d->n++];
        h->rr = rr[order[i]];
        if (server)
            addrs_dns(r, h);
        else
            addrs_system(h);
    }
    return ANSWER_RECORDS;
}

/* The domains to try: domain itself, or the resolver's search list (its domain when the list is empty). */
static size_t domains_of(const char *domain, char list[][DNS_NAME_MAX + 1], char *why, size_t wcap)
{
    if (domain)
        return dns_name_canonical(domain, list[0], DNS_NAME_MAX + 1) == 0 ? 1 : 0;
    ldns_resolver *sys = NULL;
    if (ldns_fn.ldns_resolver_new_frm_file(&sys, NULL) != LDNS_STATUS_OK || !sys) {
        snprintf(why, wcap, "no search domain: /etc/resolv.conf cannot be read; name the DOMAIN");
        return 0;
    }
    size_t count = ldns_fn.ldns_resolver_searchlist_count(sys), n = 0;
    ldns_rdf **sl = ldns_fn.ldns_resolver_searchlist(sys);
    ldns_rdf *one = ldns_fn.ldns_resolver_domain(sys);
    for (size_t i = 0; i < (count ? count : one ? 1 : 0) && n < KMSC_DISCOVER_DOMAINS_MAX; i++) {
        char *text = ldns_fn.ldns_rdf2str(count ? sl[i] : one);
        if (text && domain_len(text) > 0 && dns_name_canonical(text, list[n], DNS_NAME_MAX + 1) == 0)
            n++; /* a search domain that cannot hold the service name is skipped */
        free(text);
    }
    ldns_fn.ldns_resolver_deep_free(sys);
    if (n == 0)
        snprintf(why, wcap, "no search domain in /etc/resolv.conf (search, domain); name the DOMAIN");
    return n;
}

enum kmsc_status kmsc_discover(const char *domain, const struct kmsc_dns_server *server, const struct kms_rng *rng,
                               struct kmsc_discovery *d, struct kmsc_result *res)
{
    char domains[KMSC_DISCOVER_DOMAINS_MAX][DNS_NAME_MAX + 1];
    char why[KMSC_MSG_MAX] = "", failure[KMSC_MSG_MAX] = "", asked[KMSC_MSG_MAX] = "";
    memset(res, 0, sizeof *res);
    memset(d, 0, sizeof *d);
    if (domain && kmsc_discover_check_domain(domain, why, sizeof why) != 0)
        return kms_client_fail(res, KMSC_USAGE, KMS_EINVAL, "%s", why);
    if (ldns_fns_load(why, sizeof why) < 0) /* ldns is opened at the first discovery, not at every start */
        return kms_client_fail(res, KMSC_INTERNAL, KMS_ENOTFOUND, "%s", why);
    size_t nd = domains_of(domain, domains, why, sizeof why);
    if (nd == 0)
        return kms_client_fail(res, KMSC_NO_SRV, KMS_ENOTFOUND, "%s", why);
    struct srv_record *rr = malloc(SRV_ORDER_MAX * sizeof *rr); /* 16 KB: not on the stack */
    if (!rr)
        return kms_client_fail(res, KMSC_INTERNAL, -ENOMEM, "out of memory");
    ldns_resolver *r = resolver_new(server, why, sizeof why);
    if (!r) {
        free(rr);
        return kms_client_fail(res, KMSC_CONNECT, KMS_ENOTFOUND, "%s", why);
    }

    size_t dot = 0, alen = 0;
    for (size_t i = 0; i < nd; i++) {
        why[0] = '\0';
        enum answer a = one_domain(r, server != NULL, domains[i], rng, rr, d, &dot, why, sizeof why);
        if (a == ANSWER_RECORDS || a == ANSWER_INTERNAL) {
            ldns_fn.ldns_resolver_deep_free(r);
            free(rr);
            if (a == ANSWER_INTERNAL)
                return kms_client_fail(res, KMSC_INTERNAL, KMS_ECRYPTO, "%s", why);
            if (d->n == 0)
                return kms_client_fail(res, KMSC_NO_HOST, KMS_ENOTFOUND,
                                       "%s: %zu SRV records, none with a usable target name", d->owner, d->left_out);
            return KMSC_OK;
        }
        if (a == ANSWER_FAILED && !failure[0])
            snprintf(failure, sizeof failure, "%.120s SRV: %.120s", d->owner, why);
        if (alen < sizeof asked)
            alen += (size_t)snprintf(asked + alen, sizeof asked - alen, "%s%s", i ? ", " : "", d->owner);
    }
    ldns_fn.ldns_resolver_deep_free(r);
    free(rr);
    if (failure[0])
        return kms_client_fail(res, KMSC_CONNECT, KMS_ENOTFOUND, "%s", failure);
    if (dot)
        return kms_client_fail(res, KMSC_NO_SRV, KMS_ENOTFOUND,
                               "%s: the SRV record's target is '.': no KMS host there (RFC 2782)", asked);
    return kms_client_fail(res, KMSC_NO_SRV, KMS_ENOTFOUND, "no SRV record %s", asked);
}
