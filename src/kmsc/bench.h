/*
 * bench — `kmsc bench`, the load generator: many concurrent client associations on one libuv loop, each
 * activation built and verified by the same calls as kmsc (kms_client.h: kms_client_encode_bind,
 * kms_client_check_bind, kms_client_encode_activation, kms_client_decode_reply, kms_client_check_activation);
 * only the I/O is event-driven here.
 * Manual: docs/kmsc.1 (section BENCH).
 */
#ifndef KMSC_BENCH_H
#define KMSC_BENCH_H

/* Runs `kmsc bench` with argv[0] == "bench". Returns kmsc's exit status: 0 when every activation was
 * verified, 2 on a usage error, else the worst status seen (kms_client.h, the order of kms_client_worse). */
int kmsc_bench_main(int argc, char **argv);

#endif
