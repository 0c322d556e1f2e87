#!/usr/bin/env bash
# SIGTERM with connections open (idle, mid-PDU, bound): kmsd closes them, exits 0 promptly, and every
# client sees its connection closed; SIGINT does the same. SIGHUP (logrotate, systemctl reload) reloads and
# ignored: kmsd goes on answering.
. "$(dirname "$0")/lib.sh"

for sig in TERM INT; do
    start_kmsd
    rm -f "$TMP/holders" # the last round's "holding" must not pass for this one's (the shell truncates it only later)
    # hold three connections: idle, half a BIND, a completed BIND; report how each ended
    "$PYTHON" - "$FIXTURES" "$PORT" >"$TMP/holders" 2>&1 <<'PY' &
import json, socket, sys, time
fix, port = sys.argv[1], int(sys.argv[2])
bind = bytes.fromhex(json.load(open(fix + "/kat/rpc.json"))["cases"]["ndr32_ndr64_btfn"]["bind_pdu"])
socks = [socket.create_connection(("127.0.0.1", port), 5) for _ in range(3)]
socks[1].sendall(bind[:40])
socks[2].sendall(bind)
socks[2].settimeout(5)
socks[2].recv(4096)  # the BIND_ACK
print("holding", flush=True)
closed = 0
for s in socks:
    s.settimeout(8)
    try:
        while s.recv(4096):
            pass
        closed += 1
    except ConnectionResetError:
        closed += 1
    except socket.timeout:
        pass
print("closed", closed, flush=True)
PY
    holder=$!
    for i in $(seq 1 100); do grep -q holding "$TMP/holders" && break; sleep 0.05; done
    grep -q holding "$TMP/holders" || fail "connections not set up"
    start=$(date +%s%N)
    kill "-$sig" "$KMSD_PID"
    for i in $(seq 1 100); do kill -0 "$KMSD_PID" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$KMSD_PID" 2>/dev/null && fail "kmsd still running 5 s after SIG$sig with connections open"
    wait "$KMSD_PID"
    rc=$?
    KMSD_PID=""
    [ "$rc" -eq 0 ] || fail "kmsd exited with $rc after SIG$sig"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    wait "$holder"
    grep -q "closed 3" "$TMP/holders" || { cat "$TMP/holders" >&2; fail "not every connection was closed"; }
    grep -q "stopping (3 connections open)" "$TMP/kmsd.log" || fail "no stop line naming the open connections"
    echo "SIG$sig: exit 0 after $ms ms, 3 connections closed"
    : >"$TMP/kmsd.log"
done
# SIGHUP: a reload (29-reload.sh tests what it applies), logged, kmsd still answering
start_kmsd
kill -HUP "$KMSD_PID"
wait_log "reload: 0 option(s) applied; 0 need a restart" "no reload line for SIGHUP"
kill -0 "$KMSD_PID" 2>/dev/null || fail "SIGHUP ended kmsd"
"$KMSC" "127.0.0.1:$PORT" >/dev/null || fail "no answer after SIGHUP"
kill -HUP "$KMSD_PID"
"$KMSC" "127.0.0.1:$PORT" >/dev/null || fail "no answer after a second SIGHUP"
stop_kmsd
echo "SIGHUP: a reload, kmsd still answering"
echo "ok"
