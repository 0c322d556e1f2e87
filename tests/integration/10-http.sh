#!/bin/bash
# The HTTP server inside kmsd: the JSON API against clients created with kmsc (status codes, JSON shapes,
# pagination, filters, 400/401/404/405/413/414), the per-connection memory (431), /metrics through a strict
# text-format parser, the HTTP connection cap at the limit and one past it, the bearer token, address errors,
# kmsc health, and /readyz failing while the KMS port rejects connections (in a network namespace the test makes).
. "$(dirname "$0")/lib.sh"
API="$PYTHON $SOURCE_ROOT/tests/integration/http_api.py"

"$PYTHON" "$SOURCE_ROOT/tests/integration/promparse.py" --self-test || fail "the metrics parser accepts bad input"

# --- the API, with a page-size cap of 3 so that the cap and cap+1 are cheap to reach
start_kmsd --http-max-page 3
BASE="http://127.0.0.1:$HTTP_PORT"
CMID=11111111-2222-4333-8444-0000000000
"$KMSC" -q -n 3 --workstation it-pc-1 --cmid "${CMID}01" "127.0.0.1:$PORT" || fail "kmsc it-pc-1"
"$KMSC" -q --workstation it-pc-2 --cmid "${CMID}02" "127.0.0.1:$PORT" || fail "kmsc it-pc-2"
"$KMSC" -q --workstation it-pc-3 --cmid "${CMID}03" "127.0.0.1:$PORT" || fail "kmsc it-pc-3"
"$KMSC" -q --product o2024pp --workstation it-office --cmid "${CMID}04" "127.0.0.1:$PORT" || fail "kmsc office"
wait_recorded 6 # folded from the journal within 1 s
$API api "$BASE" "$PORT" 3 || fail "API checks"

# metrics: strict format, and the counts of what was done above
v=$($API metric "$BASE" kmsd_activations_total version=6 result=answered) || fail "metrics"
[ "$v" = 6 ] || fail "kmsd_activations_total{version=6,result=answered} is $v, expected 6"
v=$($API metric "$BASE" kmsd_activations_total product="Office 2024" result=answered) || fail "metrics"
[ "$v" = 1 ] || fail "Office 2024 activations: $v"
v=$($API metric "$BASE" kmsd_request_duration_seconds_count) || fail "metrics"
[ "$v" = 6 ] || fail "request latency count $v"
v=$($API metric "$BASE" kmsd_registry_write_duration_seconds_count) || fail "metrics"
[ "$v" -ge 1 ] || fail "registry write latency count $v"
v=$($API metric "$BASE" kmsd_build_info) || fail "metrics"
[ "$v" = 1 ] || fail "kmsd_build_info $v"
for m in kmsd_refusals_total kmsd_connections_open kmsd_connections_accepted_total kmsd_connections_rejected_total \
    kmsd_registry_errors_total kmsd_registry_checkpoint_errors_total kmsd_http_connections_rejected_total; do
    $API metric "$BASE" "$m" >/dev/null || fail "no $m"
done
v=$($API metric "$BASE" kmsd_http_responses_total code=400) || fail "metrics"
[ "$v" -ge 10 ] || fail "HTTP 400 responses counted: $v"

# the per-connection memory (its /readyz activates: after the activation counts above)
$API headers "$BASE" || fail "the per-connection memory limit"

# kmsc health: exit 0 against a live host; /readyz answers 200 and its probe is cached for up to 1 s
expect_rc 0 "$KMSC" health "127.0.0.1:$PORT"
grep -q '^healthy: ' "$TMP/out" || fail "kmsc health output: $(cat "$TMP/out")"
[ "$($API status "$BASE/readyz")" = 200 ] || fail "/readyz not 200 against a live listener"
# its round trip in milliseconds with at most 6 significant digits (not 0.49299300007987767)
"$PYTHON" - "$BASE/readyz" <<'PY' || fail "/readyz rtt_ms"
import re, sys, urllib.request
body = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
m = re.search(r'"rtt_ms":([0-9.eE+-]+)', body)
assert m, body
digits = re.sub(r"[^0-9]", "", m.group(1).split("e")[0].split("E")[0]).lstrip("0")
assert len(digits) <= 6, body
PY
# the threads that ran above carry their names (kmsd(8), THREADS), as ps -L and top -H show them
names=$(cat /proc/"$KMSD_PID"/task/*/comm | sort | tr '\n' ' ')
for t in kmsd-writer kmsd-checkpoint kmsd-registry kmsd-readyz kmsd-http-idle; do
    case " $names" in *" $t "*) ;; *) fail "no thread named $t among: $names" ;; esac
done
before=$($API metric "$BASE" kmsd_readyz_probes_total)
t0=$(date +%s%N)
for i in 1 2 3 4 5; do $API status "$BASE/readyz" >/dev/null; done
t1=$(date +%s%N)
after=$($API metric "$BASE" kmsd_readyz_probes_total)
# a probe result is kept for 1 s: at most one activation per started second of the calls, plus one
allowed=$(( (t1 - t0) / 1000000000 + 2 ))
[ "$allowed" -lt 5 ] || allowed=4 # on a machine so slow that 5 calls take 3 s, still demand some caching
[ $((after - before)) -le "$allowed" ] ||
    fail "5 /readyz calls in $(( (t1 - t0) / 1000000 )) ms ran $((after - before)) activations (cache: <= $allowed)"
stop_kmsd
expect_rc 3 "$KMSC" health "127.0.0.1:$PORT"   # nothing listens any more
expect_rc 2 "$KMSC" health "127.0.0.1:$PORT" extra
expect_rc 2 "$KMSC" health "[::1"

# --- the HTTP connection cap: 2 idle connections are served, the third is closed at once and counted
start_kmsd --http-max-connections 2 --http-timeout 30
BASE="http://127.0.0.1:$HTTP_PORT"
$API cap 127.0.0.1 "$HTTP_PORT" 2 || fail "HTTP connection cap"
v=$($API metric "$BASE" kmsd_http_connections_rejected_total) || fail "metrics"
[ "$v" = 1 ] || fail "kmsd_http_connections_rejected_total is $v, expected 1"
stop_kmsd

# --- the idle timeout: an idle HTTP connection is closed after --http-timeout
start_kmsd --http-timeout 2
$API idle 127.0.0.1 "$HTTP_PORT" 2 || fail "--http-timeout"
stop_kmsd

# --- the bearer token: without it, or with a wrong one, every request gets 401 ...
TOKEN=it-token-0123456789abcdef
start_kmsd --http-token "$TOKEN"
BASE="http://127.0.0.1:$HTTP_PORT"
# ... but the page, which holds no data: a browser opening /#token=TOKEN cannot send the header with it
[ "$($API status "$BASE/")" = 200 ] || fail "the page without the token is not 200"
for p in /healthz /readyz /metrics /api/v1/clients /api/v1/host /api/v1/products /nope; do
    [ "$($API status "$BASE$p")" = 401 ] || fail "$p without the token is not 401"
    [ "$($API status "$BASE$p" wrong-token-0123456789)" = 401 ] || fail "$p with a wrong token is not 401"
done
[ "$($API status "$BASE/api/v1/host" "$TOKEN")" = 200 ] || fail "the right token is refused"
[ "$($API status "$BASE/nope" "$TOKEN")" = 404 ] || fail "the right token on a wrong path is not 404"
stop_kmsd

# --- addresses: a non-loopback --http needs a token (or --http-insecure); an explicit address that cannot be
# bound stops kmsd with exit 2; --no-http serves nothing
expect_rc 2 timeout 10 "$KMSD" --state-dir "$TMP/state" --http 0.0.0.0:1
grep -q -- '--http 0.0.0.0:1: not a loopback address' "$TMP/out" || fail "message: $(cat "$TMP/out")"
expect_rc 0 timeout 10 "$KMSD" --state-dir "$TMP/state" --http '*:1' --http-insecure --check-config
expect_rc 0 timeout 10 "$KMSD" --state-dir "$TMP/state" --http '[::]:1' --http-token "$TOKEN" --check-config
expect_rc 2 timeout 10 "$KMSD" --state-dir "$TMP/state" --http-token short
start_kmsd --no-http
BUSY=$PORT
expect_rc 2 timeout 10 "$KMSD" -L "127.0.0.1:$(free_port)" --state-dir "$TMP/state2" --http "127.0.0.1:$BUSY"
grep -q -- "--http 127.0.0.1:$BUSY: cannot listen" "$TMP/out" || fail "busy --http message: $(cat "$TMP/out")"
stop_kmsd

# --- /readyz fails while the KMS port rejects connections. In a private network namespace (only its own
# loopback), kmsd serves; then an nftables rule resets every connection to the KMS port (the HTTP port stays
# open), so the self-activation cannot connect: /readyz must answer 503 and kmsc health exit 3. Removing the
# rule makes both pass again.
unshare -n bash "$SOURCE_ROOT/tests/integration/readyz-netns.sh" || fail "/readyz in a network namespace"
echo "10-http: ok"
