#!/usr/bin/env bash
# kmsc --save-identity: what kmsc saves from one kmsd's answers (Windows with protocol 6, Office, and protocol 4
# without a HWID), appended to a configuration file, makes a second kmsd with a state directory of its own (so
# an identity of its own) answer with the first one's ePIDs and HWID; kmsd --check-config takes the lines.
. "$(dirname "$0")/lib.sh"

# field LABEL: the value kmsc printed on its "LABEL:   value" line (in $TMP/out, from expect_rc).
field() {
    sed -n "s/^$1: *//p" "$TMP/out" | head -n 1
}

start_kmsd
expect_rc 0 "$KMSC" --save-identity "$TMP/win.conf" "127.0.0.1:$PORT"
EPID_WIN=$(field ePID)
HWID=$(field HWID)
[ -n "$EPID_WIN" ] && [ -n "$HWID" ] || { cat "$TMP/out" >&2; fail "no ePID or HWID printed"; }
grep -q "^Saved the host's ePID and HWID to $TMP/win.conf\$" "$TMP/out" || fail "kmsc did not say where it saved"
expect_rc 0 "$KMSC" --product o2024pp -q --save-identity "$TMP/office.conf" "127.0.0.1:$PORT"
expect_rc 0 "$KMSC" --product o2024pp "127.0.0.1:$PORT"
EPID_OFFICE=$(field ePID)
expect_rc 0 "$KMSC" -4 --product ws2019dc --save-identity "$TMP/v4.conf" "127.0.0.1:$PORT"
EPID_V4=$(field ePID)
grep -q "note: no HWID" "$TMP/out" || fail "no note that a protocol 4 answer has no HWID"
stop_kmsd
[ "$EPID_WIN" != "$EPID_OFFICE" ] || fail "Windows and Office answered with one ePID: the test would prove little"

grep -qx "hwid = $HWID" "$TMP/win.conf" || { cat "$TMP/win.conf" >&2; fail "no hwid line"; }
grep -qE "^epid = [a-z0-9-]+=$EPID_WIN\$" "$TMP/win.conf" || { cat "$TMP/win.conf" >&2; fail "no epid line"; }
grep -qE "^# kmsd identity saved by kmsc from 127\.0\.0\.1:$PORT at [0-9-]{10} [0-9:]{8} \(UTC\)\$" "$TMP/win.conf" ||
    fail "no header line"
grep -qE "^epid = [a-z0-9-]+=$EPID_V4\$" "$TMP/v4.conf" || { cat "$TMP/v4.conf" >&2; fail "no epid line (v4)"; }
grep -q "^hwid" "$TMP/v4.conf" && fail "a hwid line from a protocol 4 answer"
[ "$(stat -c %a "$TMP/win.conf")" = 644 ] || fail "the file's mode is not 0644"

# the lines appended to a configuration file of the second kmsd's own
printf '; the second host\n[kmsd]\nclient-count = 60\n' >"$TMP/kmsd2.conf"
cat "$TMP/win.conf" "$TMP/office.conf" "$TMP/v4.conf" >>"$TMP/kmsd2.conf"
mv "$TMP/state" "$TMP/state1"
mkdir -p "$TMP/state"
expect_rc 0 "$KMSD" -c "$TMP/kmsd2.conf" --state-dir "$TMP/state" --check-config
grep -qx "hwid = $HWID" "$TMP/out" || { cat "$TMP/out" >&2; fail "--check-config does not show the hwid"; }
grep -q "=$EPID_WIN\$" "$TMP/out" || { cat "$TMP/out" >&2; fail "--check-config does not show the ePID"; }

start_kmsd -c "$TMP/kmsd2.conf"
# its own identity (generated in the fresh state directory) differs: the answers below come from the file
grep -q "^hwid $HWID\$" "$TMP/state/identity" && fail "the second kmsd generated the first one's HWID"
grep -qE "$EPID_WIN|$EPID_OFFICE|$EPID_V4" "$TMP/state/identity" &&
    fail "the second kmsd generated an ePID of the first"
expect_rc 0 "$KMSC" "127.0.0.1:$PORT"
[ "$(field ePID)" = "$EPID_WIN" ] || { cat "$TMP/out" >&2; fail "second kmsd: ePID $(field ePID), not $EPID_WIN"; }
[ "$(field HWID)" = "$HWID" ] || { cat "$TMP/out" >&2; fail "second kmsd: HWID $(field HWID), not $HWID"; }
grep -q "^Current count: *60 " "$TMP/out" || fail "the rest of the configuration file was not used"
expect_rc 0 "$KMSC" --product o2024pp "127.0.0.1:$PORT"
[ "$(field ePID)" = "$EPID_OFFICE" ] || fail "second kmsd: Office ePID $(field ePID), not $EPID_OFFICE"
expect_rc 0 "$KMSC" -4 --product ws2019dc "127.0.0.1:$PORT"
[ "$(field ePID)" = "$EPID_V4" ] || fail "second kmsd: ePID (v4) $(field ePID), not $EPID_V4"
stop_kmsd
echo "ok"
