/* dns_tsig — see dns_tsig.h. */
#include "dns_tsig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dns_name.h"

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The algorithm named by a[0, n) (ASCII case ignored, an optional final dot), copied to out; NULL or why not. */
static const char *take_algorithm(const char *a, size_t n, struct dns_tsig *out)
{
    static const char *const known[] = {"hmac-sha256", "hmac-sha512"};
    if (n > 0 && a[n - 1] == '.')
        n--;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strlen(known[i]) != n)
            continue;
        size_t k = 0;
        while (k < n && lower(a[k]) == known[i][k])
            k++;
        if (k == n) {
            memcpy(out->algorithm, known[i], n + 1);
            return NULL;
        }
    }
    return "the algorithm is not hmac-sha256 or hmac-sha512";
}

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* The base64 secret s[0, n): 16 to DNS_TSIG_SECRET_MAX characters, a multiple of 4, '=' only at the end. */
static const char *take_secret(const char *s, size_t n, struct dns_tsig *out)
{
    if (n < 16)
        return "the secret is shorter than 16 base64 characters (128 bits)";
    if (n > DNS_TSIG_SECRET_MAX)
        return "the secret is longer than 128 base64 characters";
    if (n % 4 != 0)
        return "the secret is not base64 (its length is not a multiple of 4)";
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=' && i >= n - 2)
            pad++;
        else if (!is_b64(s[i]) || pad)
            return "the secret is not base64 (A-Z a-z 0-9 + / and '=' at the end)";
    }
    memcpy(out->secret, s, n);
    out->secret[n] = '\0';
    return NULL;
}

static const char *take_name(const char *s, size_t n, struct dns_tsig *out)
{
    char tmp[DNS_NAME_MAX + 2];
    if (n == 0 || n >= sizeof tmp)
        return "the key name is empty or longer than 253 characters";
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (dns_name_canonical(tmp, out->name, sizeof out->name) < 0)
        return "the key name is not a DNS name (letters, digits, '-', '_', dots)";
    return NULL;
}

int dns_tsig_parse(const char *text, struct dns_tsig *out, const char **why)
{
    memset(out, 0, sizeof *out);
    const char *c1 = strchr(text, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) {
        *why = "expected NAME:ALGORITHM:SECRET, e.g. kmsd-update:hmac-sha256:BASE64";
        return -1;
    }
    *why = take_name(text, (size_t)(c1 - text), out);
    if (!*why)
        *why = take_algorithm(c1 + 1, (size_t)(c2 - c1 - 1), out);
    if (!*why)
        *why = take_secret(c2 + 1, strlen(c2 + 1), out);
    return *why ? -1 : 0;
}

/* ---- the key file: a tiny tokenizer over a bounded buffer ---- */

struct scan {
    const char *p, *end;
    unsigned line;
};

/* Skips blanks and comments; false at the end or at an unterminated comment. */
static bool skip(struct scan *s)
{
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '\n') {
            s->line++;
            s->p++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            s->p++;
        } else if (c == '#' || (c == '/' && s->p + 1 < s->end && s->p[1] == '/')) {
            while (s->p < s->end && *s->p != '\n')
                s->p++;
        } else if (c == '/' && s->p + 1 < s->end && s->p[1] == '*') {
            s->p += 2;
            while (s->p + 1 < s->end && !(s->p[0] == '*' && s->p[1] == '/')) {
                if (*s->p == '\n')
                    s->line++;
                s->p++;
            }
            if (s->p + 1 >= s->end)
                return false;
            s->p += 2;
        } else {
            return true;
        }
    }
    return false;
}

/* The next token: a quoted string (without its quotes), one of { } ;, or a word. false at the end or on a bad
 * token (an unterminated string). */
static bool token(struct scan *s, const char **t, size_t *n)
{
    if (!skip(s))
        return false;
    if (*s->p == '"') {
        const char *q = ++s->p;
        while (s->p < s->end && *s->p != '"' && *s->p != '\n')
            s->p++;
        if (s->p >= s->end || *s->p != '"')
            return false;
        *t = q;
        *n = (size_t)(s->p - q);
        s->p++;
        return true;
    }
    *t = s->p;
    if (*s->p == '{' || *s->p == '}' || *s->p == ';') {
        *n = 1;
        s->p++;
        return true;
    }
    while (s->p < s->end && !strchr(" \t\r\n{};\"#", *s->p))
        s->p++;
    *n = (size_t)(s->p - *t);
    return *n > 0;
}

static bool is(const char *t, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(t, word, n) == 0;
}

int dns_tsig_parse_file(const char *text, size_t n, struct dns_tsig *out, const char **why, unsigned *line_out)
{
    memset(out, 0, sizeof *out);
    struct scan s = {text, text + n, 1};
    const char *t;
    size_t k;
    *line_out = 0;
#define FAIL(msg)                                                                                                  \
    do {                                                                                                           \
        *why = (msg);                                                                                              \
        *line_out = s.line;                                                                                        \
        return -1;                                                                                                 \
    } while (0)
    if (!token(&s, &t, &k) || !is(t, k, "key"))
        FAIL("expected a key clause: key \"NAME\" { algorithm ...; secret \"...\"; };");
    if (!token(&s, &t, &k))
        FAIL("expected the key's name after 'key'");
    const char *e = take_name(t, k, out);
    if (e)
        FAIL(e);
    if (!token(&s, &t, &k) || !is(t, k, "{"))
        FAIL("expected '{' after the key's name");
    bool have_alg = false, have_secret = false;
    for (;;) {
        if (!token(&s, &t, &k))
            FAIL("the key clause is not closed with '};'");
        if (is(t, k, "}"))
            break;
        bool alg = is(t, k, "algorithm"), sec = is(t, k, "secret");
        if (!alg && !sec)
            FAIL("expected 'algorithm' or 'secret' in the key clause");
        if ((alg && have_alg) || (sec && have_secret))
            FAIL("'algorithm' or 'secret' given twice");
        if (!token(&s, &t, &k))
            FAIL("expected a value after 'algorithm' or 'secret'");
        e = alg ? take_algorithm(t, k, out) : take_secret(t, k, out);
        if (e)
            FAIL(e);
        have_alg |= alg;
        have_secret |= sec;
        if (!token(&s, &t, &k) || !is(t, k, ";"))
            FAIL("expected ';' after the value");
    }
    if (!token(&s, &t, &k) || !is(t, k, ";"))
        FAIL("expected ';' after the key clause's '}'");
    if (!have_alg || !have_secret)
        FAIL("the key clause lacks 'algorithm' or 'secret'");
    if (skip(&s))
        FAIL("more after the key clause (one key per file)");
#undef FAIL
    *why = NULL;
    return 0;
}

int dns_tsig_read_file(const char *path, struct dns_tsig *out, char *msg, size_t cap)
{
    char buf[DNS_TSIG_FILE_MAX + 1];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(msg, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(msg, cap, "%s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf) {
            snprintf(msg, cap, "%s: larger than %d bytes (one key clause expected)", path, DNS_TSIG_FILE_MAX);
            close(fd);
            return -1;
        }
    }
    close(fd);
    const char *why;
    unsigned line;
    if (dns_tsig_parse_file(buf, n, out, &why, &line) < 0) {
        if (line)
            snprintf(msg, cap, "%s:%u: %s", path, line, why);
        else
            snprintf(msg, cap, "%s: %s", path, why);
        return -1;
    }
    return 0;
}
