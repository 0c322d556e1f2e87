/* dns_name — see dns_name.h. */
#include "dns_name.h"

#include <string.h>

const char *dns_name_problem(const char *text)
{
    if (!text || !*text)
        return "empty";
    size_t n = strlen(text);
    if (n > 1 && text[n - 1] == '.')
        n--;
    if (n > DNS_NAME_MAX)
        return "longer than 253 characters";
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? text[i] : '.';
        if (c == '.') {
            if (label == 0)
                return "an empty label (two dots, or a dot at the start)";
            if (text[i - 1] == '-' || text[i - label] == '-')
                return "a label starts or ends with '-'";
            label = 0;
            continue;
        }
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok)
            return "a character other than a letter, digit, '-', '_' or '.'";
        if (++label > DNS_LABEL_MAX)
            return "a label longer than 63 characters";
    }
    return NULL;
}

int dns_name_canonical(const char *text, char *out, size_t cap)
{
    if (dns_name_problem(text) || cap < DNS_NAME_MAX + 1)
        return -1;
    size_t n = strlen(text);
    if (text[n - 1] == '.')
        n--;
    for (size_t i = 0; i < n; i++)
        out[i] = text[i] >= 'A' && text[i] <= 'Z' ? (char)(text[i] - 'A' + 'a') : text[i];
    out[n] = '\0';
    return 0;
}
