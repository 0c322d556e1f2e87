/*
 * health_http — `kmsc health --http|--https`: a GET of kmsd's /readyz (or another path) as a probe, for checks
 * that reach kmsd through its web server rather than its KMS port (an orchestrator that probes HTTP, a
 * monitoring host that should also see the certificate expire). kmsd's /readyz runs the same activation probe
 * as `kmsc health` against its own KMS listener, so a 200 says both servers work.
 *
 * HTTP and TLS are libcurl's (Debian's GnuTLS flavour, as kmsd's own HTTPS): the certificate is verified against
 * the system's CA store or --cacert, and the host name (or address) against the certificate. Nothing is
 * followed (no redirects), at most HEALTH_HTTP_BODY_MAX bytes of the answer are kept, for the message.
 */
#ifndef KMSC_HEALTH_HTTP_H
#define KMSC_HEALTH_HTTP_H

#include <stdbool.h>

#include "client.h"

#define HEALTH_HTTP_DEFAULT_PORT "8080"   /* kmsd's default --http port */
#define HEALTH_HTTP_DEFAULT_PATH "/readyz"
#define HEALTH_HTTP_BODY_MAX 512          /* bytes of the answer kept for the message */
#define HEALTH_HTTP_PATH_MAX 256          /* bytes of --path */

struct health_http {
    bool tls;            /* https:// */
    const char *host;    /* a name or an address literal (IPv6 without brackets) */
    const char *port;    /* decimal */
    const char *path;    /* starts with '/' */
    const char *cacert;  /* PEM file of trusted CAs, NULL: the system's */
    int timeout_ms;      /* the whole request */
};

/* GETs the URL h names. KMSC_OK when the answer is 200 (*status_out set, *ms_out the time taken); otherwise
 * KMSC_CONNECT (resolution, connection, timeout), KMSC_VERIFY (TLS: the certificate or the handshake failed),
 * KMSC_REFUSED (an answer other than 200: kmsd not ready) or KMSC_INTERNAL, with res->msg saying why. */
enum kmsc_status health_http_probe(const struct health_http *h, struct kmsc_result *res, long *status_out,
                                   double *ms_out);

#endif
