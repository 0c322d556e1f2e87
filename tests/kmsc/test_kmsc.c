/* kmsc without kmsd: command-line errors, --list-products, HOST[:PORT] parsing, connect failures, and whole
 * exchanges against a small fake KMS host built from the core's server side (rpc_bind_reply, ndr/kms decode and
 * encode). The fake runs in a thread on a loopback port chosen by the kernel and misbehaves per request on
 * demand, so every exit code of kmsc is produced by a real exchange. kmsc itself runs as a subprocess
 * (its path comes in the KMSC environment variable). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "client.h"
#include "discover.h"
#include "epid.h"
#include "err.h"
#include "guid.h"
#include "kms.h"
#include "kms_crypto.h"
#include "ndr.h"
#include "products.h"
#include "timeutil.h"
#include "rpc.h"

/* ---- the fake host ---- */

enum fake_mode {
    FK_OK = 0,
    FK_REFUSE,    /* NDR error stub with 0xC004F042 */
    FK_LOW_COUNT, /* currentClientCount = requiredClientCount - 1 */
    FK_CORRUPT,   /* flip the last byte of the KMS response */
    FK_CLOSE,     /* close the connection instead of replying */
    FK_FAULT,     /* FAULT nca_unk_if */
    FK_HANG,      /* never reply */
    FK_BAD_CALLID,
    FK_BAD_CTX,
    FK_BIG_FRAG, /* a header announcing a 65535-byte PDU */
    FK_SLOW,     /* the reply one byte at a time */
    FK_FRAGMENT, /* RESPONSE without LAST_FRAG */
};

#define PLAN_MAX 8
#define FAKE_EPID "03612-00206-568-381813-03-1033-17763.0000-2352024"

struct fake {
    int lfd;
    int stop[2];
    uint16_t port;
    pthread_t th;
    /* behaviour, set before start */
    enum fake_mode plan[PLAN_MAX + 1]; /* by request number (1-based, counted over all connections) */
    struct rpc_bind_policy pol;
    bool silent; /* read the BIND, never answer it (as a server of another protocol that waits for more) */
    /* observations, read after stop */
    unsigned conns, binds, requests;
    unsigned bind_offers;
    uint8_t bind_flags; /* pfc_flags of the last BIND */
    enum rpc_syntax last_syntax;
    struct kms_request last;
    uint32_t sent_count;
    uint8_t hwid[KMS_HWID_LEN];
    uint8_t hwid_by_request[PLAN_MAX + 1][KMS_HWID_LEN]; /* the HWID sent to request i (1-based), when one was */
};

/* Waits for fd to become readable; false when the stop pipe fired or 10 s passed (a test bug). */
static bool fake_wait(struct fake *f, int fd)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = f->stop[0], .events = POLLIN}};
    for (;;) {
        int rc = poll(p, 2, 10000);
        if (rc < 0 && errno == EINTR)
            continue;
        return rc > 0 && !(p[1].revents & POLLIN);
    }
}

static bool fake_recv(struct fake *f, int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        if (!fake_wait(f, fd))
            return false;
        ssize_t k = recv(fd, p + got, n - got, 0);
        if (k <= 0)
            return false;
        got += (size_t)k;
    }
    return true;
}

static void fake_send(int fd, const uint8_t *p, size_t n, bool slow)
{
    size_t off = 0;
    while (off < n) {
        ssize_t k = send(fd, p + off, slow ? 1 : n - off, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        off += (size_t)k;
        if (slow) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
}

static void fake_send_pdu(int fd, const struct rpc_pdu *pdu, bool slow)
{
    uint8_t out[KMS_LIMIT_PDU_MAX];
    struct wr w;
    wr_init(&w, out, sizeof out);
    if (rpc_encode(pdu, &w) == 0)
        fake_send(fd, out, w.off, slow);
}

/* Answers one decoded REQUEST; returns false to drop the connection. */
static bool fake_request(struct fake *f, int fd, const struct rpc_pdu *pdu, const struct rpc_assoc *assoc)
{
    f->requests++;
    enum fake_mode m = f->requests <= PLAN_MAX ? f->plan[f->requests] : FK_OK;
    uint32_t call_id = pdu->hdr.call_id;
    enum rpc_syntax syn = rpc_assoc_syntax(assoc, pdu->request.ctx_id);
    f->last_syntax = syn;
    if (syn == RPC_SYNTAX_NONE || m == FK_FAULT) {
        struct rpc_pdu out;
        rpc_fault_init(&out, call_id, RPC_STATUS_UNK_IF);
        fake_send_pdu(fd, &out, false);
        return true;
    }
    if (m == FK_CLOSE)
        return false;
    if (m == FK_HANG) {
        uint8_t b;
        while (fake_wait(f, fd) && recv(fd, &b, 1, 0) > 0)
            ;
        return false;
    }
    if (m == FK_BIG_FRAG) {
        uint8_t h[RPC_HEADER_LEN] = {5, 0, RPC_PTYPE_RESPONSE, 3, 0x10, 0, 0, 0, 0xff, 0xff, 0, 0};
        buf_put_le32(h + 12, call_id);
        fake_send(fd, h, sizeof h, false);
        return true;
    }

    bool ndr64 = syn == RPC_SYNTAX_NDR64;
    uint8_t stub[256 + KMS_RESPONSE_MAX_LEN];
    struct wr w;
    wr_init(&w, stub, sizeof stub);
    const uint8_t *msg;
    size_t n;
    struct kms_request req;
    int rc = ndr_decode_request(pdu->request.stub, pdu->request.stub_len, ndr64, &msg, &n);
    if (rc == 0)
        (void)kms_parse_request(msg, n, &f->last); /* what was sent, also for versions a host refuses */
    if (rc != 0 || kms_decode_request(msg, n, &req) != 0) {
        ndr_encode_error(&w, ndr64, KMS_HR_INVALID_DATA);
    } else if (m == FK_REFUSE) {
        ndr_encode_error(&w, ndr64, KMS_HR_ID_MISMATCH);
    } else {
        struct kms_response_params p = {.epid = FAKE_EPID, .activation_interval = 120, .renewal_interval = 10080};
        p.current_count = m == FK_LOW_COUNT ? req.required_count - 1 : 2 * req.required_count + 1;
        f->sent_count = p.current_count;
        struct kms_response_random rnd;
        if (kms_random_bytes(&rnd, sizeof rnd) != 0 || kms_random_bytes(f->hwid, sizeof f->hwid) != 0)
            return false;
        memcpy(p.hwid, f->hwid, sizeof p.hwid);
        if (f->requests <= PLAN_MAX)
            memcpy(f->hwid_by_request[f->requests], f->hwid, sizeof f->hwid);
        uint8_t resp[KMS_RESPONSE_MAX_LEN];
        size_t rlen;
        if (kms_encode_response(&req, &p, &rnd, resp, sizeof resp, &rlen) != 0)
            return false;
        if (m == FK_CORRUPT)
            resp[rlen - 1] ^= 0x01;
        ndr_encode_response(&w, ndr64, resp, rlen);
    }
    if (w.err)
        return false;
    struct rpc_pdu out;
    rpc_response_init(&out, m == FK_BAD_CALLID ? call_id + 7 : call_id,
                      (uint16_t)(m == FK_BAD_CTX ? pdu->request.ctx_id + 1 : pdu->request.ctx_id), stub, w.off);
    if (m == FK_FRAGMENT)
        out.hdr.flags = RPC_PFC_FIRST_FRAG;
    fake_send_pdu(fd, &out, m == FK_SLOW);
    return true;
}

static void fake_conn(struct fake *f, int fd)
{
    struct rpc_assoc assoc;
    rpc_assoc_init(&assoc);
    for (;;) {
        uint8_t in[KMS_LIMIT_PDU_MAX];
        struct rpc_header h;
        if (!fake_recv(f, fd, in, RPC_HEADER_LEN) || rpc_peek_header(in, RPC_HEADER_LEN, &h) != 0)
            return;
        if (!fake_recv(f, fd, in + RPC_HEADER_LEN, h.frag_length - RPC_HEADER_LEN))
            return;
        struct rpc_pdu pdu, out;
        if (rpc_decode(in, h.frag_length, &pdu) != 0)
            return;
        if (pdu.hdr.ptype == RPC_PTYPE_BIND || pdu.hdr.ptype == RPC_PTYPE_ALTER_CONTEXT) {
            f->binds++;
            f->bind_offers = pdu.bind.n_ctx;
            f->bind_flags = pdu.hdr.flags;
            if (f->silent) {
                uint8_t b;
                while (fake_wait(f, fd) && recv(fd, &b, 1, 0) > 0)
                    ;
                return;
            }
            if (rpc_bind_reply(&pdu, &f->pol, 0x1063bf3fu, "1688", &assoc, &out) != 0)
                return;
            fake_send_pdu(fd, &out, false);
        } else if (pdu.hdr.ptype == RPC_PTYPE_REQUEST) {
            if (!fake_request(f, fd, &pdu, &assoc))
                return;
        } else {
            return;
        }
    }
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    while (fake_wait(f, f->lfd)) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        f->conns++;
        fake_conn(f, fd);
        close(fd);
    }
    return NULL;
}

/* Starts a fake host on 127.0.0.1 (or ::1) with an ephemeral port. */
static void fake_start(struct fake *f, bool v6)
{
    memset(f, 0, sizeof *f);
    f->pol = (struct rpc_bind_policy){.ndr32 = true, .ndr64 = true, .btfn = true};
    f->lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(listen(f->lfd, 8), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&ss, &len), 0);
    f->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    assert_int_equal(pipe(f->stop), 0);
}

static void fake_run(struct fake *f)
{
    assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
    assert_int_equal(write(f->stop[1], "x", 1), 1);
    pthread_join(f->th, NULL);
    close(f->stop[0]);
    close(f->stop[1]);
    close(f->lfd);
}

/* ---- running kmsc ---- */

struct run {
    int code; /* exit status, or -1 when kmsc did not exit normally */
    char out[65536];
    char err[8192];
};

static void slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs kmsc with the NULL-terminated argument list; fills r. */
static void kmsc_runv(struct run *r, const char *const *args)
{
    const char *exe = getenv("KMSC");
    assert_non_null(exe);
    char *argv[64];
    size_t n = 0;
    argv[n++] = (char *)(uintptr_t)exe;
    for (; args[n - 1] && n < 63; n++)
        argv[n] = (char *)(uintptr_t)args[n - 1];
    argv[n] = NULL;
    FILE *o = tmpfile(), *e = tmpfile();
    assert_non_null(o);
    assert_non_null(e);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fileno(o), 1);
        dup2(fileno(e), 2);
        execv(exe, argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        assert_int_equal(errno, EINTR);
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp(o, r->out, sizeof r->out);
    slurp(e, r->err, sizeof r->err);
}

#define KMSC(r, ...)                                                                                               \
    do {                                                                                                           \
        const char *const a_[] = {__VA_ARGS__, NULL};                                                              \
        kmsc_runv((r), a_);                                                                                        \
    } while (0)

static void expect(const struct run *r, int code)
{
    if (r->code != code)
        fail_msg("kmsc exited %d, expected %d\nstdout:\n%s\nstderr:\n%s", r->code, code, r->out, r->err);
}

static void expect_in(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("'%s' not found in:\n%s", needle, hay);
}

static char *addr(char *buf, size_t cap, const struct fake *f, bool v6)
{
    snprintf(buf, cap, v6 ? "[::1]:%u" : "127.0.0.1:%u", f->port);
    return buf;
}

/* ---- tests: command line ---- */

static void test_usage_errors(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    static const char *const cases[][4] = {
        {"-x"},
        {"--bogus"},
        {"-n"},
        {"-n", "0"},
        {"-n", "1001"},
        {"-n", "abc"},
        {"-n", "-1"},
        {"-n", " 5"},
        {"--timeout", "0"},
        {"--timeout", "x"},
        {"--timeout", "1e9"},
        {"--wait", "0"},
        {"--wait", "x"},
        {"--wait", "3601"},
        {"--discover", "--wait", "1"},
        {"--license-status", "7"},
        {"--cmid", "not-a-guid"},
        {"--previous-cmid", "not-a-guid"},
        {"--previous-cmid", "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f"},
        {"--previous-cmid"},
        {"--app", "55c92734-d682-4d71-983e-d6ec3f16059f"},
        {"--product", "win10pro", "--app", "x"},
        {"--product", "no such product"},
        {"--product", "Windows 12 Pro"},
        {"--product", "Windows 10/11"},
        {"--version-major", "65536"},
        {"--version-minor", "-1"},
        {"--min-count", "4294967296"},
        {"--workstation", "0123456789012345678901234567890123456789012345678901234567890123"},
        {"--workstation", "\xff\xfe"},
        {"127.0.0.1", "127.0.0.2"},
        {"127.0.0.1:0"},
        {"127.0.0.1:65536"},
        {"127.0.0.1:"},
        {":1688"},
        {"[::1"},
        {"[::1]x"},
        {"[]:1688"},
        {"[host]:1688"},
        {"--list-products", "127.0.0.1"},
        {"--dns-server", "127.0.0.1", "127.0.0.1"}, /* without --discover */
        {"--discover", "--dns-server"},
        {"--discover", "--dns-server", ""},
        {"--discover", "--dns-server", "*"},
        {"--discover", "--dns-server", "127.0.0.1:0"},
        {"--discover", "--dns-server", "[::1"},
        {"--discover", "bad domain"},
        {"--discover", "a..example"},
        {"--discover", "a.example", "b.example"},
        {"discover", "--nope"},
        {"discover", "a.example", "b.example"},
        {"discover", "--dns-server", "127.0.0.1:65536"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *a[5] = {cases[i][0], cases[i][1], cases[i][2], cases[i][3], NULL};
        kmsc_runv(r, a);
        bool sub = strcmp(cases[i][0], "discover") == 0; /* "kmsc discover: ..." */
        if (r->code != KMSC_USAGE || strncmp(r->err, sub ? "kmsc discover: " : "kmsc: ", sub ? 15 : 6) != 0 ||
            strlen(r->err) < 12)
            fail_msg("case %zu (%s): exit %d, stderr '%s'", i, cases[i][0], r->code, r->err);
        assert_string_equal(r->out, "");
    }
}

/* The message shapes of the three commands, which main alone prints (src/kmsc/outcome.h): "kmsc: ..." and
 * "kmsc bench: ..." with the pointer to --help, "kmsc health: ..." without; each message once; --help wins
 * over a later bad option. */
static void test_messages(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    KMSC(r, "--cmid", "zz");
    expect(r, KMSC_USAGE);
    assert_string_equal(r->err, "kmsc: --cmid: 'zz' is not a GUID\nTry 'kmsc --help' for more information.\n");
    KMSC(r, "bench", "-c", "0");
    expect(r, KMSC_USAGE);
    assert_string_equal(r->err, "kmsc bench: -c: '0' is not an integer in 1..10000\n"
                                "Try 'kmsc bench --help' for more information.\n");
    KMSC(r, "bench", "--mix", "4:1", "-4");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "kmsc bench: -4/-5/-6 and --mix exclude each other\n");
    /* getopt_long's failures: each says which, and the near or possible options; a URL where the host goes */
    static const struct {
        const char *args[3];
        const char *want;
    } usage_errors[] = {
        {{"--prodct", "win11pro"}, "kmsc: unknown option '--prodct'; did you mean '--product'?\n"
                                   "Try 'kmsc --help' for more information.\n"},
        {{"--n"}, "kmsc: ambiguous option '--n' (--no-ndr64, --no-btfn, --no-multiplex, --new-connection)\n"},
        {{"--new-connection=yes"}, "kmsc: option '--new-connection' takes no value\n"},
        {{"--zzzzzz"}, "kmsc: unknown option '--zzzzzz'\n"},
        {{"bench", "--jsn"}, "kmsc bench: unknown option '--jsn'; did you mean '--json'?\n"},
        {{"health", "http://127.0.0.1:8080/readyz"}, "kmsc health: a URL, not an address in 'http://127.0.0.1:8080/readyz'"},
        {{"-z"}, "kmsc: unknown option '-z'\n"},
        {{"--cmid"}, "kmsc: option '--cmid' needs a value\n"},
    };
    for (size_t i = 0; i < sizeof usage_errors / sizeof usage_errors[0]; i++) {
        kmsc_runv(r, usage_errors[i].args);
        expect(r, KMSC_USAGE);
        expect_in(r->err, usage_errors[i].want);
    }
    KMSC(r, "health", "127.0.0.1", "extra");
    expect(r, KMSC_USAGE);
    assert_string_equal(r->err, "kmsc health: one HOST[:PORT] at most ('127.0.0.1' and 'extra'; 'kmsc health --help' "
                                "shows the usage)\n");
    KMSC(r, "health", "--nope");
    expect(r, KMSC_USAGE);
    assert_string_equal(r->err, "kmsc health: unknown option '--nope' ('kmsc health --help' shows the usage)\n");
    KMSC(r, "health", "-h");
    expect(r, 0);
    expect_in(r->out, "Usage: kmsc health [HOST[:PORT]]                      one verified activation (default "
                      "127.0.0.1:1688)\n");
    expect_in(r->out, "kmsc health --http|--https [HOST[:PORT]] [--path PATH] [--cacert FILE]\n");
    KMSC(r, "health", "[::1");
    expect(r, KMSC_USAGE);
    assert_true(strncmp(r->err, "kmsc health: ", 13) == 0);
    assert_null(strstr(r->err, "Try"));
    assert_non_null(strchr(r->err, '\n'));
    assert_string_equal(strchr(r->err, '\n'), "\n");
    KMSC(r, "-h", "--bogus");
    expect(r, 0);
    expect_in(r->out, "Usage: kmsc");
    assert_string_equal(r->err, "");
    KMSC(r, "bench", "-h", "-c", "0");
    expect(r, 0);
    expect_in(r->out, "Usage: kmsc bench");
    assert_string_equal(r->err, "");
    KMSC(r, "--list-products", "--help");
    expect(r, 0);
    expect_in(r->out, "Usage: kmsc");
    KMSC(r, "discover", "a.example", "b.example");
    expect(r, KMSC_USAGE);
    assert_string_equal(r->err, "kmsc discover: too many arguments (expected one DOMAIN at most)\n"
                                "Try 'kmsc discover --help' for more information.\n");
    KMSC(r, "discover", "-h");
    expect(r, 0);
    expect_in(r->out, "Usage: kmsc discover [DOMAIN] [--dns-server ADDR[:PORT]]\n");
    assert_string_equal(r->err, "");
}

/* The discovery's texts at their limits (discover.h): DOMAIN up to KMSC_DISCOVER_DOMAIN_MAX characters (the
 * owner name _vlmcs._tcp.DOMAIN then has DNS_NAME_MAX), --dns-server's forms. The lookups themselves run against
 * BIND's named in tests/integration/27-dns-discover.sh. */
static void test_discover_texts(void **state)
{
    (void)state;
    char msg[KMSC_MSG_MAX], d[DNS_NAME_MAX + 2];
    assert_int_equal(KMSC_DISCOVER_DOMAIN_MAX, 241);
    /* labels of 49 and a last one to make the length: "x{49}.x{49}.x{49}.x{49}.x{n}" */
    for (size_t len = KMSC_DISCOVER_DOMAIN_MAX - 1; len <= KMSC_DISCOVER_DOMAIN_MAX + 1; len++) {
        for (size_t i = 0; i < len; i++)
            d[i] = i % 50 == 49 ? '.' : 'x';
        d[len] = '\0';
        int want = len <= KMSC_DISCOVER_DOMAIN_MAX ? 0 : KMS_EINVAL;
        assert_int_equal(kmsc_discover_check_domain(d, msg, sizeof msg), want);
        d[len] = '.'; /* a final dot does not count */
        d[len + 1] = '\0';
        assert_int_equal(kmsc_discover_check_domain(d, msg, sizeof msg), want);
    }
    expect_in(msg, "longer than 241 characters");
    assert_int_equal(kmsc_discover_check_domain("example.org", msg, sizeof msg), 0);
    assert_int_equal(kmsc_discover_check_domain("", msg, sizeof msg), KMS_EINVAL);
    assert_int_equal(kmsc_discover_check_domain("a b.example", msg, sizeof msg), KMS_EINVAL);
    expect_in(msg, "is not a DNS domain");

    struct kmsc_dns_server s;
    assert_int_equal(kmsc_discover_parse_server("192.0.2.53", &s, msg, sizeof msg), 0);
    assert_string_equal(s.host, "192.0.2.53");
    assert_int_equal(s.port, 53);
    assert_int_equal(kmsc_discover_parse_server("[2001:db8::53]:5353", &s, msg, sizeof msg), 0);
    assert_string_equal(s.host, "2001:db8::53");
    assert_int_equal(s.port, 5353);
    assert_int_equal(kmsc_discover_parse_server("2001:db8::53", &s, msg, sizeof msg), 0);
    assert_int_equal(s.port, 53);
    assert_int_equal(kmsc_discover_parse_server("ns1.example.org:65535", &s, msg, sizeof msg), 0);
    assert_string_equal(s.host, "ns1.example.org");
    assert_int_equal(s.port, 65535);
    static const char *const bad[] = {"", "*", "*:53", ":53", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:", "[::1",
                                      "[::1]x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (kmsc_discover_parse_server(bad[i], &s, msg, sizeof msg) != KMS_EINVAL)
            fail_msg("--dns-server '%s' was taken", bad[i]);
    char longhost[KMSC_HOST_MAX + 2];
    memset(longhost, 'a', sizeof longhost - 1);
    longhost[KMSC_HOST_MAX + 1] = '\0';
    assert_int_equal(kmsc_discover_parse_server(longhost, &s, msg, sizeof msg), KMS_EINVAL);
    longhost[KMSC_HOST_MAX] = '\0';
    assert_int_equal(kmsc_discover_parse_server(longhost, &s, msg, sizeof msg), 0);
}

static void test_help(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    KMSC(r, "--help");
    expect(r, 0);
    expect_in(r->out, "Usage: kmsc");
    expect_in(r->out, "kmsc health [HOST[:PORT]]"); /* the other commands are named */
    expect_in(r->out, "kmsc bench [options]");
    expect_in(r->out, "kmsc discover [DOMAIN]");
    expect_in(r->out, "--discover");
    expect_in(r->out, "--version");
    static const char *const switches[] = {"  --ipv4, --ipv6  ", "  --no-multiplex  ", "  --previous-cmid GUID  ",
                                           "  --save-identity FILE  ", "  --discover  "};
    for (size_t i = 0; i < sizeof switches / sizeof switches[0]; i++)
        expect_in(r->out, switches[i]);
    expect_in(r->out, "in the order 8, 9, 3, 4, 6, 5, 7, 0.");
    static const char *const codes[] = {"  0  ", "  2  ", "  3  ", "  4  ", "  5  ",
                                        "  6  ", "  7  ", "  8  ", "  9  "};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        expect_in(r->out, codes[i]);
    KMSC(r, "bench", "--help");
    expect(r, 0);
    expect_in(r->out, "  --ipv4, --ipv6  ");
    expect_in(r->out, "  --no-multiplex  ");
    assert_null(strstr(r->out, "--save-identity"));
    KMSC(r, "--version");
    expect(r, 0);
    assert_string_equal(r->out, "kmsc " KMSD_VERSION "\n");
    assert_string_equal(r->err, "");
    KMSC(r, "-V", "--bogus-after");
    expect(r, 0);
    expect_in(r->out, "kmsc ");
}

static size_t count_lines(const char *text)
{
    size_t lines = 0;
    for (const char *p = text; (p = strchr(p, '\n')); p++)
        lines++;
    return lines;
}

static void test_list_products(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    KMSC(r, "--list-products");
    expect(r, 0);
    assert_int_equal(count_lines(r->out), products_sku_count() + 1); /* a header and a row per SKU */
    assert_int_equal(strncmp(r->out, "ALIASES ", 8), 0);
    expect_in(r->out, "  GVLK ");
    for (size_t i = 0; i < products_sku_count(); i++) {
        const struct products_sku *s = products_sku_at(i);
        char line[512];
        snprintf(line, sizeof line, "  %s  %s\n", s->gvlk ? s->gvlk : "-                            ", s->name);
        expect_in(r->out, line);
    }
    /* -v adds the SKU id and the KMS id's name */
    KMSC(r, "--list-products", "-v");
    expect(r, 0);
    assert_int_equal(count_lines(r->out), products_sku_count() + 1);
    for (size_t i = 0; i < products_sku_count(); i++) {
        const struct products_sku *s = products_sku_at(i);
        char id[GUID_TEXT_LEN + 1], line[512];
        guid_format(&s->id, id);
        snprintf(line, sizeof line, "  %s  %s (%s)\n", id, s->name, s->kms->name);
        expect_in(r->out, line);
    }
    /* a filter: one SKU by name, alias, id or edition; else every SKU holding all its words */
    static const char *const one[] = {"Windows 11 Pro", "WIN10PRO", "2de67392-b7a7-462a-b1ca-108dd189f588"};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        KMSC(r, "--list-products", one[i]);
        expect(r, 0);
        assert_int_equal(count_lines(r->out), 2);
        expect_in(r->out, "win10pro,win11pro  W269N-WFGWX-YVC9B-4J6C9-T83GX  Windows 10/11 Pro\n");
    }
    KMSC(r, "--list-products", "office 2024");
    expect(r, 0);
    assert_true(count_lines(r->out) > 10);
    expect_in(r->out, "XJ2XN-FW8RK-P4HMP-DKDBV-GCVGB  Office LTSC Professional Plus 2024\n");
    assert_null(strstr(r->out, "2021"));
    assert_null(strstr(r->out, "Windows"));
    /* the words run together: the same list */
    char *spaced = strdup(r->out);
    assert_non_null(spaced);
    KMSC(r, "--list-products", "Office2024");
    expect(r, 0);
    assert_string_equal(r->out, spaced);
    free(spaced);
    /* a filter matching nothing: a usage error with suggestions, nothing on stdout */
    KMSC(r, "--list-products", "o2024pq");
    expect(r, KMSC_USAGE);
    assert_string_equal(r->out, "");
    expect_in(r->err, "unknown product 'o2024pq'; did you mean 'Office LTSC Professional Plus 2024' (o2024pp)?");
    /* more matches than the message can name: the command that lists them all; a few: none */
    KMSC(r, "--product", "office 2021", "127.0.0.1:1");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "unknown product 'office 2021'; did you mean 'Office Access LTSC 2021' (o2021access)");
    expect_in(r->err, ", ...?\nkmsc --list-products 'office 2021' lists every match\n");
    KMSC(r, "--product", "o2024pq", "127.0.0.1:1");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "(o2024pp)?\n");
    assert_null(strstr(r->err, "lists every match"));
    KMSC(r, "--list-products", "a", "b");
    expect(r, KMSC_USAGE);
    /* --commands: what a client runs, slmgr for Windows, OSPP.VBS of the version's folder for Office */
    KMSC(r, "--list-products", "--commands", "kms.example.org", "win11pro");
    expect(r, 0);
    assert_string_equal(r->out, "Windows 10/11 Pro (win10pro)\n"
                                "  slmgr /ipk W269N-WFGWX-YVC9B-4J6C9-T83GX\n"
                                "  slmgr /skms kms.example.org:1688\n"
                                "  slmgr /ato\n");
    KMSC(r, "--list-products", "--commands", "[2001:db8::5]:1700", "o2013pp");
    expect(r, 0);
    expect_in(r->out, "\\Microsoft Office\\Office15\\OSPP.VBS\" /inpkey:YC7DK-G2NP3-2QQC3-J6H88-GVGXT\n");
    expect_in(r->out, "OSPP.VBS\" /sethst:2001:db8::5\n");
    expect_in(r->out, "OSPP.VBS\" /setprt:1700\n");
    expect_in(r->out, "OSPP.VBS\" /act\n");
    expect_in(r->out, "%ProgramFiles(x86)%");
    KMSC(r, "--list-products", "--commands", "10.0.0.1");
    expect(r, 0);
    assert_true(count_lines(r->out) > 3 * products_sku_count() / 2);
    static const char *const bad[] = {"a b", "x&y", "host:0", "[::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        KMSC(r, "--list-products", "--commands", bad[i], "win11pro");
        expect(r, KMSC_USAGE);
        assert_string_equal(r->out, "");
        expect_in(r->err, "--commands: ");
    }
    KMSC(r, "--commands", "10.0.0.1");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "--commands goes with --list-products");
}

static void test_parse_target(void **state)
{
    (void)state;
    static const struct {
        const char *in, *host, *port;
    } ok[] = {
        {"kms.example.com", "kms.example.com", "1688"},
        {"kms.example.com:1700", "kms.example.com", "1700"},
        {"10.0.0.1:65535", "10.0.0.1", "65535"},
        {"[::1]", "::1", "1688"},
        {"[::1]:1", "::1", "1"},
        {"[fe80::1%eth0]:1688", "fe80::1%eth0", "1688"},
        {"2001:db8::1", "2001:db8::1", "1688"},
    };
    static const char *const bad[] = {"", ":1", "h:", "h:0", "h:65536", "h:+1", "h:1x", "[::1", "[::1]:",
                                       "[::1]1", "[]", "[a]:1", "h:007a"};
    char msg[KMSC_MSG_MAX];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct kmsc_target t;
        if (kms_client_parse_target(ok[i].in, &t, msg, sizeof msg) != 0)
            fail_msg("'%s' rejected: %s", ok[i].in, msg);
        assert_string_equal(t.host, ok[i].host);
        assert_string_equal(t.port, ok[i].port);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kmsc_target t;
        msg[0] = '\0';
        if (kms_client_parse_target(bad[i], &t, msg, sizeof msg) != KMS_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_true(msg[0] != '\0');
    }
    char longhost[KMSC_HOST_MAX + 2];
    memset(longhost, 'a', sizeof longhost - 1);
    longhost[sizeof longhost - 1] = '\0';
    struct kmsc_target t;
    assert_int_equal(kms_client_parse_target(longhost, &t, msg, sizeof msg), KMS_EINVAL);
    longhost[KMSC_HOST_MAX] = '\0';
    assert_int_equal(kms_client_parse_target(longhost, &t, msg, sizeof msg), 0);
}

static void test_worse_and_uuid(void **state)
{
    (void)state;
    static const enum kmsc_status order[] = {KMSC_OK,      KMSC_COUNT,   KMSC_REFUSED, KMSC_VERIFY,
                                             KMSC_RPC,     KMSC_CONNECT, KMSC_NO_HOST, KMSC_NO_SRV};
    size_t n = sizeof order / sizeof order[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            enum kmsc_status w = kms_client_worse(order[i], order[j]);
            assert_int_equal(w, order[i > j ? i : j]);
        }
    struct guid a, b;
    assert_int_equal(kmsc_random_uuid(&a), 0);
    assert_int_equal(kmsc_random_uuid(&b), 0);
    assert_false(guid_eq(&a, &b));
    char text[GUID_TEXT_LEN + 1];
    guid_format(&a, text);
    assert_int_equal(text[14], '4');                 /* version 4 */
    assert_non_null(strchr("89ab", text[19]));       /* RFC 4122 variant */
}

/* ---- tests: connecting ---- */

static void test_connect_refused(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    /* A bound socket that never listens: the kernel refuses connections to its port, with no race. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", ntohs(a.sin_port));
    KMSC(r, target);
    expect(r, KMSC_CONNECT);
    expect_in(r->err, "refused");
    assert_string_equal(r->out, "");
    /* kmsc health names the address once */
    KMSC(r, "health", target);
    close(fd);
    expect(r, KMSC_CONNECT);
    char want[128];
    snprintf(want, sizeof want, "kmsc health: cannot connect to %s: ", target);
    assert_true(strncmp(r->err, want, strlen(want)) == 0);
    assert_null(strstr(r->err + strlen(want), target));
}

static void test_connect_timeout(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    /* A listener whose accept queue is full (backlog 0, never accepting): the kernel drops further SYNs, so
     * the connect can only time out. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, len), 0);
    assert_int_equal(listen(lfd, 0), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    int fill[3];
    for (int i = 0; i < 3; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fill[i] >= 0);
        assert_int_equal(fcntl(fill[i], F_SETFL, O_NONBLOCK), 0);
        (void)connect(fill[i], (struct sockaddr *)&a, len);
    }
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", ntohs(a.sin_port));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    KMSC(r, "--timeout", "0.4", target);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < 3; i++)
        close(fill[i]);
    close(lfd);
    expect(r, KMSC_CONNECT);
    expect_in(r->err, "timed out");
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (took < 0.35 || took > 5.0)
        fail_msg("connect timeout took %.3f s for --timeout 0.4", took);
}

static void check_printed(const struct run *r, const struct fake *f);

/* The fake's socket bound but not listening: connections to its port are refused until listen_later listens. */
static void *listen_later(void *arg)
{
    struct fake *f = arg;
    struct timespec ts = {1, 200000000}; /* past KMSC_WAIT_FAST_MS: the slower retries must still come */
    nanosleep(&ts, NULL);
    if (listen(f->lfd, 8) != 0)
        return NULL;
    return fake_main(f);
}

/* --wait: a host that starts listening within the wait, after its first second (the slower retries), is answered
 * (a host starting); a port that stays refused is given up at the end of the wait, with the refusal's exit status;
 * without --wait, refused at once. */
static void test_wait(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    struct fake f;
    fake_start(&f, false);
    /* fake_start listened: take a new socket on the same port, bound only */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(f.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    close(f.lfd);
    f.lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f.lfd >= 0);
    int one = 1;
    assert_int_equal(setsockopt(f.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    assert_int_equal(bind(f.lfd, (struct sockaddr *)&a, sizeof a), 0);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", f.port);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    KMSC(r, "--wait", "0.25", target); /* nobody listens during this wait */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    expect(r, KMSC_CONNECT);
    expect_in(r->err, "refused");
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (took < 0.24 || took > 5.0)
        fail_msg("--wait 0.25 on a refusing port took %.3f s", took);
    assert_int_equal(pthread_create(&f.th, NULL, listen_later, &f), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    KMSC(r, "--wait", "10", target);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fake_stop(&f);
    expect(r, KMSC_OK);
    check_printed(r, &f);
    assert_int_equal(f.conns, 1); /* the refused tries never reached it */
    took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (took < 1.18 || took > 5.0)
        fail_msg("--wait 10 on a port that listens after 1.2 s took %.3f s", took);
}

/* ---- tests: exchanges ---- */

static void run_ok(struct run *r, struct fake *f, bool v6, const char *const *extra)
{
    char target[64];
    const char *a[32];
    size_t n = 0;
    for (; extra && extra[n]; n++)
        a[n] = extra[n];
    a[n++] = addr(target, sizeof target, f, v6);
    a[n] = NULL;
    kmsc_runv(r, a);
}

static void check_printed(const struct run *r, const struct fake *f)
{
    char line[128];
    expect_in(r->out, FAKE_EPID);
    snprintf(line, sizeof line, "Current count:       %u (required %u)", f->sent_count, f->last.required_count);
    expect_in(r->out, line);
    expect_in(r->out, "Activation interval: 120 min");
    expect_in(r->out, "Renewal interval:    10080 min");
    expect_in(r->out, "Round trip:");
}

static void test_versions(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    static const char *const flags[] = {"-4", "-5", "-6"};
    for (int v = 0; v < 3; v++) {
        struct fake f;
        fake_start(&f, false);
        fake_run(&f);
        const char *extra[] = {flags[v], "--cmid", "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "--workstation",
                               "Wörkstation-ß", "--license-status", "5", "--grace-time", "77", "--vm",
                               "--time-offset", v == 1 ? "-7200" : "7200", NULL};
        int64_t t0 = (int64_t)time(NULL);
        run_ok(r, &f, false, extra);
        fake_stop(&f);
        expect(r, 0);
        check_printed(r, &f);
        assert_int_equal(f.requests, 1);
        assert_int_equal(f.last.version_major, 4 + v);
        assert_int_equal(f.last.version_minor, 0);
        char cmid[GUID_TEXT_LEN + 1], ws[128];
        guid_format(&f.last.cmid, cmid);
        assert_string_equal(cmid, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
        assert_int_equal(kms_request_machine_name(&f.last, ws, sizeof ws), 0);
        assert_string_equal(ws, "Wörkstation-ß");
        assert_int_equal(f.last.license_status, 5);
        assert_int_equal(f.last.grace_time, 77);
        assert_int_equal(f.last.is_client_vm, 1);
        int64_t sent = timeutil_unix_from_filetime(f.last.request_time) - (v == 1 ? -7200 : 7200);
        assert_true(sent >= t0 - 1 && sent <= (int64_t)time(NULL) + 1); /* --time-offset shifted it */
        /* default product: Windows 10/11 Enterprise */
        const struct products_sku *s = products_find_sku("win10ent");
        assert_non_null(s);
        assert_true(guid_eq(&f.last.sku_id, &s->id));
        assert_true(guid_eq(&f.last.kms_id, &s->kms->id));
        assert_true(guid_eq(&f.last.app_id, &s->kms->app->id));
        assert_int_equal(f.last.required_count, s->kms->n_policy);
        char hwid[2 * KMS_HWID_LEN + 1];
        for (size_t k = 0; k < KMS_HWID_LEN; k++)
            snprintf(hwid + 2 * k, 3, "%02X", f.hwid[k]);
        if (v == 2)
            expect_in(r->out, hwid);
        else
            assert_null(strstr(r->out, "HWID"));
    }
}

static void test_defaults_and_product(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    struct fake f;
    fake_start(&f, false);
    fake_run(&f);
    const char *extra[] = {"--product", "Windows 11 Pro", "-v", NULL};
    run_ok(r, &f, false, extra);
    fake_stop(&f);
    expect(r, 0);
    check_printed(r, &f);
    const struct products_sku *s = products_find_sku("win11pro");
    assert_non_null(s);
    assert_true(guid_eq(&f.last.sku_id, &s->id));
    assert_int_equal(f.last.version_major, s->kms->protocol);
    assert_int_equal(f.last.license_status, 2);
    assert_int_equal(f.last.is_client_vm, 0);
    assert_false(guid_is_zero(&f.last.cmid));
    assert_true(guid_is_zero(&f.last.prev_cmid)); /* previousClientMachineId: all zero by default */
    assert_null(strstr(r->out, "Previous machine id:"));
    /* default workstation: the host name */
    char host[256], ws[KMS_EPID_UTF8_MAX];
    assert_int_equal(gethostname(host, sizeof host), 0);
    host[63] = '\0';
    assert_int_equal(kms_request_machine_name(&f.last, ws, sizeof ws), 0);
    assert_string_equal(ws, host);
    /* offered NDR32 + NDR64 + BTFN; the host rejected NDR32, so NDR64 was used */
    assert_int_equal(f.bind_offers, 3);
    assert_int_equal(f.last_syntax, RPC_SYNTAX_NDR64);
    expect_in(r->out, "Using context 1 (NDR64)");
    expect_in(r->out, "provider rejection (result 2, reason 2)");
}

/* --previous-cmid GUID goes into previousClientMachineId as given (any GUID form guid_parse takes); -v shows it;
 * a bad GUID is a usage error naming the option. */
static void test_previous_cmid(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    struct fake f;
    fake_start(&f, false);
    fake_run(&f);
    const char *e[] = {"--previous-cmid", "{A1B2C3D4-E5F6-4789-8ABC-DEF012345678}", "-v", "-n", "2", NULL};
    run_ok(r, &f, false, e);
    fake_stop(&f);
    expect(r, 0);
    assert_int_equal(f.requests, 2);
    char prev[GUID_TEXT_LEN + 1];
    guid_format(&f.last.prev_cmid, prev);
    assert_string_equal(prev, "a1b2c3d4-e5f6-4789-8abc-def012345678");
    assert_false(guid_eq(&f.last.prev_cmid, &f.last.cmid)); /* the CMID stays its own */
    expect_in(r->out, "Previous machine id: a1b2c3d4-e5f6-4789-8abc-def012345678\n");
    KMSC(r, "--previous-cmid", "a1b2c3d4-e5f6-4789-8abc-def01234567g");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "kmsc: --previous-cmid: 'a1b2c3d4-e5f6-4789-8abc-def01234567g' is not a GUID\n");
}

/* Single-edition names of combined SKU names select that SKU. */
static void test_product_variants(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    static const char *const names[][2] = {
        {"windows 10 pro", "win10pro"},
        {"Windows 11 Enterprise N", "win11entn"},
        {"Windows 10 Enterprise LTSC 2021", "win10entltsc2021"},
        {"Windows 10 Enterprise LTSC 2019 N", "win10entltsc2019n"},
        {"Windows Server 2022 Datacenter", "ws2022dc"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct fake f;
        fake_start(&f, false);
        fake_run(&f);
        const char *e[] = {"--product", names[i][0], "-q", NULL};
        run_ok(r, &f, false, e);
        fake_stop(&f);
        expect(r, 0);
        const struct products_sku *s = products_find_sku(names[i][1]);
        assert_non_null(s);
        if (!guid_eq(&f.last.sku_id, &s->id))
            fail_msg("'%s' did not select %s", names[i][0], s->name);
    }
}

static void test_syntax_choice(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    struct fake f;
    /* --no-ndr64 --no-btfn: only NDR32 offered */
    fake_start(&f, false);
    fake_run(&f);
    const char *e1[] = {"--no-ndr64", "--no-btfn", NULL};
    run_ok(r, &f, false, e1);
    fake_stop(&f);
    expect(r, 0);
    assert_int_equal(f.bind_offers, 1);
    assert_int_equal(f.last_syntax, RPC_SYNTAX_NDR32);
    /* a host without NDR64 accepts NDR32 */
    fake_start(&f, false);
    f.pol.ndr64 = false;
    fake_run(&f);
    run_ok(r, &f, false, NULL);
    fake_stop(&f);
    expect(r, 0);
    assert_int_equal(f.bind_offers, 3);
    assert_int_equal(f.last_syntax, RPC_SYNTAX_NDR32);
    /* a host accepting nothing: RPC failure */
    fake_start(&f, false);
    f.pol = (struct rpc_bind_policy){.ndr32 = false, .ndr64 = false, .btfn = false};
    fake_run(&f);
    run_ok(r, &f, false, NULL);
    fake_stop(&f);
    expect(r, KMSC_RPC);
    expect_in(r->err, "no usable presentation context");
    assert_int_equal(f.requests, 0);
}

/* The BIND's pfc_flags: FIRST|LAST|CONC_MPX (0x13) by default, as the incumbent clients send; --no-multiplex
 * clears CONC_MPX alone (0x03). The same for kmsc bench. The host's BIND_ACK echoes the bit either way. */
static void test_multiplex(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    struct fake f;
    static const struct {
        const char *opt;
        uint8_t flags;
    } cases[] = {{NULL, 0x13}, {"--no-multiplex", 0x03}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_start(&f, false);
        fake_run(&f);
        const char *e[] = {cases[i].opt, NULL};
        run_ok(r, &f, false, e);
        fake_stop(&f);
        expect(r, 0);
        assert_int_equal(f.binds, 1);
        assert_int_equal(f.bind_flags, cases[i].flags);
        assert_int_equal(f.requests, 1);

        fake_start(&f, false);
        fake_run(&f);
        char target[64];
        addr(target, sizeof target, &f, false);
        if (cases[i].opt)
            KMSC(r, "bench", "-c", "1", "-N", "2", "-q", cases[i].opt, target);
        else
            KMSC(r, "bench", "-c", "1", "-N", "2", "-q", target);
        fake_stop(&f);
        expect(r, 0);
        assert_int_equal(f.bind_flags, cases[i].flags);
        assert_int_equal(f.requests, 2);
    }
    static const uint8_t multiplexed = RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG | RPC_PFC_CONC_MPX;
    assert_int_equal(cases[0].flags, multiplexed);
    assert_int_equal(cases[1].flags, multiplexed & ~RPC_PFC_CONC_MPX);
}

static void test_raw_ids(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    struct fake f;
    fake_start(&f, false);
    fake_run(&f);
    const char *e[] = {"--app", "55c92734-d682-4d71-983e-d6ec3f16059f", "--sku", "{00000000-1111-2222-3333-444455556666}",
                       "--kms", "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE", "--min-count", "3", NULL};
    run_ok(r, &f, false, e);
    fake_stop(&f);
    expect(r, 0);
    char s[GUID_TEXT_LEN + 1];
    guid_format(&f.last.kms_id, s);
    assert_string_equal(s, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    guid_format(&f.last.sku_id, s);
    assert_string_equal(s, "00000000-1111-2222-3333-444455556666");
    assert_int_equal(f.last.required_count, 3);
    assert_int_equal(f.last.version_major, 6); /* unknown KMS id: current protocol */

    /* unknown KMS id without --min-count: 25 */
    fake_start(&f, false);
    fake_run(&f);
    e[6] = "-q";
    e[7] = NULL;
    run_ok(r, &f, false, e);
    fake_stop(&f);
    expect(r, 0);
    assert_int_equal(f.last.required_count, 25);
    assert_string_equal(r->out, ""); /* -q */
}

/* Runs one request against a fake host whose first request is answered in mode m. */
static void one_bad(struct run *r, enum fake_mode m, const char *const *extra, int code, const char *msg)
{
    struct fake f;
    fake_start(&f, false);
    f.plan[1] = m;
    fake_run(&f);
    run_ok(r, &f, false, extra);
    fake_stop(&f);
    expect(r, code);
    if (msg)
        expect_in(r->err, msg);
    assert_int_equal(f.requests, 1);
}

static void test_refused(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    one_bad(r, FK_REFUSE, NULL, KMSC_REFUSED, "HRESULT 0xC004F042 (SL_E_VL_KEY_MANAGEMENT_SERVICE_ID_MISMATCH)");
    const char *v7[] = {"--version-major", "7", NULL};
    one_bad(r, FK_OK, v7, KMSC_REFUSED, "HRESULT 0x8007000D (ERROR_INVALID_DATA)");
    const char *v3[] = {"--version-major", "3", NULL};
    one_bad(r, FK_OK, v3, KMSC_REFUSED, "0x8007000D");
    const char *m1[] = {"-6", "--version-minor", "1", NULL};
    one_bad(r, FK_OK, m1, KMSC_REFUSED, "0x8007000D");
}

static void test_low_count(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    one_bad(r, FK_LOW_COUNT, NULL, KMSC_COUNT, "0xC004F038");
    expect_in(r->out, FAKE_EPID); /* the answer is still shown */
    /* --min-count changes the threshold the client judges by */
    const char *e[] = {"--min-count", "5", NULL};
    one_bad(r, FK_LOW_COUNT, e, KMSC_COUNT, "current count 4 is below the required 5");
}

static void test_corrupt(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    static const char *const flags[] = {"-4", "-5", "-6"};
    for (int v = 0; v < 3; v++) {
        const char *e[] = {flags[v], NULL};
        one_bad(r, FK_CORRUPT, e, KMSC_VERIFY, "failed verification: verify: ");
    }
    const char *e4[] = {"-4", NULL};
    one_bad(r, FK_CORRUPT, e4, KMSC_VERIFY, "V4 hash mismatch");
}

static void test_rpc_failures(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    one_bad(r, FK_CLOSE, NULL, KMSC_RPC, "without a reply");
    one_bad(r, FK_FAULT, NULL, KMSC_RPC, "FAULT, status 0x1C010003");
    one_bad(r, FK_BAD_CALLID, NULL, KMSC_RPC, "call_id");
    one_bad(r, FK_BAD_CTX, NULL, KMSC_RPC, "context id");
    one_bad(r, FK_BIG_FRAG, NULL, KMSC_RPC, "malformed reply");
    one_bad(r, FK_FRAGMENT, NULL, KMSC_RPC, "fragmented");
    const char *t[] = {"--timeout", "0.3", NULL};
    one_bad(r, FK_HANG, t, KMSC_RPC, "no reply to REQUEST");
}

static double elapsed_s(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A peer that takes the connection and never answers the BIND (no KMS host: an HTTP server waiting for its
 * request line): kmsc gives up after 3 s, not the 10 s an activation may take, and says why; --timeout rules. */
static void test_silent_peer(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    struct fake f;
    fake_start(&f, false);
    f.silent = true;
    fake_run(&f);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_ok(r, &f, false, NULL);
    double t = elapsed_s(&t0);
    expect(r, KMSC_RPC);
    expect_in(r->err, "no reply to BIND from 127.0.0.1:");
    expect_in(r->err, "within 3000 ms (is it a KMS host?)");
    if (t < 2.9 || t > 8.0)
        fail_msg("kmsc gave up on a silent peer after %.2f s, expected about 3", t);
    const char *one[] = {"--timeout", "1", NULL};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_ok(r, &f, false, one);
    t = elapsed_s(&t0);
    expect(r, KMSC_RPC);
    expect_in(r->err, "within 1000 ms");
    if (t < 0.9 || t > 2.5)
        fail_msg("--timeout 1 gave up after %.2f s", t);
    const char *five[] = {"--timeout", "4", NULL}; /* an explicit timeout above 3 s holds for the BIND too */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_ok(r, &f, false, five);
    t = elapsed_s(&t0);
    expect_in(r->err, "within 4000 ms");
    if (t < 3.9)
        fail_msg("--timeout 4 gave up after %.2f s", t);
    fake_stop(&f);
    assert_int_equal(f.binds, 3);
}

static void test_slow_reply(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    one_bad(r, FK_SLOW, NULL, 0, NULL);
    const char *e[] = {"--no-ndr64", NULL};
    one_bad(r, FK_SLOW, e, 0, NULL);
}

static void test_many_requests(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    struct fake f;
    fake_start(&f, false);
    fake_run(&f);
    const char *e1[] = {"-n", "3", NULL};
    run_ok(r, &f, false, e1);
    fake_stop(&f);
    expect(r, 0);
    assert_int_equal(f.conns, 1);
    assert_int_equal(f.binds, 1);
    assert_int_equal(f.requests, 3);
    expect_in(r->out, "Request 3/3:");
    expect_in(r->out, "3 of 3 requests verified");

    fake_start(&f, false);
    fake_run(&f);
    const char *e2[] = {"-n", "3", "--new-connection", NULL};
    run_ok(r, &f, false, e2);
    fake_stop(&f);
    expect(r, 0);
    assert_int_equal(f.conns, 3);
    assert_int_equal(f.binds, 3);
    assert_int_equal(f.requests, 3);
}

/* -n with different failures: the worst status wins (4 > 6 > 5 > 7). */
static void test_precedence(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    static const struct {
        enum fake_mode plan[4];
        bool new_conn;
        int code;
        unsigned requests;
    } cases[] = {
        {{FK_LOW_COUNT, FK_OK, FK_OK}, false, KMSC_COUNT, 3},
        {{FK_LOW_COUNT, FK_REFUSE, FK_OK}, false, KMSC_REFUSED, 3},
        {{FK_REFUSE, FK_CORRUPT, FK_LOW_COUNT}, false, KMSC_VERIFY, 3},
        {{FK_OK, FK_CLOSE, FK_OK}, false, KMSC_RPC, 2},          /* the shared connection is gone: stop */
        {{FK_CORRUPT, FK_CLOSE, FK_LOW_COUNT}, true, KMSC_RPC, 3}, /* new connections: carry on */
        {{FK_REFUSE, FK_OK, FK_OK}, true, KMSC_REFUSED, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fake f;
        fake_start(&f, false);
        for (int k = 0; k < 3; k++)
            f.plan[k + 1] = cases[i].plan[k];
        fake_run(&f);
        const char *e[] = {"-n", "3", cases[i].new_conn ? "--new-connection" : "-v", NULL};
        run_ok(r, &f, false, e);
        fake_stop(&f);
        if (r->code != cases[i].code)
            fail_msg("case %zu: exit %d, expected %d\n%s", i, r->code, cases[i].code, r->err);
        assert_int_equal(f.requests, cases[i].requests);
    }
}

static void test_ipv6_and_names(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    struct fake f;
    fake_start(&f, true);
    fake_run(&f);
    run_ok(r, &f, true, NULL);
    fake_stop(&f);
    expect(r, 0);
    char peer[64];
    snprintf(peer, sizeof peer, "[::1]:%u", f.port);
    expect_in(r->out, peer);

    /* a name, resolved with getaddrinfo (localhost is in /etc/hosts) */
    fake_start(&f, false);
    fake_run(&f);
    char target[64];
    snprintf(target, sizeof target, "localhost:%u", f.port);
    KMSC(r, target);
    fake_stop(&f);
    expect(r, 0);
    assert_int_equal(f.requests, 1);
}

/* The whole of file path in buf (cap bytes, NUL-terminated); false when it cannot be read. */
static bool read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return true;
}

/* The names in directory dir, one per line, "." and ".." left out. */
static void list_dir(const char *dir, char *buf, size_t cap)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(buf, 1, cap - 1, p);
    buf[n] = '\0';
    pclose(p);
}

static void hex16(const uint8_t b[KMS_HWID_LEN], char out[2 * KMS_HWID_LEN + 1])
{
    for (size_t k = 0; k < KMS_HWID_LEN; k++)
        snprintf(out + 2 * k, 3, "%02X", b[k]);
}

/* --save-identity FILE: after a verified answer, the host's ePID and HWID as kmsd configuration lines (the
 * group and comments are host_identity's, tests/common/test_host_identity.c), written whole, mode 0644, FILE
 * replaced, no temporary file left; with -n the last verified answer; a V4 answer gives no HWID line. No
 * verified answer: no file. A FILE that cannot be written is exit 1 before any request. */
static void test_save_identity(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    char dir[] = "/tmp/kmsc-identity.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128], text[4096], hw[2 * KMS_HWID_LEN + 1], line[256], names[1024];
    snprintf(file, sizeof file, "%s/id.conf", dir);
    FILE *old = fopen(file, "w"); /* an existing FILE is replaced */
    assert_non_null(old);
    fputs("old\n", old);
    fclose(old);
    const struct products_sku *s = products_find_sku("win10ent");
    assert_non_null(s);
    assert_int_equal(s->kms->epid_csvlk->group, 206); /* FAKE_EPID's: saved under the group kmsd answers from */

    /* -n 3: answers 1 and 2 verified, 3 below the count (shown, not verified): the second one's HWID is saved */
    struct fake f;
    fake_start(&f, false);
    f.plan[3] = FK_LOW_COUNT;
    fake_run(&f);
    const char *e1[] = {"-n", "3", "--save-identity", file, NULL};
    time_t t0 = time(NULL);
    run_ok(r, &f, false, e1);
    fake_stop(&f);
    expect(r, KMSC_COUNT);
    assert_true(read_text(file, text, sizeof text));
    snprintf(line, sizeof line, "# kmsd identity saved by kmsc from 127.0.0.1:%u at ", f.port);
    assert_int_equal(strncmp(text, line, strlen(line)), 0);
    bool dated = false; /* the time of saving, UTC, within the run */
    for (time_t t = t0; t <= time(NULL) && !dated; t++) {
        struct tm tm;
        char when[48];
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, " at %Y-%m-%d %H:%M:%S (UTC)\n", &tm);
        dated = strstr(text, when) != NULL;
    }
    if (!dated)
        fail_msg("no time of the run in:\n%s", text);
    snprintf(line, sizeof line, "\nepid = %s=%s\n", s->kms->epid_csvlk->key, FAKE_EPID);
    expect_in(text, line);
    hex16(f.hwid_by_request[2], hw);
    snprintf(line, sizeof line, "\nhwid = %s\n", hw);
    expect_in(text, line);
    hex16(f.hwid_by_request[3], hw);
    assert_null(strstr(text, hw)); /* the third answer failed the count: not saved */
    assert_null(strstr(text, "old"));
    expect_in(r->out, "2 of 3 requests verified");
    snprintf(line, sizeof line, "Saved the host's ePID and HWID to %s\n", file);
    expect_in(r->out, line);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    list_dir(dir, names, sizeof names);
    assert_string_equal(names, "id.conf\n");

    /* protocol 4: no HWID in the answer: a comment, a note on stderr (not with -q) */
    fake_start(&f, false);
    fake_run(&f);
    const char *e2[] = {"-4", "--save-identity", file, NULL};
    run_ok(r, &f, false, e2);
    expect(r, 0);
    assert_true(read_text(file, text, sizeof text));
    snprintf(line, sizeof line, "\nepid = %s=%s\n# no hwid: a protocol 4 or 5 answer carries none",
             s->kms->epid_csvlk->key, FAKE_EPID);
    expect_in(text, line);
    assert_null(strstr(text, "\nhwid"));
    expect_in(r->out, "Saved the host's ePID to ");
    expect_in(r->err, "kmsc: --save-identity: note: no HWID: a protocol 4 or 5 answer carries none\n");
    const char *e2q[] = {"-5", "-q", "--save-identity", file, NULL};
    run_ok(r, &f, false, e2q);
    fake_stop(&f);
    expect(r, 0);
    assert_string_equal(r->out, "");
    assert_string_equal(r->err, "");

    /* no verified answer: FILE left alone, the reason on stderr, the refusal's exit status */
    fake_start(&f, false);
    f.plan[1] = FK_REFUSE;
    fake_run(&f);
    const char *e3[] = {"--save-identity", file, NULL};
    run_ok(r, &f, false, e3);
    fake_stop(&f);
    expect(r, KMSC_REFUSED);
    snprintf(line, sizeof line, "kmsc: --save-identity: no verified answer; %s not written\n", file);
    expect_in(r->err, line);
    assert_true(read_text(file, text, sizeof text));
    expect_in(text, "\n# no hwid"); /* the -5 run's */

    /* a FILE that cannot be written: exit 1 before connecting */
    fake_start(&f, false);
    fake_run(&f);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/missing/id.conf", dir);
    const char *e4[] = {"--save-identity", bad, NULL};
    run_ok(r, &f, false, e4);
    expect(r, KMSC_INTERNAL);
    snprintf(line, sizeof line, "kmsc: --save-identity: %s: cannot write in its directory %s/missing: ", bad, dir);
    expect_in(r->err, line);
    const char *e5[] = {"--save-identity", dir, NULL};
    run_ok(r, &f, false, e5);
    expect(r, KMSC_INTERNAL);
    expect_in(r->err, ": is a directory\n");
    snprintf(bad, sizeof bad, "%s/", dir);
    const char *e6[] = {"--save-identity", bad, NULL};
    run_ok(r, &f, false, e6);
    expect(r, KMSC_INTERNAL);
    fake_stop(&f);
    assert_int_equal(f.conns, 0);
    KMSC(r, "--save-identity", "");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "kmsc: --save-identity: the file name is empty\n");
    KMSC(r, "--save-identity");
    expect(r, KMSC_USAGE);

    list_dir(dir, names, sizeof names);
    assert_string_equal(names, "id.conf\n");
    assert_int_equal(unlink(file), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* Whether name resolves to an address of family af (AF_INET, AF_INET6) on this machine. */
static bool resolves(const char *name, int af)
{
    struct addrinfo hints = {.ai_family = af, .ai_socktype = SOCK_STREAM}, *list = NULL;
    int rc = getaddrinfo(name, "1688", &hints, &list);
    if (rc == 0)
        freeaddrinfo(list);
    return rc == 0 && list != NULL;
}

/* --ipv4 / --ipv6 (kmsc and kmsc bench): getaddrinfo asked for that family only; a name without an address of it
 * is exit 3 saying so; both switches, or an address literal of the other family, are usage errors. */
static void test_family(void **state)
{
    (void)state;
    struct run run_, *r = &run_;
    KMSC(r, "--ipv4", "--ipv6", "127.0.0.1");
    expect(r, KMSC_USAGE);
    assert_string_equal(r->err, "kmsc: --ipv4 and --ipv6 exclude each other\nTry 'kmsc --help' for more information.\n");
    KMSC(r, "--ipv6", "127.0.0.1:1700");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "kmsc: --ipv6 conflicts with the IPv4 address 127.0.0.1\n");
    KMSC(r, "--ipv4", "--discover", "example.org"); /* DNS gives the addresses, of both families */
    expect(r, KMSC_USAGE);
    expect_in(r->err, "kmsc: --ipv4 does not go with --discover\n");
    KMSC(r, "--discover", "--save-identity", "", "example.org");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "kmsc: --save-identity: the file name is empty\n");
    KMSC(r, "--ipv4", "[::1]:1700");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "kmsc: --ipv4 conflicts with the IPv6 address ::1\n");
    KMSC(r, "--ipv4", "fe80::1%lo");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "--ipv4 conflicts with the IPv6 address fe80::1%lo");
    KMSC(r, "bench", "--ipv6", "--ipv4");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "kmsc bench: --ipv4 and --ipv6 exclude each other\n");
    KMSC(r, "bench", "--ipv6", "10.0.0.1");
    expect(r, KMSC_USAGE);
    expect_in(r->err, "kmsc bench: --ipv6 conflicts with the IPv4 address 10.0.0.1\n");
    assert_string_equal(r->out, "");

    /* literals of the right family; localhost over IPv4 (a fake host on 127.0.0.1 only) */
    struct fake f;
    fake_start(&f, false);
    fake_run(&f);
    char target[64];
    const char *e4[] = {"--ipv4", NULL};
    run_ok(r, &f, false, e4);
    expect(r, 0);
    snprintf(target, sizeof target, "localhost:%u", f.port);
    KMSC(r, "--ipv4", target);
    expect(r, 0);
    snprintf(target, sizeof target, "127.0.0.1:%u", f.port);
    expect_in(r->out, target); /* the Host: line */
    snprintf(target, sizeof target, "localhost:%u", f.port);
    KMSC(r, "bench", "-c", "1", "-N", "1", "-q", "--ipv4", target);
    expect(r, 0);
    /* localhost over IPv6: refused at ::1 where it has that address, else "has no IPv6 address" */
    KMSC(r, "--ipv6", target);
    expect(r, KMSC_CONNECT);
    bool has6 = resolves("localhost", AF_INET6);
    expect_in(r->err, has6 ? "refused" : "kmsc: localhost has no IPv6 address\n");
    KMSC(r, "bench", "-N", "1", "--ipv6", target);
    expect(r, KMSC_CONNECT);
    if (!has6)
        expect_in(r->err, "kmsc bench: localhost has no IPv6 address\n");
    fake_stop(&f);
    assert_int_equal(f.requests, 3);

    fake_start(&f, true);
    fake_run(&f);
    const char *e6[] = {"--ipv6", NULL};
    run_ok(r, &f, true, e6);
    fake_stop(&f);
    expect(r, 0);
    assert_int_equal(f.requests, 1);

    /* a name with IPv6 addresses only, where this machine has one: "has no IPv4 address" */
    static const char *const v6only[] = {"ip6-localhost", "ip6-loopback", "localhost6"};
    for (size_t i = 0; i < sizeof v6only / sizeof v6only[0]; i++) {
        if (!resolves(v6only[i], AF_INET6) || resolves(v6only[i], AF_INET))
            continue;
        KMSC(r, "--ipv4", v6only[i]);
        expect(r, KMSC_CONNECT);
        char want[64];
        snprintf(want, sizeof want, "kmsc: %s has no IPv4 address\n", v6only[i]);
        expect_in(r->err, want);
        break;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_discover_texts),
        cmocka_unit_test(test_list_products),
        cmocka_unit_test(test_parse_target),
        cmocka_unit_test(test_worse_and_uuid),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_defaults_and_product),
        cmocka_unit_test(test_previous_cmid),
        cmocka_unit_test(test_product_variants),
        cmocka_unit_test(test_syntax_choice),
        cmocka_unit_test(test_multiplex),
        cmocka_unit_test(test_raw_ids),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_low_count),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_rpc_failures),
        cmocka_unit_test(test_silent_peer), cmocka_unit_test(test_slow_reply),
        cmocka_unit_test(test_many_requests),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_ipv6_and_names),
        cmocka_unit_test(test_family),
        cmocka_unit_test(test_save_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
