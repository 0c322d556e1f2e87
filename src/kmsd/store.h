/*
 * store — the client registry: every activation recorded in SQLite (WAL mode), one row per client and
 * application, plus persistent host statistics.
 *
 * Two layers:
 * - a synchronous API (this file's store_* functions) that owns one sqlite3 connection and is used by the
 *   writer thread, by the `kmsd clients|stats|import-pykms|backup|restore` commands and by unit tests (":memory:"
 *   works);
 * - the asynchronous writer (store_writer.h) that the daemon uses so that database work never blocks the
 *   event loop.
 * Time is always a parameter (Unix seconds); nothing here reads the clock. A struct store is used by one
 * thread at a time.
 */
#ifndef KMSD_STORE_H
#define KMSD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guid.h"
#include "kms.h"

#define STORE_SCHEMA_VERSION 8
#define STORE_HOST_MAX 64 /* bytes of a host's name in the registry (--host-name) */
#define STORE_DEFAULT_RETENTION_DAYS 90
#define STORE_DEFAULT_ROW_CAP 1000000 /* clients rows kept at most; the least recently seen go first */
#define STORE_COUNT_WINDOW_DAYS 30    /* genuine counting window */

/* Application groups counted separately, as a genuine host keeps separate counts. The groups are the
 * product table's applications by their count_group (data/products.tsv); STORE_APP_OTHER is every other
 * application. The values are stored (app_group column), so they never change. */
enum store_app_group { STORE_APP_WINDOWS = 0, STORE_APP_OFFICE2010 = 1, STORE_APP_OFFICE = 2, STORE_APP_OTHER = 3 };
#define STORE_APP_GROUPS 4

/* One answered (or refused) activation. Strings are UTF-8, NUL-terminated. */
struct store_record {
    struct guid cmid, app_id, sku_id, kms_id;
    char workstation[192];
    char product[128];   /* product name from the table, or the KMS id's text when unknown */
    char address[80];    /* peer address as logged */
    char epid[64];       /* ePID given ("" when refused) */
    uint32_t license_status, grace_time, is_vm, version_major, version_minor;
    uint32_t hresult;    /* 0 answered, else the refusal */
    int64_t time;        /* Unix seconds */
};

/* Host statistics (what slmgr /dli shows on a genuine host), persistent across restarts. */
struct store_stats {
    uint64_t requests;          /* total requests received */
    uint64_t failed;            /* refused */
    uint64_t by_status[KMS_LICENSE_STATUS_COUNT]; /* by licence status (kms_license_status_name) */
    uint64_t clients;           /* rows in the registry */
    uint64_t unrecorded;        /* registry health: activations answered while the registry could not record */
    uint32_t current_count[STORE_APP_GROUPS]; /* distinct CMIDs in the counting window, per group, uncapped */
};

struct store;

#define STORE_FILE_NAME "kmsd.db" /* the registry's file in the state directory, unless --db names another */
#define STORE_FILE_MODE 0600      /* the registry and its -wal/-shm: workstation names and addresses */
#define STORE_JOURNAL_SUFFIX "-activations." /* the activation journal beside it: <db>-activations.0 and .1
                                              * (store_writer.h) */
#define STORE_JOURNAL_SEQ_SUFFIX STORE_JOURNAL_SUFFIX "seq" /* the last folded sequence number, saved at a clean stop */

/* The registry's path: db when it names one (non-empty), else STATE_DIR/STORE_FILE_NAME. The one place that
 * rule lives (kmsd, its commands and the privilege drop all ask here). Returns 0 or -ENAMETOOLONG. */
int store_path(const char *db, const char *state_dir, char *out, size_t cap);
/* A PostgreSQL registry (store_pg.h): db a libpq connection string, a URI (postgresql://USER@HOST:PORT/DB?PARAMS or
 * postgres://) or keywords (host=HOST dbname=DB ...: the first word a libpq keyword and '='). Its password comes from
 * --db-password-file (store_pg_set_password_file) or libpq's PGPASSFILE / ~/.pgpass: a string holding one is refused
 * by store_open. */
bool store_is_postgresql(const char *db); /* a libpq URI or keyword string (store_pg.c) */
/* Whether s is a PostgreSQL registry (the store_open'ed form of store_is_postgresql). */
bool store_on_postgresql(const struct store *s);
/* Where the registry's files on this host are named from: the activation journal (<base>-activations.N) and the
 * registry's lock (<base>.lock). A file registry's own path (store_path); for a PostgreSQL registry
 * STATE_DIR/STORE_PG_LOCAL_NAME (each host has its own journal). Returns 0 or -ENAMETOOLONG. */
#define STORE_PG_LOCAL_NAME "kmsd-postgresql"
int store_local_path(const char *db, const char *state_dir, char *out, size_t cap);
/* The password for PostgreSQL connections is read from this file (its first line) at each connection, when set
 * (--db-password-file); else libpq's own ways (PGPASSFILE, ~/.pgpass). NULL or "" unsets it. Any thread; call before
 * opening stores. */
void store_set_password_file(const char *path);
/* db as it may be shown (messages, logs): a connection string's password, if any, replaced by "***". */
void store_redact(const char *db, char *out, size_t cap);

/* SQLite is loaded while a store is open (sqlite_fns.h) and set up for a long-running process at each load.
 *
 * A writable store of a file can sleep while the daemon idles (store_writer, --registry-idle-unload): store_sleep
 * closes its connections (the WAL checkpointed and removed when no other connection is open) and gives back its
 * reference to the library, which is unloaded when nobody else holds one; store_wake opens the same file again as it
 * was (migration check, cache size, split checkpoints, host name) and must be called before any other function of a
 * sleeping store but store_close. store_sleep returns 0, or -ENOTSUP for a read-only or in-memory store (it stays
 * open); store_wake returns 0 or a negative code with the reason in store_errmsg (the store sleeps on). */
/* Whether this host's name (store_set_host) is its own on a registry several hosts share: on PostgreSQL a writable
 * connection claims the name for as long as it is open, and *alone is false when another connection holds it (another
 * kmsd with the same --host-name, whose records and journal position would mix with this host's; or this host's own
 * connection from before a crash that the server has not closed yet). Always alone on SQLite (one host per file) and
 * with no name. 0, or a negative code with the reason in store_errmsg. */
int store_claim_host(struct store *s, bool *alone);
int store_sleep(struct store *s);
int store_wake(struct store *s);
bool store_asleep(const struct store *s);
/* Whether SQLite is loaded now, and how many times it was loaded in this process (/metrics). */
bool store_library_loaded(void);
uint64_t store_library_loads(void);

/* Hands back the pages the connection has cached and is not using (sqlite3_db_release_memory), for a
 * connection about to idle; the pages are read again from the file when needed. Not the checkpoint
 * connection's: that one belongs to store_checkpoint's thread. */
void store_release_memory(struct store *s);

/* Opens (creating if needed) the database at path, enables WAL and synchronous=NORMAL, and migrates the
 * schema to STORE_SCHEMA_VERSION. The file and its -wal and -shm are created with STORE_FILE_MODE; an existing
 * one that others may read is narrowed to it. On error returns a negative code and writes a
 * message to err. */
int store_open(const char *path, struct store **out, char *err, size_t errlen);
/* Called, when set, once before store_open migrates an existing SQLite registry (not a new file) of `rows` clients
 * from schema version `from` (the daemon logs it and asks its service manager for the time: the step to 7 rebuilds
 * the clients table, about 25 s per million clients). */
extern void (*store_on_migrate)(int from, int to, uint64_t rows);
/* Whether opening s migrated an SQLite registry (its free pages are then worth giving back: store_vacuum_step). */
bool store_was_migrated(const struct store *s);
/* The daemon's PostgreSQL registry, asleep (a server down, restarting or not yet up after a power cut is then no
 * reason not to start): only its password file is read (and kept, for the connections made after
 * the privilege drop); libpq is not loaded and nothing is connected until store_wake, which checks the URI, connects,
 * checks and migrates as store_open does. kmsd answers from its journal meanwhile (its writer wakes it at once).
 * -EINVAL for a path that is not a PostgreSQL URI; errors of the password file as store_open. */
int store_open_deferred(const char *path, struct store **out, char *err, size_t errlen);
/* Opens read-only (for the commands that only read); fails if the file is missing. */
int store_open_readonly(const char *path, struct store **out, char *err, size_t errlen);
/* How store_open_file reads a file: STORE_LIVE, a registry a kmsd may be writing (shared locks, its -wal read);
 * STORE_AT_REST, a file no process writes, such as a backup: no locks, and nothing is created beside it (a read-only
 * directory will do), unless a -wal lies beside it, which is then read as a live registry's. */
enum store_reading { STORE_LIVE, STORE_AT_REST };
/* Opens the file at path read-only as it is, for store_backup and store_verify: any kmsd schema version from 1 to
 * STORE_SCHEMA_VERSION (nothing migrates; the version is in store_verify's answer). Errors as
 * store_open_readonly's: -ENOENT for a missing file, -EBADMSG for one that is not a database, -ENOTSUP for version
 * 0 (not a kmsd registry) or a newer schema, with the reason in err. */
int store_open_file(const char *path, enum store_reading how, struct store **out, char *err, size_t errlen);
void store_close(struct store *s);

/*
 * Backups (store_backup.c). store_backup writes a consistent copy of the registry s reads to dest with VACUUM INTO:
 * one read transaction, so one snapshot with what is still in the -wal, taken while a kmsd writes (a WAL reader
 * never blocks the writer); the copy is compact, in rollback-journal mode, a single file that needs no -wal. dest
 * must be missing or empty (the caller's temporary file: it renames the copy into place and fsyncs it; SQLite
 * leaves no journal beside dest). Returns 0 or a negative code, the reason in store_errmsg(); dest may then hold
 * part of a copy, for the caller to remove.
 */
int store_backup(struct store *s, const char *dest);
/* What store_verify found in a registry file. */
struct store_file_info {
    int version;   /* its schema version, 1..STORE_SCHEMA_VERSION (kmsd migrates an older one when it opens it) */
    uint64_t rows; /* rows of the clients table */
};
/* Checks that s (store_open_file) is a sound kmsd registry: PRAGMA integrity_check answers ok and the tables of its
 * schema version are there. Reads the whole file. Returns 0, -EBADMSG (the first problem in store_errmsg()), or
 * another negative code. */
int store_verify(struct store *s, struct store_file_info *info);
/*
 * Checkpoints off the commit path. SQLite normally copies the WAL back into the database (with two fsyncs)
 * inside the COMMIT that makes the WAL reach 1,000 pages, so one batch of activations waits for the disk.
 * store_split_checkpoints() opens a second connection to the same file for store_checkpoint(), which one
 * other thread calls when store_wal_frames() says the WAL has grown; the writer connection then checkpoints
 * by itself only when the WAL reaches STORE_WAL_BACKSTOP_PAGES. Under steady load a background (PASSIVE)
 * checkpoint never quite catches up with the writer, so the WAL is not reset until then; the writer's own
 * checkpoint has only the last frames left to copy, and the next transaction starts the WAL afresh. No-op
 * for ":memory:" and read-only stores.
 * Returns 0 or a negative code.
 */
#define STORE_WAL_CHECKPOINT_PAGES 1000   /* WAL frames that call for a background checkpoint */
#define STORE_WAL_BACKSTOP_PAGES 4000     /* the writer checkpoints inline beyond this (about 16 MB of WAL) */
#define STORE_WAL_SIZE_LIMIT (8 * 1024 * 1024) /* bytes the WAL file keeps after a reset (journal_size_limit) */
int store_split_checkpoints(struct store *s);
/* Frames in the WAL after the last commit on this connection (0 before the first or after a split-less open). */
uint32_t store_wal_frames(const struct store *s);
/* Runs a PASSIVE checkpoint on the second connection (only from one thread at a time; never concurrently
 * with store_close): copies what it can of the WAL into the database, never waiting for the writer or a
 * reader. SQLITE_BUSY (another checkpoint running) is not an error. Returns 0, or a negative code with the
 * reason in err (not in store_errmsg(), which belongs to the writer's thread). */
int store_checkpoint(struct store *s, char *err, size_t errlen);

/* The last SQLite error message of this connection. */
const char *store_errmsg(const struct store *s);

/* The application group of an application id (the product table's count_group; STORE_APP_OTHER when the
 * table does not know the id). */
enum store_app_group store_app_group_of(const struct guid *app_id);
/* The group's key ("windows", "office2010", "office2013": its application's key in the product table, or
 * "other") and its short label ("Windows", "Office 2010", "Office 2013+", or "other"). Static strings. */
const char *store_app_group_key(enum store_app_group g);
const char *store_app_group_label(enum store_app_group g);

/* The host name written as last_host with every record from now on (--host-name; at most STORE_HOST_MAX bytes,
 * longer is cut). "" until set. */
void store_set_host(struct store *s, const char *name);

/* Records n activations in one transaction (upsert per (cmid, application): first_seen kept, last_seen,
 * counters and last fields updated; statistics incremented). Returns 0 or a negative code; on error nothing
 * of the batch is kept. */
int store_write(struct store *s, const struct store_record *recs, size_t n);
/* store_write() that also stores journal_seq (when not 0), the sequence number of the last journal record the
 * batch folds, in the same transaction: what the registry holds and where the journal stands never disagree.
 * The upserts run in client-key order. */
int store_write_folded(struct store *s, const struct store_record *recs, size_t n, uint64_t journal_seq);
/* One transaction in parts, for a fold larger than one array of records: begin, add records any number of
 * times (each call as store_write's body), commit with the last folded journal sequence number (0: none), or
 * abort. Each returns 0 or a negative code; a failed add or commit leaves the transaction to abort (commit
 * rolls back by itself). */
int store_batch_begin(struct store *s);
int store_batch_add(struct store *s, const struct store_record *recs, size_t n);
int store_batch_commit(struct store *s, uint64_t journal_seq);
void store_batch_abort(struct store *s);
/* Sets the connection's page cache to at most kib KiB (SQLite allocates pages as they are used; see
 * store_release_memory). Returns 0 or a negative code. */
int store_cache_size(struct store *s, uint32_t kib);
/* The last journal sequence number folded into the registry (0: none yet). Returns 0 or a negative code. */
int store_journal_seq(struct store *s, uint64_t *seq);

/*
 * The genuine count (protocol.md 5.1): distinct CMIDs of group g seen in (now - window_days, now], counted up to
 * limit, as a genuine host counts up to 2N (store_count_limit). The scan walks the group's index newest first and stops at the
 * limit, so it reads at most limit rows in a one-application group whatever the registry's size ([scale]).
 * holds_until: when the count reached the limit, the time until which it cannot fall below it (new activations
 * only add; the oldest of the counted clients leaves the window then); else now.
 */
#define STORE_COUNT_LIMIT_MAX 2000 /* store_count's limit at most (a product table's 2N never comes near) */
struct store_count {
    uint32_t count;
    int64_t holds_until;
};
int store_count(struct store *s, enum store_app_group g, int64_t now, uint32_t window_days, uint32_t limit,
                struct store_count *out);
/* The limit kmsd counts group g to: 2N of the largest threshold of the group's application in the product table
 * (Windows 50, Office 10), of the whole table in "other" (an application the table does not know); at most
 * STORE_COUNT_LIMIT_MAX. */
uint32_t store_count_limit(enum store_app_group g);

/*
 * Pruning in chunks, each its own short transaction, so that folds go on between them ([scale]): deletes up to
 * chunk (0: STORE_PRUNE_CHUNK) rows not seen for retention_days, then, in what is left of the chunk, the least
 * recently seen rows above row_cap. *more says whether rows remain to prune. store_prune() runs steps until none
 * remain (the `kmsd clients prune` command).
 */
#define STORE_PRUNE_CHUNK 500
int store_prune_step(struct store *s, int64_t now, uint32_t retention_days, uint64_t row_cap, uint32_t chunk,
                     uint64_t *deleted, bool *more);
int store_prune(struct store *s, int64_t now, uint32_t retention_days, uint64_t row_cap, uint64_t *deleted);
/* Gives up to pages (0: STORE_VACUUM_PAGES) free pages back to the file system (databases created by schema 3
 * or later: auto_vacuum = INCREMENTAL; older ones keep their free pages for new rows). *more says whether free
 * pages remain that a next step would give back. */
#define STORE_VACUUM_PAGES 256
int store_vacuum_step(struct store *s, uint32_t pages, bool *more);

/* Rewrites the database compactly (VACUUM, its scratch copy in a temporary file, not in memory) and turns on
 * incremental auto-vacuum, which a file made before schema 3 lacks: `kmsd clients --vacuum`. Takes the write lock
 * for its duration; a running kmsd answers meanwhile and folds its journal after (its folds wait, then retry).
 * *before and *after get the file's size in bytes. Returns 0 or a negative code. */
int store_compact(struct store *s, uint64_t *before, uint64_t *after);

/* Host statistics: the counters, the rows (from the summary table) and each group's clients in the counting
 * window (an index range count: one row per client in a one-application group, distinct CMIDs in "other"). */
int store_stats_get(struct store *s, int64_t now, struct store_stats *out);

/* Adds n to the persistent count of activations answered without a record (after a registry fault). */
int store_note_unrecorded(struct store *s, uint64_t n);

/* Deletes every row of one client; *deleted gets the row count. */
int store_delete_client(struct store *s, const struct guid *cmid, uint64_t *deleted);

/* A client row as listed. */
struct store_client {
    struct guid cmid, app_id, sku_id, kms_id;
    char workstation[192], product[128], address[80], epid[64];
    char host[STORE_HOST_MAX + 1]; /* the host that last served it (--host-name); "" before schema 4 or imported */
    uint32_t license_status, grace_time, is_vm, version_major, version_minor;
    int64_t first_seen, last_seen;
    uint64_t request_count;
    int64_t rowid; /* the row's place in insertion order: the tie-break of store_query's order and cursors */
};

struct store_filter {
    const char *product; /* substring of the product name, case-insensitive; NULL: any */
    bool product_exact;  /* product is a whole name (product_names_filter), compared exactly */
    int64_t since;       /* last_seen >= since; 0: any */
    const char *host;    /* last served by this host (--host-name), exactly; NULL: any */
};

/* Calls fn for each matching row, most recently seen first (ties: the newest row first); stops early if fn returns
 * non-zero. */
int store_list(struct store *s, const struct store_filter *f, int (*fn)(void *ctx, const struct store_client *c),
               void *ctx);

/* Reads the rows of one client (one per application), most recently seen first. */
int store_get_client(struct store *s, const struct guid *cmid, int (*fn)(void *ctx, const struct store_client *c),
                     void *ctx);

/* Sort keys of store_query (the SQL is fixed per key; ties are broken by rowid, insertion order, in the same
 * direction). Each but requests has an index, so a page reads about its own rows whatever the registry's size. */
enum store_sort {
    STORE_SORT_LAST_SEEN,
    STORE_SORT_FIRST_SEEN,
    STORE_SORT_WORKSTATION,
    STORE_SORT_PRODUCT,
    STORE_SORT_REQUESTS,
    STORE_SORT_COUNT
};

/* Whether a sort key is text (workstation, product), else a number: what a cursor holds of it. Inline: the HTTP
 * query parser (kmsd_http_query, which links no store code) needs it too. */
static inline bool store_sort_is_text(enum store_sort k)
{
    return k == STORE_SORT_WORKSTATION || k == STORE_SORT_PRODUCT;
}

/* Where a page ends, to start the next one after it (keyset paging: no deep OFFSET to step through). The sort
 * key's value (num for the numeric keys, text for workstation — lower-cased — and product) and the rowid. */
struct store_cursor {
    int64_t num;
    char text[192];
    int64_t rowid;
};

/* A page of clients for the HTTP API. Every filter is optional. */
#define STORE_QUERY_TEXT_MAX 255
struct store_query {
    const char *product;    /* substring of the product name, case-insensitive; NULL: any */
    bool product_exact;     /* product is a whole name (product_names_filter), compared exactly on its index */
    bool has_app;           /* only rows of application app_id */
    struct guid app_id;
    const char *q;          /* substring of the workstation or of the CMID's text form, case-insensitive (ASCII);
                             * at most STORE_QUERY_TEXT_MAX bytes are used */
    int64_t since;          /* last_seen >= since; 0: any */
    const char *host;       /* last served by this host (last_host), exactly; NULL: any (on its index since schema
                             * 8 when the host has few rows, else beside the sort key's index) */
    enum store_sort sort;
    bool descending;
    uint32_t limit, offset; /* the page (offset: rows skipped after the cursor, if any) */
    bool has_cursor;        /* the page starts after this row (store_cursor_of a previous page's last row) */
    struct store_cursor cursor;
};

/* The cursor after row c in q's order. */
void store_cursor_of(const struct store_query *q, const struct store_client *c, struct store_cursor *out);

/* The API's search (store_query's q) from memory on this connection (the HTTP server's read connection): the
 * lower-cased names of every row, built at the first search and brought up to date at each (store_search.c). 0 or a
 * negative errno. */
#define STORE_SEARCH_KEEP_MS 60000 /* the memory of a search is freed once none used it this long */
int store_search_enable(struct store *s);
/* Frees that memory when no search used it for STORE_SEARCH_KEEP_MS (now_ms: monotonic; s may be NULL). */
void store_search_trim(struct store *s, uint64_t now_ms);
/* Bytes it holds (0: none). */
size_t store_search_bytes(const struct store *s);

/* Calls fn for each row of the page; *total gets the number of rows matching the filters (all pages): from the
 * summary table when the filters are at most a product and an application, else counted. */
int store_query(struct store *s, const struct store_query *q, uint64_t *total,
                int (*fn)(void *ctx, const struct store_client *c), void *ctx);
/* The same with the time a search is made (store_search_trim's clock); store_query passes 0. */
int store_query_at(struct store *s, const struct store_query *q, uint64_t now_ms, uint64_t *total,
                   int (*fn)(void *ctx, const struct store_client *c), void *ctx);

/* Activations per UTC day (Unix seconds / 86400) for days first..last that have any; ascending. */
int store_daily(struct store *s, int64_t first, int64_t last,
                int (*fn)(void *ctx, int64_t day, uint64_t answered, uint64_t refused), void *ctx);

/* Row counts per (application group, product), ordered by group then product. */
int store_groups(struct store *s, int (*fn)(void *ctx, enum store_app_group g, const char *product, uint64_t n),
                 void *ctx);

/* Merges rows from elsewhere (import-pykms) in one transaction, statistics untouched: absent rows are inserted
 * as given (app_group derived from app_id; first_seen > last_seen is clamped); a present row keeps the earlier
 * first_seen and the larger request_count and takes the other fields only when the given last_seen is newer.
 * So merging the same rows again changes nothing. *changed gets the rows inserted or modified. */
int store_merge(struct store *s, const struct store_client *rows, size_t n, uint64_t *changed);

/* One day's activations (store_daily's). */
struct store_day {
    int64_t day;
    uint64_t answered, refused;
};
/* Raises the host statistics to at least st's counters (requests, failed, unrecorded, by licence status) and each of
 * the n days' counts to at least the given ones, in one transaction: `kmsd migrate` copies a registry's statistics
 * so, and copying again, or into a registry that counted more, changes nothing. */
int store_counters_raise(struct store *s, const struct store_stats *st, const struct store_day *days, size_t n);

#endif
