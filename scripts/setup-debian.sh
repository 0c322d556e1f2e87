#!/bin/sh
# Installs exactly the packages kmsd needs to build and test on Debian 12.
# Idempotent: installs only what is missing. Must run as root (or through sudo).
# --fuzz adds clang for `make fuzz`; --bench adds valgrind, perf and strace for bench/run and profiling.
set -eu

PKGS="gcc libc6-dev make meson ninja-build pkg-config python3 \
libssl-dev libjansson-dev libcmocka-dev libuv1-dev libinih-dev libsqlite3-dev libmicrohttpd-dev \
chromium nftables iproute2"
# Test-only: chromium loads kmsd's web page headless (tests/integration/11-browser.sh); nftables and iproute2
# make the KMS port reject connections inside a network namespace the test creates (10-http.sh, /readyz).

# --fuzz: also what `make fuzz` needs (clang with libFuzzer and the sanitizer runtimes).
for opt in "$@"; do
    case "$opt" in
    --fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
    --bench) PKGS="$PKGS valgrind linux-perf strace" ;; # bench/run's instruction counts; profiling tools
    *)
        echo "usage: $0 [--fuzz] [--bench]" >&2
        exit 2
        ;;
    esac
done

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "setup-debian: all build dependencies present"
    exit 0
fi

echo "setup-debian: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "setup-debian: need root to install:$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
