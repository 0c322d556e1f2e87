#!/usr/bin/env bash
# One connection kept for a long time. A peer that sends without reading its replies: kmsd stops reading it
# once SERVER_CONN_WRITES replies are in flight (the peer's sends block, kmsd's memory does not grow with what
# it sends), answers everything once the peer reads, and closes a peer that never reads within twice
# --idle-timeout (idle, then the same again for the replies still queued).
. "$(dirname "$0")/lib.sh"

# --- a peer that sends BINDs and reads nothing, then reads everything. --max-conn-buffer at its largest and
# --max-pdus above what is sent, so that neither cap is what stops it: only the replies in flight do.
start_kmsd --no-db --max-conn-buffer 1048576 --max-pdus 1000000
"$PYTHON" - "$IT_DIR" "$PORT" "$KMSD_PID" <<'PY' || fail "a peer that does not read"
import socket, sys, time
sys.path.insert(0, sys.argv[1])
from kmsproto import bind_pdu, read_pdu
port, pid = int(sys.argv[2]), int(sys.argv[3])
CAP = 64 << 20  # more than the kernel buffers of both ends hold on loopback (about 10-20 MB)

def rss_mb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0

bind = bind_pdu()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.settimeout(5)
s.connect(("127.0.0.1", port))
s.sendall(bind)
ack = read_pdu(s)
assert ack is not None and ack[2] == 12, "no BIND_ACK"
rss0 = rss_mb()
chunk = bind * 100
sent, blocked, t0 = 0, False, time.monotonic()
s.settimeout(1)
while sent < CAP:
    try:
        sent += s.send(chunk)
    except socket.timeout:
        blocked = True
        break
grown = rss_mb() - rss0
print("sent %.1f MB in %.1f s without reading; kmsd grew %.1f MB" % (sent / 1048576, time.monotonic() - t0, grown))
assert blocked, "kmsd read %d MB from a peer that reads none of its replies" % (sent >> 20)
# before SERVER_CONN_WRITES each BIND held a queued reply of about 1.2 kB: some 7 MB per MB sent
assert grown < 8, "kmsd grew %.1f MB while the peer did not read" % grown
whole, part = divmod(sent, len(bind))
want = ack * whole
s.settimeout(10)
got = bytearray()
while len(got) < len(want):
    b = s.recv(1 << 16)
    assert b, "closed after %d of %d replies" % (len(got) // len(ack), whole)
    got += b
assert bytes(got) == want, "the replies differ from %d BIND_ACKs" % whole
s.sendall(bind[part:])  # complete the BIND cut by the blocked send: still served
assert read_pdu(s) == ack, "the connection no longer serves"
s.close()
print("ok: %d BINDs answered through the pause" % (whole + 1))
PY
stop_kmsd

# --- a peer that never reads: closed by --idle-timeout (2 s) and, its replies still queued, 2 s later at most
start_kmsd --no-db --max-conn-buffer 1048576 --max-pdus 1000000 --idle-timeout 2s
"$PYTHON" - "$IT_DIR" "$PORT" <<'PY' || fail "a peer that never reads"
import socket, sys, time
sys.path.insert(0, sys.argv[1])
from kmsproto import bind_pdu
port = int(sys.argv[2])
bind = bind_pdu()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.settimeout(0.5)
s.connect(("127.0.0.1", port))
chunk, sent = bind * 100, 0
try:
    while sent < 64 << 20:
        sent += s.send(chunk)
    raise SystemExit("kmsd read %d MB from a peer that reads nothing" % (sent >> 20))
except socket.timeout:
    pass
except (ConnectionResetError, BrokenPipeError):
    pass
print("blocked after %.1f MB; now idle without reading" % (sent / 1048576))
time.sleep(6)  # kept open, unread, past 2 x --idle-timeout and some slack
s.close()
PY
# the connection above is gone by now (the metric reads it while kmsd still runs)
[ "$(metric kmsd_connections_open)" = 0 ] || fail "a peer that never reads still holds its connection"
counted "idle=1"
grep -q "closing: replies not read within --idle-timeout" "$TMP/kmsd.log" || fail "the wait for replies was not cut"
stop_kmsd
echo "ok"
