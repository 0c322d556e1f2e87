#!/bin/sh
# Enforces the banned-function list of docs/internals/design.md (Conventions, 11). VLAs, the other half of that
# rule, are the compiler's to reject: meson.build passes -Wvla, an error under `make check WERROR=1`.
# Usage: scripts/checksrc.sh [FILE...]   (default: every .c and .h under src/, tests/, fuzz/, bench/)
# Exits 1 and prints file:line for every violation.
set -eu
cd "$(dirname "$0")/.."

if [ $# -gt 0 ]; then
    files="$*"
else
    files=$(find src tests fuzz bench -name '*.[ch]' 2>/dev/null | sort)
fi

banned='sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|atof|gets|alloca'
status=0
for f in $files; do
    # Strip // and /* */ comments and string literals crudely before matching, so prose does not trip it.
    out=$(sed -e 's://.*$::' -e 's:/\*.*\*/::g' -e 's:"[^"]*"::g' "$f" |
        grep -nE "(^|[^A-Za-z0-9_])($banned)[[:space:]]*\(" || true)
    if [ -n "$out" ]; then
        echo "$out" | sed "s|^|$f:|;s|\$|   <- banned function|"
        status=1
    fi
done
exit $status
