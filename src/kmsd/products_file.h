/*
 * products_file — a product table from a file (kmsd --products-file FILE, `kmsd products check|list`): reads the
 * file with a size cap and builds its table with products_load (src/common/products_load.h, the same rules as the
 * build's generator), and the one-line summary kmsd logs and prints for a table.
 */
#ifndef KMSD_PRODUCTS_FILE_H
#define KMSD_PRODUCTS_FILE_H

#include <stddef.h>

#include "products.h"
#include "products_load.h"

#define PRODUCTS_FILE_SUMMARY_LEN 256 /* bytes of products_file_summary's text, NUL included */
#define PRODUCTS_FILE_SHA256_HEX 65   /* a SHA-256 in hex and its NUL */

/*
 * Reads the regular file at path (at most PRODUCTS_LOAD_FILE_MAX + 1 bytes: more is the loader's "larger than"
 * error) and builds its table into *out (owned by the caller: products_load_free, or products_use and never freed).
 * Returns 0; KMS_EINVAL with errs filled ("PATH: error: cannot read: WHY" when it cannot be read, else the rules the
 * file breaks, as "PATH:LINE: error: RULE"); -ENOMEM.
 */
int products_file_load(const char *path, const struct products_tables **out, struct products_load_errors *errs);

/* The SHA-256 of t's text in lower-case hex into out. */
void products_file_sha256_hex(const struct products_tables *t, char out[PRODUCTS_FILE_SHA256_HEX]);

/* "SOURCE: 3 applications, 35 KMS ids, 257 SKUs, 45 CSVLKs, 30 builds, sha256 d4a454e9792ed81e" (the first 16 hex
 * digits) into out. */
void products_file_summary(const struct products_tables *t, char out[PRODUCTS_FILE_SUMMARY_LEN]);

#endif
