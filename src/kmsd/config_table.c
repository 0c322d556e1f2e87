/* config_table — the option table, its printers and the defaults; see config_internal.h. */
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
#include "kms.h"
#include "kms_limits.h"
#include "err.h"
#include "num.h"
#include "products.h"

/* ---- printers (config_print: INI text that config_load reads back) ---- */

static void print_line(const struct opt *o, const char *val, FILE *out)
{
    /* A line that fits inih's buffer only without the blanks around "=" (it came from an INI line of that
     * length) is written without them, so that it reads back (found by fuzz_config). */
    if (strlen(o->d.name) + 3 + strlen(val) > (size_t)INI_MAX_LINE - 2)
        fprintf(out, "%s=%s\n", o->d.name, val);
    else
        fprintf(out, "%s =%s%s\n", o->d.name, val[0] ? " " : "", val);
}

static void print_bool(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_line(o, *(const bool *)config_cfield(o, cfg) ? "true" : "false", out);
}

static void print_uint(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    unsigned long v = o->size == sizeof(uint16_t) ? *(const uint16_t *)config_cfield(o, cfg)
                                                  : (unsigned long)*(const uint32_t *)config_cfield(o, cfg);
    fprintf(out, "%s = %lu\n", o->d.name, v);
}

/* Prints v in the largest unit of units[1..] that divides it exactly. */
static void print_scaled(const struct opt *o, uint64_t v, const struct unit *units, size_t n, FILE *out)
{
    size_t best = 1;
    for (size_t i = 1; i < n; i++)
        if (v % units[i].mult == 0)
            best = i;
    fprintf(out, "%s = %llu%c\n", o->d.name, (unsigned long long)(v / units[best].mult), units[best].suffix);
}

static void print_seconds(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    uint32_t ms = *(const uint32_t *)config_cfield(o, cfg);
    print_scaled(o, ms / 1000, config_seconds_units, sizeof config_seconds_units / sizeof config_seconds_units[0], out);
}

static void print_minutes(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_scaled(o, *(const uint32_t *)config_cfield(o, cfg), config_minutes_units,
                 sizeof config_minutes_units / sizeof config_minutes_units[0], out);
}

static void print_string(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_line(o, (const char *)config_cfield(o, cfg), out);
}

static void print_log_level(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    size_t l = (size_t)cfg->log_level;
    print_line(o, l < sizeof config_log_levels / sizeof config_log_levels[0] ? config_log_levels[l] : "info", out);
}

static void print_count_mode(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_line(o, cfg->count_mode == CONFIG_COUNT_GENUINE ? "genuine" : "fixed", out);
}

static void print_client_count(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    if (cfg->client_count < 0)
        print_line(o, "auto", out);
    else
        fprintf(out, "%s = %ld\n", o->d.name, (long)cfg->client_count);
}

static void print_hwid(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    char hex[KMS_HWID_TEXT_LEN + 1] = "";
    if (cfg->hwid_set)
        kms_format_hwid(cfg->hwid, hex);
    print_line(o, hex, out);
}

static void print_listen(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    if (cfg->n_listen == 0)
        print_line(o, "", out);
    for (int i = 0; i < cfg->n_listen; i++)
        print_line(o, cfg->listen[i], out);
}

static void print_http(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    if (cfg->http_off)
        print_line(o, "none", out);
    else if (cfg->n_http == 0)
        print_line(o, "", out);
    for (int i = 0; i < cfg->n_http; i++)
        print_line(o, cfg->http[i], out);
}

/* A list of strings: the array is right before its count in struct kmsd_config. */
static void print_strings(const struct opt *o, const char *items, size_t item_len, int n, FILE *out)
{
    if (n == 0)
        print_line(o, "", out);
    for (int i = 0; i < n; i++)
        print_line(o, items + (size_t)i * item_len, out);
}

static void print_cidr(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    if (o->off == offsetof(struct kmsd_config, n_deny))
        print_strings(o, cfg->deny[0], sizeof cfg->deny[0], cfg->n_deny, out);
    else if (o->off == offsetof(struct kmsd_config, n_trusted_proxy))
        print_strings(o, cfg->trusted_proxy[0], sizeof cfg->trusted_proxy[0], cfg->n_trusted_proxy, out);
    else
        print_strings(o, cfg->allow[0], sizeof cfg->allow[0], cfg->n_allow, out);
}

static void print_dns_zones(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_strings(o, cfg->dns_publish[0], sizeof cfg->dns_publish[0], cfg->n_dns_publish, out);
}

static void print_dns_addresses(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_strings(o, cfg->dns_address[0], sizeof cfg->dns_address[0], cfg->n_dns_address, out);
}

static void print_csvlk(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    print_strings(o, cfg->csvlks[0], sizeof cfg->csvlks[0], cfg->n_csvlks, out);
}

static void print_products(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    size_t i = (size_t)cfg->products;
    print_line(o, i < sizeof config_products_names / sizeof config_products_names[0] ? config_products_names[i] : "all",
               out);
}

static void print_epid(const struct opt *o, const struct kmsd_config *cfg, FILE *out)
{
    if (cfg->n_epids == 0)
        print_line(o, "", out);
    for (int i = 0; i < cfg->n_epids; i++)
        fprintf(out, "%s = %s=%s\n", o->d.name, cfg->epids[i].csvlk, cfg->epids[i].epid);
}

/* ---- the option table ---- */

#define ALL (CONFIG_IN_CLI | CONFIG_IN_INI | CONFIG_IN_ENV)
#define F(m) offsetof(struct kmsd_config, m), sizeof(((struct kmsd_config *)0)->m)
/* After min and max: the option applies at a reload (a list option names its entries' field too). */
#define LIVE true, 0, 0
#define RESTART false, 0, 0
#define LIVE_LIST(m) true, F(m)

const struct opt config_opts[] = {
    {{"listen", 'L', CONFIG_ARG_LIST, false, ALL, "ADDR[:PORT]", "",
      "address to listen on: IPv4, [IPv6[%IF]], host name or * (repeatable) [[::]:PORT]"},
     config_set_listen,
     print_listen,
     F(n_listen),
     0,
     0, RESTART},
    {{"port", 0, CONFIG_ARG_VALUE, false, ALL, "PORT", "1688", "port of listen addresses given without one"},
     config_set_uint,
     print_uint,
     F(port),
     1,
     65535, RESTART},
    {{"max-connections", 0, CONFIG_ARG_VALUE, false, ALL, "N", "4096", "open connections at most (1-1000000)"},
     config_set_uint,
     print_uint,
     F(max_connections),
     1,
     1000000, LIVE},
    {{"idle-timeout", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "30s",
      "close a connection idle this long (1s-1d; seconds, or suffix s, m, h, d)"},
     config_set_seconds,
     print_seconds,
     F(idle_timeout_ms),
     1,
     86400, LIVE},
    {{"max-pdu", 0, CONFIG_ARG_VALUE, false, ALL, "BYTES", "5840", "largest RPC PDU accepted (256-5840)"},
     config_set_uint,
     print_uint,
     F(max_pdu),
     256,
     KMS_LIMIT_PDU_MAX, LIVE},
    {{"max-requests", 0, CONFIG_ARG_VALUE, false, ALL, "N", "0",
      "activation requests answered per connection, then it closes (0: no limit, up to 1000000)"},
     config_set_uint,
     print_uint,
     F(max_requests),
     0,
     1000000, LIVE},
    {{"max-pdus", 0, CONFIG_ARG_VALUE, false, ALL, "N", "0",
      "RPC PDUs of any type (BIND, ALTER_CONTEXT, REQUEST fragments) answered per connection, then it closes "
      "(0: no limit, up to 1000000)"},
     config_set_uint,
     print_uint,
     F(max_pdus),
     0,
     1000000, LIVE},
    {{"max-conn-buffer", 0, CONFIG_ARG_VALUE, false, ALL, "BYTES", "16384",
      "bytes buffered per connection (1024-1048576, at least --max-pdu)"},
     config_set_uint,
     print_uint,
     F(max_conn_buffer),
     1024,
     1048576, LIVE},
    {{"pdu-timeout", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "10s",
      "close a connection whose PDU is not complete this long after its first byte (1s-1d)"},
     config_set_seconds,
     print_seconds,
     F(pdu_timeout_ms),
     1,
     86400, LIVE},
    {{"max-per-address", 0, CONFIG_ARG_VALUE, false, ALL, "N", "64",
      "open connections per public client address, IPv6 per /64 (0: no cap, up to 1000000)"},
     config_set_uint,
     print_uint,
     F(max_per_address),
     0,
     1000000, LIVE},
    {{"max-addresses", 0, CONFIG_ARG_VALUE, false, ALL, "N", "65536",
      "client addresses tracked for the per-address limits (1024-16777216)"},
     config_set_uint,
     print_uint,
     F(max_addresses),
     1024,
     16777216, RESTART},
    {{"rate-limit", 0, CONFIG_ARG_VALUE, false, ALL, "N", "120",
      "activations per public address per minute, sustained (0: no limit, up to 1000000)"},
     config_set_uint,
     print_uint,
     F(rate_limit),
     0,
     1000000, LIVE},
    {{"rate-burst", 0, CONFIG_ARG_VALUE, false, ALL, "N", "120",
      "activations per public address at once before --rate-limit applies (1-1000000)"},
     config_set_uint,
     print_uint,
     F(rate_burst),
     1,
     1000000, LIVE},
    {{"limit-private", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
      "apply --max-per-address and --rate-limit to private addresses too (as --private-only defines them; "
      "loopback included)"},
     config_set_bool,
     print_bool,
     F(limit_private),
     0,
     0, LIVE},
    {{"allow", 0, CONFIG_ARG_LIST, false, ALL, "CIDR", "",
      "accept clients only from these networks (repeatable; none: every address)"},
     config_set_cidr,
     print_cidr,
     F(n_allow),
     0,
     0, LIVE_LIST(allow)},
    {{"deny", 0, CONFIG_ARG_LIST, false, ALL, "CIDR", "",
      "refuse clients from these networks; deny wins over allow (repeatable)"},
     config_set_cidr,
     print_cidr,
     F(n_deny),
     0,
     0, LIVE_LIST(deny)},
    {{"private-only", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
      "refuse clients from public addresses (RFC 1918, loopback, link-local, CGNAT, ULA are private)"},
     config_set_bool,
     print_bool,
     F(private_only),
     0,
     0, LIVE},
    {{"proxy-protocol", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
      "a --trusted-proxy's connections start with a PROXY header (v1 or v2) naming the client: its address is the "
      "one logged, recorded and checked"},
     config_set_bool,
     print_bool,
     F(proxy_protocol),
     0,
     0, LIVE},
    {{"trusted-proxy", 0, CONFIG_ARG_LIST, false, ALL, "CIDR", "",
      "with --proxy-protocol: the load balancers that send PROXY headers (repeatable)"},
     config_set_cidr,
     print_cidr,
     F(n_trusted_proxy),
     0,
     0, LIVE_LIST(trusted_proxy)},
    {{"products", 0, CONFIG_ARG_VALUE, false, ALL, "POLICY", "all",
      "all; known: refuse unknown KMS ids; volume: also retail and preview ones (0xC004F042)"},
     config_set_products,
     print_products,
     F(products),
     0,
     0, LIVE},
    {{"csvlk", 0, CONFIG_ARG_LIST, false, ALL, "GROUP[,GROUP...]", "",
      "activate only the KMS ids these CSVLK groups activate (repeatable; none: every group)"},
     config_set_csvlk,
     print_csvlk,
     F(n_csvlks),
     0,
     0, LIVE_LIST(csvlks)},
    {{"products-file", 0, CONFIG_ARG_VALUE, false, ALL, "FILE", "",
      "the product table from FILE (data/products.tsv's format) instead of the built-in one; read again at a reload"},
     config_set_string,
     print_string,
     F(products_file),
     0,
     CONFIG_PATH_LEN - 1, LIVE},
    {{"time-check", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
      "refuse requests whose time is more than 4 h from the host clock (0xC004F06C)"},
     config_set_bool,
     print_bool,
     F(time_check),
     0,
     0, LIVE},
    {{"ndr64", 0, CONFIG_ARG_BOOL, true, ALL, NULL, "true", "refuse the NDR64 transfer syntax (--ndr64: accept)"},
     config_set_bool,
     print_bool,
     F(ndr64),
     0,
     0, RESTART},
    {{"btfn", 0, CONFIG_ARG_BOOL, true, ALL, NULL, "true", "refuse bind-time feature negotiation (--btfn: accept)"},
     config_set_bool,
     print_bool,
     F(btfn),
     0,
     0, RESTART},
    {{"client-count", 0, CONFIG_ARG_VALUE, false, ALL, "N", "auto",
      "client count to report (1-1000); auto: twice the client's threshold"},
     config_set_client_count,
     print_client_count,
     F(client_count),
     1,
     1000, LIVE},
    {{"allow-low-count", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
      "let --client-count go below the client's threshold"},
     config_set_bool,
     print_bool,
     F(allow_low_count),
     0,
     0, LIVE},
    {{"activation-interval", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "2h",
      "minutes until a failed client retries (minutes, or suffix m, h, d, w)"},
     config_set_minutes,
     print_minutes,
     F(activation_interval),
     1,
     UINT32_MAX, LIVE},
    {{"renewal-interval", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "1w",
      "minutes until clients renew (minutes, or suffix m, h, d, w)"},
     config_set_minutes,
     print_minutes,
     F(renewal_interval),
     1,
     UINT32_MAX, LIVE},
    {{"epid", 0, CONFIG_ARG_LIST, false, ALL, "GROUP=EPID", "",
      "ePID for CSVLK group GROUP, e.g. win2025 (repeatable; none: generated)"},
     config_set_epid,
     print_epid,
     F(n_epids),
     0,
     0, RESTART},
    {{"hwid", 0, CONFIG_ARG_VALUE, false, ALL, "HEX16", "", "host HWID, 16 hex digits (none: random)"},
     config_set_hwid,
     print_hwid,
     F(hwid),
     0,
     0, RESTART},
    {{"lcid", 0, CONFIG_ARG_VALUE, false, ALL, "LCID", "1033", "LCID of generated ePIDs (1-65535)"},
     config_set_uint,
     print_uint,
     F(lcid),
     1,
     65535, RESTART},
    {{"host-build", 0, CONFIG_ARG_VALUE, false, ALL, "BUILD", "0",
      "build in generated ePIDs: 0 chooses, or a server build of the product table"},
     config_set_host_build,
     print_uint,
     F(host_build),
     0,
     UINT32_MAX, RESTART},
    {{"db", 0, CONFIG_ARG_VALUE, false, ALL, "PATH|URI", "",
      "client registry: a SQLite file, or a PostgreSQL connection string for several hosts (postgresql://USER@HOST:"
      "PORT/DB, or host=HOST dbname=DB ...); none: no registry (none given: STATE-DIR/kmsd.db)"},
     config_set_string,
     print_string,
     F(db),
     0,
     CONFIG_PATH_LEN - 1, RESTART},
    {{"db-password-file", 0, CONFIG_ARG_VALUE, false, ALL, "FILE", "",
      "a PostgreSQL registry's password: the first line of FILE, read at each connection (else PGPASSFILE)"},
     config_set_string,
     print_string,
     F(db_password_file),
     0,
     CONFIG_PATH_LEN - 1, RESTART},
    {{"no-db", 0, CONFIG_ARG_NONE, false, CONFIG_IN_CLI, NULL, NULL, "run without a registry (same as --db none)"},
     config_set_no_db,
     NULL,
     0,
     0,
     0,
     0, RESTART},
    {{"retention", 0, CONFIG_ARG_VALUE, false, ALL, "DAYS", "90",
      "forget clients not seen for this many days (1-36500)"},
     config_set_uint,
     print_uint,
     F(retention_days),
     1,
     36500, LIVE},
    {{"max-clients", 0, CONFIG_ARG_VALUE, false, ALL, "N", "1000000",
      "registry rows kept at most; the least recently seen go first (1000-100000000)"},
     config_set_uint,
     print_uint,
     F(max_clients),
     1000,
     100000000, LIVE},
    {{"registry-idle-unload", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "2m",
      "no activation this long: close the registry (SQLite unloads unless HTTP reads it) until the next (0: never; up "
      "to 1d; s, m, h, d)"},
     config_set_seconds,
     print_seconds,
     F(registry_idle_unload_ms),
     0,
     86400, LIVE},
    {{"count-mode", 0, CONFIG_ARG_VALUE, false, ALL, "MODE", "fixed",
      "fixed: 2N or --client-count; genuine: distinct clients of the last 30 days"},
     config_set_count_mode,
     print_count_mode,
     F(count_mode),
     0,
     0, LIVE},
    {{"count-floor", 0, CONFIG_ARG_VALUE, false, ALL, "N", "0", "genuine mode: report at least N clients (0-1000)"},
     config_set_uint,
     print_uint,
     F(count_floor),
     0,
     1000, LIVE},
    {{"host-name", 0, CONFIG_ARG_VALUE, false, ALL, "NAME", "",
      "this kmsd's name in the registry: which host last served each client (none: the system's host name)"},
     config_set_host_name,
     print_string,
     F(host_name),
     0,
     0, RESTART},
    {{"state-dir", 0, CONFIG_ARG_VALUE, false, ALL, "DIR", "/var/lib/kmsd", "state directory"},
     config_set_string,
     print_string,
     F(state_dir),
     1,
     CONFIG_PATH_LEN - 1, RESTART},
    {{"log-level", 0, CONFIG_ARG_VALUE, false, ALL, "LEVEL", "info", "error, warn, info or debug"},
     config_set_log_level,
     print_log_level,
     F(log_level),
     0,
     0, LIVE},
    {{"log-file", 0, CONFIG_ARG_VALUE, false, ALL, "FILE", "", "log to FILE (none: standard error)"},
     config_set_string,
     print_string,
     F(log_file),
     0,
     CONFIG_PATH_LEN - 1, LIVE},
    {{"syslog", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false", "log to syslog instead"},
     config_set_bool,
     print_bool,
     F(syslog),
     0,
     0, RESTART},
    {{"http", 0, CONFIG_ARG_LIST, false, ALL, "ADDR[:PORT]", "",
      "serve the web page, API and metrics here (repeatable; none: off) [127.0.0.1:8080 and [::1]:8080]"},
     config_set_http,
     print_http,
     F(n_http),
     0,
     0, RESTART},
    {{"no-http", 0, CONFIG_ARG_NONE, false, CONFIG_IN_CLI, NULL, NULL, "no HTTP server (same as --http none)"},
     config_set_no_http,
     NULL,
     0,
     0,
     0,
     0, RESTART},
    {{"http-token", 0, CONFIG_ARG_VALUE, false, ALL, "TOKEN", "",
      "every HTTP request must carry Authorization: Bearer TOKEN (16-128 characters)"},
     config_set_token,
     print_string,
     F(http_token),
     0,
     0, LIVE},
    {{"http-insecure", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
      "allow a non-loopback --http address without --http-token"},
     config_set_bool,
     print_bool,
     F(http_insecure),
     0,
     0, LIVE},
    {{"http-max-connections", 0, CONFIG_ARG_VALUE, false, ALL, "N", "32", "open HTTP connections at most (1-1024)"},
     config_set_uint,
     print_uint,
     F(http_max_connections),
     1,
     1024, LIVE},
    {{"http-timeout", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "10s",
      "close an HTTP connection idle this long (1s-1h; seconds, or suffix s, m, h)"},
     config_set_seconds,
     print_seconds,
     F(http_timeout_ms),
     1,
     3600, LIVE},
    {{"http-idle-unload", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "2m",
      "no HTTP connection this long: unload the HTTP library until the next (0: never; up to 1d; s, m, h, d)"},
     config_set_seconds,
     print_seconds,
     F(http_idle_unload_ms),
     0,
     86400, LIVE},
    {{"http-max-page", 0, CONFIG_ARG_VALUE, false, ALL, "N", "500", "clients per API page at most (1-10000)"},
     config_set_uint,
     print_uint,
     F(http_max_page),
     1,
     10000, LIVE},
    {{"http-tls-cert", 0, CONFIG_ARG_VALUE, false, ALL, "FILE", "",
      "serve HTTPS with this PEM certificate (chain) and --http-tls-key (none: plain HTTP)"},
     config_set_string,
     print_string,
     F(http_tls_cert),
     0,
     CONFIG_PATH_LEN - 1, LIVE},
    {{"http-tls-key", 0, CONFIG_ARG_VALUE, false, ALL, "FILE", "", "the PEM private key of --http-tls-cert"},
     config_set_string,
     print_string,
     F(http_tls_key),
     0,
     CONFIG_PATH_LEN - 1, LIVE},
    {{"dns-publish", 0, CONFIG_ARG_LIST, false, ALL, "ZONE", "",
      "publish this host as _vlmcs._tcp.ZONE SRV by DNS update (repeatable; none: off)"},
     config_set_dns_zone,
     print_dns_zones,
     F(n_dns_publish),
     0,
     0, LIVE_LIST(dns_publish)},
    {{"dns-server", 0, CONFIG_ARG_VALUE, false, ALL, "ADDR[:PORT]", "",
      "send the updates to this server (none: the zone's primary, from its SOA)"},
     config_set_dns_server,
     print_string,
     F(dns_server),
     0,
     0, LIVE},
    {{"dns-tsig-file", 0, CONFIG_ARG_VALUE, false, ALL, "FILE", "",
      "sign the updates with the TSIG key in this BIND key file (hmac-sha256 or hmac-sha512)"},
     config_set_string,
     print_string,
     F(dns_tsig_file),
     0,
     CONFIG_PATH_LEN - 1, LIVE},
    {{"dns-tsig", 0, CONFIG_ARG_VALUE, false, ALL, "NAME:ALGORITHM:SECRET", "",
      "sign the updates with this TSIG key (prefer --dns-tsig-file: a command line is visible)"},
     config_set_dns_tsig,
     print_string,
     F(dns_tsig),
     0,
     0, LIVE},
    {{"dns-host", 0, CONFIG_ARG_VALUE, false, ALL, "NAME", "", "the SRV record's target (none: this host's FQDN)"},
     config_set_dns_name,
     print_string,
     F(dns_host),
     0,
     0, LIVE},
    {{"dns-priority", 0, CONFIG_ARG_VALUE, false, ALL, "N", "0", "the SRV record's priority (0-65535, lower first)"},
     config_set_uint,
     print_uint,
     F(dns_priority),
     0,
     65535, LIVE},
    {{"dns-weight", 0, CONFIG_ARG_VALUE, false, ALL, "N", "0",
      "the SRV record's weight among hosts of one priority (0-65535)"},
     config_set_uint,
     print_uint,
     F(dns_weight),
     0,
     65535, LIVE},
    {{"dns-ttl", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "1h", "the published records' TTL (1m-1d)"},
     config_set_seconds,
     print_seconds,
     F(dns_ttl_ms),
     60,
     86400, LIVE},
    {{"dns-refresh", 0, CONFIG_ARG_VALUE, false, ALL, "TIME", "1d", "announce the records again this often (10s-7d)"},
     config_set_seconds,
     print_seconds,
     F(dns_refresh_ms),
     10,
     604800, LIVE},
    {{"dns-address", 0, CONFIG_ARG_LIST, false, ALL, "ADDR", "",
      "also publish the target's A/AAAA record with this address (repeatable; none: not)"},
     config_set_dns_address,
     print_dns_addresses,
     F(n_dns_address),
     0,
     0, LIVE_LIST(dns_address)},
    {{"user", 0, CONFIG_ARG_VALUE, false, ALL, "USER", "",
      "started as root: run as USER after binding (none: kmsd if it exists, else nobody)"},
     config_set_account,
     print_string,
     F(user),
     0,
     0, RESTART},
    {{"group", 0, CONFIG_ARG_VALUE, false, ALL, "GROUP", "", "started as root: run as GROUP (none: USER's group)"},
     config_set_account,
     print_string,
     F(group),
     0,
     0, RESTART},
    {{"allow-root", 0, CONFIG_ARG_BOOL, false, ALL, NULL, "false",
      "started as root: stay root instead of switching to --user"},
     config_set_bool,
     print_bool,
     F(allow_root),
     0,
     0, RESTART},
    {{"config", 'c', CONFIG_ARG_VALUE, false, CONFIG_IN_CLI | CONFIG_IN_ENV, "FILE", "",
      "read this INI file (command line, else KMSD_CONFIG)"},
     config_set_string,
     NULL,
     F(config_file),
     0,
     CONFIG_PATH_LEN - 1, RESTART},
    {{"check-config", 0, CONFIG_ARG_NONE, false, CONFIG_IN_CLI, NULL, NULL,
      "print the effective configuration as INI text and exit"},
     config_set_check_config,
     NULL,
     0,
     0,
     0,
     0, RESTART},
    {{"help", 'h', CONFIG_ARG_NONE, false, CONFIG_IN_CLI, NULL, NULL, "print this help and exit"},
     NULL,
     NULL,
     0,
     0,
     0,
     0, RESTART},
    {{"version", 'V', CONFIG_ARG_NONE, false, CONFIG_IN_CLI, NULL, NULL, "print the version and exit"},
     NULL,
     NULL,
     0,
     0,
     0,
     0, RESTART},
};

#define N_OPTS (sizeof config_opts / sizeof config_opts[0])
const size_t config_n_opts = N_OPTS;
_Static_assert(N_OPTS <= MAX_OPTS, "raise MAX_OPTS");

/* Former names, accepted from every source as the option they became (docs/config.md names them there). */
const struct config_alias config_aliases[] = {
    {"limit-loopback", "no-limit-loopback", "limit-private"}, /* loopback only; now every private address */
};
const size_t config_n_aliases = sizeof config_aliases / sizeof config_aliases[0];
_Static_assert(sizeof config_aliases / sizeof config_aliases[0] <= MAX_ALIASES, "raise MAX_ALIASES");

size_t config_option_count(void)
{
    return N_OPTS;
}

const struct config_option *config_option_at(size_t i)
{
    return i < N_OPTS ? &config_opts[i].d : NULL;
}

const struct opt *config_find_opt(const char *name, unsigned in)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if ((config_opts[i].d.in & in) && strcmp(config_opts[i].d.name, name) == 0)
            return &config_opts[i];
    for (size_t i = 0; i < config_n_aliases; i++)
        if (strcmp(config_aliases[i].name, name) == 0)
            return config_find_opt(config_aliases[i].now, in);
    return NULL;
}

void config_defaults(struct kmsd_config *cfg)
{
    struct load ld;
    memset(&ld, 0, sizeof ld);
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_OPTS; i++)
        if (config_opts[i].set && config_opts[i].d.def)
            (void)config_opts[i].set(&config_opts[i], cfg, config_opts[i].d.def,
                                     &ld); /* the tests check every default parses */
}
