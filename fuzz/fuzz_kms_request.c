/*
 * Fuzz target: the server's KMS request decoder (kms_decode_request), and kms_parse_request, over one KMS
 * message (the bytes inside the NDR conformant array) of any version.
 *
 * Invariants: a request the server accepts is also accepted by kms_parse_request with the same fields; its
 * workstation name converts without overrunning the output; the response the server encodes for it is
 * accepted by the client verifier (kms_decode_response) with the fields the server chose.
 */
#include "fuzz.h"

#include <string.h>

#include "kms.h"

/* Fixed server answer: a well-formed ePID (Windows Server 2019 host) and the default intervals. */
static const struct kms_response_params params = {
    .epid = "03612-00206-551-084401-03-1033-17763.0000-0082024",
    .current_count = 50,
    .activation_interval = 120,
    .renewal_interval = 10080,
    .hwid = { 0x36, 0x4f, 0x46, 0x3a, 0x88, 0x63, 0xd3, 0x5f },
};

static void same_request(const struct kms_request *a, const struct kms_request *b)
{
    fuzz_check(a->version_major == b->version_major && a->version_minor == b->version_minor);
    fuzz_check(a->is_client_vm == b->is_client_vm && a->license_status == b->license_status);
    fuzz_check(a->grace_time == b->grace_time && a->required_count == b->required_count);
    fuzz_check(a->request_time == b->request_time);
    fuzz_check(memcmp(&a->app_id, &b->app_id, sizeof a->app_id) == 0);
    fuzz_check(memcmp(&a->sku_id, &b->sku_id, sizeof a->sku_id) == 0);
    fuzz_check(memcmp(&a->kms_id, &b->kms_id, sizeof a->kms_id) == 0);
    fuzz_check(memcmp(&a->cmid, &b->cmid, sizeof a->cmid) == 0);
    fuzz_check(memcmp(&a->prev_cmid, &b->prev_cmid, sizeof a->prev_cmid) == 0);
    fuzz_check(memcmp(a->machine_name, b->machine_name, sizeof a->machine_name) == 0);
    fuzz_check(memcmp(a->iv, b->iv, sizeof a->iv) == 0 && memcmp(a->salt, b->salt, sizeof a->salt) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kms_request parsed;
    int prc = kms_parse_request(data, size, &parsed);

    struct kms_request req;
    if (kms_decode_request(data, size, &req) != 0)
        return 0;
    fuzz_check(prc == 0);
    same_request(&req, &parsed);

    char name[3 * KMS_MACHINE_NAME_UNITS + 1];
    memset(name, 0x5a, sizeof name);
    int nrc = kms_request_machine_name(&req, name, sizeof name);
    fuzz_check(nrc == 0 || nrc < 0);
    fuzz_check(memchr(name, '\0', sizeof name) != NULL);

    struct kms_response_random rnd;
    memset(rnd.salt, 0xa5, sizeof rnd.salt);
    memcpy(rnd.iv, req.iv, sizeof rnd.iv);
    rnd.iv[0] ^= 0xff; /* V6: the response IV must differ from the request's */
    uint8_t out[KMS_RESPONSE_MAX_LEN];
    size_t n = 0;
    fuzz_check(kms_encode_response(&req, &params, &rnd, out, sizeof out, &n) == 0);
    fuzz_check(n > 0 && n <= sizeof out);

    struct kms_response resp;
    fuzz_check(kms_decode_response(&req, out, n, &resp) == 0);
    fuzz_check(resp.version_major == req.version_major && resp.version_minor == req.version_minor);
    fuzz_check(strcmp(resp.epid, params.epid) == 0);
    fuzz_check(resp.current_count == params.current_count);
    fuzz_check(memcmp(&resp.cmid, &req.cmid, sizeof resp.cmid) == 0);
    return 0;
}
