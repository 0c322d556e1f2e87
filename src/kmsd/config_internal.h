/*
 * config_internal — what the files of the configuration module share, and nothing outside them sees:
 * config_set.c (value parsers and the setters that store them), config_table.c (the option table, its
 * printers, defaults), config_sources.c (INI file, environment, command line) and config.c (help, the
 * cross-option checks and config_load, the public entry points of config.h).
 */
#ifndef KMSD_CONFIG_INTERNAL_H
#define KMSD_CONFIG_INTERNAL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ini.h>

#include "config.h"

/* Where a value comes from; errors name the option the way that source spells it. */
enum source { SRC_DEFAULT, SRC_INI, SRC_ENV, SRC_CLI };

#define MAX_OPTS 80
#define MAX_ALIASES 4
/* The longest INI line inih reads: its buffer (INI_MAX_LINE) less the newline and the NUL. */
#define CONFIG_INI_LINE_MAX (INI_MAX_LINE - 2)
#define MSG_LEN 512

/* State of one config_load(). */
struct load {
    enum source src;
    FILE *err;
    const char *file; /* SRC_INI: the file and the line being read */
    int line;
    int err_line;        /* SRC_INI: first line with an error, 0 if none */
    const char *err_key; /* SRC_INI: the key whose value is wrong, NULL for other errors */
    int list_src[8];     /* per list option: 1 + the source that last wrote it (replace, then accumulate) */
    /* the product table that --csvlk, --epid and --host-build must name entries of; NULL: not checked (the first
     * pass of config_load, which only looks for --products-file) */
    const struct products_tables *table;
    char msg[MSG_LEN];   /* the setter's complaint, without the "kmsd: WHERE: " prefix */
};

struct opt;
typedef int (*opt_set_fn)(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
typedef void (*opt_print_fn)(const struct opt *o, const struct kmsd_config *cfg, FILE *out);

/* One row of the option table: the public description plus how to parse, store and print the value. */
struct opt {
    struct config_option d;
    opt_set_fn set;     /* NULL for --help and --version (handled while scanning) */
    opt_print_fn print; /* NULL for options that are not part of the configuration file */
    size_t off;         /* field in struct kmsd_config */
    size_t size;        /* its size */
    uint64_t min, max;  /* range of integers, durations and string lengths */
    bool live;          /* a reload applies it to the running kmsd (config_take_live); else it waits for a restart */
    size_t list_off, list_size; /* a live list option: its entries (off, size: their count) */
};

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

struct unit {
    char suffix; /* 0: a bare number */
    uint32_t mult;
};

#define CODE_BASE 0x100
#define MAX_LONGOPTS (2 * MAX_OPTS + 2 * MAX_ALIASES + 1)
#define NAME_LEN 40

struct cli_table {
    struct option lo[MAX_LONGOPTS];
    char no_names[MAX_OPTS][NAME_LEN]; /* "no-ndr64", ... */
    char shortopts[2 * MAX_OPTS + 3];
};

/* Records the complaint; the caller prints it with the option's name and source. Returns -1. */
int config_fail(struct load *ld, const char *fmt, ...) PRINTF_LIKE(2, 3);

static inline void *config_field(const struct opt *o, struct kmsd_config *cfg)
{
    return (char *)cfg + o->off;
}

static inline const void *config_cfield(const struct opt *o, const struct kmsd_config *cfg)
{
    return (const char *)cfg + o->off;
}

#define CONFIG_N_SECONDS_UNITS 5   /* bare, s, m, h, d */
#define CONFIG_N_MINUTES_UNITS 5   /* bare, m, h, d, w */
#define CONFIG_N_LOG_LEVELS 4      /* error, warn, info, debug */
#define CONFIG_N_PRODUCTS 3        /* all, known, volume */
extern const size_t config_n_opts; /* entries of config_opts */
/* A former option name, still read from every source as the option now named `now` (not in --help). */
struct config_alias {
    const char *name;    /* the former name */
    const char *no_name; /* "no-" and the former name, for a boolean's command-line form */
    const char *now;     /* the option of config_opts it stands for */
};
extern const struct config_alias config_aliases[];
extern const size_t config_n_aliases;
extern const struct unit config_seconds_units[CONFIG_N_SECONDS_UNITS];
extern const struct unit config_minutes_units[CONFIG_N_MINUTES_UNITS];
extern const char *const config_log_levels[CONFIG_N_LOG_LEVELS];
extern const char *const config_products_names[CONFIG_N_PRODUCTS];
extern const struct opt config_opts[];

/* The setters of the option table: parse val, store it in the field of o in cfg, or say why not with
 * config_fail(). Return 0 or -1. */
int config_set_bool(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_uint(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_seconds(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_minutes(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_string(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_log_level(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_count_mode(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_no_db(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_client_count(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_hwid(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_host_build(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_cidr(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_csvlk(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_products(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_account(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_listen(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_dns_zone(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_dns_name(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_host_name(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_dns_server(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_dns_tsig(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_dns_address(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_http(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_no_http(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_token(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_epid(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
int config_set_check_config(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
/* The option named name (long name, or a former name of config_aliases) that the source bit in allows, or NULL. */
const struct opt *config_find_opt(const char *name, unsigned in);
/* Runs o's setter on val from the source in ld and prints a failure with the option and source. Returns 0 or
 * -1. */
int config_apply(const struct opt *o, struct kmsd_config *cfg, const char *val, struct load *ld);
/* The sources, each applied over cfg in precedence order by config_load. Return 0 or -1 after a message. */
int config_load_ini_stream(struct kmsd_config *cfg, FILE *f, const char *path, struct load *ld);
int config_load_ini(struct kmsd_config *cfg, const char *path, struct load *ld);
int config_load_env(struct kmsd_config *cfg, char **envp, struct load *ld);
void config_build_cli(struct cli_table *t);
int config_walk_cli(struct cli_table *t, int argc, char **argv, struct kmsd_config *cfg, struct load *ld,
                    bool set_values, bool *help, bool *version);

#endif
