#!/usr/bin/env bash
# One JSON form of the registry: for the same clients, the API (/api/v1/clients/{cmid}, /api/v1/stats) and the
# commands (kmsd clients --format json, kmsd stats --format json) give the same keys with the same values.
. "$(dirname "$0")/lib.sh"

start_kmsd
CMID=22222222-3333-4444-8555-0000000000
"$KMSC" -q -n 2 --workstation json-pc-1 --cmid "${CMID}01" "127.0.0.1:$PORT" || fail "kmsc json-pc-1"
"$KMSC" -q --product o2024pp --workstation json-office --cmid "${CMID}01" "127.0.0.1:$PORT" || fail "kmsc office"
"$KMSC" -q --workstation json-pc-2 --cmid "${CMID}02" "127.0.0.1:$PORT" || fail "kmsc json-pc-2"

# the commands read the registry while kmsd runs (WAL), so both views are of the same rows, once folded
wait_recorded 4
"$KMSD" clients --state-dir "$TMP/state" --format json >"$TMP/clients.json" || fail "kmsd clients"
"$KMSD" stats --state-dir "$TMP/state" --format json >"$TMP/stats.json" || fail "kmsd stats"
"$PYTHON" - "http://127.0.0.1:$HTTP_PORT" "$TMP/clients.json" "$TMP/stats.json" "${CMID}01" "${CMID}02" <<'PY' ||
import json, sys, urllib.request

base, clients_file, stats_file, cmids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]


def get(path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return json.load(r)


def same(what, api, cli):
    if set(api) != set(cli):
        sys.exit("%s: keys differ: API only %s, CLI only %s" % (what, sorted(set(api) - set(cli)),
                                                                sorted(set(cli) - set(api))))
    for k in api:
        if api[k] != cli[k]:
            sys.exit("%s: %s is %r in the API, %r in the CLI" % (what, k, api[k], cli[k]))


rows = json.load(open(clients_file))
n = 0
for cmid in cmids:
    api = sorted(get("/api/v1/clients/" + cmid)["entries"], key=lambda e: e["application_id"])
    cli = sorted((r for r in rows if r["cmid"] == cmid), key=lambda e: e["application_id"])
    if len(api) != len(cli) or not api:
        sys.exit("%s: %d entries in the API, %d in the CLI" % (cmid, len(api), len(cli)))
    for a, c in zip(api, cli):
        same("client %s %s" % (cmid, a["application_id"]), a, c)
        n += 1
if n != 3:
    sys.exit("compared %d entries, want 3" % n)

api = get("/api/v1/stats")
cli = json.load(open(stats_file))
if api.pop("registry") is not True or "since_start" not in api or "database" not in cli:
    sys.exit("stats: registry/since_start/database missing")
api.pop("since_start")
cli.pop("database")
same("stats", api, cli)
if api["requests"] != 4 or api["current_count"]["windows"] != 2 or api["current_count"]["office2013"] != 1:
    sys.exit("stats: unexpected counts %r" % api)
print("compared %d entries and the statistics key by key" % n)
PY
    fail "the API and the commands disagree"
stop_kmsd
echo "ok"
