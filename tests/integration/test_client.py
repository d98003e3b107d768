#!/usr/bin/python3
"""test_client.py - what the clients (nodowntime and the static
nodowntime-hook) say and return when the agent is out of reach, refuses
them, or never gets ready, against real agents (docs/CONTROL.md).

* prestop refused (EACCES on the 0660 socket, or control_allowed_uids):
  the cause and the fix on stderr, the fallback sleep kept, exit 1.
* prestop with no agent (no socket, or connection refused): the fallback
  sleep, exit 0.
* The fallback message names where its delay came from: --fallback-delay,
  the state file (which one), or the 5 s default (and why), and says when
  --timeout cut it.
* wait on a timeout prints the agent's last answer, not a socket error.

The refusals need another uid (forked children that setuid): root only,
those checks are skipped otherwise.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from ndtest import (AGENT, BUILD, SLOW, agent_config, check, free_port, get,
                    summary, wait)

HOOK = os.path.join(BUILD, "nodowntime-hook")
UID = 23456


def as_uid(uid):
    def become():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return become


def client(argv, uid=None, timeout=30):
    """(exit code, stderr, seconds taken)"""
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       preexec_fn=as_uid(uid) if uid is not None else None)
    return r.returncode, r.stderr, time.monotonic() - t0


def took(dt, ms, slack_ms=800):
    """the sleep was kept: at least ms, not much more"""
    return ms / 1000 - 0.05 <= dt <= (ms + slack_ms * SLOW) / 1000


class Agent:
    def __init__(self, rest=""):
        self.d = tempfile.mkdtemp(prefix="ndt-client-")
        os.chmod(self.d, 0o755)     # other uids reach the socket's mode
        self.port = free_port()
        self.sock = os.path.join(self.d, "ndt.sock")
        cfg = os.path.join(self.d, "ndt.yaml")
        with open(cfg, "w") as f:
            f.write(agent_config(self.d, self.port, rest))
        self.log = os.path.join(self.d, "agent.log")
        self.p = subprocess.Popen([AGENT, "run", "-c", cfg],
                                  stderr=open(self.log, "w"))
        # the socket's chmod 0660 comes before this line
        if not wait(lambda: "control socket listening" in
                    open(self.log, errors="replace").read(), 5):
            raise AssertionError("agent did not start:\n" +
                                 open(self.log).read())

    def ready_code(self):
        return get(f"http://127.0.0.1:{self.port}/ready")[0]

    def stop(self):
        self.p.kill()
        self.p.wait()
        shutil.rmtree(self.d, ignore_errors=True)


def prestop_denied():
    a = Agent()
    try:
        for name, binary in (("nodowntime", AGENT), ("nodowntime-hook", HOOK)):
            rc, err, dt = client([binary, "prestop", "--socket", a.sock,
                                  "--fallback-delay", "700ms"], uid=UID)
            print(f"    {name} prestop, EACCES: exit {rc} after "
                  f"{dt * 1000:.0f} ms")
            check(f"{name} prestop, EACCES on the socket: exit 1", rc == 1,
                  f"rc={rc} {err}")
            check(f"{name} prestop, EACCES: the fallback sleep is kept "
                  "(700 ms)", took(dt, 700), f"{dt:.3f} s")
            check(f"{name} prestop, EACCES: says the socket, uid, gid and "
                  "the fix", "permission denied" in err and a.sock in err
                  and f"uid {UID} gid {UID}" in err and
                  "securityContext.fsGroup: 0" in err and
                  "socket is uid 0 gid 0 mode 0660" in err and
                  "control_allowed_uids" in err and
                  "the drain is off" in err and "exiting 1" in err, err)
        check("prestop refused: no drain began", a.ready_code() == 200)
        # --timeout bounds the fallback sleep, exit 1 still
        rc, err, dt = client([AGENT, "prestop", "--socket", a.sock,
                              "--timeout", "400ms"], uid=UID)
        check("prestop, EACCES, --timeout 400ms: exit 1 at the timeout",
              rc == 1 and took(dt, 400) and "what is left of --timeout "
              "400ms" in err, f"rc={rc} {dt:.3f} s {err}")
        rc, err, _ = client([AGENT, "status", "--socket", a.sock], uid=UID)
        check("status, EACCES: exit 1 with the fix", rc == 1 and
              "fsGroup" in err, f"rc={rc} {err}")
    finally:
        a.stop()


def prestop_forbidden():
    a = Agent("control_allowed_uids: [12345]\n")
    try:
        os.chmod(a.sock, 0o666)     # only the uid rule decides
        rc, err, dt = client([HOOK, "prestop", "--socket", a.sock,
                              "--fallback-delay", "700ms"], uid=UID)
        print(f"    prestop, forbidden uid: exit {rc} after "
              f"{dt * 1000:.0f} ms")
        check("prestop, uid not in control_allowed_uids: exit 1", rc == 1,
              f"rc={rc} {err}")
        check("prestop, forbidden: the fallback sleep is kept (700 ms)",
              took(dt, 700), f"{dt:.3f} s")
        check("prestop, forbidden: says the socket, uid, gid and the fix",
              "refused" in err and a.sock in err and
              f"uid {UID} gid {UID}" in err and "error forbidden" in err and
              f"add uid {UID} to the agent's control_allowed_uids" in err
              and "exiting 1" in err, err)
        check("prestop forbidden: no drain began", a.ready_code() == 200)
    finally:
        a.stop()


def prestop_not_running():
    d = tempfile.mkdtemp(prefix="ndt-client-")
    try:
        sock = os.path.join(d, "ndt.sock")
        for name, binary in (("nodowntime", AGENT), ("nodowntime-hook", HOOK)):
            rc, err, dt = client([binary, "prestop", "--socket", sock,
                                  "--fallback-delay", "700ms"])
            check(f"{name} prestop, no socket: exit 0 after the fallback "
                  "delay", rc == 0 and took(dt, 700) and
                  "No such file" in err and "exiting 0" in err,
                  f"rc={rc} {dt:.3f} s {err}")
        # a socket file nobody listens on (an agent that died)
        s = socket.socket(socket.AF_UNIX)
        s.bind(sock)
        s.close()
        rc, err, dt = client([HOOK, "prestop", "--socket", sock,
                              "--fallback-delay", "500ms"])
        check("prestop, connection refused: exit 0 after the fallback delay",
              rc == 0 and took(dt, 500) and "refused" in err,
              f"rc={rc} {dt:.3f} s {err}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def fallback_sources():
    d = tempfile.mkdtemp(prefix="ndt-client-")
    try:
        sock = os.path.join(d, "ndt.sock")
        state = os.path.join(d, "state")
        base = [HOOK, "prestop", "--socket", sock]
        rc, err, dt = client(base + ["--fallback-delay", "300ms"])
        check("fallback from --fallback-delay: says so",
              "fallback delay 300ms (--fallback-delay)" in err and
              took(dt, 300), err)
        with open(state, "w") as f:
            f.write("nodowntime-state 1\nphase serving\ndelay_ms 600\n")
        rc, err, dt = client(base)
        check("fallback from the state file: names it and its delay_ms",
              f"fallback delay 600ms (delay_ms in the state file {state})"
              in err and took(dt, 600), f"{dt:.3f} s {err}")
        rc, err, dt = client(base + ["--fallback-delay", "200ms"])
        check("--fallback-delay wins over the state file",
              "(--fallback-delay)" in err and took(dt, 200), err)
        with open(state, "w") as f:
            f.write("not a state file\n")
        rc, err, dt = client(base + ["--timeout", "400ms"])
        check("a corrupt state file: the 5s default, and why",
              f"the 5s default: the state file {state} is unusable" in err
              and took(dt, 400), err)
        os.unlink(state)
        rc, err, dt = client(base + ["--timeout", "400ms"])
        check("no state file: the 5s default, and that there is none",
              f"the 5s default: no state file {state}" in err, err)
        check("the fallback cut by --timeout says so, and its real length",
              # what is left may be a ms or two below 400 by the time the
              # client computes it
              re.search(r"sleeping (39\d|400)ms, what is left of --timeout "
                        r"400ms, not the fallback delay 5s", err) is not None
              and took(dt, 400) and rc == 0,
              f"rc={rc} {dt:.3f} s {err}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def wait_timeout():
    closed = free_port()       # nothing listens: the check fails
    a = Agent("checks:\n"
              f"  - {{name: app, tcp: {{host: 127.0.0.1, port: {closed}}}, "
              "interval: 200ms, timeout: 100ms}\n")
    try:
        wait(lambda: a.ready_code() == 503, 3)
        rc, err, dt = client([AGENT, "wait", "--socket", a.sock,
                              "--timeout", "1s"])
        print(f"    wait --timeout 1s: {err.strip()}")
        check("wait on a timeout: exit 1 near --timeout", rc == 1 and
              took(dt, 1000), f"rc={rc} {dt:.3f} s")
        check("wait on a timeout: prints the agent's last answer",
              "the agent last said: not ready: phase serving; check app "
              "failing: " in err and "refused" in err, err)
        check("wait on a timeout: no socket error of its own making",
              "timed out" not in err, err)
        rc, err, _ = client([HOOK, "wait", "--socket", a.sock,
                             "--timeout", "1300ms"])
        check("nodowntime-hook wait: the same", rc == 1 and
              "check app failing" in err and "timed out" not in err, err)
    finally:
        a.stop()
    rc, err, _ = client([AGENT, "wait", "--socket", a.sock, "--timeout",
                         "300ms"])
    check("wait, no agent: says it never answered, and why", rc == 1 and
          "no answer from the agent" in err and "No such file" in err, err)


def main():
    prestop_not_running()
    fallback_sources()
    wait_timeout()
    if os.geteuid() == 0:
        prestop_denied()
        prestop_forbidden()
    else:
        print("client: not root, the refusal checks skipped")
    return summary("client")


if __name__ == "__main__":
    sys.exit(main())
