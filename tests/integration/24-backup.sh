#!/usr/bin/env bash
# kmsd backup while kmsd runs and writes: the copy lists the clients, also those only in the -wal (the database file
# alone lacks them), is one file that checks, and is not overwritten without --force; kmsd restore refuses while a
# kmsd runs on the registry, restores to a fresh path that a kmsd then serves, and keeps the registry it replaces.
. "$(dirname "$0")/lib.sh"

cmid() { printf '00000000-0000-4000-8000-%012d' "$1"; }
# listed FILE N...: the registry FILE lists clients N... (kmsd clients --db FILE --format csv)
listed() {
    local db=$1 i
    shift
    "$KMSD" clients --db "$db" --format csv >"$TMP/list.csv" || fail "kmsd clients --db $db"
    for i in "$@"; do
        grep -qi "^$(cmid "$i")," "$TMP/list.csv" || fail "$db does not list client $i"
    done
}

start_kmsd
for i in 1 2 3 4 5; do expect_rc 0 "$KMSC" --cmid "$(cmid "$i")" "127.0.0.1:$PORT"; done
wait_recorded 5
# what was recorded is still in the -wal: a copy of kmsd.db alone lacks it
[ -s "$TMP/state/kmsd.db-wal" ] || fail "the running kmsd's registry has no -wal"
cp "$TMP/state/kmsd.db" "$TMP/main-only.db"
"$PYTHON" - "$TMP/main-only.db" <<'PY' || fail "a copy of kmsd.db alone has the clients (nothing was in the -wal)"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
has = c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'clients'").fetchone()[0]
n = c.execute("SELECT count(*) FROM clients").fetchone()[0] if has else 0
sys.exit(0 if n < 5 else 1)
PY

# a backup while activations go on
(for i in $(seq 100 199); do "$KMSC" -q --cmid "$(cmid "$i")" "127.0.0.1:$PORT" >/dev/null 2>&1; done) &
loader=$!
expect_rc 0 "$KMSD" backup "$TMP/copy.db" --state-dir "$TMP/state"
grep -q "^backed up $TMP/state/kmsd.db to $TMP/copy.db: " "$TMP/out" || { cat "$TMP/out" >&2; fail "backup's line"; }
wait "$loader"
wait_recorded 105 # the loader's last second may still be in the journal: a backup copies what is folded
[ -e "$TMP/copy.db-wal" ] && fail "the backup needs a -wal"
"$PYTHON" - "$TMP/copy.db" <<'PY' || fail "the backup does not check"
import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
assert c.execute("PRAGMA user_version").fetchone()[0] >= 1
PY
listed "$TMP/copy.db" 1 2 3 4 5
[ "$(stat -c %a "$TMP/copy.db")" = 600 ] || fail "the backup's mode is $(stat -c %a "$TMP/copy.db"), not 600"
ls -A "$TMP" | grep -q '^\.copy\.db\.tmp-' && fail "a temporary file was left"

# an existing FILE is kept without --force, replaced with it
cp "$TMP/copy.db" "$TMP/copy-before.db"
expect_rc 1 "$KMSD" backup "$TMP/copy.db" --state-dir "$TMP/state"
grep -q "exists; --force replaces it" "$TMP/out" || { cat "$TMP/out" >&2; fail "no reason for the refusal"; }
cmp -s "$TMP/copy.db" "$TMP/copy-before.db" || fail "the refused backup changed FILE"
expect_rc 0 "$KMSD" backup "$TMP/copy.db" --state-dir "$TMP/state" --force
listed "$TMP/copy.db" 1 2 3 4 5 100
expect_rc 1 "$KMSD" backup "$TMP/no-such-dir/copy.db" --state-dir "$TMP/state"
grep -q "does not exist" "$TMP/out" || fail "no reason for a missing directory"
expect_rc 2 "$KMSD" backup "$TMP/other.db" --state-dir "$TMP/no-state"
grep -q "no registry at" "$TMP/out" || fail "no reason for a missing registry"

# restore refuses while kmsd runs on the registry, and changes nothing
expect_rc 1 "$KMSD" restore "$TMP/copy.db" --state-dir "$TMP/state"
grep -qF "a kmsd is running on the registry $TMP/state/kmsd.db (PID $KMSD_PID)" "$TMP/out" ||
    { cat "$TMP/out" >&2; fail "restore did not refuse for the running kmsd"; }
[ -e "$TMP/state/kmsd.db.before-restore" ] && fail "a refused restore moved the registry"
expect_rc 0 "$KMSC" --cmid "$(cmid 6)" "127.0.0.1:$PORT"
stop_kmsd

# to a fresh path, which a kmsd then serves; refused there too while that one runs
mkdir "$TMP/fresh"
expect_rc 0 "$KMSD" restore "$TMP/copy.db" --db "$TMP/fresh/kmsd.db"
grep -q "^restored $TMP/fresh/kmsd.db from $TMP/copy.db: " "$TMP/out" || { cat "$TMP/out" >&2; fail "restore's line"; }
start_kmsd --db "$TMP/fresh/kmsd.db"
expect_rc 0 "$KMSC" --cmid "$(cmid 7)" "127.0.0.1:$PORT"
expect_rc 1 "$KMSD" restore "$TMP/copy.db" --db "$TMP/fresh/kmsd.db"
grep -q "a kmsd is running on the registry" "$TMP/out" || fail "restore did not refuse for the running kmsd"
stop_kmsd
listed "$TMP/fresh/kmsd.db" 1 2 3 4 5 100 7

# over the registry kmsd used: the old one kept as kmsd.db.before-restore (with client 6, which the copy lacks)
expect_rc 0 "$KMSD" restore "$TMP/copy.db" --state-dir "$TMP/state"
grep -q "kmsd.db.before-restore" "$TMP/out" || fail "restore does not name the registry it replaced"
listed "$TMP/state/kmsd.db.before-restore" 6
grep -qi "$(cmid 6)" <("$KMSD" clients --state-dir "$TMP/state" --format csv) && fail "the restore kept client 6"
[ -e "$TMP/state/kmsd.db-shm" ] && fail "the old -shm was left"
start_kmsd
expect_rc 0 "$KMSC" --cmid "$(cmid 8)" "127.0.0.1:$PORT"
stop_kmsd
listed "$TMP/state/kmsd.db" 1 5 8
echo "ok"
