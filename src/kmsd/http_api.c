/* The JSON endpoints of the HTTP API: /api/v1/clients[/{cmid}], /api/v1/products, /api/v1/stats, /api/v1/host
 * (docs/api.md). Registry rows and statistics are serialized by registry_json.c, as for kmsd clients/stats. */
#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kms.h"
#include "log.h"
#include "dns_publish.h"
#include "kms_client.h"
#include "product_commands.h"
#include "product_names.h"
#include "products.h"
#include "products_json.h"
#include "registry_json.h"

static int add_client(void *ctx, const struct store_client *c)
{
    json_t *j = registry_json_client(c);
    return j ? json_array_append_new(ctx, j) : -1;
}

/* A page of /api/v1/clients: its rows, and the cursor after its last one. */
struct page {
    json_t *list;
    const struct store_query *q;
    struct store_cursor last;
};

static int add_page_row(void *ctx, const struct store_client *c)
{
    struct page *p = ctx;
    store_cursor_of(p->q, c, &p->last);
    return add_client(p->list, c);
}

void http_api_clients(struct http_server *h, struct http_reply *out, const struct httpq_req *r)
{
    struct httpq_clients q;
    struct httpq_error e;
    pthread_mutex_lock(&h->live_mu);
    uint32_t max_page = h->cfg.max_page; /* a reload may change it */
    pthread_mutex_unlock(&h->live_mu);
    if (httpq_clients(r, max_page, (int64_t)time(NULL), &q, &e) < 0) {
        http_reply_bad(out, &e);
        return;
    }
    json_t *list = json_array();
    struct page pg = {list, &q.sq, {0}};
    uint64_t total = 0;
    struct store *db = http_db_get(h);
    int rc = db ? store_query_at(db, &q.sq, http_now_ms(), &total, add_page_row, &pg) : -ENOENT;
    char err[256];
    snprintf(err, sizeof err, "%s", db ? store_errmsg(db) : "");
    http_db_put(h, db);
    if (rc < 0) {
        json_decref(list);
        if (!db) {
            http_reply_error(out, 503, "no_registry", NULL, "kmsd runs without a client registry");
        } else {
            log_warn("http: registry: %s", err);
            http_reply_error(out, 500, "registry", NULL, "the registry could not be read");
        }
        return;
    }
    /* next_offset counts from the first row (without a cursor); next_cursor continues after this page's last row,
     * at the cost of one page whatever the depth */
    uint64_t next = (uint64_t)q.sq.offset + q.sq.limit;
    bool full = json_array_size(list) == q.sq.limit;
    char cursor[HTTPQ_CURSOR_MAX];
    bool has_next = full && httpq_cursor_format(&q.sq, &pg.last, cursor, sizeof cursor) == 0;
    json_t *j = json_pack("{s:I, s:I, s:I, s:o, s:o, s:o}", "total", (json_int_t)total, "limit", (json_int_t)q.sq.limit,
                          "offset", (json_int_t)q.sq.offset, "next_offset",
                          !q.sq.has_cursor && next < total ? json_integer((json_int_t)next) : json_null(),
                          "next_cursor", has_next ? json_string(cursor) : json_null(), "clients", list);
    http_reply_json(out, 200, j);
}

void http_api_client(struct http_server *h, struct http_reply *out, const struct httpq_req *r, const struct guid *cmid)
{
    static const char *const none[] = {NULL};
    struct httpq_error e;
    if (httpq_only(r, none, &e) < 0) {
        http_reply_bad(out, &e);
        return;
    }
    json_t *list = json_array();
    struct store *db = http_db_get(h);
    int rc = db ? store_get_client(db, cmid, add_client, list) : -ENOENT;
    http_db_put(h, db);
    char text[GUID_TEXT_LEN + 1];
    guid_format(cmid, text);
    if (rc < 0) {
        json_decref(list);
        if (!db)
            http_reply_error(out, 503, "no_registry", NULL, "kmsd runs without a client registry");
        else
            http_reply_error(out, 500, "registry", NULL, "the registry could not be read");
        return;
    }
    if (json_array_size(list) == 0) {
        json_decref(list);
        http_reply_error(out, 404, "not_found", "cmid", "no client with CMID %s", text);
        return;
    }
    http_reply_json(out, 200, json_pack("{s:s, s:o}", "cmid", text, "entries", list));
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

/* The port clients reach this host's KMS listener on: the first bound listener's, else the protocol's default. */
static uint16_t kms_port(const struct http_server *h)
{
    if (h->n_kms == 0)
        return 1688;
    const struct sockaddr_storage *a = &h->kms[0].addr;
    if (a->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)a)->sin6_port);
    return ntohs(((const struct sockaddr_in *)(const void *)a)->sin_port);
}

/* The host= parameter of /api/v1/products: HOST or HOST:PORT ([v6]:PORT) that clients are to use. 0, or -1 with
 * the error reply sent. */
static int commands_target(const struct http_server *h, struct http_reply *out, const char *v, char *host, size_t cap,
                           uint16_t *port)
{
    struct kmsc_target t;
    char msg[128];
    unsigned long p = 0;
    if (kms_client_parse_target(v, &t, msg, sizeof msg) != 0 || !product_commands_host_ok(t.host)) {
        http_reply_error(out, 400, "bad_parameter", "host",
                         "host: expected HOST or HOST:PORT, a name or an address ([IPv6]:PORT with a port)");
        return -1;
    }
    const char *colon = strchr(v, ':');
    /* "[v6]:PORT", or "HOST:PORT" with a single colon (a bare IPv6 address has several and no port) */
    bool has_port = v[0] == '[' ? strstr(v, "]:") != NULL : colon && colon == strrchr(v, ':');
    if (has_port && kms_client_parse_uint(t.port, 1, 65535, &p) != 0) {
        http_reply_error(out, 400, "bad_parameter", "host", "host: the port is not a number in 1..65535");
        return -1;
    }
    size_t n = strlen(t.host); /* at most PRODUCT_COMMANDS_HOST_MAX (product_commands_host_ok) */
    if (n >= cap) {
        http_reply_error(out, 400, "bad_parameter", "host", "host: longer than %zu bytes", cap - 1);
        return -1;
    }
    memcpy(host, t.host, n + 1);
    *port = has_port ? (uint16_t)p : kms_port(h);
    return 0;
}

/* The commands of SKU s against host:port (product_commands.h), as [{"step", "command"}]. */
static json_t *commands_json(const struct products_sku *s, const char *host, uint16_t port)
{
    struct product_command c[PRODUCT_COMMANDS_MAX];
    int n = product_commands(s, host, port, c);
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:s}", "step", c[i].step, "command", c[i].text));
    return a;
}

/* Whether SKU s is listed for q: q names it, matches it (product_names.h), or is part of its GVLK or of its KMS
 * id's name. */
static bool sku_listed(const struct products_sku *s, const char *q)
{
    return !q || !q[0] || product_names_resolve(q) == s || product_names_matches(q, s) ||
           (s->gvlk && contains(s->gvlk, q)) || contains(s->kms->name, q);
}

void http_api_products(struct http_server *h, struct http_reply *out, const struct httpq_req *r)
{
    static const char *const allowed[] = {"q", "host", NULL};
    struct httpq_error e;
    if (httpq_only(r, allowed, &e) < 0) {
        http_reply_bad(out, &e);
        return;
    }
    const char *q = httpq_get(r, "q");
    if (q && strlen(q) > HTTPQ_TEXT_MAX) {
        http_reply_error(out, 400, "bad_parameter", "q", "q: longer than %d bytes", HTTPQ_TEXT_MAX);
        return;
    }
    const char *hv = httpq_get(r, "host");
    char host[PRODUCT_COMMANDS_HOST_MAX + 1] = "";
    uint16_t port = 0;
    if (hv && hv[0] && commands_target(h, out, hv, host, sizeof host, &port) < 0)
        return;
    json_t *apps = json_array(), *kmss = json_array(), *skus = json_array();
    char id[GUID_TEXT_LEN + 1], kid[GUID_TEXT_LEN + 1];
    const struct products_tables *t = products_current(); /* one table for the whole answer (products.h) */
    for (size_t i = 0; i < t->app_count; i++) {
        const struct products_app *a = &t->apps[i];
        guid_format(&a->id, id);
        json_array_append_new(apps, json_pack("{s:s, s:s, s:s}", "key", a->key, "name", a->name, "id", id));
    }
    for (size_t i = 0; i < t->kms_count; i++) {
        const struct products_kms *k = &t->kms[i];
        bool any = false;
        for (size_t j = 0; j < t->sku_count && !any; j++)
            any = t->skus[j].kms == k && sku_listed(&t->skus[j], q);
        if (!any && !(q && q[0] && contains(k->name, q)) && q && q[0])
            continue;
        guid_format(&k->id, id);
        json_array_append_new(kmss, json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:b}", "id", id, "name", k->name,
                                              "application", k->app->key, "protocol", (json_int_t)k->protocol,
                                              "required_clients", (json_int_t)k->n_policy, "retail", k->retail,
                                              "preview", k->preview));
    }
    for (size_t j = 0; j < t->sku_count; j++) {
        const struct products_sku *s = &t->skus[j];
        if (!sku_listed(s, q))
            continue;
        guid_format(&s->id, id);
        guid_format(&s->kms->id, kid);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:b, s:s, s:s}", "id", id, "name", s->name, "alias", s->alias,
                              "gvlk", s->gvlk, "gvlk_generated", s->gvlk_generated, "kms_id", kid, "application",
                              s->kms->app->key);
        if (o && host[0]) {
            json_object_set_new(o, "commands", commands_json(s, host, port));
            const char *note = product_commands_note(s);
            if (note)
                json_object_set_new(o, "commands_note", json_string(note));
        }
        json_array_append_new(skus, o);
    }
    http_reply_json(out, 200, json_pack("{s:o, s:o, s:o, s:o}", "table", products_json_table(t), "applications", apps,
                                        "kms", kmss, "skus", skus));
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

void http_api_stats(struct http_server *h, struct http_reply *out, const struct httpq_req *r)
{
    static const char *const none[] = {NULL};
    struct httpq_error e;
    if (httpq_only(r, none, &e) < 0) {
        http_reply_bad(out, &e);
        return;
    }
    json_t *j = NULL;
    struct store *db = http_db_get(h);
    int rc = db ? registry_json_stats(db, (int64_t)time(NULL), &j) : 0;
    http_db_put(h, db);
    if (rc < 0) {
        http_reply_error(out, 500, "registry", NULL, "the registry could not be read");
        return;
    }
    if (!j)
        j = json_object();
    if (j) {
        json_object_set_new(j, "registry", json_boolean(db != NULL));
        json_object_set_new(j, "since_start", runtime_json(h->cfg.m));
    }
    http_reply_json(out, 200, j);
}

void http_api_host(struct http_server *h, struct http_reply *out, const struct httpq_req *r)
{
    static const char *const none[] = {NULL};
    struct httpq_error e;
    if (httpq_only(r, none, &e) < 0) {
        http_reply_bad(out, &e);
        return;
    }
    const struct activation_host *host = atomic_load_explicit(h->cfg.host, memory_order_acquire);
    json_t *lis = json_array(), *http = json_array(), *epids = json_array();
    for (size_t i = 0; i < h->n_kms; i++)
        json_array_append_new(lis, json_string(h->kms[i].name));
    for (int i = 0; i < h->n_d; i++)
        json_array_append_new(http, json_string(h->names[i]));
    for (size_t i = 0; i < host->n; i++) {
        if (!host->epid[i][0])
            continue;
        const struct products_csvlk *c = &host->table->csvlks[i]; /* the identity's own table */
        json_array_append_new(epids, json_pack("{s:s, s:s, s:s}", "csvlk", c->key, "name", c->name, "epid",
                                               host->epid[i]));
    }
    json_t *dns = json_array();
    struct dns_publish_zone_status zs[CONFIG_MAX_DNS_ZONES];
    char count_mode[sizeof h->count_mode];
    pthread_mutex_lock(&h->live_mu); /* a reload may replace the publisher and change the count's settings */
    size_t nz = dns_publish_status(h->cfg.dns, zs, CONFIG_MAX_DNS_ZONES);
    int32_t client_count = h->cfg.client_count;
    memcpy(count_mode, h->count_mode, sizeof count_mode);
    pthread_mutex_unlock(&h->live_mu);
    static const char *const states[] = {"pending", "published", "failing"};
    for (size_t i = 0; i < nz && i < CONFIG_MAX_DNS_ZONES; i++) {
        char ok[32] = "", tried[32] = "";
        if (zs[i].last_success)
            registry_json_time(zs[i].last_success, ok);
        if (zs[i].last_attempt)
            registry_json_time(zs[i].last_attempt, tried);
        json_array_append_new(dns, json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "zone", zs[i].zone, "record",
                                             zs[i].record, "state", states[zs[i].state], "server",
                                             zs[i].server[0] ? zs[i].server : NULL, "last_success",
                                             ok[0] ? ok : NULL, "last_attempt", tried[0] ? tried : NULL,
                                             "last_error", zs[i].last_error[0] ? zs[i].last_error : NULL));
    }
    char hwid[KMS_HWID_TEXT_LEN + 1], started[32];
    kms_format_hwid(host->hwid, hwid);
    int64_t now = (int64_t)time(NULL);
    registry_json_time(h->cfg.m->start_time, started);
    json_t *j = json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:s, s:{s:I, s:s}, s:I, s:s, s:o, s:b}", "version",
                          KMSD_VERSION, "started", started, "uptime_seconds",
                          (json_int_t)(now - h->cfg.m->start_time), "listeners", lis, "http", http, "epids", epids,
                          "hwid", hwid, "host_build", "build", (json_int_t)host->build->build, "name",
                          host->build->name, "lcid", (json_int_t)host->lcid, "count_mode", count_mode,
                          "client_count", client_count < 0 ? json_string("auto") : json_integer(client_count),
                          "registry", h->db_path[0] != '\0');
    if (j) {
        json_object_set_new(j, "dns", dns);
        json_object_set_new(j, "product_table", products_json_table(products_current()));
        json_object_set_new(j, "host_name", json_string(h->cfg.host_name ? h->cfg.host_name : ""));
    } else {
        json_decref(dns);
    }
    http_reply_json(out, 200, j);
}

