#!/usr/bin/env bash
# Registry faults, on small file systems this test mounts in a private mount namespace (unshare -m, so
# nothing is visible outside and everything goes away with it): an unwritable or corrupt database at start
# stops kmsd with exit 2; a full or read-only file system at run time does not stop activations, what the
# journal took is folded in once the fault clears, what it could not take is logged and counted unrecorded,
# and recording resumes when the fault clears.
if [ -z "${KMSD_IT_NS:-}" ]; then
    exec unshare -m --propagation private env KMSD_IT_NS=1 bash "$0" "$@"
fi
unset KMSD_IT_NS
. "$(dirname "$0")/lib.sh"

cmid() { printf '00000000-0000-4000-8000-%012d' "$1"; }
listed() { "$KMSD" clients --db "$1" --format csv 2>/dev/null | grep -ci "$2"; }
# the writer folds the journal into the database within STORE_WRITER_FOLD_LINGER_MS, or after a failed fold
# within its backoff (at most 5 s): wait for a row, bounded at 10 s
wait_listed() {
    for _ in $(seq 1 100); do
        [ "$(listed "$1" "$2")" -ge 1 ] && return 0
        sleep 0.1
    done
    return 1
}

mkdir -p "$TMP/fs" "$TMP/state"
mount -t tmpfs -o size=8m tmpfs "$TMP/fs" || fail "cannot mount a tmpfs (this test needs root in its sandbox)"
DB="$TMP/fs/kmsd.db"

# --- at start: a corrupt database, a read-only one
head -c 8192 /dev/urandom >"$DB"
timeout 10 "$KMSD" -L "127.0.0.1:$(free_port)" --state-dir "$TMP/state" --db "$DB" >"$TMP/out" 2>&1
rc=$?
[ "$rc" -eq 2 ] || { cat "$TMP/out"; fail "corrupt database: exit $rc, not 2"; }
grep -q "registry" "$TMP/out" || fail "no message naming the registry for a corrupt database"
rm -f "$DB"
mount -o remount,ro "$TMP/fs" || fail "cannot remount read-only"
timeout 10 "$KMSD" -L "127.0.0.1:$(free_port)" --state-dir "$TMP/state" --db "$DB" >"$TMP/out" 2>&1
rc=$?
[ "$rc" -eq 2 ] || { cat "$TMP/out"; fail "unwritable database: exit $rc, not 2"; }
grep -q "registry" "$TMP/out" || fail "no message naming the registry for an unwritable database"
mount -o remount,rw "$TMP/fs"

# --- at run time: full file system
start_kmsd --db "$DB"
expect_rc 0 "$KMSC" --cmid "$(cmid 1)" "127.0.0.1:$PORT"
dd if=/dev/zero of="$TMP/fs/filler" bs=64k 2>/dev/null # fills it
# the journal's space allocated ahead (STORE_WRITER_EXTEND_BYTES, 1 MiB) takes these 20, the fold cannot
for i in $(seq 2 21); do
    expect_rc 0 "$KMSC" --cmid "$(cmid $i)" --workstation "$(printf 'w%.0s' $(seq 1 60))" "127.0.0.1:$PORT"
done
# and 8,000 more (over 1.5 MB of records) outgrow it: those journal writes fail, every activation is answered
expect_rc 0 "$KMSC" bench -q -c 1 -N 8000 "127.0.0.1:$PORT"
rm -f "$TMP/fs/filler"
expect_rc 0 "$KMSC" --cmid "$(cmid 30)" "127.0.0.1:$PORT"
wait_listed "$DB" "$(cmid 30)" || fail "recording did not resume after the disk was freed"
wait_listed "$DB" "$(cmid 2)" || fail "a record the journal took while the disk was full was lost"
[ "$(listed "$DB" "$(cmid 1)")" -ge 1 ] || fail "a record from before the fault was lost"

# --- at run time: read-only file system
mount -o remount,ro "$TMP/fs"
expect_rc 0 "$KMSC" --cmid "$(cmid 11)" "127.0.0.1:$PORT"
mount -o remount,rw "$TMP/fs"
expect_rc 0 "$KMSC" --cmid "$(cmid 12)" "127.0.0.1:$PORT"
wait_listed "$DB" "$(cmid 12)" || fail "recording did not resume after the file system became writable"
kill -0 "$KMSD_PID" || fail "kmsd died"
stop_kmsd
grep -q "could not be recorded" "$TMP/kmsd.log" || fail "the registry failure was not logged"
grep -q "recording again" "$TMP/kmsd.log" || fail "the recovery was not logged"
"$KMSD" stats --db "$DB" --format json >"$TMP/stats.json" || fail "kmsd stats"
"$PYTHON" -c 'import json, sys; n = json.load(open(sys.argv[1]))["unrecorded"]; sys.exit(0 if n >= 1 else 1)' \
    "$TMP/stats.json" || fail "the unrecorded activations are not in the statistics"
umount "$TMP/fs"
echo "ok"
