/*
 * privdrop — least privilege for a kmsd started as root.
 *
 * Order in main: configuration, log file, state directory, identity and registry are opened as the starting
 * user; server_run() binds the listeners and then calls privdrop_apply() before serving anything. Started as
 * root, kmsd
 *   - with --allow-root: stays root (logs a warning once);
 *   - otherwise: resolves --user (default: the account "kmsd" if it exists, else "nobody") and --group
 *     (default: that user's primary group), hands the state directory and the files kmsd keeps (host
 *     identity, registry with its -wal/-shm/-journal files) to that user (never following a symlink),
 *     checks as that user that the state directory and the registry are writable, then drops: setgroups to
 *     the one group, setgid, setuid, and verifies that root cannot be regained. Any failure is fatal (exit 2)
 *     with a message naming the option: kmsd never keeps running as root by accident.
 * Started as another user, --user/--group must be empty or name that user/group (kmsd cannot switch), else
 * exit 2; nothing is changed.
 */
#ifndef KMSD_PRIVDROP_H
#define KMSD_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define PRIVDROP_FILES 10 /* identity, state lock, registry and its -wal, -shm, -journal, lock, activation journals and
                           * their saved position */

struct privdrop_cfg {
    const char *user;      /* "" = default */
    const char *group;     /* "" = default */
    bool allow_root;
    const char *state_dir;
    char files[PRIVDROP_FILES][CONFIG_PATH_LEN + 32]; /* files to hand over when they exist; "" ends the list */
};

/* Fills p from the configuration: the host identity, and the registry with its SQLite side files when it
 * is the default one inside the state directory or any --db file. cfg must outlive p. */
void privdrop_setup(struct privdrop_cfg *p, const struct kmsd_config *cfg);
/* Applies the policy above. Returns 0, or -1 after logging why (the caller exits 2). */
int privdrop_apply(const struct privdrop_cfg *cfg);
/* privdrop_apply for server_cfg.after_bind (ctx: the struct privdrop_cfg). */
int privdrop_hook(void *ctx);

#endif
