/*
 * store_search — the API's search (`q`: a substring of a workstation name or of a CMID's text) from memory, for the
 * HTTP server's read connection (store_search_enable).
 *
 * A substring cannot use a B-tree index: in SQLite the search scanned the 35 MB lower(workstation) index of a
 * million clients for each page and again for its total, about 200 ms; an FTS5 trigram index answers faster but
 * costs 60 % more file and 36 µs per new client on the fold, which every activation would pay
 * (docs/performance.md). This keeps the lower-cased names (and, after the first search that could be part of a
 * CMID, the CMIDs' texts) of every row in one buffer and runs memmem over it: a few milliseconds at a million rows.
 * Nothing is paid per activation. The buffer is built at the first search (one scan of that index) and brought up
 * to date at each later one inside the same read transaction as the query, from the rows seen since
 * (last_seen's index; the writer sets last_seen on every row it writes). A row deleted since (pruning, DELETE)
 * shows as a row count that differs from the summary's, and the buffer is built again. It is freed once no search
 * used it for STORE_SEARCH_KEEP_MS (store_search_trim) and with the connection.
 *
 * The search's rows are handed to SQL as a JSON array of rowids (json_each) when they are few, so the page and the
 * total read only them; when they are many, as a function kmsd_q_has(rowid) tested while the page walks its sort
 * key's index (the page fills from the first entries) and by the count.
 */
#define _GNU_SOURCE /* memmem */
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guid.h"

#define SEG_DEAD UINT32_MAX
#define CMID_STRIDE (GUID_TEXT_LEN + 1) /* each CMID's text and a NUL, so that no match spans two */

struct store_search {
    size_t n, cap;        /* entries: one per row of clients */
    int64_t *rowid;       /* [cap] */
    uint32_t *ent_seg;    /* [cap] the entry's segment of text */
    size_t nseg, capseg;  /* segments of text, in text order; a renamed row gets a new one, its old one dies */
    uint32_t *seg_start;  /* [capseg] offset in text */
    uint32_t *seg_entry;  /* [capseg] its entry, or SEG_DEAD */
    char *text;           /* the lower-cased names, each followed by a NUL */
    size_t tlen, tcap, dead;
    uint32_t *hash;       /* rowid -> entry + 1 (0: empty), open addressing, hcap a power of two */
    size_t hcap;
    char *cmid;           /* [cap * CMID_STRIDE] the CMIDs' texts, or NULL until a search needs them */
    int64_t seen_upto;    /* the newest last_seen read */
    uint64_t used_ms;     /* the last search that used it */
    uint64_t *bits;       /* the last search's entries, a bit each */
    size_t bits_words;
};

static void search_free(struct store_search *x)
{
    if (!x)
        return;
    free(x->rowid);
    free(x->ent_seg);
    free(x->seg_start);
    free(x->seg_entry);
    free(x->text);
    free(x->hash);
    free(x->cmid);
    free(x->bits);
    free(x);
}

static size_t hash_slot(int64_t rowid, size_t hcap)
{
    uint64_t h = (uint64_t)rowid * 0x9E3779B97F4A7C15u;
    return (size_t)(h >> 32) & (hcap - 1);
}

/* The entry of rowid, or SIZE_MAX. */
static size_t entry_of(const struct store_search *x, int64_t rowid)
{
    if (!x->hcap)
        return SIZE_MAX;
    for (size_t i = hash_slot(rowid, x->hcap);; i = (i + 1) & (x->hcap - 1)) {
        uint32_t v = x->hash[i];
        if (!v)
            return SIZE_MAX;
        if (x->rowid[v - 1] == rowid)
            return v - 1;
    }
}

static void hash_put(struct store_search *x, size_t e)
{
    size_t i = hash_slot(x->rowid[e], x->hcap);
    while (x->hash[i])
        i = (i + 1) & (x->hcap - 1);
    x->hash[i] = (uint32_t)e + 1;
}

/* Grows an array of *cap elements of size sz to hold need. 0 or -ENOMEM. */
static int grow(void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * sz);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Room for need entries in the per-entry arrays (which share cap: grow() reaches the same size from the same one). */
static int entries_room(struct store_search *x, size_t need)
{
    if (need <= x->cap)
        return 0;
    void *r = x->rowid, *g = x->ent_seg, *c = x->cmid;
    size_t c1 = x->cap, c2 = x->cap, c3 = x->cap;
    int ret = grow(&r, &c1, need, sizeof *x->rowid);
    x->rowid = r;
    if (!ret)
        ret = grow(&g, &c2, need, sizeof *x->ent_seg);
    x->ent_seg = g;
    if (!ret && c)
        ret = grow(&c, &c3, need, CMID_STRIDE);
    x->cmid = c;
    if (ret)
        return ret; /* the caller frees the whole search */
    x->cap = c1;
    return 0;
}

static int rehash(struct store_search *x, size_t need)
{
    if (need * 2 <= x->hcap)
        return 0;
    size_t h = x->hcap ? x->hcap : 2048;
    while (h < need * 2)
        h *= 2;
    uint32_t *t = calloc(h, sizeof *t);
    if (!t)
        return -ENOMEM;
    free(x->hash);
    x->hash = t;
    x->hcap = h;
    for (size_t e = 0; e < x->n; e++)
        hash_put(x, e);
    return 0;
}

/* Appends name (n bytes) as a new segment of entry e. */
static int add_segment(struct store_search *x, size_t e, const char *name, size_t n)
{
    if (x->tlen + n + 1 > UINT32_MAX)
        return -ENOMEM;
    void *t = x->text;
    if (grow(&t, &x->tcap, x->tlen + n + 1, 1) < 0)
        return -ENOMEM;
    x->text = t;
    size_t c1 = x->capseg, c2 = x->capseg;
    void *a = x->seg_start, *b = x->seg_entry;
    if (grow(&a, &c1, x->nseg + 1, sizeof *x->seg_start) < 0)
        return -ENOMEM;
    x->seg_start = a;
    if (grow(&b, &c2, x->nseg + 1, sizeof *x->seg_entry) < 0)
        return -ENOMEM;
    x->seg_entry = b;
    x->capseg = c1;
    if (n)
        memcpy(x->text + x->tlen, name, n);
    x->text[x->tlen + n] = '\0';
    x->seg_start[x->nseg] = (uint32_t)x->tlen;
    x->seg_entry[x->nseg] = (uint32_t)e;
    x->ent_seg[e] = (uint32_t)x->nseg;
    x->nseg++;
    x->tlen += n + 1;
    return 0;
}

static void put_cmid(struct store_search *x, size_t e, const void *blob, int bytes)
{
    char *out = x->cmid + e * CMID_STRIDE;
    if (blob && bytes == 16) {
        struct guid g;
        memcpy(g.b, blob, sizeof g.b);
        guid_format(&g, out);
    } else {
        memset(out, 0, CMID_STRIDE);
    }
    out[GUID_TEXT_LEN] = '\0';
}

/* A row read from clients: rowid, lower(workstation) and, with the CMIDs kept, cmid. A new entry or an update. */
static int take_row(struct store_search *x, sqlite3_stmt *st, bool with_cmid)
{
    int64_t rowid = sqlite3_column_int64(st, 0);
    const char *name = (const char *)sqlite3_column_text(st, 1);
    size_t n = name ? (size_t)sqlite3_column_bytes(st, 1) : 0;
    size_t e = entry_of(x, rowid);
    if (e == SIZE_MAX) {
        if (entries_room(x, x->n + 1) < 0 || rehash(x, x->n + 1) < 0)
            return -ENOMEM;
        e = x->n++;
        x->rowid[e] = rowid;
        hash_put(x, e);
        if (add_segment(x, e, name, n) < 0)
            return -ENOMEM; /* the caller frees the whole search */
    } else {
        const char *cur = x->text + x->seg_start[x->ent_seg[e]];
        if (strlen(cur) != n || memcmp(cur, name, n) != 0) { /* renamed */
            uint32_t old = x->ent_seg[e];
            if (add_segment(x, e, name, n) < 0)
                return -ENOMEM;
            x->seg_entry[old] = SEG_DEAD;
            x->dead += n + 1;
        }
    }
    if (x->cmid && with_cmid)
        put_cmid(x, e, sqlite3_column_blob(st, 2), sqlite3_column_bytes(st, 2));
    return 0;
}

/* Runs sql (with ?1 bound to p1 when has_p1) and takes each row. */
static int take_rows(struct store *s, const char *sql, bool has_p1, int64_t p1, bool with_cmid)
{
    struct store_search *x = s->search;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    if (has_p1 && (rc = sqlite3_bind_int64(st, 1, p1)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return store_fail(s, rc, "bind");
    }
    int ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seen = sqlite3_column_int64(st, with_cmid ? 3 : 2);
        if (seen > x->seen_upto)
            x->seen_upto = seen;
        if ((ret = take_row(x, st, with_cmid)) < 0) {
            snprintf(s->err, sizeof s->err, "out of memory for the search");
            break;
        }
    }
    if (!ret && rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot read the clients for a search");
    sqlite3_finalize(st);
    return ret;
}

/* Fills the CMIDs' texts of every entry (the first search that could be part of one). */
static int load_cmids(struct store *s)
{
    struct store_search *x = s->search;
    x->cmid = malloc((x->cap ? x->cap : 1) * CMID_STRIDE);
    if (!x->cmid) {
        snprintf(s->err, sizeof s->err, "out of memory for the search");
        return -ENOMEM;
    }
    memset(x->cmid, 0, (x->cap ? x->cap : 1) * CMID_STRIDE);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT rowid, cmid FROM clients INDEXED BY sqlite_autoindex_clients_1", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t e = entry_of(x, sqlite3_column_int64(st, 0));
        if (e != SIZE_MAX)
            put_cmid(x, e, sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1));
    }
    int ret = rc == SQLITE_DONE ? 0 : store_fail(s, rc, "cannot read the CMIDs for a search");
    sqlite3_finalize(st);
    return ret;
}

/* Builds the buffer from nothing, inside the caller's read transaction. */
static int build(struct store *s)
{
    search_free(s->search);
    s->search = calloc(1, sizeof *s->search);
    if (!s->search) {
        snprintf(s->err, sizeof s->err, "out of memory for the search");
        return -ENOMEM;
    }
    s->search->seen_upto = INT64_MIN;
    /* the lower(workstation) index holds every row's name and rowid: a scan of it, not of the table */
    return take_rows(s, "SELECT rowid, lower(workstation), last_seen FROM clients INDEXED BY clients_workstation", false,
                     0, false);
}

/* The rows in clients, from the summary (kept in the same transactions as the rows). */
static int row_count(struct store *s, uint64_t *n)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    int ret = store_stmt_get(s, ST_ROWS, &st);
    if (!ret)
        ret = store_query_int(s, st, &v, "cannot count clients");
    *n = v > 0 ? (uint64_t)v : 0;
    return ret;
}

/* Brings the buffer up to date (or builds it), inside the caller's read transaction. */
static int refresh(struct store *s, bool need_cmid)
{
    int ret = 0;
    if (!s->search) {
        ret = build(s);
    } else {
        struct store_search *x = s->search;
        int64_t from = x->seen_upto == INT64_MIN ? INT64_MIN : x->seen_upto - STORE_SEARCH_SLACK_S;
        ret = x->cmid ? take_rows(s,
                                  "SELECT rowid, lower(workstation), cmid, last_seen FROM clients WHERE last_seen >= ?1",
                                  true, from, true)
                      : take_rows(s, "SELECT rowid, lower(workstation), last_seen FROM clients WHERE last_seen >= ?1",
                                  true, from, false);
    }
    uint64_t rows = 0;
    if (!ret)
        ret = row_count(s, &rows);
    if (!ret && rows != s->search->n) /* rows deleted since: start again */
        ret = build(s);
    if (!ret && s->search->dead > s->search->tlen / 2) /* mostly renamed rows: start again, smaller */
        ret = build(s);
    if (!ret && need_cmid && !s->search->cmid)
        ret = load_cmids(s);
    if (ret) {
        search_free(s->search);
        s->search = NULL;
    }
    return ret;
}

static void mark(struct store_search *x, size_t e, size_t *n)
{
    uint64_t bit = 1ull << (e % 64);
    if (!(x->bits[e / 64] & bit)) {
        x->bits[e / 64] |= bit;
        (*n)++;
    }
}

/* The segment that holds text offset off. */
static size_t segment_at(const struct store_search *x, size_t off)
{
    size_t lo = 0, hi = x->nseg; /* the last segment whose start is <= off */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->seg_start[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int store_search_find(struct store *s, const char *lq, uint64_t now_ms, struct store_search_hits *out)
{
    memset(out, 0, sizeof *out);
    size_t ql = strlen(lq);
    bool hexish = ql > 0;
    for (const char *c = lq; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || *c == '-'))
            hexish = false;
    int ret = refresh(s, hexish && ql <= GUID_TEXT_LEN);
    if (ret)
        return ret;
    struct store_search *x = s->search;
    x->used_ms = now_ms;
    size_t words = (x->n + 63) / 64;
    if (words > x->bits_words) {
        uint64_t *b = realloc(x->bits, words * sizeof *b);
        if (!b) {
            snprintf(s->err, sizeof s->err, "out of memory for the search");
            return -ENOMEM;
        }
        x->bits = b;
        x->bits_words = words;
    }
    memset(x->bits, 0, words * sizeof *x->bits);
    size_t n = 0;
    const char *p = x->text, *end = x->text + x->tlen;
    while (ql && p < end) {
        const char *hit = memmem(p, (size_t)(end - p), lq, ql);
        if (!hit)
            break;
        size_t k = segment_at(x, (size_t)(hit - x->text));
        if (x->seg_entry[k] != SEG_DEAD)
            mark(x, x->seg_entry[k], &n);
        p = k + 1 < x->nseg ? x->text + x->seg_start[k + 1] : end;
    }
    if (x->cmid && hexish && ql <= GUID_TEXT_LEN) {
        const char *c = x->cmid, *cend = x->cmid + x->n * CMID_STRIDE;
        while (c < cend) {
            const char *hit = memmem(c, (size_t)(cend - c), lq, ql);
            if (!hit)
                break;
            size_t e = (size_t)(hit - x->cmid) / CMID_STRIDE;
            mark(x, e, &n);
            c = x->cmid + (e + 1) * CMID_STRIDE;
        }
    }
    out->n = n;
    if (n > STORE_SEARCH_LIST_MAX)
        return 0;
    out->rowids = malloc((n ? n : 1) * sizeof *out->rowids);
    if (!out->rowids) {
        snprintf(s->err, sizeof s->err, "out of memory for the search");
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t w = 0; w < words && k < n; w++)
        for (uint64_t b = x->bits[w]; b; b &= b - 1)
            out->rowids[k++] = x->rowid[w * 64 + (size_t)__builtin_ctzll(b)];
    qsort(out->rowids, k, sizeof *out->rowids, cmp_i64);
    return 0;
}

bool store_search_has(const struct store *s, int64_t rowid)
{
    const struct store_search *x = s->search;
    if (!x || !x->bits)
        return false;
    size_t e = entry_of(x, rowid);
    return e != SIZE_MAX && e / 64 < x->bits_words && (x->bits[e / 64] >> (e % 64) & 1);
}

void store_search_trim(struct store *s, uint64_t now_ms)
{
    if (s && s->search && now_ms - s->search->used_ms >= STORE_SEARCH_KEEP_MS) {
        search_free(s->search);
        s->search = NULL;
    }
}

void store_search_close(struct store *s)
{
    search_free(s->search);
    s->search = NULL;
}

/* SQL function kmsd_q_has(rowid): whether the row is among the last search's (store_search_find). */
static void sql_q_has(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sqlite3_result_int(ctx, store_search_has(sqlite3_user_data(ctx), sqlite3_value_int64(argv[0])));
}

int store_search_enable(struct store *s)
{
    int rc = sqlite3_create_function_v2(s->db, "kmsd_q_has", 1, SQLITE_UTF8, s, sql_q_has, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "cannot register a function");
    s->search_on = true;
    return 0;
}

size_t store_search_bytes(const struct store *s)
{
    const struct store_search *x = s ? s->search : NULL;
    if (!x)
        return 0;
    return x->cap * (sizeof *x->rowid + sizeof *x->ent_seg + (x->cmid ? CMID_STRIDE : 0)) +
           x->capseg * (sizeof *x->seg_start + sizeof *x->seg_entry) + x->tcap + x->hcap * sizeof *x->hash +
           x->bits_words * sizeof *x->bits;
}
