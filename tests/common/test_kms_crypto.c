/*
 * kms_crypto against every known-answer test in kat/ (AES-128, Rijndael-160, V6 AES, CBC+PKCS#7, V4 hash,
 * V6 HMAC key), differentially against nettle's AES-128 on random blocks, and strict padding checks. The whole
 * group runs twice: with the 32-bit tables, then with the CPU's AES instructions where it has them; and the two
 * are compared with each other on random keys of each kind.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <nettle/aes.h>

#include "err.h"
#include "kms_crypto.h"

/* What the per-vector checks share: the cipher variant and how many vectors passed every assertion. */
struct kat_ctx {
    bool v6;
    size_t checked;
};

/*
 * Runs fn over every element of JSON array arr. Asserts the array is not empty and that fn checked every
 * element (each fn increments checked once, after its last assertion). Returns the array size.
 */
static size_t for_each(json_t *arr, void (*fn)(json_t *v, struct kat_ctx *ctx), struct kat_ctx *ctx)
{
    assert_true(json_is_array(arr));
    size_t n = json_array_size(arr);
    assert_true(n > 0);
    size_t before = ctx->checked;
    for (size_t i = 0; i < n; i++)
        fn(json_array_get(arr, i), ctx);
    assert_int_equal(ctx->checked - before, n);
    return n;
}

static void ecb_check(json_t *v, struct kat_ctx *ctx)
{
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
        kms_aes_init128(&a, key, ctx->v6);
        assert_int_equal(a.rounds, 10);
    }
    kms_aes_encrypt(&a, pt, out);
    assert_memory_equal(out, ct, 16);
    kms_aes_decrypt(&a, ct, out);
    assert_memory_equal(out, pt, 16);
    if (ctx->v6) { /* every V6 vector also gives the standard ciphertext of the same key and block */
        struct kms_aes s;
        kms_aes_init128(&s, key, false);
        kms_aes_encrypt(&s, pt, out);
        tu_assert_hex(out, 16, tu_str(v, "standard_aes_ciphertext_for_comparison"));
        assert_memory_not_equal(out, ct, 16);
        kms_aes_decrypt(&s, out, out);
        assert_memory_equal(out, pt, 16);
    }
    kms_aes_wipe(&a);
    free(key);
    ctx->checked++;
}

static void cbc_check(json_t *v, struct kat_ctx *ctx)
{
    uint8_t key[16], iv[16];
    tu_unhex_n(tu_str(v, "key"), key, 16);
    tu_unhex_n(tu_str(v, "iv"), iv, 16);
    size_t plen, clen;
    uint8_t *pt = tu_unhex(tu_str(v, "plaintext"), &plen);
    uint8_t *ct = tu_unhex(tu_str(v, "ciphertext_pkcs7"), &clen);
    struct kms_aes a;
    kms_aes_init128(&a, key, ctx->v6);
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
    kms_aes_wipe(&a);
    free(pt);
    free(ct);
    ctx->checked++;
}

static void kat_aes_standard(void **state)
{
    (void)state;
    json_t *j = tu_load_json("kat/aes128_standard.json");
    struct kat_ctx c = {.v6 = false};
    size_t total = for_each(tu_obj(j, "aes128_ecb_block"), ecb_check, &c);
    size_t n = for_each(tu_obj(tu_obj(j, "rijndael_160bit_key_128bit_block_11_rounds"), "vectors"), ecb_check, &c);
    assert_true(n >= 3);
    total += n;
    total += for_each(tu_obj(tu_obj(j, "aes128_cbc_pkcs7"), "vectors"), cbc_check, &c);
    assert_int_equal(c.checked, total);
    json_decref(j);
}

static void kat_aes_v6(void **state)
{
    (void)state;
    json_t *j = tu_load_json("kat/aes128_v6.json");
    struct kat_ctx c = {.v6 = true};
    size_t total = for_each(tu_obj(j, "ecb_block"), ecb_check, &c);
    total += for_each(tu_obj(j, "cbc_pkcs7"), cbc_check, &c);
    assert_int_equal(c.checked, total);
    json_decref(j);
}

static void v4_check(json_t *v, struct kat_ctx *ctx)
{
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
    ctx->checked++;
}

static void kat_v4_hash(void **state)
{
    (void)state;
    json_t *j = tu_load_json("kat/v4_hash.json");
    uint8_t key[20];
    tu_unhex_n(tu_str(j, "key"), key, 20);
    assert_memory_equal(key, kms_key_v4, 20);
    struct kat_ctx c = {.v6 = false};
    size_t n = for_each(tu_obj(j, "vectors"), v4_check, &c);
    assert_int_equal(n, 8); /* protocol.md 9: lengths 0, 1, 15, 16, 17, 43, 160, 236 */
    json_decref(j);
}

static void mac_check(json_t *v, struct kat_ctx *ctx)
{
    long long ft = tu_int(v, "filetime");
    assert_true(ft >= 0);
    /* the fixture states the FILETIME twice: as a number and as little-endian bytes; they must agree */
    uint8_t le[8];
    tu_unhex_n(tu_str(v, "filetime_hex_le"), le, 8);
    uint64_t from_le = 0;
    for (int i = 7; i >= 0; i--)
        from_le = from_le << 8 | le[i];
    assert_true(from_le == (uint64_t)ft);
    uint8_t key[16];
    kms_v6_mac_key((uint64_t)ft, key);
    tu_assert_hex(key, 16, tu_str(v, "hmac_key"));
    ctx->checked++;
}

static void kat_v6_mac_key(void **state)
{
    (void)state;
    json_t *j = tu_load_json("kat/v6_mac_key.json");
    struct kat_ctx c = {.v6 = false};
    size_t n = for_each(tu_obj(j, "vectors"), mac_check, &c);
    assert_int_equal(n, 8);
    json_decref(j);
}

/*
 * The slot is computed modulo 2^64 (protocol.md 4.5), but no KAT FILETIME is large enough to wrap (the fixtures
 * stop at INT64_MAX). These answers were computed independently with Python's unbounded integers reduced
 * mod 2^64 and hashlib.sha256; in both, the unreduced slot exceeds 2^64.
 */
static void v6_mac_key_wraps(void **state)
{
    (void)state;
    static const struct {
        uint64_t filetime;
        const char *key;
    } cases[] = {
        {UINT64_MAX, "46cd4b2281206270568494700e8d473a"},
        {UINT64_MAX - 0x22816889BDull, "99fe16cd26159aa2b0a99cd5e8889208"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t key[16];
        kms_v6_mac_key(cases[i].filetime, key);
        tu_assert_hex(key, 16, cases[i].key);
    }
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

/* Our AES-128 (standard schedule) equals nettle's on 10,000 random keys and blocks, both directions. */
static void differential_nettle(void **state)
{
    (void)state;
    const uint64_t seed0 = 0x6b6d7364u;
    uint64_t s = seed0;
    for (int i = 0; i < 10000; i++) {
        uint8_t key[16], pt[16], ours[16], theirs[16], back[16];
        fill(&s, key, 16);
        fill(&s, pt, 16);
        struct kms_aes a;
        kms_aes_init128(&a, key, false);
        kms_aes_encrypt(&a, pt, ours);
        struct aes128_ctx e, d;
        aes128_set_encrypt_key(&e, key);
        aes128_encrypt(&e, 16, theirs, pt);
        if (memcmp(ours, theirs, 16) != 0)
            fail_msg("encryption differs from nettle at iteration %d (seed 0x%llx)", i, (unsigned long long)seed0);
        kms_aes_decrypt(&a, ours, back);
        if (memcmp(back, pt, 16) != 0)
            fail_msg("decrypt(encrypt(x)) != x at iteration %d (seed 0x%llx)", i, (unsigned long long)seed0);
        /* and decryption of a random block equals nettle's */
        uint8_t ct[16], dec[16];
        fill(&s, ct, 16);
        kms_aes_decrypt(&a, ct, back);
        aes128_set_decrypt_key(&d, key);
        aes128_decrypt(&d, 16, dec, ct);
        if (memcmp(back, dec, 16) != 0)
            fail_msg("decryption differs from nettle at iteration %d (seed 0x%llx)", i, (unsigned long long)seed0);
        kms_aes_wipe(&a);
    }
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
    /* a length whose padded length wraps around SIZE_MAX is refused before anything is read or written */
    assert_int_equal(kms_cbc_encrypt(&a, iv, in, SIZE_MAX, ct, sizeof ct, &blen), KMS_ENOSPC);
    assert_int_equal(kms_cbc_encrypt(&a, iv, in, SIZE_MAX - 15, ct, SIZE_MAX, &blen), KMS_ENOSPC);
    assert_int_equal(kms_cbc_decrypt(&a, iv, ct, 0, back, sizeof back, &blen), KMS_ELENGTH);
    assert_int_equal(kms_cbc_decrypt(&a, iv, ct, 15, back, sizeof back, &blen), KMS_ELENGTH);
    assert_int_equal(kms_cbc_decrypt(&a, iv, ct, 17, back, sizeof back, &blen), KMS_ELENGTH);
    assert_int_equal(kms_cbc_decrypt(&a, iv, ct, 33, back, sizeof back, &blen), KMS_ELENGTH);

    /* forged plaintexts with bad padding, encrypted without padding: every byte `fill`, then the last four `tail` */
    static const struct {
        uint8_t fill, tail[4];
    } bad[] = {
        {0xaa, {4, 4, 4, 0}},         /* n = 0 */
        {0xaa, {4, 4, 4, 17}},        /* n = 17 */
        {0xaa, {4, 4, 3, 4}},         /* a pad byte differs */
        {0xaa, {3, 4, 4, 4}},         /* the first pad byte differs */
        {0x11, {17, 17, 17, 17}},     /* n = 17 although all 17 trailing bytes say 17 */
        {0x00, {0, 0, 0, 0}},         /* all zero */
        {0xff, {255, 255, 255, 255}}, /* n = 255, all bytes 255 */
    };
    for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
        uint8_t plain[32], enc[32];
        memset(plain, bad[t].fill, sizeof plain);
        memcpy(plain + 28, bad[t].tail, 4);
        /* encrypt raw blocks (CBC without padding) by hand */
        const uint8_t *chain = iv;
        for (int b = 0; b < 2; b++) {
            uint8_t x[16];
            for (int i = 0; i < 16; i++)
                x[i] = plain[16 * b + i] ^ chain[i];
            kms_aes_encrypt(&a, x, enc + 16 * b);
            chain = enc + 16 * b;
        }
        blen = 12345;
        assert_int_equal(kms_cbc_decrypt(&a, iv, enc, 32, back, sizeof back, &blen), KMS_EPADDING);
        assert_memory_equal(back, plain, 32); /* the contract: out holds the decrypted bytes anyway */
        assert_int_equal(blen, 12345);        /* and *out_len is left alone */
    }
    /* a padding of 16 bytes with one wrong byte at the front of the last block */
    {
        uint8_t plain[16], enc[16], x[16];
        memset(plain, 16, sizeof plain);
        plain[0] = 15;
        for (int i = 0; i < 16; i++)
            x[i] = plain[i] ^ iv[i];
        kms_aes_encrypt(&a, x, enc);
        assert_int_equal(kms_cbc_decrypt(&a, iv, enc, 16, back, sizeof back, &blen), KMS_EPADDING);
        plain[0] = 16; /* and with it right, the whole block is padding */
        for (int i = 0; i < 16; i++)
            x[i] = plain[i] ^ iv[i];
        kms_aes_encrypt(&a, x, enc);
        assert_int_equal(kms_cbc_decrypt(&a, iv, enc, 16, back, sizeof back, &blen), 0);
        assert_int_equal(blen, 0);
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
    kms_sha256("abc", 3, d);
    tu_assert_hex(d, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* RFC 4231 test case 2, split in two parts */
    kms_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want ", 16, "for nothing?", 12, d);
    tu_assert_hex(d, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    kms_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, NULL, 0, d);
    tu_assert_hex(d, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* RFC 4231 test case 6: a key longer than the SHA-256 block is hashed first */
    uint8_t longkey[131];
    memset(longkey, 0xaa, sizeof longkey);
    kms_hmac_sha256(longkey, sizeof longkey, "Test Using Larger Than Block-Size Key - ", 40, "Hash Key First", 14, d);
    tu_assert_hex(d, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* empty key and empty message (value from Python's hmac module) */
    kms_hmac_sha256(NULL, 0, NULL, 0, NULL, 0, d);
    tu_assert_hex(d, 32, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    /*
     * Long inputs, split at every length near block boundaries, all equal the HMAC of the whole, computed
     * independently with Python (hmac.new(big[:20], big[20:], hashlib.sha256), big from xorshift64* seed 7).
     */
    static uint8_t big[3000];
    uint64_t s = 7;
    fill(&s, big, sizeof big);
    static const size_t splits[] = {0, 1, 55, 56, 63, 64, 65, 128, 1000, 2999, 3000};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
        size_t at = splits[i] < sizeof big - 20 ? splits[i] : sizeof big - 20;
        kms_hmac_sha256(big, 20, big + 20, at, big + 20 + at, sizeof big - 20 - at, d);
        tu_assert_hex(d, 32, "bbfb524520e9fa0fda57c036fb5a38a5414e591bd80f69aa91a8836d51c80a34");
    }
    kms_sha256(NULL, 0, d);
    tu_assert_hex(d, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(kms_random_bytes(NULL, 0), 0);
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

/* The AES instructions and the tables agree on 2,000 random keys of each kind (AES-128, V6, Rijndael-160), 16
 * blocks each, both directions; and the fixed schedules are the ones a caller would expand. */
static void ni_equals_tables(void **state)
{
    (void)state;
    uint64_t s = 0x6e69u;
    for (int i = 0; i < 6000; i++) {
        uint8_t key[20];
        fill(&s, key, sizeof key);
        struct kms_aes a;
        if (i % 3 == 2)
            kms_aes_init160(&a, key);
        else
            kms_aes_init128(&a, key, i % 3 == 1);
        for (int b = 0; b < 16; b++) {
            uint8_t in[16], x[16], y[16];
            fill(&s, in, 16);
            kms_aes_use_ni(true);
            kms_aes_encrypt(&a, in, x);
            kms_aes_use_ni(false);
            kms_aes_encrypt(&a, in, y);
            if (memcmp(x, y, 16) != 0)
                fail_msg("encryption differs between the instructions and the tables at key %d", i);
            kms_aes_decrypt(&a, in, y);
            kms_aes_use_ni(true);
            kms_aes_decrypt(&a, in, x);
            if (memcmp(x, y, 16) != 0)
                fail_msg("decryption differs between the instructions and the tables at key %d", i);
        }
    }
    struct kms_aes a;
    kms_aes_init160(&a, kms_key_v4);
    assert_memory_equal(kms_aes_fixed(KMS_AES_FIXED_V4), &a, sizeof a);
    kms_aes_init128(&a, kms_key_v5, false);
    assert_memory_equal(kms_aes_fixed(KMS_AES_FIXED_V5), &a, sizeof a);
    kms_aes_init128(&a, kms_key_v6, true);
    assert_memory_equal(kms_aes_fixed(KMS_AES_FIXED_V6), &a, sizeof a);
    kms_aes_use_ni(true); /* as main found it for the second run (this test is the last of the list) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kat_aes_standard),    cmocka_unit_test(kat_aes_v6),
        cmocka_unit_test(kat_v4_hash),         cmocka_unit_test(kat_v6_mac_key),
        cmocka_unit_test(v6_mac_key_wraps),    cmocka_unit_test(differential_nettle),
        cmocka_unit_test(v6_roundtrip),        cmocka_unit_test(cbc_lengths_and_padding),
        cmocka_unit_test(digests_and_helpers), cmocka_unit_test(ni_equals_tables),
    };
    kms_aes_use_ni(false);
    int failed = cmocka_run_group_tests_name("tables", tests, NULL, NULL);
    if (!kms_aes_use_ni(true)) {
        printf("# this CPU has no AES instructions: the tables' run is the only one\n");
        return failed;
    }
    return failed + cmocka_run_group_tests_name("aes-instructions", tests, NULL, NULL);
}
