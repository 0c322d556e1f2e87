# Sourced after lib.sh by the DNS tests: BIND's named (Debian's bind9) as the primary of one test zone, on a free
# loopback port, in $TMP/named, with a TSIG key that may update the zone; stopped by PID (and at exit).
#
# named_start ZONE: writes the key ($NAMED_KEY, a BIND key file as tsig-keygen makes it), the zone (SOA, NS, the
# name server's A and a TXT record "keep" that no test may touch, then the lines of $NAMED_RECORDS if the test set
# it: zone-file records of its own, names relative to the zone), the configuration, and starts named; sets
# NAMED_PORT and NAMED_PID. named_stop stops it (the zone and its journal stay for a restart); named_restart starts
# it again on the same port. named_dig NAME TYPE asks it (dig +short).
NAMED=$(command -v named || echo /usr/sbin/named)
[ -x "$NAMED" ] || fail "named is not installed (scripts/setup-debian.sh --test installs bind9)"
command -v dig >/dev/null || fail "dig is not installed (bind9-dnsutils)"
NAMED_PID=""
NAMED_DIR="$TMP/named"
NAMED_RECORDS=""

named_stop() {
    stop_pid "$NAMED_PID"
    NAMED_PID=""
}
trap 'named_stop; cleanup' EXIT

named_dig() {
    dig @127.0.0.1 -p "$NAMED_PORT" +short +time=2 +tries=1 "$1" "$2"
}

named_restart() {
    "$NAMED" -g -4 -c "$NAMED_DIR/named.conf" >>"$NAMED_DIR/named.log" 2>&1 &
    NAMED_PID=$!
    local i
    for i in $(seq 1 100); do
        [ "$(named_dig "keep.$NAMED_ZONE" TXT 2>/dev/null)" = '"untouched"' ] && return 0
        kill -0 "$NAMED_PID" 2>/dev/null || { tail -20 "$NAMED_DIR/named.log" >&2; fail "named exited"; }
        sleep 0.1
    done
    tail -20 "$NAMED_DIR/named.log" >&2
    fail "named did not answer within 10 s"
}

named_start() {
    NAMED_ZONE=$1
    NAMED_PORT=${NAMED_FIXED_PORT:-$(free_port)} # 53 in a network namespace of the test's own (dns-soa-netns.sh)
    mkdir -p "$NAMED_DIR"
    NAMED_KEY="$NAMED_DIR/kmsd.key"
    tsig-keygen -a hmac-sha256 kmsd-update >"$NAMED_KEY" || fail "tsig-keygen"
    cat >"$NAMED_DIR/zone" <<ZONE
\$TTL 300
@ IN SOA ns1.$NAMED_ZONE. admin.$NAMED_ZONE. 1 3600 600 86400 300
@ IN NS ns1.$NAMED_ZONE.
ns1 IN A 127.0.0.1
keep IN TXT "untouched"
$NAMED_RECORDS
ZONE
    cat >"$NAMED_DIR/named.conf" <<CONF
options {
    directory "$NAMED_DIR";
    pid-file "$NAMED_DIR/named.pid";
    listen-on port $NAMED_PORT { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify no;
};
controls { };
include "$NAMED_KEY";
zone "$NAMED_ZONE" {
    type primary;
    file "$NAMED_DIR/zone";
    allow-update { key "kmsd-update"; };
};
CONF
    named_restart
}
