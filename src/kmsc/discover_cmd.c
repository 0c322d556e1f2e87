#include "discover_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "health.h"
#include "kms_crypto.h"
#include "outcome.h"

static int rng_fill(void *ctx, void *buf, size_t len)
{
    (void)ctx;
    return kms_random_bytes(buf, len) == 0 ? 0 : KMS_ECRYPTO;
}

int discover_cmd_server(struct discover_opts *o, const char *text, struct kmsc_result *res)
{
    char msg[KMSC_MSG_MAX];
    if (kmsc_discover_parse_server(text, &o->server, msg, sizeof msg) != 0)
        return outcome_usage(res, "%s", msg);
    o->have_server = true;
    return 0;
}

/* Looks the hosts up into d. KMSC_OK or the failure (res says why). */
static enum kmsc_status lookup(const struct discover_opts *o, struct kmsc_discovery *d, struct kmsc_result *res)
{
    struct kms_rng rng = {rng_fill, NULL};
    return kmsc_discover(o->domain, o->have_server ? &o->server : NULL, &rng, d, res);
}

static int width(const char *s, int w)
{
    int n = (int)strlen(s);
    return n > w ? n : w;
}

/* The table's header, with the widths of the target and address columns. */
static void table_head(const struct kmsc_discovery *found, int wt, int wa, bool health)
{
    printf("%s: %zu record%s, in the order kmsc tries them (RFC 2782: priority, then a weighted draw)\n", found->owner,
           found->n, found->n == 1 ? "" : "s");
    if (found->left_out)
        printf("(%zu more records left out: beyond %d, the highest priorities, or a target that is no usable "
               "name)\n",
               found->left_out, SRV_ORDER_MAX);
    printf("%-8s  %-6s  %-5s  %-*s  %-*s%s\n", "PRIORITY", "WEIGHT", "PORT", wt, "TARGET", health ? wa : 0,
           health ? "ADDRESS" : "ADDRESSES", health ? "  HEALTH" : "");
}

/* kmsc --discover -v: the hosts and their addresses, one line each. */
static void print_found(const struct kmsc_discovery *found)
{
    int wt = 0;
    for (size_t i = 0; i < found->n; i++)
        wt = width(found->host[i].rr.target, wt);
    table_head(found, wt, 0, false);
    for (size_t i = 0; i < found->n; i++) {
        const struct kmsc_discover_host *h = &found->host[i];
        printf("%-8u  %-6u  %-5u  %-*s  ", h->rr.priority, h->rr.weight, h->rr.port, wt, h->rr.target);
        for (size_t k = 0; k < h->n_addr; k++)
            printf("%s%s", k ? " " : "", h->addr[k]);
        printf("%s\n", h->n_addr ? "" : h->why);
    }
}

static void target_of(const struct kmsc_discover_host *h, size_t k, struct kmsc_target *t)
{
    snprintf(t->host, sizeof t->host, "%s", h->addr[k]);
    snprintf(t->port, sizeof t->port, "%u", h->rr.port);
}

enum kmsc_status discover_cmd_first(const struct discover_opts *o, bool verbose, struct kmsc_discovery *found,
                                    enum kmsc_status (*attempt)(void *arg, const struct kmsc_target *t,
                                                                const char *target),
                                    void *arg, struct kmsc_result *res)
{
    enum kmsc_status st = lookup(o, found, res);
    if (st != KMSC_OK)
        return st;
    if (verbose)
        print_found(found);
    size_t tried = 0;
    for (size_t i = 0; i < found->n; i++) {
        const struct kmsc_discover_host *h = &found->host[i];
        if (h->n_addr == 0) {
            fflush(stdout);
            fprintf(stderr, "kmsc: %s: %s\n", h->rr.target, h->why);
        }
        for (size_t k = 0; k < h->n_addr; k++) {
            struct kmsc_target t;
            target_of(h, k, &t);
            if (verbose)
                printf("Trying %s port %u (priority %u, weight %u) at %s\n", h->rr.target, h->rr.port, h->rr.priority,
                       h->rr.weight, h->addr[k]);
            tried++;
            st = attempt(arg, &t, h->rr.target);
            if (st != KMSC_CONNECT && st != KMSC_RPC) {
                memset(res, 0, sizeof *res);
                res->status = st;
                return st;
            }
        }
    }
    return kms_client_fail(res, KMSC_NO_HOST, -EHOSTUNREACH,
                           "no KMS host of %s answered (%zu address%s of %zu target%s tried)", found->owner, tried,
                           tried == 1 ? "" : "es", found->n, found->n == 1 ? "" : "s");
}

/* ---- kmsc discover ---- */

static void list_usage(FILE *f)
{
    fputs("Usage: kmsc discover [DOMAIN] [--dns-server ADDR[:PORT]]\n"
          "List the KMS hosts of the SRV record _vlmcs._tcp.DOMAIN (without DOMAIN: of each search domain of\n"
          "/etc/resolv.conf in turn, up to the first with records) in the order kmsc --discover tries them, and\n"
          "probe each address with one activation (as kmsc health). Exit 0 when at least one is healthy.\n"
          "  --dns-server ADDR[:PORT]  ask this DNS server (port 53 unless given), also for the targets' addresses\n"
          "  -h, --help                print this help and exit\n"
          "Exit status: 0 a host is healthy, 2 usage, 3 the DNS did not answer, 8 no SRV record, 9 records but no\n"
          "healthy host.\n",
          f);
}

/* Probes every address of `found`, printing a row each. Returns how many are healthy. */
static size_t probe_all(const struct kmsc_discovery *found)
{
    int wt = (int)strlen("TARGET"), wa = (int)strlen("ADDRESS");
    for (size_t i = 0; i < found->n; i++) {
        wt = width(found->host[i].rr.target, wt);
        for (size_t k = 0; k < found->host[i].n_addr; k++)
            wa = width(found->host[i].addr[k], wa);
    }
    table_head(found, wt, wa, true);
    size_t healthy = 0;
    for (size_t i = 0; i < found->n; i++) {
        const struct kmsc_discover_host *h = &found->host[i];
        printf("%-8u  %-6u  %-5u  %-*s  ", h->rr.priority, h->rr.weight, h->rr.port, wt, h->rr.target);
        if (h->n_addr == 0)
            printf("%-*s  no address: %s\n", wa, "-", h->why);
        for (size_t k = 0; k < h->n_addr; k++) {
            struct kmsc_target t;
            struct kmsc_result r;
            target_of(h, k, &t);
            if (k > 0)
                printf("%-8s  %-6s  %-5s  %-*s  ", "", "", "", wt, "");
            printf("%-*s  ", wa, h->addr[k]);
            fflush(stdout); /* the probe takes a moment: the row so far shows which one */
            enum kmsc_status st = kmsc_health(&t, DISCOVER_HEALTH_TIMEOUT_MS, &r);
            if (st == KMSC_OK) {
                healthy++;
                printf("healthy (%.3f ms)\n", r.rtt_ms);
            } else {
                printf("unhealthy (%d): %s\n", (int)st, r.msg);
            }
        }
    }
    return healthy;
}

int discover_cmd_list(int argc, char **argv, struct kmsc_result *res)
{
    static const struct option opts[] = {
        {"dns-server", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct discover_opts o;
    memset(&o, 0, sizeof o);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            list_usage(stdout);
            return 0;
        }
        int rc = c == 's' ? discover_cmd_server(&o, optarg, res) : outcome_getopt(res, c, argv, opts);
        if (rc < 0)
            return rc;
    }
    if (argc - optind > 1)
        return outcome_usage(res, "too many arguments (expected one DOMAIN at most)");
    o.domain = optind < argc ? argv[optind] : NULL;
    struct kmsc_discovery *found = malloc(sizeof *found);
    if (!found)
        return outcome_quiet(res, KMSC_INTERNAL, -ENOMEM);
    int rc = 0;
    if (lookup(&o, found, res) != KMSC_OK) {
        rc = outcome_code(res);
    } else {
        size_t healthy = probe_all(found), addrs = 0;
        for (size_t i = 0; i < found->n; i++)
            addrs += found->host[i].n_addr;
        printf("%zu of %zu address%s healthy\n", healthy, addrs, addrs == 1 ? "" : "es");
        if (fflush(stdout) != 0) {
            rc = outcome_quiet(res, KMSC_INTERNAL, -EIO);
        } else if (healthy == 0) {
            kms_client_fail(res, KMSC_NO_HOST, -EHOSTUNREACH, "no healthy KMS host in %s", found->owner);
            rc = outcome_code(res);
        }
    }
    free(found);
    return rc;
}
