/*
 * replay — runs corpus files through a fuzz target's LLVMFuzzerTestOneInput without libFuzzer, so that the
 * normal (gcc, ASan) builds exercise every committed seed and regression input in `meson test`.
 *
 * Usage: replay PATH...   (each PATH a file or a directory whose regular files are all run)
 * Each input is copied into a heap buffer of exactly its size, so a sanitizer build catches reads past it.
 * Exits 0 after running at least one input, 1 if a path cannot be read or no input was found; a target
 * that aborts ends the run with its own status.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* Reads the whole file into a fresh buffer of its exact size (NULL for an empty file). Returns 0 or -1. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 4096;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                rc = -1;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = -1;
            break;
        }
    }
    fclose(f);
    if (rc < 0) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    /* Exact-size copy: the target must not see slack capacity after the input. */
    uint8_t *exact = n ? malloc(n) : NULL;
    if (n && !exact) {
        free(buf);
        return -1;
    }
    if (n)
        memcpy(exact, buf, n);
    free(buf);
    *out = exact;
    *len = n;
    return 0;
}

static int run_file(const char *path, size_t *count)
{
    uint8_t *data;
    size_t len;
    if (read_file(path, &data, &len) < 0)
        return -1;
    (void)LLVMFuzzerTestOneInput(data, len);
    free(data);
    (*count)++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir, in name order so that failures reproduce in the same order. */
static int run_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
            cap = ncap;
        }
        size_t plen = strlen(dir) + 1 + strlen(e->d_name) + 1;
        names[n] = malloc(plen);
        if (!names[n]) {
            rc = -1;
            break;
        }
        snprintf(names[n], plen, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (names)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode) && run_file(names[i], count) < 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    if (rc < 0)
        fprintf(stderr, "replay: %s: failed\n", dir);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if ((S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) : run_file(argv[i], &count)) < 0)
            return 1;
    }
    if (count == 0) {
        fprintf(stderr, "replay: no input found (usage: replay PATH...)\n");
        return 1;
    }
    printf("replay: %zu inputs ran cleanly\n", count);
    return 0;
}
