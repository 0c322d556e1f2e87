/*
 * sanitizer — whether this build runs under AddressSanitizer: gcc defines __SANITIZE_ADDRESS__, clang (the fuzz
 * build) answers __has_feature(address_sanitizer). One definition for every file that must behave differently
 * there (server_conn.c poisons its pooled connections; log.c leaves SIGSEGV, SIGBUS and SIGFPE to the sanitizer).
 */
#ifndef KMSD_SANITIZER_H
#define KMSD_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#define KMSD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KMSD_ASAN 1
#endif
#endif

#endif
