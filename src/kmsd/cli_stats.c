/* kmsd stats: the registry's statistics, laid out like slmgr /dli, or as JSON (registry_json_stats). */
#include "cli_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kms.h"
#include "registry_json.h"

/* ---- stats ---- */

static int stats_json(struct store *s, const char *db_path)
{
    json_t *o = NULL;
    int rc = registry_json_stats(s, (int64_t)time(NULL), &o);
    if (rc == 0 && json_object_set_new(o, "database", json_string(db_path)) != 0)
        rc = -ENOMEM;
    char *text = rc == 0 ? json_dumps(o, JSON_INDENT(2)) : NULL;
    json_decref(o);
    if (!text) {
        fprintf(stderr, "kmsd stats: %s\n", rc == -ENOMEM || rc == 0 ? "out of memory" : store_errmsg(s));
        return EXIT_FAIL;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

static void stats_text(const struct store_stats *st, const char *db_path)
{
    printf("Key Management Service registry: %s\n", db_path);
    for (int g = 0; g < STORE_APP_GROUPS; g++)
        printf("    Clients seen in the last %d days (%s): %u\n", STORE_COUNT_WINDOW_DAYS,
               store_app_group_label((enum store_app_group)g), (unsigned)st->current_count[g]);
    /* what clients are told is kmsd's setting, not the registry's: say so, with both rules */
    printf("    (The count clients are told: twice their threshold with --count-mode fixed, the default;\n"
           "     the clients above, up to that, with --count-mode genuine.)\n");
    printf("    Registry rows (client and application): %llu\n", (unsigned long long)st->clients);
    printf("\nKey Management Service cumulative requests received from clients\n");
    printf("    Total requests received: %llu\n", (unsigned long long)st->requests);
    printf("    Failed requests received: %llu\n", (unsigned long long)st->failed);
    printf("    Requests answered but not recorded (registry faults): %llu\n", (unsigned long long)st->unrecorded);
    for (uint32_t k = 0; k < KMS_LICENSE_STATUS_COUNT; k++)
        printf("    Requests with License Status %s: %llu\n", kms_license_status_slmgr(k),
               (unsigned long long)st->by_status[k]);
}

int cli_run_stats(const struct opts *o, const char *db_path)
{
    const char *format = cli_opt_value(o, O_FORMAT);
    if (format && strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "kmsd stats: --format: '%s' is not one of text, json\n", format);
        return EXIT_USAGE;
    }
    struct store *s;
    int rc = cli_open_db(db_path, true, &s);
    if (rc)
        return rc;
    struct store_stats st;
    if (format && strcmp(format, "json") == 0) {
        rc = stats_json(s, db_path);
    } else if (store_stats_get(s, (int64_t)time(NULL), &st) != 0) {
        fprintf(stderr, "kmsd stats: %s\n", store_errmsg(s));
        rc = EXIT_FAIL;
    } else {
        stats_text(&st, db_path);
    }
    store_close(s);
    return rc;
}

