#!/bin/bash
# The web page in a real browser: Debian's chromium, headless, loads kmsd's page (everything from kmsd's own
# JSON API, nothing from elsewhere); the clients table must show the clients created with kmsc, the products
# table the GVLKs and the chart its SVG. A screenshot is kept as a test artifact in the build's meson-logs.
. "$(dirname "$0")/lib.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser) || fail "chromium is not installed (scripts/setup-debian.sh)"
ARTIFACTS=${BUILD_ROOT:?}/meson-logs
mkdir -p "$ARTIFACTS"

start_kmsd
for i in 1 2 3; do
    "$KMSC" -q --workstation "browser-pc-$i" "127.0.0.1:$PORT" || fail "kmsc browser-pc-$i"
done
"$KMSC" -q --product o2024pp --workstation browser-office "127.0.0.1:$PORT" || fail "kmsc office"
wait_recorded 4 # folded from the journal within 500 ms

# chromium: its own profile in $TMP, no network but loopback needed; bounded by timeout
browse() {
    timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --user-data-dir="$TMP/profile" --virtual-time-budget=10000 "$@" 2>>"$TMP/chromium.log"
}
browse --dump-dom "http://127.0.0.1:$HTTP_PORT/" >"$TMP/dom.html" || {
    tail -20 "$TMP/chromium.log" >&2
    fail "chromium --dump-dom failed"
}
"$PYTHON" - "$TMP/dom.html" <<'PY' || fail "the rendered page does not show what it should"
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
body = dom.split('id="clients"', 1)[1].split("</table>", 1)[0]
rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
names = sorted(re.findall(r"<td>(browser-[a-z0-9-]+)</td>", "".join(rows)))
want = ["browser-office", "browser-pc-1", "browser-pc-2", "browser-pc-3"]
if names != want:
    sys.exit("clients table shows %r, expected %r" % (names, want))
if not re.search(r"1\S4 of 4", dom):
    sys.exit("no '1-4 of 4' client count")
prod = dom.split('id="products"', 1)[1]
if not re.search(r"Office LTSC Professional Plus 2024</td>.*?([0-9A-Z]{5}-){4}[0-9A-Z]{5}", prod, re.S):
    sys.exit("products table without the Office LTSC 2024 GVLK")
if prod.count(">Copy</button>") < 100:
    sys.exit("copy buttons missing")
chart = dom.split('id="chart"', 1)[1]
if "<svg" not in chart.split("</section>", 1)[0] or chart.count("<rect") < 1:
    sys.exit("no SVG chart of activations per day")
if 'id="error" hidden' not in dom:
    sys.exit("the page shows an error")
print("browser: clients table shows", ", ".join(names))
PY
SHOT="$ARTIFACTS/kmsd-web-page.png"
browse --window-size=1280,1600 --screenshot="$SHOT" "http://127.0.0.1:$HTTP_PORT/" >/dev/null ||
    fail "chromium --screenshot failed"
[ -s "$SHOT" ] || fail "no screenshot"
SHOT_PHONE="$ARTIFACTS/kmsd-web-page-phone.png"
browse --window-size=390,1400 --screenshot="$SHOT_PHONE" "http://127.0.0.1:$HTTP_PORT/" >/dev/null ||
    fail "chromium --screenshot (phone) failed"
echo "11-browser: screenshots $SHOT $SHOT_PHONE"
stop_kmsd
