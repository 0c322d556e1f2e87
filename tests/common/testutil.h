/*
 * testutil — helpers shared by the unit tests: fixture files (KATs and wire vectors, under the directory
 * named by TEST_FIXTURES, which meson sets to tests/fixtures), JSON loading and hex conversion.
 * Every helper fails the running cmocka test instead of returning an error.
 */
#ifndef KMSD_TESTUTIL_H
#define KMSD_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

/* Loads fixture file `rel` (e.g. "kat/rpc.json"); fails the test if absent or invalid. Caller json_decref()s. */
json_t *tu_load_json(const char *rel);
/* Lists the fixture files in directory `rel` whose names end in ".json", sorted; returns the count.
 * *names is a malloc'ed array of malloc'ed strings (relative paths); free with tu_free_names(). */
size_t tu_list_json(const char *rel, char ***names);
void tu_free_names(char **names, size_t n);
/* Member lookups that fail the test when the member is missing or has the wrong type. */
json_t *tu_obj(json_t *o, const char *key);
const char *tu_str(json_t *o, const char *key);
long long tu_int(json_t *o, const char *key);
/* Decodes hex (even length, no separators) into a malloc'ed buffer; *len gets the byte count. */
uint8_t *tu_unhex(const char *hex, size_t *len);
/* Decodes exactly n bytes of hex into out; fails the test otherwise. */
void tu_unhex_n(const char *hex, uint8_t *out, size_t n);
/* Asserts that buf[0..len) equals the hex string, printing both on mismatch. */
void tu_assert_hex(const uint8_t *buf, size_t len, const char *hex);

/* A deterministic byte source (splitmix64) for struct kms_rng: ctx points at a uint64_t seed. */
int tu_det_fill(void *ctx, void *buf, size_t len);

#endif
