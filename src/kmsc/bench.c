/*
 * kmsc bench — load generator. This file sets one run up (target, request templates, workers, loop) and
 * tears it down; bench_int.h says where the rest is.
 *
 * Bounds: at most BENCH_MAX_WORKERS workers, BENCH_MAX_HOLD idle connections, -d at most BENCH_MAX_SECONDS,
 * -N at most BENCH_MAX_ACTIVATIONS; every connect and reply waits at most --timeout; a tick timer enforces
 * the deadlines, the duration and the progress line.
 */
#include "bench.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"
#include "err.h"
#include "kms_client.h"
#include "outcome.h"
#include "rng.h"

/* Resolves the target once (the first address of its family); 0 or a negative code (status KMSC_CONNECT). */
static int resolve(struct bench *b, struct kmsc_result *res)
{
    struct addrinfo *list = NULL;
    if (kmsc_resolve(&b->o->target, &list, res) != KMSC_OK)
        return outcome_code(res);
    memcpy(&b->addr, list->ai_addr, list->ai_addrlen);
    char host[INET6_ADDRSTRLEN + 16], serv[8];
    if (getnameinfo(list->ai_addr, list->ai_addrlen, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(b->peer, sizeof b->peer, "%.60s:%s", b->o->target.host, b->o->target.port);
    else if (list->ai_family == AF_INET6)
        snprintf(b->peer, sizeof b->peer, "[%s]:%s", host, serv);
    else
        snprintf(b->peer, sizeof b->peer, "%s:%s", host, serv);
    freeaddrinfo(list);
    return 0;
}

/* The i-th CMID of --seed s: a version-4 UUID whose bits come from rng_mix64 over (s, i), the same in every run and
 * on every host. For one seed the first 64 bits are a bijection of i (two bijections around an addition), so two
 * CMIDs of a pool differ unless they differ only in the 4 version bits replaced (about 4e-7 for a million). */
static void seeded_uuid(uint64_t seed, uint64_t i, struct guid *g)
{
    uint64_t hi = rng_mix64(rng_mix64(seed ^ UINT64_C(0x9e3779b97f4a7c15)) + i);
    uint64_t lo = rng_mix64(hi ^ UINT64_C(0xd1b54a32d192ed03));
    for (int k = 0; k < 8; k++) {
        g->b[k] = (uint8_t)(hi >> (8 * k));
        g->b[8 + k] = (uint8_t)(lo >> (8 * k));
    }
    kms_client_uuid_v4(g);
}

/* The i-th CMID of the run's set-up: from --seed, or random. 0 or KMS_ECRYPTO. */
static int make_cmid(const struct bench_opts *o, uint64_t i, struct guid *g)
{
    if (o->seeded) {
        seeded_uuid(o->seed, i, g);
        return 0;
    }
    return kmsc_random_uuid(g) != 0 ? KMS_ECRYPTO : 0;
}

/* The request template of each product of the mix, and the CMIDs. Returns 0, KMS_EINVAL (workstation name),
 * KMS_ECRYPTO or KMS_ENOMEM. */
static int build_templates(struct bench *b)
{
    const struct bench_opts *o = b->o;
    for (unsigned k = 0; k < o->pmix.n; k++) {
        struct kms_request *r = &b->templ[k];
        const struct products_sku *s = o->products[k];
        memset(r, 0, sizeof *r);
        r->app_id = s->kms->app->id;
        r->sku_id = s->id;
        r->kms_id = s->kms->id;
        r->version_major = (uint16_t)s->kms->protocol;
        r->required_count = s->kms->n_policy;
        r->license_status = KMS_LS_OOB_GRACE;
        r->grace_time = 43200u;
        int rc = kms_request_set_machine_name(r, "kmsc-bench");
        if (rc < 0)
            return rc;
    }
    if (make_cmid(o, UINT64_MAX, &b->cmid_base) != 0) /* the distinct CMIDs' base: never a pool's index */
        return KMS_ECRYPTO;
    if (o->cmid_pool) {
        b->cmids = calloc(o->cmid_pool, sizeof *b->cmids);
        if (!b->cmids)
            return KMS_ENOMEM;
        for (unsigned long i = 0; i < o->cmid_pool; i++)
            if (make_cmid(o, i, &b->cmids[i]) != 0)
                return KMS_ECRYPTO;
    }
    return 0;
}

static void bench_free(struct bench *b)
{
    free(b->w);
    free(b->h);
    free(b->cmids);
    free(b);
}

/* A run of options o: target, templates, workers and idle connections. Returns it, or NULL (res says why). */
static struct bench *bench_new(const struct bench_opts *o, struct kmsc_result *res)
{
    struct bench *b = calloc(1, sizeof *b);
    if (!b) {
        kms_client_fail(res, KMSC_INTERNAL, KMS_ENOMEM, "out of memory");
        return NULL;
    }
    b->o = o;
    b->worst = KMSC_OK;
    int rc = resolve(b, res);
    if (rc == 0) {
        rc = build_templates(b);
        if (rc < 0)
            kms_client_fail(res, KMSC_INTERNAL, rc, "cannot build the requests (random source or product table)");
    }
    if (rc == 0) {
        b->w = calloc(o->workers, sizeof *b->w);
        b->h = o->hold ? calloc(o->hold, sizeof *b->h) : NULL;
        if (!b->w || (o->hold && !b->h)) {
            kms_client_fail(res, KMSC_INTERNAL, KMS_ENOMEM, "out of memory");
            rc = KMS_ENOMEM;
        }
    }
    if (rc < 0) {
        bench_free(b);
        return NULL;
    }
    return b;
}

/* Runs the loop until every worker is done; 0, or a negative libuv code when the loop or its timer cannot be
 * set up (then nothing ran). */
static int bench_run(struct bench *b)
{
    const struct bench_opts *o = b->o;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    if (rc < 0)
        return rc;
    b->loop = &loop;
    b->progress = !o->quiet && isatty(STDERR_FILENO);
    b->live = o->workers;
    for (unsigned long i = 0; i < o->workers; i++) {
        b->w[i].b = b;
        b->w[i].st = W_IDLE;
    }
    rc = uv_timer_init(&loop, &b->tick); /* cannot fail on an initialised loop, checked all the same */
    if (rc < 0) {
        (void)uv_loop_close(&loop);
        return rc;
    }
    b->tick.data = b;
    rc = uv_timer_start(&b->tick, bench_on_tick, BENCH_TICK_MS, BENCH_TICK_MS);
    if (rc == 0)
        bench_hold_next(b); /* starts the load once the idle connections are open (at once without --hold) */
    else
        uv_close((uv_handle_t *)&b->tick, NULL);
    int run_rc = uv_run(&loop, UV_RUN_DEFAULT);
    (void)run_rc; /* non-zero only when uv_stop() left handles active; bench never calls it */
    (void)uv_loop_close(&loop);
    return rc;
}

/* The end of the run: the progress line's last state, the distinct error messages and the result. */
static void bench_report(const struct bench *b)
{
    const struct bench_opts *o = b->o;
    double el = b->t_end > b->t0 ? (double)(b->t_end - b->t0) / 1e9 : 0.0;
    if (b->progress)
        bench_print_progress(b, b->t_end ? b->t_end : uv_hrtime(), true);
    if (!o->quiet)
        for (unsigned i = 0; i < b->messages; i++)
            fprintf(stderr, "kmsc bench: %s\n", b->message[i]);
    if (o->json)
        bench_print_json(b, el);
    else
        bench_print_text(b, el);
}

int kmsc_bench(int argc, char **argv, struct kmsc_result *res)
{
    static struct bench_opts o;
    int rc = bench_parse_args(&o, argc, argv, res);
    if (rc < 0)
        return rc;
    if (o.help) {
        bench_help();
        return 0;
    }
    struct bench *b = bench_new(&o, res);
    if (!b)
        return outcome_code(res);
    rc = bench_run(b);
    if (rc < 0) {
        bench_free(b);
        kms_client_fail(res, KMSC_INTERNAL, rc, "cannot set up the event loop: %s", uv_strerror(rc));
        return outcome_code(res);
    }
    bench_report(b);
    enum kmsc_status worst = b->worst;
    bench_free(b);
    if (fflush(stdout) != 0 && worst == KMSC_OK)
        return outcome_quiet(res, KMSC_INTERNAL, -EIO);
    if (worst != KMSC_OK) /* each failure was counted, and its message printed above */
        return outcome_quiet(res, worst, -EPROTO);
    return 0;
}
