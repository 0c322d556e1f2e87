/* dns_record — see dns_record.h. */
#include "dns_record.h"

#include <stdbool.h>
#include <string.h>

#include "hostport.h"

static const char *const form_names[DNS_RECORD_FORMS] = {"zone", "dnsmasq", "unbound", "powershell", "nsupdate"};

const char *dns_record_form_name(enum dns_record_form f)
{
    return (unsigned)f < DNS_RECORD_FORMS ? form_names[f] : "unknown";
}

enum dns_record_form dns_record_form_find(const char *name)
{
    for (int i = 0; i < DNS_RECORD_FORMS; i++)
        if (name && strcmp(name, form_names[i]) == 0)
            return (enum dns_record_form)i;
    return DNS_RECORD_FORMS;
}

/* The target's name relative to zone ("kms1" for kms1.example.org in example.org, "@" for the apex), or NULL
 * when the target lies outside the zone (then its A/AAAA records are not the zone's to publish). */
static const char *relative(const char *target, const char *zone, char *buf, size_t cap)
{
    size_t n = strlen(target), z = strlen(zone);
    if (n == z && strcmp(target, zone) == 0)
        return "@";
    if (n <= z + 1 || target[n - z - 1] != '.' || strcmp(target + n - z, zone) != 0 || n - z - 1 >= cap)
        return NULL;
    memcpy(buf, target, n - z - 1);
    buf[n - z - 1] = '\0';
    return buf;
}

static bool v6(const char *addr)
{
    return strchr(addr, ':') != NULL;
}

void dns_record_write(FILE *out, enum dns_record_form f, const struct dns_publish_cfg *c, const char *zone,
                      const char *server)
{
    char rec[DNS_PUBLISH_RECORD_MAX], rel[CONFIG_DNS_NAME_LEN];
    dns_publish_record_text(c, zone, rec, sizeof rec);
    const char *host = relative(c->target, zone, rel, sizeof rel);
    size_t n_addr = host ? c->n_addresses : 0;
    unsigned long ttl = (unsigned long)c->ttl_s;
    switch (f) {
    case DNS_RECORD_ZONE:
        fprintf(out, "; kmsd's KMS SRV record for the zone %s (BIND zone file)\n%s\n", zone, rec);
        for (size_t i = 0; i < n_addr; i++)
            fprintf(out, "%s. %lu IN %s %s\n", c->target, ttl, v6(c->addresses[i]) ? "AAAA" : "A", c->addresses[i]);
        break;
    case DNS_RECORD_DNSMASQ:
        fprintf(out, "# kmsd's KMS SRV record for %s (dnsmasq.conf)\nsrv-host=_vlmcs._tcp.%s,%s,%u,%u,%u\n", zone,
                zone, c->target, (unsigned)c->port, (unsigned)c->priority, (unsigned)c->weight);
        for (size_t i = 0; i < n_addr; i++)
            fprintf(out, "host-record=%s,%s,%lu\n", c->target, c->addresses[i], ttl);
        break;
    case DNS_RECORD_UNBOUND:
        fprintf(out, "# kmsd's KMS SRV record for %s (unbound.conf)\nserver:\n    local-data: \"%s\"\n", zone, rec);
        for (size_t i = 0; i < n_addr; i++)
            fprintf(out, "    local-data: \"%s. %lu IN %s %s\"\n", c->target, ttl, v6(c->addresses[i]) ? "AAAA" : "A",
                    c->addresses[i]);
        break;
    case DNS_RECORD_POWERSHELL:
        fprintf(out,
                "# kmsd's KMS SRV record for %s (Windows DNS Server, PowerShell)\n"
                "Add-DnsServerResourceRecord -ZoneName \"%s\" -Name \"_vlmcs._tcp\" -Srv -DomainName \"%s\" "
                "-Priority %u -Weight %u -Port %u -TimeToLive ([TimeSpan]::FromSeconds(%lu))\n",
                zone, zone, c->target, (unsigned)c->priority, (unsigned)c->weight, (unsigned)c->port, ttl);
        for (size_t i = 0; i < n_addr; i++)
            fprintf(out,
                    "Add-DnsServerResourceRecord -ZoneName \"%s\" -Name \"%s\" -%s -%s \"%s\" -TimeToLive "
                    "([TimeSpan]::FromSeconds(%lu))\n",
                    zone, host, v6(c->addresses[i]) ? "AAAA" : "A", v6(c->addresses[i]) ? "IPv6Address" : "IPv4Address",
                    c->addresses[i], ttl);
        break;
    case DNS_RECORD_NSUPDATE: {
        fprintf(out, "; kmsd's KMS SRV record for %s: nsupdate -k KEYFILE THIS-FILE\n", zone);
        struct hostport hp;
        if (server && server[0] && hostport_split(server, &hp, NULL) == 0)
            fprintf(out, "server %.*s %.*s\n", (int)hp.host_len, hp.host, hp.port ? (int)hp.port_len : 2,
                    hp.port ? hp.port : "53");
        fprintf(out, "zone %s.\nupdate add %s\n", zone, rec);
        for (size_t i = 0; i < n_addr; i++)
            fprintf(out, "update add %s. %lu IN %s %s\n", c->target, ttl, v6(c->addresses[i]) ? "AAAA" : "A",
                    c->addresses[i]);
        fprintf(out, "send\n");
        break;
    }
    case DNS_RECORD_FORMS:
        break;
    }
}
