/*
 * config — kmsd's configuration: one option table drives the command line (getopt_long), the INI file
 * (inih, `-c/--config FILE`), the environment (`KMSD_<NAME>`, upper case, dashes as underscores), `--help`
 * and `--check-config`. Precedence: defaults < INI < environment < command line.
 *
 * Naming: INI keys are the long names; booleans use the positive name everywhere but the command line
 * (`ndr64 = false`, KMSD_NDR64=no, --no-ndr64). Repeatables accumulate within one source and a later source
 * replaces the whole list; environment lists are comma-separated; an empty value restores a "none" default.
 * Unknown KMSD_* variables are errors;
 * KMSD_CONFIG names the INI file when -c is absent. docs/config.md is the reference.
 *
 * Errors never exit inside this module: config_load() returns KMSD_CONFIG_EXIT_* and has already printed
 * a message naming the option (and where it came from) and what is allowed.
 */
#ifndef KMSD_CONFIG_H
#define KMSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct products_tables;

#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_EPIDS 64
#define CONFIG_LISTEN_LEN 128 /* "[addr%if]:port" */
#define CONFIG_PATH_LEN 4096
#define CONFIG_MAX_HTTP 8
#define CONFIG_HTTP_PORT 8080     /* port of --http addresses given without one */
#define CONFIG_TOKEN_MIN 16       /* --http-token length bounds */
#define CONFIG_TOKEN_MAX 128 /* "http-token = TOKEN" must fit one INI line (198) */
#define CONFIG_MAX_CIDRS 64   /* --allow and --deny entries each (ACL_MAX_RULES) */
#define CONFIG_CIDR_LEN 64    /* ACL_CIDR_TEXT */
#define CONFIG_MAX_CSVLKS 64
#define CONFIG_MAX_DNS_ZONES 8     /* --dns-publish zones at most */
#define CONFIG_MAX_DNS_ADDRESSES 4 /* --dns-address entries at most */
#define CONFIG_DNS_NAME_LEN 254    /* a DNS name (dns_name.h: 253 characters) and its NUL */
#define CONFIG_HOST_NAME_LEN 64    /* --host-name: bytes at most (STORE_HOST_MAX) */
#define CONFIG_DNS_TSIG_LEN 400
#define CONFIG_TLS_PEM_MAX 65536   /* bytes of an --http-tls-cert or --http-tls-key file at most */    /* "NAME:ALGORITHM:SECRET": 253 + 1 + 11 + 1 + 128, and the NUL */

enum config_log_level { CONFIG_LOG_ERROR, CONFIG_LOG_WARN, CONFIG_LOG_INFO, CONFIG_LOG_DEBUG };
enum config_count_mode { CONFIG_COUNT_FIXED, CONFIG_COUNT_GENUINE };
enum config_products { CONFIG_PRODUCTS_ALL, CONFIG_PRODUCTS_KNOWN, CONFIG_PRODUCTS_VOLUME };

struct config_epid {
    char csvlk[32];   /* CSVLK key from data/products.tsv, e.g. "win2025" */
    char epid[64];    /* validated ePID text */
};

struct kmsd_config {
    /* listeners */
    char listen[CONFIG_MAX_LISTEN][CONFIG_LISTEN_LEN]; /* -L/--listen ADDR[:PORT], repeatable */
    int n_listen;                                       /* 0: the default [::]:port, falling back to 0.0.0.0 */
    uint16_t port;                                      /* --port, default 1688 */

    /* limits (each has a name, a default and a test) */
    uint32_t max_connections;      /* --max-connections, default 4096 */
    uint32_t idle_timeout_ms;      /* --idle-timeout (seconds, suffixes s m h), default 30 s */
    uint32_t max_pdu;              /* --max-pdu bytes, default and maximum KMS_LIMIT_PDU_MAX, minimum 256 */
    uint32_t max_requests;         /* --max-requests per connection, default 0 = no limit */
    uint32_t max_pdus;             /* --max-pdus: RPC PDUs of any type per connection, default 0 = no limit */
    uint32_t max_conn_buffer;      /* --max-conn-buffer bytes buffered per connection, default 16384 */
    uint32_t pdu_timeout_ms;       /* --pdu-timeout: first byte of a PDU to its last, default 10 s */
    uint32_t max_per_address;      /* --max-per-address connections open per address, default 64; 0 = no cap */
    uint32_t max_addresses;        /* --max-addresses tracked for the per-address limits, default 65536 */
    uint32_t rate_limit;           /* --rate-limit activations per address per minute, default 120; 0 = off */
    uint32_t rate_burst;           /* --rate-burst activations at once per address, default 120 */
    bool limit_private;            /* --limit-private: the per-address limits apply to private addresses too
                                    * (acl_is_private: RFC 1918, loopback, link-local, CGNAT, ULA); formerly
                                    * --limit-loopback, still accepted */

    /* access control (acl.h) */
    char allow[CONFIG_MAX_CIDRS][CONFIG_CIDR_LEN]; /* --allow CIDR, repeatable */
    int n_allow;
    char deny[CONFIG_MAX_CIDRS][CONFIG_CIDR_LEN];  /* --deny CIDR, repeatable; deny wins */
    int n_deny;
    bool private_only;             /* --private-only */
    /* PROXY protocol on the KMS listeners (proxy_header.h) */
    bool proxy_protocol;           /* --proxy-protocol: a trusted proxy's connections start with a PROXY header */
    char trusted_proxy[CONFIG_MAX_CIDRS][CONFIG_CIDR_LEN]; /* --trusted-proxy CIDR, repeatable */
    int n_trusted_proxy;

    /* product policy */
    enum config_products products; /* --products all|known|volume, default all */
    char csvlks[CONFIG_MAX_CSVLKS][32]; /* --csvlk GROUP[,GROUP...], repeatable; none = every group */
    int n_csvlks;
    char products_file[CONFIG_PATH_LEN]; /* --products-file FILE: the product table from FILE; "" = the built-in */
    /* The product table the configuration was checked against (--csvlk, --epid and --host-build name its entries):
     * the built-in one, or products_file's, read and validated by config_load, owned by the caller (config_release
     * frees it unless the caller put it in use with products_use). Not an option; NULL before config_load. */
    const struct products_tables *products_table;
    bool time_check;               /* --time-check: refuse request times more than 4 h off */

    /* protocol */
    bool ndr64;                    /* --no-ndr64 clears */
    bool btfn;                     /* --no-btfn clears */
    int32_t client_count;          /* --client-count N; -1 = 2 x N of the request */
    bool allow_low_count;          /* --allow-low-count: let --client-count go below the request's N */
    uint32_t activation_interval;  /* minutes; --activation-interval with suffix m h d w, default 120 */
    uint32_t renewal_interval;     /* minutes; --renewal-interval, default 10080 */

    /* host identity */
    struct config_epid epids[CONFIG_MAX_EPIDS]; /* --epid GROUP=EPID, repeatable */
    int n_epids;
    bool hwid_set;
    uint8_t hwid[8];               /* --hwid HEX16 */
    uint32_t lcid;                 /* --lcid, default 1033 */
    uint32_t host_build;           /* --host-build, 0 = choose */

    /* registry */
    char db[CONFIG_PATH_LEN];          /* --db PATH|URI; "" = <state-dir>/kmsd.db; "none" (--no-db) = no registry */
    char db_password_file[CONFIG_PATH_LEN]; /* --db-password-file: a PostgreSQL registry's password; "" = libpq's */
    uint32_t retention_days;           /* --retention DAYS, default 90 */
    uint32_t max_clients;              /* --max-clients: registry rows kept at most, default 1000000 */
    uint32_t registry_idle_unload_ms;  /* --registry-idle-unload (seconds, suffixes), default 2 min; 0: never */
    enum config_count_mode count_mode; /* --count-mode fixed|genuine, default fixed */
    uint32_t count_floor;              /* --count-floor N: genuine mode reports at least N, default 0 */

    /* files */
    char state_dir[CONFIG_PATH_LEN];   /* --state-dir, default /var/lib/kmsd */
    char config_file[CONFIG_PATH_LEN]; /* -c/--config, empty if none */

    /* logging */
    enum config_log_level log_level;   /* --log-level error|warn|info|debug, default info */
    char log_file[CONFIG_PATH_LEN];    /* --log-file, empty = stderr */
    bool syslog;                       /* --syslog */

    /* HTTP: web page, JSON API, metrics, health */
    char http[CONFIG_MAX_HTTP][CONFIG_LISTEN_LEN]; /* --http ADDR[:PORT], repeatable */
    int n_http;                        /* 0: the defaults 127.0.0.1:8080 and [::1]:8080 */
    bool http_off;                     /* --no-http, http = none */
    char http_token[CONFIG_TOKEN_MAX + 1]; /* --http-token: Bearer token every request must carry; "" = none */
    bool http_insecure;                /* --http-insecure: allow a non-loopback --http without a token */
    uint32_t http_max_connections;     /* --http-max-connections, default 32 */
    uint32_t http_timeout_ms;          /* --http-timeout (seconds, suffixes), default 10 s */
    uint32_t http_idle_unload_ms;      /* --http-idle-unload (seconds, suffixes), default 2 min; 0: never */
    uint32_t http_max_page;            /* --http-max-page: clients per API page at most, default 500 */
    char http_tls_cert[CONFIG_PATH_LEN];  /* --http-tls-cert FILE (PEM): serve HTTPS; "" = plain HTTP */
    char http_tls_key[CONFIG_PATH_LEN];   /* --http-tls-key FILE (PEM), with http_tls_cert */
    /* DNS SRV publishing (dns_publish.h) */
    char dns_publish[CONFIG_MAX_DNS_ZONES][CONFIG_DNS_NAME_LEN]; /* --dns-publish ZONE, repeatable; none: off */
    int n_dns_publish;
    char dns_server[CONFIG_LISTEN_LEN];      /* --dns-server ADDR[:PORT]; "" = the zone's primary (SOA MNAME) */
    char dns_tsig_file[CONFIG_PATH_LEN];     /* --dns-tsig-file FILE (a BIND key file); "" = none */
    char dns_tsig[CONFIG_DNS_TSIG_LEN];      /* --dns-tsig NAME:ALGORITHM:SECRET; "" = none */
    char dns_host[CONFIG_DNS_NAME_LEN];      /* --dns-host NAME, the SRV target; "" = this host's FQDN */
    char host_name[CONFIG_HOST_NAME_LEN + 1]; /* --host-name: this kmsd's name in the registry; "" = gethostname */
    uint32_t dns_priority;                   /* --dns-priority, 0-65535, default 0 */
    uint32_t dns_weight;                     /* --dns-weight, 0-65535, default 0 */
    uint32_t dns_ttl_ms;                     /* --dns-ttl, default 1 h */
    uint32_t dns_refresh_ms;                 /* --dns-refresh, default 24 h (as Windows re-registers) */
    char dns_address[CONFIG_MAX_DNS_ADDRESSES][CONFIG_CIDR_LEN]; /* --dns-address ADDR: the target's A/AAAA too */
    int n_dns_address;

    /* privileges (privdrop.h) */
    char user[64];                     /* --user: "" = kmsd if it exists, else nobody */
    char group[64];                    /* --group: "" = the user's primary group */
    bool allow_root;                   /* --allow-root: started as root, stay root */

    /* actions */
    bool check_config; /* --check-config: print the effective configuration and exit 0 */
};

#define KMSD_CONFIG_OK 0          /* run */
#define KMSD_CONFIG_EXIT_OK 1     /* --help, --version or --check-config done: exit 0 */
#define KMSD_CONFIG_EXIT_USAGE 2  /* bad option, key or value: exit 2 */

/* The option table, read-only: --help, docs/config.md, packaging/kmsd.conf.example and the tests follow it. */
enum config_arg {
    CONFIG_ARG_NONE,  /* an action or flag without a value (--help, --check-config) */
    CONFIG_ARG_BOOL,  /* command line: --NAME / --no-NAME; INI and environment: true|false|yes|no|on|off|1|0 */
    CONFIG_ARG_VALUE, /* one value; a later setting replaces an earlier one */
    CONFIG_ARG_LIST,  /* repeatable; accumulates within one source, a later source replaces the whole list */
};

#define CONFIG_IN_CLI 1u /* --NAME on the command line */
#define CONFIG_IN_INI 2u /* NAME = VALUE in the INI file */
#define CONFIG_IN_ENV 4u /* KMSD_NAME (upper case, dashes as underscores) in the environment */

struct config_option {
    const char *name;    /* long option name; also the INI key and, upper-cased, the variable after KMSD_ */
    char short_opt;      /* 'L', or 0 */
    enum config_arg arg;
    bool negated;        /* a boolean that defaults to true: the command line shows it as --no-NAME */
    unsigned in;         /* CONFIG_IN_* where it may be given */
    const char *metavar; /* "ADDR[:PORT]", NULL without a value */
    const char *def;     /* the default as the option's own text ("" = none), NULL for actions */
    const char *help;    /* one line */
};

/* Options in table order; config_option_at() returns NULL when i >= config_option_count(). */
size_t config_option_count(void);
const struct config_option *config_option_at(size_t i);
/* Prints the --help text. */
void config_help(FILE *out);
/* A function that config_help calls after the options (kmsd's main: the registry commands, cli_help_commands);
 * NULL: none. Set before config_load. */
void config_set_help_tail(void (*tail)(FILE *out));

/* Fills cfg with the defaults. */
void config_defaults(struct kmsd_config *cfg);
/* Applies INI file (if -c given), environment (envp, NULL-terminated "K=V" strings) and argv, in that order
 * of precedence; prints --help / --check-config output to out and errors to err. Returns KMSD_CONFIG_*.
 * With --products-file the file is read and validated (products_load.h: its errors name the line and the rule) and
 * the product names of the other options are checked against its table; the sources are read twice for that (the
 * first pass only finds the file). On KMSD_CONFIG_OK cfg->products_table is that table or the built-in one. */
int config_load(struct kmsd_config *cfg, int argc, char **argv, char **envp, FILE *out, FILE *err);
/* Frees cfg->products_table when it was loaded from a file and is not in use (products_current()); sets it NULL. */
void config_release(struct kmsd_config *cfg);
/* Applies INI text[0..len) (the contents of a -c file; it need not be NUL-terminated) over cfg, which already
 * holds the defaults, then the cross-option checks; errors go to err as for a file named "(text)". No
 * environment, no command line; product names are checked against the built-in table and a products-file is
 * not read (cfg->products_table is the built-in table). Returns KMSD_CONFIG_OK or KMSD_CONFIG_EXIT_USAGE. */
int config_load_ini_text(struct kmsd_config *cfg, const char *text, size_t len, FILE *err);
/* Prints the effective configuration as INI text that config_load accepts back. */
void config_print(const struct kmsd_config *cfg, FILE *out);

/* The options whose values differ between a and b (as --check-config prints them), in table order: up to max
 * names into names; returns how many differ. For a reload: what changed, and whether it applies live. */
size_t config_changed(const struct kmsd_config *a, const struct kmsd_config *b, const char **names, size_t max);
/* Whether a reload applies the option named (the option table says, for each option); false for unknown names. */
bool config_option_live(const char *name);
/* A reload: running takes next's value of every option a reload applies (config_option_live), the others keep
 * theirs. What follows from the values (the access lists, the product table in use, the server's limits) is the
 * caller's. */
void config_take_live(struct kmsd_config *running, const struct kmsd_config *next);

/* Whether an --http address is loopback-only: 127.0.0.0/8, [::1] or localhost (any port). */
bool http_addr_is_loopback(const char *a);

/* The PEM text of the file at path (at most CONFIG_TLS_PEM_MAX bytes, holding a "-----BEGIN " line), malloc'd and
 * NUL-terminated, or NULL with msg (cap bytes) saying why. For --http-tls-cert and --http-tls-key. */
char *config_read_pem(const char *path, char *msg, size_t cap);

#define CONFIG_COMMAND_ARGS 256 /* arguments a command passes on to config_load at most */

/* For a command that reads kmsd's configuration (`kmsd dns-record`, `kmsd products list`): splits argv[first..argc)
 * into the command's own value options — names[i] (e.g. "--zone"), as "NAME VALUE" or "NAME=VALUE", into vals[i] —
 * and the rest, passed on to config_load in pass (pass[0] = argv[0], NULL-terminated; pass holds CONFIG_COMMAND_ARGS
 * + 1). -h or --help sets *help. Returns how many are in pass, or -1 after a message on stderr naming cmd (a value
 * missing, too many arguments, or a first argument passed on that is no option: "kmsd dns-record example.org"). */
int config_command_args(const char *cmd, int argc, char **argv, int first, const char *const *names, const char **vals,
                        size_t n, char **pass, bool *help);

struct dns_tsig;
/* The TSIG key of --dns-tsig-file (read again) or --dns-tsig: 1 with *out filled, 0 when neither is set, -1 with
 * msg (cap bytes) saying why. */
int config_dns_key(const struct kmsd_config *cfg, struct dns_tsig *out, char *msg, size_t cap);

#endif
