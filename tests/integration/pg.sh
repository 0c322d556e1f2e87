# A PostgreSQL cluster of the test's own (sourced after lib.sh): pg_start creates one with initdb in a temporary
# directory, owned by the postgres user when the test runs as root (the server refuses root), and starts it on a
# free loopback port with its socket in that directory; pg_stop stops it by PID (fast shutdown, bounded); the EXIT
# trap stops it and removes the directory. The superuser kmsd has a password (PG_PASSFILE) over TCP and is trusted
# on the socket (psql below). PG_URI names database kmsd over TCP, for kmsd --db with --db-password-file $PG_PASSFILE.
# Also sourced by bench/registry (after bench/lib.sh), which defines pg_die as its fatal error; the tests' is fail.
declare -F pg_die >/dev/null || pg_die() { fail "$@"; }
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || pg_die "PostgreSQL is not installed (scripts/setup-debian.sh --test)"
PG_ROOT=$(mktemp -d /tmp/kmsd-pg.XXXXXX)
PG_PID=""
PG_AS=()
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || pg_die "no postgres user to run the PostgreSQL server as (the postgresql package makes it)"
    chown postgres: "$PG_ROOT"
    PG_AS=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
PG_PASSFILE="$TMP/pg-password"
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$PG_PASSFILE"
cp "$PG_PASSFILE" "$PG_ROOT/pw" && chmod 644 "$PG_ROOT/pw"

pg_stop() { # a fast shutdown (SIGINT)
    stop_pid "$PG_PID" INT
    PG_PID=""
}

pg_cleanup() {
    pg_stop
    rm -rf "$PG_ROOT"
    cleanup
}
trap pg_cleanup EXIT

# pg_psql SQL: runs SQL in database kmsd over the socket; prints unaligned rows
pg_psql() {
    "$PG_BIN/psql" -X -q -At -h "$PG_ROOT" -p "$PG_PORT" -U kmsd -d kmsd -v ON_ERROR_STOP=1 -c "$1"
}

# pg_server: starts the server on $PG_PORT and waits (10 s) until it accepts connections
pg_server() {
    local _
    "${PG_AS[@]}" "$PG_BIN/postgres" -D "$PG_ROOT/data" -p "$PG_PORT" -k "$PG_ROOT" -c listen_addresses=127.0.0.1 \
        >>"$PG_ROOT/server.log" 2>&1 &
    PG_PID=$!
    for _ in $(seq 1 200); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && return 0
        kill -0 "$PG_PID" 2>/dev/null || break
        sleep 0.05
    done
    tail -n 20 "$PG_ROOT/server.log" >&2
    pg_die "the PostgreSQL server did not start"
}

pg_start() {
    PG_PORT=$(free_port)
    "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_ROOT/data" -U kmsd --pwfile="$PG_ROOT/pw" -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >"$PG_ROOT/initdb.log" 2>&1 ||
        { cat "$PG_ROOT/initdb.log" >&2; pg_die "initdb failed"; }
    rm -f "$PG_ROOT/pw"
    pg_server
    "$PG_BIN/psql" -X -q -h "$PG_ROOT" -p "$PG_PORT" -U kmsd -d postgres -c 'CREATE DATABASE kmsd' ||
        pg_die "cannot create the database"
    PG_URI="postgresql://kmsd@127.0.0.1:$PG_PORT/kmsd"
}
