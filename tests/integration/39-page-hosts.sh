#!/bin/bash
# The page's Host column ([multihost]: "the page, the API and kmsd clients show" which host last served a client), in
# a real browser (chromium headless over the DevTools protocol, cdp.py, as 11-browser): a registry one host wrote
# shows no Host column; once a second host name has served a client (the same registry, kmsd restarted with
# another --host-name, as after a move or on a registry hosts share), the table has the column with each row's
# host at 1400 px, leaves it out at 1100 px (where the narrower columns go first), and each card shows it at 400 px.
. "$(dirname "$0")/lib.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser) || fail "chromium is not installed (scripts/setup-debian.sh)"

start_kmsd --host-name alpha
"$KMSC" -q --workstation page-alpha "127.0.0.1:$PORT" || fail "kmsc page-alpha"
wait_recorded 1
page() { # MODE: the page's Host column checked for one host ("one") or two ("two")
    timeout 120 "$PYTHON" - "$IT_DIR" "$CHROMIUM" "$TMP" "$HTTP_PORT" "$1" <<'PY'
import json, os, sys
sys.path.insert(0, sys.argv[1])
from cdp import Browser

chromium, tmp, http_port, mode = sys.argv[2:6]
URL = "http://127.0.0.1:%s/" % http_port
want_rows = 1 if mode == "one" else 2
READY = r"""/^updated \d\d:\d\d:\d\d$/.test(document.getElementById("updated").textContent) &&
  document.querySelectorAll("#clients tbody tr[data-cmid]").length === %d""" % want_rows
MEASURE = r"""(() => {
  const t = document.getElementById("clients");
  const shown = (e) => !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const rows = [...t.tBodies[0].rows].filter((r) => r.dataset.cmid);
  return { multi: t.classList.contains("multi-host"), head: shown(t.querySelector("th.c-host")),
           hosts: rows.map((r) => ({ ws: r.querySelector(".c-ws").textContent, host: r.querySelector(".c-host").textContent,
                                     shown: shown(r.querySelector(".c-host")) })),
           overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth };
})()"""
problems = []
with Browser(chromium, os.path.join(tmp, "profile-" + mode), os.path.join(tmp, "chromium-" + mode + ".log")) as b:
    for w, h, mobile in ((1400, 900, False), (1100, 800, False), (400, 900, True)):
        b.viewport(w, h, mobile)
        b.goto(URL)
        b.wait(READY, "the page with %d client(s) at %d px" % (want_rows, w))
        m = b.eval(MEASURE)
        print("hosts at %d px: %s" % (w, json.dumps(m)))
        if m["overflow"] > 0:
            problems.append("at %d px the page scrolls sideways" % w)
        if mode == "one":
            if m["multi"] or m["head"] or any(r["shown"] for r in m["hosts"]):
                problems.append("at %d px one host's registry shows a Host column" % w)
            continue
        got = {r["ws"]: r["host"] for r in m["hosts"]}
        if got != {"page-alpha": "alpha", "page-beta": "beta"}:
            problems.append("at %d px the rows' hosts are %s" % (w, got))
        want_shown = w != 1100  # the table at 1400, each card at 400; left out at 1100 with first seen and status
        if not m["multi"] or any(r["shown"] != want_shown for r in m["hosts"]):
            problems.append("at %d px the host %s shown in every row: %s" % (w, "is not" if want_shown else "is",
                                                                              m["hosts"]))
        if w == 1400 and not m["head"]:
            problems.append("at 1400 px no Host column header")
sys.exit("; ".join(problems) if problems else 0)
PY
}
page one || fail "the page of a registry one host wrote"
stop_kmsd

start_kmsd --host-name beta # the same state directory: the same registry
"$KMSC" -q --workstation page-beta "127.0.0.1:$PORT" || fail "kmsc page-beta"
wait_recorded 2
page two || fail "the page of a registry two hosts wrote"
stop_kmsd
echo "39-page-hosts: no Host column for one host; for two, each row's host at 1400 px and on each card at 400 px"
