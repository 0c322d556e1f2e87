#!/usr/bin/env bash
# Several hosts on one PostgreSQL registry ([multihost]), on a cluster this test creates (pg.sh: initdb, a free
# loopback port, the postgres user when run as root): a password written in --db, or a wrong one, stops kmsd at its
# first connection (exit 2) and is never shown; two kmsd
# with their own state directories, host names and loopback addresses share the registry: activations on both are recorded with the host
# that served them, and their genuine counts agree (each counts the other's clients); kill -9 of one host under load
# loses no answered activation (its journal is folded into PostgreSQL at its restart); PostgreSQL stopped and started
# under load: answers go on (genuine ones with the count known before, after STORE_WRITER_COUNT_PATIENCE_MS) and every
# answered activation is recorded once the server is back; a host started while the server is down does the same;
# kmsd migrate copies the registry to a file and into another database, checked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"

cmid() { printf '00000000-0000-4000-8000-%012d' "$1"; }
field() { grep -E "^$1:" "$TMP/out" | sed -E "s/^$1: *//"; }
pg_start
DB=(--db "$PG_URI" --db-password-file "$PG_PASSFILE")

# --- a password in the URI: refused at the first connection (kmsd connects once it listens, exit 2), and not
# repeated; a wrong password the same
out=$(timeout 30 "$KMSD" -L "127.0.0.1:$(free_port)" --no-http --state-dir "$TMP/s0" "${AS_ROOT[@]}" \
    --db "postgresql://kmsd:hunter2@127.0.0.1:$PG_PORT/kmsd" 2>&1)
rc=$?
[ "$rc" = 2 ] || fail "a password in --db: exit $rc, not 2"
echo "$out" | grep -q -- "--db-password-file" || fail "a password in --db: the message does not say what to do: $out"
echo "$out" | grep -q hunter2 && fail "a password in --db was repeated: $out"
printf 'Wr0ngPassw0rd\n' >"$TMP/wrong-password"
out=$(timeout 30 "$KMSD" -L "127.0.0.1:$(free_port)" --no-http --state-dir "$TMP/s0" "${AS_ROOT[@]}" \
    --db "$PG_URI" --db-password-file "$TMP/wrong-password" 2>&1)
rc=$?
[ "$rc" = 2 ] || fail "a wrong password: exit $rc, not 2: $out"
echo "$out" | grep -q "password authentication failed" || fail "a wrong password: the message does not say so: $out"
echo "$out" | grep -q Wr0ngPassw0rd && fail "a wrong password was repeated: $out"
out=$("$KMSD" stats --db "postgresql://kmsd@127.0.0.1:$PG_PORT/kmsd" --db-password-file "$TMP/none" 2>&1)
[ $? = 2 ] && echo "$out" | grep -q "cannot read the password file" || fail "a missing password file: $out"

# --- two hosts
declare -A PID PORTS
# each host on a loopback address of its own, as two machines would be (alpha 127.0.0.2, beta 127.0.0.3)
declare -A ADDR=([alpha]=127.0.0.2 [beta]=127.0.0.3)
# host NAME [OPTIONS]: kmsd NAME on its address and a free port, its own state directory, the shared registry
host() {
    local name=$1 port
    shift
    port=$(free_port)
    mkdir -p "$TMP/$name"
    "$KMSD" -L "${ADDR[$name]}:$port" --no-http --state-dir "$TMP/$name" --host-name "$name" "${DB[@]}" \
        --log-level debug "${AS_ROOT[@]}" "${IT_RATE[@]}" "$@" >>"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
    PORTS[$name]=$port
    KMSD_PID=$! # wait_port watches it
    wait_port "${ADDR[$name]}" "$port"
    KMSD_PID=""
}
kill_hosts() {
    local p
    for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null; done
    pg_cleanup
}
trap kill_hosts EXIT
# stop NAME: SIGTERM, exit 0 within 10 s
stop() {
    local _ rc
    kill -TERM "${PID[$1]}"
    for _ in $(seq 1 200); do kill -0 "${PID[$1]}" 2>/dev/null || break; sleep 0.05; done
    wait "${PID[$1]}"
    rc=$?
    [ "$rc" = 0 ] || fail "host $1 exited with $rc after SIGTERM"
}
requests() {
    "$KMSD" stats "${DB[@]}" --format json 2>/dev/null | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["requests"])'
}
# recorded N: the shared registry counts at least N requests within 15 s
recorded() {
    local _ n
    for _ in $(seq 1 150); do
        n=$(requests)
        [ -n "$n" ] && [ "$n" -ge "$1" ] && return 0
        sleep 0.1
    done
    fail "the registry did not record $1 requests within 15 s (it has ${n:-none})"
}

host alpha --count-mode genuine
host beta --count-mode genuine
for i in $(seq 1 5); do
    expect_rc 7 "$KMSC" --cmid "$(cmid "$i")" "${ADDR[alpha]}:${PORTS[alpha]}"
    [ "$(field "Current count" | awk '{print $1}')" = "$i" ] || fail "alpha's count after $i clients"
done
recorded 5
# beta counts alpha's five clients and its own
for i in $(seq 6 8); do
    expect_rc 7 "$KMSC" --cmid "$(cmid "$i")" "${ADDR[beta]}:${PORTS[beta]}"
    [ "$(field "Current count" | awk '{print $1}')" = "$i" ] || fail "beta's count after $i clients on both hosts: $(field "Current count")"
done
recorded 8
# a client of beta renewing on alpha: counted once, by both
expect_rc 7 "$KMSC" --cmid "$(cmid 7)" "${ADDR[alpha]}:${PORTS[alpha]}"
[ "$(field "Current count" | awk '{print $1}')" = 8 ] || fail "a client of both hosts was counted twice"
recorded 9
"$KMSD" clients "${DB[@]}" --format json >"$TMP/clients.json" || fail "kmsd clients on the shared registry"
"$PYTHON" - "$TMP/clients.json" <<'PY' || fail "the registry does not say which host served each client"
import json, sys
rows = {r["cmid"][-2:]: r for r in json.load(open(sys.argv[1]))}
assert len(rows) == 8, rows.keys()
assert rows["01"]["host"] == "alpha" and rows["06"]["host"] == "beta", (rows["01"], rows["06"])
assert rows["07"]["host"] == "alpha" and rows["07"]["requests"] == 2, rows["07"]
PY
# kmsd clients --host: the rows each host served last, the same as the whole listing's
for h in alpha beta; do
    "$KMSD" clients "${DB[@]}" --format json --host "$h" >"$TMP/clients-$h.json" || fail "kmsd clients --host $h"
done
"$PYTHON" - "$TMP/clients.json" "$TMP/clients-alpha.json" "$TMP/clients-beta.json" <<'PY' || fail "kmsd clients --host"
import json, sys
every = json.load(open(sys.argv[1]))
for path, host in ((sys.argv[2], "alpha"), (sys.argv[3], "beta")):
    got = json.load(open(path))
    assert got and got == [r for r in every if r["host"] == host], (host, got)
PY
stop alpha
stop beta

# --- kill -9 of one host under load
: >"$TMP/answered"
# load HOST FIRST COUNT: activations with distinct CMIDs FIRST.. on HOST until it goes away or $TMP/stop-load
# exists (at most COUNT)
load() {
    local i
    for i in $(seq "$2" $(($2 + $3 - 1))); do
        [ -e "$TMP/stop-load" ] && return 0
        if "$KMSC" -q --timeout 5 --cmid "$(cmid "$i")" "${ADDR[$1]}:${PORTS[$1]}" >/dev/null 2>&1; then
            echo "$(cmid "$i")" >>"$TMP/answered"
        else
            return 0
        fi
    done
}
host alpha
host beta
load alpha 1000 1500 &
la=$!
load beta 3000 300 &
lb=$!
sleep 1.5
kill -KILL "${PID[alpha]}"
wait "${PID[alpha]}" 2>/dev/null
wait "$la"
host alpha
wait "$lb"
n=$(wc -l <"$TMP/answered")
[ "$n" -ge 20 ] || fail "only $n activations answered: the load did not run"
all_listed "$TMP/answered" "${DB[@]}" || fail "after kill -9 of one host: answered activations missing from the shared registry"

# --- PostgreSQL stopped and started under load (fixed mode on alpha, genuine on beta)
stop beta
host beta --count-mode genuine
: >"$TMP/answered"
# as many as a fast machine answers in the time this takes; stopped a second after the server is back
load alpha 5000 2000 &
la=$!
load beta 7000 1900 &
lb=$!
sleep 1
declare -A FROM # each host's first log line of the outage
for h in alpha beta; do FROM[$h]=$(($(wc -l <"$TMP/$h.log") + 1)); done
pg_stop
sleep 3
pg_server
kill -0 "$la" 2>/dev/null && kill -0 "$lb" 2>/dev/null || fail "the load ended before PostgreSQL was back: make it longer"
sleep 1
touch "$TMP/stop-load"
wait "$la" "$lb"
rm -f "$TMP/stop-load"
n=$(wc -l <"$TMP/answered")
[ "$n" -ge 20 ] || fail "only $n activations answered around the PostgreSQL restart"
grep -q "cmid 00000000-0000-4000-8000-0000000050" "$TMP/alpha.log" || fail "alpha answered nothing"
all_listed "$TMP/answered" "${DB[@]}" || fail "after PostgreSQL restarted: answered activations missing from the registry"
# the fault is logged once a minute (FAILURE_LOG_EVERY_S), not at each retry: the folds failed throughout the outage
# (retried after 0.1, 0.2, 0.4, 0.8, 1.6 s: several times in its 3 s), and from its start to here, far less than a
# minute, each host logged the line exactly once
for h in alpha beta; do
    n=$(tail -n "+${FROM[$h]}" "$TMP/$h.log" | grep -c "registry: cannot fold the journal into the database")
    [ "$n" = 1 ] || fail "$h logged the registry's fault $n times during an outage of seconds, not once"
done
stop alpha
stop beta

# --- PostgreSQL down when a host starts (a power cut: the database comes back after the hosts): the host starts,
# answers from its journal and records everything once the server is reached; its journal numbers on from the position
# saved at its last clean stop, far past 1 (a record numbered at or below the registry's position would be skipped)
[ -s "$TMP/alpha/kmsd-postgresql-activations.seq" ] || fail "alpha's clean stop did not save the journal's position"
# down_start NAME FIRST N WHAT: PostgreSQL stopped, host NAME started, N activations answered from its journal, the
# server started again: every answered one recorded, and the host said the registry was out of reach, then reached
down_start() {
    local _ from
    from=$(($(wc -l <"$TMP/$1.log" 2>/dev/null || echo 0) + 1))
    pg_stop
    : >"$TMP/answered"
    host "$1"
    for _ in $(seq 1 100); do tail -n "+$from" "$TMP/$1.log" | grep -q "recorded once it is reached" && break; sleep 0.05; done
    tail -n "+$from" "$TMP/$1.log" | grep -q "recorded once it is reached" || fail "$1 did not say the registry is out of reach"
    load "$1" "$2" "$3"
    [ "$(wc -l <"$TMP/answered")" = "$3" ] || fail "$1 answered $(wc -l <"$TMP/answered") of $3 with PostgreSQL down"
    pg_server
    all_listed "$TMP/answered" "${DB[@]}" || fail "what $1 answered with PostgreSQL down at its start ($4) is not recorded"
    tail -n "+$from" "$TMP/$1.log" | grep -q "registry: reached; folding the journal" ||
        fail "$1 did not log reaching the registry"
}
down_start alpha 9000 30 "its state kept"
stop alpha

# --- the same with a new state directory (a container started without its volume): the journal numbers from 1, below
# the registry's position for this host's name, and what the host answered before the server came back is still
# recorded (folded from this run's first record, with a warning)
rm -rf "$TMP/beta"
down_start beta 9500 20 "a new state directory"
grep -q "is past this host's journal" "$TMP/beta.log" || fail "beta did not warn of the registry's position"
stop beta

# --- two hosts with one --host-name (a cloned machine): the second to connect says so; the first does not
lines=$(wc -l <"$TMP/alpha.log")
host alpha
mkdir -p "$TMP/twin"
"$KMSD" -L "127.0.0.3:$(free_port)" --no-http --state-dir "$TMP/twin" --host-name alpha "${DB[@]}" "${AS_ROOT[@]}" \
    >"$TMP/twin.log" 2>&1 &
twin=$!
wait_lines 1 "holds this host's name" "a second host named alpha did not say the name is taken" "$TMP/twin.log"
stop_pid "$twin"
! tail -n "+$((lines + 1))" "$TMP/alpha.log" | grep -q "holds this host's name" ||
    fail "the first host named alpha said its name is taken"
stop alpha

# --- kmsd migrate: PostgreSQL -> a SQLite file -> a second PostgreSQL database, each copy checked; a second run
# changes nothing
rows=$(pg_psql "SELECT count(*) FROM clients")
req=$(requests)
"$PG_BIN/psql" -X -q -h "$PG_ROOT" -p "$PG_PORT" -U kmsd -d postgres -c 'CREATE DATABASE kmsd2' || fail "createdb"
migrate() {
    "$KMSD" migrate --from "$1" --to "$2" --db-password-file "$PG_PASSFILE" >"$TMP/out" 2>&1 ||
        { cat "$TMP/out" >&2; fail "kmsd migrate --from $1 --to $2"; }
    grep -q "$3 new or changed in the destination; checked: $rows of $rows rows there, $req requests" "$TMP/out" ||
        fail "kmsd migrate --from $1 --to $2 said: $(cat "$TMP/out")"
}
migrate "$PG_URI" "$TMP/copy.db" "$rows"
migrate "$TMP/copy.db" "${PG_URI}2" "$rows"
migrate "$TMP/copy.db" "${PG_URI}2" 0
[ "$("$PG_BIN/psql" -X -At -h "$PG_ROOT" -p "$PG_PORT" -U kmsd -d kmsd2 -c 'SELECT count(*) FROM clients')" = "$rows" ] ||
    fail "the second database does not hold the rows"
expect_rc 2 "$KMSD" migrate --from "$TMP/copy.db"
expect_rc 2 "$KMSD" migrate --from "$TMP/copy.db" --to "$TMP/copy.db"
echo "ok: two hosts on one PostgreSQL registry; $n activations around a server restart, all recorded; $rows rows migrated there and back"
