#!/bin/bash
# kmsc finds its KMS host in DNS (--discover, kmsc discover) as Windows does without slmgr /skms: BIND's named,
# started here on a loopback port, holds _vlmcs._tcp SRV records pointing at two kmsd started here (A and B), at a
# port where nothing listens and at A's HTTP port (no KMS host there). Checked: lower priority first, the next
# target after a failure to connect and after an RPC failure; a refusal is an answer (nothing more is tried);
# weights 3:1 split 200 runs between A and B within 60 %..90 % (RFC 2782's weighted selection, counted by each
# kmsd's /metrics); no record, a "." target, records whose hosts are all down and a DNS server that does not
# answer give their exit codes; the search list of /etc/resolv.conf (in a private mount namespace); kmsc discover
# lists the hosts in order with their health. kmsc opens ldns only then.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/named.sh"
API="$PYTHON $SOURCE_ROOT/tests/integration/http_api.py"
ZONE=kms-test.example

# kmsc links neither ldns nor libcurl (with what they link, 30 libraries and 10 ms of every kmsc's start): it opens
# ldns at its first discovery, below, and libcurl for kmsc health --http (31-https) (src/lazy/lazylib.h)
needed=$(readelf -d "$KMSC") || fail "readelf -d $KMSC"
echo "$needed" | grep -q 'NEEDED.*libuv' || fail "readelf shows no NEEDED entry of kmsc: $needed"
! echo "$needed" | grep -E 'NEEDED.*lib(ldns|curl)' || fail "kmsc links ldns or libcurl"

# answered HTTP_PORT: activations a kmsd answered so far (0 before its first)
answered() {
    $API metric "http://127.0.0.1:$1" kmsd_activations_total result=answered 2>/dev/null || echo 0
}
accepted() {
    $API metric "http://127.0.0.1:$1" kmsd_connections_accepted_total || fail "no connection counter on port $1"
}

# --- two kmsd (A, B), a port where nothing listens, and named with the records
start_kmsd --state-dir "$TMP/state-a"
A_PID=$KMSD_PID A_PORT=$PORT A_HTTP=$HTTP_PORT
start_kmsd --state-dir "$TMP/state-b"
B_PID=$KMSD_PID B_PORT=$PORT B_HTTP=$HTTP_PORT
trap 'kill -KILL "$A_PID" 2>/dev/null; named_stop; cleanup' EXIT
DEAD=$(free_port)
while [ "$DEAD" = "$A_PORT" ] || [ "$DEAD" = "$B_PORT" ] || [ "$DEAD" = "$A_HTTP" ] || [ "$DEAD" = "$B_HTTP" ]; do
    DEAD=$(free_port)
done
NAMED_RECORDS="kms-a IN A 127.0.0.1
kms-b IN A 127.0.0.1
kms-dead IN A 127.0.0.1
web IN A 127.0.0.1
noaddr IN TXT \"no address\"
_vlmcs._tcp.fallback IN SRV 10 0 $DEAD kms-dead
_vlmcs._tcp.fallback IN SRV 15 0 $A_HTTP web
_vlmcs._tcp.fallback IN SRV 20 0 $B_PORT kms-b
_vlmcs._tcp.fallback IN SRV 30 0 $A_PORT kms-a
_vlmcs._tcp.split IN SRV 0 3 $A_PORT kms-a
_vlmcs._tcp.split IN SRV 0 1 $B_PORT kms-b
_vlmcs._tcp.refuse IN SRV 10 0 $A_PORT kms-a
_vlmcs._tcp.refuse IN SRV 20 0 $B_PORT kms-b
_vlmcs._tcp.down IN SRV 0 0 $DEAD kms-dead
_vlmcs._tcp.down IN SRV 1 0 $A_PORT noaddr
_vlmcs._tcp.dot IN SRV 0 0 0 .
_vlmcs._tcp.nodata IN TXT \"no SRV here\"
_vlmcs._tcp.addrs IN SRV 0 0 $DEAD a7
_vlmcs._tcp.addrs IN SRV 1 0 $DEAD a8
_vlmcs._tcp.addrs IN SRV 2 0 $DEAD a9"
# limits: targets of 7, 8 and 9 addresses (KMSC_DISCOVER_ADDRS_MAX 8); 65 records (SRV_ORDER_MAX 64; too many for
# one UDP answer: ldns asks again over TCP)
for n in 7 8 9; do
    for i in $(seq 1 $n); do NAMED_RECORDS+=$'\n'"a$n IN A 127.0.0.$i"; done
done
for i in $(seq 1 65); do NAMED_RECORDS+=$'\n'"_vlmcs._tcp.big IN SRV $i 0 $DEAD kms-dead"; done
named_start "$ZONE"
DNS=(--dns-server "127.0.0.1:$NAMED_PORT")
[ "$(named_dig "_vlmcs._tcp.split.$ZONE" SRV | wc -l)" = 2 ] || fail "named does not serve the test's records"

# --- priorities in order: the dead port (connect fails), A's HTTP port (no KMS answer: RPC failure), then B
"$KMSC" --timeout 1 --discover "fallback.$ZONE" "${DNS[@]}" >"$TMP/out" 2>"$TMP/err" || {
    cat "$TMP/out" "$TMP/err" >&2
    fail "--discover fallback: exit $?"
}
grep -q "^Host: *127.0.0.1:$B_PORT (kms-b.$ZONE)$" "$TMP/out" || fail "not answered by B: $(cat "$TMP/out")"
grep -q "kms-dead.$ZONE: cannot connect to 127.0.0.1:$DEAD" "$TMP/err" || fail "the dead target: $(cat "$TMP/err")"
grep -q "^kmsc: web.$ZONE: " "$TMP/err" || fail "A's HTTP port was not tried: $(cat "$TMP/err")"
[ "$(answered "$B_HTTP")" = 1 ] || fail "B answered $(answered "$B_HTTP") activations, expected 1"
[ "$(answered "$A_HTTP")" = 0 ] || fail "A (priority 30) was asked although B answered"
# -v shows the records in order and each try; -n sends the others to the host that answered the first
"$KMSC" --timeout 1 -v -n 3 --discover "fallback.$ZONE." "${DNS[@]}" >"$TMP/out" 2>/dev/null || fail "--discover -v -n 3"
grep -q "^_vlmcs._tcp.fallback.$ZONE: 4 records, in the order kmsc tries them" "$TMP/out" || fail "-v: $(cat "$TMP/out")"
grep -q "^Trying kms-b.$ZONE port $B_PORT (priority 20, weight 0) at 127.0.0.1$" "$TMP/out" || fail "-v: no try of B"
[ "$(grep -c "^Host: *127.0.0.1:$B_PORT (kms-b.$ZONE)$" "$TMP/out")" = 3 ] || fail "-n 3 did not stay with B"
[ "$(answered "$B_HTTP")" = 4 ] || fail "B answered $(answered "$B_HTTP") activations, expected 4"

# --- a refusal is an answer: A refuses protocol 7 with 0x8007000D (exit 5) and B is not asked
b_conns=$(accepted "$B_HTTP")
expect_rc 5 "$KMSC" --discover "refuse.$ZONE" "${DNS[@]}" --version-major 7
grep -q "0x8007000D" "$TMP/out" || fail "the refusal: $(cat "$TMP/out")"
[ "$(accepted "$B_HTTP")" = "$b_conns" ] || fail "B was tried after A's refusal"

# --- weights 3:1 at one priority: 200 runs, A answers 60 %..90 % of them (expected 75 %, sigma 3 %)
a0=$(answered "$A_HTTP") b0=$(answered "$B_HTTP")
for i in $(seq 1 200); do
    "$KMSC" -q --discover "split.$ZONE" "${DNS[@]}" || fail "--discover split, run $i"
done
a=$(($(answered "$A_HTTP") - a0)) b=$(($(answered "$B_HTTP") - b0))
echo "weights 3:1: A answered $a, B $b of 200"
[ $((a + b)) = 200 ] || fail "A and B answered $a + $b activations, expected 200"
[ "$a" -ge 120 ] && [ "$a" -le 180 ] || fail "weights 3:1: A answered $a of 200, expected 120..180"

# --- no record, a '.' target, hosts all down, a DNS server that does not answer
expect_rc 8 "$KMSC" --discover "norecord.$ZONE" "${DNS[@]}"
grep -q "no SRV record _vlmcs._tcp.norecord.$ZONE" "$TMP/out" || fail "NXDOMAIN: $(cat "$TMP/out")"
expect_rc 8 "$KMSC" --discover "nodata.$ZONE" "${DNS[@]}"
grep -q "no SRV record _vlmcs._tcp.nodata.$ZONE" "$TMP/out" || fail "no SRV beside a TXT: $(cat "$TMP/out")"
expect_rc 8 "$KMSC" --discover "dot.$ZONE" "${DNS[@]}"
grep -q "target is '.'" "$TMP/out" || fail "the '.' target: $(cat "$TMP/out")"
expect_rc 9 "$KMSC" --discover "down.$ZONE" "${DNS[@]}"
grep -q "noaddr.$ZONE: no A or AAAA record" "$TMP/out" || fail "the target without address: $(cat "$TMP/out")"
grep -q "no KMS host of _vlmcs._tcp.down.$ZONE answered (1 address of 2 targets tried)" "$TMP/out" ||
    fail "all down: $(cat "$TMP/out")"
start=$(date +%s)
expect_rc 3 "$KMSC" --discover "split.$ZONE" --dns-server "127.0.0.1:$DEAD"
grep -q "_vlmcs._tcp.split.$ZONE SRV: no answer from the DNS" "$TMP/out" || fail "DNS down: $(cat "$TMP/out")"
[ $(($(date +%s) - start)) -le 8 ] || fail "a silent DNS server kept kmsc more than 8 s"
# the limits: at most 8 addresses of a target, 64 records
expect_rc 9 "$KMSC" -v --discover "addrs.$ZONE" "${DNS[@]}"
# (named rotates the answers: the addresses come in any order) one row per target: PRIORITY WEIGHT PORT TARGET ADDRS
for n in 7 8 9; do
    row=$(grep -E "^[0-9]+ +0 +$DEAD +a$n\.$ZONE " "$TMP/out") || fail "no row for a$n: $(cat "$TMP/out")"
    want=$((n < 8 ? n : 8))
    [ "$(echo "$row" | wc -w)" = $((4 + want)) ] || fail "a$n: $want addresses expected: $row"
    [ "$(echo "$row" | tr ' ' '\n' | grep -c '^127\.0\.0\.[1-9]$')" = "$want" ] || fail "a$n: $row"
done
grep -q "(23 addresses of 3 targets tried)" "$TMP/out" || fail "addresses tried: $(cat "$TMP/out")"
expect_rc 9 "$KMSC" discover "big.$ZONE" "${DNS[@]}"
grep -q "^_vlmcs._tcp.big.$ZONE: 64 records" "$TMP/out" || fail "65 records: $(head -3 "$TMP/out")"
grep -q "^(1 more records left out: beyond 64" "$TMP/out" || fail "65 records: $(head -3 "$TMP/out")"
[ "$(grep -c "unhealthy (3)" "$TMP/out")" = 64 ] || fail "65 records: not 64 probed"
grep -q "^64 " "$TMP/out" && ! grep -q "^65 " "$TMP/out" || fail "65 records: priorities 1..64 expected"
expect_rc 2 "$KMSC" --dns-server "127.0.0.1:$NAMED_PORT" "127.0.0.1:$A_PORT"
grep -q -- "--dns-server goes with --discover" "$TMP/out" || fail "--dns-server alone: $(cat "$TMP/out")"
expect_rc 2 "$KMSC" --discover "bad domain" "${DNS[@]}"
expect_rc 2 "$KMSC" --discover "a.$ZONE" "b.$ZONE"

# --- without DOMAIN: the search list of /etc/resolv.conf, in order, up to the first domain with records
unshare -m true || fail "no mount namespace here (unshare -m): the search list cannot be checked"
{
    printf 'nameserver 127.0.0.1\nsearch norecord.%s dot.%s refuse.%s split.%s\n' "$ZONE" "$ZONE" "$ZONE" "$ZONE" \
        >"$TMP/resolv.conf"
    # with a private mount namespace the bind mount is this command's alone
    unshare -m bash -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' _ "$TMP/resolv.conf" \
        "$KMSC" -v --discover "${DNS[@]}" >"$TMP/out" 2>&1 || fail "--discover with the search list: $(cat "$TMP/out")"
    grep -q "^_vlmcs._tcp.refuse.$ZONE: 2 records" "$TMP/out" || fail "search list: $(cat "$TMP/out")"
    grep -q "^Host: *127.0.0.1:$A_PORT (kms-a.$ZONE)$" "$TMP/out" || fail "search list: not A: $(cat "$TMP/out")"
    printf 'nameserver 127.0.0.1\nsearch norecord.%s nodata.%s\n' "$ZONE" "$ZONE" >"$TMP/resolv.conf"
    unshare -m bash -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' _ "$TMP/resolv.conf" \
        "$KMSC" --discover "${DNS[@]}" >"$TMP/out" 2>&1
    rc=$?
    [ "$rc" = 8 ] || fail "search list without records: exit $rc: $(cat "$TMP/out")"
    grep -q "no SRV record _vlmcs._tcp.norecord.$ZONE, _vlmcs._tcp.nodata.$ZONE" "$TMP/out" ||
        fail "search list without records: $(cat "$TMP/out")"
    # at most 6 search domains (KMSC_DISCOVER_DOMAINS_MAX): the records in the 6th are found, in a 7th not
    printf 'nameserver 127.0.0.1\nsearch n1.%s n2.%s n3.%s n4.%s n5.%s split.%s\n' $ZONE $ZONE $ZONE $ZONE $ZONE $ZONE \
        >"$TMP/resolv.conf"
    unshare -m bash -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' _ "$TMP/resolv.conf" \
        "$KMSC" -q --discover "${DNS[@]}" >"$TMP/out" 2>&1 || fail "the 6th search domain: $(cat "$TMP/out")"
    printf 'nameserver 127.0.0.1\nsearch n1.%s n2.%s n3.%s n4.%s n5.%s n6.%s split.%s\n' $ZONE $ZONE $ZONE $ZONE \
        $ZONE $ZONE $ZONE >"$TMP/resolv.conf"
    unshare -m bash -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' _ "$TMP/resolv.conf" \
        "$KMSC" -q --discover "${DNS[@]}" >"$TMP/out" 2>&1
    rc=$?
    [ "$rc" = 8 ] || fail "a 7th search domain was asked: exit $rc: $(cat "$TMP/out")"
    printf 'nameserver 127.0.0.1\n' >"$TMP/resolv.conf"
    unshare -m bash -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' _ "$TMP/resolv.conf" \
        "$KMSC" --discover "${DNS[@]}" >"$TMP/out" 2>&1
    rc=$?
    [ "$rc" = 8 ] && grep -q "no search domain" "$TMP/out" || fail "no search list: exit $rc: $(cat "$TMP/out")"
}

# --- kmsc discover: the hosts in the order they are tried, each probed
"$KMSC" discover "fallback.$ZONE" "${DNS[@]}" >"$TMP/out" 2>&1 || fail "kmsc discover fallback: $(cat "$TMP/out")"
cat "$TMP/out"
"$PYTHON" - "$TMP/out" "$ZONE" "$DEAD" "$A_HTTP" "$B_PORT" "$A_PORT" <<'PY' || fail "kmsc discover's table"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
zone, dead, http, b, a = sys.argv[2:]
assert lines[0].startswith("_vlmcs._tcp.fallback.%s: 4 records" % zone), lines[0]
assert lines[1].split() == ["PRIORITY", "WEIGHT", "PORT", "TARGET", "ADDRESS", "HEALTH"], lines[1]
want = [("10", dead, "kms-dead", "unhealthy (3): cannot connect"), ("15", http, "web", "unhealthy (4): "),
        ("20", b, "kms-b", "healthy ("), ("30", a, "kms-a", "healthy (")]
for line, (prio, port, target, health) in zip(lines[2:6], want):
    f = line.split()
    assert f[:5] == [prio, "0", port, target + "." + zone, "127.0.0.1"], line
    assert line.split("127.0.0.1", 1)[1].strip().startswith(health), line
assert lines[6] == "2 of 4 addresses healthy", lines[6]
PY
expect_rc 9 "$KMSC" discover "down.$ZONE" "${DNS[@]}"
grep -q "no healthy KMS host in _vlmcs._tcp.down.$ZONE" "$TMP/out" || fail "kmsc discover down: $(cat "$TMP/out")"
grep -q "noaddr.$ZONE *- *no address: no A or AAAA record" "$TMP/out" || fail "kmsc discover down: $(cat "$TMP/out")"
expect_rc 8 "$KMSC" discover "norecord.$ZONE" "${DNS[@]}"
expect_rc 0 "$KMSC" discover --help
expect_rc 2 "$KMSC" discover --nope

kill -TERM "$A_PID"
wait "$A_PID"
stop_kmsd
named_stop
echo "27-dns-discover: priorities, fallback, refusal, weights 3:1 ($a:$b), exit codes 8/9/3, search list, list"
