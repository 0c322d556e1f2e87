#!/usr/bin/env bash
# Faults: clients that vanish mid-PDU (close and reset, at every cut of a BIND and of a REQUEST), and
# SIGSTOP/SIGCONT of kmsd under load. kmsd never crashes, keeps serving, and (under ASan, which runs the
# suite) leaks nothing.
. "$(dirname "$0")/lib.sh"

start_kmsd
"$PYTHON" - "$SOURCE_ROOT" "$PORT" "$FIXTURES" <<'PY' || fail "disconnects mid-PDU"
import json, socket, struct, sys
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import kmsproto
import probe
port, fix = int(sys.argv[2]), sys.argv[3]
bind = kmsproto.bind_pdu()
req = bytes.fromhex(json.load(open(fix + "/kat/exchanges.json"))["exchanges"]["v6"]["rpc_request_pdu_ndr64"])
n = 0
for pdu, after_bind in ((bind, False), (req, True)):
    for cut in list(range(1, 17)) + list(range(17, len(pdu), 23)) + [len(pdu) - 1]:
        for reset in (False, True):
            s = kmsproto.connect("127.0.0.1", port, src="127.0.0.1")
            if after_bind:
                s.sendall(bind)
                assert kmsproto.read_pdu(s) is not None
            s.sendall(pdu[:cut])
            if reset:  # RST instead of FIN
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            n += 1
assert probe.served("127.0.0.1", "127.0.0.1", port) == 0, "not served after the disconnects"
print("%d connections dropped mid-PDU; still serving" % n)
PY
"$KMSC" -q "127.0.0.1:$PORT" || fail "no activation after the disconnects"

# --- SIGSTOP/SIGCONT under load: 4 clients activate in a loop; kmsd is stopped for 2 s mid-way
: >"$TMP/load.err"
pids=()
for i in 1 2 3 4; do
    (for k in $(seq 1 40); do "$KMSC" -q --timeout 15 "127.0.0.1:$PORT" || echo "client $i run $k: $?"; done) \
        >>"$TMP/load.err" 2>&1 &
    pids+=($!)
done
sleep 0.5
kill -STOP "$KMSD_PID"
sleep 2
kill -CONT "$KMSD_PID"
for p in "${pids[@]}"; do wait "$p"; done
if [ -s "$TMP/load.err" ]; then cat "$TMP/load.err" >&2; fail "activations failed across SIGSTOP/SIGCONT"; fi
kill -0 "$KMSD_PID" || fail "kmsd died"
"$KMSC" -q "127.0.0.1:$PORT" || fail "no activation after SIGCONT"
wait_lines 162 ": activated" "activations logged across SIGSTOP/SIGCONT"
stop_kmsd
echo "ok"
