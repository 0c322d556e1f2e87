/* http_prom: the /metrics text built from a struct metrics without MHD: every sample line is well formed and
 * follows its HELP and TYPE, counters show what was counted, only activation cells seen so far appear. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_prom.h"
#include "kms.h"
#include "metrics.h"
#include "products.h"

/* The value of the sample line that starts with "series " (name and labels exactly), or -1 when absent. */
static long long sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtoll(p + n + 1, NULL, 10);
    return -1;
}

static void well_formed(void **state)
{
    (void)state;
    static struct metrics m;
    assert_int_equal(metrics_init(&m, 1795000000), 0);
    metrics_inc(&m.accepted);
    metrics_inc(&m.accepted);
    const struct products_kms *k = products_kms_at(0);
    metrics_activation(&m, 6, products_kms_index(k), 0);
    metrics_activation(&m, 4, m.n_kms, KMS_HR_NOT_ENOUGH_COUNT);
    metrics_observe(&m.request_latency, 120);
    size_t len = 0;
    char *text = http_prom_text(&m, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_true(len > 0 && text[len - 1] == '\n');

    /* every line: a comment "# HELP name ..." / "# TYPE name kind", or "name[{labels}] value" of a declared name */
    char declared[128] = "";
    int lines = 0;
    for (char *line = text; *line; lines++) {
        char *end = strchr(line, '\n');
        assert_non_null(end);
        *end = '\0';
        char name[128];
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%127s", declared), 1);
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            char kind[32];
            assert_int_equal(sscanf(line + 7, "%127s %31s", name, kind), 2);
            assert_string_equal(name, declared);
            assert_true(strcmp(kind, "counter") == 0 || strcmp(kind, "gauge") == 0 || strcmp(kind, "histogram") == 0);
        } else {
            size_t nl = strcspn(line, "{ ");
            assert_true(nl > 0 && nl < sizeof name);
            memcpy(name, line, nl);
            name[nl] = '\0';
            size_t dl = strlen(declared);
            if (strncmp(name, declared, dl) != 0 || (name[dl] != '\0' && name[dl] != '_'))
                fail_msg("sample %s without its HELP/TYPE", line);
            const char *v = strrchr(line, ' ');
            assert_non_null(v);
            char *e;
            (void)strtod(v + 1, &e);
            assert_true(*e == '\0' && e != v + 1);
        }
        line = end + 1;
    }
    assert_true(lines > 50);
    free(text);

    text = http_prom_text(&m, &len);
    assert_non_null(text);
    assert_int_equal(sample(text, "kmsd_connections_accepted_total"), 2);
    assert_int_equal(sample(text, "kmsd_start_time_seconds"), 1795000000);
    assert_int_equal(sample(text, "kmsd_build_info{version=\"" KMSD_VERSION "\"}"), 1);
    char series[256];
    snprintf(series, sizeof series, "kmsd_activations_total{version=\"6\",product=\"%s\",result=\"answered\"}",
             k->name);
    assert_int_equal(sample(text, series), 1);
    assert_int_equal(sample(text, "kmsd_activations_total{version=\"4\",product=\"unknown\",result=\"refused\"}"), 1);
    /* a cell never counted is not listed */
    snprintf(series, sizeof series, "kmsd_activations_total{version=\"5\",product=\"%s\",result=\"answered\"}",
             k->name);
    assert_int_equal(sample(text, series), -1);
    assert_int_equal(sample(text, "kmsd_refusals_total{hresult=\"0xC004F038\"}"), 1);
    assert_int_equal(sample(text, "kmsd_request_duration_seconds_count"), 1);
    assert_int_equal(sample(text, "kmsd_request_duration_seconds_bucket{le=\"+Inf\"}"), 1);
    assert_int_equal(sample(text, "kmsd_http_responses_total{code=\"200\"}"), 0);
    free(text);
    metrics_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_formed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
