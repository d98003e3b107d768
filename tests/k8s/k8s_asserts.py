"""What a kubelet does and a network namespace cannot: the assertions of the
real-cluster e2e (tests/k8s/e2e.py) on the native-sidecar release, after its
rollouts. Each function asserts through e2e.checks; the figures go into
v.result["asserts"] for the report."""

import glob
import os
import time

import subprocess

from k8slib import APP_UID, D, DELAY_S, REPLICAS, http_status, log, now_ms, sh


def cstatus(obj, name):
    st = obj.get("status", {})
    for c in st.get("initContainerStatuses", []) + st.get("containerStatuses", []):
        if c["name"] == name:
            return c
    return {}


def sidecar_order(e2e, v):
    """The native sidecar is started (its startup probe passed) before the
    app starts, and exits after the app: from the API's own sequence of pod
    updates and from the containers' log timestamps (CRI, nanoseconds)."""
    c = e2e.checks
    w = e2e.pod_watch(v.ns)
    first_run, bad_start, app_done = {}, [], {}
    sidecar_outlived = set()
    for ms, typ, obj in w.snapshot():
        name = obj["metadata"]["name"]
        app, side = cstatus(obj, "app"), cstatus(obj, "nodowntime")
        if "running" in app.get("state", {}) and name not in first_run:
            first_run[name] = ms
            if not side.get("started"):
                bad_start.append(name)
        if "terminated" in app.get("state", {}) and name not in app_done:
            app_done[name] = ms
            if "running" in side.get("state", {}):
                sidecar_outlived.add(name)
    n = 3 * e2e.args.rounds		# pods deleted by the rollouts
    c.check(len(first_run) >= REPLICAS + n and not bad_start,
            "native: in every pod update that shows the app running, the "
            "sidecar is already started (%d pods, %s)" % (
                len(first_run), "none without" if not bad_start else "not in " + ", ".join(bad_start)))
    # log timestamps: the agent says "nodowntime started" before the app's
    # first line; the app's ": exiting" comes before the agent's last line
    starts, exits = [], []
    for name in first_run:
        a = e2e.logs.find(v.ns, name, "nodowntime", r'"msg":"nodowntime started"')
        b = e2e.logs.find(v.ns, name, "app", r"listening on")
        if a and b:
            starts.append(b[0] - a[0])
        x = e2e.logs.find(v.ns, name, "app", r": exiting")
        last = e2e.logs.get(v.ns, name, "nodowntime")
        if x and last:
            exits.append(last[-1][0] - x[0])
    c.check(len(starts) >= REPLICAS + n and min(starts) > 0,
            "native: the app's first log line follows the agent's start in "
            "all %d pods (by %s ms)" % (len(starts), "..".join(
                str(x) for x in (min(starts), max(starts))) if starts else "-"))
    c.check(len(exits) >= n and min(exits) >= 0,
            "native: the agent's last log line follows the app's exit, "
            "in all %d deleted pods (by %s ms)" % (len(exits), "..".join(
                str(x) for x in (min(exits), max(exits))) if exits else "-"))
    if app_done:		# the kubelet often reports both exits in one update
        log("info  native: an API update showed the app terminated and the sidecar "
            "still running in %d of %d pods" % (len(sidecar_outlived), len(app_done)))
    v.result.setdefault("asserts", {})["order"] = {
        "start_gap_ms": [min(starts), max(starts)] if starts else None,
        "exit_gap_ms": [min(exits), max(exits)] if exits else None,
    }


def hook_uid(e2e, v):
    """The hook the agent copied into the emptyDir ran as the app's
    preStop, in the app's image that has no shell, as the app's uid."""
    c = e2e.checks
    w = e2e.pod_watch(v.ns)
    names = {obj["metadata"]["name"] for _, _, obj in w.snapshot()
             if obj["metadata"].get("deletionTimestamp")}
    peers = []
    for name in names:
        for ev in e2e.logs.agent_events(v.ns, name):
            if ev.get("msg") == "control: drain":
                peers.append(ev.get("peer", ""))
                break
    want = "uid=%d gid=%d" % (APP_UID, APP_UID)
    c.check(len(peers) >= 3 * e2e.args.rounds and all(want in p for p in peers),
            "native: the agent's `control: drain` came from the app's uid (%s) "
            "in all %d deleted pods%s" % (want, len(peers), "" if all(
                want in p for p in peers) else ": " + ", ".join(sorted(set(peers)))))
    pod = e2e.settled(v.ns)[0]["metadata"]["name"]
    p = subprocess.run([e2e.kube.kubectl, "exec", "-n", v.ns, pod, "-c", "app", "--",
                        "/bin/sh", "-c", "true"], capture_output=True, text=True,
                       env=e2e.kube.env, timeout=60)
    c.check(p.returncode != 0 and ("no such file" in p.stderr.lower() or
                                   "not found" in p.stderr.lower()),
            "native: the app image has no shell (`kubectl exec -- /bin/sh`: exit %d, %s)" % (
                p.returncode, p.stderr.strip().splitlines()[-1][:120] if p.stderr.strip() else "-"))


def app_ready(e2e, ns, pod):
    for p in e2e.pods(ns):
        if p["metadata"]["name"] == pod:
            return cstatus(p, "app").get("ready")
    return None


def slice_ready(e2e, ns, pod):
    """(ready, serving, terminating) of pod's endpoint in the newest slice event"""
    w = e2e.slice_watch(ns)
    state = None
    for _, _, obj in w.snapshot():
        for ep in obj.get("endpoints") or []:
            if (ep.get("targetRef") or {}).get("name") == pod:
                cd = ep.get("conditions", {})
                state = (cd.get("ready"), cd.get("serving"), cd.get("terminating"))
    return state


def readiness_follows(e2e, v):
    """The app container's readiness, and the pod's endpoint, follow the
    agent's /ready: the dependency check `dep` fails for one pod only (the
    test's server answers 503 to its IP), then passes again."""
    c = e2e.checks
    pods = e2e.settled(v.ns)
    pod, ip = pods[0]["metadata"]["name"], pods[0]["status"]["podIP"]
    others = [p["metadata"]["name"] for p in pods[1:]]
    url = "http://%s:3000/ready" % ip
    c.check(http_status(url) == 200, "native: /ready of %s is 200 before" % pod)
    t0 = time.time()
    e2e.dep.failing.add(ip)
    e2e.wait("/ready 503", lambda: http_status(url) == 503, 10, 0.05)
    t1 = time.time()
    e2e.wait("app container not ready", lambda: app_ready(e2e, v.ns, pod) is False, 15, 0.1)
    t2 = time.time()
    wait_endpoint_not_ready(e2e, v, pod, 15)
    t3 = time.time()
    still = [o for o in others if app_ready(e2e, v.ns, o)]
    c.check(t1 - t0 < 3.0, "native: dep fails -> the agent's /ready 503 in %.1f s "
            "(check interval 1 s, fall 1; want < 3 s)" % (t1 - t0))
    c.check(t2 - t1 < 5.0, "native: /ready 503 -> the app container not ready in "
            "%.1f s (readiness period 1 s x failureThreshold 2; want < 5 s)" % (t2 - t1))
    c.check(t3 - t0 < 10.0, "native: ... and its endpoint ready=false %.1f s after "
            "the dependency failed" % (t3 - t0))
    c.check(len(still) == len(others), "native: the other %d pods stayed ready" % len(others))
    e2e.dep.failing.discard(ip)
    e2e.wait("/ready 200", lambda: http_status(url) == 200, 10, 0.05)
    t4 = time.time()
    e2e.wait("app container ready", lambda: app_ready(e2e, v.ns, pod) is True, 15, 0.1)
    t5 = time.time()
    c.check(t5 - t4 < 5.0, "native: dep passes -> /ready 200 -> the app container "
            "ready again in %.1f s" % (t5 - t4))
    v.result.setdefault("asserts", {})["readiness"] = {
        "dep_to_503": t1 - t0, "503_to_unready": t2 - t1, "dep_to_endpoint": t3 - t0,
        "200_to_ready": t5 - t4}


def sigterm_ms(e2e, v, pod, timeout):
    """when the app logged its SIGTERM (waits for it)"""
    return e2e.wait("the app's SIGTERM", lambda: e2e.logs.find(v.ns, pod, "app", r"signal 15"),
                    timeout, 0.1)[0]


def wait_endpoint_not_ready(e2e, v, pod, timeout):
    e2e.wait("endpoint ready=false",
             lambda: (slice_ready(e2e, v.ns, pod) or (None,))[0] is False, timeout, 0.05)


def delete_one(e2e, v, name):
    e2e.kube.run("delete", "pod", "-n", v.ns, name, "--wait=false")
    return now_ms()


def wait_gone(e2e, v, name, timeout):
    e2e.wait("pod %s gone" % name,
             lambda: all(p["metadata"]["name"] != name for p in e2e.pods(v.ns)), timeout, 0.2)
    return now_ms()


def slice_at_drain(e2e, v):
    """A deleted pod's endpoint turns ready=false when the drain starts, long
    before the app's SIGTERM; serving=false follows once the kubelet's
    readiness probe sees the agent's 503."""
    c = e2e.checks
    pod = e2e.settled(v.ns)[0]["metadata"]["name"]
    t_del = delete_one(e2e, v, pod)
    drain = e2e.wait("drain start in the agent's log", lambda: e2e.logs.find(
        v.ns, pod, "nodowntime", r'"msg":"control: drain"'), 15, 0.1)[0]
    wait_endpoint_not_ready(e2e, v, pod, 15)
    w = e2e.slice_watch(v.ns)
    t_nr = t_ns = None
    for ms, _, obj in w.snapshot():
        if ms < t_del - 1000:
            continue
        for ep in obj.get("endpoints") or []:
            if (ep.get("targetRef") or {}).get("name") == pod:
                cd = ep.get("conditions", {})
                if cd.get("ready") is False and t_nr is None:
                    t_nr = ms
                    term = cd.get("terminating")
                if cd.get("serving") is False and t_ns is None:
                    t_ns = ms
    sig = sigterm_ms(e2e, v, pod, 60)
    c.check(t_nr is not None and abs(t_nr - drain) < 2000 and term,
            "native: the endpoint is ready=false, terminating=true %+d ms from the "
            "drain's start" % ((t_nr - drain) if t_nr else 0))
    c.check(t_nr is not None and t_nr < sig - 1000 * (DELAY_S - 1),
            "native: ... %.1f s before the app's SIGTERM" % ((sig - t_nr) / 1000.0 if t_nr else 0))
    if t_ns:
        log("info  native: serving=false %d ms after the drain started (the kubelet's "
            "readiness probe saw /ready 503)" % (t_ns - drain))
    wait_gone(e2e, v, pod, 60)
    e2e.wait("replacement Ready", lambda: e2e.settled(v.ns), 60)
    v.result.setdefault("asserts", {})["slice"] = {
        "delete_to_drain_ms": drain - t_del, "drain_to_notready_ms": (t_nr - drain) if t_nr else None,
        "drain_to_notserving_ms": (t_ns - drain) if t_ns else None,
        "drain_to_sigterm_ms": sig - drain}


def ctr(*args):
    return sh("ctr", "--address", os.path.join(D, "containerd", "containerd.sock"),
              "-n", "k8s.io", *args, check=False)


def kill_agent_mid_drain(e2e, v):
    """SIGKILL the agent container while its pod drains: the pod stays
    unready. A kubelet that restarts the sidecar gets the drain resumed from
    the agent's state file; Kubernetes 1.34 does not restart the sidecars of
    a terminating pod (KEP-4438), and then the hook holds the app for its
    reconnect window."""
    c = e2e.checks
    p = e2e.settled(v.ns)[0]
    pod = p["metadata"]["name"]
    cid = cstatus(p, "nodowntime")["containerID"].split("//")[1]
    t_del = delete_one(e2e, v, pod)
    e2e.wait("draining", lambda: e2e.logs.find(v.ns, pod, "nodowntime",
                                               r'"to":"draining"'), 15, 0.05)
    time.sleep(0.5)
    ctr("tasks", "kill", "-s", "SIGKILL", cid)
    t_kill = now_ms()
    log("info  native: SIGKILL to the agent of %s %d ms after its deletion" % (pod, t_kill - t_del))
    sig = sigterm_ms(e2e, v, pod, 90)
    t_gone = wait_gone(e2e, v, pod, 90)
    # the app was ready at its deletion; once its readiness probe has seen
    # the agent's 503 it must never turn ready again, agent killed or not
    ready_again, unready = False, False
    w = e2e.pod_watch(v.ns)
    for ms, _, obj in w.snapshot():
        if obj["metadata"]["name"] != pod or ms < t_del:
            continue
        r = cstatus(obj, "app").get("ready")
        if r is False:
            unready = True
        elif r and unready:
            ready_again = True
    c.check(unready and not ready_again, "native: the pod turned unready and never "
            "ready again after the agent was killed mid-drain")
    restarted = any(r == 1 for _, r, _ in e2e.logs.get(v.ns, pod, "nodowntime"))
    if restarted:
        resumed = e2e.logs.find(v.ns, pod, "nodowntime", r"drain resumed from the state file",
                                restart=1)
        c.check(resumed is not None, "native: the kubelet restarted the killed agent and it "
                "resumed the drain from its state file (%s)" % (
                    ("%d ms after the kill" % (resumed[0] - t_kill)) if resumed else "no"))
    else:
        # Kubernetes 1.34 does not restart a sidecar of a terminating pod
        # (KEP-4438, alpha planned for 1.37+): the hook, lost mid-drain,
        # retries for its fallback window (at least 5 s) before it returns
        resumed = None
        log("info  native: the kubelet did not restart the killed agent: a terminating "
            "pod's sidecars are not restarted in Kubernetes 1.34 (KEP-4438)")
        c.check(sig - t_kill >= 5000 - 300,
                "native: the hook, lost mid-drain, kept the app from SIGTERM for its "
                "5 s reconnect window: SIGTERM %.1f s after the kill" % ((sig - t_kill) / 1000.0))
    c.check(sig - t_del >= DELAY_S * 1000 - 300,
            "native: the app got SIGTERM %.1f s after the deletion, not before the "
            "drain delay (%d s)" % ((sig - t_del) / 1000.0, DELAY_S))
    e2e.wait("replacement Ready", lambda: e2e.settled(v.ns), 60)
    v.result.setdefault("asserts", {})["kill"] = {
        "kill_to_resume_ms": (resumed[0] - t_kill) if resumed else None,
        "restarted": restarted, "kill_to_sigterm_ms": sig - t_kill,
        "delete_to_sigterm_ms": sig - t_del, "delete_to_gone_ms": t_gone - t_del}


def kill_agent_resumes(e2e, v):
    """Where the kubelet does restart the sidecar (a pod that is not being
    deleted: a drain begun by `nodowntime prestop` from inside the pod, as a
    liveness-triggered restart's preStop would), a SIGKILL of the agent
    mid-drain is followed by the restarted agent resuming the drain from its
    state file: the pod stays unready until `nodowntime resume`."""
    c = e2e.checks
    p = e2e.settled(v.ns)[0]
    pod = p["metadata"]["name"]
    cid = cstatus(p, "nodowntime")["containerID"].split("//")[1]
    before = cstatus(p, "nodowntime").get("restartCount", 0)
    r = subprocess.run([e2e.kube.kubectl, "exec", "-n", v.ns, pod, "-c", "nodowntime", "--",
                        "nodowntime", "prestop", "--timeout", "1s"], capture_output=True,
                       text=True, env=e2e.kube.env, timeout=60)
    e2e.wait("draining", lambda: e2e.logs.find(v.ns, pod, "nodowntime", r'"to":"draining"'),
             10, 0.05)
    log("info  native: `nodowntime prestop --timeout 1s` in the agent container: exit %d" %
        r.returncode)
    # unready first (the kubelet's probe saw the 503): what follows the kill
    # is then the restarted agent's answer alone; one that came back serving
    # would turn the app ready within the 4 s looked at below
    e2e.wait("app unready", lambda: app_ready(e2e, v.ns, pod) is False, 15, 0.1)
    ctr("tasks", "kill", "-s", "SIGKILL", cid)
    t_kill = now_ms()
    resumed = e2e.wait("the restarted agent's resume", lambda: e2e.logs.find(
        v.ns, pod, "nodowntime", r"drain resumed from the state file", restart=before + 1), 60, 0.1)
    # a few seconds of the restarted agent: the app must stay unready
    time.sleep(4)
    t_check = now_ms()
    ready = False
    for ms, _, obj in e2e.pod_watch(v.ns).snapshot():
        if obj["metadata"]["name"] == pod and t_kill < ms <= t_check and \
                cstatus(obj, "app").get("ready"):
            ready = True
    c.check(resumed is not None and not ready,
            "native: agent SIGKILLed mid-drain in a running pod: the kubelet restarted it, "
            "it resumed the drain from its state file %d ms after the kill, and the app "
            "stayed unready" % (resumed[0] - t_kill))
    e2e.kube.run("exec", "-n", v.ns, pod, "-c", "nodowntime", "--", "nodowntime", "resume")
    t, back = time.time(), False
    while not back and time.time() - t < 20:
        back = app_ready(e2e, v.ns, pod) is True
        time.sleep(0.1)
    c.check(back, "native: `nodowntime resume` made the app ready again (in %.1f s)" % (
        time.time() - t))
    v.result.setdefault("asserts", {})["resume"] = {"kill_to_resume_ms": resumed[0] - t_kill}


def agent_unreachable(e2e, v):
    """The agent's control socket is gone (an agent that cannot be reached):
    the app's preStop hook still waits the fallback delay (drain.delay,
    from the state file) and the pod never takes longer than its
    terminationGracePeriodSeconds."""
    c = e2e.checks
    p = e2e.settled(v.ns)[0]
    pod, uid = p["metadata"]["name"], p["metadata"]["uid"]
    grace = p["spec"]["terminationGracePeriodSeconds"]
    socks = glob.glob(os.path.join(D, "kubelet", "pods", uid, "volumes",
                                   "kubernetes.io~empty-dir", "*", "nodowntime.sock"))
    c.check(len(socks) == 1, "native: the control socket is in the pod's emptyDir on "
            "the node (%s)" % (socks[0] if socks else "none found"))
    for s in socks:
        os.unlink(s)
    t_del = delete_one(e2e, v, pod)
    sig = sigterm_ms(e2e, v, pod, grace + 10)
    t_gone = wait_gone(e2e, v, pod, grace + 15)
    d = (sig - t_del) / 1000.0
    c.check(DELAY_S - 0.5 <= d <= DELAY_S + 3.0,
            "native: agent unreachable: the hook slept the fallback delay: SIGTERM "
            "%.1f s after the deletion (fallback %d s)" % (d, DELAY_S))
    c.check((t_gone - t_del) / 1000.0 <= grace + 2,
            "native: agent unreachable: the pod was gone %.1f s after the deletion, within "
            "terminationGracePeriodSeconds %d s" % ((t_gone - t_del) / 1000.0, grace))
    e2e.wait("replacement Ready", lambda: e2e.settled(v.ns), 60)
    v.result.setdefault("asserts", {})["unreachable"] = {
        "delete_to_sigterm_ms": sig - t_del, "delete_to_gone_ms": t_gone - t_del,
        "grace_s": grace}


def run_all(e2e, v):
    for fn in (sidecar_order, hook_uid, readiness_follows, slice_at_drain,
               kill_agent_mid_drain, kill_agent_resumes, agent_unreachable):
        log("--- %s" % fn.__name__)
        try:
            fn(e2e, v)
        except Exception as ex:		# one failed step, the others still run
            e2e.checks.check(False, "native: %s: %s" % (fn.__name__, ex))
