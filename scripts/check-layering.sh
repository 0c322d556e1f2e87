#!/bin/sh
# Enforces the dependency graph of docs/internals/design.md (Layout) in the build files and the core:
#  1. no meson.build under src/ names a file outside its own folder ('../x.c', '../../web/y');
#     a program reaches another one's code only through a library's dependency object;
#  2. no meson.build outside src/ (tests, bench, fuzz) names a file of src/kmsd, src/kmsc or src/client: they
#     link the internal libraries (kmsd_*_dep of src/kmsd/meson.build, kmsclient_dep of src/client);
#  3. no file under src/common includes uv.h, sqlite3.h, microhttpd.h or libpq-fe.h (the core is pure).
# Usage: scripts/check-layering.sh   Exits 1 and prints file:line for every violation.
set -eu
cd "$(dirname "$0")/.."

status=0
report() { # file, grep -n output, reason
    if [ -n "$2" ]; then
        echo "$2" | sed "s|^|$1:|;s|\$|   <- $3|"
        status=1
    fi
}

# Quoted strings in a meson.build, comments dropped; each hit keeps its line number.
strings_of() {
    sed -e 's/#.*$//' "$1" | grep -nE "'[^']*'" || true
}

# Inputs that belong to no program may be named from src/: the web page and its generator (web/) and the
# product table (data/).
allowed_outside='^(\.\./)+(web|data)/'

for f in $(find src -name meson.build | sort); do
    out=$(strings_of "$f" | while IFS= read -r line; do
        n=${line%%:*}
        echo "${line#*:}" | grep -oE "'[^']*'" | tr -d "'" | while IFS= read -r s; do
            case "$s" in
            ../*) echo "$s" | grep -qE "$allowed_outside" || echo "$n:'$s'" ;;
            esac
        done
    done)
    report "$f" "$out" "names a file outside $(dirname "$f")/ (link a library's dependency instead)"
done

for f in $(find . -name meson.build -not -path './build*' -not -path './.git/*' | sed 's|^\./||' | sort); do
    dir=$(dirname "$f")
    out=$(strings_of "$f" | while IFS= read -r line; do
        n=${line%%:*}
        echo "${line#*:}" | grep -oE "'[^']*'" | tr -d "'" | while IFS= read -r s; do
            # the path the string names, relative to the top: normalise 'dir/../..' away
            p=$(realpath -m --relative-to=. "$dir/$s")
            case "$dir:$p" in
            src/*) ;; # rule 1 covers src/
            *:src/kmsc/* | *:src/kmsd/* | *:src/client/*) echo "$n:'$s'" ;;
            esac
        done
    done)
    report "$f" "$out" "names a program's file from outside src/; link its library (kmsd_*_dep, kmsclient_dep)"
done

for f in $(find src/common -name '*.[ch]' -o -name '*.inc' | sort); do
    out=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](uv|sqlite3|microhttpd|libpq-fe)\.h[>"]' "$f" || true)
    report "$f" "$out" "src/common is pure: no libuv, SQLite, libmicrohttpd or libpq"
done

exit $status
