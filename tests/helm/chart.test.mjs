// chart.test.mjs - the Helm chart, rendered by the real Helm (v4) and
// checked against the Kubernetes API schemas and DESIGN §1's wiring.
//
//   node --test tests/helm/chart.test.mjs      (make helm-test)
//
// Each variant is rendered, every object validated (k8s.mjs), then the
// wiring asserted: where each probe points, the preStop hook, the shared
// volume, native vs classic sidecar, rollout strategy, PDB, the grace period
// arithmetic, security contexts, the checksum annotation; the rendered agent
// config must pass `nodowntime check-config`. Bad values must fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import {
	chartDir, root, render, runHelm, validate, one, ceilSec, sha256,
	checkConfig,
} from "./k8s.mjs";

const HOOK = "/run/nodowntime/nodowntime-hook";
const work = mkdtempSync(path.join(tmpdir(), "ndt-helm-test-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

async function validateAll(objs) {
	assert.ok(objs.length > 0, "nothing rendered");
	for (const o of objs)
		await validate(o);
}

function probeOn(c, kind) {
	return c[`${kind}Probe`];
}

// assertWiring(objs, want): DESIGN §1 on the rendered pod template.
//   want: { native, port, appName, sidecarName, delay, maxWait, shutdown,
//           margin, override, probes: {readiness, liveness, startup},
//           ids (false: the platform assigns uid, gid and fsGroup),
//           workload (Deployment of the example chart: strategy, PDB...) }
function assertWiring(objs, want) {
	const dep = one(objs, "Deployment");
	const pod = dep.spec.template.spec;
	const port = want.port ?? 3000;
	const sidecarName = want.sidecarName ?? "nodowntime";
	const inits = pod.initContainers ?? [];
	const sidecar = [...inits, ...pod.containers].find((c) => c.name === sidecarName);
	assert.ok(sidecar, "no sidecar container");

	// native sidecar: an init container with restartPolicy Always; classic:
	// a regular container, and nothing else of ours among the init containers
	if (want.native) {
		assert.ok(inits.includes(sidecar), "native sidecar must be an init container");
		assert.equal(sidecar.restartPolicy, "Always");
	} else {
		assert.ok(pod.containers.includes(sidecar), "classic sidecar must be in containers");
		assert.equal(sidecar.restartPolicy, undefined);
		assert.ok(!inits.some((c) => c.name === sidecarName));
	}
	assert.deepEqual(sidecar.args, ["run", "-c", "/etc/nodowntime/nodowntime.yaml"]);
	assert.ok(sidecar.ports.some((p) => p.containerPort === port), "agent port not declared");

	// the sidecar's own probes: /healthz only (a startup probe on /startup
	// would deadlock a native sidecar; /live would restart the agent for the
	// app's failure)
	for (const k of ["startup", "liveness"]) {
		const p = probeOn(sidecar, k);
		assert.ok(p, `sidecar has no ${k} probe`);
		assert.equal(p.httpGet.path, "/healthz", `sidecar ${k} probe`);
		assert.equal(p.httpGet.port, port);
	}
	for (const k of ["startup", "liveness", "readiness"]) {
		const p = probeOn(sidecar, k);
		if (p)
			assert.ok(!["/startup", "/live", "/ready"].includes(p.httpGet?.path),
			    `sidecar ${k} probe must not be on ${p.httpGet?.path}`);
	}

	// the app: preStop runs the hook; its probes are the agent's endpoints
	const app = pod.containers.find((c) => c.name === want.appName);
	assert.ok(app, `no app container ${want.appName}`);
	const cmd = app.lifecycle?.preStop?.exec?.command;
	const grace = want.override || ceilSec(want.delay) + ceilSec(want.maxWait) +
	    ceilSec(want.shutdown) + want.margin;
	if (want.preStop === false) {
		assert.equal(app.lifecycle, undefined);
	} else {
		assert.deepEqual(cmd.slice(0, 2), [HOOK, "prestop"], "preStop command");
		// the hook gives up in time to leave the app its shutdown_timeout
		assert.deepEqual(cmd.slice(2), ["--timeout", `${grace - ceilSec(want.shutdown)}s`]);
	}
	const paths = { readiness: "/ready", liveness: "/live", startup: "/startup" };
	for (const [k, path_] of Object.entries(paths)) {
		const p = probeOn(app, k);
		if (want.probes?.[k] === false) {
			assert.equal(p, undefined, `app ${k} probe should be off`);
			continue;
		}
		assert.ok(p, `app has no ${k} probe`);
		assert.equal(p.httpGet.path, path_, `app ${k} probe path`);
		assert.equal(p.httpGet.port, port, `app ${k} probe port`);
	}
	// one slow answer must not take the pod out of the Service
	if (probeOn(app, "readiness"))
		assert.ok(probeOn(app, "readiness").failureThreshold >= 2,
		    "app readiness failureThreshold 1 drops the pod on one slow answer");
	if (probeOn(app, "liveness"))
		assert.ok(probeOn(app, "liveness").failureThreshold *
		    probeOn(app, "liveness").periodSeconds >= 30,
		    "app liveness window too short to ride out an agent restart");

	// the shared emptyDir at /run/nodowntime in both; the config volume
	const vols = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
	const run = sidecar.volumeMounts.find((m) => m.mountPath === "/run/nodowntime");
	assert.ok(run, "sidecar does not mount /run/nodowntime");
	assert.ok(!run.readOnly, "the agent writes /run/nodowntime");
	assert.ok(vols[run.name]?.emptyDir, "/run/nodowntime is not an emptyDir");
	assert.ok(app.volumeMounts.some((m) => m.name === run.name &&
	    m.mountPath === "/run/nodowntime"), "app does not mount /run/nodowntime");
	const cfgMount = sidecar.volumeMounts.find((m) => m.mountPath === "/etc/nodowntime");
	const cfgName = vols[cfgMount.name].configMap.name;
	const cm = one(objs, "ConfigMap", (o) => o.metadata.name === cfgName);
	const cfgText = cm.data["nodowntime.yaml"];
	const cfg = parseYaml(cfgText);

	// grace period: terminationGracePeriodSeconds = delay + max_wait +
	// shutdown_timeout + margin, and the agent checks the same budget
	assert.equal(pod.terminationGracePeriodSeconds, grace, "terminationGracePeriodSeconds");
	assert.equal(cfg.drain.grace_period, `${grace}s`, "drain.grace_period");
	assert.equal(cfg.drain.delay, want.delay);
	assert.equal(cfg.drain.max_wait, want.maxWait);
	assert.equal(cfg.drain.shutdown_timeout, want.shutdown);
	if (want.delay === defaults.delay)
		assert.ok(cfg.drain.quiet === "0s" || cfg.drain.quiet === undefined,
		    "the adaptive delay is off by default");
	if (want.delay === defaults.delay)
		assert.ok(cfg.drain.idle_timeout === "0s" ||
		    cfg.drain.idle_timeout === undefined,
		    "the idle cut is off by default");
	assert.equal(cfg.listen.endsWith(`:${port}`), true, "agent listen port");
	assert.equal(cfg.control_socket, "/run/nodowntime/nodowntime.sock");
	assert.equal(cfg.hook_install_path, HOOK);

	// a config change rolls the pods
	assert.equal(dep.spec.template.metadata.annotations["checksum/nodowntime-config"],
	    sha256(cfgText.replace(/\n$/, "")), "checksum annotation");

	// security: the sidecar runs as non-root with nothing to escalate
	const sc = sidecar.securityContext;
	const psc = pod.securityContext ?? {};
	assert.equal(sc.runAsNonRoot, true);
	if (want.ids === false) {
		// a restricted platform (OpenShift restricted-v2) assigns them
		assert.equal(sc.runAsUser, undefined, "runAsUser set though ids are off");
		assert.equal(sc.runAsGroup, undefined, "runAsGroup set though ids are off");
		assert.equal(psc.fsGroup, undefined, "fsGroup set though ids are off");
	} else {
		assert.ok(Number.isInteger(sc.runAsUser) && sc.runAsUser > 0, "numeric non-root uid");
		// the control socket is 0660: the app reaches it through the pod's fsGroup
		assert.equal(psc.fsGroup, sc.runAsGroup ?? sc.runAsUser, "fsGroup = the agent's group");
	}
	// no recursive chown of the pod's volumes at every start
	assert.equal(psc.fsGroupChangePolicy, "OnRootMismatch", "fsGroupChangePolicy");
	assert.equal(sc.readOnlyRootFilesystem, true);
	assert.equal(sc.allowPrivilegeEscalation, false);
	assert.ok(sc.capabilities?.drop?.includes("ALL"), "capabilities not dropped");
	assert.equal((sc.seccompProfile ?? psc.seccompProfile)?.type, "RuntimeDefault");
	assert.ok(sidecar.resources?.requests?.memory && sidecar.resources?.limits?.memory,
	    "sidecar resources");

	if (want.workload) {
		const ru = dep.spec.strategy.rollingUpdate;
		assert.equal(dep.spec.strategy.type, "RollingUpdate");
		assert.equal(ru.maxUnavailable, 0, "maxUnavailable");
		assert.equal(ru.maxSurge, "25%");
		const keys = pod.topologySpreadConstraints.map((t) => t.topologyKey).sort();
		assert.deepEqual(keys, ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);
		for (const t of pod.topologySpreadConstraints)
			assert.deepEqual(t.labelSelector.matchLabels, dep.spec.selector.matchLabels);
		assert.equal(app.securityContext.allowPrivilegeEscalation, false);
		assert.ok(app.securityContext.capabilities.drop.includes("ALL"));
		const svc = one(objs, "Service");
		assert.deepEqual(svc.spec.selector, dep.spec.selector.matchLabels);
		assert.ok(app.ports.some((p) => p.name === svc.spec.ports[0].targetPort));
		const pdbs = objs.filter((o) => o.kind === "PodDisruptionBudget");
		if (want.pdb === false) {
			assert.equal(pdbs.length, 0, "PDB rendered though disabled");
		} else {
			assert.equal(pdbs.length, 1, "no PDB");
			assert.deepEqual(pdbs[0].spec.selector.matchLabels, dep.spec.selector.matchLabels);
		}
	}
	return { cfgText, cfg };
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const ROLE_RULE = { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"],
    verbs: ["get", "list", "watch"] };

// assertKube(objs, want): the agent's Kubernetes API access.
//   want: { enabled (default true), sa (the pod's service account; default
//           web-nodowntime), createSA (default: true unless sa was given by
//           the user), rbac (default true), sidecarName }
// Enabled: a ServiceAccount (unless the user's), a Role with exactly one
// rule (read EndpointSlices), a RoleBinding of it to the pod's service
// account; the token projected into the sidecar only, never the app;
// POD_NAME and POD_IP in the sidecar; the agent config says so. Disabled:
// none of it.
function assertKube(objs, want = {}) {
	const enabled = want.enabled ?? true;
	const dep = one(objs, "Deployment");
	const pod = dep.spec.template.spec;
	const sidecarName = want.sidecarName ?? "nodowntime";
	const all = [...pod.initContainers ?? [], ...pod.containers];
	const sidecar = all.find((c) => c.name === sidecarName);
	const others = all.filter((c) => c !== sidecar);
	const kinds = (k) => objs.filter((o) => o.kind === k);
	const cfgName = pod.volumes.find((v) => v.name ===
	    sidecar.volumeMounts.find((m) => m.mountPath === "/etc/nodowntime").name).configMap.name;
	const cfg = parseYaml(one(objs, "ConfigMap", (o) => o.metadata.name === cfgName)
	    .data["nodowntime.yaml"]);

	// the app never gets an API token, whatever the sidecar has
	assert.equal(pod.automountServiceAccountToken, false, "automountServiceAccountToken");
	for (const c of others) {
		assert.ok(!(c.volumeMounts ?? []).some((m) => m.mountPath.startsWith(SA_DIR) ||
		    m.name === "nodowntime-kube-api"), `${c.name} mounts the API token`);
		assert.ok(!(c.env ?? []).some((e) => e.name === "POD_NAME"), `${c.name} has POD_NAME`);
	}
	const tokenVols = pod.volumes.filter((v) =>
	    v.projected?.sources?.some((src) => src.serviceAccountToken));

	if (!enabled) {
		for (const k of ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"])
			assert.equal(kinds(k).length, 0, `${k} rendered though kubernetes.enabled=false`);
		assert.equal(tokenVols.length, 0, "a token volume though kubernetes.enabled=false");
		assert.ok(!sidecar.volumeMounts.some((m) => m.mountPath === SA_DIR));
		assert.ok(!(sidecar.env ?? []).some((e) => ["POD_NAME", "POD_IP"].includes(e.name)),
		    "POD_NAME/POD_IP though kubernetes.enabled=false");
		assert.equal(pod.serviceAccountName, want.sa, "serviceAccountName");
		assert.equal(cfg.kubernetes?.enabled, false, "agent kubernetes.enabled");
		assert.ok(cfg.drain.wait_for_endpoints === undefined ||
		    cfg.drain.wait_for_endpoints === false, "wait_for_endpoints without the API");
		assert.equal(cfg.fail_open, undefined);
		return { cfg, pod, sidecar };
	}

	const sa = want.sa ?? "web-nodowntime";
	assert.equal(pod.serviceAccountName, sa, "the pod's serviceAccountName");
	const sas = kinds("ServiceAccount");
	if (want.createSA ?? want.sa === undefined) {
		assert.equal(sas.length, 1, "one ServiceAccount");
		assert.equal(sas[0].metadata.name, sa);
		assert.equal(sas[0].automountServiceAccountToken, false, "the SA's own automount");
	} else {
		assert.equal(sas.length, 0, "a ServiceAccount though the user named theirs");
	}
	// no cluster-wide grant, ever
	assert.equal(kinds("ClusterRole").length + kinds("ClusterRoleBinding").length, 0);
	if (want.rbac ?? true) {
		const role = one(objs, "Role");
		assert.deepEqual(role.rules, [ROLE_RULE], "the Role must read EndpointSlices and nothing else");
		assert.equal(role.metadata.namespace, undefined, "the release's namespace");
		const rb = one(objs, "RoleBinding");
		assert.deepEqual(rb.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role",
		    name: role.metadata.name });
		assert.deepEqual(rb.subjects, [{ kind: "ServiceAccount", name: sa, namespace: "default" }],
		    "the RoleBinding binds the pod's service account");
	} else {
		assert.equal(kinds("Role").length + kinds("RoleBinding").length, 0, "RBAC though rbac.create=false");
	}

	// the projected token, CA and namespace: mounted read-only in the sidecar
	assert.equal(tokenVols.length, 1, "one projected token volume");
	const vol = tokenVols[0];
	const srcs = vol.projected.sources;
	assert.deepEqual(srcs.find((x) => x.serviceAccountToken).serviceAccountToken,
	    { path: "token", expirationSeconds: 3607 });
	assert.deepEqual(srcs.find((x) => x.configMap).configMap,
	    { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] });
	assert.deepEqual(srcs.find((x) => x.downwardAPI).downwardAPI.items,
	    [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }]);
	const m = sidecar.volumeMounts.filter((x) => x.name === vol.name);
	assert.deepEqual(m, [{ name: vol.name, mountPath: SA_DIR, readOnly: true }],
	    "the sidecar mounts the token at the in-cluster path");
	for (const c of others)
		assert.ok(!(c.volumeMounts ?? []).some((x) => x.name === vol.name),
		    `${c.name} mounts the token volume`);

	// the downward API: the agent finds its pod in the slices
	const env = Object.fromEntries((sidecar.env ?? []).map((e) => [e.name, e]));
	assert.deepEqual(env.POD_NAME?.valueFrom, { fieldRef: { fieldPath: "metadata.name" } });
	assert.deepEqual(env.POD_IP?.valueFrom, { fieldRef: { fieldPath: "status.podIP" } });
	assert.equal(new Set(sidecar.env.map((e) => e.name)).size, sidecar.env.length,
	    "duplicate env names in the sidecar");

	assert.equal(cfg.kubernetes.enabled, true, "agent kubernetes.enabled");
	assert.equal(cfg.kubernetes.service_account_dir, SA_DIR);
	assert.equal(cfg.drain.wait_for_endpoints, want.waitForEndpoints ?? true, "drain.wait_for_endpoints");
	return { cfg, pod, sidecar };
}

// the rendered config must pass the agent's own validation
function assertCheckConfig(name, cfgText) {
	const f = path.join(work, `${name}.yaml`);
	writeFileSync(f, cfgText);
	const r = checkConfig(f);
	assert.equal(r.status, 0, `check-config ${name}:\n${r.output}`);
	assert.match(r.output, /fits/, "check-config did not check the grace budget");
}

const defaults = {
	native: true, appName: "app", delay: "5s", maxWait: "20s",
	shutdown: "30s", margin: 10, workload: true,
};

test("lint --strict: the chart with default values", () => {
	const r = runHelm(["lint", "--strict", chartDir]);
	assert.equal(r.status, 0, r.stdout + r.stderr);
});

test("default values: native sidecar, PDB, wiring, grace 65s", async () => {
	const objs = render(chartDir);
	await validateAll(objs);
	assert.deepEqual(objs.map((o) => o.kind).sort(),
	    ["ConfigMap", "Deployment", "PodDisruptionBudget", "Role", "RoleBinding",
	    "Service", "ServiceAccount"]);
	const { cfgText, cfg } = assertWiring(objs, defaults);
	assertKube(objs);
	const pod = one(objs, "Deployment").spec.template.spec;
	assert.equal(pod.terminationGracePeriodSeconds, 65);
	assert.equal(cfg.app.port, 8080);
	assert.deepEqual(cfg.checks.map((c) => c.name), ["app"]);
	// the image's user, which users rely on
	const sc = pod.initContainers[0].securityContext;
	assert.deepEqual([sc.runAsUser, sc.runAsGroup, pod.securityContext.fsGroup],
	    [65532, 65532, 65532]);
	// readiness rides out one slow answer, yet a drain takes the pod out
	// within drain.delay, while it still serves
	const rp = pod.containers[0].readinessProbe;
	assert.ok(rp.failureThreshold * rp.periodSeconds <= ceilSec(cfg.drain.delay),
	    `readiness ${rp.failureThreshold} x ${rp.periodSeconds}s is longer than drain.delay`);
	assertCheckConfig("default", cfgText);
});

test("ids off: runAsUser, runAsGroup, fsGroup left to the platform", async () => {
	for (const args of [["--set", "ids=null"],
	    ["--set", "ids.runAsUser=null", "--set", "ids.runAsGroup=", "--set", "ids.fsGroup=null"]]) {
		const objs = render(chartDir, args);
		await validateAll(objs);
		const { cfgText } = assertWiring(objs, { ...defaults, ids: false });
		assertCheckConfig("ids-off", cfgText);
	}
	// one at a time; a securityContext of the user's own still wins
	const pod = (args) => one(render(chartDir, args), "Deployment").spec.template.spec;
	let p = pod(["--set", "ids.runAsUser=null"]);
	assert.equal(p.initContainers[0].securityContext.runAsUser, undefined);
	assert.equal(p.initContainers[0].securityContext.runAsGroup, 65532);
	assert.equal(p.securityContext.fsGroup, 65532);
	p = pod(["--set", "ids.fsGroup=", "--set", "sidecar.securityContext.runAsUser=1000"]);
	assert.equal(p.initContainers[0].securityContext.runAsUser, 1000);
	assert.equal(p.securityContext.fsGroup, undefined);
	assert.equal(p.securityContext.fsGroupChangePolicy, "OnRootMismatch");
	p = pod(["--set", "workload.podSecurityContext.fsGroup=2000"]);
	assert.equal(p.securityContext.fsGroup, 2000);
});

// peersFor(np, pod, port): who may connect to port under the NetworkPolicy:
// "all", or the list of its peers ([] = closed). A named port counts by the
// container port of that name.
function peersFor(np, pod, port) {
	const named = Object.fromEntries([...pod.initContainers ?? [], ...pod.containers]
	    .flatMap((c) => c.ports ?? []).filter((p) => p.name)
	    .map((p) => [p.name, p.containerPort]));
	const covers = (p) => {
		const n = typeof p.port === "string" ? named[p.port] : p.port;
		return p.port === undefined || n === port ||
		    (p.endPort !== undefined && n <= port && port <= p.endPort);
	};
	const peers = [];
	for (const r of np.spec.ingress ?? []) {
		if (r.ports?.length && !r.ports.some(covers))
			continue;
		if (!r.from?.length)
			return "all";
		peers.push(...r.from);
	}
	return peers;
}

const nodePeers = [{ ipBlock: { cidr: "10.0.0.0/16" } }, { ipBlock: { cidr: "fd00:10::/64" } }];
const npArgs = ["--set", "networkPolicy.enabled=true",
    "--set-json", 'networkPolicy.nodeCIDRs=["10.0.0.0/16","fd00:10::/64"]'];

test("networkPolicy: the agent's port for the nodes and Prometheus, the app's open", async () => {
	const objs = render(chartDir, npArgs);
	await validateAll(objs);
	assertWiring(objs, defaults);
	const np = one(objs, "NetworkPolicy");
	const dep = one(objs, "Deployment");
	const pod = dep.spec.template.spec;
	assert.deepEqual(np.spec.podSelector.matchLabels, dep.spec.selector.matchLabels,
	    "the policy does not select the pods");
	assert.deepEqual(np.spec.policyTypes, ["Ingress"], "egress must stay untouched");
	assert.deepEqual(peersFor(np, pod, 3000), [...nodePeers, {
		namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } },
		podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
	}], "who reaches the agent's port");
	assert.equal(peersFor(np, pod, 8080), "all", "the app's port must stay open");
	// the trade-off: a port nobody listed is closed
	assert.deepEqual(peersFor(np, pod, 9999), []);
});

test("networkPolicy: another agent port, more app ports, own Prometheus", async () => {
	const vals = {
		sidecar: { port: 3100 },
		networkPolicy: {
			enabled: true, nodeCIDRs: ["192.168.0.0/24"],
			prometheus: [{
				namespaceSelector: { matchLabels: { team: "observability" } },
				podSelector: { matchExpressions: [{ key: "app", operator: "In", values: ["prometheus"] }] },
			}],
			appPorts: [9443, { port: 7000, endPort: 7010, protocol: "TCP" }],
			extraIngress: [{ from: [{ podSelector: { matchLabels: { role: "admin" } } }],
			    ports: [{ port: 8081 }] }],
		},
	};
	const vf = path.join(work, "np.yaml");
	writeFileSync(vf, JSON.stringify(vals));
	const objs = render(chartDir, ["-f", vf]);
	await validateAll(objs);
	assertWiring(objs, { ...defaults, port: 3100 });
	const np = one(objs, "NetworkPolicy");
	const pod = one(objs, "Deployment").spec.template.spec;
	assert.deepEqual(peersFor(np, pod, 3100), [{ ipBlock: { cidr: "192.168.0.0/24" } },
	    ...vals.networkPolicy.prometheus]);
	for (const p of [8080, 9443, 7000, 7010])
		assert.equal(peersFor(np, pod, p), "all", `port ${p}`);
	assert.deepEqual(peersFor(np, pod, 8081), [{ podSelector: { matchLabels: { role: "admin" } } }]);
	assert.deepEqual(peersFor(np, pod, 3000), []);
	// no Prometheus rule: only the nodes
	const np2 = one(render(chartDir, [...npArgs, "--set-json", "networkPolicy.prometheus=[]"]),
	    "NetworkPolicy");
	assert.deepEqual(peersFor(np2, pod, 3000), nodePeers);
});

test("classic sidecar: a second container, works on Kubernetes 1.28", async () => {
	const objs = render(chartDir, ["--set", "sidecar.native=false",
	    "--kube-version", "1.28.0"]);
	await validateAll(objs);
	const { cfgText } = assertWiring(objs, { ...defaults, native: false });
	assert.equal(one(objs, "Deployment").spec.template.spec.initContainers, undefined);
	assertKube(objs);
	assertCheckConfig("classic", cfgText);
});

test("kubernetes: token, env and RBAC in both sidecar layouts", async () => {
	for (const native of [true, false]) {
		const objs = render(chartDir, ["--set", `sidecar.native=${native}`]);
		await validateAll(objs);
		assertWiring(objs, { ...defaults, native });
		const { pod, sidecar } = assertKube(objs);
		if (native)
			assert.ok(pod.initContainers.includes(sidecar));
		else
			assert.ok(pod.containers.includes(sidecar) && pod.containers.length === 2);
	}
});

test("kubernetes.enabled=false: no ServiceAccount, RBAC, token or env; agent off", async () => {
	for (const native of [true, false]) {
		const objs = render(chartDir, ["--set", "kubernetes.enabled=false",
		    "--set", `sidecar.native=${native}`]);
		await validateAll(objs);
		assert.deepEqual(objs.map((o) => o.kind).sort(),
		    ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]);
		const { cfgText } = assertWiring(objs, { ...defaults, native });
		assertKube(objs, { enabled: false });
		assertCheckConfig(`kube-off-${native}`, cfgText);
	}
	// the user's service account still goes on the pod
	const objs = render(chartDir, ["--set", "kubernetes.enabled=false",
	    "--set", "workload.serviceAccountName=shop"]);
	assertKube(objs, { enabled: false, sa: "shop" });
});

test("kubernetes: the user's service account is bound, none created", async () => {
	const objs = render(chartDir, ["--set", "workload.serviceAccountName=shop-sa"]);
	await validateAll(objs);
	assertWiring(objs, defaults);
	assertKube(objs, { sa: "shop-sa" });
	// rbac.create=false: the user grants the read; the token is still there
	const objs2 = render(chartDir, ["--set", "workload.serviceAccountName=shop-sa",
	    "--set", "kubernetes.rbac.create=false"]);
	await validateAll(objs2);
	assertKube(objs2, { sa: "shop-sa", rbac: false });
	const objs3 = render(chartDir, ["--set", "kubernetes.rbac.create=false"]);
	assertKube(objs3, { rbac: false });
});

test("kubernetes: POD_NAME/POD_IP merge with the sidecar's env; api, wait_for_endpoints", async () => {
	const vals = {
		sidecar: { env: [{ name: "TOKEN", value: "x" },
		    { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }] },
		kubernetes: { api: "https://kubernetes.default.svc:443" },
		config: { drain: { wait_for_endpoints: false } },
	};
	const vf = path.join(work, "kube-env.yaml");
	writeFileSync(vf, JSON.stringify(vals));
	const objs = render(chartDir, ["-f", vf]);
	await validateAll(objs);
	const { cfgText } = assertWiring(objs, defaults);
	const { cfg, sidecar } = assertKube(objs, { waitForEndpoints: false });
	assert.deepEqual(sidecar.env.map((e) => e.name).sort(), ["POD_IP", "POD_NAME", "TOKEN"]);
	assert.equal(cfg.kubernetes.api, "https://kubernetes.default.svc:443");
	process.env.TOKEN = "x";
	assertCheckConfig("kube-env", cfgText);
});

test("a shared check and fail_open.min_ready_percent reach the agent", async () => {
	const vals = {
		config: {
			fail_open: { min_ready_percent: 50 },
			checks: [
				{ name: "postgres", tcp: { host: "postgres", port: 5432 },
				    affects: ["ready"], shared: true },
				{ name: "cache", tcp: { host: "redis", port: 6379 },
				    affects: ["ready"], shared: false },
			],
		},
	};
	const vf = path.join(work, "shared.yaml");
	writeFileSync(vf, JSON.stringify(vals));
	for (const native of [true, false]) {
		const objs = render(chartDir, ["-f", vf, "--set", `sidecar.native=${native}`]);
		await validateAll(objs);
		const { cfgText, cfg } = assertWiring(objs, { ...defaults, native });
		assertKube(objs);
		assert.deepEqual(cfg.checks.map((c) => [c.name, c.shared]),
		    [["app", undefined], ["postgres", true], ["cache", false]]);
		assert.deepEqual(cfg.fail_open, { min_ready_percent: 50 });
		assertCheckConfig(`shared-${native}`, cfgText);
	}
	// off by default: not rendered
	assert.equal(parseYaml(one(render(chartDir), "ConfigMap").data["nodowntime.yaml"]).fail_open,
	    undefined);
});

test("agentCheck: the agent's config, the sidecar's port, the NetworkPolicy", async () => {
	// off by default: no agent_check, no port
	const { cfg: cfg0 } = assertWiring(render(chartDir), defaults);
	assert.equal(cfg0.agent_check, undefined, "agent_check rendered though off");
	const args = ["--set", "agentCheck.port=3001", "--set", "agentCheck.warnWeight=30%"];
	const objs = render(chartDir, args);
	await validateAll(objs);
	const { cfg, cfgText, sidecar } = { ...assertWiring(objs, defaults),
	    sidecar: one(objs, "Deployment").spec.template.spec.initContainers[0] };
	assert.deepEqual(cfg.agent_check, { listen: "0.0.0.0:3001", warn_weight: "30%" });
	assert.deepEqual(sidecar.ports.find((p) => p.name === "agent-check"),
	    { name: "agent-check", containerPort: 3001, protocol: "TCP" });
	assertCheckConfig("agentcheck", cfgText);
	// the policy: every source by default, or the peers given
	const pod = one(objs, "Deployment").spec.template.spec;
	const np = one(render(chartDir, [...args, ...npArgs]), "NetworkPolicy");
	assert.equal(peersFor(np, pod, 3001), "all");
	assert.deepEqual(peersFor(np, pod, 3000).slice(0, 2), nodePeers, "the agent's port stays closed");
	const ing = [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress" } } }];
	const np2 = one(render(chartDir, [...args, ...npArgs, "--set-json",
	    `networkPolicy.agentCheckFrom=${JSON.stringify(ing)}`]), "NetworkPolicy");
	assert.deepEqual(peersFor(np2, pod, 3001), ing);
	// IPv6: the sidecar's listen address
	const { cfg: cfg6 } = assertWiring(render(chartDir, [...args, "--set",
	    "sidecar.listenAddress=::"]), defaults);
	assert.equal(cfg6.agent_check.listen, "[::]:3001");
});

test("app.wrapCommand: the app under wrap; the hook copied first in the classic layout", async () => {
	const dep0 = one(render(chartDir), "Deployment").spec.template.spec;
	assert.equal(dep0.containers[0].command, undefined, "a command though wrap is off");
	const args = ["--set-json", 'app.wrapCommand=["/usr/local/bin/server","--port","8080"]',
	    "--set-json", 'app.args=["--verbose"]'];
	const wrapped = [HOOK, "wrap", "--wait-timeout", "60s", "--",
	    "/usr/local/bin/server", "--port", "8080"];
	// native: the sidecar (started first, /healthz gates on the hook) only
	const objs = render(chartDir, args);
	await validateAll(objs);
	assertWiring(objs, defaults);
	const pod = one(objs, "Deployment").spec.template.spec;
	const app = pod.containers.find((c) => c.name === "app");
	assert.deepEqual(app.command, wrapped);
	assert.deepEqual(app.args, ["--verbose"]);
	assert.deepEqual(pod.initContainers.map((c) => c.name), ["nodowntime"]);
	// classic: an init container puts the hook in the shared volume
	const objsC = render(chartDir, [...args, "--set", "sidecar.native=false",
	    "--set", "app.wrapWaitTimeout=2m"]);
	await validateAll(objsC);
	assertWiring(objsC, { ...defaults, native: false });
	const podC = one(objsC, "Deployment").spec.template.spec;
	assert.equal(podC.initContainers.length, 1);
	const init = podC.initContainers[0];
	assert.deepEqual(init.command, ["cp", "/usr/local/bin/nodowntime-hook", HOOK]);
	assert.deepEqual(init.volumeMounts, [{ name: "nodowntime-run", mountPath: "/run/nodowntime" }]);
	assert.equal(init.securityContext.runAsUser, 65532);
	assert.equal(init.image, podC.containers.find((c) => c.name === "nodowntime").image);
	assert.deepEqual(podC.containers.find((c) => c.name === "app").command,
	    wrapped.map((a) => (a === "60s" ? "2m" : a)));
});

test("native sidecar refused below Kubernetes 1.29", () => {
	const r = runHelm(["template", "web", chartDir, "--kube-version", "1.28.0"]);
	assert.notEqual(r.status, 0);
	assert.match(r.stderr, /sidecar\.native needs Kubernetes >= 1\.29/);
});

test("no PDB: workload.pdb.enabled=false", async () => {
	const objs = render(chartDir, ["--set", "workload.pdb.enabled=false"]);
	await validateAll(objs);
	assertWiring(objs, { ...defaults, pdb: false });
});

test("custom drain: timings, notify, margin, minAvailable, probes off", async () => {
	const vals = {
		config: {
			drain: {
				delay: "10s", max_wait: "1m30s", shutdown_timeout: "45s",
				quiet: "700ms", min_delay: "2s", idle_timeout: "800ms",
				notify: { http: { url: "http://127.0.0.1:9090/admin/drain", timeout: "3s" } },
			},
			log: { format: "text", level: "debug" },
			checks: [
				{ name: "postgres", tcp: { host: "postgres", port: 5432 }, affects: ["ready"], interval: "5s" },
				{ name: "payments", http: { url: "https://payments.example.com/health",
				    headers: { Authorization: "Bearer ${PAYMENTS_TOKEN}" } },
				    affects: ["ready"], critical: false, interval: "15s", timeout: "3s" },
			],
		},
		app: { port: 9090, probes: { liveness: { enabled: false } } },
		appCheck: { path: "/healthz" },
		gracePeriod: { marginSeconds: 15 },
		sidecar: { port: 3100, env: [{ name: "PAYMENTS_TOKEN", value: "test" }] },
		workload: { pdb: { minAvailable: "50%", maxUnavailable: null } },
	};
	const vf = path.join(work, "custom.yaml");
	writeFileSync(vf, JSON.stringify(vals));
	const objs = render(chartDir, ["-f", vf]);
	await validateAll(objs);
	const { cfgText, cfg } = assertWiring(objs, {
		...defaults, delay: "10s", maxWait: "1m30s", shutdown: "45s", margin: 15,
		port: 3100, probes: { liveness: false },
	});
	// 10 + 90 + 45 + 15
	assert.equal(one(objs, "Deployment").spec.template.spec.terminationGracePeriodSeconds, 160);
	assert.equal(cfg.app.port, 9090);
	assert.equal(cfg.checks[0].http.url, "http://127.0.0.1:9090/healthz");
	assert.deepEqual(cfg.checks.map((c) => c.name), ["app", "postgres", "payments"]);
	assert.equal(cfg.drain.notify.http.url, "http://127.0.0.1:9090/admin/drain");
	// the adaptive delay reaches the agent; the budget stays on delay
	assert.equal(cfg.drain.quiet, "700ms");
	assert.equal(cfg.drain.min_delay, "2s");
	assert.equal(cfg.drain.idle_timeout, "800ms");
	const pdb = one(objs, "PodDisruptionBudget");
	assert.equal(pdb.spec.minAvailable, "50%");
	assert.equal(pdb.spec.maxUnavailable, undefined);
	process.env.PAYMENTS_TOKEN = "test";	// ${VAR} must be set for check-config
	assertCheckConfig("custom", cfgText);
});

test("IPv6 listen address and a fixed grace period", async () => {
	const objs = render(chartDir, ["--set", "sidecar.listenAddress=::",
	    "--set", "gracePeriod.override=120"]);
	await validateAll(objs);
	const { cfgText, cfg } = assertWiring(objs, { ...defaults, override: 120 });
	assert.equal(cfg.listen, "[::]:3000");
	assertCheckConfig("ipv6", cfgText);
});

test("a grace period override shorter than the budget fails", () => {
	const r = runHelm(["template", "web", chartDir, "--set", "gracePeriod.override=30"]);
	assert.notEqual(r.status, 0);
	assert.match(r.stderr, /gracePeriod\.override 30 is shorter than .* = 65 seconds/);
});

test("a config change changes the checksum annotation (the pods roll)", () => {
	const ann = (args) => one(render(chartDir, args), "Deployment")
	    .spec.template.metadata.annotations["checksum/nodowntime-config"];
	const a = ann([]);
	assert.equal(ann([]), a, "rendering is deterministic");
	assert.notEqual(ann(["--set", "config.drain.delay=6s"]), a);
	assert.notEqual(ann(["--set", "appCheck.path=/health"]), a);
});

test("library use: a user's chart includes the named templates", async () => {
	// the user's chart with this chart unpacked as its dependency, as
	// `helm dependency build` would leave it
	const dir = path.join(work, "shop");
	cpSync(path.join(root, "tests/helm/library-user"), dir, { recursive: true });
	mkdirSync(path.join(dir, "charts"), { recursive: true });
	cpSync(chartDir, path.join(dir, "charts/nodowntime"), { recursive: true });
	const lint = runHelm(["lint", "--strict", dir]);
	assert.equal(lint.status, 0, lint.stdout + lint.stderr);
	const objs = render(dir, [], "shop");
	await validateAll(objs);
	// workload.enabled=false: the user's Deployment, our ConfigMap and
	// (kubernetes.enabled, the default) nodowntime.rbac's three objects
	assert.deepEqual(objs.map((o) => o.kind).sort(),
	    ["ConfigMap", "Deployment", "Role", "RoleBinding", "ServiceAccount"]);
	const { cfgText, cfg } = assertWiring(objs, {
		native: true, appName: "shop", delay: "10s", maxWait: "45s",
		shutdown: "20s", margin: 10, probes: { startup: false },
	});
	const pod = one(objs, "Deployment").spec.template.spec;
	assert.equal(pod.terminationGracePeriodSeconds, 85);
	// the sidecar image tag defaults to nodowntime's appVersion, not the shop's
	assert.equal(pod.initContainers[0].image, "registry.example.com/nodowntime:0.1.0");
	// the user's own volumes survive next to ours (the token volume:
	// kubernetes.enabled is the default)
	assert.deepEqual(pod.volumes.map((v) => v.name),
	    ["cache", "nodowntime-run", "nodowntime-config", "nodowntime-kube-api"]);
	assert.deepEqual(cfg.checks.map((c) => c.name), ["app", "postgres"]);
	assert.equal(cfg.kubernetes.enabled, true);
	assert.ok(!pod.containers[0].volumeMounts.some((m) => m.name === "nodowntime-kube-api"),
	    "the app mounts the token volume");
	assertCheckConfig("library", cfgText);

	// nodowntime.rbac (the user's templates/nodowntime-rbac.yaml) and
	// nodowntime.serviceAccountName (the pod's service account)
	assert.equal(pod.serviceAccountName, "shop-nodowntime");
	assert.equal(pod.automountServiceAccountToken, false);
	writeFileSync(path.join(dir, "templates/sa-name.yaml"),
	    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sa-name\n' +
	    'data:\n  name: {{ include "nodowntime.serviceAccountName" . | quote }}\n');
	const rbacObjs = render(dir, [], "shop");
	await validateAll(rbacObjs);
	assert.equal(one(rbacObjs, "ConfigMap", (o) => o.metadata.name === "sa-name").data.name,
	    "shop-nodowntime");
	assert.equal(one(rbacObjs, "ServiceAccount").metadata.name, "shop-nodowntime");
	assert.deepEqual(one(rbacObjs, "Role").rules, [ROLE_RULE]);
	assert.deepEqual(one(rbacObjs, "RoleBinding").subjects,
	    [{ kind: "ServiceAccount", name: "shop-nodowntime", namespace: "default" }]);
	const offObjs = render(dir, ["--set", "nodowntime.kubernetes.enabled=false"], "shop");
	await validateAll(offObjs);
	assert.deepEqual(offObjs.map((o) => o.kind).sort(), ["ConfigMap", "ConfigMap", "Deployment"]);
	assert.deepEqual(one(offObjs, "Deployment").spec.template.spec.volumes.map((v) => v.name),
	    ["cache", "nodowntime-run", "nodowntime-config"]);
	assert.equal(one(offObjs, "Deployment").spec.template.spec.serviceAccountName, "default");
	rmSync(path.join(dir, "templates/sa-name.yaml"));

	// nodowntime.podSecurityContext: the ids, or the platform's
	assert.equal(pod.securityContext.fsGroup, 65532);
	const off = one(render(dir, ["--set", "nodowntime.ids=null"], "shop"), "Deployment");
	await validate(off);
	assert.equal(off.spec.template.spec.securityContext.fsGroup, undefined);
	assert.equal(off.spec.template.spec.initContainers[0].securityContext.runAsUser, undefined);

	// nodowntime.networkPolicy: needs the user's pod labels
	const np = [...npArgs.map((a) => a.replace(/^networkPolicy/, "nodowntime.networkPolicy"))];
	const r = runHelm(["template", "shop", dir, ...np]);
	assert.notEqual(r.status, 0);
	assert.match(r.stderr, /needs networkPolicy\.podSelector/);
	const objs2 = render(dir, [...np, "--set-json",
	    'nodowntime.networkPolicy.podSelector={"matchLabels":{"app.kubernetes.io/name":"shop"}}'], "shop");
	await validateAll(objs2);
	const pol = one(objs2, "NetworkPolicy");
	const pod2 = one(objs2, "Deployment").spec.template.spec;
	assert.deepEqual(pol.spec.podSelector.matchLabels, { "app.kubernetes.io/name": "shop" });
	assert.deepEqual(peersFor(pol, pod2, 3000).slice(0, 2), nodePeers);
	assert.equal(peersFor(pol, pod2, 8080), "all");
});

// bad values fail at install time with the offending key in the message
const bad = [
	["negative drain delay", ["--set", "config.drain.delay=-5s"], /\/config\/drain\/delay/],
	["a drain delay without unit", ["--set-json", "config.drain.delay=5"], /\/config\/drain\/delay/],
	["a fractional duration", ["--set", "config.drain.max_wait=1.5s"], /\/config\/drain\/max_wait/],
	["app.port of the wrong type", ["--set", "app.port=http"], /\/app\/port/],
	["a port out of range", ["--set", "sidecar.port=70000"], /\/sidecar\/port/],
	["an unknown key", ["--set", "sidecar.nativ=true"], /nativ/],
	["native not a bool", ["--set", "sidecar.native=yes"], /\/sidecar\/native/],
	["a bad log level", ["--set", "config.log.level=verbose"], /\/config\/log\/level/],
	["a check with two kinds", ["--set-json",
	    'config.checks=[{"name":"db","tcp":{"host":"db","port":5432},"http":{"url":"http://db"}}]'],
	    /\/config\/checks\/0/],
	["a check name with capitals", ["--set-json",
	    'config.checks=[{"name":"DB","tcp":{"host":"db","port":5432}}]'], /\/config\/checks\/0\/name/],
	["grace_period set by hand", ["--set", "config.drain.grace_period=10s"], /grace_period/],
	["negative margin", ["--set", "gracePeriod.marginSeconds=-1"], /\/gracePeriod\/marginSeconds/],
	["maxUnavailable not a number or percent", ["--set", "workload.strategy.maxUnavailable=one"],
	    /\/workload\/strategy\/maxUnavailable/],
	["uid 0", ["--set", "ids.runAsUser=0"], /\/ids\/runAsUser/],
	["a node CIDR without prefix", [...npArgs, "--set-json", 'networkPolicy.nodeCIDRs=["10.0.0.1"]'],
	    /\/networkPolicy\/nodeCIDRs\/0/],
	["a Prometheus peer with a typo", [...npArgs, "--set-json",
	    'networkPolicy.prometheus=[{"namespaceSelectr":{}}]'], /\/networkPolicy\/prometheus\/0/],
	["kubernetes.enabled not a bool", ["--set", "kubernetes.enabled=auto"], /\/kubernetes\/enabled/],
	["an unknown kubernetes key", ["--set", "kubernetes.pod_name=x"], /pod_name/],
	["wait_for_endpoints not a bool", ["--set", "config.drain.wait_for_endpoints=yes"],
	    /\/config\/drain\/wait_for_endpoints/],
	["min_ready_percent above 100", ["--set", "config.fail_open.min_ready_percent=101"],
	    /\/config\/fail_open\/min_ready_percent/],
	["an agent-check weight above 100%", ["--set", "agentCheck.warnWeight=150%"],
	    /\/agentCheck\/warnWeight/],
	["an agent-check port out of range", ["--set", "agentCheck.port=70000"], /\/agentCheck\/port/],
	["wrapCommand not a list", ["--set", "app.wrapCommand=server"], /\/app\/wrapCommand/],
	["a wrap timeout without unit", ["--set-json", "app.wrapWaitTimeout=60"], /\/app\/wrapWaitTimeout/],
	["shared not a bool", ["--set-json",
	    'config.checks=[{"name":"db","tcp":{"host":"db","port":5432},"shared":"yes"}]'],
	    /\/config\/checks\/0\/shared/],
];
// what the templates refuse (helm lint only logs a template's fail)
const refused = [
	["a networkPolicy without nodeCIDRs", ["--set", "networkPolicy.enabled=true"],
	    /networkPolicy\.enabled needs networkPolicy\.nodeCIDRs/],
	["the agent's port among the open ones", [...npArgs, "--set-json", "networkPolicy.appPorts=[3000]"],
	    /appPorts has the agent's port 3000/],
	["a networkPolicy that would close the app", [...npArgs, "--set", "app.port=0",
	    "--set", "appCheck.enabled=false"], /app\.port 0 needs networkPolicy\.appPorts/],
	["the agent-check on app.port", ["--set", "agentCheck.port=8080"],
	    /agentCheck\.port 8080 is taken/],
	["wrapCommand beside command", ["--set-json", 'app.command=["/bin/a"]',
	    "--set-json", 'app.wrapCommand=["/bin/b"]'], /app\.wrapCommand replaces app\.command/],
	["fail_open without the API", ["--set", "kubernetes.enabled=false",
	    "--set", "config.fail_open.min_ready_percent=50"],
	    /fail_open\.min_ready_percent needs kubernetes\.enabled/],
];
for (const [name, args, msg] of refused) {
	test(`refused by the templates: ${name}`, () => {
		const t = runHelm(["template", "web", chartDir, ...args]);
		assert.notEqual(t.status, 0, `helm template accepted ${args.join(" ")}`);
		assert.match(t.stderr, msg);
	});
}
for (const [name, args, msg] of bad) {
	test(`bad value fails template and lint: ${name}`, () => {
		const t = runHelm(["template", "web", chartDir, ...args]);
		assert.notEqual(t.status, 0, `helm template accepted ${args.join(" ")}`);
		assert.match(t.stderr, msg);
		const l = runHelm(["lint", "--strict", chartDir, ...args]);
		assert.notEqual(l.status, 0, `helm lint accepted ${args.join(" ")}`);
	});
}
