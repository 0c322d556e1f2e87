#include "acl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool acl_is_v4(const uint8_t addr[16])
{
    return memcmp(addr, v4_prefix, sizeof v4_prefix) == 0;
}

static void mask(uint8_t addr[16], unsigned prefix)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned bits = prefix > 8 * i ? prefix - 8 * i : 0;
        if (bits >= 8)
            continue;
        addr[i] &= (uint8_t)(0xff00u >> bits);
    }
}

bool acl_net_contains(const struct acl_net *net, const uint8_t addr[16])
{
    uint8_t a[16];
    memcpy(a, addr, 16);
    mask(a, net->prefix);
    return memcmp(a, net->addr, 16) == 0;
}

int acl_parse_cidr(const char *text, struct acl_net *out, const char **why)
{
    char host[ACL_CIDR_TEXT];
    size_t n = strlen(text);
    *why = NULL;
    if (n == 0 || n >= sizeof host) {
        *why = n ? "too long" : "empty";
        return -1;
    }
    memcpy(host, text, n + 1);
    char *slash = strchr(host, '/');
    long prefix = -1;
    if (slash) {
        *slash = '\0';
        const char *p = slash + 1;
        if (p[0] < '0' || p[0] > '9' || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p)) {
            *why = "the prefix length after \"/\" is not a number";
            return -1;
        }
        prefix = 0;
        for (; *p; p++)
            prefix = prefix * 10 + (*p - '0');
    }
    memset(out, 0, sizeof *out);
    struct in_addr a4;
    struct in6_addr a6;
    if (strchr(host, ':') == NULL && inet_pton(AF_INET, host, &a4) == 1) {
        if (prefix > 32) {
            *why = "an IPv4 prefix length is 0 to 32";
            return -1;
        }
        memcpy(out->addr, v4_prefix, 12);
        memcpy(out->addr + 12, &a4, 4);
        out->prefix = (uint8_t)(96 + (prefix < 0 ? 32 : prefix));
    } else if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (prefix > 128) {
            *why = "an IPv6 prefix length is 0 to 128";
            return -1;
        }
        memcpy(out->addr, &a6, 16);
        out->prefix = (uint8_t)(prefix < 0 ? 128 : prefix);
    } else {
        *why = "not an IPv4 or IPv6 address";
        return -1;
    }
    uint8_t m[16];
    memcpy(m, out->addr, 16);
    mask(m, out->prefix);
    if (memcmp(m, out->addr, 16) != 0) {
        *why = "address bits are set below the prefix length (give the network address)";
        return -1;
    }
    return 0;
}

void acl_format_cidr(const struct acl_net *net, char *buf, size_t cap)
{
    char a[INET6_ADDRSTRLEN];
    if (acl_is_v4(net->addr) && net->prefix >= 96) {
        inet_ntop(AF_INET, net->addr + 12, a, sizeof a);
        snprintf(buf, cap, "%s/%u", a, (unsigned)net->prefix - 96);
    } else {
        inet_ntop(AF_INET6, net->addr, a, sizeof a);
        snprintf(buf, cap, "%s/%u", a, (unsigned)net->prefix);
    }
}

int acl_addr_from_sockaddr(const struct sockaddr *sa, uint8_t out[16])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        memcpy(out, v4_prefix, 12);
        memcpy(out + 12, &s4->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(out, &s6->sin6_addr, 16);
        return 0;
    }
    return -1;
}

bool acl_is_private(const uint8_t a[16])
{
    if (acl_is_v4(a)) {
        const uint8_t *b = a + 12;
        return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) || b[0] == 127 ||
               (b[0] == 169 && b[1] == 254) || (b[0] == 100 && (b[1] & 0xc0) == 64);
    }
    static const uint8_t loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return memcmp(a, loop6, 16) == 0 || (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

int acl_build(struct acl *acl, const char *allow, int n_allow, const char *deny, int n_deny, size_t text_len,
              bool private_only)
{
    const char *why;
    memset(acl, 0, sizeof *acl);
    acl->private_only = private_only;
    if (n_allow < 0 || n_deny < 0 || n_allow > ACL_MAX_RULES || n_deny > ACL_MAX_RULES)
        return -1;
    for (int i = 0; i < n_allow; i++)
        if (acl_parse_cidr(allow + (size_t)i * text_len, &acl->allow[acl->n_allow++], &why) < 0)
            return -1;
    for (int i = 0; i < n_deny; i++)
        if (acl_parse_cidr(deny + (size_t)i * text_len, &acl->deny[acl->n_deny++], &why) < 0)
            return -1;
    return 0;
}

enum acl_verdict acl_check(const struct acl *acl, const uint8_t addr[16])
{
    for (size_t i = 0; i < acl->n_deny; i++)
        if (acl_net_contains(&acl->deny[i], addr))
            return ACL_DENIED;
    if (acl->n_allow > 0) {
        bool ok = false;
        for (size_t i = 0; i < acl->n_allow && !ok; i++)
            ok = acl_net_contains(&acl->allow[i], addr);
        if (!ok)
            return ACL_NOT_ALLOWED;
    }
    if (acl->private_only && !acl_is_private(addr))
        return ACL_PUBLIC;
    return ACL_PASS;
}

const char *acl_verdict_name(enum acl_verdict v)
{
    switch (v) {
    case ACL_PASS:
        return "pass";
    case ACL_DENIED:
        return "deny";
    case ACL_NOT_ALLOWED:
        return "not-allowed";
    case ACL_PUBLIC:
        return "public";
    }
    return "?";
}
