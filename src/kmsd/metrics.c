#include "metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kms.h"
#include "products.h"

static const uint64_t bounds[METRICS_HIST_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 500000, 1000000, UINT64_MAX,
};

static const char *const reject_names[METRICS_REJECT_COUNT] = {
    [METRICS_REJECT_MAX_CONNECTIONS] = "max_connections",
    [METRICS_REJECT_PER_ADDRESS] = "per_address",
    [METRICS_REJECT_ACCESS] = "access",
    [METRICS_REJECT_STOPPING] = "stopping",
    [METRICS_REJECT_ACCEPT_ERROR] = "accept_error",
};

static const char *const close_names[METRICS_CLOSE_COUNT] = {
    [METRICS_CLOSE_PEER] = "peer",
    [METRICS_CLOSE_PROTOCOL] = "protocol",
    [METRICS_CLOSE_IDLE] = "idle",
    [METRICS_CLOSE_MAX_REQUESTS] = "max_requests",
    [METRICS_CLOSE_BUFFER] = "buffer",
    [METRICS_CLOSE_SLOW] = "slow_sender",
    [METRICS_CLOSE_SHUTDOWN] = "shutdown",
    [METRICS_CLOSE_ERROR] = "error",
    [METRICS_CLOSE_RATE] = "rate_limited",
    [METRICS_CLOSE_MAX_PDUS] = "max_pdus",
    [METRICS_CLOSE_PROXY] = "proxy",
};

static const char *const refusal_names[METRICS_REFUSE_COUNT] = {
    [METRICS_REFUSE_POLICY] = "policy",
    [METRICS_REFUSE_UNDECODABLE] = "undecodable",
    [METRICS_REFUSE_UNKNOWN_PRODUCT] = "unknown_product",
    [METRICS_REFUSE_NOT_VOLUME] = "not_volume",
    [METRICS_REFUSE_CSVLK] = "csvlk",
    [METRICS_REFUSE_TIME] = "time",
    [METRICS_REFUSE_RATE] = "rate",
};

int metrics_init(struct metrics *m, int64_t start_time)
{
    memset(m, 0, sizeof *m);
    m->products = products_current();
    m->n_kms = m->products->kms_count;
    m->activations = calloc(METRICS_VERSIONS * (m->n_kms + 1) * 2, sizeof *m->activations);
    if (!m->activations)
        return -ENOMEM;
    m->start_time = start_time;
    return 0;
}

size_t metrics_kms_index(const struct metrics *m, const struct products_kms *k)
{
    if (!k || !m->products)
        return m->n_kms;
    size_t i = products_in_kms_index(m->products, k);
    if (i < m->n_kms) /* the common case: k is an entry of the table counted since the start */
        return i;
    return products_in_kms_index(m->products, products_in_kms_by_id(m->products, &k->id));
}

const char *metrics_kms_name(const struct metrics *m, size_t i)
{
    return m->products && i < m->n_kms ? m->products->kms[i].name : "unknown";
}

void metrics_free(struct metrics *m)
{
    free(m->activations);
    m->activations = NULL;
}

static metrics_counter *cell(const struct metrics *m, unsigned version_major, size_t kms_index, int refused)
{
    if (version_major < METRICS_VERSION_MIN || version_major > METRICS_VERSION_MAX || !m->activations)
        return NULL;
    if (kms_index > m->n_kms)
        kms_index = m->n_kms;
    return &m->activations[((version_major - METRICS_VERSION_MIN) * (m->n_kms + 1) + kms_index) * 2 + (refused ? 1 : 0)];
}

void metrics_activation(struct metrics *m, unsigned version_major, size_t kms_index, uint32_t hresult)
{
    metrics_counter *c = cell(m, version_major, kms_index, hresult != 0);
    if (c)
        metrics_inc(c);
    switch (hresult) {
    case 0:
        break;
    case KMS_HR_NOT_ENOUGH_COUNT:
        metrics_inc(&m->refusals_hr_not_enough_count);
        break;
    case KMS_HR_ID_MISMATCH:
        metrics_inc(&m->refusals_hr_id_mismatch);
        break;
    case KMS_HR_INVALID_TIMESTAMP:
        metrics_inc(&m->refusals_hr_timestamp);
        break;
    default:
        metrics_inc(&m->refusals_hr_other);
        break;
    }
}

uint64_t metrics_activation_get(const struct metrics *m, unsigned version_major, size_t kms_index, int refused)
{
    metrics_counter *c = cell(m, version_major, kms_index, refused);
    return c ? metrics_get(c) : 0;
}

void metrics_observe(struct metrics_hist *h, uint64_t usec)
{
    size_t i = 0;
    while (i + 1 < METRICS_HIST_BUCKETS && usec > bounds[i])
        i++;
    metrics_inc(&h->bucket[i]);
    metrics_inc(&h->count);
    atomic_fetch_add_explicit(&h->sum_us, usec, memory_order_relaxed);
}

uint64_t metrics_hist_bound(size_t i)
{
    return i < METRICS_HIST_BUCKETS ? bounds[i] : UINT64_MAX;
}

const char *metrics_reject_name(enum metrics_reject r)
{
    return (unsigned)r < METRICS_REJECT_COUNT ? reject_names[r] : "unknown";
}

const char *metrics_close_name(enum metrics_close c)
{
    return (unsigned)c < METRICS_CLOSE_COUNT ? close_names[c] : "unknown";
}

const char *metrics_refusal_name(enum metrics_refusal r)
{
    return (unsigned)r < METRICS_REFUSE_COUNT ? refusal_names[r] : "unknown";
}

static const char *const dns_names[METRICS_DNS_COUNT] = {
    [METRICS_DNS_OK] = "ok",         [METRICS_DNS_REFUSED] = "refused",         [METRICS_DNS_NOTAUTH] = "notauth",
    [METRICS_DNS_BADSIG] = "badsig", [METRICS_DNS_TIMEOUT] = "timeout", [METRICS_DNS_UNREACHABLE] = "unreachable",
    [METRICS_DNS_ERROR] = "error",
};

const char *metrics_dns_name(enum metrics_dns_result r)
{
    return (unsigned)r < METRICS_DNS_COUNT ? dns_names[r] : "unknown";
}

static const unsigned http_codes[METRICS_HTTP_COUNT] = {
    [METRICS_HTTP_200] = 200, [METRICS_HTTP_400] = 400, [METRICS_HTTP_401] = 401,
    [METRICS_HTTP_404] = 404, [METRICS_HTTP_405] = 405, [METRICS_HTTP_413] = 413,
    [METRICS_HTTP_414] = 414, [METRICS_HTTP_500] = 500, [METRICS_HTTP_503] = 503,
};

unsigned metrics_http_code(enum metrics_http_status s)
{
    return (unsigned)s < METRICS_HTTP_COUNT ? http_codes[s] : 0;
}

enum metrics_http_status metrics_http_status_of(unsigned code)
{
    for (size_t i = 0; i < METRICS_HTTP_COUNT; i++)
        if (http_codes[i] == code)
            return (enum metrics_http_status)i;
    return METRICS_HTTP_500;
}

void metrics_activation_totals(const struct metrics *m, uint64_t *answered, uint64_t *refused)
{
    uint64_t a = 0, r = 0;
    for (unsigned v = METRICS_VERSION_MIN; v <= METRICS_VERSION_MAX; v++)
        for (size_t k = 0; k <= m->n_kms; k++) {
            a += metrics_activation_get(m, v, k, 0);
            r += metrics_activation_get(m, v, k, 1);
        }
    if (answered)
        *answered = a;
    if (refused)
        *refused = r;
}
