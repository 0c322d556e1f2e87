#!/bin/bash
# HTTPS for the page and the API (--http-tls-cert, --http-tls-key): with a certificate the test makes (openssl,
# self-signed for 127.0.0.1), a client that trusts it gets the API and the page over TLS, and plain HTTP on that
# port gets nothing; a missing, half-given or non-PEM certificate stops kmsd at start (exit 2); a non-loopback
# --http with a token and no TLS warns that the token travels in clear (in a network namespace of the test's own).
# kmsc health --https checks /readyz over TLS, trusting --cacert; --http over plain HTTP. A certificate renewed in
# place is served after SIGHUP; one whose key does not match keeps the running one.
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || fail "openssl is not installed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=kmsd test" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>"$TMP/openssl.log" ||
    fail "openssl: $(cat "$TMP/openssl.log")"
start_kmsd --http-tls-cert "$TMP/cert.pem" --http-tls-key "$TMP/key.pem"
"$PYTHON" - "$HTTP_PORT" "$TMP/cert.pem" <<'PY' || fail "HTTPS"
import http.client, json, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
c.request("GET", "/api/v1/host")
r = c.getresponse()
body = r.read()
if r.status != 200 or "listeners" not in json.loads(body):
    sys.exit("GET /api/v1/host over HTTPS: %d %r" % (r.status, body[:200]))
c.request("GET", "/")
r = c.getresponse()
page = r.read()
if r.status != 200 or b"<html" not in page[:200].lower():
    sys.exit("the page over HTTPS: %d" % r.status)
# a client that does not trust the certificate refuses it
try:
    c2 = http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(), timeout=10)
    c2.request("GET", "/healthz")
    c2.getresponse()
    sys.exit("an untrusted certificate was accepted")
except ssl.SSLError:
    pass
# plain HTTP on the TLS port gets no HTTP answer
p = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
try:
    p.request("GET", "/healthz")
    st = p.getresponse().status
    sys.exit("plain HTTP on the HTTPS port answered %d" % st)
except (http.client.HTTPException, ConnectionError, OSError):
    pass
PY
grep -q "http: serving the web page and API on https://127.0.0.1:$HTTP_PORT/" "$TMP/kmsd.log" || fail "no https:// line"
# kmsc health over HTTPS: trusted through --cacert, refused without it (exit 6), nothing from plain HTTP (exit 3)
"$KMSC" health --https "127.0.0.1:$HTTP_PORT" --cacert "$TMP/cert.pem" >"$TMP/h.out" 2>&1 ||
    fail "kmsc health --https --cacert: $(cat "$TMP/h.out")"
grep -q "^healthy: https://127.0.0.1:$HTTP_PORT/readyz answered 200 in " "$TMP/h.out" || fail "$(cat "$TMP/h.out")"
"$KMSC" health --https "127.0.0.1:$HTTP_PORT" --cacert "$TMP/cert.pem" --path /healthz >"$TMP/h.out" 2>&1 ||
    fail "kmsc health --path /healthz: $(cat "$TMP/h.out")"
expect_rc 6 "$KMSC" health --https "127.0.0.1:$HTTP_PORT"
grep -q "kmsc health: https://127.0.0.1:$HTTP_PORT/readyz: .*certificate" "$TMP/out" || fail "untrusted: $(cat "$TMP/out")"
expect_rc 3 "$KMSC" health --http "127.0.0.1:$HTTP_PORT"
expect_rc 5 "$KMSC" health --https "127.0.0.1:$HTTP_PORT" --cacert "$TMP/cert.pem" --path /nothing-here
grep -q "answered 404" "$TMP/out" || fail "404: $(cat "$TMP/out")"
expect_rc 2 "$KMSC" health --http --cacert "$TMP/cert.pem"
expect_rc 2 "$KMSC" health --https --path nothing
long=$(printf '/%0255d' 0) # HEALTH_HTTP_PATH_MAX (256) bytes: one too many with the NUL
expect_rc 2 "$KMSC" health --https --path "$long"
grep -q "shorter than 256 bytes" "$TMP/out" || fail "--path at its limit: $(cat "$TMP/out")"
"$KMSC" -q "127.0.0.1:$PORT" || fail "activation with HTTPS on"

# a certificate renewed in place + SIGHUP: new connections get the new one, a connection open across the reload is
# still answered; a key that does not go with the certificate keeps the running one (logged)
cp "$TMP/cert.pem" "$TMP/cert1.pem"
cp "$TMP/key.pem" "$TMP/key1.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=kmsd test 2" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$TMP/key2.pem" -out "$TMP/cert2.pem" 2>"$TMP/openssl.log" ||
    fail "openssl: $(cat "$TMP/openssl.log")"
# connected (TLS handshake done with the old certificate) before the reload, the request sent after it
held_request "https://127.0.0.1:$HTTP_PORT/healthz" "$TMP/go" "$TMP/kept.out" "$TMP/cert1.pem"
KEPT=$HELD
cp "$TMP/cert2.pem" "$TMP/cert.pem"
cp "$TMP/key2.pem" "$TMP/key.pem"
hup_and_wait 1
grep -q "reload: the HTTP server now serves HTTPS with the certificate read now" "$TMP/kmsd.log" ||
    fail "no line for the new certificate: $(grep reload: "$TMP/kmsd.log")"
"$KMSC" health --https "127.0.0.1:$HTTP_PORT" --cacert "$TMP/cert2.pem" >"$TMP/h.out" 2>&1 ||
    fail "the renewed certificate is not served: $(cat "$TMP/h.out")"
expect_rc 6 "$KMSC" health --https "127.0.0.1:$HTTP_PORT" --cacert "$TMP/cert1.pem"
touch "$TMP/go"
wait "$KEPT"
[ "$(cat "$TMP/kept.out")" = 200 ] || fail "the connection open across the reload was not answered"
cp "$TMP/key1.pem" "$TMP/key.pem" # the old key with the new certificate
hup_and_wait 2
grep -q "reload: the HTTP server does not start with the new certificate and key" "$TMP/kmsd.log" ||
    fail "no line for a key that does not go with the certificate: $(grep reload: "$TMP/kmsd.log" | tail -2)"
"$KMSC" health --https "127.0.0.1:$HTTP_PORT" --cacert "$TMP/cert2.pem" >"$TMP/h.out" 2>&1 ||
    fail "the running certificate did not stay: $(cat "$TMP/h.out")"
"$KMSC" -q "127.0.0.1:$PORT" || fail "activation after the reloads"
stop_kmsd
cp "$TMP/key2.pem" "$TMP/key.pem"
# and over plain HTTP, against a kmsd without TLS
start_kmsd
"$KMSC" health --http "127.0.0.1:$HTTP_PORT" >"$TMP/h.out" 2>&1 || fail "kmsc health --http: $(cat "$TMP/h.out")"
grep -q "^healthy: http://127.0.0.1:$HTTP_PORT/readyz answered 200" "$TMP/h.out" || fail "$(cat "$TMP/h.out")"
stop_kmsd

expect_rc 2 "$KMSD" --state-dir "$TMP/x" --http-tls-cert "$TMP/cert.pem" --check-config
grep -q -- "--http-tls-cert and --http-tls-key go together" "$TMP/out" || fail "half-given: $(cat "$TMP/out")"
echo "not a certificate" >"$TMP/bad.pem"
expect_rc 2 "$KMSD" --state-dir "$TMP/x" --http-tls-cert "$TMP/bad.pem" --http-tls-key "$TMP/key.pem" --check-config
grep -q "bad.pem: not a PEM file" "$TMP/out" || fail "non-PEM: $(cat "$TMP/out")"
expect_rc 2 "$KMSD" --state-dir "$TMP/x" --http-tls-cert "$TMP/none.pem" --http-tls-key "$TMP/key.pem" --check-config
grep -q "none.pem: No such file" "$TMP/out" || fail "missing: $(cat "$TMP/out")"

# a token over plain HTTP on a non-loopback address: a warning (in a network namespace: nothing of the machine's)
unshare -n bash -c '
    ip link set lo up || exit 3
    timeout 5 "$1" -L 127.0.0.1:'"$PORT"' --state-dir "$2/ns" --http 0.0.0.0:18080 --http-token 0123456789abcdef0123 \
        --no-db '"${AS_ROOT[*]}"' >"$2/ns.log" 2>&1
    exit 0' _ "$KMSD" "$TMP"
grep -q -- "--http 0.0.0.0:18080: the token travels in clear over plain HTTP" "$TMP/ns.log" ||
    fail "no clear-token warning: $(tail -5 "$TMP/ns.log")"
echo "31-https: served over TLS, certificate reloaded, kmsc health --https/--http, plain HTTP refused, bad certificates stop kmsd, clear-token warning"
