#!/bin/bash
# --products-file: product data without a rebuild. A copy of data/products.tsv with a new KMS id, a SKU of it and a
# CSVLK link to it (fresh GUIDs) passes `kmsd products check`; a broken copy fails it (exit 2) naming the line and the
# rule, as the build's generator does. kmsd started without the file answers the new ids as an unknown product (the
# default --products all: answered, logged and recorded under the KMS id); the file written into the INI file and a
# SIGHUP swap the table: the same activation is logged and recorded under the new product's name, /api/v1/host and
# /api/v1/products name the file and its SHA-256, the host keeps its ePIDs, and /metrics counts the new id under
# "unknown" (sized at start). A broken file and SIGHUP: logged with its line and rule, the table stays, kmsd serves.
# Removing the line goes back to the built-in table. kmsd started with the broken file exits 2 naming line and rule.
. "$(dirname "$0")/lib.sh"
APP=55c92734-d682-4d71-983e-d6ec3f16059f # Windows
KMS_ID=3f6c9d1e-8b47-4a25-9e0d-7c1b2a5f4e63
SKU_ID=a9e27b54-1c3d-4f86-b0a2-5d7e8c9f1b24
NEW=$TMP/products.tsv
BAD=$TMP/broken.tsv
cp "$SOURCE_ROOT/data/products.tsv" "$NEW"
printf 'kms\t%s\twindows\t25\t6\t-\tWindows 12 Test (Volume)\n' "$KMS_ID" >>"$NEW"
printf 'sku\t%s\t%s\twin12test\tABCDE-FGHIJ-KLMNO-PQRST-VWXY2\t-\tWindows 12 Test Enterprise\n' "$SKU_ID" "$KMS_ID" >>"$NEW"
printf 'activates\twin2025\t%s\n' "$KMS_ID" >>"$NEW"
cp "$NEW" "$BAD"
printf 'activates\twin2099\t%s\n' "$KMS_ID" >>"$BAD"
BAD_LINE=$(wc -l <"$BAD")

# --- kmsd products check: the good file (what it adds to the built-in table), the broken one (line and rule, as the
# generator says it)
expect_rc 0 "$KMSD" products check "$NEW"
grep -q "^$NEW: valid" "$TMP/out" || fail "check: $(cat "$TMP/out")"
grep -q "+ kms    $KMS_ID  Windows 12 Test (Volume)" "$TMP/out" || fail "check does not show the new KMS id: $(cat "$TMP/out")"
grep -q "+ sku    $SKU_ID  Windows 12 Test Enterprise" "$TMP/out" || fail "check does not show the new SKU"
grep -q "sha256 $(sha256sum "$NEW" | cut -d' ' -f1)" "$TMP/out" || fail "check: not the file's SHA-256"
expect_rc 2 "$KMSD" products check "$BAD"
grep -qx "$BAD:$BAD_LINE: error: csvlk_key: unknown CSVLK 'win2099'" "$TMP/out" || fail "check of the broken file: $(cat "$TMP/out")"
"$PYTHON" "$SOURCE_ROOT/scripts/gen_products.py" "$BAD" "$TMP/gen.c" >"$TMP/gen.out" 2>&1 && fail "the generator accepts the broken file"
[ "$(head -1 "$TMP/gen.out")" = "$(head -1 "$TMP/out")" ] || fail "generator and check differ: $(head -1 "$TMP/gen.out")"
expect_rc 2 "$KMSD" products check "$TMP/nothing.tsv"
grep -q "cannot read: No such file or directory" "$TMP/out" || fail "check of a missing file: $(cat "$TMP/out")"
# no subcommand, or one that is not: exit 2 saying what to write
expect_rc 2 "$KMSD" products
grep -q "^kmsd products: name what to do: check FILE or list$" "$TMP/out" || fail "products alone: $(head -1 "$TMP/out")"
expect_rc 2 "$KMSD" products chek "$NEW"
grep -q '^kmsd products: "chek" is not check or list$' "$TMP/out" || fail "products chek: $(head -1 "$TMP/out")"
# kmsd products list: the table a configuration uses
expect_rc 0 "$KMSD" products list --products-file "$NEW" --format json
"$PYTHON" - "$TMP/out" "$NEW" "$SKU_ID" <<'PY' || fail "products list --format json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["table"]["source"] == sys.argv[2] and not j["table"]["builtin"], j["table"]
assert [s["name"] for s in j["skus"] if s["id"] == sys.argv[3]] == ["Windows 12 Test Enterprise"]
PY
expect_rc 0 "$KMSD" products list
grep -q "^table   built-in" "$TMP/out" || fail "products list: $(head -3 "$TMP/out")"
grep -q "$SKU_ID" "$TMP/out" && fail "the built-in table lists the test SKU"

# --- started with the broken file: exit 2, the line and the rule on stderr
expect_rc 2 "$KMSD" --products-file "$BAD" --state-dir "$TMP/state0" -L "127.0.0.1:$(free_port)" --no-http
grep -q "kmsd: --products-file: $BAD:$BAD_LINE: error: csvlk_key: unknown CSVLK 'win2099'" "$TMP/out" ||
    fail "start with the broken file: $(cat "$TMP/out")"

# --- kmsd without the file
CONF=$TMP/kmsd.conf
printf 'log-level = info\n' >"$CONF"
start_kmsd -c "$CONF"
LOG=$TMP/kmsd.log
activate() { # CMID: the new product's activation, answered
    "$KMSC" -q --app "$APP" --sku "$SKU_ID" --kms "$KMS_ID" --cmid "$1" "127.0.0.1:$PORT" || fail "kmsc for cmid $1"
}
product_of() { # CMID: the product the registry records for it
    "$KMSD" clients --state-dir "$TMP/state" --format json |
        "$PYTHON" -c 'import json, sys; print([r["product"] for r in json.load(sys.stdin) if r["cmid"] == sys.argv[1]][0])' "$1"
}
api() { # PATH: the JSON of a GET
    "$PYTHON" -c 'import json, sys, urllib.request; json.dump(json.load(urllib.request.urlopen(sys.argv[1], timeout=5)), sys.stdout)' \
        "http://127.0.0.1:$HTTP_PORT$1"
}
CMID=6b1f0e4a-2c3d-4e5f-8a9b-0c1d2e3f4a5b
activate "$CMID"
wait_lines 1 "cmid $CMID" "no log line for the activation" "$LOG"
grep -q "\" $KMS_ID v6.0 cmid $CMID status .*: activated" "$LOG" || fail "without the file, not the unknown id: $(grep "cmid $CMID" "$LOG")"
wait_recorded 1
[ "$(product_of "$CMID")" = "$KMS_ID" ] || fail "recorded as $(product_of "$CMID") without the file"
api /api/v1/host >"$TMP/host0.json"
"$PYTHON" - "$TMP/host0.json" "$(sha256sum "$SOURCE_ROOT/data/products.tsv" | cut -d' ' -f1)" <<'PY' ||
import json, sys
t = json.load(open(sys.argv[1]))["product_table"]
assert t["source"] == "built-in" and t["builtin"] and t["kms"] == 35 and t["sha256"] == sys.argv[2], t
PY
    fail "/api/v1/host product_table before the reload (the built-in table is data/products.tsv's)"

# --- the file in the INI file, SIGHUP: the new table answers
printf 'log-level = info\nproducts-file = %s\n' "$NEW" >"$CONF"
hup_and_wait 1
grep -q "reload: 1 option(s) applied (products-file); 0 need a restart" "$LOG" || fail "reload: $(grep reload: "$LOG")"
grep -q "reload: product table $NEW: 3 applications, 36 KMS ids, 258 SKUs, 45 CSVLKs, 30 builds, sha256 .* in use (0 new ePID(s))" "$LOG" ||
    fail "no product table line: $(grep reload: "$LOG")"
grep -q 'reload: 1 KMS id(s) of the new table are counted as product "unknown"' "$LOG" || fail "no metrics note"
activate "$CMID"
wait_lines 2 "cmid $CMID" "no log line for the second activation" "$LOG"
grep -q "\" Windows 12 Test Enterprise v6.0 cmid $CMID status .*: activated" "$LOG" ||
    fail "after the reload, not the new product: $(grep "cmid $CMID" "$LOG")"
wait_recorded 2
[ "$(product_of "$CMID")" = "Windows 12 Test Enterprise" ] || fail "recorded as $(product_of "$CMID") after the reload"
api /api/v1/host >"$TMP/host1.json"
api "/api/v1/products?q=win12test" >"$TMP/products1.json"
"$PYTHON" - "$TMP/host0.json" "$TMP/host1.json" "$TMP/products1.json" "$NEW" "$(sha256sum "$NEW" | cut -d' ' -f1)" <<'PY' ||
import json, sys
h0, h1, p = (json.load(open(f)) for f in sys.argv[1:4])
path, sha = sys.argv[4], sys.argv[5]
for t in (h1["product_table"], p["table"]):
    assert t["source"] == path and not t["builtin"] and t["sha256"] == sha and t["kms"] == 36 and t["skus"] == 258, t
assert [s["name"] for s in p["skus"]] == ["Windows 12 Test Enterprise"], p["skus"]
assert h1["epids"] == h0["epids"] and h1["hwid"] == h0["hwid"], "the identity changed"
PY
    fail "the API after the reload"
unknown=$("$PYTHON" "$IT_DIR/http_api.py" metric "http://127.0.0.1:$HTTP_PORT" kmsd_activations_total version=6 \
    product=unknown result=answered) || fail "no unknown product in /metrics"
[ "$unknown" = 2 ] || fail "/metrics counts $unknown unknown activations, want 2 (the new id, sized at start)"

# --- a broken file and SIGHUP: logged with its line and rule, the table in use stays, kmsd serving
cp "$BAD" "$NEW"
hup_and_wait 2
grep -q "reload: the configuration does not load, the running one stays: kmsd: --products-file: $NEW:$BAD_LINE: error: csvlk_key: unknown CSVLK 'win2099'" "$LOG" ||
    fail "no line for the broken file: $(grep reload: "$LOG" | tail -2)"
CMID2=7c2a1f5b-3d4e-4f60-9b0c-1d2e3f4a5b6c
activate "$CMID2"
wait_lines 1 "cmid $CMID2" "no log line for the activation after the bad reload" "$LOG"
grep -q "\" Windows 12 Test Enterprise v6.0 cmid $CMID2 status .*: activated" "$LOG" || fail "the table did not stay"
api /api/v1/host >"$TMP/host2.json"
cmp -s <("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["product_table"])' "$TMP/host1.json") \
    <("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["product_table"])' "$TMP/host2.json") ||
    fail "the product table changed after a bad reload"

# --- the line removed: the built-in table again
printf 'log-level = info\n' >"$CONF"
hup_and_wait 3
grep -q "reload: product table built-in: 3 applications, 35 KMS ids" "$LOG" || fail "not back to built-in: $(grep reload: "$LOG" | tail -2)"
CMID3=8d3b2a6c-4e5f-4071-8c1d-2e3f4a5b6c7d
activate "$CMID3"
wait_lines 1 "cmid $CMID3" "no log line for the activation after going back" "$LOG"
grep -q "\" $KMS_ID v6.0 cmid $CMID3 status .*: activated" "$LOG" || fail "the built-in table is not back"
api /api/v1/host | "$PYTHON" -c 'import json, sys; t = json.load(sys.stdin)["product_table"]; sys.exit(0 if t["builtin"] else 1)' ||
    fail "/api/v1/host after going back"
kill -0 "$KMSD_PID" || fail "kmsd stopped"
stop_kmsd
echo "30-products-file: check and list, a new product by SIGHUP (logged, recorded, API, metrics), a broken file kept out, back to built-in"
