/* store_backup — a registry copied to one self-contained file, and a registry file checked; see store.h. */
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sqlite_fns.h"

/*
 * VACUUM INTO rather than SQLite's online backup API (sqlite3_backup_*). Both read through the pager, so both see
 * what is still in the -wal. The backup API copies pages as they are: the free ones too, and the header's WAL flag,
 * so its copy of kmsd's registry asks for a -wal again when it is opened; copied in steps it starts over whenever
 * kmsd commits between two of them, and copied in one step it is the same single read transaction as VACUUM INTO.
 * VACUUM INTO writes the live rows compactly into a file in rollback-journal mode, in one statement, from a
 * read-only connection; the page size and auto_vacuum mode are kept (indexes are rebuilt, which costs CPU once).
 */
int store_backup(struct store *s, const char *dest)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db, "VACUUM INTO ?1", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite_fn.sqlite3_bind_text(st, 1, dest, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite_fn.sqlite3_step(st);
    int ret = rc == SQLITE_DONE ? 0 : store_fail(s, rc, "cannot write the copy");
    sqlite_fn.sqlite3_finalize(st);
    return ret;
}

/* The tables of each schema version (the migrations in store.c add them; none is ever dropped). */
static const struct {
    const char *name;
    int since; /* the version that added it */
} schema_tables[] = {{"clients", 1}, {"stats", 1}, {"daily", 2}, {"summary", 3}};

int store_verify(struct store *s, struct store_file_info *info)
{
    memset(info, 0, sizeof *info);
    sqlite3_stmt *st = NULL;
    /* the first problem only: a damaged file can have thousands, and one says enough */
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db, "PRAGMA integrity_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite_fn.sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *res = (const char *)sqlite_fn.sqlite3_column_text(st, 0);
        if (!res || strcmp(res, "ok") != 0) {
            snprintf(s->err, sizeof s->err, "integrity check failed: %s", res ? res : "(no answer)");
            sqlite_fn.sqlite3_finalize(st);
            return -EBADMSG;
        }
    } else {
        int ret = store_fail(s, rc, "integrity check failed");
        sqlite_fn.sqlite3_finalize(st);
        return ret;
    }
    sqlite_fn.sqlite3_finalize(st);
    for (size_t i = 0; i < sizeof schema_tables / sizeof schema_tables[0]; i++) {
        if (schema_tables[i].since > s->version)
            continue;
        char sql[160];
        int64_t n = 0;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '%s'",
                 schema_tables[i].name);
        int ret = store_pragma_int(s, sql, "cannot read the schema", &n);
        if (ret)
            return ret;
        if (n != 1) {
            snprintf(s->err, sizeof s->err, "not a kmsd registry: schema version %d without its table %s",
                     s->version, schema_tables[i].name);
            return -EBADMSG;
        }
    }
    int64_t rows = 0;
    int ret = store_pragma_int(s, "SELECT count(*) FROM clients", "cannot count the clients", &rows);
    if (ret)
        return ret;
    info->version = s->version;
    info->rows = (uint64_t)rows;
    return 0;
}
