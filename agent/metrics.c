/*
 * metrics.c - /metrics in the Prometheus text format 0.0.4. Rendering walks
 * the check records once: O(checks), into one capped buffer reused across
 * scrapes.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../config/config.h"
#include "health.h"
#include "loop.h"
#include "metrics.h"
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
	[MCODE_404] = "404",
	[MCODE_405] = "405",
	[MCODE_503] = "503",
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
	case 404: c = MCODE_404; break;
	case 405: c = MCODE_405; break;
	case 503: c = MCODE_503; break;
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
gauge(struct buf *b, const char *name, const char *help, double v)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n",
	    name, help, name, name, v);
}

int
metrics_render(struct metrics *m, struct buf *b)
{
	struct health *h = m->m_health;
	const struct check_record *r;
	size_t i;
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

	if (buf_puts(b, "# HELP nodowntime_check_up 1 if the check is "
	    "passing, 0 if failing; absent before its first result.\n"
	    "# TYPE nodowntime_check_up gauge\n") == -1)
		return -1;
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (r->cr_status == CHECK_UNKNOWN)
			continue;
		if (buf_puts(b, "nodowntime_check_up{check=\"") == -1 ||
		    label(b, r->cr_check->ck_name) == -1 ||
		    buf_printf(b, "\",kind=\"%s\"} %d\n",
		    check_kind_str(r->cr_check->ck_kind),
		    r->cr_status == CHECK_PASSING) == -1)
			return -1;
	}

	if (buf_puts(b, "# HELP nodowntime_http_requests_total HTTP requests "
	    "answered, by path and status code.\n"
	    "# TYPE nodowntime_http_requests_total counter\n") == -1)
		return -1;
	for (p = 0; p < MPATH_N; p++)
		for (c = 0; c < MCODE_N; c++)
			if (m->m_http[p][c] && buf_printf(b,
			    "nodowntime_http_requests_total{path=\"%s\","
			    "code=\"%s\"} %llu\n", metrics_path_names[p],
			    metrics_code_names[c],
			    (unsigned long long)m->m_http[p][c]) == -1)
				return -1;

	if (buf_printf(b, "# HELP process_start_time_seconds Start time of "
	    "the process since unix epoch in seconds.\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds %.3f\n",
	    (double)m->m_start_wall / 1000.0) == -1)
		return -1;
	return 0;
}
