#!/usr/bin/env bash
# Every SKU of the product table activates against kmsd with protocol v4, v5 and v6 and each bind variant
# kmsc offers (NDR32+NDR64+BTFN, NDR32 only, no BTFN), and kmsc verifies every answer.
. "$(dirname "$0")/lib.sh"

start_kmsd
aliases=$(awk -F'\t' '$1 == "sku" { split($4, a, ","); print a[1] }' "$SOURCE_ROOT/data/products.tsv")
n=$(printf '%s\n' "$aliases" | wc -l)
[ "$n" -gt 250 ] || fail "only $n SKUs found in data/products.tsv"
runs=0
for bind in "" "--no-ndr64" "--no-btfn"; do
    for v in -4 -5 -6; do
        # one kmsc per SKU; two at a time (the machine has two cores)
        printf '%s\n' $aliases | xargs -P 2 -I{} sh -c \
            '"$0" -q '"$v $bind"' --product "$1" "127.0.0.1:'"$PORT"'" || { echo "failed: $1 '"$v $bind"'" >&2; exit 255; }' \
            "$KMSC" {} || fail "kmsc failed for a product (see above)"
        runs=$((runs + n))
    done
done
echo "$runs activations verified"
stop_kmsd
echo "ok"
