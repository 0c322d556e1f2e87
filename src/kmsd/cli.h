/*
 * cli — the commands that work on the client registry without running the daemon:
 *   kmsd clients [--state-dir DIR | --db PATH] [--format table|json|csv] [--product NAME] [--since DAYS] [--host NAME]
 *   kmsd clients --delete CMID | --prune [--retention DAYS] [--row-cap N] | --vacuum
 *   kmsd stats [--state-dir DIR | --db PATH] [--format text|json]
 *   kmsd import-pykms FILE [--state-dir DIR | --db PATH]
 *   kmsd backup FILE [--state-dir DIR | --db PATH] [--force]
 *   kmsd restore FILE [--state-dir DIR | --db PATH]
 * They open the database directly (WAL: they work while kmsd runs, except restore, which refuses to). Reports go to
 * stdout, errors to stderr. docs/internals/store.md describes the output formats, the py-kms mappings and backups.
 */
#ifndef KMSD_CLI_H
#define KMSD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Whether argv[1] names one of the commands above (then main() hands over to cli_main()). */
bool cli_is_command(const char *name);

/* The commands with a line each, for the end of kmsd --help. */
void cli_help_commands(FILE *out);

/* For a first argument that is neither a command nor an option: says so on err, with "did you mean" when one
 * command is close (suggest.h) and the list of commands. Returns the usage exit status (2). */
int cli_unknown(const char *word, FILE *err);

/* Runs the command named by argv[1] with its options argv[2..argc). Returns the exit status: 0 success,
 * 1 failure while working (e.g. a write error, --delete of an unknown CMID, a backup FILE that exists, a restore
 * while kmsd runs), 2 bad usage or a database that cannot be opened. Reads the clock only for --since and --prune. */
int cli_main(int argc, char **argv);

/* `kmsd clients` in a table keeps the rows' text while it measures the columns, then prints them: one pass over
 * the registry. Past this many bytes (about 80,000 rows) it lets the buffer go and reads the rows a second time
 * instead. A variable only so that the tests can lower it. */
#define CLI_TABLE_BUFFER_MAX (16u * 1024u * 1024u)
extern size_t cli_table_buffer_max;

#endif
