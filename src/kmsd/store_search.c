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
 * (last_seen's index; the writer sets last_seen on every row it writes). A row deleted or merged since (pruning,
 * DELETE, import-pykms: the stats' rows_changed) or missed (a row count that differs from the summary's) builds it
 * again. sort=requests is served from the same memory, each row's count read at the first such sort
 * (store_search_top). It is freed once no search used it for STORE_SEARCH_KEEP_MS (store_search_trim) and with the
 * connection.
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
#include "prefault.h"

#define SEG_DEAD UINT32_MAX
#define CMID_STRIDE (GUID_TEXT_LEN + 1) /* each CMID's text and a NUL, so that no match spans two */
#define ROWID_MAX_IN_MEMORY UINT32_MAX  /* rowids above it (4 billion rows ever written): the search stays in SQL */

/* Arrays in a group share one capacity (grow_together). */
struct store_search {
    size_t n, cap;        /* entries, in the order the names were read (one per row of clients) */
    uint32_t *rowid;      /* [cap] the entry's rowid */
    uint32_t *ent_seg;    /* [cap] the entry's segment of text */
    uint64_t *sorted;     /* [cap] rowid << 32 | entry, ascending: an entry by its rowid (new rows come last) */
    uint32_t *requests;   /* [cap] each entry's request_count (clamped), or NULL until sort=requests needs them */
    size_t nseg, capseg;  /* segments of text, in text order; a renamed row gets a new one, its old one dies */
    uint32_t *seg_start;  /* [capseg] offset in text */
    uint32_t *seg_entry;  /* [capseg] its entry, or SEG_DEAD */
    char *text;           /* the lower-cased names, each followed by a NUL */
    size_t tlen, tcap, dead;
    size_t ncmid, capcmid; /* the CMIDs' texts, in the order read, or none until a search needs them */
    bool have_cmid;
    uint32_t *cmid_rowid; /* [capcmid] */
    char *cmid;           /* [capcmid * CMID_STRIDE] */
    uint32_t max_rowid;
    int64_t seen_upto;    /* the newest last_seen read */
    int64_t changed;      /* STORE_STAT_ROWS_CHANGED when it was built */
    uint64_t used_ms;     /* the last search that used it */
    uint64_t *bits;       /* the last search's rows, a bit per rowid */
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
    free(x->sorted);
    free(x->cmid_rowid);
    free(x->cmid);
    free(x->requests);
    free(x->bits);
    free(x);
}

/* Grows the k arrays of a group (*arrays[i] of elements of sizes[i]; NULL: not there) to hold need elements, an
 * eighth over. 0, or -ENOMEM with *cap unchanged (the arrays grown stay valid: the caller frees the whole search). */
static int grow_together(size_t *cap, size_t need, void **const arrays[], const size_t sizes[], size_t k)
{
    if (need <= *cap)
        return 0;
    size_t c = need + need / 8 + 64;
    for (size_t i = 0; i < k; i++) {
        if (!arrays[i])
            continue;
        void *q = realloc(*arrays[i], c * sizes[i]);
        if (!q)
            return -ENOMEM;
        *arrays[i] = q;
    }
    *cap = c;
    return 0;
}

static int entries_room(struct store_search *x, size_t need)
{
    void **const a[] = {(void **)&x->rowid, (void **)&x->ent_seg, (void **)&x->sorted,
                        x->requests ? (void **)&x->requests : NULL};
    const size_t sz[] = {sizeof *x->rowid, sizeof *x->ent_seg, sizeof *x->sorted, sizeof *x->requests};
    return grow_together(&x->cap, need, a, sz, 4);
}

static int segments_room(struct store_search *x, size_t need)
{
    void **const a[] = {(void **)&x->seg_start, (void **)&x->seg_entry};
    const size_t sz[] = {sizeof *x->seg_start, sizeof *x->seg_entry};
    return grow_together(&x->capseg, need, a, sz, 2);
}

static int text_room(struct store_search *x, size_t need)
{
    void **const a[] = {(void **)&x->text};
    const size_t sz[] = {1};
    return grow_together(&x->tcap, need, a, sz, 1);
}

static int cmids_room(struct store_search *x, size_t need)
{
    void **const a[] = {(void **)&x->cmid_rowid, (void **)&x->cmid};
    const size_t sz[] = {sizeof *x->cmid_rowid, CMID_STRIDE};
    return grow_together(&x->capcmid, need, a, sz, 2);
}

/* A key of sorted: rowid << 32 | entry. */
static uint64_t key_of(uint32_t rowid, size_t e)
{
    return (uint64_t)rowid << 32 | e;
}
static uint32_t key_rowid(uint64_t k)
{
    return (uint32_t)(k >> 32);
}
static size_t key_entry(uint64_t k)
{
    return (size_t)(k & 0xffffffffu);
}

/* The entry of rowid, or SIZE_MAX (a binary search of sorted). */
static size_t entry_of(const struct store_search *x, uint32_t rowid)
{
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t r = key_rowid(x->sorted[mid]);
        if (r == rowid)
            return key_entry(x->sorted[mid]);
        if (r < rowid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

/* Sorts a[0..n) by rowid with b[0..n) as room: an LSD radix sort on the upper 32 bits of the keys (rowid << 32 |
 * entry; rowids are distinct), 8 bits a pass, its counts on the stack (the lanes' stacks are small). A pass whose
 * byte is the same in every key is skipped (a million rowids use three of the four bytes). */
static void radix_sort(uint64_t *a, uint64_t *b, size_t n)
{
    uint64_t *const first = a;
    size_t count[256];
    for (int shift = 32; shift < 64 && n; shift += 8) {
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(a[i] >> shift) & 0xff]++;
        if (count[(a[0] >> shift) & 0xff] == n)
            continue;
        size_t sum = 0;
        for (size_t d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            b[count[(a[i] >> shift) & 0xff]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    if (a != first) /* an odd number of passes: the result is in the room */
        memcpy(first, a, n * sizeof *a);
}

/* Appends name (n bytes) as a new segment of entry e. */
static int add_segment(struct store_search *x, size_t e, const char *name, size_t n)
{
    if (x->tlen + n + 1 > UINT32_MAX)
        return -ENOMEM;
    if (text_room(x, x->tlen + n + 1) < 0 || segments_room(x, x->nseg + 1) < 0)
        return -ENOMEM;
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

static int add_cmid(struct store_search *x, uint32_t rowid, const void *blob, int bytes)
{
    if (cmids_room(x, x->ncmid + 1) < 0)
        return -ENOMEM;
    char *out = x->cmid + x->ncmid * CMID_STRIDE;
    if (blob && bytes == 16) {
        struct guid g;
        memcpy(g.b, blob, sizeof g.b);
        guid_format(&g, out);
    } else {
        memset(out, 0, CMID_STRIDE);
    }
    out[GUID_TEXT_LEN] = '\0';
    x->cmid_rowid[x->ncmid++] = rowid;
    return 0;
}

static uint32_t clamp_u32(int64_t v)
{
    return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* A row read from clients: rowid, lower(workstation) and, when full (the catch-up's rows), cmid and request_count. A
 * new entry or a row seen again (building: always new, each row read once, sorted afterwards). A row seen again
 * keeps its CMID: a rowid given to another row would need a deletion first, which builds everything again. */
static int take_row(struct store_search *x, sqlite3_stmt *st, bool full, bool building)
{
    int64_t r64 = sqlite_fn.sqlite3_column_int64(st, 0);
    if (r64 < 0 || r64 > ROWID_MAX_IN_MEMORY)
        return -ERANGE;
    uint32_t rowid = (uint32_t)r64;
    const char *name = (const char *)sqlite_fn.sqlite3_column_text(st, 1);
    size_t n = name ? (size_t)sqlite_fn.sqlite3_column_bytes(st, 1) : 0;
    size_t e = building ? SIZE_MAX : entry_of(x, rowid);
    if (e == SIZE_MAX) {
        if (!building && x->n && rowid <= x->max_rowid)
            return -EAGAIN; /* a new row below the newest: not in rowid order (build again) */
        if (entries_room(x, x->n + 1) < 0)
            return -ENOMEM;
        e = x->n++;
        x->rowid[e] = rowid;
        x->sorted[e] = key_of(rowid, e); /* sorted already unless building (sorted afterwards) */
        if (rowid > x->max_rowid)
            x->max_rowid = rowid;
        if (add_segment(x, e, name, n) < 0)
            return -ENOMEM;
        if (x->have_cmid && full && add_cmid(x, rowid, sqlite_fn.sqlite3_column_blob(st, 2), sqlite_fn.sqlite3_column_bytes(st, 2)) < 0)
            return -ENOMEM;
    } else {
        const char *cur = x->text + x->seg_start[x->ent_seg[e]];
        size_t len = strlen(cur);
        if (len != n || memcmp(cur, name, n) != 0) { /* renamed */
            uint32_t old = x->ent_seg[e];
            if (add_segment(x, e, name, n) < 0)
                return -ENOMEM;
            x->seg_entry[old] = SEG_DEAD;
            x->dead += len + 1;
        }
    }
    if (x->requests && full)
        x->requests[e] = clamp_u32(sqlite_fn.sqlite3_column_int64(st, 3));
    return 0;
}

/* Runs sql (with ?1 bound to p1 when has_p1) and takes each row; seen_col: the column of last_seen, or -1. */
static int take_rows(struct store *s, const char *sql, bool has_p1, int64_t p1, bool full, int seen_col,
                     bool building)
{
    struct store_search *x = s->search;
    sqlite3_stmt *st = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    if (has_p1 && (rc = sqlite_fn.sqlite3_bind_int64(st, 1, p1)) != SQLITE_OK) {
        sqlite_fn.sqlite3_finalize(st);
        return store_fail(s, rc, "bind");
    }
    int ret = 0;
    while ((rc = sqlite_fn.sqlite3_step(st)) == SQLITE_ROW) {
        if (seen_col >= 0 && sqlite_fn.sqlite3_column_int64(st, seen_col) > x->seen_upto)
            x->seen_upto = sqlite_fn.sqlite3_column_int64(st, seen_col);
        if ((ret = take_row(x, st, full, building)) < 0)
            break;
    }
    if (ret == -ENOMEM)
        snprintf(s->err, sizeof s->err, "out of memory for the search");
    else if (ret == -ERANGE)
        snprintf(s->err, sizeof s->err, "rowids too large for the search in memory");
    else if (!ret && rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot read the clients for a search");
    sqlite_fn.sqlite3_finalize(st);
    return ret;
}

/* Reads the CMIDs' texts (the first search that could be part of one): the table, in rowid order (no index holds the
 * CMIDs since schema 7's compact key; about 0.2 s at a million rows against 0.1 s on the old key's index). */
static int load_cmids(struct store *s)
{
    struct store_search *x = s->search;
    x->have_cmid = true;
    if (cmids_room(x, x->n + 16) < 0) {
        snprintf(s->err, sizeof s->err, "out of memory for the search");
        return -ENOMEM;
    }
    prefault_large(x->cmid_rowid, x->capcmid * sizeof *x->cmid_rowid);
    prefault_large(x->cmid, x->capcmid * CMID_STRIDE);
    sqlite3_stmt *st = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db, "SELECT rowid, cmid FROM clients", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    int ret = 0;
    while ((rc = sqlite_fn.sqlite3_step(st)) == SQLITE_ROW) {
        int64_t r = sqlite_fn.sqlite3_column_int64(st, 0);
        if (r < 0 || r > ROWID_MAX_IN_MEMORY) {
            snprintf(s->err, sizeof s->err, "rowids too large for the search in memory");
            ret = -ERANGE;
            break;
        }
        if (add_cmid(x, (uint32_t)r, sqlite_fn.sqlite3_column_blob(st, 1), sqlite_fn.sqlite3_column_bytes(st, 1)) < 0) {
            snprintf(s->err, sizeof s->err, "out of memory for the search");
            ret = -ENOMEM;
            break;
        }
    }
    if (!ret && rc != SQLITE_DONE)
        ret = store_fail(s, rc, "cannot read the CMIDs for a search");
    sqlite_fn.sqlite3_finalize(st);
    return ret;
}

/* Reads every row's request_count (the first sort by requests): the table in rowid order, so that the entries are
 * found in the order of the sorted array. */
static int load_requests(struct store *s)
{
    struct store_search *x = s->search;
    x->requests = calloc(x->cap ? x->cap : 1, sizeof *x->requests); /* then grown with the other entries' arrays */
    if (!x->requests) {
        snprintf(s->err, sizeof s->err, "out of memory for the search");
        return -ENOMEM;
    }
    prefault_large(x->requests, x->cap * sizeof *x->requests); /* written in rowid order: a random entry each */
    sqlite3_stmt *st = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db, "SELECT rowid, request_count FROM clients ORDER BY rowid", -1, &st,
                                          NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    /* both in rowid order: one walk of the sorted array (a binary search per row was a quarter of this scan) */
    size_t j = 0;
    while ((rc = sqlite_fn.sqlite3_step(st)) == SQLITE_ROW) {
        int64_t r = sqlite_fn.sqlite3_column_int64(st, 0);
        while (j < x->n && key_rowid(x->sorted[j]) < r)
            j++;
        if (j < x->n && key_rowid(x->sorted[j]) == r)
            x->requests[key_entry(x->sorted[j])] = clamp_u32(sqlite_fn.sqlite3_column_int64(st, 1));
    }
    int ret = rc == SQLITE_DONE ? 0 : store_fail(s, rc, "cannot read the request counts for a sort");
    sqlite_fn.sqlite3_finalize(st);
    return ret;
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

/* Builds the memory from nothing, inside the caller's read transaction. */
static int build(struct store *s)
{
    search_free(s->search);
    s->search = calloc(1, sizeof *s->search);
    if (!s->search) {
        snprintf(s->err, sizeof s->err, "out of memory for the search");
        return -ENOMEM;
    }
    struct store_search *x = s->search;
    /* the rows' number, the deletions so far and the newest last_seen (the end of its index) first; then the names:
     * the lower(workstation) index holds every row's name and rowid, so the scan reads the index alone, not the
     * table (which last_seen would need) */
    uint64_t rows = 0;
    int ret = row_count(s, &rows);
    if (!ret)
        ret = store_stat_one(s, STORE_STAT_ROWS_CHANGED, &x->changed);
    if (ret)
        return ret;
    sqlite3_stmt *st = NULL;
    int rc = sqlite_fn.sqlite3_prepare_v2(s->db, "SELECT max(last_seen) FROM clients", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_fail(s, rc, "prepare");
    int64_t newest = INT64_MIN;
    ret = store_query_int(s, st, &newest, "cannot read the clients for a search");
    sqlite_fn.sqlite3_finalize(st);
    if (ret)
        return ret;
    x->seen_upto = newest;
    /* sized once for the rows there are, names 16 bytes on average to start (more: the text grows) */
    size_t want = (size_t)rows + 16;
    if (entries_room(x, want) < 0 || text_room(x, want * 16) < 0 || segments_room(x, want) < 0) {
        snprintf(s->err, sizeof s->err, "out of memory for the search");
        return -ENOMEM;
    }
    prefault_large(x->rowid, x->cap * sizeof *x->rowid);
    prefault_large(x->ent_seg, x->cap * sizeof *x->ent_seg);
    prefault_large(x->sorted, x->cap * sizeof *x->sorted);
    prefault_large(x->seg_start, x->capseg * sizeof *x->seg_start);
    prefault_large(x->seg_entry, x->capseg * sizeof *x->seg_entry);
    prefault_large(x->text, x->tcap);
    ret = take_rows(s, "SELECT rowid, lower(workstation) FROM clients INDEXED BY clients_workstation", false, 0, false,
                    -1, true);
    if (ret)
        return ret;
    uint64_t *tmp = malloc((x->n ? x->n : 1) * sizeof *tmp);
    if (!tmp) {
        snprintf(s->err, sizeof s->err, "out of memory for the search");
        return -ENOMEM;
    }
    prefault_large(tmp, x->n * sizeof *tmp);
    radix_sort(x->sorted, tmp, x->n);
    free(tmp);
    return 0;
}

/* Brings the memory up to date (or builds it), inside the caller's read transaction. */
static int refresh(struct store *s, bool need_cmid, bool need_req)
{
    int ret = 0;
    if (!s->search) {
        ret = build(s);
    } else {
        struct store_search *x = s->search;
        int64_t from = x->seen_upto == INT64_MIN ? INT64_MIN : x->seen_upto - STORE_SEARCH_SLACK_S;
        ret = take_rows(s,
                        "SELECT rowid, lower(workstation), cmid, request_count, last_seen FROM clients"
                        " WHERE last_seen >= ?1",
                        true, from, true, 4, false);
        if (ret == -EAGAIN)
            ret = build(s);
    }
    uint64_t rows = 0;
    int64_t changed = 0;
    if (!ret)
        ret = row_count(s, &rows);
    if (!ret)
        ret = store_stat_one(s, STORE_STAT_ROWS_CHANGED, &changed);
    /* rows deleted or merged since (a deleted row's rowid may even be given to a new row), or rows missed (a clock
     * stepped back more than STORE_SEARCH_SLACK_S): start again */
    if (!ret && (rows != s->search->n || changed != s->search->changed))
        ret = build(s);
    if (!ret && s->search->dead > s->search->tlen / 2) /* mostly renamed rows: start again, smaller */
        ret = build(s);
    if (!ret && need_cmid && !s->search->have_cmid)
        ret = load_cmids(s);
    if (!ret && need_req && !s->search->requests)
        ret = load_requests(s);
    if (ret) {
        search_free(s->search);
        s->search = NULL;
    }
    return ret;
}

static void mark(struct store_search *x, uint32_t rowid, size_t *n)
{
    uint64_t bit = 1ull << (rowid % 64);
    if (!(x->bits[rowid / 64] & bit)) {
        x->bits[rowid / 64] |= bit;
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

int store_search_find(struct store *s, const char *lq, uint64_t now_ms, struct store_search_hits *out)
{
    memset(out, 0, sizeof *out);
    size_t ql = strlen(lq);
    bool hexish = store_could_be_cmid(lq);
    int ret = refresh(s, hexish, false);
    if (ret)
        return ret;
    struct store_search *x = s->search;
    x->used_ms = now_ms;
    size_t words = (size_t)x->max_rowid / 64 + 1;
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
            mark(x, x->rowid[x->seg_entry[k]], &n);
        p = k + 1 < x->nseg ? x->text + x->seg_start[k + 1] : end;
    }
    if (x->have_cmid && hexish) {
        const char *c = x->cmid, *cend = x->cmid + x->ncmid * CMID_STRIDE;
        while (c < cend) {
            const char *hit = memmem(c, (size_t)(cend - c), lq, ql);
            if (!hit)
                break;
            size_t i = (size_t)(hit - x->cmid) / CMID_STRIDE;
            if (x->cmid_rowid[i] <= x->max_rowid)
                mark(x, x->cmid_rowid[i], &n);
            c = x->cmid + (i + 1) * CMID_STRIDE;
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
    size_t k = 0; /* a bit per rowid: in ascending order already */
    for (size_t w = 0; w < words && k < n; w++)
        for (uint64_t b = x->bits[w]; b; b &= b - 1)
            out->rowids[k++] = (int64_t)(w * 64 + (size_t)__builtin_ctzll(b));
    out->n_list = k;
    return 0;
}

/* A min-heap of keys: the k largest seen so far, the smallest of them at the top. */
static void heap_down(uint64_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && h[l] < h[m])
            m = l;
        if (l + 1 < n && h[l + 1] < h[m])
            m = l + 1;
        if (m == i)
            return;
        uint64_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(uint64_t *h, size_t i)
{
    while (i > 0 && h[(i - 1) / 2] > h[i]) {
        uint64_t t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

int store_search_top(struct store *s, const struct store_query *q, bool with_q, uint64_t now_ms,
                     struct store_search_hits *out)
{
    memset(out, 0, sizeof *out);
    /* with q, store_search_find has just brought the memory up to date in this transaction and found its rows */
    int ret = with_q && s->search ? 0 : refresh(s, false, true);
    if (!ret && !s->search->requests && (ret = load_requests(s)) != 0) {
        search_free(s->search);
        s->search = NULL;
    }
    if (ret)
        return ret;
    struct store_search *x = s->search;
    x->used_ms = now_ms;
    size_t k = (size_t)q->offset + q->limit;
    /* keys (request_count << 32 | rowid), inverted when ascending: the page is the k largest, after the cursor */
    uint64_t flip = q->descending ? 0 : UINT64_MAX;
    uint64_t bound = UINT64_MAX;
    bool bounded = false;
    if (q->has_cursor) {
        bounded = true;
        bound = (((uint64_t)clamp_u32(q->cursor.num) << 32) | clamp_u32(q->cursor.rowid)) ^ flip;
    }
    uint64_t *heap = malloc((k ? k : 1) * sizeof *heap);
    if (!heap) {
        snprintf(s->err, sizeof s->err, "out of memory for the sort");
        return -ENOMEM;
    }
    size_t nh = 0, total = 0;
    for (size_t e = 0; e < x->n; e++) {
        uint32_t r = x->rowid[e];
        if (with_q && !(x->bits && r / 64 < x->bits_words && (x->bits[r / 64] >> (r % 64) & 1)))
            continue;
        total++;
        uint64_t key = (((uint64_t)x->requests[e] << 32) | r) ^ flip;
        if (bounded && key >= bound)
            continue;
        if (nh < k) {
            heap[nh] = key;
            heap_up(heap, nh++);
        } else if (k && key > heap[0]) {
            heap[0] = key;
            heap_down(heap, nh, 0);
        }
    }
    out->n = total;
    out->rowids = malloc((nh ? nh : 1) * sizeof *out->rowids);
    if (!out->rowids) {
        free(heap);
        snprintf(s->err, sizeof s->err, "out of memory for the sort");
        return -ENOMEM;
    }
    for (size_t i = 0; i < nh; i++)
        out->rowids[i] = (int64_t)((heap[i] ^ flip) & 0xffffffffu);
    out->n_list = nh;
    free(heap);
    return 0;
}

bool store_search_has(const struct store *s, int64_t rowid)
{
    const struct store_search *x = s->search;
    if (!x || !x->bits || rowid < 0 || (uint64_t)rowid / 64 >= x->bits_words)
        return false;
    return x->bits[(uint64_t)rowid / 64] >> ((uint64_t)rowid % 64) & 1;
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
    sqlite_fn.sqlite3_result_int(ctx, store_search_has(sqlite_fn.sqlite3_user_data(ctx), sqlite_fn.sqlite3_value_int64(argv[0])));
}

int store_search_enable(struct store *s)
{
    if (s->pg) /* PostgreSQL searches in SQL */
        return 0;
    int rc = sqlite_fn.sqlite3_create_function_v2(s->db, "kmsd_q_has", 1, SQLITE_UTF8, s, sql_q_has, NULL, NULL, NULL);
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
    size_t entry = sizeof *x->rowid + sizeof *x->ent_seg + sizeof *x->sorted + (x->requests ? sizeof *x->requests : 0);
    return x->cap * entry + x->capseg * (sizeof *x->seg_start + sizeof *x->seg_entry) + x->tcap +
           x->capcmid * (sizeof *x->cmid_rowid + CMID_STRIDE) + x->bits_words * sizeof *x->bits;
}
