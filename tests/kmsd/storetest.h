/* Shared by the registry's unit tests (test_store.c, test_store_scale.c): fixed times, application ids,
 * numbered clients and records, in-memory stores. */
#ifndef KMSD_TESTS_STORETEST_H
#define KMSD_TESTS_STORETEST_H

#include <stddef.h>
#include <stdint.h>

#include "guid.h"
#include "store.h"

#define DAY 86400
#define T0 ((int64_t)1795000000) /* 2026-11-18 */
#define APP_WIN "55c92734-d682-4d71-983e-d6ec3f16059f"
#define APP_O2010 "59a52881-a989-479d-af46-f275c6370663"
#define APP_O2013 "0ff1ce15-a989-479d-af46-f275c6370663"
#define APP_UNKNOWN "12345678-1234-1234-1234-123456789abc"

/* The group set-up and tear-down: a temporary directory for file databases, removed with what it holds. */
int storetest_setup(void **state);
int storetest_teardown(void **state);
/* out = the temporary directory's path for a file of that name. */
void tmp_path(char *out, size_t cap, const char *name);
/* The GUID of its text form (fails the test when it is not one). */
struct guid gid(const char *text);
/* A distinct CMID per number. */
struct guid cmid_n(unsigned n);
/* An answered activation of client cmid for application app at time t (a Windows product name). */
struct store_record rec(unsigned cmid, const char *app, int64_t t);
/* A new ":memory:" registry. */
struct store *open_mem(void);
/* Writes one record in its own transaction. */
void write1(struct store *s, struct store_record r);

#endif
