/*
 * Fuzz target: a record of the activation journal (journal_decode), as the registry writer reads it back from a
 * file a crash, a power loss or a disk error may have damaged (store_writer_journal.c, which also tries it at every
 * byte offset of a damaged stretch to find the records after it).
 *
 * Input: the bytes of a journal file from a record's start. They are decoded as they are, then once more with the
 * CRC-32 field set to the checksum of the body the length field names (when the input holds that body), so that
 * mutations reach the field checks behind the checksum.
 *
 * Invariants (journal.h): a record taken is no longer than the input and within JOURNAL_RECORD_MIN..MAX; encoding
 * what was decoded gives back exactly its bytes (only the canonical form is taken, so a record is folded as written);
 * every shorter prefix of it is incomplete (KMS_ETRUNC), never taken or refused, since a record may be split across
 * the writer's reads.
 */
#include "fuzz.h"

#include <string.h>

#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "journal.h"

static void decode_one(const uint8_t *data, size_t size)
{
    struct store_record r, again;
    uint64_t seq, seq2;
    size_t used = 0, used2 = 0;
    int rc = journal_decode(data, size, &r, &seq, &used);
    fuzz_check(rc == 0 || rc == KMS_ETRUNC || rc == KMS_EINVAL);
    if (rc != 0)
        return;
    fuzz_check(used <= size && used >= JOURNAL_RECORD_MIN && used <= JOURNAL_RECORD_MAX);
    uint8_t out[JOURNAL_RECORD_MAX];
    long n = journal_encode(&r, seq, out, sizeof out);
    fuzz_check(n > 0 && (size_t)n == used && memcmp(out, data, used) == 0);
    fuzz_check(journal_decode(out, (size_t)n, &again, &seq2, &used2) == 0 && seq2 == seq && used2 == used);
    for (size_t i = 0; i < used; i++)
        fuzz_check(journal_decode(data, i, &again, &seq2, &used2) == KMS_ETRUNC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_one(data, size);
    if (size < JOURNAL_HEADER_LEN || size - JOURNAL_HEADER_LEN < buf_le32(data))
        return 0;
    uint8_t *copy = malloc(size); /* exactly size bytes, so that a read past them is caught */
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    uint32_t body = buf_le32(copy);
    uint32_t crc = (uint32_t)crc32(0L, copy + JOURNAL_HEADER_LEN, (uInt)body);
    for (int i = 0; i < 4; i++)
        copy[4 + i] = (uint8_t)(crc >> (8 * i));
    decode_one(copy, size);
    free(copy);
    return 0;
}
