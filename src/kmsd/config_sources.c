/* config_sources — the INI file, the environment and the command line; see config_internal.h. */
#include "config_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "acl.h"
#include "epid.h"
#include "hostport.h"
#include "kms_limits.h"
#include "err.h"
#include "num.h"
#include "products.h"
#include "suggest.h"

/* ---- sources ---- */

/* "KMSD_" and the option's name upper-cased, dashes as underscores. */
static void env_name(const struct opt *o, char *buf, size_t cap)
{
    snprintf(buf, cap, "KMSD_%s", o->d.name);
    for (char *p = buf; *p; p++)
        *p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
}

/* Applies one value; on error prints "kmsd: WHERE: complaint" where WHERE is how the source names it. */
int config_apply(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    ld->msg[0] = '\0';
    if (o->set(o, cfg, val, ld) == 0)
        return 0;
    switch (ld->src) {
    case SRC_INI: ld->err_line = ld->line; break; /* printed with the line once inih returns */
    case SRC_ENV: {
        char env[64];
        env_name(o, env, sizeof env);
        fprintf(ld->err, "kmsd: %s: %s\n", env, ld->msg);
        break;
    }
    default: fprintf(ld->err, "kmsd: --%s: %s\n", o->d.name, ld->msg); break;
    }
    return -1;
}

struct ini_ctx {
    struct load *ld;
    struct kmsd_config *cfg;
    FILE *f;
};

/* Reads one line for inih, counting lines (so the handler knows where it is) and rejecting lines longer than
 * inih's buffer instead of letting inih split them. Stops at the first error. */
static char *ini_read_line(char *str, int num, void *user)
{
    struct ini_ctx *ic = user;
    struct load *ld = ic->ld;
    if (ld->err_line)
        return NULL;
    if (!fgets(str, num, ic->f))
        return NULL;
    ld->line++;
    size_t n = strlen(str);
    if (n > 0 && str[n - 1] != '\n' && !feof(ic->f)) {
        int c;
        while ((c = getc(ic->f)) != EOF && c != '\n')
            ;
        snprintf(ld->msg, sizeof ld->msg, "line too long (at most %d characters)", num - 2);
        ld->err_line = ld->line;
        return NULL;
    }
    /* A section header at the start of a line: only [kmsd] is known. */
    if (str[0] == '[') {
        const char *close = strchr(str, ']');
        if (close && !(close - str - 1 == 4 && strncmp(str + 1, "kmsd", 4) == 0)) {
            snprintf(ld->msg, sizeof ld->msg, "unknown section \"%.*s\" (keys go before any section or in [kmsd])",
                     (int)(close - str + 1 < 100 ? close - str + 1 : 100), str);
            ld->err_line = ld->line;
            str[0] = '\0'; /* let inih count the line, then stop */
        }
    }
    return str;
}

/* "did you mean": the option closest to a name the user typed (its "--" or "KMSD_" already taken off; '_' counts as
 * '-', case is ignored) among those valid where it was given (in: CONFIG_IN_*), by suggest.h's rule; NULL when
 * none. */
struct near_ctx {
    unsigned in;
};
static const char *near_at(const void *ctx, size_t i)
{
    const struct near_ctx *nc = ctx;
    return (config_opts[i].d.in & nc->in) ? config_opts[i].d.name : ""; /* "": never close to a typed name */
}
static const char *near_option(const char *typed, size_t len, unsigned in)
{
    char word[SUGGEST_WORD_MAX + 1];
    if (len == 0 || len > SUGGEST_WORD_MAX)
        return NULL;
    for (size_t i = 0; i < len; i++)
        word[i] = typed[i] == '_' ? '-' : typed[i];
    word[len] = '\0';
    struct near_ctx nc = {in};
    const char *c = suggest_closest_at(word, near_at, &nc, config_n_opts);
    return c && c[0] ? c : NULL;
}

/* The INI key named by the first word of name when name holds a blank ("listen 127.0.0.1": a line without '=',
 * which inih splits at its ':'), or NULL. */
static const struct opt *first_word_opt(const char *name)
{
    char head[SUGGEST_WORD_MAX + 1]; /* no key is longer than a word suggest.h compares */
    size_t first = strcspn(name, " \t");
    if (!name[first] || first > SUGGEST_WORD_MAX)
        return NULL;
    memcpy(head, name, first);
    head[first] = '\0';
    return config_find_opt(head, CONFIG_IN_INI);
}

static int ini_handler_fn(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *ic = user;
    struct load *ld = ic->ld;
    if (ld->err_line)
        return 1;
    if (section[0] && strcmp(section, "kmsd") != 0) {
        snprintf(ld->msg, sizeof ld->msg, "unknown section \"[%.100s]\" (keys go before any section or in [kmsd])",
                 section);
        ld->err_line = ld->line;
        return 0;
    }
    const struct opt *o = config_find_opt(name, CONFIG_IN_INI);
    if (!o) {
        const struct opt *pos = strncmp(name, "no-", 3) == 0 ? config_find_opt(name + 3, CONFIG_IN_INI) : NULL;
        const char *near;
        const struct opt *spaced = first_word_opt(name);
        if (spaced)
            snprintf(ld->msg, sizeof ld->msg, "unknown key \"%.100s\" (write \"%s = VALUE\": '=' between key and value)",
                     name, spaced->d.name);
        else if (pos && pos->d.arg == CONFIG_ARG_BOOL)
            snprintf(ld->msg, sizeof ld->msg, "unknown key \"%.100s\" (use \"%s = false\")", name, pos->d.name);
        else if (config_find_opt(name, CONFIG_IN_CLI))
            snprintf(ld->msg, sizeof ld->msg, "key \"%.100s\" is for the command line only", name);
        else if ((near = near_option(name, strlen(name), CONFIG_IN_INI)) != NULL)
            snprintf(ld->msg, sizeof ld->msg, "unknown key \"%.100s\" (did you mean \"%s\"?)", name, near);
        else
            snprintf(ld->msg, sizeof ld->msg, "unknown key \"%.100s\"", name);
        ld->err_line = ld->line;
        return 0;
    }
    ld->msg[0] = '\0';
    if (o->set(o, ic->cfg, value, ld) < 0) {
        ld->err_key = o->d.name;
        ld->err_line = ld->line;
        return 0;
    }
    return 1;
}

/* Parses the INI text of f (named path in messages) into cfg and closes f. Returns 0 or -1 (message printed). */
int config_load_ini_stream(struct kmsd_config *cfg, FILE *f, const char *path, struct load *ld)
{
    struct ini_ctx ic = {ld, cfg, f};
    ld->src = SRC_INI;
    ld->file = path;
    ld->line = 0;
    ld->err_line = 0;
    int rc = ini_parse_stream(ini_read_line, &ic, ini_handler_fn, &ic);
    int read_err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (read_err) {
        fprintf(ld->err, "kmsd: %s: cannot read configuration file: %s\n", path, strerror(read_err));
        return -1;
    }
    if (rc == -2) {
        fprintf(ld->err, "kmsd: %s: out of memory\n", path);
        return -1;
    }
    if (rc > 0 && (ld->err_line == 0 || rc < ld->err_line)) {
        fprintf(ld->err, "kmsd: %s:%d: syntax error (expected \"key = value\", \"[kmsd]\" or a comment)\n", path, rc);
        return -1;
    }
    if (ld->err_line) {
        fprintf(ld->err, "kmsd: %s:%d: %s%s%s\n", path, ld->err_line, ld->err_key ? ld->err_key : "",
                ld->err_key ? ": " : "", ld->msg);
        return -1;
    }
    return 0;
}

int config_load_ini(struct kmsd_config *cfg, const char *path, struct load *ld)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(ld->err, "kmsd: %s: cannot open configuration file: %s\n", path, strerror(errno));
        return -1;
    }
    return config_load_ini_stream(cfg, f, path, ld);
}

/* Whether env entry "NAME=..." names the option called name: NAME is KMSD_ and name upper-cased with dashes as
 * underscores. */
static bool env_matches(const char *entry, size_t name_len, const char *name)
{
    size_t n = strlen(name);
    if (name_len != 5 + n || strncmp(entry, "KMSD_", 5) != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        char want = c == '-' ? '_' : (c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c);
        if (entry[5 + i] != want)
            return false;
    }
    return true;
}

static const struct opt *env_opt(const char *entry, size_t name_len, unsigned in)
{
    for (size_t i = 0; i < config_n_opts; i++)
        if ((config_opts[i].d.in & in) && env_matches(entry, name_len, config_opts[i].d.name))
            return &config_opts[i];
    for (size_t i = 0; i < config_n_aliases; i++)
        if (env_matches(entry, name_len, config_aliases[i].name))
            return config_find_opt(config_aliases[i].now, in);
    return NULL;
}

/* Applies a comma-separated list, trimming blanks around each entry. */
static int apply_env_list(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld)
{
    if (val[0] == '\0')
        return config_apply(o, cfg, val, ld);
    const char *p = val;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        char item[CONFIG_LISTEN_LEN + EPID_MAX_LEN + 64];
        if (n == 0 || n >= sizeof item) {
            char env[64];
            env_name(o, env, sizeof env);
            fprintf(ld->err, "kmsd: %s: %s entry in \"%.100s\" (entries are separated by commas)\n", env,
                    n == 0 ? "empty" : "too long an", val);
            return -1;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        if (config_apply(o, cfg, item, ld) < 0)
            return -1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int config_load_env(struct kmsd_config *cfg, char **envp, struct load *ld)
{
    ld->src = SRC_ENV;
    for (size_t k = 0; envp && envp[k]; k++) {
        const char *e = envp[k];
        const char *eq = strchr(e, '=');
        if (!eq || strncmp(e, "KMSD_", 5) != 0)
            continue;
        size_t nl = (size_t)(eq - e);
        if (nl == 11 && strncmp(e, "KMSD_CONFIG", 11) == 0)
            continue; /* KMSD_CONFIG only names the file, which is already read */
        const struct opt *o = env_opt(e, nl, CONFIG_IN_ENV);
        if (!o) {
            const struct opt *pos = NULL;
            if (nl > 8 && strncmp(e + 5, "NO_", 3) == 0) {
                char alt[96];
                snprintf(alt, sizeof alt, "KMSD_%.*s", (int)(nl - 8 < 80 ? nl - 8 : 80), e + 8);
                pos = env_opt(alt, strlen(alt), CONFIG_IN_ENV);
            }
            const char *near = near_option(e + 5, nl - 5, CONFIG_IN_ENV);
            if (pos && pos->d.arg == CONFIG_ARG_BOOL) {
                fprintf(ld->err, "kmsd: %.*s: unknown variable (use KMSD_%.*s=false)\n", (int)nl, e, (int)(nl - 8),
                        e + 8);
            } else if (near) {
                fprintf(ld->err, "kmsd: %.*s: unknown variable; did you mean KMSD_", (int)(nl < 100 ? nl : 100), e);
                for (const char *c = near; *c; c++)
                    fputc(*c == '-' ? '_' : toupper((unsigned char)*c), ld->err);
                fputs("?\n", ld->err);
            } else
                fprintf(ld->err, "kmsd: %.*s: unknown variable (see kmsd --help; remove it or fix its name)\n",
                        (int)(nl < 100 ? nl : 100), e);
            return -1;
        }
        int rc = o->d.arg == CONFIG_ARG_LIST ? apply_env_list(o, cfg, eq + 1, ld) : config_apply(o, cfg, eq + 1, ld);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* getopt_long codes: short options keep their letter; others are CODE_BASE + 2 x index (+1 for --no-NAME). */

void config_build_cli(struct cli_table *t)
{
    size_t n = 0, s = 0;
    t->shortopts[s++] = '+'; /* stop at the first non-option: never permute the caller's argv */
    t->shortopts[s++] = ':'; /* report a missing value as ':' */
    for (size_t i = 0; i < config_n_opts; i++) {
        const struct config_option *d = &config_opts[i].d;
        if (!(d->in & CONFIG_IN_CLI))
            continue;
        bool val = d->arg == CONFIG_ARG_VALUE || d->arg == CONFIG_ARG_LIST;
        t->lo[n].name = d->name;
        t->lo[n].has_arg = val ? required_argument : no_argument;
        t->lo[n].flag = NULL;
        t->lo[n].val = d->short_opt ? d->short_opt : (int)(CODE_BASE + 2 * i);
        n++;
        if (d->arg == CONFIG_ARG_BOOL) {
            snprintf(t->no_names[i], sizeof t->no_names[i], "no-%s", d->name);
            t->lo[n].name = t->no_names[i];
            t->lo[n].has_arg = no_argument;
            t->lo[n].flag = NULL;
            t->lo[n].val = (int)(CODE_BASE + 2 * i + 1);
            n++;
        }
        if (d->short_opt) {
            t->shortopts[s++] = d->short_opt;
            if (val)
                t->shortopts[s++] = ':';
        }
    }
    for (size_t k = 0; k < config_n_aliases; k++) { /* a former name gets the codes of the option it became */
        const struct opt *o = config_find_opt(config_aliases[k].now, CONFIG_IN_CLI);
        if (!o)
            continue;
        int code = (int)(CODE_BASE + 2 * (size_t)(o - config_opts));
        bool val = o->d.arg == CONFIG_ARG_VALUE || o->d.arg == CONFIG_ARG_LIST;
        t->lo[n] = (struct option){config_aliases[k].name, val ? required_argument : no_argument, NULL, code};
        n++;
        if (o->d.arg == CONFIG_ARG_BOOL) {
            t->lo[n] = (struct option){config_aliases[k].no_name, no_argument, NULL, code + 1};
            n++;
        }
    }
    t->shortopts[s] = '\0';
    memset(&t->lo[n], 0, sizeof t->lo[n]);
}

/* The table row of a getopt_long code, or NULL. */
static const struct opt *code_opt(int code, bool *negative)
{
    *negative = false;
    if (code >= CODE_BASE && (size_t)(code - CODE_BASE) < 2 * config_n_opts) {
        *negative = (code - CODE_BASE) & 1;
        return &config_opts[(code - CODE_BASE) / 2];
    }
    for (size_t i = 0; i < config_n_opts; i++)
        if (code > 0 && config_opts[i].d.short_opt == code)
            return &config_opts[i];
    return NULL;
}

/* An unknown long option (--name or --name=value), with the closest one when there is one. */
static void unknown_long(struct load *ld, const char *arg)
{
    const char *name = strncmp(arg, "--", 2) == 0 ? arg + 2 : arg;
    const char *near = near_option(name, strcspn(name, "="), CONFIG_IN_CLI);
    if (near)
        fprintf(ld->err, "kmsd: %.100s: unknown option; did you mean --%s? (see kmsd --help)\n", arg, near);
    else
        fprintf(ld->err, "kmsd: %.100s: unknown option (see kmsd --help)\n", arg);
}

/* One pass over argv. The scan pass (set_values false) reports unknown options, missing values and stray
 * arguments and notes --help, --version and --config; the second pass sets everything else. */
int config_walk_cli(struct cli_table *t, int argc, char **argv, struct kmsd_config *cfg, struct load *ld,
                    bool set_values, bool *help, bool *version)
{
    if (argc < 1)
        return 0;
    optind = 0; /* full reinitialisation (glibc and musl) */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, t->shortopts, t->lo, NULL)) != -1) {
        bool neg;
        const struct opt *o;
        if (c == '?') {
            o = code_opt(optopt, &neg);
            if (o) /* --syslog=yes: a flag given a value */
                fprintf(ld->err, "kmsd: --%s%s: takes no value\n", neg ? "no-" : "", o->d.name);
            else if (optopt > 0 && optopt < CODE_BASE)
                fprintf(ld->err, "kmsd: -%c: unknown option (see kmsd --help)\n", optopt);
            else
                unknown_long(ld, argv[optind - 1]);
            return -1;
        }
        if (c == ':') {
            o = code_opt(optopt, &neg);
            if (o)
                fprintf(ld->err, "kmsd: --%s: missing value (%s)\n", o->d.name, o->d.metavar ? o->d.metavar : "");
            else
                fprintf(ld->err, "kmsd: %.100s: missing value\n", argv[optind - 1]);
            return -1;
        }
        o = code_opt(c, &neg);
        if (!o)
            return -1; /* not reached: getopt_long returns only codes of the table */
        if (!set_values) {
            if (strcmp(o->d.name, "help") == 0)
                *help = true;
            else if (strcmp(o->d.name, "version") == 0)
                *version = true;
            else if (strcmp(o->d.name, "config") == 0 && config_apply(o, cfg, optarg, ld) < 0)
                return -1;
            continue;
        }
        if (!o->set || strcmp(o->d.name, "config") == 0)
            continue;
        if (o->d.arg == CONFIG_ARG_BOOL) {
            if (config_apply(o, cfg, neg ? "false" : "true", ld) < 0)
                return -1;
        } else if (config_apply(o, cfg, optarg ? optarg : "", ld) < 0) {
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(ld->err, "kmsd: \"%.100s\": unexpected argument (kmsd takes options only; see kmsd --help)\n",
                argv[optind]);
        return -1;
    }
    return 0;
}
