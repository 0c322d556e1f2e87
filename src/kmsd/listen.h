/*
 * listen — listening sockets that are bound exactly where they say, for the KMS and the HTTP listeners.
 *
 * libuv's uv_tcp_bind() keeps an EADDRINUSE to itself until uv_listen(), and a listen(2) on a socket whose
 * bind failed binds it to an ephemeral port on every interface; MHD reports a failed bind without errno.
 * Both kinds of listener therefore get their socket from here: socket, options, bind and listen in that
 * order with every step checked, so that a listener either holds the address it was given or does not exist.
 * The name a listener is logged and shown under is read back from the socket (getsockname), never copied from
 * the configuration.
 */
#ifndef KMSD_LISTEN_H
#define KMSD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* "[::]:1688" (the longest IPv6 text, brackets, colon, port) fits in this. */
#define LISTEN_NAME_LEN 64

/* Opens a TCP socket bound to sa and listening with backlog, close-on-exec and non-blocking, SO_REUSEADDR
 * set. An IPv6 wildcard ([::]) is dual-stack (IPV6_V6ONLY off); any other IPv6 address is IPv6 only.
 * Returns the descriptor (the caller owns it) or a negative errno; nothing is left open on failure. */
int listen_open(const struct sockaddr *sa, int backlog);

/* Formats the address fd is bound to ("127.0.0.1:1688", "[::1]:8080") into name, and the address itself into
 * ss when ss is not NULL. Returns 0 or a negative errno. */
int listen_bound(int fd, struct sockaddr_storage *ss, char *name, size_t cap);

/* Formats sa as listen_bound does. */
void listen_format(const struct sockaddr *sa, char *name, size_t cap);

/* Why a listener could not be opened, in the words kmsd uses for it: "address in use", "cannot assign
 * requested address" (no interface has that address), "permission denied" (a port below 1024 without the
 * privilege), else strerror. err is a negative errno. */
const char *listen_strerror(int err);

/* Whether err (negative errno from listen_open) means that IPv6 is not available at all on this host (no
 * IPv6 stack, or no IPv6 address configured), the only case where the default listener falls back to
 * IPv4. An address in use is never such a case. */
bool listen_ipv6_unavailable(int err);

#endif
