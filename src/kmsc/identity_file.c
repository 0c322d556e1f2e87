#include "identity_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Splits path into its directory (".", "/" or the part before the last '/') and its last part. 0 or
 * -ENAMETOOLONG. */
static int split_path(const char *path, char dir[IDENTITY_FILE_PATH_MAX], const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    int n = !slash ? snprintf(dir, IDENTITY_FILE_PATH_MAX, ".")
            : slash == path ? snprintf(dir, IDENTITY_FILE_PATH_MAX, "/")
                            : snprintf(dir, IDENTITY_FILE_PATH_MAX, "%.*s", (int)(slash - path), path);
    return n < 0 || n >= IDENTITY_FILE_PATH_MAX ? -ENAMETOOLONG : 0;
}

static int fail(struct kmsc_result *res, int err, const char *path, const char *what)
{
    kms_client_fail(res, KMSC_INTERNAL, err, "--save-identity: %s: %s", path, what);
    return err;
}

int identity_file_check(const char *path, struct kmsc_result *res)
{
    char dir[IDENTITY_FILE_PATH_MAX];
    const char *base;
    /* room for the temporary name ".BASE.tmp-XXXXXX" beside it */
    if (strlen(path) + 16 >= IDENTITY_FILE_PATH_MAX || split_path(path, dir, &base) < 0)
        return fail(res, -ENAMETOOLONG, path, "path too long");
    struct stat st;
    if (*base == '\0' || (stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
        return fail(res, -EISDIR, path, "is a directory");
    int e = 0;
    if (stat(dir, &st) != 0)
        e = errno;
    else if (!S_ISDIR(st.st_mode))
        e = ENOTDIR;
    else if (access(dir, W_OK | X_OK) != 0)
        e = errno;
    if (e) {
        char why[KMSC_MSG_MAX];
        snprintf(why, sizeof why, "cannot write in its directory %.100s: %s", dir, strerror(e));
        return fail(res, -e, path, why);
    }
    return 0;
}

int identity_file_write(const char *path, const char *text, size_t len, struct kmsc_result *res)
{
    char dir[IDENTITY_FILE_PATH_MAX], tmp[IDENTITY_FILE_PATH_MAX + 32];
    const char *base;
    if (split_path(path, dir, &base) < 0)
        return fail(res, -ENAMETOOLONG, path, "path too long");
    int n = snprintf(tmp, sizeof tmp, "%s/.%s.tmp-XXXXXX", dir, base);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return fail(res, -ENAMETOOLONG, path, "path too long");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        return fail(res, -e, path, strerror(e));
    }
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < len;) {
        ssize_t k = write(fd, text + off, len - off);
        if (k > 0)
            off += (size_t)k;
        else if (k < 0 && errno != EINTR)
            rc = -errno;
    }
    if (rc == 0 && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return fail(res, rc, path, strerror(-rc));
    }
    /* the rename itself on disk; a failure here leaves a complete file either way */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}
