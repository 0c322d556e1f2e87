#!/usr/bin/env python3
"""Connection probes for the hostile-network tests (13-17): does kmsd serve a BIND from a given source
address, or close the connection? Only loopback or addresses of a namespace the test made itself.

  probe.py served SRC HOST PORT      exit 0 when a BIND_ACK comes back, 1 when the connection is closed
                                     without one (or reset), 2 on a timeout (5 s) or a connect failure
"""
import json
import os
import socket
import struct
import sys

FIX = os.environ.get("FIXTURES", "")


def bind_pdu():
    cases = json.load(open(os.path.join(FIX, "kat/rpc.json")))["cases"]
    return bytes.fromhex(cases["ndr32_ndr64_btfn"]["bind_pdu"])


def connect(src, host, port, timeout=5.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src and src != "-":
        s.bind((src, 0))
    s.connect((host, port))
    return s


def read_pdu(s):
    h = b""
    while len(h) < 16:
        c = s.recv(16 - len(h))
        if not c:
            return None
        h += c
    n = struct.unpack_from("<H", h, 8)[0] - 16
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return h + b


def served(src, host, port):
    try:
        s = connect(src, host, port)
    except OSError:
        return 2
    try:
        s.sendall(bind_pdu())
        p = read_pdu(s)
        return 0 if p is not None and p[2] == 12 else 1  # PTYPE 12: BIND_ACK
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
