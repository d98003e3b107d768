/*
 * drainquiesce.c - the quiescing phase (DESIGN.md §5): the optional
 * drain.notify call to the app, then, with wait_for_connections and
 * app.port, a poll of app.port every DRAIN_POLL_MS until no ESTABLISHED
 * socket is left (by=connections), all those left are idle
 * (drain.idle_timeout, by=idle) or max_wait has passed (by=max_wait); the
 * drain is drained once the notify answer is in too (by=notify), or
 * given up on (notify_timeout). Also the cached app.port count that
 * status, the exit check and the restart watch read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../config/config.h"
#include "../probes/probe.h"
#include "conntrack.h"
#include "drain.h"
#include "drain_priv.h"
#include "log.h"
#include "loop.h"

#define DRAIN_NOTIFY_SLACK_MS	1000	/* beyond notify.timeout, give up */
#define DRAIN_COUNT_CACHE_MS	50	/* /proc/net/tcp reads: 20/s at most */

struct drain_notify {			/* one outstanding notify call */
	struct drain	*dn_drain;	/* NULL: orphaned (resume, timeout) */
	struct drain	*dn_owner;	/* always set: its orphan list */
	uint64_t	 dn_start;	/* mono ms */
	struct drain_notify *dn_next;	/* in d_orphans */
};

/* stop waiting for a notify call; its token is freed when it ends */
void
drain_notify_orphan(struct drain *d)
{
	struct drain_notify *dn = d->d_notify;

	if (dn == NULL)
		return;
	dn->dn_drain = NULL;
	dn->dn_next = d->d_orphans;
	d->d_orphans = dn;
	d->d_notify = NULL;
}

/* a failure that took the whole notify.timeout is curl's timeout */
static enum drain_notify_result
notify_result(const struct drain *d, const struct drain_notify *dn, int ok)
{
	uint64_t tmo = d->d_cfg->cf_drain.d_notify.n_timeout_ms;

	if (ok)
		return DRAIN_NOTIFY_SUCCESS;
	if (tmo != 0 && drain_now(d) - dn->dn_start + DRAIN_POLL_MS >= tmo)
		return DRAIN_NOTIFY_TIMEOUT;
	return DRAIN_NOTIFY_FAILURE;
}

static void
notify_done(void *arg, int ok, const char *reason)
{
	struct drain_notify *dn = arg, **pp;
	struct drain *d = dn->dn_drain;

	if (d == NULL) {
		for (pp = &dn->dn_owner->d_orphans; *pp; pp = &(*pp)->dn_next)
			if (*pp == dn) {
				*pp = dn->dn_next;
				break;
			}
		free(dn);
		return;
	}
	/* probes logs the result */
	(void)reason;
	d->d_stats.ds_notify[notify_result(d, dn, ok)]++;
	free(dn);
	d->d_notify = NULL;
	if (d->d_conns_done)
		d->d_why = "notify";	/* the last thing waited for */
	if (d->d_phase == DRAIN_QUIESCING)
		drain_quiesce_tick(d);
}

static void
notify_start(struct drain *d)
{
	const struct cfg_notify *n = &d->d_cfg->cf_drain.d_notify;
	struct drain_notify *dn;

	if (!n->n_enabled)
		return;
	if (d->d_probes == NULL) {
		log_warnx("drain: notify configured but no probes");
		return;
	}
	if ((dn = calloc(1, sizeof(*dn))) == NULL) {
		log_error("drain: notify: calloc");
		return;
	}
	dn->dn_drain = dn->dn_owner = d;
	dn->dn_start = drain_now(d);
	d->d_notify = dn;
	if (probes_notify(d->d_probes, n, notify_done, dn) == -1) {
		log_event(LOG_WARN, "drain notify failed", "reason",
		    "could not start the request", NULL);
		d->d_stats.ds_notify[DRAIN_NOTIFY_FAILURE]++;
		d->d_notify = NULL;
		free(dn);
	}
}

/*
 * The app.port counts; 0 or -1. Reading /proc/net/tcp costs time in
 * proportion to the pod's sockets, so reads are cached briefly: status
 * requests, however many, cannot make the loop read it more than 20 times
 * a second; the quiesce and exit polls (every DRAIN_POLL_MS) still see a
 * fresh count each time.
 */
int
drain_count(struct drain *d, struct conntrack_count *c)
{
	uint64_t now = drain_now(d);

	if (d->d_ct_at != 0 && now - d->d_ct_at < DRAIN_COUNT_CACHE_MS) {
		*c = d->d_ct;
		return 0;
	}
	/* with idle_timeout, sock_diag's per-socket times too */
	if (conntrack_read_idle(d->d_cfg->cf_app_port,
	    d->d_cfg->cf_drain.d_idle_ms, c) == -1) {
		if (!d->d_conns_warned)
			log_warn("drain: cannot read /proc/net/tcp");
		d->d_conns_warned = 1;
		return -1;
	}
	d->d_ct = *c;
	d->d_ct_at = now;
	if (d->d_phase != DRAIN_SERVING)
		drain_watch_saw(d, c);
	return 0;
}

/*
 * drain.idle_timeout: the connections left are all idle keep-alive ones
 * (answered, silent both ways that long: conntrack_sock_idle), so the wait
 * ends now instead of at max_wait. Without per-socket times (the
 * /proc/net/tcp fallback) it cannot tell: it says so once and waits on.
 */
static void
quiesce_idle(struct drain *d, const struct conntrack_count *c)
{
	char conns[16], ms[24];

	if (d->d_cfg->cf_drain.d_idle_ms == 0)
		return;
	if (!c->ct_idle_known) {
		if (!d->d_idle_warned)
			log_event(LOG_WARN, "drain idle unknown", "reason",
			    "no per-socket counters (/proc/net/tcp): waiting "
			    "for the connections to close", NULL);
		d->d_idle_warned = 1;
		return;
	}
	if (c->ct_idle < c->ct_established)
		return;
	snprintf(conns, sizeof(conns), "%u", c->ct_established);
	drain_ms_str(d->d_cfg->cf_drain.d_idle_ms, ms, sizeof(ms));
	log_event(LOG_INFO, "drain idle", "connections", conns,
	    "idle_timeout_ms", ms, NULL);
	d->d_conns_done = 1;
	d->d_why = "idle";
}

void
drain_quiesce_tick(struct drain *d)
{
	const struct config *cf = d->d_cfg;
	struct conntrack_count c;
	uint64_t now = drain_now(d), next;
	char conns[16];

	if (!d->d_conns_done) {
		if (!cf->cf_drain.d_wait_for_connections ||
		    cf->cf_app_port == 0) {
			d->d_conns_done = 1;
			d->d_why = "no_wait";
		} else if (drain_count(d, &c) == 0) {
			d->d_conns = (int)c.ct_established;
			if (c.ct_established == 0) {
				d->d_conns_done = 1;
				d->d_why = "connections";
			} else
				quiesce_idle(d, &c);
		}
		if (!d->d_conns_done && now >= d->d_quiesce_deadline) {
			snprintf(conns, sizeof(conns), "%d", d->d_conns);
			log_event(LOG_WARN, "drain max_wait reached",
			    "connections", conns, NULL);
			d->d_conns_done = 1;
			d->d_why = "max_wait";
			d->d_stats.ds_max_wait++;
		}
	}
	if (d->d_conns_done && d->d_notify == NULL) {
		drain_enter_drained(d, now, d->d_why);
		return;
	}
	if (!d->d_conns_done) {
		next = now + DRAIN_POLL_MS;
		if (next > d->d_quiesce_deadline)
			next = d->d_quiesce_deadline;
		loop_timer_at(d->d_loop, d->d_timer, next);
		return;
	}
	/* connections done, notify outstanding: bound it */
	next = d->d_phase_since + cf->cf_drain.d_notify.n_timeout_ms +
	    DRAIN_NOTIFY_SLACK_MS;
	if (now >= next) {
		log_event(LOG_WARN, "drain notify failed", "reason",
		    "no answer", NULL);
		d->d_stats.ds_notify[DRAIN_NOTIFY_TIMEOUT]++;
		drain_notify_orphan(d);
		drain_enter_drained(d, now, "notify_timeout");
		return;
	}
	loop_timer_at(d->d_loop, d->d_timer, next);
}

void
drain_enter_quiescing(struct drain *d, uint64_t since, const char *who)
{
	const struct config *cf = d->d_cfg;
	struct conntrack_count c;

	drain_quiet_end(d);
	/* the count the watchers are told of with the phase */
	if (cf->cf_app_port != 0 && drain_count(d, &c) == 0)
		d->d_conns = (int)c.ct_established;
	drain_set_phase(d, DRAIN_QUIESCING, since, who);
	d->d_conns_done = 0;
	d->d_why = NULL;
	d->d_quiesce_deadline = since + cf->cf_drain.d_max_wait_ms;
	notify_start(d);
	drain_quiesce_tick(d);
}

/* drain_free(): the loop no longer runs, so the notify callback cannot
 * come: probes_free() drops the request without calling it */
void
drain_notify_free(struct drain *d)
{
	free(d->d_notify);
	d->d_notify = NULL;
	while (d->d_orphans != NULL) {
		struct drain_notify *dn = d->d_orphans;

		d->d_orphans = dn->dn_next;
		free(dn);
	}
}
