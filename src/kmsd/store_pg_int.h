/*
 * store_pg_int — what the PostgreSQL engine's files (store_pg.c, store_pg_write.c, store_pg_read.c) share: the
 * connection's state, the statements prepared once per connection, parameters built without allocation, and results
 * read into kmsd's types. See store_pg.h.
 */
#ifndef KMSD_STORE_PG_INT_H
#define KMSD_STORE_PG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pq_fns.h"

#include "store_internal.h"
#include "store_pg.h"

/* Statements prepared once per connection (named "kmsd_<n>"), on first use. */
enum pg_stmt {
    PS_UPSERT,
    PS_MERGE,
    PS_STAT_ADD,
    PS_STAT_SET,
    PS_DAILY_ADD,
    PS_SUMMARY_ADD,
    PS_STAT_RAISE,
    PS_DAILY_RAISE,
    PS_COUNT_MAX
};

struct store_pg {
    PGconn *conn;       /* NULL while asleep, or once the connection broke (store_wake connects again) */
    char *conninfo;     /* the --db text */
    bool prepared[PS_COUNT_MAX];
    bool wrote; /* a write transaction is open: pg_end compacts the days' counts before its COMMIT */
    bool checked; /* conninfo parsed and found without a password (check_conninfo; deferred: at the first wake) */
};

/* Parameters of one statement: text-format numbers (kept in num), binary text and bytea (no copy: the caller's memory
 * lives until the statement is sent). PG_PARAMS_MAX at most. */
#define PG_PARAMS_MAX 24
struct pg_params {
    int n;
    const char *v[PG_PARAMS_MAX];
    int len[PG_PARAMS_MAX];
    int fmt[PG_PARAMS_MAX];
    char num[PG_PARAMS_MAX][24];
    char fix[4][256]; /* texts that were not valid UTF-8, with '?' for each bad byte (PostgreSQL refuses them) */
    int nfix;
};
void pg_p_int(struct pg_params *p, int64_t v);
void pg_p_bool(struct pg_params *p, bool v);
void pg_p_guid(struct pg_params *p, const struct guid *g);
void pg_p_text(struct pg_params *p, const char *t, size_t cap); /* NUL-terminated within cap, or cut at cap */
void pg_p_null(struct pg_params *p);

/* The error of a failed command or result: records "what: message" in s->err, clears r (may be NULL: the connection's
 * message), drops a broken connection (the store sleeps until store_wake) and maps the SQLSTATE to a negative errno:
 * -EBUSY (serialization failure, deadlock, lock not available), -ENOSPC (disk full), -EACCES (privileges,
 * authentication), -EINVAL (constraints, bad data), -ENOTCONN (no connection), -EIO otherwise. */
int pg_fail(struct store *s, PGresult *r, const char *what);
/* pg_fail's message and code for a result r (not cleared; NULL: the connection's message), leaving the connection as
 * it is (a pipeline's results are still to be read). */
int pg_note(struct store *s, const PGresult *r, const char *what);
/* Drops the connection when it broke (the store sleeps until store_wake / pg_ready); returns ret, or -ENOTCONN then. */
int pg_check_connection(struct store *s, int ret);
/* Runs sql (no parameters, any number of statements) and expects no rows. 0 or pg_fail's code. */
int pg_cmd(struct store *s, const char *sql, const char *what);
/* Runs sql with p (NULL: none); *out gets the result (rows or a command's), for the caller to PQclear. 0 or pg_fail's. */
int pg_run(struct store *s, const char *sql, const struct pg_params *p, PGresult **out, const char *what);
/* pg_run in two halves, so that the caller works while the server does: pg_send sends sql (no parameters), pg_wait
 * takes its result (every result read, so that the connection is free again). Each 0 or -errno with s->err set. */
int pg_send(struct store *s, const char *sql, const char *what);
#define PG_WAIT_EXTRA_RESULTS 16 /* results past the first that pg_wait reads and drops at most */
int pg_wait(struct store *s, PGresult **out, const char *what);
/* The same for a prepared statement. */
int pg_run_prepared(struct store *s, enum pg_stmt id, const struct pg_params *p, PGresult **out, const char *what);
/* Prepares id on this connection if it is not yet. 0 or pg_fail's. */
int pg_prepare(struct store *s, enum pg_stmt id);
/* The name a prepared statement has on the connection. */
const char *pg_stmt_name(enum pg_stmt id);
/* Ends the caller's transaction: COMMIT when ret is 0, else ROLLBACK (ignoring its failure). Returns ret or the
 * commit's error. */
int pg_end(struct store *s, int ret, const char *what);
/* A connection to work on: connects a sleeping read-only store (the HTTP server's, a command's) again; a writable one
 * is woken by its writer (store_wake). 0 or -ENOTCONN with the reason in s->err. */
int pg_ready(struct store *s);

/* Result values (text format). */
int64_t pg_int(const PGresult *r, int row, int col);
void pg_text(const PGresult *r, int row, int col, char *out, size_t cap);
void pg_guid(const PGresult *r, int row, int col, struct guid *g); /* bytea as \x hex; zero when malformed */

#endif
