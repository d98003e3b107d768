#!/usr/bin/python3
"""test_metrics.py - /metrics read by a real Prometheus parser.

Starts a real agent with three checks (exec /bin/true, exec /bin/false, tcp
to the agent's own port), scrapes /metrics, parses it with Debian's
python3-prometheus-client (the client library's own text parser) and
checks the exposition rules the parser is lenient about: HELP and TYPE
once per family before its samples, counters ending in _total, histogram
buckets cumulative with +Inf equal to _count. Then a drain moves
nodowntime_drain_phase and nodowntime_ready.

A second agent, with app.port (a listener here holding one client), a
notify call the app never answers and a short max_wait, drains twice with
a resume between: the drain counters count each drain once and the phase
histogram has one observation per drain and phase (the old gauge summed
every drain), under the reason that ended it (delay, max_wait, resume).
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from prometheus_client.parser import text_string_to_metric_families

from ndtest import (AGENT, agent_config, check, free_port, get_ct as get,
                    summary, tally, wait)


def lint(text):
    """Structural rules of the text format 0.0.4; returns problems."""
    problems, seen, declared = [], set(), {}
    current = None
    for n, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        m = re.match(r"# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$", line)
        if m:
            kind, fam, rest = m.groups()
            if kind == "HELP":
                if fam in seen:
                    problems.append(f"{n}: family {fam} declared twice")
                seen.add(fam)
                current = fam
            else:
                if fam != current:
                    problems.append(f"{n}: TYPE {fam} not after its HELP")
                if rest not in ("counter", "gauge", "histogram", "summary",
                                "untyped"):
                    problems.append(f"{n}: bad type {rest}")
                declared[fam] = rest
                if rest == "counter" and not fam.endswith("_total"):
                    problems.append(f"{n}: counter {fam} lacks _total")
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$', line)
        if not m:
            problems.append(f"{n}: not a sample line: {line!r}")
            continue
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name) \
            if declared.get(current) == "histogram" else name
        if base != current:
            problems.append(f"{n}: sample {name} outside its family "
                            f"({current})")
        float(m.group(3))
    return problems


def families(text):
    fams = {}
    for f in text_string_to_metric_families(text):
        fams[f.name] = f
        if f.type == "counter":     # newer clients drop _total
            fams[f.name + "_total"] = f
    return fams


def sample(fams, fam, name=None, **labels):
    for s in fams[fam].samples if fam in fams else []:
        if s.name == (name or fam) and all(
                s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def main():
    d = tempfile.mkdtemp(prefix="ndt-metrics-")
    port = free_port()
    cfg = os.path.join(d, "ndt.yaml")
    with open(cfg, "w") as f:
        f.write(agent_config(d, port, f"""\
log: {{format: json, level: warn}}
drain: {{delay: 5s}}
agent_check: {{listen: 127.0.0.1:{free_port()}}}
checks:
  - name: ok
    exec: {{command: ["/bin/true"]}}
    interval: 200ms
    timeout: 150ms
  - name: bad
    exec: {{command: ["/bin/false"]}}
    interval: 200ms
    timeout: 150ms
    critical: false
  - name: self
    tcp: {{host: 127.0.0.1, port: {port}}}
    interval: 200ms
    timeout: 150ms
"""))
    agent = subprocess.Popen([AGENT, "run", "-c", cfg],
                             stderr=open(os.path.join(d, "log"), "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        check("agent up", wait(lambda: get(base + "/healthz")[0] == 200, 5))
        time.sleep(1.5)     # several runs of every check

        code, ctype, text = get(base + "/metrics")
        check("200 and the 0.0.4 content type", code == 200 and
              ctype.startswith("text/plain; version=0.0.4"), ctype)
        problems = lint(text)
        check("exposition lint", not problems, "\n".join(problems[:10]))
        fams = families(text)
        for fam in ["nodowntime_build_info", "nodowntime_live",
                    "nodowntime_ready", "nodowntime_startup",
                    "nodowntime_check_up",
                    "nodowntime_check_duration_seconds",
                    "nodowntime_check_runs_total",
                    "nodowntime_check_transitions_total",
                    "nodowntime_check_skipped_total",
                    "nodowntime_drain_phase",
                    "nodowntime_drain_phase_seconds",
                    "nodowntime_drain_current_phase_seconds",
                    "nodowntime_drains_total",
                    "nodowntime_drain_max_wait_reached_total",
                    "nodowntime_drain_notify_total",
                    "nodowntime_drain_undone_total",
                    "nodowntime_app_connections",
                    "nodowntime_http_requests_total",
                    "nodowntime_http_connections_open",
                    "nodowntime_http_connections_evicted_total",
                    "nodowntime_http_connections_refused_total",
                    "nodowntime_agent_check_answers_total",
                    "nodowntime_agent_check_refused_total",
                    "nodowntime_config_reloads_total",
                    "process_resident_memory_bytes",
                    "process_cpu_seconds_total", "process_open_fds",
                    "process_start_time_seconds"]:
            check(f"family {fam}", fam in fams)
        # before any drain each phase has one series at 0, its usual reason
        for phase, why in (("draining", "delay"), ("quiescing", "connections"),
                           ("drained", "resume")):
            check(f"phase_seconds{{phase={phase}}} before a drain: "
                  f"reason {why} at 0", reasons(fams, phase) == [why] and
                  hist(fams, phase, why)[2] == 0, reasons(fams, phase))
        check("check_up ok=1", sample(fams, "nodowntime_check_up",
                                      check="ok", kind="exec") == 1.0)
        check("check_up bad=0", sample(fams, "nodowntime_check_up",
                                       check="bad") == 0.0)
        check("check_up self=1 (tcp)", sample(fams, "nodowntime_check_up",
                                              check="self", kind="tcp") == 1)
        check("runs ok/ok > 0", (sample(fams, "nodowntime_check_runs_total",
                                        "nodowntime_check_runs_total",
                                        check="ok", result="ok") or 0) > 0)
        check("runs bad/fail > 0", (sample(
            fams, "nodowntime_check_runs_total",
            "nodowntime_check_runs_total", check="bad",
            result="fail") or 0) > 0)
        for ck in ("ok", "bad", "self"):
            h = "nodowntime_check_duration_seconds"
            buckets = [(float(s.labels["le"]), s.value)
                       for s in fams[h].samples
                       if s.name == h + "_bucket" and
                       s.labels["check"] == ck]
            count = sample(fams, h, h + "_count", check=ck)
            runs = sum(s.value for s in
                       fams["nodowntime_check_runs_total"].samples
                       if s.labels.get("check") == ck and
                       s.name.endswith("_total"))
            vals = [v for _, v in sorted(buckets)]
            check(f"histogram {ck}: cumulative, +Inf == count == runs",
                  vals == sorted(vals) and vals[-1] == count and
                  count == runs and count > 0, f"{buckets} {count} {runs}")
        check("drain_phase serving=1",
              sample(fams, "nodowntime_drain_phase", phase="serving") == 1
              and sample(fams, "nodowntime_drain_phase",
                         phase="draining") == 0)
        check("ready=1 (bad is not critical)",
              sample(fams, "nodowntime_ready") == 1)
        check("no app_connections sample without app.port",
              not fams["nodowntime_app_connections"].samples)
        check("rss > 1 MB", sample(fams, "process_resident_memory_bytes")
              > 1e6)
        check("http_connections_open counts the scrape's own",
              (sample(fams, "nodowntime_http_connections_open") or 0) >= 1
              and fams["nodowntime_http_connections_open"].type == "gauge")
        for fam in ("nodowntime_http_connections_evicted_total",
                    "nodowntime_http_connections_refused_total"):
            check(f"{fam}: a counter at 0 (no limit reached)",
                  fams[fam].type == "counter" and
                  sample(fams, fam, fam) == 0)

        subprocess.Popen([AGENT, "prestop", "--socket", f"{d}/ndt.sock",
                          "--timeout", "2s"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for _ in range(100):
            if get(base + "/ready")[0] == 503:
                break
            time.sleep(0.01)
        fams = families(get(base + "/metrics")[2])
        check("drain_phase draining=1 after prestop",
              sample(fams, "nodowntime_drain_phase", phase="draining") == 1
              and sample(fams, "nodowntime_drain_phase",
                         phase="serving") == 0)
        check("ready=0 while draining", sample(fams, "nodowntime_ready") == 0)
        check("requests counted: /ready 503", (sample(
            fams, "nodowntime_http_requests_total",
            "nodowntime_http_requests_total", path="/ready",
            code="503") or 0) >= 1)
    finally:
        agent.kill()
        agent.wait()
        if tally.failed:
            print(open(os.path.join(d, "log")).read()[-3000:])
        shutil.rmtree(d, ignore_errors=True)
    drain_counters()
    return summary("metrics")


def control(sock, line):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock)
        s.sendall(line.encode() + b"\n")
        return s.recv(256).decode()


def hist(fams, phase, reason=None):
    """(per-le cumulative counts, _sum, _count) of
    phase_seconds{phase,reason}"""
    h = "nodowntime_drain_phase_seconds"
    want = {"phase": phase}
    if reason is not None:
        want["reason"] = reason
    buckets = {s.labels["le"]: s.value for s in fams[h].samples
               if s.name == h + "_bucket" and
               all(s.labels.get(k) == v for k, v in want.items())}
    return (buckets, sample(fams, h, h + "_sum", **want),
            sample(fams, h, h + "_count", **want))


def reasons(fams, phase):
    """the reason labels phase_seconds has for phase"""
    h = "nodowntime_drain_phase_seconds"
    return sorted({s.labels["reason"] for s in fams[h].samples
                   if s.labels.get("phase") == phase})


def drain_counters():
    d = tempfile.mkdtemp(prefix="ndt-metrics2-")
    port, app_port = free_port(), free_port()
    app = socket.socket()
    app.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    app.bind(("127.0.0.1", app_port))
    app.listen(16)          # never accepts: notify gets no answer
    client = socket.create_connection(("127.0.0.1", app_port))
    cfg = os.path.join(d, "ndt.yaml")
    with open(cfg, "w") as f:
        f.write(agent_config(d, port, f"""\
log: {{format: json, level: info}}
app: {{port: {app_port}}}
drain:
  delay: 100ms
  max_wait: 600ms
  notify: {{http: {{url: "http://127.0.0.1:{app_port}/drain",
                    timeout: 300ms}}}}
"""))
    agent = subprocess.Popen([AGENT, "run", "-c", cfg],
                             stderr=open(os.path.join(d, "log"), "w"))
    base = f"http://127.0.0.1:{port}"
    sock = f"{d}/ndt.sock"
    try:
        check("agent 2 up", wait(lambda: get(base + "/healthz")[0] == 200, 5))
        for n in (1, 2):
            r = subprocess.run([AGENT, "prestop", "--socket", sock,
                                "--timeout", "10s"], capture_output=True,
                               timeout=20)
            check(f"drain {n}: prestop 0 (max_wait ended it)",
                  r.returncode == 0, r.stderr)
            if n == 1:
                check("resume: ok", control(sock, "resume") == "ok\n")
        text = get(base + "/metrics")[2]
        problems = lint(text)
        check("exposition lint, after drains", not problems,
              "\n".join(problems[:10]))
        fams = families(text)
        check("drains_total{by=prestop} 2", sample(
            fams, "nodowntime_drains_total", "nodowntime_drains_total",
            by="prestop") == 2)
        check("drains_total{by=SIGTERM} 0", sample(
            fams, "nodowntime_drains_total", "nodowntime_drains_total",
            by="SIGTERM") == 0)
        check("max_wait_reached_total 2", sample(
            fams, "nodowntime_drain_max_wait_reached_total",
            "nodowntime_drain_max_wait_reached_total") == 2)
        check("notify_total{timeout} 2, others 0", [sample(
            fams, "nodowntime_drain_notify_total",
            "nodowntime_drain_notify_total", result=r)
            for r in ("timeout", "success", "failure")] == [2, 0, 0])
        check("undone_total{resume} 1", sample(
            fams, "nodowntime_drain_undone_total",
            "nodowntime_drain_undone_total", reason="resume") == 1)
        for phase, why, count, lo, le in (
                ("draining", "delay", 2, 0.1, "0.5"),
                ("quiescing", "max_wait", 2, 0.6, "2.5"),
                ("drained", "resume", 1, 0, "+Inf")):
            check(f"histogram {phase}: one reason, {why}",
                  reasons(fams, phase) == [why], reasons(fams, phase))
            b, total, n = hist(fams, phase, why)
            vals = [b[k] for k in sorted(b, key=float)]
            check(f"histogram {phase}: {count} observations, one per drain",
                  n == count and b["+Inf"] == count and vals == sorted(vals),
                  f"{b} {total} {n}")
            check(f"histogram {phase}: each drain within le={le}, the sum "
                  f">= {count} x {lo} s", b.get(le) == count and
                  total >= count * lo - 0.01, f"{b} {total}")
        check("histogram: no serving series",
              hist(fams, "serving")[2] is None)
        check("current_phase_seconds > 0", (sample(
            fams, "nodowntime_drain_current_phase_seconds") or 0) > 0)
    finally:
        agent.kill()
        agent.wait()
        client.close()
        app.close()
        if tally.failed:
            print(open(os.path.join(d, "log")).read()[-3000:])
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
