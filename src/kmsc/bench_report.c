/* bench_report — what `kmsc bench` prints: the progress line (stderr) and the result as text or JSON (stdout). */
#include "bench_int.h"

#include <stdio.h>

static const char *const err_names[EK_N] = {
    [EK_CONNECT] = "connect", [EK_TIMEOUT] = "timeout", [EK_CLOSED] = "closed", [EK_RPC] = "rpc",
    [EK_REFUSED] = "refused", [EK_VERIFY] = "verify",   [EK_COUNT] = "count",   [EK_INTERNAL] = "internal",
};

void bench_print_progress(const struct bench *b, uint64_t now, bool final)
{
    double el = (double)(now - b->t0) / 1e9;
    uint64_t errs = b->failed;
    fprintf(stderr, "\r%7.1f s  %10llu ok  %9.0f/s  %llu errors%s", el, (unsigned long long)b->ok,
            el > 0 ? (double)b->ok / el : 0.0, (unsigned long long)errs, final ? "\n" : "   ");
}

void bench_print_json(const struct bench *b, double el)
{
    const struct bench_opts *o = b->o;
    printf("{\"target\":\"%s\",\"mode\":\"%s\",\"workers\":%lu,\"verify\":%s,", b->peer,
           o->new_connection ? "new-connection" : "reuse", o->workers, o->verify ? "true" : "false");
    printf("\"elapsed_s\":%.6f,\"started\":%llu,\"activations\":%llu,\"errors\":%llu,\"rate\":%.1f,", el,
           (unsigned long long)b->started, (unsigned long long)b->ok, (unsigned long long)b->failed,
           el > 0 ? (double)b->ok / el : 0.0);
    printf("\"connections\":%llu,\"reconnects\":%llu,", (unsigned long long)b->connections,
           (unsigned long long)b->reconnects);
    printf("\"by_version\":{\"4\":%llu,\"5\":%llu,\"6\":%llu},", (unsigned long long)b->by_version[0],
           (unsigned long long)b->by_version[1], (unsigned long long)b->by_version[2]);
    printf("\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},", bench_hist_ms(&b->lat, 0.50),
           bench_hist_ms(&b->lat, 0.90), bench_hist_ms(&b->lat, 0.99), (double)b->lat.max / 1000.0);
    printf("\"errors_by_kind\":{");
    for (int k = 0; k < EK_N; k++)
        printf("%s\"%s\":%llu", k ? "," : "", err_names[k], (unsigned long long)b->errors[k]);
    printf("},\"hold\":{\"asked\":%lu,\"open\":%lu,\"failed\":%lu,\"lost\":%lu},", o->hold, b->hold_ok, b->hold_failed,
           b->hold_lost);
    printf("\"exit\":%d}\n", (int)b->worst);
}

void bench_print_text(const struct bench *b, double el)
{
    const struct bench_opts *o = b->o;
    printf("target %s, %s, %lu workers%s\n", b->peer, o->new_connection ? "new connection per activation" : "reuse",
           o->workers, o->verify ? "" : ", responses not verified");
    printf("activations: %llu in %.3f s = %.1f/s (%llu by v4, %llu v5, %llu v6), %llu errors\n",
           (unsigned long long)b->ok, el, el > 0 ? (double)b->ok / el : 0.0, (unsigned long long)b->by_version[0],
           (unsigned long long)b->by_version[1], (unsigned long long)b->by_version[2], (unsigned long long)b->failed);
    printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", bench_hist_ms(&b->lat, 0.50),
           bench_hist_ms(&b->lat, 0.90), bench_hist_ms(&b->lat, 0.99), (double)b->lat.max / 1000.0);
    printf("connections: %llu (%llu reopened after the host closed them)\n", (unsigned long long)b->connections,
           (unsigned long long)b->reconnects);
    if (o->hold)
        printf("idle connections: %lu asked, %lu open, %lu failed, %lu closed by the host\n", o->hold, b->hold_ok,
               b->hold_failed, b->hold_lost);
    printf("errors:");
    for (int k = 0; k < EK_N; k++)
        printf(" %s %llu%s", err_names[k], (unsigned long long)b->errors[k], k + 1 < EK_N ? "," : "\n");
}
