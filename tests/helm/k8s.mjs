// k8s.mjs - helpers for the chart tests: render with the real Helm, parse,
// validate every object against the Kubernetes API schemas, find things.
//
// Two validators, because neither alone is enough:
//   * kubernetes-models (the Kubernetes OpenAPI schemas compiled to JSON
//     schema validators): types, required fields, enums, formats;
//   * @kubernetes/client-node's model type map: every field the API knows.
//     Its ObjectSerializer drops what it does not know, so a round trip that
//     loses a key finds an unknown (misspelt, misplaced) field, which the API
//     server would drop or reject and kubernetes-models lets through.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { ObjectSerializer } from "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../..");
export const chartDir = path.join(root, "helm/nodowntime");
export const helm = process.env.HELM || path.join(root, ".tools/helm/helm");
export const agent = process.env.NDT_AGENT ||
    path.join(root, process.env.NDT_BUILD || "build", "nodowntime");

// helm(args): { status, stdout, stderr } of the real Helm binary
export function runHelm(args) {
	if (!existsSync(helm) && !process.env.HELM)
		throw new Error(`no Helm at ${helm}: run \`make tools\` (or set HELM)`);
	const r = spawnSync(helm, args, { encoding: "utf8", maxBuffer: 64 << 20 });
	if (r.error)
		throw r.error;
	return r;
}

// render(chart, release, args): the objects `helm template` prints
export function render(chart, args = [], release = "web") {
	const r = runHelm(["template", release, chart, ...args]);
	if (r.status !== 0)
		throw new Error(`helm template ${args.join(" ")} failed:\n${r.stderr}`);
	return parseAllDocuments(r.stdout)
	    .map((d) => {
		if (d.errors.length)
			throw new Error(`helm output is not YAML: ${d.errors[0].message}`);
		return d.toJSON();
	    })
	    .filter((o) => o != null);
}

const modelCache = new Map();
async function modelClass(apiVersion, kind) {
	const key = `${apiVersion}/${kind}`;
	if (!modelCache.has(key)) {
		const mod = await import(`kubernetes-models/${apiVersion}`);
		modelCache.set(key, mod[kind]);
	}
	const cls = modelCache.get(key);
	if (!cls)
		throw new Error(`no schema for ${key}`);
	return cls;
}

// the paths present in a but missing in b
function lostPaths(a, b, at = "") {
	if (Array.isArray(a))
		return a.flatMap((x, i) => lostPaths(x, Array.isArray(b) ? b[i] : undefined, `${at}[${i}]`));
	if (a === null || typeof a !== "object")
		return [];
	const out = [];
	for (const k of Object.keys(a)) {
		const p = `${at}.${k}`;
		if (b == null || typeof b !== "object" || !(k in b))
			out.push(p);
		else
			out.push(...lostPaths(a[k], b[k], p));
	}
	return out;
}

// validate(obj): throws with every problem of one object
export async function validate(obj) {
	const what = `${obj.kind}/${obj.metadata?.name}`;
	const cls = await modelClass(obj.apiVersion, obj.kind);
	try {
		new cls(obj).validate();
	} catch (e) {
		throw new Error(`${what}: schema: ${e.message}`);
	}
	const type = `V1${obj.kind}`;
	const back = ObjectSerializer.serialize(
	    ObjectSerializer.deserialize(obj, type), type);
	const unknown = lostPaths(obj, back);
	if (unknown.length)
		throw new Error(`${what}: fields unknown to the Kubernetes API: ${unknown.join(", ")}`);
}

export function one(objs, kind, pred = () => true) {
	const m = objs.filter((o) => o.kind === kind && pred(o));
	if (m.length !== 1)
		throw new Error(`expected one ${kind}, found ${m.length}`);
	return m[0];
}

// DESIGN §3 durations: 250ms, 5s, 1m, 1h30m
export function durationMs(s) {
	if (!/^([0-9]+(ms|h|m|s))+$/.test(s))
		throw new Error(`bad duration ${s}`);
	const unit = { ms: 1, s: 1000, m: 60000, h: 3600000 };
	let ms = 0;
	for (const [, n, u] of s.matchAll(/([0-9]+)(ms|h|m|s)/g))
		ms += Number(n) * unit[u];
	return ms;
}
export const ceilSec = (d) => Math.ceil(durationMs(d) / 1000);

export const sha256 = (s) => createHash("sha256").update(s).digest("hex");

// checkConfig(text): { status, output } of `nodowntime check-config -c FILE`
export function checkConfig(file) {
	const r = spawnSync(agent, ["check-config", "-c", file], { encoding: "utf8" });
	if (r.error)
		throw new Error(`cannot run ${agent}: ${r.error.message} (make all first)`);
	return { status: r.status, output: r.stdout + r.stderr };
}

export function sh(cmd, args, opts = {}) {
	return execFileSync(cmd, args, { encoding: "utf8", ...opts });
}
