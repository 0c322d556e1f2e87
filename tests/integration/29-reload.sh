#!/bin/bash
# SIGHUP (systemctl reload, logrotate's postrotate) re-reads the configuration: a changed --deny applies to the
# next connection while one already open stays open and is served; the log file is reopened after a rename; a
# configuration that does not load leaves the running one in place (logged) and kmsd serving; an option that needs
# a restart (the listen address) is named as such; the HTTP token and page size apply to the next request; at most
# HTTP_MAX_RETIRED replaced HTTP servers keep serving connections opened on them, the next replacement waits.
. "$(dirname "$0")/lib.sh"
CONF="$TMP/kmsd.conf"
LOG="$TMP/k.log"
printf 'log-level = info\nlog-file = %s\n' "$LOG" >"$CONF"
start_kmsd -c "$CONF"
# a connection from 127.0.0.2 opened (and bound) before the reload, held by a helper until told to go on
"$PYTHON" - "$IT_DIR" "$PORT" "$TMP/go" "$TMP/held.out" <<'PY' &
import os, sys, time
sys.path.insert(0, sys.argv[1])
import kmsproto
port, go, out = int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = kmsproto.connect("127.0.0.1", port, src="127.0.0.2")
s.sendall(kmsproto.bind_pdu())
first = kmsproto.read_pdu(s)
open(out + ".bound", "w").write("ok" if first else "no BIND_ACK")
for _ in range(300):
    if os.path.exists(go):
        break
    time.sleep(0.05)
s.sendall(kmsproto.request_pdu("v6", "ndr64"))
reply = kmsproto.read_pdu(s)
open(out, "w").write("answered" if reply and reply[2] == 2 else "no answer")
PY
HELD=$!
for i in $(seq 1 100); do [ -f "$TMP/held.out.bound" ] && break; sleep 0.05; done
[ "$(cat "$TMP/held.out.bound" 2>/dev/null)" = ok ] || fail "the held connection was not bound"

# Reloads (logrotate sends one a day) leave the memory as it was: one used to read the whole per-address table
# (3.5 MB resident from then on) and keep the reloaded configuration's 64 KiB. Compared after the next two reloads;
# RELOAD_GROWTH_KB leaves room for the log file's new buffer and the arenas' pages.
RELOAD_GROWTH_KB=256
anon_before=$(anon_kb)

# --deny 127.0.0.2 by a reload: new connections from there refused, the open one still served
printf 'log-level = info\nlog-file = %s\ndeny = 127.0.0.2\n' "$LOG" >"$CONF"
hup_and_wait 1 "$LOG" "$LOG.1"
grep -q "reload: 1 option(s) applied (deny); 0 need a restart" "$LOG" || fail "reload line: $(grep reload: "$LOG")"
"$PYTHON" - "$IT_DIR" "$PORT" <<'PY' || fail "a new connection from 127.0.0.2 was not refused after the reload"
import sys
sys.path.insert(0, sys.argv[1])
import kmsproto
s = kmsproto.connect("127.0.0.1", int(sys.argv[2]), src="127.0.0.2")
sys.exit(0 if kmsproto.closed_by_server(s, 3.0) else 1)
PY
touch "$TMP/go"
wait "$HELD"
[ "$(cat "$TMP/held.out")" = answered ] || fail "the connection opened before the reload was not served after it"
"$KMSC" -q "127.0.0.1:$PORT" || fail "127.0.0.1 refused after the reload"

# logrotate: the file renamed, SIGHUP, new lines in a new file
mv "$LOG" "$LOG.1"
hup_and_wait 2 "$LOG" "$LOG.1"
check_anon_growth "$anon_before" $RELOAD_GROWTH_KB "two reloads"
[ -f "$LOG" ] || fail "the log file was not reopened"
"$KMSC" -q "127.0.0.1:$PORT" || fail "kmsc after the log rotation"
wait_lines 1 ": activated" "the activation after the rotation is not in the new file" "$LOG"
grep -q "reload: 0 option(s) applied" "$LOG" || fail "the reload line is not in the new file"

# a configuration that does not load: the running one stays (deny still applies), kmsd serving
printf 'log-level = info\nlog-file = %s\ndeny = 127.0.0.2\nmax-connections = lots\n' "$LOG" >"$CONF"
hup_and_wait 3 "$LOG" "$LOG.1"
grep -q 'reload: the configuration does not load, the running one stays: .*max-connections.*"lots" is not a number' "$LOG" ||
    fail "no line for the bad configuration: $(grep reload: "$LOG")"
"$KMSC" -q "127.0.0.1:$PORT" || fail "not serving after a bad reload"
kill -0 "$KMSD_PID" || fail "a bad configuration stopped kmsd"

# an option that needs a restart is named; the live one beside it applies
printf 'log-level = info\nlog-file = %s\nport = 1\nidle-timeout = 20s\n' "$LOG" >"$CONF"
hup_and_wait 4 "$LOG" "$LOG.1"
grep -q "reload: port changed; it takes effect when kmsd restarts" "$LOG" || fail "no 'port needs a restart' line"
grep -q "reload: 2 option(s) applied (idle-timeout, deny); 1 need a restart" "$LOG" || fail "summary: $(grep reload: "$LOG" | tail -1)"
"$PYTHON" - "$IT_DIR" "$PORT" <<'PY' || fail "the deny list removed by the reload still applies"
import sys
sys.path.insert(0, sys.argv[1])
import kmsproto
s = kmsproto.connect("127.0.0.1", int(sys.argv[2]), src="127.0.0.2")
s.sendall(kmsproto.bind_pdu())
sys.exit(0 if kmsproto.read_pdu(s) else 1)
PY
"$KMSC" -q "127.0.0.1:$PORT" || fail "kmsc after the last reload"

# the HTTP token and page size, live: the next request needs the new token; a connection open across the reload
# is answered too
TOKEN=0123456789abcdef0123
printf 'log-level = info\nlog-file = %s\nport = 1\nidle-timeout = 20s\nhttp-token = %s\nhttp-max-page = 7\n' "$LOG" \
    "$TOKEN" >"$CONF"
# connected before the reload, the request (with the new token) sent after it
HELD_TOKEN=$TOKEN held_request "http://127.0.0.1:$HTTP_PORT/healthz" "$TMP/go2" "$TMP/kept.out"
KEPT=$HELD
hup_and_wait 5 "$LOG" "$LOG.1"
grep -q "reload: 2 option(s) applied (http-token, http-max-page); 1 need a restart" "$LOG" ||
    fail "summary: $(grep reload: "$LOG" | tail -1)"
touch "$TMP/go2"
wait "$KEPT"
[ "$(cat "$TMP/kept.out")" = 200 ] || fail "the HTTP connection open across the reload was not answered after it"
"$PYTHON" - "$HTTP_PORT" "$TOKEN" <<'PY' || fail "the new token"
import json, sys, urllib.request, urllib.error
port, token = int(sys.argv[1]), sys.argv[2]
base = "http://127.0.0.1:%d" % port
try:
    urllib.request.urlopen(base + "/api/v1/host", timeout=10)
    sys.exit("no token: answered")
except urllib.error.HTTPError as e:
    if e.code != 401:
        sys.exit("no token: %d" % e.code)
rq = urllib.request.Request(base + "/api/v1/clients?limit=100", headers={"Authorization": "Bearer " + token})
try:
    urllib.request.urlopen(rq, timeout=10)
    sys.exit("limit=100 above the new http-max-page 7 was accepted")
except urllib.error.HTTPError as e:
    if e.code != 400:
        sys.exit("limit=100: %d" % e.code)
rq = urllib.request.Request(base + "/api/v1/host", headers={"Authorization": "Bearer " + token})
if json.load(urllib.request.urlopen(rq, timeout=10))["count_mode"] != "fixed":
    sys.exit("count_mode")
PY

# the count mode, live: fixed answers the policy's count (kmsc verifies it), genuine the registry's few clients
# (below Windows' threshold: kmsc exits 7), and back
BASE=$(printf 'log-level = info\nlog-file = %s\nport = 1\nidle-timeout = 20s\nhttp-token = %s\nhttp-max-page = 7\n' \
    "$LOG" "$TOKEN")
printf '%s\ncount-mode = genuine\n' "$BASE" >"$CONF"
hup_and_wait 6 "$LOG" "$LOG.1"
grep -q "reload: 1 option(s) applied (count-mode); 1 need a restart" "$LOG" || fail "summary: $(grep reload: "$LOG" | tail -1)"
expect_rc 7 "$KMSC" "127.0.0.1:$PORT"
# the registry's clients, counted by the writer since the reload (a writer not counting would give 0)
grep -Eq "current count [1-9][0-9]? is below the required 25" "$TMP/out" ||
    fail "genuine count after the reload: $(cat "$TMP/out")"
"$PYTHON" - "$HTTP_PORT" "$TOKEN" <<'PY' || fail "count_mode in /api/v1/host"
import json, sys, urllib.request
rq = urllib.request.Request("http://127.0.0.1:%s/api/v1/host" % sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
sys.exit(0 if json.load(urllib.request.urlopen(rq, timeout=10))["count_mode"] == "genuine" else "not genuine")
PY
printf '%s\n' "$BASE" >"$CONF"
hup_and_wait 7 "$LOG" "$LOG.1"
"$KMSC" -q "127.0.0.1:$PORT" || fail "fixed count after the reload back"

# HTTP_MAX_RETIRED (16): each reload that changes --http-timeout replaces the HTTP server and retires the old one,
# which keeps serving a connection held open on it; the 17th such reload finds 16 retired servers still busy and
# keeps the running one (logged); every held connection is answered afterwards
retire=0
for i in $(seq 1 17); do
    HELD_TOKEN=$TOKEN held_request "http://127.0.0.1:$HTTP_PORT/healthz" "$TMP/go-r" "$TMP/held-$i.out"
    eval "HELD_$i=$HELD"
    printf '%s\nhttp-timeout = %ds\n' "$BASE" $((20 + i)) >"$CONF"
    hup_and_wait $((7 + i)) "$LOG" "$LOG.1"
done
[ "$(grep -c "reload: the HTTP server now serves plain HTTP" "$LOG")" -ge 16 ] || fail "16 HTTP servers not replaced"
grep -q "reload: the HTTP servers a reload replaced still serve connections" "$LOG" ||
    fail "no refusal at HTTP_MAX_RETIRED: $(grep "reload:" "$LOG" | tail -3)"
touch "$TMP/go-r"
for i in $(seq 1 17); do
    eval "wait \$HELD_$i"
    [ "$(cat "$TMP/held-$i.out")" = 200 ] || fail "held connection $i: $(cat "$TMP/held-$i.out" 2>/dev/null)"
done
"$PYTHON" -c 'import sys, urllib.request as u
u.urlopen(u.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]}), timeout=10)' \
    "http://127.0.0.1:$HTTP_PORT/healthz" "$TOKEN" || fail "HTTP after the retirements"
stop_kmsd

# the per-address limits and the registry's row cap apply live: with --limit-private (loopback limited too), a
# reload from no cap to --max-per-address 1 refuses a second connection from 127.0.0.3 while one is open; a reload to
# --rate-limit 1 --rate-burst 1 leaves a second activation from 127.0.0.4 unanswered; 1,100 clients, then a reload to
# --max-clients 1000 prunes the least recently seen at once (the registry then 1,000 rows, 1,001 when the activation
# above is folded after the prune), not at the next day's prune
printf 'log-level = info\nlog-file = %s\nlimit-private = true\nmax-per-address = 0\nrate-limit = 0\n' "$LOG" >"$CONF"
IT_RATE=() # the rate limit from the INI file alone, which the reload changes (the command line would win)
start_kmsd -c "$CONF"
"$KMSC" bench -q -N 1100 -c 8 --new-connection "127.0.0.1:$PORT" >/dev/null || fail "the 1,100 clients"
"$PYTHON" - "http://127.0.0.1:$HTTP_PORT/api/v1/clients?limit=1" <<'PY' || fail "the 1,100 clients not in the registry"
import json, sys, time, urllib.request
for _ in range(100):  # the writer folds them within a second or so: at most 10 s
    if json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["total"] >= 1100:
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
printf 'log-level = info\nlog-file = %s\nlimit-private = true\nmax-per-address = 1\nrate-limit = 1\nrate-burst = 1\nmax-clients = 1000\n' \
    "$LOG" >"$CONF"
n0=$(grep -c "$RELOAD_LINE" "$LOG")
hup_and_wait $((n0 + 1)) "$LOG"
grep -q "reload: 4 option(s) applied (max-per-address, rate-limit, rate-burst, max-clients); 0 need a restart" "$LOG" ||
    fail "summary: $(grep reload: "$LOG" | tail -1)"
"$PYTHON" - "$IT_DIR" "$PORT" <<'PY' || fail "the per-address limits of the reload"
import sys
sys.path.insert(0, sys.argv[1])
import kmsproto
port = int(sys.argv[2])
held = kmsproto.connect("127.0.0.1", port, src="127.0.0.3")
held.sendall(kmsproto.bind_pdu())
assert kmsproto.read_pdu(held), "the first connection from 127.0.0.3 was not served"
second = kmsproto.connect("127.0.0.1", port, src="127.0.0.3")
assert kmsproto.closed_by_server(second, 3.0), "a second connection from 127.0.0.3 was served: --max-per-address 1"
held.close()
def activation(src):  # answered (a close or a reset is no answer)
    s = kmsproto.connect("127.0.0.1", port, src=src)
    try:
        s.sendall(kmsproto.bind_pdu())
        if not kmsproto.read_pdu(s):
            return False
        s.sendall(kmsproto.request_pdu("v6", "ndr64"))
        r = kmsproto.read_pdu(s)
        return bool(r and r[2] == 2)
    except OSError:
        return False
    finally:
        s.close()
assert activation("127.0.0.4"), "the first activation from 127.0.0.4 went unanswered"
assert not activation("127.0.0.4"), "a second activation from 127.0.0.4 was answered: --rate-limit 1 --rate-burst 1"
PY
wait_lines 1 "registry: pruned [0-9]* client rows" "no prune to --max-clients 1000 after the reload" "$LOG"
"$PYTHON" - "http://127.0.0.1:$HTTP_PORT/api/v1/clients?limit=1" <<'PY' || fail "the registry is not at 1,000 rows"
import json, sys, urllib.request
total = json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["total"]
sys.exit(0 if total in (1000, 1001) else "%d rows after the prune" % total)
PY
stop_kmsd

# with --no-db, a reload to genuine mode is refused: the running configuration stays
printf 'log-level = info\nlog-file = %s\n' "$LOG" >"$CONF"
start_kmsd -c "$CONF" --no-db
printf 'log-level = info\nlog-file = %s\ncount-mode = genuine\n' "$LOG" >"$CONF"
kill -HUP "$KMSD_PID"
for i in $(seq 1 100); do grep -q "count-mode genuine needs the registry" "$LOG" && break; sleep 0.05; done
grep -q "reload: --count-mode genuine needs the registry (kmsd runs with --no-db); the running configuration stays" \
    "$LOG" || fail "no refusal of genuine mode without a registry"
"$KMSC" -q "127.0.0.1:$PORT" || fail "kmsc after the refused reload"
stop_kmsd
echo "29-reload: deny applied live, open connection kept, log reopened, bad configuration kept out, restart-only named, HTTP token, page size, count mode, per-address limits and row cap live"
