/*
 * products_load — builds a product table at run time from the text of a products.tsv file (the format of
 * data/products.tsv, documented in its header comment and in data/README.md), for kmsd --products-file and
 * `kmsd products check|list`: new product data without a rebuild.
 *
 * One validator, shared. scripts/gen_products.py validates data/products.tsv at build time and compiles the built-in
 * table; this module is a port of its read_records() and build_model(), rule for rule, in the same order and with
 * the same messages ("FILE:LINE: error: RULE", sorted by line), and computes the derived data alike (kms->csvlks in
 * CSVLK order, the suggested epid_csvlk, the *_by_id indexes). Why two implementations rather than the generator
 * calling this one: the build then needs no program of ours compiled for the build machine before kmscommon exists,
 * and the generator stays the readable specification reviewed with the data. Agreement is enforced by test, not by
 * hope: tests/common/test_products.c runs both on every table it breaks (and at each limit below) and requires the
 * same errors on the same lines, and loads data/products.tsv here to compare every field and every index with the
 * generated table. A new rule goes into both and gets a case there.
 *
 * Pure: text in, table out; no file access (the caller reads the file: src/kmsd/products_file.c), no clock. All
 * parsing goes through the bounded reader (buf.h). A built table is one allocation arena, immutable once returned;
 * products_use() may put it in service (products.h), after which it is never freed while the program runs.
 */
#ifndef KMSD_PRODUCTS_LOAD_H
#define KMSD_PRODUCTS_LOAD_H

#include <stddef.h>

#include "products.h"

/* Limits of the format, the same in scripts/gen_products.py (FILE_MAX, LINE_MAX, RECORDS_MAX); each has a test at
 * limit - 1, limit and limit + 1 that both must pass alike. */
#define PRODUCTS_LOAD_FILE_MAX (1024u * 1024u) /* bytes of a file (data/products.tsv: about 58 KB) */
#define PRODUCTS_LOAD_LINE_MAX 1024u           /* bytes of one line, its newline not counted (longest today: 197) */
#define PRODUCTS_LOAD_APP_MAX 100u             /* app records (count groups are 0..99) */
#define PRODUCTS_LOAD_KMS_MAX 1024u            /* kms records (metrics keep a row of counters per KMS id) */
#define PRODUCTS_LOAD_SKU_MAX 4096u            /* sku records */
#define PRODUCTS_LOAD_CSVLK_MAX 128u           /* csvlk records (kmsd keeps one ePID per CSVLK: ACTIVATION_MAX_CSVLK) */
#define PRODUCTS_LOAD_BUILD_MAX 256u           /* build records */
/* Errors kept for the caller (the first ones by line; count says how many there were) and the bytes of each, its
 * "FILE:LINE: error: " included; a longer message is cut. */
#define PRODUCTS_LOAD_ERRORS_MAX 16u
#define PRODUCTS_LOAD_ERROR_LEN 512u

struct products_load_error {
    size_t line; /* 0: about the whole file */
    char text[PRODUCTS_LOAD_ERROR_LEN];
};

struct products_load_errors {
    size_t count; /* errors found; more than n when some were not kept */
    size_t n;     /* kept in e[], ordered by line as the generator prints them */
    struct products_load_error e[PRODUCTS_LOAD_ERRORS_MAX];
};

/*
 * Validates text[0, len) (the bytes of a file; need not be NUL-terminated) and builds its table into *out. name is
 * the file's name in messages and the table's `source` (copied). The table's sha256 is the text's. Returns 0;
 * KMS_EINVAL when the text breaks a rule (errs holds them; errs may be NULL); -ENOMEM. *out is NULL on failure.
 */
int products_load(const char *name, const void *text, size_t len, const struct products_tables **out,
                  struct products_load_errors *errs);

/* Frees a table built by products_load that is not in use (never the built-in one, nor one passed to
 * products_use). NULL is fine. */
void products_load_free(const struct products_tables *t);

/* Records one more error "NAME[:LINE]: error: TEXT" in errs the way products_load does (for the caller's own, such
 * as "cannot read"). */
void products_load_error(struct products_load_errors *errs, const char *name, size_t line, const char *text);

#endif
