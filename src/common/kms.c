#include "kms.h"

#include <string.h>

#include "buf.h"
#include "epid.h"
#include "err.h"
#include "kms_crypto.h"
#include "utf16.h"

/* Largest plaintext of a response: V6 with the longest ePID, padded. */
#define PLAIN_MAX (132 + KMS_EPID_MAX_BYTES + 16)

static void write_request_base(const struct kms_request *req, struct wr *w)
{
    wr_u16le(w, req->version_minor);
    wr_u16le(w, req->version_major);
    wr_u32le(w, req->is_client_vm);
    wr_u32le(w, req->license_status);
    wr_u32le(w, req->grace_time);
    guid_write(w, &req->app_id);
    guid_write(w, &req->sku_id);
    guid_write(w, &req->kms_id);
    guid_write(w, &req->cmid);
    wr_u32le(w, req->required_count);
    wr_u64le(w, req->request_time);
    guid_write(w, &req->prev_cmid);
    wr_bytes(w, req->machine_name, sizeof req->machine_name);
}

static void read_request_base(struct rd *r, struct kms_request *req)
{
    req->version_minor = rd_u16le(r);
    req->version_major = rd_u16le(r);
    req->is_client_vm = rd_u32le(r);
    req->license_status = rd_u32le(r);
    req->grace_time = rd_u32le(r);
    guid_read(r, &req->app_id);
    guid_read(r, &req->sku_id);
    guid_read(r, &req->kms_id);
    guid_read(r, &req->cmid);
    req->required_count = rd_u32le(r);
    req->request_time = rd_u64le(r);
    guid_read(r, &req->prev_cmid);
    rd_bytes(r, req->machine_name, sizeof req->machine_name);
}

/* The cipher of a V5/V6 message: K5 with plain AES, or K6 with the V6 schedule (protocol.md 4.2). Both keys are
 * published constants, expanded once per process. */
static const struct kms_aes *cipher(uint16_t major)
{
    return kms_aes_fixed(major > 5 ? KMS_AES_FIXED_V6 : KMS_AES_FIXED_V5);
}

int kms_request_set_machine_name(struct kms_request *req, const char *utf8)
{
    size_t units;
    uint8_t tmp[2 * KMS_MACHINE_NAME_UNITS];
    int rc = utf16_from_utf8(utf8, tmp, KMS_MACHINE_NAME_UNITS - 1, &units);
    if (rc < 0)
        return rc;
    memset(req->machine_name, 0, sizeof req->machine_name);
    memcpy(req->machine_name, tmp, 2 * units);
    return 0;
}

int kms_request_machine_name(const struct kms_request *req, char *out, size_t cap)
{
    return utf16_to_utf8(req->machine_name, KMS_MACHINE_NAME_UNITS, out, cap, NULL);
}

int kms_encode_request(struct kms_request *req, const uint8_t iv[16], uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t base[KMS_REQUEST_BASE_LEN];
    struct wr w;
    wr_init(&w, base, sizeof base);
    write_request_base(req, &w);

    if (req->version_major <= 4) {
        if (cap < KMS_V4_REQUEST_LEN)
            return KMS_ENOSPC;
        memcpy(out, base, sizeof base);
        kms_v4_hash(base, sizeof base, out + sizeof base);
        memset(req->iv, 0, sizeof req->iv);
        memset(req->salt, 0, sizeof req->salt);
        *out_len = KMS_V4_REQUEST_LEN;
        return 0;
    }

    if (cap < KMS_V56_REQUEST_LEN)
        return KMS_ENOSPC;
    const struct kms_aes *aes = cipher(req->version_major);
    size_t clen;
    buf_put_le16(out, req->version_minor);
    buf_put_le16(out + 2, req->version_major);
    memcpy(out + 4, iv, 16);
    int rc = kms_cbc_encrypt(aes, iv, base, sizeof base, out + 20, cap - 20, &clen);
    memcpy(req->iv, iv, 16);
    kms_aes_decrypt(aes, iv, req->salt);
    kms_wipe(base, sizeof base);
    if (rc < 0)
        return rc;
    *out_len = 20 + clen;
    return 0;
}

int kms_decode_request(const uint8_t *msg, size_t len, struct kms_request *req)
{
    memset(req, 0, sizeof *req);
    if (len < 4)
        return KMS_ELENGTH;
    uint16_t minor = buf_le16(msg), major = buf_le16(msg + 2);
    if (major < 4 || major > 6 || minor != 0)
        return KMS_EVERSION;
    return kms_parse_request(msg, len, req);
}

int kms_parse_request(const uint8_t *msg, size_t len, struct kms_request *req)
{
    memset(req, 0, sizeof *req);
    if (len < 4)
        return KMS_ELENGTH;
    uint16_t minor = buf_le16(msg), major = buf_le16(msg + 2);

    struct rd r;
    if (major <= 4) {
        if (len < KMS_V4_REQUEST_LEN)
            return KMS_ELENGTH;
        rd_init(&r, msg, KMS_REQUEST_BASE_LEN);
        read_request_base(&r, req);
        uint8_t h[16];
        kms_v4_hash(msg, KMS_REQUEST_BASE_LEN, h);
        req->v4_hash_ok = kms_ct_equal(h, msg + KMS_REQUEST_BASE_LEN, 16);
        return rd_expect_end(&r);
    }

    if (len < KMS_V56_REQUEST_LEN)
        return KMS_ELENGTH;
    uint8_t plain[KMS_V56_REQUEST_LEN - 20];
    size_t plen;
    const struct kms_aes *aes = cipher(major);
    int rc = kms_cbc_decrypt(aes, msg + 4, msg + 20, KMS_V56_REQUEST_LEN - 20, plain, sizeof plain, &plen);
    if (rc == 0) {
        kms_aes_decrypt(aes, msg + 4, req->salt);
        memcpy(req->iv, msg + 4, 16);
    }
    if (rc == 0 && plen != KMS_REQUEST_BASE_LEN)
        rc = KMS_EPADDING;
    if (rc == 0) {
        rd_init(&r, plain, plen);
        read_request_base(&r, req);
        rc = rd_expect_end(&r);
        if (rc == 0 && (req->version_major != major || req->version_minor != minor))
            rc = KMS_EVERSION;
    }
    kms_wipe(plain, sizeof plain);
    if (rc < 0)
        kms_wipe(req, sizeof *req);
    return rc;
}

/* Writes the response base (protocol.md 3.2). Returns 0 or an error. */
static int write_response_base(const struct kms_request *req, const struct kms_response_params *p, struct wr *w)
{
    uint8_t epid16[KMS_EPID_MAX_BYTES];
    size_t units;
    if (!p->epid || !*p->epid)
        return KMS_EINVAL;
    int rc = utf16_from_utf8(p->epid, epid16, KMS_EPID_MAX_BYTES / 2 - 1, &units);
    if (rc < 0)
        return KMS_EINVAL;
    wr_u16le(w, req->version_minor);
    wr_u16le(w, req->version_major);
    wr_u32le(w, (uint32_t)(2 * (units + 1)));
    wr_bytes(w, epid16, 2 * units);
    wr_u16le(w, 0);
    guid_write(w, &req->cmid);
    wr_u64le(w, req->request_time);
    wr_u32le(w, p->current_count);
    wr_u32le(w, p->activation_interval);
    wr_u32le(w, p->renewal_interval);
    return w->err;
}

int kms_encode_response(const struct kms_request *req, const struct kms_response_params *p,
                        const struct kms_response_random *rnd, uint8_t *out, size_t cap, size_t *out_len)
{
    uint16_t major = req->version_major;
    if (major < 4 || major > 6 || req->version_minor != 0)
        return KMS_EVERSION;

    uint8_t plain[PLAIN_MAX];
    struct wr w;
    wr_init(&w, plain, sizeof plain);
    int rc = write_response_base(req, p, &w);
    if (rc < 0)
        return rc;

    if (major == 4) {
        size_t n = w.off;
        if (cap < n + 16)
            return KMS_ENOSPC;
        memcpy(out, plain, n);
        kms_v4_hash(plain, n, out + n);
        *out_len = n + 16;
        return 0;
    }

    if (major == 6 && memcmp(rnd->iv, req->iv, 16) == 0)
        return KMS_EINVAL;

    /* randomXor = R ^ S_req, hash = SHA-256(R) */
    uint8_t x[16], digest[32];
    for (int i = 0; i < 16; i++)
        x[i] = rnd->salt[i] ^ req->salt[i];
    wr_bytes(&w, x, 16);
    kms_sha256(rnd->salt, 16, digest);
    wr_bytes(&w, digest, 32);

    const struct kms_aes *aes = cipher(major);
    const uint8_t *iv = req->iv;
    if (major == 6) {
        wr_bytes(&w, p->hwid, KMS_HWID_LEN);
        wr_bytes(&w, req->salt, 16);
        uint8_t key[16], s_resp[16];
        kms_v6_mac_key(req->request_time, key);
        kms_aes_decrypt(aes, rnd->iv, s_resp);
        if (w.err == 0)
            kms_hmac_sha256(key, sizeof key, s_resp, sizeof s_resp, plain, w.off, digest);
        wr_bytes(&w, digest + 16, 16);
        kms_wipe(key, sizeof key);
        kms_wipe(s_resp, sizeof s_resp);
        iv = rnd->iv;
    }
    rc = w.err;
    if (rc == 0 && cap < 20)
        rc = KMS_ENOSPC;
    size_t clen = 0;
    if (rc == 0) {
        buf_put_le16(out, req->version_minor);
        buf_put_le16(out + 2, major);
        memcpy(out + 4, iv, 16);
        rc = kms_cbc_encrypt(aes, iv, plain, w.off, out + 20, cap - 20, &clen);
    }
    kms_wipe(plain, sizeof plain);
    kms_wipe(x, sizeof x);
    kms_wipe(digest, sizeof digest);
    if (rc < 0)
        return rc;
    *out_len = 20 + clen;
    return 0;
}

/*
 * Reads and checks the response base at the start of r (protocol.md 4.6, all versions): version, ePID
 * length and text, CMID and time. Leaves r after the base.
 */
static int read_response_base(const struct kms_request *req, struct rd *r, struct kms_response *resp)
{
    resp->version_minor = rd_u16le(r);
    resp->version_major = rd_u16le(r);
    resp->epid_bytes = rd_u32le(r);
    if (r->err)
        return KMS_EV_LENGTH;
    if (resp->version_minor != req->version_minor || resp->version_major != req->version_major)
        return KMS_EV_VERSION;
    uint32_t pb = resp->epid_bytes;
    if (pb % 2 || pb < 2 || pb > KMS_EPID_MAX_BYTES)
        return KMS_EV_EPID;
    const uint8_t *e = rd_view(r, pb);
    if (!e)
        return KMS_EV_LENGTH;
    size_t units = pb / 2 - 1;
    if (buf_le16(e + 2 * units) != 0 || utf16_validate(e, units) < 0)
        return KMS_EV_EPID;
    struct epid parsed;
    if (utf16_to_utf8(e, units, resp->epid, sizeof resp->epid, NULL) < 0 || epid_parse(resp->epid, &parsed) < 0)
        return KMS_EV_EPID;
    guid_read(r, &resp->cmid);
    resp->response_time = rd_u64le(r);
    resp->current_count = rd_u32le(r);
    resp->activation_interval = rd_u32le(r);
    resp->renewal_interval = rd_u32le(r);
    if (r->err)
        return KMS_EV_LENGTH;
    if (!guid_eq(&resp->cmid, &req->cmid))
        return KMS_EV_CMID;
    if (resp->response_time != req->request_time)
        return KMS_EV_TIME;
    return 0;
}

static int decode_v4(const struct kms_request *req, const uint8_t *msg, size_t len, struct kms_response *resp)
{
    struct rd r;
    rd_init(&r, msg, len);
    int rc = read_response_base(req, &r, resp);
    if (rc < 0)
        return rc;
    size_t base = r.off;
    if (len != base + 16)
        return KMS_EV_LENGTH;
    uint8_t h[16];
    kms_v4_hash(msg, base, h);
    return kms_ct_equal(h, msg + base, 16) ? 0 : KMS_EV_HASH;
}

static int check_v56_body(const struct kms_request *req, const uint8_t *plain, size_t plen, const struct kms_aes *aes,
                          const uint8_t *resp_iv, struct kms_response *resp)
{
    struct rd r;
    rd_init(&r, plain, plen);
    int rc = read_response_base(req, &r, resp);
    if (rc < 0)
        return rc;
    size_t base = r.off;
    size_t want = base + 48 + (req->version_major > 5 ? 40 : 0);
    if (plen != want)
        return KMS_EV_LENGTH;

    /* R' = randomXor ^ S_req; SHA-256(R') must equal the hash */
    uint8_t rr[16], digest[32];
    const uint8_t *x = rd_view(&r, 16), *hash = rd_view(&r, 32);
    for (int i = 0; i < 16; i++)
        rr[i] = x[i] ^ req->salt[i];
    kms_sha256(rr, sizeof rr, digest);
    kms_wipe(rr, sizeof rr);
    if (!kms_ct_equal(digest, hash, 32))
        return KMS_EV_SALT;
    if (req->version_major <= 5)
        return 0;

    rd_bytes(&r, resp->hwid, KMS_HWID_LEN);
    const uint8_t *xor_salts = rd_view(&r, 16);
    const uint8_t *mac = rd_view(&r, 16);
    if (!kms_ct_equal(xor_salts, req->salt, 16))
        return KMS_EV_XORSALT;
    uint8_t key[16], s_resp[16];
    kms_v6_mac_key(resp->response_time, key);
    kms_aes_decrypt(aes, resp_iv, s_resp);
    kms_hmac_sha256(key, sizeof key, s_resp, sizeof s_resp, plain, plen - 16, digest);
    kms_wipe(key, sizeof key);
    kms_wipe(s_resp, sizeof s_resp);
    return kms_ct_equal(digest + 16, mac, 16) ? 0 : KMS_EV_HMAC;
}

static int decode_v56(const struct kms_request *req, const uint8_t *msg, size_t len, struct kms_response *resp)
{
    if (len < 4 + 16 + 16 || (len - 20) % 16 != 0 || len > KMS_RESPONSE_MAX_LEN)
        return KMS_EV_LENGTH;
    const uint8_t *iv = msg + 4;
    memcpy(resp->iv, iv, 16);
    if (req->version_major == 5 && memcmp(iv, req->iv, 16) != 0)
        return KMS_EV_IV;
    if (req->version_major > 5 && memcmp(iv, req->iv, 16) == 0)
        return KMS_EV_IV;

    uint8_t plain[KMS_RESPONSE_MAX_LEN];
    size_t plen;
    const struct kms_aes *aes = cipher(req->version_major);
    int rc = kms_cbc_decrypt(aes, iv, msg + 20, len - 20, plain, sizeof plain, &plen);
    if (rc < 0)
        rc = KMS_EV_DECRYPT;
    else
        rc = check_v56_body(req, plain, plen, aes, iv, resp);
    kms_wipe(plain, sizeof plain);
    return rc;
}

int kms_decode_response(const struct kms_request *req, const uint8_t *msg, size_t len, struct kms_response *resp)
{
    memset(resp, 0, sizeof *resp);
    if (len < 4)
        return KMS_EV_LENGTH;
    resp->version_minor = buf_le16(msg);
    resp->version_major = buf_le16(msg + 2);
    if (resp->version_minor != req->version_minor || resp->version_major != req->version_major)
        return KMS_EV_VERSION;
    if (req->version_major <= 4)
        return decode_v4(req, msg, len, resp);
    return decode_v56(req, msg, len, resp);
}

const char *kms_hresult_name(uint32_t hr)
{
    switch (hr) {
    case 0x8007000Du: return "ERROR_INVALID_DATA";
    case 0xC004F038u: return "SL_E_VL_NOT_ENOUGH_COUNT";
    case 0xC004F039u: return "SL_E_VL_BINDING_SERVICE_NOT_ENABLED";
    case 0xC004F041u: return "SL_E_VL_KEY_MANAGEMENT_SERVICE_NOT_ACTIVATED";
    case 0xC004F042u: return "SL_E_VL_KEY_MANAGEMENT_SERVICE_ID_MISMATCH";
    case 0xC004F06Cu: return "SL_E_VL_INVALID_TIMESTAMP";
    case 0xC004F074u: return "SL_E_VL_BINDING_SERVICE_UNAVAILABLE";
    case 0xC004D104u: return "SL_REMAPPING_SP_STATUS_INVALIDARG";
    case 0x1C010003u: return "nca_unk_if";
    case 0x1C01000Bu: return "nca_proto_error";
    default: return NULL;
    }
}

/* The licence-status table: one row per status, in status order. */
static const struct {
    const char *name;  /* kmsd's name */
    const char *slmgr; /* slmgr /dli's wording */
} license_statuses[KMS_LICENSE_STATUS_COUNT] = {
    {"unlicensed", "Unlicensed"},
    {"licensed", "Licensed"},
    {"initial grace", "Initial grace period"},
    {"out-of-tolerance grace", "License expired or Hardware out of tolerance"},
    {"non-genuine grace", "Non-genuine grace period"},
    {"notification", "Notification"},
    {"extended grace", "Extended grace period"},
};

const char *kms_license_status_name(uint32_t status)
{
    return status < KMS_LICENSE_STATUS_COUNT ? license_statuses[status].name : "unknown";
}

const char *kms_license_status_slmgr(uint32_t status)
{
    return status < KMS_LICENSE_STATUS_COUNT ? license_statuses[status].slmgr : "unknown";
}

void kms_format_hwid(const uint8_t hwid[KMS_HWID_LEN], char out[KMS_HWID_TEXT_LEN + 1])
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < KMS_HWID_LEN; i++) {
        out[2 * i] = hex[hwid[i] >> 4];
        out[2 * i + 1] = hex[hwid[i] & 15];
    }
    out[KMS_HWID_TEXT_LEN] = '\0';
}
