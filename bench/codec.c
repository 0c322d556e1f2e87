/*
 * codec — the protocol core without the network: how many activation requests one core decodes and answers
 * per second, per protocol version, through the daemon's own path (session_on_pdu, which decodes the
 * REQUEST PDU, its NDR stub and the KMS request and asks the activation policy, then session_complete, which
 * encrypts/signs the KMS response and writes the RESPONSE PDU). Random bytes come from the system source as
 * in kmsd; the registry is not involved.
 *
 * Usage: codec [SECONDS]            decode + respond per second for v4, v5 and v6 (default 1 s each)
 *        codec --callgrind V N      N requests of version V (4, 5, 6) through one_request() only, for
 *                                   valgrind --tool=callgrind --toggle-collect=one_request
 *                                   (instructions per request = Ir / N)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "activation.h"
#include "kms.h"
#include "kms_crypto.h"
#include "ndr.h"
#include "products.h"
#include "rpc.h"
#include "session.h"

#define OUT_CAP 1024 /* kmsd's SERVER_WRITE_MAX */

static int rng_fill(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    return kms_random_bytes(buf, len);
}

static struct kms_rng rng = {rng_fill, NULL};
static struct activation_host host;
static struct activation_cfg acfg;
static struct session_cfg scfg;

struct sample {
    uint16_t version;
    size_t len;
    uint8_t pdu[1024];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A bound session and one encoded REQUEST PDU of the given version (Windows 10/11 Enterprise, NDR64). */
static int setup(struct session *s, struct sample *x, uint16_t version)
{
    session_init(s, 0x1688u);
    struct rpc_pdu bind;
    rpc_client_bind(&bind, 1, RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG, true, true);
    uint8_t buf[OUT_CAP], out[OUT_CAP];
    struct wr w;
    wr_init(&w, buf, sizeof buf);
    if (rpc_encode(&bind, &w) != 0)
        return -1;
    struct wr o;
    wr_init(&o, out, sizeof out);
    struct session_event ev;
    if (session_on_pdu(s, &scfg, buf, w.off, &o, &ev) != SESSION_REPLY)
        return -1;

    const struct products_sku *sku = products_find_sku("win10ent");
    if (!sku)
        return -1;
    struct kms_request req;
    memset(&req, 0, sizeof req);
    req.version_major = version;
    req.app_id = sku->kms->app->id;
    req.sku_id = sku->id;
    req.kms_id = sku->kms->id;
    req.required_count = sku->kms->n_policy;
    req.license_status = KMS_LS_OOB_GRACE;
    req.grace_time = 43200;
    req.request_time = 134000000000000000ull;
    if (kms_random_bytes(req.cmid.b, sizeof req.cmid.b) != 0 || kms_request_set_machine_name(&req, "codec") != 0)
        return -1;
    uint8_t iv[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    uint8_t msg[KMS_V56_REQUEST_LEN], stub[NDR64_REQUEST_OVERHEAD + KMS_V56_REQUEST_LEN];
    size_t mlen;
    if (kms_encode_request(&req, iv, msg, sizeof msg, &mlen) != 0)
        return -1;
    wr_init(&w, stub, sizeof stub);
    if (ndr_encode_request(&w, true, msg, mlen) != 0)
        return -1;
    struct rpc_pdu rq;
    rpc_request_init(&rq, 2, 1, 0, stub, w.off);
    struct wr pw;
    wr_init(&pw, x->pdu, sizeof x->pdu);
    if (rpc_encode(&rq, &pw) != 0)
        return -1;
    x->len = pw.off;
    x->version = version;
    return 0;
}

/* One request decoded, decided and answered. Always inlined: a call from one_request could become a tail
 * jump, which callgrind would not count as inside one_request. */
static inline __attribute__((always_inline)) int request_body(struct session *s, const struct sample *x,
                                                              uint8_t *out)
{
    struct wr o;
    wr_init(&o, out, OUT_CAP);
    struct session_event ev;
    if (session_on_pdu(s, &scfg, x->pdu, x->len, &o, &ev) != SESSION_ACTIVATE)
        return -1;
    if (ev.hresult != 0)
        return -1;
    wr_init(&o, out, OUT_CAP);
    if (session_complete(s, &scfg, -1, &o, &ev) != SESSION_REPLY || ev.hresult != 0)
        return -1;
    return (int)o.off;
}

/* The same, as callgrind's toggle point: it counts from this function's entry to its return. The warm-up
 * request (first-use costs: lazy symbol binding, cold caches) goes through request_body directly and is not counted. */
__attribute__((noinline)) int one_request(struct session *s, const struct sample *x, uint8_t *out);
__attribute__((noinline)) int one_request(struct session *s, const struct sample *x, uint8_t *out)
{
    return request_body(s, x, out);
}

static int init_host(void)
{
    if (activation_host_generate(&host, activation_default_build(), 1033, NULL, (int64_t)time(NULL), &rng) != 0)
        return -1;
    acfg.client_count = -1;
    acfg.activation_interval = 120;
    acfg.renewal_interval = 10080;
    acfg.host = &host;
    scfg.bind.ndr32 = true;
    scfg.bind.ndr64 = true;
    scfg.bind.btfn = true;
    snprintf(scfg.sec_addr, sizeof scfg.sec_addr, "1688");
    scfg.max_requests = UINT32_MAX;
    scfg.activation = &acfg;
    scfg.rng = &rng;
    return 0;
}

int main(int argc, char **argv)
{
    if (init_host() != 0) {
        fprintf(stderr, "codec: cannot generate the host identity\n");
        return 1;
    }
    static struct session s;
    static struct sample x;
    uint8_t out[OUT_CAP];
    if (argc == 4 && strcmp(argv[1], "--callgrind") == 0) {
        char *end;
        unsigned long v = strtoul(argv[2], &end, 10), n = strtoul(argv[3], NULL, 10);
        if (*end || v < 4 || v > 6 || n == 0 || n > 10000000ul) {
            fprintf(stderr, "usage: codec --callgrind 4|5|6 N\n");
            return 2;
        }
        if (setup(&s, &x, (uint16_t)v) != 0 || request_body(&s, &x, out) < 0) {
            fprintf(stderr, "codec: setup failed\n");
            return 1;
        }
        for (unsigned long i = 0; i < n; i++)
            if (one_request(&s, &x, out) < 0)
                return 1;
        printf("v%lu: %lu requests\n", v, n);
        return 0;
    }
    double secs = 1.0;
    if (argc == 2) {
        char *end;
        secs = strtod(argv[1], &end);
        if (*end || !(secs > 0.0 && secs <= 60.0)) {
            fprintf(stderr, "usage: codec [SECONDS (0..60]] | --callgrind 4|5|6 N\n");
            return 2;
        }
    } else if (argc != 1) {
        fprintf(stderr, "usage: codec [SECONDS (0..60]] | --callgrind 4|5|6 N\n");
        return 2;
    }
    printf("| version | requests/s | us/request |\n|---|---:|---:|\n");
    for (uint16_t v = 4; v <= 6; v++) {
        if (setup(&s, &x, v) != 0 || one_request(&s, &x, out) < 0) {
            fprintf(stderr, "codec: v%u setup failed\n", v);
            return 1;
        }
        unsigned long n = 0;
        double t0 = now_s(), t;
        do {
            for (int i = 0; i < 256; i++)
                if (one_request(&s, &x, out) < 0) {
                    fprintf(stderr, "codec: v%u request failed\n", v);
                    return 1;
                }
            n += 256;
            t = now_s();
        } while (t - t0 < secs);
        printf("| v%u | %.0f | %.2f |\n", v, (double)n / (t - t0), (t - t0) * 1e6 / (double)n);
    }
    return 0;
}
