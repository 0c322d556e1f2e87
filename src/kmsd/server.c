/* server — server_run: sets kmsd's network side up (server_internal.h lists the parts), runs the loop until
 * SIGTERM/SIGINT, and stops it: listeners, connections, the registry's writer, then the grace timer for
 * connections whose replies do not go out; at the end the "stopped" and "counters" lines. */
#include "server_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "sdnotify.h"

static int64_t unix_now(void)
{
    return (int64_t)time(NULL);
}

/* The grace after SIGTERM is over: close what is still open, replies or not. */
static void on_grace(uv_timer_t *t)
{
    struct server *srv = t->data;
    for (struct conn *c = srv->conns; c; c = c->next)
        server_conn_abort(c); /* give up on replies the peer does not read */
    uv_close((uv_handle_t *)t, NULL);
}

static void sd_status_text(struct server *srv, bool stalled, char *out, size_t cap);

/* SIGHUP (`systemctl reload kmsd`, logrotate's postrotate): the reload hook re-reads the configuration and reopens
 * the log file; the service manager hears RELOADING=1 before and READY=1 after. Open connections stay open. */
static void on_hangup(uv_signal_t *s, int signum)
{
    struct server *srv = s->data;
    if (!srv->cfg->reload) {
        log_warn("signal %d (SIGHUP): ignored (no reload here)", signum);
        return;
    }
    sdnotify_reloading("reloading the configuration");
    srv->cfg->reload(srv->cfg->reload_ctx);
    ratelimit_set_limits(&srv->rl, srv->cfg->max_per_address, srv->cfg->rate_limit, srv->cfg->rate_burst);
    if (srv->writer) { /* --count-mode may have changed: the writer counts (or stops) from the next fold */
        store_writer_set_count(srv->writer, srv->cfg->genuine_count);
        store_writer_set_idle_unload(srv->writer, srv->cfg->registry_idle_unload_ms);
        store_writer_set_limits(srv->writer, srv->cfg->retention_days, srv->cfg->max_clients);
    }
    char status[200];
    sd_status_text(srv, srv->sd_stalled, status, sizeof status);
    sdnotify_ready(status);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct server *srv = s->data;
    if (srv->stopping)
        return;
    srv->stopping = 1;
    log_info("signal %d: stopping (%lld connections open)", signum,
             (long long)atomic_load_explicit(&srv->m->open, memory_order_relaxed));
    sdnotify_stopping("stopping: answering the activations under way");
    if (srv->handles & SERVER_H_SD_TICK)
        uv_close((uv_handle_t *)&srv->sd_tick, NULL);
    server_listeners_close(srv);
    uv_close((uv_handle_t *)&srv->turn, NULL);
    log_release(); /* the stop's lines as they come */
    uv_close((uv_handle_t *)&srv->flush, NULL);
    uv_close((uv_handle_t *)&srv->sig_term, NULL);
    uv_close((uv_handle_t *)&srv->sig_int, NULL);
    uv_close((uv_handle_t *)&srv->sig_hup, NULL);
    uv_close((uv_handle_t *)&srv->fd_pause, NULL);
    uv_close((uv_handle_t *)&srv->idle_release, NULL);
    struct conn *next;
    for (struct conn *c = srv->conns; c; c = next) {
        next = c->next;
        server_conn_close_why(c, METRICS_CLOSE_SHUTDOWN); /* replies already queued still go out first */
    }
    if (srv->writer) { /* commits what is queued and answers those activations, then closes the database */
        store_writer_stop(srv->writer);
        srv->writer = NULL;
    }
    if (!srv->conns) { /* the last one may have gone in store_writer_stop, closing the grace timer already */
        if (!uv_is_closing((uv_handle_t *)&srv->grace))
            uv_close((uv_handle_t *)&srv->grace, NULL);
        return;
    }
    int rc = uv_timer_start(&srv->grace, on_grace, SERVER_STOP_GRACE_MS, 0);
    if (rc < 0) { /* cannot happen with an initialised timer; stopping matters more than the grace */
        log_error("cannot start the grace timer (%s): closing every connection now", uv_strerror(rc));
        on_grace(&srv->grace);
    }
}

/* One line with every non-zero rejection, close and refusal counter by name (the same names as the metrics),
 * e.g. "rejected access=3 per_address=1; closed peer=10 slow_sender=2; refused rate=4". */
static void log_counters(const struct metrics *m)
{
    char line[1024];
    size_t off = 0;
    const char *sep = "";
    for (int g = 0; g < 3; g++) {
        int n = g == 0 ? METRICS_REJECT_COUNT : g == 1 ? METRICS_CLOSE_COUNT : METRICS_REFUSE_COUNT;
        int first = 1;
        for (int i = 0; i < n; i++) {
            uint64_t v = metrics_get(g == 0 ? &m->rejected[i] : g == 1 ? &m->closed[i] : &m->refusals[i]);
            if (v == 0 || off >= sizeof line)
                continue;
            const char *name = g == 0 ? metrics_reject_name((enum metrics_reject)i)
                               : g == 1 ? metrics_close_name((enum metrics_close)i)
                                        : metrics_refusal_name((enum metrics_refusal)i);
            int k = snprintf(line + off, sizeof line - off, "%s%s%s=%llu", first ? sep : " ",
                             first ? (g == 0 ? "rejected " : g == 1 ? "closed " : "refused ") : "", name,
                             (unsigned long long)v);
            if (k > 0)
                off += (size_t)k;
            first = 0;
            sep = "; ";
        }
    }
    uint64_t shed = metrics_get(&m->fd_shed), untracked = metrics_get(&m->addr_untracked),
             evicted = metrics_get(&m->addr_evicted);
    if (off < sizeof line && (shed || untracked || evicted))
        snprintf(line + off, sizeof line - off, "%sfd_shed=%llu addr_untracked=%llu addr_evicted=%llu", sep,
                 (unsigned long long)shed, (unsigned long long)untracked, (unsigned long long)evicted);
    if (off > 0 || shed || untracked || evicted)
        log_info("counters: %s", line);
}

/* The last lines: what was served, and every non-zero counter of rejections, closes and refusals. */
static void log_stopped(const struct metrics *m)
{
    uint64_t answered, refused;
    metrics_activation_totals(m, &answered, &refused);
    uint64_t activations = answered + refused;
    log_info("stopped: %llu connections, %llu activations (%llu refused, %llu unrecorded)",
             (unsigned long long)metrics_get(&m->accepted), (unsigned long long)activations,
             (unsigned long long)refused, (unsigned long long)metrics_get(&m->unrecorded));
    log_counters(m);
}

/* Frees srv and closes the registry if it was never handed to the writer. */
static void server_free(struct server *srv)
{
    if (srv->db)
        store_close(srv->db);
    ratelimit_free(&srv->rl);
    server_conn_pool_drain(srv);
    if (srv->reserve_fd >= 0)
        close(srv->reserve_fd);
    free(srv);
}

/* The server's state before there is a loop: the per-address table, the reserve descriptor, the first
 * association group. It owns cfg->db from here. Returns 0 or a negative code (cfg->db is closed then). */
static int server_new(const struct server_cfg *cfg, struct metrics *m, struct server **out)
{
    /* Everything but the shared receive buffer is zeroed: zeroing its 64 KiB would make every page of it
     * resident from the start, where reads (a PDU or two at a time) touch only the first pages. */
    struct server *srv = malloc(sizeof *srv);
    if (!srv) {
        log_error("out of memory");
        if (cfg->db)
            store_close(cfg->db);
        return -ENOMEM;
    }
    memset(srv, 0, offsetof(struct server, readbuf));
    srv->cfg = cfg;
    srv->m = m;
    srv->db = cfg->db;
    srv->reserve_fd = -1;
    struct ratelimit_cfg rc_cfg = {
        .max_per_address = cfg->max_per_address,
        .rate_per_minute = cfg->rate_limit,
        .burst = cfg->rate_burst,
        .capacity = cfg->max_addresses ? cfg->max_addresses : 1024,
        .log_interval_ms = SERVER_LOG_ADDR_MS,
    };
    int rc = cfg->rng->fill(cfg->rng->ctx, rc_cfg.hash_key, sizeof rc_cfg.hash_key);
    if (rc == 0)
        rc = ratelimit_init(&srv->rl, &rc_cfg);
    if (rc != 0) {
        log_error("cannot set up the per-address table (%u addresses)", (unsigned)rc_cfg.capacity);
        server_free(srv);
        return rc < 0 ? rc : -EIO;
    }
    srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    uint8_t r[4];
    if (cfg->rng->fill(cfg->rng->ctx, r, sizeof r) == 0)
        srv->next_assoc = buf_le32(r) | 1u;
    *out = srv;
    return 0;
}

/* After each turn of the loop's polling: one more (on_listen tells a queue from one connection by them). */
static void on_turn(uv_check_t *h)
{
    struct server *srv = h->data;
    srv->turns++;
}

/* Before the loop waits for events: the turn's log lines, held since the last wait, in one write. */
static void on_flush(uv_prepare_t *h)
{
    (void)h;
    log_flush();
}

/* Initialises the loop-wide handles (the turn counter, the fd-pause and grace timers, the signals); each one
 * that is initialised is marked in srv->handles for server_teardown. Returns 0 or a negative code after a
 * message. */
static int server_handles_init(struct server *srv)
{
    srv->turn.data = srv;
    int rc = uv_check_init(srv->loop, &srv->turn);
    if (rc == 0) {
        srv->handles |= SERVER_H_TURN;
        rc = uv_check_start(&srv->turn, on_turn);
    }
    if (rc == 0 && (rc = uv_prepare_init(srv->loop, &srv->flush)) == 0) {
        srv->handles |= SERVER_H_FLUSH;
        rc = uv_prepare_start(&srv->flush, on_flush);
        uv_unref((uv_handle_t *)&srv->flush);
    }
    if (rc == 0)
        rc = uv_timer_init(srv->loop, &srv->fd_pause);
    if (rc == 0) {
        srv->handles |= SERVER_H_FD_PAUSE;
        rc = uv_timer_init(srv->loop, &srv->grace);
    }
    if (rc == 0) {
        srv->handles |= SERVER_H_GRACE;
        rc = uv_timer_init(srv->loop, &srv->idle_release);
    }
    if (rc == 0) {
        srv->handles |= SERVER_H_IDLE_RELEASE;
        uv_unref((uv_handle_t *)&srv->idle_release); /* never what keeps the loop running */
        rc = uv_signal_init(srv->loop, &srv->sig_term);
    }
    if (rc == 0) {
        srv->handles |= SERVER_H_SIG_TERM;
        rc = uv_signal_init(srv->loop, &srv->sig_int);
    }
    if (rc == 0) {
        srv->handles |= SERVER_H_SIG_INT;
        rc = uv_signal_init(srv->loop, &srv->sig_hup);
    }
    if (rc < 0) {
        log_error("cannot set up the event loop's timers and signals: %s", uv_strerror(rc));
        return rc;
    }
    srv->handles |= SERVER_H_SIG_HUP;
    srv->sig_hup.data = srv;
    srv->fd_pause.data = srv;
    srv->grace.data = srv;
    srv->idle_release.data = srv;
    srv->sig_term.data = srv;
    srv->sig_int.data = srv;
    return 0;
}

/* The registry cannot be used as configured (the writer logged why): stop as for SIGTERM, from the loop's next
 * turn (this runs inside the writer's own callback, which the stop would close under it). */
static void on_writer_fatal(void *ctx, int err)
{
    struct server *srv = ctx;
    srv->registry_fatal = err;
    log_error("registry: cannot be used as configured: stopping");
    if (raise(SIGTERM) != 0)
        log_error("cannot stop: %s", strerror(errno));
}

/* Starts the registry's writer when there is a registry, with the counts known at start (genuine mode). Returns
 * 0 or a negative code after a message (srv->db is still srv's to close then). */
static int server_start_writer(struct server *srv)
{
    const struct server_cfg *cfg = srv->cfg;
    if (!srv->db)
        return 0;
    /* the counts known at start (none while a PostgreSQL registry is not reached: the first fold's count) */
    for (int g = 0; g < STORE_APP_GROUPS && cfg->genuine_count && !store_asleep(srv->db); g++) {
        enum store_app_group ag = (enum store_app_group)g;
        struct store_count c;
        int rc = store_count(srv->db, ag, (int64_t)time(NULL), STORE_COUNT_WINDOW_DAYS, store_count_limit(ag), &c);
        srv->last_count[g] = rc == 0 ? c.count : 0;
    }
    struct store_writer_cfg wc = {
        .count = cfg->genuine_count,
        .retention_days = cfg->retention_days,
        .max_clients = cfg->max_clients,
        .idle_unload_ms = cfg->registry_idle_unload_ms,
        .journal = cfg->db_path,
        .now = unix_now,
        .metrics = srv->m,
        .on_fatal = on_writer_fatal,
        .fatal_ctx = srv,
    };
    int rc = store_writer_start(srv->db, srv->loop, &wc, &srv->writer);
    if (rc < 0) {
        log_error("registry: cannot start the writer thread: %s", uv_strerror(rc));
        return rc;
    }
    srv->db = NULL; /* the writer's now */
    return 0;
}

/* The line the service manager shows (systemctl status): activations, connections, the registry's state. */
static void sd_status_text(struct server *srv, bool stalled, char *out, size_t cap)
{
    uint64_t answered, refused;
    metrics_activation_totals(srv->m, &answered, &refused);
    snprintf(out, cap, "%llu activations answered, %llu refused; %lld connections open%s",
             (unsigned long long)answered, (unsigned long long)refused,
             (long long)atomic_load_explicit(&srv->m->open, memory_order_relaxed),
             !srv->writer ? "" : stalled ? "; registry writer stalled" : "; registry ok");
}

/* Whether the registry writer made progress since the last tick, or had nothing to do. */
static bool writer_progressing(struct server *srv)
{
    if (!srv->writer)
        return true;
    struct store_writer_stats st;
    store_writer_stats(srv->writer, &st);
    uint64_t folded = st.committed + st.failed;
    bool ok = folded != srv->sd_folded || st.journaled <= folded;
    srv->sd_folded = folded;
    return ok;
}

/* A tick of the service manager's timer: STATUS=, and WATCHDOG=1 only when the loop turns (this runs) and the
 * writer progresses: a stuck writer stops the pings, and systemd restarts kmsd after WatchdogSec. */
static void on_sd_tick(uv_timer_t *t)
{
    struct server *srv = t->data;
    bool ok = writer_progressing(srv);
    if (!ok && !srv->sd_stalled)
        log_warn("registry writer made no progress since the last watchdog tick: not pinging the watchdog");
    if (ok && srv->sd_stalled)
        log_info("registry writer progressing again: watchdog pings resumed");
    srv->sd_stalled = !ok;
    char status[200];
    sd_status_text(srv, !ok, status, sizeof status);
    sdnotify_status(status, ok && sdnotify_watchdog_usec() > 0);
}

/* Tells the service manager kmsd is ready, and starts the tick: every half watchdog interval, or every
 * SDNOTIFY_STATUS_INTERVAL_MS without a watchdog. Nothing when no service manager listens. */
static void sd_start(struct server *srv)
{
    if (!sdnotify_enabled())
        return;
    char status[200];
    sd_status_text(srv, false, status, sizeof status);
    sdnotify_ready(status);
    uint64_t wd = sdnotify_watchdog_usec();
    uint64_t every_ms = wd ? wd / 2000 : SDNOTIFY_STATUS_INTERVAL_MS;
    if (every_ms == 0)
        every_ms = 1;
    if (wd)
        sdnotify_status(status, true);
    int rc = uv_timer_init(srv->loop, &srv->sd_tick);
    if (rc == 0) {
        srv->handles |= SERVER_H_SD_TICK;
        srv->sd_tick.data = srv;
        rc = uv_timer_start(&srv->sd_tick, on_sd_tick, every_ms, every_ms);
    }
    if (rc < 0)
        log_error("cannot start the service manager's timer (%s): no watchdog pings", uv_strerror(rc));
    else
        log_info("service manager: ready%s", wd ? "; watchdog pings every half interval" : "");
}

/* Everything before the loop runs: the loop's handles, the listeners, the hooks, the writer, the signals.
 * Returns 0, SERVER_ERR_LISTEN, or another negative code; every failure is logged. */
static int server_start(struct server *srv)
{
    const struct server_cfg *cfg = srv->cfg;
    int rc = server_handles_init(srv);
    if (rc < 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    rc = server_listeners_open(srv);
    if (rc == 0 && cfg->on_bound)
        rc = server_listeners_report(srv);
    if (rc == 0 && cfg->after_bind && cfg->after_bind(cfg->after_bind_ctx) != 0)
        rc = SERVER_ERR_LISTEN;
    if (rc < 0)
        return rc;
    for (int i = 0; i < srv->n_lis; i++) /* every listener holds its address: now say so */
        log_info("listening on %s", srv->lis[i].name);
    rc = server_start_writer(srv);
    if (rc < 0)
        return rc;
    rc = uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
    if (rc == 0)
        rc = uv_signal_start(&srv->sig_int, on_signal, SIGINT);
    if (rc == 0)
        rc = uv_signal_start(&srv->sig_hup, on_hangup, SIGHUP);
    if (rc < 0)
        log_error("cannot catch SIGTERM, SIGINT and SIGHUP: %s", uv_strerror(rc));
    else
        sd_start(srv);
    return rc;
}

/* Undoes a server_start that failed at any step: stops the writer, closes every handle that exists, lets the
 * loop finish closing them, closes the loop and frees srv (and the registry, if still srv's). */
static void server_teardown(struct server *srv)
{
    if (srv->writer) {
        store_writer_stop(srv->writer); /* closes the registry */
        srv->writer = NULL;
    }
    server_listeners_close(srv);
    uv_timer_t *timers[] = {&srv->fd_pause, &srv->grace, &srv->idle_release};
    const unsigned timer_bits[] = {SERVER_H_FD_PAUSE, SERVER_H_GRACE, SERVER_H_IDLE_RELEASE};
    uv_signal_t *signals[] = {&srv->sig_term, &srv->sig_int, &srv->sig_hup};
    const unsigned signal_bits[] = {SERVER_H_SIG_TERM, SERVER_H_SIG_INT, SERVER_H_SIG_HUP};
    for (int i = 0; i < 3; i++)
        if (srv->handles & timer_bits[i])
            uv_close((uv_handle_t *)timers[i], NULL);
    for (int i = 0; i < 3; i++)
        if (srv->handles & signal_bits[i])
            uv_close((uv_handle_t *)signals[i], NULL);
    if (srv->handles & SERVER_H_SD_TICK)
        uv_close((uv_handle_t *)&srv->sd_tick, NULL);
    if (srv->handles & SERVER_H_TURN)
        uv_close((uv_handle_t *)&srv->turn, NULL);
    if (srv->handles & SERVER_H_FLUSH)
        uv_close((uv_handle_t *)&srv->flush, NULL);
    log_release();
    (void)uv_run(srv->loop, UV_RUN_DEFAULT); /* only close callbacks are left to run */
    (void)uv_loop_close(srv->loop);
    server_free(srv);
}

int server_run(const struct server_cfg *cfg, struct metrics *m)
{
    struct server *srv;
    int rc = server_new(cfg, m, &srv);
    if (rc < 0)
        return rc;
    uv_loop_t loop;
    rc = uv_loop_init(&loop);
    if (rc < 0) {
        log_error("cannot set up the event loop: %s", uv_strerror(rc));
        server_free(srv);
        return rc;
    }
    srv->loop = &loop;
    rc = server_start(srv);
    if (rc < 0) {
        server_teardown(srv);
        return rc;
    }
    log_hold();
    rc = uv_run(&loop, UV_RUN_DEFAULT);
    log_release();
    int closed = uv_loop_close(&loop);
    int fatal = srv->registry_fatal;
    server_free(srv);
    if (closed != 0) {
        log_error("event loop ended with handles still open");
        return closed;
    }
    log_stopped(m);
    return fatal ? SERVER_ERR_REGISTRY : rc < 0 ? rc : 0;
}
