#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "sanitizer.h"
#include "timeutil.h"

/* The one piece of process-wide state in kmsd: where log lines go. Set at start-up by log_open(); the level and
 * the file change at a reload (log_set_level, log_reopen) while other threads log: the level is atomic, the file
 * is swapped and written under the mutex. */
static struct {
    _Atomic int level;
    FILE *file; /* NULL: stderr */
    int use_syslog;
    pthread_mutex_t mu;
} logger = {LOG_LVL_INFO, NULL, 0, PTHREAD_MUTEX_INITIALIZER};

/* The descriptor lines go to (logger.file's, or standard error's), for on_fatal, which cannot take the mutex. */
static _Atomic int fatal_fd = STDERR_FILENO;

/* Lines go to f from now on (NULL: standard error); returns the file they went to. The caller holds logger.mu
 * when other threads may log. */
static FILE *use_file(FILE *f)
{
    FILE *old = logger.file;
    logger.file = f;
    atomic_store(&fatal_fd, f ? fileno(f) : STDERR_FILENO);
    return old;
}

/* n bytes of whole lines to the log, in one call, under the mutex (a reload may swap the file meanwhile). */
static void write_lines(const char *p, size_t n)
{
    pthread_mutex_lock(&logger.mu);
    (void)fwrite(p, 1, n, logger.file ? logger.file : stderr);
    pthread_mutex_unlock(&logger.mu);
}

int log_open(enum log_level level, const char *path, int use_syslog)
{
    atomic_store(&logger.level, (int)level);
    logger.use_syslog = use_syslog;
    if (use_syslog)
        openlog("kmsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    if (path && *path) {
        FILE *f = fopen(path, "a");
        if (!f)
            return -errno;
        setvbuf(f, NULL, _IOLBF, 0);
        (void)use_file(f);
    }
    return 0;
}

void log_set_level(enum log_level level)
{
    atomic_store(&logger.level, (int)level);
}

/* The lines the calling thread holds (log_hold): NULL when it writes them at once. */
#define LOG_HOLD_MAX 16384
static _Thread_local char *held;
static _Thread_local size_t held_len;

/*
 * A crash or an abort on a thread that holds lines: they are what it logged last, the ones that say what it was
 * doing, and would go with it. The handler writes them with write(2) (safe in a handler; it takes no lock: at worst
 * a line a crash cut short), then raises the signal again: SA_RESETHAND has restored its default action, which
 * takes effect when the handler returns (a core dump, as without it). ASan builds leave SIGSEGV, SIGBUS and SIGFPE
 * to the sanitizer's own report.
 */
static void on_fatal(int sig)
{
    int saved = errno;
    if (held && held_len) {
        const char *p = held;
        size_t n = held_len;
        held_len = 0;
        int fd = atomic_load(&fatal_fd);
        while (n > 0) {
            ssize_t w = write(fd, p, n);
            if (w <= 0)
                break;
            p += w;
            n -= (size_t)w;
        }
    }
    (void)raise(sig); /* delivered once the handler returns, with the default action */
    errno = saved;
}

static void fatal_handlers(void)
{
    static const int sigs[] = {SIGABRT, SIGILL,
#ifndef KMSD_ASAN
                               SIGSEGV, SIGBUS, SIGFPE
#endif
    };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sa.sa_flags = (int)SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        (void)sigaction(sigs[i], &sa, NULL); /* cannot fail for these signals */
}

void log_hold(void)
{
    if (!held && !logger.use_syslog) {
        held = malloc(LOG_HOLD_MAX);
        held_len = 0;
        if (held) /* at each hold that starts: whatever set these handlers since, the lines come first */
            fatal_handlers();
    }
}

void log_flush(void)
{
    if (!held_len)
        return;
    write_lines(held, held_len);
    held_len = 0;
}

void log_release(void)
{
    log_flush();
    free(held);
    held = NULL;
}

int log_reopen(const char *path)
{
    log_flush(); /* what this thread holds goes to the file it was logged for */
    FILE *f = NULL;
    if (path && *path) {
        f = fopen(path, "a");
        if (!f)
            return -errno;
        setvbuf(f, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&logger.mu);
    FILE *old = use_file(f);
    pthread_mutex_unlock(&logger.mu);
    if (old)
        fclose(old);
    return 0;
}

void log_close(void)
{
    log_release();
    FILE *old = use_file(NULL);
    if (old)
        fclose(old);
    if (logger.use_syslog)
        closelog();
}

int log_enabled(enum log_level level)
{
    return (int)level <= atomic_load_explicit(&logger.level, memory_order_relaxed);
}

/* "YYYY-MM-DDTHH:MM:SS" of t in UTC into out (LOG_STAMP_LEN + 1 bytes), made once per second per thread: an
 * activation's line is formatted at every activation. */
#define LOG_STAMP_LEN 19
static void stamp(time_t t, char *out)
{
    static _Thread_local time_t last = (time_t)-1;
    static _Thread_local char text[TIMEUTIL_UTC_TEXT_MAX];
    if (t != last) {
        if (timeutil_format_utc((int64_t)t, TIMEUTIL_UTC_SECOND, text) != LOG_STAMP_LEN)
            memcpy(text, "0000-00-00T00:00:00", LOG_STAMP_LEN + 1);
        last = t;
    }
    memcpy(out, text, LOG_STAMP_LEN + 1);
}

/* A line is "STAMP.mmmZ LEVEL: MESSAGE\n", MESSAGE cut at LOG_MSG_MAX bytes; formatted once, in one buffer, and
 * written with one call (printing it with fprintf to the unbuffered stderr formatted it twice). */
#define LOG_MSG_MAX 1023
#define LOG_LINE_MAX (LOG_STAMP_LEN + 16 + LOG_MSG_MAX + 2)
_Static_assert(LOG_LINE_MAX <= LOG_HOLD_MAX, "a held line fits the buffer");
__attribute__((format(printf, 2, 0))) static void emit(enum log_level level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    if (!log_enabled(level))
        return;
    char line[LOG_LINE_MAX];
    if (logger.use_syslog) {
        vsnprintf(line, LOG_MSG_MAX + 1, fmt, ap);
        syslog(prio[level], "%s", line);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    stamp(ts.tv_sec, line);
    size_t n = LOG_STAMP_LEN;
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03dZ %s: ", (int)(ts.tv_nsec / 1000000), names[level]);
    int m = vsnprintf(line + n, LOG_MSG_MAX + 1, fmt, ap);
    if (m > 0)
        n += (size_t)m < LOG_MSG_MAX ? (size_t)m : LOG_MSG_MAX;
    line[n++] = '\n';
    if (held) {
        if (level >= LOG_LVL_INFO) {
            if (held_len + n > LOG_HOLD_MAX)
                log_flush();
            memcpy(held + held_len, line, n);
            held_len += n;
            return;
        }
        log_flush(); /* a warning or an error: after the lines before it, and at once */
    }
    write_lines(line, n);
}

#define LOG_FN(name, lvl)                                                                                              \
    void name(const char *fmt, ...)                                                                                    \
    {                                                                                                                  \
        va_list ap;                                                                                                    \
        va_start(ap, fmt);                                                                                             \
        emit(lvl, fmt, ap);                                                                                            \
        va_end(ap);                                                                                                    \
    }

LOG_FN(log_error, LOG_LVL_ERROR)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

char *log_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0)
        return out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = *p >= 0x20 && *p != 0x7f && *p != '\\' && *p != '"';
        size_t need = plain ? 1 : 4;
        if (cap - 1 - o < need)
            break;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return out;
}

void log_thread_name(const char *name)
{
    char comm[16]; /* TASK_COMM_LEN */
    snprintf(comm, sizeof comm, "kmsd-%s", name);
    (void)prctl(PR_SET_NAME, (unsigned long)comm, 0UL, 0UL, 0UL);
}
