#!/bin/bash
# PROXY protocol on the KMS listener (--proxy-protocol, --trusted-proxy): a trusted proxy's connection starts with a
# version 1 or 2 header (whole, or split across reads) and the client it names is the one recorded, checked by the
# access lists and limited per address (--max-per-address, --rate-limit: the client, never the proxy, is counted);
# a header from an address not trusted is refused and counted (closed{reason="proxy"}), and so is a trusted proxy's
# connection without one; a peer not trusted and sending no header is served as before. HAProxy from Debian, started
# here on loopback with send-proxy-v2 and send-proxy, carries real activations (kmsc's, and one from 127.0.0.5 whose
# address must be the recorded one).
. "$(dirname "$0")/lib.sh"
command -v haproxy >/dev/null || fail "haproxy is not installed (setup-debian.sh --test)"
CONF="$TMP/kmsd.conf"
printf 'proxy-protocol = true\ntrusted-proxy = 127.0.0.1\n' >"$CONF"
start_kmsd -c "$CONF"
addr() { # the address the registry holds for the kat's one client (kmsc's clients have CMIDs of their own)
    "$KMSD" clients --state-dir "$TMP/state" --format json | "$PYTHON" -c '
import json, sys
r = [c for c in json.load(sys.stdin) if c["cmid"] == "12345678-9abc-4def-8123-456789abcdef"]
print(r[0]["address"] if r else "")'
}
# MODE [SRC]: one BIND and one REQUEST from SRC (default 127.0.0.1) with a header of MODE first: v1, v2, v2split
# (the header one byte per send), none, or local (v2 LOCAL); prints "answered" or "closed"
proxied() {
    "$PYTHON" - "$IT_DIR" "$PORT" "$1" "${2:-127.0.0.1}" <<'PY'
import socket, struct, sys, time
sys.path.insert(0, sys.argv[1])
import kmsproto
port, mode, src = int(sys.argv[2]), sys.argv[3], sys.argv[4]
sig = b"\r\n\r\n\x00\r\nQUIT\n"
hdr = {
    "v1": b"PROXY TCP4 192.0.2.99 127.0.0.1 40000 %d\r\n" % port,
    "v2": sig + b"\x21\x11" + struct.pack(">H", 12) + bytes([198, 51, 100, 7, 127, 0, 0, 1]) + struct.pack(">HH", 40001, port),
    "v2split": sig + b"\x21\x21" + struct.pack(">H", 36) + socket.inet_pton(socket.AF_INET6, "2001:db8::77")
               + socket.inet_pton(socket.AF_INET6, "::1") + struct.pack(">HH", 40002, port),
    "local": sig + b"\x20\x00\x00\x00",
    "none": b"",
}[mode]
s = kmsproto.connect("127.0.0.1", port, src=src)
try:
    if mode == "v2split":
        for b in hdr:
            s.sendall(bytes([b]))
            time.sleep(0.002)
        s.sendall(kmsproto.bind_pdu())
    else:
        s.sendall(hdr + kmsproto.bind_pdu())
    ack = kmsproto.read_pdu(s)
    s.sendall(kmsproto.request_pdu("v6", "ndr64"))
    reply = kmsproto.read_pdu(s)
    print("answered" if ack and reply and reply[2] == 2 else "closed")
except OSError:
    print("closed")
PY
}
n=0
[ "$(proxied v1)" = answered ] || fail "a version 1 header from the trusted proxy"
n=$((n + 1))
wait_recorded $n
[ "$(addr)" = 192.0.2.99:40000 ] || fail "version 1: recorded $(addr), not the client the header named"
[ "$(proxied v2)" = answered ] || fail "a version 2 header"
n=$((n + 1))
wait_recorded $n
[ "$(addr)" = 198.51.100.7:40001 ] || fail "version 2: recorded $(addr)"
[ "$(proxied v2split)" = answered ] || fail "a version 2 header arriving a byte at a time"
n=$((n + 1))
wait_recorded $n
[ "$(addr)" = "[2001:db8::77]:40002" ] || fail "version 2 over IPv6: recorded $(addr)"
wait_log "\[2001:db8::77\]:40002: .*activated" "the log does not name the proxied client"
[ "$(proxied local)" = answered ] || fail "a LOCAL header (the proxy's own check)"
n=$((n + 1))
wait_recorded $n
case "$(addr)" in 127.0.0.1:*) ;; *) fail "LOCAL: recorded $(addr), not the proxy's own address" ;; esac
# refused and counted: the trusted proxy without a header; a header from an address not trusted
[ "$(proxied none)" = closed ] || fail "the trusted proxy's connection without a header was served"
[ "$(proxied v1 127.0.0.2)" = closed ] || fail "a header from an address not trusted was believed"
counted proxy=2
wait_log "127.0.0.2:[0-9]*: connection closed: a PROXY header from an address not given as --trusted-proxy" \
    "no log line for the untrusted header"
# a peer not trusted, without a header: served as without --proxy-protocol
[ "$(proxied none 127.0.0.2)" = answered ] || fail "a direct client (not a proxy) was not served"
n=$((n + 1))
wait_recorded $n

# the access lists apply to the client a header names: --deny by a reload
printf 'proxy-protocol = true\ntrusted-proxy = 127.0.0.1\ndeny = 192.0.2.0/24\n' >"$CONF"
hup_and_wait 1
[ "$(proxied v1)" = closed ] || fail "a proxied client in --deny was served"
wait_log "192.0.2.99:40000: connection refused: address matches --deny" "no refusal line"
[ "$(proxied v2)" = answered ] || fail "another proxied client was refused"
n=$((n + 1))
wait_recorded $n

# HAProxy in front: send-proxy-v2 and send-proxy (version 1) to kmsd
H2=$(free_port)
H1=$(free_port)
while [ "$H1" = "$H2" ]; do H1=$(free_port); done
cat >"$TMP/haproxy.cfg" <<CFG
global
    maxconn 64
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend kms_v2
    bind 127.0.0.1:$H2
    default_backend kmsd_v2
frontend kms_v1
    bind 127.0.0.1:$H1
    default_backend kmsd_v1
backend kmsd_v2
    server k 127.0.0.1:$PORT send-proxy-v2
backend kmsd_v1
    server k 127.0.0.1:$PORT send-proxy
CFG
haproxy -c -f "$TMP/haproxy.cfg" >"$TMP/haproxy.check" 2>&1 || fail "haproxy -c: $(cat "$TMP/haproxy.check")"
haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
HAPROXY=$!
trap 'kill $HAPROXY 2>/dev/null; cleanup' EXIT
wait_port 127.0.0.1 "$H2"
wait_port 127.0.0.1 "$H1"
"$KMSC" -q "127.0.0.1:$H2" || fail "kmsc through HAProxy (send-proxy-v2)"
"$KMSC" -q "127.0.0.1:$H1" || fail "kmsc through HAProxy (send-proxy)"
n=$((n + 2))
"$PYTHON" - "$IT_DIR" "$H2" <<'PY' || fail "an activation from 127.0.0.5 through HAProxy"
import sys
sys.path.insert(0, sys.argv[1])
import kmsproto
s = kmsproto.connect("127.0.0.1", int(sys.argv[2]), src="127.0.0.5")
s.sendall(kmsproto.bind_pdu())
assert kmsproto.read_pdu(s)
s.sendall(kmsproto.request_pdu("v6", "ndr64"))
r = kmsproto.read_pdu(s)
sys.exit(0 if r and r[2] == 2 else 1)
PY
n=$((n + 1))
wait_recorded $n
case "$(addr)" in 127.0.0.5:*) ;; *) fail "through HAProxy: recorded $(addr), not the client's 127.0.0.5" ;; esac
kill "$HAPROXY"
wait "$HAPROXY" 2>/dev/null
stop_kmsd

# The per-address limits count the client a header names, not the proxy: with --limit-private (so that the proxy's
# own 127.0.0.1 would be limited too, were it counted) --max-per-address 2 --rate-limit 1 --rate-burst 1, three
# connections held open together whose headers name one public address (203.0.113.7: TEST-NET-3, not private for
# acl_is_private) get two BIND_ACKs and a close, while three naming three other addresses, through the same proxy
# with those two still open, are all answered; a second activation from one named address gets no answer, the
# first from another named address gets its answer.
start_kmsd --no-db --proxy-protocol --trusted-proxy 127.0.0.1 --limit-private --max-per-address 2 \
    --rate-limit 1 --rate-burst 1
"$PYTHON" - "$IT_DIR" "$PORT" <<'PY' || fail "the per-address limits behind the proxy"
import socket, struct, sys
sys.path.insert(0, sys.argv[1])
import kmsproto
port = int(sys.argv[2])
bind, req = kmsproto.bind_pdu(), kmsproto.request_pdu("v6", "ndr64")

def proxied(client, n):  # a connection from the proxy (127.0.0.1) and its v2 header naming client:40000+n
    s = kmsproto.connect("127.0.0.1", port, src="127.0.0.1")
    return s, (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11" + struct.pack(">H", 12) + socket.inet_aton(client)
               + socket.inet_aton("127.0.0.1") + struct.pack(">HH", 40000 + n, port))

def answered(s, pdu):  # the PDU's reply came (a close, or a reset, is no answer)
    try:
        s.sendall(pdu)
        return kmsproto.read_pdu(s) is not None
    except OSError:
        return False

def served(conns):  # header and BIND on each in turn, each after the one before was answered or closed
    return [answered(s, h + bind) for s, h in conns]

held = [proxied("203.0.113.7", i) for i in range(3)]
one = served(held)
assert one == [True, True, False], "three connections naming 203.0.113.7: served %s, want the first two" % one
more = [proxied("203.0.113.%d" % (20 + i), 10 + i) for i in range(3)]
many = served(more)
assert many == [True] * 3, "three connections naming three addresses (the proxy holding five): served %s" % many
for s, _ in held + more:
    s.close()
first = proxied("203.0.113.31", 20)
assert served([first]) == [True] and answered(first[0], req), "the first activation of 203.0.113.31 went unanswered"
first[0].close()
again = proxied("203.0.113.31", 21)
assert served([again]) == [True], "a second connection naming 203.0.113.31 was not served"
assert not answered(again[0], req), "a second activation of 203.0.113.31 was answered: --rate-burst 1"
again[0].close()
other = proxied("203.0.113.32", 22)
assert served([other]) == [True] and answered(other[0], req), "203.0.113.32 was refused with 203.0.113.31"
other[0].close()
print("ok: per-address limits on the named clients")
PY
counted "per_address=1"
counted "rate=1"
wait_log "203.0.113.7:40002: connection refused: the address holds --max-per-address (2) connections" \
    "the per-address refusal does not name the proxied client"
wait_log "203.0.113.31:40021: activation refused: over --rate-limit" "the rate refusal does not name the proxied client"
stop_kmsd

expect_rc 2 "$KMSD" --state-dir "$TMP/x" --proxy-protocol --check-config
grep -q -- "--proxy-protocol needs --trusted-proxy" "$TMP/out" || fail "$(cat "$TMP/out")"
expect_rc 2 "$KMSD" --state-dir "$TMP/x" --trusted-proxy 10.0.0.1 --check-config
expect_rc 2 "$KMSD" --state-dir "$TMP/x" --proxy-protocol --trusted-proxy 10.0.0.1 --max-pdu 512 \
    --max-conn-buffer 1024 --check-config
grep -q "less than a PROXY header may be" "$TMP/out" || fail "$(cat "$TMP/out")"
echo "32-proxy-protocol: v1, v2 (IPv4, IPv6, split, LOCAL) recorded as the client; untrusted and missing refused; --deny, --max-per-address and --rate-limit on the client; HAProxy send-proxy-v2 and send-proxy"
