/*
 * kmsd backup FILE: the registry copied to one file (docs/internals/store.md, "Backups").
 *
 * backup reads the registry as any reader does (WAL: kmsd goes on writing) and writes its copy with store_backup
 * (VACUUM INTO; why that and not the online backup API: store_backup.c) into a temporary file in FILE's directory,
 * checks the copy (store_verify: integrity_check, the schema's tables), fsyncs it and only then gives it FILE's name:
 * a FILE never holds half a copy. An existing FILE is replaced only with --force; without it the name is taken with
 * link(2), which fails if FILE appeared meanwhile.
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

/* The registry's files that hold its data: the database, its -wal and rollback journal (committed data a crash
 * left), the activation journal (records not yet folded). */
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
