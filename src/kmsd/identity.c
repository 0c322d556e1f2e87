#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "num.h"
#include "products.h"

static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    int rc = num_u64(s, 0, UINT32_MAX, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

int identity_load(const char *path, struct activation_host *h, size_t *missing, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct activation_host t = *h;
    const struct products_tables *tab = h->table ? h->table : products_current(); /* the host's CSVLKs */
    char line[256];
    unsigned lineno = 0;
    int rc = 0, header = 0;
    bool seen[ACTIVATION_MAX_CSVLK] = {false};
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            line[--n] = '\0';
        char *key = line, *val = strchr(line, ' ');
        if (!val) {
            rc = KMS_EINVAL;
            break;
        }
        *val++ = '\0';
        if (!header) {
            header = strcmp(key, "kmsd-identity") == 0 && strcmp(val, "1") == 0;
            if (!header)
                rc = KMS_EINVAL;
        } else if (strcmp(key, "hwid") == 0) {
            if (strlen(val) != 2 * sizeof t.hwid || num_hex(val, t.hwid, sizeof t.hwid) < 0)
                rc = KMS_EINVAL;
        } else if (strcmp(key, "build") == 0) {
            uint32_t b;
            const struct products_build *pb = parse_u32(val, &b) == 0 ? products_in_build_by_number(tab, b) : NULL;
            if (!pb)
                rc = KMS_EINVAL;
            else
                t.build = pb;
        } else if (strcmp(key, "lcid") == 0) {
            if (parse_u32(val, &t.lcid) < 0 || t.lcid == 0 || t.lcid > 65535)
                rc = KMS_EINVAL;
        } else if (strcmp(key, "epid") == 0) {
            char *epid = strchr(val, ' ');
            const struct products_csvlk *c = NULL;
            if (epid) {
                *epid++ = '\0';
                c = products_in_find_csvlk(tab, val);
            }
            if (!epid)
                rc = KMS_EINVAL;
            else if (c && activation_host_set_epid(&t, c, epid) < 0)
                rc = KMS_EINVAL;
            /* a group the table no longer has is dropped silently */
            if (c && rc == 0 && (size_t)(c - tab->csvlks) < ACTIVATION_MAX_CSVLK)
                seen[c - tab->csvlks] = true;
        } else {
            rc = KMS_EINVAL;
        }
    }
    fclose(f);
    if (rc == 0 && !header)
        rc = KMS_EINVAL;
    if (rc < 0) {
        snprintf(err, errlen, "%s:%u: not a kmsd identity file (move it away to generate a new identity)", path,
                 lineno);
        return rc;
    }
    size_t miss = 0;
    for (size_t i = 0; i < t.n && i < tab->csvlk_count; i++)
        if (tab->csvlks[i].has_epid && !seen[i])
            miss++;
    *h = t;
    if (missing)
        *missing = miss;
    return 0;
}

int identity_save(const char *path, const struct activation_host *h, char *err, size_t errlen)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        return KMS_EINVAL;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", tmp, strerror(e));
        return -e;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        snprintf(err, errlen, "%s: %s", tmp, strerror(e));
        return -e;
    }
    char hw[KMS_HWID_TEXT_LEN + 1];
    kms_format_hwid(h->hwid, hw);
    fprintf(f, "kmsd-identity 1\nhwid %s", hw);
    fprintf(f, "\nbuild %u\nlcid %u\n", (unsigned)h->build->build, (unsigned)h->lcid);
    for (size_t i = 0; i < h->n && h->table && i < h->table->csvlk_count; i++)
        if (h->epid[i][0])
            fprintf(f, "epid %s %s\n", h->table->csvlks[i].key, h->epid[i]);
    int rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        unlink(tmp);
    }
    return rc;
}
