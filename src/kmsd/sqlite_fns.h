/*
 * sqlite_fns — the SQLite functions the registry calls, opened with dlopen (lazylib.h) while a registry connection is
 * open and closed again when the last one closes. An idle daemon closes its connections (the writer after
 * --registry-idle-unload without a fold, the HTTP server when it idles): SQLite and the libm it links were about
 * 1.6 MB of an idle kmsd's RSS (docs/performance.md, "SQLite loaded while the registry is used").
 *
 * store*.c and cli_import.c call sqlite_fn.NAME(...) where they would call NAME(...); the pointer types come from
 * sqlite3.h. sqlite_fns_acquire takes a reference (loading the library at the first) and sqlite_fns_release gives it
 * back (unloading it at the last); a thread calls through the table only while it holds a reference, and the table
 * is written only while nobody does. Where SQLite was in the process before the first acquire (a test or a
 * benchmark that links it), it is used as it is and never unloaded.
 */
#ifndef KMSD_SQLITE_FNS_H
#define KMSD_SQLITE_FNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "lazylib.h"

#define SQLITE_FNS(X)                                                                                                \
    X(sqlite3_bind_blob) X(sqlite3_bind_int) X(sqlite3_bind_int64) X(sqlite3_bind_null) X(sqlite3_bind_text)         \
    X(sqlite3_busy_timeout) X(sqlite3_changes) X(sqlite3_clear_bindings) X(sqlite3_close) X(sqlite3_column_blob)     \
    X(sqlite3_column_bytes) X(sqlite3_column_double) X(sqlite3_column_int) X(sqlite3_column_int64)                   \
    X(sqlite3_column_text) X(sqlite3_column_type) X(sqlite3_config) X(sqlite3_create_function_v2)                    \
    X(sqlite3_db_filename) X(sqlite3_db_release_memory) X(sqlite3_errmsg) X(sqlite3_errstr) X(sqlite3_exec)          \
    X(sqlite3_extended_result_codes) X(sqlite3_finalize) X(sqlite3_last_insert_rowid) X(sqlite3_open_v2)             \
    X(sqlite3_prepare_v2) X(sqlite3_prepare_v3) X(sqlite3_reset) X(sqlite3_result_int) X(sqlite3_result_int64)       \
    X(sqlite3_result_null) X(sqlite3_set_last_insert_rowid) X(sqlite3_shutdown) X(sqlite3_step) X(sqlite3_user_data) \
    X(sqlite3_value_blob) X(sqlite3_value_bytes) X(sqlite3_value_int64) X(sqlite3_value_text)                        \
    X(sqlite3_wal_checkpoint_v2) X(sqlite3_wal_hook)

struct sqlite_fns {
    LAZYLIB_MEMBERS(SQLITE_FNS)
};

extern struct sqlite_fns sqlite_fn;

/* Takes a reference, opening SQLite (KMSD_SQLITE_SONAME, meson option sqlite_soname) at the first: a library it
 * loads is set up before its first use (no initial page-cache block, no memory statistics: see sqlite_fns.c). 0, or
 * -1 with err filled (cap bytes). Any thread. */
int sqlite_fns_acquire(char *err, size_t cap);

/* Gives a reference back; the last shuts SQLite down and closes it (unless it was in the process before). */
void sqlite_fns_release(void);

/* Whether SQLite is open here, and how many times it was opened (at start, then after each idle spell). */
bool sqlite_fns_loaded(void);
uint64_t sqlite_fns_loads(void);

#endif
