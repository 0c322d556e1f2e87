#!/usr/bin/env bash
# Every recorded client session of tests/fixtures/vectors against the live kmsd: sessions recorded against
# the NDR64-capable host (vlmcsd) against kmsd's defaults, those recorded against py-kms (NDR32 only) against
# kmsd --no-ndr64, so that each recorded client's choices are valid. Every response must verify.
. "$(dirname "$0")/lib.sh"

start_kmsd
"$VECTOR_REPLAY" 127.0.0.1 "$PORT" "$FIXTURES"/vectors/*_to_vlmcsd_*.json || fail "replay against defaults"
stop_kmsd
start_kmsd --no-ndr64
"$VECTOR_REPLAY" 127.0.0.1 "$PORT" "$FIXTURES"/vectors/*_to_pykms_*.json || fail "replay against --no-ndr64"
stop_kmsd
echo "ok"
