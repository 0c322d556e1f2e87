/* products_file — see products_file.h. */
#include "products_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

/* Reads up to cap bytes of the regular file at path into a malloc'ed buffer. Returns 0 or -errno (-EINVAL: not a
 * regular file, so that a FIFO or a device never blocks a reload). */
static int read_capped(const char *path, char **buf, size_t *len, size_t cap)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) { /* a directory: read() says EISDIR, as Python's open */
        close(fd);
        return -EINVAL;
    }
    char *b = malloc(cap ? cap : 1);
    if (!b) {
        close(fd);
        return -ENOMEM;
    }
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(b);
            close(fd);
            return -e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = n;
    return 0;
}

int products_file_load(const char *path, const struct products_tables **out, struct products_load_errors *errs)
{
    *out = NULL;
    memset(errs, 0, sizeof *errs);
    char *text;
    size_t len;
    int rc = read_capped(path, &text, &len, PRODUCTS_LOAD_FILE_MAX + 1);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        char why[160];
        snprintf(why, sizeof why, "cannot read: %s", rc == -EINVAL ? "not a regular file" : strerror(-rc));
        products_load_error(errs, path, 0, why);
        return KMS_EINVAL;
    }
    rc = products_load(path, text, len, out, errs);
    free(text);
    return rc;
}

void products_file_sha256_hex(const struct products_tables *t, char out[PRODUCTS_FILE_SHA256_HEX])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof t->sha256; i++) {
        out[2 * i] = hex[t->sha256[i] >> 4];
        out[2 * i + 1] = hex[t->sha256[i] & 15];
    }
    out[2 * sizeof t->sha256] = '\0';
}

void products_file_summary(const struct products_tables *t, char out[PRODUCTS_FILE_SUMMARY_LEN])
{
    char hex[PRODUCTS_FILE_SHA256_HEX];
    products_file_sha256_hex(t, hex);
    hex[16] = '\0';
    snprintf(out, PRODUCTS_FILE_SUMMARY_LEN, "%.120s: %zu applications, %zu KMS ids, %zu SKUs, %zu CSVLKs, %zu builds, "
             "sha256 %s", t->source, t->app_count, t->kms_count, t->sku_count, t->csvlk_count, t->build_count, hex);
}
