#include "sqltest.h"

#include "testutil.h"

#include <sqlite3.h>

int64_t sqltest_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

void sqltest_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
}

#define V6_COLUMNS                                                                                                     \
    "cmid, app_id, app_group, sku_id, kms_id, workstation, product, license_status, grace_time, is_vm,"              \
    " version_major, version_minor, first_seen, last_seen, request_count, last_address, last_epid, last_hresult,"   \
    " last_host"

void sqltest_schema6(const char *path)
{
    sqltest_exec(path,
                 "ALTER TABLE clients RENAME TO clients_v7;"
                 "CREATE TABLE clients ("
                 " cmid BLOB NOT NULL CHECK (length(cmid) = 16),"
                 " app_id BLOB NOT NULL CHECK (length(app_id) = 16),"
                 " app_group INTEGER NOT NULL CHECK (app_group BETWEEN 0 AND 3),"
                 " sku_id BLOB NOT NULL CHECK (length(sku_id) = 16),"
                 " kms_id BLOB NOT NULL CHECK (length(kms_id) = 16),"
                 " workstation TEXT NOT NULL, product TEXT NOT NULL, license_status INTEGER NOT NULL,"
                 " grace_time INTEGER NOT NULL, is_vm INTEGER NOT NULL, version_major INTEGER NOT NULL,"
                 " version_minor INTEGER NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
                 " request_count INTEGER NOT NULL CHECK (request_count >= 1), last_address TEXT NOT NULL,"
                 " last_epid TEXT NOT NULL, last_hresult INTEGER NOT NULL,"
                 " PRIMARY KEY (cmid, app_id));"
                 "ALTER TABLE clients ADD COLUMN last_host TEXT NOT NULL DEFAULT '';"
                 "INSERT INTO clients (rowid, " V6_COLUMNS ") SELECT rowid, " V6_COLUMNS " FROM clients_v7;"
                 "DROP TABLE clients_v7;"
                 "CREATE INDEX clients_last_seen ON clients (last_seen);"
                 "CREATE INDEX clients_group_seen ON clients (app_group, last_seen);"
                 "CREATE INDEX clients_first_seen ON clients (first_seen);"
                 "CREATE INDEX clients_workstation ON clients (lower(workstation));"
                 "CREATE INDEX clients_product ON clients (product);"
                 "CREATE TRIGGER summary_delete AFTER DELETE ON clients BEGIN"
                 " UPDATE summary SET n = n - 1 WHERE app_group = old.app_group AND product = old.product; END;"
                 "CREATE TRIGGER summary_update AFTER UPDATE OF app_group, product ON clients"
                 " WHEN old.app_group IS NOT new.app_group OR old.product IS NOT new.product BEGIN"
                 " UPDATE summary SET n = n - 1 WHERE app_group = old.app_group AND product = old.product;"
                 " INSERT INTO summary (app_group, product, n) VALUES (new.app_group, new.product, 1)"
                 " ON CONFLICT (app_group, product) DO UPDATE SET n = n + 1; END;"
                 "PRAGMA user_version = 6;");
}
