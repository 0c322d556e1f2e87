/* kmsd import-pykms: a py-kms database merged into the registry (docs/internals/store.md). */
#include "cli_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sqlite_fns.h"

#include "guid.h"
#include "kms.h"
#include "products.h"
#include "registry_json.h"

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
    if (sqlite_fn.sqlite3_column_type(st, col) == SQLITE_INTEGER) {
        sqlite3_int64 v = sqlite_fn.sqlite3_column_int64(st, col);
        return v >= 0 && v < KMS_LICENSE_STATUS_COUNT ? (int)v : -1;
    }
    const char *t = (const char *)sqlite_fn.sqlite3_column_text(st, col);
    uint64_t v;
    if (!t)
        return -1;
    if (cli_parse_uint(t, KMS_LICENSE_STATUS_COUNT - 1, &v))
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
    switch (sqlite_fn.sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        *v = sqlite_fn.sqlite3_column_int64(st, col);
        return true;
    case SQLITE_FLOAT: {
        double d = sqlite_fn.sqlite3_column_double(st, col);
        if (!(d >= 0 && d < 9.2e18))
            return false;
        *v = (int64_t)d;
        return true;
    }
    case SQLITE_TEXT:
        if (!cli_parse_uint((const char *)sqlite_fn.sqlite3_column_text(st, col), INT64_MAX, &u))
            return false;
        *v = (int64_t)u;
        return true;
    default:
        return false;
    }
}

static void column_copy(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const char *t = (const char *)sqlite_fn.sqlite3_column_text(st, col);
    registry_json_clean_text(t ? t : "", t ? (size_t)sqlite_fn.sqlite3_column_bytes(st, col) : 0, out, cap, false);
}

enum pykms_col { P_CMID, P_NAME, P_APP, P_SKU, P_STATUS, P_TIME, P_EPID, P_COUNT, P_IP };

/* One py-kms row -> a registry row; on failure writes the reason and returns false. */
static bool pykms_row(sqlite3_stmt *st, struct store_client *c, char *why, size_t whylen)
{
    memset(c, 0, sizeof *c);
    const char *cmid = (const char *)sqlite_fn.sqlite3_column_text(st, P_CMID);
    if (!cmid || guid_parse(&c->cmid, cmid) != 0) {
        char shown[64];
        registry_json_clean_text(cmid ? cmid : "", cmid ? (size_t)sqlite_fn.sqlite3_column_bytes(st, P_CMID) : 0, shown, sizeof shown, true);
        snprintf(why, whylen, "clientMachineId '%s' is not a GUID", shown);
        return false;
    }
    const char *sku_text = (const char *)sqlite_fn.sqlite3_column_text(st, P_SKU);
    bool sku_is_guid;
    const struct products_sku *sku = pykms_sku(sku_text, &c->sku_id, &sku_is_guid);
    const char *app_text = (const char *)sqlite_fn.sqlite3_column_text(st, P_APP);
    if (!pykms_app(app_text, &c->app_id)) {
        if (!sku) {
            char shown[64];
            registry_json_clean_text(app_text ? app_text : "", app_text ? (size_t)sqlite_fn.sqlite3_column_bytes(st, P_APP) : 0, shown,
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

static int import_pykms(const struct opts *o, const char *db_path)
{
    sqlite3 *src = NULL;
    int rc = sqlite_fn.sqlite3_open_v2(o->file, &src, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK) {
        sqlite_fn.sqlite3_busy_timeout(src, 5000);
        static const char *const queries[] = {
            "SELECT clientMachineId, machineName, applicationId, skuId, licenseStatus, lastRequestTime, kmsEpid,"
            " requestCount, lastRequestIP FROM clients ORDER BY rowid",
            "SELECT clientMachineId, machineName, applicationId, skuId, licenseStatus, lastRequestTime, kmsEpid,"
            " requestCount, NULL FROM clients ORDER BY rowid",
        };
        for (size_t q = 0; q < 2 && !st; q++)
            rc = sqlite_fn.sqlite3_prepare_v2(src, queries[q], -1, &st, NULL);
    }
    if (rc != SQLITE_OK) {
        fprintf(stderr, "kmsd import-pykms: %s: not a readable py-kms database: %s\n", o->file,
                src ? sqlite_fn.sqlite3_errmsg(src) : sqlite_fn.sqlite3_errstr(rc));
        sqlite_fn.sqlite3_finalize(st);
        sqlite_fn.sqlite3_close(src);
        return EXIT_USAGE;
    }
    struct store *s;
    int ret = cli_open_db(db_path, false, &s);
    if (ret) {
        sqlite_fn.sqlite3_finalize(st);
        sqlite_fn.sqlite3_close(src);
        return ret;
    }
    struct store_client *rows = malloc(CLI_IMPORT_CHUNK * sizeof *rows);
    uint64_t nread = 0, imported = 0, skipped = 0, changed = 0;
    size_t n = 0;
    int status = rows ? 0 : EXIT_FAIL;
    while (!status && (rc = sqlite_fn.sqlite3_step(st)) == SQLITE_ROW) {
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
        fprintf(stderr, "kmsd import-pykms: %s: %s\n", o->file, sqlite_fn.sqlite3_errmsg(src));
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
    sqlite_fn.sqlite3_finalize(st);
    sqlite_fn.sqlite3_close(src);
    return status;
}

int cli_run_import(const struct opts *o, const char *db_path)
{
    char err[256];
    if (sqlite_fns_acquire(err, sizeof err) < 0) { /* the py-kms file is read with SQLite before the store opens */
        fprintf(stderr, "kmsd import-pykms: %s\n", err);
        return EXIT_FAIL;
    }
    int status = import_pykms(o, db_path);
    sqlite_fns_release();
    return status;
}
