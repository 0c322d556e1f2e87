/* products_gen — see products_gen.h. */
#include "products_gen.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "err.h"
#include "products_load.h"

const char *pg_source_root(void)
{
    const char *root = getenv("TEST_SOURCE_ROOT");
    if (!root || !*root)
        fail_msg("TEST_SOURCE_ROOT is not set (meson test sets it)");
    return root;
}

void pg_path_join(char *out, const char *dir, const char *rel)
{
    int n = snprintf(out, PG_PATH_CAP, "%s/%s", dir, rel);
    if (n < 0 || n >= PG_PATH_CAP)
        fail_msg("path too long: %s/%s", dir, rel);
}

void pg_tmp_make(struct pg_tmpdir *t)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(t->path, sizeof t->path, "%s/kmsd-products-XXXXXX", base && *base ? base : "/tmp");
    assert_true(n > 0 && n < PG_PATH_CAP);
    if (!mkdtemp(t->path))
        fail_msg("mkdtemp failed");
}

void pg_tmp_remove(struct pg_tmpdir *t, const char *const *names, size_t n)
{
    char p[PG_PATH_CAP];
    for (size_t i = 0; i < n; i++) {
        pg_path_join(p, t->path, names[i]);
        unlink(p);
    }
    rmdir(t->path);
}

/* The Python interpreter itself: TEST_PYTHON may be a wrapper (pyenv's shim, a shell script that costs 0.25 s a
 * start), and the generator runs once per case. Resolved once per test process (sys.executable). */
static const char *python_path(void)
{
    static char real[PG_PATH_CAP];
    const char *py = getenv("TEST_PYTHON");
    if (!py || !*py)
        py = "python3";
    if (real[0])
        return real;
    char cmd[PG_PATH_CAP + 64];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import sys; print(sys.executable)'", py);
    FILE *p = strchr(py, '\'') ? NULL : popen(cmd, "r");
    if (p) {
        if (!fgets(real, sizeof real, p))
            real[0] = '\0';
        pclose(p);
        real[strcspn(real, "\n")] = '\0';
    }
    if (!real[0] || access(real, X_OK) != 0)
        snprintf(real, sizeof real, "%s", py);
    return real;
}

int pg_run_generator(const char *in, const char *out, const char *log)
{
    char script[PG_PATH_CAP];
    pg_path_join(script, pg_source_root(), "scripts/gen_products.py");
    const char *py = python_path();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        execlp(py, py, script, in, out, (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail_msg("waitpid failed");
    if (!WIFEXITED(status))
        fail_msg("generator died");
    return WEXITSTATUS(status);
}

char *pg_read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1)
            break;
        cap *= 2;
        buf = realloc(buf, cap);
        assert_non_null(buf);
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void pg_agree(const char *in, const char *out, const char *log, size_t want_line, const char *what)
{
    unlink(out);
    int rc = pg_run_generator(in, out, log);
    char *msg = pg_read_all(log, NULL);
    assert_non_null(msg);
    struct stat st;
    bool written = stat(out, &st) == 0 && st.st_size > 0;
    size_t len;
    char *text = pg_read_all(in, &len);
    assert_non_null(text);
    static struct products_load_errors errs;
    const struct products_tables *t = NULL;
    int lrc = products_load(in, text, len, &t, &errs);
    free(text);
    if (want_line == 0) {
        if (rc != 0 || !written)
            fail_msg("case '%s': generator failed (rc %d): %s", what, rc, msg);
        if (lrc != 0 || !t)
            fail_msg("case '%s': the generator accepts it, products_load does not (%d): %s", what, lrc,
                     errs.n ? errs.e[0].text : "");
        products_load_free(t);
        free(msg);
        return;
    }
    char where[64];
    if (want_line == PG_FILE_LEVEL)
        snprintf(where, sizeof where, "t.tsv: error:");
    else
        snprintf(where, sizeof where, "t.tsv:%zu:", want_line);
    if (rc != 1 || written || !strstr(msg, where))
        fail_msg("case '%s': want exit 1 naming %s and no output; got rc %d, output %d: %s", what, where, rc,
                 written, msg);
    if (lrc != KMS_EINVAL || t)
        fail_msg("case '%s': the generator rejects it, products_load does not (%d)", what, lrc);
    /* the generator's lines, "IN:...: error: ..." then "IN: N error(s); OUT not written" */
    size_t n_gen = 0;
    for (char *line = msg, *next; *line; line = next) {
        next = line + strcspn(line, "\n");
        if (*next)
            *next++ = '\0';
        if (!strstr(line, ": error: ")) {
            char count[64];
            snprintf(count, sizeof count, ": %zu error(s);", errs.count);
            if (!strstr(line, count))
                fail_msg("case '%s': the generator's summary '%s', products_load counted %zu", what, line,
                         errs.count);
            continue;
        }
        if (n_gen < errs.n && strcmp(line, errs.e[n_gen].text) != 0)
            fail_msg("case '%s': error %zu differs:\n  generator:     %s\n  products_load: %s", what, n_gen + 1, line,
                     errs.e[n_gen].text);
        n_gen++;
    }
    if (n_gen != errs.count)
        fail_msg("case '%s': the generator reported %zu errors, products_load %zu", what, n_gen, errs.count);
    free(msg);
}

/* A minimal valid table shared by test_products and test_products_load; each case breaks one thing (1-based lines). */
const char *const pg_base_tsv[PG_BASE_LINES] = {
    "# minimal table",
    "app\twindows\t55c92734-d682-4d71-983e-d6ec3f16059f\t50\tw2019\t0\tWindows\tWindows",
    "kms\t58e2134f-8e11-4d17-9cb2-91069c151148\twindows\t25\t6\t-\tWindows 10/11 2015 (Volume)",
    "kms\t8449b1fb-f0ea-497a-99ab-66ca96e9a0f5\twindows\t5\t6\t-\tWindows Server 2019",
    "sku\t2de67392-b7a7-462a-b1ca-108dd189f588\t58e2134f-8e11-4d17-9cb2-91069c151148\twin10pro,win11pro\t"
    "W269N-WFGWX-YVC9B-4J6C9-T83GX\t-\tWindows 10/11 Pro",
    "sku\t73111121-5638-40f6-bc11-f1d7b0d64300\t58e2134f-8e11-4d17-9cb2-91069c151148\twin10ent\t"
    "NPPR9-FWDCX-D2C8J-H872K-2YT43\t-\tWindows 10/11 Enterprise",
    "csvlk\tw2019\t206\t551000000\t570999999\t2018-10-02\t-\tWindows Server 2019",
    "activates\tw2019\t8449b1fb-f0ea-497a-99ab-66ca96e9a0f5",
    "csvlk\tw10\t206\t256000000\t265999999\t2018-10-02\t-\tWindows 10 2019",
    "activates\tw10\t58e2134f-8e11-4d17-9cb2-91069c151148",
    "build\t17763\t3612\t2018-10-02\tndr64,server,epid\tWindows 10 1809 / Server 2019",
};
