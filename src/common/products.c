#include "products.h"

#include <stdatomic.h>
#include <string.h>

/* Every table is validated before it is used (at build time by scripts/gen_products.py, at run time by
 * products_load), so every function here is a plain read: no allocation, no error paths beyond "not found". */

/* The table in use. Written by products_use only (kmsd: its loop thread, at start and at a reload); read by every
 * lookup with acquire ordering, so a reader that sees a new table also sees everything written into it before the
 * swap. Tables are never freed, so a reader still on the old one is never left with a dangling pointer. */
static _Atomic(const struct products_tables *) current = &products_tables;

const struct products_tables *products_current(void)
{
    return atomic_load_explicit(&current, memory_order_acquire);
}

const struct products_tables *products_builtin(void)
{
    return &products_tables;
}

const struct products_tables *products_use(const struct products_tables *t)
{
    return atomic_exchange_explicit(&current, t ? t : &products_tables, memory_order_acq_rel);
}

/* ASCII-only case folding: lookups must not depend on the process locale. */
static int fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool eq_nocase(const char *a, const char *b)
{
    for (;; a++, b++) {
        if (fold((unsigned char)*a) != fold((unsigned char)*b))
            return false;
        if (*a == '\0')
            return true;
    }
}

/* Binary search of an index sorted by wire-order GUID bytes over n entries of `size` bytes at base, each starting
 * with its struct guid (the id is the first member of apps, KMS ids and SKUs). Returns the table position or -1
 * (tables hold at most 65535 entries: the index is uint16_t). */
static long search(const uint16_t *index, size_t n, const void *base, size_t size, const struct guid *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct guid *at = (const struct guid *)(const void *)((const char *)base + index[mid] * size);
        int c = memcmp(id->b, at->b, sizeof id->b);
        if (c == 0)
            return index[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

_Static_assert(offsetof(struct products_app, id) == 0, "search() reads the id at the start of an entry");
_Static_assert(offsetof(struct products_kms, id) == 0, "search() reads the id at the start of an entry");
_Static_assert(offsetof(struct products_sku, id) == 0, "search() reads the id at the start of an entry");

/* ---- on an explicit table */

const struct products_app *products_in_app_by_id(const struct products_tables *t, const struct guid *id)
{
    if (!id)
        return NULL;
    long i = search(t->app_by_id, t->app_count, t->apps, sizeof t->apps[0], id);
    return i < 0 ? NULL : &t->apps[i];
}

const struct products_kms *products_in_kms_by_id(const struct products_tables *t, const struct guid *id)
{
    if (!id)
        return NULL;
    long i = search(t->kms_by_id, t->kms_count, t->kms, sizeof t->kms[0], id);
    return i < 0 ? NULL : &t->kms[i];
}

size_t products_in_kms_index(const struct products_tables *t, const struct products_kms *k)
{
    /* compared as addresses: k may belong to another table, whose array is another object */
    uintptr_t p = (uintptr_t)k, lo = (uintptr_t)t->kms, hi = (uintptr_t)(t->kms + t->kms_count);
    if (!k || p < lo || p >= hi)
        return t->kms_count;
    return (size_t)(p - lo) / sizeof *k;
}

const struct products_sku *products_in_sku_by_id(const struct products_tables *t, const struct guid *id)
{
    if (!id)
        return NULL;
    long i = search(t->sku_by_id, t->sku_count, t->skus, sizeof t->skus[0], id);
    return i < 0 ? NULL : &t->skus[i];
}

/* Linear: a few hundred SKUs, and names are looked up from command lines and configuration, not per request. */
const struct products_sku *products_in_find_sku(const struct products_tables *t, const char *text)
{
    if (!text)
        return NULL;
    for (size_t i = 0; i < t->sku_count; i++) {
        const struct products_sku *s = &t->skus[i];
        if (eq_nocase(text, s->name))
            return s;
        for (size_t a = 0; a < s->alias_count; a++)
            if (eq_nocase(text, s->aliases[a]))
                return s;
    }
    return NULL;
}

const struct products_csvlk *products_in_find_csvlk(const struct products_tables *t, const char *key)
{
    if (!key)
        return NULL;
    for (size_t i = 0; i < t->csvlk_count; i++)
        if (eq_nocase(key, t->csvlks[i].key))
            return &t->csvlks[i];
    return NULL;
}

const struct products_csvlk *products_in_epid_csvlk(const struct products_tables *t, const struct guid *app,
                                                    const struct guid *kms)
{
    const struct products_kms *k = products_in_kms_by_id(t, kms);
    if (k)
        return k->epid_csvlk;
    const struct products_app *a = products_in_app_by_id(t, app);
    return a ? a->default_csvlk : NULL;
}

const struct products_build *products_in_build_by_number(const struct products_tables *t, uint32_t build)
{
    for (size_t i = 0; i < t->build_count; i++)
        if (t->builds[i].build == build)
            return &t->builds[i];
    return NULL;
}

/* ---- on the table in use: one snapshot per call */

size_t products_app_count(void)
{
    return products_current()->app_count;
}

const struct products_app *products_app_at(size_t i)
{
    const struct products_tables *t = products_current();
    return i < t->app_count ? &t->apps[i] : NULL;
}

const struct products_app *products_app_by_id(const struct guid *id)
{
    return products_in_app_by_id(products_current(), id);
}

size_t products_kms_count(void)
{
    return products_current()->kms_count;
}

const struct products_kms *products_kms_at(size_t i)
{
    const struct products_tables *t = products_current();
    return i < t->kms_count ? &t->kms[i] : NULL;
}

size_t products_kms_index(const struct products_kms *k)
{
    return products_in_kms_index(products_current(), k);
}

const struct products_kms *products_kms_by_id(const struct guid *id)
{
    return products_in_kms_by_id(products_current(), id);
}

size_t products_sku_count(void)
{
    return products_current()->sku_count;
}

const struct products_sku *products_sku_at(size_t i)
{
    const struct products_tables *t = products_current();
    return i < t->sku_count ? &t->skus[i] : NULL;
}

const struct products_sku *products_sku_by_id(const struct guid *id)
{
    return products_in_sku_by_id(products_current(), id);
}

const struct products_sku *products_find_sku(const char *text)
{
    return products_in_find_sku(products_current(), text);
}

size_t products_csvlk_count(void)
{
    return products_current()->csvlk_count;
}

const struct products_csvlk *products_csvlk_at(size_t i)
{
    const struct products_tables *t = products_current();
    return i < t->csvlk_count ? &t->csvlks[i] : NULL;
}

const struct products_csvlk *products_find_csvlk(const char *key)
{
    return products_in_find_csvlk(products_current(), key);
}

const struct products_csvlk *const *products_csvlks_for_kms(const struct guid *id, size_t *count)
{
    const struct products_kms *k = products_kms_by_id(id);
    *count = k ? k->csvlk_count : 0;
    return k ? k->csvlks : NULL;
}

bool products_csvlk_activates(const struct products_csvlk *c, const struct guid *id)
{
    if (!c || !id)
        return false;
    for (size_t i = 0; i < c->activate_count; i++)
        if (guid_eq(&c->activates[i]->id, id))
            return true;
    return false;
}

const struct products_csvlk *products_epid_csvlk(const struct guid *app, const struct guid *kms)
{
    return products_in_epid_csvlk(products_current(), app, kms);
}

size_t products_build_count(void)
{
    return products_current()->build_count;
}

const struct products_build *products_build_at(size_t i)
{
    const struct products_tables *t = products_current();
    return i < t->build_count ? &t->builds[i] : NULL;
}

const struct products_build *products_build_by_number(uint32_t build)
{
    return products_in_build_by_number(products_current(), build);
}
