#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guid.h"
#include "products.h"
#include "rpc.h"

#define HEALTH_PRODUCT "win10ent"

enum kmsc_status kmsc_health(const struct kmsc_target *t, int timeout_ms, struct kmsc_result *res)
{
    memset(res, 0, sizeof *res);
    const struct products_sku *sku = products_find_sku(HEALTH_PRODUCT);
    struct kmsc_conn *c = malloc(sizeof *c); /* ~6 KB: kept off the (small) stack of kmsd's HTTP thread */
    if (!sku || !sku->kms || !c) {
        free(c);
        res->status = KMSC_INTERNAL;
        snprintf(res->msg, sizeof res->msg, "%s", c ? "probe product missing from the table" : "out of memory");
        return KMSC_INTERNAL;
    }
    struct kms_request req;
    memset(&req, 0, sizeof req);
    req.app_id = sku->kms->app->id;
    req.sku_id = sku->id;
    req.kms_id = sku->kms->id;
    req.version_major = 6;
    req.version_minor = 0;
    req.required_count = sku->kms->n_policy;
    req.license_status = KMS_LS_OOB_GRACE;
    req.grace_time = 43200; /* 30 days, as a fresh volume client reports */
    (void)guid_parse(&req.cmid, KMSC_HEALTH_CMID);
    (void)kms_request_set_machine_name(&req, KMSC_HEALTH_WORKSTATION);

    kmsc_conn_init(c, timeout_ms);
    enum kmsc_status st = kmsc_connect(c, t, res);
    if (st == KMSC_OK)
        st = kmsc_bind(c, true, true, RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG, res);
    if (st == KMSC_OK)
        st = kmsc_activate(c, &req, res);
    kmsc_close(c);
    free(c);
    if (st == KMSC_COUNT) {
        st = KMSC_OK;
        res->msg[0] = '\0';
    }
    res->status = st;
    return st;
}
