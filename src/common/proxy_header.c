/* proxy_header — see proxy_header.h. */
#include "proxy_header.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "err.h"

static const uint8_t v2_sig[PROXY_SIG_LEN] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_start[] = "PROXY ";

bool proxy_looks_like(const uint8_t *p, size_t len)
{
    size_t n1 = len < sizeof v1_start - 1 ? len : sizeof v1_start - 1;
    size_t n2 = len < PROXY_SIG_LEN ? len : PROXY_SIG_LEN;
    return len > 0 && (memcmp(p, v1_start, n1) == 0 || memcmp(p, v2_sig, n2) == 0);
}

static uint16_t rd_u16be(struct rd *r)
{
    uint8_t hi = rd_u8(r), lo = rd_u8(r);
    return (uint16_t)(hi << 8 | lo);
}

/* Version 2: the 16-byte head, then len bytes of addresses and TLVs. */
static int parse_v2(const uint8_t *p, size_t len, struct proxy_info *out)
{
    if (len < 16)
        return 0;
    struct rd r;
    rd_init(&r, p, len);
    rd_skip(&r, PROXY_SIG_LEN);
    uint8_t ver_cmd = rd_u8(&r), fam = rd_u8(&r);
    uint16_t body = rd_u16be(&r);
    if (ver_cmd >> 4 != 2 || (ver_cmd & 0x0F) > 1)
        return KMS_EINVAL; /* version 2; LOCAL (0) or PROXY (1) */
    if (16u + body > PROXY_V2_MAX)
        return KMS_ERANGE;
    if (len < 16u + body)
        return 0;
    struct rd b = rd_sub(&r, body);
    out->version = 2;
    out->local = true;
    if ((ver_cmd & 0x0F) == 0) /* LOCAL: the proxy speaking for itself; the block, if any, is ignored */
        return (int)(16 + body);
    uint8_t af = fam >> 4, tr = fam & 0x0F;
    if (tr != 1 || (af != 1 && af != 2)) /* not TCP over IPv4 or IPv6 (UNSPEC, UDP, UNIX): the connection's own */
        return (af <= 3 && tr <= 2) ? (int)(16 + body) : KMS_EINVAL;
    size_t alen = af == 1 ? 4 : 16;
    if (rd_left(&b) < 2 * alen + 4)
        return KMS_EINVAL; /* the family's addresses do not fit in what the header announced */
    rd_bytes(&b, out->src, alen);
    rd_bytes(&b, out->dst, alen);
    out->src_port = rd_u16be(&b);
    out->dst_port = rd_u16be(&b);
    if (b.err)
        return KMS_EINVAL;
    out->family = af == 1 ? AF_INET : AF_INET6;
    out->local = false;
    return (int)(16 + body); /* TLVs, if any, skipped */
}

/* A decimal port, 0-65535, no sign, no leading zero (but "0" itself). */
static int parse_port(const uint8_t *s, size_t n, uint16_t *out)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return KMS_EINVAL;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return KMS_EINVAL;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535)
        return KMS_ERANGE;
    *out = (uint16_t)v;
    return 0;
}

/* The next space-separated field of the line reader r (consumed with its space, if one follows). */
static const uint8_t *field(struct rd *r, size_t *n)
{
    *n = rd_span_to(r, ' ');
    const uint8_t *f = rd_view(r, *n);
    if (rd_left(r))
        rd_skip(r, 1);
    return f;
}

static int parse_addr(int af, const uint8_t *s, size_t n, uint8_t *out)
{
    char text[48];
    if (n == 0 || n >= sizeof text)
        return KMS_EINVAL;
    memcpy(text, s, n);
    text[n] = '\0';
    return inet_pton(af, text, out) == 1 ? 0 : KMS_EINVAL;
}

/* Version 1: one line "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN ...\r\n". */
static int parse_v1(const uint8_t *p, size_t len, struct proxy_info *out)
{
    size_t scan = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
    const uint8_t *lf = memchr(p, '\n', scan);
    if (!lf)
        return len < PROXY_V1_MAX ? 0 : KMS_EINVAL; /* no end of line where there must be one */
    size_t linelen = (size_t)(lf - p) + 1;
    if (linelen < 8 || p[linelen - 2] != '\r')
        return KMS_EINVAL;
    struct rd r;
    rd_init(&r, p + 6, linelen - 8); /* after "PROXY ", before "\r\n" */
    size_t n;
    const uint8_t *proto = field(&r, &n);
    out->version = 1;
    out->local = true;
    if (n == 7 && memcmp(proto, "UNKNOWN", 7) == 0)
        return (int)linelen; /* the rest of the line is ignored */
    int af = n == 4 && memcmp(proto, "TCP4", 4) == 0 ? AF_INET : n == 4 && memcmp(proto, "TCP6", 4) == 0 ? AF_INET6 : 0;
    if (!af)
        return KMS_EINVAL;
    const uint8_t *f[4];
    size_t fn[4];
    for (int i = 0; i < 4; i++)
        f[i] = field(&r, &fn[i]);
    if (r.err || rd_left(&r) != 0)
        return KMS_EINVAL; /* fields missing, or more than four */
    int rc = parse_addr(af, f[0], fn[0], out->src);
    if (rc == 0)
        rc = parse_addr(af, f[1], fn[1], out->dst);
    if (rc == 0)
        rc = parse_port(f[2], fn[2], &out->src_port);
    if (rc == 0)
        rc = parse_port(f[3], fn[3], &out->dst_port);
    if (rc < 0)
        return rc;
    out->family = af;
    out->local = false;
    return (int)linelen;
}

int proxy_parse(const uint8_t *p, size_t len, struct proxy_info *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return 0;
    if (!proxy_looks_like(p, len))
        return KMS_EINVAL;
    if (p[0] == v2_sig[0])
        return len < PROXY_SIG_LEN ? 0 : parse_v2(p, len, out);
    return len < sizeof v1_start - 1 ? 0 : parse_v1(p, len, out);
}
