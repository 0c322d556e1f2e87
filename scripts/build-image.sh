#!/usr/bin/env bash
# make image: kmsd's container image, built from Debian packages without pulling a base image or running a
# container (this needs neither a Docker engine nor a container runtime, only root and the Debian mirror):
#  1. make deb has built kmsd and kmsc (build-deb/);
#  2. mmdebstrap makes the root file system: Debian 12 (bookworm), the Essential packages and kmsd, kmsc and
#     their dependencies (the two .debs reach dpkg in the chroot through mmdebstrap's file-mirror-automount
#     hook), nothing else: no apt (the image is rebuilt, not upgraded in place), not usrmerge and the perl it
#     needs (the merged-usr hook sets up /usr as bookworm has it and installs usr-is-merged instead); manual
#     pages, documentation other than the copyright files and translations left out, apt's lists and caches
#     and the logs removed, /dev empty (the container engine fills it; device nodes in a layer trouble rootless
#     engines). The user kmsd is made, with the number packaging/Containerfile's USER gives it, before the
#     package's postinst runs (which keeps an existing kmsd user);
#  3. buildah turns it into an image: `buildah from scratch`, the file system as one layer, then the runtime
#     settings of packaging/Containerfile's final stage (scripts/containerfile-config.py reads them), committed
#     in the Docker image format, because the OCI format has no HEALTHCHECK (buildah and podman drop it there);
#  4. the image is written as a docker-archive (what `docker save` writes; `docker load` and `podman load` read
#     it): build-image/kmsd-VERSION-ARCH.tar, named localhost/kmsd:VERSION.
# buildah keeps its storage in build-image/storage (vfs, nothing under /var/lib/containers) and removes it at the
# end. tests/package/image-check.sh (make image-check) starts what this builds.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
OUT=$SRC/build-image
CONTAINERFILE=$SRC/packaging/Containerfile

fail() { echo "image: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (mmdebstrap's root mode, buildah's storage)"

version=$(dpkg-parsechangelog -S Version)
upstream=${version%-*}
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
KMSD_DEB=$SRC/build-deb/kmsd_${version}_${arch}.deb
KMSC_DEB=$SRC/build-deb/kmsc_${version}_${arch}.deb
[ -f "$KMSD_DEB" ] && [ -f "$KMSC_DEB" ] || fail "no packages in build-deb: make deb first"
ARCHIVE=$OUT/kmsd-$upstream-$arch.tar
NAME=localhost/kmsd:$upstream

mapfile -t settings < <(python3 scripts/containerfile-config.py buildah "$CONTAINERFILE") ||
    fail "cannot read the runtime settings of $CONTAINERFILE"
user=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["User"])' \
    < <(python3 scripts/containerfile-config.py json "$CONTAINERFILE"))
[[ "$user" =~ ^([1-9][0-9]*):([1-9][0-9]*)$ ]] || fail "the Containerfile's USER must be UID:GID, not root: '$user'"
uid=${BASH_REMATCH[1]} gid=${BASH_REMATCH[2]}

start=$(date +%s)
rm -rf "$OUT"
mkdir -p "$OUT"

# --- 2. the root file system
echo "image: mmdebstrap --variant=essential bookworm with $(basename "$KMSD_DEB") and $(basename "$KMSC_DEB")"
# the user as the Containerfile's useradd makes it (passwd, which has useradd, is not Essential); pwconv, run when
# passwd is installed, adds its shadow entry
mkuser="echo 'kmsd:x:$gid:' >>\"\$1/etc/group\"; \
echo 'kmsd:x:$uid:$gid:kmsd KMS host:/var/lib/kmsd:/usr/sbin/nologin' >>\"\$1/etc/passwd\""
# what an image does not need: the logs of the installation, backups (mmdebstrap removes apt's lists and caches)
cleanup='rm -rf "$1"/var/log/* "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old "$1"/etc/machine-id'
# libpq5: the kmsd package recommends it (a PostgreSQL registry, --db postgresql://) and mmdebstrap installs no
# recommends by itself
mmdebstrap --quiet --mode=root --format=tar --variant=essential \
    --include="$KMSD_DEB" --include="$KMSC_DEB" --include=libpq5 \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr --skip=output/dev \
    --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --essential-hook="$mkuser" \
    --customize-hook='chroot "$1" getent passwd kmsd >&2' \
    --customize-hook="$cleanup" \
    bookworm "$OUT/rootfs.tar" >"$OUT/mmdebstrap.log" 2>&1 ||
    { tail -n 30 "$OUT/mmdebstrap.log" >&2; fail "mmdebstrap failed (the whole log: build-image/mmdebstrap.log)"; }
# /dev itself, empty (mmdebstrap's output/dev skip leaves the directory out too): the engine mounts its own there
mkdir -p "$OUT/empty/dev"
tar -rf "$OUT/rootfs.tar" -C "$OUT/empty" --no-recursion --numeric-owner --owner=0 --group=0 --mode=0755 ./dev
rm -rf "$OUT/empty"
grep -qx "kmsd:x:$uid:$gid:kmsd KMS host:/var/lib/kmsd:/usr/sbin/nologin" "$OUT/mmdebstrap.log" ||
    fail "the root file system's kmsd user is not $uid:$gid: $(grep '^kmsd:' "$OUT/mmdebstrap.log")"

# --- 3. the image
B=(buildah --root "$OUT/storage" --runroot "$OUT/run" --storage-driver vfs)
export BUILDAH_FORMAT=docker
c=$("${B[@]}" from --quiet scratch)
"${B[@]}" add --quiet "$c" "$OUT/rootfs.tar" / >/dev/null
"${B[@]}" config "${settings[@]}" --created-by "make image (scripts/build-image.sh)" "$c"
"${B[@]}" commit --quiet --rm "$c" "$NAME" >/dev/null

# --- 4. the archive
rm -f "$ARCHIVE"
"${B[@]}" push --quiet "$NAME" "docker-archive:$ARCHIVE:$NAME"
"${B[@]}" rmi --all >/dev/null
rm -rf "$OUT/storage" "$OUT/run" "$OUT/rootfs.tar"

layer=$(tar -tvf "$ARCHIVE" | awk '$6 ~ /^[0-9a-f]+\.tar$/ { print $3 }')
echo "image: $NAME in build-image/$(basename "$ARCHIVE"): $(( $(stat -c %s "$ARCHIVE") / 1000000 )) MB" \
    "(the layer, uncompressed: $(( layer / 1000000 )) MB); docker load -i or podman load -i reads it;" \
    "made in $(($(date +%s) - start)) s"
