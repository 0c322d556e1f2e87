#!/usr/bin/env bash
# Least privilege. Started as root without --allow-root, kmsd binds, hands its state to the unprivileged user
# and runs as it (uid/gid from /proc/PID/status, owners of the files it created and writes later); it exits 2
# when the switch is impossible (no such user, a user that is root, a state directory the user cannot reach)
# and stays root only with --allow-root. Started unprivileged, --user naming another user is an error.
. "$(dirname "$0")/lib.sh"

ids() { awk '/^Uid:/ {u=$2" "$3" "$4" "$5} /^Gid:/ {g=$2" "$3" "$4" "$5} /^Groups:/ {s=$0} END {print u"|"g"|"s}' \
    "/proc/$1/status"; }
# run_kmsd_plain STATE [OPTIONS...]: kmsd as it would be started by hand (no --allow-root); returns once it has
# switched user ("running as user" logged), which it does after the listeners are bound, so after the port answers
# (--allow-root: once the port answers)
run_kmsd_plain() {
    local state=$1 n
    shift
    n=$(log_lines "running as user")
    PORT=$(free_port)
    "$KMSD" -L "127.0.0.1:$PORT" --state-dir "$state" --rate-limit 0 "$@" >>"$TMP/kmsd.log" 2>&1 &
    KMSD_PID=$!
    wait_port 127.0.0.1 "$PORT"
    case " $* " in *" --allow-root "*) ;; *) wait_lines $((n + 1)) "running as user" "kmsd did not switch user" ;; esac
}

if [ "$(id -u)" -ne 0 ]; then
    expect_rc 2 timeout 10 "$KMSD" -L "127.0.0.1:$(free_port)" --state-dir "$TMP/state" --no-db --user root
    grep -q -- "--user root: kmsd runs as uid" "$TMP/out" || fail "no message naming --user"
    echo "ok (not root: only the unprivileged case can be tested here)"
    exit 0
fi

if id kmsd >/dev/null 2>&1; then USER_NAME=kmsd; else USER_NAME=nobody; fi
UID_WANT=$(id -u "$USER_NAME")
GID_WANT=$(id -g "$USER_NAME")
chmod 0755 "$TMP" # the user must be able to reach its state directory

# --- default: the switch happens after binding; state handed over; the registry is written as that user
run_kmsd_plain "$TMP/state"
got=$(ids "$KMSD_PID")
case "$got" in
"$UID_WANT $UID_WANT $UID_WANT $UID_WANT|$GID_WANT $GID_WANT $GID_WANT $GID_WANT|Groups:"*) ;;
*) fail "expected uid $UID_WANT gid $GID_WANT everywhere, got: $got" ;;
esac
groups=$(echo "$got" | sed 's/.*Groups://' | tr -s ' \t' ' ' | sed 's/^ //;s/ $//')
[ -z "$groups" ] || [ "$groups" = "$GID_WANT" ] || fail "supplementary groups kept: $groups"
grep -q "running as user $USER_NAME (uid $UID_WANT, gid $GID_WANT)" "$TMP/kmsd.log" || fail "switch not logged"
"$KMSC" -q --workstation privtest "127.0.0.1:$PORT" || fail "no activation after the switch"
for f in "$TMP/state" "$TMP/state/identity" "$TMP/state/kmsd.db" "$TMP/state/kmsd.db-wal" \
    "$TMP/state/kmsd.db-activations.0" "$TMP/state/kmsd.db-activations.1"; do
    [ -e "$f" ] || fail "$f missing"
    [ "$(stat -c %u:%g "$f")" = "$UID_WANT:$GID_WANT" ] || fail "$f is owned by $(stat -c %U:%G "$f"), not $USER_NAME"
done
stop_kmsd
"$KMSD" clients --state-dir "$TMP/state" --format csv | grep -q privtest || fail "the activation was not recorded"
# a second start finds its state already handed over and runs again
run_kmsd_plain "$TMP/state"
"$KMSC" -q "127.0.0.1:$PORT" || fail "no activation on the second start"
stop_kmsd

# --- --group: the named group, no supplementary groups
run_kmsd_plain "$TMP/state" --group daemon
got=$(ids "$KMSD_PID")
dg=$(getent group daemon | cut -d: -f3)
case "$got" in *"|$dg $dg $dg $dg|"*) ;; *) fail "--group daemon: got $got" ;; esac
stop_kmsd

# --- impossible switches: exit 2 with a message naming the option, never running as root
expect_rc 2 timeout 10 "$KMSD" -L "127.0.0.1:$(free_port)" --state-dir "$TMP/state" --user no-such-user-kmsd
grep -q -- "--user no-such-user-kmsd: no such user" "$TMP/out" || fail "no message for an unknown user"
expect_rc 2 timeout 10 "$KMSD" -L "127.0.0.1:$(free_port)" --state-dir "$TMP/state" --user root
grep -q -- "--allow-root" "$TMP/out" || fail "--user root: no hint at --allow-root"
expect_rc 2 timeout 10 "$KMSD" -L "127.0.0.1:$(free_port)" --state-dir "$TMP/state" --group no-such-group-kmsd
grep -q -- "--group no-such-group-kmsd: no such group" "$TMP/out" || fail "no message for an unknown group"
mkdir -m 0700 "$TMP/private"
expect_rc 2 timeout 10 "$KMSD" -L "127.0.0.1:$(free_port)" --state-dir "$TMP/private/state" --no-db
grep -q -- "--state-dir $TMP/private/state: not writable by $USER_NAME" "$TMP/out" ||
    fail "no message for a state directory the user cannot reach"
# a symlink planted in the state directory is not followed when the state is handed over
mkdir -p "$TMP/st2" && touch "$TMP/victim" && ln -s "$TMP/victim" "$TMP/st2/identity"
expect_rc 2 timeout 10 "$KMSD" -L "127.0.0.1:$(free_port)" --state-dir "$TMP/st2" --no-db
[ "$(stat -c %u "$TMP/victim")" = 0 ] || fail "a symlink in the state directory was followed"

# --- --allow-root: stays root, with a warning
run_kmsd_plain "$TMP/private/state" --no-db --allow-root
case "$(ids "$KMSD_PID")" in "0 0 0 0|"*) ;; *) fail "--allow-root: not root" ;; esac
grep -q "running as root (--allow-root)" "$TMP/kmsd.log" || fail "--allow-root not logged"
"$KMSC" -q "127.0.0.1:$PORT" || fail "no activation as root"
stop_kmsd
echo "ok"
