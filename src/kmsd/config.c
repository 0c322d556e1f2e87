/* config — help, version, the cross-option checks and config_load; see config.h and config_internal.h. */
#include "config_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "acl.h"
#include "epid.h"
#include "hostport.h"
#include "kms_limits.h"
#include "err.h"
#include "num.h"
#include "dns_tsig.h"
#include "kms_crypto.h"
#include "products.h"
#include "proxy_header.h"
#include "products_file.h"
#include "products_load.h"

/* Records the complaint; the caller prints it with the option's name and source. Returns -1. */
int config_fail(struct load *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->msg, sizeof ld->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- help, version, print ---- */

static void (*help_tail)(FILE *out);

void config_set_help_tail(void (*tail)(FILE *out))
{
    help_tail = tail;
}

void config_help(FILE *out)
{
    fprintf(out, "Usage: kmsd [OPTION]...\n"
                 "       kmsd COMMAND [OPTION]...   (the commands are listed at the end)\n"
                 "KMS host for Microsoft volume activation.\n\n"
                 "Every option except the actions can also be set in the INI file (-c; key = long name, booleans as\n"
                 "ndr64 = false) and as KMSD_NAME in the environment (e.g. KMSD_IDLE_TIMEOUT=1m; lists comma-\n"
                 "separated). Precedence: defaults < INI file < environment < command line.\n\n");
    for (size_t i = 0; i < config_n_opts; i++) {
        const struct config_option *d = &config_opts[i].d;
        char left[64];
        char sh[8] = "    ";
        if (d->short_opt)
            snprintf(sh, sizeof sh, "-%c, ", d->short_opt);
        snprintf(left, sizeof left, "  %s--%s%s%s%s", sh, d->negated ? "no-" : "", d->name, d->metavar ? " " : "",
                 d->metavar ? d->metavar : "");
        fprintf(out, "%-34s %s", left, d->help);
        if (d->def && d->def[0] && d->arg != CONFIG_ARG_BOOL)
            fprintf(out, " [%s]", d->def);
        fputc('\n', out);
    }
    if (help_tail)
        help_tail(out);
    fprintf(out, "\nExit status: 0 ok, 2 bad option or value. Reference: docs/config.md, kmsd(8).\n");
}

static void print_version(FILE *out)
{
#ifdef KMSD_VERSION
    fprintf(out, "kmsd %s\n", KMSD_VERSION);
#else
    fprintf(out, "kmsd (unknown version)\n");
#endif
}

void config_print(const struct kmsd_config *cfg, FILE *out)
{
    fprintf(out, "# kmsd configuration (kmsd --check-config)\n");
    for (size_t i = 0; i < config_n_opts; i++)
        if (config_opts[i].print && (config_opts[i].d.in & CONFIG_IN_INI))
            config_opts[i].print(&config_opts[i], cfg, out);
}

bool http_addr_is_loopback(const char *a)
{
    if (strncmp(a, "[::1]", 5) == 0)
        return a[5] == '\0' || a[5] == ':';
    size_t hn = strcspn(a, ":");
    if (hn == 9 && strncmp(a, "localhost", 9) == 0)
        return true;
    return hn >= 4 && strncmp(a, "127.", 4) == 0 && strspn(a, "0123456789.") == hn;
}

/* Checks between options, once every source is applied; t is the product table the options name entries of. */
static int cross_check(const struct kmsd_config *cfg, const struct products_tables *t, FILE *err)
{
    for (int i = 0; i < cfg->n_http && !cfg->http_insecure && !cfg->http_token[0]; i++) {
        if (!http_addr_is_loopback(cfg->http[i])) {
            fprintf(err,
                    "kmsd: --http %s: not a loopback address; give --http-token TOKEN (or --http-insecure to serve "
                    "it to anyone who can connect)\n",
                    cfg->http[i]);
            return -1;
        }
    }
    if (cfg->proxy_protocol != (cfg->n_trusted_proxy > 0)) {
        fprintf(err, "kmsd: %s\n",
                cfg->proxy_protocol ? "--proxy-protocol needs --trusted-proxy CIDR: the load balancers whose PROXY "
                                      "headers are believed"
                                    : "--trusted-proxy applies with --proxy-protocol");
        return -1;
    }
    if (cfg->proxy_protocol && cfg->max_conn_buffer < PROXY_V2_MAX) {
        fprintf(err, "kmsd: --max-conn-buffer: %lu is less than a PROXY header may be (%d bytes, --proxy-protocol)\n",
                (unsigned long)cfg->max_conn_buffer, PROXY_V2_MAX);
        return -1;
    }
    if (cfg->max_conn_buffer < cfg->max_pdu) {
        fprintf(err, "kmsd: --max-conn-buffer: %lu is less than --max-pdu %lu (a connection must hold a whole PDU)\n",
                (unsigned long)cfg->max_conn_buffer, (unsigned long)cfg->max_pdu);
        return -1;
    }
    if (!cfg->http_tls_cert[0] != !cfg->http_tls_key[0]) {
        fprintf(err, "kmsd: --http-tls-cert and --http-tls-key go together (a certificate and its key)\n");
        return -1;
    }
    static const char *const pem_opts[] = {"--http-tls-cert", "--http-tls-key"};
    const char *pem_paths[] = {cfg->http_tls_cert, cfg->http_tls_key};
    for (int i = 0; i < 2; i++) { /* read now: a bad file stops kmsd at start */
        char msg[512];
        char *pem = pem_paths[i][0] ? config_read_pem(pem_paths[i], msg, sizeof msg) : NULL;
        if (pem_paths[i][0] && !pem) {
            fprintf(err, "kmsd: %s %s\n", pem_opts[i], msg);
            return -1;
        }
        if (pem) {
            kms_wipe(pem, strlen(pem));
            free(pem);
        }
    }
    if (cfg->dns_tsig[0] && cfg->dns_tsig_file[0]) {
        fprintf(err, "kmsd: --dns-tsig and --dns-tsig-file: give one key, not both\n");
        return -1;
    }
    if (cfg->dns_tsig_file[0]) { /* read now: a bad key file stops kmsd at start, not at its first update */
        struct dns_tsig k;
        char msg[512];
        if (dns_tsig_read_file(cfg->dns_tsig_file, &k, msg, sizeof msg) < 0) {
            fprintf(err, "kmsd: --dns-tsig-file %s\n", msg);
            return -1;
        }
    }
    const struct products_build *b = cfg->host_build ? products_in_build_by_number(t, cfg->host_build) : NULL;
    if (cfg->ndr64 && b && !b->ndr64) {
        fprintf(err, "kmsd: --host-build: build %lu does not speak NDR64 (use --no-ndr64 or a build from 9200 on)\n",
                (unsigned long)b->build);
        return -1;
    }
    return 0;
}

int config_load_ini_text(struct kmsd_config *cfg, const char *text, size_t len, FILE *err)
{
    struct load ld;
    memset(&ld, 0, sizeof ld);
    ld.err = err;
    ld.table = products_builtin();
    cfg->products_table = ld.table;
    if (len > 0) { /* fmemopen() refuses a zero size; empty text sets nothing */
        FILE *f = fmemopen((void *)(uintptr_t)text, len, "r");
        if (!f) {
            fprintf(err, "kmsd: (text): cannot read configuration text: %s\n", strerror(errno));
            return KMSD_CONFIG_EXIT_USAGE;
        }
        if (config_load_ini_stream(cfg, f, "(text)", &ld) < 0)
            return KMSD_CONFIG_EXIT_USAGE;
    }
    return cross_check(cfg, ld.table, err) < 0 ? KMSD_CONFIG_EXIT_USAGE : KMSD_CONFIG_OK;
}

#define PRODUCTS_ERRORS_SHOWN 5 /* errors of a --products-file printed at most (the count says the rest) */

/* Reads and validates --products-file into *t. Returns 0, or -1 after printing its errors (the first line names the
 * first error: a reload logs that line). */
static int load_products_file(const char *path, const struct products_tables **t, FILE *err)
{
    static struct products_load_errors errs; /* large: static, and config_load runs on one thread at a time */
    int rc = products_file_load(path, t, &errs);
    if (rc == 0)
        return 0;
    if (rc == -ENOMEM) {
        fprintf(err, "kmsd: --products-file %s: out of memory\n", path);
        return -1;
    }
    for (size_t i = 0; i < errs.n && i < PRODUCTS_ERRORS_SHOWN; i++)
        fprintf(err, "kmsd: --products-file: %s\n", errs.e[i].text);
    fprintf(err, "kmsd: --products-file %s: %zu error(s); the table is not used\n", path, errs.count);
    return -1;
}

/* One reading of every source over cfg, the option names of the product table checked against ld_table (NULL: not
 * checked). Returns KMSD_CONFIG_* (EXIT_OK after --help or --version). */
static int load_sources(struct kmsd_config *cfg, int argc, char **argv, char **envp, FILE *out, FILE *err,
                        const struct products_tables *ld_table)
{
    struct load ld;
    memset(&ld, 0, sizeof ld);
    ld.err = err;
    ld.table = ld_table;
    struct cli_table t;
    memset(&t, 0, sizeof t);
    config_build_cli(&t);

    bool help = false, version = false;
    ld.src = SRC_CLI;
    if (config_walk_cli(&t, argc, argv, cfg, &ld, false, &help, &version) < 0)
        return KMSD_CONFIG_EXIT_USAGE;
    if (help) {
        config_help(out);
        return KMSD_CONFIG_EXIT_OK;
    }
    if (version) {
        print_version(out);
        return KMSD_CONFIG_EXIT_OK;
    }

    /* The file: -c, else KMSD_CONFIG. */
    if (cfg->config_file[0] == '\0') {
        const struct opt *co = config_find_opt("config", CONFIG_IN_ENV);
        for (size_t k = 0; envp && envp[k]; k++) {
            if (strncmp(envp[k], "KMSD_CONFIG=", 12) == 0) {
                ld.src = SRC_ENV;
                if (config_apply(co, cfg, envp[k] + 12, &ld) < 0)
                    return KMSD_CONFIG_EXIT_USAGE;
            }
        }
    }
    if (cfg->config_file[0] && config_load_ini(cfg, cfg->config_file, &ld) < 0)
        return KMSD_CONFIG_EXIT_USAGE;
    if (config_load_env(cfg, envp, &ld) < 0)
        return KMSD_CONFIG_EXIT_USAGE;
    ld.src = SRC_CLI;
    if (config_walk_cli(&t, argc, argv, cfg, &ld, true, NULL, NULL) < 0)
        return KMSD_CONFIG_EXIT_USAGE;
    return KMSD_CONFIG_OK;
}

int config_load(struct kmsd_config *cfg, int argc, char **argv, char **envp, FILE *out, FILE *err)
{
    /* Two passes: the product names of --csvlk, --epid and --host-build are those of --products-file's table when
     * one is named, and the file may be named after them (or in another source); the first pass finds it. */
    struct kmsd_config *initial = malloc(sizeof *initial);
    if (!initial) {
        fprintf(err, "kmsd: out of memory\n");
        return KMSD_CONFIG_EXIT_USAGE;
    }
    *initial = *cfg;
    int rc = load_sources(cfg, argc, argv, envp, out, err, NULL);
    const struct products_tables *t = products_builtin();
    if (rc == KMSD_CONFIG_OK && cfg->products_file[0] && load_products_file(cfg->products_file, &t, err) < 0)
        rc = KMSD_CONFIG_EXIT_USAGE;
    if (rc == KMSD_CONFIG_OK) {
        *cfg = *initial;
        rc = load_sources(cfg, argc, argv, envp, out, err, t);
    }
    free(initial);
    if (rc == KMSD_CONFIG_OK && cross_check(cfg, t, err) < 0)
        rc = KMSD_CONFIG_EXIT_USAGE;
    if (rc == KMSD_CONFIG_OK && cfg->check_config) {
        config_print(cfg, out);
        rc = KMSD_CONFIG_EXIT_OK;
    }
    if (rc != KMSD_CONFIG_OK) {
        if (t != products_builtin())
            products_load_free(t);
        return rc;
    }
    cfg->products_table = t;
    return KMSD_CONFIG_OK;
}

void config_release(struct kmsd_config *cfg)
{
    const struct products_tables *t = cfg->products_table;
    if (t && t != products_builtin() && t != products_current())
        products_load_free(t);
    cfg->products_table = NULL;
}

int config_dns_key(const struct kmsd_config *cfg, struct dns_tsig *out, char *msg, size_t cap)
{
    const char *why;
    if (cfg->dns_tsig_file[0])
        return dns_tsig_read_file(cfg->dns_tsig_file, out, msg, cap) < 0 ? -1 : 1;
    if (!cfg->dns_tsig[0])
        return 0;
    if (dns_tsig_parse(cfg->dns_tsig, out, &why) < 0) {
        snprintf(msg, cap, "--dns-tsig: %s", why);
        return -1;
    }
    return 1;
}

/* One option's lines as --check-config prints them, into a buffer (NULL when it cannot be made). */
static char *option_text(const struct opt *o, const struct kmsd_config *cfg, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    o->print(o, cfg, f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

size_t config_changed(const struct kmsd_config *a, const struct kmsd_config *b, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < config_n_opts; i++) {
        const struct opt *o = &config_opts[i];
        if (!o->print || !(o->d.in & CONFIG_IN_INI))
            continue;
        size_t la = 0, lb = 0;
        char *ta = option_text(o, a, &la), *tb = option_text(o, b, &lb);
        bool differ = !ta || !tb || la != lb || memcmp(ta, tb, la) != 0;
        free(ta);
        free(tb);
        if (differ && n < max)
            names[n] = o->d.name;
        n += differ;
    }
    return n;
}

char *config_read_pem(const char *path, char *msg, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(msg, cap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(CONFIG_TLS_PEM_MAX + 1);
    size_t n = buf ? fread(buf, 1, CONFIG_TLS_PEM_MAX + 1, f) : 0;
    bool bad_read = ferror(f) != 0;
    fclose(f);
    if (!buf || bad_read || n > CONFIG_TLS_PEM_MAX) {
        snprintf(msg, cap, "%s: %s", path,
                 !buf ? "out of memory" : bad_read ? "cannot be read" : "larger than 65536 bytes (not a PEM file?)");
        if (buf)
            kms_wipe(buf, n < CONFIG_TLS_PEM_MAX + 1 ? n : CONFIG_TLS_PEM_MAX + 1);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (strlen(buf) != n || !strstr(buf, "-----BEGIN ")) {
        snprintf(msg, cap, "%s: not a PEM file (no \"-----BEGIN \" line)", path);
        kms_wipe(buf, n);
        free(buf);
        return NULL;
    }
    return buf;
}

int config_command_args(const char *cmd, int argc, char **argv, int first, const char *const *names, const char **vals,
                        size_t n, char **pass, bool *help)
{
    int np = 0;
    pass[np++] = argv[0];
    *help = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        size_t k = 0, len = 0;
        for (; k < n; k++) {
            len = strlen(names[k]);
            if (strncmp(a, names[k], len) == 0 && (a[len] == '=' || a[len] == '\0'))
                break;
        }
        if (k < n) {
            if (a[len] == '=') {
                vals[k] = a + len + 1;
            } else if (i + 1 < argc) {
                vals[k] = argv[++i];
            } else {
                fprintf(stderr, "kmsd %s: %s needs a value\n", cmd, a);
                return -1;
            }
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            *help = true;
            continue;
        }
        if (np == 1 && a[0] != '-') { /* "kmsd dns-record example.org": no option before it to take it as a value */
            fprintf(stderr, "kmsd %s: \"%.100s\": unexpected argument (options only; see kmsd %s --help)\n", cmd, a,
                    cmd);
            return -1;
        }
        if (np >= CONFIG_COMMAND_ARGS) {
            fprintf(stderr, "kmsd %s: more than %d arguments\n", cmd, CONFIG_COMMAND_ARGS);
            return -1;
        }
        pass[np++] = argv[i];
    }
    pass[np] = NULL;
    return np;
}

bool config_option_live(const char *name)
{
    for (size_t i = 0; i < config_n_opts; i++)
        if (strcmp(config_opts[i].d.name, name) == 0)
            return config_opts[i].live;
    return false;
}

void config_take_live(struct kmsd_config *running, const struct kmsd_config *next)
{
    for (size_t i = 0; i < config_n_opts; i++) {
        const struct opt *o = &config_opts[i];
        if (!o->live)
            continue;
        memcpy((char *)running + o->off, (const char *)next + o->off, o->size);
        if (o->list_size)
            memcpy((char *)running + o->list_off, (const char *)next + o->list_off, o->list_size);
    }
}
