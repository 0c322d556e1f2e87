#!/usr/bin/env bash
# kill -9 at 20 random moments under load: after each restart every activation a client saw answered is in the
# registry (the journal is written before the answer and folded in at start, store_writer.h).
. "$(dirname "$0")/lib.sh"

KILLS=${KILLS:-20}
cmid() { printf '00000000-0000-4000-8000-%012d' "$1"; }
: >"$TMP/answered"

# load W: activations with distinct CMIDs W*100000+1.. until kmsd goes away (bounded at 2,000 each)
load() {
    local i
    for i in $(seq $(($1 * 100000 + 1)) $(($1 * 100000 + 2000))); do
        if "$KMSC" -q --timeout 2 --cmid "$(cmid "$i")" "127.0.0.1:$PORT" >/dev/null 2>&1; then
            echo "$(cmid "$i")" >>"$TMP/answered"
        else
            return 0
        fi
    done
}

start_kmsd
for k in $(seq 1 "$KILLS"); do
    load $((2 * k)) &
    l1=$!
    load $((2 * k + 1)) &
    l2=$!
    sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", 0.1 + rand() * 0.6 }')"
    kill -KILL "$KMSD_PID"
    wait "$KMSD_PID" 2>/dev/null
    KMSD_PID=""
    wait "$l1" "$l2"
    start_kmsd
    all_listed "$TMP/answered" || fail "after kill -9 number $k: answered activations missing from the registry"
done
n=$(wc -l <"$TMP/answered")
[ "$n" -ge "$KILLS" ] || fail "only $n activations answered in $KILLS rounds: the load did not run"
stop_kmsd
all_listed "$TMP/answered" || fail "after the last clean stop: answered activations missing"
echo "ok: $KILLS kills under load, all $n answered activations recorded"
