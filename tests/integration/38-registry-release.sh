#!/bin/bash
# The registry's writer hands its memory back when it idles, and does so again after every busy period: glibc's
# dynamic thresholds, left as they are, rose to the size of the first batch freed (9 MB) and kept later batches and
# the page cache resident at the top of the threads' arena (kmsd fixes them; docs/performance.md, "The threads'
# arena after a large batch"). A quiet period (200 activations, one small fold: the batch buffer is allocated and
# freed all the same), then a busy one (20,000); after the second release the anonymous memory is within
# RELEASE_SLACK_KB of what it was after the first.
# The loop hands back its pooled connections and the heap's free pages once no connection was open or accepted for
# SERVER_IDLE_RELEASE_MS (5 s), once per idle period: not while connections keep coming, even one at a time with none
# open in between (docs/performance.md, "What the loop's heap kept").
. "$(dirname "$0")/lib.sh"

RELEASE_SLACK_KB=1024
COUNTS=(0 200 20000) # activations of rounds 1 and 2
if ldd "$KMSD" 2>/dev/null | grep -q libasan; then
    # AddressSanitizer replaces malloc (and keeps freed memory in quarantine): glibc's arenas are not in play
    echo "38-registry-release: the sanitizer build's allocator is not glibc's: RSS not compared"
    CHECK_RSS=0
else
    CHECK_RSS=1
fi
RELEASE_LINE="registry: idle: the writer's buffers and page cache handed back"
LOOP_LINE="idle: the loop's pooled connections and free heap pages handed back"

start_kmsd --no-http
declare -a after
total=0
for round in 1 2; do
    n=${COUNTS[$round]}
    timeout 120 "$KMSC" bench -q -c 8 --new-connection -N "$n" "127.0.0.1:$PORT" >"$TMP/bench.out" 2>&1 ||
        fail "round $round: activations failed: $(cat "$TMP/bench.out")"
    total=$((total + n))
    wait_recorded "$total"
    wait_lines "$round" "$RELEASE_LINE" "no idle release number $round" # 5 s after the last fold
    wait_lines "$round" "$LOOP_LINE" "no idle release of the loop number $round" # 5 s after the last close
    sleep 0.5 # the loop drops its window onto the journal once told
    after[$round]=$(anon_kb)
    echo "round $round: $n activations recorded; anonymous memory after the idle release ${after[$round]} kB"
done
[ "$(log_lines "$LOOP_LINE")" = 2 ] || fail "the loop released $(log_lines "$LOOP_LINE") times in two idle periods"
# one activation a second for 8 s, each on its own connection: none is open most of the time, but the loop is not idle
for i in $(seq 1 8); do
    "$KMSC" -q --new-connection "127.0.0.1:$PORT" >/dev/null 2>&1 || fail "activation $i of the slow series failed"
    sleep 1
done
[ "$(log_lines "$LOOP_LINE")" = 2 ] || fail "the loop released while a client came every second"
wait_lines 3 "$LOOP_LINE" "no idle release of the loop after the slow series"
if [ "$CHECK_RSS" = 1 ] && [ "${after[2]}" -gt $((after[1] + RELEASE_SLACK_KB)) ]; then
    fail "after the busy period the writer kept ${after[2]} kB anonymous, ${after[1]} kB after the quiet one"
fi
stop_kmsd
echo "38-registry-release: memory handed back after each of a quiet and a busy period (${COUNTS[1]} and ${COUNTS[2]} activations) (anonymous ${after[1]} / ${after[2]} kB)"
