/* store — connections, schema and migrations, checkpoints, prepared statements; see store.h. */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlite_fns.h"

#include "buf.h"
#include "guid.h"
#include "store_pg.h"
#include "kms.h"
#include "products.h"
#include "rng.h"
#include "timeutil.h"

/*
 * Schema migrations: steps[k] takes a database from user_version k to k + 1 and ends by setting the new
 * user_version, so a step and its version number are committed together. Steps are append-only: once a
 * version has shipped its step is never edited; a change is a new step.
 */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    /* 0 -> 1: the first schema. */
    "CREATE TABLE clients ("
    " cmid BLOB NOT NULL CHECK (length(cmid) = 16),"
    " app_id BLOB NOT NULL CHECK (length(app_id) = 16),"
    " app_group INTEGER NOT NULL CHECK (app_group BETWEEN 0 AND 3),"
    " sku_id BLOB NOT NULL CHECK (length(sku_id) = 16),"
    " kms_id BLOB NOT NULL CHECK (length(kms_id) = 16),"
    " workstation TEXT NOT NULL,"
    " product TEXT NOT NULL,"
    " license_status INTEGER NOT NULL,"
    " grace_time INTEGER NOT NULL,"
    " is_vm INTEGER NOT NULL,"
    " version_major INTEGER NOT NULL,"
    " version_minor INTEGER NOT NULL,"
    " first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " request_count INTEGER NOT NULL CHECK (request_count >= 1),"
    " last_address TEXT NOT NULL,"
    " last_epid TEXT NOT NULL,"
    " last_hresult INTEGER NOT NULL,"
    " PRIMARY KEY (cmid, app_id));"
    "CREATE INDEX clients_last_seen ON clients (last_seen);"
    "CREATE INDEX clients_group_seen ON clients (app_group, last_seen);"
    "CREATE TABLE stats (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);"
    "PRAGMA user_version = 1;",
    /* 1 -> 2: activations per day (UTC day number = Unix seconds / 86400), for the web page's chart. */
    "CREATE TABLE daily ("
    " day INTEGER PRIMARY KEY NOT NULL,"
    " answered INTEGER NOT NULL CHECK (answered >= 0),"
    " refused INTEGER NOT NULL CHECK (refused >= 0));"
    "PRAGMA user_version = 2;",
    /* 2 -> 3: rows per (application group, product), kept by triggers in the transaction that changes a row, so
     * the statistics and the row cap read a few rows instead of scanning the table ([scale]). A row at n = 0 is
     * a product no client has any more; readers skip it. */
    "CREATE TABLE summary ("
    " app_group INTEGER NOT NULL,"
    " product TEXT NOT NULL,"
    " n INTEGER NOT NULL CHECK (n >= 0),"
    " PRIMARY KEY (app_group, product)) WITHOUT ROWID;"
    "INSERT INTO summary (app_group, product, n) SELECT app_group, product, count(*) FROM clients"
    " GROUP BY app_group, product;"
    "CREATE TRIGGER summary_insert AFTER INSERT ON clients BEGIN"
    " INSERT INTO summary (app_group, product, n) VALUES (new.app_group, new.product, 1)"
    " ON CONFLICT (app_group, product) DO UPDATE SET n = n + 1; END;"
    "CREATE TRIGGER summary_delete AFTER DELETE ON clients BEGIN"
    " UPDATE summary SET n = n - 1 WHERE app_group = old.app_group AND product = old.product; END;"
    "CREATE TRIGGER summary_update AFTER UPDATE OF app_group, product ON clients"
    " WHEN old.app_group IS NOT new.app_group OR old.product IS NOT new.product BEGIN"
    " UPDATE summary SET n = n - 1 WHERE app_group = old.app_group AND product = old.product;"
    " INSERT INTO summary (app_group, product, n) VALUES (new.app_group, new.product, 1)"
    " ON CONFLICT (app_group, product) DO UPDATE SET n = n + 1; END;"
    /* and an index per sort key of the clients page whose value rarely changes (the common upsert leaves these
     * columns alone, so an activation does not touch them); ties by rowid (insertion order) */
    "CREATE INDEX clients_first_seen ON clients (first_seen);"
    "CREATE INDEX clients_workstation ON clients (lower(workstation));"
    "CREATE INDEX clients_product ON clients (product);"
    "PRAGMA user_version = 3;",
    /* 3 -> 4: which host last served each client (--host-name; several hosts share a registry [multihost]). Not
     * indexed: a renewal rewrites it, and an index would cost every activation (docs/performance.md). */
    "ALTER TABLE clients ADD COLUMN last_host TEXT NOT NULL DEFAULT '';"
    "PRAGMA user_version = 4;",
    /* 4 -> 5: new clients are counted into the summary once per batch by the code that inserts them
     * (store_write.c, summary_note) instead of a trigger per row: the trigger's upsert was about 5 µs of every new
     * client's fold (docs/performance.md). Updates of product or group and deletions keep their triggers. */
    "DROP TRIGGER IF EXISTS summary_insert;"
    "PRAGMA user_version = 5;",
    /* 5 -> 6: nothing here. PostgreSQL's step 6 adds clients per day of last sight for the statistics' count of
     * the window (store_pg.c); SQLite counts its index range, 15-25 ms at a million clients (docs/performance.md),
     * without a trigger on every new client's fold. The version is the same number for both engines. */
    "PRAGMA user_version = 6;",
    /* 6 -> 7: the compact client key (store_internal.h, store_client_key), in code: rekey_clients. */
    NULL,
    /* 7 -> 8: the host filter (host=, [multihost]) by an index: without one, at a million clients its total read
     * the whole table and a page of a rare host walked it (140 to 310 ms). The common upsert leaves last_host alone
     * when it is unchanged (UPSERT_WHERE), so a renewal does not touch it; a new client appends to its host's range
     * (ties by rowid). A host change takes ST_UPDATE_HOST. */
    "CREATE INDEX clients_host ON clients (last_host);"
    "PRAGMA user_version = 8;",
};

/* The columns every schema from 4 on has, in the order of the table. */
#define CLIENT_COLUMNS_V4                                                                                              \
    "cmid, app_id, app_group, sku_id, kms_id, workstation, product, license_status, grace_time, is_vm,"              \
    " version_major, version_minor, first_seen, last_seen, request_count, last_address, last_epid, last_hresult,"   \
    " last_host"

/* 6 -> 7, first: the table again, keyed by client_key instead of (cmid, app_id), its rows copied with their rowids
 * (the ties of every sort) in rowid order, so that of two rows whose keys collide the older keeps it. */
static const char rekey_before[] =
    "ALTER TABLE clients RENAME TO clients_v6;"
    "CREATE TABLE clients ("
    " cmid BLOB NOT NULL CHECK (length(cmid) = 16),"
    " app_id BLOB NOT NULL CHECK (length(app_id) = 16),"
    " app_group INTEGER NOT NULL CHECK (app_group BETWEEN 0 AND 3),"
    " sku_id BLOB NOT NULL CHECK (length(sku_id) = 16),"
    " kms_id BLOB NOT NULL CHECK (length(kms_id) = 16),"
    " workstation TEXT NOT NULL,"
    " product TEXT NOT NULL,"
    " license_status INTEGER NOT NULL,"
    " grace_time INTEGER NOT NULL,"
    " is_vm INTEGER NOT NULL,"
    " version_major INTEGER NOT NULL,"
    " version_minor INTEGER NOT NULL,"
    " first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " request_count INTEGER NOT NULL CHECK (request_count >= 1),"
    " last_address TEXT NOT NULL,"
    " last_epid TEXT NOT NULL,"
    " last_hresult INTEGER NOT NULL,"
    " last_host TEXT NOT NULL DEFAULT '',"
    " client_key INTEGER NOT NULL CHECK (client_key >= 0),"
    " home_key INTEGER);"
    "CREATE UNIQUE INDEX clients_key ON clients (client_key);"
    "INSERT INTO clients (rowid, " CLIENT_COLUMNS_V4 ", client_key)"
    " SELECT rowid, " CLIENT_COLUMNS_V4 ", kmsd_client_key(cmid, app_id) FROM clients_v6 WHERE true ORDER BY rowid"
    " ON CONFLICT (client_key) DO NOTHING;";

/* 6 -> 7, last: the old table gone (its indexes and triggers with it), the indexes and triggers of schema 6 again,
 * and home_key's: only the rows that have one are in it, so it is empty in practice and costs an insert nothing. */
static const char rekey_after[] =
    "DROP TABLE clients_v6;"
    "CREATE INDEX clients_home ON clients (home_key) WHERE home_key IS NOT NULL;"
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
    "PRAGMA user_version = 7;";

const char *const store_stat_status_keys[KMS_LICENSE_STATUS_COUNT] = {
    "status0", "status1", "status2", "status3", "status4", "status5", "status6",
};

/* The columns an insert of a row writes: ?20 its key, ?21 its home key (NULL unless its own key was taken). */
#define INSERT_COLUMNS CLIENT_COLUMNS_V4 ", client_key, home_key"
/* What an insert checks first (?22, NULL: nothing): that no row displaced from that key calls it home, since the
 * client inserted could be that row. */
#define KEY_GUARD " WHERE NOT EXISTS (SELECT 1 FROM clients WHERE home_key = ?22)"

/* Which existing row the common upsert updates: the client's own, unchanged in workstation, product, first_seen and
 * host. */
#define UPSERT_WHERE                                                                                                   \
    " WHERE cmid = excluded.cmid AND app_id = excluded.app_id AND workstation IS excluded.workstation"              \
    " AND product IS excluded.product AND first_seen <= excluded.first_seen AND last_host IS excluded.last_host"

/* What every upsert sets, in the upsert's words (excluded.*) and in the plain UPDATE's (its parameters), for one
 * client's records of a batch coalesced (struct store_coalesced): the last one's fields, ?13 the latest time, ?23 the
 * earliest, ?24 how many, ?15 the ePID last given and ?25 whether any was answered (a refusal keeps the ePID before). */
#define UPSERT_SET                                                                                                     \
    "sku_id = excluded.sku_id, kms_id = excluded.kms_id, license_status = excluded.license_status,"                 \
    " grace_time = excluded.grace_time, is_vm = excluded.is_vm, version_major = excluded.version_major,"            \
    " version_minor = excluded.version_minor, last_seen = max(last_seen, excluded.last_seen),"                      \
    " request_count = request_count + excluded.request_count, last_address = excluded.last_address,"               \
    " last_epid = CASE WHEN ?25 THEN excluded.last_epid ELSE last_epid END,"                                        \
    " last_hresult = excluded.last_hresult"
#define UPDATE_SET                                                                                                     \
    "sku_id = ?4, kms_id = ?5, license_status = ?8, grace_time = ?9, is_vm = ?10, version_major = ?11,"             \
    " version_minor = ?12, last_seen = max(last_seen, ?13), request_count = request_count + ?24,"                   \
    " last_address = ?14, last_epid = CASE WHEN ?25 THEN ?15 ELSE last_epid END, last_hresult = ?16, last_host = ?17"

static const char *const stmt_sql[ST_COUNT_MAX] = {
    /* The common upsert: a client seen again with the same workstation name and product (and no earlier
     * first_seen) updates only columns no index but last_seen's holds; anything else leaves the row to
     * ST_UPDATE_ALL (the DO UPDATE's WHERE is false: no change, sqlite3_changes() 0). */
    [ST_UPSERT] =
        "INSERT INTO clients (" INSERT_COLUMNS ")"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?23, ?13, ?24, ?14, ?15, ?16, ?17, ?20, ?21)"
        " ON CONFLICT (client_key) DO UPDATE SET " UPSERT_SET UPSERT_WHERE,
    /* the same, for a table where some row is displaced from its key: an insert at a key some row calls home is no
     * insert (SQLite reads the SELECT into a temporary table first, since it reads the table it writes: about 6 µs
     * more per row, so only then) */
    [ST_UPSERT_GUARDED] =
        "INSERT INTO clients (" INSERT_COLUMNS ")"
        " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?23, ?13, ?24, ?14, ?15, ?16, ?17, ?20, ?21" KEY_GUARD
        " ON CONFLICT (client_key) DO UPDATE SET " UPSERT_SET UPSERT_WHERE,
    [ST_UPDATE_ALL] = "UPDATE clients SET workstation = ?6, product = ?7, first_seen = min(first_seen, ?23), " UPDATE_SET
                      " WHERE client_key = ?20 AND cmid = ?1 AND app_id = ?2",
    /* a client another host served last, otherwise unchanged: its host's index entry moves, the others stay */
    [ST_UPDATE_HOST] = "UPDATE clients SET " UPDATE_SET " WHERE client_key = ?20 AND cmid = ?1 AND app_id = ?2"
                       " AND workstation IS ?6 AND product IS ?7 AND first_seen <= ?23",
    /* An imported row changes an existing one only where it brings something newer or older, so merging the
     * same rows twice changes nothing the second time. */
    [ST_MERGE] =
        "INSERT INTO clients (" INSERT_COLUMNS ")"
        " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 0, ?18, ?20, ?21" KEY_GUARD
        " ON CONFLICT (client_key) DO UPDATE SET"
        " sku_id = CASE WHEN excluded.last_seen > last_seen THEN excluded.sku_id ELSE sku_id END,"
        " kms_id = CASE WHEN excluded.last_seen > last_seen THEN excluded.kms_id ELSE kms_id END,"
        " workstation = CASE WHEN excluded.last_seen > last_seen THEN excluded.workstation ELSE workstation END,"
        " product = CASE WHEN excluded.last_seen > last_seen THEN excluded.product ELSE product END,"
        " license_status = CASE WHEN excluded.last_seen > last_seen THEN excluded.license_status"
        "  ELSE license_status END,"
        " last_address = CASE WHEN excluded.last_seen > last_seen THEN excluded.last_address ELSE last_address END,"
        " last_epid = CASE WHEN excluded.last_seen > last_seen THEN excluded.last_epid ELSE last_epid END,"
        " last_host = CASE WHEN excluded.last_seen > last_seen THEN excluded.last_host ELSE last_host END,"
        " first_seen = min(first_seen, excluded.first_seen),"
        " last_seen = max(last_seen, excluded.last_seen),"
        " request_count = max(request_count, excluded.request_count)"
        " WHERE cmid = excluded.cmid AND app_id = excluded.app_id AND (excluded.last_seen > last_seen"
        "  OR excluded.first_seen < first_seen OR excluded.request_count > request_count)",
    [ST_SUMMARY_ADD] = "INSERT INTO summary (app_group, product, n) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT (app_group, product) DO UPDATE SET n = n + excluded.n",
    [ST_STAT_ADD] = "INSERT INTO stats (key, value) VALUES (?1, ?2)"
                    " ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
    /* newest first on clients_group_seen, so the distinct-CMID count stops at its limit (store_count) */
    [ST_COUNT] = "SELECT cmid, last_seen FROM clients WHERE app_group = ?1 AND last_seen > ?2 AND last_seen <= ?3"
                 " ORDER BY last_seen DESC",
    /* clients seen in the window: one row per client in a one-application group, distinct CMIDs in "other" */
    [ST_ACTIVE] = "SELECT count(*) FROM clients WHERE app_group = ?1 AND last_seen > ?2 AND last_seen <= ?3",
    [ST_ACTIVE_OTHER] = "SELECT count(DISTINCT cmid) FROM clients WHERE app_group = ?1 AND last_seen > ?2"
                        " AND last_seen <= ?3",
    /* pruning in chunks of ?2 rows, each its own transaction (store_prune_step) */
    [ST_PRUNE_AGE] = "DELETE FROM clients WHERE rowid IN"
                     " (SELECT rowid FROM clients WHERE last_seen <= ?1 ORDER BY last_seen LIMIT ?2)",
    [ST_ROWS] = "SELECT total(n) FROM summary",
    [ST_PRUNE_CAP] = "DELETE FROM clients WHERE rowid IN"
                     " (SELECT rowid FROM clients ORDER BY last_seen ASC, rowid ASC LIMIT ?1)",
    [ST_STAT_GET] = "SELECT key, value FROM stats",
    [ST_STAT_SET] = "INSERT INTO stats (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_STAT_ONE] = "SELECT value FROM stats WHERE key = ?1",
    [ST_STAT_RAISE] = "INSERT INTO stats (key, value) VALUES (?1, ?2)"
                      " ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
    [ST_DAILY_RAISE] = "INSERT INTO daily (day, answered, refused) VALUES (?1, ?2, ?3) ON CONFLICT (day) DO UPDATE SET"
                       " answered = max(answered, excluded.answered), refused = max(refused, excluded.refused)",
    /* ?2, ?3: the CMID's range of keys (store_client_key_range) */
    [ST_DELETE] = "DELETE FROM clients WHERE (client_key BETWEEN ?2 AND ?3 OR home_key BETWEEN ?2 AND ?3)"
                  " AND cmid = ?1",
    [ST_DAILY_ADD] = "INSERT INTO daily (day, answered, refused) VALUES (?1, ?2, ?3) ON CONFLICT (day) DO UPDATE SET"
                     " answered = answered + excluded.answered, refused = refused + excluded.refused",
    [ST_DAILY_GET] = "SELECT day, answered, refused FROM daily WHERE day >= ?1 AND day <= ?2 ORDER BY day",
    [ST_GROUPS] = "SELECT app_group, product, n FROM summary WHERE n > 0 ORDER BY app_group, product",
    /* where a client's row is: at its own key ?3, or displaced from it */
    [ST_FIND] = "SELECT client_key FROM clients WHERE (client_key = ?3 OR home_key = ?3) AND cmid = ?1 AND app_id = ?2",
    [ST_KEY_TAKEN] = "SELECT 1 FROM clients WHERE client_key = ?1",
    [ST_ANY_HOME] = "SELECT EXISTS (SELECT 1 FROM clients WHERE home_key IS NOT NULL)",
};

/* SQLite result code -> negative errno, so callers can tell a full disk or a lock from the rest. */
static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return -EBADMSG;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/* Records the connection's current error message (before a store_rollback can replace it) and maps rc. */
int store_fail(struct store *s, int rc, const char *what)
{
    snprintf(s->err, sizeof s->err, "%s: %s", what, s->db ? sqlite_fn.sqlite3_errmsg(s->db) : sqlite_fn.sqlite3_errstr(rc));
    return map_rc(rc) ? map_rc(rc) : -EIO;
}

int store_exec(struct store *s, const char *sql, const char *what)
{
    int rc = sqlite_fn.sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store_fail(s, rc, what);
}

void store_rollback(struct store *s)
{
    /* Fails harmlessly when SQLite already rolled back on its own (e.g. SQLITE_FULL). */
    (void)sqlite_fn.sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_end(struct store *s, int ret, const char *what)
{
    if (!ret)
        ret = store_exec(s, "COMMIT", what);
    if (ret)
        store_rollback(s);
    return ret;
}

bool store_could_be_cmid(const char *lq)
{
    size_t n = 0;
    for (; lq[n]; n++)
        if (!((lq[n] >= '0' && lq[n] <= '9') || (lq[n] >= 'a' && lq[n] <= 'f') || lq[n] == '-'))
            return false;
    return n > 0 && n <= GUID_TEXT_LEN;
}

int store_stmt_get(struct store *s, enum stmt_id id, sqlite3_stmt **out)
{
    if (!s->st[id]) {
        int rc = sqlite_fn.sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL);
        if (rc != SQLITE_OK) {
            s->st[id] = NULL;
            return store_fail(s, rc, "prepare");
        }
    }
    sqlite_fn.sqlite3_reset(s->st[id]);
    sqlite_fn.sqlite3_clear_bindings(s->st[id]);
    *out = s->st[id];
    return 0;
}

/* Steps a statement that returns no rows. */
int store_step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite_fn.sqlite3_step(st);
    int ret = rc == SQLITE_DONE ? 0 : store_fail(s, rc, what);
    sqlite_fn.sqlite3_reset(st);
    return ret;
}

int store_cache_size(struct store *s, uint32_t kib)
{
    if (s->pg) /* the server's */
        return 0;
    s->cache_kib = kib; /* set again by store_wake */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%u", (unsigned)kib);
    return store_exec(s, sql, "cannot set the page cache size");
}

int store_bind_failed(struct store *s, sqlite3_stmt *st, int b, const char *what)
{
    /* a failed bind leaves the connection's error state alone, so the message comes from the code itself (the OR
     * of the failed binds' codes, one code when one parameter failed) */
    snprintf(s->err, sizeof s->err, "%s: %s", what, sqlite_fn.sqlite3_errstr(b));
    sqlite_fn.sqlite3_reset(st);
    sqlite_fn.sqlite3_clear_bindings(st);
    return map_rc(b) ? map_rc(b) : -EIO;
}

int store_step_bound(struct store *s, sqlite3_stmt *st, int b, const char *what)
{
    return b ? store_bind_failed(s, st, b, what) : store_step_done(s, st, what);
}

static size_t bounded_len(const char *p, size_t cap)
{
    const char *z = memchr(p, '\0', cap);
    return z ? (size_t)(z - p) : cap;
}

/* SQLITE_STATIC: every statement is stepped and reset while the bound memory lives, and bound afresh before
 * its next step (no copy per parameter on the fold's hot path). */
int store_bind_guid(sqlite3_stmt *st, int i, const struct guid *g)
{
    return sqlite_fn.sqlite3_bind_blob(st, i, g->b, (int)sizeof g->b, SQLITE_STATIC);
}

int store_bind_text(sqlite3_stmt *st, int i, const char *p, size_t cap)
{
    return sqlite_fn.sqlite3_bind_text(st, i, p, (int)bounded_len(p, cap), SQLITE_STATIC);
}

void store_column_guid(sqlite3_stmt *st, int i, struct guid *g)
{
    const void *p = sqlite_fn.sqlite3_column_blob(st, i);
    memset(g, 0, sizeof *g);
    if (p && sqlite_fn.sqlite3_column_bytes(st, i) == (int)sizeof g->b)
        memcpy(g->b, p, sizeof g->b);
}

void store_column_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *p = sqlite_fn.sqlite3_column_text(st, i);
    size_t n = p ? (size_t)sqlite_fn.sqlite3_column_bytes(st, i) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(out, p, n);
    out[n] = '\0';
}

/* ---- the client key (store_internal.h) ---- */

uint64_t store_key_cmid_mask = UINT64_MAX;

#define KEY_APP_MASK ((UINT64_C(1) << STORE_KEY_APP_BITS) - 1)

static uint64_t guid_hash(const struct guid *g)
{
    return rng_mix64(buf_le64(g->b) ^ rng_mix64(buf_le64(g->b + 8) ^ UINT64_C(0x9e3779b97f4a7c15)));
}

/* The CMID's part of its keys: bits 62..STORE_KEY_APP_BITS. */
static uint64_t cmid_part(const struct guid *cmid)
{
    return ((guid_hash(cmid) & store_key_cmid_mask) >> 1) & ~KEY_APP_MASK;
}

int64_t store_client_key(const struct guid *cmid, const struct guid *app_id)
{
    return (int64_t)(cmid_part(cmid) | guid_hash(app_id) >> (64 - STORE_KEY_APP_BITS));
}

void store_client_key_range(const struct guid *cmid, int64_t *lo, int64_t *hi)
{
    *lo = (int64_t)cmid_part(cmid);
    *hi = (int64_t)(cmid_part(cmid) | KEY_APP_MASK);
}

int64_t store_key_probe(const struct guid *cmid, const struct guid *app_id, unsigned i)
{
    uint64_t h = guid_hash(cmid) ^ rng_mix64(guid_hash(app_id) + UINT64_C(0x632be59bd9b4e019));
    return (int64_t)(rng_mix64(h + i) >> 1);
}

int store_key_free(struct store *s, sqlite3_stmt *taken, const struct guid *cmid, const struct guid *app_id, int64_t *out)
{
    for (unsigned i = 1; i <= STORE_KEY_PROBES; i++) {
        int64_t k = store_key_probe(cmid, app_id, i);
        int rc = sqlite_fn.sqlite3_bind_int64(taken, 1, k);
        if (rc == SQLITE_OK)
            rc = sqlite_fn.sqlite3_step(taken);
        sqlite_fn.sqlite3_reset(taken);
        if (rc == SQLITE_DONE) {
            *out = k;
            return 0;
        }
        if (rc != SQLITE_ROW)
            return store_fail(s, rc, "cannot look for a free client key");
    }
    snprintf(s->err, sizeof s->err, "no free client key in %d tries", STORE_KEY_PROBES);
    return -EEXIST;
}

/* SQL function kmsd_client_key(cmid, app_id): store_client_key of two 16-byte blobs (NULL for anything else); the
 * migration to schema 7 keys the rows with it. */
static void sql_client_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const void *c = sqlite_fn.sqlite3_value_blob(argv[0]), *a = sqlite_fn.sqlite3_value_blob(argv[1]);
    if (!c || !a || sqlite_fn.sqlite3_value_bytes(argv[0]) != 16 || sqlite_fn.sqlite3_value_bytes(argv[1]) != 16) {
        sqlite_fn.sqlite3_result_null(ctx);
        return;
    }
    struct guid cmid, app;
    memcpy(cmid.b, c, sizeof cmid.b);
    memcpy(app.b, a, sizeof app.b);
    sqlite_fn.sqlite3_result_int64(ctx, store_client_key(&cmid, &app));
}

/* SQL function kmsd_guid_has(blob, needle): 1 when needle (lower-case) occurs in the lower-case text form of a
 * 16-byte GUID in wire order, else 0 (NULL for anything else). Formats into the stack: nothing is allocated per
 * row of a search. */
static void sql_guid_has(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const void *p = sqlite_fn.sqlite3_value_blob(argv[0]);
    const char *needle = (const char *)sqlite_fn.sqlite3_value_text(argv[1]);
    if (!p || sqlite_fn.sqlite3_value_bytes(argv[0]) != 16 || !needle) {
        sqlite_fn.sqlite3_result_null(ctx);
        return;
    }
    struct guid g;
    char text[GUID_TEXT_LEN + 1];
    memcpy(g.b, p, sizeof g.b);
    guid_format(&g, text);
    sqlite_fn.sqlite3_result_int(ctx, strstr(text, needle) != NULL);
}

int store_pragma_int(struct store *s, const char *sql, const char *what, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite_fn.sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *v = sqlite_fn.sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    int ret = rc == SQLITE_OK ? 0 : store_fail(s, rc, what);
    sqlite_fn.sqlite3_finalize(st);
    return ret;
}

static int read_user_version(struct store *s, int *version)
{
    int64_t v = 0;
    int ret = store_pragma_int(s, "PRAGMA user_version", "cannot read the schema version", &v);
    if (!ret)
        *version = (int)v;
    return ret;
}

static int check_version(struct store *s, int version)
{
    if (version < 0 || version > STORE_SCHEMA_VERSION) {
        snprintf(s->err, sizeof s->err,
                 "database schema version %d is newer than this kmsd supports (%d): use a newer kmsd", version,
                 STORE_SCHEMA_VERSION);
        return -ENOTSUP;
    }
    return 0;
}

/* 6 -> 7, between rekey_before and rekey_after: the rows whose key an older row took get a free one, and keep their
 * own as home_key. */
static int rekey_collided(struct store *s)
{
    sqlite3_stmt *left = NULL, *taken = NULL, *ins = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db,
                                          "SELECT rowid, cmid, app_id FROM clients_v6 AS o"
                                          " WHERE NOT EXISTS (SELECT 1 FROM clients AS n WHERE n.rowid = o.rowid)",
                                          -1, &left, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite_fn.sqlite3_prepare_v2(s->db, "SELECT 1 FROM clients WHERE client_key = ?1", -1, &taken, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite_fn.sqlite3_prepare_v2(s->db,
                                          "INSERT INTO clients (rowid, " INSERT_COLUMNS ") SELECT rowid, " CLIENT_COLUMNS_V4
                                          ", ?2, ?3 FROM clients_v6 WHERE rowid = ?1",
                                          -1, &ins, NULL);
    int ret = rc == SQLITE_OK ? 0 : store_fail(s, rc, "schema migration failed");
    while (!ret && (rc = sqlite_fn.sqlite3_step(left)) == SQLITE_ROW) {
        struct guid cmid, app;
        store_column_guid(left, 1, &cmid);
        store_column_guid(left, 2, &app);
        int64_t home = store_client_key(&cmid, &app), at = 0;
        ret = store_key_free(s, taken, &cmid, &app, &at);
        if (ret)
            break;
        int b = sqlite_fn.sqlite3_bind_int64(ins, 1, sqlite_fn.sqlite3_column_int64(left, 0)) |
                sqlite_fn.sqlite3_bind_int64(ins, 2, at) | sqlite_fn.sqlite3_bind_int64(ins, 3, home);
        ret = store_step_bound(s, ins, b, "schema migration failed");
    }
    if (!ret && rc != SQLITE_DONE)
        ret = store_fail(s, rc, "schema migration failed");
    sqlite_fn.sqlite3_finalize(left);
    sqlite_fn.sqlite3_finalize(taken);
    sqlite_fn.sqlite3_finalize(ins);
    return ret;
}

static int rekey_clients(struct store *s)
{
    int ret = store_exec(s, rekey_before, "schema migration failed");
    if (!ret)
        ret = rekey_collided(s);
    return ret ? ret : store_exec(s, rekey_after, "schema migration failed");
}

/* Applies the missing steps, one transaction each. The version is read again inside each write transaction,
 * so two processes opening a new database at once do not both apply a step. */
void (*store_on_migrate)(int from, int to, uint64_t rows);

bool store_was_migrated(const struct store *s)
{
    return !s->pg && !s->readonly && s->version < STORE_SCHEMA_VERSION;
}

static int migrate(struct store *s)
{
    bool told = false, fresh = false;
    for (;;) {
        int version = 0;
        int ret = store_exec(s, "BEGIN IMMEDIATE", "cannot start the schema migration");
        if (ret)
            return ret;
        ret = read_user_version(s, &version);
        if (!ret)
            ret = check_version(s, version);
        /* a file found at version 0 is new and empty: its steps take no time and are no migration to tell of */
        if (!ret && version == 0)
            fresh = true;
        if (!ret && !fresh && version < STORE_SCHEMA_VERSION && !told && store_on_migrate) {
            int64_t rows = 0;
            ret = store_pragma_int(s, "SELECT count(*) FROM clients", "cannot count the rows", &rows);
            if (!ret)
                store_on_migrate(version, STORE_SCHEMA_VERSION, rows > 0 ? (uint64_t)rows : 0);
            told = true;
        }
        if (!ret && version < STORE_SCHEMA_VERSION)
            ret = migrations[version] ? store_exec(s, migrations[version], "schema migration failed") : rekey_clients(s);
        if ((ret = store_end(s, ret, "cannot commit the schema migration")) != 0)
            return ret;
        if (version >= STORE_SCHEMA_VERSION)
            return 0;
    }
}

void store_release_memory(struct store *s)
{
    if (s->pg)
        return;
    (void)sqlite_fn.sqlite3_db_release_memory(s->db); /* SQLITE_OK always */
}

/* Opens one connection as every connection of the store is set up: one thread at a time (NOMUTEX), extended
 * result codes, the busy timeout. On failure *db may still need sqlite3_close (SQLite's rule). */
static int connect_db(const char *path, int flags, sqlite3 **db)
{
    int rc = sqlite_fn.sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite_fn.sqlite3_extended_result_codes(*db, 1);
        sqlite_fn.sqlite3_busy_timeout(*db, STORE_BUSY_TIMEOUT_MS);
    }
    return rc;
}

bool store_on_postgresql(const struct store *s)
{
    return s->pg != NULL;
}

/* A keyword/value connection string with the values of password and sslpassword replaced by "***": each value is
 * a run of non-blanks or a single-quoted text ('...', \' and \\ escaped), as libpq reads them. */
static void redact_keywords(const char *db, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = db;
#define PUT(c) do { if (o + 1 < cap) out[o++] = (c); } while (0)
    while (*p) {
        while (*p == ' ' || *p == '\t')
            PUT(*p++);
        const char *k = p;
        p += strcspn(p, "= \t");
        size_t kn = (size_t)(p - k);
        for (const char *c = k; c < p; c++)
            PUT(*c);
        while (*p == ' ' || *p == '\t')
            PUT(*p++);
        if (*p != '=')
            continue;
        PUT(*p++);
        while (*p == ' ' || *p == '\t')
            PUT(*p++);
        bool secret = (kn == 8 && memcmp(k, "password", 8) == 0) || (kn == 11 && memcmp(k, "sslpassword", 11) == 0);
        const char *v = p;
        if (*p == '\'') {
            for (p++; *p && *p != '\''; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p == '\'')
                p++;
        } else {
            p += strcspn(p, " \t");
        }
        if (secret) {
            PUT('*');
            PUT('*');
            PUT('*');
        } else {
            for (const char *c = v; c < p; c++)
                PUT(*c);
        }
    }
#undef PUT
    out[o < cap ? o : cap - 1] = '\0';
}

void store_redact(const char *db, char *out, size_t cap)
{
    if (cap == 0)
        return;
    if (!store_pg_is_uri(db) && store_is_postgresql(db)) {
        redact_keywords(db, out, cap);
        return;
    }
    snprintf(out, cap, "%s", db);
    if (!store_is_postgresql(out))
        return;
    /* postgresql://user:PASSWORD@host/..., and ?password=... / &password=... */
    char *auth = strstr(out, "://") + 3;
    size_t end = strcspn(auth, "/?");
    char *at = memchr(auth, '@', end);
    char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
        memmove(colon + 4, at, strlen(at) + 1 <= cap - (size_t)(colon + 4 - out) ? strlen(at) + 1 : 0);
        memcpy(colon, ":***", 4);
        out[cap - 1] = '\0';
    }
    for (char *p = strstr(out, "password="); p; p = strstr(p + 1, "password=")) {
        if (p != out && p[-1] != '?' && p[-1] != '&')
            continue;
        char *v = p + 9;
        size_t n = strcspn(v, "&");
        if (n >= 3) {
            memcpy(v, "***", 3);
            memmove(v + 3, v + n, strlen(v + n) + 1);
        } else { /* shorter than its mask: the rest moves right, cut to fit */
            size_t tail = strlen(v + n), room = cap - (size_t)(v - out) - 4;
            memmove(v + 3, v + n, tail + 1 <= room ? tail + 1 : room);
            memcpy(v, "***", 3);
            out[cap - 1] = '\0';
        }
    }
}

int store_local_path(const char *db, const char *state_dir, char *out, size_t cap)
{
    if (!store_is_postgresql(db))
        return store_path(db, state_dir, out, cap);
    int n = snprintf(out, cap, "%s/%s", state_dir, STORE_PG_LOCAL_NAME);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int store_path(const char *db, const char *state_dir, char *out, size_t cap)
{
    int n = db && db[0] ? snprintf(out, cap, "%s", db) : snprintf(out, cap, "%s/%s", state_dir, STORE_FILE_NAME);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Creates path with STORE_FILE_MODE when it is missing (SQLite would create it 0644, and gives its -wal and -shm
 * the database's mode), and narrows an existing file and its -wal/-shm that others may read. Returns 0 or
 * -errno when a mode cannot be narrowed. */
static int guard_mode(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, STORE_FILE_MODE);
    if (fd < 0)
        return 0; /* SQLite's open fails the same way and says why in its words */
    close(fd);
    static const char *const side[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof side / sizeof side[0]; i++) {
        char p[4096 + 8];
        struct stat st;
        snprintf(p, sizeof p, "%s%s", path, side[i]);
        if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) == 0)
            continue;
        if (chmod(p, STORE_FILE_MODE) < 0)
            return -errno;
    }
    return 0;
}

/* How open_common opens: for writing (migrated to STORE_SCHEMA_VERSION), for reading (at that version only), or
 * a file of any kmsd schema read as it is (store_open_file, live or at rest). */
/* OPEN_DEFERRED: a PostgreSQL registry to write, not yet connected (store_open_deferred) */
enum open_mode { OPEN_WRITE, OPEN_READ, OPEN_FILE_LIVE, OPEN_FILE_AT_REST, OPEN_DEFERRED };

/* "file:PATH?immutable=1": a URI that SQLite reads without locks and without creating a -wal or -shm beside the
 * file; the path's bytes other than letters, digits and "/._-~" percent-encoded (a second leading slash too, so
 * "//x" does not read as an authority). Returns 0 or -ENAMETOOLONG. */
static int immutable_uri(const char *path, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    const char *head = "file:";
    for (; *head; head++)
        if (n < cap)
            out[n++] = *head;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                     strchr("/._-~", *p) != NULL;
        if (*p == '/' && p == (const unsigned char *)path + 1 && path[0] == '/')
            plain = false;
        if (plain) {
            if (n < cap)
                out[n++] = (char)*p;
        } else if (n + 3 <= cap) {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        } else {
            n = cap;
        }
    }
    int m = n < cap ? snprintf(out + n, cap - n, "?immutable=1") : -1;
    return m < 0 || (size_t)m >= cap - n ? -ENAMETOOLONG : 0;
}

/* Connects s->db to path as mode says. Returns a SQLite result code. */
static int connect_mode(struct store *s, const char *path, enum open_mode mode)
{
    if (mode == OPEN_WRITE)
        return connect_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &s->db);
    char wal[4096 + 8];
    struct stat st;
    /* a file at rest with a -wal beside it (copied with its WAL, or a registry after a crash) is read with the WAL,
     * as a live one: immutable would ignore it */
    if (mode != OPEN_FILE_AT_REST || (snprintf(wal, sizeof wal, "%s-wal", path) < (int)sizeof wal &&
                                      lstat(wal, &st) == 0))
        return connect_db(path, SQLITE_OPEN_READONLY, &s->db);
    char uri[3 * 4096 + 32];
    /* said here, in the system's words: SQLite's would be "unable to open database file" */
    if (access(path, R_OK) != 0) {
        snprintf(s->err, sizeof s->err, "cannot open: %s", strerror(errno));
        return SQLITE_CANTOPEN;
    }
    if (immutable_uri(path, uri, sizeof uri) < 0) {
        snprintf(s->err, sizeof s->err, "cannot open: %s", strerror(ENAMETOOLONG));
        return SQLITE_CANTOPEN;
    }
    return connect_db(uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, &s->db);
}

/* Takes a reference to the SQLite library (sqlite_fns.h), connects s to path and sets the connection up as mode says:
 * a write connection is migrated to STORE_SCHEMA_VERSION. Returns 0 or a negative code with the reason in s->err
 * (disconnect_store undoes what was done either way). */
static int connect_store(struct store *s, const char *path, enum open_mode mode)
{
    if (sqlite_fns_acquire(s->err, sizeof s->err) < 0)
        return -ELIBACC;
    s->lib = true;
    bool readonly = mode != OPEN_WRITE;
    if (!readonly && strcmp(path, ":memory:") != 0) { /* an in-memory database has no file to guard */
        int g = guard_mode(path);
        if (g < 0) {
            snprintf(s->err, sizeof s->err, "%s", strerror(-g));
            return g;
        }
    }
    int rc = connect_mode(s, path, mode);
    int ret = 0, version = 0;
    if (rc != SQLITE_OK) {
        ret = s->err[0] ? -EIO : store_fail(s, rc, "cannot open");
        if (readonly && rc == SQLITE_CANTOPEN)
            ret = -ENOENT;
        return ret;
    }
    rc = sqlite_fn.sqlite3_create_function_v2(s->db, "kmsd_guid_has", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                              sql_guid_has, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite_fn.sqlite3_create_function_v2(s->db, "kmsd_client_key", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                                  sql_client_key, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "cannot register a function");
    /* The first statement reads the header, so a file that is not a database fails here. */
    ret = read_user_version(s, &version);
    if (ret)
        return ret;
    ret = check_version(s, version);
    if (ret)
        return ret;
    s->version = version;
    if (mode == OPEN_FILE_LIVE || mode == OPEN_FILE_AT_REST) {
        if (version == 0) {
            snprintf(s->err, sizeof s->err, "not a kmsd registry (no schema version)");
            return -ENOTSUP;
        }
        return 0;
    }
    if (readonly) {
        if (version < STORE_SCHEMA_VERSION) {
            if (version == 0)
                snprintf(s->err, sizeof s->err, "not a kmsd database (no schema)");
            else
                snprintf(s->err, sizeof s->err,
                         "database schema version %d is older than %d: start kmsd once to migrate it", version,
                         STORE_SCHEMA_VERSION);
            return -ENOTSUP;
        }
        return 0;
    }
    /* WAL lets the commands read while the daemon writes; with synchronous=NORMAL a commit survives a crash
     * of the process (not necessarily of the machine). ":memory:" stays in its own journal mode. */
    /* A new database gives the pages that pruning frees back to the file system a few at a time
     * (store_vacuum_step); the mode can only be chosen before the first table exists. */
    if (version == 0)
        ret = store_exec(s, "PRAGMA auto_vacuum = INCREMENTAL", "cannot set auto_vacuum");
    if (!ret)
        ret = store_exec(s, "PRAGMA journal_mode = WAL", "cannot enable WAL");
    /* Statement journals (an upsert with triggers keeps one) in memory: past 64 KiB SQLite spills them to a temp
     * file, a write(2) per page of every fold's upsert. */
    if (!ret)
        ret = store_exec(s, "PRAGMA temp_store = MEMORY", "cannot set temp_store");
    if (!ret)
        ret = store_exec(s, "PRAGMA synchronous = NORMAL", "cannot set synchronous");
    if (!ret)
        ret = migrate(s);
    return ret;
}

/* Closes what connect_store and store_split_checkpoints opened, and the statements and the search memory of the
 * connection, and gives the library reference back. */
static void disconnect_store(struct store *s)
{
    for (size_t i = 0; i < ST_COUNT_MAX; i++) {
        if (s->st[i])
            sqlite_fn.sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    store_search_close(s);
    if (s->ckpt)
        sqlite_fn.sqlite3_close(s->ckpt);
    if (s->db)
        sqlite_fn.sqlite3_close(s->db); /* the last connection checkpoints everything and removes the WAL */
    s->ckpt = s->db = NULL;
    s->wal_frames = 0;
    if (s->lib)
        sqlite_fns_release();
    s->lib = false;
}

static int open_common(const char *path, enum open_mode mode, struct store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    char shown[512];
    store_redact(path, shown, sizeof shown);
    bool writes = mode == OPEN_WRITE || mode == OPEN_DEFERRED;
    struct store *s = calloc(1, sizeof *s);
    if (!s || (writes && !(s->path = strdup(path)))) {
        free(s);
        snprintf(err, errlen, "%s: out of memory", shown);
        return -ENOMEM;
    }
    s->readonly = !writes;
    bool pg = store_is_postgresql(path);
    int ret = 0;
    if (pg && (mode == OPEN_FILE_LIVE || mode == OPEN_FILE_AT_REST)) {
        snprintf(s->err, sizeof s->err, "a PostgreSQL registry is not a file: copy it with pg_dump");
        ret = -ENOTSUP;
    } else if (!pg && mode == OPEN_DEFERRED) {
        snprintf(s->err, sizeof s->err, "not a PostgreSQL registry");
        ret = -EINVAL;
    } else if (mode == OPEN_DEFERRED) {
        ret = store_pg_open_deferred(s, path);
    } else {
        ret = pg ? store_pg_open(s, path, !writes) : connect_store(s, path, mode);
    }
    if (ret) {
        snprintf(err, errlen, "%s: %s", shown, s->err[0] ? s->err : "cannot open");
        store_close(s);
        return ret;
    }
    *out = s;
    return 0;
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
    return open_common(path, OPEN_WRITE, out, err, errlen);
}

int store_open_deferred(const char *path, struct store **out, char *err, size_t errlen)
{
    return open_common(path, OPEN_DEFERRED, out, err, errlen);
}

int store_open_readonly(const char *path, struct store **out, char *err, size_t errlen)
{
    return open_common(path, OPEN_READ, out, err, errlen);
}

int store_open_file(const char *path, enum store_reading how, struct store **out, char *err, size_t errlen)
{
    return open_common(path, how == STORE_AT_REST ? OPEN_FILE_AT_REST : OPEN_FILE_LIVE, out, err, errlen);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->pg)
        store_pg_close(s);
    else
        disconnect_store(s);
    free(s->path);
    free(s);
}

int store_sleep(struct store *s)
{
    if (s->pg) {
        store_pg_sleep(s);
        return 0;
    }
    if (s->readonly || !s->path || strcmp(s->path, ":memory:") == 0) /* nothing to open again from */
        return -ENOTSUP;
    if (s->db)
        disconnect_store(s);
    return 0;
}

bool store_asleep(const struct store *s)
{
    if (s->pg)
        return store_pg_asleep(s);
    return s->db == NULL;
}

bool store_library_loaded(void)
{
    return sqlite_fns_loaded();
}

uint64_t store_library_loads(void)
{
    return sqlite_fns_loads();
}

int store_claim_host(struct store *s, bool *alone)
{
    *alone = true;
    return s->pg ? store_pg_claim_host(s, alone) : 0;
}

int store_wake(struct store *s)
{
    if (s->pg)
        return store_pg_wake(s);
    if (s->db)
        return 0;
    s->err[0] = '\0';
    int ret = connect_store(s, s->path, OPEN_WRITE);
    if (!ret && s->cache_kib)
        ret = store_cache_size(s, s->cache_kib);
    if (!ret && s->split) /* failing, checkpoints are in the commits until the next wake, as when it failed at start */
        (void)store_split_checkpoints(s);
    if (ret) {
        char why[sizeof s->err];
        memcpy(why, s->err, sizeof why);
        disconnect_store(s);
        snprintf(s->err, sizeof s->err, "cannot open the registry again: %.200s", why[0] ? why : "unknown error");
    }
    return ret;
}

/* Runs on the writer connection after each commit. Checkpoints are store_checkpoint()'s job, on another
 * connection and thread; only a WAL that has grown to STORE_WAL_BACKSTOP_PAGES (the background checkpoints
 * could not keep up) is checkpointed here, inline, as SQLite's automatic checkpoint would. */
static int wal_hook(void *ctx, sqlite3 *db, const char *name, int frames)
{
    struct store *s = ctx;
    s->wal_frames = frames > 0 ? (uint32_t)frames : 0;
    if (frames >= STORE_WAL_BACKSTOP_PAGES)
        (void)sqlite_fn.sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

int store_split_checkpoints(struct store *s)
{
    if (s->pg || s->readonly || s->ckpt)
        return 0;
    const char *path = sqlite_fn.sqlite3_db_filename(s->db, "main");
    if (!path || !*path) /* ":memory:" has no WAL */
        return 0;
    sqlite3 *c = NULL;
    int rc = connect_db(path, SQLITE_OPEN_READWRITE, &c);
    if (rc == SQLITE_OK) /* as the writer's connection: a checkpoint fsyncs the WAL and the database */
        rc = sqlite_fn.sqlite3_exec(c, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(s->err, sizeof s->err, "cannot open a connection for checkpoints: %s",
                 c ? sqlite_fn.sqlite3_errmsg(c) : sqlite_fn.sqlite3_errstr(rc));
        sqlite_fn.sqlite3_close(c);
        return map_rc(rc) ? map_rc(rc) : -EIO;
    }
    /* Bound what the WAL file keeps on disk once it has been reset after a burst (best effort: without it
     * the file keeps its largest size, which the backstop bounds anyway). */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %d", STORE_WAL_SIZE_LIMIT);
    (void)sqlite_fn.sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    sqlite_fn.sqlite3_wal_hook(s->db, wal_hook, s); /* replaces the automatic checkpoint */
    s->ckpt = c;
    s->split = true; /* split again by store_wake */
    return 0;
}

uint32_t store_wal_frames(const struct store *s)
{
    return s->wal_frames;
}

int store_checkpoint(struct store *s, char *err, size_t errlen)
{
    if (!s->ckpt)
        return 0;
    int rc = sqlite_fn.sqlite3_wal_checkpoint_v2(s->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        snprintf(err, errlen, "%s", sqlite_fn.sqlite3_errmsg(s->ckpt));
        return map_rc(rc) ? map_rc(rc) : -EIO;
    }
    return 0;
}

const char *store_errmsg(const struct store *s)
{
    return s->err;
}
