/* log: the lines a thread holds (log_hold) are written in order, by log_flush, when a warning or an error comes (first,
 * then it), when the buffer is full, and by log_release; other threads and a thread that does not hold write at once;
 * a line is never cut or mixed with another; a crash or an abort writes them before the process dies of it.
 * log_thread_name names the thread. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "sanitizer.h"

static char path[32];

/* The log file's text (malloc'ed, NUL-terminated). */
static char *text(void)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *t = calloc(1, 1 << 20);
    assert_non_null(t);
    size_t n = fread(t, 1, (1 << 20) - 1, f);
    t[n] = '\0';
    fclose(f);
    return t;
}

static int count_lines(const char *t)
{
    int n = 0;
    for (; *t; t++)
        n += *t == '\n';
    return n;
}

/* Whether the messages appear in t in this order, each once. */
static void in_order(const char *t, const char *const *msgs, size_t n)
{
    const char *at = t;
    for (size_t i = 0; i < n; i++) {
        const char *p = strstr(at, msgs[i]);
        if (!p)
            fail_msg("\"%s\" not found in order in:\n%s", msgs[i], t);
        assert_null(strstr(p + 1, msgs[i]));
        at = p + strlen(msgs[i]);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/kmsd-test-log-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return log_open(LOG_LVL_DEBUG, path, 0);
}

static int teardown(void **state)
{
    (void)state;
    log_close();
    unlink(path);
    return 0;
}

static void *other_thread(void *arg)
{
    (void)arg;
    log_info("from another thread");
    return NULL;
}

static void held_until_flush_or_warning(void **state)
{
    (void)state;
    log_hold();
    log_info("first %d", 1);
    log_hold(); /* again: what is held stays */
    log_debug("second");
    char *t = text();
    assert_string_equal(t, ""); /* held */
    free(t);

    pthread_t th; /* another thread does not hold: its line is written at once */
    assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    t = text();
    assert_non_null(strstr(t, "info: from another thread\n"));
    assert_int_equal(count_lines(t), 1);
    free(t);

    log_warn("third"); /* after what is held, at once */
    t = text();
    const char *order[] = {"info: first 1\n", "debug: second\n", "warn: third\n"};
    in_order(t, order, 3);
    assert_int_equal(count_lines(t), 4);
    free(t);

    log_info("fourth");
    log_flush();
    log_flush(); /* nothing more */
    t = text();
    assert_non_null(strstr(t, "info: fourth\n"));
    assert_int_equal(count_lines(t), 5);
    free(t);

    log_info("fifth");
    log_release(); /* writes what is held, then lines go at once */
    log_info("sixth");
    t = text();
    const char *order2[] = {"warn: third\n", "info: fourth\n", "info: fifth\n", "info: sixth\n"};
    in_order(t, order2, 4);
    free(t);
}

/* More than the buffer holds: written as it fills, every line whole and in order. */
static void full_buffer(void **state)
{
    (void)state;
    char pad[901];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    log_hold();
    for (int i = 0; i < 100; i++)
        log_info("line %03d %s", i, pad);
    char *t = text();
    int written = count_lines(t);
    assert_true(written >= 80 && written < 100); /* the full buffers went, the last part is held */
    free(t);
    log_error("the end");
    t = text();
    assert_int_equal(count_lines(t), 101);
    char want[16];
    const char *at = t;
    for (int i = 0; i < 100; i++) {
        snprintf(want, sizeof want, "line %03d x", i);
        const char *p = strstr(at, want);
        assert_non_null(p);
        const char *eol = strchr(p, '\n');
        assert_int_equal(eol - p, (long)strlen("line 000 ") + 900);
        at = eol;
    }
    assert_non_null(strstr(at, "error: the end\n"));
    free(t);
    log_release();
}

/* A child holds lines, then dies of sig (raised, as kill(1) would send it, or by abort()): the lines are in the file
 * and the child died of that signal, not of anything else, and did not go on. */
static void crash_with(int sig)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit none = {0, 0};
        (void)setrlimit(RLIMIT_CORE, &none); /* no core file from the test */
        log_hold();
        log_info("held before signal %d", sig);
        if (sig == SIGABRT)
            abort();
        (void)raise(sig);
        log_info("went on after signal %d", sig); /* must not happen */
        log_release();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), sig);
    char *t = text();
    char want[64];
    snprintf(want, sizeof want, "info: held before signal %d\n", sig);
    assert_non_null(strstr(t, want));
    assert_null(strstr(t, "went on"));
    free(t);
}

static void crash_writes_held(void **state)
{
    (void)state;
    crash_with(SIGABRT);
    crash_with(SIGILL);
#ifndef KMSD_ASAN /* the sanitizer reports these itself */
    crash_with(SIGSEGV);
    crash_with(SIGBUS);
    crash_with(SIGFPE);
#endif
}

static void thread_name(void **state)
{
    (void)state;
    char name[17] = "";
    log_thread_name("registry");
    assert_int_equal(prctl(PR_GET_NAME, (unsigned long)name, 0UL, 0UL, 0UL), 0);
    assert_string_equal(name, "kmsd-registry");
    log_thread_name("a-name-too-long-for-the-kernel");
    assert_int_equal(prctl(PR_GET_NAME, (unsigned long)name, 0UL, 0UL, 0UL), 0);
    assert_string_equal(name, "kmsd-a-name-too"); /* 15 bytes */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(held_until_flush_or_warning, setup, teardown),
        cmocka_unit_test_setup_teardown(full_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_writes_held, setup, teardown),
        cmocka_unit_test(thread_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
