/*
 * identity_file — the file of `kmsc --save-identity FILE`: the text host_identity builds (src/common), written so
 * that FILE is either its old self or the whole new text, never a part: a temporary file beside it (same
 * directory, so the same file system), written, given mode 0644 (the ePID and HWID go to every client: no
 * secret), fsynced, then renamed over FILE. An existing FILE is replaced.
 *
 * Errors fill a struct kmsc_result with status KMSC_INTERNAL (exit 1) and a message naming FILE.
 */
#ifndef KMSC_IDENTITY_FILE_H
#define KMSC_IDENTITY_FILE_H

#include <stddef.h>

#include "kms_client.h"

#define IDENTITY_FILE_PATH_MAX 4096 /* bytes of FILE's path, NUL included (Linux's PATH_MAX) */

/* Whether FILE can be written: its path fits, it is not a directory, its directory exists and is writable.
 * kmsc checks this before the first request, so that an activation is not spent on a file that cannot be
 * written. Returns 0 or a negative code (-errno, -ENAMETOOLONG) with res saying why. */
int identity_file_check(const char *path, struct kmsc_result *res);

/* Replaces FILE with text[0..len) as described above; the temporary file is removed on any failure. Returns 0
 * or -errno with res saying why. */
int identity_file_write(const char *path, const char *text, size_t len, struct kmsc_result *res);

#endif
