"""The Kubernetes-aware parts (issue 14) on the real cluster of tests/k8s/e2e.py:

  endpoint_flips   every chart variant's deleted pods: the agent logged its
                   slice flip ("drain endpoints", ms from the drain's
                   start); with drain.wait_for_endpoints and quiet (the
                   adaptive variant) draining never ended before it
  status_flip      `nodowntime status --json` in a draining pod's sidecar
                   shows its slice ready=false and the flip's time
  fail_open        two releases in one run, both checking one shared
                   dependency (a second DepServer on the node): fail-open
                   (min_ready_percent 50) and without. The dependency is
                   stopped: with fail-open the Service keeps endpoints and
                   every request gets the app's answer; without, none
                   does. Over 60 s fail-open does not flap (its changes
                   counter and the slices' ready count stand still). Then
                   the dependency fails for one pod alone: that pod goes
                   unready, the others stay ready.
  rbac             the agent's service account may get, list, watch
                   endpointslices in its namespace and nothing else
                   (`kubectl auth can-i`), and no agent met a 403

Each function asserts through e2e.checks; figures go into e2e.kube_result.
"""

import json
import os
import subprocess
import threading
import time
import urllib.request

from k8slib import (DEP_PORT, NODE_IP, REPLICAS, ROOT, DepServer, Watch,
                    http_status, log, now_ms, sh)

DEP2_PORT = DEP_PORT + 1
WINDOW_S = 60


def agent_events(e2e, ns, pod):
    return e2e.logs.agent_events(ns, pod)


def endpoint_flips(e2e, v):
    """per deleted pod of a chart variant: the flip's after_ms, and the
    draining phase's end after_ms"""
    c = e2e.checks
    deleted = sorted({e["pod"] for e in v.result.get("events", [])
                      if e["kind"] == "delete"})
    flips, ends, early = [], [], []
    for pod in deleted:
        flip = end = None
        for ev in agent_events(e2e, v.ns, pod):
            if ev.get("msg") == "drain endpoints" and flip is None:
                flip = int(ev.get("after_ms"))
            if ev.get("msg") == "drain phase" and ev.get("from") == "draining" \
                    and end is None:
                end = int(ev.get("after_ms") or 0)
        if flip is not None:
            flips.append(flip)
        if flip is not None and end is not None:
            ends.append((pod, flip, end))
            if end < flip:
                early.append(pod)
    c.check(len(deleted) >= REPLICAS * e2e.args.rounds and len(flips) == len(deleted),
            "%s: every deleted pod's agent logged its slice flip to ready: false "
            "(%d of %d; %s ms from prestop)" % (
                v.name, len(flips), len(deleted),
                "..".join(str(x) for x in (min(flips), max(flips))) if flips else "-"))
    if v.adaptive:
        c.check(ends and not early,
                "%s: with wait_for_endpoints, draining never ended before the flip "
                "(%s)" % (v.name, ", ".join("flip %d / end %d ms" % (f, e)
                                            for _, f, e in ends[:6])))
    v.result["flips_ms"] = flips


def status_flip(e2e, v):
    c = e2e.checks
    pod = e2e.settled(v.ns)[0]["metadata"]["name"]
    e2e.kube.run("delete", "pod", "-n", v.ns, pod, "--wait=false")
    e2e.wait("the flip in %s's log" % pod, lambda: e2e.logs.find(
        v.ns, pod, "nodowntime", r'"msg":"drain endpoints"'), 20, 0.1)
    r = subprocess.run([e2e.kube.kubectl, "exec", "-n", v.ns, pod, "-c", "nodowntime",
                        "--", "nodowntime", "status", "--json"], capture_output=True,
                       text=True, env=e2e.kube.env, timeout=30)
    try:
        st = json.loads(r.stdout)
    except ValueError:
        st = {}
    k = st.get("kubernetes", {})
    sl = k.get("slices") or [{}]
    c.check(k.get("flip_after_ms") is not None and k.get("out") is True and
            sl[0].get("ready") is False and sl[0].get("terminating") is True,
            "%s: `nodowntime status --json` while draining: phase %s, slice %s "
            "ready=%s terminating=%s, flip %s ms after prestop" % (
                v.name, st.get("phase"), sl[0].get("name"), sl[0].get("ready"),
                sl[0].get("terminating"), k.get("flip_after_ms")))
    e2e.wait("replacement Ready", lambda: e2e.settled(v.ns), 90)


def until(e2e, what, fn, timeout, step=0.5):
    """e2e.wait, as a truth value"""
    try:
        return bool(e2e.wait(what, fn, timeout, step))
    except RuntimeError:
        return False


def fo_values(e2e, min_pct, chart_values):
    vals = chart_values(True, e2e.image)
    vals["config"]["checks"] = [{
        "name": "db",
        "http": {"url": "http://%s:%d/" % (NODE_IP, DEP2_PORT)},
        "interval": "1s", "timeout": "500ms", "fall": 1, "rise": 1,
        "affects": ["ready"], "shared": True,
    }]
    vals["config"]["fail_open"] = {"min_ready_percent": min_pct}
    return vals


def metric(ip, name, **labels):
    want = name + ("{" + ",".join('%s="%s"' % kv for kv in labels.items()) + "}"
                   if labels else "")
    try:
        with urllib.request.urlopen("http://%s:3000/metrics" % ip, timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(want + " "):
                    return float(line.split()[-1])
    except OSError:
        return None
    return None


def ready_body(ip):
    try:
        with urllib.request.urlopen("http://%s:3000/ready" % ip, timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except (OSError, ValueError):
        return 0, {}


def ready_endpoints(e2e, ns):
    n = 0
    for s in e2e.kube.json("get", "endpointslices", "-n", ns)["items"]:
        for ep in s.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready"):
                n += 1
    return n


def install(e2e, ns, min_pct, chart_values):
    e2e.kube.run("create", "namespace", ns)
    w = Watch(e2e.kube, ns, "endpointslices")
    e2e.watches.append((ns, w))
    w.start()
    vals = os.path.join(e2e.outdir, "values-%s.yaml" % ns)
    with open(vals, "w") as f:
        json.dump(fo_values(e2e, min_pct, chart_values), f, indent=1)
    sh(e2e.helm, "install", "web", os.path.join(ROOT, "helm", "nodowntime"),
       "-n", ns, "-f", vals, "--wait", "--timeout", "180s",
       env=e2e.kube.env, timeout=200)
    e2e.wait("%s: %d pods Ready" % (ns, REPLICAS), lambda: e2e.settled(ns), 180)


def sampler(url, stop, out):
    """GET url every 0.25 s until stop is set: out gets (t, ok)"""
    while not stop.is_set():
        out.append((time.time(), http_status(url, 1.0) == 200))
        time.sleep(0.25)


def fail_open(e2e, chart_values):
    c = e2e.checks
    dep = DepServer(DEP2_PORT)
    res = e2e.kube_result = {}
    try:
        install(e2e, "fo-on", 50, chart_values)
        install(e2e, "fo-off", 0, chart_values)
        urls = {}
        for ns in ("fo-on", "fo-off"):
            ip, port = e2e.cluster_ip(ns)
            urls[ns] = "http://%s:%d/" % (ip, port)
            e2e.wait("%s answers" % urls[ns], lambda u=urls[ns]: http_status(u) == 200, 30)
        pods = {ns: [(p["metadata"]["name"], p["status"]["podIP"])
                     for p in e2e.settled(ns)] for ns in ("fo-on", "fo-off")}
        on_ips = [ip for _, ip in pods["fo-on"]]
        c.check(all(metric(ip, "nodowntime_kubernetes_synced") == 1.0 for ip in on_ips),
                "fail-open: every fo-on agent's EndpointSlice watch is synced")

        # the shared dependency goes down for everyone; fo-on is sampled
        # from here on, so the transient before fail-open shows too
        samples = {"fo-on": [], "fo-off": []}
        stop = threading.Event()
        ths = [threading.Thread(target=sampler, args=(urls[ns], stop, samples[ns]))
               for ns in samples]
        for t in ths:
            t.start()
        t0 = time.time()
        dep.stop()
        log("fail-open: the shared dependency is stopped")
        e2e.wait("fo-off: no ready endpoint", lambda: ready_endpoints(e2e, "fo-off") == 0,
                 30, 0.5)
        t_off = time.time() - t0

        def engaged():
            return sum(1 for ip in on_ips
                       if metric(ip, "nodowntime_fail_open", check="db") == 1.0)
        e2e.wait("fo-on: fail-open engaged", lambda: engaged() > 0 and
                 ready_endpoints(e2e, "fo-on") > 0, 30, 0.5)
        time.sleep(5)			# kube-proxy follows the last change
        t_settle = time.time() - t0
        n_engaged = engaged()
        changes0 = [metric(ip, "nodowntime_fail_open_changes_total", check="db")
                    for ip in on_ips]
        eps0 = ready_endpoints(e2e, "fo-on")
        w = e2e.slice_watch("fo-on")
        w_from = now_ms()
        t_w = time.time()
        time.sleep(WINDOW_S)
        stop.set()
        for t in ths:
            t.join()
        w_to = now_ms()
        changes1 = [metric(ip, "nodowntime_fail_open_changes_total", check="db")
                    for ip in on_ips]
        # the slices' ready count over the window, from the API's own events
        counts = []
        for ms, _, obj in w.snapshot() if w else []:
            if w_from <= ms <= w_to:
                counts.append(sum(1 for ep in obj.get("endpoints") or []
                                  if (ep.get("conditions") or {}).get("ready")))
        before = [(t, ok) for t, ok in samples["fo-on"] if t < t_w]
        lost = [t for t, ok in before if not ok and t >= t0]
        transient = (lost[-1] - lost[0] + 0.25) if lost else 0.0
        for ns in samples:
            samples[ns] = [(t, ok) for t, ok in samples[ns] if t >= t_w]
        ok_on = sum(1 for _, ok in samples["fo-on"] if ok)
        ok_off = sum(1 for _, ok in samples["fo-off"] if ok)
        log("info  fail-open: fo-on before the window: %d of %d requests failed, "
            "over %.1f s from %.1f s after the stop (the transient while every pod "
            "went unready and the first ones failed open)" % (
                len(lost), len([1 for t, _ in before if t >= t0]), transient,
                (lost[0] - t0) if lost else 0.0))
        c.check(len(samples["fo-on"]) > 100 and ok_on == len(samples["fo-on"]),
                "fail-open: dependency down, fo-on (min_ready_percent 50): %d of %d "
                "requests over %d s got the app's 200 (%d of %d pods failing open, "
                "%d endpoints ready)" % (ok_on, len(samples["fo-on"]), WINDOW_S,
                                         n_engaged, REPLICAS, eps0))
        c.check(len(samples["fo-off"]) > 100 and ok_off == 0,
                "fail-open: dependency down, fo-off (no fail_open): %d of %d requests "
                "got an answer: the Service had no endpoints (none ready %.1f s after "
                "the stop)" % (ok_off, len(samples["fo-off"]), t_off))
        flips = sum((b or 0) - (a or 0) for a, b in zip(changes0, changes1))
        c.check(None not in changes0 and None not in changes1 and flips == 0 and
                all(n == eps0 for n in counts),
                "fail-open: no flapping over %d s: fail-open changes %d, slice ready "
                "counts %s (events in the window: %d)" % (
                    WINDOW_S, flips, sorted(set(counts)) or [eps0], len(counts)))
        eng_ip = [ip for ip in on_ips
                  if metric(ip, "nodowntime_fail_open", check="db") == 1.0]
        code, body = ready_body(eng_ip[0]) if eng_ip else (0, {})
        c.check(code == 200 and body.get("status") == "warn" and
                "fail-open" in body.get("output", "") and
                body.get("checks", {}).get("db", [{}])[0].get("failOpen") is True,
                "fail-open: an engaged pod's /ready: %d, status %s, output %r" % (
                    code, body.get("status"), body.get("output", "")[:90]))
        res.update({"stop_to_off_s": t_off, "stop_to_settled_s": t_settle,
                    "engaged": n_engaged, "endpoints_ready": eps0,
                    "requests_on": [ok_on, len(samples["fo-on"])],
                    "requests_off": [ok_off, len(samples["fo-off"])],
                    "transient_lost": len(lost), "transient_s": transient,
                    "changes_in_window": flips})

        # back up: every pod ready, fail-open released
        dep.start()
        e2e.wait("fo-on: all ready again", lambda: e2e.settled("fo-on"), 60)
        e2e.wait("fo-off: all ready again", lambda: e2e.settled("fo-off"), 60)
        c.check(until(e2e, "fail-open released", lambda: engaged() == 0, 20),
                "fail-open: released on every pod once the dependency is back")

        # one pod alone cannot reach it: only that pod goes unready
        name, ip = pods["fo-on"][0]
        others = [n for n, _ in pods["fo-on"][1:]]
        dep.failing.add(ip)
        t1 = time.time()
        import k8s_asserts
        until(e2e, "%s unready" % name,
              lambda: k8s_asserts.app_ready(e2e, "fo-on", name) is False, 20, 0.2)
        time.sleep(5)
        still = [o for o in others if k8s_asserts.app_ready(e2e, "fo-on", o)]
        c.check(k8s_asserts.app_ready(e2e, "fo-on", name) is False and
                len(still) == len(others) and
                metric(ip, "nodowntime_fail_open", check="db") == 0.0,
                "fail-open: the dependency fails for %s alone: it went unready in "
                "%.1f s and stayed so, the other %d stayed ready, no fail-open" % (
                    name, time.time() - t1 - 5, len(still)))
        dep.failing.discard(ip)
        e2e.wait("fo-on: all ready again", lambda: e2e.settled("fo-on"), 60)
        rbac(e2e, "fo-on", on_ips)
    finally:
        dep.stop()
        for ns in ("fo-on", "fo-off"):
            e2e.kube.run("delete", "namespace", ns, "--wait=false", check=False)


def rbac(e2e, ns, ips):
    c = e2e.checks
    pod = e2e.settled(ns)[0]
    sa = pod["spec"].get("serviceAccountName")
    who = "system:serviceaccount:%s:%s" % (ns, sa)

    def can(*a):
        r = subprocess.run([e2e.kube.kubectl, "auth", "can-i", "--as", who, *a],
                           capture_output=True, text=True, env=e2e.kube.env, timeout=30)
        return r.stdout.strip()
    allowed = [v for v in ("get", "list", "watch")
               if can(v, "endpointslices.discovery.k8s.io", "-n", ns) == "yes"]
    denied = {
        "list pods": can("list", "pods", "-n", ns),
        "get secrets": can("get", "secrets", "-n", ns),
        "update endpointslices": can("update", "endpointslices.discovery.k8s.io", "-n", ns),
        "list endpointslices in default": can("list", "endpointslices.discovery.k8s.io",
                                              "-n", "default"),
        "list endpoints": can("list", "endpoints", "-n", ns),
    }
    c.check(allowed == ["get", "list", "watch"] and all(v == "no" for v in denied.values()),
            "rbac: %s may %s endpointslices in %s, and not: %s" % (
                who, "/".join(allowed), ns, ", ".join(
                    "%s (%s)" % (k, v) for k, v in denied.items())))
    forb = [metric(ip, "nodowntime_kubernetes_requests_total", request=q,
                   result="forbidden") for ip in ips for q in ("list", "watch")]
    c.check(all(f in (None, 0.0) for f in forb),
            "rbac: no agent's LIST or WATCH was refused (403)")
