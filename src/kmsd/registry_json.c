#include "registry_json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kms.h"
#include "products.h"
#include "timeutil.h"

/* ---- text ---- */

/* Length of the valid UTF-8 sequence at p (n bytes available), or 0 when invalid (overlong forms, surrogates
 * and code points above U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Stops before a sequence that would not fit, so out is never cut inside a character. */
void registry_json_clean_text(const char *in, size_t inlen, char *out, size_t cap, bool printable)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, o = 0;
    while (i < inlen && p[i] != '\0') {
        size_t l = utf8_seq(p + i, inlen - i);
        if (l == 0 || (printable && l == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
            if (o + 1 >= cap)
                break;
            out[o++] = '?';
            i += l ? l : 1;
            continue;
        }
        if (o + l >= cap)
            break;
        memcpy(out + o, p + i, l);
        o += l;
        i += l;
    }
    out[o] = '\0';
}

void registry_json_time(int64_t t, char out[32])
{
    if (timeutil_format_utc(t, TIMEUTIL_UTC_ISO, out) == 0)
        snprintf(out, 32, "1970-01-01T00:00:00Z");
}

static void iso_day(int64_t day, char out[TIMEUTIL_UTC_TEXT_MAX])
{
    if (day < TIMEUTIL_UTC_MIN / SECONDS_PER_DAY || day > TIMEUTIL_UTC_MAX / SECONDS_PER_DAY ||
        timeutil_format_utc(day * SECONDS_PER_DAY, TIMEUTIL_UTC_DAY, out) == 0)
        snprintf(out, TIMEUTIL_UTC_TEXT_MAX, "1970-01-01");
}

/* A JSON string of a fixed-size text field that should be UTF-8. */
static json_t *jtext(const char *text, size_t cap)
{
    char buf[512];
    registry_json_clean_text(text, cap, buf, sizeof buf, false);
    return json_string(buf);
}

/* ---- a row ---- */

json_t *registry_json_client(const struct store_client *c)
{
    char cmid[GUID_TEXT_LEN + 1], app[GUID_TEXT_LEN + 1], sku[GUID_TEXT_LEN + 1], kms[GUID_TEXT_LEN + 1];
    char first[32], last[32], version[16];
    guid_format(&c->cmid, cmid);
    guid_format(&c->app_id, app);
    guid_format(&c->sku_id, sku);
    guid_format(&c->kms_id, kms);
    registry_json_time(c->first_seen, first);
    registry_json_time(c->last_seen, last);
    snprintf(version, sizeof version, "%u.%u", (unsigned)c->version_major, (unsigned)c->version_minor);
    enum store_app_group g = store_app_group_of(&c->app_id);
    const struct products_sku *s = products_sku_by_id(&c->sku_id);
    return json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:s, s:I, s:s, s:I, s:b, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}",
                     "cmid", cmid, "application_id", app, "application",
                     g != STORE_APP_OTHER ? store_app_group_key(g) : NULL, "sku_id", sku, "sku", s ? s->name : NULL,
                     "kms_id", kms, "license_status", (json_int_t)c->license_status, "license_status_name",
                     kms_license_status_name(c->license_status), "grace_time", (json_int_t)c->grace_time, "is_vm",
                     c->is_vm != 0, "version", version, "first_seen", first, "last_seen", last, "requests",
                     (json_int_t)c->request_count, "product", jtext(c->product, sizeof c->product), "workstation",
                     jtext(c->workstation, sizeof c->workstation), "address", jtext(c->address, sizeof c->address),
                     "epid", jtext(c->epid, sizeof c->epid), "host", jtext(c->host, sizeof c->host));
}

/* ---- the statistics ---- */

struct daily_ctx {
    int64_t first;
    uint64_t answered[REGISTRY_JSON_DAYS], refused[REGISTRY_JSON_DAYS];
};

static int daily_cb(void *ctx, int64_t day, uint64_t answered, uint64_t refused)
{
    struct daily_ctx *d = ctx;
    if (day >= d->first && day < d->first + REGISTRY_JSON_DAYS) {
        d->answered[day - d->first] = answered;
        d->refused[day - d->first] = refused;
    }
    return 0;
}

static int group_cb(void *ctx, enum store_app_group g, const char *product, uint64_t n)
{
    json_t *j = json_pack("{s:s, s:o, s:I}", "application", store_app_group_key(g), "product",
                          jtext(product, strlen(product) + 1), "clients", (json_int_t)n);
    return j ? json_array_append_new(ctx, j) : -1;
}

static json_t *daily_json(const struct daily_ctx *d)
{
    json_t *daily = json_array();
    for (int i = 0; i < REGISTRY_JSON_DAYS && daily; i++) {
        char day[TIMEUTIL_UTC_TEXT_MAX];
        iso_day(d->first + i, day);
        if (json_array_append_new(daily, json_pack("{s:s, s:I, s:I}", "date", day, "answered",
                                                   (json_int_t)d->answered[i], "refused",
                                                   (json_int_t)d->refused[i])) != 0) {
            json_decref(daily);
            daily = NULL;
        }
    }
    return daily;
}

static json_t *stats_object(const struct store_stats *st, json_t *groups, const struct daily_ctx *d)
{
    json_t *status = json_object(), *counts = json_object();
    for (uint32_t k = 0; k < KMS_LICENSE_STATUS_COUNT && status; k++)
        json_object_set_new(status, kms_license_status_name(k), json_integer((json_int_t)st->by_status[k]));
    for (int g = 0; g < STORE_APP_GROUPS && counts; g++)
        json_object_set_new(counts, store_app_group_key((enum store_app_group)g),
                            json_integer((json_int_t)st->current_count[g]));
    return json_pack("{s:I, s:I, s:I, s:I, s:i, s:o, s:o, s:o, s:o}", "requests", (json_int_t)st->requests,
                     "failed", (json_int_t)st->failed, "unrecorded", (json_int_t)st->unrecorded, "clients",
                     (json_int_t)st->clients, "count_window_days", STORE_COUNT_WINDOW_DAYS, "by_license_status",
                     status, "current_count", counts, "by_product", groups, "daily", daily_json(d));
}

int registry_json_stats(struct store *s, int64_t now, json_t **out)
{
    struct store_stats st;
    struct daily_ctx d;
    memset(&d, 0, sizeof d);
    d.first = now / SECONDS_PER_DAY - (REGISTRY_JSON_DAYS - 1);
    *out = NULL;
    json_t *groups = json_array();
    if (!groups)
        return -ENOMEM;
    int rc = store_stats_get(s, now, &st);
    if (rc == 0)
        rc = store_daily(s, d.first, d.first + REGISTRY_JSON_DAYS - 1, daily_cb, &d);
    if (rc == 0)
        rc = store_groups(s, group_cb, groups);
    if (rc != 0) {
        json_decref(groups);
        return rc < 0 ? rc : -ENOMEM;
    }
    *out = stats_object(&st, groups, &d);
    return *out ? 0 : -ENOMEM;
}
