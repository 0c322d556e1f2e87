/* listen — see listen.h. */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int listen_open(const struct sockaddr *sa, int backlog)
{
    socklen_t len = sa->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                              : (socklen_t)sizeof(struct sockaddr_in);
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return -EAFNOSUPPORT;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
    if (fd < 0)
        return -errno;
    int one = 1;
    int rc = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rc == 0 && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        int v6only = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ? 0 : 1;
        rc = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (rc == 0)
        rc = bind(fd, sa, len);
    if (rc == 0)
        rc = listen(fd, backlog);
    if (rc < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

void listen_format(const struct sockaddr *sa, char *name, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        snprintf(name, cap, "[%s]:%u", ip, (unsigned)ntohs(s6->sin6_port));
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        snprintf(name, cap, "%s:%u", ip, (unsigned)ntohs(s4->sin_port));
    } else {
        snprintf(name, cap, "(family %d)", (int)sa->sa_family);
    }
}

int listen_bound(int fd, struct sockaddr_storage *ss, char *name, size_t cap)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    memset(&local, 0, sizeof local);
    if (getsockname(fd, (struct sockaddr *)&local, &len) < 0)
        return -errno;
    listen_format((const struct sockaddr *)&local, name, cap);
    if (ss)
        *ss = local;
    return 0;
}

const char *listen_strerror(int err)
{
    switch (-err) {
    case EADDRINUSE:
        return "address in use";
    case EADDRNOTAVAIL:
        return "cannot assign requested address (no interface has it)";
    case EACCES:
    case EPERM:
        return "permission denied";
    default:
        return strerror(-err);
    }
}

bool listen_ipv6_unavailable(int err)
{
    return err == -EAFNOSUPPORT || err == -EPROTONOSUPPORT || err == -EADDRNOTAVAIL;
}
