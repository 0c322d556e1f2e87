#!/usr/bin/env bash
# make deb: builds the Debian packages kmsd and kmsc from debian/ with `dpkg-buildpackage -us -uc -b`, then runs
# lintian on them (any error fails; its whole report is build-deb/lintian.txt). The build runs on a copy of the
# tree in build-deb/kmsd-VERSION, so that what it leaves (obj-*, debian/tmp, debian/kmsd, the packages that
# dpkg-buildpackage writes into the parent directory) stays out of the work tree; the packages end up in
# build-deb/: kmsd_VERSION_ARCH.deb, kmsc_VERSION_ARCH.deb, the .changes and the .buildinfo.
# DEB_BUILD_OPTIONS defaults to nocheck: `make check` runs every test (the package build would run the unit, kmsc
# and fuzz-corpus suites; DEB_BUILD_OPTIONS= make deb does that).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=build-deb
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
src="$OUT/kmsd-${version%-*}"

rm -rf "$OUT"/kmsd-*/ "$OUT"/*.deb "$OUT"/*.changes "$OUT"/*.buildinfo "$OUT"/lintian.txt
mkdir -p "$src"
# The tree as it is, uncommitted changes included: in a git checkout the files git knows or would add (so no
# build directories, ./var or ignored files), else everything but those.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude=./build --exclude='./build-*' --exclude=./var --exclude=./.git -cf - . | tar -xf - -C "$src"
fi

echo "deb: dpkg-buildpackage -us -uc -b in $src (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS-nocheck})"
(cd "$src" && DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS-nocheck} dpkg-buildpackage -us -uc -b -jauto) >"$OUT/build.log" 2>&1 ||
    { tail -n 40 "$OUT/build.log" >&2; echo "deb: dpkg-buildpackage failed; the whole log is $OUT/build.log" >&2; exit 1; }

changes="$OUT/kmsd_${version}_${arch}.changes"
for p in kmsd kmsc; do
    [ -f "$OUT/${p}_${version}_${arch}.deb" ] || { echo "deb: $OUT/${p}_${version}_${arch}.deb was not built" >&2; exit 1; }
done

# lintian as a maintainer runs it before an upload: every tag but the pedantic and experimental ones; as nobody
# when run by root (lintian advises against root)
lintian_as=()
if [ "$(id -u)" -eq 0 ]; then lintian_as=(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/tmp); fi
lintian_rc=0
"${lintian_as[@]}" lintian --display-info --fail-on error "$changes" >"$OUT/lintian.txt" 2>&1 || lintian_rc=$?
if [ -s "$OUT/lintian.txt" ]; then
    sed 's/^/lintian: /' "$OUT/lintian.txt"
else
    echo "lintian: no tags"
fi
if [ "$lintian_rc" -ne 0 ]; then
    echo "deb: lintian reports errors (exit $lintian_rc)" >&2
    exit 1
fi
echo "deb: built $OUT/kmsd_${version}_${arch}.deb and $OUT/kmsc_${version}_${arch}.deb"
