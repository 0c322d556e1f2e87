/*
 * product_commands — the commands an administrator runs on a client to activate one product against this KMS
 * host: install the product's GVLK, point the client at HOST:PORT, activate. Windows uses slmgr (an elevated
 * command prompt): `slmgr /ipk GVLK`, `slmgr /skms HOST:PORT`, `slmgr /ato`. Office uses the OSPP.VBS script of
 * its version's folder (products.h: office_folder): `cscript "%ProgramFiles%\Microsoft Office\Office16\OSPP.VBS"
 * /inpkey:GVLK`, then /sethst:HOST, /setprt:PORT and /act. 32-bit Office on 64-bit Windows lives under
 * %ProgramFiles(x86)% instead; product_commands_note() says so.
 *
 * One source for kmsc --list-products --commands and the web page (/api/v1/products?host=). Pure: no
 * allocation, nothing read but the product table.
 */
#ifndef KMS_PRODUCT_COMMANDS_H
#define KMS_PRODUCT_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#include "products.h"

#define PRODUCT_COMMANDS_MAX 4     /* commands per product at most (Office: key, host, port, activate) */
#define PRODUCT_COMMAND_LEN 384    /* bytes of one command with its NUL at most */
#define PRODUCT_COMMANDS_HOST_MAX 253 /* characters of a host name or address at most (a DNS name's limit) */

struct product_command {
    const char *step; /* what it does: "install the key", "set the KMS host", "set the port", "activate" */
    char text[PRODUCT_COMMAND_LEN];
};

/* Whether host can go into a command line as it is: 1 to PRODUCT_COMMANDS_HOST_MAX characters, each a letter,
 * digit, '.', '-', '_' or ':' (an IPv6 address, written without brackets). */
int product_commands_host_ok(const char *host);

/* Fills out[] with the commands for SKU s against host:port and returns how many (0 when s has no GVLK: there
 * is nothing to install). KMS_EINVAL when s is NULL, port is 0 or host fails product_commands_host_ok. An IPv6
 * host is bracketed where slmgr needs it ("slmgr /skms [2001:db8::1]:1688"). */
int product_commands(const struct products_sku *s, const char *host, uint16_t port,
                     struct product_command out[PRODUCT_COMMANDS_MAX]);

/* A line to show under the commands of s, or NULL: for Office, where 32-bit Office on 64-bit Windows keeps
 * OSPP.VBS. */
const char *product_commands_note(const struct products_sku *s);

#endif
