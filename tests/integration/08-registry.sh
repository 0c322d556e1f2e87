#!/usr/bin/env bash
# The client registry: activations recorded and listed; genuine counting across a restart; the host
# identity kept across restarts; kill -9 under load loses no answered activation.
. "$(dirname "$0")/lib.sh"

cmid() { printf '00000000-0000-4000-8000-%012d' "$1"; }
field() { grep -E "^$1:" "$TMP/out" | sed -E "s/^$1: *//"; }

# --- genuine counting: the count is the number of distinct clients up to 2N, and survives a restart
start_kmsd --count-mode genuine
for i in 1 2 3; do
    expect_rc 7 "$KMSC" --cmid "$(cmid $i)" "127.0.0.1:$PORT" # below the threshold of 25: refused by the client
    count=$(field "Current count" | awk '{print $1}')
    [ "$count" = "$i" ] || fail "genuine count after $i clients is $count"
done
expect_rc 7 "$KMSC" --cmid "$(cmid 2)" "127.0.0.1:$PORT" # a known client does not count twice
[ "$(field "Current count" | awk '{print $1}')" = 3 ] || fail "a returning client was counted again"
expect_rc 7 "$KMSC" --product o2019pp --cmid "$(cmid 9)" "127.0.0.1:$PORT" # Office is counted apart
[ "$(field "Current count" | awk '{print $1}')" = 1 ] || fail "Office was not counted apart from Windows"
"$KMSC" -6 --cmid "$(cmid 1)" "127.0.0.1:$PORT" >"$TMP/out" 2>&1
hwid1=$(field "HWID")
epidw1=$(field "ePID")
stop_kmsd

start_kmsd --count-mode genuine
expect_rc 7 "$KMSC" --cmid "$(cmid 4)" "127.0.0.1:$PORT"
[ "$(field "Current count" | awk '{print $1}')" = 4 ] || fail "the count did not survive the restart"
"$KMSC" -6 --cmid "$(cmid 1)" "127.0.0.1:$PORT" >"$TMP/out" 2>&1
[ "$(field "HWID")" = "$hwid1" ] || fail "HWID changed across a restart"
[ "$(field "ePID")" = "$epidw1" ] || fail "ePID changed across a restart"
# the count stops at 2N, as a genuine host's does: 60 more Windows clients, then 50 for everyone
"$KMSC" bench -q -N 60 -c 2 "127.0.0.1:$PORT" >/dev/null 2>&1 # verification needs 25: the first ones fail
"$KMSC" --cmid "$(cmid 2)" "127.0.0.1:$PORT" >"$TMP/out" 2>&1 || fail "activation with 64 clients counted failed"
[ "$(field "Current count" | awk '{print $1}')" = 50 ] || fail "the genuine count did not stop at 2N (50)"
"$KMSC" bench -q -N 200 -c 2 "127.0.0.1:$PORT" >/dev/null || fail "genuine mode at the count's limit"
stop_kmsd

# --- the registry lists what was answered
"$KMSD" clients --state-dir "$TMP/state" --format json >"$TMP/clients.json" || fail "kmsd clients failed"
"$PYTHON" - "$TMP/clients.json" <<'PY' || fail "clients JSON"
import json, sys
rows = json.load(open(sys.argv[1]))
need = {"cmid", "workstation", "product", "application", "sku", "kms_id", "license_status", "first_seen",
        "last_seen", "requests", "address"}
assert isinstance(rows, list) and rows, rows
for r in rows:
    missing = need - set(r)
    assert not missing, missing
cmids = {r["cmid"] for r in rows}
for i in (1, 2, 3, 4):
    assert "00000000-0000-4000-8000-%012d" % i in cmids, cmids
print("clients:", len(rows))
PY

# --- kill -9 during a bounded load, then restart: every answered activation is recorded
start_kmsd
: >"$TMP/answered"
(
    for i in $(seq 100 399); do
        if "$KMSC" -q --cmid "$(cmid "$i")" "127.0.0.1:$PORT" >/dev/null 2>&1; then
            echo "$(cmid "$i")" >>"$TMP/answered"
        fi
    done
) &
loader=$!
for i in $(seq 1 100); do [ "$(wc -l <"$TMP/answered")" -ge 50 ] && break; sleep 0.05; done
kill -KILL "$KMSD_PID"
wait "$KMSD_PID" 2>/dev/null
KMSD_PID=""
wait "$loader"
n=$(wc -l <"$TMP/answered")
[ "$n" -ge 1 ] || fail "no activation was answered before kill -9"
# what the journal holds beyond the database is folded in when kmsd starts again (store_writer.h)
start_kmsd
stop_kmsd
"$KMSD" clients --state-dir "$TMP/state" --format csv >"$TMP/clients.csv" || fail "kmsd clients after kill -9"
lost=0
while read -r c; do grep -qi "$c" "$TMP/clients.csv" || lost=$((lost + 1)); done <"$TMP/answered"
[ "$lost" -eq 0 ] || fail "$lost of $n answered activations lost after kill -9"
echo "kill -9: all $n answered activations recorded after a restart"
start_kmsd
expect_rc 0 "$KMSC" "127.0.0.1:$PORT"
stop_kmsd
echo "ok"
