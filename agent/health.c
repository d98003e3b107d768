/*
 * health.c - check records -> live/ready/startup -> rendered bodies.
 *
 * Rules (DESIGN.md §4):
 *   live     every critical `live` check not failing (unknown is fine)
 *   startup  every `startup` check has passed once; latched
 *   ready    not draining, startup done, every critical `ready` check
 *            passing (unknown counts as failing)
 * A failing non-critical check only turns the status into "warn" (200).
 *
 * fail_open.min_ready_percent: a critical ready check with shared: true
 * that is failing stops failing ready ("warn", 200) once the EndpointSlice
 * view shows fewer than that share of the Service's endpoints ready. It is
 * latched: it holds, whatever the share does next, until the check passes
 * here again (the fleet's own fail-open raises the share: a release then
 * would flap). It never acts during a drain, on live or startup, or on a
 * stale view; the share is read when the check fails, so a pod that alone
 * cannot reach the dependency, among ready ones, goes unready.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../config/config.h"
#include "health.h"
#include "health_priv.h"
#include "kubeview.h"
#include "log.h"

#define HEALTH_BODY_MAX	(1024 * 1024)

static const char *const check_status_names[] = {
	[CHECK_UNKNOWN] = "unknown",
	[CHECK_PASSING] = "passing",
	[CHECK_FAILING] = "failing",
};

static const char *const health_endpoint_names[] = {
	[HEALTH_LIVE] = "live",
	[HEALTH_READY] = "ready",
	[HEALTH_STARTUP] = "startup",
};

const unsigned health_endpoint_affect[] = {
	[HEALTH_LIVE] = AFFECT_LIVE,
	[HEALTH_READY] = AFFECT_READY,
	[HEALTH_STARTUP] = AFFECT_STARTUP,
};

const double check_hist_bounds[CHECK_HIST_NBUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
};

void
check_record_observe(struct check_record *r, uint64_t us)
{
	size_t i;

	for (i = 0; i < CHECK_HIST_NBUCKETS; i++)
		if ((double)us <= check_hist_bounds[i] * 1e6)
			break;
	r->cr_hist[i]++;
	r->cr_hist_sum_us += us;
}

const char *
check_status_str(enum check_status s)
{
	if ((unsigned)s > CHECK_FAILING)
		return "invalid";
	return check_status_names[s];
}

const char *
health_endpoint_str(enum health_endpoint e)
{
	if ((unsigned)e >= HEALTH_NENDPOINTS)
		return "invalid";
	return health_endpoint_names[e];
}

struct health *
health_new(const struct config *cfg)
{
	struct health *h;
	size_t i;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto fail;
	h->h_cfg = cfg;
	h->h_nchecks = cfg->cf_nchecks;
	if (h->h_nchecks &&
	    (h->h_checks = calloc(h->h_nchecks, sizeof(*h->h_checks))) == NULL)
		goto fail;
	for (i = 0; i < h->h_nchecks; i++)
		h->h_checks[i].cr_check = &cfg->cf_checks[i];
	for (i = 0; i < HEALTH_NENDPOINTS; i++)
		buf_init(&h->h_view[i].hv_body, HEALTH_BODY_MAX);
	h->h_drain = DRAIN_SERVING;
	h->h_kube_pct = -1;
	h->h_drain_since_wall = wall_ms();
	h->h_dirty = 1;
	health_aggregate(h);
	return h;
 fail:
	log_error("health: calloc");
	free(h);
	return NULL;
}

void
health_free(struct health *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < HEALTH_NENDPOINTS; i++)
		buf_free(&h->h_view[i].hv_body);
	free(h->h_checks);
	free(h);
}

int
health_reconfigure(struct health *h, const struct config *cfg)
{
	struct check_record *nr = NULL;
	const struct cfg_check *ck;
	size_t i, j, kept = 0;

	if (cfg->cf_nchecks &&
	    (nr = calloc(cfg->cf_nchecks, sizeof(*nr))) == NULL)
		return -1;
	for (i = 0; i < cfg->cf_nchecks; i++) {
		ck = &cfg->cf_checks[i];
		for (j = 0; j < h->h_nchecks; j++)
			if (strcmp(h->h_checks[j].cr_check->ck_name,
			    ck->ck_name) == 0 &&
			    config_check_equal(h->h_checks[j].cr_check, ck)) {
				nr[i] = h->h_checks[j];
				kept++;
				break;
			}
		nr[i].cr_check = ck;
	}
	free(h->h_checks);
	h->h_checks = nr;
	h->h_nchecks = cfg->cf_nchecks;
	h->h_cfg = cfg;
	(void)kept;
	health_changed(h);
	return 0;
}

void
health_changed(struct health *h)
{
	h->h_dirty = 1;
	health_aggregate(h);
}

void
health_set_drain(struct health *h, enum drain_phase phase, uint64_t since,
    const struct drain_end *ended)
{
	if (h->h_drain == phase)
		return;
	if (ended != NULL)
		memcpy(h->h_drain_ended, ended, sizeof(h->h_drain_ended));
	else
		memset(h->h_drain_ended, 0, sizeof(h->h_drain_ended));
	h->h_drain = phase;
	h->h_drain_since = since;
	h->h_drain_since_wall = wall_ms() - (int64_t)(mono_ms() - since);
	health_changed(h);
}

void
health_set_kube(struct health *h, const struct kubeview *kv, int known)
{
	int pct = -1;
	unsigned rd = 0, tot = 0;

	if (kv != NULL)
		pct = kv_ready_percent(kv, &rd, &tot);
	if (kv == NULL && h->h_kube == NULL)
		return;
	h->h_kube = kv;
	h->h_kube_known = kv != NULL && known;
	h->h_kube_pct = pct;
	h->h_kube_ready = rd;
	h->h_kube_total = tot;
	/* the slices are in the /ready body: render again */
	health_changed(h);
}

/* does fail_open hold r's failure off ready now (and log each change) */
static int
fail_open_step(struct health *h, struct check_record *r)
{
	const struct cfg_check *ck = r->cr_check;
	unsigned min = h->h_cfg->cf_fail_open_pct;
	int on = r->cr_fail_open;
	char pct[16], mp[16], rd[32];

	if (min == 0 || !ck->ck_shared || !ck->ck_critical ||
	    !(ck->ck_affects & AFFECT_READY) || h->h_drain != DRAIN_SERVING ||
	    r->cr_status != CHECK_FAILING)
		on = 0;
	else if (!on && h->h_kube_known && h->h_kube_pct >= 0 &&
	    (unsigned)h->h_kube_pct < min)
		on = 1;
	if (on == r->cr_fail_open)
		return on;
	r->cr_fail_open = on;
	r->cr_fail_open_changes++;
	r->cr_fail_open_since = mono_ms();
	r->cr_fail_open_ready = h->h_kube_ready;
	r->cr_fail_open_total = h->h_kube_total;
	snprintf(pct, sizeof(pct), "%d", h->h_kube_pct);
	snprintf(mp, sizeof(mp), "%u", min);
	snprintf(rd, sizeof(rd), "%u/%u", h->h_kube_ready, h->h_kube_total);
	if (on)
		log_event(LOG_WARN, "fail open: a shared dependency fails on "
		    "most replicas: ready stays 200 (warn)", "check",
		    ck->ck_name, "ready_percent", pct, "min_ready_percent", mp,
		    "endpoints_ready", rd, "output", r->cr_output, NULL);
	else
		log_event(LOG_INFO, "fail open ended", "check", ck->ck_name,
		    "why", h->h_drain != DRAIN_SERVING ? "draining" :
		    r->cr_status == CHECK_PASSING ? "the check passes again" :
		    "the check or fail_open changed", NULL);
	return on;
}

void
health_aggregate(struct health *h)
{
	struct check_record *r;
	int live = 1, ready = 1, startup = 1, deps = 1, fo = 0, on;
	unsigned aff;
	size_t i;

	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		aff = r->cr_check->ck_affects;
		if ((aff & AFFECT_STARTUP) && !r->cr_passed_once)
			startup = 0;
		on = fail_open_step(h, r);
		fo += on;
		if (!r->cr_check->ck_critical)
			continue;
		if ((aff & AFFECT_LIVE) && r->cr_status == CHECK_FAILING)
			live = 0;
		if ((aff & AFFECT_READY) && r->cr_status != CHECK_PASSING &&
		    !on) {
			ready = 0;
			if (!r->cr_check->ck_self)
				deps = 0;
		}
	}
	h->h_fail_open = fo;
	if (startup && !h->h_startup_done) {
		h->h_startup_done = 1;
		if (h->h_nchecks)
			log_event(LOG_INFO, "startup complete", NULL);
	}
	h->h_live = live;
	h->h_deps_ready = deps;
	h->h_startup = h->h_startup_done;
	h->h_ready = ready && h->h_startup_done &&
	    h->h_drain == DRAIN_SERVING;
}

/* per-check status in the draft's vocabulary */
static const char *
record_status(const struct check_record *r, enum health_endpoint ep)
{
	if (r->cr_status == CHECK_PASSING)
		return "pass";
	if (r->cr_status == CHECK_UNKNOWN && ep == HEALTH_LIVE)
		return "pass";
	if (r->cr_fail_open && ep == HEALTH_READY)
		return "warn";
	return r->cr_check->ck_critical ? "fail" : "warn";
}

static int
render_check(struct buf *b, const struct check_record *r,
    enum health_endpoint ep, int first)
{
	const struct cfg_check *ck = r->cr_check;
	char ts[32];

	if (!first && buf_puts(b, ",") == -1)
		return -1;
	if (buf_json_str(b, ck->ck_name) == -1 ||
	    buf_printf(b, ":[{\"componentType\":\"%s\",\"status\":\"%s\","
	    "\"state\":\"%s\",\"critical\":%s",
	    check_kind_str(ck->ck_kind), record_status(r, ep),
	    check_status_str(r->cr_status),
	    ck->ck_critical ? "true" : "false") == -1)
		return -1;
	if (r->cr_fail_open && ep == HEALTH_READY &&
	    buf_puts(b, ",\"failOpen\":true") == -1)
		return -1;
	if (r->cr_time_wall) {
		fmt_rfc3339(r->cr_time_wall, ts, sizeof(ts));
		if (buf_printf(b, ",\"time\":\"%s\",\"observedValue\":%.3f,"
		    "\"observedUnit\":\"ms\"", ts,
		    (double)r->cr_duration_us / 1000.0) == -1)
			return -1;
	}
	if (r->cr_status != CHECK_PASSING) {
		const char *out = r->cr_output;

		if (r->cr_status == CHECK_UNKNOWN && out[0] == '\0')
			out = "no result yet";
		if (out[0] != '\0' && (buf_puts(b, ",\"output\":") == -1 ||
		    buf_json_str(b, out) == -1))
			return -1;
	}
	return buf_puts(b, "}]");
}

/* the drain object's finished phases, during a drain:
 * ,"draining":{"ended_by":"quiet","ms":2210} */
static int
render_drain_ended(const struct health *h, struct buf *b)
{
	const struct drain_end *e;
	int p;

	if (h->h_drain == DRAIN_SERVING)
		return 0;
	for (p = DRAIN_DRAINING; p < DRAIN_NPHASES; p++) {
		e = &h->h_drain_ended[p];
		if (e->de_done && buf_printf(b, ",\"%s\":{\"ended_by\":\"%s\","
		    "\"ms\":%llu}", drain_phase_str((enum drain_phase)p),
		    drain_reason_str(e->de_by), (unsigned long long)e->de_ms) ==
		    -1)
			return -1;
	}
	return 0;
}

/*
 * /ready's "kubernetes" object: the Service's ready share and this pod in
 * each slice that lists it,
 *   ,"kubernetes":{"synced":true,"readyPercent":33,"endpointsReady":1,
 *    "endpoints":3,"slices":[{"name":"web-x","service":"web","ready":false,
 *    "serving":true,"terminating":true,"changed":"..."}]}
 */
static int
render_kube(const struct health *h, struct buf *b)
{
	const struct kubeview *kv = h->h_kube;

	if (kv == NULL)
		return 0;
	if (buf_printf(b, ",\"kubernetes\":{\"synced\":%s",
	    h->h_kube_known ? "true" : "false") == -1)
		return -1;
	if (h->h_kube_pct >= 0 && buf_printf(b, ",\"readyPercent\":%d,"
	    "\"endpointsReady\":%u,\"endpoints\":%u", h->h_kube_pct,
	    h->h_kube_ready, h->h_kube_total) == -1)
		return -1;
	if (buf_puts(b, ",\"slices\":") == -1 ||
	    health_slices_json(b, kv) == -1)
		return -1;
	return buf_puts(b, "}");
}

int
health_slices_json(struct buf *b, const struct kubeview *kv)
{
	const struct kv_slice *s;
	char ts[32];
	size_t i;
	int n = 0;

	if (buf_puts(b, "[") == -1)
		return -1;
	for (i = 0; kv != NULL && i < kv->kv_n; i++) {
		s = &kv->kv_slices[i];
		if (!s->ks_self)
			continue;
		fmt_rfc3339(s->ks_changed_wall, ts, sizeof(ts));
		if (buf_printf(b, "%s{\"name\":", n++ ? "," : "") == -1 ||
		    buf_json_str(b, s->ks_name) == -1 ||
		    buf_puts(b, ",\"service\":") == -1 ||
		    buf_json_str(b, s->ks_service) == -1 ||
		    buf_printf(b, ",\"ready\":%s,\"serving\":%s,"
		    "\"terminating\":%s,\"changed\":\"%s\"}",
		    s->ks_ready ? "true" : "false",
		    s->ks_serving ? "true" : "false",
		    s->ks_terminating ? "true" : "false", ts) == -1)
			return -1;
	}
	return buf_puts(b, "]");
}

static int
render_one(struct health *h, enum health_endpoint ep)
{
	struct health_view *v = &h->h_view[ep];
	struct buf *b = &v->hv_body;
	const struct check_record *r;
	const char *status;
	char since[32], reason[256];
	int ok, warn = 0, first = 1;
	size_t i;

	ok = ep == HEALTH_LIVE ? h->h_live :
	    ep == HEALTH_READY ? h->h_ready : h->h_startup;
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if ((r->cr_check->ck_affects & health_endpoint_affect[ep]) &&
		    !r->cr_check->ck_critical &&
		    r->cr_status == CHECK_FAILING)
			warn = 1;
	}
	if (ep == HEALTH_READY && h->h_fail_open)
		warn = 1;
	status = !ok ? "fail" : warn ? "warn" : "pass";
	v->hv_code = ok ? 200 : 503;
	v->hv_warn = ok && warn;

	buf_reset(b);
	fmt_rfc3339(h->h_drain_since_wall, since, sizeof(since));
	if (buf_printf(b, "{\"status\":\"%s\",\"serviceId\":\"nodowntime\","
	    "\"releaseId\":\"%s\",\"description\":\"%s\","
	    "\"drain\":{\"phase\":\"%s\",\"since\":\"%s\"",
	    status, NDT_VERSION, health_endpoint_str(ep),
	    drain_phase_str(h->h_drain), since) == -1 ||
	    render_drain_ended(h, b) == -1 || buf_puts(b, "}") == -1)
		goto toobig;
	if (!ok) {
		health_reason(h, ep, reason, sizeof(reason));
		if (reason[0] && (buf_puts(b, ",\"output\":") == -1 ||
		    buf_json_str(b, reason) == -1))
			goto toobig;
	} else if (ep == HEALTH_READY && h->h_fail_open) {
		health_fail_open_reason(h, reason, sizeof(reason));
		if (buf_puts(b, ",\"output\":") == -1 ||
		    buf_json_str(b, reason) == -1)
			goto toobig;
	}
	if (ep == HEALTH_READY && render_kube(h, b) == -1)
		goto toobig;
	if (buf_puts(b, ",\"checks\":{") == -1)
		goto toobig;
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (!(r->cr_check->ck_affects & health_endpoint_affect[ep]))
			continue;
		if (render_check(b, r, ep, first) == -1)
			goto toobig;
		first = 0;
	}
	if (buf_puts(b, "}}\n") == -1)
		goto toobig;
	return 0;
toobig:
	/* out of memory or over the cap: the verdict still goes out */
	buf_reset(b);
	if (buf_printf(b, "{\"status\":\"%s\",\"output\":\"body too large\"}\n",
	    status) == -1) {
		log_errorx("health: cannot render /%s", health_endpoint_str(ep));
		return -1;
	}
	return 0;
}

int
health_render(struct health *h)
{
	int rv = 0;
	int e;

	if (!h->h_dirty)
		return 0;
	health_aggregate(h);
	for (e = 0; e < HEALTH_NENDPOINTS; e++)
		if (render_one(h, (enum health_endpoint)e) == -1)
			rv = -1;
	health_agent_render(h);
	h->h_dirty = 0;
	h->h_gen++;
	return rv;
}

const struct health_view *
health_view(struct health *h, enum health_endpoint ep)
{
	if (h->h_dirty)
		(void)health_render(h);
	return &h->h_view[ep];
}

const char *
health_agent_line(struct health *h, size_t *len, enum health_agent *a)
{
	if (h->h_dirty)
		(void)health_render(h);
	*len = h->h_agent_len;
	if (a != NULL)
		*a = h->h_agent;
	return h->h_agent_line;
}
