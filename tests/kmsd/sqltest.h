/* Shared by the registry's tests: one integer from a query on a database file, through a connection of
 * the test's own (so the store under test is not involved in reading back what it wrote). */
#ifndef KMSD_TESTS_SQLTEST_H
#define KMSD_TESTS_SQLTEST_H

#include <stdint.h>

/* The first column of the first row of sql on the database at path; fails the test when there is none. */
int64_t sqltest_int(const char *path, const char *sql);
/* Runs sql on the database at path through a connection of the test's own (to inspect or to inject faults);
 * fails the test with SQLite's message when it fails. */
void sqltest_exec(const char *path, const char *sql);
/* Makes the registry at path (the current schema) exactly what schema 6 left: the clients table keyed by (cmid,
 * app_id), without the compact key of schema 7, its rows and rowids kept. The older versions' tests start here. */
void sqltest_schema6(const char *path);

#endif
