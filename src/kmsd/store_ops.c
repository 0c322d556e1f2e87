/*
 * store_ops — what the registry does alike on both engines, written once over the engine primitives of
 * store_internal.h (SQLite's in store_write.c, PostgreSQL's in store_pg_write.c): the application groups and count
 * limits, the summary of new clients, a batch's statistics, merging, deleting, pruning in chunks, the host statistics
 * and the copy of counters. What differs by engine — the recording of activations, the genuine count's query — stays
 * with the engine.
 */
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms.h"
#include "prefault.h"
#include "products.h"
#include "timeutil.h"

enum store_app_group store_app_group_of(const struct guid *app_id)
{
    const struct products_app *a = products_app_by_id(app_id);
    return a && a->count_group < STORE_APP_OTHER ? (enum store_app_group)a->count_group : STORE_APP_OTHER;
}

/* The application whose count group is g, or NULL for STORE_APP_OTHER. One snapshot of the product table: the
 * writer thread and the HTTP lanes call this while a reload may swap it (products.h). */
static const struct products_app *group_app(enum store_app_group g)
{
    const struct products_tables *t = products_current();
    for (size_t i = 0; i < t->app_count; i++)
        if (t->apps[i].count_group == (uint32_t)g && g != STORE_APP_OTHER)
            return &t->apps[i];
    return NULL;
}

const char *store_app_group_key(enum store_app_group g)
{
    const struct products_app *a = group_app(g);
    return a ? a->key : "other";
}

const char *store_app_group_label(enum store_app_group g)
{
    const struct products_app *a = group_app(g);
    return a ? a->group_label : "other";
}

uint32_t store_count_limit(enum store_app_group g)
{
    const struct products_tables *t = products_current();
    uint64_t cap = 0;
    for (size_t i = 0; i < t->kms_count; i++) {
        const struct products_kms *k = &t->kms[i];
        bool mine = g == STORE_APP_OTHER || (k->app && k->app->count_group == (uint32_t)g);
        if (mine && 2ull * k->n_policy > cap)
            cap = 2ull * k->n_policy;
    }
    if (cap == 0)
        cap = 1;
    return cap > STORE_COUNT_LIMIT_MAX ? STORE_COUNT_LIMIT_MAX : (uint32_t)cap;
}

void store_set_host(struct store *s, const char *name)
{
    snprintf(s->host, sizeof s->host, "%s", name ? name : "");
}

/* ---- new clients into the summary, once per batch ---- */

static int summary_cmp(const void *a, const void *b)
{
    const struct store_summary_key *x = a, *y = b;
    if (x->group != y->group)
        return (x->group > y->group) - (x->group < y->group);
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->product, y->product, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

int store_summary_flush(struct store *s, struct store_summary_acc *a)
{
    /* in one order: hosts sharing a PostgreSQL registry lock its rows alike */
    qsort(a->k, a->n, sizeof a->k[0], summary_cmp);
    int ret = 0;
    for (size_t i = 0; i < a->n && !ret; i++)
        ret = store_summary_add(s, a->k[i].group, a->k[i].product, a->k[i].len, a->k[i].n);
    a->n = 0;
    return ret;
}

int store_summary_note(struct store *s, struct store_summary_acc *a, const struct guid *app_id, const char *product,
                       size_t cap)
{
    int g = (int)store_app_group_of(app_id);
    size_t len = strnlen(product, cap);
    for (size_t i = 0; i < a->n; i++)
        if (a->k[i].group == g && a->k[i].len == len && memcmp(a->k[i].product, product, len) == 0) {
            a->k[i].n++;
            return 0;
        }
    int ret = a->n == STORE_SUMMARY_KEYS ? store_summary_flush(s, a) : 0;
    if (!ret)
        a->k[a->n++] = (struct store_summary_key){g, product, len, 1};
    return ret;
}

/* ---- a batch of activations ---- */

int64_t store_day_of(int64_t t)
{
    return t >= 0 ? t / SECONDS_PER_DAY : -((-t + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY);
}

/* Orders records by client key (store_client_key, then cmid and application: one order on every host), keeping
 * their given order within a client: the upserts of a batch then walk the key's index once, in order, instead of
 * at random (the fold's main cost at large batches, docs/performance.md); on PostgreSQL, hosts sharing a registry
 * also lock its rows in one order. */
static int by_key(const void *a, const void *b)
{
    const struct store_keyed *x = a, *y = b;
    int c = (x->key > y->key) - (x->key < y->key);
    if (!c)
        c = memcmp(x->r->cmid.b, y->r->cmid.b, sizeof x->r->cmid.b);
    if (!c)
        c = memcmp(x->r->app_id.b, y->r->app_id.b, sizeof x->r->app_id.b);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

struct store_keyed *store_by_key(const struct store_record *recs, size_t n)
{
    struct store_keyed *k = malloc((n ? n : 1) * sizeof *k);
    if (!k)
        return NULL;
    prefault(k, n * sizeof *k); /* a full batch's is mapped afresh each fold */
    for (size_t i = 0; i < n; i++)
        k[i] = (struct store_keyed){&recs[i], i, store_client_key(&recs[i].cmid, &recs[i].app_id)};
    qsort(k, n, sizeof *k, by_key);
    return k;
}

static bool same_client(const struct store_record *a, const struct store_record *b)
{
    return memcmp(a->cmid.b, b->cmid.b, sizeof a->cmid.b) == 0 && memcmp(a->app_id.b, b->app_id.b, sizeof a->app_id.b) == 0;
}

size_t store_coalesce(const struct store_keyed *k, size_t from, size_t n, struct store_coalesced *out)
{
    const struct store_record *f = k[from].r;
    *out = (struct store_coalesced){f, f->time, f->time, 0, false, f->epid};
    size_t i = from;
    do {
        const struct store_record *r = k[i].r;
        out->last = r;
        out->n++;
        if (r->time < out->first)
            out->first = r->time;
        if (r->time > out->latest)
            out->latest = r->time;
        if (r->hresult == 0) {
            out->answered = true;
            out->epid = r->epid;
        }
    } while (++i < n && same_client(f, k[i].r));
    return i;
}

static int daily_add(void *ctx, int64_t day, uint64_t answered, uint64_t refused)
{
    return store_daily_op(ctx, false, day, answered, refused);
}

int store_add_statistics(struct store *s, const struct store_record *recs, size_t n)
{
    if (n == 0)
        return 0;
    uint64_t failed = 0, by_status[KMS_LICENSE_STATUS_COUNT] = {0};
    /* the daily counts once per run of records of one UTC day, in the given (time) order: a batch is usually one */
    int64_t day = store_day_of(recs[0].time);
    uint64_t answered = 0, refused = 0;
    int ret = 0;
    for (size_t i = 0; i < n && !ret; i++) {
        int64_t d = store_day_of(recs[i].time);
        if (d != day) {
            ret = answered || refused ? daily_add(s, day, answered, refused) : 0;
            day = d;
            answered = refused = 0;
        }
        if (recs[i].hresult != 0) {
            failed++;
            refused++;
        } else {
            answered++;
        }
        if (recs[i].license_status < KMS_LICENSE_STATUS_COUNT)
            by_status[recs[i].license_status]++;
    }
    if (!ret && (answered || refused))
        ret = daily_add(s, day, answered, refused);
    if (!ret)
        ret = store_stat_op(s, STORE_STAT_ADD, "requests", n);
    if (!ret)
        ret = store_stat_op(s, STORE_STAT_ADD, "failed", failed);
    for (size_t k = 0; k < KMS_LICENSE_STATUS_COUNT && !ret; k++)
        ret = store_stat_op(s, STORE_STAT_ADD, store_stat_status_keys[k], by_status[k]);
    return ret;
}

void store_journal_key(const struct store *s, char *out, size_t cap)
{
    if (s->pg && s->host[0]) /* each host sharing a registry has its own journal */
        snprintf(out, cap, "%s@%s", STORE_STAT_JOURNAL_SEQ, s->host);
    else
        snprintf(out, cap, "%s", STORE_STAT_JOURNAL_SEQ);
}

int store_journal_seq(struct store *s, uint64_t *seq)
{
    char key[sizeof STORE_STAT_JOURNAL_SEQ + STORE_HOST_MAX + 2];
    store_journal_key(s, key, sizeof key);
    int64_t v = 0;
    int ret = store_stat_one(s, key, &v);
    *seq = (uint64_t)v;
    return ret;
}

int store_write_folded(struct store *s, const struct store_record *recs, size_t n, uint64_t journal_seq)
{
    if (n == 0 && journal_seq == 0)
        return 0;
    int ret = store_batch_begin(s);
    if (ret)
        return ret;
    ret = store_batch_add(s, recs, n);
    if (ret) {
        store_batch_abort(s);
        return ret;
    }
    return store_batch_commit(s, journal_seq);
}

int store_write(struct store *s, const struct store_record *recs, size_t n)
{
    return store_write_folded(s, recs, n, 0);
}

/* ---- rows from elsewhere, deletions, pruning ---- */

int store_merge(struct store *s, const struct store_client *rows, size_t n, uint64_t *changed)
{
    *changed = 0;
    if (n == 0)
        return 0;
    uint8_t *flags = malloc(n);
    if (!flags) {
        snprintf(s->err, sizeof s->err, "out of memory");
        return -ENOMEM;
    }
    int ret = store_tx_write(s);
    if (ret) {
        free(flags);
        return ret;
    }
    uint64_t count = 0;
    struct store_summary_acc a = {.n = 0};
    ret = store_merge_rows(s, rows, n, flags);
    for (size_t i = 0; i < n && !ret; i++) {
        count += (flags[i] & STORE_ROW_CHANGED) != 0;
        if (flags[i] & STORE_ROW_INSERTED)
            ret = store_summary_note(s, &a, &rows[i].app_id, rows[i].product, sizeof rows[i].product);
    }
    free(flags);
    if (!ret)
        ret = store_summary_flush(s, &a);
    if (!ret)
        ret = store_stat_op(s, STORE_STAT_ADD, STORE_STAT_ROWS_CHANGED, count);
    if ((ret = store_tx_end(s, ret, "cannot commit")) == 0)
        *changed = count;
    return ret;
}

int store_delete_client(struct store *s, const struct guid *cmid, uint64_t *deleted)
{
    *deleted = 0;
    int ret = store_tx_write(s);
    if (ret)
        return ret;
    uint64_t n = 0;
    ret = store_delete_rows(s, cmid, &n);
    if (!ret)
        ret = store_stat_op(s, STORE_STAT_ADD, STORE_STAT_ROWS_CHANGED, n);
    if ((ret = store_tx_end(s, ret, "cannot commit")) == 0)
        *deleted = n;
    return ret;
}

int store_prune_step(struct store *s, int64_t now, uint32_t retention_days, uint64_t row_cap, uint32_t chunk,
                     uint64_t *deleted, bool *more)
{
    *deleted = 0;
    *more = false;
    if (chunk == 0)
        chunk = STORE_PRUNE_CHUNK;
    int ret = store_tx_write(s);
    if (ret)
        return ret;
    uint64_t n = 0, rows = 0;
    ret = store_prune_rows(s, true, now - (int64_t)retention_days * SECONDS_PER_DAY, chunk, &n);
    if (!ret && n < chunk)
        ret = store_row_count(s, &rows);
    if (!ret && n < chunk && rows > row_cap) {
        uint64_t excess = rows - row_cap, room = chunk - n, k = 0;
        ret = store_prune_rows(s, false, 0, excess < room ? excess : room, &k);
        n += k;
        *more = excess > room;
    } else if (!ret && n == chunk) {
        *more = true;
    }
    if (!ret)
        ret = store_stat_op(s, STORE_STAT_ADD, STORE_STAT_ROWS_CHANGED, n);
    if ((ret = store_tx_end(s, ret, "cannot commit")) != 0) {
        *more = false;
        return ret;
    }
    *deleted = n;
    return 0;
}

int store_prune(struct store *s, int64_t now, uint32_t retention_days, uint64_t row_cap, uint64_t *deleted)
{
    *deleted = 0;
    bool more = true;
    while (more) { /* bounded: a step that deletes nothing ends it, and the table is finite */
        uint64_t n = 0;
        int ret = store_prune_step(s, now, retention_days, row_cap, STORE_PRUNE_CHUNK, &n, &more);
        if (ret)
            return ret;
        *deleted += n;
        if (n == 0)
            break;
    }
    return 0;
}

/* ---- host statistics ---- */

const char *store_counter_key(size_t i, const struct store_stats *st, uint64_t *v)
{
    static const char *const first[] = {"requests", "failed", "unrecorded"};
    const uint64_t fv[] = {st->requests, st->failed, st->unrecorded};
    if (i < 3) {
        *v = fv[i];
        return first[i];
    }
    *v = st->by_status[i - 3];
    return store_stat_status_keys[i - 3];
}

/* One stats row into the counter it holds (other keys, such as journal_seq, are no counter). */
static int take_counter(void *ctx, const char *key, uint64_t v)
{
    struct store_stats *out = ctx;
    uint64_t *field[STORE_COUNTER_KEYS] = {&out->requests, &out->failed, &out->unrecorded};
    for (size_t k = 0; k < KMS_LICENSE_STATUS_COUNT; k++)
        field[3 + k] = &out->by_status[k];
    for (size_t i = 0; i < STORE_COUNTER_KEYS; i++) {
        uint64_t ignored;
        if (strcmp(key, store_counter_key(i, out, &ignored)) == 0)
            *field[i] = v;
    }
    return 0;
}

int store_stats_get(struct store *s, int64_t now, struct store_stats *out)
{
    memset(out, 0, sizeof *out);
    /* one read transaction, so the counters and counts come from the same snapshot */
    int ret = store_tx_read(s);
    if (ret)
        return ret;
    ret = store_stat_rows(s, take_counter, out);
    if (!ret)
        ret = store_row_count(s, &out->clients);
    for (int g = 0; g < STORE_APP_GROUPS && !ret; g++)
        ret = store_active_count(s, (enum store_app_group)g, now, STORE_COUNT_WINDOW_DAYS, &out->current_count[g]);
    return store_tx_end(s, ret, "cannot end the transaction");
}

int store_counters_raise(struct store *s, const struct store_stats *st, const struct store_day *days, size_t n)
{
    int ret = store_tx_write(s);
    for (size_t i = 0; i < STORE_COUNTER_KEYS && !ret; i++) {
        uint64_t v = 0;
        const char *key = store_counter_key(i, st, &v);
        ret = store_stat_op(s, STORE_STAT_RAISE, key, v);
    }
    for (size_t i = 0; i < n && !ret; i++)
        ret = store_daily_op(s, true, days[i].day, days[i].answered, days[i].refused);
    return store_tx_end(s, ret, "cannot commit");
}

int store_note_unrecorded(struct store *s, uint64_t n)
{
    int ret = store_tx_write(s);
    if (ret)
        return ret;
    return store_tx_end(s, store_stat_op(s, STORE_STAT_ADD, "unrecorded", n), "cannot commit");
}
