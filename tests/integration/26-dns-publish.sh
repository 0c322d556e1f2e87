#!/bin/bash
# kmsd publishes itself in DNS (--dns-publish): a real authoritative server (BIND's named, started here on a
# loopback port with a TSIG key) gets the SRV record _vlmcs._tcp.ZONE by signed dynamic update, with the priority,
# weight, port and target given, and the target's A record; /api/v1/host and /metrics show it. At a clean stop the
# record, and only it, is gone. A wrong key is refused and logged, and kmsd keeps serving; with named down kmsd
# retries and activations are unaffected, and once named is back the record appears without restarting kmsd. A
# reload that changes the DNS settings replaces the record; one that switches publishing off removes it.
# kmsd dns-record's forms are each read by their own tool (named-checkzone, dnsmasq --test, unbound-checkconf,
# and nsupdate, whose script is sent to named).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/named.sh"
API="$PYTHON $SOURCE_ROOT/tests/integration/http_api.py"
ZONE=kms-test.example
named_start "$ZONE"

srv() { named_dig "_vlmcs._tcp.$ZONE" SRV; }
# wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds, bounded
wait_for() {
    local what=$1 secs=$2 i
    shift 2
    for i in $(seq 1 $((secs * 10))); do
        "$@" && return 0
        sleep 0.1
    done
    fail "$what: not within $secs s"
}
has_srv() { [ "$(srv)" = "10 5 $PORT kms1.$ZONE." ]; }
no_srv() { [ -z "$(srv)" ]; }

# --- published with the key: SRV and A as given, shown by the API and the metrics
start_kmsd --dns-publish "$ZONE" --dns-server "127.0.0.1:$NAMED_PORT" --dns-tsig-file "$NAMED_KEY" \
    --dns-host "kms1.$ZONE" --dns-priority 10 --dns-weight 5 --dns-address 127.0.0.1
wait_for "the SRV record" 10 has_srv
[ "$(named_dig "kms1.$ZONE" A)" = 127.0.0.1 ] || fail "no A record for the target"
grep -q "/libldns\.so" "/proc/$KMSD_PID/maps" || fail "--dns-publish did not load ldns" # loaded when asked for
"$PYTHON" - "http://127.0.0.1:$HTTP_PORT/api/v1/host" "$ZONE" "$PORT" <<'PY' || fail "/api/v1/host"
import json, sys, urllib.request
h = json.load(urllib.request.urlopen(sys.argv[1], timeout=10))
d = h["dns"]
want = "_vlmcs._tcp.%s. 3600 IN SRV 10 5 %s kms1.%s." % (sys.argv[2], sys.argv[3], sys.argv[2])
if len(d) != 1 or d[0]["zone"] != sys.argv[2] or d[0]["state"] != "published" or d[0]["record"] != want \
        or not d[0]["last_success"] or d[0]["last_error"] is not None:
    sys.exit("dns in /api/v1/host: %r" % d)
PY
v=$($API metric "http://127.0.0.1:$HTTP_PORT" kmsd_dns_updates_total result=ok) || fail "metrics"
[ "$v" -ge 1 ] || fail "kmsd_dns_updates_total{result=ok} is $v"
# the last success's time, to the second (the metric helper rounds large numbers)
"$PYTHON" - "http://127.0.0.1:$HTTP_PORT/metrics" <<'PY' || fail "kmsd_dns_last_success_time_seconds"
import re, sys, time, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
m = re.search(r"^kmsd_dns_last_success_time_seconds (\d+)$", text, re.M)
if not m or abs(int(m.group(1)) - time.time()) > 60:
    sys.exit("kmsd_dns_last_success_time_seconds: %r" % (m and m.group(1)))
PY
"$KMSC" -q "127.0.0.1:$PORT" || fail "activation while publishing"
grep -q "dns: published _vlmcs._tcp.$ZONE. 3600 IN SRV 10 5 $PORT kms1.$ZONE. via 127.0.0.1:$NAMED_PORT (TSIG)" \
    "$TMP/kmsd.log" || fail "no 'published' log line"

# --- a clean stop removes exactly what was published
stop_kmsd
no_srv || fail "the SRV record is still there after the stop: $(srv)"

# --- announced again every --dns-refresh: a record removed by hand comes back
start_kmsd --dns-publish "$ZONE" --dns-server "127.0.0.1:$NAMED_PORT" --dns-tsig-file "$NAMED_KEY" \
    --dns-host "kms1.$ZONE" --dns-priority 10 --dns-weight 5 --dns-address 127.0.0.1 --dns-refresh 10s
wait_for "the SRV record" 10 has_srv
printf 'server 127.0.0.1 %s\nzone %s.\nupdate delete _vlmcs._tcp.%s. SRV\nsend\n' "$NAMED_PORT" "$ZONE" "$ZONE" |
    nsupdate -k "$NAMED_KEY" || fail "nsupdate delete"
no_srv || fail "the record was not deleted by hand"
wait_for "the record announced again (--dns-refresh 10s)" 15 has_srv
grep -q "dns: announced _vlmcs._tcp.$ZONE. .* again" "$TMP/kmsd.log" || fail "no 'announced again' line"
stop_kmsd
no_srv || fail "the SRV record is still there after the stop: $(srv)"
[ -z "$(named_dig "kms1.$ZONE" A)" ] || fail "the A record is still there after the stop"
[ "$(named_dig "keep.$ZONE" TXT)" = '"untouched"' ] || fail "another record of the zone changed"
[ "$(named_dig "$ZONE" NS)" = "ns1.$ZONE." ] || fail "the zone's NS changed"
grep -q "dns: removed _vlmcs._tcp.$ZONE." "$TMP/kmsd.log" || fail "no 'removed' log line"

# --- a wrong key: refused, logged once, counted; kmsd keeps serving
tsig-keygen -a hmac-sha256 kmsd-update >"$TMP/wrong.key"
start_kmsd --dns-publish "$ZONE" --dns-server "127.0.0.1:$NAMED_PORT" --dns-tsig-file "$TMP/wrong.key" \
    --dns-host "kms1.$ZONE"
wait_for "the refusal in the log" 10 grep -q "dns: cannot publish _vlmcs._tcp.$ZONE via 127.0.0.1:$NAMED_PORT: the answer carries no valid TSIG" "$TMP/kmsd.log"
"$KMSC" -q "127.0.0.1:$PORT" || fail "activation with a refused DNS key"
v=$($API metric "http://127.0.0.1:$HTTP_PORT" kmsd_dns_updates_total result=badsig) || fail "metrics"
[ "$v" -ge 1 ] || fail "kmsd_dns_updates_total{result=badsig} is $v"
no_srv || fail "a record was published with a wrong key"
stop_kmsd

# --- named down: retries, activations unaffected; named back: the record appears, kmsd not restarted
named_stop
start_kmsd --dns-publish "$ZONE" --dns-server "127.0.0.1:$NAMED_PORT" --dns-tsig-file "$NAMED_KEY" \
    --dns-host "kms1.$ZONE" --dns-priority 10 --dns-weight 5
wait_for "the failure in the log" 10 grep -q "dns: cannot publish _vlmcs._tcp.$ZONE" "$TMP/kmsd.log"
for i in 1 2 3; do "$KMSC" -q "127.0.0.1:$PORT" || fail "activation $i while named is down"; done
[ "$(grep -c "dns: cannot publish" "$TMP/kmsd.log")" -le 2 ] || fail "the same failure is logged again and again"
named_restart
wait_for "the record after named came back" 40 has_srv
grep -q "dns: published _vlmcs._tcp.$ZONE" "$TMP/kmsd.log" || fail "no 'published' line after the retries"
stop_kmsd
no_srv || fail "the SRV record is still there after the last stop"

# --- a reload: a changed priority is published in place of the old record, DNS publishing switched off by a
# reload removes it, and switched on again publishes it, kmsd not restarted
DCONF="$TMP/dns.conf"
dns_conf() { # PRIORITY (none: publishing off)
    printf 'log-level = info\n' >"$DCONF"
    [ -n "${1:-}" ] && printf 'dns-publish = %s\ndns-server = 127.0.0.1:%s\ndns-tsig-file = %s\ndns-host = kms1.%s\ndns-priority = %s\ndns-weight = 5\n' \
        "$ZONE" "$NAMED_PORT" "$NAMED_KEY" "$ZONE" "$1" >>"$DCONF"
    return 0
}
dns_conf 10
start_kmsd -c "$DCONF"
wait_for "the SRV record" 10 has_srv
dns_conf 20
hup_and_wait 1
grep -q "reload: DNS publishing restarted with the new settings" "$TMP/kmsd.log" || fail "no DNS reload line"
has_srv20() { [ "$(srv)" = "20 5 $PORT kms1.$ZONE." ]; }
wait_for "the record with the new priority" 10 has_srv20
"$PYTHON" - "http://127.0.0.1:$HTTP_PORT/api/v1/host" <<'PY' || fail "/api/v1/host after the DNS reload"
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(sys.argv[1], timeout=10))["dns"]
if len(d) != 1 or " SRV 20 5 " not in d[0]["record"]:
    sys.exit("dns: %r" % d)
PY
dns_conf
hup_and_wait 2
grep -q "reload: DNS publishing stopped; its records were removed" "$TMP/kmsd.log" || fail "no 'stopped' reload line"
no_srv || fail "the record stays after publishing was switched off: $(srv)"
dns_conf 10
hup_and_wait 3
wait_for "the record published again" 10 has_srv
"$KMSC" -q "127.0.0.1:$PORT" || fail "activation after the DNS reloads"
stop_kmsd
no_srv || fail "the SRV record is still there after the stop"

# --- kmsd dns-record: each form read by its own tool; the nsupdate script sent to named
A=(--zone "$ZONE" --dns-host "kms2.$ZONE" --dns-priority 3 --dns-weight 7 --dns-address 192.0.2.9 --dns-address 2001:db8::9
    -L 0.0.0.0:1700 --dns-server "127.0.0.1:$NAMED_PORT")
{ cat "$NAMED_DIR/zone"; "$KMSD" dns-record "${A[@]}" --form zone; } >"$TMP/check.zone" || fail "dns-record zone"
grep -q "^_vlmcs._tcp.$ZONE. 3600 IN SRV 3 7 1700 kms2.$ZONE.$" "$TMP/check.zone" || fail "zone line"
named-checkzone -q "$ZONE" "$TMP/check.zone" || fail "named-checkzone refuses the zone form"
"$KMSD" dns-record "${A[@]}" --form dnsmasq >"$TMP/dnsmasq.conf" || fail "dns-record dnsmasq"
grep -q "^srv-host=_vlmcs._tcp.$ZONE,kms2.$ZONE,1700,3,7$" "$TMP/dnsmasq.conf" || fail "dnsmasq line"
dnsmasq --test -C "$TMP/dnsmasq.conf" >"$TMP/out" 2>&1 || fail "dnsmasq --test: $(cat "$TMP/out")"
"$KMSD" dns-record "${A[@]}" --form unbound >"$TMP/unbound.conf" || fail "dns-record unbound"
unbound-checkconf "$TMP/unbound.conf" >"$TMP/out" 2>&1 || fail "unbound-checkconf: $(cat "$TMP/out")"
"$KMSD" dns-record "${A[@]}" --form powershell | grep -q -- '-Name "_vlmcs._tcp" -Srv -DomainName "kms2.'"$ZONE"'" -Priority 3 -Weight 7 -Port 1700' ||
    fail "powershell form" # no PowerShell in Debian: its text is checked
"$KMSD" dns-record "${A[@]}" --form nsupdate >"$TMP/update.txt" || fail "dns-record nsupdate"
nsupdate -k "$NAMED_KEY" "$TMP/update.txt" || fail "nsupdate refuses the script"
[ "$(srv)" = "3 7 1700 kms2.$ZONE." ] || fail "the nsupdate script did not publish: $(srv)"
[ "$(named_dig "kms2.$ZONE" AAAA)" = 2001:db8::9 ] || fail "the nsupdate script did not publish the AAAA"
# the forms for every zone of the configuration, from an INI file as kmsd reads it
printf 'dns-publish = %s\ndns-publish = other.example\ndns-host = kms3.%s\n' "$ZONE" "$ZONE" >"$TMP/kmsd.conf"
"$KMSD" dns-record -c "$TMP/kmsd.conf" --form zone >"$TMP/out" || fail "dns-record -c"
[ "$(grep -c 'IN SRV 0 0 1688 kms3' "$TMP/out")" = 2 ] || fail "dns-record -c: $(cat "$TMP/out")"
expect_rc 2 "$KMSD" dns-record --form zone
grep -q "name the zone" "$TMP/out" || fail "dns-record without a zone: $(cat "$TMP/out")"
expect_rc 2 "$KMSD" dns-record "$ZONE" # the zone where an option goes
grep -qF "kmsd dns-record: \"$ZONE\": unexpected argument (options only; see kmsd dns-record --help)" "$TMP/out" ||
    fail "dns-record ZONE: $(cat "$TMP/out")"
expect_rc 2 "$KMSD" dns-record --zone "$ZONE" --form nope
expect_rc 2 "$KMSD" dns-record --zone "bad zone"
named_stop

# --- without --dns-server: the zone's primary from its SOA, in a network and mount namespace of this test's own
unshare -n -m bash "$IT_DIR/dns-soa-netns.sh" || fail "publishing through the SOA's primary"
echo "26-dns-publish: published, removed, refused, retried, reloaded, found through the SOA; 5 record forms checked"
