#!/bin/bash
# Several hosts, as Microsoft advises: two kmsd each publish their own _vlmcs._tcp SRV record into one zone (BIND's
# named, started here on loopback, TSIG-signed updates) with priorities 10 and 20. kmsc --discover activates on
# the first; after kill -9 of it (its record stays: no clean stop) the next activation lands on the second; once
# the second stops cleanly (removing its record) only the dead host's record is left and kmsc says no host
# answered (exit 9). Each registry names the host that served its clients (--host-name).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/named.sh"
ZONE=kms-fail.example
named_start "$ZONE"
DNS=(--dns-server "127.0.0.1:$NAMED_PORT")
pub() { # NAME PRIORITY
    echo --dns-publish "$ZONE" --dns-server "127.0.0.1:$NAMED_PORT" --dns-tsig-file "$NAMED_KEY" \
        --dns-host "$1.$ZONE" --dns-priority "$2" --dns-address 127.0.0.1 --host-name "$1"
}
# shellcheck disable=SC2046
start_kmsd --state-dir "$TMP/state-a" $(pub kms-a 10)
A_PID=$KMSD_PID A_PORT=$PORT
trap 'kill -KILL "$A_PID" 2>/dev/null; named_stop; cleanup' EXIT
# shellcheck disable=SC2046
start_kmsd --state-dir "$TMP/state-b" $(pub kms-b 20)
B_PORT=$PORT
for i in $(seq 1 100); do
    [ "$(named_dig "_vlmcs._tcp.$ZONE" SRV | wc -l)" = 2 ] && break
    sleep 0.1
done
[ "$(named_dig "_vlmcs._tcp.$ZONE" SRV | sort | tr '\n' ' ')" = "10 0 $A_PORT kms-a.$ZONE. 20 0 $B_PORT kms-b.$ZONE. " ] ||
    fail "the two hosts' records: $(named_dig "_vlmcs._tcp.$ZONE" SRV)"

"$KMSC" --timeout 1 --discover "$ZONE" "${DNS[@]}" >"$TMP/out" 2>&1 || fail "--discover: $(cat "$TMP/out")"
grep -q "^Host: *127.0.0.1:$A_PORT (kms-a.$ZONE)$" "$TMP/out" || fail "not the first host: $(cat "$TMP/out")"

kill -KILL "$A_PID" # no clean stop: its record stays in the zone
wait "$A_PID" 2>/dev/null
[ "$(named_dig "_vlmcs._tcp.$ZONE" SRV | wc -l)" = 2 ] || fail "the killed host's record went away"
"$KMSC" --timeout 1 --discover "$ZONE" "${DNS[@]}" >"$TMP/out" 2>&1 || fail "failover: $(cat "$TMP/out")"
grep -q "^Host: *127.0.0.1:$B_PORT (kms-b.$ZONE)$" "$TMP/out" || fail "not failed over to the second: $(cat "$TMP/out")"
grep -q "kms-a.$ZONE: cannot connect to 127.0.0.1:$A_PORT" "$TMP/out" || fail "the first was not tried first"

# each registry names the host that served its clients (--host-name)
hosts() { "$KMSD" clients --state-dir "$1" --format json | "$PYTHON" -c 'import json, sys; print(" ".join(sorted({c["host"] for c in json.load(sys.stdin)})))'; }
for i in $(seq 1 50); do [ "$(hosts "$TMP/state-b")" = kms-b ] && break; sleep 0.1; done
[ "$(hosts "$TMP/state-b")" = kms-b ] || fail "B's registry: hosts $(hosts "$TMP/state-b")"
stop_kmsd # a clean stop: B removes its own record, A's stays
[ "$(named_dig "_vlmcs._tcp.$ZONE" SRV)" = "10 0 $A_PORT kms-a.$ZONE." ] || fail "after B's stop: $(named_dig "_vlmcs._tcp.$ZONE" SRV)"
expect_rc 9 "$KMSC" --timeout 1 --discover "$ZONE" "${DNS[@]}"
# A's answered activation was in its journal when it was killed: folded at its next start, under its name
start_kmsd --state-dir "$TMP/state-a" --host-name kms-a --no-http
stop_kmsd
[ "$(hosts "$TMP/state-a")" = kms-a ] || fail "A's registry after its restart: hosts $(hosts "$TMP/state-a")"
named_stop
echo "33-failover: two hosts published with priorities 10 and 20; kill -9 of the first -> the second answers; none left -> exit 9"
