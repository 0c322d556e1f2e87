/*
 * products_load: the C loader builds from data/products.tsv exactly the table the generator compiled (every field,
 * every cross reference, every index, every lookup); a loaded table put in use with products_use() answers the plain
 * lookups and the built-in one comes back; on tables broken in ways test_products' cases do not cover, and at each
 * limit of products_load.h (limit - 1, limit, limit + 1), the loader and scripts/gen_products.py agree (the same
 * accept/reject, the same errors on the same lines: products_gen.c); the error list keeps the first errors by line.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "guid.h"
#include "products.h"
#include "products_gen.h"
#include "products_load.h"

static const struct products_tables *load_shipped(void)
{
    char path[PG_PATH_CAP];
    pg_path_join(path, pg_source_root(), "data/products.tsv");
    size_t len;
    char *text = pg_read_all(path, &len);
    assert_non_null(text);
    static struct products_load_errors errs;
    const struct products_tables *t = NULL;
    int rc = products_load("data/products.tsv", text, len, &t, &errs);
    free(text);
    if (rc != 0)
        fail_msg("data/products.tsv does not load (%d): %s", rc, errs.n ? errs.e[0].text : "");
    assert_int_equal(errs.count, 0);
    return t;
}

static void same_string(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/* The position of p in the array at base (entries of size bytes), as the other table's index must be. */
#define POS(p, base) ((size_t)((p) - (base)))

/* ------------------------------------------------------------------------------------------------ the shipped table */

/* Loaded from data/products.tsv, the table equals the generated one: every field of every entry, every cross link as
 * the same position, every index, the checksum. */
static void loads_the_shipped_table(void **state)
{
    (void)state;
    const struct products_tables *l = load_shipped(), *b = products_builtin();
    assert_ptr_not_equal(l, b);
    assert_string_equal(l->source, "data/products.tsv");
    assert_string_equal(b->source, PRODUCTS_SOURCE_BUILTIN);
    assert_memory_equal(l->sha256, b->sha256, sizeof b->sha256);
    assert_int_equal(l->app_count, b->app_count);
    assert_int_equal(l->kms_count, b->kms_count);
    assert_int_equal(l->sku_count, b->sku_count);
    assert_int_equal(l->csvlk_count, b->csvlk_count);
    assert_int_equal(l->build_count, b->build_count);
    for (size_t i = 0; i < b->app_count; i++) {
        const struct products_app *x = &l->apps[i], *y = &b->apps[i];
        assert_memory_equal(x->id.b, y->id.b, 16);
        assert_string_equal(x->key, y->key);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->min_active_clients, y->min_active_clients);
        assert_int_equal(POS(x->default_csvlk, l->csvlks), POS(y->default_csvlk, b->csvlks));
        assert_int_equal(x->count_group, y->count_group);
        assert_string_equal(x->group_label, y->group_label);
        assert_int_equal(l->app_by_id[i], b->app_by_id[i]);
    }
    for (size_t i = 0; i < b->kms_count; i++) {
        const struct products_kms *x = &l->kms[i], *y = &b->kms[i];
        assert_memory_equal(x->id.b, y->id.b, 16);
        assert_string_equal(x->name, y->name);
        assert_int_equal(POS(x->app, l->apps), POS(y->app, b->apps));
        assert_int_equal(x->n_policy, y->n_policy);
        assert_int_equal(x->protocol, y->protocol);
        assert_int_equal(x->retail, y->retail);
        assert_int_equal(x->preview, y->preview);
        same_string(x->office_folder, y->office_folder);
        assert_int_equal(x->csvlk_count, y->csvlk_count);
        assert_int_equal(x->csvlks == NULL, y->csvlks == NULL);
        for (size_t j = 0; j < y->csvlk_count; j++)
            assert_int_equal(POS(x->csvlks[j], l->csvlks), POS(y->csvlks[j], b->csvlks));
        assert_int_equal(POS(x->epid_csvlk, l->csvlks), POS(y->epid_csvlk, b->csvlks));
        assert_int_equal(l->kms_by_id[i], b->kms_by_id[i]);
    }
    for (size_t i = 0; i < b->sku_count; i++) {
        const struct products_sku *x = &l->skus[i], *y = &b->skus[i];
        assert_memory_equal(x->id.b, y->id.b, 16);
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->alias, y->alias);
        assert_int_equal(x->alias_count, y->alias_count);
        for (size_t j = 0; j < y->alias_count; j++)
            assert_string_equal(x->aliases[j], y->aliases[j]);
        same_string(x->gvlk, y->gvlk);
        assert_int_equal(x->gvlk_generated, y->gvlk_generated);
        assert_int_equal(POS(x->kms, l->kms), POS(y->kms, b->kms));
        assert_int_equal(l->sku_by_id[i], b->sku_by_id[i]);
    }
    for (size_t i = 0; i < b->csvlk_count; i++) {
        const struct products_csvlk *x = &l->csvlks[i], *y = &b->csvlks[i];
        assert_string_equal(x->key, y->key);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->has_epid, y->has_epid);
        assert_int_equal(x->group, y->group);
        assert_int_equal(x->key_min, y->key_min);
        assert_int_equal(x->key_max, y->key_max);
        assert_int_equal(x->released, y->released);
        assert_int_equal(x->lab, y->lab);
        assert_int_equal(x->preview, y->preview);
        assert_int_equal(x->activate_count, y->activate_count);
        for (size_t j = 0; j < y->activate_count; j++)
            assert_int_equal(POS(x->activates[j], l->kms), POS(y->activates[j], b->kms));
    }
    for (size_t i = 0; i < b->build_count; i++) {
        const struct products_build *x = &l->builds[i], *y = &b->builds[i];
        assert_int_equal(x->build, y->build);
        assert_int_equal(x->platform, y->platform);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->released, y->released);
        assert_int_equal(x->ndr64, y->ndr64);
        assert_int_equal(x->server, y->server);
        assert_int_equal(x->epid, y->epid);
    }
    products_load_free(l);
}

/* Every lookup on the loaded table finds the entry at the position the built-in one finds, and misses alike. */
static void lookups_agree(void **state)
{
    (void)state;
    const struct products_tables *l = load_shipped(), *b = products_builtin();
    for (size_t i = 0; i < b->app_count; i++)
        assert_int_equal(POS(products_in_app_by_id(l, &b->apps[i].id), l->apps), i);
    for (size_t i = 0; i < b->kms_count; i++) {
        assert_int_equal(POS(products_in_kms_by_id(l, &b->kms[i].id), l->kms), i);
        assert_int_equal(products_in_kms_index(l, &l->kms[i]), i);
        assert_int_equal(products_in_kms_index(l, &b->kms[i]), l->kms_count); /* an entry of another table */
        for (size_t a = 0; a < b->app_count; a++)
            assert_int_equal(POS(products_in_epid_csvlk(l, &b->apps[a].id, &b->kms[i].id), l->csvlks),
                             POS(products_in_epid_csvlk(b, &b->apps[a].id, &b->kms[i].id), b->csvlks));
    }
    for (size_t i = 0; i < b->sku_count; i++) {
        const struct products_sku *s = &b->skus[i];
        assert_int_equal(POS(products_in_sku_by_id(l, &s->id), l->skus), i);
        assert_int_equal(POS(products_in_find_sku(l, s->name), l->skus),
                         POS(products_in_find_sku(b, s->name), b->skus));
        for (size_t j = 0; j < s->alias_count; j++)
            assert_int_equal(POS(products_in_find_sku(l, s->aliases[j]), l->skus), i);
    }
    for (size_t i = 0; i < b->csvlk_count; i++)
        assert_int_equal(POS(products_in_find_csvlk(l, b->csvlks[i].key), l->csvlks), i);
    for (size_t i = 0; i < b->build_count; i++)
        assert_int_equal(POS(products_in_build_by_number(l, b->builds[i].build), l->builds), i);
    struct guid zero = {{0}}, other;
    assert_int_equal(guid_parse(&other, "00000000-0000-0000-0000-000000000001"), 0);
    assert_null(products_in_app_by_id(l, &zero));
    assert_null(products_in_kms_by_id(l, &other));
    assert_null(products_in_sku_by_id(l, &other));
    assert_null(products_in_sku_by_id(l, NULL));
    assert_null(products_in_find_sku(l, "no such product"));
    assert_null(products_in_find_csvlk(l, "win1999"));
    assert_null(products_in_build_by_number(l, 1));
    assert_null(products_in_epid_csvlk(l, &other, &other));
    assert_int_equal(products_in_kms_index(l, NULL), l->kms_count);
    products_load_free(l);
}

/* products_use: the plain lookups read the table put in use; pointers handed out before stay valid; NULL puts the
 * built-in table back. */
static void swap_tables(void **state)
{
    (void)state;
    const struct products_tables *l = load_shipped(), *b = products_builtin();
    assert_ptr_equal(products_current(), b);
    const struct products_sku *before = products_find_sku("win11pro");
    assert_non_null(before);
    assert_ptr_equal(products_use(l), b);
    assert_ptr_equal(products_current(), l);
    const struct products_sku *after = products_find_sku("win11pro");
    assert_ptr_equal(after, products_in_find_sku(l, "win11pro"));
    assert_ptr_not_equal(after, before);
    assert_string_equal(before->name, after->name); /* the old pointer still reads */
    assert_ptr_equal(products_sku_by_id(&after->id), after);
    assert_ptr_equal(products_kms_at(0), &l->kms[0]);
    assert_int_equal(products_kms_index(&l->kms[3]), 3);
    assert_int_equal(products_kms_index(&b->kms[3]), l->kms_count);
    assert_ptr_equal(products_app_at(0), &l->apps[0]);
    assert_ptr_equal(products_csvlk_at(0), &l->csvlks[0]);
    assert_ptr_equal(products_build_at(0), &l->builds[0]);
    assert_ptr_equal(products_use(NULL), l);
    assert_ptr_equal(products_current(), b);
    assert_ptr_equal(products_find_sku("win11pro"), before);
    products_load_free(l);
    products_load_free(b); /* the built-in table is never freed: a no-op */
    products_load_free(NULL);
}

/* ------------------------------------------------------------------------------------------------ agreement */

/* A minimal valid table (test_products' base); a case replaces one line (1-based), deletes it (text NULL) or appends
 * (line 0). raw: the whole file as given, without the base. */
#define base_tsv pg_base_tsv /* products_gen.c: the tests' minimal valid table */
#define BASE_LINES PG_BASE_LINES
#define KMS4 "kms\t8449b1fb-f0ea-497a-99ab-66ca96e9a0f5\twindows\t"
#define SKU6 "sku\t73111121-5638-40f6-bc11-f1d7b0d64300\t58e2134f-8e11-4d17-9cb2-91069c151148\t"
#define APP2 "app\twindows\t55c92734-d682-4d71-983e-d6ec3f16059f\t"

struct load_case {
    const char *what;
    size_t line;      /* line to replace; 0 appends */
    const char *text; /* replacement; NULL deletes the line */
    size_t err_line;  /* 0: both accept; PG_FILE_LEVEL: an error about the whole file; else the line named */
};

/* Rules that test_products' cases leave out, quoting and Unicode in messages, several errors at once. */
static const struct load_case load_cases[] = {
    {"all-zero GUID", 4, "kms\t00000000-0000-0000-0000-000000000000\twindows\t5\t6\t-\tWindows Server 2019", 4},
    {"name of 121 characters", 4,
     KMS4 "5\t6\t-\tWindows Server 2019 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
     4},
    {"name of 120 characters", 4,
     KMS4 "5\t6\t-\tWindows Server 2019 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
     0},
    {"double space in a name", 4, KMS4 "5\t6\t-\tWindows  Server 2019", 4},
    {"upper-case app key", 2, "app\tWindows\t55c92734-d682-4d71-983e-d6ec3f16059f\t50\tw2019\t0\tWindows\tWindows", 2},
    {"app key of 33 characters", 2,
     "app\twwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww\t55c92734-d682-4d71-983e-d6ec3f16059f\t50\tw2019\t0\tWindows\tWindows", 2},
    {"duplicate app key", 0, "app\twindows\t59a52881-a989-479d-af46-f275c6370663\t10\tw2019\t1\tOffice\tOffice", 12},
    {"count group used twice", 0,
     "app\toffice\t59a52881-a989-479d-af46-f275c6370663\t10\tw2019\t0\tOffice\tOffice", 12},
    {"application without KMS ids", 0,
     "app\toffice\t59a52881-a989-479d-af46-f275c6370663\t10\tw2019\t1\tOffice\tOffice", 12},
    {"min_active_clients 65536", 2, APP2 "65536\tw2019\t0\tWindows\tWindows", 2},
    {"count group 100", 2, APP2 "50\tw2019\t100\tWindows\tWindows", 2},
    {"label of 17 characters", 2, APP2 "50\tw2019\t0\tWindowsWindowsWin\tWindows", 2},
    {"default CSVLK not a key", 2, APP2 "50\tW2019\t0\tWindows\tWindows", 2},
    {"unknown record type with a quote", 0, "it's\tx", 12},
    {"unknown record type with both quotes", 0, "it's \"x\"\ty", 12},
    {"unknown record type with a backslash", 0, "a\\b\tc", 12},
    {"leading no-break space", 4, KMS4 "5\t6\t-\t\xc2\xa0Windows Server 2019", 4},
    {"trailing ideographic space", 4, KMS4 "5\t6\t-\tWindows Server 2019\xe3\x80\x80", 4},
    {"vertical tab in a name", 4, KMS4 "5\t6\t-\tWindows\x0bServer 2019", 4},
    {"control character in a flag", 4, KMS4 "5\t6\tre\x01tail\tWindows Server 2019", 4},
    {"a TAB at the end of a line", 4, KMS4 "5\t6\t-\tWindows Server 2019\t", 4},
    {"a line of one TAB", 0, "\t", 12},
    {"an empty flag", 4, KMS4 "5\t6\tretail,\tWindows Server 2019", 4},
    {"the same unknown flag twice", 4, KMS4 "5\t6\tx,x\tWindows Server 2019", 4},
    {"three Office folders", 4, KMS4 "5\t6\toffice16,office15,office14\tWindows Server 2019", 4},
    {"several errors on one line", 4, "kms\tnot-a-guid\toffice\t0\t9\tbogus\tWin  dows", 4},
    {"errors on two lines", 9, "csvlk\tw10\t206\tx\t1\t2018-10-02\t-\tWindows 10 2019",
     9},
    {"protocol with a leading zero", 4, KMS4 "5\t06\t-\tWindows Server 2019", 4},
    {"n_policy of 11 digits", 4, KMS4 "12345678901\t6\t-\tWindows Server 2019", 4},
    {"release date 1979", 7, "csvlk\tw2019\t206\t551000000\t570999999\t1979-12-31\t-\tWindows Server 2019", 7},
    {"release date 2101", 7, "csvlk\tw2019\t206\t551000000\t570999999\t2101-01-01\t-\tWindows Server 2019", 7},
    {"29 February 2100", 7, "csvlk\tw2019\t206\t551000000\t570999999\t2100-02-29\t-\tWindows Server 2019", 7},
    {"29 February 2000", 7, "csvlk\tw2019\t206\t551000000\t570999999\t2000-02-29\t-\tWindows Server 2019", 0},
    {"an alias twice in one SKU", 6,
     SKU6 "win10ent,win10ent\tNPPR9-FWDCX-D2C8J-H872K-2YT43\t-\tWindows 10/11 Enterprise", 6},
    {"aliases that differ in case only from a name", 6,
     SKU6 "windows-ent\tNPPR9-FWDCX-D2C8J-H872K-2YT43\t-\tWINDOWS-ENT", 6},
    {"a SKU without a GVLK", 6, SKU6 "win10ent\t-\t-\tWindows 10/11 Enterprise", 0},
    {"a build numbered 0", 11, "build\t0\t3612\t2018-10-02\tndr64\tWindows 10 1809 / Server 2019", 11},
    {"an epid build below 1000", 0, "build\t999\t3612\t2018-10-02\tserver,epid\tOld", 12},
    {"no epid build", 11, "build\t17763\t3612\t2018-10-02\tndr64,server\tWindows 10 1809 / Server 2019",
     PG_FILE_LEVEL},
    {"no builds", 11, NULL, PG_FILE_LEVEL},
    {"no applications", 2, NULL, PG_FILE_LEVEL},
    {"a CR in a comment is a comment", 1, "# minimal table\r", 0},
    {"a CR alone on a line", 1, "\r", 1},
    {"invalid UTF-8", 4, KMS4 "5\t6\t-\tWindows Server 2019 \xff", 4},
    {"overlong UTF-8", 3, "# \xc0\xaf", 3},
    {"a UTF-8 surrogate", 3, "# \xed\xa0\x80", 3},
    {"truncated UTF-8 at the end", 0, "# \xe2\x82", 12},
    {"UTF-8 in a comment", 1, "# caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80", 0},
    {"csvlk_key unknown and kms_id bad", 10, "activates\tw11\t58e2134f", 10},
    {"default CSVLK and count group wrong on one application line", 2, APP2 "50\tw2099\t1\tWindows\tWindows", 2},
};

static void write_load_case(const char *path, const struct load_case *c)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 1; i <= BASE_LINES; i++) {
        const char *text = i == c->line ? c->text : base_tsv[i - 1];
        if (text)
            fprintf(f, "%s\n", text);
    }
    if (c->line == 0)
        fprintf(f, "%s\n", c->text);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

struct files {
    struct pg_tmpdir t;
    char in[PG_PATH_CAP], out[PG_PATH_CAP], log[PG_PATH_CAP];
};

static void files_make(struct files *f)
{
    pg_tmp_make(&f->t);
    pg_path_join(f->in, f->t.path, "t.tsv");
    pg_path_join(f->out, f->t.path, "t.c");
    pg_path_join(f->log, f->t.path, "log");
}

static void files_remove(struct files *f)
{
    static const char *const names[] = {"t.tsv", "t.c", "log"};
    pg_tmp_remove(&f->t, names, 3);
}

static void loader_agrees_with_generator(void **state)
{
    (void)state;
    struct files f;
    files_make(&f);
    for (size_t i = 0; i < sizeof load_cases / sizeof load_cases[0]; i++) {
        write_load_case(f.in, &load_cases[i]);
        pg_agree(f.in, f.out, f.log, load_cases[i].err_line, load_cases[i].what);
    }
    /* files that are not the base with one line changed */
#define RAW(what, lit, line) {what, lit, sizeof lit - 1, line}
    static const struct {
        const char *what, *text;
        size_t len, err_line;
    } raw[] = {
        RAW("an empty file", "", PG_FILE_LEVEL),
        RAW("a file of one newline", "\n", PG_FILE_LEVEL),
        RAW("no newline at the end", "# x\napp", 2),
        RAW("a NUL byte", "# x\napp\tx\0y\n", 2),
        RAW("a NUL byte in a name", "kms\t8449b1fb-f0ea-497a-99ab-66ca96e9a0f5\twindows\t5\t6\t-\tWin\0\n", 1),
    };
#undef RAW
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        write_text(f.in, raw[i].text, raw[i].len);
        pg_agree(f.in, f.out, f.log, raw[i].err_line, raw[i].what);
    }
    /* more errors than the loader keeps: 20 bad lines, the first PRODUCTS_LOAD_ERRORS_MAX compared, all counted */
    char *many = malloc(64 * 1024);
    assert_non_null(many);
    size_t n = 0;
    for (size_t i = 0; i < BASE_LINES; i++)
        n += (size_t)snprintf(many + n, 64 * 1024 - n, "%s\n", base_tsv[i]);
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(many + n, 64 * 1024 - n, "bogus%d\tx\n", i);
    write_text(f.in, many, n);
    pg_agree(f.in, f.out, f.log, BASE_LINES + 1, "20 bad lines");
    free(many);
    files_remove(&f);
}

/* ------------------------------------------------------------------------------------------------ limits */

/* A deterministic GUID of kind k (1..), number i. */
static void guid_text(char out[GUID_TEXT_LEN + 1], unsigned k, size_t i)
{
    snprintf(out, GUID_TEXT_LEN + 1, "%08x-0000-4000-8000-%012x", k, (unsigned)(i & 0xffffffu));
}

struct table_spec {
    size_t apps, kms, skus, csvlks, builds;
};

/* A valid table of that many records of each kind (kms >= apps) into a malloc'ed buffer; *len its length. */
static char *make_table(const struct table_spec *s, size_t *len)
{
    size_t cap = 2 * 1024 * 1024, n = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    char g[GUID_TEXT_LEN + 1], h[GUID_TEXT_LEN + 1];
#define PUT(...) (n += (size_t)snprintf(b + n, cap - n, __VA_ARGS__), assert_true(n < cap))
    PUT("# generated for a limit\n");
    for (size_t i = 0; i < s->apps; i++) {
        guid_text(g, 1, i);
        PUT("app\ta%zu\t%s\t50\tc0\t%zu\tG%zu\tApp %zu\n", i, g, i, i, i);
    }
    for (size_t i = 0; i < s->kms; i++) {
        guid_text(g, 2, i);
        PUT("kms\t%s\ta%zu\t25\t6\t-\tKMS %zu\n", g, i < s->apps ? i : 0, i);
    }
    for (size_t i = 0; i < s->skus; i++) {
        guid_text(g, 3, i);
        guid_text(h, 2, i % s->kms);
        PUT("sku\t%s\t%s\ts%zu\t-\t-\tSKU %zu\n", g, h, i, i);
    }
    for (size_t i = 0; i < s->csvlks; i++) {
        guid_text(h, 2, i % s->kms);
        PUT("csvlk\tc%zu\t206\t1\t2\t2020-01-01\t-\tCSVLK %zu\nactivates\tc%zu\t%s\n", i, i, i, h);
    }
    for (size_t i = 0; i < s->builds; i++) {
        if (i == 0)
            PUT("build\t20348\t3612\t2021-08-18\tndr64,server,epid\tServer 2022\n");
        else
            PUT("build\t%zu\t3612\t2021-08-18\t-\tBuild %zu\n", 1000 + i, i);
    }
#undef PUT
    *len = n;
    return b;
}

/* The line of the first record of a kind past its limit in make_table's layout. */
static size_t first_line_of(const struct table_spec *s, int kind)
{
    size_t line = 2; /* after the comment */
    size_t before[] = {0, s->apps, s->apps + s->kms, s->apps + s->kms + s->skus};
    if (kind < 4)
        return line + before[kind];
    return line + s->apps + s->kms + s->skus + 2 * s->csvlks; /* builds */
}

static void agree_on(struct files *f, const char *text, size_t len, size_t err_line, const char *what)
{
    write_text(f->in, text, len);
    pg_agree(f->in, f->out, f->log, err_line, what);
}

/* PRODUCTS_LOAD_{APP,KMS,SKU,CSVLK,BUILD}_MAX: limit - 1 and limit load, limit + 1 is refused at the first record
 * past it; the generator agrees. */
static void record_limits(void **state)
{
    (void)state;
    struct files f;
    files_make(&f);
    static const struct {
        const char *what;
        size_t max;
        int kind; /* 0 app, 1 kms, 2 sku, 3 csvlk, 4 build */
    } limits[] = {
        {"applications", PRODUCTS_LOAD_APP_MAX, 0}, {"KMS ids", PRODUCTS_LOAD_KMS_MAX, 1},
        {"SKUs", PRODUCTS_LOAD_SKU_MAX, 2},         {"CSVLKs", PRODUCTS_LOAD_CSVLK_MAX, 3},
        {"builds", PRODUCTS_LOAD_BUILD_MAX, 4},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        for (size_t n = limits[i].max - 1; n <= limits[i].max + 1; n++) {
            struct table_spec s = {1, 1, 1, 1, 1};
            size_t *field[] = {&s.apps, &s.kms, &s.skus, &s.csvlks, &s.builds};
            *field[limits[i].kind] = n;
            if (s.kms < s.apps)
                s.kms = s.apps; /* every application needs a KMS id */
            size_t len;
            char *text = make_table(&s, &len);
            char what[96];
            snprintf(what, sizeof what, "%zu %s (limit %zu)", n, limits[i].what, limits[i].max);
            size_t over = first_line_of(&s, limits[i].kind) + limits[i].max;
            if (limits[i].kind == 3)
                over = first_line_of(&s, 3) + 2 * limits[i].max; /* a csvlk and an activates line each */
            agree_on(&f, text, len, n > limits[i].max ? over : 0, what);
            if (n <= limits[i].max) { /* and the loaded table holds them all */
                const struct products_tables *t = NULL;
                assert_int_equal(products_load("t.tsv", text, len, &t, NULL), 0);
                size_t counts[] = {t->app_count, t->kms_count, t->sku_count, t->csvlk_count, t->build_count};
                assert_int_equal(counts[limits[i].kind], n);
                products_load_free(t);
            }
            free(text);
        }
    }
    files_remove(&f);
}

/* A table padded with comment lines to exactly size bytes. */
static char *padded_table(size_t size)
{
    struct table_spec s = {1, 1, 1, 1, 1};
    size_t len;
    char *base = make_table(&s, &len);
    assert_true(len + 2 <= size);
    char *b = malloc(size + 1);
    assert_non_null(b);
    memcpy(b, base, len);
    free(base);
    size_t n = len;
    while (n < size) {
        size_t k = size - n > 1000 ? 1000 : size - n;
        if (size - n - k == 1)
            k--; /* never leave one byte: a line is at least "#\n" */
        b[n] = '#';
        memset(b + n + 1, 'x', k - 2);
        b[n + k - 1] = '\n';
        n += k;
    }
    return b;
}

/* PRODUCTS_LOAD_FILE_MAX and PRODUCTS_LOAD_LINE_MAX at limit - 1, limit and limit + 1. */
static void size_limits(void **state)
{
    (void)state;
    struct files f;
    files_make(&f);
    for (size_t size = PRODUCTS_LOAD_FILE_MAX - 1; size <= PRODUCTS_LOAD_FILE_MAX + 1; size++) {
        char *text = padded_table(size);
        char what[64];
        snprintf(what, sizeof what, "a file of %zu bytes", size);
        agree_on(&f, text, size, size > PRODUCTS_LOAD_FILE_MAX ? PG_FILE_LEVEL : 0, what);
        free(text);
    }
    for (size_t n = PRODUCTS_LOAD_LINE_MAX - 1; n <= PRODUCTS_LOAD_LINE_MAX + 1; n++) {
        struct table_spec s = {1, 1, 1, 1, 1};
        size_t len;
        char *base = make_table(&s, &len);
        char *text = malloc(len + n + 2);
        assert_non_null(text);
        memcpy(text, base, len);
        free(base);
        text[len] = '#';
        memset(text + len + 1, 'y', n - 1); /* a comment line of n bytes, its newline not counted */
        text[len + n] = '\n';
        char what[64];
        snprintf(what, sizeof what, "a line of %zu bytes", n);
        size_t lines = 0;
        for (size_t i = 0; i < len; i++)
            lines += text[i] == '\n';
        agree_on(&f, text, len + n + 1, n > PRODUCTS_LOAD_LINE_MAX ? lines + 1 : 0, what);
        free(text);
    }
    files_remove(&f);
}

/* ------------------------------------------------------------------------------------------------ the error list */

static void error_list(void **state)
{
    (void)state;
    static struct products_load_errors e;
    memset(&e, 0, sizeof e);
    static const size_t lines[] = {7, 3, 0, 7, 5};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char text[16];
        snprintf(text, sizeof text, "e%zu", i);
        products_load_error(&e, "f.tsv", lines[i], text);
    }
    assert_int_equal(e.count, 5);
    assert_int_equal(e.n, 5);
    static const char *const want[] = {"f.tsv: error: e2", "f.tsv:3: error: e1", "f.tsv:5: error: e4",
                                       "f.tsv:7: error: e0", "f.tsv:7: error: e3"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(e.e[i].text, want[i]);
    /* full: a later line is counted only, an earlier one pushes the last out */
    memset(&e, 0, sizeof e);
    for (size_t i = 0; i < PRODUCTS_LOAD_ERRORS_MAX; i++)
        products_load_error(&e, "f", 10 + i, "x");
    products_load_error(&e, "f", 100, "late");
    assert_int_equal(e.count, PRODUCTS_LOAD_ERRORS_MAX + 1);
    assert_int_equal(e.n, PRODUCTS_LOAD_ERRORS_MAX);
    assert_string_equal(e.e[PRODUCTS_LOAD_ERRORS_MAX - 1].text, "f:25: error: x");
    products_load_error(&e, "f", 1, "early");
    assert_int_equal(e.n, PRODUCTS_LOAD_ERRORS_MAX);
    assert_string_equal(e.e[0].text, "f:1: error: early");
    assert_string_equal(e.e[PRODUCTS_LOAD_ERRORS_MAX - 1].text, "f:24: error: x");
    products_load_error(NULL, "f", 1, "nowhere"); /* no list: nothing */
    /* a message longer than an entry is cut, NUL-terminated */
    char long_text[2 * PRODUCTS_LOAD_ERROR_LEN];
    memset(long_text, 'z', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    memset(&e, 0, sizeof e);
    products_load_error(&e, "f", 1, long_text);
    assert_int_equal(strlen(e.e[0].text), PRODUCTS_LOAD_ERROR_LEN - 1);
    /* products_load without a list, and on no text at all */
    const struct products_tables *t = (const struct products_tables *)&e;
    assert_int_equal(products_load("f", "bogus\n", 6, &t, NULL), KMS_EINVAL);
    assert_null(t);
    assert_int_equal(products_load("f", NULL, 0, &t, &e), KMS_EINVAL);
    assert_null(t);
    assert_int_equal(e.count, 5); /* no app, kms, sku, csvlk, build records */
    assert_string_equal(e.e[0].text, "f: error: no app records");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_the_shipped_table),
        cmocka_unit_test(lookups_agree),
        cmocka_unit_test(swap_tables),
        cmocka_unit_test(loader_agrees_with_generator),
        cmocka_unit_test(record_limits),
        cmocka_unit_test(size_limits),
        cmocka_unit_test(error_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
