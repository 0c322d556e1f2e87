/* http_query: target splitting, percent-decoding, routes and the checked parameters of /api/v1/clients,
 * each limit at the limit and one past it. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "http_query.h"

static const int64_t NOW = 1795000000;

static int parse(const char *uri, struct httpq_req *r, struct httpq_error *e)
{
    return httpq_parse_target(uri, strlen(uri), r, e);
}

static void decode(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(httpq_decode("a%20b+c", 7, true, out, sizeof out), 5);
    assert_string_equal(out, "a b c");
    assert_int_equal(httpq_decode("a+b", 3, false, out, sizeof out), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(httpq_decode("%4a%4A", 6, true, out, sizeof out), 2);
    assert_string_equal(out, "JJ");
    assert_int_equal(httpq_decode("%", 1, true, out, sizeof out), -1);
    assert_int_equal(httpq_decode("%4", 2, true, out, sizeof out), -1);
    assert_int_equal(httpq_decode("%zz", 3, true, out, sizeof out), -1);
    assert_int_equal(httpq_decode("%00", 3, true, out, sizeof out), -1);
    assert_int_equal(httpq_decode("a\0b", 3, true, out, sizeof out), -1);
    /* the output bound: 15 bytes fit in 16, 16 do not */
    assert_int_equal(httpq_decode("0123456789abcde", 15, true, out, sizeof out), 15);
    assert_int_equal(httpq_decode("0123456789abcdef", 16, true, out, sizeof out), -1);
    assert_int_equal(httpq_decode("", 0, true, out, 0), -1);
}

static void targets(void **state)
{
    (void)state;
    struct httpq_req r;
    struct httpq_error e;
    assert_int_equal(parse("/api/v1/clients?limit=5&q=pc%2D1&&flag", &r, &e), 0);
    assert_string_equal(r.path, "/api/v1/clients");
    assert_int_equal(r.n_params, 3);
    assert_string_equal(httpq_get(&r, "limit"), "5");
    assert_string_equal(httpq_get(&r, "q"), "pc-1");
    assert_string_equal(httpq_get(&r, "flag"), "");
    assert_null(httpq_get(&r, "nope"));
    assert_int_equal(parse("/x?a=1&a=2", &r, &e), -1);
    assert_string_equal(e.param, "a");
    assert_int_equal(parse("/x?=1", &r, &e), -1);
    assert_int_equal(parse("x", &r, &e), -1);
    assert_string_equal(e.param, "path");
    assert_int_equal(parse("/a%zz", &r, &e), -1);
    assert_int_equal(parse("/?q=%", &r, &e), -1);
    assert_string_equal(e.param, "q");

    /* HTTPQ_PARAMS_MAX parameters, then one more */
    char uri[512] = "/x?";
    for (int i = 0; i < HTTPQ_PARAMS_MAX; i++)
        snprintf(uri + strlen(uri), sizeof uri - strlen(uri), "k%d=v&", i);
    assert_int_equal(parse(uri, &r, &e), 0);
    assert_int_equal(r.n_params, HTTPQ_PARAMS_MAX);
    snprintf(uri + strlen(uri), sizeof uri - strlen(uri), "last=1");
    assert_int_equal(parse(uri, &r, &e), -1);

    /* value length: HTTPQ_VALUE_MAX bytes, then one more */
    static char big[HTTPQ_URI_MAX + 2];
    memset(big, 0, sizeof big);
    memcpy(big, "/x?v=", 5);
    memset(big + 5, 'a', HTTPQ_VALUE_MAX);
    assert_int_equal(parse(big, &r, &e), 0);
    big[5 + HTTPQ_VALUE_MAX] = 'a';
    assert_int_equal(parse(big, &r, &e), -1);
    assert_string_equal(e.param, "v");

    /* key length */
    char key[64] = "/x?";
    memset(key + 3, 'k', HTTPQ_KEY_MAX);
    assert_int_equal(parse(key, &r, &e), 0);
    key[3 + HTTPQ_KEY_MAX] = 'k';
    assert_int_equal(parse(key, &r, &e), -1);

    /* the whole target: HTTPQ_URI_MAX bytes, then one more */
    memset(big, 0, sizeof big);
    big[0] = '/';
    memset(big + 1, 'p', 200);
    big[201] = '?';
    for (size_t i = 202; i < HTTPQ_URI_MAX; i++)
        big[i] = '&';
    assert_int_equal(httpq_parse_target(big, HTTPQ_URI_MAX, &r, &e), 0);
    big[HTTPQ_URI_MAX] = '&';
    assert_int_equal(httpq_parse_target(big, HTTPQ_URI_MAX + 1, &r, &e), -1);

    /* path length */
    memset(big, 0, sizeof big);
    big[0] = '/';
    memset(big + 1, 'p', HTTPQ_PATH_MAX - 1);
    assert_int_equal(parse(big, &r, &e), 0);
    big[HTTPQ_PATH_MAX] = 'p';
    assert_int_equal(parse(big, &r, &e), -1);
}

static void routes(void **state)
{
    (void)state;
    struct httpq_req r;
    struct httpq_error e;
    struct guid g;
    static const struct {
        const char *uri;
        int route;
    } cases[] = {
        {"/", HTTPQ_PAGE},
        {"/index.html", HTTPQ_PAGE},
        {"/api/v1/clients", HTTPQ_CLIENTS},
        {"/api/v1/clients?limit=1", HTTPQ_CLIENTS},
        {"/api/v1/products", HTTPQ_PRODUCTS},
        {"/api/v1/stats", HTTPQ_STATS},
        {"/api/v1/host", HTTPQ_HOST},
        {"/metrics", HTTPQ_METRICS},
        {"/healthz", HTTPQ_HEALTHZ},
        {"/readyz", HTTPQ_READYZ},
        {"/api/v1/clients/", -1},
        {"/api/v2/clients", HTTPQ_NOT_FOUND},
        {"/metrics/", HTTPQ_NOT_FOUND},
        {"/%61pi/v1/host", HTTPQ_HOST},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(parse(cases[i].uri, &r, &e), 0);
        assert_int_equal(httpq_route(&r, &g, &e), cases[i].route);
    }
    assert_int_equal(parse("/api/v1/clients/{0F0E0D0C-0B0A-0908-0706-050403020100}", &r, &e), 0);
    assert_int_equal(httpq_route(&r, &g, &e), HTTPQ_CLIENT);
    assert_int_equal(g.b[0], 0x0c);
    assert_int_equal(parse("/api/v1/clients/not-a-guid", &r, &e), 0);
    assert_int_equal(httpq_route(&r, &g, &e), -1);
    assert_string_equal(e.param, "cmid");
}

static int clients(const char *uri, uint32_t max, struct httpq_clients *c, struct httpq_error *e)
{
    struct httpq_req r;
    assert_int_equal(parse(uri, &r, e), 0);
    return httpq_clients(&r, max, NOW, c, e);
}

static void clients_params(void **state)
{
    (void)state;
    struct httpq_clients c;
    struct httpq_error e;
    assert_int_equal(clients("/c", 500, &c, &e), 0);
    assert_int_equal(c.sq.limit, HTTPQ_DEFAULT_LIMIT);
    assert_int_equal(c.sq.offset, 0);
    assert_int_equal(c.sq.sort, STORE_SORT_LAST_SEEN);
    assert_true(c.sq.descending);
    assert_null(c.sq.q);
    assert_false(c.sq.has_app);
    assert_int_equal(clients("/c", 10, &c, &e), 0);
    assert_int_equal(c.sq.limit, 10); /* the default never exceeds the cap */

    /* limit at the cap, and one past it */
    assert_int_equal(clients("/c?limit=500", 500, &c, &e), 0);
    assert_int_equal(c.sq.limit, 500);
    assert_int_equal(clients("/c?limit=501", 500, &c, &e), -1);
    assert_string_equal(e.param, "limit");
    assert_non_null(strstr(e.message, "500"));
    assert_int_equal(clients("/c?limit=0", 500, &c, &e), -1);
    assert_int_equal(clients("/c?limit=-1", 500, &c, &e), -1);
    assert_int_equal(clients("/c?limit=1e3", 500, &c, &e), -1);
    assert_int_equal(clients("/c?limit=99999999999999999999999", 500, &c, &e), -1);
    assert_int_equal(clients("/c?offset=1000000000", 500, &c, &e), 0);
    assert_int_equal(c.sq.offset, HTTPQ_OFFSET_MAX);
    assert_int_equal(clients("/c?offset=1000000001", 500, &c, &e), -1);
    assert_string_equal(e.param, "offset");

    assert_int_equal(clients("/c?sort=workstation", 500, &c, &e), 0);
    assert_int_equal(c.sq.sort, STORE_SORT_WORKSTATION);
    assert_false(c.sq.descending);
    assert_int_equal(clients("/c?sort=-requests", 500, &c, &e), 0);
    assert_int_equal(c.sq.sort, STORE_SORT_REQUESTS);
    assert_true(c.sq.descending);
    assert_int_equal(clients("/c?sort=cmid", 500, &c, &e), -1);
    assert_string_equal(e.param, "sort");

    assert_int_equal(clients("/c?application=office2013", 500, &c, &e), 0);
    assert_true(c.sq.has_app);
    assert_int_equal(c.sq.app_id.b[0], 0x15); /* 0ff1ce15-... in wire order */
    assert_int_equal(clients("/c?application=55c92734-d682-4d71-983e-d6ec3f16059f", 500, &c, &e), 0);
    assert_true(c.sq.has_app);
    assert_int_equal(clients("/c?application=linux", 500, &c, &e), -1);
    assert_string_equal(e.param, "application");
    assert_non_null(strstr(e.message, "windows"));

    assert_int_equal(clients("/c?since=7d", 500, &c, &e), 0);
    assert_int_equal(c.sq.since, NOW - 7 * 86400);
    assert_int_equal(clients("/c?since=1700000000", 500, &c, &e), 0);
    assert_int_equal(c.sq.since, 1700000000);
    assert_int_equal(clients("/c?since=36500d", 500, &c, &e), 0);
    assert_int_equal(clients("/c?since=36501d", 500, &c, &e), -1);
    assert_int_equal(clients("/c?since=0d", 500, &c, &e), -1);
    assert_int_equal(clients("/c?since=yesterday", 500, &c, &e), -1);
    assert_string_equal(e.param, "since");

    /* search texts: HTTPQ_TEXT_MAX bytes, then one more */
    char uri[256] = "/c?q=";
    memset(uri + 5, 'x', HTTPQ_TEXT_MAX);
    assert_int_equal(clients(uri, 500, &c, &e), 0);
    assert_int_equal(strlen(c.sq.q), HTTPQ_TEXT_MAX);
    uri[5 + HTTPQ_TEXT_MAX] = 'x';
    assert_int_equal(clients(uri, 500, &c, &e), -1);
    assert_string_equal(e.param, "q");
    assert_int_equal(clients("/c?product=Office+LTSC", 500, &c, &e), 0);
    assert_string_equal(c.sq.product, "Office LTSC"); /* a part of names */
    assert_false(c.sq.product_exact);
    assert_int_equal(clients("/c?product=win11pro", 500, &c, &e), 0); /* a product, whole */
    assert_string_equal(c.sq.product, "Windows 10/11 Pro");
    assert_true(c.sq.product_exact);
    assert_int_equal(clients("/c?product=Windows+11+Pro", 500, &c, &e), 0);
    assert_string_equal(c.sq.product, "Windows 10/11 Pro");
    assert_int_equal(clients("/c?product=Office+2024", 500, &c, &e), -1); /* neither: suggestions */
    assert_string_equal(e.param, "product");
    assert_non_null(strstr(e.message, "unknown product 'Office 2024'; did you mean 'Office "));
    assert_int_equal(clients("/c?product=", 500, &c, &e), 0);
    assert_null(c.sq.product);

    assert_int_equal(clients("/c?color=red", 500, &c, &e), -1);
    assert_string_equal(e.param, "color");
    assert_non_null(strstr(e.message, "unknown"));
}

/* A cursor written by httpq_cursor_format reads back as the same key and rowid under the same sort, and only
 * under it; malformed ones are refused on the cursor parameter. */
static void cursors(void **state)
{
    (void)state;
    struct httpq_clients c;
    struct httpq_error e;
    struct store_query q = {.sort = STORE_SORT_LAST_SEEN, .descending = true};
    struct store_cursor cur = {.num = 1795000011, .rowid = 42};
    char text[HTTPQ_CURSOR_MAX], uri[HTTPQ_CURSOR_MAX + 64];
    assert_int_equal(httpq_cursor_format(&q, &cur, text, sizeof text), 0);
    assert_string_equal(text, "-last_seen.1795000011.42");
    snprintf(uri, sizeof uri, "/c?sort=-last_seen&cursor=%s", text);
    assert_int_equal(clients(uri, 500, &c, &e), 0);
    assert_true(c.sq.has_cursor);
    assert_int_equal(c.sq.cursor.num, 1795000011);
    assert_int_equal(c.sq.cursor.rowid, 42);
    assert_int_equal(clients("/c?cursor=-last_seen.5.6", 500, &c, &e), 0); /* -last_seen is the default */
    assert_int_equal(clients("/c?cursor=-last_seen.-5.6", 500, &c, &e), 0);
    assert_int_equal(c.sq.cursor.num, -5);
    /* another sort, or the other direction */
    assert_int_equal(clients("/c?sort=last_seen&cursor=-last_seen.5.6", 500, &c, &e), -1);
    assert_string_equal(e.param, "cursor");
    assert_non_null(strstr(e.message, "sort"));
    /* text keys: hex of the key's bytes, a full-length key fits */
    q.sort = STORE_SORT_WORKSTATION;
    q.descending = false;
    memset(&cur, 0, sizeof cur);
    memset(cur.text, 0xc3, sizeof cur.text - 1);
    cur.rowid = 7;
    assert_int_equal(httpq_cursor_format(&q, &cur, text, sizeof text), 0);
    snprintf(uri, sizeof uri, "/c?sort=workstation&cursor=%s", text);
    assert_true(strlen(uri) < HTTPQ_URI_MAX);
    assert_int_equal(clients(uri, 500, &c, &e), 0);
    assert_memory_equal(c.sq.cursor.text, cur.text, sizeof cur.text);
    assert_int_equal(c.sq.cursor.rowid, 7);
    assert_int_equal(httpq_cursor_format(&q, &cur, text, 64), -1); /* too small a buffer */
    assert_int_equal(clients("/c?sort=product&cursor=product.57696e.3", 500, &c, &e), 0);
    assert_string_equal(c.sq.cursor.text, "Win");
    static const char *const bad[] = {
        "/c?cursor=", "/c?cursor=-last_seen", "/c?cursor=-last_seen.5", "/c?cursor=-last_seen.x.6",
        "/c?cursor=-last_seen.5.6x", "/c?sort=product&cursor=product.5.3", "/c?sort=product&cursor=product.5G.3",
        "/c?sort=product&cursor=product.00.3", "/c?cursor=-last_seen.99999999999999999999.1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(clients(bad[i], 500, &c, &e), -1);
        assert_string_equal(e.param, "cursor");
    }
}

static void uints(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(httpq_uint("0", 0, 5, &v), 0);
    assert_int_equal(httpq_uint("5", 0, 5, &v), 0);
    assert_int_equal(httpq_uint("6", 0, 5, &v), -1);
    assert_int_equal(httpq_uint("", 0, 5, &v), -1);
    assert_int_equal(httpq_uint("+1", 0, 5, &v), -1);
    assert_int_equal(httpq_uint("1 ", 0, 5, &v), -1);
    assert_int_equal(httpq_uint("18446744073709551615", 0, UINT64_MAX, &v), -1); /* 20 digits refused */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode),         cmocka_unit_test(targets), cmocka_unit_test(routes),
        cmocka_unit_test(clients_params), cmocka_unit_test(uints), cmocka_unit_test(cursors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
