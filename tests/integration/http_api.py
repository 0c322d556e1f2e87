#!/usr/bin/env python3
"""Checks of kmsd's HTTP API against a live kmsd (used by 10-http.sh and 11-browser.sh).

  http_api.py api BASE KMS_PORT MAX_PAGE      the endpoints, shapes, pagination, filters and errors, against
                                              the clients 10-http.sh created (see there)
  http_api.py status URL [TOKEN]              print the status code of GET URL
  http_api.py cap HOST PORT N                 N idle connections are served, connection N+1 is closed at once
  http_api.py metric BASE NAME [LABEL=VALUE...]  print the value of one sample of /metrics (checked strictly)
  http_api.py idle HOST PORT SECONDS           an idle connection is closed after about SECONDS
  http_api.py headers BASE                    the per-connection memory (16 KiB): 12,000 bytes of headers are
                                              served, on every kind of endpoint; 20,000 are refused with 431

Talks only to the loopback address it is given. Every request has a 10 s timeout.
"""
import base64
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable
TIMEOUT = 10


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def request(base, path, method="GET", headers=None, body=None, raw_target=None):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT)
    c.putrequest(method, raw_target or path, skip_accept_encoding=True)
    for k, v in (headers or {}).items():
        c.putheader(k, v)
    if body is not None:
        c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def get_json(base, path, want=200, **kw):
    status, hdrs, data = request(base, path, **kw)
    expect(status == want, "GET %s: status %d, expected %d: %r" % (path, status, want, data[:300]))
    expect("cache-control" in hdrs, "GET %s: no Cache-Control" % path)
    expect(hdrs.get("content-type", "").startswith("application/json"), "GET %s: Content-Type %r" %
           (path, hdrs.get("content-type")))
    try:
        j = json.loads(data)
    except ValueError:
        fail("GET %s: not JSON: %r" % (path, data[:200]))
    if want >= 400:
        expect(isinstance(j.get("error"), str) and isinstance(j.get("message"), str),
               "GET %s: an error without error and message: %r" % (path, j))
    return j


def shape(obj, spec, where):
    """spec: {key: type or tuple of types}; every key must be there with that type."""
    expect(isinstance(obj, dict), "%s: not an object" % where)
    for k, t in spec.items():
        expect(k in obj, "%s: no %s in %r" % (where, k, sorted(obj)))
        expect(isinstance(obj[k], t) and not (t is int and isinstance(obj[k], bool)),
               "%s: %s is %r, expected %s" % (where, k, obj[k], t))


CLIENT = {"cmid": str, "application_id": str, "application": (str, type(None)), "sku_id": str, "kms_id": str,
          "product": str, "workstation": str, "address": str, "epid": str, "license_status": int,
          "license_status_name": str, "grace_time": int, "is_vm": bool, "version": str, "first_seen": str,
          "last_seen": str, "requests": int, "host": str}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CMID1 = "11111111-2222-4333-8444-000000000001"


def clients(base, query):
    return get_json(base, "/api/v1/clients?" + query)


def check_api(base, kms_port, max_page):
    max_page = int(max_page)
    j = get_json(base, "/healthz")
    expect(j == {"status": "alive"}, "healthz: %r" % j)

    # the list and its shape
    j = clients(base, "limit=%d" % max_page)
    shape(j, {"total": int, "limit": int, "offset": int, "clients": list}, "clients")
    expect(j["total"] == 4, "clients: total %d, expected the 4 test clients" % j["total"])
    for c in j["clients"]:
        shape(c, CLIENT, "client")
        expect(ISO.match(c["first_seen"]) and ISO.match(c["last_seen"]), "client times %r" % c)
    names = sorted(c["workstation"] for c in j["clients"][:4]) if max_page >= 4 else None

    # pagination: pages of 2 cover everything once; the page size cap at the limit and one past it
    seen = []
    offset = 0
    for _ in range(10):
        p = clients(base, "limit=2&offset=%d&sort=workstation" % offset)
        seen += [c["workstation"] for c in p["clients"]]
        if p["next_offset"] is None:
            break
        expect(p["next_offset"] == offset + 2, "next_offset %r" % p["next_offset"])
        offset = p["next_offset"]
    expect(seen == ["it-office", "it-pc-1", "it-pc-2", "it-pc-3"], "pages in workstation order: %r" % seen)
    expect(names is None or names == sorted(seen), "first page names %r" % names)
    p = clients(base, "offset=4")
    expect(p["clients"] == [] and p["next_offset"] is None and p["total"] == 4, "past the end: %r" % p)

    # keyset paging: for every sort key and direction, pages of one through next_cursor give the order of one
    # page of everything, each entry once; a cursor is refused under another sort
    def key(c):
        return c["cmid"] + "/" + c["application_id"]
    for k in ("last_seen", "first_seen", "workstation", "product", "requests"):
        for sort in (k, "-" + k):
            whole = [key(c) for off in (0, max_page, 2 * max_page, 3 * max_page)
                     for c in clients(base, "limit=%d&offset=%d&sort=%s" % (max_page, off, sort))["clients"]]
            got, cursor = [], None
            for _ in range(10):
                p = clients(base, "limit=1&sort=%s%s" % (sort, "&cursor=" + urllib.parse.quote(cursor) if cursor else ""))
                expect(p["next_offset"] is None or cursor is None, "next_offset with a cursor: %r" % p)
                got += [key(c) for c in p["clients"]]
                cursor = p["next_cursor"]
                if cursor is None:
                    break
            expect(len(got) == 4 and got == whole, "cursor pages, sort %s: %r, one page %r" % (sort, got, whole))
    c1 = clients(base, "limit=1")["next_cursor"]
    e = get_json(base, "/api/v1/clients?sort=workstation&cursor=" + urllib.parse.quote(c1), want=400)
    expect(e["parameter"] == "cursor", "a cursor of another sort: %r" % e)
    j = clients(base, "limit=%d" % max_page)
    expect(j["limit"] == max_page, "limit at the cap")
    e = get_json(base, "/api/v1/clients?limit=%d" % (max_page + 1), want=400)
    expect(e["parameter"] == "limit" and str(max_page) in e["message"], "limit past the cap: %r" % e)
    j = clients(base, "")
    expect(j["limit"] == min(50, max_page), "default limit %r" % j["limit"])

    # filters and sort
    def total(q):
        return clients(base, q)["total"]
    expect(total("q=IT-PC-1") == 1, "q on workstation")
    expect(total("q=" + CMID1[-12:]) == 1, "q on part of a CMID")
    expect(total("product=office") == 1, "product filter")
    expect(total("product=o2024pp") == 1, "product filter by alias")
    expect(total("product=Windows+10/11+Enterprise") == 3, "product filter by name")
    e = get_json(base, "/api/v1/clients?product=Office+2024", want=400)
    expect(e["parameter"] == "product" and "did you mean" in e["message"], "unknown product: %r" % e)
    expect(total("application=office2013") == 1, "application office2013")
    expect(total("application=windows") == 3, "application windows")
    expect(total("since=1d") == 4, "since 1d")
    expect(total("since=%d" % (int(time.time()) + 3600)) == 0, "since in the future")
    r = clients(base, "sort=-workstation")["clients"]
    expect([c["workstation"] for c in r][:3] == ["it-pc-3", "it-pc-2", "it-pc-1"], "sort -workstation: %r" % r)
    r = clients(base, "sort=-requests")["clients"]
    expect(r[0]["workstation"] == "it-pc-1" and r[0]["requests"] == 3, "sort -requests: %r" % r[0])

    # one client
    j = get_json(base, "/api/v1/clients/" + CMID1)
    expect(j["cmid"] == CMID1 and len(j["entries"]) == 1, "one client: %r" % j)
    shape(j["entries"][0], CLIENT, "client entry")
    expect(j["entries"][0]["requests"] == 3, "client requests")
    e = get_json(base, "/api/v1/clients/" + CMID1[:-1] + "f", want=404)
    e = get_json(base, "/api/v1/clients/not-a-cmid", want=400)
    expect(e["parameter"] == "cmid", "bad cmid: %r" % e)

    # bad parameters: which and why
    for q, param in (("limit=0", "limit"), ("limit=abc", "limit"), ("offset=-1", "offset"), ("sort=color", "sort"),
                     ("since=yesterday", "since"), ("application=linux", "application"), ("colour=red", "colour"),
                     ("q=a&q=b", "q"), ("q=%zz", "q"), ("q=" + "x" * 129, "q")):
        e = get_json(base, "/api/v1/clients?" + q, want=400)
        expect(e.get("parameter") == param, "%s: parameter %r" % (q, e))
    e = get_json(base, "/api/v1/stats?x=1", want=400)
    expect(e.get("parameter") == "x", "unknown parameter on stats")

    # products
    j = get_json(base, "/api/v1/products")
    shape(j, {"table": dict, "applications": list, "kms": list, "skus": list}, "products")
    expect(len(j["skus"]) > 100, "products: %d SKUs" % len(j["skus"]))
    # the table in use: the built-in one, its counts those of the lists
    table = j["table"]
    shape(table, {"source": str, "builtin": bool, "sha256": str, "applications": int, "kms": int, "skus": int,
                  "csvlks": int, "builds": int}, "products table")
    expect(table["source"] == "built-in" and table["builtin"] and re.fullmatch(r"[0-9a-f]{64}", table["sha256"]) and
           table["skus"] == len(j["skus"]) and table["kms"] == len(j["kms"]) and
           table["applications"] == len(j["applications"]), "products table %r" % table)
    j = get_json(base, "/api/v1/products?q=o2024pp")
    hit = [s for s in j["skus"] if s["alias"] == "o2024pp"]
    expect(len(hit) == 1 and re.fullmatch(r"([0-9A-Z]{5}-){4}[0-9A-Z]{5}", hit[0]["gvlk"] or ""), "o2024pp: %r" % hit)
    expect(len(j["skus"]) < 10, "q filters the SKUs: %d" % len(j["skus"]))
    j = get_json(base, "/api/v1/products?q=office+2024")  # every word, as kmsc --list-products FILTER
    expect(len(j["skus"]) > 5 and all("2024" in s["name"] for s in j["skus"]), "q=office 2024: %r" % j["skus"][:3])
    expect("commands" not in j["skus"][0], "commands only with host=")
    # host=: the commands that activate each product's clients, with this host's KMS port unless one is given
    j = get_json(base, "/api/v1/products?q=win11pro&host=kms.example.org")
    pro = [s for s in j["skus"] if s["alias"] == "win10pro"]
    expect(len(pro) == 1, "win11pro: %r" % j["skus"])
    cmds = [c["command"] for c in pro[0]["commands"]]
    expect(cmds == ["slmgr /ipk W269N-WFGWX-YVC9B-4J6C9-T83GX", "slmgr /skms kms.example.org:%s" % kms_port,
                    "slmgr /ato"], "Windows commands: %r" % cmds)
    j = get_json(base, "/api/v1/products?q=o2024pp&host=" + urllib.parse.quote("[2001:db8::7]:1700"))
    pp = [s for s in j["skus"] if s["alias"] == "o2024pp"][0]
    cmds = [c["command"] for c in pp["commands"]]
    expect(len(cmds) == 4 and cmds[1].endswith("\\Office16\\OSPP.VBS\" /sethst:2001:db8::7")
           and cmds[2].endswith("/setprt:1700") and "ProgramFiles(x86)" in pp["commands_note"],
           "Office commands: %r" % pp)
    for bad in ("a b", "x&y", "h:0", "h:70000", "[::1"):
        e = get_json(base, "/api/v1/products?host=" + urllib.parse.quote(bad), want=400)
        expect(e["parameter"] == "host", "host=%r: %r" % (bad, e))

    # statistics
    j = get_json(base, "/api/v1/stats")
    shape(j, {"registry": bool, "since_start": dict, "requests": int, "failed": int, "clients": int,
              "by_license_status": dict, "current_count": dict, "by_product": list, "daily": list}, "stats")
    expect(j["registry"] is True and j["clients"] == 4, "stats clients %r" % j["clients"])
    expect(j["requests"] == 6 and j["failed"] == 0, "stats requests %d failed %d" % (j["requests"], j["failed"]))
    expect(len(j["daily"]) == 30, "30 days")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    expect(j["daily"][-1]["date"] == today, "the last day is today: %r" % j["daily"][-1])
    expect(j["daily"][-1]["answered"] == 6 and j["daily"][-1]["refused"] == 0, "today %r" % j["daily"][-1])
    expect(all(d["answered"] == 0 for d in j["daily"][:-2]), "older days are empty")
    expect(j["current_count"]["windows"] == 3 and j["current_count"]["office2013"] == 1, "counts %r" %
           j["current_count"])
    expect(j["since_start"]["activations_answered"] == 6 and j["since_start"]["activations_refused"] == 0,
           "since start %r" % j["since_start"])
    by = {(p["application"], p["product"]): p["clients"] for p in j["by_product"]}
    expect(by.get(("windows", "Windows 10/11 Enterprise")) == 3, "by product %r" % by)

    # host
    j = get_json(base, "/api/v1/host")
    shape(j, {"version": str, "uptime_seconds": int, "listeners": list, "http": list, "epids": list, "hwid": str,
              "host_build": dict, "lcid": int, "count_mode": str, "host_name": str}, "host")
    expect("127.0.0.1:%s" % kms_port in j["listeners"], "host listeners %r" % j["listeners"])
    expect(re.fullmatch(r"[0-9A-F]{16}", j["hwid"]), "hwid")
    expect(len(j["epids"]) > 5 and all(re.fullmatch(r"\d{5}-\d{5}-\d{3}-\d{6}-03-\d+-\d+\.0000-\d{7}", e["epid"])
                                        for e in j["epids"]), "epids")
    expect(j["lcid"] == 1033 and j["count_mode"] == "fixed", "lcid/count mode")
    expect(j.get("product_table") == table, "host product_table %r" % j.get("product_table"))
    # every client was last served by this host, and host= filters by it
    name = j["host_name"]
    expect(re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name), "host_name %r" % name)
    everyone = get_json(base, "/api/v1/clients?limit=%d" % max_page)
    expect(everyone["clients"] and all(c["host"] == name for c in everyone["clients"]),
           "clients' host: %r" % [c["host"] for c in everyone["clients"]])
    expect(clients(base, "host=" + name)["total"] == everyone["total"], "host=%s" % name)
    expect(clients(base, "host=not-this-one")["total"] == 0, "host=not-this-one")

    # methods, bodies, unknown paths, the target length
    for m in ("POST", "PUT", "DELETE"):
        s, h, d = request(base, "/api/v1/clients", method=m)
        expect(s == 405 and "GET" in h.get("allow", "") and json.loads(d)["error"], "%s: %d %r" % (m, s, h))
    s, h, d = request(base, "/api/v1/clients", body=b"hello")
    expect(s == 413 and "cache-control" in h and json.loads(d)["error"] == "payload_too_large", "GET+body: %d" % s)
    get_json(base, "/api/v2/nothing", want=404)
    get_json(base, "/x?" + "a" * 2100, want=414)
    s, h, d = request(base, "/", method="HEAD")
    expect(s == 200 and d == b"", "HEAD /")

    # the page
    s, h, d = request(base, "/")
    expect(s == 200 and h["content-type"].startswith("text/html") and "cache-control" in h, "page headers")
    expect(b"/api/v1/clients" in d and b"<svg" not in d.split(b"<script")[0], "page body")
    expect(not re.search(rb"(src|href)\s*=\s*[\"']?(https?:)?//", d), "the page fetches nothing from elsewhere")
    # its Content-Security-Policy allows its own script and style, by their hashes, and fetches from kmsd only
    csp = h.get("content-security-policy", "")
    for tag in ("script", "style"):
        body = re.search(rb"<%s>(.*?)</%s>" % (tag.encode(), tag.encode()), d, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        expect("%s-src 'sha256-%s'" % (tag, digest) in csp, "page CSP without the %s's hash: %r" % (tag, csp))
    expect(csp.startswith("default-src 'none';") and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp,
           "page CSP %r" % csp)
    s, h, d = request(base, "/api/v1/host")
    expect("content-security-policy" not in h, "a CSP on the API")
    print("api: all checks passed")


def metric(base, name, *labels):
    s, h, d = request(base, "/metrics")
    expect(s == 200 and h["content-type"].startswith("text/plain; version=0.0.4"), "metrics: %d %r" % (s, h))
    p = subprocess.run([PYTHON, os.path.join(HERE, "promparse.py"), "-"], input=d, capture_output=True)
    expect(p.returncode == 0, "metrics fail the strict parser: %s" % p.stderr.decode())
    want = dict(lb.split("=", 1) for lb in labels)
    total = None
    for smp in json.loads(p.stdout):
        if smp["name"] == name and all(smp["labels"].get(k) == v for k, v in want.items()):
            total = (total or 0) + smp["value"]
    expect(total is not None, "metrics: no sample %s %r" % (name, want))
    print("%g" % total)


def status(url, token=None):
    u = urllib.parse.urlsplit(url)
    s, h, d = request("http://%s" % u.netloc, u.path or "/",
                      headers={"Authorization": "Bearer " + token} if token else None)
    if s == 401:
        expect(h.get("www-authenticate", "").startswith("Bearer"), "401 without WWW-Authenticate: Bearer")
    if s >= 400:
        expect(json.loads(d).get("error"), "error body %r" % d)
    print(s)


def cap(host, port, n):
    n = int(n)
    held = []
    for _ in range(n):
        held.append(socket.create_connection((host, int(port)), TIMEOUT))
    time.sleep(0.3)
    extra = socket.create_connection((host, int(port)), TIMEOUT)
    extra.settimeout(5)
    try:
        got = extra.recv(100)
    except ConnectionResetError:
        got = b""
    except socket.timeout:
        fail("connection %d past the cap was not closed within 5 s" % (n + 1))
    expect(got == b"", "connection %d past the cap got %r" % (n + 1, got))
    extra.close()
    # the last connection at the cap is served
    last = held[-1]
    last.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    resp = b""
    deadline = time.time() + 5
    while time.time() < deadline:
        chunk = last.recv(4096)
        if not chunk:
            break
        resp += chunk
    expect(resp.startswith(b"HTTP/1.1 200"), "connection %d (at the cap) not served: %r" % (n, resp[:80]))
    for s in held:
        s.close()
    print("cap: %d connections served, connection %d closed" % (n, n + 1))


def idle(host, port, seconds):
    """An idle connection stays open for about SECONDS and is closed by kmsd within SECONDS + 3."""
    seconds = float(seconds)
    s = socket.create_connection((host, int(port)), TIMEOUT)
    start = time.time()
    s.settimeout(seconds + 3)
    try:
        got = s.recv(100)
    except ConnectionResetError:
        got = b""
    except socket.timeout:
        fail("an idle HTTP connection was still open after %.1f s" % (seconds + 3))
    took = time.time() - start
    expect(got == b"", "idle connection got %r" % got)
    expect(took >= seconds - 0.5, "an idle HTTP connection was closed after %.2f s, before %g s" % (took, seconds))
    print("idle: closed after %.2f s" % took)


def headers(base):
    """The per-connection memory (HTTP_CONN_MEMORY, 16 KiB) holds the request line and headers: well under it
    a request is served, whether libmicrohttpd's thread answers it or a lane (registry, readyz); well over it
    libmicrohttpd refuses it with 431. Where exactly it stops depends on libmicrohttpd's own use of that memory."""
    for path in ("/healthz", "/metrics", "/readyz", "/api/v1/stats", "/api/v1/clients"):
        s, h, d = request(base, path, headers={"X-Filler": "a" * 12000})
        expect(s == 200, "%s with 12,000 bytes of headers: %d, expected 200" % (path, s))
    s, h, d = request(base, "/healthz", headers={"X-Filler": "a" * 20000})
    expect(s == 431, "20,000 bytes of headers: %d, expected 431" % s)
    s, h, d = request(base, "/healthz")
    expect(s == 200, "after a refused request: %d" % s)
    print("headers: 12,000 bytes served, 20,000 refused with 431")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"api": check_api, "status": status, "cap": cap, "metric": metric, "idle": idle,
     "headers": headers}[cmd](*args)


if __name__ == "__main__":
    main()
