#!/usr/bin/python3
"""test_logs.py - what operators read: the JSON log.

A real agent with a flapping check (passes and fails in turn), an HTTP
check that sends a secret header, and checks whose failures echo the
secret back (an HTTP check whose URL and expected body hold it, an exec
check that prints it to stderr, one that has it in its command): every log
line is one JSON object, the transition log is rate limited while the
metric counts every transition, drain phases and control clients are
logged, and the secret appears nowhere (log, /ready, /metrics,
check-config, status): the outputs show it masked as "***".
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from ndtest import AGENT, agent_config, check, free_port, get, summary, tally

SECRET = "s3cr3t-t0ken-do-not-log"


def main():
    d = tempfile.mkdtemp(prefix="ndt-logs-")
    port, dead = free_port(), free_port()
    flag = os.path.join(d, "flag")
    cfg = os.path.join(d, "ndt.yaml")
    with open(cfg, "w") as f:
        f.write(agent_config(d, port, f"""\
log: {{format: json, level: debug}}
drain: {{delay: 200ms, wait_for_connections: false}}
checks:
  - name: flappy
    exec: {{command: ["/bin/sh", "-c",
      "if [ -e {flag} ]; then rm {flag}; exit 1; else touch {flag}; fi"]}}
    interval: 100ms
    timeout: 90ms
    rise: 1
    fall: 1
    critical: false
  - name: api
    http:
      url: http://127.0.0.1:{dead}/health
      headers: {{Authorization: "Bearer ${{NDT_TEST_SECRET}}"}}
    interval: 200ms
    timeout: 100ms
  - name: echo-http
    http:
      url: http://127.0.0.1:{port}/live?token=${{NDT_TEST_SECRET}}
      headers: {{X-Token: "${{NDT_TEST_SECRET}}"}}
      expect: {{body_contains: "token ${{NDT_TEST_SECRET}}"}}
    interval: 200ms
    timeout: 150ms
    critical: false
  - name: echo-exec
    exec: {{command: ["/bin/sh", "-c",
      "echo checking; echo \\"denied for token=$NDT_TEST_SECRET\\" >&2; exit 1"]}}
    interval: 200ms
    timeout: 150ms
    critical: false
  - name: echo-argv
    exec: {{command: ["/bin/sh", "-c", "echo ${{NDT_TEST_SECRET}}; exit 2"]}}
    interval: 200ms
    timeout: 150ms
    critical: false
"""))
    env = dict(os.environ, NDT_TEST_SECRET=SECRET)
    log = os.path.join(d, "agent.log")
    agent = subprocess.Popen([AGENT, "run", "-c", cfg], env=env,
                             stderr=open(log, "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        time.sleep(3.5)
        outputs = [get(base + p)[1] for p in ("/ready", "/live",
                                              "/metrics")]
        try:
            ready = json.loads(outputs[0])
        except ValueError:
            ready = {}
        outputs.append(subprocess.run(
            [AGENT, "status", "--socket", f"{d}/ndt.sock"],
            capture_output=True, text=True).stdout)
        outputs.append(subprocess.run(
            [AGENT, "status", "--json", "--socket", f"{d}/ndt.sock"],
            capture_output=True, text=True).stdout)
        outputs.append(subprocess.run(
            [AGENT, "check-config", "-c", cfg], env=env,
            capture_output=True, text=True).stdout)
        subprocess.run([AGENT, "prestop", "--socket", f"{d}/ndt.sock"],
                       capture_output=True, timeout=10)
        transitions = 0
        for line in outputs[2].splitlines():
            if line.startswith('nodowntime_check_transitions_total'
                               '{check="flappy"}'):
                transitions = float(line.split()[-1])
    finally:
        agent.kill()
        agent.wait()
    text = open(log).read()
    lines = [ln for ln in text.split("\n") if ln]
    bad = []
    events = []
    for ln in lines:
        try:
            ev = json.loads(ln)
            events.append(ev)
            if not {"ts", "level", "msg"} <= ev.keys():
                bad.append(ln)
        except ValueError:
            bad.append(ln)
    check("every log line is one JSON object with ts, level, msg",
          lines and not bad, bad[:3])
    logged = [e for e in events if e["msg"] == "check transition" and
              e.get("check") == "flappy"]
    check("flapping check: >= 20 transitions counted", transitions >= 20,
          transitions)
    check("flapping check: transition log rate limited (<= 10 lines)",
          len(logged) <= 10, len(logged))
    check("the api check's transition is logged with its reason",
          any(e["msg"] == "check transition" and e.get("check") == "api" and
              e.get("reason") for e in events))
    check("drain phases logged", sum(1 for e in events
                                     if e["msg"] == "drain phase") >= 3)
    phases = [e for e in events if e["msg"] == "drain phase"]
    check("numbers are JSON numbers (drain phase after_ms, drain_ms)",
          phases and all(isinstance(e.get("after_ms"), int) and
                         isinstance(e.get("drain_ms"), int) for e in phases),
          phases[:2])
    started = [e for e in events if e["msg"] == "nodowntime started"]
    check("numbers are JSON numbers (started: checks, startup_ms)",
          started and isinstance(started[0].get("checks"), int) and
          isinstance(started[0].get("startup_ms"), int), started[:1])
    check("a check turning failing logs at warn, recovering at info",
          any(e.get("to") == "failing" for e in logged) and
          all(e["level"] == ("warn" if e.get("to") == "failing" else "info")
              for e in events if e["msg"] == "check transition"),
          [(e.get("to"), e["level"]) for e in logged[:4]])
    check("control client logged with its peer", any(
        e["msg"].startswith("control:") and "uid=" in e.get("peer", "")
        for e in events))
    check("the secret appears in no log line", SECRET not in text)
    for name, out in zip(("/ready", "/live", "/metrics", "status",
                          "status --json", "check-config"), outputs):
        check(f"the secret appears nowhere in {name}", SECRET not in out
              and out != "", out[:200] if SECRET in out else "")
    check("check-config shows the header redacted",
          "<redacted>" in outputs[5])

    def output(name):
        return ((ready.get("checks", {}).get(name) or [{}])[0]
                .get("output", ""))
    check("/ready: the HTTP check's reason shows the value masked",
          output("echo-http") == 'body does not contain "token ***"',
          output("echo-http"))
    check("/ready: the exec check's stderr line, masked",
          output("echo-exec") == "exit status 1: denied for token=***",
          output("echo-exec"))
    check("/ready: the exec check's own argument echoed, masked",
          output("echo-argv") == "exit status 2: ***", output("echo-argv"))
    check("the log has the masked reasons", any(
        e.get("check") == "echo-exec" and
        e.get("reason") == "exit status 1: denied for token=***"
        for e in events))
    if tally.failed:
        print(text[-3000:])
    shutil.rmtree(d, ignore_errors=True)
    return summary("logs")


if __name__ == "__main__":
    sys.exit(main())
