/* The registry commands run in-process through cli_main(): clients (table, JSON, CSV, filters, --delete,
 * --prune, --vacuum), stats, import-pykms with a py-kms database made here, backup and restore, and the usage and
 * open errors. */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cli.h"
#include "pidlock.h"
#include "guid.h"
#include "products.h"
#include "registry_json.h"
#include "sqltest.h"
#include "store.h"
#include "timeutil.h"

#define DAY 86400

static const char *const APP_WIN = "55c92734-d682-4d71-983e-d6ec3f16059f";
static const char *const APP_O2013 = "0ff1ce15-a989-479d-af46-f275c6370663";
static const char *const CMID_A = "aaaaaaaa-0000-4000-8000-000000000001";
static const char *const CMID_B = "bbbbbbbb-0000-4000-8000-000000000002";
static const char *const CMID_C = "cccccccc-0000-4000-8000-000000000003";
static const char *const WS_TRICKY = "PC,\"one\"";

static char tmpdir[256];

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/kmsd-cli-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char p[512];
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(tmpdir);
    return 0;
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", tmpdir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static char *slurp_fd(int fd)
{
    off_t len = lseek(fd, 0, SEEK_END);
    assert_true(len >= 0);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
    buf[len] = '\0';
    return buf;
}

struct run {
    int rc;
    char *out, *err;
};

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* Runs cli_main with the NULL-terminated argument list, capturing stdout and stderr through temp files. */
static struct run run_cli(const char *arg0, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = strdup("kmsd");
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a; a = va_arg(ap, const char *)) {
        assert_true(argc < 31);
        argv[argc++] = strdup(a);
    }
    va_end(ap);
    argv[argc] = NULL;

    char po[512], pe[512];
    tmp_path(po, sizeof po, "stdout.txt");
    tmp_path(pe, sizeof pe, "stderr.txt");
    int fo = open(po, O_RDWR | O_CREAT | O_TRUNC, 0600), fe = open(pe, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fo >= 0 && fe >= 0);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    assert_true(so >= 0 && se >= 0);
    assert_true(dup2(fo, 1) >= 0 && dup2(fe, 2) >= 0);
    struct run r;
    r.rc = cli_main(argc, argv);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    r.out = slurp_fd(fo);
    r.err = slurp_fd(fe);
    close(fo);
    close(fe);
    return r;
}

static struct guid gid(const char *text)
{
    struct guid g;
    assert_int_equal(guid_parse(&g, text), 0);
    return g;
}

static struct store_record rec(const char *cmid, const char *app, const char *ws, const char *product, int64_t t)
{
    struct store_record r;
    memset(&r, 0, sizeof r);
    r.cmid = gid(cmid);
    r.app_id = gid(app);
    r.sku_id = gid("2de67392-b7a7-462a-b1ca-108dd189f588");
    r.kms_id = gid("907f1f65-adcd-4a2e-95bc-4bf500bc6e58");
    snprintf(r.workstation, sizeof r.workstation, "%s", ws);
    snprintf(r.product, sizeof r.product, "%s", product);
    snprintf(r.address, sizeof r.address, "192.0.2.7:49152");
    snprintf(r.epid, sizeof r.epid, "06401-00206-566-174993-03-1033-9600.0000-2802018");
    r.license_status = 1;
    r.version_major = 6;
    r.time = t;
    return r;
}

/* A registry with three clients: A (Windows, 1 day ago, twice), B (Office, 10 days ago, refused once),
 * C (Windows, 40 days ago, workstation with a comma and quotes). */
static void make_db(char *path, size_t cap, const char *name)
{
    tmp_path(path, cap, name);
    unlink(path);
    struct store *s = NULL;
    char err[256];
    assert_int_equal(store_open(path, &s, err, sizeof err), 0);
    int64_t now = (int64_t)time(NULL);
    struct store_record b[4] = {
        rec(CMID_A, APP_WIN, "alpha", "Windows 10/11 Pro", now - DAY - 60),
        rec(CMID_A, APP_WIN, "alpha", "Windows 10/11 Pro", now - DAY),
        rec(CMID_B, APP_O2013, "bravo", "Office LTSC Professional Plus 2021", now - 10 * DAY),
        rec(CMID_C, APP_WIN, WS_TRICKY, "Windows Server 2022 Datacenter", now - 40 * DAY),
    };
    b[2].hresult = 0xC004F038;
    b[2].license_status = 2;
    assert_int_equal(store_write(s, b, 4), 0);
    store_close(s);
}

static json_t *parse_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("invalid JSON (%s, line %d): %s", e.text, e.line, text);
    return j;
}

/* Unix seconds of an ISO 8601 UTC time "YYYY-MM-DDTHH:MM:SSZ" of the JSON (fails the test otherwise). */
static int64_t iso_secs(json_t *o, const char *key)
{
    int y, mo, d, h, mi, se;
    char z;
    const char *text = tu_str(o, key);
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) != 7 || z != 'Z')
        fail_msg("%s: %s is not an ISO 8601 UTC time", key, text);
    return timeutil_days_from_civil(y, mo, d) * SECONDS_PER_DAY + h * 3600 + mi * 60 + se;
}

static void clients_json(void **state)
{
    (void)state;
    char db[512];
    make_db(db, sizeof db, "json.db");
    struct run r = run_cli("clients", "--db", db, "--format", "json", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    json_t *arr = parse_json(r.out);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 3);
    static const char *const keys[] = {"cmid", "workstation", "product", "application", "application_id", "sku",
                                       "sku_id", "kms_id", "license_status", "license_status_name", "grace_time",
                                       "is_vm", "version", "first_seen", "last_seen", "requests", "address", "epid"};
    for (size_t i = 0; i < json_array_size(arr); i++)
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (!json_object_get(json_array_get(arr, i), keys[k]))
                fail_msg("row %zu lacks key %s", i, keys[k]);
    /* most recently seen first */
    json_t *a = json_array_get(arr, 0);
    assert_string_equal(tu_str(a, "cmid"), CMID_A);
    assert_string_equal(tu_str(a, "workstation"), "alpha");
    assert_string_equal(tu_str(a, "application"), "windows");
    assert_string_equal(tu_str(a, "sku_id"), "2de67392-b7a7-462a-b1ca-108dd189f588");
    assert_string_equal(tu_str(a, "sku"), "Windows 10/11 Pro");
    assert_string_equal(tu_str(a, "kms_id"), "907f1f65-adcd-4a2e-95bc-4bf500bc6e58");
    assert_string_equal(tu_str(a, "address"), "192.0.2.7:49152");
    assert_int_equal(tu_int(a, "requests"), 2);
    assert_int_equal(tu_int(a, "license_status"), 1);
    assert_string_equal(tu_str(a, "license_status_name"), "licensed");
    assert_string_equal(tu_str(a, "version"), "6.0");
    assert_int_equal(iso_secs(a, "last_seen") - iso_secs(a, "first_seen"), 60);
    json_t *b = json_array_get(arr, 1);
    assert_string_equal(tu_str(b, "cmid"), CMID_B);
    assert_string_equal(tu_str(b, "application"), "office2013");
    assert_int_equal(tu_int(b, "license_status"), 2);
    assert_string_equal(tu_str(b, "license_status_name"), "initial grace");
    json_t *c = json_array_get(arr, 2);
    assert_string_equal(tu_str(c, "workstation"), WS_TRICKY);
    json_decref(arr);
    run_free(&r);

    /* filters */
    r = run_cli("clients", "--db", db, "--format", "json", "--product", "WINDOWS", NULL);
    assert_int_equal(r.rc, 0);
    arr = parse_json(r.out);
    assert_int_equal(json_array_size(arr), 2);
    json_decref(arr);
    run_free(&r);
    r = run_cli("clients", "--db", db, "--format=json", "--since", "5", NULL);
    assert_int_equal(r.rc, 0);
    arr = parse_json(r.out);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(tu_str(json_array_get(arr, 0), "cmid"), CMID_A);
    json_decref(arr);
    run_free(&r);
    r = run_cli("clients", "--db", db, "--format", "json", "--since", "30", "--product", "office", NULL);
    assert_int_equal(r.rc, 0);
    arr = parse_json(r.out);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(tu_str(json_array_get(arr, 0), "cmid"), CMID_B);
    json_decref(arr);
    run_free(&r);
    /* a product as kmsc names it: name, alias, one edition of a combined name; whole, not a part ("Pro" is not
     * "Pro N") */
    static const char *const pro[] = {"Windows 11 Pro", "win10pro", "WINDOWS 10/11 PRO",
                                       "2de67392-b7a7-462a-b1ca-108dd189f588"};
    for (size_t i = 0; i < sizeof pro / sizeof pro[0]; i++) {
        r = run_cli("clients", "--db", db, "--format", "json", "--product", pro[i], NULL);
        assert_int_equal(r.rc, 0);
        arr = parse_json(r.out);
        assert_int_equal(json_array_size(arr), 1);
        assert_string_equal(tu_str(json_array_get(arr, 0), "cmid"), CMID_A);
        json_decref(arr);
        run_free(&r);
    }
    r = run_cli("clients", "--db", db, "--format", "json", "--product", "win11pron", NULL);
    assert_int_equal(r.rc, 0); /* known, none in the registry */
    arr = parse_json(r.out);
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
    run_free(&r);
    /* neither a product nor part of one: a usage error with suggestions */
    r = run_cli("clients", "--db", db, "--format", "json", "--product", "Office 2021", NULL);
    assert_int_equal(r.rc, 2);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, "kmsd clients: --product: unknown product 'Office 2021'; did you mean 'Office "));
    run_free(&r);
}

static void clients_csv(void **state)
{
    (void)state;
    char db[512];
    make_db(db, sizeof db, "csv.db");
    struct run r = run_cli("clients", "--db", db, "--format", "csv", NULL);
    assert_int_equal(r.rc, 0);
    const char *first_nl = strchr(r.out, '\n');
    assert_non_null(first_nl);
    assert_true(strncmp(r.out, "cmid,workstation,", 17) == 0);
    /* the workstation PC,"one" is quoted, its quotes doubled */
    assert_non_null(strstr(r.out, ",\"PC,\"\"one\"\"\","));
    size_t lines = 0;
    for (const char *p = r.out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 4);
    /* every line has the same number of fields once quoted commas are ignored */
    size_t fields = 0, want = 0;
    bool quoted = false;
    for (const char *p = r.out; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == ',' && !quoted)
            fields++;
        else if (*p == '\n') {
            if (p == first_nl)
                want = fields;
            assert_int_equal(fields, want);
            fields = 0;
        }
    }
    assert_false(quoted);
    run_free(&r);
}

/* Column starts of the header line: every row has its cells at the same offsets. */
static void clients_table(void **state)
{
    (void)state;
    char db[512];
    make_db(db, sizeof db, "table.db");
    struct run r = run_cli("clients", "--state-dir", tmpdir, NULL); /* default name in --state-dir: absent */
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "kmsd.db"));
    run_free(&r);
    r = run_cli("clients", "--db", db, "--format", "table", NULL);
    assert_int_equal(r.rc, 0);
    char *lines[8];
    size_t n = 0;
    for (char *p = r.out, *nl; (nl = strchr(p, '\n')) != NULL && n < 8; p = nl + 1) {
        *nl = '\0';
        lines[n++] = p;
    }
    assert_int_equal(n, 4);
    const char *ws = strstr(lines[0], "WORKSTATION"), *prod = strstr(lines[0], "PRODUCT");
    assert_true(strncmp(lines[0], "CMID", 4) == 0 && ws && prod);
    size_t ws_off = (size_t)(ws - lines[0]), prod_off = (size_t)(prod - lines[0]);
    const char *want_ws[3] = {"alpha ", "bravo ", WS_TRICKY};
    const char *want_prod[3] = {"Windows 10/11 Pro ", "Office LTSC", "Windows Server 2022"};
    for (size_t i = 0; i < 3; i++) {
        const char *row = lines[i + 1];
        assert_true(strlen(row) > prod_off);
        assert_true(strncmp(row + ws_off, want_ws[i], strlen(want_ws[i])) == 0);
        assert_true(strncmp(row + prod_off, want_prod[i], strlen(want_prod[i])) == 0);
        assert_true(row[ws_off - 1] == ' ' && row[prod_off - 1] == ' ');
    }
    assert_non_null(strstr(lines[2], "initial grace"));
    assert_non_null(strstr(lines[0], "LAST SEEN (UTC)")); /* the times' zone is said */
    /* the narrow table: CMID whole, the request count last; application, first contact and address in CSV/JSON */
    assert_non_null(strstr(lines[1], CMID_A));
    assert_non_null(strstr(lines[0], "STATUS"));
    assert_true(strlen(lines[0]) >= 8 && strcmp(lines[0] + strlen(lines[0]) - 8, "REQUESTS") == 0);
    assert_null(strstr(lines[0], "APPLICATION"));
    assert_null(strstr(lines[0], "ADDRESS"));
    assert_null(strstr(lines[0], "FIRST SEEN"));
    assert_null(strstr(r.out, "192.0.2.7"));
    for (size_t i = 1; i < n; i++) /* REQUESTS right-aligned at the end: every line as long as the header */
        assert_int_equal(strlen(lines[i]), strlen(lines[0]));
    assert_true(lines[1][strlen(lines[1]) - 1] == '2'); /* A asked twice */
    run_free(&r);
    r = run_cli("clients", "--db", db, "--format", "csv", NULL); /* CSV keeps every column */
    assert_int_equal(r.rc, 0);
    assert_true(strncmp(r.out, "cmid,workstation,application,product,license_status,first_seen,last_seen,"
                               "request_count,last_address,host\n",
                        strlen("cmid,workstation,application,product,license_status,first_seen,last_seen,"
                               "request_count,last_address,host\n")) == 0);
    assert_non_null(strstr(r.out, "192.0.2.7:49152"));
    run_free(&r);
    /* the longest status words are printed whole */
    struct store *s = NULL;
    char err[256];
    assert_int_equal(store_open(db, &s, err, sizeof err), 0);
    struct store_record x = rec("00000000-0000-4000-8000-0000000000dd", APP_WIN, "delta", "Windows 10/11 Pro",
                                (int64_t)time(NULL));
    x.license_status = 3; /* out-of-tolerance grace, 22 characters */
    assert_int_equal(store_write(s, &x, 1), 0);
    store_close(s);
    r = run_cli("clients", "--db", db, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, " out-of-tolerance grace "));
    run_free(&r);

    /* a fleet of a usual kind (NetBIOS names of 15 characters, Windows 10/11 Enterprise, licensed, a thousand
     * requests) fits in 120 columns */
    char fleet[512];
    tmp_path(fleet, sizeof fleet, "fleet.db");
    unlink(fleet);
    assert_int_equal(store_open(fleet, &s, err, sizeof err), 0);
    struct store_record y = rec(CMID_A, APP_WIN, "DESKTOP-ABCDEFG", "Windows 10/11 Enterprise", (int64_t)time(NULL));
    for (int i = 0; i < 1000; i++)
        assert_int_equal(store_write(s, &y, 1), 0);
    store_close(s);
    r = run_cli("clients", "--db", fleet, NULL);
    assert_int_equal(r.rc, 0);
    const char *nl = strchr(r.out, '\n');
    assert_non_null(nl);
    assert_true(nl - r.out <= 120);
    assert_non_null(strstr(r.out, " 1000\n"));
    run_free(&r);

    /* the rows kept in one pass, or read twice past the buffer's limit: the same table */
    struct run one = run_cli("clients", "--db", db, NULL);
    assert_int_equal(one.rc, 0);
    cli_table_buffer_max = 200; /* less than the rows' text: the second pass */
    struct run two = run_cli("clients", "--db", db, NULL);
    cli_table_buffer_max = CLI_TABLE_BUFFER_MAX;
    assert_int_equal(two.rc, 0);
    assert_true(strlen(one.out) > 200);
    assert_string_equal(one.out, two.out);
    assert_null(strstr(one.out, "HOST")); /* one host (none named): no HOST column */
    run_free(&one);
    run_free(&two);

    /* rows last served by two hosts: a HOST column, in one pass and in two */
    char hosts[512];
    tmp_path(hosts, sizeof hosts, "hosts.db");
    unlink(hosts);
    assert_int_equal(store_open(hosts, &s, err, sizeof err), 0);
    store_set_host(s, "kms-alpha");
    struct store_record h1 = rec(CMID_A, APP_WIN, "pc-one", "Windows 10/11 Pro", (int64_t)time(NULL) - 60);
    assert_int_equal(store_write(s, &h1, 1), 0);
    store_set_host(s, "kms-beta");
    struct store_record h2 = rec(CMID_B, APP_WIN, "pc-two", "Windows 10/11 Pro", (int64_t)time(NULL));
    assert_int_equal(store_write(s, &h2, 1), 0);
    store_close(s);
    one = run_cli("clients", "--db", hosts, NULL);
    assert_int_equal(one.rc, 0);
    assert_non_null(strstr(one.out, "  HOST  "));
    assert_non_null(strstr(one.out, " kms-alpha "));
    assert_non_null(strstr(one.out, " kms-beta "));
    cli_table_buffer_max = 100;
    two = run_cli("clients", "--db", hosts, NULL);
    cli_table_buffer_max = CLI_TABLE_BUFFER_MAX;
    assert_string_equal(one.out, two.out);
    run_free(&one);
    run_free(&two);
    one = run_cli("clients", "--db", hosts, "--format", "json", NULL);
    assert_non_null(strstr(one.out, "\"host\":\"kms-beta\""));
    run_free(&one);
    /* --host: one host's rows (one host listed: no HOST column); a name no host can have is refused */
    one = run_cli("clients", "--db", hosts, "--host", "kms-alpha", NULL);
    assert_int_equal(one.rc, 0);
    assert_non_null(strstr(one.out, " pc-one "));
    assert_null(strstr(one.out, "pc-two"));
    assert_null(strstr(one.out, "HOST"));
    run_free(&one);
    one = run_cli("clients", "--db", hosts, "--host", "kms-gamma", NULL);
    assert_int_equal(one.rc, 0);
    assert_string_equal(one.err, "kmsd clients: no client matches\n");
    run_free(&one);
    static const char *const bad_hosts[][2] = {
        {"", "kmsd clients: --host: empty; give the name a host records (its --host-name)\n"},
        {"h234567890123456789012345678901234567890123456789012345678901234567890",
         "kmsd clients: --host: longer than 64 bytes, which no host's name in the registry is\n"},
    };
    for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++) {
        one = run_cli("clients", "--db", hosts, "--host", bad_hosts[i][0], NULL);
        assert_int_equal(one.rc, 2);
        assert_string_equal(one.out, "");
        assert_string_equal(one.err, bad_hosts[i][1]);
        run_free(&one);
    }
    one = run_cli("clients", "--db", hosts, "--host", "kms-alpha", "--vacuum", NULL);
    assert_int_equal(one.rc, 2);
    assert_string_equal(one.err, "kmsd clients: --format, --product, --since and --host apply to the listing only\n");
    run_free(&one);

    /* an empty table is said in words on standard error: nothing matches, nothing yet, or still in the journal */
    one = run_cli("clients", "--db", hosts, "--product", "Visio", NULL);
    assert_int_equal(one.rc, 0);
    assert_string_equal(one.out, "");
    assert_string_equal(one.err, "kmsd clients: no client matches\n");
    run_free(&one);
    char empty[512], journal[600];
    tmp_path(empty, sizeof empty, "empty.db");
    unlink(empty);
    assert_int_equal(store_open(empty, &s, err, sizeof err), 0);
    store_close(s);
    one = run_cli("clients", "--db", empty, NULL);
    assert_string_equal(one.err, "kmsd clients: no clients recorded yet\n");
    run_free(&one);
    snprintf(journal, sizeof journal, "%s" STORE_JOURNAL_SUFFIX "0", empty);
    FILE *jf = fopen(journal, "w");
    assert_non_null(jf);
    fputs("a record", jf);
    fclose(jf);
    one = run_cli("clients", "--db", empty, NULL);
    assert_non_null(strstr(one.err, "no clients recorded yet; kmsd's journal holds activations it answered"));
    run_free(&one);
    one = run_cli("clients", "--db", empty, "--format", "json", NULL); /* for scripts: an empty list, nothing said */
    assert_string_equal(one.out, "[]\n");
    assert_string_equal(one.err, "");
    run_free(&one);
    unlink(journal);
    unlink(empty);
}

static void clients_delete_and_prune(void **state)
{
    (void)state;
    char db[512];
    make_db(db, sizeof db, "delete.db");
    struct run r = run_cli("clients", "--db", db, "--delete", CMID_B, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "deleted 1 row"));
    run_free(&r);
    r = run_cli("clients", "--db", db, "--delete", CMID_B, NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "no client"));
    run_free(&r);
    r = run_cli("clients", "--db", db, "--delete", "not-a-guid", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    /* C was seen 40 days ago: a 30-day retention removes it, the default (90) does not */
    r = run_cli("clients", "--db", db, "--prune", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "pruned 0 rows"));
    run_free(&r);
    r = run_cli("clients", "--db", db, "--prune", "--retention", "30", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "pruned 1 row "));
    run_free(&r);
    r = run_cli("clients", "--db", db, "--format", "json", NULL);
    json_t *arr = parse_json(r.out);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(tu_str(json_array_get(arr, 0), "cmid"), CMID_A);
    json_decref(arr);
    run_free(&r);
    r = run_cli("clients", "--db", db, "--prune", "--retention", "0", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = run_cli("clients", "--db", db, "--prune", "--row-cap", "0", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "pruned 1 row "));
    run_free(&r);
    /* --delete / --prune on a missing database do not create one */
    char missing[512];
    tmp_path(missing, sizeof missing, "never.db");
    r = run_cli("clients", "--db", missing, "--prune", NULL);
    assert_int_equal(r.rc, 2);
    assert_int_equal(access(missing, F_OK), -1);
    run_free(&r);
    /* listing and statistics of a registry that is not there say where they looked and how to name another */
    static const char *const cmds[] = {"clients", "stats"};
    for (size_t i = 0; i < 2; i++) {
        r = run_cli(cmds[i], "--db", missing, NULL);
        assert_int_equal(r.rc, 2);
        assert_non_null(strstr(r.err, "kmsd: no registry at "));
        assert_non_null(strstr(r.err, "never.db (name kmsd's with --state-dir DIR or --db PATH"));
        assert_int_equal(access(missing, F_OK), -1);
        run_free(&r);
    }
}

/* --vacuum rewrites a file made before schema 3 (no auto_vacuum) compactly and turns incremental auto-vacuum on;
 * it excludes the other actions and the listing options, and needs an existing database. */
static void clients_vacuum(void **state)
{
    (void)state;
    char db[512];
    make_db(db, sizeof db, "vacuum.db");
    sqltest_exec(db, "PRAGMA auto_vacuum = NONE; VACUUM;"
                     " CREATE TABLE filler AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                     " WHERE i < 20000) SELECT i, randomblob(200) AS b FROM n; DROP TABLE filler;");
    assert_int_equal(sqltest_int(db, "PRAGMA auto_vacuum"), 0);
    int64_t free_before = sqltest_int(db, "PRAGMA freelist_count");
    assert_true(free_before > 1000);
    struct run r = run_cli("clients", "--db", db, "--vacuum", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "compacted"));
    run_free(&r);
    assert_int_equal(sqltest_int(db, "PRAGMA auto_vacuum"), 2);
    assert_int_equal(sqltest_int(db, "PRAGMA freelist_count"), 0);
    assert_int_equal(sqltest_int(db, "SELECT count(*) FROM clients"), 3); /* the rows are kept */
    r = run_cli("clients", "--db", db, "--vacuum", "--prune", NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "exclude each other"));
    run_free(&r);
    r = run_cli("clients", "--db", db, "--vacuum", "--format", "json", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    char missing[512];
    tmp_path(missing, sizeof missing, "never-vacuumed.db");
    r = run_cli("clients", "--db", missing, "--vacuum", NULL);
    assert_int_equal(r.rc, 2);
    assert_int_equal(access(missing, F_OK), -1);
    run_free(&r);
}

static void stats_command(void **state)
{
    (void)state;
    char db[512];
    make_db(db, sizeof db, "stats.db");
    struct run r = run_cli("stats", "--db", db, "--format", "json", NULL);
    assert_int_equal(r.rc, 0);
    json_t *o = parse_json(r.out);
    assert_int_equal(tu_int(o, "requests"), 4);
    assert_int_equal(tu_int(o, "failed"), 1);
    assert_int_equal(tu_int(o, "clients"), 3);
    json_t *bs = tu_obj(o, "by_license_status");
    assert_int_equal(json_object_size(bs), KMS_LICENSE_STATUS_COUNT);
    assert_int_equal(tu_int(bs, "licensed"), 3);
    assert_int_equal(tu_int(bs, "initial grace"), 1);
    assert_int_equal(tu_int(bs, "unlicensed"), 0);
    json_t *cc = tu_obj(o, "current_count");
    assert_int_equal(tu_int(cc, "windows"), 1); /* C is outside the 30-day window */
    assert_int_equal(tu_int(cc, "office2013"), 1);
    assert_int_equal(tu_int(cc, "office2010"), 0);
    assert_int_equal(tu_int(o, "count_window_days"), 30);
    json_t *daily = json_object_get(o, "daily");
    assert_int_equal(json_array_size(daily), REGISTRY_JSON_DAYS);
    assert_int_equal(tu_int(json_array_get(daily, REGISTRY_JSON_DAYS - 2), "answered"), 2); /* A, yesterday */
    assert_true(json_is_array(json_object_get(o, "by_product")));
    assert_string_equal(tu_str(o, "database"), db);
    json_decref(o);
    run_free(&r);
    r = run_cli("stats", "--db", db, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "Total requests received: 4\n"));
    assert_non_null(strstr(r.out, "Failed requests received: 1\n"));
    assert_non_null(strstr(r.out, "Requests with License Status Licensed: 3\n"));
    assert_non_null(strstr(r.out, "Requests with License Status Initial grace period: 1\n"));
    assert_non_null(strstr(r.out, "Clients seen in the last 30 days (Windows): 1\n"));
    assert_non_null(strstr(r.out, "--count-mode fixed")); /* what clients are told is labelled apart */
    assert_non_null(strstr(r.out, "Registry rows (client and application): 3\n"));
    run_free(&r);
    r = run_cli("stats", "--db", db, "--format", "csv", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
}

static void usage_and_open_errors(void **state)
{
    (void)state;
    char db[512], garbage[512];
    make_db(db, sizeof db, "usage.db");
    struct run r = run_cli("clients", "--db", db, "--bogus", NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "--bogus"));
    assert_non_null(strstr(r.err, "usage:"));
    run_free(&r);
    r = run_cli("clients", "--db", db, "--state-dir", tmpdir, NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = run_cli("clients", "--db", db, "--format", "xml", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = run_cli("clients", "--db", db, "--since", "-3", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = run_cli("clients", "--db", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = run_cli("clients", "--db", db, "--delete", CMID_A, "--format", "json", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = run_cli("stats", "--db", db, "extra", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = run_cli("clients", "--help", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "usage: kmsd clients"));
    run_free(&r);
    r = run_cli("import-pykms", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = run_cli("frobnicate", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    assert_true(cli_is_command("clients") && cli_is_command("stats") && cli_is_command("import-pykms"));
    assert_true(cli_is_command("backup") && cli_is_command("restore"));
    assert_false(cli_is_command("serve"));
    /* a file of garbage bytes */
    tmp_path(garbage, sizeof garbage, "garbage.db");
    FILE *f = fopen(garbage, "wb");
    assert_non_null(f);
    for (int i = 0; i < 2048; i++)
        fputc((i * 37 + 11) & 0xff, f);
    fclose(f);
    r = run_cli("stats", "--db", garbage, NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "not a database"));
    run_free(&r);
    r = run_cli("clients", "--db", tmpdir, NULL); /* a directory */
    assert_int_equal(r.rc, 2);
    assert_true(r.err[0] != '\0');
    run_free(&r);
}

/* ---- import-pykms ---- */

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
}

/* Inserts one py-kms row with bound values (status_int >= 0 stores licenseStatus as an integer). */
static void pykms_insert(const char *path, bool with_ip, const char *cmid, const char *name, const char *app,
                         const char *sku, const char *status, int status_int, int64_t t, int count)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    const char *sql = with_ip ? "INSERT INTO clients VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                              : "INSERT INTO clients VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, cmid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, app, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, sku, -1, SQLITE_STATIC);
    if (status_int >= 0)
        sqlite3_bind_int(st, 5, status_int);
    else
        sqlite3_bind_text(st, 5, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, t);
    sqlite3_bind_text(st, 7, "03612-00206-556-123456-03-1033-17763.0000-0012019", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, count);
    if (with_ip)
        sqlite3_bind_text(st, 9, "10.0.0.5", -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static json_t *list_json(const char *db)
{
    struct run r = run_cli("clients", "--db", db, "--format", "json", NULL);
    assert_int_equal(r.rc, 0);
    json_t *arr = parse_json(r.out);
    run_free(&r);
    return arr;
}

static json_t *find_row(json_t *arr, const char *cmid, const char *application)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        if (strcmp(tu_str(o, "cmid"), cmid) == 0 && strcmp(tu_str(o, "application"), application) == 0)
            return o;
    }
    fail_msg("no row %s / %s", cmid, application);
    return NULL;
}

static void import_pykms(void **state)
{
    (void)state;
    char src[512], db[512];
    tmp_path(src, sizeof src, "pykms.db");
    tmp_path(db, sizeof db, "imported.db");
    unlink(src);
    unlink(db);
    sql_exec(src, "CREATE TABLE clients(clientMachineId TEXT, machineName TEXT, applicationId TEXT, skuId TEXT,"
                  " licenseStatus TEXT, lastRequestTime INTEGER, kmsEpid TEXT, requestCount INTEGER,"
                  " lastRequestIP TEXT)");
    const int64_t t = 1700000000;
    /* names as py-kms writes them */
    pykms_insert(src, true, "d1f6a1a8-9b3e-4c4b-8f21-1a2b3c4d5e01", "WS-NAMES", "Windows",
                 "Windows Server 2022 Datacenter", "Activated", -1, t, 3);
    /* GUIDs where py-kms had no name; SKU: Office Access 2010 */
    pykms_insert(src, true, "d1f6a1a8-9b3e-4c4b-8f21-1a2b3c4d5e02", "WS-GUIDS", "59a52881-a989-479d-af46-f275c6370663",
                 "8ce7e872-188c-4b98-9d90-f8f90b7aad02", "Grace Period", -1, t + 1, 1);
    /* a numeric status, an Office 2013+ name and a SKU name we do not know */
    pykms_insert(src, true, "d1f6a1a8-9b3e-4c4b-8f21-1a2b3c4d5e03", "WS-NUM", "Office2013+",
                 "Office Imaginary Suite 2099", NULL, 5, t + 2, 7);
    /* bad rows: a CMID that is not a GUID, an unknown application, an unknown status */
    pykms_insert(src, true, "d1f6a1a8-9b3e-4c4b-8f21-XXXXXXXXXXXX", "WS-BAD", "Windows", "Windows 10/11 Pro",
                 "Activated", -1, t, 1);
    pykms_insert(src, true, "d1f6a1a8-9b3e-4c4b-8f21-1a2b3c4d5e05", "WS-APP", "Visio", "Visio Imaginary",
                 "Activated", -1, t, 1);
    pykms_insert(src, true, "d1f6a1a8-9b3e-4c4b-8f21-1a2b3c4d5e06", "WS-ST", "Windows", "Windows 10/11 Pro",
                 "Sort of activated", -1, t, 1);

    struct run r = run_cli("import-pykms", src, "--db", db, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "row 4: skipped: clientMachineId"));
    assert_non_null(strstr(r.out, "is not a GUID"));
    assert_non_null(strstr(r.out, "row 5: skipped: applicationId 'Visio'"));
    assert_non_null(strstr(r.out, "row 6: skipped: licenseStatus"));
    assert_non_null(strstr(r.out, "6 rows read: 3 imported (3 new or changed, 0 already present), 3 skipped"));
    run_free(&r);

    json_t *arr = list_json(db);
    assert_int_equal(json_array_size(arr), 3);
    json_t *o = find_row(arr, "d1f6a1a8-9b3e-4c4b-8f21-1a2b3c4d5e01", "windows");
    assert_string_equal(tu_str(o, "workstation"), "WS-NAMES");
    assert_string_equal(tu_str(o, "product"), "Windows Server 2022 Datacenter");
    const struct products_sku *k = products_find_sku("Windows Server 2022 Datacenter");
    assert_non_null(k);
    char g[GUID_TEXT_LEN + 1];
    guid_format(&k->id, g);
    assert_string_equal(tu_str(o, "sku_id"), g);
    assert_string_equal(tu_str(o, "sku"), k->name);
    guid_format(&k->kms->id, g);
    assert_string_equal(tu_str(o, "kms_id"), g);
    assert_int_equal(tu_int(o, "license_status"), 1);
    assert_int_equal(tu_int(o, "requests"), 3);
    assert_int_equal(iso_secs(o, "last_seen"), t);
    assert_string_equal(tu_str(o, "address"), "10.0.0.5");
    o = find_row(arr, "d1f6a1a8-9b3e-4c4b-8f21-1a2b3c4d5e02", "office2010");
    assert_string_equal(tu_str(o, "product"), "Office Access 2010");
    assert_int_equal(tu_int(o, "license_status"), 2);
    o = find_row(arr, "d1f6a1a8-9b3e-4c4b-8f21-1a2b3c4d5e03", "office2013");
    assert_string_equal(tu_str(o, "product"), "Office Imaginary Suite 2099");
    assert_string_equal(tu_str(o, "sku_id"), "00000000-0000-0000-0000-000000000000");
    assert_true(json_is_null(json_object_get(o, "sku")));
    assert_int_equal(tu_int(o, "license_status"), 5);
    assert_int_equal(tu_int(o, "requests"), 7);
    char *before = json_dumps(arr, JSON_SORT_KEYS);
    json_decref(arr);

    /* again: nothing changes */
    r = run_cli("import-pykms", src, "--db", db, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "6 rows read: 3 imported (0 new or changed, 3 already present), 3 skipped"));
    run_free(&r);
    arr = list_json(db);
    char *after = json_dumps(arr, JSON_SORT_KEYS);
    assert_string_equal(before, after);
    free(before);
    free(after);
    json_decref(arr);
    /* an import does not count as requests received */
    r = run_cli("stats", "--db", db, "--format", "json", NULL);
    o = parse_json(r.out);
    assert_int_equal(tu_int(o, "requests"), 0);
    assert_int_equal(tu_int(o, "clients"), 3);
    json_decref(o);
    run_free(&r);

    /* an older py-kms database without lastRequestIP, with a newer sighting of client 1 */
    char old[512];
    tmp_path(old, sizeof old, "pykms-old.db");
    unlink(old);
    sql_exec(old, "CREATE TABLE clients(clientMachineId TEXT, machineName TEXT, applicationId TEXT, skuId TEXT,"
                  " licenseStatus TEXT, lastRequestTime INTEGER, kmsEpid TEXT, requestCount INTEGER)");
    pykms_insert(old, false, "d1f6a1a8-9b3e-4c4b-8f21-1a2b3c4d5e01", "WS-RENAMED", "Windows",
                 "Windows Server 2022 Datacenter", "Notifications Mode", -1, t + 100, 4);
    r = run_cli("import-pykms", old, "--db", db, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "1 rows read: 1 imported (1 new or changed, 0 already present), 0 skipped"));
    run_free(&r);
    arr = list_json(db);
    o = find_row(arr, "d1f6a1a8-9b3e-4c4b-8f21-1a2b3c4d5e01", "windows");
    assert_string_equal(tu_str(o, "workstation"), "WS-RENAMED");
    assert_int_equal(tu_int(o, "license_status"), 5);
    assert_int_equal(tu_int(o, "requests"), 4);
    assert_int_equal(iso_secs(o, "first_seen"), t);
    assert_int_equal(iso_secs(o, "last_seen"), t + 100);
    json_decref(arr);

    /* not a py-kms database, and a missing file */
    r = run_cli("import-pykms", db, "--db", db, NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "not a readable py-kms database"));
    run_free(&r);
    tmp_path(old, sizeof old, "no-such-pykms.db");
    r = run_cli("import-pykms", old, "--db", db, NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
}


/* ---- backup and restore ---- */

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void side_path(char *out, size_t cap, const char *path, const char *side)
{
    int n = snprintf(out, cap, "%s%s", path, side);
    assert_true(n > 0 && (size_t)n < cap);
}

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(in >= 0 && out >= 0);
    char buf[8192];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    close(out);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char *t = slurp_fd(fd);
    close(fd);
    return t;
}

/* Whether the temporary directory holds a file whose name starts with prefix (a temporary copy left behind). */
static bool left_over(const char *prefix)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    bool found = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        found = found || strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return found;
}

/* The header's file format bytes (18, 19): 1 rollback journal, 2 WAL. */
static int header_format(const char *path)
{
    unsigned char h[20];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, h, sizeof h), (ssize_t)sizeof h);
    close(fd);
    assert_int_equal(h[18], h[19]);
    return h[18];
}

/* kmsd backup while the registry is open for writing and its last rows are only in the -wal: the copy has them, is
 * one file in rollback-journal mode, checks, keeps the schema version and auto_vacuum, is 0600; an existing FILE is
 * replaced only with --force; errors for a missing registry, a missing or unusable directory, and FILE naming the
 * registry; nothing is left behind when it fails. */
static void backup_command(void **state)
{
    (void)state;
    char db[512], bk[512], wal[512], main_only[512];
    make_db(db, sizeof db, "bk-live.db");
    struct store *s = NULL;
    char err[256];
    assert_int_equal(store_open(db, &s, err, sizeof err), 0); /* kept open: what it writes stays in the -wal */
    struct store_record d = rec("dddddddd-0000-4000-8000-000000000004", APP_WIN, "delta", "Windows 10/11 Pro",
                                (int64_t)time(NULL));
    assert_int_equal(store_write(s, &d, 1), 0);
    side_path(wal, sizeof wal, db, "-wal");
    struct stat st;
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size > 0);
    /* the database file alone (what `cp kmsd.db` takes) lacks the row still in the -wal */
    tmp_path(main_only, sizeof main_only, "bk-main-only.db");
    copy_file(db, main_only);
    assert_int_equal(sqltest_int(main_only, "SELECT count(*) FROM clients"), 3);

    tmp_path(bk, sizeof bk, "bk-copy.db");
    unlink(bk);
    struct run r = run_cli("backup", bk, "--db", db, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    {
        char want[64];
        snprintf(want, sizeof want, "4 client rows, schema %d", STORE_SCHEMA_VERSION);
        assert_non_null(strstr(r.out, want));
    }
    run_free(&r);
    char side[512];
    side_path(side, sizeof side, bk, "-wal");
    assert_false(exists(side));
    side_path(side, sizeof side, bk, "-journal");
    assert_false(exists(side));
    assert_int_equal(header_format(bk), 1); /* needs no -wal */
    assert_int_equal(stat(bk, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(sqltest_int(bk, "SELECT count(*) FROM clients"), 4);
    assert_int_equal(sqltest_int(bk, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
    assert_int_equal(sqltest_int(bk, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(sqltest_int(bk, "PRAGMA auto_vacuum"), 2);
    assert_int_equal(sqltest_int(bk, "SELECT value FROM stats WHERE key = 'requests'"), 5);
    assert_false(left_over(".bk-copy.db.tmp-"));

    /* an existing FILE: refused without --force and left as it was; replaced with it */
    write_text(bk, "precious");
    r = run_cli("backup", bk, "--db", db, NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "exists; --force replaces it"));
    run_free(&r);
    char *t = read_text(bk);
    assert_string_equal(t, "precious");
    free(t);
    r = run_cli("backup", "--force", bk, "--db", db, NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);
    assert_int_equal(sqltest_int(bk, "SELECT count(*) FROM clients"), 4);
    store_close(s);

    /* errors */
    char missing[512], nodir[512], notdir[512], sub[512];
    tmp_path(missing, sizeof missing, "bk-no-registry.db");
    r = run_cli("backup", bk, "--force", "--db", missing, NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "no registry at"));
    run_free(&r);
    assert_false(exists(missing));
    tmp_path(nodir, sizeof nodir, "bk-no-dir/copy.db");
    r = run_cli("backup", nodir, "--db", db, NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "does not exist"));
    run_free(&r);
    side_path(notdir, sizeof notdir, bk, "/copy.db"); /* under a regular file */
    r = run_cli("backup", notdir, "--db", db, NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "is not a directory"));
    run_free(&r);
    tmp_path(sub, sizeof sub, "bk-sub");
    assert_int_equal(mkdir(sub, 0700), 0);
    r = run_cli("backup", sub, "--force", "--db", db, NULL); /* FILE is a directory */
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "not a regular file"));
    run_free(&r);
    if (geteuid() != 0) { /* root writes anywhere */
        char ro[512];
        assert_int_equal(chmod(sub, 0500), 0);
        side_path(ro, sizeof ro, sub, "/copy.db");
        r = run_cli("backup", ro, "--db", db, NULL);
        assert_int_equal(r.rc, 1);
        assert_non_null(strstr(r.err, "cannot write in"));
        run_free(&r);
        assert_int_equal(chmod(sub, 0700), 0);
    }
    assert_int_equal(rmdir(sub), 0);
    r = run_cli("backup", db, "--force", "--db", db, NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "is the registry"));
    run_free(&r);
    r = run_cli("backup", wal, "--force", "--db", db, NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = run_cli("backup", "--db", db, NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "missing FILE"));
    run_free(&r);
    r = run_cli("clients", "--db", db, "--force", NULL); /* --force is backup's */
    assert_int_equal(r.rc, 2);
    run_free(&r);
    /* a file that is no kmsd registry is not backed up */
    char foreign[512];
    tmp_path(foreign, sizeof foreign, "bk-foreign.db");
    unlink(foreign);
    sqltest_exec(foreign, "CREATE TABLE t (x)");
    r = run_cli("backup", bk, "--force", "--db", foreign, NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "not a kmsd registry"));
    run_free(&r);
    assert_int_equal(sqltest_int(bk, "SELECT count(*) FROM clients"), 4); /* untouched */
    assert_false(left_over(".bk-copy.db.tmp-"));
}

/* Makes the registry at path what schema 2 left (no summary table, triggers or sort indexes, no last_host). */
static void make_v2(const char *path)
{
    sqltest_schema6(path);
    sqltest_exec(path, "DROP TRIGGER IF EXISTS summary_insert; DROP TRIGGER summary_delete; DROP TRIGGER summary_update;"
                       " DROP TABLE summary; DROP INDEX clients_first_seen; DROP INDEX clients_workstation;"
                       " DROP INDEX clients_product; ALTER TABLE clients DROP COLUMN last_host;"
                       " PRAGMA user_version = 2");
}

/* kmsd restore: refused while the registry's lock is held (a running kmsd), for a FILE that is no sound kmsd
 * registry, and while an earlier restore's files are in the way, each time with the registry untouched; else the
 * registry, its -wal and its activation journal move to <db>.before-restore, the stale -shm goes, and the backup
 * takes its place; to a fresh path; a backup of schema 2 is restored as it is and migrates when opened; a FILE
 * copied with its -wal is read with it, and one without is read without leaving files beside it. */
static void restore_command(void **state)
{
    (void)state;
    char db[512], other[512], bk[512], p[512], lock[512];
    make_db(db, sizeof db, "rs-live.db"); /* 3 rows */
    make_db(other, sizeof other, "rs-other.db");
    struct run r = run_cli("clients", "--db", other, "--delete", CMID_C, NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);
    tmp_path(bk, sizeof bk, "rs-backup.db");
    unlink(bk);
    r = run_cli("backup", bk, "--db", other, NULL); /* 2 rows */
    assert_int_equal(r.rc, 0);
    run_free(&r);
    /* what a crashed kmsd leaves beside its registry */
    side_path(p, sizeof p, db, "-wal");
    write_text(p, "old wal");
    side_path(p, sizeof p, db, "-shm");
    write_text(p, "old shm");
    side_path(p, sizeof p, db, STORE_JOURNAL_SUFFIX "0");
    write_text(p, "unfolded records");
    side_path(p, sizeof p, db, STORE_JOURNAL_SUFFIX "1");
    write_text(p, "");

    /* a kmsd holds the registry's lock */
    side_path(lock, sizeof lock, db, PIDLOCK_REGISTRY_SUFFIX);
    pid_t holder = 0;
    int fd = pidlock_acquire(lock, &holder);
    assert_true(fd >= 0);
    r = run_cli("restore", bk, "--db", db, NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "a kmsd is running on the registry"));
    char pid[32];
    snprintf(pid, sizeof pid, "(PID %ld)", (long)getpid());
    assert_non_null(strstr(r.err, pid));
    run_free(&r);
    close(fd);
    side_path(p, sizeof p, db, ".before-restore");
    assert_false(exists(p));

    /* FILE is no sound kmsd registry: garbage, a foreign database, a schema without its tables, a broken index */
    char bad[512];
    tmp_path(bad, sizeof bad, "rs-garbage.db");
    write_text(bad, "this is not a database, not even close to one; it is text long enough to be read as a header"
                    " of some kind by a reader that does not look closely at what it reads at all");
    r = run_cli("restore", bad, "--db", db, NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "not a registry this kmsd can restore"));
    run_free(&r);
    tmp_path(bad, sizeof bad, "rs-foreign.db");
    unlink(bad);
    sqltest_exec(bad, "CREATE TABLE t (x)");
    r = run_cli("restore", bad, "--db", db, NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "not a kmsd registry"));
    run_free(&r);
    tmp_path(bad, sizeof bad, "rs-tableless.db");
    unlink(bad);
    sqltest_exec(bad, "CREATE TABLE clients (x); PRAGMA user_version = 2");
    r = run_cli("restore", bad, "--db", db, NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "without its table stats"));
    run_free(&r);
    tmp_path(bad, sizeof bad, "rs-broken.db");
    copy_file(bk, bad);
    sqltest_exec(bad, "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql ="
                      " 'CREATE INDEX clients_product ON clients (workstation)' WHERE name = 'clients_product'");
    r = run_cli("restore", bad, "--db", db, NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "integrity check failed"));
    run_free(&r);
    tmp_path(bad, sizeof bad, "rs-none.db");
    r = run_cli("restore", bad, "--db", db, NULL);
    assert_int_equal(r.rc, 1);
    run_free(&r);
    r = run_cli("restore", db, "--db", db, NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "is the registry"));
    run_free(&r);
    assert_false(exists(p)); /* nothing moved */
    assert_false(left_over(".rs-live.db.restore-"));
    side_path(p, sizeof p, db, STORE_JOURNAL_SUFFIX "0");
    char *t = read_text(p);
    assert_string_equal(t, "unfolded records");
    free(t);

    /* the restore */
    r = run_cli("restore", bk, "--db", db, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    {
        char want[64];
        snprintf(want, sizeof want, "2 client rows, schema %d", STORE_SCHEMA_VERSION);
        assert_non_null(strstr(r.out, want));
    }
    assert_non_null(strstr(r.out, ".before-restore"));
    run_free(&r);
    assert_int_equal(sqltest_int(db, "SELECT count(*) FROM clients"), 2);
    side_path(p, sizeof p, db, ".before-restore");
    assert_int_equal(sqltest_int(p, "SELECT count(*) FROM clients"), 3);
    side_path(p, sizeof p, db, ".before-restore-wal");
    assert_false(exists(p)); /* opening the old registry above found "old wal" no WAL and removed it */
    side_path(p, sizeof p, db, ".before-restore" STORE_JOURNAL_SUFFIX "0");
    t = read_text(p);
    assert_string_equal(t, "unfolded records"); /* its records stay with it */
    free(t);
    side_path(p, sizeof p, db, STORE_JOURNAL_SUFFIX "0");
    assert_false(exists(p)); /* none left to be folded into the backup */
    side_path(p, sizeof p, db, STORE_JOURNAL_SUFFIX "1");
    assert_false(exists(p));
    side_path(p, sizeof p, db, ".before-restore" STORE_JOURNAL_SUFFIX "1");
    assert_false(exists(p)); /* an empty one is not kept */
    side_path(p, sizeof p, db, "-shm");
    assert_false(exists(p));
    assert_false(left_over(".rs-live.db.restore-"));
    struct stat st;
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* an earlier restore's registry is in the way: refused, the registry untouched */
    r = run_cli("restore", bk, "--db", db, NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "from an earlier restore"));
    run_free(&r);
    assert_int_equal(sqltest_int(db, "SELECT count(*) FROM clients"), 2);

    /* a FILE whose name needs escaping in the URI SQLite reads a file at rest through, and one starting "//" */
    char odd[512], fresh2[512], slashes[520];
    tmp_path(odd, sizeof odd, "rs odd ?#%name&immutable=0.db");
    copy_file(bk, odd);
    tmp_path(fresh2, sizeof fresh2, "rs-fresh2.db");
    unlink(fresh2);
    r = run_cli("restore", odd, "--db", fresh2, NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);
    assert_int_equal(sqltest_int(fresh2, "SELECT count(*) FROM clients"), 2);
    unlink(fresh2);
    assert_true(odd[0] == '/');
    snprintf(slashes, sizeof slashes, "/%s", odd);
    r = run_cli("restore", slashes, "--db", fresh2, NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);
    assert_int_equal(sqltest_int(fresh2, "SELECT count(*) FROM clients"), 2);

    /* to a fresh path; the registry's directory must exist */
    char fresh[512];
    tmp_path(fresh, sizeof fresh, "rs-fresh.db");
    unlink(fresh);
    r = run_cli("restore", bk, "--db", fresh, NULL);
    assert_int_equal(r.rc, 0);
    assert_null(strstr(r.out, "before-restore"));
    run_free(&r);
    assert_int_equal(sqltest_int(fresh, "SELECT count(*) FROM clients"), 2);
    tmp_path(p, sizeof p, "rs-no-dir/kmsd.db");
    r = run_cli("restore", bk, "--db", p, NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "does not exist"));
    run_free(&r);

    /* run as root into a directory another user owns (systemd's DynamicUser owns /var/lib/kmsd): the registry and
     * its lock file are that user's */
    if (geteuid() == 0) {
        char owned[512], odb[512], olock[512];
        tmp_path(owned, sizeof owned, "rs-owned");
        assert_int_equal(mkdir(owned, 0700), 0);
        assert_int_equal(chown(owned, 65534, 65534), 0);
        side_path(odb, sizeof odb, owned, "/kmsd.db");
        r = run_cli("restore", bk, "--db", odb, NULL);
        assert_int_equal(r.rc, 0);
        run_free(&r);
        side_path(olock, sizeof olock, odb, PIDLOCK_REGISTRY_SUFFIX);
        assert_int_equal(stat(odb, &st), 0);
        assert_true(st.st_uid == 65534 && st.st_gid == 65534);
        assert_int_equal(stat(olock, &st), 0);
        assert_true(st.st_uid == 65534 && st.st_gid == 65534);
        assert_int_equal(unlink(odb), 0);
        assert_int_equal(unlink(olock), 0);
        assert_int_equal(rmdir(owned), 0);
    }

    /* a backup of schema 2: restored as it is, migrated when opened */
    char v2[512], v2bk[512], v2db[512];
    make_db(v2, sizeof v2, "rs-v2.db");
    make_v2(v2);
    tmp_path(v2bk, sizeof v2bk, "rs-v2-backup.db");
    unlink(v2bk);
    r = run_cli("backup", v2bk, "--db", v2, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "schema 2"));
    run_free(&r);
    tmp_path(v2db, sizeof v2db, "rs-v2-restored.db");
    unlink(v2db);
    r = run_cli("restore", v2bk, "--db", v2db, NULL);
    assert_int_equal(r.rc, 0);
    {
        char want[64];
        snprintf(want, sizeof want, "migrates it to schema %d", STORE_SCHEMA_VERSION);
        assert_non_null(strstr(r.out, want));
    }
    run_free(&r);
    assert_int_equal(sqltest_int(v2db, "PRAGMA user_version"), 2);
    struct store *s = NULL;
    char err[256];
    assert_int_equal(store_open(v2db, &s, err, sizeof err), 0);
    store_close(s);
    assert_int_equal(sqltest_int(v2db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(sqltest_int(v2db, "SELECT total(n) FROM summary"), 3);

    /* FILE copied with its -wal (rows only there) is read with it; one in WAL mode without a -wal is read without
     * leaving a -wal or -shm beside it */
    char raw[512], rawdb[512], src[512];
    make_db(src, sizeof src, "rs-raw-src.db");
    assert_int_equal(store_open(src, &s, err, sizeof err), 0);
    struct store_record d = rec("dddddddd-0000-4000-8000-000000000004", APP_WIN, "delta", "Windows 10/11 Pro",
                                (int64_t)time(NULL));
    assert_int_equal(store_write(s, &d, 1), 0);
    tmp_path(raw, sizeof raw, "rs-raw.db");
    copy_file(src, raw);
    side_path(p, sizeof p, src, "-wal");
    char rawwal[512];
    side_path(rawwal, sizeof rawwal, raw, "-wal");
    copy_file(p, rawwal);
    store_close(s);
    tmp_path(rawdb, sizeof rawdb, "rs-raw-restored.db");
    unlink(rawdb);
    r = run_cli("restore", raw, "--db", rawdb, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "4 client rows"));
    run_free(&r);
    unlink(rawwal);
    side_path(p, sizeof p, raw, "-shm");
    unlink(p);
    assert_int_equal(header_format(raw), 2); /* in WAL mode, without a -wal now */
    unlink(rawdb);
    r = run_cli("restore", raw, "--db", rawdb, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "3 client rows"));
    run_free(&r);
    assert_false(exists(rawwal));
    assert_false(exists(p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clients_json),
        cmocka_unit_test(clients_csv),
        cmocka_unit_test(clients_table),
        cmocka_unit_test(clients_delete_and_prune), cmocka_unit_test(clients_vacuum),
        cmocka_unit_test(stats_command),
        cmocka_unit_test(usage_and_open_errors),
        cmocka_unit_test(import_pykms),
        cmocka_unit_test(backup_command),
        cmocka_unit_test(restore_command),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
