/*
 * log — kmsd's logging: to stderr (default; journald and `docker logs` read it), a file, or syslog.
 * The level is chosen at run time; nothing is compiled out. Wire strings must go through log_escape()
 * before they are logged.
 */
#ifndef KMSD_LOG_H
#define KMSD_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sets the destination: path NULL or "" and use_syslog false means stderr. Returns 0 or -errno. */
int log_open(enum log_level level, const char *path, int use_syslog);
void log_close(void);
/* At a reload (SIGHUP), from any thread while others log: the new level; the log file opened again at path (a
 * rotated file's successor; NULL or "": standard error). log_reopen returns 0 or -errno (the old file stays). */
void log_set_level(enum log_level level);
int log_reopen(const char *path);
int log_enabled(enum log_level level);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The calling thread's info and debug lines held (the KMS loop's: an activation's line is then written after its
 * answer, and one write carries a loop turn's lines) until log_flush, which the loop calls before it waits
 * (server.c). A warning or an error is written at once, after what is held. log_release writes what is held and
 * ends the holding; a failed allocation leaves lines written at once. Syslog is never held. A crash or an abort
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) writes what the crashing thread holds before the default action. */
void log_hold(void);
void log_flush(void);
void log_release(void);

/* Names the calling thread "kmsd-" name (at most 15 bytes, the kernel's limit: longer is cut), as ps -L, top -H,
 * perf and gdb show it; each thread kmsd starts calls it first. Nothing is logged if the kernel refuses. */
void log_thread_name(const char *name);

/* Copies s into out (cap bytes, NUL-terminated), replacing control characters, backslashes, quotes and
 * DEL with \xNN escapes; valid UTF-8 passes through. Returns out. */
char *log_escape(const char *s, char *out, size_t cap);

#endif
