/*
 * health — one real activation as a probe: what `kmsc health` runs and what kmsd's /readyz runs against its
 * own KMS listener. Protocol 6, Windows 10/11 Enterprise, a fixed client machine id and workstation name
 * (so that repeated probes are one row in a registry, not one per probe), every field of the answer verified
 * by client.c (kms_client_check_activation). Blocking, bounded by timeout_ms per step (connect, bind,
 * request), no state between calls.
 */
#ifndef KMSC_HEALTH_H
#define KMSC_HEALTH_H

#include "client.h"

#define KMSC_HEALTH_CMID "6b6d7364-6865-616c-7468-70726f626500" /* the probe's client machine id */
#define KMSC_HEALTH_WORKSTATION "kms-health-probe"

/* Runs the probe against t. Returns KMSC_OK when the answer verified — also when only the reported count
 * was below the product's threshold (KMSC_COUNT: the host works, it just has few clients in genuine mode) —
 * else the failure status with res->msg saying why. */
enum kmsc_status kmsc_health(const struct kmsc_target *t, int timeout_ms, struct kmsc_result *res);

#endif
