/*
 * products_gen — what test_products and test_products_load share: a temporary directory, running
 * scripts/gen_products.py on a file, and the check that the generator and products_load (the C loader) agree on a
 * file: both accept it, or both reject it with the same "FILE:LINE: error: RULE" lines in the same order (the C
 * loader keeps the first PRODUCTS_LOAD_ERRORS_MAX; the generator prints all, and both count them). TEST_SOURCE_ROOT
 * and TEST_PYTHON come from meson. Every helper fails the running cmocka test instead of returning an error.
 */
#ifndef KMSD_TESTS_PRODUCTS_GEN_H
#define KMSD_TESTS_PRODUCTS_GEN_H

#include <stdbool.h>
#include <stddef.h>

#define PG_PATH_CAP 4096

struct pg_tmpdir {
    char path[PG_PATH_CAP];
};

const char *pg_source_root(void);
void pg_path_join(char *out, const char *dir, const char *rel);
void pg_tmp_make(struct pg_tmpdir *t);
/* Removes the files names[0..n) from t and t itself. */
void pg_tmp_remove(struct pg_tmpdir *t, const char *const *names, size_t n);
/* Runs the generator on in -> out with stdout and stderr going to log. Returns its exit status. */
int pg_run_generator(const char *in, const char *out, const char *log);
/* The file at path, NUL-terminated, malloc'ed (*len its length, may be NULL); NULL when it cannot be read. */
char *pg_read_all(const char *path, size_t *len);
#define PG_FILE_LEVEL ((size_t)-1) /* want_line of pg_agree: an error about the whole file ("t.tsv: error: ...") */
/*
 * Runs the generator and the C loader on the file in (named t.tsv, with the files out and log beside it), requires
 * that they agree and that they do what want_line says: 0 accept, PG_FILE_LEVEL reject with an error about the whole
 * file, else reject with an error on that line. what names the case in failures.
 */
void pg_agree(const char *in, const char *out, const char *log, size_t want_line, const char *what);

#define PG_BASE_LINES 11
extern const char *const pg_base_tsv[PG_BASE_LINES];

#endif
