/* cli_dns — `kmsd dns-record`: the SRV record kmsd publishes, in the forms admins paste (cli_dns.c). */
#ifndef KMSD_CLI_DNS_H
#define KMSD_CLI_DNS_H

/* Runs `kmsd dns-record ...` (argv[1] is "dns-record"); envp for the configuration's KMSD_* variables. Returns the
 * exit status: 0, 2 for a bad option or configuration, 1 when the output cannot be written. */
int cli_dns_record(int argc, char **argv, char **envp);

#endif
