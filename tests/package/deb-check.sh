#!/usr/bin/env bash
# make deb-check: the Debian packages, built and then installed as a user would install them.
#  1. make deb (scripts/build-deb.sh) has built kmsd and kmsc, and lintian reported no error;
#  2. what the .debs hold: paths, modes, owners, conffiles, the unit's command line, dependencies;
#  3. in a Debian 12 chroot made by mmdebstrap (--variant=apt, cached in build-deb/cache for a day), each step in
#     mount and PID namespaces of its own: apt-get install ./kmsd_*.deb ./kmsc_*.deb (the dependencies from the
#     mirror); the user, /var/lib/kmsd, the conffiles, the units' enablement (in-root.sh installed); kmsd run as
#     the unit starts it, as the user kmsd, in a network namespace, and kmsc activating against it (run);
#     apt-get remove kmsd keeps the state (removed), installing it again finds it (reinstalled), apt-get purge
#     deletes it (purged).
# Not covered: kmsd under systemd itself (the sandbox, Type=notify, the socket unit): this machine has no systemd
# as PID 1 to start it; 28-systemd and 23-install cover the unit in the normal suite.
# Needs root and the Debian mirror. `deb-check.sh --probe` prints why it cannot run here (exit 1) or nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$(pwd)
OUT=$SRC/build-deb
ROOT=$OUT/root
CACHE=$OUT/cache/bookworm-apt.tar

probe() {
    [ "$(id -u)" -eq 0 ] || { echo "not root (the chroot, its mounts and namespaces need root)"; return 1; }
    command -v apt-get >/dev/null && command -v dpkg >/dev/null || { echo "no apt-get and dpkg here"; return 1; }
    unshare --mount --pid --net --fork true 2>/dev/null ||
        { echo "cannot create mount, PID and network namespaces here"; return 1; }
    # the mirror, through apt as this machine has it set up
    timeout 120 apt-get update -qq --error-on=any >/dev/null 2>&1 ||
        { echo "apt-get update fails: the Debian mirror cannot be reached"; return 1; }
}
if [ "${1:-}" = --probe ]; then
    probe
    exit
fi
why=$(probe) || { echo "deb-check: cannot run here: $why" >&2; exit 1; }

start=$(date +%s)
fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }

# --- 1. the build (make deb, which this follows in make deb-check) and its lintian report
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
KMSD_DEB=$OUT/kmsd_${version}_${arch}.deb
KMSC_DEB=$OUT/kmsc_${version}_${arch}.deb
[ -f "$KMSD_DEB" ] && [ -f "$KMSC_DEB" ] && [ -f "$OUT/lintian.txt" ] || fail "no packages in build-deb: make deb first"
grep -q '^E: ' "$OUT/lintian.txt" && fail "lintian errors: $(grep '^E: ' "$OUT/lintian.txt")"
tags=$(grep -cE '^[EW]: ' "$OUT/lintian.txt" || true)
echo "deb-check: lintian: no error, $tags warning(s) (build-deb/lintian.txt)"

# --- 2. the packages' contents
listing() { dpkg-deb -c "$1" | awk '{ sub(/^\./, "", $6); print $1, $2, $6 }'; }
listing "$KMSD_DEB" >"$OUT/kmsd.list"
listing "$KMSC_DEB" >"$OUT/kmsc.list"
expect() { # LIST MODE OWNER PATH
    grep -qxF -- "$2 $3 $4" "$1" || fail "$(basename "$1" .list) does not hold $4 as $2 $3: $(grep -F " $4" "$1" || echo absent)"
}
expect "$OUT/kmsd.list" -rwxr-xr-x root/root /usr/sbin/kmsd
expect "$OUT/kmsd.list" -rw-r--r-- root/root /etc/kmsd/kmsd.conf
expect "$OUT/kmsd.list" -rw-r--r-- root/root /etc/logrotate.d/kmsd
expect "$OUT/kmsd.list" -rw-r--r-- root/root /lib/systemd/system/kmsd.service
expect "$OUT/kmsd.list" -rw-r--r-- root/root /lib/systemd/system/kmsd.socket
expect "$OUT/kmsd.list" -rw-r--r-- root/root /lib/systemd/system/kmsd.service.d/debian.conf
expect "$OUT/kmsd.list" -rw-r--r-- root/root /usr/share/man/man8/kmsd.8.gz
expect "$OUT/kmsd.list" -rw-r--r-- root/root /usr/share/doc/kmsd/README.Debian.gz
expect "$OUT/kmsd.list" -rw-r--r-- root/root /usr/share/doc/kmsd/copyright
expect "$OUT/kmsc.list" -rwxr-xr-x root/root /usr/bin/kmsc
expect "$OUT/kmsc.list" -rw-r--r-- root/root /usr/share/man/man1/kmsc.1.gz
grep -q ' /usr/bin/kmsc$' "$OUT/kmsd.list" && fail "kmsd holds kmsc"
grep -qE ' /(var|home|usr/local)/' "$OUT/kmsd.list" "$OUT/kmsc.list" && fail "a package holds files under /var, /home or /usr/local"
[ "$(dpkg-deb -I "$KMSD_DEB" conffiles)" = "$(printf '/etc/kmsd/kmsd.conf\n/etc/logrotate.d/kmsd')" ] ||
    fail "kmsd's conffiles: $(dpkg-deb -I "$KMSD_DEB" conffiles)"
dpkg-deb -f "$KMSD_DEB" Depends | grep -qE '(^|, )adduser(,|$)' || fail "kmsd does not depend on adduser"
# the libraries kmsd opens with dlopen (src/lazy/lazylib.h), which dpkg-shlibdeps cannot see
for lib in libldns3 libmicrohttpd12 libsqlite3-0 libsystemd0; do
    dpkg-deb -f "$KMSD_DEB" Depends | grep -qE "(^|, )$lib(,| |$)" || fail "kmsd does not depend on $lib"
done
# libpq only for a PostgreSQL registry (--db postgresql://): recommended, so that a plain install has it and a lean
# one may leave it out
dpkg-deb -f "$KMSD_DEB" Recommends | grep -qE "(^|, )libpq5(,| |$)" || fail "kmsd does not recommend libpq5"
dpkg-deb -f "$KMSC_DEB" Depends | grep -qE 'libsqlite|libmicrohttpd|adduser' && fail "kmsc depends on what only kmsd needs"
# and those kmsc opens (discovery, kmsc health --http)
for lib in libcurl3-gnutls libldns3; do
    dpkg-deb -f "$KMSC_DEB" Depends | grep -qE "(^|, )$lib(,| |$)" || fail "kmsc does not depend on $lib"
done
echo "deb-check: contents: kmsd $(wc -l <"$OUT/kmsd.list") entries, kmsc $(wc -l <"$OUT/kmsc.list"); conffiles, modes, dependencies as expected"

# the units as systemd reads them, the drop-in included (the programs they start are not on this machine)
if command -v systemd-analyze >/dev/null; then
    rm -rf "$OUT/extract"
    dpkg-deb -x "$KMSD_DEB" "$OUT/extract"
    units=$OUT/extract/lib/systemd/system
    SYSTEMD_UNIT_PATH=$units: systemd-analyze verify --man=no kmsd.service kmsd.socket >"$OUT/verify.txt" 2>&1 ||
        { grep -v "is not executable" "$OUT/verify.txt" | grep -q . && fail "systemd-analyze verify: $(cat "$OUT/verify.txt")"; }
    SYSTEMD_UNIT_PATH=$units: systemd-analyze security --offline=true kmsd.service >"$OUT/security.txt" 2>&1 || true
    grep -q 'User=/DynamicUser=.*static non-root user' "$OUT/security.txt" ||
        fail "systemd does not see kmsd.service running as a static user (the drop-in): $(grep 'User=' "$OUT/security.txt")"
    echo "deb-check: systemd-analyze: the units verify; with the drop-in kmsd.service runs as a static non-root user;" \
        "$(grep -o 'Overall exposure level.*' "$OUT/security.txt" | sed 's/ [^ ]*$//')"
    rm -rf "$OUT/extract"
else
    echo "deb-check: no systemd-analyze here: the units are not verified (make check's 23-install does, with the suite's packages)"
fi

# --- 3. install, run, remove, reinstall, purge in a bookworm chroot
mounted_under_root() { grep -qF " $ROOT/" /proc/self/mountinfo; }
cleanup() {
    if mounted_under_root; then
        echo "deb-check: something is still mounted under $ROOT; left in place" >&2
    else
        rm -rf "$ROOT"
    fi
}
trap cleanup EXIT

mkdir -p "$(dirname "$CACHE")"
if [ ! -f "$CACHE" ] || [ -z "$(find "$CACHE" -mmin -1440)" ]; then
    echo "deb-check: mmdebstrap --variant=apt bookworm (the chroot's base, cached for a day)"
    mmdebstrap --quiet --format=tar --variant=apt bookworm "$CACHE.tmp" >"$OUT/mmdebstrap.log" 2>&1 ||
        { tail -n 20 "$OUT/mmdebstrap.log" >&2; fail "mmdebstrap (the whole log: build-deb/mmdebstrap.log)"; }
    mv "$CACHE.tmp" "$CACHE"
fi
mounted_under_root && fail "something is mounted under $ROOT"
rm -rf "$ROOT"
mkdir -p "$ROOT"
tar -xf "$CACHE" -C "$ROOT"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
mkdir -p "$ROOT/tmp/debs"
cp "$KMSD_DEB" "$KMSC_DEB" "$ROOT/tmp/debs/"
install -m 0755 tests/package/in-root.sh "$ROOT/tmp/in-root.sh"

# CMD in the chroot: its own mount and PID namespaces (every process ends with it), /proc and /dev mounted, a
# clean environment; --net: a network namespace too, with loopback alone
in_root() {
    local net=()
    if [ "$1" = --net ]; then net=(--net); shift; fi
    unshare --mount --pid --fork "${net[@]}" -- bash -c '
        set -e
        root=$1 net=$2; shift 2
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        if [ "$net" = 1 ]; then ip link set lo up; fi
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive "$@"' in_root "$ROOT" "${#net[@]}" "$@"
}
apt_in_root() { # apt-get ARGS... in the chroot, its output in build-deb/apt.log
    echo "+ apt-get $*" >>"$OUT/apt.log"
    in_root apt-get -y -q -o Dpkg::Use-Pty=0 "$@" >>"$OUT/apt.log" 2>&1 ||
        { tail -n 25 "$OUT/apt.log" >&2; fail "apt-get $* in the chroot (the whole log: build-deb/apt.log)"; }
}
: >"$OUT/apt.log"
debs=("/tmp/debs/$(basename "$KMSD_DEB")" "/tmp/debs/$(basename "$KMSC_DEB")")
apt_in_root update
apt_in_root install --no-install-recommends "${debs[@]}" logrotate
echo "deb-check: apt-get install ./$(basename "$KMSD_DEB") ./$(basename "$KMSC_DEB") in a bookworm chroot"
in_root /tmp/in-root.sh installed
in_root --net /tmp/in-root.sh run
apt_in_root remove kmsd
in_root /tmp/in-root.sh removed
apt_in_root install --no-install-recommends "${debs[0]}"
in_root /tmp/in-root.sh reinstalled
in_root /tmp/in-root.sh reinstalled-state
apt_in_root purge kmsd kmsc
in_root /tmp/in-root.sh purged

echo "deb-check: passed in $(($(date +%s) - start)) s"
