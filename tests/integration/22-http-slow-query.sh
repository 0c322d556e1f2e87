#!/bin/bash
# Health never waits for a registry query. slow_sqlite.c, LD_PRELOAD'ed into kmsd, holds up the next statement on
# the HTTP server's read-only registry connection for DELAY_MS once $TMP/slow is written, as a query on a registry
# of a million clients takes seconds. While an /api/v1/stats request is held up so, /healthz, /readyz, /metrics,
# /api/v1/host, /api/v1/products and the page each answer 200 within BOUND_MS, on new connections and on one kept
# alive (the target is 10 ms; the bound leaves room for a loaded machine and ASan). Then kmsd stops cleanly with
# a query under way and two more waiting for the registry.
. "$(dirname "$0")/lib.sh"
DELAY_MS=3000
BOUND_MS=200

[ -f "$SLOW_SQLITE" ] || fail "no $SLOW_SQLITE (built with the tests)"
preload=$SLOW_SQLITE
# a kmsd built with ASan wants its runtime first in the list of libraries, before any LD_PRELOAD'ed one
asan=$(ldd "$KMSD" | awk '$1 ~ /^libasan\.so/ { print $3 }')
[ -n "$asan" ] && preload="$asan:$preload"
IT_ENV=("LD_PRELOAD=$preload" "IT_SLOW_SQL_FILE=$TMP/slow")
start_kmsd
for i in 1 2 3; do
    "$KMSC" -q --workstation "slow-pc-$i" "127.0.0.1:$PORT" || fail "kmsc slow-pc-$i"
done
wait_recorded 3

"$PYTHON" - "$HTTP_PORT" "$TMP/slow" "$DELAY_MS" "$BOUND_MS" <<'PY' || fail "health waited for a registry query"
import http.client, json, os, sys, threading, time
port, flag, delay_ms, bound_ms = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
PATHS = ("/healthz", "/readyz", "/metrics", "/api/v1/host", "/api/v1/products", "/")

def get(path, conn=None):
    """(status, body, milliseconds) of one GET, on conn or on a new connection."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t = time.monotonic()
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    ms = (time.monotonic() - t) * 1000
    if not conn:
        c.close()
    return r.status, body, ms

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

# without the fault: stats reads the registry and is quick
s, body, ms = get("/api/v1/stats")
if s != 200 or json.loads(body).get("registry") is not True:
    fail("/api/v1/stats before the fault: %d %r" % (s, body[:200]))
print("/api/v1/stats without the fault: %.1f ms" % ms)

with open(flag, "w") as f:
    f.write("%d\n" % delay_ms)
slow = {}
def stats():
    slow["result"] = get("/api/v1/stats")
    slow["done"] = time.monotonic()
t = threading.Thread(target=stats)
t.start()
for _ in range(500):  # the query is under way (the library marks it) within 5 s
    if os.path.exists(flag + ".hit"):
        break
    time.sleep(0.01)
else:
    fail("no registry query was held up: is %s preloaded into kmsd?" % os.environ.get("SLOW_SQLITE", "the library"))
keep = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # one connection kept alive across requests
worst = {p: 0.0 for p in PATHS}
n = 0
for _ in range(5):
    for p in PATHS:
        for conn in (None, keep):
            try:
                s, body, ms = get(p, conn)
            except OSError as e:
                fail("%s: %s while a query was held up" % (p, e))
            n += 1
            if s != 200:
                fail("%s answered %d while a query was held up: %r" % (p, s, body[:200]))
            worst[p] = max(worst[p], ms)
keep.close()
measured_until = time.monotonic()
t.join(delay_ms / 1000 + 30)
if t.is_alive() or "result" not in slow:
    fail("/api/v1/stats did not answer")
s, body, ms = slow["result"]
print("while /api/v1/stats was held up (it took %.0f ms), %d requests; the slowest of each: %s (bound %d ms)" %
      (ms, n, ", ".join("%s %.1f ms" % (p, worst[p]) for p in PATHS), bound_ms))
late = [p for p in PATHS if worst[p] > bound_ms]
if late:
    fail("answered later than %d ms while a registry query was under way: %s" % (bound_ms, ", ".join(late)))
if s != 200:
    fail("the held-up /api/v1/stats answered %d: %r" % (s, body[:200]))
if ms < delay_ms * 0.9 or slow["done"] < measured_until:
    fail("the requests above were not all made while /api/v1/stats was held up (it took %.0f ms)" % ms)
PY

# no request failed, the held-up one included
[ "$(metric kmsd_http_responses_total code=500)" = 0 ] || fail "a request failed with 500"

# --- stopping while a query is held up and two more requests wait for the registry: kmsd exits 0 within
# stop_kmsd's 10 s (libmicrohttpd aborts when it is stopped with a connection still suspended); each request gets
# an answer (the one under way 200, those waiting 503) or, at the very end, its connection closed
rm -f "$TMP/slow.hit"
echo "$DELAY_MS" >"$TMP/slow"
"$PYTHON" - "$HTTP_PORT" "$TMP/slow" >"$TMP/stop.out" 2>&1 <<'PY' &
import http.client, os, sys, threading, time
port, flag = int(sys.argv[1]), sys.argv[2]
got = {}
def get(name, path):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", path)
        got[name] = c.getresponse().status
    except (OSError, http.client.HTTPException) as e:
        got[name] = "closed (%s)" % type(e).__name__
ts = [threading.Thread(target=get, args=("held", "/api/v1/stats"))]
ts[0].start()
for _ in range(500):
    if os.path.exists(flag + ".hit"):
        break
    time.sleep(0.01)
else:
    sys.exit("no registry query was held up")
for name, path in (("waiting1", "/api/v1/clients"), ("waiting2", "/api/v1/stats")):
    ts.append(threading.Thread(target=get, args=(name, path)))
    ts[-1].start()
open(flag + ".queued", "w").close()
for t in ts:
    t.join(40)
print(" ".join("%s=%s" % (k, got.get(k)) for k in ("held", "waiting1", "waiting2")))
def fine(name, want):
    return got.get(name) == want or str(got.get(name)).startswith("closed")
sys.exit(0 if fine("held", 200) and fine("waiting1", 503) and fine("waiting2", 503) else 1)
PY
client=$!
for _ in $(seq 1 100); do [ -e "$TMP/slow.queued" ] && break; sleep 0.05; done
[ -e "$TMP/slow.queued" ] || fail "the requests to stop with were not sent"
sleep 0.2 # the two waiting requests reach kmsd
stop_kmsd
wait "$client" || { cat "$TMP/stop.out" >&2; fail "requests in flight at stop: $(cat "$TMP/stop.out")"; }
echo "at stop: $(cat "$TMP/stop.out")"
echo "22-http-slow-query: ok"
