/* suggest: the edit distance, and which candidate "did you mean" names (a unique prefix, else the one closest
 * within a third of the word's length, never a tie). */
#include "testutil.h"

#include <string.h>

#include "suggest.h"

static void distance(void **state)
{
    (void)state;
    assert_int_equal(suggest_distance("", ""), 0);
    assert_int_equal(suggest_distance("abc", ""), 3);
    assert_int_equal(suggest_distance("", "abc"), 3);
    assert_int_equal(suggest_distance("client", "clients"), 1);
    assert_int_equal(suggest_distance("stast", "stats"), 1); /* a swap of neighbours is one */
    assert_int_equal(suggest_distance("clinets", "clients"), 1);
    assert_int_equal(suggest_distance("ab", "ba"), 1);
    assert_int_equal(suggest_distance("abc", "ca"), 3);
    assert_int_equal(suggest_distance("STATS", "stats"), 0); /* ASCII case ignored */
    assert_int_equal(suggest_distance("kitten", "sitting"), 3);
    char big[200];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(suggest_distance(big, "a"), SUGGEST_WORD_MAX - 1); /* bounded to SUGGEST_WORD_MAX bytes */
}

static void closest(void **state)
{
    (void)state;
    static const char *const cmds[] = {"clients", "stats", "import-pykms"};
    assert_string_equal(suggest_closest("client", cmds, 3), "clients");
    assert_string_equal(suggest_closest("stat", cmds, 3), "stats");      /* a unique prefix */
    assert_string_equal(suggest_closest("import", cmds, 3), "import-pykms");
    assert_string_equal(suggest_closest("Stats", cmds, 3), "stats");
    assert_string_equal(suggest_closest("clinets", cmds, 3), "clients"); /* a swap */
    assert_string_equal(suggest_closest("stast", cmds, 3), "stats");
    assert_string_equal(suggest_closest("clents", cmds, 3), "clients"); /* a letter left out */
    assert_null(suggest_closest("run", cmds, 3));                        /* nothing close */
    assert_null(suggest_closest("", cmds, 3));
    assert_null(suggest_closest(NULL, cmds, 3));
    static const char *const tie[] = {"cat", "car"};
    assert_null(suggest_closest("caX", tie, 2)); /* two at distance 1: no guess */
    assert_null(suggest_closest("ca", tie, 2));  /* a prefix of both: no guess */
    /* last, the longest candidate the word extends past a '-' or '_' */
    static const char *const opts[] = {"retention", "http", "http-token"};
    assert_string_equal(suggest_closest("retention-days", opts, 3), "retention");
    assert_string_equal(suggest_closest("HTTP-token_file", opts, 3), "http-token"); /* the longer of two */
    assert_string_equal(suggest_closest("http-port", opts, 3), "http");
    assert_null(suggest_closest("retentionxxxxxx-y", opts, 3)); /* not at a dash, and too far */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(distance), cmocka_unit_test(closest)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
