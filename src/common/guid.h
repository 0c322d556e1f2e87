/*
 * guid — Microsoft GUIDs, kept in wire order.
 *
 * `struct guid` holds the 16 bytes exactly as they travel (Data1 u32 LE, Data2 u16 LE, Data3 u16 LE,
 * Data4 8 bytes), so reading and writing are plain copies; only the text form reorders bytes.
 * Text form: 8-4-4-4-12 hex digits, either case, optionally wrapped in braces.
 */
#ifndef KMSD_GUID_H
#define KMSD_GUID_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

#define GUID_TEXT_LEN 36 /* characters, without NUL */

struct guid {
    uint8_t b[16];
};

/* Parses the text form into wire order. Returns 0 or KMS_EINVAL (out untouched on error). */
int guid_parse(struct guid *out, const char *text);
/* Writes the lower-case text form and a NUL into out (GUID_TEXT_LEN + 1 bytes). */
void guid_format(const struct guid *g, char out[GUID_TEXT_LEN + 1]);
bool guid_eq(const struct guid *a, const struct guid *b);
bool guid_is_zero(const struct guid *g);
void guid_read(struct rd *r, struct guid *out);
void guid_write(struct wr *w, const struct guid *g);

#endif
