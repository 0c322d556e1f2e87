/* pidlock — see pidlock.h. */
#include "pidlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "num.h"

/* The PID written in the file, 0 when it holds none. */
static pid_t read_holder(int fd)
{
    char text[24];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    text[strcspn(text, "\n")] = '\0';
    uint64_t v;
    return num_u64(text, 1, INT32_MAX, &v) == 0 ? (pid_t)v : 0;
}

int pidlock_acquire(const char *path, pid_t *holder)
{
    *holder = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, PIDLOCK_FILE_MODE);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno == EWOULDBLOCK ? EWOULDBLOCK : errno;
        if (e == EWOULDBLOCK)
            *holder = read_holder(fd);
        close(fd);
        return -e;
    }
    char text[24];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != (ssize_t)n) {
        int e = errno ? errno : EIO;
        close(fd);
        return -e;
    }
    return fd;
}
