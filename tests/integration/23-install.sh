#!/usr/bin/env bash
# meson install into a staging directory (DESTDIR): the programs, both man pages, the example configuration, the
# documents kmsd(8) refers to (each one it names is installed), and a systemd unit whose ExecStart names kmsd where
# this build installs it (generated from the prefix, not fixed).
. "$(dirname "$0")/lib.sh"

DEST="$TMP/root"
meson install -C "$BUILD_ROOT" --destdir "$DEST" --no-rebuild >"$TMP/install.log" 2>&1 ||
    { cat "$TMP/install.log" >&2; fail "meson install failed"; }
prefix=$(meson introspect --buildoptions "$BUILD_ROOT" |
    "$PYTHON" -c 'import json, sys; o = {x["name"]: x["value"] for x in json.load(sys.stdin)}; print(o["prefix"], o["sbindir"], o["bindir"], o["mandir"], o["datadir"], o["systemd_unit_dir"] or "-", o["service_config"] or "-")')
read -r PREFIX SBINDIR BINDIR MANDIR DATADIR UNITDIR SERVICE_CONFIG <<<"$prefix"
[ "$UNITDIR" = - ] && UNITDIR="$PREFIX/lib/systemd/system"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PREFIX/$1" ;; esac; }
for f in "$(abs "$SBINDIR")/kmsd" "$(abs "$BINDIR")/kmsc"; do
    [ -x "$DEST$f" ] || fail "not installed: $f"
done
[ -f "$DEST$(abs "$MANDIR")/man8/kmsd.8" ] || fail "kmsd(8) not installed"
[ -f "$DEST$(abs "$MANDIR")/man1/kmsc.1" ] || fail "kmsc(1) not installed"
DOCDIR="$DEST$(abs "$DATADIR")/doc/kmsd"
[ -f "$DOCDIR/kmsd.conf.example" ] || fail "the example configuration is not installed"
for f in config.md api.md security.md performance.md; do
    cmp -s "$DOCDIR/$f" "$SOURCE_ROOT/docs/$f" || fail "docs/$f is not installed in share/doc/kmsd"
done
# every document the installed kmsd(8) names (a word ending in .md) is installed beside the example configuration
man8="$DEST$(abs "$MANDIR")/man8/kmsd.8"
named=$(grep -oE '[A-Za-z0-9_./-]+\.md' "$man8" | sort -u)
[ -n "$named" ] || fail "kmsd(8) names no document (the check would prove nothing)"
for f in $named; do
    case "$f" in */*) fail "kmsd(8) names $f by a source path; name it as installed, in share/doc/kmsd" ;; esac
    [ -f "$DOCDIR/$f" ] || fail "kmsd(8) names $f, which is not installed in share/doc/kmsd"
done
unit="$DEST$UNITDIR/kmsd.service"
[ -f "$unit" ] || fail "the systemd unit is not installed"
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
[ "$exec_start" = "$(abs "$SBINDIR")/kmsd" ] || fail "the unit starts $exec_start, kmsd is installed at $(abs "$SBINDIR")/kmsd"
[ -x "$DEST$exec_start" ] || fail "the unit's ExecStart is not an installed program"
grep -qE "@[A-Z]+@" "$unit" && fail "a placeholder was left in the unit"
grep -q "^Type=notify$" "$unit" || fail "the unit is not Type=notify"
# -c only when the build names a configuration file (-Dservice_config, the Debian package's): a plain install has
# none, and a unit passing -c with a missing file would not start
if [ "$SERVICE_CONFIG" = - ]; then
    grep -qE '^ExecStart=.* (-c|--config)( |$)' "$unit" && fail "the unit passes a configuration file, none was configured"
else
    grep -qE "^ExecStart=[^ ]*/kmsd -c $SERVICE_CONFIG " "$unit" || fail "the unit does not pass -c $SERVICE_CONFIG"
fi
[ -f "$DEST$UNITDIR/kmsd.socket" ] || fail "kmsd.socket is not installed"
grep -q "^ListenStream=1688$" "$DEST$UNITDIR/kmsd.socket" || fail "kmsd.socket does not listen on 1688"
if command -v systemd-analyze >/dev/null; then # the units as systemd reads them
    systemd-analyze verify --man=no "$unit" "$DEST$UNITDIR/kmsd.socket" >"$TMP/verify" 2>&1 ||
        { grep -v "is not executable\|No such file" "$TMP/verify" | grep -q . && fail "systemd-analyze verify: $(cat "$TMP/verify")"; }
fi
"$DEST$exec_start" --version | grep -q "^kmsd " || fail "the installed kmsd does not run"
echo "installed under $PREFIX: kmsd at $exec_start, the unit names it"
echo "ok"
