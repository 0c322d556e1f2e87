#!/usr/bin/env python3
"""A minimal Chrome DevTools Protocol client for headless chromium, for 11-browser.sh.

chromium is started with --remote-debugging-pipe: it reads the protocol's JSON messages, each ended by a NUL
byte, on its file descriptor 3 and writes its own on descriptor 4 — no port, no WebSocket, nothing another
process on the machine can reach. Standard library only.

    with Browser(CHROMIUM, PROFILE_DIR, LOG_FILE) as b:
        b.viewport(1400, 900)
        b.goto("http://127.0.0.1:PORT/")
        b.wait("document.readyState === 'complete'")
        b.eval("document.title")           # the value of a JavaScript expression (returned by value)
        b.screenshot("out.png")            # the viewport, as PNG

Every wait is bounded (Browser.timeout seconds, 30 unless told); a failure raises CdpError.
"""
import base64
import fcntl
import json
import os
import select
import subprocess
import time


class CdpError(Exception):
    pass


class Browser:
    def __init__(self, chromium, profile, log, timeout=30, args=()):
        self.timeout = timeout
        self.events = []  # every event received, as (method, params), in order
        self._id = 0
        self._buf = b""
        to_child = os.pipe()    # we write, chromium reads (its fd 3)
        from_child = os.pipe()  # chromium writes (its fd 4), we read
        # the child's ends above 10 (close-on-exec), so that putting them at 3 and 4 never overwrites one another
        child_in = fcntl.fcntl(to_child[0], fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_child[1], fcntl.F_DUPFD_CLOEXEC, 10)

        def at_3_and_4():
            os.dup2(child_in, 3)  # os.dup2 leaves the copies inheritable
            os.dup2(child_out, 4)

        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
               "--user-data-dir=" + profile, "--remote-debugging-pipe", *args, "about:blank"]
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                     close_fds=False, preexec_fn=at_3_and_4)
        for fd in (to_child[0], from_child[1], child_in, child_out):
            os.close(fd)
        self._w, self._r = to_child[1], from_child[0]
        self.session = None
        pages = [t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page"]
        if not pages:
            raise CdpError("chromium has no page")
        self.session = self.call("Target.attachToTarget", targetId=pages[0]["targetId"], flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("Browser.close", _session=False, _timeout=5)
            except (CdpError, OSError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()

    # ---- the protocol

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError("chromium did not answer within the time allowed")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise CdpError("chromium closed its DevTools pipe (exited: %r)" % self.proc.poll())
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, _session=True, _timeout=None, **params):
        """Sends one command and returns its result; events that arrive meanwhile go to self.events."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if _session and self.session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._w, data):]
        deadline = time.monotonic() + (_timeout or self.timeout)
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise CdpError("%s: %s" % (method, m["error"].get("message")))
                return m.get("result", {})
            if "method" in m:
                self.events.append((m["method"], m.get("params", {})))

    def wait_event(self, method, timeout=None, since=None):
        """Waits for an event named method received after self.events[since] (default: from now on); returns
        its parameters."""
        seen = len(self.events) if since is None else since
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for name, params in self.events[seen:]:
                if name == method:
                    return params
            seen = len(self.events)
            m = self._read_message(deadline)
            if "method" in m:
                self.events.append((m["method"], m.get("params", {})))

    # ---- the page

    def eval(self, expression):
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CdpError("JavaScript error: %s" % d.get("exception", {}).get("description", d.get("text")))
        return r["result"].get("value")

    def wait(self, expression, what=None, timeout=None):
        """Polls a JavaScript expression (every 100 ms of real time) until it is truthy; returns its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            v = self.eval(expression)
            if v:
                return v
            if time.monotonic() > deadline:
                raise CdpError("timed out waiting for %s" % (what or expression))
            time.sleep(0.1)

    def viewport(self, width, height, mobile=False):
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=mobile)

    def goto(self, url):
        """Navigates and waits for the load event (the page's scripts may still be fetching)."""
        since = len(self.events)
        r = self.call("Page.navigate", url=url)
        if r.get("errorText"):
            raise CdpError("navigating to %s: %s" % (url, r["errorText"]))
        self.wait_event("Page.loadEventFired", since=since)

    def screenshot(self, path):
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        with open(path, "wb") as f:
            f.write(data)
        return data

    def advance(self, ms):
        """Lets ms of virtual time pass at once (timers fire, fetches complete first), then pauses it: from then on
        the page's timers wait for the next advance, and so does a navigation's load event (call goto before)."""
        since = len(self.events)
        self.call("Emulation.setVirtualTimePolicy", policy="pauseIfNetworkFetchesPending", budget=ms)
        self.wait_event("Emulation.virtualTimeBudgetExpired", timeout=max(self.timeout, ms / 1000 + 10), since=since)


def png_size(data):
    """(width, height) from a PNG's IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise CdpError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
