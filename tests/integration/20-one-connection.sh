#!/usr/bin/env bash
# One connection kept for a long time. With the default options (no per-connection caps), one connection
# asks for 100 000 activations, one at a time at its own pace, and every one is answered (recorded in the
# registry first). A peer that sends without reading its replies: kmsd stops reading it once
# SERVER_CONN_WRITES replies are in flight (the peer's sends block, kmsd's memory does not grow with what it
# sends), answers everything once the peer reads, and closes a peer that never reads within twice
# --idle-timeout (idle, then the same again for the replies still queued).
. "$(dirname "$0")/lib.sh"

# --- 100 000 activations on one connection, every option at its default but the log level (100 000 info
# lines would be 20 MB). 15-35 s on the shared 2-core test machine, 35-50 s under ASan+UBSan, so sanitizer builds
# run it whole; IT_ONE_CONNECTION_REQUESTS lowers the count for a quick run by hand.
N=${IT_ONE_CONNECTION_REQUESTS:-100000}
IT_RATE=() # not even --rate-limit 0: the defaults, under which a loopback client is not rate-limited
start_kmsd --log-level warn
"$PYTHON" - "$IT_DIR" "$PORT" "$N" <<'PY' || fail "$N activations on one connection"
import sys, time
sys.path.insert(0, sys.argv[1])
from kmsproto import bind_pdu, connect, read_pdu, request_pdu
port, n = int(sys.argv[2]), int(sys.argv[3])
req = request_pdu("v6", "ndr64")
s = connect("127.0.0.1", port, timeout=10)
s.sendall(bind_pdu())
ack = read_pdu(s)
assert ack is not None and ack[2] == 12, "no BIND_ACK"

def ok(r):  # a RESPONSE echoing the call id, frag_length its length, return value 0 (an error stub ends in its HRESULT)
    return r[2] == 2 and r[12:16] == req[12:16] and int.from_bytes(r[8:10], "little") == len(r) and r[-4:] == bytes(4)

t0 = time.monotonic()
s.sendall(req)
first = read_pdu(s)
if first is None or not ok(first):
    raise SystemExit("request 1: not an activation: %s" % (first or b"").hex())
buf = bytearray(len(first))  # every answer to the same request has this length: one recv each, mostly
view = memoryview(buf)
for i in range(2, n + 1):
    s.sendall(req)
    got = 0
    while got < len(buf):
        k = s.recv_into(view[got:])
        if not k:
            raise SystemExit("request %d of %d: kmsd closed the connection" % (i, n))
        got += k
    if not ok(buf):
        raise SystemExit("request %d of %d: not an activation: %s" % (i, n, bytes(buf[:32]).hex()))
print("ok: %d activations answered on one connection in %.1f s" % (n, time.monotonic() - t0))
s.close()
PY
[ "$(metric kmsd_request_duration_seconds_count)" = "$N" ] || fail "kmsd did not count $N activations"
[ "$(metric kmsd_unrecorded_activations_total)" = 0 ] || fail "activations answered without their record"
stop_kmsd
IT_RATE=(--rate-limit 0)

# --- a peer that sends BINDs and reads nothing, then reads everything. --max-conn-buffer at its largest, so
# that it is not what stops the peer: only the replies in flight do.
start_kmsd --no-db --max-conn-buffer 1048576
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
s.settimeout(3)  # a kmsd that reads at all, even a sanitizer build under load, reads within 3 s
while sent < CAP:
    try:
        sent += s.send(chunk)
    except socket.timeout:
        blocked = True
        break
grown = rss_mb() - rss0
print("sent %.1f MB in %.1f s without reading; kmsd grew %.1f MB" % (sent / 1048576, time.monotonic() - t0, grown))
# Before SERVER_CONN_WRITES kmsd read on, each BIND leaving a queued reply of about 1.2 kB (7 MB per MB sent): the
# peer never blocked. Not reading, kmsd allocates nothing more for the peer; the growth printed above is the
# 1 MB input buffer and, in a sanitizer build, the allocator's quarantine (so it is not asserted).
assert blocked, "kmsd read %d MB from a peer that reads none of its replies" % (sent >> 20)
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

# --- a peer that never reads: closed by --idle-timeout (2 s) and, its replies still queued, 2 s later at most.
# The replies are queued in kmsd only if the kernel's buffers filled first. Mostly they do (the peer's sends block
# after about 9 MB); but on this kernel the exchange sometimes stalls after 3 MB instead, both windows shut with
# kmsd's own send buffer not full, and then the idle close has nothing to wait for (kmsd logs no "queued replies"
# line and closes at once: also right, and checked). The check of the wait runs on a second or third try then.
lingered=0
for try in 1 2 3; do
    : >"$TMP/kmsd.log" # this try's lines only
    start_kmsd --no-db --max-conn-buffer 1048576 --idle-timeout 2s
    "$PYTHON" - "$IT_DIR" "$PORT" <<'PY' || fail "a peer that never reads"
import socket, sys, time
sys.path.insert(0, sys.argv[1])
from kmsproto import bind_pdu
port = int(sys.argv[2])
bind = bind_pdu()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
# blocked for 3 s, not 0.5: a kmsd slowed by a loaded machine must not pass for one that stopped reading
s.settimeout(3)
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
    wait_log "idle timeout" "the idle peer was not closed by --idle-timeout"
    if [ "$(log_lines "queued replies are read")" -gt 0 ]; then
        wait_log "closing: replies not read within --idle-timeout" "the wait for replies was not cut"
        lingered=1
    else
        [ "$(log_lines "replies not read")" = 0 ] || fail "kmsd waited for replies it did not say it had queued"
        echo "try $try: every reply was in the kernel's buffers at the idle close: closed at once"
    fi
    stop_kmsd
    [ "$lingered" = 1 ] && break
done
[ "$lingered" = 1 ] || fail "three tries and never a reply left queued at the idle close"
echo "ok"
