/*
 * store_pg — the registry on PostgreSQL (libpq, opened with dlopen: pq_fns.h), for several hosts sharing one registry
 * ([multihost]). The store API (store.h) is the same for both engines: each public store_* function of store.c,
 * store_write.c and store_read.c hands a PostgreSQL store (s->pg set) to its store_pg_* twin here, so callers never
 * know which engine they talk to. store_pg.c: connection, schema and migrations, errors, statements;
 * store_pg_write.c: recording (pipelined upserts, group commit by the writer's folds), merging, counting, pruning,
 * statistics; store_pg_read.c: client rows, pages, listings, daily counts, groups.
 *
 * The schema is SQLite's (docs/internals/store.md), in PostgreSQL's types, with the same version numbers and one
 * migration step per version: bytea GUIDs, bigint times and counters, an identity column id in rowid's place (the
 * tie-break of orders and cursors), text COLLATE "C" (ordered bytewise, as SQLite's BINARY), kmsd_lower() (ASCII
 * only, as SQLite's lower()) and kmsd_guid_text() (a CMID's text form) as SQL functions, the summary triggers in
 * PL/pgSQL, and the schema version in the one row of kmsd_schema.
 *
 * What a PostgreSQL registry does not have: the file's backups and checks (pg_dump is the tool), checkpoints and
 * page-cache settings (the server's), the search in memory (a search is SQL). The store's connection is re-established
 * by store_wake after it broke: a failure whose connection is gone leaves the store asleep.
 */
#ifndef KMSD_STORE_PG_H
#define KMSD_STORE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store;

/* Whether db names a PostgreSQL registry (a libpq URI: postgresql:// or postgres://). */
bool store_pg_is_uri(const char *db);

/* Connection: see store.h's store_open, store_open_readonly, store_close, store_sleep, store_wake. */
int store_pg_open(struct store *s, const char *conninfo, bool readonly);
void store_pg_close(struct store *s);
void store_pg_sleep(struct store *s);
int store_pg_wake(struct store *s);
bool store_pg_asleep(const struct store *s);

/* store_pg_write.c */
int store_pg_batch_begin(struct store *s);
int store_pg_batch_add(struct store *s, const struct store_record *recs, size_t n);
int store_pg_batch_commit(struct store *s, uint64_t journal_seq);
void store_pg_batch_abort(struct store *s);
int store_pg_journal_seq(struct store *s, uint64_t *seq);
int store_pg_merge(struct store *s, const struct store_client *rows, size_t n, uint64_t *changed);
int store_pg_count(struct store *s, enum store_app_group g, int64_t now, uint32_t window_days, uint32_t limit,
                   struct store_count *out);
int store_pg_prune_step(struct store *s, int64_t now, uint32_t retention_days, uint64_t row_cap, uint32_t chunk,
                        uint64_t *deleted, bool *more);
int store_pg_stats_get(struct store *s, int64_t now, struct store_stats *out);
int store_pg_note_unrecorded(struct store *s, uint64_t n);
int store_pg_delete_client(struct store *s, const struct guid *cmid, uint64_t *deleted);
int store_pg_stat_one(struct store *s, const char *key, int64_t *v);
int store_pg_counters_raise(struct store *s, const struct store_stats *st, const struct store_day *days, size_t n);

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
