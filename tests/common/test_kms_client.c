/* kms_client: the pure client half. A whole exchange against the server-side encoders of the core (BIND,
 * BIND_ACK, REQUEST, RESPONSE), then each way an answer can fail: status, code, HRESULT and message. */
#include "testutil.h"

#include <string.h>

#include "buf.h"
#include "err.h"
#include "kms_client.h"
#include "ndr.h"

#define PEER "192.0.2.7:1688"
#define EPID "03612-00206-551-234567-03-65535-26100.0000-3662024"
#define FLAGS (RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG)

/* How the fake host answers the REQUEST. */
enum answer { A_OK, A_LOW_COUNT, A_HRESULT, A_FAULT, A_BAD_CALLID, A_BAD_CTX, A_CORRUPT, A_FRAGMENT };

/* One exchange: the client's side state, and the bytes of the host's reply. */
struct ex {
    struct rpc_bind offered;
    struct rpc_bind_ack ack;
    uint16_t ctx_id;
    enum rpc_syntax syntax;
    struct kms_request req;
    uint8_t out[1024];
    size_t out_len;
    uint8_t reply[1024];
    size_t reply_len;
    struct kmsc_result res;
};

static void encode_pdu(const struct rpc_pdu *pdu, uint8_t *buf, size_t cap, size_t *len)
{
    struct wr w;
    wr_init(&w, buf, cap);
    assert_int_equal(rpc_encode(pdu, &w), 0);
    *len = w.off;
}

/* BIND from the client, BIND_ACK from rpc_bind_reply, checked by the client: NDR64 is picked. */
static void bind(struct ex *e)
{
    assert_int_equal(kms_client_encode_bind(2, true, true, FLAGS, &e->offered, e->out, sizeof e->out, &e->out_len), 0);
    struct rpc_pdu req, ack;
    assert_int_equal(rpc_decode(e->out, e->out_len, &req), 0);
    assert_int_equal(req.hdr.ptype, RPC_PTYPE_BIND);
    struct rpc_bind_policy pol = {.ndr32 = true, .ndr64 = true, .btfn = true};
    struct rpc_assoc a;
    rpc_assoc_init(&a);
    assert_int_equal(rpc_bind_reply(&req, &pol, 0x1234, "1688", &a, &ack), 0);
    encode_pdu(&ack, e->reply, sizeof e->reply, &e->reply_len);
    struct rpc_pdu got;
    assert_int_equal(kms_client_decode_reply(e->reply, e->reply_len, "BIND", PEER, &got, &e->res), KMSC_OK);
    assert_int_equal(kms_client_check_bind(&got, 2, &e->offered, PEER, &e->ack, &e->ctx_id, &e->syntax, &e->res),
                     KMSC_OK);
    assert_int_equal(e->syntax, RPC_SYNTAX_NDR64);
    assert_int_equal(e->ack.assoc_group, 0x1234);
}

static void request_template(struct kms_request *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 16; i++) {
        r->app_id.b[i] = (uint8_t)i;
        r->sku_id.b[i] = (uint8_t)(0x20 + i);
        r->kms_id.b[i] = (uint8_t)(0x40 + i);
        r->cmid.b[i] = (uint8_t)(0x60 + i);
    }
    r->version_major = 6;
    r->required_count = 25;
    r->license_status = KMS_LS_OOB_GRACE;
    r->grace_time = 43200;
    assert_int_equal(kms_request_set_machine_name(r, "unit-test"), 0);
}

/* The host's RESPONSE PDU to the REQUEST in e->out, shaped by `how`. */
static void host_reply(struct ex *e, enum answer how)
{
    struct rpc_pdu pdu;
    assert_int_equal(rpc_decode(e->out, e->out_len, &pdu), 0);
    assert_int_equal(pdu.hdr.ptype, RPC_PTYPE_REQUEST);
    const uint8_t *msg;
    size_t mlen;
    assert_int_equal(ndr_decode_request(pdu.request.stub, pdu.request.stub_len, true, &msg, &mlen), 0);
    struct kms_request sreq;
    assert_int_equal(kms_decode_request(msg, mlen, &sreq), 0);
    struct kms_response_params p = {.epid = EPID,
                                    .current_count = how == A_LOW_COUNT ? 24 : 50,
                                    .activation_interval = 120,
                                    .renewal_interval = 10080};
    struct kms_response_random rnd;
    memset(rnd.salt, 0x5a, sizeof rnd.salt);
    memset(rnd.iv, 0xa5, sizeof rnd.iv);
    uint8_t resp[KMS_RESPONSE_MAX_LEN], stub[KMS_RESPONSE_MAX_LEN + 64];
    size_t rlen;
    assert_int_equal(kms_encode_response(&sreq, &p, &rnd, resp, sizeof resp, &rlen), 0);
    if (how == A_CORRUPT)
        resp[rlen - 1] ^= 1u; /* the last cipher block: its padding no longer decrypts */
    struct wr w;
    wr_init(&w, stub, sizeof stub);
    if (how == A_HRESULT)
        assert_int_equal(ndr_encode_error(&w, true, KMS_HR_INVALID_DATA), 0);
    else
        assert_int_equal(ndr_encode_response(&w, true, resp, rlen), 0);
    struct rpc_pdu out;
    uint32_t call_id = pdu.hdr.call_id + (how == A_BAD_CALLID ? 1u : 0u);
    if (how == A_FAULT)
        rpc_fault_init(&out, call_id, 0x1C010003u);
    else
        rpc_response_init(&out, call_id, (uint16_t)(pdu.request.ctx_id + (how == A_BAD_CTX ? 1 : 0)), stub, w.off);
    if (how == A_FRAGMENT)
        out.hdr.flags = RPC_PFC_FIRST_FRAG;
    encode_pdu(&out, e->reply, sizeof e->reply, &e->reply_len);
}

/* Sends one activation (call_id 3) answered as `how`; returns the client's verdict. */
static enum kmsc_status activate(struct ex *e, enum answer how)
{
    memset(e, 0, sizeof *e);
    bind(e);
    request_template(&e->req);
    uint8_t iv[16];
    memset(iv, 0x11, sizeof iv);
    assert_int_equal(kms_client_encode_activation(&e->req, true, e->ctx_id, 3, iv, 0x01d0000000000000ull, e->out,
                                                  sizeof e->out, &e->out_len, &e->res),
                     KMSC_OK);
    assert_true(e->req.request_time == 0x01d0000000000000ull);
    host_reply(e, how);
    struct rpc_pdu pdu;
    enum kmsc_status st = kms_client_decode_reply(e->reply, e->reply_len, "REQUEST", PEER, &pdu, &e->res);
    if (st != KMSC_OK)
        return st;
    return kms_client_check_activation(&pdu, &e->req, true, e->ctx_id, 3, PEER, &e->res);
}

static void exchange_ok(void **state)
{
    (void)state;
    static struct ex e;
    assert_int_equal(activate(&e, A_OK), KMSC_OK);
    assert_string_equal(e.res.msg, "");
    assert_string_equal(e.res.resp.epid, EPID);
    assert_int_equal(e.res.resp.current_count, 50);
    assert_int_equal(e.res.resp.renewal_interval, 10080);
    assert_false(e.res.has_hresult);
}

static void exchange_failures(void **state)
{
    (void)state;
    static struct ex e;
    assert_int_equal(activate(&e, A_LOW_COUNT), KMSC_COUNT);
    assert_int_equal(e.res.status, KMSC_COUNT);
    assert_true(e.res.has_hresult);
    assert_int_equal(e.res.hresult, KMS_HR_NOT_ENOUGH_COUNT);
    assert_int_equal(e.res.resp.current_count, 24);
    assert_non_null(strstr(e.res.msg, "current count 24 is below the required 25"));

    assert_int_equal(activate(&e, A_HRESULT), KMSC_REFUSED);
    assert_int_equal(e.res.hresult, KMS_HR_INVALID_DATA);
    assert_non_null(strstr(e.res.msg, PEER " refused the activation: HRESULT 0x8007000D"));

    assert_int_equal(activate(&e, A_FAULT), KMSC_RPC);
    assert_true(e.res.has_hresult);
    assert_int_equal(e.res.hresult, 0x1C010003u);
    assert_non_null(strstr(e.res.msg, "answered REQUEST with FAULT, status 0x1C010003"));

    assert_int_equal(activate(&e, A_BAD_CALLID), KMSC_RPC);
    assert_non_null(strstr(e.res.msg, "RESPONSE call_id 4 differs from the REQUEST's 3"));

    assert_int_equal(activate(&e, A_BAD_CTX), KMSC_RPC);
    assert_non_null(strstr(e.res.msg, "context id"));

    assert_int_equal(activate(&e, A_CORRUPT), KMSC_VERIFY);
    assert_int_equal(e.res.err, KMS_EV_DECRYPT);
    assert_non_null(strstr(e.res.msg, "failed verification: verify: decryption failed"));

    assert_int_equal(activate(&e, A_FRAGMENT), KMSC_RPC);
    assert_int_equal(e.res.err, KMS_ERPC_FRAG);
}

static void bind_failures(void **state)
{
    (void)state;
    struct rpc_bind offered;
    struct rpc_bind_ack ack;
    uint16_t ctx;
    enum rpc_syntax syn;
    struct kmsc_result res;
    uint8_t buf[512];
    size_t len;
    memset(&res, 0, sizeof res);
    assert_int_equal(kms_client_encode_bind(2, false, false, FLAGS, &offered, buf, sizeof buf, &len), 0);
    assert_int_equal(offered.n_ctx, 1);
    struct rpc_pdu pdu;
    memset(&pdu, 0, sizeof pdu);
    pdu.hdr.ptype = RPC_PTYPE_BIND_NAK;
    assert_int_equal(kms_client_check_bind(&pdu, 2, &offered, PEER, &ack, &ctx, &syn, &res), KMSC_RPC);
    assert_non_null(strstr(res.msg, "rejected the BIND"));
    pdu.hdr.ptype = RPC_PTYPE_RESPONSE;
    assert_int_equal(kms_client_check_bind(&pdu, 2, &offered, PEER, &ack, &ctx, &syn, &res), KMSC_RPC);
    assert_int_equal(res.err, KMS_ERPC_PTYPE);
    pdu.hdr.ptype = RPC_PTYPE_BIND_ACK;
    pdu.hdr.call_id = 3;
    assert_int_equal(kms_client_check_bind(&pdu, 2, &offered, PEER, &ack, &ctx, &syn, &res), KMSC_RPC);
    assert_non_null(strstr(res.msg, "call_id 3 differs"));
    pdu.hdr.call_id = 2; /* no results at all: nothing usable */
    assert_int_equal(kms_client_check_bind(&pdu, 2, &offered, PEER, &ack, &ctx, &syn, &res), KMSC_RPC);
    assert_true(res.err < 0);
    /* the encoder's own bound */
    assert_true(kms_client_encode_bind(2, true, true, FLAGS, &offered, buf, 20, &len) < 0);
}

static void texts(void **state)
{
    (void)state;
    struct kmsc_target t;
    char msg[KMSC_MSG_MAX];
    assert_int_equal(kms_client_parse_target("kms.example", &t, msg, sizeof msg), 0);
    assert_string_equal(t.host, "kms.example");
    assert_string_equal(t.port, KMSC_DEFAULT_PORT);
    assert_int_equal(kms_client_parse_target("[::1]:65535", &t, msg, sizeof msg), 0);
    assert_string_equal(t.host, "::1");
    assert_string_equal(t.port, "65535");
    assert_int_equal(kms_client_parse_target("fe80::1", &t, msg, sizeof msg), 0);
    assert_string_equal(t.port, "1688");
    assert_int_equal(kms_client_parse_target("[192.0.2.1]", &t, msg, sizeof msg), KMS_EINVAL);
    assert_non_null(strstr(msg, "brackets are for IPv6"));
    assert_int_equal(kms_client_parse_target("h:0", &t, msg, sizeof msg), KMS_EINVAL);
    assert_non_null(strstr(msg, "bad port"));
    assert_int_equal(kms_client_parse_target(":1688", &t, msg, sizeof msg), KMS_EINVAL);

    /* the family: any after parsing; an address literal of the other family is refused, a name never is */
    static const struct {
        const char *target;
        enum kmsc_family f;
        const char *conflict; /* NULL: accepted */
    } fam[] = {
        {"192.0.2.1", KMSC_FAMILY_IPV4, NULL},
        {"192.0.2.1:1700", KMSC_FAMILY_IPV6, "--x conflicts with the IPv4 address 192.0.2.1"},
        {"[2001:db8::1]:1700", KMSC_FAMILY_IPV6, NULL},
        {"2001:db8::1", KMSC_FAMILY_IPV4, "--x conflicts with the IPv6 address 2001:db8::1"},
        {"[fe80::1%eth0]", KMSC_FAMILY_IPV4, "--x conflicts with the IPv6 address fe80::1%eth0"},
        {"::ffff:192.0.2.1", KMSC_FAMILY_IPV4, "IPv6 address ::ffff:192.0.2.1"},
        {"kms.example", KMSC_FAMILY_IPV4, NULL},
        {"kms.example", KMSC_FAMILY_IPV6, NULL},
        {"192.0.2", KMSC_FAMILY_IPV6, NULL}, /* not a dotted quad: a name to getaddrinfo */
        {"192.0.2.1", KMSC_FAMILY_ANY, NULL},
    };
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++) {
        assert_int_equal(kms_client_parse_target(fam[i].target, &t, msg, sizeof msg), 0);
        assert_int_equal(t.family, KMSC_FAMILY_ANY);
        msg[0] = '\0';
        int rc = kms_client_set_family(&t, fam[i].f, "--x", msg, sizeof msg);
        if (!fam[i].conflict) {
            assert_int_equal(rc, 0);
            assert_int_equal(t.family, fam[i].f);
        } else {
            assert_int_equal(rc, KMS_EINVAL);
            assert_int_equal(t.family, KMSC_FAMILY_ANY);
            assert_non_null(strstr(msg, fam[i].conflict));
        }
    }

    unsigned long v = 7;
    assert_int_equal(kms_client_parse_uint("10", 1, 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(kms_client_parse_uint("11", 1, 10, &v), KMS_EINVAL);
    assert_int_equal(kms_client_parse_uint("0", 1, 10, &v), KMS_EINVAL);
    assert_int_equal(kms_client_parse_uint("-1", 0, 10, &v), KMS_EINVAL);
    assert_int_equal(kms_client_parse_uint(" 1", 0, 10, &v), KMS_EINVAL);
    assert_int_equal(kms_client_parse_uint("1x", 0, 10, &v), KMS_EINVAL);
    assert_int_equal(kms_client_parse_uint("", 0, 10, &v), KMS_EINVAL);
    assert_int_equal(v, 10);
}

static void small_parts(void **state)
{
    (void)state;
    static const enum kmsc_status order[] = {KMSC_OK,      KMSC_COUNT,   KMSC_REFUSED, KMSC_VERIFY, KMSC_RPC,
                                             KMSC_CONNECT, KMSC_NO_HOST, KMSC_NO_SRV,  KMSC_USAGE,  KMSC_INTERNAL};
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < 10; j++)
            assert_int_equal(kms_client_worse(order[i], order[j]), order[i > j ? i : j]);

    struct guid g;
    memset(g.b, 0xff, sizeof g.b);
    kms_client_uuid_v4(&g);
    assert_int_equal(g.b[7], 0x4f);
    assert_int_equal(g.b[8], 0xbf);
    memset(g.b, 0, sizeof g.b);
    kms_client_uuid_v4(&g);
    assert_int_equal(g.b[7], 0x40);
    assert_int_equal(g.b[8], 0x80);

    assert_true(kms_client_shift_time(50000000u, 0) == 50000000u);
    assert_true(kms_client_shift_time(50000000u, 5) == 100000000u);
    assert_true(kms_client_shift_time(50000000u, -5) == 0u);
    assert_true(kms_client_shift_time(50000000u, -6) == 0u);
    assert_true(kms_client_shift_time(50000000u, -4) == 10000000u);

    struct kmsc_result res;
    memset(&res, 0, sizeof res);
    char longer[400];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(kms_client_fail(&res, KMSC_VERIFY, KMS_EV_TIME, "%s", longer), KMSC_VERIFY);
    assert_int_equal(res.status, KMSC_VERIFY);
    assert_int_equal(res.err, KMS_EV_TIME);
    assert_int_equal(strlen(res.msg), KMSC_MSG_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exchange_ok), cmocka_unit_test(exchange_failures), cmocka_unit_test(bind_failures),
        cmocka_unit_test(texts),       cmocka_unit_test(small_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
