#!/usr/bin/python3
"""test_drain_idle.py - drain.idle_timeout on real sockets.

A real agent (`drain: {delay: 1s, max_wait: 4s, idle_timeout: 500ms}`)
beside the demo app on app.port, drained by a real `nodowntime prestop`
while real clients hold connections to the app. One scenario per
behaviour, each a drain followed by `resume`:

  idle keep-alive     requests on one keep-alive connection until 1.4 s
                      after prestop (into quiescing), then none: the
                      connection stays open, idle, like a load balancer's
                      pooled one. Quiescing ends by idle, 500 ms after the
                      last answer (not before, and well before max_wait)
  unanswered request  after one answered request, a second the app has
                      read but not answered (its head never ends): never
                      idle, held to max_wait
  L4 keep-alive       a request every 100 ms all through quiescing: held
                      to max_wait, every request answered
  no connection       ends by connections, as without idle_timeout

As root it runs in a network namespace of its own, like
test_drain_quiet.py. Also: `status --json` while quiescing (idle.timeout_ms,
idle.connections), ended.quiescing, the /ready body, the "drain idle" log
line and the histogram's reason label.
"""
import json
import socket
import sys
import time

from ndtest import SLOW, check, get, metric, summary, wait
from test_drain_quiet import Client, L4Client, Rig, control, own_netns

DELAY_MS = 1000
IDLE_MS = 500
MAX_WAIT_MS = 4000


def main():
    rc = own_netns(__file__, "NDT_IDLE_NETNS")
    if rc is not None:
        return rc
    rig = Rig("ndt-idle-", f"""\
  delay: {DELAY_MS}ms
  wait_for_connections: true
  max_wait: {MAX_WAIT_MS}ms
  idle_timeout: {IDLE_MS}ms
""", "quiescing")
    base, sock, app_port = rig.base, rig.sock, rig.app_port
    drain, resume = rig.drain, rig.resume

    try:
        check("agent ready", wait(lambda: get(base + "/ready")[0] == 200, 10))

        # keep-alive requests into quiescing, then an idle pooled connection
        seen = {}

        def watch():
            seen["status"] = json.loads(control(sock, "status"))

        c = Client(app_port, time.monotonic() + 1.4, every=0.05)
        by, ms, t0 = drain(c, watch, 1.2)
        end = t0 + (DELAY_MS + (ms or 0)) / 1000.0
        gap = (end - c.last) * 1000.0 if c.last else None
        check("idle keep-alive: quiescing ended by idle", by == "idle", by)
        check(f"idle keep-alive: {IDLE_MS} ms after the last answer (gap "
              f"{gap and round(gap)} ms, want {IDLE_MS - 50}.."
              f"{IDLE_MS + 400 * SLOW})", gap is not None and
              IDLE_MS - 50 <= gap <= IDLE_MS + 400 * SLOW, f"quiescing {ms}")
        check("idle keep-alive: every request answered",
              c.failed == 0 and c.ok > 10, f"{c.ok} ok, {c.failed} failed")
        check("idle keep-alive: the connection was still open",
              getattr(c, "idle", None) is not None)
        st = seen.get("status", {})
        idle = st.get("idle", {})
        check("status while quiescing: idle.timeout_ms, connections 0 of 1",
              st.get("phase") == "quiescing" and
              idle.get("timeout_ms") == IDLE_MS and
              idle.get("connections") == 0 and st.get("connections") == 1,
              st)
        st = json.loads(control(sock, "status"))
        ended = st.get("ended", {}).get("quiescing", {})
        check("status after: ended.quiescing by idle, its length",
              ended.get("ended_by") == "idle" and ended.get("ms") == ms, st)
        body = get(base + "/ready")[1]
        check("/ready body: drain.quiescing.ended_by idle",
              json.loads(body)["drain"].get("quiescing", {}).get(
                  "ended_by") == "idle", body)
        with open(rig.logpath) as f:
            lines = [json.loads(x) for x in f if x.startswith("{")]
        check("log: drain idle with the connection count",
              any(e.get("msg") == "drain idle" and e.get("connections") == 1
                  and e.get("idle_timeout_ms") == IDLE_MS for e in lines))
        if getattr(c, "idle", None) is not None:
            c.idle.close()
        resume()

        # a request read by the app but never answered: never idle
        # (after one answered request, so the connection has sent data:
        # the last data went in after the last went out)
        s = socket.create_connection(("127.0.0.1", app_port), 5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
        got = b""
        while b"hello" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        check("unanswered request: the first one answered", b"hello" in got)
        time.sleep(0.1)
        s.sendall(b"GET / HTTP/1.1\r\nHost: app\r\n")   # no end of head
        by, ms, _ = drain()
        check(f"unanswered request: held to max_wait ({by}, {ms} ms, want "
              f"{MAX_WAIT_MS}..{MAX_WAIT_MS + 300 * SLOW})",
              by == "max_wait" and ms is not None and
              MAX_WAIT_MS <= ms <= MAX_WAIT_MS + 300 * SLOW)
        s.close()
        resume()

        # an L4 client that keeps sending through quiescing
        c = L4Client(app_port, time.monotonic() + DELAY_MS / 1000.0 +
                     MAX_WAIT_MS / 1000.0 + 1.0)
        by, ms, _ = drain(c)
        check(f"L4 keep-alive: never cut short, held to max_wait ({by}, "
              f"{ms} ms)", by == "max_wait" and ms is not None and
              MAX_WAIT_MS <= ms <= MAX_WAIT_MS + 300 * SLOW)
        check("L4 keep-alive: every request answered",
              c.error is None and c.sent == c.answered and c.sent > 30,
              f"{c.answered}/{c.sent} {c.error}")
        resume()

        # nothing connected: connections, as before
        by, ms, _ = drain()
        check(f"no connection: by connections at once ({by}, {ms} ms)",
              by == "connections" and ms is not None and
              ms <= 300 * SLOW)
        resume()

        check("histogram: quiescing by idle 1, by max_wait 2", metric(
            base, "nodowntime_drain_phase_seconds_count", phase="quiescing",
            reason="idle") == 1 and metric(
            base, "nodowntime_drain_phase_seconds_count", phase="quiescing",
            reason="max_wait") == 2)
    finally:
        rig.close()
    return summary("drain-idle")


if __name__ == "__main__":
    sys.exit(main())
