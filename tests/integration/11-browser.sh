#!/bin/bash
# The web page in a real browser: Debian's chromium, headless, loads kmsd's page (everything from kmsd's own JSON
# API, nothing from elsewhere) at 1920x1080, 1400x900 and 400x900 (a phone), keeps a screenshot of each first
# screen in the build's meson-logs, and measures what it rendered there and at 1100 and 820 px.
#
# How: chromium is driven over the DevTools protocol on a pipe (cdp.py; --remote-debugging-pipe, no port). The
# page has no test hook and is served as users get it; the test reads the layout the browser computed
# (getBoundingClientRect, scrollWidth against clientWidth) — that is what fails when a column is pushed behind a
# scroll bar or a cell cut, where a check of the markup alone would pass. At each width the page never scrolls
# sideways. At 1920 and 1400 every column header is whole on screen and so is every cell of the row with a
# 60-character workstation name, but that name, which is cut (below 1920) with the whole of it in its title; its
# CMID, product, last seen and address are not cut. At 1100 first seen, status and address make room and the
# other columns are whole. Enough rows fit on the first screen (20 at 1920x1080, 15 at 1400x900: it was 8). At 820
# and 400 each client is a card whose workstation, product, last seen, requests and CMID are on screen. The
# screenshots' PNG sizes are checked too. The auto-refresh runs on virtual time (Emulation.setVirtualTimePolicy:
# 30 s pass at once): a client activated after the page loaded appears after one refresh period with the search
# and sort the user set kept; paused, or with the tab hidden, no request is made for a minute; on resume or when
# the tab is visible again the page catches up. Headless chromium cannot hide a tab, so the test stands in for
# the browser there: it shadows document.visibilityState and sends the visibilitychange event a browser sends;
# the page's own code does the rest. Throughout, the console must show no script error and nothing blocked by the
# page's Content-Security-Policy (kmsd sends it; the browser enforces it). The clients, products and chart checks
# of the page before are kept.
. "$(dirname "$0")/lib.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser) || fail "chromium is not installed (scripts/setup-debian.sh)"
ARTIFACTS=${BUILD_ROOT:?}/meson-logs
mkdir -p "$ARTIFACTS"

start_kmsd
LONG=browser-long-workstation-name-abcdefghijklmnopqrstuvwxyz0123 # 60 characters
[ ${#LONG} -eq 60 ] || fail "the long name is ${#LONG} characters"
for i in 1 2 3; do
    "$KMSC" -q --workstation "browser-pc-$i" "127.0.0.1:$PORT" || fail "kmsc browser-pc-$i"
done
"$KMSC" -q --product o2024pp --workstation browser-office "127.0.0.1:$PORT" || fail "kmsc office"
"$KMSC" -q --workstation "$LONG" "127.0.0.1:$PORT" || fail "kmsc $LONG"
for i in $(seq 10 34); do # enough rows to fill a first screen
    "$KMSC" -q --workstation "browser-fill-$i" "127.0.0.1:$PORT" || fail "kmsc browser-fill-$i"
done
wait_recorded 30 # folded from the journal within 1 s

timeout 300 "$PYTHON" - "$IT_DIR" "$CHROMIUM" "$TMP" "$ARTIFACTS" "$HTTP_PORT" "$KMSC" "$PORT" "$LONG" <<'PY' ||
import json, os, re, subprocess, sys, time, urllib.request
sys.path.insert(0, sys.argv[1])
from cdp import Browser, png_size

chromium, tmp, artifacts, http_port, kmsc, kms_port, LONG = sys.argv[2:9]
URL = "http://127.0.0.1:%s/" % http_port
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)
        print("  not so:", what, file=sys.stderr)
    return ok


def activate(name):
    """A new client, and wait (bounded) until the registry lists it."""
    subprocess.run([kmsc, "-q", "--workstation", name, "127.0.0.1:" + kms_port], check=True, timeout=30)
    for _ in range(100):
        with urllib.request.urlopen(URL + "api/v1/clients?q=" + name, timeout=10) as r:
            if json.load(r)["total"] == 1:
                return
        time.sleep(0.1)
    sys.exit("the registry did not list %s within 10 s" % name)


READY = r"""/^updated \d\d:\d\d:\d\d$/.test(document.getElementById("updated").textContent) &&
  document.querySelectorAll("#clients tbody tr[data-cmid]").length > 0 &&
  document.querySelectorAll("#products tbody tr").length > 0 && !!document.querySelector("#chart svg")"""

# What the browser rendered: boxes and overflow, nothing the page computes for a test.
MEASURE = r"""(() => {
  const LONG = %s;
  const vw = document.documentElement.clientWidth, vh = innerHeight;
  const shown = (e) => !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const box = (e) => e.getBoundingClientRect();
  const onScreen = (e) => shown(e) && box(e).left >= -0.5 && box(e).right <= vw + 0.5;
  const cut = (e) => e.scrollWidth > e.clientWidth;
  const t = document.getElementById("clients");
  const rows = [...t.tBodies[0].rows].filter((r) => r.dataset.cmid);
  const long = rows.find((r) => r.querySelector(".c-ws").textContent === LONG);
  const cells = {}, heads = {};
  for (const td of long ? long.cells : [])
    cells[td.className.split(" ")[0]] = { shown: shown(td), onScreen: onScreen(td), cut: cut(td), title: td.title };
  for (const th of t.tHead.rows[0].cells)
    heads[th.className.split(" ")[0]] = { onScreen: onScreen(th), cut: cut(th) };
  return { vw, vh, pageOverflow: document.documentElement.scrollWidth - vw, heads, cells, found: !!long,
           rowsOnFirstScreen: rows.filter((r) => box(r).bottom <= vh).length,
           sortMenu: shown(document.getElementById("client-sort")) };
})()""" % json.dumps(LONG)

COLUMNS = ["c-ws", "c-product", "c-status", "c-cmid", "c-req", "c-first", "c-last", "c-addr"]

with Browser(chromium, os.path.join(tmp, "profile"), os.path.join(tmp, "chromium.log")) as b:
    b.call("Log.enable")  # what the console says: a Content-Security-Policy violation is a "security" entry
    # ---- the first screen at three widths
    # width, height, a phone, rows wanted on the first screen, the columns a table must show whole (None: cards)
    sizes = [(1920, 1080, False, 20, COLUMNS), (1400, 900, False, 15, COLUMNS),
             (1100, 800, False, 12, ["c-ws", "c-product", "c-cmid", "c-req", "c-last"]),
             (820, 1000, False, 4, None), (400, 900, True, 2, None)]
    for w, h, mobile, min_rows, columns in sizes:
        b.viewport(w, h, mobile)
        b.goto(URL)
        b.wait(READY, "the page to load at %dx%d" % (w, h))
        b.eval("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        m = b.eval(MEASURE)
        if w in (1920, 1400, 400):
            shot = os.path.join(artifacts, "kmsd-web-page-%d.png" % w)
            check(png_size(b.screenshot(shot)) == (w, h), "%s is %dx%d" % (shot, w, h))
        print("browser %dx%d: %s" % (w, h, json.dumps(m)))
        at = "at %d px: " % w
        check(m["pageOverflow"] <= 0, at + "the page scrolls sideways by %s px" % m["pageOverflow"])
        check(m["found"], at + "no row for the long workstation name")
        cells = m["cells"]
        check(cells.get("c-ws", {}).get("title") == LONG, at + "the long name's cell lacks the whole name as its title")
        check(m["rowsOnFirstScreen"] >= min_rows,
              at + "%d client rows on the first screen, fewer than %d" % (m["rowsOnFirstScreen"], min_rows))
        # the long name fits at 1920 only; elsewhere it is cut (its title has it)
        check(cells.get("c-ws", {}).get("cut") == (w != 1920), at + "the long name is %scut" %
              ("not " if w != 1920 else ""))
        if columns:
            for c, head in m["heads"].items():
                if c in columns or head["onScreen"]:
                    check(head["onScreen"] and not head["cut"], at + "the %s header is not whole on screen" % c)
            for c in columns:
                check(cells.get(c, {}).get("onScreen"), at + "the long name's %s cell is not on screen" % c)
            for c in ("c-cmid", "c-product", "c-last", "c-addr"):
                check(not cells.get(c, {}).get("cut"), at + "the long name's %s is cut" % c)
            check(not m["sortMenu"], at + "the narrow screen's sort menu shows")
        else:  # every client a card
            for c in ("c-ws", "c-product", "c-last", "c-cmid", "c-req"):
                check(cells.get(c, {}).get("onScreen"), at + "the long name's %s is not on screen" % c)
            check(not cells.get("c-cmid", {}).get("cut"), at + "the CMID is cut")
            check(m["sortMenu"], at + "no sort menu")

    # ---- what the page shows (at 1400x900)
    b.viewport(1400, 900)
    b.goto(URL)
    b.wait(READY, "the page to load")
    page = b.eval(r"""(() => {
      const rows = [...document.querySelectorAll("#clients tbody tr[data-cmid]")];
      const stat = (k) => { const e = document.querySelector('[data-stat="' + k + '"]'); return e ? e.innerText : ""; };
      const office = [...document.querySelectorAll("#products tbody tr")]
        .find((r) => r.querySelector(".c-name").textContent === "Office LTSC Professional Plus 2024");
      return { names: rows.map((r) => r.querySelector(".c-ws").textContent),
               count: document.getElementById("client-count").textContent,
               officeKey: office ? office.querySelector(".c-gvlk").textContent : "",
               copies: [...document.querySelectorAll("#products button")].filter((b) => b.textContent === "Copy").length,
               bars: document.querySelectorAll("#chart svg rect.ok").length,
               error: document.getElementById("error").hidden ? "" : document.getElementById("error").textContent,
               host: document.getElementById("host").textContent,
               table: document.getElementById("product-table").textContent,
               tableTitle: document.getElementById("product-table").title,
               clients: stat("clients"), recent: stat("recent"), count_told: stat("count"),
               text: document.body.innerText };
    })()""")
    names = sorted(n for n in page["names"] if n.startswith("browser-"))
    want = sorted(["browser-office", "browser-pc-1", "browser-pc-2", "browser-pc-3", LONG] +
                  ["browser-fill-%d" % i for i in range(10, 35)])
    check(names == want, "the clients table shows %r, expected %r" % (names, want))
    check(re.fullmatch(r"1\S30 of 30", page["count"]), "client count %r, not 1-30 of 30" % page["count"])
    check(re.fullmatch(r"([0-9A-Z]{5}-){4}[0-9A-Z]{5}", page["officeKey"]), "no Office LTSC 2024 GVLK")
    check(page["copies"] >= 100, "%d copy buttons" % page["copies"])
    check(page["bars"] >= 1, "no bar in the chart of activations per day")
    check(not page["error"], "the page shows an error: " + page["error"])
    check("KMS on 127.0.0.1:" + kms_port in page["host"], "host line %r" % page["host"])
    check(page["table"] == "table: built-in" and re.search(r"sha256 [0-9a-f]{64}\n35 KMS ids, 257 SKUs",
          page["tableTitle"]), "product table %r %r" % (page["table"], page["tableTitle"]))
    check(page["clients"].split("\n")[0] == "30", "clients card %r" % page["clients"])
    check(re.match(r"29\s*Windows\s*1\s*Office\s*clients seen in the last 30 days", page["recent"]),
          "recent clients card %r" % page["recent"])
    check(re.match(r"50\s*Windows\s*10\s*Office\s*count told to clients \(fixed\)", page["count_told"]),
          "count card %r" % page["count_told"])
    check("count fixed" not in page["text"] and "(30 d)" not in page["text"], "jargon on the page")

    # ---- per product, the commands for its clients (from /api/v1/products?host=), one copy button each; the host
    # they name is the page's host name until the user writes another
    OFFICE = r"""[...document.querySelectorAll("#products tbody tr[data-sku]")]
        .find((r) => r.querySelector(".c-name").textContent === "Office LTSC Professional Plus 2024")"""
    CMDS = r"""(() => { const r = (%s).nextElementSibling;
        return r && r.classList.contains("cmds") ? { lines: [...r.querySelectorAll(".cmd code")].map((c) => c.textContent),
          copies: [...r.querySelectorAll("button")].filter((b) => b.textContent === "Copy").length,
          note: (r.querySelector(".note") || {}).textContent || "" } : null; })()""" % OFFICE
    check(b.eval('document.getElementById("cmd-host").value') == "127.0.0.1", "the commands' host is not the page's")
    b.eval("(%s).querySelector('.show-cmds').click()" % OFFICE)
    c = b.eval(CMDS)
    pre = 'cscript "%ProgramFiles%\\Microsoft Office\\Office16\\OSPP.VBS" '
    check(c and c["lines"] == [pre + "/inpkey:" + page["officeKey"], pre + "/sethst:127.0.0.1",
                               pre + "/setprt:" + kms_port, pre + "/act"], "Office commands: %r" % c)
    check(c and c["copies"] == 4 and "ProgramFiles(x86)" in c["note"], "Office commands' copy buttons, note: %r" % c)
    b.eval("""(() => { const h = document.getElementById("cmd-host"); h.value = "kms.example.lan";
               h.dispatchEvent(new Event("input")); })()""")
    b.wait("(() => { const r = (%s).nextElementSibling; return !!r && r.textContent.includes('/sethst:kms.example.lan'); })()"
           % OFFICE, "the commands for another host name")
    win = [s for s in json.load(urllib.request.urlopen(URL + "api/v1/products?q=win11pro", timeout=10))["skus"]
           if s["alias"] == "win10pro"][0]
    b.eval("""[...document.querySelectorAll("#products tbody tr[data-sku]")].find((r) =>
               r.querySelector(".c-name").textContent === "Windows 10/11 Pro").querySelector(".show-cmds").click()""")
    wl = b.eval("""[...[...document.querySelectorAll("#products tbody tr[data-sku]")].find((r) =>
               r.querySelector(".c-name").textContent === "Windows 10/11 Pro").nextElementSibling.querySelectorAll(".cmd code")]
               .map((c) => c.textContent)""")
    check(wl == ["slmgr /ipk " + win["gvlk"], "slmgr /skms kms.example.lan:" + kms_port, "slmgr /ato"],
          "Windows commands: %r" % wl)
    b.eval("""(() => { const h = document.getElementById("cmd-host"); h.value = "bad host";
               h.dispatchEvent(new Event("input")); })()""")
    b.wait('document.getElementById("cmd-host").getAttribute("aria-invalid") === "true"', "a bad host marked")
    check(b.eval("document.getElementById('error').hidden"), "a bad host name shows a page error")
    b.eval("""(() => { const h = document.getElementById("cmd-host"); h.value = "kms.example.lan";
               h.dispatchEvent(new Event("input")); })()""")
    b.wait("(() => { const r = (%s).nextElementSibling; return !!r && r.textContent.includes('/sethst:kms.example.lan'); })()"
           % OFFICE, "the commands back")
    for w, h, mobile in ((1400, 900, False), (400, 900, True)):
        b.viewport(w, h, mobile)
        b.eval("(%s).scrollIntoView({block: 'start'})" % OFFICE)
        b.eval("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        over = b.eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(over <= 0, "at %d px the commands make the page scroll sideways by %s px" % (w, over))
        g = b.eval("(() => { const g = (%s).querySelector('.c-gvlk'); return g.scrollWidth - g.clientWidth; })()" % OFFICE)
        check(g <= 0, "at %d px the GVLK is cut by %s px" % (w, g))
        shot = os.path.join(artifacts, "kmsd-web-page-commands-%d.png" % w)
        check(png_size(b.screenshot(shot)) == (w, h), "%s is %dx%d" % (shot, w, h))
    b.viewport(1400, 900)
    b.eval("window.scrollTo(0, 0)")

    # ---- auto-refresh: search and sort as a user sets them, then 30 s of virtual time
    b.call("Network.enable")

    def requests():
        b.eval("1")  # the events sent before this answer are in
        return [p["request"]["url"] for m, p in b.events
                if m == "Network.requestWillBeSent" and "/api/v1/clients" in p["request"]["url"]]

    def shown():
        return b.eval("""[...document.querySelectorAll("#clients tbody tr[data-cmid] .c-ws")]
                         .map((e) => e.textContent)""")

    def updated():
        return b.eval('document.getElementById("updated").textContent')

    check(re.fullmatch(r"updated \d\d:\d\d:\d\d", updated()), "indicator %r" % updated())
    check(b.eval('document.getElementById("refresh-toggle").textContent') == "Pause", "no Pause button")
    b.eval("""(() => { const q = document.getElementById("client-q"); q.value = "browser-pc";
               q.dispatchEvent(new Event("input")); })()""")
    b.wait('document.getElementById("client-count").textContent.endsWith(" of 3")', "the search")
    b.eval("""document.querySelector('#clients th[data-sort="workstation"] .sort').click()""")
    b.wait("""document.querySelector('#clients th[data-sort="workstation"]').getAttribute("aria-sort") ===
              "ascending" && document.querySelector("#clients tbody .c-ws").textContent === "browser-pc-1" """,
           "the sort by workstation")
    before, was = len(requests()), updated()
    activate("browser-pc-4")
    b.advance(31000)
    b.wait('document.getElementById("client-count").textContent.endsWith(" of 4")', "the refresh")
    urls = requests()[before:]
    check(len(urls) == 1 and "q=browser-pc" in urls[0] and "sort=workstation" in urls[0],
          "the refresh asked for %r" % urls)
    check(shown() == ["browser-pc-1", "browser-pc-2", "browser-pc-3", "browser-pc-4"], "after a refresh: %r" % shown())
    check(b.eval('document.getElementById("client-q").value') == "browser-pc", "the search was lost")
    check(updated() != was and re.fullmatch(r"updated \d\d:\d\d:\d\d", updated()), "indicator %r" % updated())
    check(b.eval("""document.querySelector('[data-stat="clients"] .v').textContent.trim()""") == "31",
          "the statistics were not refreshed")

    # paused: nothing for a minute; resumed: at once
    b.eval('document.getElementById("refresh-toggle").click()')
    check(b.eval('document.getElementById("refresh-toggle").textContent') == "Resume", "no Resume button")
    check(b.eval('document.getElementById("refresh-toggle").getAttribute("aria-pressed")') == "true", "aria-pressed")
    check(updated().startswith("paused"), "indicator %r while paused" % updated())
    before = len(requests())
    activate("browser-pc-5")
    b.advance(65000)
    check(len(requests()) == before, "requests while paused: %r" % requests()[before:])
    b.eval('document.getElementById("refresh-toggle").click()')
    b.advance(1000)
    b.wait('document.getElementById("client-count").textContent.endsWith(" of 5")', "the refresh on resume")

    # hidden: nothing for a minute; visible again: at once
    b.eval("""Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
              document.dispatchEvent(new Event("visibilitychange"))""")
    before = len(requests())
    activate("browser-pc-6")
    b.advance(65000)
    check(len(requests()) == before, "requests while hidden: %r" % requests()[before:])
    b.eval("""delete document.visibilityState; document.dispatchEvent(new Event("visibilitychange"))""")
    b.advance(1000)
    b.wait('document.getElementById("client-count").textContent.endsWith(" of 6")', "the refresh once visible")

    # all along: no script error, nothing the page's Content-Security-Policy blocked
    b.eval("1")
    for m, p in b.events:
        if m == "Runtime.exceptionThrown":
            check(False, "a script error: %s" % p["exceptionDetails"].get("exception", {}).get("description"))
        if m == "Log.entryAdded" and p["entry"]["source"] == "security":
            check(False, "the console says: %s" % p["entry"]["text"])

if problems:
    sys.exit("the page is not as it should be:\n  " + "\n  ".join(problems))
print("browser: clients, products, chart, layout at 1920, 1400 and 400 px, and the auto-refresh as they should be")
PY
    {
        tail -20 "$TMP/chromium.log" >&2
        fail "the page in chromium"
    }
# With --http-token the page opened as /#token=TOKEN loads (the page itself needs no token, a browser cannot send
# one with it) and its API calls carry the token; without the token the page shows the API's refusal.
stop_kmsd
TOKEN=browser-token-0123456789
start_kmsd --http-token "$TOKEN"
TOKEN_CMID=5e1d7c2b-9a84-4f36-b0c1-7d2e3f4a5b6c
"$KMSC" -q --cmid "$TOKEN_CMID" --workstation browser-token-pc "127.0.0.1:$PORT" || fail "kmsc browser-token-pc"
# folded from the journal within 1 s: the page lists it only then
echo "$TOKEN_CMID" >"$TMP/token-answered"
all_listed "$TMP/token-answered" || fail "browser-token-pc was not recorded"
timeout 120 "$PYTHON" - "$IT_DIR" "$CHROMIUM" "$TMP" "$HTTP_PORT" "$TOKEN" <<'PY' || fail "the page with a token"
import sys
sys.path.insert(0, sys.argv[1])
from cdp import Browser
chromium, tmp, http_port, token = sys.argv[2:6]
with Browser(chromium, tmp + "/profile-token", tmp + "/chromium-token.log") as b:
    b.viewport(1400, 900)
    b.goto("http://127.0.0.1:%s/" % http_port)
    b.wait('!document.getElementById("error").hidden', "the refusal without the token")
    err = b.eval('document.getElementById("error").textContent')
    if "401" not in err:
        sys.exit("without the token the page says %r" % err)
    b.goto("about:blank")  # a new load: only the fragment changes, which is no navigation
    b.goto("http://127.0.0.1:%s/#token=%s" % (http_port, token))
    b.wait('[...document.querySelectorAll("#clients tbody .c-ws")].some((e) => e.textContent === "browser-token-pc")',
           "the clients with the token")
    if "token" in b.eval("location.href"):
        sys.exit("the token stays in the address bar")
print("browser: /#token= signs the page in")
PY

echo "11-browser: screenshots $ARTIFACTS/kmsd-web-page-1920.png $ARTIFACTS/kmsd-web-page-1400.png" \
    "$ARTIFACTS/kmsd-web-page-400.png $ARTIFACTS/kmsd-web-page-commands-1400.png $ARTIFACTS/kmsd-web-page-commands-400.png"
stop_kmsd
