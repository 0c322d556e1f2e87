#include "testutil.h"

#include "buf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fixtures_dir(void)
{
    const char *d = getenv("TEST_FIXTURES");
    if (!d || !*d)
        fail_msg("TEST_FIXTURES is not set (run the tests through meson test)");
    return d;
}

json_t *tu_load_json(const char *rel)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", fixtures_dir(), rel);
    if (n < 0 || (size_t)n >= sizeof path)
        fail_msg("fixture path too long: %s", rel);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        fail_msg("cannot load %s: %s (line %d)", path, e.text, e.line);
    return j;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t tu_list_json(const char *rel, char ***names)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", fixtures_dir(), rel);
    if (n < 0 || (size_t)n >= sizeof path)
        fail_msg("fixture path too long: %s", rel);
    DIR *d = opendir(path);
    if (!d)
        fail_msg("cannot open fixture directory %s", path);
    size_t count = 0, cap = 0;
    char **v = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            v = realloc(v, cap * sizeof *v);
            assert_non_null(v);
        }
        size_t need = strlen(rel) + 1 + l + 1;
        v[count] = malloc(need);
        assert_non_null(v[count]);
        snprintf(v[count], need, "%s/%s", rel, de->d_name);
        count++;
    }
    closedir(d);
    if (count)
        qsort(v, count, sizeof *v, cmp_names);
    *names = v;
    return count;
}

void tu_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

json_t *tu_obj(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        fail_msg("JSON member '%s' missing", key);
    return v;
}

const char *tu_str(json_t *o, const char *key)
{
    json_t *v = tu_obj(o, key);
    if (!json_is_string(v))
        fail_msg("JSON member '%s' is not a string", key);
    return json_string_value(v);
}

long long tu_int(json_t *o, const char *key)
{
    json_t *v = tu_obj(o, key);
    if (!json_is_integer(v))
        fail_msg("JSON member '%s' is not an integer", key);
    return json_integer_value(v);
}

uint8_t *tu_unhex(const char *hex, size_t *len)
{
    size_t l = strlen(hex);
    if (l % 2)
        fail_msg("odd-length hex string");
    uint8_t *out = malloc(l / 2 + 1);
    assert_non_null(out);
    for (size_t i = 0; i < l / 2; i++) {
        int hi = buf_hexval(hex[2 * i]), lo = buf_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            fail_msg("bad hex digit at %zu", 2 * i);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = l / 2;
    return out;
}

void tu_unhex_n(const char *hex, uint8_t *out, size_t n)
{
    size_t len;
    uint8_t *b = tu_unhex(hex, &len);
    if (len != n) {
        free(b);
        fail_msg("hex string has %zu bytes, expected %zu", len, n);
    }
    memcpy(out, b, n);
    free(b);
}

void tu_assert_hex(const uint8_t *buf, size_t len, const char *hex)
{
    size_t elen;
    uint8_t *exp = tu_unhex(hex, &elen);
    if (elen != len || memcmp(exp, buf, len) != 0) {
        char *got = malloc(2 * len + 1);
        assert_non_null(got);
        for (size_t i = 0; i < len; i++)
            snprintf(got + 2 * i, 3, "%02x", buf[i]);
        size_t first = 0;
        while (first < len && first < elen && exp[first] == buf[first])
            first++;
        print_error("expected (%zu bytes): %s\n     got (%zu bytes): %s\nfirst difference at byte %zu\n", elen,
                    hex, len, got, first);
        free(got);
        free(exp);
        fail();
    }
    free(exp);
}

int tu_det_fill(void *ctx, void *buf, size_t len)
{
    uint64_t *s = ctx;
    uint8_t *b = buf;
    for (size_t i = 0; i < len; i++) {
        uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        b[i] = (uint8_t)(z ^ (z >> 31));
    }
    return 0;
}
