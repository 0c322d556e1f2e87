#!/bin/bash
# Run by 10-http.sh inside `unshare -n`: a network namespace of its own, nothing but its loopback.
. "$(dirname "$0")/lib.sh"
API="$PYTHON $SOURCE_ROOT/tests/integration/http_api.py"
ip link set lo up || fail "ip link set lo up"
start_kmsd
BASE="http://127.0.0.1:$HTTP_PORT"
[ "$($API status "$BASE/readyz")" = 200 ] || fail "/readyz not 200 before the rule"
nft add table inet kmsdtest || fail "nft: table"
nft add chain inet kmsdtest in '{ type filter hook input priority 0; }' || fail "nft: chain"
nft add rule inet kmsdtest in tcp dport "$PORT" reject with tcp reset || fail "nft: rule"
sleep 1.2   # past the 1 s cache of the last probe
[ "$($API status "$BASE/readyz")" = 503 ] || fail "/readyz not 503 while the KMS port rejects connections"
[ "$($API status "$BASE/healthz")" = 200 ] || fail "/healthz must still be 200 (the process is alive)"
expect_rc 3 "$KMSC" health "127.0.0.1:$PORT"
v=$($API metric "$BASE" kmsd_readyz_failures_total)
[ "$v" -ge 1 ] || fail "kmsd_readyz_failures_total is $v"
nft delete table inet kmsdtest || fail "nft: delete"
sleep 1.2
[ "$($API status "$BASE/readyz")" = 200 ] || fail "/readyz not 200 again after the rule is gone"
stop_kmsd
echo "readyz-netns: ok"
