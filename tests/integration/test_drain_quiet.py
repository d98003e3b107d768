#!/usr/bin/python3
"""test_drain_quiet.py - the adaptive delay (drain.quiet) on real sockets.

A real agent (`drain: {delay: 4s, min_delay: 500ms, quiet: 700ms}`) beside
the demo app (build/tests/servers/demo_app) on app.port, drained by a real
`nodowntime prestop` while real clients talk to the app. One scenario per
behaviour, each a drain followed by `resume`:

  keep-alive stops    requests on one pooled keep-alive connection for
                      1.5 s after prestop, then none (the connection stays
                      open, idle): draining ends by quiet, 700 ms after the
                      last request (not before, and not much later)
  pause, then again   the same with a 400 ms pause (< quiet) half way: the
                      pause does not end it; the last request counts
  new connections     one connection per request (Connection: close):
                      the same, seen as new sockets
  short connections   one every 300 ms that the client closes first (no
                      TIME_WAIT on the app's side): seen by the pod's
                      passive opens
  no traffic          ends at max(min_delay, quiet) = 700 ms
  L4 keep-alive       one connection that keeps sending a request every
                      100 ms for 6 s: never cut short, ends by delay at 4 s
                      and every request is answered

As root the test runs in a network namespace of its own (unshare), so no
other connection on the machine counts as the pod's.

Also: `status --json` while watching (quiet.watching, signal "bytes") and
after (ended.draining), the /ready body, and the histogram's reason label.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from ndtest import (AGENT, BUILD, SLOW, agent_config, check, free_port, get,
                    metric, summary, tally, wait)

APP = os.path.join(BUILD, "tests", "servers", "demo_app")
QUIET_MS = 700
MIN_DELAY_MS = 500
DELAY_MS = 4000


def control(sock, line):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock)
        s.sendall(line.encode() + b"\n")
        out = b""
        while not out.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out.decode()


class Client(threading.Thread):
    """Requests to the app until stop_at (monotonic), with pauses
    [(from, to)]: keep-alive on one connection, or one per request."""

    def __init__(self, port, stop_at, keepalive=True, every=0.025,
                 pauses=()):
        super().__init__(daemon=True)
        self.port, self.stop_at, self.keepalive = port, stop_at, keepalive
        self.every, self.pauses = every, pauses
        self.last = None        # monotonic: the last answer received
        self.ok = self.failed = 0

    def run(self):
        conn = None
        while time.monotonic() < self.stop_at:
            now = time.monotonic()
            if any(a <= now < b for a, b in self.pauses):
                time.sleep(0.01)
                continue
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                      timeout=5)
                conn.request("GET", "/", headers={} if self.keepalive else
                             {"Connection": "close"})
                r = conn.getresponse()
                r.read()
                self.ok += r.status == 200
                self.failed += r.status != 200
                self.last = time.monotonic()
                if not self.keepalive or r.will_close:
                    conn.close()
                    conn = None
            except OSError:
                self.failed += 1
                conn = None
            time.sleep(self.every)
        # the keep-alive connection stays open, idle, until the drain is
        # over: a pooled connection the load balancer no longer uses
        self.idle = conn


class ShortClient(threading.Thread):
    """A new connection every `every` s: one keep-alive request, the answer
    read, then the client closes first. The app's side then goes through
    CLOSE_WAIT and LAST_ACK in a millisecond and leaves no TIME_WAIT, so a
    walk of the sockets rarely sees it: the pod's passive opens do."""

    def __init__(self, port, stop_at, every=0.3):
        super().__init__(daemon=True)
        self.port, self.stop_at, self.every = port, stop_at, every
        self.last = None
        self.ok = self.failed = 0

    def run(self):
        while time.monotonic() < self.stop_at:
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              5) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    n = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            n = int(line.split(b":")[1])
                    while len(body) < n:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        body += chunk
                    ok = head.startswith(b"HTTP/1.1 200") and len(body) >= n
                    self.ok += ok
                    self.failed += not ok
                    self.last = time.monotonic()
            except OSError:
                self.failed += 1
            time.sleep(self.every)


class L4Client(threading.Thread):
    """One TCP connection that sends a request every 100 ms until stop_at
    and reads every answer: a client behind an L4 balancer that never
    closes its connection."""

    def __init__(self, port, stop_at):
        super().__init__(daemon=True)
        self.port, self.stop_at = port, stop_at
        self.sent = self.answered = 0
        self.error = None

    def run(self):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                              timeout=5)
            while time.monotonic() < self.stop_at:
                conn.request("GET", "/")
                self.sent += 1
                r = conn.getresponse()
                r.read()
                self.answered += r.status == 200
                time.sleep(0.1)
            conn.close()
        except OSError as e:
            self.error = e


def phase_ended(logpath, phase, nth):
    """(by, after_ms) of the nth (1-based) phase line leaving phase"""
    n = 0
    with open(logpath) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("msg") == "drain phase" and e.get("from") == phase:
                n += 1
                if n == nth:
                    return e.get("by"), int(e.get("after_ms"))
    return None, None


def own_netns(script=__file__, flag="NDT_QUIET_NETNS"):
    """As root, run script again in a network namespace of its own: the
    pod's passive opens count every connection in the namespace, and the
    machine's other connections are not this pod's. None when it cannot
    (not root, no unshare or ip): the test then runs here."""
    if os.geteuid() != 0 or os.environ.get(flag) == "1" or \
            not shutil.which("unshare") or not shutil.which("ip"):
        return None
    r = subprocess.run(["unshare", "--net", "sh", "-c",
                        'ip link set lo up && exec "$0" "$@"',
                        sys.executable, os.path.abspath(script)],
                       env=dict(os.environ, **{flag: "1"}))
    return r.returncode


class Rig:
    """A real agent (drain: the given lines; extra: more top-level YAML,
    checks: more items after the app's) beside the demo app on app.port,
    drained by a real `nodowntime prestop` and resumed. drain() answers
    how the phase `phase` ended."""

    def __init__(self, prefix, drain_yaml, phase, extra="", checks=""):
        self.d = tempfile.mkdtemp(prefix=prefix)
        port, self.app_port = free_port(), free_port()
        self.phase, self.drains = phase, 0
        cfg = os.path.join(self.d, "ndt.yaml")
        with open(cfg, "w") as f:
            f.write(agent_config(self.d, port, f"""\
log: {{format: json, level: info}}
app: {{port: {self.app_port}}}
{extra}drain:
{drain_yaml}checks:
  - name: app
    http: {{url: "http://127.0.0.1:{self.app_port}/healthz"}}
    interval: 200ms
{checks}"""))
        self.logpath = os.path.join(self.d, "log")
        self.app = subprocess.Popen(
            [APP, "--port", str(self.app_port), "--delay-ms", "2", "--mode",
             "graceful"], stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.d, "app.log"), "w"))
        self.agent = subprocess.Popen([AGENT, "run", "-c", cfg],
                                      stderr=open(self.logpath, "w"))
        self.base = f"http://127.0.0.1:{port}"
        self.sock = os.path.join(self.d, "ndt.sock")

    def drain(self, client=None, watch=None, watch_at=0.3):
        """prestop with client running; (by, ms of the phase, t0)"""
        t0 = time.monotonic()
        if client is not None:
            client.start()
        if watch is not None:
            threading.Timer(watch_at, watch).start()
        r = subprocess.run([AGENT, "prestop", "--socket", self.sock,
                            "--timeout", "20s"], capture_output=True,
                           timeout=30)
        check("prestop exit 0", r.returncode == 0, r.stderr)
        if client is not None:
            client.join(10)
        self.drains += 1
        by, ms = phase_ended(self.logpath, self.phase, self.drains)
        return by, ms, t0

    def resume(self):
        check("resume ok", control(self.sock, "resume") == "ok\n")

    def close(self):
        self.agent.kill()
        self.agent.wait()
        self.app.kill()
        self.app.wait()
        if tally.failed:
            print(open(self.logpath).read()[-4000:])
        shutil.rmtree(self.d, ignore_errors=True)


def main():
    rc = own_netns()
    if rc is not None:
        return rc
    rig = Rig("ndt-quiet-", f"""\
  delay: {DELAY_MS}ms
  min_delay: {MIN_DELAY_MS}ms
  quiet: {QUIET_MS}ms
  max_wait: 1s
""", "draining")
    base, sock, app_port = rig.base, rig.sock, rig.app_port
    drain, resume = rig.drain, rig.resume

    def gap_ok(name, by, ms, t0, last):
        """draining ended quiet ms after the last answer, not before.
        t0 is when this test asked for the drain, so the gap comes out
        short by the agent's lag in starting it: 50 ms of slack, 150 under
        the sanitizers (a SAN run once measured 640)"""
        gap = (t0 + ms / 1000.0 - last) * 1000.0 if last else None
        lo = QUIET_MS - (50 if SLOW == 1 else 150)
        check(f"{name}: ended by quiet", by == "quiet", by)
        check(f"{name}: {QUIET_MS} ms after the last request "
              f"(gap {gap and round(gap)} ms, want {lo}.."
              f"{QUIET_MS + 400 * SLOW})", gap is not None and
              lo <= gap <= QUIET_MS + 400 * SLOW,
              f"draining {ms} ms")

    try:
        check("agent ready", wait(lambda: get(base + "/ready")[0] == 200, 10))

        # keep-alive requests that stop 1.5 s into the drain
        seen = {}

        def watch():
            seen["status"] = json.loads(control(sock, "status"))
            seen["ready"] = get(base + "/ready")

        c = Client(app_port, time.monotonic() + 1.5)
        by, ms, t0 = drain(c, watch)
        gap_ok("keep-alive stops", by, ms, t0, c.last)
        check("keep-alive stops: draining lasted past the traffic "
              f"({ms} ms >= 1500)", ms is not None and ms >= 1500)
        check("keep-alive stops: every request answered",
              c.failed == 0 and c.ok > 20, f"{c.ok} ok, {c.failed} failed")
        st = seen.get("status", {})
        q = st.get("quiet", {})
        check("status while draining: quiet watching, signal bytes",
              st.get("phase") == "draining" and q.get("watching") is True and
              q.get("signal") == "bytes", st)
        check("/ready while draining: 503", seen.get("ready", (0,))[0] == 503)
        st = json.loads(control(sock, "status"))
        ended = st.get("ended", {}).get("draining", {})
        check("status after: ended.draining by quiet, its length",
              ended.get("ended_by") == "quiet" and ended.get("ms") == ms, st)
        body = get(base + "/ready")[1]
        check("/ready body: drain.draining.ended_by quiet",
              json.loads(body)["drain"].get("draining", {}).get(
                  "ended_by") == "quiet", body)
        if getattr(c, "idle", None) is not None:
            c.idle.close()
        resume()

        # a pause shorter than quiet does not end it
        t = time.monotonic()
        c = Client(app_port, t + 2.4, pauses=((t + 1.0, t + 1.4),))
        by, ms, t0 = drain(c)
        gap_ok("pause, then again", by, ms, t0, c.last)
        check(f"pause, then again: not ended in the pause ({ms} ms >= 2400)",
              ms is not None and ms >= 2400)
        if getattr(c, "idle", None) is not None:
            c.idle.close()
        resume()

        # one connection per request: new sockets are the signal
        c = Client(app_port, time.monotonic() + 1.5, keepalive=False,
                   every=0.05)
        by, ms, t0 = drain(c)
        gap_ok("new connections", by, ms, t0, c.last)
        check("new connections: every request answered",
              c.failed == 0 and c.ok > 10, f"{c.ok} ok, {c.failed} failed")
        resume()

        # short connections the client closes first, 300 ms apart
        c = ShortClient(app_port, time.monotonic() + 2.0)
        by, ms, t0 = drain(c)
        gap_ok("short connections, client closes first", by, ms, t0, c.last)
        check("short connections: every request answered",
              c.failed == 0 and c.ok >= 5, f"{c.ok} ok, {c.failed} failed")
        resume()

        # nothing at all: max(min_delay, quiet)
        by, ms, _ = drain(None)
        check(f"no traffic: by quiet at {QUIET_MS} ms ({ms} ms, want "
              f"{QUIET_MS}..{QUIET_MS + 300 * SLOW})", by == "quiet" and
              ms is not None and QUIET_MS <= ms <= QUIET_MS + 300 * SLOW,
              by)
        resume()

        # an L4 keep-alive client that never stops holds it to delay
        c = L4Client(app_port, time.monotonic() + 6.0)
        by, ms, _ = drain(c)
        check(f"L4 keep-alive: never cut short, by delay at {DELAY_MS} ms "
              f"({by}, {ms} ms)", by == "delay" and ms is not None and
              DELAY_MS <= ms <= DELAY_MS + 300 * SLOW)
        check("L4 keep-alive: every request answered",
              c.error is None and c.sent == c.answered and c.sent > 30,
              f"{c.answered}/{c.sent} {c.error}")
        resume()

        check("histogram: draining by quiet 5, by delay 1", metric(
            base, "nodowntime_drain_phase_seconds_count", phase="draining",
            reason="quiet") == 5 and metric(
            base, "nodowntime_drain_phase_seconds_count", phase="draining",
            reason="delay") == 1)
        with open(rig.logpath) as f:
            text = f.read()
        check("log: the quiet watch says which signal",
              '"watching":"new connections and received bytes"' in text)
    finally:
        rig.close()
    return summary("drain-quiet")


if __name__ == "__main__":
    sys.exit(main())
