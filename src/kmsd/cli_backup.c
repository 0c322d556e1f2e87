/*
 * kmsd backup FILE and kmsd restore FILE: the registry copied to one file, and put back from one
 * (docs/internals/store.md, "Backups").
 *
 * backup reads the registry as any reader does (WAL: kmsd goes on writing) and writes its copy with store_backup
 * (VACUUM INTO; why that and not the online backup API: store_backup.c) into a temporary file in FILE's directory,
 * checks the copy (store_verify: integrity_check, the schema's tables), fsyncs it and only then gives it FILE's name:
 * a FILE never holds half a copy. An existing FILE is replaced only with --force; without it the name is taken with
 * link(2), which fails if FILE appeared meanwhile.
 *
 * restore refuses while a kmsd runs on the registry: it takes the registry's lock (pidlock.h, <db>.lock), the one
 * a kmsd takes before it opens the registry and holds for its whole life, and keeps it until the new file is in
 * place, so no kmsd can start meanwhile either. SQLite's own locks would not tell a kmsd from a reader (kmsd
 * clients, a backup), and would not stop a kmsd from starting on the old file in the middle. FILE is checked before
 * anything is touched, copied (again with store_backup: a FILE copied with its -wal is read with it) and checked
 * again beside the registry, then the old registry's files move to <db>.before-restore (its -wal and its
 * activation journal, which hold records of the old file and none of the backup's, under the names that file's own
 * would have; the -shm, an index of the -wal, is removed) and the copy takes the registry's name. Any failure undoes
 * what was moved: nothing is lost. A backup of an older schema is restored as it is; kmsd migrates it when it opens
 * it.
 */
#include "cli_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidlock.h"

#define BK_PATH_MAX 4096
#define BEFORE_RESTORE ".before-restore" /* <db>.before-restore: the registry a restore replaced */

/* What moves with a registry, and what a restore sets aside under <db>.before-restore<side>: the database, its
 * -wal and rollback journal (committed data a crash left), the activation journal (records not yet folded). */
static const char *const registry_sides[] = {"", "-wal", "-journal", STORE_JOURNAL_SUFFIX "0",
                                             STORE_JOURNAL_SUFFIX "1"};
#define N_SIDES (sizeof registry_sides / sizeof registry_sides[0])

/* dir gets path's directory ("." when it names none), *base its last component. Returns 0, or -EISDIR when path
 * ends in a slash or names "." or "..", -ENAMETOOLONG. */
static int split_path(const char *path, char dir[BK_PATH_MAX], const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!**base || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
        return -EISDIR;
    int n = !slash ? snprintf(dir, BK_PATH_MAX, ".")
            : slash == path ? snprintf(dir, BK_PATH_MAX, "/")
                            : snprintf(dir, BK_PATH_MAX, "%.*s", (int)(slash - path), path);
    return n < 0 || n >= BK_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Why dir cannot hold a file ("does not exist", "is not a directory", ...), or NULL when it is a directory. */
static const char *dir_problem(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return errno == ENOENT ? "does not exist" : strerror(errno);
    return S_ISDIR(st.st_mode) ? NULL : "is not a directory";
}

/* Makes what was written in dir (a new name, a rename) durable. Returns 0 or -errno. */
static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 || errno == EINVAL ? 0 : -errno; /* EINVAL: a file system without directory fsync */
    close(fd);
    return rc;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* A temporary file, empty, mode 0600, in dir: "<dir>/.<base>.<what>-XXXXXX". Returns 0 or -errno. */
static int make_temp(const char *dir, const char *base, const char *what, char out[BK_PATH_MAX])
{
    int n = snprintf(out, BK_PATH_MAX, "%s/.%s.%s-XXXXXX", dir, base, what);
    if (n < 0 || n >= BK_PATH_MAX)
        return -ENAMETOOLONG;
    int fd = mkstemp(out);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

/* Whether file is the registry at db_path or one of the files beside it (its -wal, -shm, journal, lock),
 * by inode, or by name in the registry's directory for those that do not exist now. */
static bool is_registry_file(const char *file, const char *db_path)
{
    char p[BK_PATH_MAX + 32], fdir[BK_PATH_MAX], ddir[BK_PATH_MAX];
    const char *fbase, *dbase;
    struct stat fs, ds, a, b;
    static const char *const others[] = {"-shm", PIDLOCK_REGISTRY_SUFFIX};
    bool exists = stat(file, &fs) == 0;
    bool same_dir = split_path(file, fdir, &fbase) == 0 && split_path(db_path, ddir, &dbase) == 0 &&
                    stat(fdir, &a) == 0 && stat(ddir, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    for (size_t i = 0; i < N_SIDES + 2; i++) {
        const char *side = i < N_SIDES ? registry_sides[i] : others[i - N_SIDES];
        snprintf(p, sizeof p, "%s%s", db_path, side);
        if (exists && stat(p, &ds) == 0 && ds.st_dev == fs.st_dev && ds.st_ino == fs.st_ino)
            return true;
        if (same_dir && strncmp(fbase, dbase, strlen(dbase)) == 0 && strcmp(fbase + strlen(dbase), side) == 0)
            return true;
    }
    return false;
}

/* Removes a temporary copy and what SQLite may have left beside it. */
static void remove_temp(const char *path)
{
    char p[BK_PATH_MAX + 16];
    unlink(path);
    snprintf(p, sizeof p, "%s-journal", path);
    unlink(p);
}

/* Copies the open store src into the empty file tmp, checks the copy and fsyncs it. Returns 0, or EXIT_FAIL after
 * a message naming cmd; tmp is left for the caller to remove. */
static int copy_checked(const char *cmd, struct store *src, const char *src_name, const char *tmp,
                        struct store_file_info *info)
{
    if (store_backup(src, tmp) != 0) {
        fprintf(stderr, "kmsd %s: %s: %s\n", cmd, src_name, store_errmsg(src));
        return EXIT_FAIL;
    }
    struct store *copy = NULL;
    char err[512];
    int rc = store_open_file(tmp, STORE_AT_REST, &copy, err, sizeof err);
    if (rc == 0 && store_verify(copy, info) != 0)
        snprintf(err, sizeof err, "%s", store_errmsg(copy));
    else if (rc == 0)
        err[0] = '\0';
    store_close(copy);
    if (err[0]) {
        fprintf(stderr, "kmsd %s: the copy of %s fails its check: %s\n", cmd, src_name, err);
        return EXIT_FAIL;
    }
    rc = fsync_path(tmp);
    if (rc < 0) {
        fprintf(stderr, "kmsd %s: %s: %s\n", cmd, tmp, strerror(-rc));
        return EXIT_FAIL;
    }
    return 0;
}

/* ---- backup ---- */

/* Checks FILE's directory and whether FILE may be written; *dir and *base get its parts. Returns 0 or an exit status
 * after a message. */
static int backup_target(const char *file, const char *db_path, bool force, char dir[BK_PATH_MAX],
                         const char **base)
{
    struct stat st;
    int rc = split_path(file, dir, base);
    if (rc < 0) {
        fprintf(stderr, "kmsd backup: %s: %s\n", file, rc == -EISDIR ? "names a directory, not a file" : strerror(-rc));
        return EXIT_USAGE;
    }
    const char *why = dir_problem(dir);
    if (why) {
        fprintf(stderr, "kmsd backup: %s: the directory %s %s\n", file, dir, why);
        return EXIT_FAIL;
    }
    if (is_registry_file(file, db_path)) {
        fprintf(stderr, "kmsd backup: %s is the registry or one of its files; name another FILE\n", file);
        return EXIT_USAGE;
    }
    if (lstat(file, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            fprintf(stderr, "kmsd backup: %s exists and is not a regular file\n", file);
            return EXIT_FAIL;
        }
        if (!force) {
            fprintf(stderr, "kmsd backup: %s exists; --force replaces it\n", file);
            return EXIT_FAIL;
        }
    }
    return 0;
}

/* Gives tmp the name file: rename(2) with --force (an existing FILE replaced at once), else link(2), which never
 * replaces one (rename where the file system has no hard links, after a last look). Returns 0 or an exit status
 * after a message. */
static int backup_install(const char *tmp, const char *file, bool force)
{
    if (!force) {
        if (link(tmp, file) == 0) {
            unlink(tmp);
            return 0;
        }
        if (errno == EEXIST) {
            fprintf(stderr, "kmsd backup: %s exists; --force replaces it\n", file);
            return EXIT_FAIL;
        }
        struct stat st;
        if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP && errno != EMLINK) {
            fprintf(stderr, "kmsd backup: cannot write %s: %s\n", file, strerror(errno));
            return EXIT_FAIL;
        }
        if (lstat(file, &st) == 0) {
            fprintf(stderr, "kmsd backup: %s exists; --force replaces it\n", file);
            return EXIT_FAIL;
        }
    }
    if (rename(tmp, file) != 0) {
        fprintf(stderr, "kmsd backup: cannot write %s: %s\n", file, strerror(errno));
        return EXIT_FAIL;
    }
    return 0;
}

int cli_run_backup(const struct opts *o, const char *db_path)
{
    const char *file = o->file, *base;
    bool force = (o->seen & O_FORCE) != 0;
    char dir[BK_PATH_MAX], tmp[BK_PATH_MAX];
    struct stat st;
    if (store_is_postgresql(db_path)) {
        fprintf(stderr, "kmsd backup: a PostgreSQL registry is copied with PostgreSQL's own tools (pg_dump)\n");
        return EXIT_USAGE;
    }
    if (stat(db_path, &st) != 0) {
        fprintf(stderr, "kmsd backup: no registry at %s: %s\n", db_path, strerror(errno));
        return EXIT_USAGE;
    }
    int rc = backup_target(file, db_path, force, dir, &base);
    if (rc)
        return rc;
    struct store *s = NULL;
    char err[512];
    if (store_open_file(db_path, STORE_LIVE, &s, err, sizeof err) != 0) {
        fprintf(stderr, "kmsd backup: cannot open the registry: %s\n", err);
        return EXIT_USAGE;
    }
    rc = make_temp(dir, base, "tmp", tmp);
    if (rc < 0) {
        fprintf(stderr, "kmsd backup: cannot write in %s: %s\n", dir, strerror(-rc));
        store_close(s);
        return EXIT_FAIL;
    }
    struct store_file_info info;
    rc = copy_checked("backup", s, db_path, tmp, &info);
    store_close(s);
    if (!rc)
        rc = backup_install(tmp, file, force);
    if (rc) {
        remove_temp(tmp);
        return rc;
    }
    int d = fsync_dir(dir);
    if (d < 0) {
        fprintf(stderr, "kmsd backup: %s: %s\n", dir, strerror(-d));
        return EXIT_FAIL;
    }
    off_t size = stat(file, &st) == 0 ? st.st_size : 0;
    printf("backed up %s to %s: %llu client rows, schema %d, %.1f MB\n", db_path, file,
           (unsigned long long)info.rows, info.version, (double)size / 1e6);
    return 0;
}

/* ---- restore ---- */

/* Moves the registry's files that exist to <db>.before-restore<side> (removes the empty ones but the database);
 * moved[i] says which moved. On failure moves them back. Returns 0 or -errno (*failed: the side that could not
 * move). */
static int set_aside(const char *db_path, bool moved[N_SIDES], size_t *failed)
{
    char from[BK_PATH_MAX + 32], to[BK_PATH_MAX + 64];
    for (size_t i = 0; i < N_SIDES; i++) {
        moved[i] = false;
        snprintf(from, sizeof from, "%s%s", db_path, registry_sides[i]);
        snprintf(to, sizeof to, "%s%s%s", db_path, BEFORE_RESTORE, registry_sides[i]);
        struct stat st;
        if (lstat(from, &st) != 0)
            continue;
        if (i > 0 && S_ISREG(st.st_mode) && st.st_size == 0 && unlink(from) == 0)
            continue; /* an empty -wal or journal holds nothing to keep (kmsd makes new ones) */
        if (rename(from, to) != 0) {
            int e = errno;
            *failed = i;
            while (i-- > 0)
                if (moved[i]) {
                    snprintf(from, sizeof from, "%s%s", db_path, registry_sides[i]);
                    snprintf(to, sizeof to, "%s%s%s", db_path, BEFORE_RESTORE, registry_sides[i]);
                    (void)rename(to, from);
                    moved[i] = false;
                }
            return -e;
        }
        moved[i] = true;
    }
    return 0;
}

static void put_back(const char *db_path, const bool moved[N_SIDES])
{
    char from[BK_PATH_MAX + 32], to[BK_PATH_MAX + 64];
    for (size_t i = N_SIDES; i-- > 0;)
        if (moved[i]) {
            snprintf(from, sizeof from, "%s%s", db_path, registry_sides[i]);
            snprintf(to, sizeof to, "%s%s%s", db_path, BEFORE_RESTORE, registry_sides[i]);
            if (rename(to, from) != 0)
                fprintf(stderr, "kmsd restore: cannot move %s back to %s: %s\n", to, from, strerror(errno));
        }
}

/* Checks what restore needs before it takes the lock: FILE (not the registry itself) and the registry's directory.
 * Returns 0 or an exit status after a message. */
static int restore_inputs(const char *file, const char *db_path, char dir[BK_PATH_MAX], const char **base)
{
    struct stat st;
    if (stat(file, &st) != 0) {
        fprintf(stderr, "kmsd restore: %s: %s\n", file, strerror(errno));
        return EXIT_FAIL;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "kmsd restore: %s: not a regular file\n", file);
        return EXIT_FAIL;
    }
    if (is_registry_file(file, db_path)) {
        fprintf(stderr, "kmsd restore: %s is the registry or one of its files; name a backup\n", file);
        return EXIT_USAGE;
    }
    int rc = split_path(db_path, dir, base);
    if (rc < 0) {
        fprintf(stderr, "kmsd restore: the registry %s: %s\n", db_path,
                rc == -EISDIR ? "names a directory, not a file" : strerror(-rc));
        return EXIT_USAGE;
    }
    const char *why = dir_problem(dir);
    if (why) {
        fprintf(stderr, "kmsd restore: the registry's directory %s %s\n", dir, why);
        return EXIT_FAIL;
    }
    return 0;
}

/* Takes the registry's lock. Returns the descriptor (held until exit or close), or -1 after a message. */
static int restore_lock(const char *db_path)
{
    char lock[BK_PATH_MAX + 16];
    snprintf(lock, sizeof lock, "%s%s", db_path, PIDLOCK_REGISTRY_SUFFIX);
    pid_t holder = 0;
    int fd = pidlock_acquire(lock, &holder);
    if (fd >= 0)
        return fd;
    if (fd == -EWOULDBLOCK && holder > 0)
        fprintf(stderr, "kmsd restore: a kmsd is running on the registry %s (PID %ld); stop it first\n", db_path,
                (long)holder);
    else if (fd == -EWOULDBLOCK)
        fprintf(stderr, "kmsd restore: a kmsd is running on the registry %s; stop it first\n", db_path);
    else
        fprintf(stderr, "kmsd restore: cannot lock %s: %s\n", lock, strerror(-fd));
    return -1;
}

/* Refuses when a file of an earlier restore is in the way (it would be lost). Returns 0 or EXIT_FAIL. */
static int restore_room(const char *db_path)
{
    char p[BK_PATH_MAX + 64];
    for (size_t i = 0; i < N_SIDES; i++) {
        struct stat st;
        snprintf(p, sizeof p, "%s%s%s", db_path, BEFORE_RESTORE, registry_sides[i]);
        if (lstat(p, &st) == 0) {
            fprintf(stderr, "kmsd restore: %s exists (from an earlier restore); move it away or delete it first\n", p);
            return EXIT_FAIL;
        }
    }
    return 0;
}

/* FILE checked and copied into a temporary file beside the registry (tmp). Run as root, the copy and the lock file
 * (which restore may have just created) go to the owner of the registry it replaces, or of its directory: a root's
 * restore must not leave kmsd's user (systemd's DynamicUser, say) files it cannot open. Returns 0 or an exit status
 * after a message; tmp, when set (tmp[0]), is for the caller to remove. */
static int restore_stage(const char *file, const char *db_path, const char *dir, const char *base, int lock,
                         char tmp[BK_PATH_MAX], struct store_file_info *info)
{
    tmp[0] = '\0';
    struct store *src = NULL;
    char err[512];
    if (store_open_file(file, STORE_AT_REST, &src, err, sizeof err) != 0) {
        fprintf(stderr, "kmsd restore: not a registry this kmsd can restore: %s\n", err);
        return EXIT_FAIL;
    }
    if (store_verify(src, info) != 0) {
        fprintf(stderr, "kmsd restore: %s: not a sound kmsd registry: %s\n", file, store_errmsg(src));
        store_close(src);
        return EXIT_FAIL;
    }
    int rc = make_temp(dir, base, "restore", tmp);
    if (rc < 0) {
        fprintf(stderr, "kmsd restore: cannot write in %s: %s\n", dir, strerror(-rc));
        tmp[0] = '\0';
        store_close(src);
        return EXIT_FAIL;
    }
    rc = copy_checked("restore", src, file, tmp, info);
    store_close(src);
    if (rc)
        return rc;
    struct stat st;
    if (geteuid() == 0 && (stat(db_path, &st) == 0 || stat(dir, &st) == 0) &&
        (chown(tmp, st.st_uid, st.st_gid) != 0 || fchown(lock, st.st_uid, st.st_gid) != 0)) {
        fprintf(stderr, "kmsd restore: cannot hand the new files to the registry's owner: %s\n", strerror(errno));
        return EXIT_FAIL;
    }
    return 0;
}

int cli_run_restore(const struct opts *o, const char *db_path)
{
    const char *file = o->file, *base;
    char dir[BK_PATH_MAX], tmp[BK_PATH_MAX] = "";
    if (store_is_postgresql(db_path)) {
        fprintf(stderr, "kmsd restore: a PostgreSQL registry is restored with PostgreSQL's own tools (pg_restore)\n");
        return EXIT_USAGE;
    }
    int rc = restore_inputs(file, db_path, dir, &base);
    if (rc)
        return rc;
    int lock = restore_lock(db_path);
    if (lock < 0)
        return EXIT_FAIL;
    struct store_file_info info;
    rc = restore_room(db_path);
    if (!rc)
        rc = restore_stage(file, db_path, dir, base, lock, tmp, &info);
    bool moved[N_SIDES] = {false};
    size_t failed = 0;
    if (!rc) {
        int e = set_aside(db_path, moved, &failed);
        if (e < 0) {
            fprintf(stderr, "kmsd restore: cannot move %s%s aside: %s; nothing changed\n", db_path,
                    registry_sides[failed], strerror(-e));
            rc = EXIT_FAIL;
        }
    }
    if (!rc && rename(tmp, db_path) != 0) {
        fprintf(stderr, "kmsd restore: cannot put the copy in place as %s: %s; nothing changed\n", db_path,
                strerror(errno));
        put_back(db_path, moved);
        rc = EXIT_FAIL;
    }
    if (rc) {
        if (tmp[0])
            remove_temp(tmp);
        close(lock);
        return rc;
    }
    /* the old -shm indexes the -wal that moved away: a stale one must not meet the new file */
    char shm[BK_PATH_MAX + 8];
    snprintf(shm, sizeof shm, "%s-shm", db_path);
    (void)unlink(shm);
    int d = fsync_dir(dir);
    close(lock);
    if (d < 0) {
        fprintf(stderr, "kmsd restore: %s: %s\n", dir, strerror(-d));
        return EXIT_FAIL;
    }
    printf("restored %s from %s: %llu client rows, schema %d\n", db_path, file, (unsigned long long)info.rows,
           info.version);
    if (info.version < STORE_SCHEMA_VERSION)
        printf("kmsd migrates it to schema %d when it next opens it\n", STORE_SCHEMA_VERSION);
    if (moved[0])
        printf("the registry it replaced is %s%s; delete it once the restored one is right\n", db_path, BEFORE_RESTORE);
    return 0;
}
