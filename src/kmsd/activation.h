/*
 * activation — the host's policy for one activation request, and the host identity it answers with.
 *
 * Pure: the identity is generated once from a random source and the current time passed in; deciding a
 * request reads only the request, the configuration and the identity. The identity is one ePID per CSVLK
 * group that has ePID data (all with the same host build and LCID, as one genuine host would have) and
 * one HWID. It is made for one product table (the host's `table`, whose CSVLK indexes its ePIDs); when kmsd swaps
 * the table (--products-file and a reload) it makes a new host for the new table with activation_host_rebase,
 * which keeps every ePID whose CSVLK the new table still has alike.
 */
#ifndef KMSD_ACTIVATION_H
#define KMSD_ACTIVATION_H

#include <stdbool.h>
#include <stdint.h>

#include "kms.h"
#include "products.h"
#include "products_load.h"
#include "rng.h"

#define ACTIVATION_MAX_CSVLK PRODUCTS_LOAD_CSVLK_MAX /* a table has at most that many CSVLKs (products_load.h) */
#define ACTIVATION_EPID_LEN 64

struct activation_host {
    uint8_t hwid[KMS_HWID_LEN];
    uint32_t lcid;
    const struct products_build *build;
    const struct products_tables *table; /* the product table whose CSVLKs epid[] follows */
    size_t n;                            /* table->csvlk_count */
    char epid[ACTIVATION_MAX_CSVLK][ACTIVATION_EPID_LEN]; /* by CSVLK index; "" when it has no ePID data */
};

/* --products: which KMS ids the host answers at all. */
enum activation_products {
    ACTIVATION_PRODUCTS_ALL,    /* every id, unknown ones too (the default: answer like a permissive host) */
    ACTIVATION_PRODUCTS_KNOWN,  /* ids of the product table only */
    ACTIVATION_PRODUCTS_VOLUME, /* known ids that are neither retail nor preview groups */
};

/* Why a request was refused by the policy (the HRESULT says what the client sees). */
enum activation_refusal {
    ACTIVATION_REFUSE_NONE,
    ACTIVATION_REFUSE_UNKNOWN_PRODUCT, /* --products known|volume: KMS id not in the table -> 0xC004F042 */
    ACTIVATION_REFUSE_NOT_VOLUME,      /* --products volume: retail or preview group -> 0xC004F042 */
    ACTIVATION_REFUSE_CSVLK,           /* --csvlk: no listed group activates the id -> 0xC004F042 */
    ACTIVATION_REFUSE_TIME,            /* --time-check: request time off by more than 4 h -> 0xC004F06C */
    ACTIVATION_REFUSE_OTHER,           /* no ePID to answer with (cannot happen with a valid table) */
};

/* Seconds the request time may differ from the host clock with --time-check (a genuine host's window). */
#define ACTIVATION_TIME_TOLERANCE (4 * 3600)

/* The clock, passed in: Unix seconds. */
struct activation_clock {
    int64_t (*now)(void *ctx);
    void *ctx;
};

struct activation_cfg {
    int32_t client_count;  /* -1: 2 x the request's N */
    bool allow_low_count;  /* let client_count go below the request's N */
    uint32_t activation_interval;
    uint32_t renewal_interval;
    const struct activation_host *host;
    enum activation_products products;
    const struct products_csvlk *const *csvlks; /* --csvlk: only ids these groups activate; n_csvlks 0: all */
    size_t n_csvlks;
    bool time_check;                      /* --time-check */
    const struct activation_clock *clock; /* needed with time_check */
};

/* What was decided for one request. */
struct activation_result {
    uint32_t hresult;                 /* 0: answer with params; else refuse with this HRESULT */
    struct kms_response_params params;
    const struct products_kms *kms;   /* NULL when the KMS id is not in the table */
    const struct products_sku *sku;   /* NULL when the SKU is not in the table */
    const struct products_csvlk *csvlk; /* the group whose ePID answered */
    enum activation_refusal reason;     /* ACTIVATION_REFUSE_NONE when hresult is 0 */
};

/* "unknown-product", "not-volume", "csvlk", "time", "other"; "none" for ACTIVATION_REFUSE_NONE. */
const char *activation_refusal_name(enum activation_refusal r);

/*
 * The default host build: the newest ePID build in the product table, which can run every CSVLK (its
 * release is not older than theirs) and negotiates NDR64 like every build from 9200 on.
 */
const struct products_build *activation_default_build(void);

/*
 * Generates the identity for the product table in use (products_current()): hwid (random unless hwid != NULL), one
 * ePID per CSVLK with ePID data for the given host build and LCID, dated between max(CSVLK release, build release)
 * and now. Returns 0, KMS_EINVAL (build not usable, LCID 0, more CSVLKs than ACTIVATION_MAX_CSVLK) or the rng's error.
 */
int activation_host_generate(struct activation_host *h, const struct products_build *build, uint32_t lcid,
                             const uint8_t *hwid, int64_t now, const struct kms_rng *rng);

/*
 * The same host for product table t, into out (which must not be old): the HWID, LCID and host build of old, and
 * for each CSVLK of t with ePID data the ePID old has for the CSVLK of the same key when its group id and key id
 * still fit t's CSVLK, else a new one as activation_host_generate makes it. *generated (may be NULL) gets how many
 * were new. Returns 0, KMS_EINVAL (t has more CSVLKs than ACTIVATION_MAX_CSVLK) or the rng's error.
 */
int activation_host_rebase(struct activation_host *out, const struct activation_host *old,
                           const struct products_tables *t, int64_t now, const struct kms_rng *rng, size_t *generated);

/* Replaces the ePID of one CSVLK (already validated by the caller; an entry of h->table, or of another table whose
 * CSVLK of the same key h->table has). Returns 0 or KMS_EINVAL (no ePID data, too long, or group id differing from
 * the CSVLK's). */
int activation_host_set_epid(struct activation_host *h, const struct products_csvlk *csvlk, const char *epid);

/* Decides the answer to a decoded request (protocol.md 5.1-5.3). Never fails: unknown products get the
 * application's default CSVLK, or Windows' when the application is unknown too (unless --products refuses
 * them). Refusals, in this order: --products, --csvlk (0xC004F042 as a genuine host whose key does not cover
 * the product), then --time-check (0xC004F06C). With --csvlk the ePID comes from the first listed group that
 * activates the id and has ePID data. */
void activation_decide(const struct activation_cfg *cfg, const struct kms_request *req, struct activation_result *out);

/*
 * Genuine-host counting (issue: registry): the number of distinct clients seen in the counting window for the
 * request's application, capped at twice the largest threshold N of that application's KMS ids (50 for
 * Windows, 10 for Office; twice the request's own N when the application is unknown) and raised to floor.
 */
uint32_t activation_genuine_count(const struct kms_request *req, uint32_t distinct, uint32_t floor);

#endif
