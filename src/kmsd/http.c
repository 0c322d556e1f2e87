#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "health.h"
#include "hostport.h"
#include "http_prom.h"
#include "http_query.h"
#include "kms.h"
#include "kms_crypto.h"
#include "listen.h"
#include "log.h"
#include "products.h"
#include "registry_json.h"
#include "store.h"
#include "thread_stack.h"
#include "web_page.h"

#define HTTP_DEFAULT_PORT "8080"
#define HTTP_BACKLOG 64 /* the listen(2) backlog of each HTTP socket */

static const char *const default_addrs[] = {"127.0.0.1:8080", "[::1]:8080"};

/* Per request: the raw target, kept from MHD's URI callback, and what a lane needs to run it. */
struct req {
    struct http_job job; /* first: run_registry and run_readyz get it back from the job */
    enum httpq_route route;
    struct guid cmid;
    struct httpq_req *pr; /* the parsed target (owned) */
    size_t len;
    bool too_long;
    char uri[HTTPQ_URI_MAX + 1];
};

/* ---- responses ---- */

void http_reply_body(struct http_reply *out, unsigned code, const char *type, const char *cache, void *body, size_t len,
                     enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = mhd_fn.MHD_create_response_from_buffer(len, body, mode);
    out->r = r;
    out->code = code;
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return;
    }
    mhd_fn.MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    mhd_fn.MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
    mhd_fn.MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (code == 401)
        mhd_fn.MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"kmsd\"");
    if (code == 405)
        mhd_fn.MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
}

/* j as JSON into out (a reference is taken over). */
void http_reply_json(struct http_reply *out, unsigned code, json_t *j)
{
    /* reals (rtt_ms) with 6 significant digits, not 17 */
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(j);
    if (!text) {
        static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}";
        http_reply_body(out, 500, HTTP_JSON_TYPE, "no-store", (void *)(uintptr_t)oom, sizeof oom - 1,
                        MHD_RESPMEM_PERSISTENT);
        return;
    }
    http_reply_body(out, code, HTTP_JSON_TYPE, "no-store", text, strlen(text), MHD_RESPMEM_MUST_FREE);
}

void http_reply_error(struct http_reply *out, unsigned code, const char *error, const char *param, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:s, s:s}", "error", error, "message", msg);
    if (j && param)
        json_object_set_new(j, "parameter", json_string(param));
    http_reply_json(out, code, j);
}

void http_reply_bad(struct http_reply *out, const struct httpq_error *e)
{
    http_reply_error(out, 400, "bad_parameter", e->param, "%s: %s", e->param, e->message);
}

/* Queues out's answer on con (MHD's thread, in the access handler) and counts its status. No answer (out of
 * memory) closes the connection. */
static enum MHD_Result queue(struct http_server *h, struct MHD_Connection *con, struct http_reply *out)
{
    if (!out->r)
        return MHD_NO;
    enum MHD_Result ret = mhd_fn.MHD_queue_response(con, out->code, out->r);
    mhd_fn.MHD_destroy_response(out->r);
    out->r = NULL;
    metrics_inc(&h->cfg.m->http_responses[metrics_http_status_of(out->code)]);
    return ret;
}

/* ---- the registry ---- */

/* Opens the read-only connection on first use (the writer creates and migrates the file first). Only the registry
 * lane's thread calls this, so the connection needs no lock. */
struct store *http_db_get(struct http_server *h)
{
    if (!h->db && h->db_path[0]) {
        char err[512];
        if (store_open_readonly(h->db_path, &h->db, err, sizeof err) < 0) {
            log_warn("http: registry: %s", err);
            h->db = NULL;
        } else if (store_search_enable(h->db) < 0) { /* q searched in memory; without it, in SQL */
            log_warn("http: registry: %s", store_errmsg(h->db));
        }
    }
    return h->db;
}

void http_db_put(struct http_server *h, struct store *db)
{
    (void)h;
    /*
     * In WAL mode a read that finds the database changed since this connection's last one empties its cache
     * first, and the writer commits with every activation: the pages kept between requests would rarely be
     * read again, and would sit in the registry lane's heap while kmsd idles (docs/performance.md, "Memory").
     */
    if (db)
        store_release_memory(db);
    store_search_trim(db, http_now_ms()); /* the memory of searches, once none came for a while */
    atomic_store_explicit(&h->cfg.m->search_bytes, (int64_t)store_search_bytes(db), memory_order_relaxed);
}

/* The registry lane: the endpoints that read the registry. */
static void run_registry(struct http_server *h, struct http_job *job)
{
    struct req *rq = (struct req *)job;
    switch (rq->route) {
    case HTTPQ_CLIENTS:
        http_api_clients(h, &job->out, rq->pr);
        break;
    case HTTPQ_CLIENT:
        http_api_client(h, &job->out, rq->pr, &rq->cmid);
        break;
    default:
        http_api_stats(h, &job->out, rq->pr);
        break;
    }
}

/* The readyz lane: a /readyz that found the cache stale. */
static void run_readyz(struct http_server *h, struct http_job *job)
{
    struct req *rq = (struct req *)job;
    http_readyz_probe(h, &job->out, rq->pr);
}

/* Hands rq to lane l: its connection is suspended until the lane has answered (then MHD calls handle again). */
static enum MHD_Result to_lane(struct http_server *h, struct http_lane *l, struct MHD_Connection *con, struct req *rq)
{
    rq->job.con = con;
    if (http_lane_submit(l, &rq->job))
        return MHD_YES;
    struct http_reply out = {NULL, 0};
    http_reply_error(&out, 503, "unavailable", NULL, "kmsd is stopping, or cannot start a thread");
    return queue(h, con, &out);
}

/* ---- /metrics ---- */

static void metrics_page(struct http_server *h, struct http_reply *out, const struct httpq_req *r)
{
    static const char *const none[] = {NULL};
    struct httpq_error e;
    if (httpq_only(r, none, &e) < 0) {
        http_reply_bad(out, &e);
        return;
    }
    size_t len = 0;
    atomic_store_explicit(&h->cfg.m->registry_loads, (int64_t)store_library_loads(), memory_order_relaxed);
    char *text = http_prom_text(h->cfg.m, &len);
    if (!text) {
        http_reply_error(out, 500, "internal", NULL, "out of memory");
        return;
    }
    http_reply_body(out, 200, "text/plain; version=0.0.4; charset=utf-8", "no-store", text, len, MHD_RESPMEM_MUST_FREE);
}

/* ---- dispatch ---- */

static bool token_ok(struct http_server *h, struct MHD_Connection *con)
{
    const char *a = mhd_fn.MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    pthread_mutex_lock(&h->live_mu); /* a reload may change the token */
    size_t tn = strlen(h->token);
    /* kms_ct_equal: the time taken does not depend on where the texts differ */
    bool ok = tn == 0 || (a && strlen(a) == tn && kms_ct_equal(a, h->token, tn));
    pthread_mutex_unlock(&h->live_mu);
    return ok;
}

/*
 * MHD's thread answers here whatever cannot wait: the checks, the page, /healthz, /metrics, /api/v1/host and
 * products, /readyz from its cache. A request that reads the registry, or a /readyz that needs a probe, goes to
 * its lane with the connection suspended; MHD calls this again once the lane has resumed it, to queue the answer.
 */
static enum MHD_Result handle(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    struct http_server *h = cls;
    struct req *rq = *con_cls;
    struct http_reply out = {NULL, 0};
    if (*upload_data_size != 0) { /* a body after the answer was queued: drop it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!rq) {
        http_reply_error(&out, 500, "internal", NULL, "out of memory");
        return queue(h, con, &out);
    }
    if (rq->job.done) /* back from a lane */
        return queue(h, con, &rq->job.out);
    /* The page itself holds no data (everything comes from the API, which wants the token): a browser opening
     * /#token=TOKEN cannot send a header with that first request, so the page is served without one. */
    bool page = strcmp(url, "/") == 0;
    if (!page && !token_ok(h, con)) {
        http_reply_error(&out, 401, "unauthorized", NULL, "this kmsd wants Authorization: Bearer TOKEN");
        return queue(h, con, &out);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        http_reply_error(&out, 405, "method_not_allowed", NULL, "%.32s: only GET and HEAD are served", method);
        return queue(h, con, &out);
    }
    const char *cl = mhd_fn.MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = mhd_fn.MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te || (cl && strcmp(cl, "0") != 0)) {
        http_reply_error(&out, 413, "payload_too_large", NULL, "requests carry no body here");
        return queue(h, con, &out);
    }
    if (rq->too_long) {
        http_reply_error(&out, 414, "uri_too_long", "path", "the request target is longer than %d bytes",
                         HTTPQ_URI_MAX);
        return queue(h, con, &out);
    }
    struct httpq_req *pr = rq->pr ? rq->pr : malloc(sizeof *pr);
    if (!pr) {
        http_reply_error(&out, 500, "internal", NULL, "out of memory");
        return queue(h, con, &out);
    }
    rq->pr = pr;
    struct httpq_error e;
    int route = httpq_parse_target(rq->uri, rq->len, pr, &e) < 0 ? -1 : httpq_route(pr, &rq->cmid, &e);
    switch (route) {
    case -1:
        http_reply_bad(&out, &e);
        break;
    case HTTPQ_PAGE:
        http_reply_body(&out, 200, "text/html; charset=utf-8", "no-cache", (void *)(uintptr_t)kmsd_web_page,
                        kmsd_web_page_len, MHD_RESPMEM_PERSISTENT);
        if (out.r) /* workstation names come from the network: a second line of defence under textContent */
            mhd_fn.MHD_add_response_header(out.r, "Content-Security-Policy", kmsd_web_page_csp);
        break;
    case HTTPQ_CLIENTS:
    case HTTPQ_CLIENT:
    case HTTPQ_STATS:
        rq->route = (enum httpq_route)route;
        return to_lane(h, &h->registry, con, rq);
    case HTTPQ_PRODUCTS:
        http_api_products(h, &out, pr);
        break;
    case HTTPQ_HOST:
        http_api_host(h, &out, pr);
        break;
    case HTTPQ_METRICS:
        metrics_page(h, &out, pr);
        break;
    case HTTPQ_HEALTHZ:
        http_reply_json(&out, 200, json_pack("{s:s}", "status", "alive"));
        break;
    case HTTPQ_READYZ:
        if (http_readyz_cached(h, &out, pr))
            break;
        rq->route = HTTPQ_READYZ;
        return to_lane(h, &h->readyz, con, rq);
    default:
        http_reply_error(&out, 404, "not_found", "path", "no such endpoint: %.100s", pr->path);
        break;
    }
    return queue(h, con, &out);
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)cls;
    (void)con;
    struct req *rq = malloc(sizeof *rq);
    if (!rq)
        return NULL;
    memset(&rq->job, 0, sizeof rq->job);
    rq->route = HTTPQ_NOT_FOUND;
    rq->pr = NULL;
    size_t n = strlen(uri);
    rq->too_long = n > HTTPQ_URI_MAX;
    rq->len = rq->too_long ? 0 : n;
    memcpy(rq->uri, uri, rq->len);
    rq->uri[rq->len] = '\0';
    return rq;
}

static void completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    struct req *rq = *con_cls;
    if (rq) {
        if (rq->job.out.r) /* answered by a lane, never queued */
            mhd_fn.MHD_destroy_response(rq->job.out.r);
        free(rq->pr);
    }
    free(rq);
    *con_cls = NULL;
}

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addr;
    (void)addrlen;
    struct http_server *h = cls;
    if (atomic_load_explicit(&h->cfg.m->http_open, memory_order_relaxed) >=
        (int64_t)atomic_load_explicit(&h->max_conn, memory_order_relaxed)) {
        metrics_inc(&h->cfg.m->http_rejected);
        return MHD_NO;
    }
    return MHD_YES;
}

static void conn_notify(void *cls, struct MHD_Connection *con, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    (void)con;
    (void)socket_context;
    struct http_server *h = cls;
    atomic_fetch_add_explicit(&h->cfg.m->http_open, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1,
                              memory_order_relaxed);
    atomic_store_explicit(&h->last_use_ms, http_now_ms(), memory_order_relaxed); /* the idle thread's clock */
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_debug("http: %s", msg);
}

/* ---- start and stop ---- */

/* "ADDR[:PORT]" -> host and port texts ("*" -> "::"). Returns 0 or -1. */
static int split_addr(const char *text, char *host, size_t hcap, char *port, size_t pcap)
{
    struct hostport hp;
    if (hostport_split(text, &hp, NULL) != 0 || hp.bare_ipv6 || hp.host_len == 0 || hp.host_len >= hcap)
        return -1;
    memcpy(host, hp.host, hp.host_len);
    host[hp.host_len] = '\0';
    if (strcmp(host, "*") == 0)
        snprintf(host, hcap, "::");
    if (hp.port_len >= pcap)
        return -1;
    if (hp.port_len)
        snprintf(port, pcap, "%.*s", (int)hp.port_len, hp.port);
    else
        snprintf(port, pcap, "%s", HTTP_DEFAULT_PORT);
    return 0;
}

/* Wipes and frees a daemon's copies of the PEM texts. */
static void free_pem(struct http_daemon *d)
{
    char *p[] = {d->key, d->cert};
    for (int i = 0; i < 2; i++)
        if (p[i]) {
            kms_wipe(p[i], strlen(p[i]));
            free(p[i]);
        }
    d->key = d->cert = NULL;
}

/* Starts one MHD daemon on the listening socket fd (of the address family family), serving HTTPS when cert (and
 * key) are given, with max_conn connections at most and timeout_s of idleness. On success out holds the daemon and
 * its own copies of the texts, and MHD owns fd; on failure fd is still the caller's. Returns 0 or a negative errno. */
static int start_daemon(struct http_server *h, int fd, int family, const char *cert, const char *key, uint32_t max_conn,
                        uint32_t timeout_s, struct http_daemon *out)
{
    /* One thread per address serves every connection of it; what may wait goes to a lane (http_lane.c), with the
     * connection suspended meanwhile. MHD_USE_ITC: a reload can quiesce it (MHD_quiesce_daemon). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     MHD_USE_ITC;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    out->cert = out->key = NULL;
    /* with a certificate: HTTPS through libmicrohttpd's TLS (GnuTLS), the key and chain given as PEM text, copied
     * for this daemon (MHD keeps pointers to them) */
    if (cert) {
        flags |= MHD_USE_TLS;
        out->cert = strdup(cert);
        out->key = strdup(key);
        if (!out->cert || !out->key) {
            free_pem(out);
            return -ENOMEM;
        }
    }
    struct MHD_OptionItem tls[] = {
        {out->cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, out->key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, out->cert},
        {MHD_OPTION_END, 0, NULL},
    };
    out->d = mhd_fn.MHD_start_daemon(
        flags, 0, accept_policy, h, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(max_conn + 1), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout_s,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_THREAD_STACK, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)HTTP_CONN_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, uri_log, h, MHD_OPTION_NOTIFY_COMPLETED, completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, conn_notify, h, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (!out->d) {
        free_pem(out);
        return -EINVAL; /* MHD took nothing; why is in the debug log (mhd_log) */
    }
    return 0;
}

/* Binds a listening socket to sa for the next address (listen.h: the socket holds exactly that address, and its
 * name is read back from it); the daemons are started on it by start_all. Returns 0 or a negative errno. */
static int serve_on(struct http_server *h, const struct sockaddr *sa)
{
    if (h->n_d >= HTTP_MAX_ADDRS)
        return -ENOBUFS;
    int fd = listen_open(sa, HTTP_BACKLOG);
    if (fd < 0)
        return fd;
    char name[LISTEN_NAME_LEN];
    int rc = listen_bound(fd, NULL, name, sizeof name);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    h->lfd[h->n_d] = fd;
    h->d[h->n_d].d = NULL;
    h->family[h->n_d] = sa->sa_family;
    snprintf(h->names[h->n_d], sizeof h->names[0], "%s", name);
    h->n_d++;
    return 0;
}

/* Starts a daemon per address into nd, each on a duplicate of the address's listening socket, with the given
 * certificate and limits, loading libmicrohttpd first when needed. 0, or -1 with err filled (cap bytes): nothing
 * started is left running, and a library loaded for nothing is closed again. With d_mu held (or before the idle
 * thread starts). */
static int start_all(struct http_server *h, const char *cert, const char *key, uint32_t max_conn, uint32_t timeout_s,
                     struct http_daemon *nd, char *err, size_t cap)
{
    bool was_loaded = mhd_fns_loaded();
    if (mhd_fns_load(err, cap) < 0)
        return -1;
    int started = 0, rc = 0;
    for (; started < h->n_d; started++) {
        int fd = fcntl(h->lfd[started], F_DUPFD_CLOEXEC, 0);
        rc = fd < 0 ? -errno
                    : start_daemon(h, fd, h->family[started], cert, key, max_conn, timeout_s, &nd[started]);
        if (rc < 0 && fd >= 0)
            close(fd);
        if (rc < 0)
            break;
    }
    if (rc == 0)
        return 0;
    for (int i = 0; i < started; i++) {
        mhd_fn.MHD_stop_daemon(nd[i].d); /* closes its duplicate; the address's socket stays */
        free_pem(&nd[i]);
    }
    if (!was_loaded)
        mhd_fns_unload();
    snprintf(err, cap, "%s", rc == -EINVAL ? (cert ? "do the certificate and key go together?" : "see the debug log")
                                           : strerror(-rc));
    return -1;
}

/* One --http entry (or a default address, required false): every address it resolves to. A failure to listen
 * stops kmsd, except that a default address whose address family the host does not have (no IPv6) is left
 * out. Returns 0 or -1 after a message. */
static int bind_one(struct http_server *h, const char *text, bool required)
{
    char host[256], port[16];
    if (split_addr(text, host, sizeof host, port, sizeof port) < 0) {
        log_error("--http %s: expected ADDR[:PORT]", text);
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        if (required)
            log_error("--http %s: %s", text, gai_strerror(g));
        else
            log_info("http: default address %s not available (%s); going on without it", text, gai_strerror(g));
        return required ? -1 : 0;
    }
    int rc = 0;
    for (struct addrinfo *a = res; a && rc == 0; a = a->ai_next) {
        int r = serve_on(h, a->ai_addr);
        if (r == 0)
            continue;
        char name[LISTEN_NAME_LEN];
        listen_format(a->ai_addr, name, sizeof name);
        if (!required && a->ai_family == AF_INET6 && listen_ipv6_unavailable(r)) {
            log_info("http: default address %s not available (%s); going on without it", name, strerror(-r));
            continue;
        }
        log_error("%s %s: cannot listen on %s: %s%s", required ? "--http" : "http: default address", text, name,
                  listen_strerror(r), required ? "" : " (--http ADDR:PORT listens elsewhere, --no-http not at all)");
        rc = -1;
    }
    freeaddrinfo(res);
    return rc;
}

/* The address /readyz activates against: the first KMS listener, a wildcard replaced by loopback. */
static void pick_probe(struct http_server *h)
{
    for (size_t i = 0; i < h->n_kms && !h->have_probe; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&h->kms[i].addr;
        char ip[INET6_ADDRSTRLEN];
        unsigned port;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
            struct in_addr a = s4->sin_addr;
            if (a.s_addr == htonl(INADDR_ANY))
                a.s_addr = htonl(INADDR_LOOPBACK);
            inet_ntop(AF_INET, &a, ip, sizeof ip);
            port = ntohs(s4->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
            struct in6_addr a = s6->sin6_addr;
            if (IN6_IS_ADDR_UNSPECIFIED(&a))
                a = in6addr_loopback;
            inet_ntop(AF_INET6, &a, ip, sizeof ip);
            port = ntohs(s6->sin6_port);
        } else {
            continue;
        }
        snprintf(h->probe_target.host, sizeof h->probe_target.host, "%s", ip);
        snprintf(h->probe_target.port, sizeof h->probe_target.port, "%u", port);
        h->have_probe = true;
    }
}

/* Wipes and frees the server's copies of the TLS key and certificate (the current daemons have theirs). */
static void free_tls(struct http_server *h)
{
    struct http_daemon t = {NULL, h->tls_cert, h->tls_key};
    free_pem(&t);
    h->tls_key = h->tls_cert = NULL;
}

/* Whether two optional texts differ (NULL is none). */
static bool text_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* Stops the retired daemons that have no connection left (all when all): none of theirs can then be suspended
 * in a lane, and a quiesced daemon accepts no new one. */
static void sweep_retired(struct http_server *h, bool all)
{
    int k = 0;
    for (int i = 0; i < h->n_retired; i++) {
        struct http_daemon *r = &h->retired[i];
        const union MHD_DaemonInfo *di = all ? NULL : mhd_fn.MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (all || (di && di->num_connections == 0)) {
            mhd_fn.MHD_stop_daemon(r->d);
            free_pem(r);
        } else {
            h->retired[k++] = *r;
        }
    }
    h->n_retired = k;
}

/* Sets the live part of cfg that needs no new daemon. */
static void set_live(struct http_server *h, const struct http_cfg *cfg)
{
    pthread_mutex_lock(&h->live_mu);
    if (cfg->token && cfg->token[0])
        snprintf(h->token, sizeof h->token, "Bearer %s", cfg->token);
    else
        h->token[0] = '\0';
    snprintf(h->count_mode, sizeof h->count_mode, "%s", cfg->count_mode ? cfg->count_mode : "fixed");
    h->cfg.client_count = cfg->client_count;
    h->cfg.max_page = cfg->max_page;
    pthread_mutex_unlock(&h->live_mu);
}

/* Moves the running daemons to the retired ones: they stop accepting (the new daemons, if any, take the listening
 * sockets over) and finish the connections they have. With d_mu held. */
static void retire_all(struct http_server *h)
{
    for (int i = 0; i < h->n_d; i++) {
        if (!h->d[i].d)
            continue;
        MHD_socket fd = mhd_fn.MHD_quiesce_daemon(h->d[i].d);
        if (fd != MHD_INVALID_SOCKET)
            close(fd); /* the daemon's duplicate; the address's socket stays kmsd's */
        h->retired[h->n_retired++] = h->d[i];
        h->d[i].d = NULL;
        h->d[i].cert = h->d[i].key = NULL;
    }
}

/* Puts the daemons nd in place of the running ones, which retire (they finish their connections), and counts a load
 * when kmsd's HTTP server was asleep. With d_mu held. */
static void install(struct http_server *h, struct http_daemon *nd)
{
    retire_all(h);
    for (int i = 0; i < h->n_d; i++)
        h->d[i] = nd[i];
    if (!h->awake)
        metrics_inc(&h->cfg.m->http_loads);
    h->awake = true;
    atomic_store_explicit(&h->last_use_ms, http_now_ms(), memory_order_relaxed);
}

int http_reload(struct http_server *h, const struct http_cfg *cfg)
{
    if (!h)
        return 0;
    set_live(h, cfg);
    const char *cert = cfg->tls_cert && cfg->tls_key ? cfg->tls_cert : NULL;
    const char *key = cert ? cfg->tls_key : NULL;
    pthread_mutex_lock(&h->d_mu);
    if (atomic_exchange_explicit(&h->idle_ms, cfg->idle_unload_ms, memory_order_relaxed) != cfg->idle_unload_ms)
        http_idle_poke(h);
    bool swap = text_differs(cert, h->tls_cert) || text_differs(key, h->tls_key) ||
                cfg->max_connections != h->cfg.max_connections || cfg->timeout_s != h->cfg.timeout_s;
    if (h->n_retired)
        sweep_retired(h, false);
    if (!swap) {
        atomic_store_explicit(&h->max_conn, cfg->max_connections, memory_order_relaxed);
        pthread_mutex_unlock(&h->d_mu);
        return 0;
    }
    if (h->n_retired + h->n_d > HTTP_MAX_RETIRED) {
        pthread_mutex_unlock(&h->d_mu);
        log_error("reload: the HTTP servers a reload replaced still serve connections; the certificate and HTTP "
                  "limits stay as they were until they end (reload again later)");
        return -1;
    }
    /* The server's own copies first: the idle thread starts the daemons again from them after a sleep. */
    char *tc = cert ? strdup(cert) : NULL, *tk = key ? strdup(key) : NULL;
    if ((cert && !tc) || (key && !tk)) {
        free(tc);
        free(tk);
        pthread_mutex_unlock(&h->d_mu);
        log_error("reload: out of memory; the HTTP server stays as it was");
        return -1;
    }
    /* New daemons next (asleep too: that checks the certificate and key now, not at the next connection): if one
     * does not start, the running ones stay as they are. */
    struct http_daemon nd[HTTP_MAX_ADDRS];
    char err[256];
    if (start_all(h, cert, key, cfg->max_connections, cfg->timeout_s, nd, err, sizeof err) < 0) {
        struct http_daemon t = {NULL, tc, tk};
        free_pem(&t);
        pthread_mutex_unlock(&h->d_mu);
        log_error("reload: the HTTP server does not start with the new %s (%s); the running one stays as it was",
                  cert ? "certificate and key" : "settings", err);
        return -1;
    }
    /* Both accept on the same socket for a moment; then the old ones stop accepting and finish what they have. */
    bool woke = !h->awake;
    install(h, nd);
    free_tls(h);
    h->tls_cert = tc;
    h->tls_key = tk;
    h->cfg.max_connections = cfg->max_connections;
    h->cfg.timeout_s = cfg->timeout_s;
    atomic_store_explicit(&h->max_conn, cfg->max_connections, memory_order_relaxed);
    sweep_retired(h, false);
    bool draining = h->n_retired != 0;
    if (woke)
        http_idle_poke(h);
    pthread_mutex_unlock(&h->d_mu);
    log_info("reload: the HTTP server now serves %s%s", cert ? "HTTPS with the certificate read now" : "plain HTTP",
             draining ? " (the connections already open finish on the old settings)" : "");
    return 0;
}

int http_wake(struct http_server *h, char *err, size_t cap)
{
    if (h->awake)
        return 0;
    struct http_daemon nd[HTTP_MAX_ADDRS];
    if (start_all(h, h->tls_cert, h->tls_key, h->cfg.max_connections, h->cfg.timeout_s, nd, err, cap) < 0)
        return -1;
    install(h, nd);
    return 0;
}

void http_doze(struct http_server *h)
{
    if (!h->awake || h->n_retired + h->n_d > HTTP_MAX_RETIRED) /* the idle thread tries again later */
        return;
    retire_all(h);
    h->awake = false;
}

/* What http_settle frees, on a thread of its own (below). */
static void *unload_main(void *arg)
{
    struct http_server *h = arg;
    log_thread_name("unload"); /* the thread list shows kmsd-unload while it runs */
    http_lane_stop(&h->registry);
    http_lane_stop(&h->readyz);
    http_lane_reopen(&h->registry);
    http_lane_reopen(&h->readyz);
    store_close(h->db);
    h->db = NULL;
    atomic_store_explicit(&h->cfg.m->search_bytes, 0, memory_order_relaxed);
    mhd_fns_unload();
    return NULL;
}

#define UNLOAD_THREAD_STACK (64u * 1024u) /* bytes: joins, sqlite3_close and dlclose */

void http_settle(struct http_server *h)
{
    if (h->n_retired)
        sweep_retired(h, false);
    if (h->awake || h->n_retired || !mhd_fns_loaded())
        return;
    /* Asleep with no daemon left: no connection is open, so no lane holds one. Their threads end (a lane starts its
     * thread again with its next job), the registry connection closes, and libmicrohttpd and GnuTLS are unmapped.
     * On a short-lived thread, not this one: glibc keeps up to 7 freed blocks of each small size in the freeing
     * thread's cache (tcache) until the thread ends, and what this long-lived thread kept of the library's and the
     * registry connection's blocks would sit among the free space of the arena, keeping pages of it resident. The
     * blocks of that thread go back to the arena when it ends, before malloc_trim. */
    pthread_t t;
    void *stack = NULL;
    if (thread_stack_start(&t, UNLOAD_THREAD_STACK, &stack, unload_main, h) == 0) {
        pthread_join(t, NULL);
        thread_stack_unmap(stack, UNLOAD_THREAD_STACK);
    } else {
        (void)unload_main(h); /* no thread to spare: the same work here, only the cache differs */
    }
    malloc_trim(0); /* what the daemons' and lanes' threads allocated goes back to the system */
    thread_stack_release(); /* and what this thread's stack reached for the library's load (dlopen) */
}

void http_set_dns(struct http_server *h, struct dns_publish *dns)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->live_mu);
    h->cfg.dns = dns;
    pthread_mutex_unlock(&h->live_mu);
}

int http_start(const struct http_cfg *cfg, const struct server_bound *kms, size_t n_kms, struct http_server **out)
{
    *out = NULL;
    struct http_server *h = calloc(1, sizeof *h);
    if (!h) {
        log_error("http: out of memory");
        return -1;
    }
    h->cfg = *cfg;
    h->idle.wake_fd = -1;
    if (pthread_mutex_init(&h->live_mu, NULL) != 0) {
        log_error("http: cannot create a mutex");
        free(h);
        return -1;
    }
    if (pthread_mutex_init(&h->d_mu, NULL) != 0) {
        log_error("http: cannot create a mutex");
        pthread_mutex_destroy(&h->live_mu);
        free(h);
        return -1;
    }
    set_live(h, cfg);
    atomic_init(&h->max_conn, cfg->max_connections);
    atomic_init(&h->idle_ms, cfg->idle_unload_ms);
    atomic_init(&h->last_use_ms, http_now_ms());
    if (cfg->db_path)
        snprintf(h->db_path, sizeof h->db_path, "%s", cfg->db_path);
    h->n_kms = n_kms < SERVER_MAX_LISTENERS ? n_kms : SERVER_MAX_LISTENERS;
    memcpy(h->kms, kms, h->n_kms * sizeof *kms);
    if (cfg->tls_cert && cfg->tls_key) {
        h->tls_cert = strdup(cfg->tls_cert);
        h->tls_key = strdup(cfg->tls_key);
        if (!h->tls_cert || !h->tls_key) {
            log_error("http: out of memory");
            free(h->tls_cert);
            free(h->tls_key);
            pthread_mutex_destroy(&h->d_mu);
            pthread_mutex_destroy(&h->live_mu);
            free(h);
            return -1;
        }
    }
    h->cfg.tls_cert = h->cfg.tls_key = NULL; /* the caller's texts are its own */
    pick_probe(h);
    int rc = pthread_mutex_init(&h->probe_mu, NULL);
    if (rc == 0 && (rc = http_lane_init(&h->registry, h, "registry", run_registry)) != 0)
        pthread_mutex_destroy(&h->probe_mu);
    if (rc == 0 && (rc = http_lane_init(&h->readyz, h, "readyz", run_readyz)) != 0) {
        http_lane_destroy(&h->registry);
        pthread_mutex_destroy(&h->probe_mu);
    }
    if (rc != 0) {
        log_error("http: cannot create a mutex: %s", strerror(rc));
        free_tls(h);
        pthread_mutex_destroy(&h->d_mu);
        pthread_mutex_destroy(&h->live_mu);
        free(h);
        return -1;
    }
    if (cfg->n_addrs == 0) {
        for (size_t i = 0; i < sizeof default_addrs / sizeof default_addrs[0] && rc == 0; i++)
            rc = bind_one(h, default_addrs[i], false);
        if (rc == 0 && h->n_d == 0)
            log_warn("http: no default address could be bound; serving no web page, API or metrics");
    } else {
        for (int i = 0; i < cfg->n_addrs && rc == 0; i++)
            rc = bind_one(h, cfg->addrs[i], true);
    }
    if (rc < 0) {
        http_stop(h);
        return -1;
    }
    if (h->n_d == 0) {
        http_stop(h);
        return 0;
    }
    /* The daemons start now, so that a certificate that does not go with its key stops kmsd here; the idle thread
     * unloads them once nothing comes. */
    char err[256];
    if (http_wake(h, err, sizeof err) < 0) {
        log_error("http: cannot serve on %s: %s", h->names[0], err);
        http_stop(h);
        return -1;
    }
    if ((rc = http_idle_start(h)) != 0) {
        log_error("http: cannot start the idle thread: %s", strerror(rc));
        http_stop(h);
        return -1;
    }
    for (int i = 0; i < h->n_d; i++)
        log_info("http: serving the web page and API on %s://%s/", h->tls_cert ? "https" : "http", h->names[i]);
    *out = h;
    return 0;
}

void http_stop(struct http_server *h)
{
    if (!h)
        return;
    http_idle_stop(h); /* first: nothing else changes the daemons from here on */
    /* The lanes next: MHD must not stop with a connection still suspended, and stopping them answers and
     * resumes every one (a query under way finishes first). Until the daemons stop, a request that needs a lane
     * is answered 503 at once. */
    http_lane_stop(&h->registry);
    http_lane_stop(&h->readyz);
    for (int i = 0; i < h->n_d; i++) {
        if (h->d[i].d)
            mhd_fn.MHD_stop_daemon(h->d[i].d);
        free_pem(&h->d[i]);
        close(h->lfd[i]);
    }
    sweep_retired(h, true);
    store_close(h->db);
    http_lane_destroy(&h->registry);
    http_lane_destroy(&h->readyz);
    pthread_mutex_destroy(&h->probe_mu);
    pthread_mutex_destroy(&h->d_mu);
    pthread_mutex_destroy(&h->live_mu);
    free_tls(h);
    free(h);
}
