#!/usr/bin/env bash
# kmsc activates against kmsd with v4, v5 and v6, over IPv4 and IPv6 loopback, several requests on one
# connection and a new connection per request, every connection with TCP_NODELAY; then SIGTERM stops kmsd with
# exit 0.
. "$(dirname "$0")/lib.sh"

start_kmsd
for v in -4 -5 -6; do
    expect_rc 0 "$KMSC" "$v" "127.0.0.1:$PORT"
done
expect_rc 0 "$KMSC" -n 5 "127.0.0.1:$PORT"
expect_rc 0 "$KMSC" -n 3 --new-connection "127.0.0.1:$PORT"
wait_log "activated, count 50" "no activation line in the log"
# kmsd's end of every connection has TCP_NODELAY (set on the listener, which Linux copies to each one accepted)
"$PYTHON" "$(dirname "$0")/nodelay.py" "$KMSD_PID" 127.0.0.1 "$PORT" || fail "a connection without TCP_NODELAY"
stop_kmsd

# IPv6 loopback, when this machine has it
if "$PYTHON" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    PORT6=$(free_port)
    "$KMSD" -L "[::1]:$PORT6" --no-http --state-dir "$TMP/state" "${AS_ROOT[@]}" >>"$TMP/kmsd.log" 2>&1 &
    KMSD_PID=$!
    wait_port ::1 "$PORT6"
    for v in -4 -5 -6; do
        expect_rc 0 "$KMSC" "$v" "[::1]:$PORT6"
    done
    "$PYTHON" "$(dirname "$0")/nodelay.py" "$KMSD_PID" ::1 "$PORT6" || fail "an IPv6 connection without TCP_NODELAY"
    stop_kmsd
else
    echo "note: no IPv6 loopback on this machine; IPv6 part not run"
fi
echo "ok"
