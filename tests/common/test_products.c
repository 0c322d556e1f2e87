/*
 * products: the generated table agrees with data/products.tsv field by field, its cross links hold, lookups
 * hit and miss as they should, the newest products carry Microsoft's GVLKs, and scripts/gen_products.py
 * rejects malformed tables, as the C loader (products_load) does, with the same errors. TEST_SOURCE_ROOT (the
 * source tree) and TEST_PYTHON (python3) come from meson.
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guid.h"
#include "products.h"
#include "products_gen.h"

#define MAX_FIELDS 8
#define PATH_CAP 4096

/* ------------------------------------------------------------------------------------------------ helpers */

static struct guid gid(const char *text)
{
    struct guid g;
    if (guid_parse(&g, text) != 0)
        fail_msg("bad GUID in test: %s", text);
    return g;
}

static const char *source_root(void)
{
    const char *root = getenv("TEST_SOURCE_ROOT");
    if (!root || !*root)
        fail_msg("TEST_SOURCE_ROOT is not set (meson test sets it)");
    return root;
}

static void path_join(char *out, const char *dir, const char *rel)
{
    int n = snprintf(out, PATH_CAP, "%s/%s", dir, rel);
    if (n < 0 || n >= PATH_CAP)
        fail_msg("path too long: %s/%s", dir, rel);
}

static bool ascii_eq_nocase(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y)
            return false;
        if (!x)
            return true;
    }
}

/* Unix seconds of YYYY-MM-DD at 00:00 UTC, counted the slow and obvious way (independent of the generator). */
static int64_t unix_day(const char *text)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    char tail;
    if (sscanf(text, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        fail_msg("bad date in TSV: %s", text);
    int64_t days = 0;
    for (int i = 1970; i < y; i++)
        days += (i % 4 == 0 && (i % 100 != 0 || i % 400 == 0)) ? 366 : 365;
    for (int i = 1; i < m; i++)
        days += mdays[i - 1] + (i == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
    return (days + d - 1) * 86400;
}

/* Splits line (in place) at tabs; drops the trailing newline. Returns the number of fields. */
static size_t split(char *line, char sep, char **f, size_t max)
{
    size_t n = 0;
    line[strcspn(line, "\n")] = '\0';
    for (char *p = line;;) {
        if (n == max)
            fail_msg("too many fields");
        f[n++] = p;
        char *q = strchr(p, sep);
        if (!q)
            return n;
        *q = '\0';
        p = q + 1;
    }
}

static bool has_flag(const char *flags, const char *word)
{
    char copy[128];
    char *w[MAX_FIELDS];
    if (strcmp(flags, "-") == 0)
        return false;
    snprintf(copy, sizeof copy, "%s", flags);
    size_t n = split(copy, ',', w, MAX_FIELDS);
    for (size_t i = 0; i < n; i++)
        if (strcmp(w[i], word) == 0)
            return true;
    return false;
}

static uint32_t num(const char *text)
{
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (*text == '\0' || *end != '\0')
        fail_msg("bad number in TSV: %s", text);
    return (uint32_t)v;
}

static FILE *open_tsv(void)
{
    char path[PATH_CAP];
    path_join(path, source_root(), "data/products.tsv");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    return f;
}

/* ------------------------------------------------------------------------------------------------ table vs TSV */

/* Every record of data/products.tsv is in the table with the same fields, in the same order, and nothing else is. */
static void table_matches_tsv(void **state)
{
    (void)state;
    FILE *f = open_tsv();
    char line[1024];
    size_t n_app = 0, n_kms = 0, n_sku = 0, n_csvlk = 0, n_act = 0, n_build = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        assert_non_null(strchr(line, '\n')); /* the line fitted */
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *v[MAX_FIELDS];
        size_t nf = split(line, '\t', v, MAX_FIELDS);
        if (strcmp(v[0], "app") == 0) {
            assert_int_equal(nf, 8);
            struct guid id = gid(v[2]);
            const struct products_app *a = products_app_by_id(&id);
            assert_ptr_equal(a, products_app_at(n_app++));
            assert_string_equal(a->key, v[1]);
            assert_int_equal(a->min_active_clients, num(v[3]));
            assert_string_equal(a->default_csvlk->key, v[4]);
            assert_int_equal(a->count_group, num(v[5]));
            assert_string_equal(a->group_label, v[6]);
            assert_string_equal(a->name, v[7]);
        } else if (strcmp(v[0], "kms") == 0) {
            assert_int_equal(nf, 7);
            struct guid id = gid(v[1]);
            const struct products_kms *k = products_kms_by_id(&id);
            assert_ptr_equal(k, products_kms_at(n_kms++));
            assert_string_equal(k->app->key, v[2]);
            assert_int_equal(k->n_policy, num(v[3]));
            assert_int_equal(k->protocol, num(v[4]));
            assert_int_equal(k->retail, has_flag(v[5], "retail"));
            assert_int_equal(k->preview, has_flag(v[5], "preview"));
            const char *folder = has_flag(v[5], "office14")   ? "Office14"
                                 : has_flag(v[5], "office15") ? "Office15"
                                 : has_flag(v[5], "office16") ? "Office16"
                                                              : NULL;
            if (folder)
                assert_string_equal(k->office_folder, folder);
            else
                assert_null(k->office_folder);
            assert_string_equal(k->name, v[6]);
        } else if (strcmp(v[0], "sku") == 0) {
            assert_int_equal(nf, 7);
            struct guid id = gid(v[1]), kid = gid(v[2]);
            const struct products_sku *s = products_sku_by_id(&id);
            assert_ptr_equal(s, products_sku_at(n_sku++));
            assert_true(guid_eq(&s->kms->id, &kid));
            char *al[MAX_FIELDS];
            size_t na = split(v[3], ',', al, MAX_FIELDS);
            assert_int_equal(s->alias_count, na);
            assert_string_equal(s->alias, al[0]);
            for (size_t i = 0; i < na; i++)
                assert_string_equal(s->aliases[i], al[i]);
            if (strcmp(v[4], "-") == 0)
                assert_null(s->gvlk);
            else
                assert_string_equal(s->gvlk, v[4]);
            assert_int_equal(s->gvlk_generated, has_flag(v[5], "gengvlk"));
            assert_string_equal(s->name, v[6]);
        } else if (strcmp(v[0], "csvlk") == 0) {
            assert_int_equal(nf, 8);
            const struct products_csvlk *c = products_find_csvlk(v[1]);
            assert_ptr_equal(c, products_csvlk_at(n_csvlk++));
            assert_string_equal(c->key, v[1]);
            if (strcmp(v[2], "-") == 0) {
                assert_false(c->has_epid);
            } else {
                assert_true(c->has_epid);
                assert_int_equal(c->group, num(v[2]));
                assert_int_equal(c->key_min, num(v[3]));
                assert_int_equal(c->key_max, num(v[4]));
            }
            assert_int_equal(c->released, unix_day(v[5]));
            assert_int_equal(c->lab, has_flag(v[6], "lab"));
            assert_int_equal(c->preview, has_flag(v[6], "preview"));
            assert_string_equal(c->name, v[7]);
        } else if (strcmp(v[0], "activates") == 0) {
            assert_int_equal(nf, 3);
            struct guid kid = gid(v[2]);
            assert_true(products_csvlk_activates(products_find_csvlk(v[1]), &kid));
            n_act++;
        } else if (strcmp(v[0], "build") == 0) {
            assert_int_equal(nf, 6);
            const struct products_build *b = products_build_by_number(num(v[1]));
            assert_ptr_equal(b, products_build_at(n_build++));
            assert_int_equal(b->platform, num(v[2]));
            assert_int_equal(b->released, unix_day(v[3]));
            assert_int_equal(b->ndr64, has_flag(v[4], "ndr64"));
            assert_int_equal(b->server, has_flag(v[4], "server"));
            assert_int_equal(b->epid, has_flag(v[4], "epid"));
            assert_string_equal(b->name, v[5]);
        } else {
            fail_msg("products.tsv:%zu: unknown record type %s", lineno, v[0]);
        }
    }
    fclose(f);
    assert_int_equal(products_app_count(), n_app);
    assert_int_equal(products_kms_count(), n_kms);
    assert_int_equal(products_sku_count(), n_sku);
    assert_int_equal(products_csvlk_count(), n_csvlk);
    assert_int_equal(products_build_count(), n_build);
    size_t links = 0;
    for (size_t i = 0; i < products_csvlk_count(); i++)
        links += products_csvlk_at(i)->activate_count;
    assert_int_equal(links, n_act);
    /* Against the source XML (data/README.md): 30 builds, 3 apps, 257 SKUs as there; 33 KMS ids plus the two
     * LTSC counted ids the XML lacks; 47 CSVLKs
     * less the pre-release Vista one (activates only an id the XML lacks) and one duplicate lab entry;
     * 74 Activate links less those two CSVLKs' links and one link to an id the XML lacks. */
    assert_int_equal(n_app, 3);
    assert_int_equal(n_kms, 35);
    assert_int_equal(n_sku, 257);
    assert_int_equal(n_csvlk, 45);
    assert_int_equal(n_act, 71);
    assert_int_equal(n_build, 30);
}

static void index_bounds(void **state)
{
    (void)state;
    assert_null(products_app_at(products_app_count()));
    assert_null(products_kms_at(products_kms_count()));
    assert_null(products_sku_at(products_sku_count()));
    assert_null(products_csvlk_at(products_csvlk_count()));
    assert_null(products_build_at(products_build_count()));
    assert_null(products_sku_at((size_t)-1));
    assert_non_null(products_sku_at(products_sku_count() - 1));
}

/* ------------------------------------------------------------------------------------------------ integrity */

static void references_resolve(void **state)
{
    (void)state;
    for (size_t i = 0; i < products_sku_count(); i++) {
        const struct products_sku *s = products_sku_at(i);
        assert_non_null(s->kms);
        assert_ptr_equal(products_kms_by_id(&s->kms->id), s->kms);
        assert_true(s->alias_count >= 1);
        if (s->gvlk)
            assert_int_equal(strlen(s->gvlk), PRODUCTS_GVLK_LEN);
        assert_false(s->gvlk_generated && !s->gvlk);
    }
    for (size_t i = 0; i < products_kms_count(); i++) {
        const struct products_kms *k = products_kms_at(i);
        assert_non_null(k->app);
        assert_ptr_equal(products_app_by_id(&k->app->id), k->app);
        assert_true(k->protocol >= 4 && k->protocol <= 6);
        assert_true(k->n_policy >= 1);
        assert_true((k->csvlks == NULL) == (k->csvlk_count == 0));
        for (size_t j = 0; j < k->csvlk_count; j++) {
            assert_true(products_csvlk_activates(k->csvlks[j], &k->id));
            if (j > 0) /* table order */
                assert_true(k->csvlks[j - 1] < k->csvlks[j]);
        }
    }
    size_t links = 0;
    for (size_t i = 0; i < products_csvlk_count(); i++) {
        const struct products_csvlk *c = products_csvlk_at(i);
        assert_true(c->activate_count >= 1);
        for (size_t j = 0; j < c->activate_count; j++) {
            const struct products_kms *k = c->activates[j];
            assert_ptr_equal(products_kms_by_id(&k->id), k);
            size_t n;
            const struct products_csvlk *const *v = products_csvlks_for_kms(&k->id, &n);
            bool back = false;
            for (size_t m = 0; m < n; m++)
                back = back || v[m] == c;
            assert_true(back);
        }
        links += c->activate_count;
        if (c->has_epid) {
            assert_true(c->key_min <= c->key_max && c->key_max <= 999999999u && c->group <= 99999u);
        } else {
            assert_int_equal(c->group, 0);
            assert_int_equal(c->key_max, 0);
        }
        assert_true(c->released > 0);
    }
    size_t back_links = 0;
    for (size_t i = 0; i < products_kms_count(); i++)
        back_links += products_kms_at(i)->csvlk_count;
    assert_int_equal(links, back_links);
    for (size_t i = 0; i < products_app_count(); i++) {
        const struct products_app *a = products_app_at(i);
        assert_non_null(a->default_csvlk);
        assert_true(a->default_csvlk->has_epid);
    }
}

/* The generator's suggested ePID CSVLK follows the documented rule, re-derived here independently. */
static void epid_csvlk_rule(void **state)
{
    (void)state;
    for (size_t i = 0; i < products_kms_count(); i++) {
        const struct products_kms *k = products_kms_at(i);
        const struct products_csvlk *best = NULL;
        for (size_t j = 0; j < products_csvlk_count(); j++) {
            const struct products_csvlk *c = products_csvlk_at(j);
            if (!c->has_epid || !products_csvlk_activates(c, &k->id))
                continue;
            bool rel = !c->lab && !c->preview, best_rel = best && !best->lab && !best->preview;
            if (!best || rel > best_rel || (rel == best_rel && c->released > best->released))
                best = c;
        }
        assert_ptr_equal(k->epid_csvlk, best ? best : k->app->default_csvlk);
        assert_true(k->epid_csvlk->has_epid);
        assert_ptr_equal(products_epid_csvlk(&k->app->id, &k->id), k->epid_csvlk);
    }
    struct guid unknown = gid("00000000-0000-0000-0000-000000000001");
    for (size_t i = 0; i < products_app_count(); i++) {
        const struct products_app *a = products_app_at(i);
        assert_ptr_equal(products_epid_csvlk(&a->id, &unknown), a->default_csvlk);
    }
    assert_null(products_epid_csvlk(&unknown, &unknown));
    /* Windows 10/11 volume gets a Windows client CSVLK, Server 2025 its own, Office 2010 group 96. */
    struct guid win10 = gid("58e2134f-8e11-4d17-9cb2-91069c151148"),
                ws2025 = gid("907f1f65-adcd-4a2e-95bc-4bf500bc6e58");
    struct guid o2010 = gid("e85af946-2e25-47b7-83e1-bebcebeac611");
    assert_string_equal(products_kms_by_id(&win10)->epid_csvlk->key, "win10-2019");
    assert_string_equal(products_kms_by_id(&ws2025)->epid_csvlk->key, "win2025");
    assert_int_equal(products_kms_by_id(&o2010)->epid_csvlk->group, 96);
}

static void names_and_aliases_unique(void **state)
{
    (void)state;
    size_t ns = products_sku_count();
    for (size_t i = 0; i < ns; i++) {
        const struct products_sku *a = products_sku_at(i);
        for (size_t x = 0; x < a->alias_count; x++) {
            const char *al = a->aliases[x];
            for (const char *p = al; *p; p++) /* lower-case, no blanks */
                assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
            assert_false(ascii_eq_nocase(al, a->name));
            for (size_t y = x + 1; y < a->alias_count; y++)
                assert_false(ascii_eq_nocase(al, a->aliases[y]));
        }
        for (size_t j = i + 1; j < ns; j++) {
            const struct products_sku *b = products_sku_at(j);
            assert_false(guid_eq(&a->id, &b->id));
            if (ascii_eq_nocase(a->name, b->name))
                fail_msg("SKU name %s twice", a->name);
            for (size_t x = 0; x < a->alias_count; x++) {
                assert_false(ascii_eq_nocase(a->aliases[x], b->name));
                for (size_t y = 0; y < b->alias_count; y++)
                    if (ascii_eq_nocase(a->aliases[x], b->aliases[y]))
                        fail_msg("alias %s on %s and %s", a->aliases[x], a->name, b->name);
            }
            for (size_t y = 0; y < b->alias_count; y++)
                assert_false(ascii_eq_nocase(a->name, b->aliases[y]));
            if (a->gvlk && b->gvlk)
                assert_string_not_equal(a->gvlk, b->gvlk);
        }
    }
    for (size_t i = 0; i < products_kms_count(); i++)
        for (size_t j = i + 1; j < products_kms_count(); j++) {
            assert_false(guid_eq(&products_kms_at(i)->id, &products_kms_at(j)->id));
            assert_false(ascii_eq_nocase(products_kms_at(i)->name, products_kms_at(j)->name));
        }
    for (size_t i = 0; i < products_app_count(); i++)
        for (size_t j = i + 1; j < products_app_count(); j++) {
            assert_false(guid_eq(&products_app_at(i)->id, &products_app_at(j)->id));
            assert_false(ascii_eq_nocase(products_app_at(i)->name, products_app_at(j)->name));
            assert_false(ascii_eq_nocase(products_app_at(i)->key, products_app_at(j)->key));
        }
    for (size_t i = 0; i < products_csvlk_count(); i++)
        for (size_t j = i + 1; j < products_csvlk_count(); j++) {
            assert_false(ascii_eq_nocase(products_csvlk_at(i)->key, products_csvlk_at(j)->key));
            assert_false(ascii_eq_nocase(products_csvlk_at(i)->name, products_csvlk_at(j)->name));
        }
    for (size_t i = 0; i < products_build_count(); i++)
        for (size_t j = i + 1; j < products_build_count(); j++)
            assert_int_not_equal(products_build_at(i)->build, products_build_at(j)->build);
    /* ids are unique across kinds as well */
    for (size_t i = 0; i < ns; i++) {
        assert_null(products_kms_by_id(&products_sku_at(i)->id));
        assert_null(products_app_by_id(&products_sku_at(i)->id));
    }
}

/* ------------------------------------------------------------------------------------------------ lookups */

static void lookup_by_id(void **state)
{
    (void)state;
    for (size_t i = 0; i < products_app_count(); i++)
        assert_ptr_equal(products_app_by_id(&products_app_at(i)->id), products_app_at(i));
    for (size_t i = 0; i < products_kms_count(); i++)
        assert_ptr_equal(products_kms_by_id(&products_kms_at(i)->id), products_kms_at(i));
    for (size_t i = 0; i < products_sku_count(); i++)
        assert_ptr_equal(products_sku_by_id(&products_sku_at(i)->id), products_sku_at(i));

    /* wire order (protocol.md): 55c92734-d682-4d71-983e-d6ec3f16059f travels as 34 27 c9 55 82 d6 71 4d ... */
    static const uint8_t windows_wire[16] = {0x34, 0x27, 0xc9, 0x55, 0x82, 0xd6, 0x71, 0x4d,
                                             0x98, 0x3e, 0xd6, 0xec, 0x3f, 0x16, 0x05, 0x9f};
    struct guid wire;
    memcpy(wire.b, windows_wire, 16);
    const struct products_app *win = products_app_by_id(&wire);
    assert_non_null(win);
    assert_string_equal(win->name, "Windows");

    /* misses: zero, all-ones, a real id with one bit flipped in each of Data1 and Data4, ids of other kinds */
    struct guid zero = gid("00000000-0000-0000-0000-000000000000"), ones = gid("ffffffff-ffff-ffff-ffff-ffffffffffff");
    assert_null(products_app_by_id(&zero));
    assert_null(products_kms_by_id(&zero));
    assert_null(products_sku_by_id(&zero));
    assert_null(products_sku_by_id(&ones));
    assert_null(products_kms_by_id(&ones));
    struct guid pro = gid("2de67392-b7a7-462a-b1ca-108dd189f588");
    assert_non_null(products_sku_by_id(&pro));
    for (size_t byte = 0; byte < 16; byte += 15) {
        struct guid near = pro;
        near.b[byte] ^= 1;
        assert_null(products_sku_by_id(&near));
    }
    struct guid win10 = gid("58e2134f-8e11-4d17-9cb2-91069c151148");
    assert_null(products_sku_by_id(&win10));
    assert_null(products_app_by_id(&win10));
    assert_null(products_kms_by_id(&pro));
    assert_null(products_app_by_id(NULL));
    assert_null(products_kms_by_id(NULL));
    assert_null(products_sku_by_id(NULL));
}

static void find_sku_by_name_or_alias(void **state)
{
    (void)state;
    struct guid pro = gid("2de67392-b7a7-462a-b1ca-108dd189f588");
    const struct products_sku *s = products_sku_by_id(&pro);
    assert_non_null(s);
    static const char *const hits[] = {"Windows 10/11 Pro", "WINDOWS 10/11 PRO", "windows 10/11 pro", "win11pro",
                                       "WIN11PRO",          "win10pro",          "Win10Pro"};
    for (size_t i = 0; i < sizeof hits / sizeof hits[0]; i++)
        assert_ptr_equal(products_find_sku(hits[i]), s);
    static const char *const misses[] = {"",
                                         "win11pr",
                                         "win11pro ",
                                         " win11pro",
                                         "Windows 10/11 Pro N ",
                                         "Windows 10/11",
                                         "win11",
                                         "2de67392-b7a7-462a-b1ca-108dd189f588"};
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++)
        assert_null(products_find_sku(misses[i]));
    assert_null(products_find_sku(NULL));
    assert_string_equal(products_find_sku("ws2025dc")->name, "Windows Server 2025 Datacenter");
    assert_string_equal(products_find_sku("o2024pp")->name, "Office LTSC Professional Plus 2024");
    assert_string_equal(products_find_sku("o2010pp")->gvlk, "VYBBJ-TRJPB-QFQRF-QFT4D-H3GVB");
    /* every SKU is found by its own name and by each alias */
    for (size_t i = 0; i < products_sku_count(); i++) {
        const struct products_sku *x = products_sku_at(i);
        assert_ptr_equal(products_find_sku(x->name), x);
        for (size_t a = 0; a < x->alias_count; a++)
            assert_ptr_equal(products_find_sku(x->aliases[a]), x);
    }
}

static void csvlks_for_windows_10_11(void **state)
{
    (void)state;
    struct guid win10 = gid("58e2134f-8e11-4d17-9cb2-91069c151148");
    size_t n = 0;
    const struct products_csvlk *const *v = products_csvlks_for_kms(&win10, &n);
    assert_non_null(v);
    assert_true(n >= 1);
    size_t expect = 0;
    for (size_t i = 0; i < products_csvlk_count(); i++) {
        const struct products_csvlk *c = products_csvlk_at(i);
        bool listed = false;
        for (size_t j = 0; j < c->activate_count; j++)
            listed = listed || guid_eq(&c->activates[j]->id, &win10);
        expect += listed;
    }
    assert_int_equal(n, expect);
    for (size_t i = 0; i < n; i++) {
        assert_true(products_csvlk_activates(v[i], &win10));
        assert_true(v[i]->has_epid);
    }
    /* the Windows 10 2019 CSVLK is among them, the Office and Server 2025 ones are not */
    const struct products_csvlk *w10 = products_find_csvlk("win10-2019"), *o24 = products_find_csvlk("office2024");
    assert_true(products_csvlk_activates(w10, &win10));
    assert_false(products_csvlk_activates(o24, &win10));
    assert_false(products_csvlk_activates(products_find_csvlk("win2025"), &win10));

    struct guid unknown = gid("12345678-1234-1234-1234-123456789abc");
    n = 99;
    assert_null(products_csvlks_for_kms(&unknown, &n));
    assert_int_equal(n, 0);
    struct guid no_csvlk = gid("d27cd636-1962-44e9-8b4f-27b6c23efb85"); /* "Windows 10 Unknown": no CSVLK */
    n = 99;
    assert_null(products_csvlks_for_kms(&no_csvlk, &n));
    assert_int_equal(n, 0);
    assert_false(products_csvlk_activates(NULL, &win10));
    assert_false(products_csvlk_activates(w10, NULL));
}

static void find_csvlk_by_key(void **state)
{
    (void)state;
    const struct products_csvlk *c = products_find_csvlk("win2025");
    assert_non_null(c);
    assert_ptr_equal(products_find_csvlk("WIN2025"), c);
    assert_string_equal(c->name, "Windows Server 2025");
    assert_true(c->has_epid);
    assert_int_equal(c->group, 4918);
    assert_int_equal(c->key_min, 30000);
    assert_int_equal(c->key_max, 20029999);
    assert_int_equal(c->released, unix_day("2024-11-01"));
    struct guid ws2025 = gid("907f1f65-adcd-4a2e-95bc-4bf500bc6e58");
    assert_true(products_csvlk_activates(c, &ws2025));

    const struct products_csvlk *o10 = products_find_csvlk("office2010");
    assert_non_null(o10);
    assert_int_equal(o10->group, 96);
    assert_int_equal(o10->key_min, 199000000);
    assert_int_equal(o10->key_max, 217999999);
    const struct products_csvlk *gov = products_find_csvlk("win10gov");
    assert_non_null(gov);
    assert_int_equal(gov->group, 3858);
    const struct products_csvlk *o24 = products_find_csvlk("office2024");
    assert_non_null(o24);
    assert_int_equal(o24->released, unix_day("2024-09-16")); /* filled in: the XML has none */

    assert_null(products_find_csvlk("win2026"));
    assert_null(products_find_csvlk("win202"));
    assert_null(products_find_csvlk(""));
    assert_null(products_find_csvlk(NULL));
}

/* ------------------------------------------------------------------------------------------------ facts */

static void spot_checks_from_xml(void **state)
{
    (void)state;
    struct guid pro = gid("2de67392-b7a7-462a-b1ca-108dd189f588"), win10 = gid("58e2134f-8e11-4d17-9cb2-91069c151148");
    struct guid windows = gid("55c92734-d682-4d71-983e-d6ec3f16059f");
    const struct products_sku *s = products_sku_by_id(&pro);
    assert_non_null(s);
    assert_string_equal(s->name, "Windows 10/11 Pro");
    assert_string_equal(s->gvlk, "W269N-WFGWX-YVC9B-4J6C9-T83GX");
    assert_true(guid_eq(&s->kms->id, &win10));
    assert_int_equal(s->kms->n_policy, 25);
    assert_int_equal(s->kms->protocol, 6);
    assert_false(s->kms->retail);
    assert_true(guid_eq(&s->kms->app->id, &windows));
    assert_int_equal(s->kms->app->min_active_clients, 50);

    /* Office 2010: its own application, protocol 4 for every SKU, N = 5, 10 active clients */
    struct guid o14 = gid("59a52881-a989-479d-af46-f275c6370663");
    size_t office2010_skus = 0;
    for (size_t i = 0; i < products_sku_count(); i++) {
        const struct products_sku *x = products_sku_at(i);
        if (!guid_eq(&x->kms->app->id, &o14))
            continue;
        office2010_skus++;
        assert_int_equal(x->kms->protocol, 4);
        assert_int_equal(x->kms->n_policy, 5);
    }
    assert_int_equal(office2010_skus, 19);
    assert_int_equal(products_app_by_id(&o14)->min_active_clients, 10);

    struct {
        const char *kms_id;
        uint32_t n, protocol;
        bool retail, preview;
    } const k[] = {
        {"e85af946-2e25-47b7-83e1-bebcebeac611", 5, 4, false, false},  /* Office 2010 */
        {"e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", 5, 5, false, false},  /* Office 2013 */
        {"a8973cb5-bf03-0a4c-9cef-703099645ab3", 5, 6, false, false},  /* Office 2024 ("DefaultKmsprotocol") */
        {"3c40b358-5948-45af-923b-53d21fcc7e79", 25, 5, false, false}, /* Windows 8 (Volume) */
        {"7fde5219-fbfa-484a-82c9-34d1ad53e856", 25, 4, false, false}, /* Windows 7 */
        {"8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", 5, 6, false, false},  /* Windows Server 2019 */
        {"b74263e4-0f92-46c6-bcf8-c11d5efe2959", 5, 6, false, false},  /* Windows Server 2022 */
        {"e1c51358-fe3e-4203-a4a2-3b6b20c9734e", 25, 6, true, false},  /* Windows 10/11 (Retail) */
        {"6d5f5270-31ac-433e-b90a-39892923c657", 5, 6, false, true},   /* Windows Server Next (Preview) */
        {"7ba0bf23-d0f5-4072-91d9-d55af5a481b6", 25, 6, false, false}, /* Windows 10/11 China Government */
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        struct guid id = gid(k[i].kms_id);
        const struct products_kms *x = products_kms_by_id(&id);
        if (!x)
            fail_msg("KMS id %s missing", k[i].kms_id);
        assert_int_equal(x->n_policy, k[i].n);
        assert_int_equal(x->protocol, k[i].protocol);
        assert_int_equal(x->retail, k[i].retail);
        assert_int_equal(x->preview, k[i].preview);
    }
    /* The Windows Server 2022 CSVLKs point at the Server 2022 KMS id (the XML names an id it lacks). */
    struct guid ws2022 = gid("b74263e4-0f92-46c6-bcf8-c11d5efe2959");
    assert_true(products_csvlk_activates(products_find_csvlk("win2022"), &ws2022));
}

static void check_sku(const char *id, const char *kms_id, const char *gvlk)
{
    struct guid g = gid(id), k = gid(kms_id);
    const struct products_sku *s = products_sku_by_id(&g);
    if (!s)
        fail_msg("SKU %s missing", id);
    assert_non_null(s->gvlk);
    assert_string_equal(s->gvlk, gvlk);
    assert_false(s->gvlk_generated);
    assert_true(guid_eq(&s->kms->id, &k));
}

static void newest_products(void **state)
{
    (void)state;
    static const char ws2025[] = "907f1f65-adcd-4a2e-95bc-4bf500bc6e58",
                      o2024[] = "a8973cb5-bf03-0a4c-9cef-703099645ab3";
    check_sku("7dc26449-db21-4e09-ba37-28f2958506a6", ws2025, "TVRH6-WHNXV-R9WG3-9XRFY-MY832"); /* Standard */
    check_sku("c052f164-cdf6-409a-a0cb-853ba0f0f55a", ws2025, "D764K-2NDRG-47T6Q-P8T8W-YP6DF"); /* Datacenter */
    check_sku("c2e946d1-cfa2-4523-8c87-30bc696ee584", ws2025, "XGN3F-F394H-FD2MY-PP6FD-8MCRC"); /* Azure Edition */
    check_sku("8d368fc1-9470-4be2-8d66-90e836cbb051", o2024, "XJ2XN-FW8RK-P4HMP-DKDBV-GCVGB");  /* ProPlus */
    check_sku("bbac904f-6a7e-418a-bb4b-24c85da06187", o2024, "V28N4-JG22K-W66P8-VTMGK-H6HGR");  /* Standard */
    check_sku("f510af75-8ab7-4426-a236-1bfb95c34ff8", o2024, "FQQ23-N4YCY-73HQ3-FM9WC-76HF4");  /* Project Pro */
    check_sku("9f144f27-2ac5-40b9-899d-898c2b8b4f81", o2024, "PD3TT-NTHQQ-VC7CY-MFXK3-G87F8");  /* Project Std */
    check_sku("fa187091-8246-47b1-964f-80a0b1e5d69a", o2024, "B7TN8-FJ8V3-7QYCP-HQPMV-YY89G");  /* Visio Pro */
    check_sku("923fa470-aa71-4b8b-b35c-36b79bf9f44b", o2024, "JMMVY-XFNQC-KK4HK-9H7R3-WQQTV");  /* Visio Std */
    /* the wrong keys in circulation are nowhere in the table */
    for (size_t i = 0; i < products_sku_count(); i++) {
        const char *gv = products_sku_at(i)->gvlk;
        if (gv) {
            assert_string_not_equal(gv, "NQ8HH-FTDTM-6VGY7-TQ3DV-XFBV2");
            assert_string_not_equal(gv, "CNFDQ-2BW8H-9V4WM-TKCPD-MD2QF");
        }
    }
    assert_string_equal(products_find_sku("ws2025std")->gvlk, "TVRH6-WHNXV-R9WG3-9XRFY-MY832");
    assert_string_equal(products_find_sku("o2024projpro")->gvlk, "FQQ23-N4YCY-73HQ3-FM9WC-76HF4");

    const struct products_build *b = products_build_by_number(26100); /* Windows 11 24H2 / Server 2025 */
    assert_non_null(b);
    assert_int_equal(b->platform, 3612);
    assert_true(b->epid && b->server && b->ndr64);
    assert_non_null(strstr(b->name, "24H2"));
}

static void host_builds(void **state)
{
    (void)state;
    static const struct {
        uint32_t build, platform;
    } want[] = {{6002, 55041}, {7601, 55041}, {9200, 5426},  {9600, 6401},
                {14393, 3612}, {17763, 3612}, {20348, 3612}, {26100, 3612}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct products_build *b = products_build_by_number(want[i].build);
        if (!b)
            fail_msg("host build %u missing", (unsigned)want[i].build);
        assert_int_equal(b->platform, want[i].platform);
        assert_true(b->epid);
        assert_true(b->server);
        assert_int_equal(b->ndr64, want[i].build >= 9200);
    }
    assert_null(products_build_by_number(0));
    assert_null(products_build_by_number(26101));
    /* epid builds are server builds with 4-5 digit numbers, and their dates ascend with their numbers */
    const struct products_build *prev = NULL;
    for (size_t i = 0; i < products_build_count(); i++) {
        const struct products_build *b = products_build_at(i);
        if (!b->epid)
            continue;
        assert_true(b->server && b->build >= 1000 && b->build <= 99999);
        if (prev)
            assert_true(b->build > prev->build && b->released > prev->released);
        prev = b;
    }
}

/* ------------------------------------------------------------------------------------------------ generator */

/* A minimal valid table; each case below breaks one thing. Line numbers are 1-based. */
#define base_tsv pg_base_tsv /* products_gen.c: the tests' minimal valid table */
#define BASE_LINES PG_BASE_LINES
#define SKU6_HEAD "sku\t73111121-5638-40f6-bc11-f1d7b0d64300\t58e2134f-8e11-4d17-9cb2-91069c151148\t"
#define KMS4_HEAD "kms\t8449b1fb-f0ea-497a-99ab-66ca96e9a0f5\twindows\t"

struct gen_case {
    const char *what;
    size_t line;      /* line to replace; 0 appends */
    const char *text; /* replacement; NULL deletes the line */
    size_t err_line;  /* the line the error must name; 0: the generator must accept the table */
};

static const struct gen_case gen_cases[] = {
    {"the base table", 1, "# minimal table", 0},
    {"an activation before its CSVLK", 1, "activates\tw10\t8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", 0},
    {"a CSVLK without ePID data", 9, "csvlk\tw10\t-\t-\t-\t2018-10-02\tpreview\tWindows 10 2019", 0},
    {"upper-case GUID", 5,
     "sku\t2DE67392-B7A7-462A-B1CA-108DD189F588\t58e2134f-8e11-4d17-9cb2-91069c151148\twin10pro\t"
     "W269N-WFGWX-YVC9B-4J6C9-T83GX\t-\tWindows 10/11 Pro",
     5},
    {"short GUID", 4, "kms\t8449b1fb-f0ea-497a-99ab-66ca96e9a0f\twindows\t5\t6\t-\tWindows Server 2019", 4},
    {"non-hex GUID", 10, "activates\tw10\t58e2134g-8e11-4d17-9cb2-91069c151148", 10},
    {"braced GUID", 2, "app\twindows\t{55c92734-d682-4d71-983e-d6ec3f16059f}\t50\tw2019\t0\tWindows\tWindows", 2},
    {"duplicate SKU id", 6,
     "sku\t2de67392-b7a7-462a-b1ca-108dd189f588\t58e2134f-8e11-4d17-9cb2-91069c151148\twin10ent\t"
     "NPPR9-FWDCX-D2C8J-H872K-2YT43\t-\tWindows 10/11 Enterprise",
     6},
    {"duplicate KMS id", 4, "kms\t58e2134f-8e11-4d17-9cb2-91069c151148\twindows\t5\t6\t-\tWindows Server 2019", 4},
    {"SKU id equal to a KMS id", 6,
     "sku\t8449b1fb-f0ea-497a-99ab-66ca96e9a0f5\t58e2134f-8e11-4d17-9cb2-91069c151148\twin10ent\t"
     "NPPR9-FWDCX-D2C8J-H872K-2YT43\t-\tWindows 10/11 Enterprise",
     6},
    {"duplicate SKU name, other case", 6, SKU6_HEAD "win10ent\tNPPR9-FWDCX-D2C8J-H872K-2YT43\t-\tWINDOWS 10/11 PRO", 6},
    {"duplicate alias", 6, SKU6_HEAD "win10ent,win11pro\tNPPR9-FWDCX-D2C8J-H872K-2YT43\t-\tWindows 10/11 Enterprise",
     6},
    {"SKU name equal to an alias", 0,
     "sku\te272e3e2-732f-4c65-a8f0-484747d0d947\t58e2134f-8e11-4d17-9cb2-91069c151148\tx1\t-\t-\tWIN10PRO", 12},
    {"upper-case alias", 6, SKU6_HEAD "Win10Ent\tNPPR9-FWDCX-D2C8J-H872K-2YT43\t-\tWindows 10/11 Enterprise", 6},
    {"empty alias", 6, SKU6_HEAD "win10ent,\tNPPR9-FWDCX-D2C8J-H872K-2YT43\t-\tWindows 10/11 Enterprise", 6},
    {"duplicate KMS name", 4, KMS4_HEAD "5\t6\t-\tWindows 10/11 2015 (volume)", 4},
    {"SKU of an unknown KMS id", 6,
     "sku\t73111121-5638-40f6-bc11-f1d7b0d64300\t11111111-2222-3333-4444-555555555555\twin10ent\t"
     "NPPR9-FWDCX-D2C8J-H872K-2YT43\t-\tWindows 10/11 Enterprise",
     6},
    {"CSVLK activating an unknown KMS id", 10, "activates\tw10\t11111111-2222-3333-4444-555555555555", 10},
    {"CSVLK activating nothing", 8, NULL, 7},
    {"activation by an unknown CSVLK", 8, "activates\tw2020\t8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", 8},
    {"duplicate activation", 0, "activates\tw10\t58e2134f-8e11-4d17-9cb2-91069c151148", 12},
    {"lower-case GVLK", 6, SKU6_HEAD "win10ent\tnppr9-fwdcx-d2c8j-h872k-2yt43\t-\tWindows 10/11 Enterprise", 6},
    {"GVLK with four groups", 6, SKU6_HEAD "win10ent\tNPPR9-FWDCX-D2C8J-H872K\t-\tWindows 10/11 Enterprise", 6},
    {"GVLK with a long group", 6, SKU6_HEAD "win10ent\tNPPR9-FWDCX-D2C8J-H872K-2YT433\t-\tWindows 10/11 Enterprise", 6},
    {"GVLK with a bad character", 6, SKU6_HEAD "win10ent\tNPPR9-FWDCX-D2C8J-H872K-2YT4!\t-\tWindows 10/11 Enterprise",
     6},
    {"GVLK without dashes", 6, SKU6_HEAD "win10ent\tNPPR9FWDCXD2C8JH872K2YT43\t-\tWindows 10/11 Enterprise", 6},
    {"duplicate GVLK", 6, SKU6_HEAD "win10ent\tW269N-WFGWX-YVC9B-4J6C9-T83GX\t-\tWindows 10/11 Enterprise", 6},
    {"gengvlk without a GVLK", 6, SKU6_HEAD "win10ent\t-\tgengvlk\tWindows 10/11 Enterprise", 6},
    {"30 February", 7, "csvlk\tw2019\t206\t551000000\t570999999\t2018-02-30\t-\tWindows Server 2019", 7},
    {"month 13", 7, "csvlk\tw2019\t206\t551000000\t570999999\t2018-13-01\t-\tWindows Server 2019", 7},
    {"two-digit year", 7, "csvlk\tw2019\t206\t551000000\t570999999\t18-10-02\t-\tWindows Server 2019", 7},
    {"date with slashes", 11, "build\t17763\t3612\t2018/10/02\tndr64,server,epid\tWindows 10 1809", 11},
    {"unknown record type", 0, "product\tx\ty", 12},
    {"missing field", 4, KMS4_HEAD "5\t6\tWindows Server 2019", 4},
    {"extra field", 4, KMS4_HEAD "5\t6\t-\t-\tWindows Server 2019", 4},
    {"empty field", 4, KMS4_HEAD "5\t\t-\tWindows Server 2019", 4},
    {"trailing blank", 4, KMS4_HEAD "5\t6\t-\tWindows Server 2019 ", 4},
    {"carriage return", 4, KMS4_HEAD "5\t6\t-\tWindows Server 2019\r", 4},
    {"unknown flag", 4, KMS4_HEAD "5\t6\tretial\tWindows Server 2019", 4},
    {"repeated flag", 4, KMS4_HEAD "5\t6\tretail,retail\tWindows Server 2019", 4},
    {"protocol 7", 4, KMS4_HEAD "5\t7\t-\tWindows Server 2019", 4},
    {"N policy 0", 4, KMS4_HEAD "0\t6\t-\tWindows Server 2019", 4},
    {"unknown application", 4, "kms\t8449b1fb-f0ea-497a-99ab-66ca96e9a0f5\toffice\t5\t6\t-\tWindows Server 2019", 4},
    {"key_min above key_max", 9, "csvlk\tw10\t206\t265999999\t256000000\t2018-10-02\t-\tWindows 10 2019", 9},
    {"partial ePID data", 9, "csvlk\tw10\t206\t-\t-\t2018-10-02\t-\tWindows 10 2019", 9},
    {"group above 99999", 9, "csvlk\tw10\t100000\t256000000\t265999999\t2018-10-02\t-\tWindows 10 2019", 9},
    {"number with a leading zero", 9, "csvlk\tw10\t0206\t256000000\t265999999\t2018-10-02\t-\tWindows 10 2019", 9},
    {"key id above 999999999", 9, "csvlk\tw10\t206\t256000000\t1000000000\t2018-10-02\t-\tWindows 10 2019", 9},
    {"duplicate CSVLK key", 0, "csvlk\tw10\t206\t1\t2\t2018-10-02\t-\tOther", 12},
    {"count group not numbered from 0", 2, "app\twindows\t55c92734-d682-4d71-983e-d6ec3f16059f\t50\tw2019\t1\tWindows\tWindows", 2},
    {"bad group label", 2, "app\twindows\t55c92734-d682-4d71-983e-d6ec3f16059f\t50\tw2019\t0\tWin_dows\tWindows", 2},
    {"unknown default CSVLK", 2, "app\twindows\t55c92734-d682-4d71-983e-d6ec3f16059f\t50\tw2099\t0\tWindows\tWindows", 2},
    {"default CSVLK without ePID data", 7, "csvlk\tw2019\t-\t-\t-\t2018-10-02\t-\tWindows Server 2019", 2},
    {"epid build that is no server", 11, "build\t17763\t3612\t2018-10-02\tndr64,epid\tWindows 10 1809", 11},
    {"duplicate build", 0, "build\t17763\t3612\t2018-10-02\tndr64\tAgain", 12},
    {"non-ASCII name", 4, KMS4_HEAD "5\t6\t-\tWindows Server 2019 \xc3\xa9", 4},
    {"two Office folders", 4, KMS4_HEAD "5\t6\toffice14,office16\tWindows Server 2019", 4},
    {"an Office folder on some KMS ids of an application only", 4, KMS4_HEAD "5\t6\toffice16\tWindows Server 2019",
     2},
};

static void write_case(const char *path, const struct gen_case *c)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 1; i <= BASE_LINES; i++) {
        const char *text = base_tsv[i - 1];
        if (i == c->line)
            text = c->text;
        if (text)
            fprintf(f, "%s\n", text);
    }
    if (c->line == 0)
        fprintf(f, "%s\n", c->text);
    assert_int_equal(fclose(f), 0);
}

/* Each case: the generator exits 1 naming the line and writes nothing (or accepts a valid table), and the C loader
 * (products_load.h) agrees: the same accept/reject, the same errors on the same lines (products_gen.c). */
static void generator_rejects_bad_input(void **state)
{
    (void)state;
    struct pg_tmpdir t;
    pg_tmp_make(&t);
    char in[PATH_CAP], out[PATH_CAP], log[PATH_CAP];
    pg_path_join(in, t.path, "t.tsv");
    pg_path_join(out, t.path, "t.c");
    pg_path_join(log, t.path, "log");
    for (size_t i = 0; i < sizeof gen_cases / sizeof gen_cases[0]; i++) {
        const struct gen_case *c = &gen_cases[i];
        write_case(in, c);
        pg_agree(in, out, log, c->err_line, c->what);
    }
    static const char *const files[] = {"t.tsv", "t.c", "log"};
    pg_tmp_remove(&t, files, 3);
}

/* The real table compiles, and twice in a row gives identical bytes. */
static void generator_is_deterministic(void **state)
{
    (void)state;
    struct pg_tmpdir t;
    pg_tmp_make(&t);
    char in[PATH_CAP], a[PATH_CAP], b[PATH_CAP], log[PATH_CAP];
    path_join(in, source_root(), "data/products.tsv");
    pg_path_join(a, t.path, "a.c");
    pg_path_join(b, t.path, "b.c");
    pg_path_join(log, t.path, "log");
    assert_int_equal(pg_run_generator(in, a, log), 0);
    assert_int_equal(pg_run_generator(in, b, log), 0);
    size_t la, lb;
    char *ta = pg_read_all(a, &la), *tb = pg_read_all(b, &lb);
    assert_non_null(ta);
    assert_non_null(tb);
    assert_true(la > 1000);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    /* wire order in the emitted initialiser of the Windows application id */
    assert_non_null(strstr(ta, "{.b = {0x34, 0x27, 0xc9, 0x55, 0x82, 0xd6, 0x71, 0x4d, 0x98, 0x3e, 0xd6, 0xec, "
                               "0x3f, 0x16, 0x05, 0x9f}}"));
    free(ta);
    free(tb);
    static const char *const files[] = {"a.c", "b.c", "log"};
    pg_tmp_remove(&t, files, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_matches_tsv),
        cmocka_unit_test(index_bounds),
        cmocka_unit_test(references_resolve),
        cmocka_unit_test(epid_csvlk_rule),
        cmocka_unit_test(names_and_aliases_unique),
        cmocka_unit_test(lookup_by_id),
        cmocka_unit_test(find_sku_by_name_or_alias),
        cmocka_unit_test(csvlks_for_windows_10_11),
        cmocka_unit_test(find_csvlk_by_key),
        cmocka_unit_test(spot_checks_from_xml),
        cmocka_unit_test(newest_products),
        cmocka_unit_test(host_builds),
        cmocka_unit_test(generator_rejects_bad_input),
        cmocka_unit_test(generator_is_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
