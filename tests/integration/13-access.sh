#!/usr/bin/env bash
# Access control and per-address limits over loopback (all of 127/8 reaches lo): --allow/--deny (deny wins),
# --private-only (in a network namespace of its own holding a public test address), --max-per-address at its
# value and one past it, --rate-limit/--rate-burst, --products and --csvlk with their HRESULT, and that each
# refusal is logged with its reason and counted; --pdu-timeout and --time-check at and past their limits.
. "$(dirname "$0")/lib.sh"

probe() { "$PYTHON" "$SOURCE_ROOT/tests/integration/probe.py" served "$@"; }

# --- allow / deny: deny wins
start_kmsd --allow 127.0.0.0/8 --deny 127.0.0.2 --deny 127.0.0.128/25
probe 127.0.0.1 127.0.0.1 "$PORT" || fail "127.0.0.1 (allowed) not served"
probe 127.0.0.3 127.0.0.1 "$PORT" || fail "127.0.0.3 (allowed) not served"
probe 127.0.0.2 127.0.0.1 "$PORT"; [ $? -eq 1 ] || fail "127.0.0.2 (allowed and denied) not refused"
probe 127.0.0.200 127.0.0.1 "$PORT"; [ $? -eq 1 ] || fail "127.0.0.200 (in a denied /25) not refused"
wait_log "127.0.0.2:[0-9]*: connection refused: address matches --deny" "deny not logged"
counted "access=2"
stop_kmsd

start_kmsd --allow 127.0.0.1/32
probe 127.0.0.1 127.0.0.1 "$PORT" || fail "the allowed address is not served"
probe 127.0.0.9 127.0.0.1 "$PORT"; [ $? -eq 1 ] || fail "an address outside --allow is served"
wait_log "connection refused: address matches no --allow" "not-allowed not logged"
stop_kmsd

# --- --private-only, in a namespace where lo also holds a public IPv4 and IPv6 address
if unshare -n true 2>/dev/null; then
    unshare -n bash -s "$KMSD" "$PYTHON" "$SOURCE_ROOT" "$TMP" "${AS_ROOT[*]}" <<'NS' || fail "--private-only in a namespace"
set -u
KMSD=$1 PYTHON=$2 ROOT=$3 T=$4
ip link set lo up && ip addr add 203.0.113.7/32 dev lo && ip -6 addr add 2001:db8::7/128 dev lo nodad || exit 1
"$KMSD" -L 127.0.0.1:1688 -L '[::1]:1688' --state-dir "$T/ns-state" --no-db --private-only $5 >"$T/ns.log" 2>&1 &
P=$!
for i in $(seq 1 100); do "$PYTHON" "$ROOT/tests/integration/probe.py" served - 127.0.0.1 1688 && break; sleep 0.05; done
r=0
p() { "$PYTHON" "$ROOT/tests/integration/probe.py" served "$@"; }
p 127.0.0.1 127.0.0.1 1688 || { echo "loopback refused"; r=1; }
p ::1 ::1 1688 || { echo "::1 refused"; r=1; }
p 203.0.113.7 127.0.0.1 1688; [ $? -eq 1 ] || { echo "public IPv4 served"; r=1; }
p 2001:db8::7 ::1 1688; [ $? -eq 1 ] || { echo "public IPv6 served"; r=1; }
L="203.0.113.7:[0-9]*: connection refused: public address (--private-only)"
for i in $(seq 1 100); do grep -q "$L" "$T/ns.log" && break; sleep 0.05; done # written after the turn's replies
grep -q "$L" "$T/ns.log" || { echo "not logged"; r=1; }
kill $P; wait $P
[ $r -eq 0 ] || cat "$T/ns.log"
exit $r
NS
else
    echo "SKIP-PART: no network namespaces here; --private-only is covered by the acl unit test"
fi

# --- the per-address limits apply to public addresses only unless --limit-private: in a namespace whose lo also
# holds public (203.0.113.7, 2001:db8::7) and private (10.1.2.3, 192.168.7.7, fd00::7) addresses, with
# --max-per-address 1 --rate-limit 1 --rate-burst 1, a public address gets one connection and one activation,
# every private one (loopback too) three of each; with --limit-private the private ones get one as well.
if unshare -n true 2>/dev/null; then
    unshare -n bash -s "$KMSD" "$PYTHON" "$SOURCE_ROOT" "$TMP" "${AS_ROOT[*]}" "$FIXTURES" <<'NS' || fail "public and private addresses in a namespace"
set -u
KMSD=$1 PYTHON=$2 ROOT=$3 T=$4 AS_ROOT=$5 FIX=$6
ip link set lo up && ip addr add 203.0.113.7/32 dev lo && ip addr add 10.1.2.3/32 dev lo &&
    ip addr add 192.168.7.7/32 dev lo && ip -6 addr add 2001:db8::7/128 dev lo nodad &&
    ip -6 addr add fd00::7/128 dev lo nodad || exit 1
# check LIMITED_SOURCES... -- UNLIMITED_SOURCES...: each limited source gets 1 of 2 connections and 1 of 2
# activations, each unlimited one 3 of 3 (sources of IPv6 form talk to ::1, the others to 127.0.0.1)
check() {
    "$PYTHON" - "$ROOT/tests/integration" "$FIX" "$@" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import kmsproto
fix, args = sys.argv[2], sys.argv[3:]
cut = args.index("--")
bind, req = kmsproto.bind_pdu(path=fix), kmsproto.request_pdu("v6", "ndr64", fix)
bad = 0

def conn(src):
    return kmsproto.connect("::1" if ":" in src else "127.0.0.1", 1688, src=src)

def answered(s, pdu):
    try:
        s.sendall(pdu)
        return kmsproto.read_pdu(s) is not None
    except (ConnectionResetError, BrokenPipeError):
        return False

for src, limited in [(a, True) for a in args[:cut]] + [(a, False) for a in args[cut + 1:]]:
    n = 2 if limited else 3
    held = [conn(src) for _ in range(n)]  # held open together: --max-per-address counts them
    served = sum(answered(s, bind) for s in held)
    for s in held[1:]:
        s.close()
    s = held[0]  # its activations, one after the other: --rate-limit counts them
    acts = 0
    for _ in range(n):
        if not answered(s, req):
            break
        acts += 1
    s.close()
    want = 1 if limited else 3
    ok = served == want and acts == want
    print("%s %s: %d of %d connections, %d of %d activations served" % ("ok  " if ok else "FAIL", src, served, n,
                                                                         acts, n))
    bad += not ok
sys.exit(1 if bad else 0)
PY
}
run() { # run NAME [OPTIONS...]: kmsd with the limits of this test, until stop; waits for it from 127.0.0.2,
    # an address check does not use (a probe's connection may still count for its address a moment later)
    "$KMSD" -L 127.0.0.1:1688 -L '[::1]:1688' --state-dir "$T/ns-state-$1" --no-db --max-per-address 1 \
        --rate-limit 1 --rate-burst 1 $AS_ROOT "${@:2}" >"$T/ns-$1.log" 2>&1 &
    P=$!
    for i in $(seq 1 100); do
        "$PYTHON" "$ROOT/tests/integration/probe.py" served 127.0.0.2 127.0.0.1 1688 && break
        sleep 0.05
    done
}
stop() { kill $P; wait $P; }
r=0
run default
check 203.0.113.7 2001:db8::7 -- 10.1.2.3 192.168.7.7 fd00::7 127.0.0.1 ::1 || r=1
stop
run limit-private --limit-private
check 203.0.113.7 10.1.2.3 192.168.7.7 fd00::7 127.0.0.1 -- || r=1
stop
[ $r -eq 0 ] || tail -n 20 "$T"/ns-*.log
exit $r
NS
else
    echo "SKIP-PART: no network namespaces here; the public-only per-address limits are not tested over the network"
fi

# --- --max-per-address 2: two connections from one address are served, the third is refused; another
# address is unaffected; after one closes the address is served again. Private peers, loopback among them, are
# exempt from the per-address limits unless --limit-private (the tests' peers are loopback, so they ask for it).
start_kmsd --max-per-address 2 --limit-private
"$PYTHON" - "$SOURCE_ROOT" "$PORT" <<'PY' || fail "--max-per-address"
import sys, time
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import kmsproto
import probe
port = int(sys.argv[2])
a = kmsproto.connect("127.0.0.1", port, src="127.0.0.1")
b = kmsproto.connect("127.0.0.1", port, src="127.0.0.1")
for s in (a, b):
    s.sendall(kmsproto.bind_pdu())
    assert kmsproto.read_pdu(s) is not None, "connection 1 or 2 (the limit) not served"
assert probe.served("127.0.0.1", "127.0.0.1", port) == 1, "connection 3 (limit + 1) served"
assert probe.served("127.0.0.5", "127.0.0.1", port) == 0, "another address refused"
a.close()
for _ in range(50):
    time.sleep(0.1)
    if probe.served("127.0.0.1", "127.0.0.1", port) == 0:
        break
else:
    raise SystemExit("not served again after a connection closed")
b.close()
print("ok per-address")
PY
wait_log "connection refused: the address holds --max-per-address (2) connections" "per-address refusal not logged"
counted "per_address=1"
stop_kmsd

# --- without --limit-private a loopback peer is exempt: three connections with --max-per-address 2 and five
# activations with --rate-limit 1 --rate-burst 2 are all served
start_kmsd --max-per-address 2 --rate-limit 1 --rate-burst 2
"$PYTHON" - "$SOURCE_ROOT" "$PORT" <<'PY' || fail "loopback exemption (connections)"
import sys
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import kmsproto
import probe
port = int(sys.argv[2])
held = [kmsproto.connect("127.0.0.1", port, src="127.0.0.1") for _ in range(3)]
for s in held:
    s.sendall(kmsproto.bind_pdu())
    assert kmsproto.read_pdu(s) is not None, "a loopback connection beyond --max-per-address was refused"
for s in held:
    s.close()
print("ok loopback exempt")
PY
"$KMSC" -q -n 5 "127.0.0.1:$PORT" || fail "loopback exemption: activations beyond --rate-burst refused"
counted "per_address=0"
counted "rate=0"
stop_kmsd

# --- --rate-limit 1 --rate-burst 2: the burst is answered, the next activation gets no answer
start_kmsd --rate-limit 1 --rate-burst 2 --limit-private
"$KMSC" -q -n 2 "127.0.0.1:$PORT" || fail "the burst (2) was not answered"
expect_rc 4 "$KMSC" -q --timeout 5 "127.0.0.1:$PORT"
grep -q "closed the connection without a reply" "$TMP/out" || fail "over the rate: expected a close without reply"
expect_rc 4 "$KMSC" -q --timeout 5 "127.0.0.1:$PORT"
n=$(grep -c "activation refused: over --rate-limit" "$TMP/kmsd.log")
[ "$n" -eq 1 ] || fail "rate refusals: $n log lines, expected 1 (one per address a minute)"
counted "rate=2"
counted "rate_limited=2"
stop_kmsd
# --limit-loopback, the former name of --limit-private, still limits loopback peers
start_kmsd --rate-limit 1 --rate-burst 1 --limit-loopback
expect_rc 4 "$KMSC" -q -n 2 --timeout 5 "127.0.0.1:$PORT"
counted "rate=1"
stop_kmsd

# --- --pdu-timeout 2s: a BIND trickled over 1 s (within the limit) is answered, one trickled over 3 s is cut
# at 2 s even though each byte resets the idle timer
start_kmsd --pdu-timeout 2s --idle-timeout 30s
"$PYTHON" - "$SOURCE_ROOT" "$PORT" <<'PY' || fail "--pdu-timeout"
import sys, time
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import kmsproto
import probe
port = int(sys.argv[2])
bind = kmsproto.bind_pdu()
def trickle(total):
    s = kmsproto.connect("127.0.0.1", port, src="127.0.0.1")
    step = total / len(bind)
    t0 = time.monotonic()
    try:
        for i in range(len(bind)):
            s.send(bind[i:i + 1])
            time.sleep(step)
        return kmsproto.read_pdu(s) is not None, time.monotonic() - t0
    except (BrokenPipeError, ConnectionResetError):
        return False, time.monotonic() - t0
    finally:
        s.close()
ok, t = trickle(1.0)
assert ok, "a PDU completed within --pdu-timeout was not answered"
ok, t = trickle(3.0)
assert not ok and t < 2.9, "a PDU taking longer than --pdu-timeout was not cut (%.1f s)" % t
print("ok pdu-timeout")
PY
counted "slow_sender=1"
stop_kmsd

# --- product policy: --products volume refuses preview ids, --csvlk refuses what the groups do not activate
start_kmsd --products volume
"$KMSC" -q "127.0.0.1:$PORT" || fail "a volume product was refused under --products volume"
expect_rc 5 "$KMSC" --product wspredc "127.0.0.1:$PORT"
grep -qi "C004F042" "$TMP/out" || { cat "$TMP/out"; fail "--products volume: no 0xC004F042"; }
wait_log "refused (not-volume), HRESULT 0xC004F042" "not-volume refusal not logged"
counted "not_volume=1"
stop_kmsd

start_kmsd --csvlk office2024,office2021
"$KMSC" -q --product o2024excel "127.0.0.1:$PORT" || fail "an Office 2024 product was refused by --csvlk office2024"
expect_rc 5 "$KMSC" --product win10ent "127.0.0.1:$PORT"
grep -qi "C004F042" "$TMP/out" || fail "--csvlk: no 0xC004F042 for Windows"
wait_log "refused (csvlk), HRESULT 0xC004F042" "csvlk refusal not logged"
counted "csvlk=1"
stop_kmsd
# --- --time-check: 4 h off either way is answered, 4 h + 60 s is refused with 0xC004F06C
start_kmsd --time-check
"$KMSC" -q --time-offset 14340 "127.0.0.1:$PORT" || fail "--time-check: 3 h 59 m ahead was refused"
"$KMSC" -q --time-offset -14340 "127.0.0.1:$PORT" || fail "--time-check: 3 h 59 m behind was refused"
expect_rc 5 "$KMSC" --time-offset 14460 "127.0.0.1:$PORT"
grep -qi "C004F06C" "$TMP/out" || { cat "$TMP/out"; fail "--time-check: no 0xC004F06C"; }
expect_rc 5 "$KMSC" --time-offset -86400 "127.0.0.1:$PORT"
wait_log "refused (time), HRESULT 0xC004F06C" "time refusal not logged"
counted "time=2"
stop_kmsd
start_kmsd # without --time-check, a day off is answered
"$KMSC" -q --time-offset -86400 "127.0.0.1:$PORT" || fail "a skewed client was refused without --time-check"
stop_kmsd
echo "ok"
