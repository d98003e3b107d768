/*
 * ctlstatus.c - the control socket's `status` replies: one JSON object line,
 * or the human table of `nodowntime status` (docs/CONTROL.md). The answer
 * comes from the state the checks and the drain last produced; nothing here
 * does I/O beyond the (cached) /proc/net/tcp count in drain_info().
 */
#include <inttypes.h>
#include <stdio.h>

#include "../config/config.h"
#include "../probes/probe.h"
#include "control.h"
#include "drain.h"
#include "health.h"
#include "kube.h"
#include "kubeview.h"
#include "util.h"

static const char *
json_bool(int v)
{
	return v ? "true" : "false";
}

/* the facts the metrics and logs also give: kind, what it gates, counts */
static int
status_json_counts(struct buf *b, const struct check_record *r)
{
	const struct cfg_check *ck = r->cr_check;
	int res;

	if (buf_printf(b, ",\"kind\":\"%s\",\"affects\":[%s%s%s%s%s],"
	    "\"runs\":%" PRIu64 ",\"results\":{", check_kind_str(ck->ck_kind),
	    ck->ck_affects & AFFECT_LIVE ? "\"live\"" : "",
	    (ck->ck_affects & AFFECT_LIVE) && (ck->ck_affects & ~AFFECT_LIVE) ?
	    "," : "", ck->ck_affects & AFFECT_READY ? "\"ready\"" : "",
	    (ck->ck_affects & AFFECT_READY) && (ck->ck_affects &
	    AFFECT_STARTUP) ? "," : "",
	    ck->ck_affects & AFFECT_STARTUP ? "\"startup\"" : "",
	    r->cr_runs) == -1)
		return -1;
	for (res = 0; res < PROBE_NRESULTS; res++)
		if (buf_printf(b, "%s\"%s\":%" PRIu64, res ? "," : "",
		    probe_result_str((enum probe_result)res),
		    r->cr_results[res]) == -1)
			return -1;
	return buf_printf(b, "},\"transitions\":%" PRIu64 ",\"skipped\":%"
	    PRIu64 ",\"consecutive_ok\":%u,\"consecutive_fail\":%u",
	    r->cr_transitions, r->cr_skipped, r->cr_consec_ok,
	    r->cr_consec_fail);
}

/*
 * The adaptive delay, the idle cut and this drain's finished phases:
 *   "quiet":{"watching":true,"signal":"bytes","quiet_ms":350},
 *   "idle":{"timeout_ms":700,"connections":2},
 *   "ended":{"draining":{"ended_by":"quiet","ms":2210}},
 * quiet only when drain.quiet is set; signal "bytes" (new connections and
 * received bytes) or "connections" (new connections only: /proc/net/tcp),
 * null before the first poll. idle only when drain.idle_timeout is set:
 * how many of "connections" are idle that long (null: unknown, no
 * per-socket counters). Ends with the "checks": key.
 */
static int
status_json_drain(struct buf *b, const struct drain_info *di)
{
	char idle[16];
	int p, n = 0;

	snprintf(idle, sizeof(idle), "%d", di->di_idle);
	if (di->di_idle_timeout_ms != 0 && buf_printf(b, "\"idle\":{"
	    "\"timeout_ms\":%" PRIu64 ",\"connections\":%s},",
	    di->di_idle_timeout_ms, di->di_idle < 0 ? "null" : idle) == -1)
		return -1;

	if (di->di_quiet_on && buf_printf(b, "\"quiet\":{\"watching\":%s,"
	    "\"signal\":%s,\"quiet_ms\":%" PRIu64 "},",
	    json_bool(di->di_quiet_watching), di->di_quiet_counters < 0 ?
	    "null" : di->di_quiet_counters ? "\"bytes\"" : "\"connections\"",
	    di->di_quiet_ms) == -1)
		return -1;
	if (buf_puts(b, "\"ended\":{") == -1)
		return -1;
	for (p = DRAIN_DRAINING; p < DRAIN_NPHASES; p++)
		if (di->di_ended[p].de_done && buf_printf(b, "%s\"%s\":{"
		    "\"ended_by\":\"%s\",\"ms\":%" PRIu64 "}", n++ ? "," : "",
		    drain_phase_str((enum drain_phase)p),
		    drain_reason_str(di->di_ended[p].de_by),
		    di->di_ended[p].de_ms) == -1)
			return -1;
	return buf_puts(b, "},\"checks\":");
}

static void	text_field(struct buf *, const char *, size_t);

/*
 * "kubernetes":{"state":"watching","synced":true,"namespace":"ns",
 *   "pod":"web-1","error":"","ready_percent":66,"endpoints_ready":2,
 *   "endpoints":3,"wait_for_endpoints":true,"out":false,
 *   "flip_after_ms":null,"slices":[{"name":..,"service":..,"ready":..,
 *   "serving":..,"terminating":..,"changed":".."}]},
 * state "off" with "why" when there is no watch. flip_after_ms: during a
 * drain, when the slices stopped showing this pod ready, from the drain's
 * start (null: not yet).
 */
static int
status_json_kube(struct buf *b, const struct kube *k, const struct health *h,
    const struct drain_info *di)
{
	struct kube_info ki;

	if (k == NULL)
		return 0;
	kube_info(k, &ki);
	if (buf_printf(b, "\"kubernetes\":{\"state\":\"%s\"",
	    kube_state_str(ki.ki_state)) == -1)
		return -1;
	if (ki.ki_state == KUBE_S_OFF)
		return buf_puts(b, ",\"why\":") == -1 ||
		    buf_json_str(b, ki.ki_off_why) == -1 ||
		    buf_puts(b, "},") == -1 ? -1 : 0;
	if (buf_printf(b, ",\"synced\":%s,\"namespace\":",
	    json_bool(ki.ki_synced)) == -1 ||
	    buf_json_str(b, ki.ki_namespace) == -1 ||
	    buf_puts(b, ",\"pod\":") == -1 ||
	    buf_json_str(b, ki.ki_pod) == -1 ||
	    buf_puts(b, ",\"error\":") == -1 ||
	    buf_json_str(b, ki.ki_err) == -1)
		return -1;
	if (h->h_kube_pct >= 0 ? buf_printf(b, ",\"ready_percent\":%d,"
	    "\"endpoints_ready\":%u,\"endpoints\":%u", h->h_kube_pct,
	    h->h_kube_ready, h->h_kube_total) == -1 :
	    buf_puts(b, ",\"ready_percent\":null") == -1)
		return -1;
	if (buf_printf(b, ",\"wait_for_endpoints\":%s,\"out\":%s,"
	    "\"flip_after_ms\":", json_bool(di->di_ep_wait),
	    json_bool(di->di_ep_known && di->di_ep_out)) == -1 ||
	    (di->di_ep_flip ? buf_printf(b, "%" PRId64, di->di_ep_after_ms) :
	    buf_puts(b, "null")) == -1 ||
	    buf_puts(b, ",\"slices\":") == -1 ||
	    health_slices_json(b, ki.ki_view) == -1)
		return -1;
	return buf_puts(b, "},");
}

static void
status_text_kube(struct buf *b, const struct kube *k, const struct health *h,
    const struct drain_info *di)
{
	struct kube_info ki;
	const struct kv_slice *s;
	char ts[32];
	size_t i;

	if (k == NULL)
		return;
	kube_info(k, &ki);
	if (ki.ki_state == KUBE_S_OFF) {
		(void)buf_puts(b, "kubernetes:   off (");
		text_field(b, ki.ki_off_why, 160);
		(void)buf_puts(b, ")\n");
		return;
	}
	(void)buf_printf(b, "kubernetes:   %s %s/%s%s", kube_state_str(
	    ki.ki_state), ki.ki_namespace, ki.ki_pod[0] ? ki.ki_pod : ki.ki_ip,
	    ki.ki_synced ? "" : " (not synced)");
	if (h->h_kube_pct >= 0)
		(void)buf_printf(b, ", Service %u/%u endpoints ready (%d%%)",
		    h->h_kube_ready, h->h_kube_total, h->h_kube_pct);
	(void)buf_puts(b, "\n");
	if (ki.ki_err[0] != '\0' && ki.ki_state == KUBE_S_BACKOFF) {
		(void)buf_puts(b, "kube error:   ");
		text_field(b, ki.ki_err, 160);
		(void)buf_puts(b, "\n");
	}
	for (i = 0; ki.ki_view != NULL && i < ki.ki_view->kv_n; i++) {
		s = &ki.ki_view->kv_slices[i];
		if (!s->ks_self)
			continue;
		fmt_rfc3339(s->ks_changed_wall, ts, sizeof(ts));
		(void)buf_puts(b, "slice:        ");
		text_field(b, s->ks_name, 80);
		(void)buf_printf(b, ": ready=%s serving=%s terminating=%s "
		    "(changed %s)\n", json_bool(s->ks_ready),
		    json_bool(s->ks_serving), json_bool(s->ks_terminating), ts);
	}
	if (di->di_ep_flip)
		(void)buf_printf(b, "endpoints:    not ready in every slice %"
		    PRId64 " ms after the drain began\n", di->di_ep_after_ms);
	else if (di->di_phase != DRAIN_SERVING && di->di_ep_wait)
		(void)buf_puts(b, "endpoints:    waiting for the slices to show "
		    "this pod not ready\n");
}

int
control_status_json(struct drain *d, struct health *h, const struct kube *k,
    struct buf *b)
{
	const struct check_record *r;
	struct drain_info di;
	char ts[32];
	size_t i;

	drain_info(d, &di);
	if (buf_printf(b, "{\"phase\":\"%s\",\"phase_ms\":%" PRIu64
	    ",\"drain_ms\":%" PRIu64 ",\"live\":%s,\"ready\":%s,"
	    "\"startup\":%s,\"dependencies_ready\":%s,\"exiting\":%s,"
	    "\"app_port\":%u,\"connections\":%d,\"listening\":%d,",
	    drain_phase_str(di.di_phase), di.di_phase_ms, di.di_drain_ms,
	    json_bool(h->h_live), json_bool(h->h_ready),
	    json_bool(h->h_startup), json_bool(h->h_deps_ready),
	    json_bool(di.di_exiting), di.di_app_port,
	    di.di_conns, di.di_listening) == -1)
		return -1;
	if (status_json_kube(b, k, h, &di) == -1 ||
	    status_json_drain(b, &di) == -1 || buf_puts(b, "[") == -1)
		return -1;
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (r->cr_time_wall)
			fmt_rfc3339(r->cr_time_wall, ts, sizeof(ts));
		if (buf_printf(b, "%s{\"name\":", i ? "," : "") == -1 ||
		    buf_json_str(b, r->cr_check->ck_name) == -1 ||
		    buf_printf(b, ",\"status\":\"%s\",\"critical\":%s,"
		    "\"fail_open\":%s,\"time\":", check_status_str(r->cr_status),
		    json_bool(r->cr_check->ck_critical),
		    json_bool(r->cr_fail_open)) == -1 ||
		    (r->cr_time_wall ? buf_json_str(b, ts) :
		    buf_puts(b, "null")) == -1 ||
		    buf_printf(b, ",\"duration_ms\":%.3f,\"output\":",
		    (double)r->cr_duration_us / 1000.0) == -1 ||
		    buf_json_str(b, r->cr_output) == -1 ||
		    status_json_counts(b, r) == -1 ||
		    buf_printf(b, ",\"self\":%s}", json_bool(
		    r->cr_check->ck_self)) == -1)
			return -1;
	}
	return buf_puts(b, "]}\n");
}

static void
text_field(struct buf *b, const char *s, size_t max)
{
	const unsigned char *p;
	size_t n = 0;

	for (p = (const unsigned char *)s; *p && n < max; p++, n++)
		(void)buf_append(b, *p < 0x20 || *p == 0x7f ? "?" :
		    (const char *)p, 1);
}

/* the adaptive delay's watch, and why each phase of the drain ended */
static void
status_text_drain(struct buf *b, const struct drain_info *di)
{
	char d1[32];
	int p;

	if (di->di_quiet_on && di->di_quiet_watching) {
		fmt_duration(di->di_quiet_ms, d1, sizeof(d1));
		(void)buf_printf(b, "quiet:        app.port quiet for %s "
		    "(watching %s)\n", d1, di->di_quiet_counters == 0 ?
		    "new connections only: no per-socket counters" :
		    "new connections and received bytes");
	} else if (di->di_quiet_on && di->di_quiet_counters == 0)
		(void)buf_puts(b, "quiet:        drain.quiet watched new "
		    "connections only (no per-socket counters)\n");
	if (di->di_idle_timeout_ms != 0) {
		fmt_duration(di->di_idle_timeout_ms, d1, sizeof(d1));
		if (di->di_idle >= 0)
			(void)buf_printf(b, "idle:         %d of %d "
			    "connection%s idle for %s or more\n", di->di_idle,
			    di->di_conns, di->di_conns == 1 ? "" : "s", d1);
		else
			(void)buf_printf(b, "idle:         idle_timeout %s: "
			    "unknown (no per-socket counters)\n", d1);
	}
	for (p = DRAIN_DRAINING; p < DRAIN_NPHASES; p++) {
		if (!di->di_ended[p].de_done)
			continue;
		fmt_duration(di->di_ended[p].de_ms, d1, sizeof(d1));
		(void)buf_printf(b, "%-13s ended by %s after %s\n",
		    drain_phase_str((enum drain_phase)p),
		    drain_reason_str(di->di_ended[p].de_by), d1);
	}
}

int
control_status_text(struct drain *d, struct health *h, const struct kube *k,
    struct buf *b)
{
	const struct check_record *r;
	struct drain_info di;
	char d1[32], d2[32], ts[32], runs[48];
	size_t i, warn = 0;

	drain_info(d, &di);
	fmt_duration(di.di_phase_ms, d1, sizeof(d1));
	(void)buf_printf(b, "phase:        %s (for %s)\n",
	    drain_phase_str(di.di_phase), d1);
	if (di.di_phase != DRAIN_SERVING) {
		fmt_duration(di.di_drain_ms, d2, sizeof(d2));
		(void)buf_printf(b, "drain:        started %s ago\n", d2);
	}
	for (i = 0; i < h->h_nchecks; i++)
		if (!h->h_checks[i].cr_check->ck_critical &&
		    h->h_checks[i].cr_status == CHECK_FAILING)
			warn++;
	(void)buf_printf(b, "live:         %s\nready:        %s",
	    h->h_live ? "pass" : "fail", h->h_ready ? "pass" : "fail");
	if (warn)
		(void)buf_printf(b, " (warn: %zu non-critical check%s "
		    "failing)", warn, warn == 1 ? "" : "s");
	if (h->h_fail_open)
		(void)buf_printf(b, " (warn: fail-open on %d shared check%s)",
		    h->h_fail_open, h->h_fail_open == 1 ? "" : "s");
	(void)buf_printf(b, "\nstartup:      %s\n",
	    h->h_startup ? "done" : "pending");
	if (di.di_app_port == 0)
		(void)buf_puts(b, "app:          connection tracking off "
		    "(app.port 0)\n");
	else if (di.di_conns < 0)
		(void)buf_printf(b, "app:          port %u, connections "
		    "unknown\n", di.di_app_port);
	else
		(void)buf_printf(b, "app:          port %u, %d connection%s, "
		    "%s\n", di.di_app_port, di.di_conns,
		    di.di_conns == 1 ? "" : "s",
		    di.di_listening > 0 ? "listening" : "not listening");
	status_text_kube(b, k, h, &di);
	status_text_drain(b, &di);
	if (di.di_exiting)
		(void)buf_puts(b, "exiting:      SIGTERM received\n");
	if (h->h_nchecks == 0) {
		(void)buf_puts(b, "checks:       none\n");
		return b->b_toobig ? -1 : 0;
	}
	(void)buf_printf(b, "\n%-20s %-5s %-8s %-4s %-15s %5s %-24s %9s  %s\n",
	    "CHECK", "KIND", "STATUS", "CRIT", "RUNS/FAIL/FLIPS", "SKIP",
	    "LAST", "DURATION", "OUTPUT");
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (r->cr_time_wall)
			fmt_rfc3339(r->cr_time_wall, ts, sizeof(ts));
		else
			snprintf(ts, sizeof(ts), "-");
		snprintf(runs, sizeof(runs), "%" PRIu64 "/%" PRIu64 "/%" PRIu64,
		    r->cr_runs, r->cr_runs - r->cr_results[PROBE_OK],
		    r->cr_transitions);
		(void)buf_printf(b, "%-20s %-5s %-8s %-4s %-15s %5" PRIu64
		    " %-24s %7.1fms  ", r->cr_check->ck_name,
		    check_kind_str(r->cr_check->ck_kind),
		    check_status_str(r->cr_status),
		    r->cr_check->ck_critical ? "yes" : "no", runs,
		    r->cr_skipped, ts, (double)r->cr_duration_us / 1000.0);
		text_field(b, r->cr_output, 120);
		(void)buf_puts(b, "\n");
	}
	return b->b_toobig ? -1 : 0;
}
