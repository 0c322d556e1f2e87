/* dns_publish — see dns_publish.h. */
#include "dns_publish.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "hostport.h"
#include "kms_crypto.h"
#include "ldns_fns.h"
#include "log.h"
#include "metrics.h"

struct zone {
    struct dns_publish_zone_status st; /* under the mutex */
    bool published;                    /* the thread's own: an update succeeded since the start */
    unsigned failures;                 /* in a row */
    int64_t next_ms;                   /* monotonic time of the next update */
    enum metrics_dns_result last_kind; /* of the last failure: a new kind is logged again */
};

struct dns_publish {
    struct dns_publish_cfg c;
    struct dns_tsig key;
    char target[CONFIG_DNS_NAME_LEN];
    char server[CONFIG_LISTEN_LEN];
    char zone_names[CONFIG_MAX_DNS_ZONES][CONFIG_DNS_NAME_LEN];
    char addresses[CONFIG_MAX_DNS_ADDRESSES][CONFIG_CIDR_LEN];
    struct zone z[CONFIG_MAX_DNS_ZONES];
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool stop;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dns_publish_record_text(const struct dns_publish_cfg *c, const char *zone, char *out, size_t cap)
{
    snprintf(out, cap, "_vlmcs._tcp.%s. %lu IN SRV %u %u %u %s.", zone, (unsigned long)c->ttl_s,
             (unsigned)c->priority, (unsigned)c->weight, (unsigned)c->port, c->target);
}

int dns_publish_fqdn(char *out, size_t cap)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        return -1;
    host[sizeof host - 1] = '\0';
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_CANONNAME;
    hints.ai_socktype = SOCK_STREAM;
    const char *name = host;
    if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai && ai->ai_canonname && strchr(ai->ai_canonname, '.'))
        name = ai->ai_canonname;
    int n = snprintf(out, cap, "%s", name);
    if (ai)
        freeaddrinfo(ai);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Whether name is zone or lies under it (both canonical). */
static bool in_zone(const char *name, const char *zone)
{
    size_t n = strlen(name), z = strlen(zone);
    return n == z ? strcmp(name, zone) == 0 : n > z && name[n - z - 1] == '.' && strcmp(name + n - z, zone) == 0;
}

/* The update's RRs for zone: the SRV record, and the target's A/AAAA when the target is inside the zone. With
 * remove, each as "delete this RR" (class NONE, TTL 0: RFC 2136 2.5.4). NULL when out of memory. */
static ldns_rr_list *records(const struct dns_publish *p, const char *zone, bool remove)
{
    ldns_rr_list *l = ldns_fn.ldns_rr_list_new();
    char text[DNS_PUBLISH_RECORD_MAX];
    size_t n = 1 + (in_zone(p->target, zone) ? p->c.n_addresses : 0);
    for (size_t i = 0; l && i < n; i++) {
        if (i == 0)
            dns_publish_record_text(&p->c, zone, text, sizeof text);
        else
            snprintf(text, sizeof text, "%s. %lu IN %s %s", p->target, (unsigned long)p->c.ttl_s,
                     strchr(p->addresses[i - 1], ':') ? "AAAA" : "A", p->addresses[i - 1]);
        ldns_rr *rr = NULL;
        if (ldns_fn.ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) != LDNS_STATUS_OK || !rr) {
            ldns_fn.ldns_rr_list_deep_free(l);
            return NULL;
        }
        if (remove) {
            ldns_fn.ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE);
            ldns_fn.ldns_rr_set_ttl(rr, 0);
        }
        if (!ldns_fn.ldns_rr_list_push_rr(l, rr)) {
            ldns_fn.ldns_rr_free(rr);
            ldns_fn.ldns_rr_list_deep_free(l);
            return NULL;
        }
    }
    return l;
}

/* A resolver that sends to one address (textual) and port, with the timeout and the TSIG key. */
static ldns_resolver *resolver_for(const struct dns_publish *p, const char *addr, uint16_t port, int timeout_ms)
{
    ldns_rdf *ns = ldns_fn.ldns_rdf_new_frm_str(strchr(addr, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, addr);
    ldns_resolver *r = ns ? ldns_fn.ldns_resolver_new() : NULL;
    if (!r || ldns_fn.ldns_resolver_push_nameserver(r, ns) != LDNS_STATUS_OK) {
        if (r)
            ldns_fn.ldns_resolver_deep_free(r);
        ldns_fn.ldns_rdf_deep_free(ns);
        return NULL;
    }
    ldns_fn.ldns_rdf_deep_free(ns); /* pushed as a copy */
    ldns_fn.ldns_resolver_set_port(r, port);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ldns_fn.ldns_resolver_set_timeout(r, tv);
    ldns_fn.ldns_resolver_set_retry(r, 1);
    ldns_fn.ldns_resolver_set_random(r, false);
    if (p->key.name[0]) {
        char kn[CONFIG_DNS_NAME_LEN + 1], alg[24];
        snprintf(kn, sizeof kn, "%s.", p->key.name);
        snprintf(alg, sizeof alg, "%s.", p->key.algorithm);
        ldns_fn.ldns_resolver_set_tsig_keyname(r, kn);
        ldns_fn.ldns_resolver_set_tsig_algorithm(r, alg);
        ldns_fn.ldns_resolver_set_tsig_keydata(r, p->key.secret);
    }
    return r;
}

/* The address and port to send zone's updates to: --dns-server (a name is resolved), else the zone's SOA MNAME
 * asked of the system's resolver. 0, or -1 with why. */
static int find_server(const struct dns_publish *p, const char *zone, char *addr, size_t cap, uint16_t *port,
                       char *why, size_t wcap)
{
    char host[CONFIG_LISTEN_LEN];
    *port = 53;
    if (p->server[0]) {
        struct hostport hp;
        if (hostport_split(p->server, &hp, NULL) != 0 || hp.host_len >= sizeof host) {
            snprintf(why, wcap, "--dns-server %s is not ADDR[:PORT]", p->server);
            return -1;
        }
        memcpy(host, hp.host, hp.host_len);
        host[hp.host_len] = '\0';
        if (hp.port && hostport_port(hp.port, hp.port_len, port) != 0) {
            snprintf(why, wcap, "--dns-server %s: bad port", p->server);
            return -1;
        }
    } else {
        ldns_resolver *r = NULL;
        if (ldns_fn.ldns_resolver_new_frm_file(&r, NULL) != LDNS_STATUS_OK || !r) {
            snprintf(why, wcap, "no system resolver to ask for the SOA of %s (/etc/resolv.conf; or give --dns-server)",
                     zone);
            return -1;
        }
        ldns_rdf *zn = ldns_fn.ldns_dname_new_frm_str(zone);
        ldns_pkt *a = zn ? ldns_fn.ldns_resolver_query(r, zn, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, LDNS_RD) : NULL;
        ldns_rr_list *soa = a ? ldns_fn.ldns_pkt_rr_list_by_type(a, LDNS_RR_TYPE_SOA, LDNS_SECTION_ANSWER) : NULL;
        char *mname = soa && ldns_fn.ldns_rr_list_rr_count(soa) > 0 ? ldns_fn.ldns_rdf2str(ldns_fn.ldns_rr_rdf(ldns_fn.ldns_rr_list_rr(soa, 0), 0))
                                                            : NULL;
        if (mname) {
            size_t n = strlen(mname);
            if (n > 1 && mname[n - 1] == '.')
                mname[n - 1] = '\0';
            snprintf(host, sizeof host, "%s", mname);
        }
        free(mname);
        ldns_fn.ldns_rr_list_deep_free(soa);
        ldns_fn.ldns_pkt_free(a);
        ldns_fn.ldns_rdf_deep_free(zn);
        ldns_fn.ldns_resolver_deep_free(r);
        if (!mname) {
            snprintf(why, wcap, "no SOA for %s from the system resolver (give --dns-server)", zone);
            return -1;
        }
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    int rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(why, wcap, "cannot resolve the DNS server %s: %s", host, gai_strerror(rc));
        return -1;
    }
    const void *src = ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr
                                                : (const void *)&((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
    bool ok = inet_ntop(ai->ai_family, src, addr, (socklen_t)cap) != NULL;
    freeaddrinfo(ai);
    if (!ok) {
        snprintf(why, wcap, "cannot use the address of %s", host);
        return -1;
    }
    return 0;
}

/* Sends one update (add, or remove) for zone. Returns the result's kind; why says what went wrong, server where
 * it went. */
static enum metrics_dns_result update(struct dns_publish *p, const char *zone, bool remove, int timeout_ms, char *why,
                                      size_t wcap, char *server, size_t scap)
{
    char addr[INET6_ADDRSTRLEN];
    uint16_t port;
    why[0] = '\0';
    if (find_server(p, zone, addr, sizeof addr, &port, why, wcap) < 0)
        return METRICS_DNS_UNREACHABLE;
    snprintf(server, scap, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, (unsigned)port);
    ldns_resolver *r = resolver_for(p, addr, port, timeout_ms);
    ldns_rr_list *up = records(p, zone, remove);
    ldns_rdf *zn = ldns_fn.ldns_dname_new_frm_str(zone);
    ldns_pkt *q = r && up && zn ? ldns_fn.ldns_update_pkt_new(zn, LDNS_RR_CLASS_IN, NULL, up, NULL) : NULL;
    if (!q) {
        if (!r || !up || !zn)
            ldns_fn.ldns_rdf_deep_free(zn); /* owned by the packet once it exists */
        ldns_fn.ldns_rr_list_deep_free(up);
        if (r)
            ldns_fn.ldns_resolver_deep_free(r);
        snprintf(why, wcap, "out of memory building the update");
        return METRICS_DNS_ERROR;
    }
    ldns_fn.ldns_rr_list_deep_free(up); /* the packet holds copies */
    ldns_fn.ldns_pkt_set_random_id(q);
    ldns_pkt *a = NULL;
    /* signed with the resolver's key; ldns then verifies the answer's TSIG against the request's MAC */
    ldns_status s = p->key.name[0] ? ldns_fn.ldns_update_pkt_tsig_add(q, r) : LDNS_STATUS_OK;
    if (s == LDNS_STATUS_OK)
        s = ldns_fn.ldns_resolver_send_pkt(&a, r, q);
    /* a server that cannot verify the request answers an error unsigned: that answer is taken for its rcode (an
     * error either way); only a NOERROR must carry a valid signature */
    if (s == LDNS_STATUS_CRYPTO_TSIG_BOGUS && a && ldns_fn.ldns_pkt_get_rcode(a) != LDNS_RCODE_NOERROR)
        s = LDNS_STATUS_OK;
    enum metrics_dns_result res;
    if (s == LDNS_STATUS_CRYPTO_TSIG_BOGUS || s == LDNS_STATUS_CRYPTO_TSIG_ERR) {
        res = METRICS_DNS_BADSIG;
        snprintf(why, wcap, "the answer carries no valid TSIG: the server does not accept this key (wrong secret, "
                            "name or algorithm), or the answer is forged");
    } else if (s == LDNS_STATUS_NETWORK_ERR || s == LDNS_STATUS_RES_NO_NS || s == LDNS_STATUS_SOCKET_ERROR) {
        res = METRICS_DNS_TIMEOUT;
        snprintf(why, wcap, "no answer within %d ms (%s)", timeout_ms, ldns_fn.ldns_get_errorstr_by_id(s));
    } else if (s != LDNS_STATUS_OK || !a) {
        res = METRICS_DNS_ERROR;
        snprintf(why, wcap, "%s", ldns_fn.ldns_get_errorstr_by_id(s));
    } else {
        ldns_pkt_rcode rc = ldns_fn.ldns_pkt_get_rcode(a);
        ldns_lookup_table *t = ldns_fn.ldns_lookup_by_id(*ldns_fn.ldns_rcodes, (int)rc);
        res = rc == LDNS_RCODE_NOERROR   ? METRICS_DNS_OK
              : rc == LDNS_RCODE_REFUSED ? METRICS_DNS_REFUSED
              : rc == LDNS_RCODE_NOTAUTH ? METRICS_DNS_NOTAUTH
                                         : METRICS_DNS_ERROR;
        if (res != METRICS_DNS_OK)
            snprintf(why, wcap, "the server answered %s%s", t && t->name ? t->name : "an error",
                     rc == LDNS_RCODE_NOTAUTH ? " (a TSIG key it does not accept, or a zone it does not serve)" : "");
    }
    ldns_fn.ldns_pkt_free(a);
    ldns_fn.ldns_pkt_free(q);
    ldns_fn.ldns_resolver_deep_free(r);
    return res;
}

/* One zone's turn: announce it, record the outcome, log what changed, set the next time. */
static void announce(struct dns_publish *p, struct zone *z)
{
    char why[160], server[96] = "", rec[DNS_PUBLISH_RECORD_MAX];
    const char *zone = z->st.zone;
    enum metrics_dns_result r = update(p, zone, false, DNS_PUBLISH_TIMEOUT_MS, why, sizeof why, server, sizeof server);
    if (p->c.m)
        metrics_inc(&p->c.m->dns_updates[r]);
    int64_t now = (int64_t)time(NULL);
    dns_publish_record_text(&p->c, zone, rec, sizeof rec);
    if (r == METRICS_DNS_OK) {
        if (z->failures > 0 || !z->published)
            log_info("dns: published %s via %s%s", rec, server, p->key.name[0] ? " (TSIG)" : "");
        else
            log_debug("dns: announced %s again via %s", rec, server);
        z->published = true;
        z->failures = 0;
        z->next_ms = mono_ms() + (int64_t)p->c.refresh_s * 1000;
        if (p->c.m)
            atomic_store_explicit(&p->c.m->dns_last_success, (uint64_t)now, memory_order_relaxed);
    } else {
        unsigned shift = z->failures < 8 ? z->failures : 8;
        int64_t wait_s = (int64_t)DNS_PUBLISH_BACKOFF_MIN_S << shift;
        if (wait_s > DNS_PUBLISH_BACKOFF_MAX_S)
            wait_s = DNS_PUBLISH_BACKOFF_MAX_S;
        if (z->failures == 0 || r != z->last_kind)
            log_warn("dns: cannot publish _vlmcs._tcp.%s%s%s: %s; retrying (every %d s at most), activation is "
                     "not affected",
                     zone, server[0] ? " via " : "", server, why, DNS_PUBLISH_BACKOFF_MAX_S);
        else
            log_debug("dns: _vlmcs._tcp.%s still failing: %s; next try in %lld s", zone, why, (long long)wait_s);
        z->failures++;
        z->last_kind = r;
        z->next_ms = mono_ms() + wait_s * 1000;
    }
    pthread_mutex_lock(&p->mu);
    z->st.state = r == METRICS_DNS_OK ? DNS_PUBLISH_PUBLISHED : DNS_PUBLISH_FAILING;
    z->st.last_attempt = now;
    if (r == METRICS_DNS_OK)
        z->st.last_success = now;
    snprintf(z->st.last_error, sizeof z->st.last_error, "%s", r == METRICS_DNS_OK ? "" : why);
    snprintf(z->st.server, sizeof z->st.server, "%s", server);
    pthread_mutex_unlock(&p->mu);
}

static void *thread_main(void *arg)
{
    struct dns_publish *p = arg;
    log_thread_name("dns");
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        int64_t now = mono_ms(), next = INT64_MAX;
        size_t due = p->c.n_zones;
        for (size_t i = 0; i < p->c.n_zones; i++) {
            if (p->z[i].next_ms <= now && due == p->c.n_zones)
                due = i;
            if (p->z[i].next_ms < next)
                next = p->z[i].next_ms;
        }
        if (due < p->c.n_zones) {
            pthread_mutex_unlock(&p->mu); /* the update may take seconds: status stays readable meanwhile */
            announce(p, &p->z[due]);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait = next - now;
        ts.tv_sec += (time_t)(wait / 1000);
        ts.tv_nsec += (long)(wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        (void)pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    /* a clean stop: remove what was published, within the budget */
    int64_t deadline = mono_ms() + DNS_PUBLISH_STOP_BUDGET_MS;
    for (size_t i = 0; i < p->c.n_zones; i++) {
        struct zone *z = &p->z[i];
        int64_t left = deadline - mono_ms();
        if (!z->published)
            continue;
        char why[160], server[96] = "", rec[DNS_PUBLISH_RECORD_MAX];
        dns_publish_record_text(&p->c, z->st.zone, rec, sizeof rec);
        if (left < 100) {
            log_warn("dns: no time left to remove %s", rec);
            continue;
        }
        enum metrics_dns_result r = update(p, z->st.zone, true, (int)(left < DNS_PUBLISH_TIMEOUT_MS ? left : DNS_PUBLISH_TIMEOUT_MS),
                                           why, sizeof why, server, sizeof server);
        if (p->c.m)
            metrics_inc(&p->c.m->dns_updates[r]);
        if (r == METRICS_DNS_OK)
            log_info("dns: removed %s via %s", rec, server);
        else
            log_warn("dns: cannot remove %s: %s", rec, why);
    }
    return NULL;
}

static void destroy(struct dns_publish *p)
{
    kms_wipe(&p->key, sizeof p->key); /* the TSIG secret */
    free(p);
}

int dns_publish_start(const struct dns_publish_cfg *c, struct dns_publish **out)
{
    *out = NULL;
    if (c->n_zones == 0)
        return 0;
    char err[512];
    if (ldns_fns_load(err, sizeof err) < 0) {
        log_error("--dns-publish: %s", err);
        return -1;
    }
    struct dns_publish *p = calloc(1, sizeof *p);
    if (!p) {
        log_error("dns: out of memory");
        return -1;
    }
    p->c = *c;
    snprintf(p->target, sizeof p->target, "%s", c->target);
    p->c.target = p->target;
    snprintf(p->server, sizeof p->server, "%s", c->server ? c->server : "");
    p->c.server = p->server;
    if (c->key)
        p->key = *c->key;
    p->c.key = NULL;
    for (size_t i = 0; i < c->n_addresses && i < CONFIG_MAX_DNS_ADDRESSES; i++) {
        snprintf(p->addresses[i], sizeof p->addresses[i], "%s", c->addresses[i]);
        p->c.addresses[i] = p->addresses[i];
    }
    for (size_t i = 0; i < c->n_zones && i < CONFIG_MAX_DNS_ZONES; i++) {
        snprintf(p->z[i].st.zone, sizeof p->z[i].st.zone, "%s", c->zones[i]);
        dns_publish_record_text(&p->c, c->zones[i], p->z[i].st.record, sizeof p->z[i].st.record);
        p->c.zones[i] = p->z[i].st.zone;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&p->mu, NULL);
    if (rc == 0 && (rc = pthread_cond_init(&p->cv, &ca)) != 0)
        pthread_mutex_destroy(&p->mu);
    pthread_condattr_destroy(&ca);
    if (rc == 0 && (rc = pthread_create(&p->th, NULL, thread_main, p)) != 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
    }
    if (rc != 0) {
        log_error("dns: cannot start the publishing thread: %s", strerror(rc));
        destroy(p);
        return -1;
    }
    *out = p;
    return 0;
}

void dns_publish_stop(struct dns_publish *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    destroy(p);
}

size_t dns_publish_status(struct dns_publish *p, struct dns_publish_zone_status *out, size_t max)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->c.n_zones && i < max; i++)
        out[i] = p->z[i].st;
    pthread_mutex_unlock(&p->mu);
    return p->c.n_zones;
}
