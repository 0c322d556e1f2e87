#include "cli.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "guid.h"
#include "kms.h"
#include "products.h"
#include "registry_json.h"
#include "store.h"
#include "timeutil.h"

#define CLI_DEFAULT_STATE_DIR "/var/lib/kmsd"
#define CLI_PATH_MAX 4096
#define CLI_IMPORT_CHUNK 512 /* rows merged per transaction by import-pykms */

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
};

struct opt_def {
    const char *name;
    enum opt_bit bit;
    bool has_value;
};

static const struct opt_def opt_defs[] = {
    {"state-dir", O_STATE_DIR, true}, {"db", O_DB, true},           {"format", O_FORMAT, true},
    {"product", O_PRODUCT, true},     {"since", O_SINCE, true},     {"delete", O_DELETE, true},
    {"prune", O_PRUNE, false},        {"retention", O_RETENTION, true}, {"row-cap", O_ROW_CAP, true},
    {"help", O_HELP, false},
};
#define OPT_DEFS (sizeof opt_defs / sizeof opt_defs[0])

struct opts {
    unsigned seen;
    const char *value[OPT_DEFS]; /* by index in opt_defs */
    const char *file;            /* the one positional argument (import-pykms) */
};

struct command {
    const char *name;
    unsigned allowed;
    bool wants_file;
    const char *usage;
    int (*run)(const struct opts *o, const char *db_path);
};

static const char *opt_value(const struct opts *o, enum opt_bit bit)
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

/* Strict unsigned decimal, at most max. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
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
    const char *db = opt_value(o, O_DB);
    const char *dir = opt_value(o, O_STATE_DIR);
    if ((db && !db[0]) || store_path(db, dir ? dir : CLI_DEFAULT_STATE_DIR, out, cap) < 0) {
        fprintf(stderr, "kmsd: database path empty or too long\n");
        return EXIT_USAGE;
    }
    return 0;
}

static int open_db(const char *path, bool readonly, struct store **s)
{
    char err[512];
    int ret = readonly ? store_open_readonly(path, s, err, sizeof err) : store_open(path, s, err, sizeof err);
    if (ret) {
        fprintf(stderr, "kmsd: cannot open the registry: %s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

/* For the commands that change a registry: it must exist already (they never create one). */
static int open_existing_db(const char *path, struct store **s)
{
    if (access(path, F_OK) != 0) {
        fprintf(stderr, "kmsd: cannot open the registry: %s: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    return open_db(path, false, s);
}

/* ---- text helpers ---- */

/* Display width in characters of valid UTF-8 (every code point counted as one column). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static void fmt_time(int64_t t, bool iso, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t == 0 || !gmtime_r(&tt, &tm) || strftime(out, 32, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

static const char *status_name(uint32_t st, char buf[16])
{
    if (st < KMS_LICENSE_STATUS_COUNT)
        return kms_license_status_name(st);
    snprintf(buf, 16, "%u", (unsigned)st);
    return buf;
}

static void app_label(const struct guid *app_id, char out[GUID_TEXT_LEN + 1])
{
    enum store_app_group g = store_app_group_of(app_id);
    if (g != STORE_APP_OTHER)
        snprintf(out, GUID_TEXT_LEN + 1, "%s", store_app_group_label(g));
    else
        guid_format(app_id, out);
}

/* ---- clients: listing ---- */

enum col { C_CMID, C_WORKSTATION, C_APPLICATION, C_PRODUCT, C_STATUS, C_FIRST, C_LAST, C_REQUESTS, C_ADDRESS, C_N };

static const char *const col_title[C_N] = {
    "CMID", "WORKSTATION", "APPLICATION", "PRODUCT", "STATUS", "FIRST SEEN", "LAST SEEN", "REQUESTS", "ADDRESS",
};
static const char *const col_csv[C_N] = {
    "cmid", "workstation", "application", "product", "license_status", "first_seen", "last_seen", "request_count",
    "last_address",
};

struct cells {
    char cmid[GUID_TEXT_LEN + 1], workstation[192], application[GUID_TEXT_LEN + 1], product[128], status[16];
    char status_buf[16], first[32], last[32], requests[24], address[80];
    const char *v[C_N];
};

static void make_cells(const struct store_client *c, bool terminal, struct cells *x)
{
    guid_format(&c->cmid, x->cmid);
    registry_json_clean_text(c->workstation, sizeof c->workstation, x->workstation, sizeof x->workstation, terminal);
    app_label(&c->app_id, x->application);
    registry_json_clean_text(c->product, sizeof c->product, x->product, sizeof x->product, terminal);
    snprintf(x->status, sizeof x->status, "%s", status_name(c->license_status, x->status_buf));
    fmt_time(c->first_seen, !terminal, x->first);
    fmt_time(c->last_seen, !terminal, x->last);
    snprintf(x->requests, sizeof x->requests, "%llu", (unsigned long long)c->request_count);
    registry_json_clean_text(c->address, sizeof c->address, x->address, sizeof x->address, terminal);
    const char *v[C_N] = {x->cmid, x->workstation, x->application, x->product, x->status,
                          x->first, x->last, x->requests, x->address};
    memcpy(x->v, v, sizeof v);
}

struct table_ctx {
    size_t width[C_N];
    bool print;
    uint64_t rows;
};

static int table_row(void *ctx, const struct store_client *c)
{
    struct table_ctx *t = ctx;
    struct cells x;
    make_cells(c, true, &x);
    t->rows++;
    for (int k = 0; k < C_N; k++) {
        size_t w = text_width(x.v[k]);
        if (!t->print) {
            if (w > t->width[k])
                t->width[k] = w;
            continue;
        }
        size_t pad = w < t->width[k] ? t->width[k] - w : 0;
        if (k == C_N - 1)
            printf("%s\n", x.v[k]);
        else if (k == C_REQUESTS)
            printf("%*s%s  ", (int)pad, "", x.v[k]);
        else
            printf("%s%*s  ", x.v[k], (int)pad, "");
    }
    return 0;
}

static int list_table(struct store *s, const struct store_filter *f)
{
    struct table_ctx t = {{0}, false, 0};
    for (int k = 0; k < C_N; k++)
        t.width[k] = strlen(col_title[k]);
    /* Two passes (widths, then rows) instead of holding the whole registry in memory. */
    int ret = store_list(s, f, table_row, &t);
    if (ret)
        return ret;
    for (int k = 0; k < C_N; k++) {
        size_t pad = t.width[k] - strlen(col_title[k]);
        if (k == C_N - 1)
            printf("%s\n", col_title[k]);
        else if (k == C_REQUESTS)
            printf("%*s%s  ", (int)pad, "", col_title[k]);
        else
            printf("%s%*s  ", col_title[k], (int)pad, "");
    }
    t.print = true;
    t.rows = 0;
    return store_list(s, f, table_row, &t);
}

static void csv_field(const char *v, bool last)
{
    if (strpbrk(v, ",\"\r\n") != NULL || v[0] == ' ' || (v[0] && v[strlen(v) - 1] == ' ')) {
        putchar('"');
        for (const char *p = v; *p; p++) {
            if (*p == '"')
                putchar('"');
            putchar(*p);
        }
        putchar('"');
    } else {
        fputs(v, stdout);
    }
    putchar(last ? '\n' : ',');
}

static int csv_row(void *ctx, const struct store_client *c)
{
    (void)ctx;
    struct cells x;
    make_cells(c, false, &x);
    for (int k = 0; k < C_N; k++)
        csv_field(x.v[k], k == C_N - 1);
    return 0;
}

static int list_csv(struct store *s, const struct store_filter *f)
{
    for (int k = 0; k < C_N; k++)
        csv_field(col_csv[k], k == C_N - 1);
    return store_list(s, f, csv_row, NULL);
}

struct json_ctx {
    uint64_t rows;
    bool oom;
};

static int json_row(void *ctx, const struct store_client *c)
{
    struct json_ctx *j = ctx;
    json_t *o = registry_json_client(c);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        j->oom = true;
        return 1;
    }
    printf("%s\n  %s", j->rows ? "," : "", text);
    free(text);
    j->rows++;
    return 0;
}

static int list_json(struct store *s, const struct store_filter *f)
{
    struct json_ctx j = {0, false};
    fputs("[", stdout);
    int ret = store_list(s, f, json_row, &j);
    fputs(j.rows ? "\n]\n" : "]\n", stdout);
    if (!ret && j.oom)
        ret = -ENOMEM;
    return ret;
}

static int clients_delete(const struct opts *o, const char *db_path)
{
    struct guid cmid;
    const char *text = opt_value(o, O_DELETE);
    if (guid_parse(&cmid, text) != 0) {
        fprintf(stderr, "kmsd clients: --delete: '%s' is not a CMID (a GUID)\n", text);
        return EXIT_USAGE;
    }
    struct store *s;
    int rc = open_existing_db(db_path, &s);
    if (rc)
        return rc;
    uint64_t n = 0;
    int ret = store_delete_client(s, &cmid, &n);
    if (ret) {
        fprintf(stderr, "kmsd clients: %s\n", store_errmsg(s));
        rc = EXIT_FAIL;
    } else if (n == 0) {
        fprintf(stderr, "kmsd clients: no client with CMID %s\n", text);
        rc = EXIT_FAIL;
    } else {
        printf("deleted %llu row%s of client %s\n", (unsigned long long)n, n == 1 ? "" : "s", text);
    }
    store_close(s);
    return rc;
}

static int clients_prune(const struct opts *o, const char *db_path)
{
    uint64_t days = STORE_DEFAULT_RETENTION_DAYS, cap = STORE_DEFAULT_ROW_CAP;
    const char *r = opt_value(o, O_RETENTION), *c = opt_value(o, O_ROW_CAP);
    if (r && (!parse_uint(r, 100000, &days) || days == 0)) {
        fprintf(stderr, "kmsd clients: --retention: '%s' is not a number of days (1..100000)\n", r);
        return EXIT_USAGE;
    }
    if (c && !parse_uint(c, INT64_MAX, &cap)) {
        fprintf(stderr, "kmsd clients: --row-cap: '%s' is not a row count\n", c);
        return EXIT_USAGE;
    }
    struct store *s;
    int rc = open_existing_db(db_path, &s);
    if (rc)
        return rc;
    uint64_t n = 0;
    if (store_prune(s, (int64_t)time(NULL), (uint32_t)days, cap, &n) != 0) {
        fprintf(stderr, "kmsd clients: %s\n", store_errmsg(s));
        rc = EXIT_FAIL;
    } else {
        printf("pruned %llu row%s (retention %llu days, row cap %llu)\n", (unsigned long long)n, n == 1 ? "" : "s",
               (unsigned long long)days, (unsigned long long)cap);
    }
    store_close(s);
    return rc;
}

static int run_clients(const struct opts *o, const char *db_path)
{
    const unsigned listing = O_FORMAT | O_PRODUCT | O_SINCE;
    if ((o->seen & O_DELETE) && (o->seen & O_PRUNE)) {
        fprintf(stderr, "kmsd clients: --delete and --prune exclude each other\n");
        return EXIT_USAGE;
    }
    if ((o->seen & (O_DELETE | O_PRUNE)) && (o->seen & listing)) {
        fprintf(stderr, "kmsd clients: --format, --product and --since apply to the listing only\n");
        return EXIT_USAGE;
    }
    if ((o->seen & (O_RETENTION | O_ROW_CAP)) && !(o->seen & O_PRUNE)) {
        fprintf(stderr, "kmsd clients: --retention and --row-cap apply to --prune only\n");
        return EXIT_USAGE;
    }
    if (o->seen & O_DELETE)
        return clients_delete(o, db_path);
    if (o->seen & O_PRUNE)
        return clients_prune(o, db_path);

    const char *format = opt_value(o, O_FORMAT);
    int (*list)(struct store *, const struct store_filter *) = list_table;
    if (format && strcmp(format, "json") == 0)
        list = list_json;
    else if (format && strcmp(format, "csv") == 0)
        list = list_csv;
    else if (format && strcmp(format, "table") != 0) {
        fprintf(stderr, "kmsd clients: --format: '%s' is not one of table, json, csv\n", format);
        return EXIT_USAGE;
    }
    struct store_filter f = {opt_value(o, O_PRODUCT), 0};
    const char *since = opt_value(o, O_SINCE);
    if (since) {
        uint64_t days;
        if (!parse_uint(since, 100000, &days)) {
            fprintf(stderr, "kmsd clients: --since: '%s' is not a number of days\n", since);
            return EXIT_USAGE;
        }
        f.since = (int64_t)time(NULL) - (int64_t)days * SECONDS_PER_DAY;
    }
    struct store *s;
    int rc = open_db(db_path, true, &s);
    if (rc)
        return rc;
    if (list(s, &f) != 0) {
        fflush(stdout);
        fprintf(stderr, "kmsd clients: %s\n", store_errmsg(s)[0] ? store_errmsg(s) : "out of memory");
        rc = EXIT_FAIL;
    }
    store_close(s);
    return rc;
}

/* ---- stats ---- */

static int stats_json(struct store *s, const char *db_path)
{
    json_t *o = NULL;
    int rc = registry_json_stats(s, (int64_t)time(NULL), &o);
    if (rc == 0 && json_object_set_new(o, "database", json_string(db_path)) != 0)
        rc = -ENOMEM;
    char *text = rc == 0 ? json_dumps(o, JSON_INDENT(2)) : NULL;
    json_decref(o);
    if (!text) {
        fprintf(stderr, "kmsd stats: %s\n", rc == -ENOMEM || rc == 0 ? "out of memory" : store_errmsg(s));
        return EXIT_FAIL;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

static void stats_text(const struct store_stats *st, const char *db_path)
{
    printf("Key Management Service registry: %s\n", db_path);
    for (int g = 0; g < STORE_APP_GROUPS; g++)
        printf("    Current count (%s): %u\n", store_app_group_label((enum store_app_group)g),
               (unsigned)st->current_count[g]);
    printf("    Counting window: %d days\n", STORE_COUNT_WINDOW_DAYS);
    printf("    Registry rows: %llu\n", (unsigned long long)st->clients);
    printf("\nKey Management Service cumulative requests received from clients\n");
    printf("    Total requests received: %llu\n", (unsigned long long)st->requests);
    printf("    Failed requests received: %llu\n", (unsigned long long)st->failed);
    printf("    Requests answered but not recorded (registry faults): %llu\n", (unsigned long long)st->unrecorded);
    for (uint32_t k = 0; k < KMS_LICENSE_STATUS_COUNT; k++)
        printf("    Requests with License Status %s: %llu\n", kms_license_status_slmgr(k),
               (unsigned long long)st->by_status[k]);
}

static int run_stats(const struct opts *o, const char *db_path)
{
    const char *format = opt_value(o, O_FORMAT);
    if (format && strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "kmsd stats: --format: '%s' is not one of text, json\n", format);
        return EXIT_USAGE;
    }
    struct store *s;
    int rc = open_db(db_path, true, &s);
    if (rc)
        return rc;
    struct store_stats st;
    if (format && strcmp(format, "json") == 0) {
        rc = stats_json(s, db_path);
    } else if (store_stats_get(s, (int64_t)time(NULL), &st) != 0) {
        fprintf(stderr, "kmsd stats: %s\n", store_errmsg(s));
        rc = EXIT_FAIL;
    } else {
        stats_text(&st, db_path);
    }
    store_close(s);
    return rc;
}

/* ---- import-pykms ---- */

/* Lower-case ASCII letters and digits of s (and '+'), everything else dropped: "Office 2013+" -> "office2013+". */
static void squash(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; s && *s && o + 1 < cap; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+')
            out[o++] = c;
    }
    out[o] = '\0';
}

/* py-kms application names (KmsDataBase.xml display names and common spellings) -> our application keys. */
static const struct {
    const char *squashed;
    const char *key;
} pykms_apps[] = {
    {"windows", "windows"},       {"office2010", "office2010"}, {"office14", "office2010"},
    {"office2013+", "office2013"}, {"office2013", "office2013"}, {"office15", "office2013"},
    {"office2016", "office2013"}, {"office16", "office2013"},   {"office2019", "office2013"},
    {"office2021", "office2013"}, {"office2024", "office2013"}, {"office", "office2013"},
};

static const struct products_app *app_by_key(const char *key)
{
    for (size_t i = 0; i < products_app_count(); i++)
        if (strcmp(products_app_at(i)->key, key) == 0)
            return products_app_at(i);
    return NULL;
}

/* Application text -> id: a GUID, a py-kms name or one of our application keys or names. */
static bool pykms_app(const char *text, struct guid *id)
{
    if (!text || !*text)
        return false;
    if (guid_parse(id, text) == 0)
        return true;
    char sq[128], other[128];
    squash(text, sq, sizeof sq);
    for (size_t i = 0; i < sizeof pykms_apps / sizeof pykms_apps[0]; i++) {
        const struct products_app *a = strcmp(sq, pykms_apps[i].squashed) == 0 ? app_by_key(pykms_apps[i].key) : NULL;
        if (a) {
            *id = a->id;
            return true;
        }
    }
    for (size_t i = 0; i < products_app_count(); i++) {
        const struct products_app *a = products_app_at(i);
        squash(a->name, other, sizeof other);
        if (strcmp(sq, other) == 0 || strcmp(sq, a->key) == 0) {
            *id = a->id;
            return true;
        }
    }
    return false;
}

/* SKU text -> SKU: a name or alias of ours, a GUID, or a name equal to ours ignoring case, spaces and
 * punctuation. NULL when unknown (*is_guid tells whether the text was a GUID, stored in *id). */
static const struct products_sku *pykms_sku(const char *text, struct guid *id, bool *is_guid)
{
    *is_guid = false;
    memset(id, 0, sizeof *id);
    if (!text || !*text)
        return NULL;
    const struct products_sku *k = products_find_sku(text);
    if (k)
        return k;
    if (guid_parse(id, text) == 0) {
        *is_guid = true;
        return products_sku_by_id(id);
    }
    char sq[160], other[160];
    squash(text, sq, sizeof sq);
    for (size_t i = 0; i < products_sku_count(); i++) {
        squash(products_sku_at(i)->name, other, sizeof other);
        if (strcmp(sq, other) == 0)
            return products_sku_at(i);
    }
    return NULL;
}

/* py-kms licenseStatus (its text for states 0..6, or a number) -> 0..6, or -1. */
static int pykms_status(sqlite3_stmt *st, int col)
{
    static const struct {
        const char *squashed;
        int status;
    } names[] = {
        {"unlicensed", 0},          {"activated", 1},
        {"licensed", 1},            {"graceperiod", 2},
        {"initialgraceperiod", 2},  {"initialgrace", 2},
        {"oobgrace", 2},            {"outoftolerancegraceperiod", 3},
        {"ootgrace", 3},            {"licenseexpiredorhardwareoutoftolerance", 3},
        {"nongenuinegraceperiod", 4}, {"nongenuinegrace", 4},
        {"notificationsmode", 5},   {"notification", 5},
        {"notifications", 5},       {"extendedgraceperiod", 6},
        {"extendedgrace", 6},
    };
    if (sqlite3_column_type(st, col) == SQLITE_INTEGER) {
        sqlite3_int64 v = sqlite3_column_int64(st, col);
        return v >= 0 && v < KMS_LICENSE_STATUS_COUNT ? (int)v : -1;
    }
    const char *t = (const char *)sqlite3_column_text(st, col);
    uint64_t v;
    if (!t)
        return -1;
    if (parse_uint(t, KMS_LICENSE_STATUS_COUNT - 1, &v))
        return (int)v;
    char sq[64];
    squash(t, sq, sizeof sq);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(sq, names[i].squashed) == 0)
            return names[i].status;
    return -1;
}

/* An integer column that may hold an integer, a real or decimal text; false when none of those. */
static bool column_int(sqlite3_stmt *st, int col, int64_t *v)
{
    uint64_t u;
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        *v = sqlite3_column_int64(st, col);
        return true;
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(st, col);
        if (!(d >= 0 && d < 9.2e18))
            return false;
        *v = (int64_t)d;
        return true;
    }
    case SQLITE_TEXT:
        if (!parse_uint((const char *)sqlite3_column_text(st, col), INT64_MAX, &u))
            return false;
        *v = (int64_t)u;
        return true;
    default:
        return false;
    }
}

static void column_copy(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    registry_json_clean_text(t ? t : "", t ? (size_t)sqlite3_column_bytes(st, col) : 0, out, cap, false);
}

enum pykms_col { P_CMID, P_NAME, P_APP, P_SKU, P_STATUS, P_TIME, P_EPID, P_COUNT, P_IP };

/* One py-kms row -> a registry row; on failure writes the reason and returns false. */
static bool pykms_row(sqlite3_stmt *st, struct store_client *c, char *why, size_t whylen)
{
    memset(c, 0, sizeof *c);
    const char *cmid = (const char *)sqlite3_column_text(st, P_CMID);
    if (!cmid || guid_parse(&c->cmid, cmid) != 0) {
        char shown[64];
        registry_json_clean_text(cmid ? cmid : "", cmid ? (size_t)sqlite3_column_bytes(st, P_CMID) : 0, shown, sizeof shown, true);
        snprintf(why, whylen, "clientMachineId '%s' is not a GUID", shown);
        return false;
    }
    const char *sku_text = (const char *)sqlite3_column_text(st, P_SKU);
    bool sku_is_guid;
    const struct products_sku *sku = pykms_sku(sku_text, &c->sku_id, &sku_is_guid);
    const char *app_text = (const char *)sqlite3_column_text(st, P_APP);
    if (!pykms_app(app_text, &c->app_id)) {
        if (!sku) {
            char shown[64];
            registry_json_clean_text(app_text ? app_text : "", app_text ? (size_t)sqlite3_column_bytes(st, P_APP) : 0, shown,
                       sizeof shown, true);
            snprintf(why, whylen, "applicationId '%s' is neither a GUID nor a known application", shown);
            return false;
        }
        c->app_id = sku->kms->app->id;
    }
    int status = pykms_status(st, P_STATUS);
    if (status < 0) {
        snprintf(why, whylen, "licenseStatus is not a known status");
        return false;
    }
    int64_t t, count;
    if (!column_int(st, P_TIME, &t) || t <= 0) {
        snprintf(why, whylen, "lastRequestTime is missing or not a Unix time");
        return false;
    }
    if (!column_int(st, P_COUNT, &count) || count < 1)
        count = 1;
    if (sku) {
        c->sku_id = sku->id;
        c->kms_id = sku->kms->id;
        snprintf(c->product, sizeof c->product, "%s", sku->name);
    } else {
        /* Unknown SKU: keep what py-kms had (its name, or the GUID text) as the product. */
        column_copy(st, P_SKU, c->product, sizeof c->product);
        if (sku_is_guid)
            guid_format(&c->sku_id, c->product);
    }
    column_copy(st, P_NAME, c->workstation, sizeof c->workstation);
    column_copy(st, P_EPID, c->epid, sizeof c->epid);
    column_copy(st, P_IP, c->address, sizeof c->address);
    c->license_status = (uint32_t)status;
    c->first_seen = c->last_seen = t;
    c->request_count = (uint64_t)count;
    return true;
}

static int flush_import(struct store *s, struct store_client *rows, size_t *n, uint64_t *changed)
{
    uint64_t ch = 0;
    int ret = *n ? store_merge(s, rows, *n, &ch) : 0;
    *changed += ch;
    *n = 0;
    return ret;
}

static int run_import(const struct opts *o, const char *db_path)
{
    sqlite3 *src = NULL;
    int rc = sqlite3_open_v2(o->file, &src, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(src, 5000);
        static const char *const queries[] = {
            "SELECT clientMachineId, machineName, applicationId, skuId, licenseStatus, lastRequestTime, kmsEpid,"
            " requestCount, lastRequestIP FROM clients ORDER BY rowid",
            "SELECT clientMachineId, machineName, applicationId, skuId, licenseStatus, lastRequestTime, kmsEpid,"
            " requestCount, NULL FROM clients ORDER BY rowid",
        };
        for (size_t q = 0; q < 2 && !st; q++)
            rc = sqlite3_prepare_v2(src, queries[q], -1, &st, NULL);
    }
    if (rc != SQLITE_OK) {
        fprintf(stderr, "kmsd import-pykms: %s: not a readable py-kms database: %s\n", o->file,
                src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
        sqlite3_finalize(st);
        sqlite3_close(src);
        return EXIT_USAGE;
    }
    struct store *s;
    int ret = open_db(db_path, false, &s);
    if (ret) {
        sqlite3_finalize(st);
        sqlite3_close(src);
        return ret;
    }
    struct store_client *rows = malloc(CLI_IMPORT_CHUNK * sizeof *rows);
    uint64_t nread = 0, imported = 0, skipped = 0, changed = 0;
    size_t n = 0;
    int status = rows ? 0 : EXIT_FAIL;
    while (!status && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char why[160];
        nread++;
        if (!pykms_row(st, &rows[n], why, sizeof why)) {
            printf("row %llu: skipped: %s\n", (unsigned long long)nread, why);
            skipped++;
            continue;
        }
        imported++;
        if (++n == CLI_IMPORT_CHUNK && flush_import(s, rows, &n, &changed) != 0)
            status = EXIT_FAIL;
    }
    if (!status && rc != SQLITE_DONE) {
        fprintf(stderr, "kmsd import-pykms: %s: %s\n", o->file, sqlite3_errmsg(src));
        status = EXIT_FAIL;
    } else if (!status && flush_import(s, rows, &n, &changed) != 0) {
        status = EXIT_FAIL;
    }
    if (status && rows && store_errmsg(s)[0])
        fprintf(stderr, "kmsd import-pykms: %s\n", store_errmsg(s));
    else if (!rows)
        fprintf(stderr, "kmsd import-pykms: out of memory\n");
    if (!status)
        printf("%s: %llu rows read: %llu imported (%llu new or changed, %llu already present), %llu skipped\n",
               o->file, (unsigned long long)nread, (unsigned long long)imported, (unsigned long long)changed,
               (unsigned long long)(imported - changed), (unsigned long long)skipped);
    free(rows);
    store_close(s);
    sqlite3_finalize(st);
    sqlite3_close(src);
    return status;
}

/* ---- dispatch ---- */

static const struct command commands[] = {
    {"clients",
     O_STATE_DIR | O_DB | O_FORMAT | O_PRODUCT | O_SINCE | O_DELETE | O_PRUNE | O_RETENTION | O_ROW_CAP | O_HELP, false,
     "kmsd clients [--state-dir DIR | --db PATH] [--format table|json|csv] [--product NAME] [--since DAYS]\n"
     "       kmsd clients [--state-dir DIR | --db PATH] --delete CMID\n"
     "       kmsd clients [--state-dir DIR | --db PATH] --prune [--retention DAYS] [--row-cap N]",
     run_clients},
    {"stats", O_STATE_DIR | O_DB | O_FORMAT | O_HELP, false,
     "kmsd stats [--state-dir DIR | --db PATH] [--format text|json]", run_stats},
    {"import-pykms", O_STATE_DIR | O_DB | O_HELP, true, "kmsd import-pykms FILE [--state-dir DIR | --db PATH]",
     run_import},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; name && i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

bool cli_is_command(const char *name)
{
    return find_command(name) != NULL;
}

int cli_main(int argc, char **argv)
{
    const struct command *c = argc >= 2 ? find_command(argv[1]) : NULL;
    if (!c) {
        fprintf(stderr, "kmsd: unknown command '%s' (clients, stats, import-pykms)\n", argc >= 2 ? argv[1] : "");
        return EXIT_USAGE;
    }
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
    rc = c->run(&o, path);
    fflush(stdout);
    return rc;
}
