/*
 * kms_crypto — the block ciphers and digests of the KMS protocol (protocol.md section 4).
 *
 * Our own AES core exists only because KMS needs two non-standard variants: the V6 key schedule
 * (round keys 4, 6, 8 modified after expansion) and Rijndael with a 160-bit key (Nk = 5, Nr = 11)
 * behind the V4 hash. No library takes a schedule it did not expand (nettle's contexts are opaque in
 * practice), so the rounds are ours too: the CPU's AES instructions (AES-NI) where it has them, which
 * take any round keys, else 32-bit tables. SHA-256 and HMAC-SHA-256 come from nettle, random bytes from
 * getrandom(2). All functions are pure except kms_random_bytes(). A schedule a caller expands may hold a
 * key of its own: wipe it with kms_aes_wipe() when done. Buffers may not overlap unless stated.
 */
#ifndef KMSD_KMS_CRYPTO_H
#define KMSD_KMS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMS_AES_BLOCK 16
#define KMS_AES_MAX_ROUNDS 11

/* The protocol's fixed keys (protocol.md 4.1). */
extern const uint8_t kms_key_v4[20];
extern const uint8_t kms_key_v5[16];
extern const uint8_t kms_key_v6[16];

/* An expanded key schedule: encryption and decryption round keys, as big-endian words for the tables and as
 * bytes in FIPS order for the AES instructions. */
struct kms_aes {
    uint32_t ek[4 * (KMS_AES_MAX_ROUNDS + 1)];
    uint32_t dk[4 * (KMS_AES_MAX_ROUNDS + 1)];
    uint8_t ek_bytes[KMS_AES_MAX_ROUNDS + 1][KMS_AES_BLOCK];
    uint8_t dk_bytes[KMS_AES_MAX_ROUNDS + 1][KMS_AES_BLOCK];
    int rounds;
};

/* The protocol's three fixed schedules (K5; K6 with the V6 modification; the V4 Rijndael-160 key), expanded
 * once per process at the first call; thread-safe, never to be wiped. */
enum kms_aes_fixed_key { KMS_AES_FIXED_V4, KMS_AES_FIXED_V5, KMS_AES_FIXED_V6 };
const struct kms_aes *kms_aes_fixed(enum kms_aes_fixed_key key);

/* Whether blocks go through the AES instructions from now on: on (the default) when the CPU has them, which is
 * checked at each block. Returns whether the CPU has them. For tests, which run every block through both paths. */
bool kms_aes_use_ni(bool on);

/* AES-128 schedule; with v6 = true, the KMS V6 modification (protocol.md 4.2) is applied. */
void kms_aes_init128(struct kms_aes *ctx, const uint8_t key[16], bool v6);
/* Rijndael 160-bit key, 128-bit block, 11 rounds (encryption only is meaningful). */
void kms_aes_init160(struct kms_aes *ctx, const uint8_t key[20]);
/* One block. in and out may be the same buffer. */
void kms_aes_encrypt(const struct kms_aes *ctx, const uint8_t in[16], uint8_t out[16]);
void kms_aes_decrypt(const struct kms_aes *ctx, const uint8_t in[16], uint8_t out[16]);
void kms_aes_wipe(struct kms_aes *ctx);

/* Length of len bytes after PKCS#7 padding (always adds 1..16 bytes). */
static inline size_t kms_pkcs7_len(size_t len) { return len + (KMS_AES_BLOCK - len % KMS_AES_BLOCK); }

/*
 * CBC-encrypts len bytes with PKCS#7 padding into out (capacity cap). Sets *out_len.
 * Returns 0 or KMS_ENOSPC when cap < kms_pkcs7_len(len) (or that length overflows size_t).
 */
int kms_cbc_encrypt(const struct kms_aes *ctx, const uint8_t iv[16], const uint8_t *in, size_t len, uint8_t *out,
                    size_t cap, size_t *out_len);
/*
 * CBC-decrypts len bytes (a positive multiple of 16) into out (capacity >= len) and strictly checks
 * PKCS#7 padding (1 <= n <= 16, all n bytes equal n). *out_len is the length without padding.
 * Returns 0, KMS_ELENGTH (len not a positive multiple of 16), KMS_ENOSPC or KMS_EPADDING.
 * out holds the decrypted bytes (padding included) even when the padding check fails.
 */
int kms_cbc_decrypt(const struct kms_aes *ctx, const uint8_t iv[16], const uint8_t *in, size_t len, uint8_t *out,
                    size_t cap, size_t *out_len);

/* V4 hash (protocol.md 4.3): CBC-MAC under Rijndael-160 with ISO 9797-1 method 2 padding. */
void kms_v4_hash(const uint8_t *msg, size_t len, uint8_t out[16]);

/* V6 HMAC key for a FILETIME (protocol.md 4.5): bytes 16..31 of SHA-256(slot as u64 LE). */
void kms_v6_mac_key(uint64_t filetime, uint8_t key[16]);

/* SHA-256 (nettle; cannot fail). data may be NULL with len 0. */
void kms_sha256(const void *data, size_t len, uint8_t out[32]);
/* HMAC-SHA-256 (nettle; cannot fail) over the concatenation a || b; key, a and b may be NULL with length 0. */
void kms_hmac_sha256(const uint8_t *key, size_t keylen, const void *a, size_t alen, const void *b, size_t blen,
                     uint8_t out[32]);
/* Cryptographically strong random bytes from getrandom(2). Returns 0 or KMS_ECRYPTO (the kernel refused).
 * Not pure: only programs call it, the core takes bytes as input (struct kms_rng). */
int kms_random_bytes(void *buf, size_t len);
/* Zeroes memory in a way the compiler cannot elide. */
void kms_wipe(void *p, size_t len);
/* Constant-time comparison; returns true when equal. */
bool kms_ct_equal(const void *a, const void *b, size_t len);

#endif
