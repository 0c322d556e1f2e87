/* product_names and product_commands: what a typed product text names (name, alias, SKU id, one edition of a
 * combined name; ASCII case ignored), part-of-name filters, suggestions for the rest, and the client commands
 * for a Windows and an Office product. */
#include "testutil.h"

#include <string.h>

#include "err.h"
#include "product_commands.h"
#include "product_names.h"

static void resolve(void **state)
{
    (void)state;
    const struct products_sku *pro = products_find_sku("win11pro");
    assert_non_null(pro);
    assert_string_equal(pro->name, "Windows 10/11 Pro");
    assert_ptr_equal(product_names_resolve("Windows 10/11 Pro"), pro);
    assert_ptr_equal(product_names_resolve("windows 10/11 PRO"), pro);
    assert_ptr_equal(product_names_resolve("Windows 11 Pro"), pro); /* one edition of the combined name */
    assert_ptr_equal(product_names_resolve("windows 10 pro"), pro);
    assert_ptr_equal(product_names_resolve("WIN11PRO"), pro);
    assert_ptr_equal(product_names_resolve("2de67392-b7a7-462a-b1ca-108dd189f588"), pro); /* SKU id */
    assert_ptr_equal(product_names_resolve("2DE67392-B7A7-462A-B1CA-108DD189F588"), pro);
    assert_null(product_names_resolve("Windows 12 Pro"));
    assert_null(product_names_resolve("Windows 11 Pro "));                    /* no trimming */
    assert_null(product_names_resolve("58e2134f-8e11-4d17-9cb2-91069c151148")); /* a KMS id is no SKU */
    assert_null(product_names_resolve(""));
    assert_null(product_names_resolve(NULL));
}

static void parts(void **state)
{
    (void)state;
    const struct products_sku *pp = products_find_sku("o2024pp");
    assert_true(product_names_part_of("professional plus", pp));
    assert_true(product_names_part_of("", pp));
    assert_false(product_names_part_of("Windows", pp));
    assert_false(product_names_part_of(NULL, pp));
    assert_true(product_names_part_count("Office") > 20);
    assert_int_equal(product_names_part_count("no such thing"), 0);
}

static void filters(void **state)
{
    (void)state;
    bool exact = false;
    assert_string_equal(product_names_filter("win11pro", &exact), "Windows 10/11 Pro");
    assert_true(exact);
    assert_string_equal(product_names_filter("Windows 11 Pro", &exact), "Windows 10/11 Pro");
    assert_true(exact);
    assert_string_equal(product_names_filter("office", &exact), "office"); /* a part of names */
    assert_false(exact);
    assert_string_equal(product_names_filter("0ff1ce15-0000-0000-0000-000000000000", &exact),
                        "0ff1ce15-0000-0000-0000-000000000000"); /* an unknown product's id */
    assert_false(exact);
    assert_null(product_names_filter("Office 2024", &exact)); /* neither: an error with suggestions */
    assert_null(product_names_filter("", &exact));
    assert_null(product_names_filter(NULL, &exact));
}

static void suggestions(void **state)
{
    (void)state;
    const struct products_sku *s[PRODUCT_NAMES_SUGGEST_MAX];
    size_t n = product_names_suggest("Office 2024", s, PRODUCT_NAMES_SUGGEST_MAX);
    assert_true(n >= 2);
    for (size_t i = 0; i < n; i++) { /* every word in each */
        assert_true(product_names_part_of("office", s[i]));
        assert_true(product_names_part_of("2024", s[i]));
    }
    /* letters and digits run together read as separate words when the whole word occurs nowhere */
    const struct products_sku *t[PRODUCT_NAMES_SUGGEST_MAX];
    size_t m = product_names_suggest("office2024", t, PRODUCT_NAMES_SUGGEST_MAX);
    assert_int_equal(m, n);
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(t[i], s[i]);
    m = product_names_suggest("OFFICE2024 project", t, PRODUCT_NAMES_SUGGEST_MAX);
    assert_true(m >= 1);
    for (size_t i = 0; i < m; i++)
        assert_true(product_names_part_of("2024", t[i]) && product_names_part_of("Project", t[i]));
    assert_true(product_names_matches("server2022", product_names_resolve("Windows Server 2022 Standard")));
    assert_false(product_names_matches("server2022", product_names_resolve("Windows Server 2019 Standard")));
    assert_true(product_names_matches("o2024pp", product_names_resolve("o2024pp"))); /* whole, as before */
    assert_false(product_names_matches("office2099", product_names_resolve("o2024pp")));
    assert_false(product_names_matches("office", product_names_resolve("win11pro")));
    assert_true(product_names_matches("2024office", product_names_resolve("o2024pp")));
    assert_false(product_names_matches("o2024", product_names_resolve("win11pro"))); /* a run of one: not split */
    assert_false(product_names_matches("office2024x", product_names_resolve("o2024pp"))); /* two changes */
    n = product_names_suggest("win11pr", s, 1); /* a unique prefix of an alias */
    assert_int_equal(n, 1);
    assert_string_equal(s[0]->name, "Windows 10/11 Pro");
    n = product_names_suggest("o2024pq", s, 1); /* a typo */
    assert_int_equal(n, 1);
    assert_string_equal(s[0]->alias, "o2024pp");
    assert_int_equal(product_names_suggest("zzzzzzzzzz", s, 5), 0);
    assert_int_equal(product_names_suggest(NULL, s, 5), 0);

    char msg[512];
    bool more = true;
    product_names_unknown(msg, sizeof msg, "o2024pq", &more);
    assert_string_equal(msg, "unknown product 'o2024pq'; did you mean 'Office LTSC Professional Plus 2024' (o2024pp)?");
    assert_false(more);
    product_names_unknown(msg, sizeof msg, "zzz\n", &more);
    assert_string_equal(msg, "unknown product 'zzz?'");
    assert_false(more);
    product_names_unknown(msg, sizeof msg, "Office", &more);
    assert_non_null(strstr(msg, ", ...?")); /* more than PRODUCT_NAMES_SUGGEST_MAX: the list is cut */
    assert_true(more);
    product_names_unknown(msg, 10, "Office 2024", NULL);
    assert_string_equal(msg, "unknown p"); /* truncated, terminated */
    product_names_unknown(msg, 120, "Office 2024", &more); /* whole suggestions only: one fits, the rest are "..." */
    assert_true(more);
    assert_string_equal(msg, "unknown product 'Office 2024'; did you mean 'Office Access LTSC 2024' (o2024access), ...?");
}

static void commands(void **state)
{
    (void)state;
    struct product_command c[PRODUCT_COMMANDS_MAX];
    const struct products_sku *pro = products_find_sku("win11pro");
    assert_int_equal(product_commands(pro, "kms.example.org", 1688, c), 3);
    assert_string_equal(c[0].text, "slmgr /ipk W269N-WFGWX-YVC9B-4J6C9-T83GX");
    assert_string_equal(c[1].text, "slmgr /skms kms.example.org:1688");
    assert_string_equal(c[2].text, "slmgr /ato");
    assert_null(product_commands_note(pro));
    assert_int_equal(product_commands(pro, "2001:db8::1", 11688, c), 3);
    assert_string_equal(c[1].text, "slmgr /skms [2001:db8::1]:11688");

    const struct products_sku *pp = products_find_sku("o2024pp");
    assert_int_equal(product_commands(pp, "10.0.0.5", 1688, c), 4);
    assert_string_equal(c[0].text,
                        "cscript \"%ProgramFiles%\\Microsoft Office\\Office16\\OSPP.VBS\" /inpkey:XJ2XN-FW8RK-P4HMP-DKDBV-GCVGB");
    assert_string_equal(c[1].text, "cscript \"%ProgramFiles%\\Microsoft Office\\Office16\\OSPP.VBS\" /sethst:10.0.0.5");
    assert_string_equal(c[2].text, "cscript \"%ProgramFiles%\\Microsoft Office\\Office16\\OSPP.VBS\" /setprt:1688");
    assert_string_equal(c[3].text, "cscript \"%ProgramFiles%\\Microsoft Office\\Office16\\OSPP.VBS\" /act");
    assert_non_null(product_commands_note(pp));
    /* the folder follows the version: Office14 for 2010, Office15 for 2013 */
    for (size_t i = 0; i < products_sku_count(); i++) {
        const struct products_sku *s = products_sku_at(i);
        const char *want = strcmp(s->kms->app->key, "windows") == 0         ? NULL
                           : strcmp(s->kms->app->key, "office2010") == 0     ? "Office14"
                           : strncmp(s->kms->name, "Office 2013", 11) == 0 ? "Office15"
                                                                             : "Office16";
        if (want)
            assert_string_equal(s->kms->office_folder, want);
        else
            assert_null(s->kms->office_folder);
    }
    /* hosts that cannot go into a command line as they are */
    assert_int_equal(product_commands(pro, "a b", 1688, c), KMS_EINVAL);
    assert_int_equal(product_commands(pro, "a&calc", 1688, c), KMS_EINVAL);
    assert_int_equal(product_commands(pro, "a\"b", 1688, c), KMS_EINVAL);
    assert_int_equal(product_commands(pro, "", 1688, c), KMS_EINVAL);
    assert_int_equal(product_commands(pro, NULL, 1688, c), KMS_EINVAL);
    assert_int_equal(product_commands(pro, "host", 0, c), KMS_EINVAL);
    assert_int_equal(product_commands(NULL, "host", 1688, c), KMS_EINVAL);
    char big[PRODUCT_COMMANDS_HOST_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(product_commands(pro, big, 1688, c), KMS_EINVAL);
    big[PRODUCT_COMMANDS_HOST_MAX] = '\0';
    assert_int_equal(product_commands(pro, big, 1688, c), 3);
    /* a SKU without a GVLK has nothing to install */
    for (size_t i = 0; i < products_sku_count(); i++)
        if (!products_sku_at(i)->gvlk)
            assert_int_equal(product_commands(products_sku_at(i), "host", 1688, c), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(resolve), cmocka_unit_test(parts), cmocka_unit_test(filters),
                                       cmocka_unit_test(suggestions), cmocka_unit_test(commands)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
