#!/usr/bin/env bash
# A PostgreSQL registry with a standby (docs/deploy.md, "Several hosts on one PostgreSQL registry"): a primary and a
# streaming replica made with pg_basebackup, both on loopback in the test's cluster directory; kmsd names both in its
# URI with target_session_attrs=read-write. Under load the primary stops and the standby is promoted: kmsd answers on
# from its journal, its next connection finds the new primary, and every answered activation is in the registry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"

cmid() { printf '00000000-0000-4000-8000-%012d' "$1"; }
pg_start
STANDBY_PORT=$(free_port)
STANDBY_PID=""
"${PG_AS[@]}" env PGPASSWORD="$(cat "$PG_PASSFILE")" "$PG_BIN/pg_basebackup" -D "$PG_ROOT/standby" -R -X stream -c fast \
    -h 127.0.0.1 -p "$PG_PORT" -U kmsd >"$PG_ROOT/basebackup.log" 2>&1 ||
    { cat "$PG_ROOT/basebackup.log" >&2; fail "pg_basebackup"; }
"${PG_AS[@]}" "$PG_BIN/postgres" -D "$PG_ROOT/standby" -p "$STANDBY_PORT" -k "$PG_ROOT" -c listen_addresses=127.0.0.1 \
    >>"$PG_ROOT/standby.log" 2>&1 &
STANDBY_PID=$!
stop_standby() {
    stop_pid "$STANDBY_PID" INT
    STANDBY_PID=""
}
trap 'stop_standby; pg_cleanup' EXIT
for _ in $(seq 1 200); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$STANDBY_PORT" && break
    kill -0 "$STANDBY_PID" 2>/dev/null || break
    sleep 0.05
done
"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$STANDBY_PORT" || { tail "$PG_ROOT/standby.log" >&2; fail "the standby did not start"; }
standby_sql() { "$PG_BIN/psql" -X -q -At -h "$PG_ROOT" -p "$STANDBY_PORT" -U kmsd -d kmsd -c "$1"; }
[ "$(standby_sql "SELECT pg_is_in_recovery()")" = t ] || fail "the standby is not a standby"

URI="postgresql://kmsd@127.0.0.1:$PG_PORT,127.0.0.1:$STANDBY_PORT/kmsd?target_session_attrs=read-write"
DB=(--db "$URI" --db-password-file "$PG_PASSFILE")
start_kmsd --no-http "${DB[@]}" --host-name solo
: >"$TMP/answered"
load() { # FIRST COUNT: activations with distinct CMIDs, each answered one listed in answered; the load stops early
    # once the file stop exists, and the number it made is in the file tried
    local i n=0
    for i in $(seq "$1" $(($1 + $2 - 1))); do
        [ -e "$TMP/stop" ] && break
        "$KMSC" -q --timeout 5 --cmid "$(cmid "$i")" "127.0.0.1:$PORT" >/dev/null 2>&1 && echo "$(cmid "$i")" >>"$TMP/answered"
        n=$((n + 1))
    done
    echo "$n" >"$TMP/tried"
}
load 1 50
all_listed "$TMP/answered" "${DB[@]}" || fail "nothing recorded through the primary"
load 100 3000 & # until the failover is over (stop), at most 3,000 (about 20 s)
loader=$!
sleep 1
pg_stop # the primary (a fast shutdown: the standby receives its last WAL)
sleep 1  # no primary for a second: the folds fail and are retried (after 0.1, 0.2, 0.4 s...)
standby_sql "SELECT pg_promote()" >/dev/null || fail "cannot promote the standby"
[ "$(standby_sql "SELECT pg_is_in_recovery()")" = f ] || fail "the standby was not promoted"
kill -0 "$loader" 2>/dev/null || fail "the load ended before the failover: make it longer"
# activations through the new primary too: a second at least, and until 100 of this load were answered (a sanitizer
# build's kmsc takes about 80 ms to start, so the seconds above may hold fewer), at most 30 s
sleep 1
for _ in $(seq 1 290); do
    [ "$(wc -l <"$TMP/answered")" -ge 150 ] && break
    kill -0 "$loader" 2>/dev/null || break
    sleep 0.1
done
touch "$TMP/stop"
wait "$loader"
n=$(wc -l <"$TMP/answered") tried=$(cat "$TMP/tried")
[ "$tried" -ge 100 ] || fail "only $tried activations tried across the failover"
[ "$n" -ge "$tried" ] || fail "only $n of $((tried + 50)) activations answered across the failover"
all_listed "$TMP/answered" "${DB[@]}" || fail "after the failover: answered activations missing from the new primary"
# the fault is logged once a minute (FAILURE_LOG_EVERY_S), not at each retry: this kmsd's only outage, the failover,
# and the whole run are far shorter than a minute, so exactly one line
faults=$(grep -c "registry: cannot fold the journal into the database" "$TMP/kmsd.log")
[ "$faults" = 1 ] || fail "kmsd logged the registry's fault $faults times across a failover of seconds, not once"
stop_kmsd
echo "ok: a failover to the promoted standby under load; all $n answered activations in the registry"
