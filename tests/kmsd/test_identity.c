/* The host identity file: saved, loaded back identically, completed when the table grows, rejected when
 * malformed. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "identity.h"

static void gen(struct activation_host *h, uint64_t seed)
{
    struct kms_rng rng = {tu_det_fill, &seed};
    assert_int_equal(activation_host_generate(h, activation_default_build(), 1033, NULL, 1795000000, &rng), 0);
}

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/kmsd-identity.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void roundtrip(void **state)
{
    (void)state;
    static struct activation_host a, b;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/identity", dir);
    gen(&a, 1);
    gen(&b, 2);
    size_t missing = 99;
    assert_int_equal(identity_load(path, &b, &missing, err, sizeof err), -ENOENT);
    assert_int_equal(identity_save(path, &a, err, sizeof err), 0);
    assert_int_equal(identity_load(path, &b, &missing, err, sizeof err), 0); /* b was another identity */
    assert_int_equal(missing, 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(access(path, R_OK), 0);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0); /* renamed into place */
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void partial_and_bad(void **state)
{
    (void)state;
    static struct activation_host a, b;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/identity2", dir);
    gen(&a, 3);
    /* a file naming only the HWID and one group: the rest of the groups count as missing and keep a's */
    const struct products_csvlk *c = products_find_csvlk("win2025");
    assert_non_null(c);
    size_t ci = 0;
    while (products_csvlk_at(ci) != c)
        ci++;
    char text[512];
    snprintf(text, sizeof text, "kmsd-identity 1\nhwid 3A1C049600B60076\nbuild 26100\nlcid 1031\nepid win2025 %s\n",
             a.epid[ci]);
    write_file(path, text);
    b = a;
    size_t missing = 0;
    assert_int_equal(identity_load(path, &b, &missing, err, sizeof err), 0);
    assert_true(missing > 5);
    assert_int_equal(b.hwid[0], 0x3A);
    assert_int_equal(b.lcid, 1031);
    assert_string_equal(b.epid[ci], a.epid[ci]);

    static const char *const bad[] = {
        "",                                          /* no header */
        "kmsd-identity 2\n",                         /* unknown version */
        "kmsd-identity 1\nhwid 3A1C\n",              /* short HWID */
        "kmsd-identity 1\nhwid 3A1C049600B6007G\n",  /* not hex */
        "kmsd-identity 1\nbuild 1234\n",             /* not a build of the table */
        "kmsd-identity 1\nlcid 0\n",
        "kmsd-identity 1\nepid win2025 garbage\n",
        "kmsd-identity 1\nepid win2025 03612-00096-199-799188-03-1033-17763.0000-2972018\n", /* wrong group */
        "kmsd-identity 1\nsomething else\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i]);
        b = a;
        if (identity_load(path, &b, &missing, err, sizeof err) >= 0)
            fail_msg("accepted bad identity file #%zu", i);
        assert_non_null(strstr(err, "identity"));
        assert_memory_equal(&a, &b, sizeof a); /* untouched on error */
    }
    /* saving into a directory that does not exist fails with a message */
    snprintf(path, sizeof path, "%s/no/such/dir/identity", dir);
    assert_true(identity_save(path, &a, err, sizeof err) < 0);
    assert_non_null(strstr(err, "no/such/dir"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip),
        cmocka_unit_test(partial_and_bad),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
