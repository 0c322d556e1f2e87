#include "host_identity.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "timeutil.h"

/* The group kmsd answers a request from (activation.c, pick_csvlk): the KMS id's epid_csvlk, else the
 * application's default group, else Windows'. */
static const struct products_csvlk *answering_csvlk(const struct guid *app_id, const struct guid *kms_id)
{
    const struct products_csvlk *c = products_epid_csvlk(app_id, kms_id);
    return c ? c : products_app_at(0)->default_csvlk;
}

static bool in_range(const struct products_csvlk *c, const struct epid *e)
{
    return e->key_id >= c->key_min && e->key_id <= c->key_max;
}

/* The first group with e's group id (and, with kms_id, activating it): one whose key range holds e's key id
 * first. NULL when there is none. */
static const struct products_csvlk *first_of_group(const struct epid *e, const struct guid *kms_id)
{
    const struct products_csvlk *first = NULL;
    for (size_t i = 0; i < products_csvlk_count(); i++) {
        const struct products_csvlk *c = products_csvlk_at(i);
        if (!c->has_epid || c->group != e->group || (kms_id && !products_csvlk_activates(c, kms_id)))
            continue;
        if (in_range(c, e))
            return c;
        if (!first)
            first = c;
    }
    return first;
}

const struct products_csvlk *host_identity_csvlk(const struct epid *e, const struct guid *app_id,
                                                 const struct guid *kms_id, enum host_identity_fit *fit,
                                                 const struct products_csvlk **answering)
{
    const struct products_csvlk *ans = answering_csvlk(app_id, kms_id);
    const struct products_csvlk *c = NULL;
    enum host_identity_fit how = HOST_IDENTITY_GROUP_ONLY;
    if (answering)
        *answering = ans;
    if (ans && ans->has_epid && ans->group == e->group) {
        c = ans;
        how = HOST_IDENTITY_ANSWERS;
    } else if ((c = first_of_group(e, kms_id)) != NULL) {
        how = HOST_IDENTITY_ACTIVATES;
    } else {
        c = first_of_group(e, NULL);
    }
    if (fit)
        *fit = how;
    return c;
}

/* A bounded text under construction: appends stop at the cap and set full. */
struct text {
    char *p;
    size_t cap, len;
    bool full;
};

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(struct text *t, const char *fmt, ...)
{
    if (t->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len) {
        t->full = true; /* what fitted stays, cut (a note is shown cut; a text that is full is not returned) */
        t->len = n < 0 ? t->len : t->cap - 1;
        t->p[t->len] = '\0';
        return;
    }
    t->len += (size_t)n;
}

/* The source as the header shows it: printable bytes, control bytes as '?', cut to HOST_IDENTITY_SOURCE_MAX. */
static void clean_source(const char *src, char out[HOST_IDENTITY_SOURCE_MAX + 1])
{
    size_t n = 0;
    for (; src && src[n] && n < HOST_IDENTITY_SOURCE_MAX; n++) {
        unsigned char ch = (unsigned char)src[n];
        out[n] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    out[n] = '\0';
}

int host_identity_format(const struct host_identity *id, char *out, size_t cap, char *note, size_t ncap)
{
    struct epid e;
    if (cap == 0)
        return KMS_ENOSPC;
    out[0] = '\0';
    if (ncap)
        note[0] = '\0';
    if (!id->epid || epid_parse(id->epid, &e) < 0)
        return KMS_EINVAL;
    struct text t = {out, cap, 0, false}, n = {note, ncap, 0, ncap == 0};
    char src[HOST_IDENTITY_SOURCE_MAX + 1], when[32];
    clean_source(id->source, src);
    if (timeutil_format_utc(id->saved_at, TIMEUTIL_UTC_TEXT, when) == 0) /* outside the years 0000-9999 */
        snprintf(when, sizeof when, "%lld", (long long)id->saved_at);
    put(&t, "# kmsd identity saved by kmsc from %s at %s (UTC)\n", src, when);
    put(&t, "# the host's ePID and HWID as kmsd configuration: kmsd -c FILE, or add the lines to kmsd's file\n");

    enum host_identity_fit fit;
    const struct products_csvlk *ans;
    const struct products_csvlk *c = host_identity_csvlk(&e, &id->app_id, &id->kms_id, &fit, &ans);
    if (!c) {
        put(&t, "# kmsd refuses this ePID: no CSVLK group of its product table has ePID group id %05u\n",
            (unsigned)e.group);
        put(&t, "# the host's ePID: %s\n", id->epid);
        put(&n, "the ePID is saved as a comment: no CSVLK group of kmsd's table has its group id %05u",
            (unsigned)e.group);
    } else if (epid_validate(&e) < 0) {
        put(&t, "# kmsd refuses this ePID: a field is out of range (channel 03, LCID 1-65535, a real day)\n");
        put(&t, "# epid = %s=%s\n", c->key, id->epid);
        put(&n, "the ePID is saved as a comment: kmsd refuses it (a field is out of range)");
    } else {
        if (fit == HOST_IDENTITY_ACTIVATES) {
            put(&t, "# kmsd answers this product with its %s ePID; with \"csvlk = %s\" it answers with this one\n"
                    "# (and refuses the products %s does not activate)\n",
                ans->key, c->key, c->key);
            put(&n, "kmsd answers this product from its %s ePID unless its configuration has csvlk = %s", ans->key,
                c->key);
        } else if (fit == HOST_IDENTITY_GROUP_ONLY) {
            put(&t, "# no CSVLK group of ePID group id %05u activates this product in kmsd's table: kmsd keeps this\n"
                    "# ePID for %s and answers this product with its %s ePID\n",
                (unsigned)e.group, c->key, ans->key);
            put(&n, "kmsd answers this product from its %s ePID (the ePID's group %05u does not activate it)",
                ans->key, (unsigned)e.group);
        }
        put(&t, "epid = %s=%s\n", c->key, id->epid);
    }
    if (id->has_hwid) {
        char hw[KMS_HWID_TEXT_LEN + 1];
        kms_format_hwid(id->hwid, hw);
        put(&t, "hwid = %s\n", hw);
    } else {
        put(&t, "# no hwid: a protocol 4 or 5 answer carries none (a protocol 6 activation, kmsc -6, has it)\n");
        put(&n, "%sno HWID: a protocol 4 or 5 answer carries none", n.len ? "; " : "");
    }
    if (t.full) {
        out[0] = '\0';
        return KMS_ENOSPC;
    }
    return (int)t.len;
}
