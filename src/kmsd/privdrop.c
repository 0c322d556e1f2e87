#define _DEFAULT_SOURCE /* setgroups, initgroups-free group handling */
#include "privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "identity.h"
#include "lazylib.h"
#include "log.h"
#include "num.h"
#include "pidlock.h"
#include "store.h"
#include "store_writer.h"

#define DEFAULT_USER "kmsd"
#define FALLBACK_USER "nobody"

/* Looks a user up by name or number. */
static int find_user(const char *name, uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam(name);
    uint64_t v;
    if (!pw && num_u64(name, 0, UINT32_MAX, &v) == 0)
        pw = getpwuid((uid_t)v);
    if (!pw)
        return -1;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

static int find_group(const char *name, gid_t *gid)
{
    struct group *gr = getgrnam(name);
    uint64_t v;
    if (!gr && num_u64(name, 0, UINT32_MAX, &v) == 0)
        gr = getgrgid((gid_t)v);
    if (!gr)
        return -1;
    *gid = gr->gr_gid;
    return 0;
}

/* Not started as root: --user and --group may only name what kmsd already runs as. */
static int check_unprivileged(const struct privdrop_cfg *cfg)
{
    uid_t uid;
    gid_t gid, ugid;
    if (cfg->user[0] && (find_user(cfg->user, &uid, &ugid) < 0 || uid != geteuid())) {
        log_error("--user %s: kmsd runs as uid %u and cannot switch user (start it as root to use --user)", cfg->user,
                  (unsigned)geteuid());
        return -1;
    }
    if (cfg->group[0] && (find_group(cfg->group, &gid) < 0 || gid != getegid())) {
        log_error("--group %s: kmsd runs as gid %u and cannot switch group (start it as root to use --group)",
                  cfg->group, (unsigned)getegid());
        return -1;
    }
    return 0;
}

/* Hands path to uid:gid when it exists; a missing file is fine. */
static int hand_over(const char *path, uid_t uid, gid_t gid)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISLNK(st.st_mode)) { /* never follow a link planted in the state directory */
        errno = ELOOP;
        return -1;
    }
    if (st.st_uid == uid && st.st_gid == gid)
        return 0;
    return lchown(path, uid, gid);
}

/* Whether uid:gid may write path (a directory also needs search), checked with the effective ids switched
 * temporarily; root's ids are restored before returning. */
static int usable_as(const char *path, int mode, uid_t uid, gid_t gid)
{
    if (setegid(gid) < 0)
        return -1;
    if (seteuid(uid) < 0) {
        int e = errno;
        (void)setegid(0);
        errno = e;
        return -1;
    }
    int ok = faccessat(AT_FDCWD, path, mode, AT_EACCESS); /* with the effective ids, unlike access() */
    int e = errno;
    if (seteuid(0) < 0 || setegid(0) < 0) {
        log_error("cannot return to root after a permission check: %s", strerror(errno));
        abort(); /* cannot happen: the saved set-user-ID is 0 */
    }
    errno = e;
    return ok;
}

void privdrop_setup(struct privdrop_cfg *p, const struct kmsd_config *cfg)
{
    memset(p, 0, sizeof *p);
    p->user = cfg->user;
    p->group = cfg->group;
    p->allow_root = cfg->allow_root;
    p->state_dir = cfg->state_dir;
    snprintf(p->files[0], sizeof p->files[0], "%s/%s", cfg->state_dir, IDENTITY_FILE);
    snprintf(p->files[1], sizeof p->files[1], "%s/%s", cfg->state_dir, PIDLOCK_STATE_FILE);
    if (strcmp(cfg->db, "none") == 0)
        return;
    char db[sizeof p->files[0]];
    if (store_local_path(cfg->db, cfg->state_dir, db, sizeof db) < 0)
        return; /* kmsd refuses such a path before it binds */
    static const char *const side[] = {PIDLOCK_REGISTRY_SUFFIX, STORE_JOURNAL_SUFFIX "0", STORE_JOURNAL_SUFFIX "1",
                                       STORE_JOURNAL_SEQ_SUFFIX, "", "-wal", "-shm", "-journal"};
    /* a PostgreSQL registry has only its lock, journal and the journal's saved position here */
    size_t n = store_is_postgresql(cfg->db) ? 4 : sizeof side / sizeof side[0];
    for (size_t i = 0; i < n; i++)
        snprintf(p->files[2 + i], sizeof p->files[2 + i], "%s%s", db, side[i]);
}

int privdrop_hook(void *ctx)
{
    return privdrop_apply(ctx);
}

static int switch_user(const struct privdrop_cfg *cfg);

int privdrop_apply(const struct privdrop_cfg *cfg)
{
    if (geteuid() != 0)
        return check_unprivileged(cfg);
    if (cfg->allow_root) {
        log_warn("running as root (--allow-root): a KMS host needs no privilege once it listens");
        return 0;
    }
    /* The user and group lookups load the NSS modules (libnss_systemd and what it links: about 0.4 MB), which glibc
     * keeps mapped for good; kmsd looks nothing up again, so their clean pages go (lazylib.h). */
    struct lazylib_objects *before = malloc(sizeof *before);
    if (before)
        lazylib_objects_note(before);
    int rc = switch_user(cfg);
    if (rc == 0 && before)
        lazylib_drop_since(before);
    free(before);
    return rc;
}

/* Started as root: hands the state directory and files over, then switches to --user (kmsd, else nobody). */
static int switch_user(const struct privdrop_cfg *cfg)
{
    const char *user = cfg->user[0] ? cfg->user : DEFAULT_USER;
    uid_t uid;
    gid_t gid;
    if (find_user(user, &uid, &gid) < 0) {
        if (cfg->user[0]) {
            log_error("--user %s: no such user (create it, name another, or use --allow-root)", user);
            return -1;
        }
        user = FALLBACK_USER;
        if (find_user(user, &uid, &gid) < 0) {
            log_error("--user: neither \"kmsd\" nor \"nobody\" exists (name a user with --user, or --allow-root)");
            return -1;
        }
    }
    if (cfg->group[0] && find_group(cfg->group, &gid) < 0) {
        log_error("--group %s: no such group", cfg->group);
        return -1;
    }
    if (uid == 0 || gid == 0) {
        log_error("--user %s / --group: resolves to uid %u gid %u; to run as root say --allow-root", user,
                  (unsigned)uid, (unsigned)gid);
        return -1;
    }
    if (hand_over(cfg->state_dir, uid, gid) < 0) {
        log_error("--state-dir %s: cannot hand it to %s (uid %u): %s", cfg->state_dir, user, (unsigned)uid,
                  strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < PRIVDROP_FILES && cfg->files[i][0]; i++) {
        if (hand_over(cfg->files[i], uid, gid) < 0) {
            log_error("%s: cannot hand it to %s (uid %u): %s", cfg->files[i], user, (unsigned)uid, strerror(errno));
            return -1;
        }
    }
    if (usable_as(cfg->state_dir, W_OK | X_OK, uid, gid) < 0) {
        log_error("--state-dir %s: not writable by %s (uid %u) after the switch: %s (check the permissions of "
                  "its parent directories, choose --user, or use --allow-root)",
                  cfg->state_dir, user, (unsigned)uid, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < PRIVDROP_FILES && cfg->files[i][0]; i++) {
        if (access(cfg->files[i], F_OK) == 0 && usable_as(cfg->files[i], R_OK | W_OK, uid, gid) < 0) {
            log_error("%s: not writable by %s (uid %u) after the switch: %s", cfg->files[i], user, (unsigned)uid,
                      strerror(errno));
            return -1;
        }
    }
    if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        log_error("cannot switch to user %s (uid %u gid %u): %s", user, (unsigned)uid, (unsigned)gid,
                  strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 || seteuid(0) == 0) {
        log_error("switched to uid %u but root could be regained: refusing to run", (unsigned)uid);
        return -1;
    }
    log_info("running as user %s (uid %u, gid %u)", user, (unsigned)uid, (unsigned)gid);
    return 0;
}
