"""Odd and hostile conversations against a live kmsd (loopback only). Usage: odd.py FIXTURES HOST PORT [idle]

Each case opens its own connection and checks kmsd's prescribed answer or a clean close. Every socket
operation has a timeout, so the script always ends.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kmsproto import bind_pdu, closed_by_server, connect, kat, read_pdu, request_pdu  # noqa: E402

FIX, HOST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
MODE = sys.argv[4] if len(sys.argv) > 4 else "all"
RPC = kat("rpc.json", FIX)["cases"]
failures = []


def conn():
    return connect(HOST, PORT)


recv_pdu = read_pdu


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + (": " + detail if detail and not ok else ""))
    if not ok:
        failures.append(name)


BIND3 = bind_pdu("ndr32_ndr64_btfn", FIX)
BIND32 = bind_pdu("ndr32_btfn", FIX)
REQ64 = request_pdu("v6", "ndr64", FIX)
REQ32 = request_pdu("v6", "ndr32", FIX)


def case_request_before_bind():
    s = conn()
    s.sendall(REQ32)
    r = recv_pdu(s)
    check("REQUEST before BIND gets FAULT nca_proto_error",
          r is not None and r[2] == 3 and struct.unpack_from("<I", r, 24)[0] == 0x1C01000B
          and struct.unpack_from("<I", r, 12)[0] == struct.unpack_from("<I", REQ32, 12)[0], repr(r))
    s.close()


def case_rejected_context():
    s = conn()
    s.sendall(BIND3)
    ack = recv_pdu(s)
    s.sendall(REQ32)  # context 0 = NDR32, rejected because NDR64 was offered too
    r = recv_pdu(s)
    check("REQUEST on a rejected context gets FAULT nca_unk_if",
          ack is not None and ack[2] == 12 and r is not None and r[2] == 3
          and struct.unpack_from("<I", r, 24)[0] == 0x1C010003, repr(r))
    s.sendall(REQ64)  # and the connection still works on the NDR64 context
    r = recv_pdu(s)
    check("then a REQUEST on the NDR64 context is answered", r is not None and r[2] == 2)
    s.close()


def case_byte_by_byte():
    s = conn()
    for b in BIND3:
        s.sendall(bytes([b]))
        time.sleep(0.001)
    ack = recv_pdu(s)
    check("BIND sent one byte per write is answered", ack is not None and ack[2] == 12 and ack[24 + 8] == 3)
    for part in (REQ64[:7], REQ64[7:150], REQ64[150:]):
        s.sendall(part)
        time.sleep(0.01)
    r = recv_pdu(s)
    check("REQUEST split in three writes is answered", r is not None and r[2] == 2)
    s.sendall(REQ64 + REQ64)  # two requests in one write
    r1, r2 = recv_pdu(s), recv_pdu(s)
    check("two REQUESTs in one write get two RESPONSEs", r1 is not None and r2 is not None and r1[2] == r2[2] == 2)
    s.close()


def case_version_7():
    s = conn()
    s.sendall(BIND32)
    recv_pdu(s)
    s.sendall(bytes.fromhex(RPC["unsupported_version_7"]["rpc_request_pdu"]))
    r = recv_pdu(s)
    want = bytes.fromhex(RPC["unsupported_version_7"]["vlmcsd_rpc_response_pdu"])
    check("KMS version 7.0 gets the NDR error stub 0x8007000D", r == want, r.hex() if r else "closed")
    s.close()


def case_closes(name, data, shut=False):
    s = conn()
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    check(name, closed_by_server(s))
    s.close()


def case_idle():
    s = conn()
    t = time.time()
    closed = closed_by_server(s, 5.0)
    check("an idle connection is closed after --idle-timeout", closed and time.time() - t < 4.0)
    s.close()


if MODE == "idle":
    case_idle()
else:
    case_request_before_bind()
    case_rejected_context()
    case_byte_by_byte()
    case_version_7()
    case_closes("16 bytes of garbage close the connection", bytes(range(16)))
    bad_ver = bytearray(BIND3)
    bad_ver[0] = 4
    case_closes("RPC version 4 closes the connection", bytes(bad_ver))
    big = bytearray(BIND3[:16])
    struct.pack_into("<H", big, 8, 6000)
    case_closes("frag_length above the PDU limit closes the connection", bytes(big) + bytes(100))
    small = bytearray(BIND3[:16])
    struct.pack_into("<H", small, 8, 15)
    case_closes("frag_length below 16 closes the connection", bytes(small))
    case_closes("a truncated BIND then EOF closes the connection", BIND3[:50], shut=True)
    bad_drep = bytearray(BIND3)
    bad_drep[4] = 0
    case_closes("big-endian data representation closes the connection", bytes(bad_drep))
    resp_type = bytearray(BIND3)
    resp_type[2] = 2
    case_closes("a RESPONSE sent to the server closes the connection", bytes(resp_type))

print("%d failed" % len(failures))
sys.exit(1 if failures else 0)
