#!/bin/bash
# --registry-idle-unload: with no fold for that long the registry's writer closes the database, and with the HTTP
# server idle too kmsd unloads SQLite; activations are answered meanwhile (from the journal) and recorded by the next
# fold, which opens the registry again — over and over, nothing lost. The HTTP server's own connection keeps SQLite
# loaded; genuine counting wakes the registry for the count an answer waits for; 0 keeps it open; a reload changes
# it; bad values stop kmsd.
. "$(dirname "$0")/lib.sh"

# mapped LIB: how many of kmsd's mappings name LIB
mapped() { grep -c "$1" "/proc/$KMSD_PID/maps" || true; }
# wait_unloaded WHAT: at most 8 s for SQLite to be unmapped
wait_unloaded() {
    local _
    for _ in $(seq 1 80); do
        [ "$(mapped libsqlite3)" = 0 ] && return 0
        sleep 0.1
    done
    fail "SQLite still mapped after 8 s without a fold ($1)"
}
clients() { # the registry's rows, read by the command (its own process)
    "$KMSD" stats --state-dir "$TMP/state" --format json |
        "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["clients"])'
}

CONF="$TMP/kmsd.conf"
printf 'registry-idle-unload = 1s\nhttp-idle-unload = 1s\n' >"$CONF"
start_kmsd -c "$CONF"
wait_unloaded "at start"
grep -q "registry: no fold for 1000 ms: closed until the next one" "$TMP/kmsd.log" || fail "no line for the close"
# three rounds: activations answered while the registry is closed, all recorded by the fold that opens it again
total=0
for round in 1 2 3; do
    "$KMSC" bench -q -c 2 -N 50 --new-connection "127.0.0.1:$PORT" >"$TMP/bench.out" 2>&1 ||
        fail "round $round: activations failed: $(cat "$TMP/bench.out")"
    total=$((total + 50))
    wait_recorded "$total"
    [ "$(clients)" = "$total" ] || fail "round $round: $(clients) rows, expected $total"
    wait_unloaded "round $round"
done
# the API reads while the registry sleeps: its own connection loads SQLite, and keeps it while HTTP is in use
[ "$(metric kmsd_registry_library_loads_total)" -ge 4 ] || fail "library loads: $(metric kmsd_registry_library_loads_total)"
printf 'registry-idle-unload = 1s\nhttp-idle-unload = 0\n' >"$CONF"
hup_and_wait 1
curl -fsS "http://127.0.0.1:$HTTP_PORT/api/v1/stats" >"$TMP/stats.json" || fail "/api/v1/stats"
"$PYTHON" -c 'import json, sys; assert json.load(open(sys.argv[1]))["clients"] == int(sys.argv[2])' "$TMP/stats.json" \
    "$total" || fail "/api/v1/stats while the registry slept: $(cat "$TMP/stats.json")"
"$KMSC" -q "127.0.0.1:$PORT" || fail "activation"
n=$(grep -c "registry: no fold for 1000 ms: closed" "$TMP/kmsd.log")
for _ in $(seq 1 50); do
    [ "$(grep -c "registry: no fold for 1000 ms: closed" "$TMP/kmsd.log")" -gt "$n" ] && break
    sleep 0.1
done
[ "$(grep -c "registry: no fold for 1000 ms: closed" "$TMP/kmsd.log")" -gt "$n" ] || fail "the writer did not close"
[ "$(mapped libsqlite3)" -gt 0 ] || fail "SQLite unloaded while the HTTP server's connection was open"
# a reload to 0 keeps it open; back to 1 s closes it again
printf 'registry-idle-unload = 0\nhttp-idle-unload = 1s\n' >"$CONF"
hup_and_wait 2
"$KMSC" -q "127.0.0.1:$PORT" || fail "activation after the reload to 0"
sleep 3
[ "$(mapped libsqlite3)" -gt 0 ] || fail "SQLite unloaded with --registry-idle-unload 0"
printf 'registry-idle-unload = 1s\nhttp-idle-unload = 1s\n' >"$CONF"
hup_and_wait 3
wait_unloaded "after a reload back to 1 s"
total=$((total + 2))
[ "$(clients)" = "$total" ] || fail "$(clients) rows after the reloads, expected $total"
# kill -9 while it sleeps: nothing to replay, nothing lost
kill -KILL "$KMSD_PID"
wait "$KMSD_PID" 2>/dev/null
KMSD_PID=""
[ "$(clients)" = "$total" ] || fail "$(clients) rows after kill -9, expected $total"
start_kmsd -c "$CONF"
wait_unloaded "after the restart"
stop_kmsd

# genuine counting: an answer that waits for a count wakes the registry for its fold, and gets the count (a new
# registry: under its limit, so the answers wait for the count)
rm -rf "$TMP/state"
start_kmsd --registry-idle-unload 1 --http-idle-unload 1 --count-mode genuine --count-floor 0
wait_unloaded "genuine"
# 26 distinct Windows clients (the threshold is 25): the last answers carry a genuine count of at least 25
"$KMSC" bench -q -c 1 -N 26 --new-connection "127.0.0.1:$PORT" >"$TMP/bench.out" 2>&1
wait_unloaded "genuine, after the first clients"
start=$(date +%s%N)
"$KMSC" "127.0.0.1:$PORT" >"$TMP/one.out" 2>&1 || fail "genuine activation while the registry slept: $(cat "$TMP/one.out")"
ms=$((($(date +%s%N) - start) / 1000000))
grep -Eq "Current count: +27 " "$TMP/one.out" || fail "no genuine count of 27 in the answer: $(cat "$TMP/one.out")"
[ "$ms" -lt 3000 ] || fail "the genuine answer took $ms ms"
stop_kmsd

# bad values stop kmsd
expect_rc 2 "$KMSD" --state-dir "$TMP/x" --registry-idle-unload 2d --check-config
grep -q -- "--registry-idle-unload: \"2d\" is out of range (0 s to 1 d)" "$TMP/out" || fail "2d: $(cat "$TMP/out")"
expect_rc 2 "$KMSD" --state-dir "$TMP/x" --registry-idle-unload soon --check-config
grep -q "\"soon\" is not a duration" "$TMP/out" || fail "soon: $(cat "$TMP/out")"
echo "35-registry-idle: closed and SQLite unloaded when idle, activations answered meanwhile and all recorded over three rounds, kept by the HTTP server's connection, genuine counts wake it, 0 keeps it, reloads, kill -9 while asleep, bad values refused"
