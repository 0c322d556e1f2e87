/*
 * bench — `kmsc bench`, the load generator: many concurrent client associations on one libuv loop, each
 * activation built and verified by the same calls as kmsc (kms_client.h: kms_client_encode_bind,
 * kms_client_check_bind, kms_client_encode_activation, kms_client_decode_reply, kms_client_check_activation);
 * only the I/O is event-driven here.
 * Manual: docs/kmsc.1 (section BENCH).
 */
#ifndef KMSC_BENCH_H
#define KMSC_BENCH_H

#include "kms_client.h"

/* Runs `kmsc bench` with argv[0] == "bench" (--help prints the help). Returns 0 when every activation was
 * verified, else a negative code with res->status the exit status (outcome.h): KMSC_USAGE, KMSC_INTERNAL,
 * KMSC_CONNECT (unresolvable target) or the worst status seen (the order of kms_client_worse), res->msg the
 * reason when it was not printed yet. */
int kmsc_bench(int argc, char **argv, struct kmsc_result *res);

#endif
