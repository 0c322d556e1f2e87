#!/bin/bash
# kmsd under a service manager, without systemd running: the test listens on a NOTIFY_SOCKET of its own (a Unix
# datagram socket, as systemd's) and sets WATCHDOG_USEC. kmsd sends READY=1 with a STATUS= once it serves, then
# WATCHDOG=1 every half interval while its loop turns and the registry writer progresses; a writer held up (an
# LD_PRELOAD library makes its next statement sleep 3 s) stops the pings until it moves again; SIGTERM sends
# STOPPING=1, SIGHUP RELOADING=1 then READY=1; a registry of an older schema, EXTEND_TIMEOUT_USEC= before its migration. Socket activation: systemd-socket-activate passes a listening socket (LISTEN_FDS) and kmsd serves on
# it instead of binding (--listen is then ignored, with a warning). libsystemd is mapped only in the kmsd started
# under the service manager, not in one started by hand.
. "$(dirname "$0")/lib.sh"
command -v systemd-socket-activate >/dev/null || fail "systemd-socket-activate is not installed (systemd)"
NOTIFY="$TMP/notify.sock"
MSGS="$TMP/notify.log"
# the receiver: every datagram as one line "MONOTONIC_SECONDS MESSAGE" (newlines as |), for at most 90 s
"$PYTHON" - "$NOTIFY" "$MSGS" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.2)
end = time.monotonic() + 90
with open(sys.argv[2], "a", buffering=1) as out:
    while time.monotonic() < end:
        try:
            m = s.recv(4096).decode(errors="replace")
        except socket.timeout:
            continue
        out.write("%.3f %s\n" % (time.monotonic(), m.replace("\n", "|")))
PY
RECEIVER=$!
trap 'kill $RECEIVER 2>/dev/null; cleanup' EXIT
for i in $(seq 1 50); do [ -S "$NOTIFY" ] && break; sleep 0.1; done
[ -S "$NOTIFY" ] || fail "the notify socket did not appear"
now() { "$PYTHON" -c 'import time; print("%.3f" % time.monotonic())'; }
# pings in (FROM, TO]
pings() { awk -v a="$1" -v b="$2" '$1 > a && $1 <= b && /WATCHDOG=1/' "$MSGS" | wc -l; }

# outside a service manager (and without --dns-publish) kmsd maps neither libsystemd nor ldns and the OpenSSL
# libraries ldns links: they are loaded when asked for (src/lazy/lazylib.h)
start_kmsd
"$KMSC" -q "127.0.0.1:$PORT" || fail "kmsc against a kmsd started by hand"
# the registry was created by this start: a new file is no migration to tell of
! grep -q "registry: migrating" "$TMP/kmsd.log" || fail "a new registry is logged as migrated: $(grep migrating "$TMP/kmsd.log")"
for lib in libsystemd libldns libcrypto libssl libgcrypt; do
    ! grep -q "/$lib\.so" "/proc/$KMSD_PID/maps" || fail "a kmsd started by hand maps $lib"
done
stop_kmsd

# a registry of an older schema (6: the clients keyed by (cmid, app_id)) is migrated before kmsd listens: the
# service manager is told first (EXTEND_TIMEOUT_USEC, a minute and more per million clients) and the log says so
"$PYTHON" - "$TMP/state/kmsd.db" <<'PY' || fail "could not make the registry a schema-6 one"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
cols = ("cmid, app_id, app_group, sku_id, kms_id, workstation, product, license_status, grace_time, is_vm,"
        " version_major, version_minor, first_seen, last_seen, request_count, last_address, last_epid, last_hresult,"
        " last_host")
assert db.execute("PRAGMA user_version").fetchone()[0] == 8
assert db.execute("SELECT count(*) FROM clients").fetchone()[0] == 1
db.executescript(f"""
ALTER TABLE clients RENAME TO clients_v7;
CREATE TABLE clients (cmid BLOB NOT NULL, app_id BLOB NOT NULL, app_group INTEGER NOT NULL, sku_id BLOB NOT NULL,
  kms_id BLOB NOT NULL, workstation TEXT NOT NULL, product TEXT NOT NULL, license_status INTEGER NOT NULL,
  grace_time INTEGER NOT NULL, is_vm INTEGER NOT NULL, version_major INTEGER NOT NULL, version_minor INTEGER NOT NULL,
  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, request_count INTEGER NOT NULL, last_address TEXT NOT NULL,
  last_epid TEXT NOT NULL, last_hresult INTEGER NOT NULL, last_host TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (cmid, app_id));
INSERT INTO clients (rowid, {cols}) SELECT rowid, {cols} FROM clients_v7;
DROP TABLE clients_v7;
CREATE INDEX clients_last_seen ON clients (last_seen);
CREATE INDEX clients_group_seen ON clients (app_group, last_seen);
CREATE INDEX clients_first_seen ON clients (first_seen);
CREATE INDEX clients_workstation ON clients (lower(workstation));
CREATE INDEX clients_product ON clients (product);
PRAGMA user_version = 6;
""")
db.close()
PY
chown --reference="$TMP/state" "$TMP/state"/kmsd.db* 2>/dev/null
IT_ENV=(NOTIFY_SOCKET="$NOTIFY")
start_kmsd
wait_lines 1 "READY=1" "no READY=1 after the migration" "$MSGS"
extend=$(grep -n "EXTEND_TIMEOUT_USEC=" "$MSGS" | head -1)
ready=$(grep -n "READY=1" "$MSGS" | head -1)
[ -n "$extend" ] || fail "no EXTEND_TIMEOUT_USEC= before the migration: $(head -3 "$MSGS")"
[ "${extend%%:*}" -lt "${ready%%:*}" ] || fail "EXTEND_TIMEOUT_USEC= came after READY=1"
grep -q "EXTEND_TIMEOUT_USEC=120000000|STATUS=migrating the registry from schema 6 to 8" "$MSGS" ||
    fail "EXTEND_TIMEOUT_USEC= not 2 minutes for one client, or its STATUS: $extend"
grep -q "registry: migrating the schema of 1 clients from version 6 to 8 before listening" "$TMP/kmsd.log" ||
    fail "the log does not say the registry is migrated"
"$KMSC" -q "127.0.0.1:$PORT" || fail "kmsc against the migrated registry"
stop_kmsd
got=$("$PYTHON" -c 'import sqlite3, sys
d = sqlite3.connect(sys.argv[1])
print(d.execute("SELECT sum(request_count) FROM clients").fetchone()[0], d.execute("PRAGMA user_version").fetchone()[0])
' "$TMP/state/kmsd.db")
[ "$got" = "2 8" ] || fail "the migrated registry does not hold both activations at schema 8: $got"
: >"$MSGS"
IT_ENV=()

preload=$SLOW_SQLITE
# a kmsd built with ASan wants its runtime first in the list of libraries, before any LD_PRELOAD'ed one
asan=$(ldd "$KMSD" | awk '$1 ~ /^libasan\.so/ { print $3 }')
[ -n "$asan" ] && preload="$asan:$preload"
IT_ENV=(NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=400000 LD_PRELOAD="$preload" IT_SLOW_SQL_FILE="$TMP/slow"
    IT_SLOW_SQL_RW=1)
start_kmsd
wait_lines 1 "READY=1" "no READY=1" "$MSGS"
grep -q "READY=1|STATUS=0 activations answered, 0 refused; 0 connections open; registry ok" "$MSGS" ||
    fail "no READY=1 with its STATUS: $(head -3 "$MSGS")"
grep -q "/libsystemd\.so" "/proc/$KMSD_PID/maps" || fail "kmsd under a service manager did not load libsystemd"
t0=$(now)
sleep 2
t1=$(now)
n=$(pings "$t0" "$t1")
# about 10 (every 200 ms); fewer on a loaded machine, where the loop's timer runs late, but never none
[ "$n" -ge 3 ] && [ "$n" -le 14 ] || fail "$n watchdog pings in 2 s at a 400 ms interval (expected about 10)"

# a stalled writer: pings stop while it is held up, and resume
"$KMSC" -q "127.0.0.1:$PORT" || fail "kmsc"
sleep 0.5 # the activation folded; the next statement of the writer will sleep
echo 3000 >"$TMP/slow"
"$KMSC" -q "127.0.0.1:$PORT" || fail "kmsc while the writer stalls" # answered at the journal write
for i in $(seq 1 30); do [ -f "$TMP/slow.hit" ] && break; sleep 0.1; done
[ -f "$TMP/slow.hit" ] || fail "the writer's statement was not held up"
sleep 0.5
t0=$(now)
sleep 1.5
t1=$(now)
n=$(pings "$t0" "$t1")
[ "$n" -le 1 ] || fail "$n watchdog pings while the writer was stalled"
grep -q "registry writer made no progress since the last watchdog tick" "$TMP/kmsd.log" || fail "no log line"
grep -q "STATUS=.*registry writer stalled" "$MSGS" || fail "no STATUS saying the writer is stalled"
sleep 2
t0=$(now)
sleep 1.5
t1=$(now)
n=$(pings "$t0" "$t1")
[ "$n" -ge 1 ] || fail "the pings did not resume ($n in 1.5 s)"
grep -q "STATUS=2 activations answered" "$MSGS" || fail "STATUS does not count the activations"

# a reload: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again
kill -HUP "$KMSD_PID"
wait_lines 1 "RELOADING=1" "no RELOADING=1 at SIGHUP" "$MSGS"
wait_lines 2 "READY=1" "no READY=1 after the reload" "$MSGS"
grep -q "RELOADING=1|MONOTONIC_USEC=[0-9]*|STATUS=reloading" "$MSGS" || fail "RELOADING=1 without MONOTONIC_USEC"
stop_kmsd
grep -q "STOPPING=1" "$MSGS" || fail "no STOPPING=1"
IT_ENV=()

# socket activation: kmsd takes the socket systemd-socket-activate passes, --listen is ignored
SA_PORT=$(free_port)
mkdir -p "$TMP/sa"
systemd-socket-activate -l "127.0.0.1:$SA_PORT" "$KMSD" --state-dir "$TMP/sa" --no-http --log-level debug \
    "${AS_ROOT[@]}" -L 127.0.0.1:1 >"$TMP/sa.log" 2>&1 &
KMSD_PID=$!
for i in $(seq 1 50); do
    "$PYTHON" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' "$SA_PORT" \
        2>/dev/null && break
    sleep 0.1
done
"$KMSC" -q "127.0.0.1:$SA_PORT" || { cat "$TMP/sa.log" >&2; fail "no activation on the passed socket"; }
grep -q "listening on 127.0.0.1:$SA_PORT" "$TMP/sa.log" || fail "kmsd did not say it listens on the passed socket"
grep -q "socket activation: listening on the 1 socket(s) the service manager passed; --listen is ignored" \
    "$TMP/sa.log" || fail "no warning that --listen is ignored"
kill -TERM "$KMSD_PID"
wait "$KMSD_PID" || fail "kmsd under systemd-socket-activate did not exit 0"
KMSD_PID=""
echo "28-systemd: READY, STATUS, a migration's EXTEND_TIMEOUT_USEC, watchdog (stops with a stalled writer), STOPPING, socket activation"
