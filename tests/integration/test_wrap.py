#!/usr/bin/python3
"""test_wrap.py - `nodowntime-hook wrap -- CMD` and the control command
`quit`, with real agents and real processes (docs/CONTROL.md):

* wrap waits for the app's dependencies (a critical check gating /ready
  that does not probe the pod), not for the app's own checks; gives up at
  --wait-timeout (exit 1, says which dependency, no quit) or on SIGTERM or
  SIGHUP (128 + N, CMD not started, no quit);
* it forwards TERM, INT, HUP, QUIT, USR1 and USR2 to CMD;
* it exits with CMD's status (128 + N for death by signal N), 127 or 126
  when CMD cannot be run, 2 on a usage error;
* once CMD exits (or failed to exec) it sends `quit`: the agent exits 0 at
  once (the gap is measured), also in the middle of a drain;
* it reaps orphans as PID 1 of a PID namespace, and as a subreaper;
* --no-wait starts CMD at once with no agent at all; `quit` is refused to
  a uid outside control_allowed_uids; `nodowntime wrap` is the same code.

As root the test runs in a network namespace of its own (unshare) with a
non-loopback address on lo, the "dependency" host: a loopback target would
count as the pod itself. The PID namespace and the other-uid checks need
root too and are skipped otherwise.
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import test_client  # noqa: E402
from ndtest import (AGENT, BUILD, SLOW, check, free_port,  # noqa: E402
                    summary, tally, wait)
from ndtproc import unix_request  # noqa: E402

HOOK = os.path.join(BUILD, "nodowntime-hook")
PY = sys.executable
NETNS_FLAG = "NDT_WRAP_NETNS"
NETNS_DEP = "10.250.0.1"    # on lo, in our own network namespace
UID = 23456

# CMD for the signal checks: records each signal, exits 42 on TERM
SIGNALS_PY = r"""
import os, signal, sys, time
out = sys.argv[1]
names = {signal.SIGTERM: "TERM", signal.SIGINT: "INT", signal.SIGHUP: "HUP",
         signal.SIGQUIT: "QUIT", signal.SIGUSR1: "USR1",
         signal.SIGUSR2: "USR2"}
def got(sig, frame):
    with open(out, "a") as f:
        f.write(names[sig] + "\n")
    if sig == signal.SIGTERM:
        os._exit(42)
for s in names:
    signal.signal(s, got)
open(out + ".ready", "w").close()
while True:
    time.sleep(1)
"""

# CMD for the reaping checks: three orphans (double forks) that die while
# CMD runs. Each writes its pid and, once orphaned, its new parent's; CMD
# waits until they have exited, then for at most 2 s until no zombie is
# left among its parent's children, and writes what it saw.
ORPHANS_PY = r"""
import os, sys, time
out = sys.argv[1]
t0 = time.monotonic()
for i in range(3):
    pid = os.fork()
    if pid == 0:
        mid = os.getpid()
        if os.fork() == 0:
            while os.getppid() == mid and time.monotonic() - t0 < 10:
                time.sleep(0.01)
            with open(f"{out}.ppid{i}.tmp", "w") as f:
                f.write(f"{os.getpid()} {os.getppid()}")
            os.rename(f"{out}.ppid{i}.tmp", f"{out}.ppid{i}")
            time.sleep(0.2)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)


def stat(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None         # gone: reaped


def zombie(pid, parent=None):
    st = stat(pid) or ["", "0"]     # read once: it may go meanwhile
    return st[0] == "Z" and (parent is None or int(st[1]) == parent)


def running(pid):
    st = stat(pid)
    return st is not None and st[0] != "Z"


def zombies(parent):
    return [p for p in os.listdir("/proc") if p.isdigit() and
            zombie(p, parent)]


orphans = []
while len(orphans) < 3 and time.monotonic() - t0 < 10:
    try:
        orphans = [int(open(f"{out}.ppid{i}").read().split()[0])
                   for i in range(3)]
    except OSError:
        time.sleep(0.01)
while time.monotonic() - t0 < 10 and any(running(p) for p in orphans):
    time.sleep(0.01)
t1 = time.monotonic()
while zombies(os.getppid()) and time.monotonic() - t1 < 2:
    time.sleep(0.01)
with open(out, "w") as f:
    f.write(f"{os.getpid()} {os.getppid()} {len(zombies(os.getppid()))}\n")
"""

# CMD for the timing check: its exit time on CLOCK_MONOTONIC, then exit
EXIT_AT_PY = r"""
import os, sys, time
with open(sys.argv[1], "w") as f:
    f.write(repr(time.monotonic()))
os._exit(0)
"""


def own_netns():
    """As root, run this script again in a network namespace of its own
    with NETNS_DEP on lo. None when it cannot (not root, no unshare or
    ip): the test then runs here."""
    if os.geteuid() != 0 or os.environ.get(NETNS_FLAG) == "1" or \
            not shutil.which("unshare") or not shutil.which("ip"):
        return None
    r = subprocess.run(["unshare", "--net", "sh", "-c",
                        "ip link set lo up && ip addr add "
                        f"{NETNS_DEP}/32 dev lo && " 'exec "$0" "$@"',
                        PY, os.path.abspath(__file__)],
                       env=dict(os.environ, **{NETNS_FLAG: "1"}))
    return r.returncode


def dep_host():
    """an address of this machine that is not loopback, for a check that
    is a dependency (not the pod itself); None when there is none"""
    if os.environ.get(NETNS_FLAG) == "1":
        return NETNS_DEP
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))     # no packet is sent
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") else ip


def as_uid(uid):
    def become():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return become


class Agent(test_client.Agent):
    """test_client's agent (socket, state and log in a temp directory,
    mode 0755 for other uids), and what wrap's checks ask of it"""

    def logtext(self):
        return open(self.log, errors="replace").read()

    def path(self, name):
        return os.path.join(self.d, name)

    def status(self):
        return unix_request(self.sock, "status\n", 5)

    def exited(self, timeout=3):
        """the agent's exit code once it exits by itself, None if not"""
        try:
            return self.p.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if tally.failed:
            print(self.logtext()[-3000:])
        super().stop()


def dep_agent(dep, dep_port, app_port, app_affects="[ready]"):
    """an agent whose check db (tcp to dep:dep_port) is a dependency and
    app (http to 127.0.0.1:app_port) the app's own"""
    return Agent("checks:\n"
                 f"  - {{name: db, tcp: {{host: {dep}, port: {dep_port}}}, "
                 "interval: 200ms, timeout: 100ms}\n"
                 "  - {name: app, http: {url: \"http://127.0.0.1:"
                 f"{app_port}/healthz\"}}, affects: {app_affects}, "
                 "interval: 200ms, timeout: 100ms}\n")


def wrap(argv, binary=HOOK, **kw):
    """start `binary wrap ARGV`: the Popen, stderr to a pipe"""
    return subprocess.Popen([binary, "wrap"] + argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def finish(p, timeout=10):
    """(exit code, stderr) of a wrap Popen"""
    try:
        _, err = p.communicate(timeout=timeout * SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err
    return p.returncode, err


def script(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def waits_for_dependencies(dep):
    app_port, dep_port = free_port(), free_port()
    a = dep_agent(dep, dep_port, app_port, "[ready, startup]")
    listener = None
    try:
        marker = a.path("started")
        w = wrap(["--socket", a.sock, "--", "sh", "-c",
                  f"echo started > {marker}; exec sleep 60"])
        time.sleep(1.5 * SLOW)
        check("wrap: CMD not started while the dependency is down (1.5 s)",
              not os.path.exists(marker) and w.poll() is None)
        st = a.status()
        check("status: dependencies_ready false, before checks",
              '"dependencies_ready":false' in st and
              st.index('"dependencies_ready"') < st.index('"checks"'), st)
        check("status: db is a dependency (self false), app the pod's "
              "own (self true)",
              '"name":"db"' in st and '"name":"app"' in st and
              st.split('"name":"db"')[1].split('"name"')[0].count(
                  '"self":false') == 1 and
              st.split('"name":"app"')[1].count('"self":true') == 1, st)
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((dep, dep_port))
        listener.listen(16)
        t0 = time.monotonic()
        ok = wait(lambda: os.path.exists(marker), 5)
        dt = time.monotonic() - t0
        print(f"    CMD started {dt * 1000:.0f} ms after the dependency "
              "came up")
        check("wrap: CMD runs within a few seconds of the dependency "
              "coming up", ok and w.poll() is None, f"{dt:.1f} s")
        st = a.status()
        check("the app's own check does not hold it back: ready false, "
              "dependencies_ready true", '"ready":false' in st and
              '"dependencies_ready":true' in st, st)
        w.terminate()
        rc, err = finish(w)
        check("SIGTERM to wrap reaches CMD (sleep): exit 143", rc == 143,
              f"rc={rc} {err}")
        check("wrap said how long it waited", "the dependencies are ready "
              "after" in err, err)
        check("then the agent quits: exit 0", a.exited() == 0,
              a.logtext()[-500:])
    finally:
        if listener is not None:
            listener.close()
        a.stop()


def wait_gives_up(dep):
    dep_port, app_port = free_port(), free_port()
    a = dep_agent(dep, dep_port, app_port)
    try:
        wait(lambda: '"status":"failing"' in a.status(), 3)
        marker = a.path("started")
        t0 = time.monotonic()
        rc, err = finish(wrap(["--socket", a.sock, "--wait-timeout", "1s",
                               "--", "touch", marker]))
        dt = time.monotonic() - t0
        print(f"    {err.strip()}")
        check("--wait-timeout 1s: exit 1 near the timeout", rc == 1 and
              0.95 <= dt <= 1 + 1.5 * SLOW, f"rc={rc} {dt:.2f} s")
        check("the timeout names the failing dependency, not the app's own "
              "check", "dependencies not ready after 1s" in err and
              "check db failing" in err and "check app" not in err and
              "touch not started" in err, err)
        check("on a timeout CMD does not run", not os.path.exists(marker))
        for sig, name in ((15, "SIGTERM"), (1, "SIGHUP")):
            w = wrap(["--socket", a.sock, "--", "touch", marker])
            time.sleep(0.6 * SLOW)
            t0 = time.monotonic()
            w.send_signal(sig)
            rc, err = finish(w)
            dt = time.monotonic() - t0
            check(f"{name} during the wait: exit {128 + sig} at once, "
                  "says so", rc == 128 + sig and dt < 0.5 * SLOW and
                  f"{name} while waiting for the agent: touch not started"
                  in err, f"rc={rc} {dt:.2f} s {err}")
        # a USR1 during the wait is dropped, not left to kill CMD
        w = wrap(["--socket", a.sock, "--wait-timeout", "1s", "--", "touch",
                  marker])
        time.sleep(0.4 * SLOW)
        w.send_signal(10)
        rc, err = finish(w)
        check("SIGUSR1 during the wait does not end it", rc == 1 and
              "dependencies not ready" in err, f"rc={rc} {err}")
        check("no CMD ran, and no quit was sent: the agent still runs",
              not os.path.exists(marker) and a.p.poll() is None and
              "control: quit" not in a.logtext())
    finally:
        a.stop()


def forwards_signals():
    a = Agent()
    try:
        out = a.path("signals")
        w = wrap(["--socket", a.sock, "--", PY,
                  script(a.d, "signals.py", SIGNALS_PY), out])
        ok = wait(lambda: os.path.exists(out + ".ready"), 10)
        check("signals: CMD up", ok)
        got = []
        for sig, name in ((10, "USR1"), (12, "USR2"), (1, "HUP"),
                          (2, "INT"), (3, "QUIT"), (15, "TERM")):
            w.send_signal(sig)
            if wait(lambda: os.path.exists(out) and
                    name in open(out).read().split(), 3):
                got.append(name)
        rc, err = finish(w)
        check("USR1, USR2, HUP, INT, QUIT and TERM all reach CMD",
              got == ["USR1", "USR2", "HUP", "INT", "QUIT", "TERM"],
              f"{got} {err}")
        check("wrap exits with CMD's status after TERM (42)", rc == 42,
              f"rc={rc} {err}")
        check("and the agent quits", a.exited() == 0)
    finally:
        a.stop()


def exit_codes():
    none = "/nonexistent/ndt.sock"
    for cmd, want, what in ((["sh", "-c", "exit 0"], 0, "exit 0"),
                            (["sh", "-c", "exit 3"], 3, "exit 3"),
                            (["sh", "-c", "kill -KILL $$"], 137,
                             "death by SIGKILL")):
        rc, err = finish(wrap(["--no-wait", "--socket", none, "--"] + cmd))
        check(f"CMD {what}: wrap exits {want}", rc == want, f"rc={rc} {err}")
    check("with no agent, the failed quit is said on stderr",
          f"could not tell the agent at {none} to quit" in err, err)
    for argv, what in (([], "no CMD"), (["--"], "nothing after --"),
                       (["--bogus", "--", "true"], "an unknown option"),
                       (["--wait-timeout", "x", "--", "true"],
                        "a bad duration")):
        rc, err = finish(wrap(argv))
        check(f"usage error ({what}): exit 2", rc == 2 and "usage: wrap"
              in err, f"rc={rc} {err}")


def quit_gap():
    gaps = []
    for _ in range(5):
        a = Agent("checks:\n  - {name: app, http: {url: "
                  f"\"http://127.0.0.1:{free_port()}/\"}}, "
                  "affects: [ready, startup], interval: 200ms}\n")
        try:
            done = []
            watcher = threading.Thread(
                target=lambda: done.append((a.p.wait(), time.monotonic())))
            watcher.start()
            out = a.path("exit_at")
            rc, err = finish(wrap(["--socket", a.sock, "--", PY,
                                   script(a.d, "exit_at.py", EXIT_AT_PY),
                                   out]))
            watcher.join(5 * SLOW)
            if rc != 0 or not done or done[0][0] != 0:
                check("quit: CMD exit 0 and the agent exit 0", False,
                      f"rc={rc} agent={done} {err}")
                continue
            gaps.append((done[0][1] - float(open(out).read())) * 1000)
        finally:
            a.stop()
    if gaps:
        print(f"    agent exit after CMD's exit: {', '.join(f'{g:.1f}' for g in gaps)} ms "
              f"(median {statistics.median(gaps):.1f}, max {max(gaps):.1f})")
    check("the agent exits 0 within 100 ms of CMD's exit (5 runs)",
          len(gaps) == 5 and max(gaps) < 100 * SLOW, f"{gaps}")


def quit_mid_drain():
    app = socket.socket()
    app.bind(("127.0.0.1", 0))
    app.listen(16)
    a = Agent(f"app: {{port: {app.getsockname()[1]}}}\n"
              "drain: {delay: 30s}\n")
    try:
        watcher = socket.socket(socket.AF_UNIX)
        watcher.settimeout(5)
        watcher.connect(a.sock)
        watcher.sendall(b"drain\n")
        first = watcher.recv(4096).decode()
        check("drain under way", first.startswith("phase draining"), first)
        t0 = time.monotonic()
        reply = unix_request(a.sock, "quit\n", 5)
        rc = a.exited()
        dt = time.monotonic() - t0
        check("quit mid-drain: ok, and the agent exits 0 at once",
              reply == "ok\n" and rc == 0 and dt < 0.5 * SLOW,
              f"{reply!r} rc={rc} {dt:.2f} s")
        rest = b""
        try:
            while True:
                chunk = watcher.recv(4096)
                if not chunk:
                    break
                rest += chunk
        except OSError:
            pass
        check("the drain watcher just sees the connection close",
              b"drained" not in rest, rest)
        watcher.close()
        check("quit is logged with the peer", '"msg":"control: quit"' in
              a.logtext() and f"pid={os.getpid()}" in a.logtext())
        check("the state file is left as it was (draining)",
              "phase draining" in open(a.path("state")).read(),
              open(a.path("state")).read())
    finally:
        app.close()
        a.stop()


def cmd_cannot_run():
    a = Agent()
    try:
        rc, err = finish(wrap(["--socket", a.sock, "--",
                               "/nonexistent/ndt-app", "--port", "1"]))
        check("CMD does not exist: exit 127, named with the reason",
              rc == 127 and "wrap: cannot run /nonexistent/ndt-app: No such "
              "file or directory" in err, f"rc={rc} {err}")
        check("the agent still gets quit: exit 0", a.exited() == 0)
    finally:
        a.stop()
    a = Agent()
    try:
        noexec = script(a.d, "noexec.sh", "#!/bin/sh\nexit 0\n")
        os.chmod(noexec, 0o644)
        rc, err = finish(wrap(["--socket", a.sock, "--", noexec]))
        check("CMD not executable: exit 126, Permission denied", rc == 126
              and "Permission denied" in err, f"rc={rc} {err}")
        check("the agent gets quit then too", a.exited() == 0)
    finally:
        a.stop()
    a = Agent()
    try:
        rc, _ = finish(wrap(["--socket", a.sock, "--"]))
        check("a usage error sends no quit", rc == 2 and
              a.p.poll() is None and "control: quit" not in a.logtext())
    finally:
        a.stop()


def reaps_orphans():
    d = tempfile.mkdtemp(prefix="ndt-wrap-")
    try:
        orphans = script(d, "orphans.py", ORPHANS_PY)
        none = os.path.join(d, "none.sock")

        def result(out):
            try:
                me, parent, zombies = open(out).read().split()
                ppids = [open(f"{out}.ppid{i}").read().split()[1]
                         for i in range(3)]
            except (OSError, ValueError):
                return None
            return int(parent), int(zombies), ppids

        can_pidns = os.geteuid() == 0 and shutil.which("unshare")
        if can_pidns:
            # the control: a PID 1 that waits only for its own child
            out = os.path.join(d, "control")
            subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", PY,
                            "-c", "import subprocess, sys; "
                            "subprocess.call(sys.argv[1:])", PY, orphans, out],
                           timeout=20, stderr=subprocess.DEVNULL)
            r = result(out)
            check("control: a PID 1 that does not reap keeps the 3 orphans "
                  "as zombies", r is not None and r[1] == 3, f"{r}")
            out = os.path.join(d, "pid1")
            p = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc",
                                HOOK, "wrap", "--no-wait", "--socket", none,
                                "--", PY, orphans, out], timeout=20,
                               capture_output=True, text=True)
            r = result(out)
            check("wrap as PID 1: the orphans come to it (ppid 1)",
                  r is not None and r[0] == 1 and r[2] == ["1"] * 3,
                  f"{r} {p.stderr}")
            check("wrap as PID 1: no zombie left while CMD still runs",
                  r is not None and r[1] == 0 and p.returncode == 0,
                  f"{r} rc={p.returncode} {p.stderr}")
        else:
            print("wrap: not root or no unshare: the PID 1 checks skipped")
        out = os.path.join(d, "subreaper")
        w = wrap(["--no-wait", "--socket", none, "--", PY, orphans, out])
        rc, err = finish(w, 20)
        r = result(out)
        check("wrap not PID 1, a subreaper: the orphans come to it",
              r is not None and r[0] == w.pid and r[2] == [str(w.pid)] * 3,
              f"{r} wrap={w.pid} {err}")
        check("wrap as a subreaper: no zombie left while CMD still runs",
              r is not None and r[1] == 0 and rc == 0, f"{r} rc={rc} {err}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def no_wait_no_agent():
    d = tempfile.mkdtemp(prefix="ndt-wrap-")
    try:
        marker = os.path.join(d, "ran")
        t0 = time.monotonic()
        rc, err = finish(wrap(["--no-wait", "--socket",
                               os.path.join(d, "none.sock"), "--", "touch",
                               marker]))
        dt = time.monotonic() - t0
        check("--no-wait with no agent: CMD runs at once, exit 0",
              rc == 0 and os.path.exists(marker) and dt < 1 * SLOW,
              f"rc={rc} {dt:.2f} s {err}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def quit_forbidden():
    a = Agent("control_allowed_uids: [12345]\n")
    try:
        os.chmod(a.sock, 0o666)     # only the uid rule decides
        r = subprocess.run([PY, "-c", "import socket, sys; "
                            "s = socket.socket(socket.AF_UNIX); "
                            "s.settimeout(5); s.connect(sys.argv[1]); "
                            "s.sendall(b'quit\\n'); "
                            "print(s.recv(4096).decode(), end='')", a.sock],
                           capture_output=True, text=True, timeout=10,
                           preexec_fn=as_uid(UID))
        check("quit from a uid outside control_allowed_uids: error "
              "forbidden", r.stdout.startswith("error forbidden"),
              r.stdout + r.stderr)
        time.sleep(0.3)
        check("the agent keeps running", a.p.poll() is None and
              '"phase":"serving"' in a.status())
        rc, err = finish(wrap(["--no-wait", "--socket", a.sock, "--",
                               "true"], preexec_fn=as_uid(UID)))
        check("wrap as that uid: CMD's status, and the refusal explained",
              rc == 0 and "refused" in err and "control_allowed_uids" in err,
              f"rc={rc} {err}")
        time.sleep(0.3)
        check("the agent still runs after the refused wrap",
              a.p.poll() is None and "peer refused" in a.logtext())
    finally:
        a.stop()


def agent_binary_wraps():
    a = Agent()
    try:
        rc, err = finish(wrap(["--socket", a.sock, "--", "sh", "-c",
                               "exit 5"], binary=AGENT))
        check("nodowntime wrap: CMD's status (5) and the agent quits",
              rc == 5 and a.exited() == 0, f"rc={rc} {err}")
    finally:
        a.stop()


def main():
    rc = own_netns()
    if rc is not None:
        return rc
    dep = dep_host()
    if dep is not None:
        waits_for_dependencies(dep)
        wait_gives_up(dep)
    else:
        print("wrap: no address but loopback here: the dependency checks "
              "skipped")
    forwards_signals()
    exit_codes()
    quit_gap()
    quit_mid_drain()
    cmd_cannot_run()
    reaps_orphans()
    no_wait_no_agent()
    if os.geteuid() == 0:
        quit_forbidden()
    else:
        print("wrap: not root, the other-uid checks skipped")
    agent_binary_wraps()
    return summary("wrap")


if __name__ == "__main__":
    sys.exit(main())
