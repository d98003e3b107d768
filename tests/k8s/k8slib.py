"""Shared parts of the real-cluster e2e (tests/k8s/e2e.py, k8s_asserts.py):
constants, kubectl, the container log tap and the API watches."""

import glob
import http.server
import json
import os
import re
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, os.environ.get("NDT_BUILD", "build"))
CLUSTER = os.path.join(HERE, "cluster.sh")
D = os.environ.get("NDT_K8S_DIR", "/tmp/ndt-k8s")
NODE_IP = "10.215.0.1"
DEP_PORT = 18080		# the dependency check's server, on the node address
APP_UID = 10001
AGENT_UID = 65532
DEMO_IMAGE = "localhost/ndt-k8s/demo:1"
DELAY_S = 3			# drain.delay, and the baseline's preStop sleep
REPLICAS = 3

T0 = time.time()


class DepServer:
    """A dependency the agents' checks ask, on the node address at port:
    it answers 503 to the pod IPs in `failing`. stop() closes its port
    (connections refused, as a dependency that is down), start() opens it
    again. HTTP/1.0, a connection per check, so that stop() is seen at once
    (a kept-alive connection would go on being answered)."""

    def __init__(self, port):
        self.port = port
        self.failing = set()
        self.srv = None
        self.start()

    def start(self):
        me = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                code = 503 if self.client_address[0] in me.failing else 200
                self.send_response(code)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n" if code == 200 else b"no\n")

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.srv = http.server.ThreadingHTTPServer((NODE_IP, self.port), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None


def log(msg):
    print("[%6.1f] %s" % (time.time() - T0, msg), flush=True)


def now_ms():
    return int(time.time() * 1000)


def sh(*cmd, check=True, input=None, timeout=120, env=None):
    r = subprocess.run(cmd, input=input, capture_output=True, text=True,
                       timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (
            " ".join(cmd[:6]), r.returncode, (r.stderr or r.stdout).strip()[-800:]))
    return r.stdout


class Kube:
    def __init__(self, bindir):
        self.kubectl = os.path.join(bindir, "kubectl")
        self.env = dict(os.environ, KUBECONFIG=os.path.join(D, "admin.kubeconfig"))

    def run(self, *args, check=True, input=None, timeout=120):
        return sh(self.kubectl, "--request-timeout=30s", *args, check=check,
                  input=input, timeout=timeout, env=self.env)

    def json(self, *args):
        return json.loads(self.run(*args, "-o", "json"))

    def popen(self, *args):
        return subprocess.Popen([self.kubectl, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=self.env,
                                text=True)


def http_status(url, timeout=1.0):
    """the status of GET url (http://IP:PORT/PATH), None when none came"""
    import socket
    hostport, _, path = url.split("//", 1)[1].partition("/")
    host, port = hostport.split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(("GET /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
            return int(s.recv(64).split()[1])
    except (OSError, ValueError, IndexError):
        return None


def parse_rfc3339_ms(s):
    """2026-12-03T11:34:48.123456789Z (CRI logs, nanoseconds) -> unix ms"""
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z", s)
    if not m:
        return None
    import calendar
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    frac = (m.group(7) or "0")[:3].ljust(3, "0")
    return calendar.timegm((y, mo, d, h, mi, se)) * 1000 + int(frac)


class LogTap(threading.Thread):
    """Reads every container's log file under the kubelet's podLogsDir as it
    grows: $D/pod-logs/<ns>_<pod>_<uid>/<container>/<restarts>.log, in the
    CRI format `<RFC3339Nano> <stream> <F|P> <text>`. Each file stays open
    once found, so what a container wrote before its pod was deleted (and
    the kubelet removed the file) is still read."""

    def __init__(self):
        super().__init__(daemon=True)
        self.files = {}		# path -> [fd, key, partial]
        self.lines = {}		# (ns, pod, container) -> [(ms, restart, text)]
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.poll()
            self.stop.wait(0.1)
        self.poll()

    def poll(self):
        for p in glob.glob(os.path.join(D, "pod-logs", "*", "*", "*.log")):
            if p in self.files:
                continue
            parts = p.split(os.sep)
            nsp, ctr, rest = parts[-3], parts[-2], parts[-1]
            ns, pod = nsp.split("_")[0], nsp.split("_")[1]
            try:
                f = open(p, "rb")
            except OSError:
                continue
            self.files[p] = [f, (ns, pod, ctr), int(rest.split(".")[0]), b""]
        for p, ent in self.files.items():
            f, key, restart, part = ent
            data = f.read()
            if not data:
                continue
            data = part + data
            *full, ent[3] = data.split(b"\n")
            with self.lock:
                out = self.lines.setdefault(key, [])
                for raw in full:
                    s = raw.decode("utf-8", "replace")
                    fields = s.split(" ", 3)
                    if len(fields) < 4:
                        continue
                    ms = parse_rfc3339_ms(fields[0])
                    out.append((ms, restart, fields[3]))

    def get(self, ns, pod, ctr):
        with self.lock:
            return list(self.lines.get((ns, pod, ctr), []))

    def find(self, ns, pod, ctr, pattern, restart=None):
        """the first (ms, text) whose text matches pattern"""
        rx = re.compile(pattern)
        for ms, r, text in self.get(ns, pod, ctr):
            if (restart is None or r == restart) and rx.search(text):
                return ms, text
        return None

    def agent_events(self, ns, pod, ctr="nodowntime"):
        out = []
        for ms, r, text in self.get(ns, pod, ctr):
            try:
                ev = json.loads(text)
            except ValueError:
                continue
            ev["_ms"], ev["_restart"] = ms, r
            out.append(ev)
        return out

    def close(self):
        self.stop.set()
        self.join(5)
        for ent in self.files.values():
            ent[0].close()


class Watch(threading.Thread):
    """kubectl get KIND -w -o json --output-watch-events, every event kept
    with the time this process saw it"""

    def __init__(self, kube, ns, kind):
        super().__init__(daemon=True)
        self.proc = kube.popen("get", kind, "-n", ns, "-w", "-o", "json",
                               "--output-watch-events")
        self.events = []		# (ms seen, type, object)
        self.lock = threading.Lock()

    def run(self):
        dec = json.JSONDecoder()
        buf = ""
        while True:
            chunk = self.proc.stdout.readline()
            if not chunk:
                return
            buf += chunk
            while True:
                s = buf.lstrip()
                if not s:
                    buf = ""
                    break
                try:
                    obj, end = dec.raw_decode(s)
                except ValueError:
                    break
                buf = s[end:]
                with self.lock:
                    self.events.append((now_ms(), obj.get("type"),
                                        obj.get("object", {})))

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


