/*
 * store_internal — what the registry's files share and nothing outside them sees: store.c (connections, schema
 * and migrations, checkpoints, the prepared statements), store_ops.c (what both engines do alike, over the engine
 * primitives below), store_write.c (SQLite's recording, counting and primitives), store_read.c (client rows: one, a page of a query, a listing, daily counts, groups) and
 * store_backup.c (copies of the file and their checks).
 */
#ifndef KMSD_STORE_INTERNAL_H
#define KMSD_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqlite_fns.h"

#include "store.h"

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
    ST_DAILY_ADD,
    ST_DAILY_GET,
    ST_GROUPS,
    ST_STAT_SET,
    ST_STAT_ONE,
    ST_ACTIVE,
    ST_ACTIVE_OTHER,
    ST_UPDATE_ALL,
    ST_SUMMARY_ADD,
    ST_STAT_RAISE,
    ST_DAILY_RAISE,
    ST_FIND,
    ST_KEY_TAKEN,
    ST_UPSERT_GUARDED,
    ST_ANY_HOME,
    ST_UPDATE_HOST,
    ST_COUNT_MAX
};

struct store_pg;

struct store {
    struct store_pg *pg; /* a PostgreSQL registry (store_pg.h): every other field but host and err is SQLite's */
    sqlite3 *db;         /* NULL while asleep (store_sleep) */
    sqlite3 *ckpt;       /* second connection for store_checkpoint(), or NULL (see store_split_checkpoints) */
    uint32_t wal_frames; /* frames in the WAL after the last commit on db (set by wal_hook) */
    bool readonly;
    bool lib;            /* holds a reference to the SQLite library (sqlite_fns_acquire) */
    char *path;          /* a writable store's file, opened again by store_wake */
    uint32_t cache_kib;  /* store_cache_size's, set again by store_wake (0: SQLite's default) */
    bool split;          /* store_split_checkpoints was called: store_wake splits them again */
    int version;         /* the schema version the file had when it was opened (before any migration) */
    char host[STORE_HOST_MAX + 1]; /* recorded as each written row's last_host (store_set_host) */
    sqlite3_stmt *st[ST_COUNT_MAX];
    bool search_on;                /* store_search_enable: q is searched in memory (store_search.c) */
    struct store_search *search;   /* that memory, or NULL */
    char err[256];
};

/* The search in memory (store_search.c). */
#define STORE_SEARCH_SLACK_S 2    /* rows seen this long before the newest one read are read again (clock steps) */
#define STORE_SEARCH_LIST_MAX 4096 /* up to this many matching rows are handed to SQL as a list; more, as a function */
#define STORE_SEARCH_TOP_MAX 10000 /* sort=requests from memory for pages ending this deep at most (offset + limit) */
/* One search's rows: n of them; rowids (sorted, malloc'ed, the caller frees it) when n <= STORE_SEARCH_LIST_MAX.
 * From store_search_top: n the rows matching, rowids (n_list of them, in no order) the page's candidates. */
struct store_search_hits {
    size_t n;
    int64_t *rowids;
    size_t n_list;
};
/* Inside a read transaction: brings the memory up to date (or builds it) and finds lq (lower-cased, not empty) in
 * the names, and in the CMIDs' texts when lq could be part of one. 0 or a negative errno (the memory is freed). */
int store_search_find(struct store *s, const char *lq, uint64_t now_ms, struct store_search_hits *out);
/* sort=requests from memory, for a query with no filter but q (with_q: the last store_search_find's rows, made in
 * the same transaction) and offset + limit <= STORE_SEARCH_TOP_MAX: brings the request counts up to date (read at the
 * first such sort: a scan of the table) and gives the offset + limit rows that come first after the cursor. 0 or a
 * negative errno. */
int store_search_top(struct store *s, const struct store_query *q, bool with_q, uint64_t now_ms,
                     struct store_search_hits *out);
/* Whether rowid is among the last store_search_find's rows. */
bool store_search_has(const struct store *s, int64_t rowid);
/* Frees the memory (store_close). */
void store_search_close(struct store *s);

/* The UTC day of Unix time t (floor of t / 86400, as the daily table's and PostgreSQL's kmsd_day). */
int64_t store_day_of(int64_t t);

/*
 * Engine primitives: what the algorithms written once in store_ops.c ask of an engine. Each dispatches on s->pg to its
 * store_pg_* twin (store_pg_write.c); SQLite's are in store_write.c. Each returns 0 or a negative errno with the reason
 * in store_errmsg.
 */
int store_tx_write(struct store *s);                          /* a write transaction begins */
int store_tx_read(struct store *s);                           /* a read transaction, one snapshot, begins */
int store_tx_end(struct store *s, int ret, const char *what); /* commits when ret is 0, else rolls back; ret, or the
                                                               * commit's error */
enum store_stat_op { STORE_STAT_ADD, STORE_STAT_SET, STORE_STAT_RAISE }; /* + v (nothing for 0), = v, max(., v) */
int store_stat_op(struct store *s, enum store_stat_op op, const char *key, uint64_t v);
/* Adds answered and refused to a day's counts (raise: each at least the given). */
int store_daily_op(struct store *s, bool raise, int64_t day, uint64_t answered, uint64_t refused);
/* Adds n rows to the summary's (group, product) (product: len bytes). */
int store_summary_add(struct store *s, int group, const char *product, size_t len, uint64_t n);
/* Merges n rows from elsewhere (store_merge's rule); flags[i] gets what became of the i-th. */
#define STORE_ROW_CHANGED 1  /* a row was written */
#define STORE_ROW_INSERTED 2 /* a new one */
int store_merge_rows(struct store *s, const struct store_client *rows, size_t n, uint8_t *flags);
/* Deletes the rows of one client; *n gets how many. */
int store_delete_rows(struct store *s, const struct guid *cmid, uint64_t *n);
/* Deletes up to limit rows, oldest last_seen first: with by_age only those seen at or before before, else any (the
 * least recently seen, ties by insertion order); *n gets how many. */
int store_prune_rows(struct store *s, bool by_age, int64_t before, uint64_t limit, uint64_t *n);
/* The registry's rows (from the summary). */
int store_row_count(struct store *s, uint64_t *rows);
/* Clients of group g seen in (now - window_days, now], without a limit: rows in a one-application group, distinct
 * CMIDs in "other" (the statistics). */
int store_active_count(struct store *s, enum store_app_group g, int64_t now, uint32_t window_days, uint32_t *out);
/* Hands every stats row to fn (stops when fn returns non-zero). */
int store_stat_rows(struct store *s, int (*fn)(void *ctx, const char *key, uint64_t v), void *ctx);
/* A stats row's value (0 when it has none). */
int store_stat_one(struct store *s, const char *key, int64_t *v);

/* New clients by (group, product), counted into the summary once per batch (store_ops.c) rather than by a trigger
 * per row (schema 5). The product texts are the caller's, alive until the flush. */
#define STORE_SUMMARY_KEYS 16 /* distinct (group, product) pairs held before a flush; a batch usually has a few */
struct store_summary_key {
    int group;
    const char *product;
    size_t len;
    uint64_t n;
};
struct store_summary_acc {
    struct store_summary_key k[STORE_SUMMARY_KEYS];
    size_t n;
};
/* A row inserted for a client of app_id with product (cap bytes at most). */
int store_summary_note(struct store *s, struct store_summary_acc *a, const struct guid *app_id, const char *product,
                       size_t cap);
/* Adds what a holds to the summary (in (group, product) order) and empties it. */
int store_summary_flush(struct store *s, struct store_summary_acc *a);

/* What a batch of records adds to the statistics and the daily counts (each run of records of one UTC day, in the
 * given order, one daily update), inside the caller's transaction. Both engines' recording ends with it. */
int store_add_statistics(struct store *s, const struct store_record *recs, size_t n);
/* The stats key of the last folded journal record: STORE_STAT_JOURNAL_SEQ, per host on PostgreSQL (each host sharing
 * a registry has its own journal: "journal_seq@HOST"). */
void store_journal_key(const struct store *s, char *out, size_t cap);

/* The stats keys of struct store_stats's counters (store_counters_raise, store_stats_get): requests, failed,
 * unrecorded, then the licence statuses; *v gets st's value of the i-th. */
#define STORE_COUNTER_KEYS (3 + KMS_LICENSE_STATUS_COUNT)
const char *store_counter_key(size_t i, const struct store_stats *st, uint64_t *v);

/*
 * The client key of an SQLite registry (schema 7): 63 bits, the CMID's hash with its low STORE_KEY_APP_BITS bits
 * replaced by the application's, so one CMID's rows lie in one range of 2^STORE_KEY_APP_BITS keys
 * (store_client_key_range). The table is found by this key's unique index, about a third of the size of the
 * (cmid, app_id) key it replaces: a new client's row costs about 40 % less to insert at a million rows
 * (docs/performance.md). A row whose key another client already holds (a hash collision) gets a free key
 * (store_key_probe) and keeps its own as home_key; a lookup reads both (ST_FIND). The same values on every host:
 * the CMID and application are read as little-endian words.
 */
#define STORE_KEY_APP_BITS 8
#define STORE_KEY_PROBES 8 /* free keys tried for a row whose own is taken (63-bit values of its own, i = 1..8) */
int64_t store_client_key(const struct guid *cmid, const struct guid *app_id);
void store_client_key_range(const struct guid *cmid, int64_t *lo, int64_t *hi);
int64_t store_key_probe(const struct guid *cmid, const struct guid *app_id, unsigned i);
/* For the tests: ANDed with the CMID's hash, so that 0 makes every client of one application collide. */
extern uint64_t store_key_cmid_mask;
/* A free key for a client whose own key is taken: the first of its STORE_KEY_PROBES probes that `taken` (a prepared
 * "SELECT 1 FROM <table> WHERE client_key = ?1") does not find. -EEXIST when none is free. */
int store_key_free(struct store *s, sqlite3_stmt *taken, const struct guid *cmid, const struct guid *app_id,
                   int64_t *out);

/* A batch's records in client-key order (SQLite's store_client_key, then cmid and application, then the given order;
 * one order for PostgreSQL's hosts too): n entries, malloc'ed (NULL: out of memory). */
struct store_keyed {
    const struct store_record *r;
    size_t i;
    int64_t key;
};
struct store_keyed *store_by_key(const struct store_record *recs, size_t n);

/* A batch's records of one client (cmid, application) as one write, as both engines fold them: the last record's
 * fields, the earliest and latest times, how many, and the ePID last given (a refusal keeps the one before: epid is
 * the first record's when none was answered). What writing the records one at a time leaves, in one statement: a
 * client that asks again and again (a retry loop, cloned machines sharing a CMID) costs a batch one upsert. */
struct store_coalesced {
    const struct store_record *last;
    int64_t first, latest;
    uint64_t n;
    bool answered;
    const char *epid;
};
/* The records of k[from..n) (sorted by store_by_key) of k[from]'s client coalesced into *out; returns the index
 * after them. */
size_t store_coalesce(const struct store_keyed *k, size_t from, size_t n, struct store_coalesced *out);

/* Helpers of store.c for the other files: each returns 0 or a negative errno (map of the SQLite code) and
 * keeps SQLite's message in the store's err for store_errmsg(). */
/* The stats row that holds the last folded journal sequence number (store_journal_seq). */
#define STORE_STAT_JOURNAL_SEQ "journal_seq"
/* The stats row that counts the rows ever deleted (pruning, DELETE) or changed by a merge (import-pykms), in the
 * transaction that does it: what a search in memory (store_search.c) holds is built again when it changed (the
 * activations' own changes it reads from last_seen's index). */
#define STORE_STAT_ROWS_CHANGED "rows_changed"
extern const char *const store_stat_status_keys[KMS_LICENSE_STATUS_COUNT];
int store_fail(struct store *s, int rc, const char *what);
int store_exec(struct store *s, const char *sql, const char *what);
void store_rollback(struct store *s);
/* Ends the caller's transaction: commits when ret is 0, rolls back when it is not or the commit fails (what names the
 * commit in the error). Returns ret, or the commit's error. */
int store_end(struct store *s, int ret, const char *what);
/* in lower-cased as SQLite's lower() and PostgreSQL's under COLLATE "C" do (ASCII letters only) into out (cap bytes,
 * NUL-terminated, cut to fit). */
void store_lower_ascii(const char *in, char *out, size_t cap);
/* Whether a lower-cased text could be part of a CMID's text form (1 to 36 hex digits and dashes): only then does a
 * search look at the CMIDs. */
bool store_could_be_cmid(const char *lq);
int store_stmt_get(struct store *s, enum stmt_id id, sqlite3_stmt **out);
int store_step_done(struct store *s, sqlite3_stmt *st, const char *what);
/* A statement whose sqlite3_bind_* results, OR'ed together into b, were not all SQLITE_OK: records what and the
 * code's message, resets the statement and clears its bindings; returns the negative code. */
int store_bind_failed(struct store *s, sqlite3_stmt *st, int b, const char *what);
/* store_step_done() when b (the OR of the statement's bind results) is 0, else store_bind_failed(). */
int store_step_bound(struct store *s, sqlite3_stmt *st, int b, const char *what);
int store_bind_guid(sqlite3_stmt *st, int i, const struct guid *g);
int store_bind_text(sqlite3_stmt *st, int i, const char *p, size_t cap);
void store_column_guid(sqlite3_stmt *st, int i, struct guid *g);
void store_column_text(sqlite3_stmt *st, int i, char *out, size_t cap);
int store_query_int(struct store *s, sqlite3_stmt *st, int64_t *v, const char *what);
/* The integer a one-row statement such as "PRAGMA freelist_count" returns (prepared, run and finalized here; what
 * names it in the error). */
int store_pragma_int(struct store *s, const char *sql, const char *what, int64_t *v);

#endif
