/*
 * cli_products — the product table from the command line:
 *   kmsd products check FILE   validates FILE as --products-file does (products_file.h: the build's rules); prints
 *                              each error "FILE:LINE: error: RULE" and exits 2, or the counts, the SHA-256 and what
 *                              FILE adds to or lacks from the built-in table, and exits 0;
 *   kmsd products list [--format text|json] [kmsd options]
 *                              the table a kmsd with these options uses: the configuration is read exactly as kmsd
 *                              reads it (config_load: -c FILE, KMSD_* variables, --products-file), as dns-record does.
 */
#include "cli_products.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "guid.h"
#include "products.h"
#include "products_file.h"
#include "products_json.h"
#include "products_load.h"
#include "timeutil.h"


static void usage(FILE *out)
{
    fprintf(out, "usage: kmsd products check FILE\n"
                 "       kmsd products list [--format text|json] [kmsd options: -c FILE, --products-file FILE]\n"
                 "check: validate FILE as --products-file does (exit 0 valid, 2 not); list: the product table kmsd "
                 "uses with these options.\n");
}

/* ---- check */

/* Prints what t has that u lacks, one "PREFIX KIND ID NAME" line each; returns how many. */
static size_t only_in(const struct products_tables *t, const struct products_tables *u, char prefix)
{
    size_t n = 0;
    char id[GUID_TEXT_LEN + 1];
    for (size_t i = 0; i < t->app_count; i++) {
        if (products_in_app_by_id(u, &t->apps[i].id))
            continue;
        guid_format(&t->apps[i].id, id);
        printf("  %c app    %s  %s\n", prefix, id, t->apps[i].name);
        n++;
    }
    for (size_t i = 0; i < t->kms_count; i++) {
        if (products_in_kms_by_id(u, &t->kms[i].id))
            continue;
        guid_format(&t->kms[i].id, id);
        printf("  %c kms    %s  %s\n", prefix, id, t->kms[i].name);
        n++;
    }
    for (size_t i = 0; i < t->sku_count; i++) {
        if (products_in_sku_by_id(u, &t->skus[i].id))
            continue;
        guid_format(&t->skus[i].id, id);
        printf("  %c sku    %s  %s\n", prefix, id, t->skus[i].name);
        n++;
    }
    for (size_t i = 0; i < t->csvlk_count; i++) {
        if (products_in_find_csvlk(u, t->csvlks[i].key))
            continue;
        printf("  %c csvlk  %s  %s\n", prefix, t->csvlks[i].key, t->csvlks[i].name);
        n++;
    }
    for (size_t i = 0; i < t->build_count; i++) {
        if (products_in_build_by_number(u, t->builds[i].build))
            continue;
        printf("  %c build  %u  %s\n", prefix, (unsigned)t->builds[i].build, t->builds[i].name);
        n++;
    }
    return n;
}

static int check(const char *path)
{
    static struct products_load_errors errs;
    const struct products_tables *t;
    int rc = products_file_load(path, &t, &errs);
    if (rc < 0 && errs.count == 0) {
        fprintf(stderr, "kmsd products check: %s: out of memory\n", path);
        return 1;
    }
    if (rc < 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.e[i].text);
        if (errs.count > errs.n)
            fprintf(stderr, "... and %zu more\n", errs.count - errs.n);
        fprintf(stderr, "kmsd products check: %s: %zu error(s); kmsd would not use it\n", path, errs.count);
        return 2;
    }
    size_t gvlks = 0, epid = 0, links = 0, epid_builds = 0;
    for (size_t i = 0; i < t->sku_count; i++)
        gvlks += t->skus[i].gvlk != NULL;
    for (size_t i = 0; i < t->csvlk_count; i++) {
        epid += t->csvlks[i].has_epid;
        links += t->csvlks[i].activate_count;
    }
    for (size_t i = 0; i < t->build_count; i++)
        epid_builds += t->builds[i].epid;
    char hex[PRODUCTS_FILE_SHA256_HEX];
    products_file_sha256_hex(t, hex);
    printf("%s: valid\n"
           "  %zu applications, %zu KMS ids, %zu SKUs (%zu with a GVLK), %zu CSVLK groups (%zu with ePID data, %zu "
           "activations), %zu host builds (%zu for ePIDs)\n"
           "  sha256 %s\n",
           path, t->app_count, t->kms_count, t->sku_count, gvlks, t->csvlk_count, epid, links, t->build_count,
           epid_builds, hex);
    const struct products_tables *b = products_builtin();
    if (memcmp(t->sha256, b->sha256, sizeof b->sha256) == 0) {
        printf("  the same text as the built-in table\n");
    } else {
        printf("  against the built-in table (+ only in %s, - only built in):\n", path);
        size_t n = only_in(t, b, '+') + only_in(b, t, '-');
        if (n == 0)
            printf("  the same entries, other details\n");
    }
    products_load_free(t);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- list */

static void list_text(const struct products_tables *t)
{
    char hex[PRODUCTS_FILE_SHA256_HEX], id[GUID_TEXT_LEN + 1], day[TIMEUTIL_UTC_TEXT_MAX];
    products_file_sha256_hex(t, hex);
    printf("table   %s\nsha256  %s\n"
           "counts  %zu applications, %zu KMS ids, %zu SKUs, %zu CSVLK groups, %zu host builds\n",
           t->source, hex, t->app_count, t->kms_count, t->sku_count, t->csvlk_count, t->build_count);
    for (size_t i = 0; i < t->app_count; i++) {
        const struct products_app *a = &t->apps[i];
        guid_format(&a->id, id);
        printf("\napp %s  %s  %s (count group %u \"%s\", default CSVLK %s)\n", a->key, id, a->name,
               (unsigned)a->count_group, a->group_label, a->default_csvlk->key);
        for (size_t k = 0; k < t->kms_count; k++) {
            const struct products_kms *m = &t->kms[k];
            if (m->app != a)
                continue;
            guid_format(&m->id, id);
            printf("  kms %s  %s (protocol %u, N %u%s%s, ePID from %s)\n", id, m->name, (unsigned)m->protocol,
                   (unsigned)m->n_policy, m->retail ? ", retail" : "", m->preview ? ", preview" : "",
                   m->epid_csvlk->key);
            for (size_t s = 0; s < t->sku_count; s++) {
                const struct products_sku *u = &t->skus[s];
                if (u->kms != m)
                    continue;
                guid_format(&u->id, id);
                printf("    sku %s  %-29s  %s  %s\n", id, u->gvlk ? u->gvlk : "-", u->alias, u->name);
            }
        }
    }
    printf("\n");
    for (size_t i = 0; i < t->csvlk_count; i++) {
        const struct products_csvlk *c = &t->csvlks[i];
        timeutil_format_utc(c->released, TIMEUTIL_UTC_DAY, day);
        if (c->has_epid)
            printf("csvlk %-16s group %05u keys %u-%u  %s  %s (activates %zu KMS ids)\n", c->key, (unsigned)c->group,
                   (unsigned)c->key_min, (unsigned)c->key_max, day, c->name, c->activate_count);
        else
            printf("csvlk %-16s no ePID data  %s  %s (activates %zu KMS ids)\n", c->key, day, c->name,
                   c->activate_count);
    }
    printf("\n");
    for (size_t i = 0; i < t->build_count; i++) {
        const struct products_build *b = &t->builds[i];
        timeutil_format_utc(b->released, TIMEUTIL_UTC_DAY, day);
        printf("build %5u  platform %5u  %s  %s%s%s%s\n", (unsigned)b->build, (unsigned)b->platform, day, b->name,
               b->ndr64 ? ", ndr64" : "", b->server ? ", server" : "", b->epid ? ", epid" : "");
    }
}

static int list(int argc, char **argv, char **envp)
{
    static const char *const own[] = {"--format"};
    const char *vals[1] = {"text"};
    char *pass[CONFIG_COMMAND_ARGS + 1];
    bool help;
    int np = config_command_args("products list", argc, argv, 3, own, vals, 1, pass, &help);
    if (np < 0)
        return 2;
    if (help) {
        usage(stdout);
        return 0;
    }
    const char *format = vals[0];
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "kmsd products list: --format: \"%.60s\" is not text or json\n", format);
        return 2;
    }
    static struct kmsd_config cfg; /* large */
    config_defaults(&cfg);
    int rc = config_load(&cfg, np, pass, envp, stdout, stderr);
    if (rc == KMSD_CONFIG_EXIT_OK)
        return 0;
    if (rc != KMSD_CONFIG_OK)
        return 2;
    const struct products_tables *t = cfg.products_table;
    if (strcmp(format, "json") == 0) {
        json_t *j = products_json_all(t);
        int bad = !j || json_dumpf(j, stdout, JSON_INDENT(2)) < 0;
        json_decref(j);
        putchar('\n');
        if (bad)
            fprintf(stderr, "kmsd products list: out of memory\n");
    } else {
        list_text(t);
    }
    config_release(&cfg);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cli_products(int argc, char **argv, char **envp)
{
    const char *sub = argc > 2 ? argv[2] : "";
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(sub, "check") == 0) {
        if (argc == 4 && (strcmp(argv[3], "-h") == 0 || strcmp(argv[3], "--help") == 0)) {
            usage(stdout);
            return 0;
        }
        if (argc != 4 || argv[3][0] == '\0') {
            fprintf(stderr, "kmsd products check: name one FILE\n");
            usage(stderr);
            return 2;
        }
        return check(argv[3]);
    }
    if (strcmp(sub, "list") == 0)
        return list(argc, argv, envp);
    if (argc <= 2)
        fprintf(stderr, "kmsd products: name what to do: check FILE or list\n");
    else
        fprintf(stderr, "kmsd products: \"%.60s\" is not check or list\n", sub);
    usage(stderr);
    return 2;
}
