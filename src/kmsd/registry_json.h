/*
 * registry_json — the one JSON form of the client registry: a row (struct store_client) and the statistics.
 *
 * Used by the HTTP API (/api/v1/clients, /api/v1/clients/{cmid}, /api/v1/stats) and by `kmsd clients
 * --format json` / `kmsd stats --format json`, so both give the same field names and values (docs/api.md).
 * Text that is not valid UTF-8 (a row imported from elsewhere) is given with '?' for each bad byte rather
 * than losing the row. Times are ISO 8601 UTC; nothing here reads the clock (callers pass now).
 */
#ifndef KMSD_REGISTRY_JSON_H
#define KMSD_REGISTRY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

#define REGISTRY_JSON_DAYS 30 /* days in the statistics' "daily" series, today last */

/* One registry row: cmid, application_id, application (the group's key, or null for an unknown application),
 * sku_id, sku (the SKU's name, or null), kms_id, product, workstation, address, epid, license_status,
 * license_status_name, grace_time, is_vm, version ("6.0"), first_seen, last_seen, requests.
 * Returns a new reference, or NULL when out of memory. */
json_t *registry_json_client(const struct store_client *c);

/* The registry's statistics: requests, failed, unrecorded, clients, count_window_days, by_license_status
 * (by kms_license_status_name), current_count (by store_app_group_key), by_product, daily (REGISTRY_JSON_DAYS
 * UTC days ending with now's, oldest first). Sets *out to a new reference; returns 0, a negative store error
 * (store_errmsg) or -ENOMEM. */
int registry_json_stats(struct store *s, int64_t now, json_t **out);

/* Copies in (inlen bytes at most, or to its NUL) to out as valid UTF-8: invalid bytes become '?', and with
 * printable set control characters too (terminal output). out is never cut inside a character. */
void registry_json_clean_text(const char *in, size_t inlen, char *out, size_t cap, bool printable);

/* t (Unix seconds) as "2026-11-25T12:02:50Z"; out holds at least 32 bytes. */
void registry_json_time(int64_t t, char out[32]);

#endif
