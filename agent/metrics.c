/*
 * metrics.c - /metrics in the Prometheus text format 0.0.4.
 *
 * Rendering walks the check records a fixed number of times: O(checks),
 * into one capped buffer that the server reuses across scrapes, so a scrape
 * allocates nothing once the buffer has grown to size.
 *
 * nodowntime_check_up is absent for a check that has no result yet
 * (unknown): absent() in an alert tells "never ran" from "failing".
 * nodowntime_app_connections is absent when app.port is 0 or not read yet.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../config/config.h"
#include "../probes/probe.h"
#include "drain.h"
#include "health.h"
#include "kube.h"
#include "kubeview.h"
#include "loop.h"
#include "metrics.h"

_Static_assert(METRICS_AGENT_N == HEALTH_AGENT_N, "agent answers");
#include "util.h"

static const char *const metrics_path_names[] = {
	[MPATH_LIVE] = "/live",
	[MPATH_READY] = "/ready",
	[MPATH_STARTUP] = "/startup",
	[MPATH_HEALTHZ] = "/healthz",
	[MPATH_METRICS] = "/metrics",
	[MPATH_OTHER] = "other",
};

static const char *const metrics_code_names[] = {
	[MCODE_200] = "200",
	[MCODE_400] = "400",
	[MCODE_404] = "404",
	[MCODE_405] = "405",
	[MCODE_414] = "414",
	[MCODE_431] = "431",
	[MCODE_503] = "503",
	[MCODE_505] = "505",
	[MCODE_OTHER] = "other",
};

const char *
metrics_path_str(enum metrics_path p)
{
	if ((unsigned)p >= MPATH_N)
		return "other";
	return metrics_path_names[p];
}

void
metrics_init(struct metrics *m, struct health *h, struct loop *l)
{
	memset(m, 0, sizeof(*m));
	m->m_health = h;
	m->m_loop = l;
	m->m_start_wall = wall_ms();
}

void
metrics_count_http(struct metrics *m, enum metrics_path p, unsigned code)
{
	enum metrics_code c;

	switch (code) {
	case 200: c = MCODE_200; break;
	case 400: c = MCODE_400; break;
	case 404: c = MCODE_404; break;
	case 405: c = MCODE_405; break;
	case 414: c = MCODE_414; break;
	case 431: c = MCODE_431; break;
	case 503: c = MCODE_503; break;
	case 505: c = MCODE_505; break;
	default:  c = MCODE_OTHER; break;
	}
	if ((unsigned)p >= MPATH_N)
		p = MPATH_OTHER;
	m->m_http[p][c]++;
}

/* a label value: backslash, double quote and newline escaped */
static int
label(struct buf *b, const char *s)
{
	for (; *s; s++) {
		const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" :
		    *s == '\n' ? "\\n" : NULL;

		if (esc ? buf_puts(b, esc) : buf_append(b, s, 1))
			return -1;
	}
	return 0;
}

static int
family(struct buf *b, const char *name, const char *type, const char *help)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static int
gauge(struct buf *b, const char *name, const char *help, double v)
{
	if (family(b, name, "gauge", help) == -1)
		return -1;
	return buf_printf(b, "%s %.17g\n", name, v);
}

/* NAME{check="x"[,extra] */
static int
check_series(struct buf *b, const char *name, const struct check_record *r)
{
	return buf_printf(b, "%s{check=\"", name) == -1 ||
	    label(b, r->cr_check->ck_name) == -1 ? -1 : buf_puts(b, "\"");
}

static int
render_checks(struct metrics *m, struct buf *b)
{
	struct health *h = m->m_health;
	const struct check_record *r;
	uint64_t cum;
	size_t i, k;
	int res;

	if (family(b, "nodowntime_check_up", "gauge", "1 if the check is "
	    "passing, 0 if failing (after rise/fall); absent before its "
	    "first result.") == -1)
		return -1;
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (r->cr_status == CHECK_UNKNOWN)
			continue;
		if (check_series(b, "nodowntime_check_up", r) == -1 ||
		    buf_printf(b, ",kind=\"%s\"} %d\n",
		    check_kind_str(r->cr_check->ck_kind),
		    r->cr_status == CHECK_PASSING) == -1)
			return -1;
	}

	if (family(b, "nodowntime_check_duration_seconds", "histogram",
	    "Duration of check runs.") == -1)
		return -1;
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		cum = 0;
		for (k = 0; k <= CHECK_HIST_NBUCKETS; k++) {
			cum += r->cr_hist[k];
			if (check_series(b, "nodowntime_check_duration_seconds"
			    "_bucket", r) == -1)
				return -1;
			if (k < CHECK_HIST_NBUCKETS ?
			    buf_printf(b, ",le=\"%g\"} %llu\n",
			    check_hist_bounds[k], (unsigned long long)cum) :
			    buf_printf(b, ",le=\"+Inf\"} %llu\n",
			    (unsigned long long)cum))
				return -1;
		}
		if (check_series(b, "nodowntime_check_duration_seconds_sum",
		    r) == -1 || buf_printf(b, "} %.6f\n",
		    (double)r->cr_hist_sum_us / 1e6) == -1 ||
		    check_series(b, "nodowntime_check_duration_seconds_count",
		    r) == -1 || buf_printf(b, "} %llu\n",
		    (unsigned long long)cum) == -1)
			return -1;
	}

	if (family(b, "nodowntime_check_runs_total", "counter",
	    "Check runs by result (ok, fail, timeout, error).") == -1)
		return -1;
	for (i = 0; m->m_probes && i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		for (res = 0; res < PROBE_NRESULTS; res++)
			if (check_series(b, "nodowntime_check_runs_total",
			    r) == -1 || buf_printf(b, ",result=\"%s\"} %llu\n",
			    probe_result_str((enum probe_result)res),
			    (unsigned long long)probes_runs(m->m_probes, i,
			    (enum probe_result)res)) == -1)
				return -1;
	}

	if (family(b, "nodowntime_check_transitions_total", "counter",
	    "Status changes of the check (after rise/fall).") == -1)
		return -1;
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (check_series(b, "nodowntime_check_transitions_total",
		    r) == -1 || buf_printf(b, "} %llu\n",
		    (unsigned long long)r->cr_transitions) == -1)
			return -1;
	}

	if (family(b, "nodowntime_check_skipped_total", "counter",
	    "Runs skipped because the previous run was still going.") == -1)
		return -1;
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (check_series(b, "nodowntime_check_skipped_total",
		    r) == -1 || buf_printf(b, "} %llu\n",
		    (unsigned long long)r->cr_skipped) == -1)
			return -1;
	}
	return 0;
}

static int
render_drain(struct metrics *m, struct buf *b)
{
	struct drain_info di;
	int p;

	memset(&di, 0, sizeof(di));
	di.di_conns = -1;
	if (m->m_drain)
		drain_info_quick(m->m_drain, &di);
	else
		di.di_phase = m->m_health->h_drain;
	if (family(b, "nodowntime_drain_phase", "gauge", "1 for the current "
	    "drain phase, 0 for the others.") == -1)
		return -1;
	for (p = 0; p < DRAIN_NPHASES; p++)
		if (buf_printf(b, "nodowntime_drain_phase{phase=\"%s\"} %d\n",
		    drain_phase_str((enum drain_phase)p),
		    di.di_phase == (enum drain_phase)p) == -1)
			return -1;
	if (family(b, "nodowntime_drain_current_phase_seconds", "gauge",
	    "Time in the current drain phase so far.") == -1 ||
	    buf_printf(b, "nodowntime_drain_current_phase_seconds %.3f\n",
	    (double)di.di_phase_ms / 1e3) == -1)
		return -1;
	if (family(b, "nodowntime_app_connections", "gauge", "Established "
	    "connections on app.port (absent when not tracked).") == -1)
		return -1;
	if (di.di_conns >= 0 && buf_printf(b, "nodowntime_app_connections "
	    "%d\n", di.di_conns) == -1)
		return -1;
	return 0;
}

/* one series of nodowntime_drain_phase_seconds{phase,reason} */
static int
render_phase_hist(struct buf *b, const struct drain_stats *ds, int p, int r)
{
	const char *ph = drain_phase_str((enum drain_phase)p),
	    *rs = drain_reason_str((enum drain_reason)r);
	uint64_t cum;
	int k;

	for (cum = 0, k = 0; k <= DRAIN_HIST_NBUCKETS; k++) {
		cum += ds->ds_hist[p][r][k];
		if (k < DRAIN_HIST_NBUCKETS ? buf_printf(b,
		    "nodowntime_drain_phase_seconds_bucket{phase=\"%s\","
		    "reason=\"%s\",le=\"%g\"} %llu\n", ph, rs,
		    drain_hist_bounds[k], (unsigned long long)cum) :
		    buf_printf(b, "nodowntime_drain_phase_seconds_bucket{phase="
		    "\"%s\",reason=\"%s\",le=\"+Inf\"} %llu\n", ph, rs,
		    (unsigned long long)cum))
			return -1;
	}
	return buf_printf(b, "nodowntime_drain_phase_seconds_sum{phase=\"%s\","
	    "reason=\"%s\"} %.3f\n"
	    "nodowntime_drain_phase_seconds_count{phase=\"%s\",reason=\"%s\"} "
	    "%llu\n", ph, rs, (double)ds->ds_hist_sum_ms[p][r] / 1e3, ph, rs,
	    (unsigned long long)cum);
}

/*
 * The drain's counters. nodowntime_drain_phase_seconds is a histogram of
 * each finished phase's length (one observation per drain and phase), by
 * why it ended (reason: delay, quiet, connections, max_wait, ...): it
 * replaces a gauge of that name that summed every drain, since one name
 * cannot be both (two TYPE lines). A (phase, reason) series appears once
 * observed; before that each phase shows its usual reason at 0 (draining
 * delay, quiescing connections, drained resume), so the family is never
 * empty and sum by (phase) works from the start.
 */
static int
render_drain_stats(struct metrics *m, struct buf *b)
{
	static const struct drain_stats none;
	static const enum drain_reason usual[DRAIN_NPHASES] = {
		[DRAIN_DRAINING] = DRAIN_END_DELAY,
		[DRAIN_QUIESCING] = DRAIN_END_CONNECTIONS,
		[DRAIN_DRAINED] = DRAIN_END_RESUME,
	};
	const struct drain_stats *ds = m->m_drain ? drain_stats(m->m_drain) :
	    &none;
	uint64_t seen;
	int p, r, k;

	if (family(b, "nodowntime_drain_phase_seconds", "histogram",
	    "Length of each finished drain phase (draining, quiescing, "
	    "drained), once per drain, by why it ended.") == -1)
		return -1;
	for (p = DRAIN_DRAINING; p < DRAIN_NPHASES; p++) {
		for (seen = 0, r = 0; r < DRAIN_END_N; r++)
			for (k = 0; k <= DRAIN_HIST_NBUCKETS; k++)
				seen += ds->ds_hist[p][r][k];
		for (r = 0; r < DRAIN_END_N; r++) {
			for (k = 0; k <= DRAIN_HIST_NBUCKETS &&
			    ds->ds_hist[p][r][k] == 0; k++)
				;
			if ((k <= DRAIN_HIST_NBUCKETS || (seen == 0 &&
			    (enum drain_reason)r == usual[p])) &&
			    render_phase_hist(b, ds, p, r) == -1)
				return -1;
		}
	}
	if (family(b, "nodowntime_drains_total", "counter", "Drains begun, "
	    "by initiator (prestop: the control socket's drain).") == -1)
		return -1;
	for (k = 0; k < DRAIN_BY_N; k++)
		if (buf_printf(b, "nodowntime_drains_total{by=\"%s\"} %llu\n",
		    drain_by_str((enum drain_by)k),
		    (unsigned long long)ds->ds_drains[k]) == -1)
			return -1;
	if (family(b, "nodowntime_drain_max_wait_reached_total", "counter",
	    "Drains whose quiescing ended at max_wait with connections "
	    "left.") == -1 ||
	    buf_printf(b, "nodowntime_drain_max_wait_reached_total %llu\n",
	    (unsigned long long)ds->ds_max_wait) == -1 ||
	    family(b, "nodowntime_drain_notify_total", "counter", "Drain "
	    "notify calls by result.") == -1)
		return -1;
	for (k = 0; k < DRAIN_NOTIFY_N; k++)
		if (buf_printf(b, "nodowntime_drain_notify_total{result=\"%s\"} "
		    "%llu\n", drain_notify_result_str((enum drain_notify_result)k),
		    (unsigned long long)ds->ds_notify[k]) == -1)
			return -1;
	if (family(b, "nodowntime_drain_undone_total", "counter", "Drains "
	    "ended back in serving: app_restarted (a new app process on "
	    "app.port), resume (the control command).") == -1)
		return -1;
	for (k = 0; k < DRAIN_UNDO_N; k++)
		if (buf_printf(b, "nodowntime_drain_undone_total{reason=\"%s\"} "
		    "%llu\n", drain_undo_str((enum drain_undo)k),
		    (unsigned long long)ds->ds_undone[k]) == -1)
			return -1;
	return 0;
}

/* the HTTP server's connections: what max_connections did */
static int
render_http_conns(struct metrics *m, struct buf *b)
{
	if (gauge(b, "nodowntime_http_connections_open", "Open connections "
	    "to the listen port.", (double)m->m_http_conns_open) == -1 ||
	    family(b, "nodowntime_http_connections_evicted_total", "counter",
	    "Idle connections (no request under way) closed at "
	    "server.max_connections to admit a new one.") == -1 ||
	    buf_printf(b, "nodowntime_http_connections_evicted_total %llu\n",
	    (unsigned long long)m->m_http_conns_evicted) == -1 ||
	    family(b, "nodowntime_http_connections_refused_total", "counter",
	    "New connections closed at server.max_connections because no "
	    "open one was idle.") == -1 ||
	    buf_printf(b, "nodowntime_http_connections_refused_total %llu\n",
	    (unsigned long long)m->m_http_conns_refused) == -1 ||
	    family(b, "nodowntime_http_connections_accepted_total", "counter",
	    "Connections accepted on the listen port (the refused ones "
	    "too).") == -1 ||
	    buf_printf(b, "nodowntime_http_connections_accepted_total %llu\n",
	    (unsigned long long)m->m_http_conns_accepted) == -1)
		return -1;
	return 0;
}

/* the agent-check port, when agent_check.listen is set */
static int
render_agent_check(struct metrics *m, struct buf *b)
{
	int a;

	if (!m->m_agent_enabled)
		return 0;
	if (family(b, "nodowntime_agent_check_answers_total", "counter",
	    "Answers on the agent-check port: up (up ready 100%), warn (up "
	    "ready <warn_weight>), drain, down.") == -1)
		return -1;
	for (a = 0; a < HEALTH_AGENT_N; a++)
		if (buf_printf(b, "nodowntime_agent_check_answers_total{"
		    "answer=\"%s\"} %llu\n", health_agent_str((enum health_agent)a),
		    (unsigned long long)m->m_agent_answers[a]) == -1)
			return -1;
	if (family(b, "nodowntime_agent_check_refused_total", "counter",
	    "Agent-check connections closed unanswered at "
	    "server.max_connections.") == -1 ||
	    buf_printf(b, "nodowntime_agent_check_refused_total %llu\n",
	    (unsigned long long)m->m_agent_conns_refused) == -1)
		return -1;
	return 0;
}

static int
render_process(struct metrics *m, struct buf *b)
{
	struct rusage ru;
	struct rlimit rl;
	struct dirent *de;
	unsigned long vsz = 0, rss = 0;
	long fds = 0;
	FILE *f;
	DIR *d;

	if ((f = fopen("/proc/self/statm", "re")) != NULL) {
		if (fscanf(f, "%lu %lu", &vsz, &rss) != 2)
			vsz = rss = 0;
		fclose(f);
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				fds++;
		closedir(d);
		fds--;		/* the directory's own fd */
	}
	if (getrusage(RUSAGE_SELF, &ru) == -1)
		memset(&ru, 0, sizeof(ru));
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		rl.rlim_cur = 0;
	if (buf_printf(b, "# HELP process_cpu_seconds_total Total user and "
	    "system CPU time spent in seconds.\n"
	    "# TYPE process_cpu_seconds_total counter\n"
	    "process_cpu_seconds_total %.6f\n",
	    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6) ==
	    -1 ||
	    gauge(b, "process_resident_memory_bytes", "Resident memory size "
	    "in bytes.", (double)rss * (double)sysconf(_SC_PAGESIZE)) == -1 ||
	    gauge(b, "process_virtual_memory_bytes", "Virtual memory size in "
	    "bytes.", (double)vsz * (double)sysconf(_SC_PAGESIZE)) == -1 ||
	    gauge(b, "process_open_fds", "Number of open file descriptors.",
	    (double)fds) == -1 ||
	    gauge(b, "process_max_fds", "Maximum number of open file "
	    "descriptors.", (double)rl.rlim_cur) == -1 ||
	    gauge(b, "process_start_time_seconds", "Start time of the process "
	    "since unix epoch in seconds.",
	    (double)m->m_start_wall / 1000.0) == -1)
		return -1;
	return 0;
}

/*
 * fail_open per shared check, and the EndpointSlice watch: its requests,
 * this pod's conditions in each slice that lists it, the Service's ready
 * share. The watch's series are absent when it is off.
 */
static int
render_kube(struct metrics *m, struct buf *b)
{
	static const char *const req[2] = { "list", "watch" };
	const struct health *h = m->m_health;
	const struct check_record *r;
	const struct kv_slice *s;
	struct kube_info ki;
	size_t i;
	int q, res;

	if (family(b, "nodowntime_fail_open", "gauge", "1 while a failing "
	    "shared check is held off /ready (fail_open).") == -1)
		return -1;
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (r->cr_check->ck_shared && (check_series(b,
		    "nodowntime_fail_open", r) == -1 ||
		    buf_printf(b, "} %d\n", r->cr_fail_open) == -1))
			return -1;
	}
	if (family(b, "nodowntime_fail_open_changes_total", "counter",
	    "Times fail_open engaged or released, per shared check.") == -1)
		return -1;
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (r->cr_check->ck_shared && (check_series(b,
		    "nodowntime_fail_open_changes_total", r) == -1 ||
		    buf_printf(b, "} %llu\n", (unsigned long long)
		    r->cr_fail_open_changes) == -1))
			return -1;
	}
	if (m->m_kube == NULL)
		return 0;
	kube_info(m->m_kube, &ki);
	if (ki.ki_state == KUBE_S_OFF)
		return 0;
	if (gauge(b, "nodowntime_kubernetes_synced", "1 while the "
	    "EndpointSlice watch is current.", ki.ki_synced) == -1 ||
	    family(b, "nodowntime_kubernetes_requests_total", "counter",
	    "EndpointSlice LIST and WATCH requests, by how they ended.") == -1)
		return -1;
	for (q = 0; q < 2; q++)
		for (res = 0; res < KUBE_R_N; res++)
			if (ki.ki_requests[q][res] && buf_printf(b,
			    "nodowntime_kubernetes_requests_total{request="
			    "\"%s\",result=\"%s\"} %llu\n", req[q],
			    kube_result_str((enum kube_result)res),
			    (unsigned long long)ki.ki_requests[q][res]) == -1)
				return -1;
	if (h->h_kube_pct >= 0 && gauge(b,
	    "nodowntime_kubernetes_endpoints_ready_ratio", "Ready share of "
	    "the Service's endpoints (the lowest Service listing this pod).",
	    (double)h->h_kube_ready / (double)h->h_kube_total) == -1)
		return -1;
	if (family(b, "nodowntime_endpointslice_condition", "gauge",
	    "This pod's conditions in each EndpointSlice that lists it.") ==
	    -1)
		return -1;
	for (i = 0; ki.ki_view != NULL && i < ki.ki_view->kv_n; i++) {
		s = &ki.ki_view->kv_slices[i];
		if (!s->ks_self)
			continue;
#define COND(c, v)	(buf_puts(b, "nodowntime_endpointslice_condition{" \
		    "slice=\"") == -1 || label(b, s->ks_name) == -1 || \
		    buf_printf(b, "\",condition=\"%s\"} %d\n", c, v) == -1)
		if (COND("ready", s->ks_ready) || COND("serving",
		    s->ks_serving) || COND("terminating", s->ks_terminating))
			return -1;
#undef COND
	}
	if (family(b, "nodowntime_endpointslice_changed_timestamp_seconds",
	    "gauge", "When this pod's entry in the slice last changed (as "
	    "seen by the watch).") == -1)
		return -1;
	for (i = 0; ki.ki_view != NULL && i < ki.ki_view->kv_n; i++) {
		s = &ki.ki_view->kv_slices[i];
		if (s->ks_self && (buf_puts(b,
		    "nodowntime_endpointslice_changed_timestamp_seconds{slice="
		    "\"") == -1 || label(b, s->ks_name) == -1 ||
		    buf_printf(b, "\"} %.3f\n", (double)s->ks_changed_wall /
		    1e3) == -1))
			return -1;
	}
	return 0;
}

int
metrics_render(struct metrics *m, struct buf *b)
{
	struct health *h = m->m_health;
	int p, c;

	buf_reset(b);
	health_aggregate(h);
	if (buf_printf(b, "# HELP nodowntime_build_info Build information.\n"
	    "# TYPE nodowntime_build_info gauge\n"
	    "nodowntime_build_info{version=\"%s\"} 1\n", NDT_VERSION) == -1 ||
	    gauge(b, "nodowntime_live", "1 if /live answers 200.",
	    h->h_live) == -1 ||
	    gauge(b, "nodowntime_ready", "1 if /ready answers 200.",
	    h->h_ready) == -1 ||
	    gauge(b, "nodowntime_startup", "1 if /startup answers 200.",
	    h->h_startup) == -1)
		return -1;
	if (render_checks(m, b) == -1 || render_drain(m, b) == -1 ||
	    render_drain_stats(m, b) == -1 || render_kube(m, b) == -1)
		return -1;

	if (family(b, "nodowntime_http_requests_total", "counter",
	    "HTTP requests answered, by path and status code.") == -1)
		return -1;
	for (p = 0; p < MPATH_N; p++)
		for (c = 0; c < MCODE_N; c++)
			if (m->m_http[p][c] && buf_printf(b,
			    "nodowntime_http_requests_total{path=\"%s\","
			    "code=\"%s\"} %llu\n", metrics_path_names[p],
			    metrics_code_names[c],
			    (unsigned long long)m->m_http[p][c]) == -1)
				return -1;
	if (render_http_conns(m, b) == -1 || render_agent_check(m, b) == -1)
		return -1;
	if (buf_printf(b, "# HELP nodowntime_config_reloads_total Config "
	    "reloads by result.\n"
	    "# TYPE nodowntime_config_reloads_total counter\n"
	    "nodowntime_config_reloads_total{result=\"success\"} %llu\n"
	    "nodowntime_config_reloads_total{result=\"failure\"} %llu\n",
	    (unsigned long long)m->m_reloads_ok,
	    (unsigned long long)m->m_reloads_failed) == -1)
		return -1;
	return render_process(m, b);
}
