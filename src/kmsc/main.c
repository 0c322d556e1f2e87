/*
 * kmsc — KMS activation client: sends one or more activation requests to a KMS host, verifies each answer
 * and prints it. Options, output and exit codes; the protocol work is in client.c. Manual: docs/kmsc.1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"
#include "discover_cmd.h"
#include "err.h"
#include "health.h"
#include "health_http.h"
#include "host_identity.h"
#include "identity_file.h"
#include "outcome.h"
#include "guid.h"
#include "kms.h"
#include "product_commands.h"
#include "product_names.h"
#include "products.h"
#include "rpc.h"

#define DEFAULT_PRODUCT "win10ent" /* Windows 10/11 Enterprise */
#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_TIMEOUT_S 10.0
/* The wait for a BIND's answer without --timeout: a KMS host answers a BIND at once (no work behind it), so a
 * silent peer after this long is no KMS host (an HTTP server waiting for its request line, a closed-off proxy). */
#define KMSC_BIND_TIMEOUT_MS 3000
#define DEFAULT_LICENSE_STATUS KMS_LS_OOB_GRACE /* a freshly installed volume client */
#define DEFAULT_GRACE_MIN 43200u                /* 30 days, what a client in OOB grace reports */
#define DEFAULT_MIN_COUNT 25u                   /* threshold of an unknown KMS id: the client editions' */
#define DEFAULT_PROTOCOL 6u                     /* protocol of an unknown KMS id: the current one */
#define MAX_REQUESTS 1000ul
#define MAX_TIMEOUT_S 3600.0
/* BIND pfc_flags: FIRST|LAST|CONC_MPX (0x13), what the incumbent clients send (every recorded vlmcs and py-kms BIND
 * of tests/fixtures/vectors; protocol.md 2.1: Windows sends CONC_MPX in some versions); --no-multiplex: 0x03. */
#define BIND_FLAGS (RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG | RPC_PFC_CONC_MPX)

enum verbosity { QUIET = -1, NORMAL = 0, VERBOSE = 1 };

/* Everything the command line decides. */
struct opts {
    struct kmsc_target target;
    bool ipv4, ipv6; /* --ipv4, --ipv6 */
    const char *product;
    const char *app_text, *sku_text, *kms_text;
    bool have_min_count;
    uint32_t min_count;
    bool have_major, have_minor;
    uint16_t major, minor;
    bool ndr64, btfn;
    bool multiplex; /* CONC_MPX in the BIND's pfc_flags (--no-multiplex clears it) */
    const char *cmid_text;
    const char *prev_cmid_text; /* --previous-cmid */
    const char *workstation;
    uint32_t license_status;
    uint32_t grace_time;
    int64_t time_offset;
    bool vm;
    unsigned long n;
    bool new_connection;
    int timeout_ms;
    bool timeout_given; /* --timeout: it bounds the BIND's answer too */
    int wait_ms;        /* --wait: a refused connection tried again this long (client.h, KMSC_WAIT_*) */
    int verbosity;
    const char *save_identity; /* --save-identity FILE */
    bool list;
    const char *commands; /* --commands HOST[:PORT] */
    const char *filter;   /* --list-products FILTER */
    struct discover_opts disc; /* --discover [DOMAIN], --dns-server */
    bool help, version;
};

/* The program's state for one run. */
struct kmsc_ctx {
    struct opts o;
    const char *prog;
    const struct products_sku *sku; /* NULL with raw ids */
    const struct products_kms *kms; /* NULL when the KMS id is unknown */
    struct kms_request req;
    struct kmsc_conn conn;
    struct kmsc_result res;
    /* --save-identity: the last verified answer and the address that sent it */
    bool have_answer;
    struct kms_response answer;
    char answer_peer[KMSC_ADDR_TEXT];
    const char *via;              /* --discover: the SRV target being tried, in found (else NULL) */
    struct kmsc_discovery found; /* --discover: the hosts in the order tried */
};

static void usage_line(FILE *f, const char *prog)
{
    fprintf(f, "Usage: %s [options] [HOST[:PORT]]\n"
               "       %s [options] --discover [DOMAIN]     the host from DNS (_vlmcs._tcp.DOMAIN SRV)\n"
               "       %s discover [DOMAIN] [--dns-server ADDR[:PORT]]  list those hosts, each probed\n"
               "       %s health [HOST[:PORT]]              one activation as a health probe (kmsc(1))\n"
               "       %s health --http|--https [HOST[:PORT]] [--cacert FILE]   GET kmsd's /readyz\n"
               "       %s bench [options] [HOST[:PORT]]     a load generator (kmsc bench --help)\n",
            prog, prog, prog, prog, prog, prog);
}

static void help(const char *prog)
{
    usage_line(stdout, prog);
    fputs("Request KMS activation from a host, verify the answer and print it.\n"
          "HOST defaults to " DEFAULT_HOST ", PORT to " KMSC_DEFAULT_PORT "; write IPv6 as [::1]:1688.\n"
          "\n"
          "Product (default: " DEFAULT_PRODUCT ", Windows 10/11 Enterprise):\n"
          "  --product NAME          SKU name, alias or id, e.g. \"Windows 11 Pro\" or win11pro\n"
          "                          (\"Windows 10/11 Pro\" also answers to either edition's name)\n"
          "  --list-products [FILTER]  print aliases, GVLK and name of every SKU (-v: also SKU id and KMS id)\n"
          "                          whose name or aliases hold every word of FILTER, e.g. \"office 2024\"; exit\n"
          "  --commands HOST[:PORT]  with --list-products: the commands that activate each product's clients\n"
          "                          against HOST (slmgr for Windows, OSPP.VBS for Office)\n"
          "  --app GUID --sku GUID --kms GUID\n"
          "                          raw applicationId, skuId, kmsCountedId (all three together)\n"
          "  --min-count N           requiredClientCount (default: the product's threshold, 25 if unknown)\n"
          "Protocol:\n"
          "  -4, -5, -6              protocol version 4.0, 5.0 or 6.0 (default: the product's)\n"
          "  --version-major N       any major version 0..65535 (<= 4: V4 layout, 5: V5, >= 6: V6)\n"
          "  --version-minor N       minor version 0..65535 (default 0)\n"
          "  --no-ndr64              do not offer NDR64 in the BIND\n"
          "  --no-btfn               do not offer bind-time feature negotiation\n"
          "  --no-multiplex          BIND without the concurrent-multiplexing flag (pfc_flags 0x03, not 0x13)\n"
          "Client identity:\n"
          "  --cmid GUID             client machine id (default: a random version-4 UUID per run)\n"
          "  --previous-cmid GUID    previous client machine id (default: all zero)\n"
          "  --workstation NAME      workstation name, at most 63 UTF-16 units (default: host name)\n"
          "  --license-status N      0..6 (default 2, initial grace)\n"
          "  --grace-time MINUTES    remaining grace time (default 43200)\n"
          "  --time-offset SECONDS   shift the request time (-315360000..315360000; tests a host's clock check)\n"
          "  --vm                    report a virtual machine\n"
          "Connection:\n"
          "  -n N                    send N requests (1..1000, default 1) on one connection\n"
          "  --new-connection        open a new connection (and BIND) for each request\n"
          "  --timeout SECONDS       limit for connecting and for each reply (default 10; 3 for the BIND's)\n"
          "  --wait SECONDS          a host that refuses the connection is starting: try again until SECONDS\n"
          "                          (0.001..3600; every 2 ms for a second, then every 100 ms)\n"
          "  --ipv4, --ipv6          connect over IPv4 (IPv6) only: HOST's addresses of that family\n"
          "Discovery (DNS, as Windows without slmgr /skms):\n"
          "  --discover              the argument is a DOMAIN: use the hosts of its SRV record _vlmcs._tcp.DOMAIN,\n"
          "                          lowest priority first, by weight within one (RFC 2782), each address in turn\n"
          "                          until one answers (a failure to connect or an RPC failure tries the next; a\n"
          "                          refusal is an answer); without DOMAIN each search domain of /etc/resolv.conf\n"
          "  --dns-server ADDR[:PORT]  ask this DNS server (port 53 unless given), for the targets' addresses too\n"
          "Output:\n"
          "  --save-identity FILE    after a verified answer, write the host's ePID and HWID to FILE as kmsd\n"
          "                          configuration (kmsd -c FILE answers alike); FILE is replaced\n"
          "  -v, --verbose           also print the request, the connection and the BIND result\n"
          "  -q, --quiet             print nothing on success (errors still go to stderr)\n"
          "  -h, --help              print this help and exit\n"
          "  -V, --version           print the version and exit\n"
          "\n"
          "Exit status:\n"
          "  0  every response was verified\n"
          "  1  internal error, or --save-identity could not write FILE\n"
          "  2  usage error\n"
          "  3  cannot connect (name resolution, connection refused, connect timeout)\n"
          "  4  RPC failure (BIND refused, FAULT, malformed PDU, closed without reply, reply timeout)\n"
          "  5  refused by the host (non-zero HRESULT)\n"
          "  6  verification of the response failed\n"
          "  7  current count below the required count (0xC004F038)\n"
          "  8  --discover: no _vlmcs._tcp SRV record in the domain(s) asked\n"
          "  9  --discover: SRV records, but none of their hosts answered (each one 3 or 4)\n"
          "With -n N the worst status wins, in the order 8, 9, 3, 4, 6, 5, 7, 0.\n",
          stdout);
}

/* Whether SKU s is listed for filter (NULL: every SKU): the one SKU filter names, else those it matches. */
static bool listed(const char *filter, const struct products_sku *named, const struct products_sku *s)
{
    return !filter || (named ? s == named : product_names_matches(filter, s));
}

/* `kmsc --list-products [FILTER]`: a table of the SKUs with a header, columns as wide as their widest cell. */
static void list_table(const char *filter, const struct products_sku *named, bool verbose)
{
    int wa = (int)strlen("ALIASES"), wg = (int)strlen("GVLK");
    for (size_t i = 0; i < products_sku_count(); i++) {
        const struct products_sku *s = products_sku_at(i);
        if (!listed(filter, named, s))
            continue;
        int w = -1;
        for (size_t a = 0; a < s->alias_count; a++)
            w += 1 + (int)strlen(s->aliases[a]);
        wa = w > wa ? w : wa;
        wg = s->gvlk ? PRODUCTS_GVLK_LEN : wg;
    }
    if (verbose)
        printf("%-*s  %-*s  %-*s  %s\n", wa, "ALIASES", wg, "GVLK", GUID_TEXT_LEN, "SKU ID", "NAME (KMS ID)");
    else
        printf("%-*s  %-*s  %s\n", wa, "ALIASES", wg, "GVLK", "NAME");
    for (size_t i = 0; i < products_sku_count(); i++) {
        const struct products_sku *s = products_sku_at(i);
        if (!listed(filter, named, s))
            continue;
        char aliases[256];
        size_t len = 0;
        aliases[0] = '\0';
        for (size_t a = 0; a < s->alias_count && len < sizeof aliases; a++)
            len += (size_t)snprintf(aliases + len, sizeof aliases - len, "%s%s", a ? "," : "", s->aliases[a]);
        printf("%-*s  %-*s  ", wa, aliases, wg, s->gvlk ? s->gvlk : "-");
        if (verbose) {
            char id[GUID_TEXT_LEN + 1];
            guid_format(&s->id, id);
            printf("%s  %s (%s)\n", id, s->name, s->kms->name);
        } else {
            printf("%s\n", s->name);
        }
    }
}

/* `kmsc --list-products --commands HOST[:PORT] [FILTER]`: per SKU with a GVLK, the commands a client runs. */
static void list_commands(const char *filter, const struct products_sku *named, const char *host, uint16_t port)
{
    bool first = true;
    for (size_t i = 0; i < products_sku_count(); i++) {
        const struct products_sku *s = products_sku_at(i);
        struct product_command c[PRODUCT_COMMANDS_MAX];
        int n = listed(filter, named, s) ? product_commands(s, host, port, c) : 0;
        if (n <= 0)
            continue;
        printf("%s%s (%s)\n", first ? "" : "\n", s->name, s->alias);
        for (int k = 0; k < n; k++)
            printf("  %s\n", c[k].text);
        const char *note = product_commands_note(s);
        if (note)
            printf("  (%s)\n", note);
        first = false;
    }
}

/* --list-products [--commands HOST[:PORT]] [FILTER]: 0 or KMS_EINVAL (res says why: an unknown filter, a bad
 * host). */
static int list_products(struct kmsc_ctx *ctx, const char *filter)
{
    const struct products_sku *named = filter ? product_names_resolve(filter) : NULL;
    if (filter && !named) {
        size_t n = 0;
        for (size_t i = 0; i < products_sku_count() && n == 0; i++)
            n += product_names_matches(filter, products_sku_at(i));
        if (n == 0) {
            char msg[KMSC_MSG_MAX];
            return outcome_usage(&ctx->res, "%s", product_names_unknown(msg, sizeof msg, filter, NULL));
        }
    }
    if (!ctx->o.commands) {
        list_table(filter, named, ctx->o.verbosity > 0);
        return 0;
    }
    struct kmsc_target t;
    char msg[KMSC_MSG_MAX];
    unsigned long port;
    if (kms_client_parse_target(ctx->o.commands, &t, msg, sizeof msg) != 0)
        return outcome_usage(&ctx->res, "--commands: %s", msg);
    if (kms_client_parse_uint(t.port, 1, 65535, &port) != 0)
        return outcome_usage(&ctx->res, "--commands: port '%s' is not a number in 1..65535", t.port);
    if (!product_commands_host_ok(t.host))
        return outcome_usage(&ctx->res, "--commands: '%s' is not a host name or address (letters, digits, '.', '-', "
                                        "'_', ':')", t.host);
    list_commands(filter, named, t.host, (uint16_t)port);
    return 0;
}

/* Parses a u32-ranged option value; returns 0 or KMS_EINVAL (res says why). */
static int opt_uint(struct kmsc_result *res, const char *name, const char *val, unsigned long lo, unsigned long hi,
                    unsigned long *out)
{
    if (kms_client_parse_uint(val, lo, hi, out) != 0)
        return outcome_usage(res, "%s: '%s' is not an integer in %lu..%lu", name, val, lo, hi);
    return 0;
}

enum long_only {
    OPT_PRODUCT = 256,
    OPT_LIST,
    OPT_COMMANDS,
    OPT_APP,
    OPT_SKU,
    OPT_KMS,
    OPT_MIN_COUNT,
    OPT_VMAJOR,
    OPT_VMINOR,
    OPT_NO_NDR64,
    OPT_NO_BTFN,
    OPT_NO_MPX,
    OPT_CMID,
    OPT_PREV_CMID,
    OPT_WORKSTATION,
    OPT_LICENSE,
    OPT_GRACE,
    OPT_TIME_OFFSET,
    OPT_VM,
    OPT_NEWCONN,
    OPT_TIMEOUT,
    OPT_WAIT,
    OPT_IPV4,
    OPT_IPV6,
    OPT_SAVE_IDENTITY,
    OPT_DISCOVER,
    OPT_DNS_SERVER,
};

static const struct option long_opts[] = {
    {"product", required_argument, NULL, OPT_PRODUCT},
    {"list-products", no_argument, NULL, OPT_LIST},
    {"commands", required_argument, NULL, OPT_COMMANDS},
    {"app", required_argument, NULL, OPT_APP},
    {"sku", required_argument, NULL, OPT_SKU},
    {"kms", required_argument, NULL, OPT_KMS},
    {"min-count", required_argument, NULL, OPT_MIN_COUNT},
    {"version-major", required_argument, NULL, OPT_VMAJOR},
    {"version-minor", required_argument, NULL, OPT_VMINOR},
    {"no-ndr64", no_argument, NULL, OPT_NO_NDR64},
    {"no-btfn", no_argument, NULL, OPT_NO_BTFN},
    {"no-multiplex", no_argument, NULL, OPT_NO_MPX},
    {"cmid", required_argument, NULL, OPT_CMID},
    {"previous-cmid", required_argument, NULL, OPT_PREV_CMID},
    {"workstation", required_argument, NULL, OPT_WORKSTATION},
    {"license-status", required_argument, NULL, OPT_LICENSE},
    {"grace-time", required_argument, NULL, OPT_GRACE},
    {"time-offset", required_argument, NULL, OPT_TIME_OFFSET},
    {"vm", no_argument, NULL, OPT_VM},
    {"new-connection", no_argument, NULL, OPT_NEWCONN},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"ipv4", no_argument, NULL, OPT_IPV4},
    {"ipv6", no_argument, NULL, OPT_IPV6},
    {"save-identity", required_argument, NULL, OPT_SAVE_IDENTITY},
    {"discover", no_argument, NULL, OPT_DISCOVER},
    {"dns-server", required_argument, NULL, OPT_DNS_SERVER},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void set_defaults(struct opts *o)
{
    o->ndr64 = true;
    o->btfn = true;
    o->multiplex = true;
    o->license_status = DEFAULT_LICENSE_STATUS;
    o->grace_time = DEFAULT_GRACE_MIN;
    o->n = 1;
    o->timeout_ms = (int)(DEFAULT_TIMEOUT_S * 1000);
}

/* --time-offset [-]SECONDS, ten years either way. */
static int opt_time_offset(struct kmsc_result *res, const char *val, int64_t *out)
{
    unsigned long v;
    const char *d = val[0] == '-' ? val + 1 : val;
    if (opt_uint(res, "--time-offset", d, 0, 315360000, &v))
        return KMS_EINVAL;
    *out = val[0] == '-' ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* The options with a number as value. Returns 0 or KMS_EINVAL (res says why). */
static int number_option(struct opts *o, struct kmsc_result *res, int c, const char *val)
{
    unsigned long v;
    switch (c) {
    case 'n': return opt_uint(res, "-n", val, 1, MAX_REQUESTS, &o->n);
    case OPT_TIME_OFFSET: return opt_time_offset(res, val, &o->time_offset);
    case OPT_TIMEOUT: o->timeout_given = true; return outcome_ms(res, "--timeout", val, 0.001, MAX_TIMEOUT_S, &o->timeout_ms);
    case OPT_WAIT: return outcome_ms(res, "--wait", val, 0.001, MAX_TIMEOUT_S, &o->wait_ms);
    case OPT_MIN_COUNT:
        if (opt_uint(res, "--min-count", val, 0, UINT32_MAX, &v))
            return KMS_EINVAL;
        o->have_min_count = true;
        o->min_count = (uint32_t)v;
        break;
    case OPT_VMAJOR:
        if (opt_uint(res, "--version-major", val, 0, UINT16_MAX, &v))
            return KMS_EINVAL;
        o->have_major = true;
        o->major = (uint16_t)v;
        break;
    case OPT_VMINOR:
        if (opt_uint(res, "--version-minor", val, 0, UINT16_MAX, &v))
            return KMS_EINVAL;
        o->have_minor = true;
        o->minor = (uint16_t)v;
        break;
    case OPT_LICENSE:
        if (opt_uint(res, "--license-status", val, 0, 6, &v))
            return KMS_EINVAL;
        o->license_status = (uint32_t)v;
        break;
    default: /* OPT_GRACE */
        if (opt_uint(res, "--grace-time", val, 0, UINT32_MAX, &v))
            return KMS_EINVAL;
        o->grace_time = (uint32_t)v;
        break;
    }
    return 0;
}

/* One option c of getopt_long (value in optarg). Returns 0 or KMS_EINVAL (res says why). */
static int one_option(struct opts *o, struct kmsc_result *res, int c, char **argv)
{
    switch (c) {
    case '4':
    case '5':
    case '6':
        o->have_major = true;
        o->major = (uint16_t)(c - '0');
        return 0;
    case 'n':
    case OPT_MIN_COUNT:
    case OPT_VMAJOR:
    case OPT_VMINOR:
    case OPT_LICENSE:
    case OPT_GRACE:
    case OPT_TIME_OFFSET:
    case OPT_TIMEOUT:
    case OPT_WAIT:
        return number_option(o, res, c, optarg);
    case 'v': o->verbosity = VERBOSE; return 0;
    case 'q': o->verbosity = QUIET; return 0;
    case 'h': o->help = true; return 0;
    case 'V': o->version = true; return 0;
    case OPT_PRODUCT: o->product = optarg; return 0;
    case OPT_LIST: o->list = true; return 0;
    case OPT_COMMANDS: o->commands = optarg; return 0;
    case OPT_APP: o->app_text = optarg; return 0;
    case OPT_SKU: o->sku_text = optarg; return 0;
    case OPT_KMS: o->kms_text = optarg; return 0;
    case OPT_NO_NDR64: o->ndr64 = false; return 0;
    case OPT_NO_BTFN: o->btfn = false; return 0;
    case OPT_NO_MPX: o->multiplex = false; return 0;
    case OPT_CMID: o->cmid_text = optarg; return 0;
    case OPT_PREV_CMID: o->prev_cmid_text = optarg; return 0;
    case OPT_WORKSTATION: o->workstation = optarg; return 0;
    case OPT_VM: o->vm = true; return 0;
    case OPT_NEWCONN: o->new_connection = true; return 0;
    case OPT_IPV4: o->ipv4 = true; return 0;
    case OPT_IPV6: o->ipv6 = true; return 0;
    case OPT_SAVE_IDENTITY: o->save_identity = optarg; return 0;
    case OPT_DISCOVER: o->disc.on = true; return 0;
    case OPT_DNS_SERVER: return discover_cmd_server(&o->disc, optarg, res);
    default: return outcome_getopt(res, c, argv, long_opts);
    }
}

/* Fills ctx->o from argv (o->help after --help, o->version after --version). Returns 0 or KMS_EINVAL (ctx->res says why). */
static int parse_args(struct kmsc_ctx *ctx, int argc, char **argv)
{
    struct opts *o = &ctx->o;
    int c;
    set_defaults(o);
    opterr = 0;
    while (!o->help && !o->version && (c = getopt_long(argc, argv, ":456n:vqhV", long_opts, NULL)) != -1) {
        int rc = one_option(o, &ctx->res, c, argv);
        if (rc < 0)
            return rc;
    }
    if (o->help || o->version)
        return 0;
    if (o->commands && !o->list)
        return outcome_usage(&ctx->res, "--commands goes with --list-products");
    if (o->list) {
        if (argc - optind > 1)
            return outcome_usage(&ctx->res, "--list-products takes one FILTER at most (quote a name with spaces)");
        o->filter = optind < argc ? argv[optind] : NULL;
        return 0;
    }
    if (o->disc.have_server && !o->disc.on)
        return outcome_usage(&ctx->res, "--dns-server goes with --discover");
    if (o->save_identity && o->save_identity[0] == '\0')
        return outcome_usage(&ctx->res, "--save-identity: the file name is empty");
    if (o->disc.on && (o->ipv4 || o->ipv6)) /* the addresses come from DNS, of both families, tried in turn */
        return outcome_usage(&ctx->res, "%s does not go with --discover", o->ipv4 ? "--ipv4" : "--ipv6");
    if (o->disc.on && o->wait_ms) /* a refusal there moves on to the next host the DNS names */
        return outcome_usage(&ctx->res, "--wait does not go with --discover (a host that refuses is passed over)");
    if (o->disc.on) {
        if (argc - optind > 1)
            return outcome_usage(&ctx->res, "too many arguments (expected one DOMAIN with --discover)");
        o->disc.domain = optind < argc ? argv[optind] : NULL;
        char why[KMSC_MSG_MAX];
        if (o->disc.domain && kmsc_discover_check_domain(o->disc.domain, why, sizeof why) != 0)
            return outcome_usage(&ctx->res, "--discover: %s", why);
        return 0;
    }
    if (argc - optind > 1)
        return outcome_usage(&ctx->res, "too many arguments (expected one HOST[:PORT])");
    char msg[KMSC_MSG_MAX];
    if (kms_client_parse_target(optind < argc ? argv[optind] : DEFAULT_HOST, &o->target, msg, sizeof msg) != 0)
        return outcome_usage(&ctx->res, "%s", msg);
    if (o->ipv4 && o->ipv6)
        return outcome_usage(&ctx->res, "--ipv4 and --ipv6 exclude each other");
    enum kmsc_family fam = o->ipv4 ? KMSC_FAMILY_IPV4 : o->ipv6 ? KMSC_FAMILY_IPV6 : KMSC_FAMILY_ANY;
    const char *opt = o->ipv4 ? "--ipv4" : "--ipv6";
    if (fam != KMSC_FAMILY_ANY && kms_client_set_family(&o->target, fam, opt, msg, sizeof msg) != 0)
        return outcome_usage(&ctx->res, "%s", msg);
    return 0;
}

/* Sets the workstation name: the option's (which must fit) or the host name (cut to fit). 0 or KMS_EINVAL. */
static int set_workstation(struct kmsc_ctx *ctx)
{
    if (ctx->o.workstation) {
        int rc = kms_request_set_machine_name(&ctx->req, ctx->o.workstation);
        if (rc == KMS_ENOSPC)
            return outcome_usage(&ctx->res, "--workstation: longer than %d UTF-16 units", KMS_MACHINE_NAME_UNITS - 1);
        if (rc < 0)
            return outcome_usage(&ctx->res, "--workstation: not valid UTF-8");
        return 0;
    }
    char name[256];
    if (gethostname(name, sizeof name) != 0 || name[0] == '\0')
        memcpy(name, "localhost", sizeof "localhost");
    name[sizeof name - 1] = '\0';
    size_t len = strlen(name);
    while (len > 0 && kms_request_set_machine_name(&ctx->req, name) != 0)
        name[--len] = '\0';
    return 0;
}

/* --product names no SKU: the suggestions and, when there are more matches than the message can name, the command
 * that lists them all (left out for a name with a quote or a long one, which would not make a plain command). */
#define UNKNOWN_HINT "%s\nkmsc --list-products '%s' lists every match"
static int unknown_product(struct kmsc_result *res, const char *name)
{
    char msg[KMSC_MSG_MAX];
    bool hint = strlen(name) < sizeof msg / 4 && !strchr(name, '\''), more = false;
    product_names_unknown(msg, hint ? sizeof msg - sizeof UNKNOWN_HINT - strlen(name) : sizeof msg, name, &more);
    if (hint && more)
        return outcome_usage(res, UNKNOWN_HINT, msg, name);
    return outcome_usage(res, "%s", msg);
}

/* Resolves the product and fills the request template. Returns 0, KMS_EINVAL (status KMSC_USAGE) or
 * KMS_ECRYPTO (KMSC_INTERNAL); ctx->res says why. */
static int build_request(struct kmsc_ctx *ctx)
{
    const struct opts *o = &ctx->o;
    struct kms_request *r = &ctx->req;
    memset(r, 0, sizeof *r);
    int raw = (o->app_text != NULL) + (o->sku_text != NULL) + (o->kms_text != NULL);
    if (raw != 0 && raw != 3)
        return outcome_usage(&ctx->res, "--app, --sku and --kms must be given together");
    if (raw && o->product)
        return outcome_usage(&ctx->res, "--product cannot be combined with --app/--sku/--kms");
    if (raw) {
        if (guid_parse(&r->app_id, o->app_text) != 0)
            return outcome_usage(&ctx->res, "--app: '%s' is not a GUID", o->app_text);
        if (guid_parse(&r->sku_id, o->sku_text) != 0)
            return outcome_usage(&ctx->res, "--sku: '%s' is not a GUID", o->sku_text);
        if (guid_parse(&r->kms_id, o->kms_text) != 0)
            return outcome_usage(&ctx->res, "--kms: '%s' is not a GUID", o->kms_text);
        ctx->kms = products_kms_by_id(&r->kms_id);
        ctx->sku = products_sku_by_id(&r->sku_id);
    } else {
        const char *name = o->product ? o->product : DEFAULT_PRODUCT;
        ctx->sku = product_names_resolve(name);
        if (!ctx->sku)
            return unknown_product(&ctx->res, name);
        ctx->kms = ctx->sku->kms;
        r->app_id = ctx->kms->app->id;
        r->sku_id = ctx->sku->id;
        r->kms_id = ctx->kms->id;
    }
    r->version_major = (uint16_t)(o->have_major ? o->major : ctx->kms ? ctx->kms->protocol : DEFAULT_PROTOCOL);
    r->version_minor = o->have_minor ? o->minor : 0;
    r->required_count = o->have_min_count ? o->min_count : ctx->kms ? ctx->kms->n_policy : DEFAULT_MIN_COUNT;
    r->is_client_vm = o->vm ? 1 : 0;
    r->license_status = o->license_status;
    r->grace_time = o->grace_time;
    if (o->cmid_text) {
        if (guid_parse(&r->cmid, o->cmid_text) != 0)
            return outcome_usage(&ctx->res, "--cmid: '%s' is not a GUID", o->cmid_text);
    } else if (kmsc_random_uuid(&r->cmid) != 0) {
        kms_client_fail(&ctx->res, KMSC_INTERNAL, KMS_ECRYPTO, "random source failed");
        return KMS_ECRYPTO;
    }
    /* previousClientMachineId: all zero (memset above) unless asked */
    if (o->prev_cmid_text && guid_parse(&r->prev_cmid, o->prev_cmid_text) != 0)
        return outcome_usage(&ctx->res, "--previous-cmid: '%s' is not a GUID", o->prev_cmid_text);
    return set_workstation(ctx);
}

static const char *syntax_name(const struct rpc_ctx_elem *e)
{
    if (guid_eq(&e->transfer[0].uuid, &rpc_uuid_ndr32))
        return "NDR32";
    if (guid_eq(&e->transfer[0].uuid, &rpc_uuid_ndr64))
        return "NDR64";
    return "BTFN";
}

static void print_request(const struct kmsc_ctx *ctx)
{
    const struct kms_request *r = &ctx->req;
    char app[GUID_TEXT_LEN + 1], sku[GUID_TEXT_LEN + 1], kms[GUID_TEXT_LEN + 1], cmid[GUID_TEXT_LEN + 1];
    char ws[KMS_EPID_UTF8_MAX];
    guid_format(&r->app_id, app);
    guid_format(&r->sku_id, sku);
    guid_format(&r->kms_id, kms);
    guid_format(&r->cmid, cmid);
    (void)kms_request_machine_name(r, ws, sizeof ws);
    printf("Product:             %s\n", ctx->sku ? ctx->sku->name : "(raw ids)");
    printf("Application id:      %s%s%s%s\n", app, ctx->kms ? " (" : "", ctx->kms ? ctx->kms->app->name : "",
           ctx->kms ? ")" : "");
    printf("SKU id:              %s\n", sku);
    printf("KMS id:              %s%s%s%s\n", kms, ctx->kms ? " (" : "", ctx->kms ? ctx->kms->name : "",
           ctx->kms ? ")" : "");
    printf("Protocol:            %u.%u\n", r->version_major, r->version_minor);
    printf("Client machine id:   %s\n", cmid);
    if (!guid_is_zero(&r->prev_cmid)) {
        guid_format(&r->prev_cmid, cmid);
        printf("Previous machine id: %s\n", cmid);
    }
    printf("Workstation:         %s\n", ws);
    printf("License status:      %u (%s), grace time %u min\n", r->license_status,
           kms_license_status_name(r->license_status), r->grace_time);
    printf("Virtual machine:     %s\n", r->is_client_vm ? "yes" : "no");
    printf("Required count:      %u\n", r->required_count);
}

static void print_bind(const struct kmsc_conn *c)
{
    for (size_t i = 0; i < c->offered.n_ctx && i < c->ack.n_results; i++) {
        const struct rpc_result *res = &c->ack.results[i];
        const char *what = res->result == RPC_RESULT_ACCEPT           ? "accepted"
                           : res->result == RPC_RESULT_NEGOTIATE_ACK  ? "negotiate ack"
                           : res->result == RPC_RESULT_USER_REJECT    ? "user rejection"
                           : res->result == RPC_RESULT_PROVIDER_REJECT ? "provider rejection"
                                                                        : "unknown result";
        printf("BIND context %u %s: %s (result %u, reason %u)\n", c->offered.ctx[i].ctx_id,
               syntax_name(&c->offered.ctx[i]), what, res->result, res->reason);
    }
    printf("Using context %u (%s), assoc group 0x%08x\n", c->ctx_id, c->syntax == RPC_SYNTAX_NDR64 ? "NDR64" : "NDR32",
           c->ack.assoc_group);
}

static void print_response(const struct kmsc_ctx *ctx, unsigned long i)
{
    const struct kms_response *resp = &ctx->res.resp;
    const struct kms_request *r = &ctx->req;
    if (ctx->o.n > 1)
        printf("Request %lu/%lu:\n", i, ctx->o.n);
    printf("Host:                %s%s%s%s\n", ctx->conn.peer, ctx->via ? " (" : "", ctx->via ? ctx->via : "",
           ctx->via ? ")" : "");
    printf("Product:             %s\n", ctx->sku ? ctx->sku->name : "(raw ids)");
    printf("Protocol:            %u.%u (%s)\n", r->version_major, r->version_minor,
           ctx->conn.syntax == RPC_SYNTAX_NDR64 ? "NDR64" : "NDR32");
    printf("ePID:                %s\n", resp->epid);
    if (r->version_major >= 6) {
        char hw[KMS_HWID_TEXT_LEN + 1];
        kms_format_hwid(resp->hwid, hw);
        printf("HWID:                %s\n", hw);
    }
    printf("Current count:       %u (required %u)\n", resp->current_count, r->required_count);
    printf("Activation interval: %u min\n", resp->activation_interval);
    printf("Renewal interval:    %u min\n", resp->renewal_interval);
    printf("Round trip:          %.3f ms\n", ctx->res.rtt_ms);
}

static void report_failure(const struct kmsc_ctx *ctx, unsigned long i)
{
    fflush(stdout); /* keep the order of -v output and errors on a shared terminal */
    const char *via = ctx->via ? ctx->via : "", *sep = ctx->via ? ": " : "";
    if (ctx->o.n > 1)
        fprintf(stderr, "%s: request %lu/%lu: %s%s%s\n", ctx->prog, i, ctx->o.n, via, sep, ctx->res.msg);
    else
        fprintf(stderr, "%s: %s%s%s\n", ctx->prog, via, sep, ctx->res.msg);
}

/* Connects and binds ctx->conn. Returns 0 or a negative code (the failure is reported, ctx->res says it). */
static int open_conn(struct kmsc_ctx *ctx, unsigned long i)
{
    const struct opts *o = &ctx->o;
    if (o->verbosity >= VERBOSE)
        printf("Connecting to %s port %s\n", o->target.host, o->target.port);
    enum kmsc_status st = kmsc_connect(&ctx->conn, &o->target, &ctx->res);
    if (st == KMSC_OK) {
        if (o->verbosity >= VERBOSE)
            printf("Connected to %s\n", ctx->conn.peer);
        uint8_t flags = (uint8_t)(o->multiplex ? BIND_FLAGS : BIND_FLAGS & ~RPC_PFC_CONC_MPX);
        st = kmsc_bind(&ctx->conn, o->ndr64, o->btfn, flags, &ctx->res);
        if (st == KMSC_OK && o->verbosity >= VERBOSE)
            print_bind(&ctx->conn);
    }
    if (st == KMSC_OK)
        return 0;
    report_failure(ctx, i);
    kmsc_close(&ctx->conn);
    return outcome_code(&ctx->res);
}

/* One activation on the open connection, its answer printed or its failure reported. 0 or a negative code. */
static int activate_one(struct kmsc_ctx *ctx, unsigned long i)
{
    const struct opts *o = &ctx->o;
    enum kmsc_status st = kmsc_activate(&ctx->conn, &ctx->req, &ctx->res);
    if ((st == KMSC_OK || st == KMSC_COUNT) && o->verbosity >= NORMAL)
        print_response(ctx, i);
    if (st == KMSC_OK && o->save_identity) {
        ctx->have_answer = true;
        ctx->answer = ctx->res.resp;
        memcpy(ctx->answer_peer, ctx->conn.peer, sizeof ctx->answer_peer);
    }
    if (st != KMSC_OK)
        report_failure(ctx, i);
    if (st == KMSC_RPC || st == KMSC_INTERNAL || o->new_connection)
        kmsc_close(&ctx->conn);
    return st == KMSC_OK ? 0 : outcome_code(&ctx->res);
}

/* --discover: request 1 to one address the DNS gave (discover_cmd_first calls it for each in turn). */
static enum kmsc_status discover_attempt(void *arg, const struct kmsc_target *t, const char *target)
{
    struct kmsc_ctx *ctx = arg;
    ctx->o.target = *t;
    ctx->via = target;
    int rc = open_conn(ctx, 1);
    if (rc == 0)
        rc = activate_one(ctx, 1);
    return rc == 0 ? KMSC_OK : ctx->res.status;
}

/* Request 1 with --discover: to the discovered hosts in order until one answers; the others then go where it
 * went. 0 or a negative code (reported). */
static int discover_first(struct kmsc_ctx *ctx)
{
    struct kmsc_result dres;
    enum kmsc_status st =
        discover_cmd_first(&ctx->o.disc, ctx->o.verbosity >= VERBOSE, &ctx->found, discover_attempt, ctx, &dres);
    if (st == KMSC_OK)
        return 0;
    if (dres.msg[0]) { /* the discovery's own outcome, not yet reported */
        ctx->via = NULL;
        ctx->res = dres;
        report_failure(ctx, 1);
    }
    ctx->res.status = st;
    return outcome_code(&ctx->res);
}

/* Sends the -n requests. Returns 0 when all verified, else a negative code with ctx->res.status the worst
 * status (every failure was reported as it happened: no message left). */
static int run(struct kmsc_ctx *ctx)
{
    const struct opts *o = &ctx->o;
    enum kmsc_status worst = KMSC_OK;
    unsigned long ok = 0, done = 0;
    kmsc_conn_init(&ctx->conn, o->timeout_ms);
    if (!o->timeout_given && o->timeout_ms > KMSC_BIND_TIMEOUT_MS)
        ctx->conn.bind_timeout_ms = KMSC_BIND_TIMEOUT_MS;
    ctx->conn.wait_ms = o->wait_ms;
    ctx->conn.time_offset = o->time_offset;
    if (o->verbosity >= VERBOSE)
        print_request(ctx);

    for (unsigned long i = 1; i <= o->n; i++) {
        int rc;
        if (i == 1 && o->disc.on) {
            rc = discover_first(ctx); /* connects, binds and sends request 1 */
        } else {
            rc = ctx->conn.fd < 0 ? open_conn(ctx, i) : 0;
            if (rc == 0)
                rc = activate_one(ctx, i);
        }
        enum kmsc_status st = rc == 0 ? KMSC_OK : ctx->res.status;
        done++;
        if (st == KMSC_OK)
            ok++;
        worst = kms_client_worse(worst, st);
        /* Nothing can follow a failed connect or discovery; an RPC failure ends the one shared connection. */
        if (st == KMSC_CONNECT || st == KMSC_INTERNAL || st == KMSC_NO_SRV || st == KMSC_NO_HOST ||
            (st == KMSC_RPC && !o->new_connection))
            break;
    }
    kmsc_close(&ctx->conn);
    if (o->n > 1 && o->verbosity >= NORMAL)
        printf("%lu of %lu requests verified (%lu sent)\n", ok, o->n, done);
    return worst == KMSC_OK ? 0 : outcome_quiet(&ctx->res, worst, -EPROTO);
}

/* --save-identity FILE after the run whose result is rc: the last verified answer as kmsd configuration
 * (host_identity), written whole (identity_file). Returns rc, or a negative code with status KMSC_INTERNAL when
 * FILE could not be written (the worst status: nothing else is lost). */
static int save_identity(struct kmsc_ctx *ctx, int rc)
{
    const struct opts *o = &ctx->o;
    if (!ctx->have_answer) {
        fflush(stdout);
        fprintf(stderr, "%s: --save-identity: no verified answer; %s not written\n", ctx->prog, o->save_identity);
        return rc;
    }
    const struct kmsc_target *t = &o->target;
    char target[KMSC_HOST_MAX + KMSC_PORT_MAX + 4], source[sizeof target + KMSC_ADDR_TEXT + 4];
    snprintf(target, sizeof target, strchr(t->host, ':') ? "[%s]:%s" : "%s:%s", t->host, t->port);
    if (strcmp(target, ctx->answer_peer) == 0)
        snprintf(source, sizeof source, "%s", target);
    else
        snprintf(source, sizeof source, "%s (%s)", target, ctx->answer_peer);
    struct host_identity id = {.source = source, .saved_at = (int64_t)time(NULL), .app_id = ctx->req.app_id,
                               .kms_id = ctx->req.kms_id, .epid = ctx->answer.epid,
                               .has_hwid = ctx->req.version_major >= 6}; /* the V6 layout carries the HWID */
    memcpy(id.hwid, ctx->answer.hwid, sizeof id.hwid);
    char text[HOST_IDENTITY_TEXT_MAX], note[KMSC_MSG_MAX];
    int n = host_identity_format(&id, text, sizeof text, note, sizeof note);
    if (n < 0) { /* the ePID passed kms_decode_response's form check, and the text always fits */
        kms_client_fail(&ctx->res, KMSC_INTERNAL, n, "--save-identity: %s", kms_strerror(n));
        return n;
    }
    int wrc = identity_file_write(o->save_identity, text, (size_t)n, &ctx->res);
    if (wrc < 0)
        return wrc;
    if (o->verbosity >= NORMAL) {
        printf("Saved the host's ePID%s to %s\n", id.has_hwid ? " and HWID" : "", o->save_identity);
        fflush(stdout);
        if (note[0])
            fprintf(stderr, "%s: --save-identity: note: %s\n", ctx->prog, note);
    }
    return rc;
}

/* `kmsc [options] [HOST[:PORT]]`: activation requests (or --help, --list-products). 0 or a negative code. */
static int activate_cmd(struct kmsc_ctx *ctx, int argc, char **argv)
{
    int rc = parse_args(ctx, argc, argv);
    if (rc < 0)
        return rc;
    if (ctx->o.help) {
        help(ctx->prog);
        return 0;
    }
    if (ctx->o.version) {
        printf("kmsc %s\n", KMSD_VERSION);
        return fflush(stdout) == 0 ? 0 : outcome_quiet(&ctx->res, KMSC_INTERNAL, -EIO);
    }
    if (ctx->o.list) {
        rc = list_products(ctx, ctx->o.filter);
        if (rc < 0)
            return rc;
        return fflush(stdout) == 0 ? 0 : outcome_quiet(&ctx->res, KMSC_INTERNAL, -EIO);
    }
    rc = build_request(ctx);
    if (rc < 0)
        return rc;
    if (ctx->o.save_identity && (rc = identity_file_check(ctx->o.save_identity, &ctx->res)) < 0)
        return rc;
    rc = run(ctx);
    if (ctx->o.save_identity)
        rc = save_identity(ctx, rc);
    if (fflush(stdout) != 0 && rc == 0)
        rc = outcome_quiet(&ctx->res, KMSC_INTERNAL, -EIO);
    return rc;
}

#define HEALTH_TIMEOUT_MS 5000
#define HEALTH_TARGET_MSG 128 /* a bad HOST[:PORT] is reported in at most this many bytes */

#define HEALTH_USAGE                                                                                                 \
    "Usage: kmsc health [HOST[:PORT]]                      one verified activation (default " DEFAULT_HOST        \
    ":" KMSC_DEFAULT_PORT ")\n"                                                                                       \
    "       kmsc health --http|--https [HOST[:PORT]] [--path PATH] [--cacert FILE]\n"                               \
    "                                  GET kmsd's " HEALTH_HTTP_DEFAULT_PATH " (default " DEFAULT_HOST              \
    ":" HEALTH_HTTP_DEFAULT_PORT "); --cacert: trust this PEM file\n"

/* Whether "HOST[:PORT]" text names a port ("h:p", "[v6]:p"; an unbracketed text with several colons is an IPv6
 * address without one), as kms_client_parse_target reads it. */
static bool target_has_port(const char *text)
{
    const char *colon = strrchr(text, ':');
    if (!colon)
        return false;
    if (text[0] == '[')
        return colon > strchr(text, ']');
    return strchr(text, ':') == colon;
}

/* `kmsc health --http|--https`: health_http.h. */
static int health_http_cmd(const char *target, bool tls, const char *path, const char *cacert,
                           struct kmsc_result *res)
{
    struct kmsc_target t;
    char msg[HEALTH_TARGET_MSG];
    if (kms_client_parse_target(target, &t, msg, sizeof msg) != 0)
        return outcome_usage(res, "%s", msg);
    if (!target_has_port(target))
        snprintf(t.port, sizeof t.port, "%s", HEALTH_HTTP_DEFAULT_PORT);
    struct health_http h = {tls, t.host, t.port, path, cacert, HEALTH_TIMEOUT_MS};
    long status = 0;
    double ms = 0;
    enum kmsc_status st = health_http_probe(&h, res, &status, &ms);
    if (st != KMSC_OK)
        return outcome_code(res);
    printf("healthy: %s://%s%s%s:%s%s answered %ld in %.3f ms\n", tls ? "https" : "http",
           strchr(t.host, ':') ? "[" : "", t.host, strchr(t.host, ':') ? "]" : "", t.port, path, status, ms);
    return fflush(stdout) == 0 ? 0 : outcome_quiet(res, KMSC_INTERNAL, -EIO);
}

/* `kmsc health [HOST[:PORT]]`: one real protocol-6 activation (health.h); with --http or --https, a GET of kmsd's
 * /readyz instead (health_http.h). 0 when healthy, else a negative code with res saying why. For container health
 * checks and probes. */
static int health_cmd(int argc, char **argv, struct kmsc_result *res)
{
    const char *target = NULL, *path = NULL, *cacert = NULL;
    bool http = false, tls = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(HEALTH_USAGE, stdout);
            return 0;
        } else if (strcmp(a, "--http") == 0 || strcmp(a, "--https") == 0) {
            if (http && tls != (a[6] == 's'))
                return outcome_usage(res, "--http and --https exclude each other");
            http = true;
            tls = a[6] == 's';
        } else if (strcmp(a, "--path") == 0 || strcmp(a, "--cacert") == 0) {
            if (i + 1 >= argc)
                return outcome_usage(res, "%s needs a value", a);
            *(a[2] == 'p' ? &path : &cacert) = argv[++i];
        } else if (a[0] == '-') {
            return outcome_usage(res, "unknown option '%s' ('kmsc health --help' shows the usage)", a);
        } else if (target) {
            return outcome_usage(res, "one HOST[:PORT] at most ('%s' and '%s'; 'kmsc health --help' shows the usage)",
                                 target, a);
        } else {
            target = a;
        }
    }
    if (!http && (path || cacert))
        return outcome_usage(res, "%s goes with --http or --https", path ? "--path" : "--cacert");
    if (http && !tls && cacert)
        return outcome_usage(res, "--cacert goes with --https");
    if (path && (path[0] != '/' || strlen(path) >= HEALTH_HTTP_PATH_MAX || strpbrk(path, " \t\r\n#")))
        return outcome_usage(res, "--path '%.40s%s': a path starting with '/', without spaces or '#', shorter than %d "
                                  "bytes", path, strlen(path) > 40 ? "..." : "", HEALTH_HTTP_PATH_MAX);
    if (!target)
        target = DEFAULT_HOST; /* without a host, as plain kmsc: this machine */
    if (http)
        return health_http_cmd(target, tls, path ? path : HEALTH_HTTP_DEFAULT_PATH, cacert, res);
    struct kmsc_target t;
    char msg[HEALTH_TARGET_MSG];
    if (kms_client_parse_target(target, &t, msg, sizeof msg) != 0)
        return outcome_usage(res, "%s", msg);
    enum kmsc_status st = kmsc_health(&t, HEALTH_TIMEOUT_MS, res);
    if (st != KMSC_OK) {
        char why[KMSC_MSG_MAX];
        snprintf(why, sizeof why, "%s", res->msg[0] ? res->msg : "failed");
        if (strstr(why, target)) /* "cannot connect to HOST:PORT: ..." names it already */
            kms_client_fail(res, st, res->err, "%s", why);
        else
            kms_client_fail(res, st, res->err, "%s: %s", target, why);
        return outcome_code(res);
    }
    printf("healthy: %s answered a verified v6 activation in %.3f ms (ePID %s)\n", target, res->rtt_ms,
           res->resp.epid);
    return fflush(stdout) == 0 ? 0 : outcome_quiet(res, KMSC_INTERNAL, -EIO);
}

/* The one place an outcome becomes an exit status (docs/kmsc.1): 0 when rc is 0, else res->status, after
 * printing res->msg (unless empty) as "WHO: msg" and, for a usage error when hint, where help is. */
static int exit_status(int rc, const struct kmsc_result *res, const char *who, bool hint)
{
    if (rc == 0)
        return 0;
    if (res->msg[0])
        fprintf(stderr, "%s: %s\n", who, res->msg);
    if (hint && res->status == KMSC_USAGE)
        fprintf(stderr, "Try '%s --help' for more information.\n", who);
    return res->status == KMSC_OK ? KMSC_INTERNAL : (int)res->status;
}

int main(int argc, char **argv)
{
    static struct kmsc_ctx ctx; /* the connection buffer is large: not on the stack */
    ctx.prog = "kmsc";
    if (argc > 1 && strcmp(argv[1], "health") == 0)
        return exit_status(health_cmd(argc, argv, &ctx.res), &ctx.res, "kmsc health", false);
    if (argc > 1 && strcmp(argv[1], "discover") == 0)
        return exit_status(discover_cmd_list(argc - 1, argv + 1, &ctx.res), &ctx.res, "kmsc discover", true);
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return exit_status(kmsc_bench(argc - 1, argv + 1, &ctx.res), &ctx.res, "kmsc bench", true);
    return exit_status(activate_cmd(&ctx, argc, argv), &ctx.res, ctx.prog, true);
}
