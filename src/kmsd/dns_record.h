/*
 * dns_record — the record kmsd publishes (dns_publish.h), written in the forms admins paste where kmsd does not
 * publish itself: a BIND zone-file line, dnsmasq's srv-host=, Unbound's local-data:, Windows DNS Server's
 * PowerShell (Add-DnsServerResourceRecord -Srv) and an nsupdate script. The target's A/AAAA records of
 * --dns-address go with it when the target lies inside the zone, as the publisher does. Pure: text only.
 * `kmsd dns-record` (cli_dns.c) prints them; each form is checked by its own tool in the tests.
 */
#ifndef KMSD_DNS_RECORD_H
#define KMSD_DNS_RECORD_H

#include <stdio.h>

#include "dns_publish.h"

enum dns_record_form {
    DNS_RECORD_ZONE,       /* BIND zone file */
    DNS_RECORD_DNSMASQ,    /* dnsmasq.conf */
    DNS_RECORD_UNBOUND,    /* unbound.conf */
    DNS_RECORD_POWERSHELL, /* Windows DNS Server */
    DNS_RECORD_NSUPDATE,   /* an nsupdate(1) script */
    DNS_RECORD_FORMS
};

/* "zone", "dnsmasq", "unbound", "powershell", "nsupdate". */
const char *dns_record_form_name(enum dns_record_form f);
/* The form named name, or DNS_RECORD_FORMS. */
enum dns_record_form dns_record_form_find(const char *name);

/* Writes zone's record(s) of c in form f, a comment line first (for f's own comment syntax) saying what it is.
 * server: the nsupdate script's server line ("ADDR[:PORT]"; NULL or "": none). */
void dns_record_write(FILE *out, enum dns_record_form f, const struct dns_publish_cfg *c, const char *zone,
                      const char *server);

#endif
