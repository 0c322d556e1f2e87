# bench/lib.sh — what bench/run, bench/lean and bench/registry share: a temporary directory removed at exit,
# free ports, starting kmsd and canned on loopback and stopping them by PID, and the /proc readings (CPU ticks
# of all threads, RSS, PSS, peak RSS). Sourced after KMSD and CANNED are set.
# ---- processes ----
for v in $(compgen -e | grep '^KMSD_'); do unset "$v"; done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kmsd-bench.XXXXXX")
# Started as root, kmsd runs in its default configuration, i.e. it switches to an unprivileged user after
# binding: that user must be able to reach its state directory under $TMP.
chmod 711 "$TMP"
PIDS=""
cleanup() {
    local p
    for p in $PIDS; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null
            for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$p" 2>/dev/null
            wait "$p" 2>/dev/null
        fi
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() { # PID PORT
    local i
    for i in $(seq 1 100); do
        if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' \
            "$2" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$1" 2>/dev/null; then
            # its log says why ($TMP goes at exit)
            echo "bench/${0##*/}: a server exited at start (port $2):" >&2
            if [ -f "$TMP/kmsd.$2.log" ]; then tail -n 5 "$TMP/kmsd.$2.log" >&2; else tail -n 5 "$TMP/canned.log" >&2; fi
            exit 1
        fi
        sleep 0.05
    done
    echo "bench/${0##*/}: nothing listens on port $2 after 5 s" >&2
    exit 1
}
stop_pid() { # PID [SIGNAL]: SIGNAL (default TERM; tests/integration/pg.sh sends INT), wait up to 10 s
    local p=$1
    kill "-${2:-TERM}" "$p" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$p" | tr '\n' ' ')
}
# FOLD_SETTLE: seconds after a run by which kmsd's writer has folded that run's records, so that a CPU reading then
# counts them (store_writer.h: a busy host folds STORE_WRITER_BUSY_LINGER_MS after the first unfolded record), plus
# one for the fold itself
FOLD_SETTLE=$(awk '/^#define STORE_WRITER_BUSY_LINGER_MS/ {print $3 / 1000 + 1}' "$ROOT/src/kmsd/store_writer.h")
[ -n "$FOLD_SETTLE" ] || { echo "bench: STORE_WRITER_BUSY_LINGER_MS not found in store_writer.h" >&2; exit 1; }
# RELEASE_SETTLE: seconds after a run by which the writer has also handed its page cache back
# (STORE_WRITER_IDLE_RELEASE_MS after its last fold), so that an RSS reading then does not depend on the registry's size
RELEASE_SETTLE=$(awk -v f="$FOLD_SETTLE" '/^#define STORE_WRITER_IDLE_RELEASE_MS/ {print f + $3 / 1000 + 1}' \
    "$ROOT/src/kmsd/store_writer.h")
[ -n "$RELEASE_SETTLE" ] || { echo "bench: STORE_WRITER_IDLE_RELEASE_MS not found in store_writer.h" >&2; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The run time of the live threads in ns (the scheduler's own count, /proc/PID/task/*/schedstat). /proc/PID/stat's
# utime and stime are tick samples scaled to that count and kept from ever decreasing, so the difference of two
# readings can exceed what ran in between (docs/performance.md); this one cannot, but misses a thread that ends.
run_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
# The same count thread by thread, for a split by kind of thread (bench/lean): a line per live thread of PID with its
# id, name (spaces as _), run time in ns and involuntary context switches (preempted while it could run).
thread_times() {
    local t
    for t in /proc/"$1"/task/*; do
        printf '%s %s %s %s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm")" "$(awk '{print $1}' "$t/schedstat")" \
            "$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$t/status")"
    done 2>/dev/null
}
# quiet_wait MAX_S: waits, at most MAX_S seconds, until the machine is nearly idle (under 5 % of its CPU time busy,
# iowait included, over half a second of /proc/stat), so that a measurement does not share the CPUs with what an
# earlier one left running: a kmsd folding that run's records, PostgreSQL writing them. Prints the seconds waited;
# returns 1 when the machine was still busy after MAX_S.
quiet_wait() {
    local i a b t0=${EPOCHREALTIME/[.,]/}
    waited() { local t=${EPOCHREALTIME/[.,]/}; awk -v d=$((t - t0)) 'BEGIN { printf "%.1f\n", d / 1e6 }'; }
    cpu_busy() { awk '/^cpu / { b = $2 + $3 + $4 + $6 + $7 + $8; print b, b + $5; exit }' /proc/stat; }
    a=$(cpu_busy)
    for ((i = 0; i < $1 * 2; i++)); do
        sleep 0.5
        b=$(cpu_busy)
        if awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
            exit !((y[1] - x[1]) * 20 <= y[2] - x[2] && y[2] > x[2]) }'; then
            waited
            return 0
        fi
        a=$b
    done
    waited
    return 1
}
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
pss_kb() { awk '/^Pss:/{print $2}' "/proc/$1/smaps_rollup"; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }

# hostile_wave PORT RUNS HOLD N: RUNS runs of tests/integration/odd.py's odd and hostile conversations against the
# server on PORT (14 connections each), then HOLD connections held idle while N activations run (2 workers, v6);
# prints how many of those RUNS + 1 steps failed. Needs KMSC.
hostile_wave() {
    local i bad=0
    for ((i = 0; i < $2; i++)); do
        timeout 60 python3 "$ROOT/tests/integration/odd.py" "$ROOT/tests/fixtures" 127.0.0.1 "$1" >/dev/null 2>&1 ||
            bad=$((bad + 1))
    done
    timeout 120 "$KMSC" bench -q --hold "$3" -N "$4" -c 2 -6 "127.0.0.1:$1" >/dev/null || bad=$((bad + 1))
    echo "$bad"
}

spawn_kmsd() { # PORT extra options...: starts kmsd on PORT with its state in $TMP/state.PORT, without waiting
    KPORT=$1
    shift
    [ -d "$TMP/state.$KPORT" ] || mkdir -p "$TMP/state.$KPORT" # no fork when the caller made it (timed starts)
    "$KMSD" -L "127.0.0.1:$KPORT" --state-dir "$TMP/state.$KPORT" "$@" >>"$TMP/kmsd.$KPORT.log" 2>&1 &
    KPID=$!
    PIDS="$PIDS $KPID"
}
start_kmsd() { # extra options...: sets KPID, KPORT
    spawn_kmsd "$(free_port)" "$@"
    wait_port "$KPID" "$KPORT"
}
start_canned() { # sets CPID, CPORT
    CPORT=$(free_port)
    "$CANNED" 127.0.0.1 "$CPORT" >"$TMP/canned.log" 2>&1 &
    CPID=$!
    PIDS="$PIDS $CPID"
    wait_port "$CPID" "$CPORT"
}

