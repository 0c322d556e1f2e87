/*
 * Fuzz target: the client's response path: ndr_decode_response over an RPC RESPONSE stub and
 * kms_decode_response (decode + verify) against a fixed request of each version.
 *
 * Input: one selector byte, then the bytes. Selector bits 0-1 pick the request (0: V4, 1: V5, 2 and 3: V6,
 * the requests of tests/fixtures/kat/exchanges.json); bit 2 set: the bytes are an NDR response stub (NDR64
 * when bit 3 is set), decoded with ndr_decode_response and, in the success form, its message verified;
 * bit 2 clear: the bytes are the KMS response message itself.
 *
 * Invariants: decoding succeeds only with a NUL-terminated ePID inside its buffer and the request's version
 * and client machine id echoed; an NDR success form's message view lies inside the stub.
 *
 * Static context, set up once and read-only afterwards: the three decoded requests.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

#include "kms.h"
#include "ndr.h"

/* The exchanges.json requests (V4, V5, V6: same fields, IV 10 11 .. 1f for V5/V6), as hex. */
static const char *const request_hex[3] = {
    "000004000000000002000000c0a800003427c95582d6714d983ed6ec3f16059f9273e62da7b72a46b1ca108dd189f5884f13e258"
    "118e174d9cb291069c15114878563412bc9aef4d8123456789abcdef1900000000a0883a1bb4da01000000000000000000000000"
    "000000006b00610074002d0063006c00690065006e0074002e006500780061006d0070006c0065002e0074006500730074000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000c5b745ad2d39ed2aec892772cc19c777",
    "00000500101112131415161718191a1b1c1d1e1fb536ecc9a7895cd1adcd3357ccbed627f9c5e19c03efc6fe400514b95f531f73"
    "f59a45f851daf9466eb616b7d3e1ea2391c0a41b1fe231411ab3c87138fefe9d5b14136befd97300d4528eb0d0070e0fa6e0af7f"
    "be9e6869da432e2b8052bbec1bd50ffbdbaf36778a94f0db6303a18419d2b78ecdc6ca10f3ecce4c5f711c6ccdceb9d1e6fdf16c"
    "f02986a4287c1843f8cd014200e69a449d2fe891f4b5b980aceaee0aa17a4bf3f52d7d51c92948651f2076181737dd403bfdd94b"
    "dff7d516578673fae91142b51c82d0ec2cf1d8954b160ad1879a8585e5448710cf70e9b7d99fea4f5a380cfa626e2818afed691d",
    "00000600101112131415161718191a1b1c1d1e1fe7303ceeaa6edabfb28ece74e6704c3172480059c691d44e354eb489aded5cb6"
    "2f8acc896c23dae2c139e19f4e2fb2a82e689af8238507e04edb1aee1ac017de12873e4124ddd584c32ea4073034722f585562c7"
    "9a4df39dd8dfd9024803892ca6c118b4d0ad3c4d0774ba034a30eae3ba66c2ce95378ea87d4e2762657571a6fef5eda77da5ac84"
    "48e9e3f54d8a4045adfbe344fd2b3cc727ae8f6d921ceb9dd6254d09a5ad2dea16c2979aea0f0a62cbc005c16b9892e5100f15d8"
    "fd1f495d125986badfe19267b0cdef9a06f9b75c79b5bb7c8ccb0c42abf291f853fb86b941f2aced9f31b07bb9e7e5ce9dfcb9f1",
};

static unsigned hex_nibble(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

static const struct kms_request *request_once(unsigned i)
{
    static struct kms_request req[3];
    static bool ready;
    if (!ready) {
        for (unsigned k = 0; k < 3; k++) {
            uint8_t msg[KMS_V56_REQUEST_LEN];
            size_t n = strlen(request_hex[k]) / 2;
            fuzz_check(n <= sizeof msg);
            for (size_t j = 0; j < n; j++)
                msg[j] = (uint8_t)(hex_nibble(request_hex[k][2 * j]) << 4 | hex_nibble(request_hex[k][2 * j + 1]));
            fuzz_check(kms_decode_request(msg, n, &req[k]) == 0);
        }
        ready = true;
    }
    return &req[i];
}

static void verify(const struct kms_request *req, const uint8_t *msg, size_t len)
{
    struct kms_response resp;
    if (kms_decode_response(req, msg, len, &resp) != 0)
        return;
    fuzz_check(memchr(resp.epid, '\0', sizeof resp.epid) != NULL);
    fuzz_check(resp.version_major == req->version_major && resp.version_minor == req->version_minor);
    fuzz_check(memcmp(&resp.cmid, &req->cmid, sizeof resp.cmid) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const struct kms_request *req = request_once((sel & 3) == 3 ? 2 : sel & 3);
    data++;
    size--;
    if (!(sel & 4)) {
        verify(req, data, size);
        return 0;
    }
    struct ndr_response nr;
    if (ndr_decode_response(data, size, (sel & 8) != 0, &nr) != 0)
        return 0;
    if (nr.error_form) {
        fuzz_check(nr.msg == NULL && nr.hresult != 0);
        return 0;
    }
    fuzz_check(nr.msg >= data && nr.len <= size && (size_t)(nr.msg - data) <= size - nr.len);
    verify(req, nr.msg, nr.len);
    return 0;
}
