/*
 * kmsd migrate --from DB --to DB: a registry copied to another, between engines (a SQLite file and a PostgreSQL
 * database, either way) or between two of one engine. Rows go through store_merge (a row already there keeps what is
 * newer), the statistics through store_counters_raise (each counter and day at least the source's), so a second run
 * changes nothing and a run into a registry in use adds without losing. Then every source row is looked up in the
 * destination and the counts that agree are printed (docs/deploy.md, "From one host to several").
 */
#include "cli_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guid.h"
#include "timeutil.h"

/* What the copy pass gathers: a chunk of rows for the next merge. */
struct copy {
    struct store *dst;
    struct store_client *rows;
    size_t n;
    uint64_t read, changed;
    int err;
};

static int copy_flush(struct copy *c)
{
    uint64_t changed = 0;
    if (c->n && !c->err) {
        c->err = store_merge(c->dst, c->rows, c->n, &changed);
        c->changed += changed;
    }
    c->n = 0;
    return c->err;
}

static int copy_row(void *ctx, const struct store_client *r)
{
    struct copy *c = ctx;
    c->rows[c->n++] = *r;
    c->read++;
    return c->n == CLI_IMPORT_CHUNK ? copy_flush(c) : 0;
}

/* The destination's rows, sorted by key, for the check. */
struct key_row {
    uint8_t key[32]; /* cmid, application */
    int64_t last_seen;
    uint64_t requests;
};
struct keys {
    struct key_row *k;
    size_t n, cap;
    bool oom;
};

/* The next of *n elements of size bytes in *arr, room made for it (doubling from first) and counted; NULL, with *oom
 * set, when out of memory. */
static void *push(void **arr, size_t *n, size_t *cap, size_t size, size_t first, bool *oom)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : first;
        void *p = realloc(*arr, c * size);
        if (!p) {
            *oom = true;
            return NULL;
        }
        *arr = p;
        *cap = c;
    }
    return (char *)*arr + (*n)++ * size;
}

static void key_of(const struct store_client *c, uint8_t key[32])
{
    memcpy(key, c->cmid.b, 16);
    memcpy(key + 16, c->app_id.b, 16);
}

static int collect_key(void *ctx, const struct store_client *c)
{
    struct keys *k = ctx;
    void *arr = k->k;
    struct key_row *r = push(&arr, &k->n, &k->cap, sizeof *r, 4096, &k->oom);
    k->k = arr;
    if (!r)
        return 1;
    key_of(c, r->key);
    r->last_seen = c->last_seen;
    r->requests = c->request_count;
    return 0;
}

static int by_key(const void *a, const void *b)
{
    return memcmp(((const struct key_row *)a)->key, ((const struct key_row *)b)->key, 32);
}

struct check {
    const struct keys *dst;
    uint64_t seen, found;
    struct guid first_missing;
};

static int check_row(void *ctx, const struct store_client *c)
{
    struct check *ch = ctx;
    struct key_row want;
    key_of(c, want.key);
    const struct key_row *got = bsearch(&want, ch->dst->k, ch->dst->n, sizeof want, by_key);
    ch->seen++;
    if (got && got->last_seen >= c->last_seen && got->requests >= c->request_count)
        ch->found++;
    else if (ch->seen - ch->found == 1)
        ch->first_missing = c->cmid;
    return 0;
}

struct days {
    struct store_day *d;
    size_t n, cap;
    bool oom;
};

static int collect_day(void *ctx, int64_t day, uint64_t answered, uint64_t refused)
{
    struct days *ds = ctx;
    void *arr = ds->d;
    struct store_day *d = push(&arr, &ds->n, &ds->cap, sizeof *d, 512, &ds->oom);
    ds->d = arr;
    if (!d)
        return 1;
    *d = (struct store_day){day, answered, refused};
    return 0;
}

/* Copies rows and statistics; 0 or a negative code with the message printed. */
static int copy_all(struct store *src, struct store *dst, int64_t now, struct copy *c, struct store_stats *st,
                    size_t *n_days)
{
    c->dst = dst;
    c->rows = malloc(CLI_IMPORT_CHUNK * sizeof *c->rows);
    if (!c->rows)
        return -ENOMEM;
    int rc = store_list(src, NULL, copy_row, c);
    if (!rc)
        rc = copy_flush(c);
    else if (c->err)
        rc = c->err;
    free(c->rows);
    if (rc) {
        fprintf(stderr, "kmsd migrate: cannot copy the rows: %s\n",
                store_errmsg(c->err ? dst : src));
        return rc;
    }
    struct days ds = {0};
    rc = store_stats_get(src, now, st);
    if (!rc)
        rc = store_daily(src, INT64_MIN / SECONDS_PER_DAY, INT64_MAX / SECONDS_PER_DAY, collect_day, &ds);
    if (!rc && ds.oom)
        rc = -ENOMEM;
    if (rc) {
        fprintf(stderr, "kmsd migrate: cannot read the statistics: %s\n", rc == -ENOMEM ? "out of memory" : store_errmsg(src));
        free(ds.d);
        return rc;
    }
    rc = store_counters_raise(dst, st, ds.d, ds.n);
    if (rc)
        fprintf(stderr, "kmsd migrate: cannot copy the statistics: %s\n", store_errmsg(dst));
    *n_days = ds.n;
    free(ds.d);
    return rc;
}

int cli_run_migrate(const struct opts *o, const char *db_path)
{
    (void)db_path;
    const char *from = cli_opt_value(o, O_FROM), *to = cli_opt_value(o, O_TO);
    if (!from || !to || !*from || !*to) {
        fprintf(stderr, "kmsd migrate: --from DB and --to DB are both needed"
                        " (a file path or a PostgreSQL connection string)\n");
        return EXIT_USAGE;
    }
    if (strcmp(from, to) == 0) {
        fprintf(stderr, "kmsd migrate: --from and --to name the same registry\n");
        return EXIT_USAGE;
    }
    struct store *src = NULL, *dst = NULL;
    int rc = cli_open_db(from, true, &src);
    if (rc)
        return rc;
    rc = cli_open_db(to, false, &dst);
    if (rc) {
        store_close(src);
        return rc;
    }
    int64_t now = (int64_t)time(NULL);
    struct copy c = {0};
    struct store_stats st;
    size_t n_days = 0;
    int ret = copy_all(src, dst, now, &c, &st, &n_days);
    struct keys k = {0};
    struct check ch = {&k, 0, 0, {{0}}};
    struct store_stats after;
    if (!ret) { /* the check: every source row in the destination, as new or newer; the counters at least as high */
        ret = store_list(dst, NULL, collect_key, &k);
        if (!ret && k.oom)
            ret = -ENOMEM;
        if (!ret) {
            qsort(k.k, k.n, sizeof *k.k, by_key);
            ret = store_list(src, NULL, check_row, &ch);
        }
        if (!ret)
            ret = store_stats_get(dst, now, &after);
        if (ret)
            fprintf(stderr, "kmsd migrate: cannot check the copy: %s\n", ret == -ENOMEM ? "out of memory" : store_errmsg(dst));
    }
    free(k.k);
    char shown_from[512], shown_to[512];
    store_redact(from, shown_from, sizeof shown_from);
    store_redact(to, shown_to, sizeof shown_to);
    rc = EXIT_FAIL;
    if (!ret) {
        printf("migrated %s to %s: %llu client rows read, %llu new or changed in the destination; checked: %llu of "
               "%llu rows there, %llu requests (source %llu), %zu days of counts\n",
               shown_from, shown_to, (unsigned long long)c.read, (unsigned long long)c.changed,
               (unsigned long long)ch.found, (unsigned long long)ch.seen, (unsigned long long)after.requests,
               (unsigned long long)st.requests, n_days);
        if (ch.found == ch.seen && after.requests >= st.requests) {
            rc = 0;
        } else {
            char g[GUID_TEXT_LEN + 1];
            guid_format(&ch.first_missing, g);
            fprintf(stderr, "kmsd migrate: %llu rows missing or older in the destination (the first: client %s)\n",
                    (unsigned long long)(ch.seen - ch.found), g);
        }
    }
    store_close(src);
    store_close(dst);
    return rc;
}
