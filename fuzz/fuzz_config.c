/*
 * Fuzz target: the INI configuration parser (inih through config_load_ini_text: line reader, section and key
 * checks, every value parser, the cross-option checks).
 *
 * Input: the contents of a -c file.
 * Invariant (config.h): config_print's output for an accepted configuration is accepted back and prints the
 * same text again.
 *
 * Static context, set up once: the stream /dev/null that swallows error messages.
 */
#include "fuzz.h"

#include <string.h>

#include "config.h"

static FILE *sink_once(void)
{
    static FILE *sink;
    if (!sink) {
        sink = fopen("/dev/null", "w");
        fuzz_check(sink != NULL);
    }
    return sink;
}

/* config_print's text for cfg; the caller frees it. */
static char *print_text(const struct kmsd_config *cfg, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    fuzz_check(f != NULL);
    config_print(cfg, f);
    fuzz_check(fclose(f) == 0);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kmsd_config *cfg = malloc(sizeof *cfg), *back = malloc(sizeof *back); /* ~25 KB each */
    fuzz_check(cfg != NULL && back != NULL);
    config_defaults(cfg);
    if (config_load_ini_text(cfg, (const char *)data, size, sink_once()) != KMSD_CONFIG_OK) {
        free(cfg);
        free(back);
        return 0;
    }

    size_t n1, n2;
    char *t1 = print_text(cfg, &n1);
    config_defaults(back);
    if (config_load_ini_text(back, t1, n1, sink_once()) != KMSD_CONFIG_OK) {
        fprintf(stderr, "config_print output not accepted back:\n%s", t1);
        abort();
    }
    char *t2 = print_text(back, &n2);
    if (n1 != n2 || memcmp(t1, t2, n1) != 0) {
        fprintf(stderr, "config_print output changed on reload:\n%s---\n%s", t1, t2);
        abort();
    }
    free(t1);
    free(t2);
    free(cfg);
    free(back);
    return 0;
}
