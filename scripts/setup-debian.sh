#!/bin/sh
# Installs the Debian 12 packages kmsd needs: by default only what building and running need (`make`,
# `make run`); --test adds what the test suite needs (`make check`), --fuzz what `make fuzz` needs, --bench
# what bench/run and profiling need, --deb what `make deb` and `make deb-check` need, --image what `make image`
# and `make image-check` need (--deb's packages and buildah). Idempotent: installs only what is missing. Needs
# root (or sudo).
# On a system without dpkg it installs nothing: it names the packages and leaves the build to say what is
# missing.
set -eu

PKGS="gcc libc6-dev make meson ninja-build pkg-config python3 \
nettle-dev libjansson-dev libuv1-dev libinih-dev libsqlite3-dev libmicrohttpd-dev zlib1g-dev libldns-dev \
libsystemd-dev libcurl4-gnutls-dev libpq-dev"

# make deb: dpkg-buildpackage (dpkg-dev; build-essential, which it checks for), debhelper (compat 13, the meson
# build system), fakeroot, lintian. make deb-check: mmdebstrap makes a bookworm chroot to install and purge the
# package in (debian-archive-keyring verifies the mirror's Release; util-linux has unshare, iproute2 brings
# loopback up in the network namespace kmsd runs in there).
DEB_PKGS="build-essential dpkg-dev debhelper fakeroot lintian mmdebstrap debian-archive-keyring util-linux iproute2"

for opt in "$@"; do
    case "$opt" in
    # cmocka: the unit tests; chromium loads the web page headless (11-browser.sh); nftables and iproute2 (ip,
    # ss) shape the network namespaces the tests create (10-http.sh, 18-bind.sh); util-linux has unshare.
    # The DNS tests start BIND's named (bind9) and read with dig (bind9-dnsutils); kmsd dns-record's forms are
    # checked by named-checkzone (bind9-utils), dnsmasq --test (dnsmasq-base) and unbound-checkconf (unbound).
    # systemd: systemd-socket-activate and systemd-analyze (28-systemd.sh, 23-install.sh), not a running init;
    # openssl makes 31-https.sh's certificate; haproxy sends PROXY headers in 32-proxy-protocol.sh.
    # postgresql: initdb and the server, started on loopback by the tests of a PostgreSQL registry (pg.sh).
    --test) PKGS="$PKGS libcmocka-dev chromium nftables iproute2 util-linux bind9 bind9-utils bind9-dnsutils \
dnsmasq-base unbound systemd openssl haproxy postgresql" ;;
    # clang with libFuzzer and the sanitizer runtimes.
    --fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
    --bench) PKGS="$PKGS valgrind linux-perf strace" ;; # bench/run's instruction counts; profiling tools
    --deb) PKGS="$PKGS $DEB_PKGS" ;;
    # make image: the packages as for --deb, the root file system by mmdebstrap as for deb-check, then buildah
    # makes the image of it (from scratch, no RUN step, so no crun or runc; its recommends are not installed).
    # make image-check starts the image's own programs under unshare, nsenter and chroot (util-linux) and
    # reads packaging/kubernetes.yaml with python3-yaml.
    --image) PKGS="$PKGS $DEB_PKGS buildah python3-yaml" ;;
    *)
        echo "usage: $0 [--test] [--fuzz] [--bench] [--deb] [--image]" >&2
        exit 2
        ;;
    esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "setup-debian: no dpkg here, so nothing is installed; kmsd needs the equivalents of:" $PKGS >&2
    exit 0
fi

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
