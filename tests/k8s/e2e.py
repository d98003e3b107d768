#!/usr/bin/env python3
"""Real-cluster e2e: rolling updates under load on a single-node Kubernetes.

tests/k8s/cluster.sh starts upstream etcd, kube-apiserver, controller-manager,
scheduler, kubelet and kube-proxy (built from the module k8s.io/kubernetes by
tests/k8s/build.sh) with Debian's containerd and runc. Then, in one run:

  nodowntime-native   helm install of helm/nodowntime, the agent as a native
                      sidecar (an init container with restartPolicy: Always)
  nodowntime-classic  the same with sidecar.native=false (a second container)
  nodowntime-adaptive the native layout with the adaptive delay (drain.quiet
                      700ms under a 10 s ceiling): every pod's draining must
                      end by quiet, with 0 failed requests
  prestop-sleep       baseline (b): the same app, Kubernetes' own
                      `preStop: sleep` of the drain delay, no agent
  no-agent            baseline (a): the same app, no preStop, no agent: it
                      must lose requests, or this test could not tell

Each runs 3 replicas of the demo app (tests/servers/demo_app, in an image
with no shell, as uid 10001) behind its Service. Two loads of the project's
own client (tests/servers/ndtload) go to the ClusterIP through kube-proxy's
rules, one with keep-alive (a pool that retires each connection after 100
answers) and one with `Connection: close`, while
`kubectl rollout restart` runs 3 rounds, each waited for.

Then, on the native release, what a kubelet does and a network namespace
cannot: the sidecar's start and exit order, the hook in the shell-less image
as the app's uid, readiness following the agent's /ready, the EndpointSlice
at drain start, the agent killed mid-drain, and the agent unreachable.

The EndpointSlice watch (k8s_kube.py): every chart variant's deleted pods
logged their slice flip, and with wait_for_endpoints and quiet (adaptive)
no draining ended before it; `status --json` shows it mid-drain. Then
`fail-open`: two releases checking one shared dependency that is stopped,
with fail_open (the Service keeps endpoints, every request answered) and
without (none is); no flapping over 60 s; the dependency failing for one
pod alone takes only that pod out; the Role allows nothing but reading
EndpointSlices.

`job-wrap` (k8s_wrap.py): the chart's classic layout run as a Job whose app
ends by itself completes with app.wrapCommand (`nodowntime-hook wrap`
tells the agent to quit) and stays active without it.

Root only (a cluster needs it). As a normal user it prints `skipped` and
why, and exits 0; --require (NDT_K8S_REQUIRE=1) makes that a failure. The
last line is `k8s-e2e: N passed, N failed`. --report FILE writes the figures
and the timeline (docs/KUBERNETES.md, docs/img/k8s-*.svg).
"""

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from k8slib import (APP_UID, BUILD, CLUSTER, D, DELAY_S, DEMO_IMAGE, DEP_PORT,
                    DepServer,
                    NODE_IP, REPLICAS, ROOT, HERE, Kube, LogTap, Watch, http_status,
                    log,
                    sh)

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))	# timeline.py
import k8s_kube  # noqa: E402
import k8s_wrap  # noqa: E402


class Load:
    """one ndtload process against the Service's ClusterIP"""

    def __init__(self, outdir, name, url, mode, conns, extra=()):
        self.name, self.mode = name, mode
        self.json = os.path.join(outdir, "load-%s-%s.json" % (name, mode))
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "tests", "servers", "ndtload"), "--url", url,
             "--mode", mode, "--connections", str(conns), "--out", self.json,
             "--timeout-ms", "5000", *extra],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(outdir, "load-%s-%s.err" % (name, mode)), "w"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with open(self.json) as f:
            return json.load(f)


class Checks:
    def __init__(self):
        self.passed = self.failed = 0
        self.failures = []
        self.log = []		# (ok, what), for the report

    def check(self, ok, what):
        self.log.append((bool(ok), what))
        if ok:
            self.passed += 1
            log("ok    " + what)
        else:
            self.failed += 1
            self.failures.append(what)
            log("FAIL  " + what)
        return ok


# --- the workloads -------------------------------------------------------

def app_args():
    return ["--port", "8080", "--bind", "0.0.0.0", "--mode", "graceful",
            "--delay-ms", "10", "--name", "$(POD_NAME)", "--grace-ms", "5000"]


# the adaptive variant's drain: a 10 s ceiling, ended once the app's port
# has been quiet for 700 ms, never before 1 s
ADAPTIVE = {"delay": "10s", "min_delay": "1s", "quiet": "700ms"}
# the keep-alive load's pool retires each connection after this many
# answers (about 1 s at its rate), as client pools with a request or
# lifetime cap do; every variant gets the same load
KEEPALIVE_MAX_REQUESTS = 100


def chart_values(native, image, adaptive=False):
    repo, tag = image.rsplit(":", 1)
    vals = {
        "image": {"repository": repo, "tag": tag, "pullPolicy": "Never"},
        "sidecar": {"native": native},
        "app": {
            "image": {"repository": DEMO_IMAGE.rsplit(":", 1)[0],
                      "tag": DEMO_IMAGE.rsplit(":", 1)[1], "pullPolicy": "Never"},
            "port": 8080,
            "args": app_args(),
            "env": [{"name": "POD_NAME", "valueFrom": {
                "fieldRef": {"fieldPath": "metadata.name"}}}],
            "securityContext": {
                "runAsNonRoot": True, "runAsUser": APP_UID,
                "runAsGroup": APP_UID, "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"}},
            "probes": {"readiness": {"periodSeconds": 1,
                                     "failureThreshold": 2}},
        },
        "appCheck": {"path": "/healthz", "interval": "1s", "timeout": "500ms"},
        "config": {
            "drain": {
                "delay": "%ds" % DELAY_S,
                "notify": {"http": {"url": "http://127.0.0.1:8080/admin/drain",
                                    "method": "POST", "timeout": "1s"}},
                "wait_for_connections": True,
                "max_wait": "10s",
                "shutdown_timeout": "6s",
            },
            "checks": [{
                "name": "dep",
                "http": {"url": "http://%s:%d/" % (NODE_IP, DEP_PORT)},
                "interval": "1s", "timeout": "500ms", "fall": 1, "rise": 1,
                "affects": ["ready"],
            }],
        },
        "workload": {"replicas": REPLICAS,
                     "topologySpread": {"enabled": False}},
    }
    if adaptive:
        vals["config"]["drain"].update(ADAPTIVE)
    return vals


def baseline_manifest(name, prestop_sleep):
    lifecycle = ""
    if prestop_sleep:
        lifecycle = """
        lifecycle:
          preStop:
            sleep: {seconds: %d}""" % prestop_sleep
    args = json.dumps(app_args())
    return """
apiVersion: apps/v1
kind: Deployment
metadata: {name: %(name)s}
spec:
  replicas: %(replicas)d
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%%, maxUnavailable: 0}}
  selector: {matchLabels: {app: %(name)s}}
  template:
    metadata: {labels: {app: %(name)s}}
    spec:
      terminationGracePeriodSeconds: 30
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: app
        image: %(image)s
        imagePullPolicy: Never
        args: %(args)s
        env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
        ports: [{name: http, containerPort: 8080}]
        securityContext:
          runAsUser: %(uid)d
          runAsGroup: %(uid)d
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
          failureThreshold: 2%(lifecycle)s
---
apiVersion: v1
kind: Service
metadata: {name: %(name)s}
spec:
  selector: {app: %(name)s}
  ports: [{name: http, port: 80, targetPort: 8080}]
""" % {"name": name, "replicas": REPLICAS, "image": DEMO_IMAGE,
       "args": args, "uid": APP_UID, "lifecycle": lifecycle}


# the timeline's events from the containers' own log lines
LOG_EVENTS = [
    ("app", r"signal 15", "sigterm"),
    ("app", r": exiting", "exit"),
    ("nodowntime", r'"msg":"control: drain"', "prestop"),
    ("nodowntime", r'"to":"drained"', "drained"),
]


class Variant:
    def __init__(self, name, kind, desc, native=None, sleep=0,
                 adaptive=False):
        self.name, self.kind, self.desc = name, kind, desc
        self.native, self.sleep, self.adaptive = native, sleep, adaptive
        self.ns = name
        self.result = {}


VARIANTS = [
    Variant("nodowntime-native", "chart",
            "helm/nodowntime, the agent as a native sidecar", native=True),
    Variant("nodowntime-classic", "chart",
            "helm/nodowntime, sidecar.native=false (a second container)",
            native=False),
    Variant("nodowntime-adaptive", "chart",
            "helm/nodowntime, native sidecar, the adaptive delay: "
            "`drain: {delay: %s, min_delay: %s, quiet: %s}`" % (
                ADAPTIVE["delay"], ADAPTIVE["min_delay"], ADAPTIVE["quiet"]),
            native=True, adaptive=True),
    Variant("prestop-sleep", "baseline",
            "baseline (b): `preStop: sleep: {seconds: %d}`, no agent" % DELAY_S,
            sleep=DELAY_S),
    Variant("no-agent", "baseline",
            "baseline (a): no preStop, no agent", sleep=0),
]


class E2E:
    def __init__(self, args, kube, helm, image, outdir):
        self.args, self.kube, self.helm = args, kube, helm
        self.image, self.outdir = image, outdir
        self.checks = Checks()
        self.logs = LogTap()
        self.logs.start()
        self.dep = DepServer(DEP_PORT)
        self.watches = []

    # -- helpers --
    def pods(self, ns, selector=None):
        a = ["get", "pods", "-n", ns]
        if selector:
            a += ["-l", selector]
        return self.kube.json(*a)["items"]

    def wait(self, what, fn, timeout, step=0.2):
        end = time.time() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.time() > end:
                raise RuntimeError("timed out after %ds waiting for %s" % (timeout, what))
            time.sleep(step)

    def settled(self, ns):
        """REPLICAS pods, all Ready, none terminating"""
        ps = self.pods(ns)
        if len(ps) != REPLICAS:
            return False
        for p in ps:
            if p["metadata"].get("deletionTimestamp"):
                return False
            conds = {c["type"]: c["status"] for c in p["status"].get("conditions", [])}
            if conds.get("Ready") != "True":
                return False
        return ps

    def deployment(self, ns):
        return self.kube.json("get", "deployments", "-n", ns)["items"][0]["metadata"]["name"]

    def cluster_ip(self, ns):
        svc = self.kube.json("get", "services", "-n", ns)["items"][0]
        return svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]

    def install(self, v):
        self.kube.run("create", "namespace", v.ns)
        self.watches.append((v.ns, Watch(self.kube, v.ns, "pods")))
        self.watches.append((v.ns, Watch(self.kube, v.ns, "endpointslices")))
        for _, w in self.watches[-2:]:
            w.start()
        t = time.time()
        if v.kind == "chart":
            vals = os.path.join(self.outdir, "values-%s.yaml" % v.name)
            with open(vals, "w") as f:
                json.dump(chart_values(v.native, self.image, v.adaptive), f,
                          indent=1)
            sh(self.helm, "install", "web", os.path.join(ROOT, "helm", "nodowntime"),
               "-n", v.ns, "-f", vals, "--wait", "--timeout", "180s",
               env=self.kube.env, timeout=200)
        else:
            self.kube.run("apply", "-n", v.ns, "-f", "-",
                          input=baseline_manifest("web", v.sleep))
        self.wait("%s: %d pods Ready" % (v.name, REPLICAS),
                  lambda: self.settled(v.ns), 180)
        log("%s: %d pods Ready %.1f s after install" % (v.name, REPLICAS, time.time() - t))

    def watch(self, ns, kind):
        for n, w in self.watches:
            if n == ns and w.proc.args[2] == kind:
                return w
        return None

    def pod_watch(self, ns):
        return self.watch(ns, "pods")

    def slice_watch(self, ns):
        return self.watch(ns, "endpointslices")

    # -- the rollouts under load --
    def rollouts(self, v):
        ip, port = self.cluster_ip(v.ns)
        url = "http://%s:%d/" % (ip, port)
        dep = self.deployment(v.ns)
        # the Service must answer through kube-proxy before the load starts
        self.wait("ClusterIP %s answers" % url, lambda: http_status(url) == 200, 30)
        loads = [Load(self.outdir, v.name, url, "keepalive", self.args.connections,
                      ["--max-requests", str(KEEPALIVE_MAX_REQUESTS)]),
                 Load(self.outdir, v.name, url, "close", max(2, self.args.connections // 2))]
        rounds = []
        try:
            time.sleep(2)
            for r in range(self.args.rounds):
                t = time.time()
                self.kube.run("rollout", "restart", "deployment/" + dep, "-n", v.ns)
                self.kube.run("rollout", "status", "deployment/" + dep, "-n", v.ns,
                              "--timeout=240s", timeout=260)
                t_status = time.time() - t
                self.wait("%s: old pods gone" % v.name, lambda: self.settled(v.ns), 120)
                t_all = time.time() - t
                rounds.append((t_status, t_all))
                log("%s: rollout %d done: %.1f s (rollout status), %.1f s until "
                    "every old pod was gone" % (v.name, r + 1, t_status, t_all))
            time.sleep(2)
        finally:
            res = [l.stop() for l in loads]
        v.result = {"loads": res, "rounds": rounds}

    def judge(self, v):
        c = self.checks
        for l in v.result["loads"]:
            err = sum(l["errors"].values())
            what = "%s %s: %d requests, %d non-2xx, %d socket errors" % (
                v.name, l["mode"], l["requests"], l["non2xx"], err)
            if v.kind == "chart":
                c.check(l["requests"] >= 500 and l["non2xx"] == 0 and err == 0,
                        what + "; want 0 (and at least 500 requests)")
            else:
                c.check(l["requests"] >= 500, what + " (at least 500 requests)")
        if v.kind == "chart":
            ends = v.result.get("draining", [])
            # with wait_for_endpoints (the chart's default), quiet that
            # came before the slice flip ends at the flip: "endpoints"
            want = ("quiet", "endpoints") if v.adaptive else ("delay",)
            c.check(len(ends) >= REPLICAS * self.args.rounds and
                    all(by in want for by, _ in ends),
                    "%s: every deleted pod's draining ended by %s (%s)" % (
                        v.name, " or ".join(want), ", ".join("%s %.1f s" % (by, ms / 1000.0)
                                                for by, ms in ends) or "none seen"))
        if v.name == "no-agent":
            lost = sum(l["non2xx"] + sum(l["errors"].values()) for l in v.result["loads"])
            c.check(lost > 0, "baseline (a) lost %d requests: more than 0, so the "
                    "test can tell a drain from none" % lost)

    def uninstall(self, v):
        # the pods drain as they would in a real uninstall; the namespace is
        # gone before the cluster stops (cluster.sh stop removes what is left)
        self.kube.run("delete", "namespace", v.ns, "--wait=false")

    # -- the pods' timelines, from the watch, the logs and the loads --
    def pod_events(self, v):
        """[{t_unix_ms, pod, kind}] of every pod this variant had"""
        w = self.pod_watch(v.ns)
        evs, seen_del, seen_ready = [], set(), set()
        for ms, typ, obj in w.snapshot():
            name = obj.get("metadata", {}).get("name")
            if not name:
                continue
            if obj["metadata"].get("deletionTimestamp") and name not in seen_del:
                seen_del.add(name)
                evs.append({"t_unix_ms": ms, "pod": name, "kind": "delete"})
            conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
            if conds.get("Ready") == "True" and name not in seen_ready:
                seen_ready.add(name)
                evs.append({"t_unix_ms": ms, "pod": name, "kind": "ready"})
        for name in sorted(seen_ready | seen_del):
            for ctr, pattern, kind in LOG_EVENTS:
                hit = self.logs.find(v.ns, name, ctr, pattern)
                if hit:
                    evs.append({"t_unix_ms": hit[0], "pod": name, "kind": kind})
        evs.sort(key=lambda e: e["t_unix_ms"])
        return evs

    def draining_ends(self, v, evs):
        """per deleted pod: (by, ms) of its agent's draining phase, from the
        `drain phase` log line that ended it"""
        out = []
        for pod in sorted({e["pod"] for e in evs if e["kind"] == "delete"}):
            for ev in self.logs.agent_events(v.ns, pod):
                if ev.get("msg") == "drain phase" and ev.get("from") == "draining":
                    out.append((ev.get("by"), int(ev.get("after_ms") or 0)))
                    break
        return out

    def drain_times(self, evs):
        """per deleted pod: seconds from its deletion to the app's SIGTERM"""
        by = {}
        for e in evs:
            by.setdefault(e["pod"], {}).setdefault(e["kind"], e["t_unix_ms"])
        out = []
        for pod, k in by.items():
            if "delete" in k and "sigterm" in k:
                out.append((k["sigterm"] - k["delete"]) / 1000.0)
        return sorted(out)


SKIPPED = 10		# --preflight: the e2e cannot run here, and need not


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--require", action="store_true",
                    default=os.environ.get("NDT_K8S_REQUIRE") == "1",
                    help="fail instead of skipping (NDT_K8S_REQUIRE=1)")
    ap.add_argument("--report", metavar="FILE")
    ap.add_argument("--preflight", action="store_true",
                    help="only check that the e2e can run here: exit 0, or print why "
                    "not and exit %d (1 with --require)" % SKIPPED)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--variants", default=",".join([v.name for v in VARIANTS] +
                                                   ["fail-open", "job-wrap"]))
    ap.add_argument("--keep", action="store_true",
                    help="leave the cluster running at the end (cluster.sh stop ends it)")
    ap.add_argument("--image", default=os.environ.get("NDT_IMAGE", "localhost/nodowntime:0.1.0"))
    ap.add_argument("--helm", default=os.path.join(ROOT, ".tools", "helm", "helm"))
    args = ap.parse_args()

    why = None
    if os.geteuid() != 0:
        why = "needs root (a cluster: network namespaces, mounts, cgroups, iptables)"
    else:
        for b in ("containerd", "runc", "conntrack", "podman", "ip", "iptables", "openssl"):
            if shutil.which(b) is None:
                why = "%s is not installed (make k8s-e2e installs it as root)" % b
                break
        cached = glob.glob(os.path.expanduser("~/.cache/nodowntime-k8s/*/bin/kubelet"))
        if not why and not cached and not (shutil.which("go") or
                                           os.access("/usr/local/go/bin/go", os.X_OK)):
            why = ("no Go toolchain to build the Kubernetes components once "
                   "(https://go.dev/dl), and none cached in ~/.cache/nodowntime-k8s")
    if not why:
        r = subprocess.run("ip netns add ndt-k8s-probe && ip netns del ndt-k8s-probe",
                           shell=True, capture_output=True, text=True)
        if r.returncode != 0:
            why = "cannot make a network namespace here (%s): an unprivileged container?" % (
                r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "exit %d" % r.returncode)
    if why:
        print("k8s-e2e: skipped: " + why, flush=True)
        if args.require:
            print("k8s-e2e: --require (NDT_K8S_REQUIRE=1): a skip is a failure")
            return 1
        return SKIPPED if args.preflight else 0
    if args.preflight:
        return 0
    for f in (args.helm, os.path.join(BUILD, "tests", "servers", "ndtload"),
              os.path.join(BUILD, "tests", "servers", "demo_app")):
        if not os.access(f, os.X_OK):
            print("k8s-e2e: missing %s (make k8s-e2e builds it)" % f)
            return 1

    outdir = tempfile.mkdtemp(prefix="ndt-k8s-e2e-")
    log("k8s-e2e: work files in " + outdir)
    t = time.time()
    subprocess.run(["bash", CLUSTER, "start"], check=True)
    t_start = time.time() - t
    bindir = open(os.path.join(D, "run", "bin")).read().strip()
    kube = Kube(bindir)
    e2e = None
    rc = 1
    try:
        # the images: the agent's (the project's Dockerfile, built by make
        # image) and the shell-less demo app
        agent_tar = os.path.join(outdir, "agent.tar")
        sh("podman", "save", "-q", "--format", "docker-archive", "-o", agent_tar, args.image)
        sh("bash", os.path.join(HERE, "images.sh"), os.path.join(outdir, "img"),
           os.path.join(BUILD, "tests", "servers", "demo_app"))
        sh("bash", CLUSTER, "import", agent_tar, os.path.join(outdir, "img", "demo.tar"))
        log("images imported: %s, %s" % (args.image, DEMO_IMAGE))

        e2e = E2E(args, kube, args.helm, args.image, outdir)
        e2e.t_cluster_start = t_start
        want = args.variants.split(",")
        for v in VARIANTS:
            if v.name not in want:
                continue
            log("=== %s: %s" % (v.name, v.desc))
            e2e.install(v)
            e2e.rollouts(v)
            v.result["events"] = e2e.pod_events(v)
            if v.kind == "chart":
                v.result["draining"] = e2e.draining_ends(v, v.result["events"])
            e2e.judge(v)
            if v.kind == "chart":
                k8s_kube.endpoint_flips(e2e, v)
            if v.name == "nodowntime-native":
                import k8s_asserts
                k8s_asserts.run_all(e2e, v)
                guard(e2e, "status_flip", k8s_kube.status_flip, e2e, v)
            e2e.uninstall(v)
        if "fail-open" in want:
            log("=== fail-open: a shared dependency down for every replica, "
                "with and without fail_open")
            guard(e2e, "fail_open", k8s_kube.fail_open, e2e, chart_values)
        if "job-wrap" in want:
            log("=== job-wrap: a Job in the classic layout, with and without "
                "app.wrapCommand")
            guard(e2e, "job_wrap", k8s_wrap.job_wrap, e2e, chart_values)
        summary(e2e, [v for v in VARIANTS if v.name in want])
        if args.report:
            import k8s_report
            k8s_report.write(e2e, [v for v in VARIANTS if v.name in want], args.report)
        rc = 0 if e2e.checks.failed == 0 else 1
    except Exception as ex:		# a failed step fails the run, after teardown
        log("k8s-e2e: error: %s" % ex)
        rc = 1
    finally:
        if e2e:
            for ns, w in e2e.watches:
                w.close()
                with open(os.path.join(outdir, "watch-%s-%s.jsonl" % (ns, w.proc.args[2])), "w") as f:
                    for ev in w.snapshot():
                        f.write(json.dumps(ev) + "\n")
            with open(os.path.join(outdir, "container-logs.txt"), "w") as f:
                for (ns, pod, ctr), lines in sorted(e2e.logs.lines.items()):
                    for ms, r, text in lines:
                        f.write("%d %s/%s/%s#%d %s\n" % (ms or 0, ns, pod, ctr, r, text))
            e2e.dep.stop()
            e2e.logs.close()
        if args.keep:
            log("k8s-e2e: --keep: the cluster is still running (bash %s stop)" % CLUSTER)
        else:
            r = subprocess.run(["bash", CLUSTER, "stop"])
            if r.returncode != 0:
                log("FAIL  teardown left something behind (above)")
                rc = 1
    passed = e2e.checks.passed if e2e else 0
    failed = (e2e.checks.failed if e2e else 0) + (1 if rc and (not e2e or not e2e.checks.failed) else 0)
    if e2e and e2e.checks.failures:
        log("failed: " + "; ".join(e2e.checks.failures))
    print("k8s-e2e: %d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


def guard(e2e, what, fn, *a):
    """one step that may raise: its failure is one failed check, the run
    goes on"""
    log("--- %s" % what)
    try:
        fn(*a)
    except Exception as ex:
        e2e.checks.check(False, "%s: %s" % (what, ex))


def summary(e2e, variants):
    log("variant               mode       requests  non-2xx  errors  p99 ms  rollout s")
    for v in variants:
        for l in v.result.get("loads", []):
            rs = v.result.get("rounds", [])
            log("%-21s %-10s %8d %8d %7d %7.1f  %s" % (
                v.name, l["mode"], l["requests"], l["non2xx"], sum(l["errors"].values()),
                l["latency_us"]["p99"] / 1000.0,
                " ".join("%.1f" % r[1] for r in rs)))


if __name__ == "__main__":
    sys.exit(main())
