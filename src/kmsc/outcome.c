#include "outcome.h"

#include <getopt.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "err.h"

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

int outcome_getopt(struct kmsc_result *res, int c, char **argv)
{
    if (c == ':')
        return outcome_usage(res, "option '%s' needs a value", argv[optind - 1]);
    if (optopt && optopt < 256)
        return outcome_usage(res, "unknown option '-%c'", optopt);
    return outcome_usage(res, "unknown or ambiguous option '%s'", argv[optind - 1]);
}
