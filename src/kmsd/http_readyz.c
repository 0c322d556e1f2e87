/* /readyz: a real protocol-6 activation against kmsd's own first KMS listener (kmsc_health), its result reused for
 * HTTP_READYZ_CACHE_MS. A fresh result is answered on libmicrohttpd's thread; a probe runs on the readyz lane (one
 * at a time), so that neither /healthz nor a /readyz answerable from the cache ever waits for it. */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "registry_json.h"

/* A probe's result, copied out of the cache so that probe_mu is held only for the copy. */
struct probe_copy {
    enum kmsc_status st;
    char msg[KMSC_MSG_MAX];
    double rtt_ms;
    int64_t wall;
};

/* With probe_mu held. */
static void copy(const struct http_server *h, struct probe_copy *c)
{
    c->st = h->probe_status;
    snprintf(c->msg, sizeof c->msg, "%s", h->probe_msg);
    c->rtt_ms = h->probe_rtt_ms;
    c->wall = h->probe_wall;
}

/* With probe_mu held: whether the last probe is recent enough to answer with. */
static bool fresh(const struct http_server *h)
{
    return h->probe_at_ms != 0 && http_now_ms() - h->probe_at_ms < HTTP_READYZ_CACHE_MS;
}

static void answer(const struct http_server *h, struct http_reply *out, const struct probe_copy *c, bool cached)
{
    char at[32], target[KMSC_HOST_MAX + KMSC_PORT_MAX + 8];
    registry_json_time(c->wall, at);
    snprintf(target, sizeof target, strchr(h->probe_target.host, ':') ? "[%s]:%s" : "%s:%s", h->probe_target.host,
             h->probe_target.port);
    if (c->st != KMSC_OK) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b}", "status", "not_ready", "target", target, "error", c->msg,
                              "checked_at", at, "cached", cached);
        http_reply_json(out, 503, j);
        return;
    }
    json_t *j = json_pack("{s:s, s:s, s:f, s:s, s:b}", "status", "ready", "target", target, "rtt_ms", c->rtt_ms,
                          "checked_at", at, "cached", cached);
    http_reply_json(out, 200, j);
}

/* From the cache when it is fresh (true). probe_mu is held only for the copy, never during a probe. */
static bool from_cache(struct http_server *h, struct http_reply *out)
{
    struct probe_copy c;
    pthread_mutex_lock(&h->probe_mu);
    bool ok = fresh(h);
    if (ok)
        copy(h, &c);
    pthread_mutex_unlock(&h->probe_mu);
    if (ok)
        answer(h, out, &c, true);
    return ok;
}

bool http_readyz_cached(struct http_server *h, struct http_reply *out, const struct httpq_req *r)
{
    static const char *const none[] = {NULL};
    struct httpq_error e;
    if (httpq_only(r, none, &e) < 0) {
        http_reply_bad(out, &e);
        return true;
    }
    if (!h->have_probe) {
        http_reply_error(out, 503, "not_ready", NULL, "no KMS listener to probe");
        return true;
    }
    return from_cache(h, out);
}

void http_readyz_probe(struct http_server *h, struct http_reply *out, const struct httpq_req *r)
{
    (void)r;                /* checked by http_readyz_cached */
    if (from_cache(h, out)) /* a probe finished while this request waited for the lane */
        return;
    /* Only the readyz lane probes, so one at a time, and without probe_mu. */
    struct probe_copy c = {.rtt_ms = 0};
    struct kmsc_result *res = malloc(sizeof *res);
    if (res) {
        c.st = kmsc_health(&h->probe_target, HTTP_READYZ_TIMEOUT_MS, res);
        snprintf(c.msg, sizeof c.msg, "%s", res->msg);
        c.rtt_ms = res->rtt_ms;
        free(res);
    } else {
        c.st = KMSC_INTERNAL;
        snprintf(c.msg, sizeof c.msg, "out of memory");
    }
    c.wall = (int64_t)time(NULL);
    metrics_inc(&h->cfg.m->readyz_probes);
    if (c.st != KMSC_OK) {
        metrics_inc(&h->cfg.m->readyz_failures);
        log_warn("readyz: the self-activation against %s port %s failed: %s", h->probe_target.host,
                 h->probe_target.port, c.msg);
    }
    pthread_mutex_lock(&h->probe_mu);
    h->probe_status = c.st;
    snprintf(h->probe_msg, sizeof h->probe_msg, "%s", c.msg);
    h->probe_rtt_ms = c.rtt_ms;
    h->probe_wall = c.wall;
    h->probe_at_ms = http_now_ms();
    pthread_mutex_unlock(&h->probe_mu);
    answer(h, out, &c, false);
}
