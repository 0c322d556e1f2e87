/*
 * discover_cmd — kmsc's side of finding KMS hosts in DNS (the lookups are discover.h's, of the client library):
 * `kmsc --discover [DOMAIN]`, whose first request goes to each discovered address in the RFC 2782 order until
 * one answers, and `kmsc discover [DOMAIN]`, which lists the hosts in that order with a health probe of each.
 *
 * Which failures move on to the next address: a failure to connect (status 3) and an RPC failure (4: no BIND
 * answer, BIND refused, FAULT, closed, no reply in time): that host gave no KMS answer. Anything the host
 * answered ends the search: a refusal HRESULT (5), a response that fails verification (6) or a low count (7)
 * is that host's answer and kmsc's outcome, as with kmsc HOST. Discovery runs once per kmsc run: with -n the
 * other requests go to the address that answered the first.
 */
#ifndef KMSC_DISCOVER_CMD_H
#define KMSC_DISCOVER_CMD_H

#include <stdbool.h>

#include "discover.h"

/* kmsc discover's probe of one address: the wait for each step (connect, BIND, the activation's answer). Each
 * address is probed in turn, so ten silent ones take at most 10 x 3 x this. */
#define DISCOVER_HEALTH_TIMEOUT_MS 3000

/* The command line's discovery: --discover [DOMAIN] and --dns-server. */
struct discover_opts {
    bool on;                       /* --discover */
    const char *domain;            /* NULL: the resolver's search domains */
    bool have_server;              /* --dns-server given */
    struct kmsc_dns_server server; /* its address or name and port */
};

/* --dns-server TEXT into o. Returns 0 or KMS_EINVAL (res says why, status KMSC_USAGE). */
int discover_cmd_server(struct discover_opts *o, const char *text, struct kmsc_result *res);

/* --discover: looks the hosts up into *found (the caller's, about 44 KB) and calls attempt(arg, t, target) for
 * each address in order (t: the numeric address and the SRV port; target: the SRV target's name, in *found)
 * while it returns
 * KMSC_CONNECT or KMSC_RPC; attempt reports its own failures. verbose prints the records and each try on
 * stdout. Returns KMSC_OK, or the status of the attempt that ended the search (res->msg empty: reported), or
 * KMSC_NO_SRV, KMSC_NO_HOST, KMSC_CONNECT (the DNS did not answer), KMSC_USAGE or KMSC_INTERNAL with res->msg
 * for the caller to print. */
enum kmsc_status discover_cmd_first(const struct discover_opts *o, bool verbose, struct kmsc_discovery *found,
                                    enum kmsc_status (*attempt)(void *arg, const struct kmsc_target *t,
                                                                const char *target),
                                    void *arg, struct kmsc_result *res);

/* `kmsc discover [DOMAIN] [--dns-server ADDR[:PORT]]` (argv[0] is "discover"): the table of hosts in the order
 * kmsc would try them, each address probed with kmsc_health (DISCOVER_HEALTH_TIMEOUT_MS per step). Returns 0
 * when at least one address is healthy, else a negative code with res saying why (KMSC_NO_HOST when records
 * exist but no address is healthy; a discovery failure as kmsc_discover). */
int discover_cmd_list(int argc, char **argv, struct kmsc_result *res);

#endif
