#include "outcome.h"

#include <getopt.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "suggest.h"

int outcome_usage(struct kmsc_result *res, const char *fmt, ...)
{
    char msg[KMSC_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kms_client_fail(res, KMSC_USAGE, KMS_EINVAL, "%s", msg);
    return KMS_EINVAL;
}

int outcome_quiet(struct kmsc_result *res, enum kmsc_status st, int err)
{
    res->status = st;
    res->err = err;
    res->msg[0] = '\0';
    return err;
}

int outcome_code(const struct kmsc_result *res)
{
    return res->err < 0 ? res->err : -EPROTO;
}

/* The long options' names, for suggest_closest_at. */
static const char *long_name_at(const void *ctx, size_t i)
{
    return ((const struct option *)ctx)[i].name;
}

int outcome_getopt(struct kmsc_result *res, int c, char **argv, const struct option *longs)
{
    const char *arg = argv[optind - 1];
    if (c == ':')
        return outcome_usage(res, "option '%s' needs a value", arg);
    bool is_long = strncmp(arg, "--", 2) == 0;
    if (!is_long && optopt && optopt < 256)
        return outcome_usage(res, "unknown option '-%c'", optopt);
    if (!is_long || !longs)
        return outcome_usage(res, "unknown option '%s'", arg);
    const char *name = arg + 2;
    size_t len = strcspn(name, "=");
    if (optopt) /* getopt_long names the option it found: a value given to one that takes none */
        return outcome_usage(res, "option '--%.*s' takes no value", (int)len, name);
    /* getopt_long takes a unique prefix of a long option: several starting so is ambiguous */
    char list[KMSC_MSG_MAX / 2];
    size_t used = 0, prefixed = 0, n = 0;
    list[0] = '\0';
    for (; longs[n].name; n++) {
        if (strncmp(longs[n].name, name, len) != 0)
            continue;
        int w = snprintf(list + used, sizeof list - used, "%s--%s", prefixed ? ", " : "", longs[n].name);
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
        prefixed++;
    }
    if (prefixed > 1)
        return outcome_usage(res, "ambiguous option '--%.*s' (%s)", (int)len, name, list);
    char word[SUGGEST_WORD_MAX + 1];
    const char *near = NULL;
    if (len > 0 && len <= SUGGEST_WORD_MAX) {
        memcpy(word, name, len);
        word[len] = '\0';
        near = suggest_closest_at(word, long_name_at, longs, n);
    }
    if (near)
        return outcome_usage(res, "unknown option '--%.*s'; did you mean '--%s'?", (int)len, name, near);
    return outcome_usage(res, "unknown option '--%.*s'", (int)len, name);
}

int outcome_seconds(struct kmsc_result *res, const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    double s = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(s) || s < lo || s > hi)
        return outcome_usage(res, "%s: '%s' is not a number of seconds in %g..%g", opt, text, lo, hi);
    *out = s;
    return 0;
}

int outcome_ms(struct kmsc_result *res, const char *opt, const char *text, double lo, double hi, int *out)
{
    double s = 0.0;
    int rc = outcome_seconds(res, opt, text, lo, hi, &s);
    if (rc == 0)
        *out = (int)(s * 1000.0 + 0.999);
    return rc;
}
