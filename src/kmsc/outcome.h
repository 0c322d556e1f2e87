/*
 * outcome — the one error convention of the kmsc program (main.c, bench*.c). A function that can fail returns
 * 0 or a negative code (err.h or -errno) and says what happened in a struct kmsc_result (kms_client.h): status
 * is the kind of failure and so the exit code, msg the reason for people (empty when it was already printed
 * as it happened, or when there is nothing to add). Messages go in through kms_client_fail() or the helpers
 * below; only main() turns a result into an exit status and prints its message.
 */
#ifndef KMSC_OUTCOME_H
#define KMSC_OUTCOME_H

#include <getopt.h>

#include "kms_client.h"

/* A bad command line: status KMSC_USAGE, the printf-formatted reason in res->msg. Returns KMS_EINVAL. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
int outcome_usage(struct kmsc_result *res, const char *fmt, ...);
/* The usage error for what getopt_long returned as c when it is no option of the caller's (':' a missing value,
 * else an unknown or ambiguous option, or a value given to a long option that takes none), as outcome_usage:
 * an ambiguous prefix lists the options it could be, an unknown long option suggests the closest of longs
 * (suggest.h). argv is getopt's, longs its option table (NULL-terminated). */
int outcome_getopt(struct kmsc_result *res, int c, char **argv, const struct option *longs);

/* The value text of option opt as a number of seconds in lo..hi, fractions allowed, into *out; else the usage
 * error "OPT: 'TEXT' is not a number of seconds in LO..HI" as outcome_usage (KMS_EINVAL). outcome_ms the same in
 * whole milliseconds, rounded up: never shorter than asked. */
int outcome_seconds(struct kmsc_result *res, const char *opt, const char *text, double lo, double hi, double *out);
int outcome_ms(struct kmsc_result *res, const char *opt, const char *text, double lo, double hi, int *out);

/* A failure of kind st with nothing (more) to say: empty message. Returns err (negative). */
int outcome_quiet(struct kmsc_result *res, enum kmsc_status st, int err);

/* The negative code for a failure res already describes: res->err when it is one, else -EPROTO (the host
 * answered, but not acceptably: BIND_NAK, a refusal, a count). */
int outcome_code(const struct kmsc_result *res);

#endif
