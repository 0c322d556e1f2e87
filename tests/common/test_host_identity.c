/* host_identity: the kmsd configuration lines kmsc --save-identity writes from a verified answer. The group an
 * ePID is saved under, the exact text, the comments when kmsd would refuse the ePID or answer from another group,
 * and the named bounds (HOST_IDENTITY_TEXT_MAX, HOST_IDENTITY_SOURCE_MAX). */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "epid.h"
#include "err.h"
#include "host_identity.h"
#include "products.h"

#define SAVED_AT 1735787045 /* 2025-01-02 03:04:05 UTC */
static const uint8_t HWID[KMS_HWID_LEN] = {0x3a, 0x1c, 0x04, 0x96, 0x00, 0xb6, 0x00, 0x76};

/* An identity for product alias (its application and KMS id), with ePID epid and a HWID. */
static struct host_identity ident(const char *alias, const char *epid)
{
    const struct products_sku *s = products_find_sku(alias);
    assert_non_null(s);
    struct host_identity id = {.source = "kms.example.com:1688 (192.0.2.1:1688)", .saved_at = SAVED_AT,
                               .app_id = s->kms->app->id, .kms_id = s->kms->id, .epid = epid, .has_hwid = true};
    memcpy(id.hwid, HWID, sizeof id.hwid);
    return id;
}

/* An ePID of CSVLK c with a key id in its range (the lowest). */
static void epid_of(const struct products_csvlk *c, char *out, size_t cap)
{
    struct epid e = {.platform = 3612, .group = c->group, .key_id = c->key_min, .channel = 3, .lcid = 1033,
                     .build = 17763, .yday = 235, .year = 2024};
    assert_true(epid_format(&e, out, cap) > 0);
}

static void the_group_kmsd_answers_from(void **state)
{
    (void)state;
    const struct products_sku *s = products_find_sku("win10ent");
    assert_non_null(s);
    const struct products_csvlk *ans = s->kms->epid_csvlk;
    char epid[EPID_MAX_LEN + 1], out[HOST_IDENTITY_TEXT_MAX], note[256], want[HOST_IDENTITY_TEXT_MAX];
    epid_of(ans, epid, sizeof epid);
    struct host_identity id = ident("win10ent", epid);
    int n = host_identity_format(&id, out, sizeof out, note, sizeof note);
    snprintf(want, sizeof want,
             "# kmsd identity saved by kmsc from kms.example.com:1688 (192.0.2.1:1688) at 2025-01-02 03:04:05 (UTC)\n"
             "# the host's ePID and HWID as kmsd configuration: kmsd -c FILE, or add the lines to kmsd's file\n"
             "epid = %s=%s\n"
             "hwid = 3A1C049600B60076\n",
             ans->key, epid);
    assert_string_equal(out, want);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(note, "");

    /* every KMS id of the table: an ePID of the group kmsd answers it from is saved under that group */
    for (size_t i = 0; i < products_kms_count(); i++) {
        const struct products_kms *k = products_kms_at(i);
        struct epid e;
        epid_of(k->epid_csvlk, epid, sizeof epid);
        assert_int_equal(epid_parse(epid, &e), 0);
        enum host_identity_fit fit;
        const struct products_csvlk *a = NULL;
        const struct products_csvlk *c = host_identity_csvlk(&e, &k->app->id, &k->id, &fit, &a);
        if (c != k->epid_csvlk || fit != HOST_IDENTITY_ANSWERS || a != k->epid_csvlk)
            fail_msg("%s: saved under %s, expected %s", k->name, c ? c->key : "nothing", k->epid_csvlk->key);
    }
}

/* An ePID of another group that activates the product (an Azure-only Server 2025 host answering Server 2025):
 * saved under that group, with the hint that csvlk = GROUP makes kmsd answer with it. */
static void another_group_that_activates(void **state)
{
    (void)state;
    const struct products_csvlk *az = products_find_csvlk("win2025azure");
    const struct products_sku *s = products_find_sku("ws2025dc");
    assert_non_null(az);
    assert_non_null(s);
    assert_true(products_csvlk_activates(az, &s->kms->id));
    assert_ptr_not_equal(s->kms->epid_csvlk, az);
    assert_int_not_equal(s->kms->epid_csvlk->group, az->group);
    char epid[EPID_MAX_LEN + 1], out[HOST_IDENTITY_TEXT_MAX], note[256], line[160];
    epid_of(az, epid, sizeof epid);
    struct host_identity id = ident("ws2025dc", epid);
    assert_true(host_identity_format(&id, out, sizeof out, note, sizeof note) > 0);
    snprintf(line, sizeof line, "\nepid = win2025azure=%s\nhwid = 3A1C049600B60076\n", epid);
    assert_non_null(strstr(out, line));
    snprintf(line, sizeof line,
             "\n# kmsd answers this product with its %s ePID; with \"csvlk = win2025azure\" it answers with this "
             "one\n# (and refuses the products win2025azure does not activate)\n",
             s->kms->epid_csvlk->key);
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(note, "unless its configuration has csvlk = win2025azure"));
}

/* Only the group id matches (a Windows Server 2025 ePID for Office): kept for that group, with a comment that
 * kmsd answers Office from its own. Among the many groups with id 206, the one whose key range holds the key
 * id, else the first in table order. */
static void group_only(void **state)
{
    (void)state;
    const struct products_csvlk *w2025 = products_find_csvlk("win2025");
    const struct products_sku *s = products_find_sku("o2024pp");
    assert_non_null(w2025);
    assert_non_null(s);
    assert_false(products_csvlk_activates(w2025, &s->kms->id));
    char epid[EPID_MAX_LEN + 1], out[HOST_IDENTITY_TEXT_MAX], note[256], line[160];
    epid_of(w2025, epid, sizeof epid);
    struct host_identity id = ident("o2024pp", epid);
    assert_true(host_identity_format(&id, out, sizeof out, note, sizeof note) > 0);
    snprintf(line, sizeof line, "\nepid = win2025=%s\n", epid);
    assert_non_null(strstr(out, line));
    snprintf(line, sizeof line, "# ePID for win2025 and answers this product with its %s ePID\n",
             s->kms->epid_csvlk->key);
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(note, "does not activate it"));

    const struct products_sku *ws = products_find_sku("ws2025dc");
    assert_non_null(ws);
    static const struct {
        const char *epid, *key;
    } by_range[] = {
        {"03612-00206-535-000001-03-1033-17763.0000-2352024", "win10-2016"}, /* in its key range */
        {"03612-00206-568-381813-03-1033-17763.0000-2352024", "win2019"},
        {"03612-00206-999-999999-03-1033-17763.0000-2352024", NULL}, /* in none: the first group 206 */
    };
    for (size_t i = 0; i < sizeof by_range / sizeof by_range[0]; i++) {
        struct epid e;
        assert_int_equal(epid_parse(by_range[i].epid, &e), 0);
        enum host_identity_fit fit;
        const struct products_csvlk *c = host_identity_csvlk(&e, &ws->kms->app->id, &ws->kms->id, &fit, NULL);
        assert_non_null(c);
        assert_int_equal(fit, HOST_IDENTITY_GROUP_ONLY);
        if (by_range[i].key) {
            assert_string_equal(c->key, by_range[i].key);
            assert_true(e.key_id >= c->key_min && e.key_id <= c->key_max);
            continue;
        }
        for (size_t k = 0; k < products_csvlk_count() && products_csvlk_at(k) != c; k++)
            assert_false(products_csvlk_at(k)->has_epid && products_csvlk_at(k)->group == 206);
    }
}

/* What kmsd would refuse is a comment, so that the file loads: no group with that id, a field out of range. A
 * protocol 4/5 answer has no HWID: a comment, and the note says so. */
static void refused_and_missing(void **state)
{
    (void)state;
    char out[HOST_IDENTITY_TEXT_MAX], note[256];
    struct host_identity id = ident("win10ent", "03612-12345-000-000001-03-1033-17763.0000-2352024");
    assert_true(host_identity_format(&id, out, sizeof out, note, sizeof note) > 0);
    assert_non_null(strstr(out, "# kmsd refuses this ePID: no CSVLK group of its product table has ePID group id "
                                "12345\n# the host's ePID: 03612-12345-000-000001-03-1033-17763.0000-2352024\n"));
    assert_null(strstr(out, "\nepid"));
    assert_non_null(strstr(out, "\nhwid = 3A1C049600B60076\n"));
    assert_non_null(strstr(note, "saved as a comment"));

    /* day 000, as py-kms sends: the form is an ePID's, the field is not */
    id = ident("win10ent", "03612-00206-568-381813-03-1033-17763.0000-0002024");
    id.has_hwid = false;
    assert_true(host_identity_format(&id, out, sizeof out, note, sizeof note) > 0);
    assert_non_null(strstr(out, "# kmsd refuses this ePID: a field is out of range"));
    const struct products_sku *s = products_find_sku("win10ent");
    assert_non_null(s);
    assert_int_equal(s->kms->epid_csvlk->group, 206);
    char line[160];
    snprintf(line, sizeof line, "\n# epid = %s=03612-00206-568-381813-03-1033-17763.0000-0002024\n",
             s->kms->epid_csvlk->key);
    assert_non_null(strstr(out, line));
    assert_null(strstr(out, "\nepid"));
    assert_null(strstr(out, "\nhwid"));
    assert_non_null(strstr(out, "\n# no hwid: a protocol 4 or 5 answer carries none"));
    assert_non_null(strstr(note, "kmsd refuses it"));
    assert_non_null(strstr(note, "; no HWID"));

    /* not an ePID at all: nothing written */
    id.epid = "03612-00206";
    assert_int_equal(host_identity_format(&id, out, sizeof out, note, sizeof note), KMS_EINVAL);
    assert_string_equal(out, "");
    id.epid = NULL;
    assert_int_equal(host_identity_format(&id, out, sizeof out, NULL, 0), KMS_EINVAL);
}

/* Raw ids kmsd does not know: it answers from the application's default group, else Windows'. */
static void unknown_ids(void **state)
{
    (void)state;
    struct guid app, kms;
    assert_int_equal(guid_parse(&app, "00000000-1111-2222-3333-444455556666"), 0);
    assert_int_equal(guid_parse(&kms, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"), 0);
    const struct products_csvlk *def = products_app_at(0)->default_csvlk;
    char epid[EPID_MAX_LEN + 1];
    epid_of(def, epid, sizeof epid);
    struct epid e;
    assert_int_equal(epid_parse(epid, &e), 0);
    enum host_identity_fit fit;
    const struct products_csvlk *a;
    assert_ptr_equal(host_identity_csvlk(&e, &app, &kms, &fit, &a), def);
    assert_ptr_equal(a, def);
    assert_int_equal(fit, HOST_IDENTITY_ANSWERS);
}

/* The header's source: control bytes as '?', cut at HOST_IDENTITY_SOURCE_MAX; the longest text fits in
 * HOST_IDENTITY_TEXT_MAX; a buffer one byte short of the text is KMS_ENOSPC, never a cut file. */
static void bounds(void **state)
{
    (void)state;
    char src[HOST_IDENTITY_SOURCE_MAX + 2], out[HOST_IDENTITY_TEXT_MAX], note[256], want[HOST_IDENTITY_SOURCE_MAX + 64];
    const size_t lens[] = {HOST_IDENTITY_SOURCE_MAX - 1, HOST_IDENTITY_SOURCE_MAX, HOST_IDENTITY_SOURCE_MAX + 1};
    for (size_t i = 0; i < 3; i++) {
        memset(src, 'h', lens[i]);
        src[lens[i]] = '\0';
        src[1] = '\n';
        src[2] = '\x7f';
        struct host_identity id = ident("o2024pp", "03612-04918-030-000001-03-1033-26100.0000-3052024");
        id.source = src;
        id.has_hwid = false; /* the longest: group-only comment and no HWID */
        int n = host_identity_format(&id, out, sizeof out, note, sizeof note);
        assert_true(n > 0 && n < HOST_IDENTITY_TEXT_MAX);
        size_t shown = lens[i] < HOST_IDENTITY_SOURCE_MAX ? lens[i] : HOST_IDENTITY_SOURCE_MAX;
        memset(want, 'h', shown);
        want[1] = '?';
        want[2] = '?';
        snprintf(want + shown, sizeof want - shown, " at 2025-01-02 03:04:05 (UTC)\n");
        assert_non_null(strstr(out, want));
        size_t first_line = strlen("# kmsd identity saved by kmsc from ") + strlen(want) - 1;
        assert_int_equal(strchr(out, '\n') - out, (long)first_line);

        char small[HOST_IDENTITY_TEXT_MAX];
        assert_int_equal(host_identity_format(&id, small, (size_t)n + 1, NULL, 0), n);
        assert_string_equal(small, out);
        assert_int_equal(host_identity_format(&id, small, (size_t)n, NULL, 0), KMS_ENOSPC);
        assert_int_equal(host_identity_format(&id, small, 0, NULL, 0), KMS_ENOSPC);
    }
    /* a note buffer too small is cut, the text is not */
    struct host_identity id = ident("win10ent", "03612-12345-000-000001-03-1033-17763.0000-2352024");
    assert_true(host_identity_format(&id, out, sizeof out, note, 8) > 0);
    assert_int_equal(strlen(note), 7);
    /* times before 1970 are written as such */
    id.saved_at = -1;
    assert_true(host_identity_format(&id, out, sizeof out, NULL, 0) > 0);
    assert_non_null(strstr(out, " at 1969-12-31 23:59:59 (UTC)\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_group_kmsd_answers_from),
        cmocka_unit_test(another_group_that_activates),
        cmocka_unit_test(group_only),
        cmocka_unit_test(refused_and_missing),
        cmocka_unit_test(unknown_ids),
        cmocka_unit_test(bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
