#!/usr/bin/env bash
# The network-reachable limits: --max-connections, --max-requests, --max-pdus, --max-pdu, --max-conn-buffer. Each is
# exercised at its value and one past it; kmsd keeps serving throughout. A per-connection cap answers the PDU
# that reaches it (an activation after its record is written: kmsd has a registry here) and then closes.
. "$(dirname "$0")/lib.sh"

start_kmsd --max-connections 2 --max-requests 2 --max-pdus 5 --max-pdu 1024 --max-conn-buffer 2048
IT_DIR="$(dirname "$0")" "$PYTHON" - "$FIXTURES" "$PORT" <<'PY' || fail "limits"
import os, socket, struct, sys, time
sys.path.insert(0, os.environ["IT_DIR"])
from kmsproto import bind_pdu, closed_by_server, connect, read_pdu, request_pdu
fix, port = sys.argv[1], int(sys.argv[2])
bind = bind_pdu(path=fix)
req = request_pdu("v6", "ndr64", fix)
bad = []

def conn():
    return connect("127.0.0.1", port)

pdu = read_pdu

def closed(s, t=3):
    return closed_by_server(s, t)

def check(name, ok):
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        bad.append(name)

# --max-connections 2: two are served, a third is closed at once; after one closes, a new one is served
a, b = conn(), conn()
a.sendall(bind); b.sendall(bind)
check("connections 1 and 2 (the limit) are served", pdu(a) is not None and pdu(b) is not None)
c = conn()
check("connection 3 (limit + 1) is closed", closed(c))
a.close()
served = False
for _ in range(25):  # kmsd notices the close on its next loop turn: retry for up to 5 s
    time.sleep(0.2)
    d = conn()
    d.sendall(bind)
    try:
        served = pdu(d) is not None
    except ConnectionResetError:
        served = False
    d.close()
    if served:
        break
check("after one closes, a new connection is served", served)
b.close(); c.close()
time.sleep(0.5)

# --max-requests 2: the second answer is followed by a close
s = conn()
s.sendall(bind); pdu(s)
s.sendall(req); r1 = pdu(s)
s.sendall(req); r2 = pdu(s)
check("requests 1 and 2 (the limit) are answered", r1 is not None and r2 is not None and r1[2] == r2[2] == 2)
check("then the connection is closed", closed(s))
s.close()
# the same pipelined: request 3 (limit + 1) arrives while request 2 waits for the registry and gets nothing
s = conn()
s.sendall(bind + req * 3)
got = [pdu(s) for _ in range(3)]
check("pipelined: BIND and requests 1 and 2 are answered",
      None not in got and got[0][2] == 12 and got[1][2] == got[2][2] == 2)
check("pipelined: then the connection is closed, request 3 unanswered", closed(s))
s.close()

# --max-pdus 5: PDUs 1 to 4 are answered and the connection stays open; PDU 5 (the limit) is answered, then
# the connection closes; nothing after it is answered
s = conn()
answered = 0
for i in range(4):
    s.sendall(bind)
    if pdu(s) is not None:
        answered += 1
check("PDUs 1 to 4 (limit - 1) are answered", answered == 4)
check("and the connection stays open", not closed(s, 0.3))
s.sendall(bind)
r = pdu(s)
check("PDU 5 (the limit), a BIND, is answered", r is not None and r[2] == 12)
check("then the connection is closed", closed(s))
s.close()
# PDU 5 an activation request (a client that BINDs again and again, then asks): answered once its record is
# written, then the connection closes without waiting for a PDU 6
s = conn()
s.sendall(bind * 4 + req)
got = [pdu(s) for _ in range(5)]
check("pipelined: BINDs 1 to 4 and the request at the limit are answered",
      None not in got and all(g[2] == 12 for g in got[:4]) and got[4][2] == 2)
check("pipelined: then the connection is closed", closed(s))
s.close()
time.sleep(0.3)

# --max-pdu 1024: a PDU of 1024 bytes is read (and rejected for its content), 1025 closes at the header
for size, name in ((1024, "at"), (1025, "above")):
    s = conn()
    p = bytearray(bind)
    struct.pack_into("<H", p, 8, size)
    s.sendall(bytes(p[:16]))
    if size == 1024:
        s.sendall(bytes(p[16:]) + bytes(size - len(p)))  # a BIND with trailing bytes: a protocol error
        check("a PDU at --max-pdu is read whole before it is judged", closed(s))
    else:
        check("a PDU header above --max-pdu closes at once", closed(s))
    s.close()

# --max-conn-buffer 2048 (a request is 300 bytes): the PDUs a read completes are handled, then what is left over
# must fit the buffer. Nine requests at once: the first is whole and in hand (its answer goes out once recorded),
# the 2400 bytes behind it do not fit: exactly one answer, then the close. (Without the cap the first two would
# be answered, --max-requests closing; a daemon that answers nothing fails too.)
def answers(s):  # the replies read until the close, as their PDU types
    got = []
    while True:
        r = pdu(s)
        if r is None:
            return got
        got.append(r[2])

s = conn()
s.sendall(bind); pdu(s)
s.sendall(req * 9)
got = answers(s)
check("9 requests at once beyond --max-conn-buffer: the first answered, then closed (got %s)" % got, got == [2])
s.close()
# half a request buffered, then the rest of it with 8 more: 2700 bytes, more than the 2048 the connection holds.
# What fits is framed first: the request this read completes is in hand and answered, then the close (until
# 2026-12-06 the read was refused whole, and that request went unanswered)
s = conn()
s.sendall(bind); pdu(s)
s.sendall(req[:100])
time.sleep(0.1)
s.sendall(req[100:] + req * 8)
got = answers(s)
check("a burst completing a buffered request beyond --max-conn-buffer: it answered, then closed (got %s)" % got,
      got == [2])
s.close()

# and kmsd still serves
s = conn()
s.sendall(bind)
check("kmsd still serves", pdu(s) is not None)
s.close()
sys.exit(1 if bad else 0)
PY
kill -0 "$KMSD_PID" || fail "kmsd died"
expect_rc 0 "$KMSC" -6 "127.0.0.1:$PORT"
counted "max_pdus=2"
counted "max_requests=2"
counted "buffer=3" # the PDU header above --max-pdu and the two bursts beyond --max-conn-buffer
stop_kmsd
# the same counter in the line kmsd logs when it stops (a feature of its own: the log's summary)
grep "counters:" "$TMP/kmsd.log" | tail -n 1 | grep -q "max_pdus=2" || fail "--max-pdus close not in the counters line"
echo "ok"
