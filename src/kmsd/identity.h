/*
 * identity — the host identity (HWID, host build, LCID, one ePID per CSVLK group) kept in the state
 * directory, so that it survives restarts as a genuine host's does.
 *
 * File format (text, one item per line): "kmsd-identity 1", "hwid HEX16", "build N", "lcid N", then
 * "epid CSVLK-KEY EPID" lines. Written atomically (temporary file, fsync, rename) with mode 0600.
 */
#ifndef KMSD_IDENTITY_H
#define KMSD_IDENTITY_H

#include <stddef.h>

#include "activation.h"

#define IDENTITY_FILE "identity"

/*
 * Loads the identity at path into h. ePIDs of CSVLK groups the file lacks (the product table grew) stay as
 * they are in h, so the caller generates h first and then loads over it; *missing gets how many groups the
 * file did not have. Returns 0, -ENOENT when there is no file, or another negative code with a message in err.
 */
int identity_load(const char *path, struct activation_host *h, size_t *missing, char *err, size_t errlen);

/* Writes h to path atomically. Returns 0 or a negative code with a message in err. */
int identity_save(const char *path, const struct activation_host *h, char *err, size_t errlen);

#endif
