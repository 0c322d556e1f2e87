#!/usr/bin/env bash
# Every configuration error stops kmsd with exit status 2 and a message naming what is wrong; --check-config
# prints a configuration that kmsd accepts back; precedence defaults < INI < environment < command line; a
# mistyped command is named with the closest one.
. "$(dirname "$0")/lib.sh"

# expect_config_error WHAT-THE-MESSAGE-NAMES ARGS...
expect_config_error() {
    local name=$1 rc
    shift
    timeout 10 "$KMSD" --state-dir "$TMP/state" "$@" >"$TMP/out" 2>&1
    rc=$?
    [ "$rc" -eq 2 ] || { cat "$TMP/out" >&2; fail "exit $rc, not 2, for: $*"; }
    grep -qi -- "$name" "$TMP/out" || { cat "$TMP/out" >&2; fail "message does not name '$name' for: $*"; }
}

mkdir -p "$TMP/state"
# a first argument that is no command: said so, with the close command and the list, exit 2
expect_rc 2 "$KMSD" client
grep -q 'did you mean "kmsd clients"' "$TMP/out" || { cat "$TMP/out" >&2; fail "no suggestion for 'client'"; }
grep -q "Commands: clients stats import-pykms backup restore" "$TMP/out" || fail "the commands are not listed"
expect_rc 2 "$KMSD" stast
grep -q 'did you mean "kmsd stats"' "$TMP/out" || fail "no suggestion for 'stast'"
expect_rc 2 "$KMSD" bakup
grep -q 'did you mean "kmsd backup"' "$TMP/out" || fail "no suggestion for 'bakup'"
expect_rc 2 "$KMSD" restor
grep -q 'did you mean "kmsd restore"' "$TMP/out" || fail "no suggestion for 'restor'"
expect_rc 2 "$KMSD" launch
grep -q "did you mean" "$TMP/out" && fail "a suggestion for a word close to no command"
# --help ends with the commands
"$KMSD" --help >"$TMP/help" || fail "kmsd --help"
grep -qE "^  import-pykms +merge a py-kms database" "$TMP/help" || fail "kmsd --help does not list the commands"
grep -qE "^  backup +copy the registry" "$TMP/help" || fail "kmsd --help does not list backup"
grep -qE "^  restore +replace the registry" "$TMP/help" || fail "kmsd --help does not list restore"
expect_config_error port --port 0
expect_config_error port --port 70000
expect_config_error port --port abc
expect_config_error idle-timeout --idle-timeout 0
expect_config_error idle-timeout --idle-timeout soon
expect_config_error activation-interval --activation-interval 0
expect_config_error renewal-interval --renewal-interval 5x
expect_config_error max-pdu --max-pdu 100
expect_config_error max-pdu --max-pdu 99999
expect_config_error max-connections --max-connections 0
expect_config_error max-requests --max-requests 1000001
expect_config_error lcid --lcid 0
expect_config_error lcid --lcid 70000
expect_config_error hwid --hwid 123
expect_config_error hwid --hwid ZZ00000000000000
expect_config_error host-build --host-build 1234
expect_config_error host-build --host-build 7601
expect_config_error epid --epid win2025=garbage
expect_config_error epid --epid nosuchgroup=03612-00206-551-234567-03-1033-17763.0000-1522024
expect_config_error log-level --log-level loud
expect_config_error listen --listen "[::1"
expect_config_error listen --listen "127.0.0.1:99999"
expect_config_error bogus --bogus-option
expect_config_error stray strayargument
expect_config_error /nonexistent -c /nonexistent/kmsd.conf
printf '[kmsd]\nlisen = 127.0.0.1\n' >"$TMP/bad.conf"
expect_config_error lisen -c "$TMP/bad.conf"
KMSD_PORT=abc expect_config_error KMSD_PORT
expect_config_error state-dir --state-dir /proc/no/such/dir
# a listener that cannot be opened (an address this machine does not have; nothing is sent)
expect_config_error 192.0.2.1 -L 192.0.2.1:1688

# --check-config: exit 0, output accepted back, and the layers in order
printf '[kmsd]\nport = 1111\nlcid = 1031\nrenewal-interval = 2d\n' >"$TMP/good.conf"
KMSD_PORT=2222 timeout 10 "$KMSD" -c "$TMP/good.conf" --lcid 1036 --check-config >"$TMP/eff.conf" 2>"$TMP/err" ||
    { cat "$TMP/err" >&2; fail "--check-config failed"; }
grep -Eq '^ *port *= *2222' "$TMP/eff.conf" || fail "environment did not override the INI file"
grep -Eq '^ *lcid *= *1036' "$TMP/eff.conf" || fail "command line did not override the INI file"
grep -Eq '^ *renewal-interval *= *(2880|2d|2880m)' "$TMP/eff.conf" || fail "INI value lost"
timeout 10 "$KMSD" -c "$TMP/eff.conf" --check-config >"$TMP/eff2.conf" 2>"$TMP/err" ||
    { cat "$TMP/err" >&2; fail "kmsd does not accept its own --check-config output"; }
cmp -s "$TMP/eff.conf" "$TMP/eff2.conf" || fail "--check-config output is not stable"
echo "ok"
