#include "hostport.h"

#include <string.h>

#include "err.h"

int hostport_split(const char *text, struct hostport *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (strstr(text, "://")) { /* "http://host:8080/": what a browser's address bar holds, never an address */
        if (why)
            *why = "a URL, not an address";
        return KMS_EINVAL;
    }
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close) {
            if (why)
                *why = "missing \"]\"";
            return KMS_EINVAL;
        }
        out->bracketed = true;
        out->host = text + 1;
        out->host_len = (size_t)(close - text - 1);
        if (close[1] == ':') {
            out->port = close + 2;
            out->port_len = strlen(out->port);
        } else if (close[1] != '\0') {
            if (why)
                *why = "unexpected text after \"]\"";
            return KMS_EINVAL;
        }
        return 0;
    }
    out->host = text;
    const char *colon = strchr(text, ':');
    if (colon && strchr(colon + 1, ':')) {
        out->bare_ipv6 = true;
        out->host_len = strlen(text);
        return 0;
    }
    if (colon) {
        out->host_len = (size_t)(colon - text);
        out->port = colon + 1;
        out->port_len = strlen(out->port);
    } else {
        out->host_len = strlen(text);
    }
    return 0;
}

int hostport_port(const char *p, size_t n, uint16_t *out)
{
    if (n == 0 || n > 5)
        return KMS_EINVAL;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return KMS_EINVAL;
        v = v * 10 + (uint32_t)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return KMS_EINVAL;
    *out = (uint16_t)v;
    return 0;
}
