#!/bin/bash
# Run by 26-dns-publish.sh inside `unshare -n -m`: a network namespace of its own (nothing but its loopback) and a
# mount namespace whose /etc/resolv.conf (bind-mounted, private to it) names 127.0.0.1. named serves the zone on
# port 53 there, so kmsd without --dns-server finds the zone's primary as a genuine host does: the SOA's MNAME
# asked of the system's resolver, then its address. kmsc --discover then finds it as Windows does, through the same
# resolver (the SRV record, then the target's A record), by the domain given and by the search list.
. "$(dirname "$0")/lib.sh"
ip link set lo up || fail "ip link set lo up"
echo "nameserver 127.0.0.1" >"$TMP/resolv.conf"
mount --bind "$TMP/resolv.conf" /etc/resolv.conf || fail "cannot bind-mount /etc/resolv.conf in the test's namespace"
NAMED_FIXED_PORT=53
. "$(dirname "$0")/named.sh"
ZONE=soa-test.example
named_start "$ZONE"
start_kmsd --dns-publish "$ZONE" --dns-tsig-file "$NAMED_KEY" --dns-host "kms1.$ZONE" --dns-address 127.0.0.1
for i in $(seq 1 100); do
    [ "$(named_dig "_vlmcs._tcp.$ZONE" SRV)" = "0 0 $PORT kms1.$ZONE." ] && break
    sleep 0.1
done
[ "$(named_dig "_vlmcs._tcp.$ZONE" SRV)" = "0 0 $PORT kms1.$ZONE." ] || fail "not published through the SOA's primary"
grep -q "dns: published _vlmcs._tcp.$ZONE. .* via 127.0.0.1:53 (TSIG)" "$TMP/kmsd.log" || fail "no 'published via 127.0.0.1:53'"
# a client as Windows finds it: the SRV record and the target's address from the system's resolver, end to end
"$KMSC" -v --discover "$ZONE" >"$TMP/disc.out" 2>&1 || fail "kmsc --discover through the system resolver: $(cat "$TMP/disc.out")"
grep -q "kms1.$ZONE" "$TMP/disc.out" || fail "kmsc --discover did not use the published target: $(cat "$TMP/disc.out")"
printf 'nameserver 127.0.0.1\nsearch %s\n' "$ZONE" >"$TMP/resolv.conf" # the domain from the search list
"$KMSC" -q --discover || fail "kmsc --discover through the search list"
stop_kmsd
[ -z "$(named_dig "_vlmcs._tcp.$ZONE" SRV)" ] || fail "not removed"
# a zone nobody serves: no SOA, logged, retried, kmsd serving
start_kmsd --dns-publish nowhere.invalid --dns-host "kms1.$ZONE"
wait_log "dns: cannot publish _vlmcs._tcp.nowhere.invalid: no SOA for nowhere.invalid" "no 'no SOA' line"
"$KMSC" -q "127.0.0.1:$PORT" || fail "activation while the zone has no server"
stop_kmsd
named_stop
echo "dns-soa-netns: published via the SOA's primary, removed; a zone without a server logged"
