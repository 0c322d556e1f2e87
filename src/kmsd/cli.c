#include "cli.h"
#include "cli_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "suggest.h"

#define CLI_DEFAULT_STATE_DIR "/var/lib/kmsd"
#define CLI_PATH_MAX 4096

struct opt_def {
    const char *name;
    enum opt_bit bit;
    bool has_value;
};

static const struct opt_def opt_defs[] = {
    {"state-dir", O_STATE_DIR, true}, {"db", O_DB, true},           {"format", O_FORMAT, true},
    {"product", O_PRODUCT, true},     {"since", O_SINCE, true},     {"delete", O_DELETE, true},
    {"prune", O_PRUNE, false},        {"retention", O_RETENTION, true}, {"row-cap", O_ROW_CAP, true},
    {"help", O_HELP, false},          {"vacuum", O_VACUUM, false},  {"force", O_FORCE, false},
    {"db-password-file", O_DB_PASSWORD_FILE, true}, {"from", O_FROM, true}, {"to", O_TO, true},
    {"host", O_HOST, true},
};
#define OPT_DEFS (sizeof opt_defs / sizeof opt_defs[0])
_Static_assert(OPT_DEFS == CLI_OPT_COUNT, "CLI_OPT_COUNT is the size of opt_defs");

struct command {
    const char *name;
    const char *summary; /* one line for kmsd --help */
    unsigned allowed;
    bool wants_file;
    const char *usage;
    int (*run)(const struct opts *o, const char *db_path);
};

const char *cli_opt_value(const struct opts *o, enum opt_bit bit)
{
    for (size_t i = 0; i < OPT_DEFS; i++)
        if (opt_defs[i].bit == bit)
            return o->value[i];
    return NULL;
}

/* Prints "kmsd CMD: MSG 'ARG'" (without the quoted part when arg is NULL) and the usage. */
static int usage_error(const struct command *c, const char *msg, const char *arg)
{
    if (arg)
        fprintf(stderr, "kmsd %s: %s '%s'\nusage: %s\n", c->name, msg, arg, c->usage);
    else
        fprintf(stderr, "kmsd %s: %s\nusage: %s\n", c->name, msg, c->usage);
    return EXIT_USAGE;
}

static int parse_opts(const struct command *c, int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (!c->wants_file || o->file || a[0] == '-')
                return usage_error(c, "unexpected argument", a);
            o->file = a;
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        size_t k = 0;
        while (k < OPT_DEFS && !(strlen(opt_defs[k].name) == nlen && strncmp(opt_defs[k].name, name, nlen) == 0))
            k++;
        if (k == OPT_DEFS || !(c->allowed & opt_defs[k].bit))
            return usage_error(c, "unknown option", a);
        if (o->seen & opt_defs[k].bit)
            return usage_error(c, "option given twice:", a);
        o->seen |= opt_defs[k].bit;
        if (!opt_defs[k].has_value) {
            if (eq)
                return usage_error(c, "option takes no value:", a);
            continue;
        }
        if (eq) {
            o->value[k] = eq + 1;
        } else {
            if (i + 1 >= argc)
                return usage_error(c, "option needs a value:", a);
            o->value[k] = argv[++i];
        }
    }
    if ((o->seen & O_STATE_DIR) && (o->seen & O_DB))
        return usage_error(c, "--state-dir and --db exclude each other", NULL);
    if (c->wants_file && !o->file && !(o->seen & O_HELP))
        return usage_error(c, "missing FILE", NULL);
    return 0;
}

bool cli_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

static int db_path_of(const struct opts *o, char *out, size_t cap)
{
    const char *db = cli_opt_value(o, O_DB);
    const char *dir = cli_opt_value(o, O_STATE_DIR);
    if ((db && !db[0]) || store_path(db, dir ? dir : CLI_DEFAULT_STATE_DIR, out, cap) < 0) {
        fprintf(stderr, "kmsd: database path empty or too long\n");
        return EXIT_USAGE;
    }
    return 0;
}

int cli_open_db(const char *path, bool readonly, struct store **s)
{
    char err[512];
    if (readonly && !store_is_postgresql(path) && access(path, F_OK) != 0 && errno == ENOENT) { /* the commonest mistake: the wrong place */
        fprintf(stderr, "kmsd: no registry at %s (name kmsd's with --state-dir DIR or --db PATH; `make run` keeps "
                        "it in ./var)\n", path);
        return EXIT_USAGE;
    }
    int ret = readonly ? store_open_readonly(path, s, err, sizeof err) : store_open(path, s, err, sizeof err);
    if (ret) {
        fprintf(stderr, "kmsd: cannot open the registry: %s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

int cli_open_existing_db(const char *path, struct store **s)
{
    if (!store_is_postgresql(path) && access(path, F_OK) != 0) {
        fprintf(stderr, "kmsd: cannot open the registry: %s: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    return cli_open_db(path, false, s);
}

/* ---- dispatch ---- */

static const struct command commands[] = {
    {"clients", "list the client registry, or --delete, --prune or --vacuum it",
     O_STATE_DIR | O_DB | O_DB_PASSWORD_FILE | O_FORMAT | O_PRODUCT | O_SINCE | O_HOST | O_DELETE | O_PRUNE |
         O_RETENTION | O_ROW_CAP | O_VACUUM | O_HELP,
     false,
     "kmsd clients [--state-dir DIR | --db PATH|URI [--db-password-file FILE]] [--format table|json|csv] [--product NAME] [--since DAYS] [--host NAME]\n"
     "       kmsd clients [--state-dir DIR | --db PATH] --delete CMID\n"
     "       kmsd clients [--state-dir DIR | --db PATH] --prune [--retention DAYS] [--row-cap N]\n"
     "       kmsd clients [--state-dir DIR | --db PATH] --vacuum",
     cli_run_clients},
    {"stats", "the host's statistics, like slmgr /dli", O_STATE_DIR | O_DB | O_DB_PASSWORD_FILE | O_FORMAT | O_HELP, false,
     "kmsd stats [--state-dir DIR | --db PATH|URI [--db-password-file FILE]] [--format text|json]", cli_run_stats},
    {"import-pykms", "merge a py-kms database into the registry", O_STATE_DIR | O_DB | O_DB_PASSWORD_FILE | O_HELP, true, "kmsd import-pykms FILE [--state-dir DIR | --db PATH]",
     cli_run_import},
    {"backup", "copy the registry to FILE, consistently, also while kmsd runs", O_STATE_DIR | O_DB | O_FORCE | O_HELP,
     true, "kmsd backup FILE [--state-dir DIR | --db PATH] [--force]", cli_run_backup},
    {"restore", "replace the registry with a backup FILE (kmsd stopped)", O_STATE_DIR | O_DB | O_HELP, true,
     "kmsd restore FILE [--state-dir DIR | --db PATH]", cli_run_restore},
    {"migrate", "copy a registry to another: a SQLite file and PostgreSQL, either way; checked, and safe to repeat",
     O_FROM | O_TO | O_DB_PASSWORD_FILE | O_HELP, false,
     "kmsd migrate --from DB --to DB [--db-password-file FILE]   "
     "(DB: a SQLite file or a PostgreSQL connection string)",
     cli_run_migrate},
    /* main runs it (cli_dns.c: it reads kmsd's configuration); here for the help and "did you mean" */
    {"dns-record", "print the DNS SRV record kmsd publishes, for zone files, dnsmasq, Unbound, Windows DNS, nsupdate",
     O_HELP, false, "kmsd dns-record [--zone ZONE] [--form FORM] [kmsd options]", NULL},
    /* main runs it too (cli_products.c: list reads kmsd's configuration) */
    {"products", "check a products.tsv FILE (--products-file), or list the product table kmsd uses", O_HELP, false,
     "kmsd products check FILE | kmsd products list [--format text|json] [kmsd options]", NULL},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; name && i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

#define N_COMMANDS (sizeof commands / sizeof commands[0])

bool cli_is_command(const char *name)
{
    return find_command(name) != NULL;
}

void cli_help_commands(FILE *out)
{
    fprintf(out, "\nCommands (kmsd COMMAND --help for each; all but restore also work while kmsd runs):\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-32s %s\n", commands[i].name, commands[i].summary);
}

int cli_unknown(const char *word, FILE *err)
{
    const char *names[N_COMMANDS];
    for (size_t i = 0; i < N_COMMANDS; i++)
        names[i] = commands[i].name;
    const char *close = suggest_closest(word, names, N_COMMANDS);
    fprintf(err, "kmsd: \"%.100s\" is neither a command nor an option", word);
    if (close)
        fprintf(err, "; did you mean \"kmsd %s\"?", close);
    fprintf(err, "\nCommands:");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(err, " %s", names[i]);
    fprintf(err, "; options: kmsd --help\n");
    return EXIT_USAGE;
}

int cli_main(int argc, char **argv)
{
    const struct command *c = argc >= 2 ? find_command(argv[1]) : NULL;
    if (!c || !c->run)
        return cli_unknown(argc >= 2 ? argv[1] : "", stderr);
    struct opts o;
    int rc = parse_opts(c, argc, argv, &o);
    if (rc)
        return rc;
    if (o.seen & O_HELP) {
        printf("usage: %s\nThe default database is %s/%s.\n", c->usage, CLI_DEFAULT_STATE_DIR, STORE_FILE_NAME);
        return 0;
    }
    char path[CLI_PATH_MAX];
    rc = db_path_of(&o, path, sizeof path);
    if (rc)
        return rc;
    /* a PostgreSQL registry's password: the option, else kmsd's own variable (as the daemon reads it), else libpq's
     * PGPASSFILE or ~/.pgpass */
    const char *pw = cli_opt_value(&o, O_DB_PASSWORD_FILE);
    store_set_password_file(pw ? pw : getenv("KMSD_DB_PASSWORD_FILE"));
    rc = c->run(&o, path);
    fflush(stdout);
    return rc;
}
