#!/usr/bin/env bash
# Listeners bind exactly what they report, or kmsd exits 2 naming the address and the reason: KMS over IPv4
# and IPv6, the default dual-stack listener, explicit and default HTTP addresses. One kmsd per state directory
# and per registry. The registry, its WAL and the identity are 0600, the state directory 0700.
# The default HTTP address (127.0.0.1:8080) and the default dual-stack listener are tested in a network
# namespace of this test's own (unshare -n), so no port of the machine is touched.
if [ -z "${KMSD_IT_NS:-}" ]; then
    exec unshare -n env KMSD_IT_NS=1 bash "$0" "$@"
fi
unset KMSD_IT_NS
ip link set lo up || { echo "FAIL: cannot bring up lo in the test's network namespace" >&2; exit 1; }
. "$(dirname "$0")/lib.sh"

HOLDER_PID=""
# hold FAMILY ADDR PORT: a process listening there until the test ends (not kmsd: any program may hold it).
hold() {
    rm -f "$TMP/holder.out" # the last holder's "held" must not pass for this one's (the shell truncates it only later)
    "$PYTHON" -c '
import socket, sys, time
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
if fam == socket.AF_INET6 and sys.argv[2] == "::":
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind((sys.argv[2], int(sys.argv[3])))
s.listen(8)
print("held", flush=True)
time.sleep(120)
' "$1" "$2" "$3" >"$TMP/holder.out" 2>&1 &
    HOLDER_PID=$!
    local i
    for i in $(seq 1 100); do
        grep -q held "$TMP/holder.out" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "the holder could not take $2 port $3: $(cat "$TMP/holder.out")"
}
release() {
    [ -n "$HOLDER_PID" ] && kill "$HOLDER_PID" 2>/dev/null && wait "$HOLDER_PID" 2>/dev/null
    HOLDER_PID=""
}
trap 'release; cleanup' EXIT

# listeners PORT: how many sockets listen on that TCP port (any address).
listeners() {
    ss -Hltn "sport = :$1" | wc -l
}

# refused WANT_TEXT PORT_TO_CHECK... -- KMSD_ARGS...: kmsd exits 2 within 10 s with WANT_TEXT in its output and
# leaves nothing listening on any of the ports listed (besides the holder).
refused() {
    local want=$1 rc p
    shift
    local ports=()
    while [ "$1" != "--" ]; do ports+=("$1"); shift; done
    shift
    timeout 10 "$KMSD" --state-dir "$TMP/state-$RANDOM" --no-db "${AS_ROOT[@]}" "$@" >"$TMP/out" 2>&1
    rc=$?
    [ "$rc" -eq 2 ] || { cat "$TMP/out" >&2; fail "expected exit 2, got $rc: kmsd $*"; }
    grep -qF -- "$want" "$TMP/out" || { cat "$TMP/out" >&2; fail "no \"$want\" in the message of: kmsd $*"; }
    grep -q "listening on\|serving the web page" "$TMP/out" && { cat "$TMP/out" >&2; fail "kmsd said it serves: $*"; }
    return 0
}

# --- KMS over IPv4, explicit
P=$(free_port)
H=$(free_port)
hold 4 127.0.0.1 "$P"
refused "cannot listen on 127.0.0.1:$P: address in use" "$P" "$H" -- -L "127.0.0.1:$P" --http "127.0.0.1:$H"
[ "$(listeners "$P")" -eq 1 ] || fail "something besides the holder listens on port $P"
[ "$(listeners "$H")" -eq 0 ] || fail "the HTTP port $H is still listening after kmsd refused to start"
# the old failure mode: a random port on every interface
ss -Hltnp | grep -q '"kmsd"' && fail "a kmsd still listens: $(ss -Hltnp | grep kmsd)"
release

# --- KMS over IPv6, explicit
P=$(free_port)
hold 6 ::1 "$P"
refused "cannot listen on [::1]:$P: address in use" -- -L "[::1]:$P" --no-http
release

# --- the default dual-stack listener ([::]:PORT) with the port taken on IPv4 alone, and on IPv6 alone:
# kmsd must not fall back to 0.0.0.0 (that fallback is for hosts without IPv6)
P=$(free_port)
hold 4 0.0.0.0 "$P"
refused "cannot listen on [::]:$P: address in use" -- --port "$P" --no-http
release
hold 6 :: "$P"
refused "cannot listen on [::]:$P: address in use" -- --port "$P" --no-http
refused "cannot listen on [::]:$P: address in use" -- -L "*:$P" --no-http
release

# --- a name resolves to an address that no interface has
refused "cannot assign requested address" -- -L "192.0.2.1:$(free_port)" --no-http

# --- HTTP, explicit, taken: the KMS listener (bound first) must not stay
P=$(free_port)
H=$(free_port)
hold 4 127.0.0.1 "$H"
refused "--http 127.0.0.1:$H: cannot listen on 127.0.0.1:$H: address in use" "$P" -- -L "127.0.0.1:$P" --http "127.0.0.1:$H"
[ "$(listeners "$P")" -eq 0 ] || fail "the KMS port $P is still listening after the HTTP address failed"
release

# --- HTTP, default addresses (127.0.0.1:8080 and [::1]:8080), each taken in turn
P=$(free_port)
hold 4 127.0.0.1 8080
refused "cannot listen on 127.0.0.1:8080: address in use" -- -L "127.0.0.1:$P"
release
hold 6 ::1 8080
refused "cannot listen on [::1]:8080: address in use" -- -L "127.0.0.1:$P"
release

# --- what kmsd reports is read back from the socket: a name, resolved and bound
start_kmsd -L "localhost:$(free_port)"
"$PYTHON" - "$HTTP_PORT" "$PORT" <<'PY' || fail "/api/v1/host does not list the bound addresses"
import json, sys, urllib.request
h = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/v1/host" % sys.argv[1], timeout=5))
kms, http = h["listeners"], h["http"]
want = {"127.0.0.1:" + sys.argv[2], "[::1]:" + sys.argv[2]}
# start_kmsd's own -L 127.0.0.1:$PORT comes first, then localhost's first address
assert kms[0] == "127.0.0.1:" + sys.argv[2], kms
assert len(kms) == 2 and kms[1].rsplit(":", 1)[0] in ("127.0.0.1", "[::1]"), kms
assert http == ["127.0.0.1:" + sys.argv[1]], http
PY
grep -q "listening on 127.0.0.1:$PORT" "$TMP/kmsd.log" || fail "the log does not name the bound address"

# refused WHAT TEXT ARGS...: a kmsd started with ARGS (and a free port, no HTTP) exits 2 and says TEXT
refused() {
    local what=$1 text=$2 rc
    shift 2
    timeout 10 "$KMSD" -L "127.0.0.1:$(free_port)" --no-http "$@" "${AS_ROOT[@]}" >"$TMP/out" 2>&1
    rc=$?
    [ "$rc" -eq 2 ] || { cat "$TMP/out" >&2; fail "$what: exit $rc, not 2"; }
    grep -qF -- "$text" "$TMP/out" || { cat "$TMP/out" >&2; fail "$what: the message does not say \"$text\""; }
}

# --- one kmsd per state directory, and per registry
refused "a second kmsd on the same state directory" \
    "state directory $TMP/state is in use by another kmsd (PID $KMSD_PID)" --state-dir "$TMP/state"
mkdir -p "$TMP/other"
refused "a second kmsd on the same registry" "registry $TMP/state/kmsd.db is in use by another kmsd (PID $KMSD_PID)" \
    --state-dir "$TMP/other" --db "$TMP/state/kmsd.db"
# a state directory or registry whose directory above is missing: exit 2, saying so
refused "a state directory under a missing one" \
    "--state-dir $TMP/missing/state: cannot create it: the directory above it does not exist" \
    --state-dir "$TMP/missing/state"
refused "a registry in a missing directory" "registry $TMP/missing/kmsd.db: its directory does not exist" \
    --state-dir "$TMP/other" --db "$TMP/missing/kmsd.db"
[ ! -e "$TMP/missing" ] || fail "kmsd created the missing directory"
kill -0 "$KMSD_PID" || fail "the running kmsd died"
# readers still read while it runs
expect_rc 0 "$KMSC" "127.0.0.1:$PORT"
expect_rc 0 "$KMSD" clients --state-dir "$TMP/state"
expect_rc 0 "$KMSD" stats --state-dir "$TMP/state"

# --- file modes
mode() { stat -c %a "$1"; }
[ "$(mode "$TMP/state")" = 700 ] || fail "state directory mode $(mode "$TMP/state"), not 700"
for f in identity kmsd.db kmsd.db-wal kmsd.db-shm; do
    [ -e "$TMP/state/$f" ] || fail "$f missing"
    [ "$(mode "$TMP/state/$f")" = 600 ] || fail "$f mode $(mode "$TMP/state/$f"), not 600"
done
stop_kmsd
# after a stop, another kmsd may take the directory at once (the lock goes with the process)
start_kmsd
stop_kmsd
# an older, wider state directory and registry are narrowed at start
chmod 0755 "$TMP/state"
chmod 0644 "$TMP/state/kmsd.db"
start_kmsd
[ "$(mode "$TMP/state")" = 700 ] || fail "a 0755 state directory was not narrowed to 700"
[ "$(mode "$TMP/state/kmsd.db")" = 600 ] || fail "a 0644 registry was not narrowed to 600"
# kill -9: the lock goes with the process
kill -KILL "$KMSD_PID"
wait "$KMSD_PID" 2>/dev/null
KMSD_PID=""
start_kmsd
stop_kmsd
echo "ok"
