/*
 * Fuzz target: the TSIG key parsers (dns_tsig.c, hand-written: no Debian library reads BIND's key files), as kmsd
 * reads `--dns-tsig-file` and `--dns-tsig NAME:ALGORITHM:SECRET`.
 *
 * Input: the bytes of a key file (at most DNS_TSIG_FILE_MAX are read by kmsd; any length here), then the same bytes
 * up to the first NUL as a command-line value.
 *
 * Invariants (dns_tsig.h): a key taken has a name that is a DNS name in canonical form (dns_name.h), algorithm
 * hmac-sha256 or hmac-sha512, a secret of 16 to DNS_TSIG_SECRET_MAX base64 characters, every field NUL-terminated
 * in its buffer; the key written as NAME:ALGORITHM:SECRET is taken back the same; a refusal says why.
 */
#include "fuzz.h"

#include <string.h>

#include "dns_name.h"
#include "dns_tsig.h"

static void check_key(const struct dns_tsig *k)
{
    fuzz_check(memchr(k->name, '\0', sizeof k->name) && memchr(k->algorithm, '\0', sizeof k->algorithm) &&
               memchr(k->secret, '\0', sizeof k->secret));
    fuzz_check(dns_name_problem(k->name) == NULL);
    fuzz_check(strcmp(k->algorithm, "hmac-sha256") == 0 || strcmp(k->algorithm, "hmac-sha512") == 0);
    size_t n = strlen(k->secret);
    fuzz_check(n >= 16 && n <= DNS_TSIG_SECRET_MAX);
    fuzz_check(strspn(k->secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == n);
    char text[sizeof k->name + sizeof k->algorithm + sizeof k->secret + 2];
    snprintf(text, sizeof text, "%s:%s:%s", k->name, k->algorithm, k->secret);
    struct dns_tsig back;
    const char *why = NULL;
    fuzz_check(dns_tsig_parse(text, &back, &why) == 0);
    fuzz_check(strcmp(back.name, k->name) == 0 && strcmp(back.algorithm, k->algorithm) == 0 &&
               strcmp(back.secret, k->secret) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dns_tsig k;
    const char *why = NULL;
    unsigned line = 0;
    if (dns_tsig_parse_file((const char *)data, size, &k, &why, &line) == 0)
        check_key(&k);
    else
        fuzz_check(why != NULL);

    char *text = malloc(size + 1); /* the bytes as a C string, cut at the first NUL */
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    why = NULL;
    if (dns_tsig_parse(text, &k, &why) == 0)
        check_key(&k);
    else
        fuzz_check(why != NULL);
    free(text);
    return 0;
}
