/*
 * drainquiet.c - the adaptive delay (drain.quiet, drain.min_delay):
 *
 *   draining --app.port quiet for `quiet`, not before min_delay--> quiescing
 *            --delay, at the latest------------------------------^
 *
 * While draining, app.port is polled every quiet/10 (20..100 ms) through
 * the detector (quiet.c), with the pod's passive opens less the agent's
 * own (its HTTP server's accepts, its checks' connections to loopback). Quiet time counts from the drain's start, so a
 * pod that gets no traffic at all drains after max(min_delay, quiet). A
 * poll that cannot read app.port, or that sees more sockets than the
 * detector holds, counts as traffic: the drain then waits the full delay,
 * never less. Where the kernel gives no per-socket counters (the
 * /proc/net/tcp fallback), only new connections count, and the log and
 * `status` say so.
 *
 * drain.wait_for_endpoints: quiet alone does not end the delay while the
 * EndpointSlice watch (kube.c, through drain_endpoints) still shows this
 * pod ready in some slice; the delay does. The flip is logged once per
 * drain ("drain endpoints", ms from the drain's start).
 */
#include <inttypes.h>
#include <stdio.h>

#include "../config/config.h"
#include "../probes/probe.h"
#include "drain.h"
#include "drain_priv.h"
#include "log.h"
#include "loop.h"
#include "quiet.h"

#define DRAIN_QUIET_POLL_MIN_MS	20
#define DRAIN_QUIET_POLL_MAX_MS	100

static uint64_t
poll_ms(const struct cfg_drain *cd)
{
	uint64_t ms = cd->d_quiet_ms / 10;

	if (ms < DRAIN_QUIET_POLL_MIN_MS)
		ms = DRAIN_QUIET_POLL_MIN_MS;
	if (ms > DRAIN_QUIET_POLL_MAX_MS)
		ms = DRAIN_QUIET_POLL_MAX_MS;
	return ms;
}

static const char *
signal_str(int counters)
{
	return counters ? "new connections and received bytes" :
	    "new connections only (no per-socket counters)";
}

/* one poll of app.port; logs a poll that cannot tell, once per drain */
static void
quiet_read(struct drain *d, uint64_t now)
{
	enum quiet_activity a;
	uint64_t own;
	int counters;

	/* the agent's own share of the pod's passive opens: what its
	 * listener accepted, and its own connections to loopback */
	own = probes_loopback_opens() + (d->d_accepted != NULL ?
	    d->d_accepted(d->d_accepted_arg) : 0);
	if (quiet_poll(&d->d_quiet, d->d_cfg->cf_app_port, own, now, &a) ==
	    -1) {
		if (!d->d_quiet_warned)
			log_warn("drain: cannot read app.port's sockets; "
			    "waiting the full delay");
		d->d_quiet_warned = 1;
		return;
	}
	counters = quiet_counters(&d->d_quiet);
	if (a == QUIET_UNTRACKED && !d->d_quiet_warned) {
		log_event(LOG_WARN, "drain quiet: too many sockets on app.port "
		    "to track; waiting the full delay", NULL);
		d->d_quiet_warned = 1;
	}
	if (d->d_quiet_counters == -1 || d->d_quiet_counters != counters) {
		log_event(counters ? LOG_INFO : LOG_WARN, "drain quiet watch",
		    "watching", signal_str(counters), NULL);
		d->d_quiet_counters = counters;
	}
}

int
drain_quiet_begin(struct drain *d)
{
	const struct config *cf = d->d_cfg;
	uint64_t now = drain_now(d);

	if (cf->cf_drain.d_quiet_ms == 0 || cf->cf_app_port == 0) {
		d->d_quiet_on = 0;
		return 0;
	}
	d->d_quiet_on = 1;
	d->d_quiet_warned = 0;
	d->d_quiet_counters = -1;
	/*
	 * Quiet from now: the drain's start, or, resumed after a restart,
	 * the restart (what happened while the agent was down is unknown).
	 * The first poll is the baseline the next ones are compared with.
	 */
	quiet_start(&d->d_quiet, now);
	quiet_read(d, now);
	loop_timer_at(d->d_loop, d->d_timer, now + poll_ms(&cf->cf_drain));
	return 1;
}

void
drain_quiet_tick(struct drain *d)
{
	const struct cfg_drain *cd = &d->d_cfg->cf_drain;
	uint64_t now = drain_now(d), end, next;
	char q[24];

	end = d->d_drain_since + cd->d_delay_ms;
	if (now >= end) {
		drain_enter_quiescing(d, end, "delay");
		return;
	}
	quiet_read(d, now);
	if (cd->d_quiet_ms != 0 && now >= d->d_drain_since +
	    cd->d_min_delay_ms && quiet_for(&d->d_quiet, now) >=
	    cd->d_quiet_ms) {
		drain_ms_str(quiet_for(&d->d_quiet, now), q, sizeof(q));
		if (!cd->d_wait_for_endpoints || !d->d_ep_known ||
		    d->d_ep_out) {
			log_event(LOG_INFO, "drain quiet: app.port had no new "
			    "connection or request", "quiet_ms", q, "watching",
			    signal_str(quiet_counters(&d->d_quiet)), NULL);
			drain_enter_quiescing(d, now, d->d_ep_waiting ?
			    "endpoints" : "quiet");
			return;
		}
		/* quiet, but a slice still lists this pod as ready: its
		 * removal has not even started everywhere */
		if (!d->d_ep_waiting)
			log_event(LOG_INFO, "drain quiet: waiting for the "
			    "EndpointSlices to show this pod not ready",
			    "quiet_ms", q, NULL);
		d->d_ep_waiting = 1;
	}
	next = now + poll_ms(cd);
	loop_timer_at(d->d_loop, d->d_timer, next < end ? next : end);
}

/* the flip, logged once per drain: when the slices stopped showing this
 * pod ready, from the drain's start (negative: before it) */
static void
ep_log(struct drain *d)
{
	char after[24];

	if (d->d_ep_logged || d->d_phase == DRAIN_SERVING || !d->d_ep_known ||
	    !d->d_ep_out)
		return;
	d->d_ep_logged = 1;
	d->d_ep_after = (int64_t)d->d_ep_since - (int64_t)d->d_drain_since;
	snprintf(after, sizeof(after), "%" PRId64, d->d_ep_after);
	log_event(LOG_INFO, "drain endpoints", "after_ms", after, "phase",
	    drain_phase_str(d->d_phase), NULL);
}

void
drain_ep_begin(struct drain *d)
{
	d->d_ep_logged = 0;
	d->d_ep_waiting = 0;
	ep_log(d);
}

void
drain_endpoints(struct drain *d, int known, int out, uint64_t since)
{
	d->d_ep_known = known;
	d->d_ep_out = out;
	d->d_ep_since = since;
	ep_log(d);
	/* held for this: end the delay at once, not at the next poll */
	if (out && d->d_ep_waiting && d->d_phase == DRAIN_DRAINING &&
	    d->d_quiet_on)
		loop_timer_at(d->d_loop, d->d_timer, drain_now(d));
}

void
drain_set_accepted(struct drain *d, drain_accepted_fn *fn, void *arg)
{
	d->d_accepted = fn;
	d->d_accepted_arg = arg;
}

void
drain_quiet_end(struct drain *d)
{
	if (!d->d_quiet_on)
		return;
	d->d_quiet_on = 0;
	quiet_free(&d->d_quiet);
}
