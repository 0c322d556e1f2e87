/* bench_args — the command line of `kmsc bench` (docs/kmsc.1, section BENCH) into struct bench_opts. */
#include "bench_int.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "outcome.h"
#include "product_names.h"

unsigned bench_mix_pick(const struct mix *m, uint64_t counter)
{
    unsigned long r = (unsigned long)(counter % m->total);
    for (unsigned k = 0; k < m->n; k++) {
        if (r < m->weight[k])
            return k;
        r -= m->weight[k];
    }
    return 0;
}

/* ---- command line ---- */

void bench_help(void)
{
    fputs("Usage: kmsc bench [options] [HOST[:PORT]]\n"
          "Load a KMS host with concurrent activations, verify every answer, report rate and latency.\n"
          "\n"
          "  -c N                  concurrent workers, 1..10000 (default 8)\n"
          "  -d SECONDS            run this long, 0.01..86400 (default 10 unless -N is given)\n"
          "  -N N                  stop after N activations, 1..1000000000 (with -d: whichever comes first)\n"
          "  --new-connection      connect and BIND for every activation (as real clients do)\n"
          "  --reuse               keep each worker's connection (the default)\n"
          "  -4, -5, -6            protocol version (default: each product's own)\n"
          "  --mix V:W[,V:W...]    protocol mix by weight, e.g. 4:1,5:1,6:8\n"
          "  --product P[:W][,...] product mix by SKU name or alias (default win10ent)\n"
          "  --cmid-pool N         draw CMIDs from a fixed pool of N (default: a distinct CMID per activation)\n"
          "  --seed S              the CMIDs from seed S, 0..4294967295: the same clients in every run with S\n"
          "  --no-verify           only check PDU type and call_id of each answer (baselines)\n"
          "  --no-ndr64            do not offer NDR64 in the BIND\n"
          "  --no-btfn             do not offer bind-time feature negotiation\n"
          "  --no-multiplex        BIND without the concurrent-multiplexing flag (pfc_flags 0x03)\n"
          "  --hold N              keep N idle connections open during the run, 0..100000\n"
          "  --timeout SECONDS     limit for each connect and each reply (default 10)\n"
          "  --ipv4, --ipv6        use HOST's first address of that family\n"
          "  --json                print the result as one JSON object\n"
          "  -q, --quiet           no progress line and no error messages\n"
          "  -h, --help            print this help and exit\n"
          "\n"
          "Exit status: 0 when every activation was verified, 2 on a usage error, else the worst\n"
          "failure in kmsc's codes (3 connect, 4 RPC or timeout, 5 refused, 6 verification, 7 count).\n",
          stdout);
}

/* Parses "ITEM[:W],ITEM[:W]..." calling item() for each ITEM text; weights default to 1. */
static int parse_mix(struct bench_opts *o, const char *opt, const char *text, struct mix *m,
                     int (*item)(struct bench_opts *, const char *, unsigned, struct kmsc_result *),
                     struct kmsc_result *res)
{
    char buf[512];
    if (strlen(text) >= sizeof buf)
        return outcome_usage(res, "%s: too long", opt);
    memcpy(buf, text, strlen(text) + 1);
    m->n = 0;
    m->total = 0;
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (m->n >= BENCH_MAX_MIX)
            return outcome_usage(res, "%s: more than %d entries", opt, BENCH_MAX_MIX);
        char *colon = strrchr(p, ':');
        unsigned long wgt = 1;
        if (colon) {
            *colon = '\0';
            if (kms_client_parse_uint(colon + 1, 1, BENCH_MAX_WEIGHT, &wgt) != 0)
                return outcome_usage(res, "%s: weight '%s' is not an integer in 1..%lu", opt, colon + 1,
                                     BENCH_MAX_WEIGHT);
        }
        if (*p == '\0')
            return outcome_usage(res, "%s: empty entry in '%s'", opt, text);
        int rc = item(o, p, m->n, res);
        if (rc < 0)
            return rc;
        m->weight[m->n++] = wgt;
        m->total += wgt;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

static int version_item(struct bench_opts *o, const char *text, unsigned k, struct kmsc_result *res)
{
    unsigned long v;
    if (kms_client_parse_uint(text, 4, 6, &v) != 0)
        return outcome_usage(res, "--mix: version '%s' is not 4, 5 or 6", text);
    o->versions[k] = (uint16_t)v;
    return 0;
}

static int product_item(struct bench_opts *o, const char *text, unsigned k, struct kmsc_result *res)
{
    const struct products_sku *s = product_names_resolve(text);
    if (!s) {
        char msg[KMSC_MSG_MAX - 16];
        return outcome_usage(res, "--product: %s", product_names_unknown(msg, sizeof msg, text, NULL));
    }
    o->products[k] = s;
    return 0;
}

enum {
    OPT_NEWCONN = 256,
    OPT_REUSE,
    OPT_MIX,
    OPT_PRODUCT,
    OPT_CMID_POOL,
    OPT_SEED,
    OPT_NO_VERIFY,
    OPT_NO_NDR64,
    OPT_NO_BTFN,
    OPT_NO_MPX,
    OPT_HOLD,
    OPT_TIMEOUT,
    OPT_JSON,
    OPT_IPV4,
    OPT_IPV6,
};

static const struct option bench_long[] = {
    {"new-connection", no_argument, NULL, OPT_NEWCONN},
    {"reuse", no_argument, NULL, OPT_REUSE},
    {"mix", required_argument, NULL, OPT_MIX},
    {"product", required_argument, NULL, OPT_PRODUCT},
    {"cmid-pool", required_argument, NULL, OPT_CMID_POOL},
    {"seed", required_argument, NULL, OPT_SEED},
    {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
    {"no-ndr64", no_argument, NULL, OPT_NO_NDR64},
    {"no-btfn", no_argument, NULL, OPT_NO_BTFN},
    {"no-multiplex", no_argument, NULL, OPT_NO_MPX},
    {"hold", required_argument, NULL, OPT_HOLD},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"ipv4", no_argument, NULL, OPT_IPV4},
    {"ipv6", no_argument, NULL, OPT_IPV6},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What the loop over the options leaves for the checks after it. */
struct seen {
    bool d, v;
    bool ipv4, ipv6;
    const char *mix, *product;
};

static void set_defaults(struct bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->workers = BENCH_DEFAULT_WORKERS;
    o->verify = true;
    o->ndr64 = true;
    o->btfn = true;
    o->bind_flags = BIND_FLAGS;
    o->timeout_ms = BENCH_DEFAULT_TIMEOUT_MS;
    o->vmix.n = 1;
    o->vmix.total = 1;
    o->vmix.weight[0] = 1;
}

/* The options with a number as value. Returns 0 or KMS_EINVAL (res says why). */
static int number_option(struct bench_opts *o, int c, const char *arg, struct seen *seen, struct kmsc_result *res)
{
    switch (c) {
    case 'c':
        if (kms_client_parse_uint(arg, 1, BENCH_MAX_WORKERS, &o->workers) != 0)
            return outcome_usage(res, "-c: '%s' is not an integer in 1..%lu", arg, BENCH_MAX_WORKERS);
        return 0;
    case 'd': seen->d = true; return outcome_seconds(res, "-d", arg, 0.01, BENCH_MAX_SECONDS, &o->seconds);
    case 'N':
        if (kms_client_parse_uint(arg, 1, BENCH_MAX_ACTIVATIONS, &o->n) != 0)
            return outcome_usage(res, "-N: '%s' is not an integer in 1..%lu", arg, BENCH_MAX_ACTIVATIONS);
        return 0;
    case OPT_CMID_POOL:
        if (kms_client_parse_uint(arg, 1, BENCH_MAX_CMID_POOL, &o->cmid_pool) != 0)
            return outcome_usage(res, "--cmid-pool: '%s' is not an integer in 1..%lu", arg, BENCH_MAX_CMID_POOL);
        return 0;
    case OPT_SEED:
        if (kms_client_parse_uint(arg, 0, BENCH_MAX_SEED, &o->seed) != 0)
            return outcome_usage(res, "--seed: '%s' is not an integer in 0..%lu", arg, BENCH_MAX_SEED);
        o->seeded = true;
        return 0;
    case OPT_HOLD:
        if (kms_client_parse_uint(arg, 0, BENCH_MAX_HOLD, &o->hold) != 0)
            return outcome_usage(res, "--hold: '%s' is not an integer in 0..%lu", arg, BENCH_MAX_HOLD);
        return 0;
    default: /* OPT_TIMEOUT */
        return outcome_ms(res, "--timeout", arg, 0.001, 3600.0, &o->timeout_ms);
    }
}

/* One option c of getopt_long (value in optarg). Returns 0 or KMS_EINVAL (res says why). */
static int one_option(struct bench_opts *o, int c, char **argv, struct seen *seen, struct kmsc_result *res)
{
    switch (c) {
    case 'c':
    case 'd':
    case 'N':
    case OPT_CMID_POOL:
    case OPT_SEED:
    case OPT_HOLD:
    case OPT_TIMEOUT: return number_option(o, c, optarg, seen, res);
    case '4':
    case '5':
    case '6':
        seen->v = true;
        o->versions[0] = (uint16_t)(c - '0');
        return 0;
    case 'q': o->quiet = true; return 0;
    case 'h': o->help = true; return 0;
    case OPT_NEWCONN: o->new_connection = true; return 0;
    case OPT_REUSE: o->new_connection = false; return 0;
    case OPT_MIX: seen->mix = optarg; return 0;
    case OPT_PRODUCT: seen->product = optarg; return 0;
    case OPT_NO_VERIFY: o->verify = false; return 0;
    case OPT_NO_NDR64: o->ndr64 = false; return 0;
    case OPT_NO_BTFN: o->btfn = false; return 0;
    case OPT_NO_MPX: o->bind_flags = (uint8_t)(BIND_FLAGS & ~RPC_PFC_CONC_MPX); return 0;
    case OPT_JSON: o->json = true; return 0;
    case OPT_IPV4: seen->ipv4 = true; return 0;
    case OPT_IPV6: seen->ipv6 = true; return 0;
    default: return outcome_getopt(res, c, argv, bench_long);
    }
}

int bench_parse_args(struct bench_opts *o, int argc, char **argv, struct kmsc_result *res)
{
    set_defaults(o);
    struct seen seen = {false, false, false, false, NULL, NULL};
    int c;
    optind = 1;
    opterr = 0;
    while (!o->help && (c = getopt_long(argc, argv, ":c:d:N:456qh", bench_long, NULL)) != -1) {
        int rc = one_option(o, c, argv, &seen, res);
        if (rc < 0)
            return rc;
    }
    if (o->help)
        return 0;
    if (seen.mix && seen.v)
        return outcome_usage(res, "-4/-5/-6 and --mix exclude each other");
    if (seen.mix && parse_mix(o, "--mix", seen.mix, &o->vmix, version_item, res) < 0)
        return KMS_EINVAL;
    if (parse_mix(o, "--product", seen.product ? seen.product : "win10ent", &o->pmix, product_item, res) < 0)
        return KMS_EINVAL;
    if (!seen.d && o->n == 0)
        o->seconds = BENCH_DEFAULT_SECONDS;
    if (argc - optind > 1)
        return outcome_usage(res, "too many arguments (expected one HOST[:PORT])");
    char msg[KMSC_MSG_MAX];
    if (kms_client_parse_target(optind < argc ? argv[optind] : "127.0.0.1", &o->target, msg, sizeof msg) != 0)
        return outcome_usage(res, "%s", msg);
    if (seen.ipv4 && seen.ipv6)
        return outcome_usage(res, "--ipv4 and --ipv6 exclude each other");
    if ((seen.ipv4 || seen.ipv6) && kms_client_set_family(&o->target, seen.ipv4 ? KMSC_FAMILY_IPV4 : KMSC_FAMILY_IPV6,
                                                          seen.ipv4 ? "--ipv4" : "--ipv6", msg, sizeof msg) != 0)
        return outcome_usage(res, "%s", msg);
    return 0;
}
