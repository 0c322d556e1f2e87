/*
 * hostport — splits the "ADDR[:PORT]" texts that kmsd, its HTTP server and kmsc accept, without resolving
 * or validating the address: "192.0.2.1", "host.example:1688", "*:8080", "[::1]", "[fe80::1%eth0]:1688".
 *
 * One splitter for every caller, so that brackets and ports mean the same everywhere; each caller then
 * applies its own rules to the parts (config validation names what is wrong, kmsc accepts a bare IPv6
 * address, the listeners resolve the host).
 */
#ifndef KMSD_HOSTPORT_H
#define KMSD_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hostport {
    const char *host; /* into the text: inside the brackets when bracketed, else up to the port's ':' */
    size_t host_len;
    const char *port; /* into the text after ':', or NULL when there is no ':' (port_len 0 for "host:") */
    size_t port_len;
    bool bracketed;   /* the host was in brackets */
    bool bare_ipv6;   /* two or more ':' outside brackets: host is the whole text and there is no port */
};

/* Splits text. Returns 0, or KMS_EINVAL with *why (when why is not NULL) set to "missing \"]\"",
 * "unexpected text after \"]\"" or, for a text holding "://", "a URL, not an address". */
int hostport_split(const char *text, struct hostport *out, const char **why);

/* A decimal port 1..65535 of exactly n characters (digits only). Returns 0 or KMS_EINVAL. */
int hostport_port(const char *p, size_t n, uint16_t *out);

#endif
