"""`nodowntime-hook wrap` (issue 15) on the real cluster of tests/k8s/e2e.py:

  job_wrap   the chart in the classic layout (sidecar.native=false), its
             pod template run as a Job whose app (the demo app,
             --exit-after-ms) ends by itself. With app.wrapCommand the app
             runs under `nodowntime-hook wrap` (copied into the shared
             volume by the chart's init container), which tells the agent
             to quit when the app exits: the Job completes, app and agent
             exit 0. Without it the app exits 0, the agent keeps running,
             and the Job stays active: what the classic layout did before.

Each function asserts through e2e.checks; figures go into e2e.wrap_result.
"""

import json
import os
import time

from k8slib import ROOT, log, sh

APP_RUN_MS = 4000           # the app's own run, from when wrap starts it
STILL_S = 15                # how long the wrap-less Job must stay active


def job_manifest(e2e, ns, wrap, chart_values):
    """the chart's ConfigMap and its Deployment's pod template as a Job,
    as a JSON List"""
    vals = chart_values(False, e2e.image)
    vals["app"]["args"] = ["--port", "8080", "--bind", "0.0.0.0", "--name",
                           "batch", "--exit-after-ms", str(APP_RUN_MS)]
    if wrap:
        vals["app"]["wrapCommand"] = ["/demo_app"]
    vals["kubernetes"] = {"enabled": False}
    vals["workload"].update({"replicas": 1, "pdb": {"enabled": False},
                             "service": {"enabled": False}})
    path = os.path.join(e2e.outdir, "values-%s.yaml" % ns)
    with open(path, "w") as f:
        json.dump(vals, f, indent=1)
    out = sh(e2e.helm, "template", "batch", os.path.join(ROOT, "helm",
             "nodowntime"), "-n", ns, "-f", path, env=e2e.kube.env)
    text = e2e.kube.run("create", "--dry-run=client", "-o", "json", "-f", "-",
                        input=out)
    # one JSON object per document, one after the other
    items, dec, i = [], json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, i = dec.raw_decode(text, i)
        items.extend(obj.get("items", [obj]) if obj.get("kind") == "List"
                     else [obj])
    for o in items:     # the dry run put them in "default"
        o["metadata"]["namespace"] = ns
    cm = [o for o in items if o["kind"] == "ConfigMap"]
    dep = [o for o in items if o["kind"] == "Deployment"][0]
    tmpl = dep["spec"]["template"]
    tmpl["spec"]["restartPolicy"] = "Never"
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "batch", "namespace": ns},
           "spec": {"backoffLimit": 0, "template": tmpl}}
    return json.dumps({"apiVersion": "v1", "kind": "List",
                       "items": cm + [job]})


def pod_of(e2e, ns):
    ps = e2e.kube.json("get", "pods", "-n", ns, "-l", "job-name=batch")
    return ps["items"][0] if ps.get("items") else None


def containers(pod):
    """name -> (state, exit code or None) of the pod's containers"""
    out = {}
    for st in (pod or {}).get("status", {}).get("containerStatuses") or []:
        s = st.get("state") or {}
        if "terminated" in s:
            out[st["name"]] = ("terminated", s["terminated"].get("exitCode"))
        elif "running" in s:
            out[st["name"]] = ("running", None)
        else:
            out[st["name"]] = ("waiting", None)
    return out


def job_status(e2e, ns):
    return e2e.kube.json("get", "job", "batch", "-n", ns).get("status", {})


def job_wrap(e2e, chart_values):
    c = e2e.checks
    res = e2e.wrap_result = {}
    spaces = {"job-wrap": True, "job-nowrap": False}
    try:
        for ns, wrap in spaces.items():
            e2e.kube.run("create", "namespace", ns)
            e2e.kube.run("apply", "-n", ns, "-f", "-",
                         input=job_manifest(e2e, ns, wrap, chart_values))
        t0 = time.time()
        st = e2e.wait("job-wrap: the Job completes", lambda: (
            lambda s: s if s.get("succeeded") == 1 or s.get("failed") else
            None)(job_status(e2e, "job-wrap")), 120, 0.5)
        res["wrap_complete_s"] = time.time() - t0
        pod = pod_of(e2e, "job-wrap")
        cs = containers(pod)
        c.check(st.get("succeeded") == 1 and not st.get("failed"),
                "job-wrap: the classic-layout Job with app.wrapCommand "
                "completed (%.1f s after it was created; the app runs %d ms)"
                % (res["wrap_complete_s"], APP_RUN_MS))
        c.check(cs.get("app") == ("terminated", 0) and
                cs.get("nodowntime") == ("terminated", 0),
                "job-wrap: app and agent both exited 0 (%s)" % cs)
        agent_log = e2e.kube.run("logs", "-n", "job-wrap", pod["metadata"]["name"],
                                 "-c", "nodowntime", check=False)
        c.check('"msg":"control: quit"' in agent_log,
                "job-wrap: the agent was told to quit by wrap (its log)")
        init = [s for s in pod["status"].get("initContainerStatuses") or []]
        c.check(len(init) == 1 and (init[0].get("state") or {}).get(
            "terminated", {}).get("exitCode") == 0,
            "job-wrap: the chart's init container copied the hook (exit 0)")

        # without wrap: the app is done, the agent is not, nor the Job
        e2e.wait("job-nowrap: the app exited", lambda: containers(
            pod_of(e2e, "job-nowrap")).get("app", ("", None))[0] ==
            "terminated", 120, 0.5)
        t_app = time.time()
        time.sleep(STILL_S)
        st = job_status(e2e, "job-nowrap")
        cs = containers(pod_of(e2e, "job-nowrap"))
        c.check(st.get("active") == 1 and not st.get("succeeded") and
                cs.get("app") == ("terminated", 0) and
                cs.get("nodowntime") == ("running", None),
                "job-nowrap: without wrap the app exited 0 but the agent "
                "still runs and the Job is active %.0f s later (%s; %s)" % (
                    time.time() - t_app, {k: st.get(k) for k in
                                          ("active", "succeeded", "failed")},
                    cs))
        log("job-wrap: completed in %.1f s; job-nowrap still active %d s "
            "after its app exited" % (res["wrap_complete_s"], STILL_S))
    finally:
        for ns in spaces:
            e2e.kube.run("delete", "namespace", ns, "--wait=false", check=False)
