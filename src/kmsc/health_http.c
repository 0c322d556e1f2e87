/* health_http — see health_http.h. */
#include "health_http.h"

#include <stdio.h>
#include <string.h>

#include "curl_fns.h"

struct body {
    char text[HEALTH_HTTP_BODY_MAX + 1];
    size_t n;
};

static size_t keep_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;
    size_t room = HEALTH_HTTP_BODY_MAX - b->n;
    size_t take = n < room ? n : room;
    memcpy(b->text + b->n, p, take);
    b->n += take;
    b->text[b->n] = '\0';
    return n; /* the rest is read and dropped */
}

/* The first line of the answer, with control characters shown as spaces, for a message. */
static void first_line(const struct body *b, char *out, size_t cap)
{
    size_t i = 0;
    for (; i + 1 < cap && i < b->n && b->text[i] != '\n' && b->text[i] != '\r'; i++)
        out[i] = (unsigned char)b->text[i] < 0x20 ? ' ' : b->text[i];
    out[i] = '\0';
}

static enum kmsc_status kind(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return KMSC_CONNECT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
        return KMSC_VERIFY;
    default:
        return KMSC_INTERNAL;
    }
}

enum kmsc_status health_http_probe(const struct health_http *h, struct kmsc_result *res, long *status_out,
                                   double *ms_out)
{
    char url[KMSC_HOST_MAX + HEALTH_HTTP_PATH_MAX + 32];
    bool v6 = strchr(h->host, ':') != NULL;
    int n = snprintf(url, sizeof url, "%s://%s%s%s:%s%s", h->tls ? "https" : "http", v6 ? "[" : "", h->host,
                     v6 ? "]" : "", h->port, h->path);
    if (n < 0 || (size_t)n >= sizeof url)
        return kms_client_fail(res, KMSC_USAGE, 0, "the URL is too long");
    char why[256];
    if (curl_fns_load(why, sizeof why) < 0) /* libcurl is opened for this probe, not at every kmsc start */
        return kms_client_fail(res, KMSC_INTERNAL, 0, "%s", why);
    if ((curl_fn.curl_global_init)(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return kms_client_fail(res, KMSC_INTERNAL, 0, "libcurl did not initialise");
    CURL *c = (curl_fn.curl_easy_init)();
    if (!c) {
        (curl_fn.curl_global_cleanup)();
        return kms_client_fail(res, KMSC_INTERNAL, 0, "libcurl: out of memory");
    }
    struct body b = {{0}, 0};
    char err[CURL_ERROR_SIZE] = "";
    CURLcode rc = CURLE_OK;
    /* every option is checked: one libcurl lacks would make the probe something other than it says */
#define SET(opt, val)                                                                                                 \
    if (rc == CURLE_OK)                                                                                               \
    rc = (curl_fn.curl_easy_setopt)(c, opt, val)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_ERRORBUFFER, err);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)h->timeout_ms);
    SET(CURLOPT_PROTOCOLS_STR, h->tls ? "https" : "http");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_USERAGENT, "kmsc/" KMSD_VERSION);
    SET(CURLOPT_WRITEFUNCTION, keep_body);
    SET(CURLOPT_WRITEDATA, &b);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->cacert)
        SET(CURLOPT_CAINFO, h->cacert);
#undef SET
    if (rc != CURLE_OK) {
        (curl_fn.curl_easy_cleanup)(c);
        (curl_fn.curl_global_cleanup)();
        return kms_client_fail(res, KMSC_INTERNAL, 0, "libcurl: %s", (curl_fn.curl_easy_strerror)(rc));
    }
    rc = (curl_fn.curl_easy_perform)(c);
    long status = 0;
    double secs = 0;
    (void)(curl_fn.curl_easy_getinfo)(c, CURLINFO_RESPONSE_CODE, &status);
    (void)(curl_fn.curl_easy_getinfo)(c, CURLINFO_TOTAL_TIME, &secs);
    (curl_fn.curl_easy_cleanup)(c);
    (curl_fn.curl_global_cleanup)();
    *status_out = status;
    *ms_out = secs * 1000.0;
    if (rc != CURLE_OK)
        return kms_client_fail(res, kind(rc), 0, "%s: %s", url, err[0] ? err : (curl_fn.curl_easy_strerror)(rc));
    if (status != 200) {
        char line[128];
        first_line(&b, line, sizeof line);
        return kms_client_fail(res, KMSC_REFUSED, 0, "%s answered %ld%s%s", url, status, line[0] ? ": " : "", line);
    }
    return KMSC_OK;
}
