/* kmsd clients: the listing (table, CSV, JSON), --delete, --prune and --vacuum (docs/internals/store.md). The table
 * shows the columns one reads at a terminal, about 120 characters wide; CSV and JSON every column. */
#include "cli_int.h"
#include "cli.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "guid.h"
#include "kms.h"
#include "product_names.h"
#include "products.h"
#include "registry_json.h"
#include "timeutil.h"

/* ---- text helpers ---- */

/* Display width in characters of valid UTF-8 (every code point counted as one column). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

/* ISO 8601 for CSV; to the minute for the table (renewals come days apart), which keeps its width down. */
static void fmt_time(int64_t t, bool iso, char out[32])
{
    if (t == 0 || timeutil_format_utc(t, iso ? TIMEUTIL_UTC_ISO : TIMEUTIL_UTC_MINUTE, out) == 0)
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

enum col {
    C_CMID, C_WORKSTATION, C_APPLICATION, C_PRODUCT, C_STATUS, C_FIRST, C_LAST, C_REQUESTS, C_ADDRESS, C_HOST, C_N
};

/* The headings of the table's columns (table_cols below); CSV's names are col_csv. */
static const char *const col_title[C_N] = {
    [C_CMID] = "CMID",     [C_WORKSTATION] = "WORKSTATION",    [C_PRODUCT] = "PRODUCT",
    [C_STATUS] = "STATUS", [C_LAST] = "LAST SEEN (UTC)", [C_REQUESTS] = "REQUESTS", [C_HOST] = "HOST",
};
static const char *const col_csv[C_N] = {
    "cmid", "workstation", "application", "product", "license_status", "first_seen", "last_seen", "request_count",
    "last_address", "host",
};

/* The table's columns, in order: the CMID whole (users copy it), what the client is and how it stands. The product
 * names the application, and the first contact and the address are in CSV and JSON: with them a row was about 230
 * characters wide. HOST (which kmsd last served the client) only when the listing has more than one: a registry
 * of one host would repeat its name on every line. REQUESTS is last and right-aligned, so every line has the same
 * length. */
static const enum col table_cols[] = {C_CMID, C_WORKSTATION, C_PRODUCT, C_STATUS, C_HOST, C_LAST, C_REQUESTS};
#define TABLE_COLS (sizeof table_cols / sizeof table_cols[0])

struct cells {
    char cmid[GUID_TEXT_LEN + 1], workstation[192], application[GUID_TEXT_LEN + 1], product[128], status[32];
    char status_buf[16], first[32], last[32], requests[24], address[80], host[STORE_HOST_MAX * 4 + 1];
    const char *v[C_N];
};

/* The cells of a row: for the table (terminal) those it shows (table_cols; the others ""), for CSV every one. */
static void make_cells(const struct store_client *c, bool terminal, struct cells *x)
{
    guid_format(&c->cmid, x->cmid);
    registry_json_clean_text(c->workstation, sizeof c->workstation, x->workstation, sizeof x->workstation, terminal);
    registry_json_clean_text(c->product, sizeof c->product, x->product, sizeof x->product, terminal);
    snprintf(x->status, sizeof x->status, "%s", status_name(c->license_status, x->status_buf));
    fmt_time(c->last_seen, !terminal, x->last);
    snprintf(x->requests, sizeof x->requests, "%llu", (unsigned long long)c->request_count);
    registry_json_clean_text(c->host, sizeof c->host, x->host, sizeof x->host, terminal);
    if (terminal) {
        x->application[0] = x->first[0] = x->address[0] = '\0';
    } else {
        app_label(&c->app_id, x->application);
        fmt_time(c->first_seen, true, x->first);
        registry_json_clean_text(c->address, sizeof c->address, x->address, sizeof x->address, false);
    }
    const char *v[C_N] = {x->cmid, x->workstation, x->application, x->product, x->status,
                          x->first, x->last, x->requests, x->address, x->host};
    memcpy(x->v, v, sizeof v);
}

size_t cli_table_buffer_max = CLI_TABLE_BUFFER_MAX;

struct table_ctx {
    size_t width[TABLE_COLS];
    bool print;
    uint64_t rows;
    char first_host[STORE_HOST_MAX * 4 + 1]; /* the first row's HOST text */
    bool hosts;                              /* another row has another: the HOST column is shown */
    char *buf; /* the first pass's rows: TABLE_COLS NUL-terminated texts each; NULL once given up */
    size_t len, cap;
};

/* Appends len bytes of text (or, text NULL, len spaces) to the line in buf, writing the line out when it fills. */
static void line_put(char *buf, size_t cap, size_t *n, const char *text, size_t len)
{
    while (len > 0) {
        if (*n == cap) {
            fwrite(buf, 1, *n, stdout);
            *n = 0;
        }
        size_t k = len < cap - *n ? len : cap - *n;
        if (text) {
            memcpy(buf + *n, text, k);
            text += k;
        } else {
            memset(buf + *n, ' ', k);
        }
        *n += k;
        len -= k;
    }
}

/* One line of the table: cells padded to their column's width, two spaces apart; numbers right-aligned. HOST only
 * when t->hosts. Made in a buffer and written with one call: printf per cell was most of a long listing's time. */
static void table_line(const struct table_ctx *t, const char *const *v)
{
    char buf[1024];
    size_t n = 0;
    for (size_t i = 0; i < TABLE_COLS; i++) {
        if (table_cols[i] == C_HOST && !t->hosts)
            continue;
        size_t w = text_width(v[i]);
        size_t pad = w < t->width[i] ? t->width[i] - w : 0;
        bool last = i == TABLE_COLS - 1;
        if (table_cols[i] == C_REQUESTS)
            line_put(buf, sizeof buf, &n, NULL, pad);
        line_put(buf, sizeof buf, &n, v[i], strlen(v[i]));
        if (table_cols[i] != C_REQUESTS && !last)
            line_put(buf, sizeof buf, &n, NULL, pad);
        line_put(buf, sizeof buf, &n, last ? "\n" : "  ", last ? 1 : 2);
    }
    fwrite(buf, 1, n, stdout);
}

/* Keeps a row's texts for printing after the first pass; gives the buffer up past cli_table_buffer_max or when
 * memory runs out (the second pass reads the rows again). */
static void table_keep(struct table_ctx *t, const char *const *v)
{
    size_t need = 0;
    for (size_t i = 0; i < TABLE_COLS; i++)
        need += strlen(v[i]) + 1;
    if (t->len + need > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        while (cap < t->len + need)
            cap *= 2;
        char *p = cap <= cli_table_buffer_max ? realloc(t->buf, cap) : NULL;
        if (!p) {
            free(t->buf);
            t->buf = NULL;
            return;
        }
        t->buf = p;
        t->cap = cap;
    }
    for (size_t i = 0; i < TABLE_COLS; i++) {
        size_t n = strlen(v[i]) + 1;
        memcpy(t->buf + t->len, v[i], n);
        t->len += n;
    }
}

static int table_row(void *ctx, const struct store_client *c)
{
    struct table_ctx *t = ctx;
    struct cells x;
    make_cells(c, true, &x);
    const char *v[TABLE_COLS];
    for (size_t i = 0; i < TABLE_COLS; i++) {
        v[i] = x.v[table_cols[i]];
        size_t w = text_width(v[i]);
        if (!t->print && w > t->width[i])
            t->width[i] = w;
    }
    if (!t->print) {
        if (t->rows == 0)
            snprintf(t->first_host, sizeof t->first_host, "%s", x.host);
        else if (strcmp(t->first_host, x.host) != 0)
            t->hosts = true;
    }
    t->rows++;
    if (t->print)
        table_line(t, v);
    else if (t->buf)
        table_keep(t, v);
    return 0;
}

static int list_table(struct store *s, const struct store_filter *f, uint64_t *rows)
{
    struct table_ctx t;
    memset(&t, 0, sizeof t);
    const char *title[TABLE_COLS];
    for (size_t i = 0; i < TABLE_COLS; i++) {
        title[i] = col_title[table_cols[i]];
        t.width[i] = strlen(title[i]);
    }
    t.cap = cli_table_buffer_max < 64 * 1024 ? cli_table_buffer_max : 64 * 1024;
    t.buf = malloc(t.cap); /* NULL: two passes */
    int ret = store_list(s, f, table_row, &t);
    *rows = t.rows;
    if (ret) {
        free(t.buf);
        return ret;
    }
    if (t.rows == 0) { /* said on standard error by the caller */
        free(t.buf);
        return 0;
    }
    table_line(&t, title);
    if (t.buf) { /* every row kept: print them */
        for (size_t off = 0; off < t.len;) {
            const char *v[TABLE_COLS];
            for (size_t i = 0; i < TABLE_COLS; i++) {
                v[i] = t.buf + off;
                off += strlen(v[i]) + 1;
            }
            table_line(&t, v);
        }
        free(t.buf);
        return 0;
    }
    t.print = true; /* too many to keep: read them again */
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
    ++*(uint64_t *)ctx;
    struct cells x;
    make_cells(c, false, &x);
    for (int k = 0; k < C_N; k++)
        csv_field(x.v[k], k == C_N - 1);
    return 0;
}

static int list_csv(struct store *s, const struct store_filter *f, uint64_t *rows)
{
    for (int k = 0; k < C_N; k++)
        csv_field(col_csv[k], k == C_N - 1);
    return store_list(s, f, csv_row, rows);
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

static int list_json(struct store *s, const struct store_filter *f, uint64_t *rows)
{
    struct json_ctx j = {0, false};
    fputs("[", stdout);
    int ret = store_list(s, f, json_row, &j);
    *rows = j.rows;
    fputs(j.rows ? "\n]\n" : "]\n", stdout);
    if (!ret && j.oom)
        ret = -ENOMEM;
    return ret;
}

/* An empty table is said in words: no client matches the filters, or none is recorded yet — and when kmsd's journal
 * beside the registry holds activations not yet folded into it (kmsd records within a second of answering, four
 * seconds when busy), so. */
static void say_empty(const char *db_path, bool filtered)
{
    bool pending = false;
    for (int i = 0; i < 2 && !pending; i++) {
        char j[4096 + 32];
        struct stat st;
        snprintf(j, sizeof j, "%s" STORE_JOURNAL_SUFFIX "%d", db_path, i);
        pending = stat(j, &st) == 0 && st.st_size > 0;
    }
    fprintf(stderr, "kmsd clients: %s%s\n", filtered ? "no client matches" : "no clients recorded yet",
            pending ? "; kmsd's journal holds activations it answered moments ago, in the registry within seconds"
                    : "");
}

static int clients_delete(const struct opts *o, const char *db_path)
{
    struct guid cmid;
    const char *text = cli_opt_value(o, O_DELETE);
    if (guid_parse(&cmid, text) != 0) {
        fprintf(stderr, "kmsd clients: --delete: '%s' is not a CMID (a GUID)\n", text);
        return EXIT_USAGE;
    }
    struct store *s;
    int rc = cli_open_existing_db(db_path, &s);
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
    const char *r = cli_opt_value(o, O_RETENTION), *c = cli_opt_value(o, O_ROW_CAP);
    if (r && (!cli_parse_uint(r, 100000, &days) || days == 0)) {
        fprintf(stderr, "kmsd clients: --retention: '%s' is not a number of days (1..100000)\n", r);
        return EXIT_USAGE;
    }
    if (c && !cli_parse_uint(c, INT64_MAX, &cap)) {
        fprintf(stderr, "kmsd clients: --row-cap: '%s' is not a row count\n", c);
        return EXIT_USAGE;
    }
    struct store *s;
    int rc = cli_open_existing_db(db_path, &s);
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

/* --vacuum: the file rewritten compactly, and made to give pages back as pruning frees them from then on. */
static int clients_vacuum(const char *db_path)
{
    struct store *s;
    int rc = cli_open_existing_db(db_path, &s);
    if (rc)
        return rc;
    uint64_t before = 0, after = 0;
    if (store_compact(s, &before, &after) != 0) {
        fprintf(stderr, "kmsd clients: %s\n", store_errmsg(s));
        rc = EXIT_FAIL;
    } else {
        printf("compacted %s: %.1f MB, now %.1f MB; pruned pages go back to the file system from now on\n", db_path,
               (double)before / 1e6, (double)after / 1e6);
    }
    store_close(s);
    return rc;
}

int cli_run_clients(const struct opts *o, const char *db_path)
{
    const unsigned listing = O_FORMAT | O_PRODUCT | O_SINCE | O_HOST;
    unsigned actions = o->seen & (O_DELETE | O_PRUNE | O_VACUUM);
    if (actions & (actions - 1)) {
        fprintf(stderr, "kmsd clients: --delete, --prune and --vacuum exclude each other\n");
        return EXIT_USAGE;
    }
    if (actions && (o->seen & listing)) {
        fprintf(stderr, "kmsd clients: --format, --product, --since and --host apply to the listing only\n");
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
    if (o->seen & O_VACUUM)
        return clients_vacuum(db_path);

    const char *format = cli_opt_value(o, O_FORMAT);
    int (*list)(struct store *, const struct store_filter *, uint64_t *) = list_table;
    if (format && strcmp(format, "json") == 0)
        list = list_json;
    else if (format && strcmp(format, "csv") == 0)
        list = list_csv;
    else if (format && strcmp(format, "table") != 0) {
        fprintf(stderr, "kmsd clients: --format: '%s' is not one of table, json, csv\n", format);
        return EXIT_USAGE;
    }
    struct store_filter f = {0};
    const char *product = cli_opt_value(o, O_PRODUCT);
    if (product) {
        f.product = product_names_filter(product, &f.product_exact);
        if (!f.product) {
            char msg[512];
            fprintf(stderr, "kmsd clients: --product: %s\n", product_names_unknown(msg, sizeof msg, product, NULL));
            return EXIT_USAGE;
        }
    }
    const char *since = cli_opt_value(o, O_SINCE);
    if (since) {
        uint64_t days;
        if (!cli_parse_uint(since, 100000, &days)) {
            fprintf(stderr, "kmsd clients: --since: '%s' is not a number of days\n", since);
            return EXIT_USAGE;
        }
        f.since = (int64_t)time(NULL) - (int64_t)days * SECONDS_PER_DAY;
    }
    f.host = cli_opt_value(o, O_HOST);
    if (f.host && (!f.host[0] || strlen(f.host) > STORE_HOST_MAX)) {
        if (f.host[0])
            fprintf(stderr, "kmsd clients: --host: longer than %d bytes, which no host's name in the registry is\n",
                    STORE_HOST_MAX);
        else
            fprintf(stderr, "kmsd clients: --host: empty; give the name a host records (its --host-name)\n");
        return EXIT_USAGE;
    }
    struct store *s;
    int rc = cli_open_db(db_path, true, &s);
    if (rc)
        return rc;
    uint64_t rows = 0;
    if (list(s, &f, &rows) != 0) {
        fflush(stdout);
        fprintf(stderr, "kmsd clients: %s\n", store_errmsg(s)[0] ? store_errmsg(s) : "out of memory");
        rc = EXIT_FAIL;
    } else if (rows == 0 && list == list_table) {
        say_empty(db_path, product || since || f.host);
    }
    store_close(s);
    return rc;
}

