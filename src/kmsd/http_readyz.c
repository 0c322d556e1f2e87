/* /readyz: a real protocol-6 activation against kmsd's own first KMS listener (kmsc_health), one at a time,
 * its result reused for HTTP_READYZ_CACHE_MS. */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "registry_json.h"

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

enum MHD_Result http_readyz(struct http_server *h, struct MHD_Connection *con, const struct httpq_req *r)
{
    static const char *const none[] = {NULL};
    struct httpq_error e;
    if (httpq_only(r, none, &e) < 0)
        return http_send_bad(h, con, &e);
    if (!h->have_probe)
        return http_send_error(h, con, 503, "not_ready", NULL, "no KMS listener to probe");
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
        return http_send_json(h, con, 503, j);
    }
    json_t *j = json_pack("{s:s, s:s, s:f, s:s, s:b}", "status", "ready", "target", target, "rtt_ms", rtt,
                          "checked_at", at, "cached", cached);
    return http_send_json(h, con, 200, j);
}

