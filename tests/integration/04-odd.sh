#!/usr/bin/env bash
# Odd and hostile conversations (tests/integration/odd.py) get the prescribed answer or a clean close, and
# kmsd keeps serving; unsupported KMS versions through kmsc; the idle timeout.
. "$(dirname "$0")/lib.sh"

start_kmsd
"$PYTHON" "$(dirname "$0")/odd.py" "$FIXTURES" 127.0.0.1 "$PORT" || fail "odd cases"
# versions 3 and 7 and minor 1 are refused with 0x8007000D (kmsc: exit 5, refused)
expect_rc 5 "$KMSC" --version-major 3 "127.0.0.1:$PORT"
grep -qi "0x8007000D" "$TMP/out" || fail "kmsc did not print the HRESULT"
expect_rc 5 "$KMSC" --version-major 7 "127.0.0.1:$PORT"
expect_rc 5 "$KMSC" --version-major 6 --version-minor 1 "127.0.0.1:$PORT"
# still serving after all that
expect_rc 0 "$KMSC" -6 "127.0.0.1:$PORT"
kill -0 "$KMSD_PID" || fail "kmsd died"
stop_kmsd

start_kmsd --idle-timeout 1
"$PYTHON" "$(dirname "$0")/odd.py" "$FIXTURES" 127.0.0.1 "$PORT" idle || fail "idle timeout"
stop_kmsd
echo "ok"
