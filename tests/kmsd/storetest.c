#include "storetest.h"

#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

int storetest_setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/kmsd-store-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

int storetest_teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char p[512];
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
            if (unlink(p) != 0)
                rmdir(p);
        }
        closedir(d);
    }
    rmdir(tmpdir);
    return 0;
}

void tmp_path(char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", tmpdir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

struct guid gid(const char *text)
{
    struct guid g;
    assert_int_equal(guid_parse(&g, text), 0);
    return g;
}

struct guid cmid_n(unsigned n)
{
    struct guid g;
    memset(&g, 0, sizeof g);
    g.b[0] = 0xc0;
    g.b[12] = (uint8_t)(n >> 24);
    g.b[13] = (uint8_t)(n >> 16);
    g.b[14] = (uint8_t)(n >> 8);
    g.b[15] = (uint8_t)n;
    return g;
}

struct store_record rec(unsigned cmid, const char *app, int64_t t)
{
    struct store_record r;
    memset(&r, 0, sizeof r);
    r.cmid = cmid_n(cmid);
    r.app_id = gid(app);
    r.sku_id = gid("2de67392-b7a7-462a-b1ca-108dd189f588");
    r.kms_id = gid("907f1f65-adcd-4a2e-95bc-4bf500bc6e58");
    snprintf(r.workstation, sizeof r.workstation, "pc-%u", cmid);
    snprintf(r.product, sizeof r.product, "Windows 10/11 Pro");
    snprintf(r.address, sizeof r.address, "192.0.2.%u:50000", cmid % 250);
    snprintf(r.epid, sizeof r.epid, "epid-%u", cmid);
    r.license_status = 1;
    r.version_major = 6;
    r.time = t;
    return r;
}

struct store *open_mem(void)
{
    struct store *s = NULL;
    char err[256];
    assert_int_equal(store_open(":memory:", &s, err, sizeof err), 0);
    assert_non_null(s);
    return s;
}

void write1(struct store *s, struct store_record r)
{
    assert_int_equal(store_write(s, &r, 1), 0);
}
