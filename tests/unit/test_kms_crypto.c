/*
 * kms_crypto against every known-answer test in kat/ (AES-128, Rijndael-160, V6 AES, CBC+PKCS#7, V4 hash,
 * V6 HMAC key), differentially against libcrypto's AES-128 on random blocks, and strict padding checks.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err.h"
#include "kms_crypto.h"

/* Runs fn over every element of array `key` of object o; asserts the array is not empty. */
static size_t for_each(json_t *arr, void (*fn)(json_t *v, void *ctx), void *ctx)
{
    assert_true(json_is_array(arr));
    size_t n = json_array_size(arr);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++)
        fn(json_array_get(arr, i), ctx);
    return n;
}

static void ecb_check(json_t *v, void *ctx)
{
    const bool *v6 = ctx;
    size_t klen;
    uint8_t *key = tu_unhex(tu_str(v, "key"), &klen);
    uint8_t pt[16], ct[16], out[16];
    tu_unhex_n(tu_str(v, "plaintext"), pt, 16);
    tu_unhex_n(tu_str(v, "ciphertext"), ct, 16);
    struct kms_aes a;
    if (klen == 20) {
        kms_aes_init160(&a, key);
        assert_int_equal(a.rounds, 11);
    } else {
        assert_int_equal(klen, 16);
        kms_aes_init128(&a, key, *v6);
        assert_int_equal(a.rounds, 10);
    }
    kms_aes_encrypt(&a, pt, out);
    assert_memory_equal(out, ct, 16);
    kms_aes_decrypt(&a, ct, out);
    assert_memory_equal(out, pt, 16);
    json_t *std = json_object_get(v, "standard_aes_ciphertext_for_comparison");
    if (std) { /* the same key without the V6 modification gives the standard ciphertext */
        struct kms_aes s;
        kms_aes_init128(&s, key, false);
        kms_aes_encrypt(&s, pt, out);
        tu_assert_hex(out, 16, json_string_value(std));
        assert_memory_not_equal(out, ct, 16);
    }
    kms_aes_wipe(&a);
    free(key);
}

static void cbc_check(json_t *v, void *ctx)
{
    const bool *v6 = ctx;
    uint8_t key[16], iv[16];
    tu_unhex_n(tu_str(v, "key"), key, 16);
    tu_unhex_n(tu_str(v, "iv"), iv, 16);
    size_t plen, clen;
    uint8_t *pt = tu_unhex(tu_str(v, "plaintext"), &plen);
    uint8_t *ct = tu_unhex(tu_str(v, "ciphertext_pkcs7"), &clen);
    struct kms_aes a;
    kms_aes_init128(&a, key, *v6);
    uint8_t out[512], back[512];
    size_t olen, blen;
    assert_true(clen <= sizeof out);
    assert_int_equal(kms_cbc_encrypt(&a, iv, pt, plen, out, sizeof out, &olen), 0);
    assert_int_equal(olen, clen);
    assert_memory_equal(out, ct, clen);
    assert_int_equal(kms_cbc_decrypt(&a, iv, ct, clen, back, sizeof back, &blen), 0);
    assert_int_equal(blen, plen);
    if (plen)
        assert_memory_equal(back, pt, plen);
    free(pt);
    free(ct);
}

static void kat_aes_standard(void **state)
{
    (void)state;
    json_t *j = tu_load_json("kat/aes128_standard.json");
    bool v6 = false;
    for_each(tu_obj(j, "aes128_ecb_block"), ecb_check, &v6);
    size_t n = for_each(tu_obj(tu_obj(j, "rijndael_160bit_key_128bit_block_11_rounds"), "vectors"), ecb_check, &v6);
    assert_true(n >= 3);
    for_each(tu_obj(tu_obj(j, "aes128_cbc_pkcs7"), "vectors"), cbc_check, &v6);
    json_decref(j);
}

static void kat_aes_v6(void **state)
{
    (void)state;
    json_t *j = tu_load_json("kat/aes128_v6.json");
    bool v6 = true;
    for_each(tu_obj(j, "ecb_block"), ecb_check, &v6);
    for_each(tu_obj(j, "cbc_pkcs7"), cbc_check, &v6);
    json_decref(j);
}

static void v4_check(json_t *v, void *ctx)
{
    (void)ctx;
    size_t len;
    uint8_t *m = tu_unhex(tu_str(v, "message"), &len);
    assert_int_equal(len, tu_int(v, "length"));
    uint8_t *exact = malloc(len ? len : 1); /* exactly sized: ASan sees any overread */
    assert_non_null(exact);
    if (len)
        memcpy(exact, m, len);
    uint8_t h[16];
    kms_v4_hash(exact, len, h);
    tu_assert_hex(h, 16, tu_str(v, "hash"));
    free(exact);
    free(m);
}

static void kat_v4_hash(void **state)
{
    (void)state;
    json_t *j = tu_load_json("kat/v4_hash.json");
    uint8_t key[20];
    tu_unhex_n(tu_str(j, "key"), key, 20);
    assert_memory_equal(key, kms_key_v4, 20);
    size_t n = for_each(tu_obj(j, "vectors"), v4_check, NULL);
    assert_int_equal(n, 8);
    json_decref(j);
}

static void mac_check(json_t *v, void *ctx)
{
    (void)ctx;
    uint8_t key[16];
    kms_v6_mac_key((uint64_t)tu_int(v, "filetime"), key);
    tu_assert_hex(key, 16, tu_str(v, "hmac_key"));
}

static void kat_v6_mac_key(void **state)
{
    (void)state;
    json_t *j = tu_load_json("kat/v6_mac_key.json");
    size_t n = for_each(tu_obj(j, "vectors"), mac_check, NULL);
    assert_int_equal(n, 8);
    json_decref(j);
}

/* xorshift64*: deterministic test data */
static uint64_t next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static void fill(uint64_t *s, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(next(s) >> 56);
}

/* Our AES-128 (standard schedule) equals libcrypto's on 10,000 random keys and blocks, both directions. */
static void differential_libcrypto(void **state)
{
    (void)state;
    const uint64_t seed0 = 0x6b6d7364u;
    uint64_t s = seed0;
    EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
    assert_non_null(e);
    for (int i = 0; i < 10000; i++) {
        uint8_t key[16], pt[16], ours[16], theirs[32], back[16];
        fill(&s, key, 16);
        fill(&s, pt, 16);
        struct kms_aes a;
        kms_aes_init128(&a, key, false);
        kms_aes_encrypt(&a, pt, ours);
        int n = 0;
        assert_int_equal(EVP_EncryptInit_ex(e, EVP_aes_128_ecb(), NULL, key, NULL), 1);
        EVP_CIPHER_CTX_set_padding(e, 0);
        assert_int_equal(EVP_EncryptUpdate(e, theirs, &n, pt, 16), 1);
        assert_int_equal(n, 16);
        if (memcmp(ours, theirs, 16) != 0)
            fail_msg("encryption differs from libcrypto at iteration %d (seed 0x%llx)", i,
                     (unsigned long long)seed0);
        kms_aes_decrypt(&a, ours, back);
        assert_memory_equal(back, pt, 16);
        /* and decryption of a random block equals libcrypto's */
        uint8_t ct[16], dec[32];
        fill(&s, ct, 16);
        kms_aes_decrypt(&a, ct, back);
        assert_int_equal(EVP_DecryptInit_ex(e, EVP_aes_128_ecb(), NULL, key, NULL), 1);
        EVP_CIPHER_CTX_set_padding(e, 0);
        assert_int_equal(EVP_DecryptUpdate(e, dec, &n, ct, 16), 1);
        if (n != 16 || memcmp(back, dec, 16) != 0)
            fail_msg("decryption differs from libcrypto at iteration %d (seed 0x%llx)", i,
                     (unsigned long long)seed0);
        kms_aes_wipe(&a);
    }
    EVP_CIPHER_CTX_free(e);
}

/* V6 round trip on random data, and the V6 cipher is not the standard one. */
static void v6_roundtrip(void **state)
{
    (void)state;
    uint64_t s = 99;
    struct kms_aes v6, std;
    kms_aes_init128(&v6, kms_key_v6, true);
    kms_aes_init128(&std, kms_key_v6, false);
    for (int i = 0; i < 1000; i++) {
        uint8_t pt[16], ct[16], ct2[16], back[16];
        fill(&s, pt, 16);
        kms_aes_encrypt(&v6, pt, ct);
        kms_aes_encrypt(&std, pt, ct2);
        assert_memory_not_equal(ct, ct2, 16);
        kms_aes_decrypt(&v6, ct, back);
        assert_memory_equal(back, pt, 16);
        kms_aes_encrypt(&v6, pt, pt); /* in place */
        assert_memory_equal(pt, ct, 16);
    }
}

static void cbc_lengths_and_padding(void **state)
{
    (void)state;
    struct kms_aes a;
    kms_aes_init128(&a, kms_key_v5, false);
    uint8_t iv[16] = {1, 2, 3};
    uint8_t in[64], ct[80], back[80];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 7);
    for (size_t len = 0; len <= 48; len++) {
        size_t clen, blen;
        assert_int_equal(kms_cbc_encrypt(&a, iv, in, len, ct, sizeof ct, &clen), 0);
        assert_int_equal(clen, kms_pkcs7_len(len));
        assert_true(clen > len && clen - len <= 16 && clen % 16 == 0);
        /* capacity at limit-1 and at limit */
        assert_int_equal(kms_cbc_encrypt(&a, iv, in, len, ct, clen - 1, &blen), KMS_ENOSPC);
        assert_int_equal(kms_cbc_decrypt(&a, iv, ct, clen, back, clen, &blen), 0);
        assert_int_equal(blen, len);
        assert_memory_equal(back, in, len);
        assert_int_equal(kms_cbc_decrypt(&a, iv, ct, clen, back, clen - 1, &blen), KMS_ENOSPC);
    }
    size_t blen;
    assert_int_equal(kms_cbc_decrypt(&a, iv, ct, 0, back, sizeof back, &blen), KMS_ELENGTH);
    assert_int_equal(kms_cbc_decrypt(&a, iv, ct, 15, back, sizeof back, &blen), KMS_ELENGTH);
    assert_int_equal(kms_cbc_decrypt(&a, iv, ct, 17, back, sizeof back, &blen), KMS_ELENGTH);

    /* forge plaintexts with bad padding: last byte 0, 17, and mismatched pad bytes */
    static const uint8_t bad_tails[][4] = {{4, 4, 4, 0}, {4, 4, 4, 17}, {4, 4, 3, 4}, {3, 4, 4, 4}};
    for (size_t t = 0; t < sizeof bad_tails / sizeof bad_tails[0]; t++) {
        uint8_t plain[32], enc[32];
        memset(plain, 0xaa, sizeof plain);
        memcpy(plain + 28, bad_tails[t], 4);
        /* encrypt raw blocks (CBC without padding) by hand */
        const uint8_t *chain = iv;
        for (int b = 0; b < 2; b++) {
            uint8_t x[16];
            for (int i = 0; i < 16; i++)
                x[i] = plain[16 * b + i] ^ chain[i];
            kms_aes_encrypt(&a, x, enc + 16 * b);
            chain = enc + 16 * b;
        }
        assert_int_equal(kms_cbc_decrypt(&a, iv, enc, 32, back, sizeof back, &blen), KMS_EPADDING);
    }
    /* a full block of 16 x 0x10 is valid padding */
    {
        size_t clen;
        assert_int_equal(kms_cbc_encrypt(&a, iv, in, 16, ct, sizeof ct, &clen), 0);
        assert_int_equal(clen, 32);
        assert_int_equal(kms_cbc_decrypt(&a, iv, ct, 32, back, sizeof back, &blen), 0);
        assert_int_equal(back[31], 16);
    }
    kms_aes_wipe(&a);
    for (size_t i = 0; i < sizeof a; i++)
        assert_int_equal(((const uint8_t *)&a)[i], 0);
}

static void digests_and_helpers(void **state)
{
    (void)state;
    uint8_t d[32];
    assert_int_equal(kms_sha256("abc", 3, d), 0);
    tu_assert_hex(d, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* RFC 4231 test case 2, split in two parts */
    assert_int_equal(kms_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want ", 16, "for nothing?", 12, d), 0);
    tu_assert_hex(d, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_int_equal(kms_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, NULL, 0, d), 0);
    tu_assert_hex(d, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    static uint8_t big[600];
    assert_int_equal(kms_hmac_sha256(d, 16, big, sizeof big, NULL, 0, d), KMS_EINVAL);
    uint8_t r1[32] = {0}, r2[32] = {0};
    assert_int_equal(kms_random_bytes(r1, sizeof r1), 0);
    assert_int_equal(kms_random_bytes(r2, sizeof r2), 0);
    assert_memory_not_equal(r1, r2, 32);
    assert_true(kms_ct_equal(r1, r1, 32));
    assert_false(kms_ct_equal(r1, r2, 32));
    kms_wipe(r1, sizeof r1);
    memset(r2, 0, sizeof r2);
    assert_memory_equal(r1, r2, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kat_aes_standard),        cmocka_unit_test(kat_aes_v6),
        cmocka_unit_test(kat_v4_hash),             cmocka_unit_test(kat_v6_mac_key),
        cmocka_unit_test(differential_libcrypto),  cmocka_unit_test(v6_roundtrip),
        cmocka_unit_test(cbc_lengths_and_padding), cmocka_unit_test(digests_and_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
