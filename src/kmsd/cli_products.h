/* cli_products — `kmsd products check FILE` and `kmsd products list` (cli_products.c). */
#ifndef KMSD_CLI_PRODUCTS_H
#define KMSD_CLI_PRODUCTS_H

/* Runs `kmsd products ...` (argv[1] is "products"); envp for the configuration's KMSD_* variables (list). Returns the
 * exit status: 0; 2 for bad usage, a configuration that does not load or a FILE that breaks a rule of the format; 1
 * when the output cannot be written. */
int cli_products(int argc, char **argv, char **envp);

#endif
