/* num: digits only, every range edge, overflow at UINT64_MAX, and hex of either case. */
#include "testutil.h"

#include <string.h>

#include "err.h"
#include "num.h"

static void decimal(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(num_u64("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(num_u64("10", 0, 10, &v), 0); /* hi */
    assert_int_equal(v, 10);
    assert_int_equal(num_u64("9", 0, 10, &v), 0); /* hi - 1 */
    assert_int_equal(num_u64("11", 0, 10, &v), KMS_ERANGE); /* hi + 1 */
    assert_int_equal(num_u64("4", 5, 10, &v), KMS_ERANGE);  /* lo - 1 */
    assert_int_equal(num_u64("5", 5, 10, &v), 0);           /* lo */
    assert_int_equal(v, 5);
    assert_int_equal(num_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    v = 3;
    assert_int_equal(num_u64("18446744073709551616", 0, UINT64_MAX, &v), KMS_ERANGE); /* overflow */
    assert_int_equal(num_u64("99999999999999999999999", 0, UINT64_MAX, &v), KMS_ERANGE);
    assert_int_equal(v, 3); /* untouched on failure */
    static const char *const bad[] = {"", " 1", "1 ", "+1", "-1", "0x10", "1e3", "1.0", "١"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(num_u64(bad[i], 0, UINT64_MAX, &v), KMS_EINVAL);
    assert_int_equal(v, 3);
    assert_int_equal(num_u64("007", 0, 10, &v), 0); /* leading zeros are digits */
    assert_int_equal(v, 7);
}

static void prefix(void **state)
{
    (void)state;
    uint64_t v;
    const char *end;
    assert_int_equal(num_digits("30s", &v, &end), 0);
    assert_int_equal(v, 30);
    assert_string_equal(end, "s");
    assert_int_equal(num_digits("s", &v, &end), KMS_EINVAL);
    assert_int_equal(num_digits("", &v, &end), KMS_EINVAL);
    assert_int_equal(num_digits("18446744073709551616m", &v, &end), KMS_ERANGE);
}

static void hex(void **state)
{
    (void)state;
    uint8_t b[4];
    assert_int_equal(num_hex("00fFa5C3", b, 4), 0);
    static const uint8_t want[] = {0x00, 0xff, 0xa5, 0xc3};
    assert_memory_equal(b, want, 4);
    assert_int_equal(num_hex("0g", b, 1), KMS_EINVAL);
    assert_int_equal(num_hex("g0", b, 1), KMS_EINVAL);
    assert_int_equal(num_hex("0", b, 1), KMS_EINVAL); /* the NUL is not a digit */
    assert_int_equal(num_hex("", b, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decimal),
        cmocka_unit_test(prefix),
        cmocka_unit_test(hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
