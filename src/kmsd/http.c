#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
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
#include <openssl/crypto.h>

#include "health.h"
#include "hostport.h"
#include "http_query.h"
#include "kms.h"
#include "listen.h"
#include "log.h"
#include "products.h"
#include "registry_json.h"
#include "store.h"
#include "web_page.h"

#define HTTP_DEFAULT_PORT "8080"
#define HTTP_BACKLOG 64 /* the listen(2) backlog of each HTTP socket */
#define JSON_TYPE "application/json; charset=utf-8"

static const char *const default_addrs[] = {"127.0.0.1:8080", "[::1]:8080"};

struct http_server {
    struct http_cfg cfg;
    char token[512];
    struct MHD_Daemon *d[HTTP_MAX_ADDRS];
    char names[HTTP_MAX_ADDRS][96];
    int n_d;
    struct server_bound kms[SERVER_MAX_LISTENERS];
    size_t n_kms;
    struct kmsc_target probe_target;
    bool have_probe;

    pthread_mutex_t db_mu; /* the read-only connection serves one request at a time */
    struct store *db;
    char db_path[4096];

    pthread_mutex_t probe_mu; /* one /readyz probe at a time, and its cache */
    uint64_t probe_at_ms;     /* monotonic time of the last probe, 0: none yet */
    enum kmsc_status probe_status;
    char probe_msg[KMSC_MSG_MAX];
    double probe_rtt_ms;
    int64_t probe_wall;
};

/* Per request: the raw target, kept from MHD's URI callback. */
struct req {
    size_t len;
    bool too_long;
    char uri[HTTPQ_URI_MAX + 1];
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- responses ---- */

static enum MHD_Result send_body(struct http_server *h, struct MHD_Connection *con, unsigned code, const char *type,
                                 const char *cache, void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (code == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"kmsd\"");
    if (code == 405)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(con, code, r);
    MHD_destroy_response(r);
    metrics_inc(&h->cfg.m->http_responses[metrics_http_status_of(code)]);
    return ret;
}

/* Sends j (a reference is taken over). */
static enum MHD_Result send_json(struct http_server *h, struct MHD_Connection *con, unsigned code, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(j);
    if (!text) {
        static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}";
        return send_body(h, con, 500, JSON_TYPE, "no-store", (void *)(uintptr_t)oom, sizeof oom - 1,
                         MHD_RESPMEM_PERSISTENT);
    }
    return send_body(h, con, code, JSON_TYPE, "no-store", text, strlen(text), MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result send_error(struct http_server *h, struct MHD_Connection *con, unsigned code,
                                  const char *error, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static enum MHD_Result send_error(struct http_server *h, struct MHD_Connection *con, unsigned code,
                                  const char *error, const char *param, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:s, s:s}", "error", error, "message", msg);
    if (j && param)
        json_object_set_new(j, "parameter", json_string(param));
    return send_json(h, con, code, j);
}

static enum MHD_Result send_bad(struct http_server *h, struct MHD_Connection *con, const struct httpq_error *e)
{
    return send_error(h, con, 400, "bad_parameter", e->param, "%s: %s", e->param, e->message);
}

/* ---- the registry ---- */

/* Opens the read-only connection on first use (the writer creates and migrates the file first). */
static struct store *db_get(struct http_server *h)
{
    if (!h->db && h->db_path[0]) {
        char err[512];
        if (store_open_readonly(h->db_path, &h->db, err, sizeof err) < 0) {
            log_warn("http: registry: %s", err);
            h->db = NULL;
        }
    }
    return h->db;
}

static int add_client(void *ctx, const struct store_client *c)
{
    json_t *j = registry_json_client(c);
    return j ? json_array_append_new(ctx, j) : -1;
}

static enum MHD_Result api_clients(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r)
{
    struct httpq_clients q;
    struct httpq_error e;
    if (httpq_clients(r, h->cfg.max_page, (int64_t)time(NULL), &q, &e) < 0)
        return send_bad(h, con, &e);
    json_t *list = json_array();
    uint64_t total = 0;
    pthread_mutex_lock(&h->db_mu);
    struct store *db = db_get(h);
    int rc = db ? store_query(db, &q.sq, &total, add_client, list) : -ENOENT;
    char err[256];
    snprintf(err, sizeof err, "%s", db ? store_errmsg(db) : "");
    pthread_mutex_unlock(&h->db_mu);
    if (rc < 0) {
        json_decref(list);
        if (!db)
            return send_error(h, con, 503, "no_registry", NULL, "kmsd runs without a client registry");
        log_warn("http: registry: %s", err);
        return send_error(h, con, 500, "registry", NULL, "the registry could not be read");
    }
    uint64_t next = (uint64_t)q.sq.offset + q.sq.limit;
    json_t *j = json_pack("{s:I, s:I, s:I, s:o, s:o}", "total", (json_int_t)total, "limit", (json_int_t)q.sq.limit,
                          "offset", (json_int_t)q.sq.offset, "next_offset",
                          next < total ? json_integer((json_int_t)next) : json_null(), "clients", list);
    return send_json(h, con, 200, j);
}

static enum MHD_Result api_client(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r,
                                  const struct guid *cmid)
{
    static const char *const none[] = {NULL};
    struct httpq_error e;
    if (httpq_only(r, none, &e) < 0)
        return send_bad(h, con, &e);
    json_t *list = json_array();
    pthread_mutex_lock(&h->db_mu);
    struct store *db = db_get(h);
    int rc = db ? store_get_client(db, cmid, add_client, list) : -ENOENT;
    pthread_mutex_unlock(&h->db_mu);
    char text[GUID_TEXT_LEN + 1];
    guid_format(cmid, text);
    if (rc < 0) {
        json_decref(list);
        if (!db)
            return send_error(h, con, 503, "no_registry", NULL, "kmsd runs without a client registry");
        return send_error(h, con, 500, "registry", NULL, "the registry could not be read");
    }
    if (json_array_size(list) == 0) {
        json_decref(list);
        return send_error(h, con, 404, "not_found", "cmid", "no client with CMID %s", text);
    }
    return send_json(h, con, 200, json_pack("{s:s, s:o}", "cmid", text, "entries", list));
}

/* Case-insensitive substring test (ASCII). */
static bool contains(const char *hay, const char *needle)
{
    if (!needle || !needle[0])
        return true;
    size_t n = strlen(needle);
    for (const char *p = hay; p && *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return true;
    return false;
}

static enum MHD_Result api_products(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r)
{
    static const char *const allowed[] = {"q", NULL};
    struct httpq_error e;
    if (httpq_only(r, allowed, &e) < 0)
        return send_bad(h, con, &e);
    const char *q = httpq_get(r, "q");
    if (q && strlen(q) > HTTPQ_TEXT_MAX)
        return send_error(h, con, 400, "bad_parameter", "q", "q: longer than %d bytes", HTTPQ_TEXT_MAX);
    json_t *apps = json_array(), *kmss = json_array(), *skus = json_array();
    char id[GUID_TEXT_LEN + 1], kid[GUID_TEXT_LEN + 1];
    for (size_t i = 0; i < products_app_count(); i++) {
        const struct products_app *a = products_app_at(i);
        guid_format(&a->id, id);
        json_array_append_new(apps, json_pack("{s:s, s:s, s:s}", "key", a->key, "name", a->name, "id", id));
    }
    for (size_t i = 0; i < products_kms_count(); i++) {
        const struct products_kms *k = products_kms_at(i);
        bool any = !q || !q[0] || contains(k->name, q);
        for (size_t j = 0; j < products_sku_count() && !any; j++) {
            const struct products_sku *s = products_sku_at(j);
            any = s->kms == k && (contains(s->name, q) || contains(s->alias, q) || (s->gvlk && contains(s->gvlk, q)));
        }
        if (!any)
            continue;
        guid_format(&k->id, id);
        json_array_append_new(kmss, json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:b}", "id", id, "name", k->name,
                                              "application", k->app->key, "protocol", (json_int_t)k->protocol,
                                              "required_clients", (json_int_t)k->n_policy, "retail", k->retail,
                                              "preview", k->preview));
    }
    for (size_t j = 0; j < products_sku_count(); j++) {
        const struct products_sku *s = products_sku_at(j);
        if (q && q[0] && !contains(s->name, q) && !contains(s->alias, q) && !(s->gvlk && contains(s->gvlk, q)) &&
            !(s->kms && contains(s->kms->name, q)))
            continue;
        guid_format(&s->id, id);
        if (s->kms)
            guid_format(&s->kms->id, kid);
        json_array_append_new(skus, json_pack("{s:s, s:s, s:s, s:s?, s:b, s:s?, s:s?}", "id", id, "name", s->name,
                                              "alias", s->alias, "gvlk", s->gvlk, "gvlk_generated", s->gvlk_generated,
                                              "kms_id", s->kms ? kid : NULL, "application",
                                              s->kms ? s->kms->app->key : NULL));
    }
    return send_json(h, con, 200, json_pack("{s:o, s:o, s:o}", "applications", apps, "kms", kmss, "skus", skus));
}

/* Since-start counters from the metrics. */
static json_t *runtime_json(const struct metrics *m)
{
    uint64_t answered, refused;
    metrics_activation_totals(m, &answered, &refused);
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "connections_accepted", (json_int_t)metrics_get(&m->accepted),
                     "connections_open", (json_int_t)atomic_load_explicit(&m->open, memory_order_relaxed),
                     "activations_answered", (json_int_t)answered, "activations_refused", (json_int_t)refused,
                     "unrecorded", (json_int_t)metrics_get(&m->unrecorded));
}

static enum MHD_Result api_stats(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r)
{
    static const char *const none[] = {NULL};
    struct httpq_error e;
    if (httpq_only(r, none, &e) < 0)
        return send_bad(h, con, &e);
    json_t *j = NULL;
    pthread_mutex_lock(&h->db_mu);
    struct store *db = db_get(h);
    int rc = db ? registry_json_stats(db, (int64_t)time(NULL), &j) : 0;
    pthread_mutex_unlock(&h->db_mu);
    if (rc < 0)
        return send_error(h, con, 500, "registry", NULL, "the registry could not be read");
    if (!j)
        j = json_object();
    if (j) {
        json_object_set_new(j, "registry", json_boolean(db != NULL));
        json_object_set_new(j, "since_start", runtime_json(h->cfg.m));
    }
    return send_json(h, con, 200, j);
}

static enum MHD_Result api_host(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r)
{
    static const char *const none[] = {NULL};
    struct httpq_error e;
    if (httpq_only(r, none, &e) < 0)
        return send_bad(h, con, &e);
    const struct activation_host *host = h->cfg.host;
    json_t *lis = json_array(), *http = json_array(), *epids = json_array();
    for (size_t i = 0; i < h->n_kms; i++)
        json_array_append_new(lis, json_string(h->kms[i].name));
    for (int i = 0; i < h->n_d; i++)
        json_array_append_new(http, json_string(h->names[i]));
    for (size_t i = 0; i < host->n; i++) {
        if (!host->epid[i][0])
            continue;
        const struct products_csvlk *c = products_csvlk_at(i);
        json_array_append_new(epids, json_pack("{s:s, s:s, s:s}", "csvlk", c->key, "name", c->name, "epid",
                                               host->epid[i]));
    }
    char hwid[KMS_HWID_TEXT_LEN + 1], started[32];
    kms_format_hwid(host->hwid, hwid);
    int64_t now = (int64_t)time(NULL);
    registry_json_time(h->cfg.m->start_time, started);
    json_t *j = json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:s, s:{s:I, s:s}, s:I, s:s, s:o, s:b}", "version",
                          KMSD_VERSION, "started", started, "uptime_seconds",
                          (json_int_t)(now - h->cfg.m->start_time), "listeners", lis, "http", http, "epids", epids,
                          "hwid", hwid, "host_build", "build", (json_int_t)host->build->build, "name",
                          host->build->name, "lcid", (json_int_t)host->lcid, "count_mode", h->cfg.count_mode,
                          "client_count",
                          h->cfg.client_count < 0 ? json_string("auto") : json_integer(h->cfg.client_count),
                          "registry", h->db_path[0] != '\0');
    return send_json(h, con, 200, j);
}

/* ---- /metrics ---- */

struct text {
    char *p;
    size_t len, cap;
    bool oom;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if (t->p && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t want = t->cap ? t->cap * 2 : 16384;
        while (want < t->len + (size_t)n + 1)
            want *= 2;
        char *np = realloc(t->p, want);
        if (!np) {
            t->oom = true;
            return;
        }
        t->p = np;
        t->cap = want;
    }
}

/* A label value with \, " and newline escaped as the exposition format wants. */
static void label_value(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 3 < cap; p++) {
        if (*p == '\\' || *p == '"') {
            out[o++] = '\\';
            out[o++] = *p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/* One unlabelled counter or gauge with its HELP and TYPE lines. */
static void put_counter(struct text *t, const char *name, const char *help, uint64_t v)
{
    put(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, (unsigned long long)v);
}

static void put_gauge(struct text *t, const char *name, const char *help, int64_t v)
{
    put(t, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, (long long)v);
}

static void put_hist(struct text *t, const char *name, const char *help, const struct metrics_hist *hs)
{
    put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++) {
        cum += metrics_get(&hs->bucket[i]);
        uint64_t b = metrics_hist_bound(i);
        if (b == UINT64_MAX)
            put(t, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
        else
            put(t, "%s_bucket{le=\"%g\"} %llu\n", name, (double)b / 1e6, (unsigned long long)cum);
    }
    put(t, "%s_sum %.6f\n%s_count %llu\n", name, (double)metrics_get(&hs->sum_us) / 1e6, name,
        (unsigned long long)metrics_get(&hs->count));
}

static enum MHD_Result metrics_page(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r)
{
    static const char *const none[] = {NULL};
    struct httpq_error e;
    if (httpq_only(r, none, &e) < 0)
        return send_bad(h, con, &e);
    const struct metrics *m = h->cfg.m;
    struct text t = {0};
    put(&t, "# HELP kmsd_build_info kmsd's version.\n# TYPE kmsd_build_info gauge\nkmsd_build_info{version=\"%s\"} 1\n",
        KMSD_VERSION);
    put_gauge(&t, "kmsd_start_time_seconds", "Start time of the process (Unix seconds).", m->start_time);
    put_gauge(&t, "kmsd_connections_open", "KMS connections open now.",
              atomic_load_explicit(&m->open, memory_order_relaxed));
    put_counter(&t, "kmsd_connections_accepted_total", "KMS connections accepted.", metrics_get(&m->accepted));
    put(&t, "# HELP kmsd_connections_rejected_total KMS connections refused at accept, by reason.\n"
            "# TYPE kmsd_connections_rejected_total counter\n");
    for (int i = 0; i < METRICS_REJECT_COUNT; i++)
        put(&t, "kmsd_connections_rejected_total{reason=\"%s\"} %llu\n", metrics_reject_name((enum metrics_reject)i),
            (unsigned long long)metrics_get(&m->rejected[i]));
    put(&t, "# HELP kmsd_connections_closed_total KMS connections closed, by reason.\n"
            "# TYPE kmsd_connections_closed_total counter\n");
    for (int i = 0; i < METRICS_CLOSE_COUNT; i++)
        put(&t, "kmsd_connections_closed_total{reason=\"%s\"} %llu\n", metrics_close_name((enum metrics_close)i),
            (unsigned long long)metrics_get(&m->closed[i]));
    put_counter(&t, "kmsd_connections_fd_shed_total",
                "Connections accepted and closed at once for want of a file descriptor.",
                metrics_get(&m->fd_shed));
    put_counter(&t, "kmsd_addresses_untracked_total",
                "Connections admitted without per-address accounting (table full).",
                metrics_get(&m->addr_untracked));
    put_counter(&t, "kmsd_addresses_evicted_total", "Per-address entries evicted to make room (--max-addresses).",
                metrics_get(&m->addr_evicted));
    put(&t, "# HELP kmsd_activations_total Activation requests by protocol version, KMS product and result.\n"
            "# TYPE kmsd_activations_total counter\n");
    for (unsigned v = METRICS_VERSION_MIN; v <= METRICS_VERSION_MAX; v++) {
        for (size_t k = 0; k <= m->n_kms; k++) {
            for (int refused = 0; refused < 2; refused++) {
                uint64_t n = metrics_activation_get(m, v, k, refused);
                if (n == 0)
                    continue;
                char prod[256];
                label_value(k < m->n_kms ? products_kms_at(k)->name : "unknown", prod, sizeof prod);
                put(&t, "kmsd_activations_total{version=\"%u\",product=\"%s\",result=\"%s\"} %llu\n", v, prod,
                    refused ? "refused" : "answered", (unsigned long long)n);
            }
        }
    }
    put(&t, "# HELP kmsd_refusals_total Activations refused, by the HRESULT sent.\n"
            "# TYPE kmsd_refusals_total counter\n");
    put(&t, "kmsd_refusals_total{hresult=\"0xC004F038\"} %llu\n",
        (unsigned long long)metrics_get(&m->refusals_hr_not_enough_count));
    put(&t, "kmsd_refusals_total{hresult=\"0xC004F042\"} %llu\n",
        (unsigned long long)metrics_get(&m->refusals_hr_id_mismatch));
    put(&t, "kmsd_refusals_total{hresult=\"0xC004F06C\"} %llu\n",
        (unsigned long long)metrics_get(&m->refusals_hr_timestamp));
    put(&t, "kmsd_refusals_total{hresult=\"other\"} %llu\n", (unsigned long long)metrics_get(&m->refusals_hr_other));
    put(&t, "# HELP kmsd_refusal_reasons_total Activations refused, by reason.\n"
            "# TYPE kmsd_refusal_reasons_total counter\n");
    for (int i = 0; i < METRICS_REFUSE_COUNT; i++)
        put(&t, "kmsd_refusal_reasons_total{reason=\"%s\"} %llu\n", metrics_refusal_name((enum metrics_refusal)i),
            (unsigned long long)metrics_get(&m->refusals[i]));
    put_hist(&t, "kmsd_request_duration_seconds",
             "Activation request received to answer queued (registry commit included).", &m->request_latency);
    put_hist(&t, "kmsd_registry_write_duration_seconds", "One registry transaction.", &m->registry_write);
    put_hist(&t, "kmsd_registry_checkpoint_duration_seconds",
             "One background checkpoint (WAL copied back into the database, off the commit path).",
             &m->registry_checkpoint);
    put_counter(&t, "kmsd_registry_checkpoint_errors_total", "Background checkpoints that failed.",
                metrics_get(&m->registry_checkpoint_errors));
    put_counter(&t, "kmsd_registry_errors_total", "Registry transactions that failed.",
                metrics_get(&m->registry_errors));
    put_counter(&t, "kmsd_unrecorded_activations_total", "Activations answered without a committed record.",
                metrics_get(&m->unrecorded));
    put(&t, "# HELP kmsd_http_responses_total HTTP responses, by status code.\n"
            "# TYPE kmsd_http_responses_total counter\n");
    for (int i = 0; i < METRICS_HTTP_COUNT; i++)
        put(&t, "kmsd_http_responses_total{code=\"%u\"} %llu\n", metrics_http_code((enum metrics_http_status)i),
            (unsigned long long)metrics_get(&m->http_responses[i]));
    put_counter(&t, "kmsd_http_connections_rejected_total", "HTTP connections refused at --http-max-connections.",
                metrics_get(&m->http_rejected));
    put_gauge(&t, "kmsd_http_connections_open", "HTTP connections open now.",
              atomic_load_explicit(&m->http_open, memory_order_relaxed));
    put_counter(&t, "kmsd_readyz_probes_total", "Self-activations run by /readyz.", metrics_get(&m->readyz_probes));
    put_counter(&t, "kmsd_readyz_failures_total", "/readyz self-activations that did not verify.",
                metrics_get(&m->readyz_failures));
    if (t.oom) {
        free(t.p);
        return send_error(h, con, 500, "internal", NULL, "out of memory");
    }
    return send_body(h, con, 200, "text/plain; version=0.0.4; charset=utf-8", "no-store", t.p, t.len,
                     MHD_RESPMEM_MUST_FREE);
}

/* ---- health ---- */

static enum MHD_Result readyz(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r)
{
    static const char *const none[] = {NULL};
    struct httpq_error e;
    if (httpq_only(r, none, &e) < 0)
        return send_bad(h, con, &e);
    if (!h->have_probe)
        return send_error(h, con, 503, "not_ready", NULL, "no KMS listener to probe");
    pthread_mutex_lock(&h->probe_mu);
    uint64_t now = mono_ms();
    bool cached = h->probe_at_ms != 0 && now - h->probe_at_ms < HTTP_READYZ_CACHE_MS;
    if (!cached) {
        struct kmsc_result *res = malloc(sizeof *res);
        if (res) {
            h->probe_status = kmsc_health(&h->probe_target, HTTP_READYZ_TIMEOUT_MS, res);
            snprintf(h->probe_msg, sizeof h->probe_msg, "%s", res->msg);
            h->probe_rtt_ms = res->rtt_ms;
            free(res);
        } else {
            h->probe_status = KMSC_INTERNAL;
            snprintf(h->probe_msg, sizeof h->probe_msg, "out of memory");
        }
        h->probe_wall = (int64_t)time(NULL);
        h->probe_at_ms = mono_ms();
        metrics_inc(&h->cfg.m->readyz_probes);
        if (h->probe_status != KMSC_OK) {
            metrics_inc(&h->cfg.m->readyz_failures);
            log_warn("readyz: the self-activation against %s port %s failed: %s", h->probe_target.host,
                     h->probe_target.port, h->probe_msg);
        }
    }
    enum kmsc_status st = h->probe_status;
    char msg[KMSC_MSG_MAX], at[32];
    snprintf(msg, sizeof msg, "%s", h->probe_msg);
    double rtt = h->probe_rtt_ms;
    registry_json_time(h->probe_wall, at);
    pthread_mutex_unlock(&h->probe_mu);
    char target[KMSC_HOST_MAX + KMSC_PORT_MAX + 8];
    snprintf(target, sizeof target, strchr(h->probe_target.host, ':') ? "[%s]:%s" : "%s:%s", h->probe_target.host,
             h->probe_target.port);
    if (st != KMSC_OK) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b}", "status", "not_ready", "target", target, "error", msg,
                              "checked_at", at, "cached", cached);
        return send_json(h, con, 503, j);
    }
    json_t *j = json_pack("{s:s, s:s, s:f, s:s, s:b}", "status", "ready", "target", target, "rtt_ms", rtt,
                          "checked_at", at, "cached", cached);
    return send_json(h, con, 200, j);
}

/* ---- dispatch ---- */

static bool token_ok(struct http_server *h, struct MHD_Connection *con)
{
    if (!h->token[0])
        return true;
    const char *a = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!a)
        return false;
    size_t an = strlen(a), tn = strlen(h->token);
    /* CRYPTO_memcmp: the time taken does not depend on where the texts differ */
    return an == tn && CRYPTO_memcmp(a, h->token, tn) == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)url;
    (void)version;
    (void)upload_data;
    struct http_server *h = cls;
    struct req *rq = *con_cls;
    if (*upload_data_size != 0) { /* a body after the answer was queued: drop it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!rq)
        return send_error(h, con, 500, "internal", NULL, "out of memory");
    if (!token_ok(h, con))
        return send_error(h, con, 401, "unauthorized", NULL, "this kmsd wants Authorization: Bearer TOKEN");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return send_error(h, con, 405, "method_not_allowed", NULL, "%.32s: only GET and HEAD are served", method);
    const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te || (cl && strcmp(cl, "0") != 0))
        return send_error(h, con, 413, "payload_too_large", NULL, "requests carry no body here");
    if (rq->too_long)
        return send_error(h, con, 414, "uri_too_long", "path", "the request target is longer than %d bytes",
                          HTTPQ_URI_MAX);
    struct httpq_req *pr = malloc(sizeof *pr);
    if (!pr)
        return send_error(h, con, 500, "internal", NULL, "out of memory");
    struct httpq_error e;
    struct guid cmid;
    enum MHD_Result ret;
    int route = httpq_parse_target(rq->uri, rq->len, pr, &e) < 0 ? -1 : httpq_route(pr, &cmid, &e);
    switch (route) {
    case -1:
        ret = send_bad(h, con, &e);
        break;
    case HTTPQ_PAGE:
        ret = send_body(h, con, 200, "text/html; charset=utf-8", "no-cache", (void *)(uintptr_t)kmsd_web_page,
                        kmsd_web_page_len, MHD_RESPMEM_PERSISTENT);
        break;
    case HTTPQ_CLIENTS:
        ret = api_clients(h, con, pr);
        break;
    case HTTPQ_CLIENT:
        ret = api_client(h, con, pr, &cmid);
        break;
    case HTTPQ_PRODUCTS:
        ret = api_products(h, con, pr);
        break;
    case HTTPQ_STATS:
        ret = api_stats(h, con, pr);
        break;
    case HTTPQ_HOST:
        ret = api_host(h, con, pr);
        break;
    case HTTPQ_METRICS:
        ret = metrics_page(h, con, pr);
        break;
    case HTTPQ_HEALTHZ:
        ret = send_json(h, con, 200, json_pack("{s:s}", "status", "alive"));
        break;
    case HTTPQ_READYZ:
        ret = readyz(h, con, pr);
        break;
    default:
        ret = send_error(h, con, 404, "not_found", "path", "no such endpoint: %.100s", pr->path);
        break;
    }
    free(pr);
    return ret;
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)cls;
    (void)con;
    struct req *rq = malloc(sizeof *rq);
    if (!rq)
        return NULL;
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
    free(*con_cls);
    *con_cls = NULL;
}

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addr;
    (void)addrlen;
    struct http_server *h = cls;
    if (atomic_load_explicit(&h->cfg.m->http_open, memory_order_relaxed) >= (int64_t)h->cfg.max_connections) {
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
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
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

/* Starts one MHD daemon on a socket bound to sa (listen.h: the socket holds exactly that address, and its name
 * is read back from it). Returns 0 or a negative errno. */
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
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (sa->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, accept_policy, h, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(h->cfg.max_connections + 1), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)h->cfg.timeout_s, MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_THREAD_STACK,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, uri_log, h,
        MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_NOTIFY_CONNECTION, conn_notify, h, MHD_OPTION_END);
    if (!d) {
        close(fd); /* MHD takes the socket only once it has started */
        return -ENOMEM;
    }
    h->d[h->n_d] = d;
    snprintf(h->names[h->n_d], sizeof h->names[0], "%s", name);
    h->n_d++;
    return 0;
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

int http_start(const struct http_cfg *cfg, const struct server_bound *kms, size_t n_kms, struct http_server **out)
{
    *out = NULL;
    struct http_server *h = calloc(1, sizeof *h);
    if (!h) {
        log_error("http: out of memory");
        return -1;
    }
    h->cfg = *cfg;
    if (cfg->token && cfg->token[0])
        snprintf(h->token, sizeof h->token, "Bearer %s", cfg->token);
    if (cfg->db_path)
        snprintf(h->db_path, sizeof h->db_path, "%s", cfg->db_path);
    h->n_kms = n_kms < SERVER_MAX_LISTENERS ? n_kms : SERVER_MAX_LISTENERS;
    memcpy(h->kms, kms, h->n_kms * sizeof *kms);
    pick_probe(h);
    pthread_mutex_init(&h->db_mu, NULL);
    pthread_mutex_init(&h->probe_mu, NULL);
    int rc = 0;
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
    for (int i = 0; i < h->n_d; i++)
        log_info("http: serving the web page and API on http://%s/", h->names[i]);
    *out = h;
    return 0;
}

void http_stop(struct http_server *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->n_d; i++)
        MHD_stop_daemon(h->d[i]);
    store_close(h->db);
    pthread_mutex_destroy(&h->db_mu);
    pthread_mutex_destroy(&h->probe_mu);
    free(h);
}
