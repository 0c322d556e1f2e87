/*
 * elapsed — the wall time of a command as its user sees it, for bench/registry's command-line rows.
 *
 * Timing a command from a shell script adds the script's own processes to it: a `$(...)` forks the shell, and a
 * `timeout(1)` that bounds the run is one more program to start. On a host where a process start costs several
 * milliseconds that is a third of a 50 ms target (docs/performance.md, "The command line timed without the
 * benchmark's forks"). This program takes the time itself, right before it starts the command
 * (posix_spawn) and right after the command has exited, so only the command's own start, work and exit are in it,
 * as in `time kmsd stats` typed at a prompt. The bound stays: a run that outlasts the timeout is killed.
 *
 * Usage: elapsed RUNS TIMEOUT_S COMMAND [ARG...]
 * Runs COMMAND RUNS times (1..1000) one after the other, its standard output to /dev/null, its standard error
 * inherited, and prints the runs' times in milliseconds (one decimal, separated by spaces) on one line. Stops at
 * the first run that fails: exits 124 if it outlasted TIMEOUT_S (whole seconds, 1..3600), after killing it, else 1,
 * having printed nothing. 2 on bad usage. Both numbers are read by the project's decimal parser (num.h).
 *
 * Why a program of our own: timeout(1) bounds a run but reports no time, GNU time(1) reports hundredths of a second
 * and bounds nothing, `perf stat -r` reports a mean, not each run, and each of them is one more program between the
 * script and the command. What is left to write is a spawn, a bounded wait and two clock readings.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "num.h"

#define ELAPSED_RUNS_MAX 1000
#define ELAPSED_TIMEOUT_MAX_S 3600

extern char **environ;

static sigset_t chld; /* SIGCHLD alone: blocked in this process (main), waited for by sigtimedwait */

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* One run: its wall time in *ms; 0, 124 (timed out, killed) or 1 (failed to start, or a non-zero exit). SIGCHLD being
 * blocked, an exit before the wait starts stays pending for it: no race. */
static int run_once(char **argv, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
                    uint64_t timeout_s, double *ms)
{
    pid_t pid;
    int status;
    double t0 = now_ms();
    int rc = posix_spawnp(&pid, argv[0], fa, attr, argv, environ);
    if (rc != 0) {
        fprintf(stderr, "elapsed: cannot start %s: %s\n", argv[0], strerror(rc));
        return 1;
    }
    double deadline = t0 + (double)timeout_s * 1e3;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            fprintf(stderr, "elapsed: waitpid: %s\n", strerror(errno));
            return 1;
        }
        double left = deadline - now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            fprintf(stderr, "elapsed: %s ran longer than %llu s, killed\n", argv[0], (unsigned long long)timeout_s);
            return 124;
        }
        long long ns = (long long)(left * 1e6);
        struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
        sigtimedwait(&chld, NULL, &ts); /* a SIGCHLD, the time left, or EINTR: waitpid above tells which */
    }
    *ms = now_ms() - t0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        fprintf(stderr, "elapsed: %s exited with %d\n", argv[0], WEXITSTATUS(status));
    else
        fprintf(stderr, "elapsed: %s ended by signal %d\n", argv[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 1;
}

int main(int argc, char **argv)
{
    uint64_t runs, timeout_s;
    if (argc < 4) {
        fprintf(stderr, "usage: elapsed RUNS TIMEOUT_S COMMAND [ARG...]\n");
        return 2;
    }
    if (num_u64(argv[1], 1, ELAPSED_RUNS_MAX, &runs) != 0) {
        fprintf(stderr, "elapsed: RUNS must be 1..%d, not %s\n", ELAPSED_RUNS_MAX, argv[1]);
        return 2;
    }
    if (num_u64(argv[2], 1, ELAPSED_TIMEOUT_MAX_S, &timeout_s) != 0) {
        fprintf(stderr, "elapsed: TIMEOUT_S must be whole seconds, 1..%d, not %s\n", ELAPSED_TIMEOUT_MAX_S, argv[2]);
        return 2;
    }

    sigset_t none;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &chld, NULL);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    if (posix_spawn_file_actions_init(&fa) != 0 || posix_spawnattr_init(&attr) != 0 ||
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) != 0 ||
        posix_spawnattr_setsigmask(&attr, &none) != 0 || posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK) != 0) {
        fprintf(stderr, "elapsed: cannot set up posix_spawn\n");
        return 1;
    }

    double ms[ELAPSED_RUNS_MAX];
    int rc = 0;
    for (uint64_t i = 0; i < runs && rc == 0; i++)
        rc = run_once(argv + 3, &fa, &attr, timeout_s, &ms[i]);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return rc;
    for (uint64_t i = 0; i < runs; i++)
        printf("%s%.1f", i ? " " : "", ms[i]);
    printf("\n");
    return 0;
}
