#include "http_prom.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "products.h"

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

/* Build info, start time and the KMS connection counters. */
static void put_connections(struct text *t, const struct metrics *m)
{
    put(t, "# HELP kmsd_build_info kmsd's version.\n# TYPE kmsd_build_info gauge\nkmsd_build_info{version=\"%s\"} 1\n",
        KMSD_VERSION);
    put_gauge(t, "kmsd_start_time_seconds", "Start time of the process (Unix seconds).", m->start_time);
    put_gauge(t, "kmsd_connections_open", "KMS connections open now.",
              atomic_load_explicit(&m->open, memory_order_relaxed));
    put_counter(t, "kmsd_connections_accepted_total", "KMS connections accepted.", metrics_get(&m->accepted));
    put(t, "# HELP kmsd_connections_rejected_total KMS connections refused at accept, by reason.\n"
            "# TYPE kmsd_connections_rejected_total counter\n");
    for (int i = 0; i < METRICS_REJECT_COUNT; i++)
        put(t, "kmsd_connections_rejected_total{reason=\"%s\"} %llu\n", metrics_reject_name((enum metrics_reject)i),
            (unsigned long long)metrics_get(&m->rejected[i]));
    put(t, "# HELP kmsd_connections_closed_total KMS connections closed, by reason.\n"
            "# TYPE kmsd_connections_closed_total counter\n");
    for (int i = 0; i < METRICS_CLOSE_COUNT; i++)
        put(t, "kmsd_connections_closed_total{reason=\"%s\"} %llu\n", metrics_close_name((enum metrics_close)i),
            (unsigned long long)metrics_get(&m->closed[i]));
    put_counter(t, "kmsd_connections_fd_shed_total",
                "Connections accepted and closed at once for want of a file descriptor.",
                metrics_get(&m->fd_shed));
    put_counter(t, "kmsd_addresses_untracked_total",
                "Connections admitted without per-address accounting (table full).",
                metrics_get(&m->addr_untracked));
    put_counter(t, "kmsd_addresses_evicted_total", "Per-address entries evicted to make room (--max-addresses).",
                metrics_get(&m->addr_evicted));
}

/* Activations by version, product and result (only cells seen so far), and refusals. */
static void put_activations(struct text *t, const struct metrics *m)
{
    put(t, "# HELP kmsd_activations_total Activation requests by protocol version, KMS product and result.\n"
            "# TYPE kmsd_activations_total counter\n");
    for (unsigned v = METRICS_VERSION_MIN; v <= METRICS_VERSION_MAX; v++) {
        for (size_t k = 0; k <= m->n_kms; k++) {
            for (int refused = 0; refused < 2; refused++) {
                uint64_t n = metrics_activation_get(m, v, k, refused);
                if (n == 0)
                    continue;
                char prod[256];
                label_value(metrics_kms_name(m, k), prod, sizeof prod);
                put(t, "kmsd_activations_total{version=\"%u\",product=\"%s\",result=\"%s\"} %llu\n", v, prod,
                    refused ? "refused" : "answered", (unsigned long long)n);
            }
        }
    }
    put(t, "# HELP kmsd_refusals_total Activations refused, by the HRESULT sent.\n"
            "# TYPE kmsd_refusals_total counter\n");
    put(t, "kmsd_refusals_total{hresult=\"0xC004F038\"} %llu\n",
        (unsigned long long)metrics_get(&m->refusals_hr_not_enough_count));
    put(t, "kmsd_refusals_total{hresult=\"0xC004F042\"} %llu\n",
        (unsigned long long)metrics_get(&m->refusals_hr_id_mismatch));
    put(t, "kmsd_refusals_total{hresult=\"0xC004F06C\"} %llu\n",
        (unsigned long long)metrics_get(&m->refusals_hr_timestamp));
    put(t, "kmsd_refusals_total{hresult=\"other\"} %llu\n", (unsigned long long)metrics_get(&m->refusals_hr_other));
    put(t, "# HELP kmsd_refusal_reasons_total Activations refused, by reason.\n"
            "# TYPE kmsd_refusal_reasons_total counter\n");
    for (int i = 0; i < METRICS_REFUSE_COUNT; i++)
        put(t, "kmsd_refusal_reasons_total{reason=\"%s\"} %llu\n", metrics_refusal_name((enum metrics_refusal)i),
            (unsigned long long)metrics_get(&m->refusals[i]));
}

/* Latency histograms, registry and HTTP counters. */
static void put_registry_http(struct text *t, const struct metrics *m)
{
    put_hist(t, "kmsd_request_duration_seconds",
             "Activation request received to answer queued (registry commit included).", &m->request_latency);
    put_hist(t, "kmsd_registry_write_duration_seconds", "One registry transaction.", &m->registry_write);
    put_hist(t, "kmsd_registry_checkpoint_duration_seconds",
             "One background checkpoint (WAL copied back into the database, off the commit path).",
             &m->registry_checkpoint);
    put_counter(t, "kmsd_registry_checkpoint_errors_total", "Background checkpoints that failed.",
                metrics_get(&m->registry_checkpoint_errors));
    put_counter(t, "kmsd_registry_errors_total", "Registry transactions that failed.",
                metrics_get(&m->registry_errors));
    put_counter(t, "kmsd_unrecorded_activations_total", "Activations answered without a committed record.",
                metrics_get(&m->unrecorded));
    put(t, "# HELP kmsd_dns_updates_total DNS updates sent to publish or remove the SRV record (--dns-publish), by "
           "result.\n"
           "# TYPE kmsd_dns_updates_total counter\n");
    for (int i = 0; i < METRICS_DNS_COUNT; i++)
        put(t, "kmsd_dns_updates_total{result=\"%s\"} %llu\n", metrics_dns_name((enum metrics_dns_result)i),
            (unsigned long long)metrics_get(&m->dns_updates[i]));
    put_gauge(t, "kmsd_dns_last_success_time_seconds", "When a DNS update last succeeded (Unix seconds; 0 never).",
              (int64_t)metrics_get(&m->dns_last_success));
    put(t, "# HELP kmsd_http_responses_total HTTP responses, by status code.\n"
            "# TYPE kmsd_http_responses_total counter\n");
    for (int i = 0; i < METRICS_HTTP_COUNT; i++)
        put(t, "kmsd_http_responses_total{code=\"%u\"} %llu\n", metrics_http_code((enum metrics_http_status)i),
            (unsigned long long)metrics_get(&m->http_responses[i]));
    put_counter(t, "kmsd_http_connections_rejected_total", "HTTP connections refused at --http-max-connections.",
                metrics_get(&m->http_rejected));
    put_gauge(t, "kmsd_http_connections_open", "HTTP connections open now.",
              atomic_load_explicit(&m->http_open, memory_order_relaxed));
    put_counter(t, "kmsd_http_library_loads_total",
                "Times libmicrohttpd was loaded: at start, and again after each --http-idle-unload.",
                metrics_get(&m->http_loads));
    put_counter(t, "kmsd_registry_library_loads_total",
                "Times SQLite was loaded: at start, and again after each --registry-idle-unload.",
                (uint64_t)atomic_load_explicit(&m->registry_loads, memory_order_relaxed));
    put_gauge(t, "kmsd_search_memory_bytes", "Bytes the API's search and sort by requests hold in memory.",
              atomic_load_explicit(&m->search_bytes, memory_order_relaxed));
    put_counter(t, "kmsd_readyz_probes_total", "Self-activations run by /readyz.", metrics_get(&m->readyz_probes));
    put_counter(t, "kmsd_readyz_failures_total", "/readyz self-activations that did not verify.",
                metrics_get(&m->readyz_failures));
}

char *http_prom_text(const struct metrics *m, size_t *len)
{
    struct text t = {0};
    put_connections(&t, m);
    put_activations(&t, m);
    put_registry_http(&t, m);
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    *len = t.len;
    return t.p;
}
