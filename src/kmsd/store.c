#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kms.h"
#include "products.h"
#include "timeutil.h"

#define STORE_BUSY_TIMEOUT_MS 5000

/* Statements prepared once per connection, on first use. */
enum stmt_id {
    ST_UPSERT,
    ST_MERGE,
    ST_STAT_ADD,
    ST_COUNT,
    ST_PRUNE_AGE,
    ST_ROWS,
    ST_PRUNE_CAP,
    ST_STAT_GET,
    ST_DELETE,
    ST_LIST,
    ST_DAILY_ADD,
    ST_DAILY_GET,
    ST_GROUPS,
    ST_COUNT_MAX
};

struct store {
    sqlite3 *db;
    sqlite3 *ckpt;       /* second connection for store_checkpoint(), or NULL (see store_split_checkpoints) */
    uint32_t wal_frames; /* frames in the WAL after the last commit on db (set by wal_hook) */
    bool readonly;
    sqlite3_stmt *st[ST_COUNT_MAX];
    char err[256];
};

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
};

static const char *const stat_status_keys[KMS_LICENSE_STATUS_COUNT] = {
    "status0", "status1", "status2", "status3", "status4", "status5", "status6",
};

static const char *const stmt_sql[ST_COUNT_MAX] = {
    [ST_UPSERT] =
        "INSERT INTO clients (cmid, app_id, app_group, sku_id, kms_id, workstation, product, license_status,"
        " grace_time, is_vm, version_major, version_minor, first_seen, last_seen, request_count, last_address,"
        " last_epid, last_hresult)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, 1, ?14, ?15, ?16)"
        " ON CONFLICT (cmid, app_id) DO UPDATE SET"
        " sku_id = excluded.sku_id, kms_id = excluded.kms_id, workstation = excluded.workstation,"
        " product = excluded.product, license_status = excluded.license_status, grace_time = excluded.grace_time,"
        " is_vm = excluded.is_vm, version_major = excluded.version_major, version_minor = excluded.version_minor,"
        " first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),"
        " request_count = request_count + 1, last_address = excluded.last_address,"
        " last_epid = CASE WHEN excluded.last_hresult = 0 THEN excluded.last_epid ELSE last_epid END,"
        " last_hresult = excluded.last_hresult",
    /* An imported row changes an existing one only where it brings something newer or older, so merging the
     * same rows twice changes nothing the second time. */
    [ST_MERGE] =
        "INSERT INTO clients (cmid, app_id, app_group, sku_id, kms_id, workstation, product, license_status,"
        " grace_time, is_vm, version_major, version_minor, first_seen, last_seen, request_count, last_address,"
        " last_epid, last_hresult)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 0)"
        " ON CONFLICT (cmid, app_id) DO UPDATE SET"
        " sku_id = CASE WHEN excluded.last_seen > last_seen THEN excluded.sku_id ELSE sku_id END,"
        " kms_id = CASE WHEN excluded.last_seen > last_seen THEN excluded.kms_id ELSE kms_id END,"
        " workstation = CASE WHEN excluded.last_seen > last_seen THEN excluded.workstation ELSE workstation END,"
        " product = CASE WHEN excluded.last_seen > last_seen THEN excluded.product ELSE product END,"
        " license_status = CASE WHEN excluded.last_seen > last_seen THEN excluded.license_status"
        "  ELSE license_status END,"
        " last_address = CASE WHEN excluded.last_seen > last_seen THEN excluded.last_address ELSE last_address END,"
        " last_epid = CASE WHEN excluded.last_seen > last_seen THEN excluded.last_epid ELSE last_epid END,"
        " first_seen = min(first_seen, excluded.first_seen),"
        " last_seen = max(last_seen, excluded.last_seen),"
        " request_count = max(request_count, excluded.request_count)"
        " WHERE excluded.last_seen > last_seen OR excluded.first_seen < first_seen"
        "  OR excluded.request_count > request_count",
    [ST_STAT_ADD] = "INSERT INTO stats (key, value) VALUES (?1, ?2)"
                    " ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
    [ST_COUNT] = "SELECT count(DISTINCT cmid) FROM clients WHERE app_group = ?1 AND last_seen > ?2 AND last_seen <= ?3",
    [ST_PRUNE_AGE] = "DELETE FROM clients WHERE last_seen <= ?1",
    [ST_ROWS] = "SELECT count(*) FROM clients",
    [ST_PRUNE_CAP] = "DELETE FROM clients WHERE rowid IN"
                     " (SELECT rowid FROM clients ORDER BY last_seen ASC, rowid ASC LIMIT ?1)",
    [ST_STAT_GET] = "SELECT key, value FROM stats",
    [ST_DELETE] = "DELETE FROM clients WHERE cmid = ?1",
    [ST_LIST] = "SELECT cmid, app_id, sku_id, kms_id, workstation, product, last_address, last_epid, license_status,"
                " grace_time, is_vm, version_major, version_minor, first_seen, last_seen, request_count"
                " FROM clients WHERE (?1 IS NULL OR instr(lower(product), lower(?1)) > 0) AND last_seen >= ?2"
                " ORDER BY last_seen DESC, cmid ASC, app_id ASC",
    [ST_DAILY_ADD] = "INSERT INTO daily (day, answered, refused) VALUES (?1, ?2, ?3) ON CONFLICT (day) DO UPDATE SET"
                     " answered = answered + excluded.answered, refused = refused + excluded.refused",
    [ST_DAILY_GET] = "SELECT day, answered, refused FROM daily WHERE day >= ?1 AND day <= ?2 ORDER BY day",
    [ST_GROUPS] = "SELECT app_group, product, count(*) FROM clients GROUP BY app_group, product"
                  " ORDER BY app_group, product",
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

/* Records the connection's current error message (before a rollback can replace it) and maps rc. */
static int fail(struct store *s, int rc, const char *what)
{
    snprintf(s->err, sizeof s->err, "%s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    return map_rc(rc) ? map_rc(rc) : -EIO;
}

static int exec(struct store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fail(s, rc, what);
}

static void rollback(struct store *s)
{
    /* Fails harmlessly when SQLite already rolled back on its own (e.g. SQLITE_FULL). */
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int stmt_get(struct store *s, enum stmt_id id, sqlite3_stmt **out)
{
    if (!s->st[id]) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL);
        if (rc != SQLITE_OK) {
            s->st[id] = NULL;
            return fail(s, rc, "prepare");
        }
    }
    sqlite3_reset(s->st[id]);
    sqlite3_clear_bindings(s->st[id]);
    *out = s->st[id];
    return 0;
}

/* Steps a statement that returns no rows. */
static int step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_DONE ? 0 : fail(s, rc, what);
    sqlite3_reset(st);
    return ret;
}

static size_t bounded_len(const char *p, size_t cap)
{
    const char *z = memchr(p, '\0', cap);
    return z ? (size_t)(z - p) : cap;
}

static int bind_guid(sqlite3_stmt *st, int i, const struct guid *g)
{
    return sqlite3_bind_blob(st, i, g->b, (int)sizeof g->b, SQLITE_TRANSIENT);
}

static int bind_text(sqlite3_stmt *st, int i, const char *p, size_t cap)
{
    return sqlite3_bind_text(st, i, p, (int)bounded_len(p, cap), SQLITE_TRANSIENT);
}

static void column_guid(sqlite3_stmt *st, int i, struct guid *g)
{
    const void *p = sqlite3_column_blob(st, i);
    memset(g, 0, sizeof *g);
    if (p && sqlite3_column_bytes(st, i) == (int)sizeof g->b)
        memcpy(g->b, p, sizeof g->b);
}

static void column_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *p = sqlite3_column_text(st, i);
    size_t n = p ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(out, p, n);
    out[n] = '\0';
}

/* SQL function kmsd_guid_text(blob): the lower-case text form of a 16-byte GUID in wire order, else NULL. */
static void sql_guid_text(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const void *p = sqlite3_value_blob(argv[0]);
    if (!p || sqlite3_value_bytes(argv[0]) != 16) {
        sqlite3_result_null(ctx);
        return;
    }
    struct guid g;
    char text[GUID_TEXT_LEN + 1];
    memcpy(g.b, p, sizeof g.b);
    guid_format(&g, text);
    sqlite3_result_text(ctx, text, GUID_TEXT_LEN, SQLITE_TRANSIENT);
}

static int read_user_version(struct store *s, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    int ret = rc == SQLITE_OK ? 0 : fail(s, rc, "cannot read the schema version");
    sqlite3_finalize(st);
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

/* Applies the missing steps, one transaction each. The version is read again inside each write transaction,
 * so two processes opening a new database at once do not both apply a step. */
static int migrate(struct store *s)
{
    for (;;) {
        int version = 0;
        int ret = exec(s, "BEGIN IMMEDIATE", "cannot start the schema migration");
        if (ret)
            return ret;
        ret = read_user_version(s, &version);
        if (!ret)
            ret = check_version(s, version);
        if (!ret && version < STORE_SCHEMA_VERSION)
            ret = exec(s, migrations[version], "schema migration failed");
        if (!ret)
            ret = exec(s, "COMMIT", "cannot commit the schema migration");
        if (ret) {
            rollback(s);
            return ret;
        }
        if (version >= STORE_SCHEMA_VERSION)
            return 0;
    }
}

/* Opens one connection as every connection of the store is set up: one thread at a time (NOMUTEX), extended
 * result codes, the busy timeout. On failure *db may still need sqlite3_close (SQLite's rule). */
static int connect_db(const char *path, int flags, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(*db, 1);
        sqlite3_busy_timeout(*db, STORE_BUSY_TIMEOUT_MS);
    }
    return rc;
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

static int open_common(const char *path, bool readonly, struct store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    s->readonly = readonly;
    if (!readonly) {
        int g = guard_mode(path);
        if (g < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(-g));
            free(s);
            return g;
        }
    }
    int rc = connect_db(path, readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &s->db);
    int ret = 0, version = 0;
    if (rc != SQLITE_OK) {
        ret = fail(s, rc, "cannot open");
        if (readonly && rc == SQLITE_CANTOPEN)
            ret = -ENOENT;
        goto out;
    }
    rc = sqlite3_create_function_v2(s->db, "kmsd_guid_text", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                    sql_guid_text, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        ret = fail(s, rc, "cannot register a function");
        goto out;
    }
    /* The first statement reads the header, so a file that is not a database fails here. */
    ret = read_user_version(s, &version);
    if (ret)
        goto out;
    ret = check_version(s, version);
    if (ret)
        goto out;
    if (readonly) {
        if (version < STORE_SCHEMA_VERSION) {
            if (version == 0)
                snprintf(s->err, sizeof s->err, "not a kmsd database (no schema)");
            else
                snprintf(s->err, sizeof s->err,
                         "database schema version %d is older than %d: start kmsd once to migrate it", version,
                         STORE_SCHEMA_VERSION);
            ret = -ENOTSUP;
        }
        goto out;
    }
    /* WAL lets the commands read while the daemon writes; with synchronous=NORMAL a commit survives a crash
     * of the process (not necessarily of the machine). ":memory:" stays in its own journal mode. */
    ret = exec(s, "PRAGMA journal_mode = WAL", "cannot enable WAL");
    if (!ret)
        ret = exec(s, "PRAGMA synchronous = NORMAL", "cannot set synchronous");
    if (!ret)
        ret = migrate(s);
out:
    if (ret) {
        snprintf(err, errlen, "%s: %s", path, s->err[0] ? s->err : "cannot open");
        store_close(s);
        return ret;
    }
    *out = s;
    return 0;
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
    return open_common(path, false, out, err, errlen);
}

int store_open_readonly(const char *path, struct store **out, char *err, size_t errlen)
{
    return open_common(path, true, out, err, errlen);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < ST_COUNT_MAX; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->ckpt);
    sqlite3_close(s->db); /* the last connection checkpoints everything and removes the WAL */
    free(s);
}

/* Runs on the writer connection after each commit. Checkpoints are store_checkpoint()'s job, on another
 * connection and thread; only a WAL that has grown to STORE_WAL_BACKSTOP_PAGES (the background checkpoints
 * could not keep up) is checkpointed here, inline, as SQLite's automatic checkpoint would. */
static int wal_hook(void *ctx, sqlite3 *db, const char *name, int frames)
{
    struct store *s = ctx;
    s->wal_frames = frames > 0 ? (uint32_t)frames : 0;
    if (frames >= STORE_WAL_BACKSTOP_PAGES)
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

int store_split_checkpoints(struct store *s)
{
    if (s->readonly || s->ckpt)
        return 0;
    const char *path = sqlite3_db_filename(s->db, "main");
    if (!path || !*path) /* ":memory:" has no WAL */
        return 0;
    sqlite3 *c = NULL;
    int rc = connect_db(path, SQLITE_OPEN_READWRITE, &c);
    if (rc == SQLITE_OK) /* as the writer's connection: a checkpoint fsyncs the WAL and the database */
        rc = sqlite3_exec(c, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(s->err, sizeof s->err, "cannot open a connection for checkpoints: %s",
                 c ? sqlite3_errmsg(c) : sqlite3_errstr(rc));
        sqlite3_close(c);
        return map_rc(rc) ? map_rc(rc) : -EIO;
    }
    /* Bound what the WAL file keeps on disk once it has been reset after a burst (best effort: without it
     * the file keeps its largest size, which the backstop bounds anyway). */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %d", STORE_WAL_SIZE_LIMIT);
    (void)sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    sqlite3_wal_hook(s->db, wal_hook, s); /* replaces the automatic checkpoint */
    s->ckpt = c;
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
    int rc = sqlite3_wal_checkpoint_v2(s->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(s->ckpt));
        return map_rc(rc) ? map_rc(rc) : -EIO;
    }
    return 0;
}

const char *store_errmsg(const struct store *s)
{
    return s->err;
}

enum store_app_group store_app_group_of(const struct guid *app_id)
{
    const struct products_app *a = products_app_by_id(app_id);
    return a && a->count_group < STORE_APP_OTHER ? (enum store_app_group)a->count_group : STORE_APP_OTHER;
}

/* The application whose count group is g, or NULL for STORE_APP_OTHER. */
static const struct products_app *group_app(enum store_app_group g)
{
    for (size_t i = 0; i < products_app_count(); i++)
        if (products_app_at(i)->count_group == (uint32_t)g && g != STORE_APP_OTHER)
            return products_app_at(i);
    return NULL;
}

const char *store_app_group_key(enum store_app_group g)
{
    const struct products_app *a = group_app(g);
    return a ? a->key : "other";
}

const char *store_app_group_label(enum store_app_group g)
{
    const struct products_app *a = group_app(g);
    return a ? a->group_label : "other";
}

/* Binds ?1 to ?12 of ST_UPSERT and ST_MERGE, the columns an activation record (struct store_record) and an
 * imported row (struct store_client) share under the same field names: cmid, app_id, app_group, sku_id,
 * kms_id, workstation, product, license_status, grace_time, is_vm, version_major, version_minor. */
#define BIND_CLIENT_COLUMNS(st, x)                                                                                     \
    do {                                                                                                               \
        bind_guid((st), 1, &(x)->cmid);                                                                                \
        bind_guid((st), 2, &(x)->app_id);                                                                              \
        sqlite3_bind_int((st), 3, (int)store_app_group_of(&(x)->app_id));                                              \
        bind_guid((st), 4, &(x)->sku_id);                                                                              \
        bind_guid((st), 5, &(x)->kms_id);                                                                              \
        bind_text((st), 6, (x)->workstation, sizeof(x)->workstation);                                                  \
        bind_text((st), 7, (x)->product, sizeof(x)->product);                                                          \
        sqlite3_bind_int64((st), 8, (x)->license_status);                                                              \
        sqlite3_bind_int64((st), 9, (x)->grace_time);                                                                  \
        sqlite3_bind_int64((st), 10, (x)->is_vm);                                                                      \
        sqlite3_bind_int64((st), 11, (x)->version_major);                                                              \
        sqlite3_bind_int64((st), 12, (x)->version_minor);                                                              \
    } while (0)

static int upsert_one(struct store *s, const struct store_record *r)
{
    sqlite3_stmt *st;
    int ret = stmt_get(s, ST_UPSERT, &st);
    if (ret)
        return ret;
    BIND_CLIENT_COLUMNS(st, r);
    sqlite3_bind_int64(st, 13, r->time);
    bind_text(st, 14, r->address, sizeof r->address);
    bind_text(st, 15, r->epid, sizeof r->epid);
    sqlite3_bind_int64(st, 16, r->hresult);
    return step_done(s, st, "cannot record the activation");
}

static int stat_add(struct store *s, const char *key, uint64_t n)
{
    if (n == 0)
        return 0;
    sqlite3_stmt *st;
    int ret = stmt_get(s, ST_STAT_ADD, &st);
    if (ret)
        return ret;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
    return step_done(s, st, "cannot update statistics");
}

static int64_t day_of(int64_t t)
{
    return t >= 0 ? t / SECONDS_PER_DAY : -((-t + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY);
}

/* Adds answered and refused activations to a day's row (UTC day number). */
static int daily_add(struct store *s, int64_t day, uint64_t answered, uint64_t refused)
{
    if (answered == 0 && refused == 0)
        return 0;
    sqlite3_stmt *st;
    int ret = stmt_get(s, ST_DAILY_ADD, &st);
    if (ret)
        return ret;
    sqlite3_bind_int64(st, 1, day);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)answered);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)refused);
    return step_done(s, st, "cannot update the daily counts");
}

int store_write(struct store *s, const struct store_record *recs, size_t n)
{
    if (n == 0)
        return 0;
    int ret = exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (ret)
        return ret;
    uint64_t failed = 0, by_status[KMS_LICENSE_STATUS_COUNT] = {0};
    /* the daily counts are added once per run of records of the same day (a batch is usually one run) */
    int64_t day = day_of(recs[0].time);
    uint64_t answered = 0, refused = 0;
    for (size_t i = 0; i < n && !ret; i++) {
        ret = upsert_one(s, &recs[i]);
        int64_t d = day_of(recs[i].time);
        if (!ret && d != day) {
            ret = daily_add(s, day, answered, refused);
            day = d;
            answered = refused = 0;
        }
        if (recs[i].hresult != 0) {
            failed++;
            refused++;
        } else {
            answered++;
        }
        if (recs[i].license_status < KMS_LICENSE_STATUS_COUNT)
            by_status[recs[i].license_status]++;
    }
    if (!ret)
        ret = daily_add(s, day, answered, refused);
    if (!ret)
        ret = stat_add(s, "requests", n);
    if (!ret)
        ret = stat_add(s, "failed", failed);
    for (size_t k = 0; k < KMS_LICENSE_STATUS_COUNT && !ret; k++)
        ret = stat_add(s, stat_status_keys[k], by_status[k]);
    if (!ret)
        ret = exec(s, "COMMIT", "cannot commit");
    if (ret)
        rollback(s);
    return ret;
}

static int merge_one(struct store *s, const struct store_client *c, bool *changed)
{
    sqlite3_stmt *st;
    int ret = stmt_get(s, ST_MERGE, &st);
    if (ret)
        return ret;
    BIND_CLIENT_COLUMNS(st, c);
    sqlite3_bind_int64(st, 13, c->first_seen < c->last_seen ? c->first_seen : c->last_seen);
    sqlite3_bind_int64(st, 14, c->last_seen);
    sqlite3_bind_int64(st, 15, c->request_count ? (sqlite3_int64)c->request_count : 1);
    bind_text(st, 16, c->address, sizeof c->address);
    bind_text(st, 17, c->epid, sizeof c->epid);
    ret = step_done(s, st, "cannot import the row");
    *changed = !ret && sqlite3_changes(s->db) > 0;
    return ret;
}

int store_merge(struct store *s, const struct store_client *rows, size_t n, uint64_t *changed)
{
    *changed = 0;
    if (n == 0)
        return 0;
    int ret = exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (ret)
        return ret;
    uint64_t count = 0;
    for (size_t i = 0; i < n && !ret; i++) {
        bool ch = false;
        ret = merge_one(s, &rows[i], &ch);
        count += ch;
    }
    if (!ret)
        ret = exec(s, "COMMIT", "cannot commit");
    if (ret) {
        rollback(s);
        return ret;
    }
    *changed = count;
    return 0;
}

/* Runs a statement that returns one integer. */
static int query_int(struct store *s, sqlite3_stmt *st, int64_t *v, const char *what)
{
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    else
        ret = fail(s, rc, what);
    sqlite3_reset(st);
    return ret;
}

int store_count(struct store *s, enum store_app_group g, int64_t now, uint32_t window_days, uint32_t *count)
{
    sqlite3_stmt *st;
    int ret = stmt_get(s, ST_COUNT, &st);
    if (ret)
        return ret;
    sqlite3_bind_int(st, 1, (int)g);
    sqlite3_bind_int64(st, 2, now - (int64_t)window_days * SECONDS_PER_DAY);
    sqlite3_bind_int64(st, 3, now);
    int64_t v = 0;
    ret = query_int(s, st, &v, "cannot count clients");
    if (!ret)
        *count = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return ret;
}

int store_prune(struct store *s, int64_t now, uint32_t retention_days, uint64_t row_cap, uint64_t *deleted)
{
    *deleted = 0;
    int ret = exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (ret)
        return ret;
    uint64_t n = 0;
    sqlite3_stmt *st;
    ret = stmt_get(s, ST_PRUNE_AGE, &st);
    if (!ret) {
        sqlite3_bind_int64(st, 1, now - (int64_t)retention_days * SECONDS_PER_DAY);
        ret = step_done(s, st, "cannot prune old rows");
        if (!ret)
            n += (uint64_t)sqlite3_changes(s->db);
    }
    int64_t rows = 0;
    if (!ret)
        ret = stmt_get(s, ST_ROWS, &st);
    if (!ret)
        ret = query_int(s, st, &rows, "cannot count rows");
    if (!ret && (uint64_t)rows > row_cap) {
        uint64_t excess = (uint64_t)rows - row_cap;
        ret = stmt_get(s, ST_PRUNE_CAP, &st);
        if (!ret) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)excess);
            ret = step_done(s, st, "cannot prune rows above the cap");
            if (!ret)
                n += (uint64_t)sqlite3_changes(s->db);
        }
    }
    if (!ret)
        ret = exec(s, "COMMIT", "cannot commit");
    if (ret) {
        rollback(s);
        return ret;
    }
    *deleted = n;
    return 0;
}

int store_stats_get(struct store *s, int64_t now, struct store_stats *out)
{
    memset(out, 0, sizeof *out);
    /* One read transaction, so the counters and counts come from the same snapshot. */
    int ret = exec(s, "BEGIN", "cannot start a transaction");
    if (ret)
        return ret;
    sqlite3_stmt *st;
    ret = stmt_get(s, ST_STAT_GET, &st);
    if (!ret) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *key = (const char *)sqlite3_column_text(st, 0);
            uint64_t v = (uint64_t)sqlite3_column_int64(st, 1);
            if (!key)
                continue;
            if (strcmp(key, "requests") == 0)
                out->requests = v;
            else if (strcmp(key, "failed") == 0)
                out->failed = v;
            else if (strcmp(key, "unrecorded") == 0)
                out->unrecorded = v;
            for (size_t k = 0; k < KMS_LICENSE_STATUS_COUNT; k++)
                if (strcmp(key, stat_status_keys[k]) == 0)
                    out->by_status[k] = v;
        }
        if (rc != SQLITE_DONE)
            ret = fail(s, rc, "cannot read statistics");
        sqlite3_reset(st);
    }
    int64_t rows = 0;
    if (!ret)
        ret = stmt_get(s, ST_ROWS, &st);
    if (!ret)
        ret = query_int(s, st, &rows, "cannot count rows");
    out->clients = (uint64_t)rows;
    for (int g = 0; g < STORE_APP_GROUPS && !ret; g++)
        ret = store_count(s, (enum store_app_group)g, now, STORE_COUNT_WINDOW_DAYS, &out->current_count[g]);
    if (!ret)
        ret = exec(s, "COMMIT", "cannot end the transaction");
    if (ret)
        rollback(s);
    return ret;
}

int store_note_unrecorded(struct store *s, uint64_t n)
{
    int ret = exec(s, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (ret)
        return ret;
    ret = stat_add(s, "unrecorded", n);
    if (!ret)
        ret = exec(s, "COMMIT", "cannot commit");
    if (ret)
        rollback(s);
    return ret;
}

int store_delete_client(struct store *s, const struct guid *cmid, uint64_t *deleted)
{
    *deleted = 0;
    sqlite3_stmt *st;
    int ret = stmt_get(s, ST_DELETE, &st);
    if (ret)
        return ret;
    bind_guid(st, 1, cmid);
    ret = step_done(s, st, "cannot delete the client");
    if (!ret)
        *deleted = (uint64_t)sqlite3_changes(s->db);
    return ret;
}

#define CLIENT_COLUMNS                                                                                          \
    "cmid, app_id, sku_id, kms_id, workstation, product, last_address, last_epid, license_status, grace_time,"  \
    " is_vm, version_major, version_minor, first_seen, last_seen, request_count"

/* Reads the CLIENT_COLUMNS of the current row. */
static void column_client(sqlite3_stmt *st, struct store_client *c)
{
    memset(c, 0, sizeof *c);
    column_guid(st, 0, &c->cmid);
    column_guid(st, 1, &c->app_id);
    column_guid(st, 2, &c->sku_id);
    column_guid(st, 3, &c->kms_id);
    column_text(st, 4, c->workstation, sizeof c->workstation);
    column_text(st, 5, c->product, sizeof c->product);
    column_text(st, 6, c->address, sizeof c->address);
    column_text(st, 7, c->epid, sizeof c->epid);
    c->license_status = (uint32_t)sqlite3_column_int64(st, 8);
    c->grace_time = (uint32_t)sqlite3_column_int64(st, 9);
    c->is_vm = (uint32_t)sqlite3_column_int64(st, 10);
    c->version_major = (uint32_t)sqlite3_column_int64(st, 11);
    c->version_minor = (uint32_t)sqlite3_column_int64(st, 12);
    c->first_seen = sqlite3_column_int64(st, 13);
    c->last_seen = sqlite3_column_int64(st, 14);
    c->request_count = (uint64_t)sqlite3_column_int64(st, 15);
}

/* Steps st (prepared here, finalized here) and hands each client row to fn. */
static int each_client(struct store *s, sqlite3_stmt *st, int (*fn)(void *ctx, const struct store_client *c),
                       void *ctx, const char *what)
{
    int rc;
    struct store_client c;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        column_client(st, &c);
        if (fn(ctx, &c) != 0)
            break;
    }
    int ret = rc != SQLITE_ROW && rc != SQLITE_DONE ? fail(s, rc, what) : 0;
    sqlite3_finalize(st);
    return ret;
}

int store_get_client(struct store *s, const struct guid *cmid, int (*fn)(void *ctx, const struct store_client *c),
                     void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT " CLIENT_COLUMNS " FROM clients WHERE cmid = ?1 ORDER BY last_seen DESC, app_id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail(s, rc, "prepare");
    bind_guid(st, 1, cmid);
    return each_client(s, st, fn, ctx, "cannot read the client");
}

/* The WHERE clause of store_query; parameters ?1 product, ?2 app_id, ?3 q, ?4 since. */
#define QUERY_WHERE                                                                                                 \
    " WHERE (?1 IS NULL OR instr(lower(product), lower(?1)) > 0) AND (?2 IS NULL OR app_id = ?2)"                  \
    " AND (?3 IS NULL OR instr(lower(workstation), lower(?3)) > 0 OR instr(kmsd_guid_text(cmid), lower(?3)) > 0)" \
    " AND last_seen >= ?4"

static void bind_query(sqlite3_stmt *st, const struct store_query *q)
{
    if (q->product)
        sqlite3_bind_text(st, 1, q->product, -1, SQLITE_TRANSIENT);
    if (q->has_app)
        bind_guid(st, 2, &q->app_id);
    if (q->q)
        sqlite3_bind_text(st, 3, q->q, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, q->since != 0 ? q->since : INT64_MIN);
}

int store_query(struct store *s, const struct store_query *q, uint64_t *total,
                int (*fn)(void *ctx, const struct store_client *c), void *ctx)
{
    static const char *const order[STORE_SORT_COUNT][2] = {
        [STORE_SORT_LAST_SEEN] = {"last_seen ASC", "last_seen DESC"},
        [STORE_SORT_FIRST_SEEN] = {"first_seen ASC", "first_seen DESC"},
        [STORE_SORT_WORKSTATION] = {"lower(workstation) ASC", "lower(workstation) DESC"},
        [STORE_SORT_PRODUCT] = {"product ASC", "product DESC"},
        [STORE_SORT_REQUESTS] = {"request_count ASC", "request_count DESC"},
    };
    *total = 0;
    if ((unsigned)q->sort >= STORE_SORT_COUNT) {
        snprintf(s->err, sizeof s->err, "bad sort key");
        return -EINVAL;
    }
    /* One read transaction: the total and the page come from the same snapshot. */
    int ret = exec(s, "BEGIN", "cannot start a transaction");
    if (ret)
        return ret;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM clients" QUERY_WHERE, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = fail(s, rc, "prepare");
        goto out;
    }
    bind_query(st, q);
    int64_t n = 0;
    ret = query_int(s, st, &n, "cannot count clients");
    sqlite3_finalize(st);
    if (ret)
        goto out;
    *total = (uint64_t)n;
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM clients%s ORDER BY %s, cmid ASC, app_id ASC LIMIT ?5 OFFSET ?6",
             CLIENT_COLUMNS, QUERY_WHERE, order[q->sort][q->descending]);
    rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = fail(s, rc, "prepare");
        goto out;
    }
    bind_query(st, q);
    sqlite3_bind_int64(st, 5, q->limit);
    sqlite3_bind_int64(st, 6, q->offset);
    ret = each_client(s, st, fn, ctx, "cannot list clients");
out:
    if (!ret)
        ret = exec(s, "COMMIT", "cannot end the transaction");
    if (ret)
        rollback(s);
    return ret;
}

int store_daily(struct store *s, int64_t first, int64_t last,
                int (*fn)(void *ctx, int64_t day, uint64_t answered, uint64_t refused), void *ctx)
{
    sqlite3_stmt *st;
    int ret = stmt_get(s, ST_DAILY_GET, &st);
    if (ret)
        return ret;
    sqlite3_bind_int64(st, 1, first);
    sqlite3_bind_int64(st, 2, last);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, sqlite3_column_int64(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
               (uint64_t)sqlite3_column_int64(st, 2)) != 0)
            break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = fail(s, rc, "cannot read the daily counts");
    sqlite3_reset(st);
    return ret;
}

int store_groups(struct store *s, int (*fn)(void *ctx, enum store_app_group g, const char *product, uint64_t n),
                 void *ctx)
{
    sqlite3_stmt *st;
    int ret = stmt_get(s, ST_GROUPS, &st);
    if (ret)
        return ret;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int g = sqlite3_column_int(st, 0);
        const char *p = (const char *)sqlite3_column_text(st, 1);
        if (fn(ctx, g >= 0 && g < STORE_APP_GROUPS ? (enum store_app_group)g : STORE_APP_OTHER, p ? p : "",
               (uint64_t)sqlite3_column_int64(st, 2)) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = fail(s, rc, "cannot count products");
    sqlite3_reset(st);
    return ret;
}

int store_list(struct store *s, const struct store_filter *f, int (*fn)(void *ctx, const struct store_client *c),
               void *ctx)
{
    sqlite3_stmt *st;
    int ret = stmt_get(s, ST_LIST, &st);
    if (ret)
        return ret;
    if (f && f->product)
        sqlite3_bind_text(st, 1, f->product, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, f && f->since != 0 ? f->since : INT64_MIN);
    int rc;
    struct store_client c;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        column_client(st, &c);
        if (fn(ctx, &c) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = fail(s, rc, "cannot list clients");
    sqlite3_reset(st);
    return ret;
}
