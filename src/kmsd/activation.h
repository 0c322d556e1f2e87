/*
 * activation — the host's policy for one activation request, and the host identity it answers with.
 *
 * Pure: the identity is generated once from a random source and the current time passed in; deciding a
 * request reads only the request, the configuration and the identity. The identity is one ePID per CSVLK
 * group that has ePID data (all with the same host build and LCID, as one genuine host would have) and
 * one HWID; it stays fixed for the life of the process.
 */
#ifndef KMSD_ACTIVATION_H
#define KMSD_ACTIVATION_H

#include <stdbool.h>
#include <stdint.h>

#include "kms.h"
#include "products.h"
#include "rng.h"

#define ACTIVATION_MAX_CSVLK 128
#define ACTIVATION_EPID_LEN 64

struct activation_host {
    uint8_t hwid[KMS_HWID_LEN];
    uint32_t lcid;
    const struct products_build *build;
    size_t n;                                     /* products_csvlk_count() */
    char epid[ACTIVATION_MAX_CSVLK][ACTIVATION_EPID_LEN]; /* by CSVLK index; "" when it has no ePID data */
};

struct activation_cfg {
    int32_t client_count;  /* -1: 2 x the request's N */
    bool allow_low_count;  /* let client_count go below the request's N */
    uint32_t activation_interval;
    uint32_t renewal_interval;
    const struct activation_host *host;
};

/* What was decided for one request. */
struct activation_result {
    uint32_t hresult;                 /* 0: answer with params; else refuse with this HRESULT */
    struct kms_response_params params;
    const struct products_kms *kms;   /* NULL when the KMS id is not in the table */
    const struct products_sku *sku;   /* NULL when the SKU is not in the table */
    const struct products_csvlk *csvlk; /* the group whose ePID answered */
};

/*
 * The default host build: the newest ePID build in the product table, which can run every CSVLK (its
 * release is not older than theirs) and negotiates NDR64 like every build from 9200 on.
 */
const struct products_build *activation_default_build(void);

/*
 * Generates the identity: hwid (random unless hwid != NULL), one ePID per CSVLK with ePID data for the
 * given host build and LCID, dated between max(CSVLK release, build release) and now.
 * Returns 0, KMS_EINVAL (build not usable, LCID 0) or the rng's error.
 */
int activation_host_generate(struct activation_host *h, const struct products_build *build, uint32_t lcid,
                             const uint8_t *hwid, int64_t now, const struct kms_rng *rng);

/* Replaces the ePID of one CSVLK (already validated by the caller). Returns 0 or KMS_EINVAL (no ePID data,
 * too long, or group id differing from the CSVLK's). */
int activation_host_set_epid(struct activation_host *h, const struct products_csvlk *csvlk, const char *epid);

/* Decides the answer to a decoded request (protocol.md 5.1-5.3). Never fails: unknown products get the
 * application's default CSVLK, or Windows' when the application is unknown too. */
void activation_decide(const struct activation_cfg *cfg, const struct kms_request *req, struct activation_result *out);

/*
 * Genuine-host counting (issue: registry): the number of distinct clients seen in the counting window for the
 * request's application, capped at twice the largest threshold N of that application's KMS ids (50 for
 * Windows, 10 for Office; twice the request's own N when the application is unknown) and raised to floor.
 */
uint32_t activation_genuine_count(const struct kms_request *req, uint32_t distinct, uint32_t floor);

#endif
