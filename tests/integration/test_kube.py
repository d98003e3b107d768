#!/usr/bin/python3
"""test_kube.py - the EndpointSlice client (agent/kube.c), fail-open and
drain.wait_for_endpoints, against a local HTTP server that speaks the
EndpointSlice LIST and WATCH wire format the way the test scripts it.

This is not a stand-in for Kubernetes (make k8s-e2e runs the real API
server): it is the misbehaving side the real one cannot be made to be on
cue. One scenario per behaviour:

  list, watch         the LIST is applied, the WATCH resumes from its
                      resourceVersion, the /ready body and `status` show the
                      pod's slice; the bearer token is re-read per request
                      (rotated on disk: the next request carries the new one)
  fail-open           the shared check fails while 1 of 3 endpoints is
                      ready: /ready stays 200 (warn, failOpen), logged and
                      counted; the share going back up does not release it
                      (latched); the check passing does; failing again while
                      the others are ready is a plain 503
  wait_for_endpoints  drain.quiet does not end draining before a watch
                      event shows this pod not ready; the event ends it at
                      once ("endpoints"), and the flip is logged
  410 Gone            an ERROR 410 event: the agent LISTs again
  401, 403            retried with backoff, logged once with the hint, the
                      view marked stale; the agent keeps serving
  garbage, endless    a body that is not JSON, a watch line that never
                      ends (cut at 4 MiB): retried, the agent's memory stays
                      bounded
  reload              a reload that keeps the kubernetes keys keeps the
                      watch; one that changes them restarts it
  enabled: true       without credentials: exit 2, the file:line:col
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import http.server

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from ndtproc import stop_proc, unix_request  # noqa: E402
from ndtest import (AGENT, BUILD, SLOW, agent_config, check, free_port, get,  # noqa: E402
                    metric, summary, wait)

APP = os.path.join(BUILD, "tests", "servers", "demo_app")
NS = "shop"
POD = "web-1"
POD_IP = "10.9.0.1"


def endpoint(name, ip, ready):
    return {"addresses": [ip], "conditions": {"ready": ready},
            "targetRef": {"kind": "Pod", "name": name, "namespace": NS}}


def slice_obj(rv, ready):
    """one slice of Service web: web-1 (this pod), web-2, web-3"""
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"name": "web-abc", "namespace": NS,
                         "resourceVersion": str(rv),
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [endpoint("web-%d" % (i + 1), "10.9.0.%d" % (i + 1),
                                   ready[i]) for i in range(3)]}


class Api:
    """LIST: the current slice; WATCH: events the test queues, kept open
    until watch_s; `mode` makes it misbehave."""

    def __init__(self):
        self.lock = threading.Condition()
        self.rv = 100
        self.ready = [True, True, True]
        self.events = []        # (seq, line) for watches
        self.seq = 0
        self.mode = "ok"        # ok, 401, 403, garbage, endless, gone
        self.tokens = []        # Authorization headers seen
        self.lists = 0
        self.watches = []       # resourceVersion asked for
        self.watch_s = 3.0
        me = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, code, body, ctype="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                me.tokens.append(self.headers.get("Authorization"))
                want = "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices" % NS
                if not self.path.startswith(want):
                    return self.send(404, b'{"kind":"Status","code":404}')
                mode = me.mode
                if mode in ("401", "403"):
                    return self.send(int(mode), json.dumps(
                        {"kind": "Status", "code": int(mode),
                         "message": "endpointslices is forbidden"}).encode())
                if mode == "garbage":
                    return self.send(200, b"<html>not json</html>", "text/html")
                watch = "watch=true" in self.path
                if not watch:
                    with me.lock:
                        me.lists += 1
                        body = {"kind": "EndpointSliceList",
                                "metadata": {"resourceVersion": str(me.rv)},
                                "items": [slice_obj(me.rv, me.ready)]}
                    return self.send(200, json.dumps(body).encode())
                rv = self.path.split("resourceVersion=")[-1].split("&")[0]
                me.watches.append(rv)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    self.stream(mode)
                except OSError:
                    pass

            def chunk(self, data):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def stream(self, mode):
                if mode == "gone":
                    me.mode = "ok"
                    self.chunk(json.dumps({"type": "ERROR", "object": {
                        "kind": "Status", "code": 410, "reason": "Expired",
                        "message": "too old resource version"}}).encode() + b"\n")
                    self.chunk(b"")
                    return
                if mode == "endless":
                    end = time.time() + 20
                    while time.time() < end and me.mode == "endless":
                        self.chunk(b"x" * 65536)
                    self.chunk(b"")
                    return
                with me.lock:
                    seq = me.seq
                end = time.time() + me.watch_s
                while time.time() < end:
                    with me.lock:
                        new = [l for s, l in me.events if s > seq]
                        if new:
                            seq = max(s for s, _ in me.events)
                        else:
                            me.lock.wait(0.05)
                    for line in new:
                        self.chunk(line)
                self.chunk(b"")

        http.server.ThreadingHTTPServer.daemon_threads = True
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def set_ready(self, ready, typ="MODIFIED"):
        with self.lock:
            self.rv += 1
            self.ready = list(ready)
            self.seq += 1
            self.events.append((self.seq, json.dumps(
                {"type": typ, "object": slice_obj(self.rv, self.ready)}).encode()
                + b"\n"))
            self.lock.notify_all()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def host_ip():
    """a non-loopback address of this machine: the agent refuses shared:
    true on a check of the pod itself (loopback)"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))     # no packet: picks the source
            ip = s.getsockname()[0]
            if not ip.startswith("127."):
                return ip
        except OSError:
            pass
    for fam, _, _, _, sa in socket.getaddrinfo(socket.gethostname(), None,
                                               socket.AF_INET):
        if not sa[0].startswith("127."):
            return sa[0]
    raise RuntimeError("no non-loopback IPv4 address for the shared dependency")


class Dep:
    """the shared dependency: 200, or 503 while failing"""

    def __init__(self):
        self.failing = False
        me = self

        class H(http.server.BaseHTTPRequestHandler):
            # keep-alive: the check's connections to this host's address
            # would otherwise be new passive opens, which drain.quiet
            # counts as the pod's traffic (the agent leaves out loopback)
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                code = 503 if me.failing else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.ip = host_ip()
        self.srv = http.server.ThreadingHTTPServer((self.ip, 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()


def status_json(d):
    return json.loads(unix_request(d + "/ndt.sock", "status\n", 5))


def control(d, line):
    return unix_request(d + "/ndt.sock", line + "\n", 15)


class Agent:
    def __init__(self, d, port, api, dep, extra=""):
        self.d, self.port = d, port
        self.base = "http://127.0.0.1:%d" % port
        self.log = os.path.join(d, "agent.log")
        sa = os.path.join(d, "sa")
        os.makedirs(sa, exist_ok=True)
        with open(os.path.join(sa, "token"), "w") as f:
            f.write("tok-1\n")
        cfg = agent_config(d, port, (
            "log: {format: json}\n"
            "app: {port: %d}\n" % free_port() +
            "kubernetes:\n"
            "  enabled: true\n"
            "  api: http://127.0.0.1:%d\n"
            "  pod_name: %s\n"
            "  pod_ip: %s\n"
            "  namespace: %s\n"
            "  service_account_dir: %s\n"
            "fail_open: {min_ready_percent: 50}\n"
            "drain: {delay: 4s, min_delay: 200ms, quiet: 300ms, "
            "wait_for_endpoints: true, wait_for_connections: false}\n"
            "checks:\n"
            "  - name: db\n"
            "    http: {url: 'http://%s:%d/'}\n"
            "    interval: 200ms\n"
            "    timeout: 150ms\n"
            "    fall: 1\n"
            "    rise: 1\n"
            "    shared: true\n" % (api.port, POD, POD_IP, NS, sa, dep.ip,
                                    dep.port))
            + extra)
        self.cfg = os.path.join(d, "ndt.yaml")
        with open(self.cfg, "w") as f:
            f.write(cfg)
        self.proc = subprocess.Popen([AGENT, "run", "-c", self.cfg],
                                     stdout=open(self.log, "wb"),
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def events(self, msg=None):
        out = []
        with open(self.log) as f:
            for line in f:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if msg is None or ev.get("msg", "").startswith(msg):
                    out.append(ev)
        return out

    def ready(self):
        code, body = get(self.base + "/ready")
        try:
            return code, json.loads(body)
        except ValueError:
            return code, {}

    def stop(self):
        return stop_proc(self.proc, signal.SIGINT)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def scenario_watch(a, api):
    ok = wait(lambda: a.ready()[0] == 200 and
              a.ready()[1].get("kubernetes", {}).get("synced"), 5)
    code, body = a.ready()
    kube = body.get("kubernetes", {})
    check("list, watch: /ready carries the pod's slice (ready, 3 of 3)",
          ok and kube.get("endpointsReady") == 3 and
          kube.get("slices", [{}])[0].get("name") == "web-abc" and
          kube["slices"][0].get("ready") is True, json.dumps(body)[:400])
    check("list, watch: the WATCH resumes from the LIST's resourceVersion",
          wait(lambda: "100" in api.watches, 3), repr(api.watches))
    st = status_json(a.d).get("kubernetes", {})
    check("list, watch: status says watching, synced, the namespace and pod",
          st.get("state") == "watching" and st.get("synced") is True and
          st.get("namespace") == NS and st.get("pod") == POD, repr(st))
    api.set_ready([True, False, True])
    check("list, watch: a MODIFIED event reaches /ready (2 of 3)",
          wait(lambda: a.ready()[1].get("kubernetes", {}).get(
              "endpointsReady") == 2, 3), json.dumps(a.ready()[1])[:300])
    check("list, watch: the bearer token is sent",
          "Bearer tok-1" in api.tokens, repr(api.tokens[:3]))
    with open(os.path.join(a.d, "sa", "token.new"), "w") as f:
        f.write("tok-2\n")
    os.rename(os.path.join(a.d, "sa", "token.new"),
              os.path.join(a.d, "sa", "token"))
    check("list, watch: a rotated token is used by the next request",
          wait(lambda: "Bearer tok-2" in api.tokens, 3 + api.watch_s),
          repr(api.tokens[-3:]))
    check("list, watch: the token is never logged",
          "tok-1" not in open(a.log).read() and "tok-2" not in open(a.log).read())
    api.set_ready([True, True, True])
    wait(lambda: a.ready()[1].get("kubernetes", {}).get("endpointsReady") == 3, 3)


def scenario_fail_open(a, api, dep):
    # the others are already out: 1 of 3 ready (this pod)
    api.set_ready([True, False, False])
    wait(lambda: a.ready()[1].get("kubernetes", {}).get("endpointsReady") == 1, 3)
    dep.failing = True
    ok = wait(lambda: a.ready()[1].get("status") == "warn", 3)
    code, body = a.ready()
    db = body.get("checks", {}).get("db", [{}])[0]
    check("fail-open: the shared check fails at 33 %% ready: /ready 200, warn",
          ok and code == 200 and db.get("failOpen") is True and
          "fail-open" in body.get("output", ""), json.dumps(body)[:500])
    check("fail-open: logged, and nodowntime_fail_open{check=db} 1",
          len(a.events("fail open: a shared")) == 1 and
          metric(a.base, "nodowntime_fail_open", check="db") == 1.0,
          repr(a.events("fail open")))
    # the fleet's own fail-open raises the share: it must hold
    api.set_ready([True, True, True])
    time.sleep(1.0)
    code, body = a.ready()
    check("fail-open: latched when the share goes back to 3 of 3",
          code == 200 and body.get("status") == "warn", json.dumps(body)[:300])
    dep.failing = False
    check("fail-open: released once the check passes here (200, pass)",
          wait(lambda: a.ready() [1].get("status") == "pass", 3) and
          metric(a.base, "nodowntime_fail_open", check="db") == 0.0 and
          len(a.events("fail open ended")) == 1)
    dep.failing = True
    check("fail-open: failing alone while the others are ready: 503",
          wait(lambda: a.ready()[0] == 503, 3) and
          not a.ready()[1].get("checks", {}).get("db", [{}])[0].get("failOpen"))
    time.sleep(0.5)
    check("fail-open: 2 changes counted (engaged, released), no more",
          metric(a.base, "nodowntime_fail_open_changes_total", check="db") == 2.0,
          repr(metric(a.base, "nodowntime_fail_open_changes_total", check="db")))
    dep.failing = False
    wait(lambda: a.ready()[0] == 200, 3)


def scenario_wait_for_endpoints(a, api):
    t0 = time.time()
    holder = {}

    def prestop():
        holder["out"] = control(a.d, "drain")
    th = threading.Thread(target=prestop)
    th.start()
    # quiet (300 ms, after min_delay 200 ms) holds until the slice flips
    time.sleep(1.5)
    st = status_json(a.d)
    check("wait_for_endpoints: still draining at 1.5 s, quiet long over",
          st.get("phase") == "draining", st.get("phase"))
    api.set_ready([False, True, True])
    wait(lambda: status_json(a.d).get("phase") != "draining", 3)
    t_end = time.time() - t0
    ends = [e for e in a.events("drain phase") if e.get("from") == "draining"]
    check("wait_for_endpoints: draining ended by endpoints at the flip "
          "(1.5 .. 2.5 s, not at the 4 s delay)",
          ends and ends[-1].get("by") == "endpoints" and
          1500 <= int(ends[-1].get("after_ms", 0)) <= 2500 * SLOW,
          "%r after %.1f s" % (ends[-1:] if ends else None, t_end))
    flips = a.events("drain endpoints")
    check("wait_for_endpoints: the flip is logged with after_ms",
          flips and 1400 <= int(flips[-1].get("after_ms", 0)) <= 2500 * SLOW,
          repr(flips))
    st = status_json(a.d).get("kubernetes", {})
    check("wait_for_endpoints: status shows the flip and the slice",
          st.get("flip_after_ms") is not None and st.get("out") is True and
          st.get("slices", [{}])[0].get("ready") is False, repr(st))
    th.join(15)
    control(a.d, "resume")
    api.set_ready([True, True, True])
    wait(lambda: a.ready()[0] == 200, 5)


def scenario_errors(a, api):
    lists0 = api.lists
    api.set_ready([True, True, True])
    api.mode = "gone"
    api.set_ready([True, True, True])   # wake the watch: it ends, the next is 410
    check("410 Gone: the agent LISTs again",
          wait(lambda: api.lists > lists0, 3 + api.watch_s), api.lists)
    def count(result):
        return sum(metric(a.base, "nodowntime_kubernetes_requests_total",
                          request=q, result=result) or 0
                   for q in ("list", "watch"))

    for mode, result, hint in (("403", "forbidden", "Role"),
                               ("401", "unauthorized", "token"),
                               ("garbage", "decode", None)):
        n0 = count(result)
        api.mode = mode
        # end the running watch: the next request meets the mode
        api.set_ready([True, True, True])
        ok = wait(lambda: count(result) > n0, 5 + api.watch_s)
        st = status_json(a.d).get("kubernetes", {})
        fails = [e for e in a.events("kubernetes: EndpointSlice request failed")
                 if e.get("result") == result]
        check("%s: counted, logged once%s, status not synced, still serving" %
              (mode, " with the hint" if hint else ""),
              ok and len(fails) == 1 and (hint is None or hint in fails[0].get("error", ""))
              and st.get("synced") is False and get(a.base + "/live")[0] == 200,
              "%r %r" % (fails, st))
        api.mode = "ok"
        check("%s: recovers once the API answers again" % mode,
              wait(lambda: status_json(a.d).get("kubernetes", {}).get("synced"),
                   35 + api.watch_s), repr(status_json(a.d).get("kubernetes")))
    rss0 = rss_kb(a.proc.pid)
    api.mode = "endless"
    api.set_ready([True, True, True])
    n0 = metric(a.base, "nodowntime_kubernetes_requests_total",
                request="watch", result="too_big") or 0
    ok = wait(lambda: (metric(a.base, "nodowntime_kubernetes_requests_total",
                              request="watch", result="too_big") or 0) > n0,
              15 + api.watch_s)
    rss1 = rss_kb(a.proc.pid)
    # ASan's quarantine keeps freed memory mapped a while: a looser bound
    cap = 16 if SLOW == 1 else 64
    check("endless watch line: cut at the cap (too_big), RSS grows < %d MiB "
          "(%d -> %d KiB)" % (cap, rss0, rss1), ok and rss1 - rss0 < cap * 1024)
    api.mode = "ok"
    check("endless: recovers", wait(lambda: status_json(a.d).get(
        "kubernetes", {}).get("synced"), 35 + api.watch_s))


def scenario_reload(a, api):
    """a reload that keeps the kubernetes keys keeps the watch; one that
    changes them restarts it; both under the new config (no use of the
    old one: the SAN run would see it)"""
    def reloaded(n):
        return len(a.events("config reloaded")) >= n
    lists0 = api.lists
    text = open(a.cfg).read()
    with open(a.cfg + ".new", "w") as f:
        f.write(text.replace("min_ready_percent: 50", "min_ready_percent: 40"))
    os.rename(a.cfg + ".new", a.cfg)
    ok = wait(lambda: reloaded(1), 5)
    time.sleep(0.5)
    check("reload: fail_open changed, the watch kept (no restart, no LIST)",
          ok and not a.events("kubernetes: settings changed") and
          api.lists == lists0 and
          status_json(a.d).get("kubernetes", {}).get("synced") is True,
          "%r lists %d -> %d" % (a.events("config reloaded"), lists0, api.lists))
    with open(a.cfg + ".new", "w") as f:
        f.write(text.replace("namespace: %s" % NS, "namespace: elsewhere"))
    os.rename(a.cfg + ".new", a.cfg)
    ok = wait(lambda: reloaded(2), 5) and wait(
        lambda: status_json(a.d).get("kubernetes", {}).get("namespace") == "elsewhere", 3)
    check("reload: kubernetes.namespace changed: the watch restarts there "
          "(the API answers 404: backoff, logged)",
          ok and len(a.events("kubernetes: settings changed")) == 1 and
          wait(lambda: status_json(a.d).get("kubernetes", {}).get("state") == "backoff", 5),
          repr(status_json(a.d).get("kubernetes")))
    with open(a.cfg + ".new", "w") as f:
        f.write(text)
    os.rename(a.cfg + ".new", a.cfg)
    check("reload: back to the first config: synced again",
          wait(lambda: reloaded(3), 5) and
          wait(lambda: status_json(a.d).get("kubernetes", {}).get("synced") is True, 10),
          repr(status_json(a.d).get("kubernetes")))


def scenario_required(d):
    cfg = os.path.join(d, "need.yaml")
    with open(cfg, "w") as f:
        f.write(agent_config(d + "/r", free_port(),
                             "kubernetes:\n  enabled: true\n"
                             "  service_account_dir: %s/none\n" % d))
    os.makedirs(d + "/r", exist_ok=True)
    line = [i + 1 for i, l in enumerate(open(cfg)) if "enabled: true" in l][0]
    env = dict(os.environ)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    p = subprocess.run([AGENT, "run", "-c", cfg], capture_output=True,
                       text=True, timeout=10, env=env)
    check("enabled: true without credentials: exit 2, names file:line:col",
          p.returncode == 2 and "%s:%d:12:" % (cfg, line) in p.stderr and
          "enabled: auto" in p.stderr, "rc %d: %s" % (p.returncode, p.stderr[-400:]))


def main():
    d = tempfile.mkdtemp(prefix="ndt-kube-")
    api, dep = Api(), Dep()
    a = Agent(d, free_port(), api, dep)
    try:
        if not wait(lambda: get(a.base + "/healthz")[0] == 200, 5):
            check("agent started", False, open(a.log).read()[-2000:])
            return summary("test_kube")
        scenario_watch(a, api)
        scenario_fail_open(a, api, dep)
        scenario_wait_for_endpoints(a, api)
        scenario_errors(a, api)
        scenario_reload(a, api)
        scenario_required(d)
        check("the agent ran to the end", a.proc.poll() is None)
    finally:
        rc = a.stop()
        check("exits 0 on SIGINT", rc == 0, "rc %r" % rc)
        api.close()
        if os.environ.get("NDT_KEEP"):
            print("kept " + d)
    return summary("test_kube")


if __name__ == "__main__":
    sys.exit(main())
