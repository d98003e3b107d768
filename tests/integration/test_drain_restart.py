#!/usr/bin/python3
"""test_drain_restart.py - a drain undone by a new app process (issue 11 §2).

The kubelet runs the app's preStop also when it restarts the container
after a failed liveness or startup probe. A real agent with app.port, a
real app (a separate python process listening on app.port), the real
`nodowntime-hook prestop`; then the app is stopped and a new one started:

  * restarted at once (a gap shorter than the agent's poll: the new
    listener's socket inode tells it) -> serving again within 3 s, the
    state file says serving, nodowntime_drain_undone_total{reason=
    "app_restarted"} is 1, the log says why;
  * restarted after a second down (the gap is seen) -> serving again;
  * the app never stops listening -> stays drained;
  * the app stops and never comes back (a pod deletion) -> stays drained;
  * the agent is killed while drained and the app restarted while it is
    down: the listeners the drain began with are in the state file, so the
    restarted agent still sees a new app process;
  * app.port 0: a one-time warning at drained that nothing undoes it;
    `nodowntime-hook resume` (what the app runs as it starts) does.

Every "drain phase" log line names its cause in `by` (never empty).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from ndtest import (AGENT, BUILD, agent_config, check, free_port, get, metric,
                    summary, tally, wait)

HOOK = os.path.join(BUILD, "nodowntime-hook")

APP = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.close()
"""


class App:
    """the app container's process: listens on port until stopped"""

    def __init__(self, port):
        self.p = subprocess.Popen([sys.executable, "-c", APP, str(port)],
                                  stdout=subprocess.PIPE)
        assert self.p.stdout.readline().strip() == b"listening"

    def stop(self):
        self.p.kill()
        self.p.wait()
        self.p.stdout.close()


def state_phase(d):
    try:
        with open(os.path.join(d, "state")) as f:
            for line in f:
                if line.startswith("phase "):
                    return line.split()[1]
    except OSError:
        pass
    return None


class Agent:
    def __init__(self, name, app_port=None):
        self.d = tempfile.mkdtemp(prefix=f"ndt-restart-{name}-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.cfg = os.path.join(self.d, "ndt.yaml")
        self.log = os.path.join(self.d, "agent.log")
        app = f"app: {{port: {app_port}}}\n" if app_port else ""
        with open(self.cfg, "w") as f:
            f.write(agent_config(self.d, self.port, app + """\
log: {format: json, level: info}
drain: {delay: 200ms, max_wait: 2s}
"""))
        self.start()

    def start(self):
        self.p = subprocess.Popen([AGENT, "run", "-c", self.cfg],
                                  stderr=open(self.log, "a"))
        return wait(lambda: get(self.base + "/healthz")[0] == 200, 5)

    def ready(self):
        return get(self.base + "/ready")[0]

    def prestop(self):
        """the kubelet's preStop: blocks until drained"""
        return subprocess.run([HOOK, "prestop", "--socket",
                               self.d + "/ndt.sock", "--timeout", "20s"],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              timeout=30).returncode

    def logtext(self):
        with open(self.log) as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        if tally.failed:
            print(self.logtext()[-2000:])
        shutil.rmtree(self.d, ignore_errors=True)


def drained(name, a):
    check(f"{name}: agent ready before the drain", a.ready() == 200)
    check(f"{name}: prestop returns 0 once drained", a.prestop() == 0)
    check(f"{name}: /ready 503 when drained", a.ready() == 503)
    check(f"{name}: state file says drained",
          wait(lambda: state_phase(a.d) == "drained", 2), state_phase(a.d))


def undone(name, a, bound=3):
    t0 = time.time()
    ok = wait(lambda: a.ready() == 200, bound)
    check(f"{name}: /ready 200 again within {bound} s", ok,
          f"{time.time() - t0:.2f} s")
    check(f"{name}: state file says serving",
          wait(lambda: state_phase(a.d) == "serving", 2), state_phase(a.d))
    check(f"{name}: undone_total{{app_restarted}} is 1",
          metric(a.base, "nodowntime_drain_undone_total",
                 reason="app_restarted") == 1)
    check(f"{name}: logged with why", "drain undone" in a.logtext() and
          '"to":"serving","after_ms"' in a.logtext() and
          '"by":"app_restarted"' in a.logtext())
    check(f"{name}: every drain phase line says by what",
          '"by":""' not in a.logtext() and '"by":"delay"' in a.logtext()
          and '"by":"connections"' in a.logtext())


def kept(name, a, secs=2, before=0):
    time.sleep(secs)
    check(f"{name}: still 503 after {secs} s", a.ready() == 503)
    check(f"{name}: state file still drained", state_phase(a.d) == "drained")
    check(f"{name}: nothing undone", (metric(
        a.base, "nodowntime_drain_undone_total",
        reason="app_restarted") or 0) == before)


def main():
    # 1. a restart faster than a poll: the new socket inode decides
    port = free_port()
    app = App(port)
    a = Agent("fast", port)
    try:
        drained("fast restart", a)
        app.stop()
        app = App(port)
        undone("fast restart", a)
        # a second drain of the same agent still works, and is kept
        drained("fast restart, drain again", a)
        kept("fast restart, drain again, app keeps running", a, 1, 1)
    finally:
        a.stop()
        app.stop()

    # 2. a restart after a second down: the gap is seen
    port = free_port()
    app = App(port)
    a = Agent("slow", port)
    try:
        drained("slow restart", a)
        app.stop()
        time.sleep(1)
        check("slow restart: still 503 while the app is down",
              a.ready() == 503)
        app = App(port)
        undone("slow restart", a)
    finally:
        a.stop()
        app.stop()

    # 3. the app never stops listening: not a restart
    port = free_port()
    app = App(port)
    a = Agent("keeps", port)
    try:
        drained("app keeps listening", a)
        kept("app keeps listening", a)
    finally:
        a.stop()
        app.stop()

    # 4. the app stops and never comes back: a pod deletion
    port = free_port()
    app = App(port)
    a = Agent("gone", port)
    try:
        drained("app gone", a)
        app.stop()
        kept("app gone", a)
    finally:
        a.stop()

    # 5. the agent down while the app restarts: the state file's inodes
    port = free_port()
    app = App(port)
    a = Agent("agentdown", port)
    try:
        drained("agent down", a)
        check("agent down: listener inode in the state file",
              "listen_inode " in open(os.path.join(a.d, "state")).read())
        a.p.send_signal(signal.SIGKILL)
        a.p.wait()
        app.stop()
        app = App(port)
        check("agent down: agent up again", a.start())
        undone("agent down", a)
    finally:
        a.stop()
        app.stop()

    # 6. app.port 0: nothing to watch, said once at drained
    a = Agent("port0")
    try:
        drained("app.port 0", a)
        check("app.port 0: warned that nothing undoes the drain", wait(
            lambda: "drained with app.port 0" in a.logtext(), 2))
        time.sleep(0.5)
        check("app.port 0: still drained", a.ready() == 503)
        # what the docs tell such an app: `nodowntime-hook resume` as it
        # starts again
        r = subprocess.run([HOOK, "resume", "--socket", a.d + "/ndt.sock"],
                           capture_output=True, text=True, timeout=10)
        check("app.port 0: nodowntime-hook resume exits 0", r.returncode == 0,
              (r.returncode, r.stdout, r.stderr))
        check("app.port 0: /ready 200 after resume", wait(
            lambda: a.ready() == 200, 2))
        check("app.port 0: state file says serving after resume",
              wait(lambda: state_phase(a.d) == "serving", 2),
              state_phase(a.d))
    finally:
        a.stop()
    r = subprocess.run([HOOK, "resume", "--socket", a.d + "/none.sock"],
                       capture_output=True, text=True, timeout=10)
    check("resume with no agent: exit 1 and says why", r.returncode == 1 and
          "cannot reach the agent" in r.stderr, (r.returncode, r.stderr))
    return summary("drain_restart")


if __name__ == "__main__":
    sys.exit(main())
