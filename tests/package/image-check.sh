#!/usr/bin/env bash
# make image-check: the container image that make image built (build-image/kmsd-VERSION-ARCH.tar), started as a
# container engine would start it. This machine cannot run a container engine, so the test does its part:
#  1. the image's configuration (User, Env, ExposedPorts, Volumes, WorkingDir, Entrypoint, Cmd, StopSignal,
#     Healthcheck, Labels) is packaging/Containerfile's final stage, as scripts/containerfile-config.py reads both;
#     buildah pulls the archive as podman load would (its name, the health check kept);
#  2. the image's own root file system, extracted from the archive's layers (not mmdebstrap's output), holds the
#     user kmsd with the USER's number, /var/lib/kmsd as that user's 0700, no apt, an empty /dev;
#  3. the entrypoint, started with the image's environment (and nothing else) as its USER, in WorkingDir, as PID 1
#     of new mount, PID and network namespaces (lo up, with a second, non-loopback address 10.168.8.1), chroot
#     into the root file system mounted read-only, a fresh /dev and /proc, and the VOLUME bind-mounted from
#     build-image/volume (first filled as an engine fills a new named volume: the image's directory, its owner
#     and mode):
#     - without KMSD_HTTP_TOKEN it refuses to start (exit 2, naming http-token): the image's KMSD_HTTP serves
#       every address and kmsd wants a token there;
#     - with KMSD_HTTP_TOKEN and KMSD_HWID: the image's kmsc, in the same namespaces, as the same user, activates
#       against 127.0.0.1:1688 and sees that HWID; the HEALTHCHECK's command, run as the image config gives it
#       (within its timeout), exits 0; /healthz and /readyz answer 200 with the token, 401 without it, on
#       127.0.0.1:8080 and on 10.168.8.1:8080; kmsd runs as the USER; writing to the root file system fails
#       (so it works with Kubernetes' readOnlyRootFilesystem); the registry and identity are in the volume,
#       the user's, 0600;
#     - SIGTERM (the image's STOPSIGNAL) stops it with exit 0; `kmsd clients` lists the activation; started
#       again on the same volume it answers with the same ePID;
#     - on a new volume as Kubernetes' fsGroup makes it (root's, group-writable, setgid) it runs as well;
#  4. packaging/kubernetes.yaml parses (python3-yaml) and agrees with the image: its user, read-only root, the
#     claim on the volume, the probes (/healthz, /readyz) carrying the Secret's token.
# Everything runs under timeouts; kmsd's processes end with their PID namespace, its mounts with its mount
# namespace. Needs root and namespaces; make image (which this follows) needs the Debian mirror.
# `image-check.sh --probe` prints why it cannot run here (exit 1) or nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$(pwd)
OUT=$SRC/build-image
ROOT=$OUT/root
VOL=$OUT/volume
HTTP_ALT=10.168.8.1 # the second address in the test's network namespace

probe() {
    [ "$(id -u)" -eq 0 ] || { echo "not root (mmdebstrap, buildah's storage, the namespaces and chroot need root)"; return 1; }
    command -v apt-get >/dev/null && command -v dpkg >/dev/null || { echo "no apt-get and dpkg here"; return 1; }
    for t in unshare nsenter chroot ip python3; do
        command -v $t >/dev/null || { echo "no $t here"; return 1; }
    done
    unshare --mount --pid --net --fork true 2>/dev/null ||
        { echo "cannot create mount, PID and network namespaces here"; return 1; }
    timeout 120 apt-get update -qq --error-on=any >/dev/null 2>&1 ||
        { echo "apt-get update fails: the Debian mirror cannot be reached (make image needs it)"; return 1; }
}
if [ "${1:-}" = --probe ]; then
    probe
    exit
fi
why=$(probe) || { echo "image-check: cannot run here: $why" >&2; exit 1; }

start=$(date +%s)
fail() { echo "image-check: FAIL: $*" >&2; exit 1; }
ok() { echo "image-check: $*"; }
PY=$(python3 -c 'import sys; print(sys.executable)') # the interpreter itself, not a shim (it runs in namespaces)

version=$(dpkg-parsechangelog -S Version)
ARCHIVE=$OUT/kmsd-${version%-*}-$(dpkg-architecture -qDEB_HOST_ARCH).tar
[ -f "$ARCHIVE" ] || fail "no $ARCHIVE: make image first"

cleanup() {
    if grep -qF " $OUT/" /proc/self/mountinfo; then
        echo "image-check: something is still mounted under $OUT; left in place" >&2
    else
        rm -rf "$ROOT" "$OUT/volume" "$OUT/volume-fsgroup" "$OUT/cfg" "$OUT/load-storage" "$OUT/load-run"
    fi
}
trap cleanup EXIT

# --- 1. the image's configuration is the Containerfile's
"$PY" scripts/containerfile-config.py archive "$ARCHIVE" >"$OUT/config.image.json"
"$PY" scripts/containerfile-config.py json packaging/Containerfile >"$OUT/config.containerfile.json"
cmp -s "$OUT/config.image.json" "$OUT/config.containerfile.json" ||
    fail "the image's configuration is not the Containerfile's: $(diff "$OUT/config.containerfile.json" "$OUT/config.image.json")"
ok "the image's configuration is packaging/Containerfile's final stage (user, environment, ports, volume, entrypoint, health check)"

# the configuration as shell values: NUL-separated lists in build-image/cfg/
mkdir -p "$OUT/cfg"
"$PY" - "$OUT/config.image.json" "$OUT/cfg" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
d = sys.argv[2]
def put(name, items):
    with open(f"{d}/{name}", "w") as f:
        f.write("".join(f"{x}\0" for x in items))
put("env", c["Env"])
put("argv", (c["Entrypoint"] or []) + (c["Cmd"] or []))
put("health", c["Healthcheck"]["Test"] if c.get("Healthcheck") else [])
put("scalars", [c["User"], c["WorkingDir"] or "/", c["StopSignal"] or "SIGTERM",
                str(c["Healthcheck"].get("Timeout", 30 * 10**9) // 10**9) if c.get("Healthcheck") else "30",
                " ".join(c["Volumes"]), " ".join(c["ExposedPorts"])])
PY
mapfile -d '' -t IMAGE_ENV <"$OUT/cfg/env"
mapfile -d '' -t ARGV <"$OUT/cfg/argv"
mapfile -d '' -t HEALTH <"$OUT/cfg/health"
mapfile -d '' -t s <"$OUT/cfg/scalars"
USER_SPEC=${s[0]} WORKDIR=${s[1]} STOPSIGNAL=${s[2]} HEALTH_TIMEOUT=${s[3]} VOLUMES=${s[4]} PORTS=${s[5]}
[[ "$USER_SPEC" =~ ^([1-9][0-9]*):([1-9][0-9]*)$ ]] || fail "the image's User is not a non-root UID:GID: '$USER_SPEC'"
uid=${BASH_REMATCH[1]} gid=${BASH_REMATCH[2]}
[ "$VOLUMES" = /var/lib/kmsd ] || fail "the image's volumes: $VOLUMES"
[ "$PORTS" = "1688/tcp 8080/tcp" ] || fail "the image's exposed ports: $PORTS"
[ "${#ARGV[@]}" -gt 0 ] || fail "the image has no entrypoint"
[ "${#HEALTH[@]}" -gt 1 ] || fail "the image has no health check"

# what podman load does (the same containers/image library), into a storage of its own: the archive loads, under
# its name, with its health check
if command -v buildah >/dev/null; then
    L=(buildah --root "$OUT/load-storage" --runroot "$OUT/load-run" --storage-driver vfs)
    name=$(tar -xOf "$ARCHIVE" manifest.json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)[0]["RepoTags"][0])')
    "${L[@]}" pull --quiet "docker-archive:$ARCHIVE" >/dev/null 2>"$OUT/load.err" || fail "buildah pull docker-archive: $(cat "$OUT/load.err")"
    hc=$("${L[@]}" inspect --type image --format '{{.Docker.Config.Healthcheck.Test}}' "$name" 2>&1) ||
        fail "the loaded image is not named $name: $hc"
    "${L[@]}" rmi --all >/dev/null 2>&1 || true
    rm -rf "$OUT/load-storage" "$OUT/load-run"
    [ "$hc" = "[${HEALTH[*]}]" ] || fail "the loaded image's health check: $hc"
    ok "the archive loads as $name (buildah pull docker-archive:, as podman load), health check kept"
fi

# --- 2. the image's root file system, from the archive's layers
grep -qF " $OUT/" /proc/self/mountinfo && fail "something is mounted under $OUT"
rm -rf "$ROOT" "$VOL"
mkdir -p "$ROOT"
mapfile -t layers < <("$PY" -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))[0]["Layers"]))' \
    <(tar -xOf "$ARCHIVE" manifest.json))
for l in "${layers[@]}"; do
    tar -xOf "$ARCHIVE" "$l" | tar -tf - | grep -q '\.wh\.' && fail "layer $l has whiteouts, which this test does not apply"
    tar -xOf "$ARCHIVE" "$l" | tar -xpf - --numeric-owner -C "$ROOT"
done
pw=$(grep '^kmsd:' "$ROOT/etc/passwd" || true)
[ "$(cut -d: -f3,4 <<<"$pw")" = "$uid:$gid" ] || fail "the image's user kmsd is not $uid:$gid: '$pw'"
[ "$(cut -d: -f6,7 <<<"$pw")" = /var/lib/kmsd:/usr/sbin/nologin ] || fail "the user kmsd: '$pw'"
[ "$(stat -c '%u:%g %a' "$ROOT/var/lib/kmsd")" = "$uid:$gid 700" ] ||
    fail "/var/lib/kmsd in the image is $(stat -c '%u:%g %a' "$ROOT/var/lib/kmsd")"
[ -z "$(find "$ROOT/var/lib/apt/lists" -mindepth 1 -maxdepth 1 ! -name lock ! -name partial 2>/dev/null)" ] ||
    fail "the image holds apt lists"
[ ! -e "$ROOT/usr/bin/apt-get" ] || fail "the image holds apt"
[ -d "$ROOT/dev" ] && [ -z "$(ls -A "$ROOT/dev")" ] || fail "/dev in the image is not an empty directory"
compgen -G "$ROOT/usr/lib/*/libpq.so.5" >/dev/null || fail "the image lacks libpq5 (a PostgreSQL registry, --db postgresql://)"
ok "root file system: ${#layers[@]} layer(s), $(du -sm "$ROOT" | cut -f1) MB; user kmsd $uid:$gid" \
    "(/usr/sbin/nologin), /var/lib/kmsd $uid:$gid 0700, no apt, /dev empty, libpq5 for a PostgreSQL registry"
# a new named volume: the image's directory as it is (docker and podman copy it, owner and mode kept)
cp -a "$ROOT/var/lib/kmsd" "$VOL"

HOME_DIR=$(cut -d: -f6 <<<"$pw")
# the environment an engine gives the entrypoint: the image's, HOSTNAME, HOME of the user, then the run's -e
run_env() { printf '%s\0' HOSTNAME=kmsd-image-check "HOME=$HOME_DIR" "${IMAGE_ENV[@]}" "$@"; }

# SECONDS ENVFILE CMD...: CMD as PID 1 of new mount, PID and network namespaces, chrooted into the image's root
# file system mounted read-only, the volume read-write, as the image's user with ENVFILE's environment (NUL-
# separated), in WorkingDir; within SECONDS (0: no limit). The new root is a bind mount of build-image/root in the
# new mount namespace only. It replaces the shell it runs in: call it in a subshell, ( ... ) or &.
in_container() {
    local limit=()
    if [ "$1" -gt 0 ]; then limit=(timeout "$1"); fi
    shift
    exec "${limit[@]}" unshare --mount --pid --net --fork --kill-child -- bash -c '
        set -e
        root=$1 vol=$2 uid=$3 gid=$4 wd=$5 alt=$6 envfile=$7; shift 7
        ip link set lo up
        ip addr add "$alt/32" dev lo
        mount --bind "$root" "$root"
        mount -o remount,bind,ro "$root"
        mount --bind "$vol" "$root/var/lib/kmsd"
        mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
        mount -t tmpfs -o nosuid,mode=0755,size=64k tmpfs "$root/dev"
        for d in null zero full random urandom tty; do
            touch "$root/dev/$d"
            mount --bind "/dev/$d" "$root/dev/$d"
        done
        mkdir "$root/dev/shm"
        mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=1m tmpfs "$root/dev/shm"
        ln -s /proc/self/fd "$root/dev/fd"
        mapfile -d "" -t env <"$envfile"
        exec chroot --userspec="$uid:$gid" --groups="$gid" "$root" /usr/bin/env -i -C "$wd" "${env[@]}" "$@"
    ' in_container "$ROOT" "$VOL" "$uid" "$gid" "$WORKDIR" "$HTTP_ALT" "$@"
}

# --- 3a. without a token: refused
run_env >"$OUT/cfg/run0"
rc=0
(in_container 20 "$OUT/cfg/run0" "${ARGV[@]}") >"$OUT/run0.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -q 'http-token' "$OUT/run0.log" ||
    fail "without KMSD_HTTP_TOKEN the entrypoint exited $rc, not 2 naming http-token: $(cat "$OUT/run0.log")"
ok "without KMSD_HTTP_TOKEN kmsd refuses to serve HTTP on every address: exit 2, \"$(head -n 1 "$OUT/run0.log")\""

# --- 3b. with a token and a HWID
TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
HWID=1688C0FFEE0FF1CE
kpid='' upid=''
container_up() { # ENVFILE LOG: the entrypoint started, kpid its PID here, ready when kmsc activates
    in_container 0 "$1" "${ARGV[@]}" >"$2" 2>&1 &
    upid=$!
    for _ in $(seq 50); do
        kpid=$(awk '{ print $1 }' "/proc/$upid/task/$upid/children" 2>/dev/null || true)
        [ -n "$kpid" ] && [ "$(readlink "/proc/$kpid/root")" = "$ROOT" ] && break
        kpid=
        sleep 0.1
    done
    [ -n "$kpid" ] || fail "the entrypoint did not start: $(cat "$2")"
    for _ in $(seq 50); do
        in_ns /usr/bin/kmsc --quiet --timeout 2 127.0.0.1:1688 >/dev/null 2>&1 && return 0
        kill -0 "$upid" 2>/dev/null || fail "the entrypoint exited: $(cat "$2")"
        sleep 0.2
    done
    fail "kmsd does not answer on 1688 within 10 s: $(cat "$2")"
}
# CMD... in the running container (as docker exec and the HEALTHCHECK run it): its namespaces, root and working
# directory, as its user, with its environment
in_ns() {
    timeout 30 nsenter --target "$kpid" --mount --pid --net --root --wd --setuid "$uid" --setgid "$gid" -- \
        /usr/bin/env -i "${RUN_ENV[@]}" "$@"
}
container_stop() { # the STOPSIGNAL, then the entrypoint's exit status in $stop_rc
    kill -s "${STOPSIGNAL#SIG}" "$kpid"
    stop_rc=0
    timeout 15 tail --pid="$upid" -f /dev/null || fail "kmsd did not stop within 15 s of $STOPSIGNAL"
    wait "$upid" || stop_rc=$?
    kpid='' upid=''
}
stop_on_exit() {
    if [ -n "$kpid" ]; then kill -KILL "$kpid" 2>/dev/null || true; fi
    if [ -n "$upid" ]; then wait "$upid" 2>/dev/null || true; fi
    cleanup
}
trap stop_on_exit EXIT

run_env KMSD_HTTP_TOKEN="$TOKEN" KMSD_HWID="$HWID" >"$OUT/cfg/run1"
mapfile -d '' -t RUN_ENV <"$OUT/cfg/run1"
container_up "$OUT/cfg/run1" "$OUT/run1.log"
grep -E '^(Uid|Gid|Groups|NSpid):' "/proc/$kpid/status" >"$OUT/cfg/status"
grep -qE "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$" "$OUT/cfg/status" && grep -qE "^Gid:\s+$gid\s+$gid\s+$gid\s+$gid$" "$OUT/cfg/status" ||
    fail "kmsd does not run as $uid:$gid: $(cat "$OUT/cfg/status")"
grep -qE '^NSpid:.*\s1$' "$OUT/cfg/status" || fail "kmsd is not PID 1 in its namespace: $(grep NSpid "$OUT/cfg/status")"
ok "the entrypoint (${ARGV[*]}) runs as $uid:$gid, PID 1 of its namespace, and answers on 1688"

in_ns /usr/bin/kmsc --workstation image-check-pc 127.0.0.1:1688 >"$OUT/kmsc.out" 2>&1 ||
    fail "kmsc against the container: exit $?: $(cat "$OUT/kmsc.out")"
grep -qE "^HWID: +$HWID$" "$OUT/kmsc.out" || fail "KMSD_HWID=$HWID is not the HWID kmsd answers with: $(cat "$OUT/kmsc.out")"
epid=$(awk '/^ePID:/ { print $2 }' "$OUT/kmsc.out")
ok "the image's kmsc activates against 127.0.0.1:1688 and verifies the answer; HWID $HWID as KMSD_HWID sets it"

case "${HEALTH[0]}" in
CMD) health=("${HEALTH[@]:1}") ;;
CMD-SHELL) health=(/bin/sh -c "${HEALTH[1]}") ;;
*) fail "health check type ${HEALTH[0]}" ;;
esac
rc=0
timeout "$HEALTH_TIMEOUT" nsenter --target "$kpid" --mount --pid --net --root --wd --setuid "$uid" --setgid "$gid" -- \
    /usr/bin/env -i "${RUN_ENV[@]}" "${health[@]}" >"$OUT/health.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "the HEALTHCHECK (${health[*]}) exited $rc: $(cat "$OUT/health.out")"
ok "the HEALTHCHECK (${health[*]}) exits 0 within ${HEALTH_TIMEOUT} s: $(head -n 1 "$OUT/health.out")"

# HTTP from the container's network namespace, by this machine's Python: URL [TOKEN] prints the status code
http_status() {
    timeout 20 nsenter --target "$kpid" --net -- "$PY" - "$@" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    req.add_header("Authorization", "Bearer " + sys.argv[2])
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
}
for host in 127.0.0.1 "$HTTP_ALT"; do
    for path in /healthz /readyz; do
        st=$(http_status "http://$host:8080$path" "$TOKEN") || st="no answer"
        [ "$st" = 200 ] || fail "GET http://$host:8080$path with the token: $st"
    done
    st=$(http_status "http://$host:8080/healthz") || st="no answer"
    [ "$st" = 401 ] || fail "GET http://$host:8080/healthz without the token: $st, not 401"
done
ok "/healthz and /readyz answer 200 with KMSD_HTTP_TOKEN, 401 without, on 127.0.0.1:8080 and $HTTP_ALT:8080"

rc=0
timeout 10 nsenter --target "$kpid" --mount --root -- /usr/bin/touch /image-check-write-test >"$OUT/write.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && grep -q 'Read-only' "$OUT/write.out" || fail "the root file system is not read-only in the test: $(cat "$OUT/write.out")"
for f in kmsd.db identity; do
    [ "$(stat -c '%u:%g %a' "$VOL/$f" 2>/dev/null)" = "$uid:$gid 600" ] ||
        fail "$f in the volume: $(stat -c '%u:%g %a' "$VOL/$f" 2>&1)"
done
[ "$(stat -c '%u:%g %a' "$VOL")" = "$uid:$gid 700" ] || fail "the volume is $(stat -c '%u:%g %a' "$VOL")"
ok "with the root file system read-only, kmsd keeps its registry and identity in the volume ($uid:$gid 0600)"

container_stop
[ "$stop_rc" -eq 0 ] || fail "kmsd exited $stop_rc after $STOPSIGNAL: $(tail -n 5 "$OUT/run1.log")"
grep -q 'image-check-pc' "$OUT/run1.log" || fail "no activation line in kmsd's standard error"
ok "$STOPSIGNAL stops kmsd, exit 0; it logged to standard error ($(wc -l <"$OUT/run1.log") lines)"

(in_container 20 "$OUT/cfg/run1" /usr/sbin/kmsd clients --format csv) >"$OUT/clients.csv" 2>&1 ||
    fail "kmsd clients: $(cat "$OUT/clients.csv")"
grep -q image-check-pc "$OUT/clients.csv" || fail "the activation is not in the registry: $(cat "$OUT/clients.csv")"

# the same volume, without KMSD_HWID: the identity kept in it
run_env KMSD_HTTP_TOKEN="$TOKEN" >"$OUT/cfg/run2"
mapfile -d '' -t RUN_ENV <"$OUT/cfg/run2"
container_up "$OUT/cfg/run2" "$OUT/run2.log"
in_ns /usr/bin/kmsc 127.0.0.1:1688 >"$OUT/kmsc.out" 2>&1 || fail "kmsc after the restart: $(cat "$OUT/kmsc.out")"
[ "$(awk '/^ePID:/ { print $2 }' "$OUT/kmsc.out")" = "$epid" ] ||
    fail "after a restart on the same volume the ePID changed: $epid, then $(awk '/^ePID:/ { print $2 }' "$OUT/kmsc.out")"
container_stop
[ "$stop_rc" -eq 0 ] || fail "kmsd exited $stop_rc after $STOPSIGNAL (second run)"
ok "the registry lists the client; started again on the same volume kmsd answers with the same ePID"

# a volume as Kubernetes' fsGroup leaves a new one (packaging/kubernetes.yaml): root's, the group's, 2775
VOL=$OUT/volume-fsgroup
rm -rf "$VOL"
install -d -o 0 -g "$gid" -m 2775 "$VOL"
container_up "$OUT/cfg/run2" "$OUT/run3.log"
container_stop
[ "$stop_rc" -eq 0 ] && [ -f "$VOL/kmsd.db" ] || fail "on a volume root:$gid 2775: exit $stop_rc: $(tail -n 5 "$OUT/run3.log")"
rm -rf "$VOL"
VOL=$OUT/volume
ok "on a new volume owned by root, group $gid, mode 2775 (fsGroup) kmsd starts, activates and keeps its registry"

# --- 4. packaging/kubernetes.yaml: YAML, and what it says of the image agrees with the image
if /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
    /usr/bin/python3 - packaging/kubernetes.yaml "$uid" "$gid" <<'PY' || fail "packaging/kubernetes.yaml"
import sys, yaml
docs = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[1]))}
uid, gid = int(sys.argv[2]), int(sys.argv[3])
def need(cond, what):
    if not cond:
        sys.exit(f"image-check: FAIL: packaging/kubernetes.yaml: {what}")
need(set(docs) == {"Secret", "PersistentVolumeClaim", "Deployment", "Service"}, f"kinds {sorted(docs)}")
dep = docs["Deployment"]["spec"]
need(dep["replicas"] == 1, "not one replica")
pod = dep["template"]["spec"]
psc = pod["securityContext"]
need(psc["runAsNonRoot"] and psc["runAsUser"] == uid and psc["runAsGroup"] == gid and psc["fsGroup"] == gid,
     f"the pod's user is not the image's {uid}:{gid}")
c = pod["containers"][0]
need(c["securityContext"]["readOnlyRootFilesystem"] is True, "the root file system is not read-only")
need({p["containerPort"] for p in c["ports"]} == {1688, 8080}, "ports")
mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
claim = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]}
need(claim.get(mounts.get("/var/lib/kmsd")) == docs["PersistentVolumeClaim"]["metadata"]["name"],
     "/var/lib/kmsd is not the claim")
token = docs["Secret"]["stringData"]["token"]
env = {e["name"]: e for e in c["env"]}
need(env["KMSD_HTTP_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == docs["Secret"]["metadata"]["name"],
     "KMSD_HTTP_TOKEN is not the Secret's")
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    g = c[probe]["httpGet"]
    need(g["path"] == path and g["port"] in (8080, "http"), f"{probe} is not GET {path} on 8080")
    need({h["name"]: h["value"] for h in g["httpHeaders"]}.get("Authorization") == "Bearer " + token,
         f"{probe}'s Authorization is not the Secret's token")
need({p["targetPort"] for p in docs["Service"]["spec"]["ports"]} == {"kms", "http"}, "the Service's ports")
PY
    ok "packaging/kubernetes.yaml: valid YAML; one replica as $uid:$gid, read-only root, the claim on /var/lib/kmsd," \
        "liveness /healthz and readiness /readyz with the Secret's token"
else
    ok "no python3-yaml in /usr/bin/python3: packaging/kubernetes.yaml not checked (setup-debian.sh --image installs it)"
fi

echo "image-check: passed in $(($(date +%s) - start)) s"
