#define _DEFAULT_SOURCE /* explicit_bzero */
#include "kms_crypto.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "err.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KMS_HAVE_NI 1
#else
#define KMS_HAVE_NI 0
#endif

/*
 * A 32-bit table implementation of AES / Rijndael with 128-bit blocks, for a CPU without AES instructions or a test
 * that turns them off (ni_rounds below is the other path). Words are big-endian views of state columns (byte 0 in
 * the top bits), as in FIPS-197. Table lookups depend on key bytes, which is harmless here: every key this protocol
 * uses is a published constant.
 */
#include "kms_aes_tables.inc"

const uint8_t kms_key_v4[20] = {0x05, 0x3D, 0x83, 0x07, 0xF9, 0xE5, 0xF0, 0x88, 0xEB, 0x5E,
                                0xA6, 0x68, 0x6C, 0xF0, 0x37, 0xC7, 0xE4, 0xEF, 0xD2, 0xD6};
const uint8_t kms_key_v5[16] = {0xCD, 0x7E, 0x79, 0x6F, 0x2A, 0xB2, 0x5D, 0xCB,
                                0x55, 0xFF, 0xC8, 0xEF, 0x83, 0x64, 0xC4, 0x70};
const uint8_t kms_key_v6[16] = {0xA9, 0x4A, 0x41, 0x95, 0xE2, 0x01, 0x43, 0x2D,
                                0x9B, 0xCB, 0x46, 0x04, 0x05, 0xD8, 0x4A, 0x21};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The word a final round builds: box[] of byte 0 of a, byte 1 of b, byte 2 of c and byte 3 of d. */
static uint32_t box_word(const uint8_t box[256], uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    return (uint32_t)box[a >> 24] << 24 | (uint32_t)box[(b >> 16) & 0xff] << 16 | (uint32_t)box[(c >> 8) & 0xff] << 8 |
           box[d & 0xff];
}

static uint32_t sub_word(uint32_t w)
{
    return box_word(sbox, w, w, w, w);
}

/* InvMixColumns of one word: td tables hold InvMixColumns(InvSubBytes(x)), so feed them SubBytes(x). */
static uint32_t inv_mix_word(uint32_t w)
{
    return td0[sbox[w >> 24]] ^ td1[sbox[(w >> 16) & 0xff]] ^ td2[sbox[(w >> 8) & 0xff]] ^ td3[sbox[w & 0xff]];
}

/* Rijndael key expansion for nk key words and nr rounds (FIPS-197 5.2; no extra SubWord for nk <= 6). */
static void expand(struct kms_aes *ctx, const uint8_t *key, int nk, int nr)
{
    int total = 4 * (nr + 1);
    uint32_t rcon = 0x01;
    for (int i = 0; i < nk; i++)
        ctx->ek[i] = be32(key + 4 * i);
    for (int i = nk; i < total; i++) {
        uint32_t t = ctx->ek[i - 1];
        if (i % nk == 0) {
            t = sub_word(t << 8 | t >> 24) ^ rcon << 24;
            rcon = (rcon << 1) ^ ((rcon & 0x80) ? 0x11b : 0);
        }
        ctx->ek[i] = ctx->ek[i - nk] ^ t;
    }
    ctx->rounds = nr;
}

/* Decryption keys for the equivalent inverse cipher (FIPS-197 5.3.5), from the final encryption keys. */
static void derive_dk(struct kms_aes *ctx)
{
    int nr = ctx->rounds;
    for (int r = 0; r <= nr; r++) {
        for (int c = 0; c < 4; c++) {
            uint32_t w = ctx->ek[4 * (nr - r) + c];
            ctx->dk[4 * r + c] = (r == 0 || r == nr) ? w : inv_mix_word(w);
        }
    }
}

static atomic_bool ni_off; /* kms_aes_use_ni(false) */

static bool cpu_has_ni(void)
{
#if KMS_HAVE_NI
    return __builtin_cpu_supports("aes"); /* SSE2 is part of x86-64 */
#else
    return false;
#endif
}

bool kms_aes_use_ni(bool on)
{
    atomic_store(&ni_off, !on);
    return cpu_has_ni();
}

/* Whether this call's blocks go through the AES instructions. */
static bool use_ni(void)
{
    return !atomic_load_explicit(&ni_off, memory_order_relaxed) && cpu_has_ni();
}

/* The decryption keys, and every round key again as bytes in FIPS order (the instructions' view of a round key). */
static void finish(struct kms_aes *ctx)
{
    derive_dk(ctx);
    for (int r = 0; r <= ctx->rounds; r++) {
        for (int i = 0; i < KMS_AES_BLOCK; i++) {
            ctx->ek_bytes[r][i] = (uint8_t)(ctx->ek[4 * r + i / 4] >> (24 - 8 * (i % 4)));
            ctx->dk_bytes[r][i] = (uint8_t)(ctx->dk[4 * r + i / 4] >> (24 - 8 * (i % 4)));
        }
    }
}

void kms_aes_init128(struct kms_aes *ctx, const uint8_t key[16], bool v6)
{
    memset(ctx, 0, sizeof *ctx);
    expand(ctx, key, 4, 10);
    if (v6) {
        /* protocol.md 4.2: byte 0 of round keys 4, 6 and 8, after expansion, without feedback */
        ctx->ek[4 * 4] ^= 0x73u << 24;
        ctx->ek[4 * 6] ^= 0x09u << 24;
        ctx->ek[4 * 8] ^= 0xE4u << 24;
    }
    finish(ctx);
}

void kms_aes_init160(struct kms_aes *ctx, const uint8_t key[20])
{
    memset(ctx, 0, sizeof *ctx);
    expand(ctx, key, 5, 11);
    finish(ctx);
}

static struct kms_aes fixed[3];
static pthread_once_t fixed_once = PTHREAD_ONCE_INIT;

static void fixed_init(void)
{
    kms_aes_init160(&fixed[KMS_AES_FIXED_V4], kms_key_v4);
    kms_aes_init128(&fixed[KMS_AES_FIXED_V5], kms_key_v5, false);
    kms_aes_init128(&fixed[KMS_AES_FIXED_V6], kms_key_v6, true);
}

const struct kms_aes *kms_aes_fixed(enum kms_aes_fixed_key key)
{
    pthread_once(&fixed_once, fixed_init);
    return &fixed[key];
}

/* One column of an AES round with 32-bit tables: a, b, c, e are the state words the column reads. */
static inline uint32_t aes_column(const uint32_t *const t[4], uint32_t a, uint32_t b, uint32_t c, uint32_t e,
                                  uint32_t k)
{
    return t[0][a >> 24] ^ t[1][(b >> 16) & 0xff] ^ t[2][(c >> 8) & 0xff] ^ t[3][e & 0xff] ^ k;
}

/* The AES rounds over one block, for both directions: the cipher's column i reads words i, i+1, i+2, i+3 of
 * the state where the inverse cipher reads i, i-1, i-2, i-3 (FIPS-197 5.1 and 5.3, with 32-bit tables): enc
 * picks the order, the te or td tables and the S-box or its inverse come with it. Inlined into both callers,
 * where enc is a constant. */
__attribute__((always_inline)) static inline void aes_rounds(const uint32_t *rk, int rounds,
                                                             const uint32_t *const t[4], const uint8_t box[256],
                                                             bool enc, const uint8_t in[16], uint8_t out[16])
{
    uint32_t s0 = be32(in) ^ rk[0], s1 = be32(in + 4) ^ rk[1];
    uint32_t s2 = be32(in + 8) ^ rk[2], s3 = be32(in + 12) ^ rk[3];
    for (int r = 1; r < rounds; r++) {
        rk += 4;
        uint32_t n0 = aes_column(t, s0, enc ? s1 : s3, s2, enc ? s3 : s1, rk[0]);
        uint32_t n1 = aes_column(t, s1, enc ? s2 : s0, s3, enc ? s0 : s2, rk[1]);
        uint32_t n2 = aes_column(t, s2, enc ? s3 : s1, s0, enc ? s1 : s3, rk[2]);
        uint32_t n3 = aes_column(t, s3, enc ? s0 : s2, s1, enc ? s2 : s0, rk[3]);
        s0 = n0;
        s1 = n1;
        s2 = n2;
        s3 = n3;
    }
    rk += 4;
    put_be32(out, box_word(box, s0, enc ? s1 : s3, s2, enc ? s3 : s1) ^ rk[0]);
    put_be32(out + 4, box_word(box, s1, enc ? s2 : s0, s3, enc ? s0 : s2) ^ rk[1]);
    put_be32(out + 8, box_word(box, s2, enc ? s3 : s1, s0, enc ? s1 : s3) ^ rk[2]);
    put_be32(out + 12, box_word(box, s3, enc ? s0 : s2, s1, enc ? s2 : s0) ^ rk[3]);
}

static const uint32_t *const te[4] = {te0, te1, te2, te3};
static const uint32_t *const td[4] = {td0, td1, td2, td3};

#if KMS_HAVE_NI
/* The same rounds with the AES instructions: AESENC is one middle round of the cipher (ShiftRows, SubBytes,
 * MixColumns, the round key), AESDEC one of the equivalent inverse cipher, whose round keys derive_dk made;
 * the -LAST forms omit the MixColumns step, as the last round does. Any round keys and any number of rounds. */
__attribute__((target("aes,sse2"), always_inline)) static inline void
ni_rounds(const uint8_t (*rk)[KMS_AES_BLOCK], int rounds, bool enc, const uint8_t in[16], uint8_t out[16])
{
    __m128i s = _mm_xor_si128(_mm_loadu_si128((const __m128i *)in), _mm_loadu_si128((const __m128i *)rk[0]));
    for (int r = 1; r < rounds; r++) {
        __m128i k = _mm_loadu_si128((const __m128i *)rk[r]);
        s = enc ? _mm_aesenc_si128(s, k) : _mm_aesdec_si128(s, k);
    }
    __m128i k = _mm_loadu_si128((const __m128i *)rk[rounds]);
    _mm_storeu_si128((__m128i *)out, enc ? _mm_aesenclast_si128(s, k) : _mm_aesdeclast_si128(s, k));
}

__attribute__((target("aes,sse2"))) static void ni_encrypt(const struct kms_aes *ctx, const uint8_t in[16],
                                                           uint8_t out[16])
{
    ni_rounds(ctx->ek_bytes, ctx->rounds, true, in, out);
}

__attribute__((target("aes,sse2"))) static void ni_decrypt(const struct kms_aes *ctx, const uint8_t in[16],
                                                           uint8_t out[16])
{
    ni_rounds(ctx->dk_bytes, ctx->rounds, false, in, out);
}
#endif

/* One block either way, through the path chosen once per call of the functions below (use_ni). */
static void aes_block(const struct kms_aes *ctx, bool enc, bool ni, const uint8_t in[16], uint8_t out[16])
{
#if KMS_HAVE_NI
    if (ni) {
        if (enc)
            ni_encrypt(ctx, in, out);
        else
            ni_decrypt(ctx, in, out);
        return;
    }
#else
    (void)ni;
#endif
    if (enc)
        aes_rounds(ctx->ek, ctx->rounds, te, sbox, true, in, out);
    else
        aes_rounds(ctx->dk, ctx->rounds, td, inv_sbox, false, in, out);
}

void kms_aes_encrypt(const struct kms_aes *ctx, const uint8_t in[16], uint8_t out[16])
{
    aes_block(ctx, true, use_ni(), in, out);
}

void kms_aes_decrypt(const struct kms_aes *ctx, const uint8_t in[16], uint8_t out[16])
{
    aes_block(ctx, false, use_ni(), in, out);
}

void kms_aes_wipe(struct kms_aes *ctx)
{
    kms_wipe(ctx, sizeof *ctx);
}

int kms_cbc_encrypt(const struct kms_aes *ctx, const uint8_t iv[16], const uint8_t *in, size_t len, uint8_t *out,
                    size_t cap, size_t *out_len)
{
    size_t total = kms_pkcs7_len(len);
    if (total < len || cap < total) /* total < len: the padded length wrapped around SIZE_MAX */
        return KMS_ENOSPC;
    uint8_t pad = (uint8_t)(total - len);
    bool ni = use_ni();
    const uint8_t *chain = iv;
    for (size_t off = 0; off < total; off += KMS_AES_BLOCK) {
        uint8_t x[KMS_AES_BLOCK];
        for (size_t i = 0; i < KMS_AES_BLOCK; i++)
            x[i] = (uint8_t)((off + i < len ? in[off + i] : pad) ^ chain[i]);
        aes_block(ctx, true, ni, x, out + off);
        chain = out + off;
    }
    *out_len = total;
    return 0;
}

int kms_cbc_decrypt(const struct kms_aes *ctx, const uint8_t iv[16], const uint8_t *in, size_t len, uint8_t *out,
                    size_t cap, size_t *out_len)
{
    if (len == 0 || len % KMS_AES_BLOCK != 0)
        return KMS_ELENGTH;
    if (cap < len)
        return KMS_ENOSPC;
    bool ni = use_ni();
    const uint8_t *chain = iv;
    for (size_t off = 0; off < len; off += KMS_AES_BLOCK) {
        uint8_t x[KMS_AES_BLOCK];
        aes_block(ctx, false, ni, in + off, x);
        for (size_t i = 0; i < KMS_AES_BLOCK; i++)
            out[off + i] = x[i] ^ chain[i];
        chain = in + off;
    }
    uint8_t n = out[len - 1];
    if (n < 1 || n > KMS_AES_BLOCK)
        return KMS_EPADDING;
    uint8_t bad = 0;
    for (size_t i = len - n; i < len; i++)
        bad |= out[i] ^ n;
    if (bad)
        return KMS_EPADDING;
    *out_len = len - n;
    return 0;
}

void kms_v4_hash(const uint8_t *msg, size_t len, uint8_t out[16])
{
    const struct kms_aes *ctx = kms_aes_fixed(KMS_AES_FIXED_V4);
    bool ni = use_ni();
    uint8_t state[16] = {0};
    size_t full = len / 16;
    for (size_t b = 0; b <= full; b++) {
        uint8_t block[16];
        if (b < full) {
            memcpy(block, msg + 16 * b, 16);
        } else { /* the last, padded block: rest ‖ 0x80 ‖ zeros (a whole block when len % 16 == 0) */
            size_t rest = len - 16 * full;
            memset(block, 0, sizeof block);
            if (rest)
                memcpy(block, msg + 16 * full, rest);
            block[rest] = 0x80;
        }
        for (int i = 0; i < 16; i++)
            state[i] ^= block[i];
        aes_block(ctx, true, ni, state, state);
    }
    memcpy(out, state, 16);
}

void kms_v6_mac_key(uint64_t filetime, uint8_t key[16])
{
    /* protocol.md 4.5: the slot is defined modulo 2^64, which is exactly what uint64_t arithmetic does */
    uint64_t slot = (filetime / 0x00000022816889BDull) * 0x000000208CBAB5EDull + 0x3156CD5AC628477Aull;
    uint8_t le[8], digest[32];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(slot >> (8 * i));
    kms_sha256(le, sizeof le, digest);
    memcpy(key, digest + 16, 16);
    kms_wipe(digest, sizeof digest);
}

void kms_sha256(const void *data, size_t len, uint8_t out[32])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    if (len) /* nettle copies from data even for 0 bytes, and data may be NULL then */
        sha256_update(&ctx, len, data);
    sha256_digest(&ctx, 32, out);
    kms_wipe(&ctx, sizeof ctx);
}

void kms_hmac_sha256(const uint8_t *key, size_t keylen, const void *a, size_t alen, const void *b, size_t blen,
                     uint8_t out[32])
{
    /* nettle's HMAC (RFC 2104; a key longer than a block is hashed first); a and b are streamed, never joined */
    struct hmac_sha256_ctx ctx;
    hmac_sha256_set_key(&ctx, keylen, keylen ? key : (const uint8_t *)"");
    if (alen)
        hmac_sha256_update(&ctx, alen, a);
    if (blen)
        hmac_sha256_update(&ctx, blen, b);
    hmac_sha256_digest(&ctx, 32, out);
    kms_wipe(&ctx, sizeof ctx);
}

int kms_random_bytes(void *buf, size_t len)
{
    /* getrandom(2) from the kernel's pool: no library, no state, no file descriptor. Without flags it blocks
     * only before the pool is first initialised at boot. It may return fewer bytes than asked, or EINTR. */
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return KMS_ECRYPTO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void kms_wipe(void *p, size_t len)
{
    if (p && len)
        explicit_bzero(p, len);
}

bool kms_ct_equal(const void *a, const void *b, size_t len)
{
    return memeql_sec(a, b, len) != 0;
}
