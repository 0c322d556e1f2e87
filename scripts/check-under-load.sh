#!/usr/bin/env bash
# check-under-load.sh — the test suite run beside busy CPUs, to find the races a quiet machine hides: a test that
# reads a log line, a helper's "ready" or a counter once instead of waiting for it passes alone and fails when CI
# runs the tests side by side on two cores (20-one-connection, 18-bind and 05-sigterm did, 2026-12-06).
# Usage: scripts/check-under-load.sh [--build DIR] [--jobs N] [--hogs K] [--rounds R] [TEST...]
#   --build DIR  a configured and built Meson build directory (default build)
#   --jobs N     tests run at once (default 4)
#   --hogs K     busy loops beside them, niced, each ended by PID at exit (default 3)
#   --rounds R   how many times the suite runs (default 1); stops at the first round with a failure
#   TEST...      only these tests (meson test names)
# Exit 0 when every round passed; 1 otherwise (meson's log of the failed round is named); 2 on bad usage.
# Not part of `make check` (each round takes the suite's time again): `make check-load`.
set -u
BUILD=build
JOBS=4
HOGS=3
ROUNDS=1
TESTS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=${2:?}; shift ;;
    --jobs) JOBS=${2:?}; shift ;;
    --hogs) HOGS=${2:?}; shift ;;
    --rounds) ROUNDS=${2:?}; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "check-under-load: unknown option '$1'" >&2; exit 2 ;;
    *) TESTS+=("$1") ;;
    esac
    shift
done
for n in "$JOBS" "$HOGS" "$ROUNDS"; do
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -le 64 ] || { echo "check-under-load: '$n' is not a number from 0 to 64" >&2; exit 2; }
done
[ "$JOBS" -ge 1 ] && [ "$ROUNDS" -ge 1 ] || { echo "check-under-load: --jobs and --rounds are at least 1" >&2; exit 2; }
[ -f "$BUILD/build.ninja" ] || { echo "check-under-load: $BUILD is not a configured build directory" >&2; exit 2; }

HOG_PIDS=()
stop_hogs() {
    local p
    for p in "${HOG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${HOG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    HOG_PIDS=()
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 "$HOGS"); do
    # bounded even if this script is killed with -9: timeout ends each loop after an hour
    timeout 3600 nice -n 5 bash -c 'while :; do :; done' &
    HOG_PIDS+=($!)
done

ninja -C "$BUILD" >/dev/null || { echo "check-under-load: the build failed" >&2; exit 1; }
for r in $(seq 1 "$ROUNDS"); do
    echo "check-under-load: round $r of $ROUNDS: $JOBS tests at once beside $HOGS busy loops" >&2
    if ! meson test -C "$BUILD" --no-rebuild --num-processes "$JOBS" --print-errorlogs "${TESTS[@]}"; then
        echo "check-under-load: round $r failed; the log: $BUILD/meson-logs/testlog.txt" >&2
        exit 1
    fi
done
echo "check-under-load: $ROUNDS round(s) passed" >&2
