#!/usr/bin/python3
"""test_drain_reload.py - a reload that changes drain.delay rewrites the
state file's delay_ms at once (issue 11 §5).

The hook's prestop fallback (agent unreachable) sleeps the delay_ms it
finds in the state file; before the fix it kept the old delay until the
next drain. A real agent, SIGHUP'ed with a new drain.delay: the file says
the new delay within 2 s; a reload that leaves the delay alone keeps it.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from ndtest import (AGENT, agent_config, check, free_port, get, summary,
                    tally, wait)


def delay_ms(d):
    try:
        with open(os.path.join(d, "state")) as f:
            for line in f:
                if line.startswith("delay_ms "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def write(cfg, d, port, delay, level="info"):
    tmp = cfg + ".tmp"
    with open(tmp, "w") as f:
        f.write(agent_config(d, port, f"""\
log: {{format: json, level: {level}}}
drain: {{delay: {delay}}}
"""))
    os.rename(tmp, cfg)


def reloads(base):
    _, text = get(base + "/metrics")
    for line in text.splitlines():
        if line.startswith('nodowntime_config_reloads_total{result="success"}'):
            return float(line.split()[-1])
    return 0


def main():
    d = tempfile.mkdtemp(prefix="ndt-drain-reload-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = os.path.join(d, "ndt.yaml")
    log = os.path.join(d, "agent.log")
    write(cfg, d, port, "3s")
    agent = subprocess.Popen([AGENT, "run", "-c", cfg],
                             stderr=open(log, "w"))
    try:
        check("agent up", wait(lambda: get(base + "/healthz")[0] == 200, 5))
        check("state file: delay_ms 3000 at start-up",
              wait(lambda: delay_ms(d) == 3000, 2), delay_ms(d))
        write(cfg, d, port, "7s")
        agent.send_signal(signal.SIGHUP)
        check("reloaded", wait(lambda: reloads(base) >= 1, 3))
        check("state file: delay_ms 7000 right after the reload",
              wait(lambda: delay_ms(d) == 7000, 2), delay_ms(d))
        check("still serving", get(base + "/ready")[0] == 200)
        # a reload that changes something else: the file keeps 7000
        write(cfg, d, port, "7s", level="warn")
        agent.send_signal(signal.SIGHUP)
        check("reloaded again", wait(lambda: reloads(base) >= 2, 3))
        check("state file: delay_ms still 7000", delay_ms(d) == 7000)
    finally:
        agent.kill()
        agent.wait()
        if tally.failed:
            print(open(log).read()[-3000:])
        shutil.rmtree(d, ignore_errors=True)
    return summary("drain_reload")


if __name__ == "__main__":
    sys.exit(main())
