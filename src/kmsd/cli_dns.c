/*
 * cli_dns — `kmsd dns-record [--zone ZONE] [--form FORM] [kmsd's options]`: prints the SRV record kmsd publishes
 * (or would) in the forms of dns_record.h. It reads the configuration exactly as kmsd does (config_load: -c FILE,
 * KMSD_* variables, --dns-host, --dns-priority, --listen, --port, ...), so the record printed is the record a kmsd
 * started with the same options publishes.
 */
#include "cli_dns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dns_name.h"
#include "dns_publish.h"
#include "dns_record.h"
#include "hostport.h"


static void usage(FILE *out)
{
    fprintf(out, "usage: kmsd dns-record [--zone ZONE] [--form zone|dnsmasq|unbound|powershell|nsupdate] "
                 "[kmsd options: -c FILE, --dns-publish, --dns-host, --dns-priority, --dns-weight, --dns-ttl, "
                 "--dns-address, --dns-server, -L, --port]\n"
                 "Prints the _vlmcs._tcp SRV record kmsd publishes for ZONE (default: each --dns-publish zone) in every "
                 "form, or in FORM.\n");
}

/* The KMS port clients are told: the first --listen address's port, else --port. */
static uint16_t kms_port(const struct kmsd_config *cfg)
{
    for (int i = 0; i < cfg->n_listen; i++) {
        struct hostport hp;
        uint16_t p;
        if (hostport_split(cfg->listen[i], &hp, NULL) == 0 && hp.port && hostport_port(hp.port, hp.port_len, &p) == 0)
            return p;
    }
    return cfg->port;
}

int cli_dns_record(int argc, char **argv, char **envp)
{
    static const char *const own[] = {"--zone", "--form"};
    const char *vals[2] = {NULL, NULL};
    char *pass[CONFIG_COMMAND_ARGS + 1];
    bool help;
    int np = config_command_args("dns-record", argc, argv, 2, own, vals, 2, pass, &help);
    if (np < 0)
        return 2;
    if (help) {
        usage(stdout);
        return 0;
    }
    const char *zone_arg = vals[0], *form_arg = vals[1];
    enum dns_record_form only = DNS_RECORD_FORMS;
    if (form_arg && (only = dns_record_form_find(form_arg)) == DNS_RECORD_FORMS) {
        fprintf(stderr, "kmsd dns-record: --form: \"%.60s\" is not zone, dnsmasq, unbound, powershell or nsupdate\n",
                form_arg);
        return 2;
    }
    static struct kmsd_config cfg; /* large */
    config_defaults(&cfg);
    int rc = config_load(&cfg, np, pass, envp, stdout, stderr);
    if (rc == KMSD_CONFIG_EXIT_OK)
        return 0;
    if (rc != KMSD_CONFIG_OK)
        return 2;
    char zone[CONFIG_DNS_NAME_LEN];
    if (zone_arg) {
        const char *why = dns_name_problem(zone_arg);
        if (why || dns_name_canonical(zone_arg, zone, sizeof zone) < 0) {
            fprintf(stderr, "kmsd dns-record: --zone: \"%.100s\" is not a DNS zone name: %s\n", zone_arg, why ? why : "");
            return 2;
        }
    } else if (cfg.n_dns_publish == 0) {
        fprintf(stderr, "kmsd dns-record: name the zone: --zone ZONE (or --dns-publish ZONE, or dns-publish in the "
                        "configuration file)\n");
        return 2;
    }
    char target[CONFIG_DNS_NAME_LEN];
    if (cfg.dns_host[0]) {
        snprintf(target, sizeof target, "%s", cfg.dns_host);
    } else if (dns_publish_fqdn(target, sizeof target) < 0 || dns_name_canonical(target, target, sizeof target) < 0) {
        fprintf(stderr, "kmsd dns-record: this host has no usable DNS name; give --dns-host NAME\n");
        return 2;
    }
    struct dns_publish_cfg c;
    memset(&c, 0, sizeof c);
    c.target = target;
    c.priority = (uint16_t)cfg.dns_priority;
    c.weight = (uint16_t)cfg.dns_weight;
    c.port = kms_port(&cfg);
    c.ttl_s = cfg.dns_ttl_ms / 1000;
    for (int i = 0; i < cfg.n_dns_address; i++)
        c.addresses[c.n_addresses++] = cfg.dns_address[i];
    int nz = zone_arg ? 1 : cfg.n_dns_publish;
    bool first = true;
    for (int z = 0; z < nz; z++) {
        const char *zn = zone_arg ? zone : cfg.dns_publish[z];
        for (int f = 0; f < DNS_RECORD_FORMS; f++) {
            if (only != DNS_RECORD_FORMS && f != (int)only)
                continue;
            if (!first)
                fputc('\n', stdout);
            dns_record_write(stdout, (enum dns_record_form)f, &c, zn, cfg.dns_server);
            first = false;
        }
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
