#!/usr/bin/python3
"""probes_50.py - 50 HTTP checks at 1 s against a local server, for a
minute: the agent's scheduling drift, RSS and CPU, against the same 50
checks done by one `curl` process per check and run.

    make all && python3 tests/bench/probes_50.py [--seconds 60] [--checks 50]

Drift: every run's lateness against its planned tick (the agent logs it
as late_ms at debug level), and runs per check against seconds/interval
(a scheduler that drifts loses or gains runs over a minute).
Agent: CPU from /proc/PID/stat (utime+stime), RSS from /proc/PID/status.
curl: each run is `curl -s -o /dev/null --max-time 0.5 URL`, started on
the same 1 s grid; CPU and max RSS come from wait4()'s rusage.
The server is tests/servers/probe_http.py (a separate process, not
counted on either side).
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, secs=10):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("server on %d did not come up" % port)


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime + stime


def proc_mem(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def run_agent(args, port, tmp):
    cfg = os.path.join(tmp, "agent.yaml")
    log = os.path.join(tmp, "agent.log")
    aport = free_port()
    with open(cfg, "w") as f:
        f.write("listen: 127.0.0.1:%d\ncontrol_socket: %s/sock\n"
                "state_file: %s/state\nhook_install_path: \"\"\n"
                "log: {format: json, level: debug}\nchecks:\n"
                % (aport, tmp, tmp))
        for i in range(args.checks):
            f.write("  - name: c%02d\n"
                    "    http: {url: \"http://127.0.0.1:%d/ok?c=%d\"}\n"
                    "    interval: 1s\n    timeout: 500ms\n" % (i, port, i))
    agent = subprocess.Popen([os.path.join(ROOT, args.build, "nodowntime"),
                              "run", "-c", cfg],
                             stderr=open(log, "w"), stdin=subprocess.DEVNULL)
    wait_port(aport)
    time.sleep(1.5)             # past the first-run spread
    cpu0, t0 = proc_cpu(agent.pid), time.time()
    with open(log) as f:
        skip = sum(1 for _ in f)
    time.sleep(args.seconds)
    cpu1, t1 = proc_cpu(agent.pid), time.time()
    mem = proc_mem(agent.pid)
    agent.send_signal(signal.SIGINT)
    agent.wait(10)
    late, runs, results = [], {}, {}
    with open(log) as f:
        for n, line in enumerate(f):
            if n < skip:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("msg") not in ("check run", "check transition"):
                continue
            if "late_ms" in ev:
                late.append(int(ev["late_ms"]))
            runs[ev["check"]] = runs.get(ev["check"], 0) + 1
            results[ev.get("result")] = results.get(ev.get("result"), 0) + 1
    secs = t1 - t0
    return {
        "secs": secs,
        "cpu_s_per_min": (cpu1 - cpu0) * 60.0 / secs,
        "rss_kb": mem.get("VmRSS", 0),
        "hwm_kb": mem.get("VmHWM", 0),
        "late": late,
        "runs": runs,
        "results": results,
    }


def run_curl(args, port):
    """one curl process per check and run, on a 1 s grid"""
    stats = {"cpu": 0.0, "maxrss": [], "fails": 0}
    live = 0
    quiet = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
             (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
             (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]

    def reap(block):
        nonlocal live
        while live:
            pid, status, ru = os.wait4(-1, 0 if block else os.WNOHANG)
            if pid == 0:
                return
            live -= 1
            stats["cpu"] += ru.ru_utime + ru.ru_stime
            stats["maxrss"].append(ru.ru_maxrss)
            if status != 0:
                stats["fails"] += 1

    t0 = time.monotonic()
    for sec in range(int(args.seconds)):
        while time.monotonic() < t0 + sec:
            reap(False)
            time.sleep(0.005)
        for i in range(args.checks):
            os.posix_spawnp("curl", ["curl", "-s", "-o", "/dev/null",
                                     "--max-time", "0.5",
                                     "http://127.0.0.1:%d/ok?c=%d" % (port, i)],
                            os.environ, file_actions=quiet)
            live += 1
    reap(True)
    return stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--checks", type=int, default=50)
    ap.add_argument("--build", default=os.environ.get("NDT_BUILD", "build"))
    args = ap.parse_args()
    port = free_port()
    srv = subprocess.Popen(["/usr/bin/python3",
                            os.path.join(ROOT, "tests/servers/probe_http.py"),
                            str(port)], stdout=subprocess.DEVNULL)
    try:
        wait_port(port)
        with tempfile.TemporaryDirectory(prefix="ndt-bench-") as tmp:
            a = run_agent(args, port, tmp)
        c = run_curl(args, port)
    finally:
        srv.terminate()
        srv.wait(5)

    late = sorted(a["late"])
    runs = list(a["runs"].values())
    want = args.seconds          # 1 s interval
    curl_cpu_min = c["cpu"] * 60.0 / args.seconds
    curl_rss = max(c["maxrss"]) if c["maxrss"] else 0
    print("probes_50: %d HTTP checks at 1s for %.0f s" %
          (args.checks, a["secs"]))
    print("  agent drift: runs %d, late_ms max %d, p99 %d, mean %.2f "
          "(bound 50)" % (len(late), late[-1] if late else -1,
                          late[int(len(late) * 0.99) - 1] if late else -1,
                          statistics.mean(late) if late else -1))
    print("  runs per check: min %d max %d (expected %.0f +-1); "
          "results %s" % (min(runs), max(runs), want, a["results"]))
    print("  agent: CPU %.3f s/min, RSS %d KiB (peak %d KiB)" %
          (a["cpu_s_per_min"], a["rss_kb"], a["hwm_kb"]))
    print("  curl per check: %d processes, CPU %.3f s/min, RSS %d KiB per "
          "process (x%d checks = %d KiB if a round overlaps), %d failed" %
          (len(c["maxrss"]), curl_cpu_min, curl_rss, args.checks,
           curl_rss * args.checks, c["fails"]))
    if a["cpu_s_per_min"] > 0:
        print("  ratio curl/agent: CPU %.1fx, RSS %.1fx (one curl) .. "
              "%.1fx (a round of %d)" %
              (curl_cpu_min / a["cpu_s_per_min"],
               curl_rss / max(a["rss_kb"], 1),
               curl_rss * args.checks / max(a["rss_kb"], 1), args.checks))
    ok = (late and late[-1] <= 50 and min(runs) >= want - 1 and
          max(runs) <= want + 1)
    print("  drift within +-50 ms and no lost runs: %s" %
          ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
