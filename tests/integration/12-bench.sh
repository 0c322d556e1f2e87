#!/usr/bin/env bash
# kmsc bench against a live kmsd: a few hundred verified activations in each mode (new connection, reuse),
# each protocol version and a mix, with the JSON report checked (zero errors, counts right); then failures
# must be counted and reported by the exit status: verification against canned (fixed bytes, not a KMS
# host), a count below the required one, a listener that never answers (timeouts), one that closes at once,
# and a port where nothing listens.
. "$(dirname "$0")/lib.sh"

# check_json FILE KEY=VALUE...: every key (a.b for nested objects) must have that value.
check_json() {
    "$PYTHON" - "$@" <<'PY' || fail "bench JSON check failed: $* ($(cat "$1"))"
import json, sys
d = json.load(open(sys.argv[1]))
for kv in sys.argv[2:]:
    k, want = kv.split("=", 1)
    v = d
    for part in k.split("."):
        v = v[part]
    if str(v) != want:
        print(f"{k} is {v}, expected {want}", file=sys.stderr)
        sys.exit(1)
PY
}

# --max-requests 64 (the default is no limit) is below -N: reuse also exercises reopening connections kmsd closes.
start_kmsd --max-requests 64
N=300
for mode in --new-connection --reuse; do
    for v in 4 5 6; do
        expect_rc 0 timeout 60 "$KMSC" bench -q --json "$mode" "-$v" -c 8 -N $N "127.0.0.1:$PORT"
        cp "$TMP/out" "$TMP/b.json"
        check_json "$TMP/b.json" activations=$N started=$N errors=0 exit=0 "by_version.$v=$N" verify=True
    done
    expect_rc 0 timeout 60 "$KMSC" bench -q --json "$mode" --mix 4:1,5:1,6:8 -c 8 -N $N "127.0.0.1:$PORT"
    cp "$TMP/out" "$TMP/b.json"
    check_json "$TMP/b.json" activations=$N errors=0 by_version.4=30 by_version.5=30 by_version.6=240
done
# new connection per activation: one connection each
expect_rc 0 timeout 60 "$KMSC" bench -q --json --new-connection -c 4 -N 100 "127.0.0.1:$PORT"
cp "$TMP/out" "$TMP/b.json"
check_json "$TMP/b.json" activations=100 connections=100 reconnects=0
# product mix, CMID pool, a duration bound, idle connections held meanwhile
expect_rc 0 timeout 60 "$KMSC" bench -q --json --product win10ent:3,ws2022dc:1 --cmid-pool 10 --hold 20 -c 4 \
    -d 0.5 "127.0.0.1:$PORT"
cp "$TMP/out" "$TMP/b.json"
check_json "$TMP/b.json" errors=0 hold.open=20 hold.failed=0
# the text report names the figures
expect_rc 0 timeout 60 "$KMSC" bench -c 2 -N 20 "127.0.0.1:$PORT"
grep -q '^latency ms: p50 ' "$TMP/out" || fail "no latency line in the text report"
grep -q '^activations: 20 in ' "$TMP/out" || fail "no activation line in the text report"
# usage errors
expect_rc 2 "$KMSC" bench -c 0 "127.0.0.1:$PORT"
expect_rc 2 "$KMSC" bench -c 10001 "127.0.0.1:$PORT"
expect_rc 2 "$KMSC" bench --mix 7:1 "127.0.0.1:$PORT"
expect_rc 2 "$KMSC" bench -6 --mix 4:1 "127.0.0.1:$PORT"
expect_rc 2 "$KMSC" bench --product nosuchproduct "127.0.0.1:$PORT"
expect_rc 2 "$KMSC" bench -d 0 "127.0.0.1:$PORT"
stop_kmsd

# A host answering with a count below the required one: every activation is a "count" error, exit 7.
start_kmsd --client-count 5 --allow-low-count
expect_rc 7 timeout 60 "$KMSC" bench -q --json -c 4 -N 50 "127.0.0.1:$PORT"
cp "$TMP/out" "$TMP/b.json"
check_json "$TMP/b.json" activations=0 errors=50 errors_by_kind.count=50 exit=7
stop_kmsd

# --seed: the same CMIDs in every run with the same seed. Two runs with a seed and a pool of 5 leave 5 clients,
# another seed 5 more; without a pool, two runs of 6 activations with one seed leave 6 more, not 12.
rm -rf "$TMP/state"
start_kmsd
for s in 7 7 8; do
    expect_rc 0 timeout 60 "$KMSC" bench -q --json --seed $s --cmid-pool 5 -c 2 -N 20 "127.0.0.1:$PORT"
done
for s in 9 9; do
    expect_rc 0 timeout 60 "$KMSC" bench -q --json --seed $s -c 2 -N 6 "127.0.0.1:$PORT"
done
expect_rc 2 "$KMSC" bench --seed 4294967296 "127.0.0.1:$PORT"
expect_rc 2 "$KMSC" bench --seed -1 "127.0.0.1:$PORT"
stop_kmsd
"$KMSD" clients --state-dir "$TMP/state" --format json >"$TMP/seed.json" || fail "kmsd clients failed"
n=$("$PYTHON" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/seed.json") ||
    fail "kmsd clients printed no JSON array: $(head -c 300 "$TMP/seed.json")"
[ "$n" = 16 ] || fail "--seed: $n clients in the registry after the seeded runs, expected 16"

# canned answers every REQUEST with the same bytes: verification must fail for each (exit 6) ...
CPORT=$(free_port)
"$CANNED" 127.0.0.1 "$CPORT" >"$TMP/canned.log" 2>&1 &
CANNED_PID=$!
KMSD_PID=$CANNED_PID wait_port 127.0.0.1 "$CPORT"
expect_rc 6 timeout 60 "$KMSC" bench -q --json -c 4 -N 40 "127.0.0.1:$CPORT"
cp "$TMP/out" "$TMP/b.json"
check_json "$TMP/b.json" activations=0 errors=40 errors_by_kind.verify=40 exit=6
# ... and pass with --no-verify (PDU type and call_id still checked)
expect_rc 0 timeout 60 "$KMSC" bench -q --json --no-verify -c 4 -N 40 "127.0.0.1:$CPORT"
cp "$TMP/out" "$TMP/b.json"
check_json "$TMP/b.json" activations=40 errors=0 verify=False
kill "$CANNED_PID"
wait "$CANNED_PID"

# A listener that accepts and never answers: timeouts (exit 4); one that closes at once: "closed" (exit 4).
# (Python, on a free port; each stops by PID.)
mute_server() { # MODE PORT: "hold" keeps connections open without a byte, "close" closes each at once
    "$PYTHON" - "$1" "$2" <<'PY' &
import socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(64)
held = []
end = time.time() + 60
s.settimeout(0.2)
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    if mode == "hold":
        held.append(c)
    else:
        c.close()
PY
    MUTE_PID=$!
    KMSD_PID=$MUTE_PID wait_port 127.0.0.1 "$2"
}
MPORT=$(free_port)
mute_server hold "$MPORT"
expect_rc 4 timeout 60 "$KMSC" bench -q --json --timeout 0.3 -c 2 -N 4 "127.0.0.1:$MPORT"
cp "$TMP/out" "$TMP/b.json"
check_json "$TMP/b.json" activations=0 errors=4 errors_by_kind.timeout=4 exit=4
kill "$MUTE_PID"
wait "$MUTE_PID"
MPORT=$(free_port)
mute_server close "$MPORT"
expect_rc 4 timeout 60 "$KMSC" bench -q --json -c 2 -N 6 "127.0.0.1:$MPORT"
cp "$TMP/out" "$TMP/b.json"
check_json "$TMP/b.json" activations=0 errors=6 errors_by_kind.closed=6 exit=4
kill "$MUTE_PID"
wait "$MUTE_PID"

# Nothing listening: connect errors, exit 3, bounded by -N.
expect_rc 3 timeout 60 "$KMSC" bench -q --json -c 2 -N 10 "127.0.0.1:$CPORT"
cp "$TMP/out" "$TMP/b.json"
check_json "$TMP/b.json" activations=0 errors=10 errors_by_kind.connect=10 exit=3
echo "ok"
