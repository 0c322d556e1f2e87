/*
 * journal — the registry's append-only activation journal: one record per answered or refused activation,
 * written before the reply is sent, folded into SQLite later and in large batches by the writer thread
 * (store_writer). A record that is in the journal survives kill -9 of kmsd (it is in the kernel's page
 * cache once copied into the file's shared mapping or written with pwrite(2), as a WAL commit with
 * synchronous=NORMAL is), so kmsd can answer after one copy per loop iteration instead of one SQLite
 * transaction per activation (docs/performance.md).
 *
 * This file is the record format and its checks, pure (no file descriptors): the writer owns the files.
 * A record on disk, little-endian:
 *     u32 length of what follows the checksum      u32 CRC-32 (zlib) of what follows it
 *     u64 sequence number (strictly increasing across the journal's life; the registry stores the last folded)
 *     16 x4 cmid, app_id, sku_id, kms_id           i64 time (Unix seconds)
 *     u32 x6 license_status, grace_time, is_vm, version_major, version_minor, hresult
 *     u16-length-prefixed texts: workstation, product, address, epid (no terminating NUL)
 * A torn or corrupt tail (power loss in the middle of a write) is found by its length or checksum; the
 * writer cuts the file back to the last whole record at start. Damage in the middle (a disk error, a power loss
 * that kept a later page and lost an earlier one) is cut out and the records after it kept: the writer finds the
 * next record by trying journal_decode at every offset (store_writer_journal.c).
 */
#ifndef KMSD_JOURNAL_H
#define KMSD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define JOURNAL_HEADER_LEN 8
/* The longest record: header, fixed fields and the four texts at their struct store_record capacities. */
#define JOURNAL_RECORD_MAX                                                                                             \
    (JOURNAL_HEADER_LEN + 8 + 64 + 8 + 24 + 8 + sizeof((struct store_record *)0)->workstation +                        \
     sizeof((struct store_record *)0)->product + sizeof((struct store_record *)0)->address +                         \
     sizeof((struct store_record *)0)->epid)

/* The shortest record: header and fixed fields, the four texts empty. */
#define JOURNAL_RECORD_MIN (JOURNAL_HEADER_LEN + 8 + 64 + 8 + 24 + 8)

/* Encodes r with sequence number seq into out[0..cap). Returns the record's length, or KMS_EOVERFLOW when
 * cap is too small (JOURNAL_RECORD_MAX always suffices). */
long journal_encode(const struct store_record *r, uint64_t seq, uint8_t *out, size_t cap);

/* Decodes the record at the start of p[0..len) into *r and *seq; *used gets its length. Returns 0,
 * KMS_ETRUNC when p holds only the start of a record (a torn tail, or more bytes to come), or KMS_EMALFORMED
 * when the bytes are not a record (bad length, checksum or field). */
int journal_decode(const uint8_t *p, size_t len, struct store_record *r, uint64_t *seq, size_t *used);

#endif
