"""The one protocol helper of the integration scripts: connections with bounded timeouts, whole PDUs read by
their frag_length, "closed by the server", and the BIND and REQUEST PDUs of the fixtures ($FIXTURES/kat).
Scripts import it with sys.path set to their own folder (the .sh scripts: PYTHONPATH from lib.sh).
Loopback or a test's own network namespace only.
"""
import json
import os
import socket
import struct

PTYPE_BIND_ACK = 12


def fixtures(path=None):
    """The fixtures folder: path, else $FIXTURES."""
    return path or os.environ["FIXTURES"]


def kat(name, path=None):
    with open(os.path.join(fixtures(path), "kat", name)) as f:
        return json.load(f)


def bind_pdu(case="ndr32_ndr64_btfn", path=None):
    """A BIND PDU of kat/rpc.json (ndr32_ndr64_btfn offers all three contexts; ndr32_btfn only NDR32)."""
    return bytes.fromhex(kat("rpc.json", path)["cases"][case]["bind_pdu"])


def request_pdu(version="v6", syntax="ndr64", path=None):
    """The REQUEST PDU of kat/exchanges.json for a protocol version and transfer syntax."""
    return bytes.fromhex(kat("exchanges.json", path)["exchanges"][version]["rpc_request_pdu_" + syntax])


def connect(host, port, timeout=5.0, src=None):
    """A TCP connection (IPv6 when host has a colon), from source address src when given."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src and src != "-":
        s.bind((src, 0))
    s.connect((host, port))
    return s


def read_pdu(s):
    """One whole PDU (header and body by frag_length), or None when the peer closed before it was complete.
    Each recv waits at most the socket's timeout."""
    hdr = b""
    while len(hdr) < 16:
        chunk = s.recv(16 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    left = struct.unpack_from("<H", hdr, 8)[0] - 16
    body = b""
    while len(body) < left:
        chunk = s.recv(left - len(body))
        if not chunk:
            return None
        body += chunk
    return hdr + body


def closed_by_server(s, within=5.0):
    """Whether the server closes (or resets) the connection within `within` seconds without sending more."""
    s.settimeout(within)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
