/*
 * cli_int — what the parts of the registry commands share (cli.c: options, opening the registry, dispatch;
 * cli_clients.c, cli_stats.c, cli_import.c: one command each; cli_backup.c: backup and restore). Not for use
 * outside src/kmsd/cli*.c.
 * docs/internals/cli.md.
 */
#ifndef KMSD_CLI_INT_H
#define KMSD_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define CLI_IMPORT_CHUNK 512 /* rows merged per transaction by import-pykms */
#define CLI_OPT_COUNT 16     /* entries of cli.c's option table */

enum { EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Options, by bit, so each command can say which it accepts. */
enum opt_bit {
    O_STATE_DIR = 1 << 0,
    O_DB = 1 << 1,
    O_FORMAT = 1 << 2,
    O_PRODUCT = 1 << 3,
    O_SINCE = 1 << 4,
    O_DELETE = 1 << 5,
    O_PRUNE = 1 << 6,
    O_RETENTION = 1 << 7,
    O_ROW_CAP = 1 << 8,
    O_HELP = 1 << 9,
    O_VACUUM = 1 << 10,
    O_FORCE = 1 << 11,
    O_DB_PASSWORD_FILE = 1 << 12, /* a PostgreSQL registry's password (store_set_password_file) */
    O_FROM = 1 << 13,             /* kmsd migrate */
    O_TO = 1 << 14,
    O_HOST = 1 << 15, /* kmsd clients: the rows a host served last */
};

struct opts {
    unsigned seen;
    const char *value[CLI_OPT_COUNT]; /* by index in cli.c's option table */
    const char *file;            /* the one positional argument (import-pykms, backup, restore) */
};

/* The value given for option bit, or NULL. */
const char *cli_opt_value(const struct opts *o, enum opt_bit bit);
/* Strict unsigned decimal, at most max. */
bool cli_parse_uint(const char *s, uint64_t max, uint64_t *out);
/* Opens the registry at path (read-only or not); on failure prints why and returns EXIT_USAGE, else 0. */
int cli_open_db(const char *path, bool readonly, struct store **s);
/* As cli_open_db read-write, for the commands that change a registry: it must exist already. */
int cli_open_existing_db(const char *path, struct store **s);

/* The commands: each returns the exit status (0, EXIT_FAIL, EXIT_USAGE). */
int cli_run_clients(const struct opts *o, const char *db_path); /* cli_clients.c */
int cli_run_stats(const struct opts *o, const char *db_path);   /* cli_stats.c */
int cli_run_import(const struct opts *o, const char *db_path);  /* cli_import.c */
int cli_run_backup(const struct opts *o, const char *db_path);  /* cli_backup.c */
int cli_run_restore(const struct opts *o, const char *db_path); /* cli_backup.c */
int cli_run_migrate(const struct opts *o, const char *db_path); /* cli_migrate.c */

#endif
