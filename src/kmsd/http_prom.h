/*
 * http_prom — the /metrics page: every counter of struct metrics in the Prometheus text exposition format
 * 0.0.4 (docs/api.md lists the metrics). Pure: reads the relaxed atomics, no MHD, no clock.
 */
#ifndef KMSD_HTTP_PROM_H
#define KMSD_HTTP_PROM_H

#include <stddef.h>

#include "metrics.h"

/* The exposition text of m (malloc'd, NUL-terminated, *len bytes without the NUL; the caller frees it), or
 * NULL when out of memory. */
char *http_prom_text(const struct metrics *m, size_t *len);

#endif
