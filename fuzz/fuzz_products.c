/*
 * Fuzz target: the products.tsv loader (products_load.c), the validator of kmsd --products-file.
 *
 * Input: the bytes of a products file. Invariants: a rejected text has at least one error, each kept one
 * NUL-terminated, the kept ones in line order; an accepted table holds the format's invariants (products.h): counts
 * within the limits, every reference inside the table, kms->csvlks and csvlk->activates inverse, default and
 * suggested CSVLKs with ePID data, the *_by_id indexes sorted, every id found by its lookup.
 */
#include "fuzz.h"

#include <string.h>

#include "products.h"
#include "products_load.h"

static void check_table(const struct products_tables *t)
{
    fuzz_check(t->app_count <= PRODUCTS_LOAD_APP_MAX && t->kms_count <= PRODUCTS_LOAD_KMS_MAX &&
               t->sku_count <= PRODUCTS_LOAD_SKU_MAX && t->csvlk_count <= PRODUCTS_LOAD_CSVLK_MAX &&
               t->build_count <= PRODUCTS_LOAD_BUILD_MAX);
    fuzz_check(t->app_count >= 1 && t->kms_count >= 1 && t->csvlk_count >= 1 && t->build_count >= 1);
    for (size_t i = 0; i < t->app_count; i++) {
        const struct products_app *a = &t->apps[i];
        fuzz_check(products_in_app_by_id(t, &a->id) == a);
        fuzz_check(a->default_csvlk >= t->csvlks && a->default_csvlk < t->csvlks + t->csvlk_count);
        fuzz_check(a->default_csvlk->has_epid && a->count_group < t->app_count);
    }
    for (size_t i = 0; i < t->kms_count; i++) {
        const struct products_kms *k = &t->kms[i];
        fuzz_check(products_in_kms_by_id(t, &k->id) == k && products_in_kms_index(t, k) == i);
        fuzz_check(k->app >= t->apps && k->app < t->apps + t->app_count);
        fuzz_check(k->epid_csvlk && k->epid_csvlk->has_epid);
        fuzz_check((k->csvlks == NULL) == (k->csvlk_count == 0));
        for (size_t j = 0; j < k->csvlk_count; j++)
            fuzz_check(products_csvlk_activates(k->csvlks[j], &k->id));
    }
    for (size_t i = 0; i < t->sku_count; i++) {
        const struct products_sku *s = &t->skus[i];
        fuzz_check(products_in_sku_by_id(t, &s->id) == s && products_in_find_sku(t, s->name) == s);
        fuzz_check(s->alias_count >= 1 && s->alias == s->aliases[0]);
        fuzz_check(s->kms >= t->kms && s->kms < t->kms + t->kms_count);
        fuzz_check(!s->gvlk || strlen(s->gvlk) == PRODUCTS_GVLK_LEN);
    }
    for (size_t i = 0; i < t->csvlk_count; i++) {
        const struct products_csvlk *c = &t->csvlks[i];
        fuzz_check(products_in_find_csvlk(t, c->key) == c && c->activate_count >= 1);
        fuzz_check(!c->has_epid || c->key_min <= c->key_max);
        for (size_t j = 0; j < c->activate_count; j++) {
            const struct products_kms *k = c->activates[j];
            bool back = false;
            for (size_t m = 0; m < k->csvlk_count; m++)
                back = back || k->csvlks[m] == c;
            fuzz_check(back);
        }
    }
    for (size_t i = 1; i < t->kms_count; i++)
        fuzz_check(memcmp(t->kms[t->kms_by_id[i - 1]].id.b, t->kms[t->kms_by_id[i]].id.b, 16) < 0);
    for (size_t i = 1; i < t->sku_count; i++)
        fuzz_check(memcmp(t->skus[t->sku_by_id[i - 1]].id.b, t->skus[t->sku_by_id[i]].id.b, 16) < 0);
    for (size_t i = 0; i < t->build_count; i++)
        fuzz_check(products_in_build_by_number(t, t->builds[i].build) == &t->builds[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct products_load_errors errs;
    const struct products_tables *t = NULL;
    int rc = products_load("fuzz.tsv", data, size, &t, &errs);
    if (rc != 0) {
        fuzz_check(t == NULL && errs.count >= 1 && errs.n >= 1 && errs.n <= PRODUCTS_LOAD_ERRORS_MAX);
        for (size_t i = 0; i < errs.n; i++) {
            fuzz_check(memchr(errs.e[i].text, '\0', sizeof errs.e[i].text) != NULL);
            fuzz_check(i == 0 || errs.e[i - 1].line <= errs.e[i].line);
        }
        return 0;
    }
    fuzz_check(t != NULL && errs.count == 0);
    check_table(t);
    products_load_free(t);
    return 0;
}
