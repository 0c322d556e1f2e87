/*
 * store_pg — the registry on PostgreSQL (libpq, opened with dlopen: pq_fns.h), for several hosts sharing one registry
 * ([multihost]). The store API (store.h) is the same for both engines: each public store_* function of store.c,
 * store_write.c and store_read.c hands a PostgreSQL store (s->pg set) to its store_pg_* twin here, so callers never
 * know which engine they talk to; what both engines do alike is written once (store_ops.c) over the engine
 * primitives of store_internal.h. store_pg.c: connection, schema and migrations, errors, statements;
 * store_pg_write.c: recording (pipelined upserts, group commit by the writer's folds), the genuine count, the
 * primitives; store_pg_read.c: client rows, pages, listings, daily counts, groups.
 *
 * The schema is SQLite's (docs/internals/store.md), in PostgreSQL's types, with the same version numbers and one
 * migration step per version: bytea GUIDs, bigint times and counters, an identity column id in rowid's place (the
 * tie-break of orders and cursors), text COLLATE "C" (ordered bytewise and lower()ed ASCII only, as SQLite's BINARY and
 * lower()), kmsd_guid_text() (a CMID's text form) as an SQL function, trigram indexes for the search where pg_trgm may
 * be created, the summary triggers in PL/pgSQL, and the schema version in the one row of kmsd_schema.
 *
 * What a PostgreSQL registry does not have: the file's backups and checks (pg_dump is the tool), checkpoints and
 * page-cache settings (the server's), the search in memory (a search is SQL over the trigram indexes). The store's
 * connection is re-established by store_wake after it broke: a failure whose connection is gone leaves the store
 * asleep; a read-only store connects again by itself at its next query.
 */
#ifndef KMSD_STORE_PG_H
#define KMSD_STORE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_internal.h" /* the engine primitives it provides */

struct store;


/* Connection: see store.h's store_open, store_open_readonly, store_close, store_sleep, store_wake. */
/* store.h's store_claim_host: a session advisory lock keyed by the host name's hash, held until the connection closes. */
int store_pg_claim_host(struct store *s, bool *alone);
int store_pg_open(struct store *s, const char *conninfo, bool readonly);
/* Whether db is a libpq URI (postgresql:// or postgres://); store_is_postgresql also takes the keyword form. */
bool store_pg_is_uri(const char *db);
/* store.h's store_open_deferred: reads the password file (kept), loads nothing, connects to nothing. */
int store_pg_open_deferred(struct store *s, const char *conninfo);
void store_pg_close(struct store *s);
void store_pg_sleep(struct store *s);
int store_pg_wake(struct store *s);
bool store_pg_asleep(const struct store *s);

/* store_pg_write.c: recording and the genuine count, and the engine primitives of store_internal.h */
int store_pg_batch_begin(struct store *s);
int store_pg_batch_add(struct store *s, const struct store_record *recs, size_t n);
int store_pg_batch_commit(struct store *s, uint64_t journal_seq);
void store_pg_batch_abort(struct store *s);
int store_pg_count(struct store *s, enum store_app_group g, int64_t now, uint32_t window_days, uint32_t limit,
                   struct store_count *out);
int store_pg_tx_write(struct store *s);
int store_pg_tx_read(struct store *s);
int store_pg_tx_end(struct store *s, int ret, const char *what);
int store_pg_stat_op(struct store *s, enum store_stat_op op, const char *key, uint64_t v);
int store_pg_daily_op(struct store *s, bool raise, int64_t day, uint64_t answered, uint64_t refused);
int store_pg_summary_add(struct store *s, int group, const char *product, size_t len, uint64_t n);
int store_pg_merge_rows(struct store *s, const struct store_client *rows, size_t n, uint8_t *flags);
int store_pg_delete_rows(struct store *s, const struct guid *cmid, uint64_t *n);
int store_pg_prune_rows(struct store *s, bool by_age, int64_t before, uint64_t limit, uint64_t *n);
int store_pg_row_count(struct store *s, uint64_t *rows);
int store_pg_active_count(struct store *s, enum store_app_group g, int64_t now, uint32_t window_days, uint32_t *out);
int store_pg_stat_rows(struct store *s, int (*fn)(void *ctx, const char *key, uint64_t v), void *ctx);
int store_pg_stat_one(struct store *s, const char *key, int64_t *v);

/* store_pg_read.c */
int store_pg_get_client(struct store *s, const struct guid *cmid, int (*fn)(void *ctx, const struct store_client *c),
                        void *ctx);
int store_pg_list(struct store *s, const struct store_filter *f, int (*fn)(void *ctx, const struct store_client *c),
                  void *ctx);
int store_pg_query(struct store *s, const struct store_query *q, uint64_t *total,
                   int (*fn)(void *ctx, const struct store_client *c), void *ctx);
int store_pg_daily(struct store *s, int64_t first, int64_t last,
                   int (*fn)(void *ctx, int64_t day, uint64_t answered, uint64_t refused), void *ctx);
int store_pg_groups(struct store *s, int (*fn)(void *ctx, enum store_app_group g, const char *product, uint64_t n),
                    void *ctx);

/* For the tests: migrates a fresh (or older) PostgreSQL registry only up to version (1..STORE_SCHEMA_VERSION), as a
 * kmsd of that version would have left it. 0 or a negative code with the reason in err. */
int store_pg_create_at_version(const char *conninfo, int version, char *err, size_t errlen);


#endif
