#!/usr/bin/python3
"""test_hook_install.py - the agent copies nodowntime-hook to
hook_install_path, and /healthz (the native sidecar's startup probe, which
holds the app back) fails until the copy has succeeded; a failed copy is
retried (1 s doubling to 30 s) and logged at a rate limit.
"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from ndtest import (AGENT, BUILD, SLOW, check, free_port, get_ct, summary,
                    wait)

HOOK = os.path.join(BUILD, "nodowntime-hook")


class Agent:
    def __init__(self, d, hook_path):
        self.port = free_port()
        cfg = os.path.join(d, "ndt.yaml")
        with open(cfg, "w") as f:
            f.write(f"listen: 127.0.0.1:{self.port}\n"
                    f"control_socket: {d}/ndt.sock\n"
                    f"state_file: {d}/state\n"
                    f"hook_install_path: \"{hook_path}\"\n"
                    "log: {format: text, level: info}\n")
        self.log = os.path.join(d, "agent.log")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen([AGENT, "run", "-c", cfg],
                                  stderr=open(self.log, "w"))
        if not wait(lambda: self.healthz()[0] != 0, 5):
            raise AssertionError("agent did not answer:\n" + self.logtext())

    def healthz(self):
        return get_ct(f"http://127.0.0.1:{self.port}/healthz")

    def logtext(self):
        return open(self.log, errors="replace").read()

    def stop(self):
        self.p.kill()
        self.p.wait()


def cache_control(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                    timeout=5) as r:
            return r.headers.get("Cache-Control")
    except urllib.error.HTTPError as e:
        return e.headers.get("Cache-Control")


def same_as_hook(path):
    with open(path, "rb") as a, open(HOOK, "rb") as b:
        return a.read() == b.read()


def until_200(a):
    """seconds until /healthz answers 200, or None"""
    t0 = time.monotonic()
    if wait(lambda: a.healthz()[0] == 200, 10):
        return time.monotonic() - t0
    return None


def broken(label, d, dst, why, fix):
    """dst cannot be written (why is in the reason) until fix() runs"""
    a = Agent(d, dst)
    try:
        code, ctype, body = a.healthz()
        check(f"{label}: /healthz 503 while the hook is not installed",
              code == 503, f"{code} {body}")
        check(f"{label}: application/health+json, the path and the reason",
              ctype == "application/health+json" and
              cache_control(a.port) == "no-store" and
              '"status":"fail"' in body and dst in body and why in body,
              f"{ctype} {body}")
        check(f"{label}: /live and /ready are not held back",
              get_ct(f"http://127.0.0.1:{a.port}/live")[0] == 200 and
              get_ct(f"http://127.0.0.1:{a.port}/ready")[0] == 200)
        # past the first retry (1 s after the start): two failures, one
        # warning (the same reason is logged at most once a minute)
        while time.monotonic() - a.t0 < 1.6:
            time.sleep(0.05)
        check(f"{label}: still 503 after a failed retry",
              a.healthz()[0] == 503)
        fix()
        t0 = time.monotonic()
        dt = until_200(a)
        print(f"    {label}: fixed {t0 - a.t0:.1f} s after the start, "
              f"/healthz 200 {dt if dt is None else round(dt, 2)} s later")
        # the next retry is 3 s after the start (1 s, then 2 s more): at
        # most ~2 s from the fix, whenever the agent took its first try
        check(f"{label}: /healthz 200 by the next retry", dt is not None
              and dt <= 3.5 * SLOW, f"{dt}")
        code, _, body = a.healthz()
        check(f"{label}: then the pass body", code == 200 and
              body.strip() == '{"status":"pass"}', body)
        st = os.stat(dst) if os.path.exists(dst) else None
        check(f"{label}: the hook is there, 0755, the right bytes",
              st is not None and stat.S_IMODE(st.st_mode) == 0o755 and
              same_as_hook(dst), f"{st}")
        r = subprocess.run([dst, "--version"], capture_output=True,
                           text=True) if st is not None else None
        check(f"{label}: the installed hook runs", r is not None and
              r.returncode == 0 and "nodowntime-hook" in r.stdout,
              r and r.stdout + r.stderr)
        log = a.logtext()
        warns = log.count("hook not installed: /healthz fails")
        check(f"{label}: the failure logged once (rate limit), with why",
              warns == 1 and why in log, f"{warns} warnings:\n{log}")
        check(f"{label}: the success logged once",
              log.count("hook installed") == 1 and "attempts=" in log, log)
        check(f"{label}: no leftover temp file",
              [n for n in os.listdir(os.path.dirname(dst)) if ".tmp." in n]
              == [])
    finally:
        a.stop()


def main():
    d = tempfile.mkdtemp(prefix="ndt-hook-")
    try:
        # a directory two levels down that does not exist (one level is
        # made by the agent, as for an emptyDir's mount point)
        dst = os.path.join(d, "vol", "sub", "nodowntime-hook")
        broken("missing directory", d, dst, "No such file or directory",
               lambda: os.makedirs(os.path.dirname(dst)))
        shutil.rmtree(d)
        os.mkdir(d)
        # a file where the directory should be
        blocker = os.path.join(d, "vol")
        open(blocker, "w").close()
        dst = os.path.join(blocker, "nodowntime-hook")

        def unblock():
            os.unlink(blocker)
            os.mkdir(blocker)
        broken("not a directory", d, dst, "Not a directory", unblock)
        shutil.rmtree(d)
        os.mkdir(d)

        dst = os.path.join(d, "vol", "nodowntime-hook")
        a = Agent(d, dst)
        try:
            code, _, body = a.healthz()
            check("a copy that works: /healthz 200 at once, hook there",
                  code == 200 and same_as_hook(dst), f"{code} {body}")
        finally:
            a.stop()
        a = Agent(d, "")
        try:
            code, _, body = a.healthz()
            check('hook_install_path "": /healthz 200, nothing copied',
                  code == 200 and "hook installed" not in a.logtext() and
                  "hook not installed" not in a.logtext(),
                  f"{code} {body}")
        finally:
            a.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return summary("hook_install")


if __name__ == "__main__":
    sys.exit(main())
