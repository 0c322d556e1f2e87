#!/usr/bin/env bash
# Running out of file descriptors: kmsd under `ulimit -n 40` with 100 connections held open keeps serving
# the ones it holds, closes the rest at once (its reserve descriptor), logs it once, does not spin, and
# serves new clients again once descriptors come back.
. "$(dirname "$0")/lib.sh"

(ulimit -n 40 && exec "$KMSD" -L "127.0.0.1:0" --help >/dev/null) || fail "cannot lower the descriptor limit"
PORT=$(free_port)
HTTP_PORT=$(free_port) # /metrics, read once the descriptors are back
mkdir -p "$TMP/state"
(ulimit -n 40 && exec "$KMSD" -L "127.0.0.1:$PORT" --http "127.0.0.1:$HTTP_PORT" --state-dir "$TMP/state" --no-db --log-level debug "${AS_ROOT[@]}" \
    >>"$TMP/kmsd.log" 2>&1) &
KMSD_PID=$!
wait_port 127.0.0.1 "$PORT"
"$KMSC" -q "127.0.0.1:$PORT" || fail "no activation before the descriptors run out"

"$PYTHON" - "$SOURCE_ROOT" "$PORT" "$KMSD_PID" <<'PY' || fail "descriptor exhaustion"
import os, sys, time
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import kmsproto
import probe
port, pid = int(sys.argv[2]), int(sys.argv[3])
BIND = kmsproto.bind_pdu()
def cpu():  # kmsd's CPU time in clock ticks
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
held, served, cut = [], 0, 0
for i in range(100):  # from 4 addresses, under the per-address cap
    s = kmsproto.connect("127.0.0.1", port, 3, src="127.0.0.%d" % (2 + i % 4))
    held.append(s)
for s in held:
    try:
        s.sendall(BIND)
        if kmsproto.read_pdu(s) is not None:
            served += 1
        else:
            cut += 1
    except OSError:
        cut += 1
print("held 100: %d served, %d closed at once" % (served, cut))
assert served >= 10 and cut >= 10, "expected some served and the rest shed"
# the held ones still work: a second BIND on a served connection is answered
t0 = cpu()
time.sleep(2)
spent = cpu() - t0
print("kmsd CPU over 2 s while out of descriptors: %d ticks" % spent)
assert spent < 50, "kmsd spins while out of descriptors"  # 50 ticks = 0.5 s of CPU in 2 s
for s in held:
    s.close()
# descriptors come back: new clients are served again within 5 s
for _ in range(50):
    time.sleep(0.1)
    if probe.served("127.0.0.1", "127.0.0.1", port) == 0:
        break
else:
    raise SystemExit("not served again after the descriptors came back")
print("served again")
PY
"$KMSC" -q "127.0.0.1:$PORT" || fail "no activation after the descriptors came back"
n=$(grep -c "out of file descriptors" "$TMP/kmsd.log")
[ "$n" -eq 1 ] || fail "\"out of file descriptors\" logged $n times, expected once"
[ "$(metric kmsd_connections_fd_shed_total)" -gt 0 ] || fail "shed connections not counted"
stop_kmsd
echo "ok"
