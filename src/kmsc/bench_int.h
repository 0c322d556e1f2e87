/*
 * bench_int — private to `kmsc bench` (bench*.c): the bounds, the options, the state of one run and the calls
 * between its files. bench.c sets a run up and tears it down, bench_args.c parses the command line,
 * bench_worker.c drives the workers and the idle connections on the libuv loop, bench_hist.c keeps the latency
 * histogram and bench_report.c prints the progress line and the result. One struct bench per run, no globals.
 */
#ifndef KMSC_BENCH_INT_H
#define KMSC_BENCH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "client.h"
#include "guid.h"
#include "kms.h"
#include "products.h"
#include "rpc.h"

#define BENCH_MAX_WORKERS 10000ul
#define BENCH_MAX_HOLD 100000ul
#define BENCH_MAX_SECONDS 86400.0
#define BENCH_MAX_ACTIVATIONS 1000000000ul
#define BENCH_MAX_CMID_POOL 1000000ul
#define BENCH_MAX_SEED 4294967295ul
#define BENCH_MAX_MIX 16        /* entries of --mix and --product */
#define BENCH_MAX_WEIGHT 1000ul /* one weight of a mix */
#define BENCH_DEFAULT_SECONDS 10.0
#define BENCH_DEFAULT_WORKERS 8ul
#define BENCH_DEFAULT_TIMEOUT_MS 10000
#define BENCH_TICK_MS 50        /* deadline and duration checks */
#define BENCH_HOLD_INFLIGHT 128 /* idle connections being opened at once */
#define BENCH_MAX_MESSAGES 5    /* distinct error messages printed */
#define BENCH_OUT_MAX 1024      /* a BIND or REQUEST PDU (a V6 REQUEST is under 400 bytes) */
/* BIND pfc_flags as kmsc's: FIRST|LAST|CONC_MPX (0x13) as the incumbent clients send; --no-multiplex: 0x03 */
#define BIND_FLAGS (RPC_PFC_FIRST_FRAG | RPC_PFC_LAST_FRAG | RPC_PFC_CONC_MPX)

/* ---- latency histogram: exact below 128 us, then 64 buckets per power of two (under 1.6 % wide) ---- */

#define HIST_LINEAR 128u
#define HIST_SUB 64u
#define HIST_OCTAVES 36u /* up to 2^43 us */
#define HIST_BUCKETS (HIST_LINEAR + HIST_OCTAVES * HIST_SUB)

struct hist {
    uint64_t n;
    uint64_t max;
    uint64_t b[HIST_BUCKETS];
};

/* Counts one latency of us microseconds. */
void bench_hist_add(struct hist *h, uint64_t us);

/* The p-quantile (0 < p <= 1) in ms; 0 when empty. */
double bench_hist_ms(const struct hist *h, double p);

/* A weighted choice: entry k is taken weight[k] times in every total consecutive picks. */
struct mix {
    unsigned n;
    unsigned long total;
    unsigned long weight[BENCH_MAX_MIX];
};

/* The entry of m for the counter-th pick. */
unsigned bench_mix_pick(const struct mix *m, uint64_t counter);

struct bench_opts {
    struct kmsc_target target; /* with the family of --ipv4 / --ipv6 */
    unsigned long workers;
    double seconds;  /* 0: until -N */
    unsigned long n; /* 0: until -d */
    bool new_connection;
    bool verify;
    bool json;
    bool quiet;
    bool help; /* --help: print the help, nothing else */
    bool ndr64, btfn;
    uint8_t bind_flags; /* BIND_FLAGS, without CONC_MPX after --no-multiplex */
    int timeout_ms;
    unsigned long cmid_pool; /* 0: a distinct CMID per activation */
    bool seeded;             /* --seed: the CMIDs drawn from seed, the same in every run with it */
    unsigned long seed;
    unsigned long hold;
    struct mix vmix;
    uint16_t versions[BENCH_MAX_MIX]; /* 0: the product's own protocol */
    struct mix pmix;
    const struct products_sku *products[BENCH_MAX_MIX];
};

/* ---- state ---- */

enum err_kind { EK_CONNECT, EK_TIMEOUT, EK_CLOSED, EK_RPC, EK_REFUSED, EK_VERIFY, EK_COUNT, EK_INTERNAL, EK_N };

enum wstate { W_IDLE, W_CONNECTING, W_BINDING, W_REQUESTING, W_CLOSING, W_DONE };

struct bench;

struct worker {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    struct bench *b;
    enum wstate st;
    bool open; /* tcp is initialised and not yet closed */
    bool connected;
    bool writing;          /* a uv_write is in flight: out[] is still in use */
    bool next_after_write; /* the reply came before the write callback: start the next one from there */
    bool retry;            /* resend the current activation on a new connection (host closed a reused one) */
    unsigned long on_conn; /* activations answered on this connection */
    uint32_t call_id;
    uint16_t ctx_id;
    enum rpc_syntax syntax;
    unsigned version_slot, product_slot;
    uint64_t t_start;  /* ns: this activation began (connect included with --new-connection) */
    uint64_t deadline; /* ns: the pending connect or reply must complete by then */
    struct rpc_bind offered;
    struct rpc_bind_ack ack;
    struct kms_request req;
    size_t out_len;
    uint8_t out[BENCH_OUT_MAX];
    size_t in_len;
    uint8_t in[KMS_LIMIT_PDU_MAX];
};

struct hold {
    uv_tcp_t tcp;
    uv_connect_t creq;
    struct bench *b;
    bool open;
};

struct bench {
    const struct bench_opts *o;
    uv_loop_t *loop;
    uv_timer_t tick;
    struct sockaddr_storage addr;
    char peer[KMSC_ADDR_TEXT];
    struct worker *w;
    unsigned long live; /* workers not yet W_DONE */
    struct hold *h;
    unsigned long hold_next, hold_pending, hold_ok, hold_failed, hold_lost;
    bool loading;  /* the load phase has begun */
    bool stopping; /* no new activations */
    bool ended;
    bool progress; /* stderr is a terminal: one progress line */
    uint64_t t0, t_end, t_last_progress;
    uint64_t started, ok, failed, connections, reconnects;
    uint64_t errors[EK_N];
    uint64_t by_version[KMS_VERSIONS]; /* answered activations by version, KMS_VERSION_MIN first (others: none) */
    enum kmsc_status worst;
    unsigned messages;
    char message[BENCH_MAX_MESSAGES][KMSC_MSG_MAX];
    struct kms_request templ[BENCH_MAX_MIX]; /* per product of the mix */
    struct guid *cmids;                      /* --cmid-pool */
    struct guid cmid_base;
    uint64_t cmid_counter;
    struct hist lat;
    uint8_t holdbuf[256];
};

/* Fills *o from argv (argv[0] == "bench"); o->help after --help. Returns 0 or KMS_EINVAL (status KMSC_USAGE,
 * the reason in res->msg). */
int bench_parse_args(struct bench_opts *o, int argc, char **argv, struct kmsc_result *res);

/* Prints the help text (stdout). */
void bench_help(void);

/* The tick timer's callback: deadlines, the duration, the progress line. */
void bench_on_tick(uv_timer_t *t);

/* Opens the next idle connections (--hold); starts the load once all are open (at once without --hold). */
void bench_hold_next(struct bench *b);

/* The progress line on stderr at time now (ns); final ends it with a newline. */
void bench_print_progress(const struct bench *b, uint64_t now, bool final);

/* The result of the run over el seconds, as one JSON object or as text, on stdout. */
void bench_print_json(const struct bench *b, double el);
void bench_print_text(const struct bench *b, double el);

#endif
