#include "activation.h"

#include <stdio.h>
#include <string.h>

#include "epid.h"
#include "err.h"
#include "timeutil.h"

const struct products_build *activation_default_build(void)
{
    const struct products_build *best = NULL;
    for (size_t i = 0; i < products_build_count(); i++) {
        const struct products_build *b = products_build_at(i);
        if (b->epid && b->server && b->ndr64 && (!best || b->released > best->released))
            best = b;
    }
    return best;
}

_Static_assert(ACTIVATION_MAX_CSVLK >= PRODUCTS_LOAD_CSVLK_MAX, "one ePID per CSVLK of any loadable table");

/* The index in h's table of CSVLK c: c itself, or (c from another table) the CSVLK of the same key; SIZE_MAX when
 * h's table has none. */
static size_t csvlk_index(const struct activation_host *h, const struct products_csvlk *c)
{
    const struct products_tables *t = h->table;
    if (!c || !t)
        return SIZE_MAX;
    for (size_t i = 0; i < t->csvlk_count; i++)
        if (&t->csvlks[i] == c)
            return i;
    const struct products_csvlk *same = products_in_find_csvlk(t, c->key);
    return same ? (size_t)(same - t->csvlks) : SIZE_MAX;
}

/* A new ePID for CSVLK c (with ePID data) on h's build and LCID into out. Returns 0, KMS_EINVAL or the rng's error. */
static int make_epid(const struct activation_host *h, const struct products_csvlk *c, int64_t now,
                     const struct kms_rng *rng, char out[ACTIVATION_EPID_LEN])
{
    const struct products_build *build = h->build;
    struct epid_params p = {
        .group = c->group,
        .key_min = c->key_min,
        .key_max = c->key_max,
        .platform = build->platform,
        .build = build->build,
        .lcid = h->lcid,
        .not_before = c->released > build->released ? c->released : build->released,
        .now = now,
    };
    struct epid e;
    int rc = epid_generate(&p, rng, &e);
    if (rc == 0 && epid_format(&e, out, ACTIVATION_EPID_LEN) < 0)
        rc = KMS_EINVAL;
    return rc;
}

int activation_host_generate(struct activation_host *h, const struct products_build *build, uint32_t lcid,
                             const uint8_t *hwid, int64_t now, const struct kms_rng *rng)
{
    const struct products_tables *t = products_current();
    memset(h, 0, sizeof *h);
    if (!build || lcid == 0 || lcid > 65535 || t->csvlk_count > ACTIVATION_MAX_CSVLK)
        return KMS_EINVAL;
    h->build = build;
    h->lcid = lcid;
    h->table = t;
    h->n = t->csvlk_count;
    int rc = 0;
    if (hwid)
        memcpy(h->hwid, hwid, KMS_HWID_LEN);
    else
        rc = rng->fill(rng->ctx, h->hwid, KMS_HWID_LEN);
    for (size_t i = 0; rc == 0 && i < h->n; i++)
        if (t->csvlks[i].has_epid)
            rc = make_epid(h, &t->csvlks[i], now, rng, h->epid[i]);
    return rc;
}

int activation_host_rebase(struct activation_host *out, const struct activation_host *old,
                           const struct products_tables *t, int64_t now, const struct kms_rng *rng, size_t *generated)
{
    size_t made = 0;
    memset(out, 0, sizeof *out);
    if (generated)
        *generated = 0;
    if (t->csvlk_count > ACTIVATION_MAX_CSVLK)
        return KMS_EINVAL;
    memcpy(out->hwid, old->hwid, sizeof out->hwid);
    out->lcid = old->lcid;
    out->build = old->build; /* an entry of old's table: tables are never freed */
    out->table = t;
    out->n = t->csvlk_count;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < out->n; i++) {
        const struct products_csvlk *c = &t->csvlks[i];
        if (!c->has_epid)
            continue;
        size_t j = csvlk_index(old, c);
        struct epid e;
        if (j < old->n && old->epid[j][0] && epid_parse(old->epid[j], &e) == 0 && e.group == c->group &&
            e.key_id >= c->key_min && e.key_id <= c->key_max) {
            memcpy(out->epid[i], old->epid[j], sizeof out->epid[i]);
            continue;
        }
        rc = make_epid(out, c, now, rng, out->epid[i]);
        made++;
    }
    if (generated)
        *generated = made;
    return rc;
}

int activation_host_set_epid(struct activation_host *h, const struct products_csvlk *csvlk, const char *text)
{
    size_t i = csvlk_index(h, csvlk);
    struct epid e;
    if (i == SIZE_MAX || i >= h->n || !csvlk->has_epid || strlen(text) >= ACTIVATION_EPID_LEN ||
        epid_parse(text, &e) < 0 || e.group != csvlk->group)
        return KMS_EINVAL;
    snprintf(h->epid[i], sizeof h->epid[i], "%s", text);
    return 0;
}

/* The CSVLK whose ePID answers: one that really activates the KMS id (protocol.md 5.3), else the default of
 * the request's application, else Windows'. Always one with ePID data. */
static const struct products_csvlk *pick_csvlk(const struct kms_request *req, const struct products_kms *kms)
{
    if (kms)
        return kms->epid_csvlk;
    const struct products_csvlk *c = products_epid_csvlk(&req->app_id, &req->kms_id);
    if (c)
        return c;
    return products_app_at(0)->default_csvlk;
}

const char *activation_refusal_name(enum activation_refusal r)
{
    switch (r) {
    case ACTIVATION_REFUSE_NONE:
        return "none";
    case ACTIVATION_REFUSE_UNKNOWN_PRODUCT:
        return "unknown-product";
    case ACTIVATION_REFUSE_NOT_VOLUME:
        return "not-volume";
    case ACTIVATION_REFUSE_CSVLK:
        return "csvlk";
    case ACTIVATION_REFUSE_TIME:
        return "time";
    case ACTIVATION_REFUSE_OTHER:
        return "other";
    }
    return "?";
}

/* The policy's refusal of a request before any answer is built, or ACTIVATION_REFUSE_NONE; with --csvlk,
 * *listed gets the listed group that answers (one with ePID data when there is one). */
static enum activation_refusal refusal(const struct activation_cfg *cfg, const struct kms_request *req,
                                       const struct products_kms *kms, const struct products_csvlk **listed)
{
    *listed = NULL;
    if (cfg->products != ACTIVATION_PRODUCTS_ALL && !kms)
        return ACTIVATION_REFUSE_UNKNOWN_PRODUCT;
    if (cfg->products == ACTIVATION_PRODUCTS_VOLUME && (kms->retail || kms->preview))
        return ACTIVATION_REFUSE_NOT_VOLUME;
    if (cfg->n_csvlks > 0) {
        for (size_t i = 0; kms && i < cfg->n_csvlks; i++) {
            if (!products_csvlk_activates(cfg->csvlks[i], &kms->id))
                continue;
            if (!*listed || (!(*listed)->has_epid && cfg->csvlks[i]->has_epid))
                *listed = cfg->csvlks[i];
        }
        if (!*listed)
            return ACTIVATION_REFUSE_CSVLK;
    }
    if (cfg->time_check && cfg->clock) {
        int64_t now = cfg->clock->now(cfg->clock->ctx);
        int64_t t = timeutil_unix_from_filetime(req->request_time);
        int64_t d = t > now ? t - now : now - t;
        if (d > ACTIVATION_TIME_TOLERANCE)
            return ACTIVATION_REFUSE_TIME;
    }
    return ACTIVATION_REFUSE_NONE;
}

void activation_decide(const struct activation_cfg *cfg, const struct kms_request *req, struct activation_result *out)
{
    memset(out, 0, sizeof *out);
    out->kms = products_kms_by_id(&req->kms_id);
    out->sku = products_sku_by_id(&req->sku_id);
    out->csvlk = pick_csvlk(req, out->kms);
    const struct products_csvlk *listed;
    out->reason = refusal(cfg, req, out->kms, &listed);
    if (out->reason != ACTIVATION_REFUSE_NONE) {
        out->hresult = out->reason == ACTIVATION_REFUSE_TIME ? KMS_HR_INVALID_TIMESTAMP : KMS_HR_ID_MISMATCH;
        return;
    }
    if (listed && listed->has_epid)
        out->csvlk = listed;

    /* Count (protocol.md 5.1): 2N like a healthy genuine host, or the configured count, never below N
     * unless the operator asked for it. */
    uint64_t n = req->required_count;
    uint64_t count = 2 * n;
    if (cfg->client_count >= 0) {
        count = (uint64_t)cfg->client_count;
        if (count < n && !cfg->allow_low_count)
            count = n;
    }
    if (count == 0 && !cfg->allow_low_count)
        count = 1;
    if (count > UINT32_MAX)
        count = UINT32_MAX;

    size_t i = csvlk_index(cfg->host, out->csvlk);
    out->params.epid = i < cfg->host->n ? cfg->host->epid[i] : "";
    out->params.current_count = (uint32_t)count;
    out->params.activation_interval = cfg->activation_interval;
    out->params.renewal_interval = cfg->renewal_interval;
    memcpy(out->params.hwid, cfg->host->hwid, KMS_HWID_LEN);
    out->hresult = out->params.epid[0] ? 0 : KMS_HR_INVALID_DATA; /* cannot happen with a valid table */
    if (out->hresult)
        out->reason = ACTIVATION_REFUSE_OTHER;
}

uint32_t activation_genuine_count(const struct kms_request *req, uint32_t distinct, uint32_t floor)
{
    const struct products_app *app = products_app_by_id(&req->app_id);
    uint64_t cap = 0;
    for (size_t i = 0; app && i < products_kms_count(); i++) {
        const struct products_kms *k = products_kms_at(i);
        if (k->app == app && 2ull * k->n_policy > cap)
            cap = 2ull * k->n_policy;
    }
    if (cap == 0)
        cap = 2ull * req->required_count;
    uint64_t count = distinct < cap ? distinct : cap;
    if (count < floor)
        count = floor;
    return count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
}
