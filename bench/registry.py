#!/usr/bin/env python3
"""bench/registry.py — the HTTP timings and the table of bench/registry --rows (see bench/README.md).

  registry.py api RUNS DEEP TIMEOUT LABEL=URL...
      times each API query RUNS times on every kmsd given (LABEL: empty or full; URL: its HTTP base),
      alternating between them; prints one TSV line per query and kmsd: key, label, median ms, max ms, note.
  registry.py health LABEL URL SECONDS TIMEOUT
      a dashboard polls /api/v1/stats in a loop for SECONDS while /healthz and /readyz are probed every
      100 ms; prints TSV lines as above (median and max of the probes; the note says how many).
  registry.py table RESULTS ROWS CAP
      prints the markdown table from the TSV lines of the whole run (the other lines of bench/registry).

Every request is a new connection (as curl or a browser tab opening the page), timed from before connect to
the last byte of the body, on loopback only. Nothing loops without a bound in count and time.
"""
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse


def get(base, path, timeout):
    """One GET: (ms, status, body) or (None, None, reason) on a timeout or a connection error."""
    u = urllib.parse.urlsplit(base)
    t0 = time.perf_counter()
    try:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
    except TimeoutError:
        return None, None, f"timeout (> {timeout:g} s)"
    except OSError as e:
        return None, None, f"error: {e}"
    return (time.perf_counter() - t0) * 1000, r.status, body


# key and path ({deep} and {cmid} filled in) of each API query timed
QUERIES = [
    ("api.stats", "/api/v1/stats"),
    ("api.clients", "/api/v1/clients?limit=50"),
    # the first search builds kmsd's search memory (one scan of the names' index), timed once; the later ones
    # bring it up to date and search it; a text that could be part of a CMID adds the CMIDs' texts at its first
    ("api.q_first", "/api/v1/clients?limit=50&q=fin-00"),
    ("api.q", "/api/v1/clients?limit=50&q=fin-00"),
    ("api.q_common", "/api/v1/clients?limit=50&q=desktop"),
    ("api.q_cmid_first", "/api/v1/clients?limit=50&q=0a1b"),
    ("api.q_cmid", "/api/v1/clients?limit=50&q=0a1b"),
    ("api.product", "/api/v1/clients?limit=50&product=Visio"),
    ("api.application", "/api/v1/clients?limit=50&application=office2010"),
    ("api.since", "/api/v1/clients?limit=50&since=1d"),
    ("api.sort_workstation", "/api/v1/clients?limit=50&sort=workstation"),
    ("api.sort_product", "/api/v1/clients?limit=50&sort=product"),
    # sort=requests from memory too: the first reads every row's request count (a scan of the table), timed once
    ("api.sort_requests_first", "/api/v1/clients?limit=50&sort=-requests"),
    ("api.sort_requests", "/api/v1/clients?limit=50&sort=-requests"),
    ("api.sort_first_seen", "/api/v1/clients?limit=50&sort=-first_seen"),
    # the host filter ([multihost]): the generator's common host (60 % of the rows) and its rare one (0.1 %)
    ("api.host", "/api/v1/clients?limit=50&host=bench-a"),
    ("api.host_rare", "/api/v1/clients?limit=50&host=bench-c"),
    ("api.host_rare_workstation", "/api/v1/clients?limit=50&host=bench-c&sort=workstation"),
    ("api.deep", "/api/v1/clients?limit=50&offset={deep}"),
    # the same depth by keyset paging: a cursor at a last_seen 81 of the registry's 90 days back (about 90 % of
    # the rows after it in -last_seen order), as a client paging with next_cursor would hold one
    ("api.deep_cursor", "/api/v1/clients?limit=50&cursor=-last_seen.{t90}.9223372036854775807"),
    ("api.client", "/api/v1/clients/{cmid}"),
]


def cmd_api(runs, deep, timeout, targets):
    cmids = {}
    for label, base in targets:  # a client that exists, for the one-client endpoint
        # the empty registry's one client (the first answer's) is listed once the writer has folded it, up to
        # STORE_WRITER_FOLD_LINGER_MS (1 s) after the activation: asked every 50 ms for at most 10 s
        for _ in range(200):
            _, status, body = get(base, "/api/v1/clients?limit=1", timeout)
            try:
                cmids[label] = json.loads(body)["clients"][0]["cmid"]
                break
            except (TypeError, ValueError, KeyError, IndexError):
                time.sleep(0.05)
        if label not in cmids:
            print(f"registry.py: no client listed by {label} ({status}): {body!r:.200}", file=sys.stderr)
            return 1
    failed = 0
    for key, path in QUERIES:
        times = {label: [] for label, _ in targets}
        notes = {label: "" for label, _ in targets}
        for _ in range(1 if key.endswith("_first") else runs):
            for label, base in targets:
                if notes[label]:
                    continue  # timed out or failed once: not again
                t90 = int(time.time()) - 81 * 86400
                ms, status, body = get(base, path.format(deep=deep, cmid=cmids[label], t90=t90), timeout)
                if ms is None:
                    notes[label] = body
                elif status != 200:
                    notes[label] = f"HTTP {status}: {body[:120]!r}"
                else:
                    times[label].append(ms)
        for label, _ in targets:
            t = times[label]
            if notes[label].startswith(("HTTP", "error")):
                failed += 1
            med = f"{statistics.median(t):.2f}" if t else ""
            mx = f"{max(t):.2f}" if t and not notes[label] else ""
            print(f"{key}\t{label}\t{med}\t{mx}\t{notes[label]}", flush=True)
    return 1 if failed else 0


def cmd_health(label, base, seconds, timeout):
    probes = {"healthz": [], "readyz": []}  # ms, None for a timeout
    polls, errors = [0], []

    def dashboard():
        end = time.monotonic() + seconds
        for _ in range(100000):
            if time.monotonic() >= end:
                return
            ms, status, body = get(base, "/api/v1/stats", timeout)
            if ms is None and body.startswith("timeout"):
                return  # the probes' timings tell
            if ms is None or status != 200:
                errors.append(f"/api/v1/stats: {body if ms is None else f'HTTP {status}'}")
                return
            polls[0] += 1

    def probe(name):
        end = time.monotonic() + seconds
        for _ in range(100000):
            t0 = time.monotonic()
            if t0 >= end:
                return
            ms, status, body = get(base, "/" + name, timeout)
            if (ms is None and not body.startswith("timeout")) or (ms is not None and status != 200):
                errors.append(f"/{name}: {body if ms is None else f'HTTP {status}'}")
                return
            probes[name].append(ms)
            time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))

    threads = [threading.Thread(target=dashboard)] + [threading.Thread(target=probe, args=(n,)) for n in probes]
    threads[0].start()
    time.sleep(0.05)  # the first stats request is under way
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(seconds + timeout + 10)
    for name, t in probes.items():
        done = [x for x in t if x is not None]
        note = f"{len(t)} probes, {polls[0]} stats polls"
        if len(done) < len(t):
            note = f"{len(t) - len(done)} timed out (> {timeout:g} s); " + note
        med = f"{statistics.median(done):.2f}" if done else ""
        mx = f"{max(done):.2f}" if done and len(done) == len(t) else ""
        print(f"health.{name}\t{label}\t{med}\t{mx}\t{note}", flush=True)
    for e in errors:
        print(f"registry.py: {label}: {e}", file=sys.stderr)
    return 1 if errors else 0


def fmt(v):
    if v is None:
        return "—"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def cmd_table(path, rows, cap):
    res = {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 5:
            continue
        key, label, med, mx, note = f[:5]
        res[(key, label)] = (float(med) if med else None, float(mx) if mx else None, note)
    full = f"{rows:,} clients"
    print(f"| | {full} | empty | ratio | target | |")
    print("|---|---:|---:|---:|---|---|")
    missed = 0

    def cell(key, label, kind):
        med, mx, note = res.get((key, label), (None, None, "not measured"))
        if kind == "p99":  # activation runs: p99 (max)
            v = med
            text = f"{fmt(med)} ({fmt(mx)})" if med is not None else (note or "—")
        elif kind == "one":  # one figure
            v = med
            text = fmt(med) if med is not None else (note or "—")
        else:  # med / max, judged on the max
            v = mx
            text = f"{fmt(med)} / {fmt(mx)}" if mx is not None else (f"{fmt(med)} / " if med is not None else "") + (
                note or "—")
        return v, text

    def row(title, key, kind, target, limit=None, ratio_limit=None, plus=None):
        nonlocal missed
        vf, tf = cell(key, "full", kind)
        ve, te = cell(key, "empty", kind)
        ratio = vf / ve if vf is not None and ve else None
        if vf is None:
            ok = False
        elif ratio_limit is not None:
            ok = ratio is not None and ratio <= ratio_limit
        elif plus is not None:
            ok = ve is not None and vf - ve <= plus
        else:
            ok = vf < limit
        missed += not ok
        rt = "—" if ratio is None else f"{ratio:.2f}×" if ratio < 10 else f"{ratio:,.0f}×"
        print(f"| {title} | {tf} | {te} | {rt} | {target} | {'met' if ok else 'missed'} |")

    for mode in ("fixed", "genuine"):
        for c in (1, 8, 64):
            row(f"{mode} mode, `kmsc bench -c {c}`: p99 (max) ms", f"act.{mode}.{c}", "p99", "p99 ≤ 1.5× empty",
                ratio_limit=1.5)
    for c in (8, 64):  # genuine mode as fast as fixed mode at any size
        cells, ok = [], False
        for label in ("full", "empty"):
            g, f = res.get((f"rate.genuine.{c}", label), (None,))[0], res.get((f"rate.fixed.{c}", label), (None,))[0]
            r = g / f if g is not None and f else None
            cells.append(f"{r:.2f} ({fmt(g)} / {fmt(f)})" if r is not None else "—")
            if label == "full":
                ok = r is not None and r >= 0.9
        missed += not ok
        print(f"| `kmsc bench -c {c}`: act/s, genuine ÷ fixed (genuine / fixed) | {cells[0]} | {cells[1]} | — "
              f"| ≥ 0.9: as fast as fixed | {'met' if ok else 'missed'} |")
    for mode in ("fixed", "genuine"):
        row(f"{mode} mode: first activation answered after start, ms", f"start.{mode}", "one", "< 100 ms", limit=100)
    titles = {
        "api.stats": "`/api/v1/stats`",
        "api.clients": "`/api/v1/clients` (first page)",
        "api.q_first": "`/api/v1/clients?q=fin-00`, the first search (builds the memory; one run)",
        "api.q": "`/api/v1/clients?q=fin-00`",
        "api.q_common": "`/api/v1/clients?q=desktop` (a common text: a third of the rows)",
        "api.q_cmid_first": "`/api/v1/clients?q=0a1b`, the first that could be part of a CMID (one run)",
        "api.q_cmid": "`/api/v1/clients?q=0a1b` (names and CMIDs)",
        "api.product": "`/api/v1/clients?product=Visio`",
        "api.application": "`/api/v1/clients?application=office2010`",
        "api.since": "`/api/v1/clients?since=1d`",
        "api.sort_workstation": "`/api/v1/clients?sort=workstation`",
        "api.sort_product": "`/api/v1/clients?sort=product`",
        "api.sort_requests_first": "`/api/v1/clients?sort=-requests`, the first (reads the counts; one run)",
        "api.sort_requests": "`/api/v1/clients?sort=-requests`",
        "api.sort_first_seen": "`/api/v1/clients?sort=-first_seen`",
        "api.host": "`/api/v1/clients?host=bench-a` (a host of 60 % of the rows)",
        "api.host_rare": "`/api/v1/clients?host=bench-c` (a host of 0.1 %)",
        "api.host_rare_workstation": "`/api/v1/clients?host=bench-c&sort=workstation`",
        "api.deep": f"`/api/v1/clients?offset={rows * 9 // 10}` (deep page by offset)",
        "api.deep_cursor": "`/api/v1/clients?cursor=…` (deep page by cursor, 90 % in)",
        "api.client": "`/api/v1/clients/{cmid}`",
    }
    for key, title in titles.items():
        row(title + ": median / max ms", key, "max", "< 50 ms", limit=50)
    for name in ("healthz", "readyz"):
        row(f"`/{name}` while a dashboard polls stats: median / max ms", f"health.{name}", "max", "< 10 ms", limit=10)
    row("`kmsd stats`: median / max ms", "cli.stats", "max", "< 50 ms", limit=50)
    row("`kmsd clients --since 1`: median / max ms", "cli.clients", "max", "< 50 ms", limit=50)
    row("`kmsd clients --host bench-c` (the rare host, whole): median / max ms", "cli.host_rare", "max", "< 50 ms",
        limit=50)
    row("`kmsd clients --host bench-a --since 1` (a day of the common host): median / max ms", "cli.host_day", "max",
        "< 50 ms", limit=50)
    row(f"`--max-clients {cap}` at start: first activation answered after, ms", "cap.start", "one", "< 100 ms",
        limit=100)
    row(f"`--max-clients {cap}` at start, then `kmsc bench -c 8`: p99 (max) ms", "cap.act", "p99",
        "p99 ≤ 1.5× empty", ratio_limit=1.5)
    row(f"`--max-clients {cap}` at start: longest wait for an activation, ms", "cap.wait", "one",
        "≤ empty + 10 ms", plus=10)
    row("`--retention 45` at start (about half of the rows): first activation answered after, ms", "ret.start", "one",
        "< 100 ms", limit=100)
    row("`--retention 45` at start, then `kmsc bench -c 8`: p99 (max) ms", "ret.act", "p99", "p99 ≤ 1.5× empty",
        ratio_limit=1.5)
    row("`--retention 45` at start: longest wait for an activation, ms", "ret.wait", "one", "≤ empty + 10 ms", plus=10)
    print()
    notes = [(k, l, n) for (k, l), (_, _, n) in sorted(res.items()) if n]
    for k, l, n in notes:
        print(f"- {k} ({l}): {n}")
    if notes:
        print()
    print(f"Targets missed: {missed}")
    return 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "api":
        targets = [tuple(a.split("=", 1)) for a in argv[5:]]
        return cmd_api(int(argv[2]), int(argv[3]), float(argv[4]), targets)
    if len(argv) == 6 and argv[1] == "health":
        return cmd_health(argv[2], argv[3], float(argv[4]), float(argv[5]))
    if len(argv) == 5 and argv[1] == "table":
        return cmd_table(argv[2], int(argv[3]), int(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
