# Shared by the integration tests (sourced). Environment from meson: KMSD, KMSC, VECTOR_REPLAY, PYTHON, FIXTURES,
# SOURCE_ROOT. Every test starts its own kmsd on a free loopback port with a temporary state directory and
# stops it by PID; every wait is bounded.
set -u

# kmsd reads KMSD_* variables as configuration and rejects unknown ones: start it with none of the caller's.
for v in $(compgen -e | grep '^KMSD_'); do unset "$v"; done

# $PYTHON may be a wrapper (pyenv's shim: a shell script that costs a quarter second a start); the tests start
# Python often (free_port, wait_port, the helpers): use the interpreter itself.
PYTHON=$("$PYTHON" -c 'import sys; print(sys.executable)' 2>/dev/null) || PYTHON=${PYTHON:-python3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kmsd-it.XXXXXX")
KMSD_PID=""

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$TMP/kmsd.log" ]; then
        echo "--- last lines of kmsd's log:" >&2
        tail -n 20 "$TMP/kmsd.log" >&2
    fi
    exit 1
}

cleanup() {
    if [ -n "$KMSD_PID" ] && kill -0 "$KMSD_PID" 2>/dev/null; then
        kill -KILL "$KMSD_PID" 2>/dev/null
        wait "$KMSD_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# Prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port HOST PORT: up to 5 s for something to accept connections there.
wait_port() {
    local i
    for i in $(seq 1 100); do
        if "$PYTHON" -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 0.2).close()' \
            "$1" "$2" 2>/dev/null; then
            return 0
        fi
        kill -0 "$KMSD_PID" 2>/dev/null || fail "kmsd exited before listening"
        sleep 0.05
    done
    fail "kmsd did not listen on $1 port $2 within 5 s"
}

# Started as root, kmsd switches to an unprivileged user after binding (privdrop) unless --allow-root. The
# tests run as root in CI and keep their state in $TMP (mode 0700, root's), and some inject registry faults
# with file modes that only bind a non-root user differently: they run kmsd as root, on purpose. The switch
# itself is tested by 16-privileges.sh, which starts kmsd without this.
AS_ROOT=()
if [ "$(id -u)" -eq 0 ]; then AS_ROOT=(--allow-root); fi
# The tests drive thousands of activations from 127.0.0.1, far above the default per-address rate
# (--rate-limit 120 a minute). Loopback peers, being private, are exempt unless --limit-private, but tests that
# give that option (to let 127.0.0.x stand for remote machines) still want the legitimate client unlimited:
# start_kmsd turns the rate off (IT_RATE); a test of the limit passes its own --rate-limit after, and a test of
# the defaults empties IT_RATE first.
IT_RATE=(--rate-limit 0)
# Environment for kmsd alone (VAR=VALUE words), set by a test before start_kmsd: env(1) puts it in place and
# execs kmsd, so $KMSD_PID stays kmsd's and the tools the test runs do not inherit it (LD_PRELOAD, for one).
IT_ENV=()

# start_kmsd [OPTIONS...]: kmsd on 127.0.0.1:$PORT (a fresh free port) unless the options say otherwise, and its
# HTTP server on 127.0.0.1:$HTTP_PORT (another free port, never the default 8080) unless the options give --http
# or --no-http.
start_kmsd() {
    local a http=1
    PORT=$(free_port)
    HTTP_PORT=$(free_port)
    while [ "$HTTP_PORT" = "$PORT" ]; do HTTP_PORT=$(free_port); done
    for a in "$@"; do
        case "$a" in --http | --http=* | --no-http) http=0 ;; esac
    done
    mkdir -p "$TMP/state"
    if [ "$http" = 1 ]; then
        env "${IT_ENV[@]}" "$KMSD" -L "127.0.0.1:$PORT" --http "127.0.0.1:$HTTP_PORT" --state-dir "$TMP/state" \
            --log-level debug "${AS_ROOT[@]}" "${IT_RATE[@]}" "$@" >>"$TMP/kmsd.log" 2>&1 &
    else
        env "${IT_ENV[@]}" "$KMSD" -L "127.0.0.1:$PORT" --state-dir "$TMP/state" --log-level debug "${AS_ROOT[@]}" \
            "${IT_RATE[@]}" "$@" >>"$TMP/kmsd.log" 2>&1 &
    fi
    KMSD_PID=$!
    wait_port 127.0.0.1 "$PORT"
    [ "$http" = 1 ] && wait_port 127.0.0.1 "$HTTP_PORT"
    return 0
}

# stop_pid PID [SIGNAL]: a helper server (named, PostgreSQL) stopped by its PID: SIGNAL (default TERM), up to 10 s,
# then SIGKILL; reaped. Nothing for an empty PID.
stop_pid() {
    local _
    [ -n "$1" ] || return 0
    kill "-${2:-TERM}" "$1" 2>/dev/null
    for _ in $(seq 1 200); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# stop_kmsd: SIGTERM, then kmsd must exit 0 within 10 s.
stop_kmsd() {
    local i rc
    kill -TERM "$KMSD_PID" || fail "kmsd is not running"
    for i in $(seq 1 200); do
        kill -0 "$KMSD_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$KMSD_PID" 2>/dev/null && fail "kmsd did not stop within 10 s of SIGTERM"
    wait "$KMSD_PID"
    rc=$?
    KMSD_PID=""
    [ "$rc" -eq 0 ] || fail "kmsd exited with $rc after SIGTERM"
}

# expect_rc WANT CMD...: runs CMD, fails unless it exits with WANT.
expect_rc() {
    local want=$1 rc
    shift
    "$@" >"$TMP/out" 2>&1
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$TMP/out" >&2
        fail "expected exit $want, got $rc: $*"
    fi
}

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# metric NAME [LABEL=VALUE]: prints the value of one sample of the running kmsd's /metrics (on $HTTP_PORT; the
# whole text is checked by promparse.py first). Fails the test when the text is bad or the sample is absent.
metric() {
    "$PYTHON" - "$IT_DIR" "$HTTP_PORT" "$1" "${2:-}" <<'PY' || fail "no sample $1 ${2:-} in /metrics"
import sys, urllib.request
sys.path.insert(0, sys.argv[1])
import promparse
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[2], timeout=5).read().decode()
want = dict([sys.argv[4].split("=", 1)]) if sys.argv[4] else {}
hits = [v for n, l, v in promparse.check(text) if n == sys.argv[3] and l == want]
if len(hits) != 1:
    sys.exit(1)
print(int(hits[0]))
PY
}

# counted REASON=N: the running kmsd counted exactly N under that reason, in whichever of the reason-labelled
# families has it (connections rejected at accept, connections closed, refusal reasons; the names are unique).
counted() {
    local reason=${1%%=*} want=${1#*=} f v
    for f in kmsd_connections_rejected_total kmsd_connections_closed_total kmsd_refusal_reasons_total; do
        v=$(metric "$f" "reason=$reason" 2>/dev/null) || continue
        [ "$v" = "$want" ] || fail "$f{reason=\"$reason\"} is $v, expected $want"
        return 0
    done
    fail "no /metrics family counts reason=$reason"
}

# log_lines PATTERN [FILE...]: how many lines of the FILEs (default $TMP/kmsd.log; several are summed: a rotated log
# and its successor) match the grep pattern PATTERN.
log_lines() {
    local pattern=$1
    shift
    [ $# -gt 0 ] || set -- "$TMP/kmsd.log"
    cat "$@" 2>/dev/null | grep -c "$pattern" || true
}

# wait_log PATTERN WHAT: waits (bounded, 30 s) for a line of kmsd's log matching PATTERN; fails with WHAT otherwise.
# The event loop writes its info and debug lines once per turn, after the turn's replies (log_hold): a client that
# has its answer may look before the line is written.
wait_log() {
    wait_lines 1 "$1" "$2"
}

# wait_lines N PATTERN WHAT [FILE...]: waits (bounded, 30 s) until the FILEs hold N lines that match PATTERN
# (log_lines); fails with WHAT otherwise.
wait_lines() {
    local want=$1 pattern=$2 what=$3 _ n
    shift 3
    for _ in $(seq 1 300); do
        n=$(log_lines "$pattern" "$@")
        [ "$n" -ge "$want" ] && return 0
        sleep 0.1
    done
    fail "$what (want $want lines, have ${n:-0})"
}

# A reload's summary line: one that applied something ("option(s) applied") or one that did not load ("the
# configuration does not load").
RELOAD_LINE="reload: .*option(s) applied\|reload: the configuration does not load"

# hup_and_wait N [FILE...]: SIGHUP to kmsd, then waits until the log FILEs hold N reload summary lines.
hup_and_wait() {
    local want=$1
    shift
    kill -HUP "$KMSD_PID"
    wait_lines "$want" "$RELOAD_LINE" "no reload line after SIGHUP" "$@"
}

# anon_kb: kmsd's anonymous resident memory (RssAnon), kB.
anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$KMSD_PID/status"; }

# check_anon_growth BEFORE LIMIT_KB WHAT: fails unless kmsd's anonymous memory grew by at most LIMIT_KB since BEFORE
# (an anon_kb). A sanitizer build replaces malloc and keeps freed memory in quarantine, so glibc's arenas are not
# in play: there the figures are only printed.
check_anon_growth() {
    local now
    now=$(anon_kb)
    if ldd "$KMSD" 2>/dev/null | grep -q libasan; then
        echo "$3: anonymous memory $1 kB before, $now kB after (the sanitizer build's allocator: not compared)"
        return 0
    fi
    [ $((now - $1)) -le "$2" ] || fail "$3: anonymous memory $1 kB before, $now kB after (more than $2 kB kept)"
    echo "$3: anonymous memory $1 kB before, $now kB after"
}

# held_request URL GO OUT [CAFILE]: in the background, connects to URL's host (HTTPS when URL says so, trusting
# CAFILE) and writes "200" to OUT.first once connected; when the file GO appears (at most 10 s later) it sends a
# GET of URL's path on that same connection and writes the answer's status to OUT. The caller waits for it.
held_request() {
    "$PYTHON" - "$@" <<'PY' &
import http.client, os, ssl, sys, time, urllib.parse
url, go, out = sys.argv[1], sys.argv[2], sys.argv[3]
u = urllib.parse.urlsplit(url)
if u.scheme == "https":
    c = http.client.HTTPSConnection(u.hostname, u.port, timeout=10,
                                    context=ssl.create_default_context(cafile=sys.argv[4]))
else:
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
c.connect()
open(out + ".first", "w").write("200")
for _ in range(200):
    if os.path.exists(go):
        break
    time.sleep(0.05)
headers = {"Authorization": "Bearer " + os.environ["HELD_TOKEN"]} if os.environ.get("HELD_TOKEN") else {}
c.request("GET", u.path, headers=headers)
r = c.getresponse()
r.read()
open(out, "w").write(str(r.status))
PY
    HELD=$!
    local _
    for _ in $(seq 1 100); do [ -f "$3.first" ] && return 0; sleep 0.05; done
    fail "held_request: no connection to $1"
}

# wait_recorded N: waits (bounded, 10 s) until the registry of $TMP/state counts at least N requests: the writer
# folds the journal into the database within 1 s of an answer, 4 s when busy (docs/internals/store.md).
wait_recorded() {
    local _ n
    for _ in $(seq 1 100); do
        n=$("$KMSD" stats --state-dir "$TMP/state" --format json 2>/dev/null |
            "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["requests"])' 2>/dev/null)
        [ -n "$n" ] && [ "$n" -ge "$1" ] && return 0
        sleep 0.1
    done
    fail "the registry did not record $1 requests within 10 s (it has ${n:-none})"
}

# all_listed ANSWERED [REGISTRY OPTIONS...]: every CMID in the file ANSWERED (one per line) is listed by `kmsd clients`
# with the options (default --state-dir $TMP/state) within 15 s (a running kmsd folds its journal within a second, at
# start what a crash left). Returns 1 after saying how many are missing.
all_listed() {
    local answered=$1 _
    shift
    [ $# -gt 0 ] || set -- --state-dir "$TMP/state"
    for _ in $(seq 1 75); do
        "$KMSD" clients "$@" --format csv >"$TMP/listed.csv" 2>/dev/null &&
            "$PYTHON" - "$answered" "$TMP/listed.csv" <<'PY' && return 0
import sys
answered = {l.strip().lower() for l in open(sys.argv[1]) if l.strip()}
listed = open(sys.argv[2]).read().lower()
missing = [c for c in answered if c not in listed]
if missing:
    print("%d of %d answered activations not listed yet, e.g. %s" % (len(missing), len(answered), missing[0]))
    sys.exit(1)
PY
        sleep 0.2
    done
    return 1
}
