#!/usr/bin/env python3
"""Connection probes for the hostile-network tests (13-17): does kmsd serve a BIND from a given source
address, or close the connection? Only loopback or addresses of a namespace the test made itself.

  probe.py served SRC HOST PORT      exit 0 when a BIND_ACK comes back, 1 when the connection is closed
                                     without one (or reset), 2 on a timeout (5 s) or a connect failure
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kmsproto import PTYPE_BIND_ACK, bind_pdu, connect, read_pdu  # noqa: E402


def served(src, host, port):
    try:
        s = connect(host, port, src=src)
    except OSError:
        return 2
    try:
        s.sendall(bind_pdu())
        p = read_pdu(s)
        return 0 if p is not None and p[2] == PTYPE_BIND_ACK else 1
    except (ConnectionResetError, BrokenPipeError):
        return 1
    except socket.timeout:
        return 2
    finally:
        s.close()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "served":
        sys.exit(served(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    sys.stderr.write(__doc__)
    sys.exit(2)
