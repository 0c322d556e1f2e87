#!/bin/bash
# Run by deb-check.sh inside the bookworm chroot (as root, in namespaces of its own): one check per phase of the
# kmsd and kmsc packages' life. PHASE: installed, run, removed, reinstalled or purged. Prints one line per check;
# exits 1 at the first that fails.
set -euo pipefail
phase=$1

fail() { echo "deb-check [$phase]: FAIL: $*" >&2; exit 1; }
ok() { echo "deb-check [$phase]: $*"; }
status() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true; }
owner() { stat -c '%U:%G %a' "$1"; }
as_kmsd() { setpriv --reuid=kmsd --regid=kmsd --init-groups -- "$@"; } # what the unit's User=/Group= do

case "$phase" in
installed | reinstalled)
    for p in kmsd kmsc; do
        [ "$(status $p)" = "install ok installed" ] || fail "$p is not installed: $(status $p)"
    done
    /usr/sbin/kmsd --version | grep -q '^kmsd 0\.1\.0' || fail "kmsd --version: $(/usr/sbin/kmsd --version 2>&1)"
    /usr/bin/kmsc --version 2>&1 | grep -q '0\.1\.0' || fail "kmsc --version: $(/usr/bin/kmsc --version 2>&1)"
    ok "kmsd and kmsc installed: $(/usr/sbin/kmsd --version | head -n 1)"

    IFS=: read -r _ _ uid gid _ home shell <<<"$(getent passwd kmsd)" || fail "no user kmsd"
    [ "$(getent group kmsd | cut -d: -f3)" = "$gid" ] || fail "the user kmsd's group is not the group kmsd"
    [ "$uid" -lt 1000 ] || fail "kmsd is not a system user (uid $uid)"
    [ "$home" = /var/lib/kmsd ] || fail "kmsd's home is $home"
    [ "$shell" = /usr/sbin/nologin ] || fail "kmsd's shell is $shell"
    ok "system user kmsd (uid $uid, group kmsd, home $home, shell $shell)"

    [ -d /var/lib/kmsd ] && [ ! -L /var/lib/kmsd ] || fail "/var/lib/kmsd is not a directory"
    [ "$(owner /var/lib/kmsd)" = "kmsd:kmsd 700" ] || fail "/var/lib/kmsd is $(owner /var/lib/kmsd)"
    ok "/var/lib/kmsd kmsd:kmsd 0700"

    conffiles=$(dpkg-query -W -f='${Conffiles}' kmsd | awk 'NF { print $1 }' | sort | tr '\n' ' ')
    [ "$conffiles" = "/etc/kmsd/kmsd.conf /etc/logrotate.d/kmsd " ] || fail "conffiles: $conffiles"
    [ "$(owner /etc/kmsd/kmsd.conf)" = "root:kmsd 640" ] || fail "/etc/kmsd/kmsd.conf is $(owner /etc/kmsd/kmsd.conf)"
    dpkg-statoverride --list /etc/kmsd/kmsd.conf | grep -qxE 'root kmsd 0?640 /etc/kmsd/kmsd.conf' ||
        fail "no dpkg-statoverride for /etc/kmsd/kmsd.conf"
    zcat /usr/share/doc/kmsd/kmsd.conf.example.gz | cmp -s - /etc/kmsd/kmsd.conf ||
        fail "/etc/kmsd/kmsd.conf is not the example configuration"
    # read as the service reads it: by the user kmsd, through the group
    as_kmsd /usr/sbin/kmsd -c /etc/kmsd/kmsd.conf --check-config >/tmp/check-config 2>&1 ||
        fail "kmsd -c /etc/kmsd/kmsd.conf --check-config as kmsd: $(cat /tmp/check-config)"
    ok "conffiles /etc/kmsd/kmsd.conf (root:kmsd 0640, dpkg-statoverride) and /etc/logrotate.d/kmsd; kmsd reads the configuration"

    unit=/lib/systemd/system/kmsd.service
    grep -qx 'ExecStart=/usr/sbin/kmsd -c /etc/kmsd/kmsd.conf --state-dir /var/lib/kmsd' $unit ||
        fail "the unit's ExecStart: $(grep ^ExecStart= $unit)"
    dropin=/lib/systemd/system/kmsd.service.d/debian.conf
    for line in DynamicUser=no User=kmsd Group=kmsd LogsDirectory=kmsd; do
        grep -qx "$line" $dropin || fail "$dropin does not set $line"
    done
    [ -f /lib/systemd/system/kmsd.socket ] || fail "kmsd.socket is not installed"
    [ "$(readlink /etc/systemd/system/multi-user.target.wants/kmsd.service)" = $unit ] ||
        fail "kmsd.service is not enabled (multi-user.target.wants)"
    [ ! -e /etc/systemd/system/sockets.target.wants/kmsd.socket ] && [ ! -L /etc/systemd/system/sockets.target.wants/kmsd.socket ] ||
        fail "kmsd.socket is enabled"
    ok "kmsd.service enabled (kmsd -c /etc/kmsd/kmsd.conf as user kmsd), kmsd.socket installed, not enabled"

    for f in /usr/share/man/man8/kmsd.8.gz /usr/share/man/man1/kmsc.1.gz /usr/share/doc/kmsd/README.Debian.gz \
        /usr/share/doc/kmsd/copyright /usr/share/doc/kmsc/copyright /usr/share/doc/kmsd/config.md.gz; do
        [ -f "$f" ] || fail "$f is not installed"
    done
    ok "man pages, README.Debian, copyright, documents"
    ;;

run)
    # kmsd as kmsd.service starts it (the unit's ExecStart as the user kmsd; systemd's sandbox is not there),
    # logging to the file that logrotate rotates, in the directory LogsDirectory=kmsd would make
    install -d -o kmsd -g kmsd -m 0750 /var/log/kmsd
    read -r -a cmd <<<"$(sed -n 's/^ExecStart=//p' /lib/systemd/system/kmsd.service)"
    setpriv --reuid=kmsd --regid=kmsd --init-groups -- "${cmd[@]}" --log-file /var/log/kmsd/kmsd.log &
    pid=$!
    for _ in $(seq 50); do
        kmsc --timeout 2 127.0.0.1 >/tmp/kmsc.out 2>&1 && break
        kill -0 $pid 2>/dev/null || { cat /var/log/kmsd/kmsd.log >&2 || true; fail "kmsd exited"; }
        sleep 0.2
    done
    uid=$(awk '/^Uid:/ { print $2 }' /proc/$pid/status)
    [ "$uid" = "$(id -u kmsd)" ] || fail "kmsd runs as uid $uid, not kmsd's $(id -u kmsd): $(cat /tmp/kmsc.out)"
    kmsc --workstation deb-check-pc 127.0.0.1:1688 >/tmp/kmsc.out 2>&1 ||
        fail "kmsc against the installed kmsd: exit $?: $(cat /tmp/kmsc.out)"
    kmsc health 127.0.0.1:1688 >/dev/null 2>&1 || fail "kmsc health"
    ok "kmsd (the unit's command line, user kmsd) answers; kmsc verifies its activation; kmsc health 0"
    kill -TERM $pid
    wait $pid || fail "kmsd exited $? after SIGTERM"
    as_kmsd /usr/sbin/kmsd clients --state-dir /var/lib/kmsd --format csv >/tmp/clients 2>&1 ||
        fail "kmsd clients: $(cat /tmp/clients)"
    grep -q deb-check-pc /tmp/clients || fail "the activation is not in the registry: $(cat /tmp/clients)"
    for f in identity kmsd.db; do
        [ "$(stat -c %U /var/lib/kmsd/$f)" = kmsd ] || fail "/var/lib/kmsd/$f is not kmsd's"
    done
    [ "$(owner /var/lib/kmsd)" = "kmsd:kmsd 700" ] || fail "after kmsd ran /var/lib/kmsd is $(owner /var/lib/kmsd)"
    grep -q deb-check-pc /var/log/kmsd/kmsd.log || fail "no activation line in /var/log/kmsd/kmsd.log"
    logrotate -f /etc/logrotate.d/kmsd || fail "logrotate -f /etc/logrotate.d/kmsd"
    [ -f /var/log/kmsd/kmsd.log.1 ] || fail "logrotate did not rotate /var/log/kmsd/kmsd.log"
    sha256sum /var/lib/kmsd/identity >/root/identity.sha256
    ok "kmsd stopped on SIGTERM (exit 0); the client is in its registry; identity and kmsd.db are kmsd's; logrotate rotated its log"
    ;;

removed)
    [ "$(status kmsd)" = "deinstall ok config-files" ] || fail "kmsd after remove: $(status kmsd)"
    [ ! -e /usr/sbin/kmsd ] || fail "/usr/sbin/kmsd is still there"
    [ "$(status kmsc)" = "install ok installed" ] || fail "kmsc went with kmsd"
    sha256sum -c --quiet /root/identity.sha256 || fail "the identity changed"
    [ "$(stat -c %U /var/lib/kmsd/kmsd.db)" = kmsd ] || fail "the registry is gone or not kmsd's"
    [ -f /etc/kmsd/kmsd.conf ] || fail "the configuration is gone"
    [ -d /var/log/kmsd ] || fail "/var/log/kmsd is gone"
    getent passwd kmsd >/dev/null || fail "the user kmsd is gone"
    ok "remove: programs gone; /var/lib/kmsd (identity, registry), /etc/kmsd/kmsd.conf, /var/log/kmsd and the user kept"
    ;;

reinstalled-state)
    sha256sum -c --quiet /root/identity.sha256 || fail "the identity changed on reinstallation"
    as_kmsd /usr/sbin/kmsd clients --state-dir /var/lib/kmsd --format csv | grep -q deb-check-pc ||
        fail "the registry lost its client on reinstallation"
    ok "installed again: the same identity and registry"
    ;;

purged)
    for p in kmsd kmsc; do
        case "$(status $p)" in "" | "unknown ok not-installed" | "purge ok not-installed") ;;
        *) fail "$p after purge: $(status $p)" ;; esac
    done
    for f in /var/lib/kmsd /var/log/kmsd /etc/kmsd /etc/logrotate.d/kmsd /usr/bin/kmsc /lib/systemd/system/kmsd.service \
        /etc/systemd/system/multi-user.target.wants/kmsd.service; do
        [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f is still there"
    done
    ! dpkg-statoverride --list /etc/kmsd/kmsd.conf >/dev/null || fail "the dpkg-statoverride is still there"
    getent passwd kmsd >/dev/null || fail "the user kmsd is gone (README.Debian says purge keeps it)"
    ok "purge: /var/lib/kmsd, /var/log/kmsd, /etc/kmsd, the statoverride and the enablement gone; the user kmsd kept"
    ;;
*)
    fail "unknown phase"
    ;;
esac
