#!/usr/bin/env python3
"""nodelay.py PID HOST PORT [N]: opens N (default 3) connections to kmsd at HOST:PORT one after the other, then
finds kmsd's end of each among the sockets of process PID (pidfd_getfd, Linux 5.6, needs the right to trace
PID) and checks that every one has TCP_NODELAY set: kmsd sets it on the listening socket, which Linux copies to
the connections accepted from it, and on each connection itself where it was not copied. Exit 0 when all have
it, 1 when one does not or cannot be found, 3 when this process may not take kmsd's descriptors."""
import ctypes
import errno
import os
import socket
import sys
import time

SYS_PIDFD_GETFD = 438  # x86_64 and every other architecture with the unified syscall table


def main():
    pid, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    clients = []
    for _ in range(n):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect((host, port))
        clients.append(s)
    want = {c.getsockname()[:2]: None for c in clients}  # our end = kmsd's peer
    pidfd = os.pidfd_open(pid)
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline and any(v is None for v in want.values()):
            for name in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                        continue
                except OSError:
                    continue
                fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
                if fd < 0:
                    e = ctypes.get_errno()
                    if e == errno.EPERM:
                        print("nodelay.py: may not take kmsd's descriptors (pidfd_getfd: EPERM)", file=sys.stderr)
                        return 3
                    continue  # closed meanwhile
                try:
                    s = socket.socket(fileno=fd)
                    try:
                        peer = s.getpeername()[:2] if s.type == socket.SOCK_STREAM else None
                        if peer in want:
                            want[peer] = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                    except OSError:  # the listener, or not connected
                        pass
                    finally:
                        s.detach()  # closed below
                finally:
                    os.close(fd)
            time.sleep(0.05)
    finally:
        os.close(pidfd)
        for c in clients:
            c.close()
    bad = [f"{a[0]}:{a[1]}: {'not found' if v is None else 'TCP_NODELAY off'}" for a, v in want.items() if not v]
    if bad:
        print("nodelay.py: kmsd's end of " + "; ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
