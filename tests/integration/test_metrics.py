#!/usr/bin/python3
"""test_metrics.py - /metrics read by a real Prometheus parser.

Starts a real agent with three checks (exec /bin/true, exec /bin/false, tcp
to the agent's own port), scrapes /metrics, parses it with Debian's
python3-prometheus-client (the client library's own text parser) and
checks the exposition rules the parser is lenient about: HELP and TYPE
once per family before its samples, counters ending in _total, histogram
buckets cumulative with +Inf equal to _count. Then a drain moves
nodowntime_drain_phase and nodowntime_ready.
"""
import os
import re
import shutil
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
    for s in fams[fam].samples:
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
                    "nodowntime_app_connections",
                    "nodowntime_http_requests_total",
                    "nodowntime_http_connections_open",
                    "nodowntime_http_connections_evicted_total",
                    "nodowntime_http_connections_refused_total",
                    "nodowntime_config_reloads_total",
                    "process_resident_memory_bytes",
                    "process_cpu_seconds_total", "process_open_fds",
                    "process_start_time_seconds"]:
            check(f"family {fam}", fam in fams)
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
    return summary("metrics")


if __name__ == "__main__":
    sys.exit(main())
