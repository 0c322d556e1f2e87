/*
 * kmsc bench — load generator. This file sets one run up (target, request templates, workers, loop) and
 * tears it down; bench_int.h says where the rest is.
 *
 * Bounds: at most BENCH_MAX_WORKERS workers, BENCH_MAX_HOLD idle connections, -d at most BENCH_MAX_SECONDS,
 * -N at most BENCH_MAX_ACTIVATIONS; every connect and reply waits at most --timeout; a tick timer enforces
 * the deadlines, the duration and the progress line.
 */
#include "bench.h"

#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"

/* Resolves the target once (the first address); 0 or KMSC_CONNECT (printed). */
static int resolve(struct bench *b)
{
    struct addrinfo hints, *list = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(b->o->target.host, b->o->target.port, &hints, &list);
    if (rc != 0 || !list) {
        fprintf(stderr, "kmsc bench: cannot resolve '%s': %s\n", b->o->target.host, gai_strerror(rc));
        return KMSC_CONNECT;
    }
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

/* The request template of each product of the mix. */
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
        if (kms_request_set_machine_name(r, "kmsc-bench") != 0)
            return KMSC_INTERNAL;
    }
    if (kmsc_random_uuid(&b->cmid_base) != 0)
        return KMSC_INTERNAL;
    if (o->cmid_pool) {
        b->cmids = calloc(o->cmid_pool, sizeof *b->cmids);
        if (!b->cmids)
            return KMSC_INTERNAL;
        for (unsigned long i = 0; i < o->cmid_pool; i++)
            if (kmsc_random_uuid(&b->cmids[i]) != 0)
                return KMSC_INTERNAL;
    }
    return 0;
}

int kmsc_bench_main(int argc, char **argv)
{
    static struct bench_opts o;
    int rc = bench_parse_args(&o, argc, argv);
    if (rc < 0)
        return 0;
    if (rc)
        return rc;
    struct bench *b = calloc(1, sizeof *b);
    if (!b) {
        fputs("kmsc bench: out of memory\n", stderr);
        return KMSC_INTERNAL;
    }
    b->o = &o;
    b->worst = KMSC_OK;
    rc = resolve(b);
    if (rc == 0) {
        rc = build_templates(b);
        if (rc)
            fputs("kmsc bench: cannot build the requests (random source or product table)\n", stderr);
    }
    if (rc == 0) {
        b->w = calloc(o.workers, sizeof *b->w);
        b->h = o.hold ? calloc(o.hold, sizeof *b->h) : NULL;
        if (!b->w || (o.hold && !b->h)) {
            fputs("kmsc bench: out of memory\n", stderr);
            rc = KMSC_INTERNAL;
        }
    }
    if (rc) {
        free(b->w);
        free(b->h);
        free(b->cmids);
        free(b);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    b->loop = &loop;
    b->progress = !o.quiet && isatty(STDERR_FILENO);
    b->live = o.workers;
    for (unsigned long i = 0; i < o.workers; i++) {
        b->w[i].b = b;
        b->w[i].st = W_IDLE;
    }
    uv_timer_init(&loop, &b->tick);
    b->tick.data = b;
    uv_timer_start(&b->tick, bench_on_tick, BENCH_TICK_MS, BENCH_TICK_MS);
    bench_hold_next(b); /* starts the load itself once the idle connections are open (at once without --hold) */
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);

    double el = b->t_end > b->t0 ? (double)(b->t_end - b->t0) / 1e9 : 0.0;
    if (b->progress)
        bench_print_progress(b, b->t_end ? b->t_end : uv_hrtime(), true);
    if (!o.quiet)
        for (unsigned i = 0; i < b->messages; i++)
            fprintf(stderr, "kmsc bench: %s\n", b->message[i]);
    if (o.json)
        bench_print_json(b, el);
    else
        bench_print_text(b, el);
    int worst = (int)b->worst;
    free(b->w);
    free(b->h);
    free(b->cmids);
    free(b);
    if (fflush(stdout) != 0 && worst == 0)
        worst = KMSC_INTERNAL;
    return worst;
}

