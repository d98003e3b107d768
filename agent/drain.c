/*
 * drain.c - the drain state machine (DESIGN.md §5):
 *
 *   serving --begin--> draining --delay--> quiescing --conns 0 / max_wait--> drained
 *
 * draining: /ready answers 503 from the iteration the drain starts (health
 * re-renders before the loop sleeps); the app still serves while the
 * endpoint removal propagates: for drain.delay, or, with drain.quiet, until
 * app.port has been quiet that long (drainquiet.c). quiescing: the
 * optional notify call, and, with wait_for_connections and app.port, a
 * poll of app.port (sock_diag, else /proc/net/tcp{,6}) every DRAIN_POLL_MS
 * until no ESTABLISHED socket has local port app.port (or, with
 * drain.idle_timeout, all those left are idle), bounded by max_wait
 * (drainquiesce.c). drained: every prestop client returns.
 *
 * Every phase is written to the state file, so an agent restarted mid-drain
 * resumes it on the same schedule (drainpersist.c, statefile.h). Once
 * drained, a new app process on app.port undoes the drain (drainwatch.c).
 *
 * Every phase change logs "drain phase" with its cause in `by`: the
 * initiator (prestop, SIGTERM), "delay", "quiet", "connections", "idle",
 * "max_wait", "no_wait", "notify", "notify_timeout", "restart" (resumed
 * from the state file), "resume" or "app_restarted".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../config/config.h"
#include "conntrack.h"
#include "drain.h"
#include "drain_priv.h"
#include "health.h"
#include "log.h"
#include "loop.h"
#include "statefile.h"
#include "util.h"

static void	drain_timer_cb(void *);
static void	drain_exit_cb(void *);
static void	drain_save_cb(void *);

const char *
drain_phase_str(enum drain_phase p)
{
	const char *s = statefile_phase_str(p);

	return s ? s : "unknown";
}

void
drain_ms_str(uint64_t ms, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64, ms);
}

uint64_t
drain_now(const struct drain *d)
{
	uint64_t a = loop_now(d->d_loop), b = mono_ms();

	/* loop_now() is per iteration; at start-up it may lag a little */
	return a > b ? a : b;
}

struct drain *
drain_new(struct loop *loop, const struct config *cfg, struct health *h,
    struct probes *probes)
{
	struct drain *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		log_error("drain: calloc");
		return NULL;
	}
	d->d_loop = loop;
	d->d_cfg = cfg;
	d->d_health = h;
	d->d_probes = probes;
	d->d_phase = DRAIN_SERVING;
	d->d_conns = -1;
	d->d_quiet_counters = -1;
	quiet_init(&d->d_quiet);
	d->d_phase_since = drain_now(d);
	if ((d->d_timer = loop_timer_new(loop, drain_timer_cb, d)) == NULL ||
	    (d->d_exit_timer = loop_timer_new(loop, drain_exit_cb, d)) ==
	    NULL ||
	    (d->d_save_timer = loop_timer_new(loop, drain_save_cb, d)) ==
	    NULL || drain_watch_new(d) == -1) {
		log_error("drain: timer");
		drain_free(d);
		return NULL;
	}
	return d;
}

void
drain_free(struct drain *d)
{
	if (d == NULL)
		return;
	drain_notify_free(d);
	if (d->d_timer != NULL)
		loop_timer_free(d->d_loop, d->d_timer);
	if (d->d_exit_timer != NULL)
		loop_timer_free(d->d_loop, d->d_exit_timer);
	quiet_free(&d->d_quiet);
	drain_watch_free(d);
	if (d->d_save_timer != NULL) {
		if (loop_timer_armed(d->d_save_timer))
			drain_save(d);	/* do not lose the last phase */
		loop_timer_free(d->d_loop, d->d_save_timer);
	}
	free(d);
}

void
drain_set_listener(struct drain *d, drain_phase_cb *cb, void *arg)
{
	d->d_cb = cb;
	d->d_cbarg = arg;
}

enum drain_phase
drain_phase(const struct drain *d)
{
	return d->d_phase;
}

static void
drain_save_cb(void *arg)
{
	drain_save(arg);
}

/* enter phase p, which began at mono time since (<= now when resuming) */
void
drain_set_phase(struct drain *d, enum drain_phase p, uint64_t since,
    const char *who)
{
	enum drain_phase from = d->d_phase;
	enum drain_reason reason;
	uint64_t now = drain_now(d);
	char after[24], total[24], conns[16];

	drain_ms_str(since - (since > d->d_phase_since ? d->d_phase_since :
	    since), after, sizeof(after));
	drain_ms_str(p == DRAIN_SERVING ? 0 : now - d->d_drain_since, total,
	    sizeof(total));
	if (d->d_conns >= 0)
		snprintf(conns, sizeof(conns), "%d", d->d_conns);
	else
		snprintf(conns, sizeof(conns), "-");
	if (from == DRAIN_SERVING && p != DRAIN_SERVING)
		memset(d->d_ended, 0, sizeof(d->d_ended));	/* a new drain */
	if (from != p && from != DRAIN_SERVING && since >= d->d_phase_since) {
		reason = drain_reason_of(who);
		d->d_ended[from].de_done = 1;
		d->d_ended[from].de_by = reason;
		d->d_ended[from].de_ms = since - d->d_phase_since;
		/* a phase resumed from the state file began in another
		 * process: its length is not this one's to observe */
		if (d->d_phase_live)
			drain_stats_phase(d, from, reason,
			    since - d->d_phase_since);
	}
	d->d_phase = p;
	d->d_phase_since = since;
	d->d_phase_live = 1;
	log_event(LOG_INFO, "drain phase", "from", drain_phase_str(from),
	    "to", drain_phase_str(p), "after_ms", after, "drain_ms", total,
	    "connections", conns, "by", who && who[0] ? who : "unknown",
	    NULL);
	health_set_drain(d->d_health, p, since, d->d_ended);
	/*
	 * The state file is written (and fsync'ed) on the next iteration, after
	 * health has re-rendered: /ready turns 503 before any disk wait.
	 */
	loop_timer_at(d->d_loop, d->d_save_timer, now);
	if (d->d_cb != NULL)
		d->d_cb(d->d_cbarg, p);
}

void
drain_enter_drained(struct drain *d, uint64_t since, const char *why)
{
	loop_timer_stop(d->d_loop, d->d_timer);
	drain_set_phase(d, DRAIN_DRAINED, since, why);
	if (d->d_sigterm)
		loop_timer_at(d->d_loop, d->d_exit_timer, drain_now(d));
	else
		drain_watch_arm(d);
}

static void
drain_timer_cb(void *arg)
{
	struct drain *d = arg;

	switch (d->d_phase) {
	case DRAIN_DRAINING:
		if (d->d_quiet_on)
			drain_quiet_tick(d);
		else
			drain_enter_quiescing(d, d->d_drain_since +
			    d->d_cfg->cf_drain.d_delay_ms, "delay");
		break;
	case DRAIN_QUIESCING:
		drain_quiesce_tick(d);
		break;
	default:
		break;
	}
}

void
drain_begin(struct drain *d, const char *who)
{
	uint64_t now = drain_now(d);

	if (d->d_phase != DRAIN_SERVING) {
		log_event(LOG_DEBUG, "drain joined", "by", who,
		    "phase", drain_phase_str(d->d_phase), NULL);
		return;
	}
	d->d_drain_since = now;
	d->d_conns = -1;
	snprintf(d->d_by, sizeof(d->d_by), "%s", who ? who : "");
	drain_stats_begun(d, who);
	drain_set_phase(d, DRAIN_DRAINING, now, who);
	drain_ep_begin(d);
	if (!drain_quiet_begin(d))
		loop_timer_at(d->d_loop, d->d_timer,
		    now + d->d_cfg->cf_drain.d_delay_ms);
	drain_watch_begin(d, NULL, 0);	/* after /ready has turned 503 */
}

void
drain_reconfigure(struct drain *d, const struct config *cfg,
    struct probes *probes)
{
	const struct cfg_drain *was = &d->d_cfg->cf_drain;
	int changed = cfg->cf_drain.d_delay_ms != was->d_delay_ms ||
	    cfg->cf_drain.d_max_wait_ms != was->d_max_wait_ms;

	drain_notify_orphan(d);
	d->d_cfg = cfg;
	d->d_probes = probes;
	/* the hook's fallback reads delay_ms from the state file: record
	 * the new one now, not at the next drain */
	if (changed)
		drain_save(d);
}

void
drain_undo(struct drain *d, enum drain_undo why, const char *who)
{
	loop_timer_stop(d->d_loop, d->d_timer);
	loop_timer_stop(d->d_loop, d->d_watch_timer);
	drain_quiet_end(d);
	drain_notify_orphan(d);
	d->d_conns = -1;
	d->d_by[0] = '\0';
	d->d_stats.ds_undone[why]++;
	drain_set_phase(d, DRAIN_SERVING, drain_now(d), who);
	d->d_drain_since = 0;
}

int
drain_resume(struct drain *d, const char *who)
{
	if (d->d_sigterm) {
		errno = EBUSY;
		return -1;
	}
	if (d->d_phase == DRAIN_SERVING)
		return 0;
	drain_undo(d, DRAIN_UNDO_RESUME, who);
	return 0;
}

static void
drain_exit_cb(void *arg)
{
	struct drain *d = arg;
	const struct config *cf = d->d_cfg;
	struct conntrack_count c;
	uint64_t now = drain_now(d);

	if (cf->cf_app_port == 0) {
		log_event(LOG_INFO, "drained, exiting", NULL);
		loop_stop(d->d_loop);
		return;
	}
	if (drain_count(d, &c) == 0 && c.ct_listening == 0) {
		log_event(LOG_INFO, "drained and the app stopped listening, "
		    "exiting", NULL);
		loop_stop(d->d_loop);
		return;
	}
	/* shutdown_timeout runs from drained, or from SIGTERM if the pod was
	 * drained before (a drain kept from long ago ends nothing early) */
	if (now >= (d->d_phase_since > d->d_sigterm_at ? d->d_phase_since :
	    d->d_sigterm_at) + cf->cf_drain.d_shutdown_timeout_ms) {
		log_event(LOG_WARN, "drained, shutdown_timeout passed with "
		    "the app still listening, exiting", NULL);
		loop_stop(d->d_loop);
		return;
	}
	loop_timer_at(d->d_loop, d->d_exit_timer, now + DRAIN_POLL_MS);
}

int
drain_sigterm(struct drain *d)
{
	const struct config *cf = d->d_cfg;
	struct conntrack_count c;
	char port[16];

	if (d->d_sigterm)
		return 1;
	d->d_sigterm = 1;
	d->d_sigterm_at = drain_now(d);
	snprintf(port, sizeof(port), "%u", cf->cf_app_port);
	if (cf->cf_app_port != 0 && drain_count(d, &c) == 0 &&
	    c.ct_listening == 0) {
		/* native sidecar: stopped after the app has exited */
		log_event(LOG_INFO, "SIGTERM: the app does not listen, "
		    "exiting now", "app_port", port,
		    "phase", drain_phase_str(d->d_phase), NULL);
		return 1;
	}
	log_event(LOG_INFO, "SIGTERM: draining before exit",
	    "phase", drain_phase_str(d->d_phase), "app_port", port, NULL);
	switch (d->d_phase) {
	case DRAIN_SERVING:
		drain_begin(d, "SIGTERM");
		return 0;
	case DRAIN_DRAINED:
		if (cf->cf_app_port == 0)
			return 1;
		loop_timer_at(d->d_loop, d->d_exit_timer, drain_now(d));
		return 0;
	default:
		return 0;	/* drain_enter_drained() arms the exit check */
	}
}

void
drain_info_quick(const struct drain *d, struct drain_info *di)
{
	uint64_t now = drain_now(d);

	memset(di, 0, sizeof(*di));
	di->di_phase = d->d_phase;
	di->di_phase_ms = now - (d->d_phase_since < now ? d->d_phase_since :
	    now);
	if (d->d_phase != DRAIN_SERVING)
		di->di_drain_ms = now - (d->d_drain_since < now ?
		    d->d_drain_since : now);
	di->di_conns = di->di_listening = -1;
	di->di_app_port = d->d_cfg->cf_app_port;
	di->di_exiting = d->d_sigterm;
	if (d->d_cfg->cf_app_port != 0 && d->d_ct_at != 0) {
		di->di_conns = (int)d->d_ct.ct_established;
		di->di_listening = (int)d->d_ct.ct_listening;
	}
	di->di_idle_timeout_ms = d->d_cfg->cf_drain.d_idle_ms;
	di->di_idle = -1;
	if (di->di_idle_timeout_ms != 0 && di->di_conns >= 0 &&
	    d->d_ct.ct_idle_known)
		di->di_idle = (int)d->d_ct.ct_idle;
	di->di_quiet_on = d->d_cfg->cf_drain.d_quiet_ms != 0;
	di->di_quiet_watching = d->d_quiet_on;
	di->di_quiet_counters = d->d_quiet_counters;
	if (d->d_quiet_on)
		di->di_quiet_ms = quiet_for(&d->d_quiet, now);
	di->di_ep_wait = d->d_cfg->cf_drain.d_wait_for_endpoints;
	di->di_ep_known = d->d_ep_known;
	di->di_ep_out = d->d_ep_out;
	di->di_ep_flip = d->d_ep_logged;
	di->di_ep_after_ms = d->d_ep_after;
	memcpy(di->di_ended, d->d_ended, sizeof(di->di_ended));
}

void
drain_info(struct drain *d, struct drain_info *di)
{
	struct conntrack_count c;

	if (d->d_cfg->cf_app_port != 0)
		(void)drain_count(d, &c);	/* refreshes the cache */
	drain_info_quick(d, di);
}
