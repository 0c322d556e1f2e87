/*
 * products_json — a product table as JSON (jansson), the one form of `kmsd products list --format json`, of the
 * "table" object of /api/v1/products and of /api/v1/host's "product_table". Reads only the table given (a snapshot:
 * products.h), so the answer is consistent while a reload swaps the table in use.
 */
#ifndef KMSD_PRODUCTS_JSON_H
#define KMSD_PRODUCTS_JSON_H

#include <jansson.h>

#include "products.h"

/* {"source": "built-in" or the file's path, "builtin": bool, "sha256": HEX, "applications": N, "kms": N, "skus": N,
 * "csvlks": N, "builds": N}. A new reference, NULL when out of memory. */
json_t *products_json_table(const struct products_tables *t);

/* {"table": products_json_table(t), "applications": [...], "kms": [...], "skus": [...], "csvlks": [...],
 * "builds": [...]} with every field of every entry (docs/internals/products.md). A new reference, NULL when out of
 * memory. */
json_t *products_json_all(const struct products_tables *t);

#endif
