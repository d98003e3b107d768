#!/usr/bin/python3
"""test_agentcheck.py - HAProxy's agent-check port (agent_check.listen) on
real sockets, beside a real agent, the demo app and real dependencies.

  every answer      down #<check>: <output> while a critical dependency
                    fails; up ready <warn_weight> while only a non-critical
                    one does; up ready 100%; drain from the first instant
                    of a drain until it is resumed; one line, then EOF
  agent-send        a line sent first (HAProxy's agent-send) is read and
                    ignored
  bounds            at most server.max_connections open: the next one is
                    closed unanswered (counted); each is closed at its
                    deadline; one that sends past the read cap is closed
  quiet drain       polled every 50 ms during a drain with drain.quiet,
                    draining still ends by quiet: the agent-check's own
                    accepts are not the app's traffic
  reload            a new warn_weight is answered at once

As root the test runs in a network namespace of its own, like
test_drain_quiet.py (the pod's passive opens are the namespace's).
"""
import os
import socket
import subprocess
import sys
import threading
import time

from ndtest import (AGENT, SLOW, check, free_port, get, metric, summary,
                    wait)
from test_drain_quiet import Rig, own_netns

MAX_CONNS = 8
DEADLINE_S = 1.0                # server.request_timeout


def ask(port, send=b"", timeout=3):
    """connect, send, read until EOF: the answer (b"" when closed
    unanswered, None on a reset or timeout)"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as s:
            if send:
                s.sendall(send)
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return out
                out += chunk
    except OSError:
        return None


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


class Poller(threading.Thread):
    """asks every 50 ms, as HAProxy with agent-inter 50ms: (t, answer)"""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.seen, self.stop = port, [], False

    def run(self):
        while not self.stop:
            self.seen.append((time.monotonic(), ask(self.port)))
            time.sleep(0.05)


def main():
    rc = own_netns(__file__, "NDT_AGENTCHECK_NETNS")
    if rc is not None:
        return rc
    ac, dep, soft = free_port(), free_port(), free_port()
    extra = (f"agent_check: {{listen: 127.0.0.1:{ac}, warn_weight: 25%}}\n"
             f"server: {{max_connections: {MAX_CONNS}, request_timeout: "
             f"{int(DEADLINE_S * 1000)}ms}}\n")
    checks = f"""\
  - name: dep
    tcp: {{host: 127.0.0.1, port: {dep}}}
    interval: 200ms
    timeout: 100ms
    fall: 1
  - name: soft
    tcp: {{host: 127.0.0.1, port: {soft}}}
    critical: false
    interval: 200ms
    timeout: 100ms
    fall: 1
"""
    rig = Rig("ndt-agentcheck-", """\
  delay: 4s
  min_delay: 500ms
  quiet: 700ms
  max_wait: 1s
""", "draining", extra=extra, checks=checks)
    held = []
    try:
        # a critical dependency down: down #<name>: <output>
        check("agent-check answers down while dep fails", wait(
            lambda: b"refused" in (ask(ac) or b""), 10))
        a = ask(ac)
        check("down: one line with the check's output",
              a is not None and a.startswith(b"down #dep: ") and
              a.endswith(b"\n") and a.count(b"\n") == 1 and b"refused" in a and len(a) <= len("down #\n") + 200, a)
        check("/ready fails meanwhile", get(rig.base + "/ready")[0] == 503)
        ld = listener(dep)
        check("up ready 25% while only a non-critical check fails", wait(
            lambda: ask(ac) == b"up ready 25%\n", 5))
        check("/ready is 200 warn meanwhile",
              get(rig.base + "/ready")[1].startswith('{"status":"warn"'))
        ls = listener(soft)
        check("up ready 100% once every check passes", wait(
            lambda: ask(ac) == b"up ready 100%\n", 5))
        check("a line sent first (agent-send) is ignored",
              ask(ac, b"be_app/r0a\n") == b"up ready 100%\n")

        # bounds: max_connections open, the next one closed unanswered
        for _ in range(MAX_CONNS):
            s = socket.create_connection(("127.0.0.1", ac), 3)
            held.append(s)
        t_held = time.monotonic()
        time.sleep(0.1)
        extra_ans = ask(ac)
        in_time = time.monotonic() - t_held < DEADLINE_S * 0.8
        check(f"connection {MAX_CONNS + 1} closed unanswered while "
              f"{MAX_CONNS} are open", extra_ans in (b"", None) or
              not in_time, f"{extra_ans!r}, in time {in_time}")
        check("...and counted", (metric(
            rig.base, "nodowntime_agent_check_refused_total") or 0) >= 1)
        got = [s.recv(64) for s in held]
        check("the held ones were answered", all(
            g == b"up ready 100%\n" for g in got), got)
        # they never close: the agent does, at the deadline, and a new
        # connection is answered again while they are still open here
        again = None
        while time.monotonic() - t_held < DEADLINE_S * 3 * SLOW:
            if ask(ac) == b"up ready 100%\n":
                again = time.monotonic() - t_held
                break
            time.sleep(0.05)
        check(f"the agent closed the {MAX_CONNS} held ones at their "
              f"deadline: answered again after {again and round(again, 2)} "
              f"s (want {DEADLINE_S * 0.8:.1f}..{DEADLINE_S + 0.5 * SLOW:.1f})",
              again is not None and
              DEADLINE_S * 0.8 <= again <= DEADLINE_S + 0.5 * SLOW)
        # a peer that sends past the read cap is cut off before its deadline
        t0 = time.monotonic()
        ask(ac, b"x" * 65536, timeout=DEADLINE_S * 3)
        check("a peer sending 64 KiB is closed before the deadline "
              f"({time.monotonic() - t0:.2f} s)",
              time.monotonic() - t0 < DEADLINE_S * 0.8)

        # drain: "drain" at once, and the polls do not hold the quiet wait
        poll = Poller(ac)
        poll.start()
        time.sleep(0.3)
        by, ms, t0 = rig.drain()
        first = next((t for t, a in poll.seen if t >= t0 and
                      a == b"drain\n"), None)
        lag = None if first is None else (first - t0) * 1000
        check(f"drain answered within 150 ms of prestop (polled every "
              f"50 ms: {lag and round(lag)} ms)",
              lag is not None and lag <= 150 * SLOW)
        check("no up answer after the drain began", not any(
            a != b"drain\n" for t, a in poll.seen
            if first is not None and t > first))
        check(f"draining ended by quiet though polled 20/s (by={by}, "
              f"{ms} ms, want <= 1500)", by == "quiet" and
              ms is not None and ms <= 1500 * SLOW)
        check("still drain once drained", ask(ac) == b"drain\n")
        rig.resume()
        check("up ready 100% after resume", wait(
            lambda: ask(ac) == b"up ready 100%\n", 3))
        poll.stop = True
        poll.join(5)

        # reload: the new warn weight
        ls.close()
        cfg = os.path.join(rig.d, "ndt.yaml")
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace("warn_weight: 25%", "warn_weight: 60%"))
        rig.agent.send_signal(1)        # SIGHUP
        check("a reload's warn_weight is answered", wait(
            lambda: ask(ac) == b"up ready 60%\n", 5))
        for ans in ("up", "warn", "drain", "down"):
            n = metric(rig.base, "nodowntime_agent_check_answers_total",
                       answer=ans)
            check(f"answers_total{{answer={ans}}} counted ({n})",
                  n is not None and n >= 1)
        ld.close()
        r = subprocess.run([AGENT, "status", "--socket", rig.sock],
                           capture_output=True, text=True, timeout=10)
        check("status still answers", r.returncode == 0, r.stderr)
    finally:
        for s in held:
            s.close()
        rig.close()
    return summary("agentcheck")


if __name__ == "__main__":
    sys.exit(main())
