/*
 * healthwhy.c - the words of the answers: why /live, /ready or /startup
 * fails, why /ready holds under fail-open, and HAProxy's agent-check line.
 *
 * The agent-check line is rendered with the bodies (health_render), from
 * the same verdicts as /ready: a drain of any phase answers "drain" (the
 * server keeps its sessions and gets no new ones), a 503 "down #reason",
 * a 200 with status warn "up ready <warn_weight>", else "up ready 100%".
 * "ready" takes the server out of a DRAIN or MAINT that an earlier answer
 * put it in. "maint" is never sent: that is an operator's word. The
 * reason is the first failing check and its output, which the probes
 * have already masked of ${VAR} values; here it becomes printable ASCII
 * on one line, at most HEALTH_AGENT_REASON_MAX bytes.
 */
#include <stdio.h>
#include <string.h>

#include "../config/config.h"
#include "health.h"
#include "health_priv.h"

static const char *const health_agent_names[HEALTH_AGENT_N] = {
	[HEALTH_AGENT_UP] = "up",
	[HEALTH_AGENT_WARN] = "warn",
	[HEALTH_AGENT_DRAIN] = "drain",
	[HEALTH_AGENT_DOWN] = "down",
};

const char *
health_agent_str(enum health_agent a)
{
	return (unsigned)a < HEALTH_AGENT_N ? health_agent_names[a] : "?";
}

void
health_reason(const struct health *h, enum health_endpoint ep, char *out,
    size_t len)
{
	const struct check_record *r;
	const char *pre;
	size_t i;

	out[0] = '\0';
	if (ep == HEALTH_READY && h->h_drain != DRAIN_SERVING) {
		/* the phase alone: "draining", "quiescing" or "drained" */
		snprintf(out, len, "%s", drain_phase_str(h->h_drain));
		return;
	}
	pre = ep != HEALTH_LIVE && !h->h_startup_done ?
	    "startup not complete" : NULL;
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (!(r->cr_check->ck_affects & health_endpoint_affect[ep]) ||
		    (!r->cr_check->ck_critical && ep != HEALTH_STARTUP))
			continue;
		if (ep == HEALTH_STARTUP ? !r->cr_passed_once :
		    r->cr_status == CHECK_FAILING ||
		    (r->cr_status == CHECK_UNKNOWN && ep != HEALTH_LIVE)) {
			snprintf(out, len, "%s%scheck '%s' %s", pre ? pre : "",
			    pre ? ": " : "", r->cr_check->ck_name,
			    ep == HEALTH_STARTUP && r->cr_status != CHECK_UNKNOWN ?
			    "has not passed yet" : check_status_str(r->cr_status));
			return;
		}
	}
	if (pre)
		snprintf(out, len, "%s", pre);
}

void
health_fail_open_reason(const struct health *h, char *out, size_t len)
{
	const struct check_record *r;
	size_t i;

	out[0] = '\0';
	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (!r->cr_fail_open)
			continue;
		snprintf(out, len, "fail-open: check '%s' is failing, as on "
		    "most replicas (it failed with %u of %u endpoints ready, "
		    "under min_ready_percent %u): ready stays up, answers "
		    "degraded, until it passes here", r->cr_check->ck_name,
		    r->cr_fail_open_ready, r->cr_fail_open_total,
		    h->h_cfg->cf_fail_open_pct);
		return;
	}
}

/*
 * "down #" and why: the first critical ready check that is not passing,
 * "name: output" ("name: unknown" before its first result), else what
 * /ready says (startup not complete).
 */
static void
agent_down_reason(const struct health *h, char *out, size_t len)
{
	const struct check_record *r;
	size_t i;

	for (i = 0; i < h->h_nchecks; i++) {
		r = &h->h_checks[i];
		if (!(r->cr_check->ck_affects & AFFECT_READY) ||
		    !r->cr_check->ck_critical || r->cr_fail_open ||
		    r->cr_status == CHECK_PASSING)
			continue;
		snprintf(out, len, "%s: %s", r->cr_check->ck_name,
		    r->cr_output[0] ? r->cr_output :
		    check_status_str(r->cr_status));
		return;
	}
	health_reason(h, HEALTH_READY, out, len);
	if (out[0] == '\0')
		snprintf(out, len, "not ready");
}

/* one line of printable ASCII: controls become spaces, the rest '?' */
static size_t
agent_sanitize(char *s, size_t max)
{
	size_t i, n = strlen(s);
	unsigned char c;

	if (n > max)
		n = max;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			s[i] = ' ';
		else if (c > 0x7f)
			s[i] = '?';
	}
	while (n > 0 && s[n - 1] == ' ')
		n--;
	s[n] = '\0';
	return n;
}

void
health_agent_render(struct health *h)
{
	const struct health_view *v = &h->h_view[HEALTH_READY];
	char why[HEALTH_AGENT_REASON_MAX + 64];
	int n;

	if (h->h_drain != DRAIN_SERVING) {
		h->h_agent = HEALTH_AGENT_DRAIN;
		n = snprintf(h->h_agent_line, sizeof(h->h_agent_line),
		    "drain\n");
	} else if (v->hv_code != 200) {
		h->h_agent = HEALTH_AGENT_DOWN;
		agent_down_reason(h, why, sizeof(why));
		(void)agent_sanitize(why, HEALTH_AGENT_REASON_MAX);
		n = snprintf(h->h_agent_line, sizeof(h->h_agent_line),
		    "down #%s\n", why);
	} else if (v->hv_warn) {
		h->h_agent = HEALTH_AGENT_WARN;
		n = snprintf(h->h_agent_line, sizeof(h->h_agent_line),
		    "up ready %u%%\n", h->h_cfg->cf_agent_warn_pct);
	} else {
		h->h_agent = HEALTH_AGENT_UP;
		n = snprintf(h->h_agent_line, sizeof(h->h_agent_line),
		    "up ready 100%%\n");
	}
	h->h_agent_len = n > 0 && (size_t)n < sizeof(h->h_agent_line) ?
	    (size_t)n : 0;
}
