#include "products.h"

#include <string.h>

/* The tables are generated and validated at build time (scripts/gen_products.py), so every function here is
 * a plain read: no allocation, no error paths beyond "not found". */

#define T products_tables

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

/* Binary search of an index sorted by wire-order GUID bytes; id_at(pos) reads the id at a table position.
 * Returns the table position or -1 (the generator caps tables at 65535 entries). */
static long search(const uint16_t *index, size_t n, const struct guid *(*id_at)(size_t), const struct guid *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(id->b, id_at(index[mid])->b, sizeof id->b);
        if (c == 0)
            return index[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

static const struct guid *app_id(size_t i)
{
    return &T.apps[i].id;
}

static const struct guid *kms_id(size_t i)
{
    return &T.kms[i].id;
}

static const struct guid *sku_id(size_t i)
{
    return &T.skus[i].id;
}

size_t products_app_count(void)
{
    return T.app_count;
}

const struct products_app *products_app_at(size_t i)
{
    return i < T.app_count ? &T.apps[i] : NULL;
}

const struct products_app *products_app_by_id(const struct guid *id)
{
    if (!id)
        return NULL;
    long i = search(T.app_by_id, T.app_count, app_id, id);
    return i < 0 ? NULL : &T.apps[i];
}

size_t products_kms_count(void)
{
    return T.kms_count;
}

const struct products_kms *products_kms_at(size_t i)
{
    return i < T.kms_count ? &T.kms[i] : NULL;
}

size_t products_kms_index(const struct products_kms *k)
{
    if (!k || k < T.kms || k >= T.kms + T.kms_count)
        return T.kms_count;
    return (size_t)(k - T.kms);
}

const struct products_kms *products_kms_by_id(const struct guid *id)
{
    if (!id)
        return NULL;
    long i = search(T.kms_by_id, T.kms_count, kms_id, id);
    return i < 0 ? NULL : &T.kms[i];
}

size_t products_sku_count(void)
{
    return T.sku_count;
}

const struct products_sku *products_sku_at(size_t i)
{
    return i < T.sku_count ? &T.skus[i] : NULL;
}

const struct products_sku *products_sku_by_id(const struct guid *id)
{
    if (!id)
        return NULL;
    long i = search(T.sku_by_id, T.sku_count, sku_id, id);
    return i < 0 ? NULL : &T.skus[i];
}

/* Linear: a few hundred SKUs, and names are looked up from command lines and configuration, not per request. */
const struct products_sku *products_find_sku(const char *text)
{
    if (!text)
        return NULL;
    for (size_t i = 0; i < T.sku_count; i++) {
        const struct products_sku *s = &T.skus[i];
        if (eq_nocase(text, s->name))
            return s;
        for (size_t a = 0; a < s->alias_count; a++)
            if (eq_nocase(text, s->aliases[a]))
                return s;
    }
    return NULL;
}

size_t products_csvlk_count(void)
{
    return T.csvlk_count;
}

const struct products_csvlk *products_csvlk_at(size_t i)
{
    return i < T.csvlk_count ? &T.csvlks[i] : NULL;
}

const struct products_csvlk *products_find_csvlk(const char *key)
{
    if (!key)
        return NULL;
    for (size_t i = 0; i < T.csvlk_count; i++)
        if (eq_nocase(key, T.csvlks[i].key))
            return &T.csvlks[i];
    return NULL;
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
    const struct products_kms *k = products_kms_by_id(kms);
    if (k)
        return k->epid_csvlk;
    const struct products_app *a = products_app_by_id(app);
    return a ? a->default_csvlk : NULL;
}

size_t products_build_count(void)
{
    return T.build_count;
}

const struct products_build *products_build_at(size_t i)
{
    return i < T.build_count ? &T.builds[i] : NULL;
}

const struct products_build *products_build_by_number(uint32_t build)
{
    for (size_t i = 0; i < T.build_count; i++)
        if (T.builds[i].build == build)
            return &T.builds[i];
    return NULL;
}
