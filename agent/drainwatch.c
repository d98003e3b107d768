/*
 * drainwatch.c - a drain undone by a new app process (DESIGN.md §7).
 *
 * The kubelet runs the app container's preStop not only when the pod is
 * deleted but also when it restarts the container after a failed liveness
 * or startup probe. That drain reaches drained, which is kept for the
 * pod's life: once the restarted app is healthy, /ready would still say
 * 503 for good. On a pod deletion the app never comes back; on a restart
 * a new app process listens on app.port again. So, once drained (and
 * while the agent itself has no SIGTERM), app.port is polled every
 * DRAIN_WATCH_MS (a sock_diag dump of LISTEN sockets alone: no cost however
 * many connections the pod holds), and a listener is new when
 *
 *   - none of its socket inodes is among the ones listening when the drain
 *     began (a new process opens a new socket: this sees a restart whose
 *     gap between close and bind is shorter than a poll), or
 *   - app.port was seen not listening at some read since the drain began
 *     (every read counts: the quiescing polls, status requests, this one).
 *
 * A listener that never went away is not a restart, whatever its age.
 * quiescing does not undo: the prestop client still waits for drained,
 * and an app that exits and comes back while quiescing is seen at drained,
 * by either rule. With app.port 0 nothing can be seen: a warning at
 * drained says so (docs/NO-DOWNTIME.md: the app calls `resume`).
 */
#include <stdio.h>
#include <string.h>

#include "../config/config.h"
#include "conntrack.h"
#include "drain.h"
#include "drain_priv.h"
#include "log.h"
#include "loop.h"

#define DRAIN_WATCH_MS		250	/* drained: app.port polls */

static void	drain_watch_cb(void *);

int
drain_watch_new(struct drain *d)
{
	d->d_watch_timer = loop_timer_new(d->d_loop, drain_watch_cb, d);
	return d->d_watch_timer == NULL ? -1 : 0;
}

void
drain_watch_free(struct drain *d)
{
	if (d->d_watch_timer != NULL)
		loop_timer_free(d->d_loop, d->d_watch_timer);
	d->d_watch_timer = NULL;
}

void
drain_watch_begin(struct drain *d, const unsigned long *ino, unsigned nino)
{
	struct conntrack_count c;
	int ok;

	d->d_watch_nbase = 0;
	d->d_watch_gap = 0;
	if (d->d_cfg->cf_app_port == 0)
		return;
	ok = conntrack_read_listeners(d->d_cfg->cf_app_port, &c) == 0;
	if (ok && c.ct_listening == 0)
		d->d_watch_gap = 1;
	if (ino == NULL && ok) {
		ino = c.ct_listen_ino;
		nino = c.ct_nino;
	}
	if (ino == NULL)
		return;
	if (nino > CONNTRACK_LISTEN_MAX)
		nino = CONNTRACK_LISTEN_MAX;
	memcpy(d->d_watch_base, ino, nino * sizeof(*ino));
	d->d_watch_nbase = nino;
}

void
drain_watch_saw(struct drain *d, const struct conntrack_count *c)
{
	if (c->ct_listening == 0)
		d->d_watch_gap = 1;
}

void
drain_watch_arm(struct drain *d)
{
	if (d->d_sigterm || d->d_phase != DRAIN_DRAINED)
		return;
	if (d->d_cfg->cf_app_port == 0) {
		if (!d->d_watch_port0_warned)
			log_event(LOG_WARN, "drained with app.port 0: a restart "
			    "of the app cannot be seen, so this drain is not "
			    "undone by itself; set app.port, or have the "
			    "app's start send `resume` to the control socket",
			    NULL);
		d->d_watch_port0_warned = 1;
		return;
	}
	loop_timer_at(d->d_loop, d->d_watch_timer,
	    drain_now(d) + DRAIN_WATCH_MS);
}

/* a listener none of whose inodes was there when the drain began */
static int
watch_new_inode(const struct drain *d, const struct conntrack_count *c,
    unsigned long *ino)
{
	unsigned i, j;

	if (d->d_watch_nbase == 0 || c->ct_nino == 0)
		return 0;	/* nothing to compare: the gap rule decides */
	for (i = 0; i < c->ct_nino; i++)
		for (j = 0; j < d->d_watch_nbase; j++)
			if (c->ct_listen_ino[i] == d->d_watch_base[j])
				return 0;
	*ino = c->ct_listen_ino[0];
	return 1;
}

static void
drain_watch_cb(void *arg)
{
	struct drain *d = arg;
	struct conntrack_count c;
	unsigned long ino = 0;
	char why[96];

	if (d->d_sigterm || d->d_phase != DRAIN_DRAINED ||
	    d->d_cfg->cf_app_port == 0)
		return;
	if (conntrack_read_listeners(d->d_cfg->cf_app_port, &c) == -1)
		goto again;		/* a read error is no evidence */
	if (c.ct_listening == 0) {
		d->d_watch_gap = 1;
		goto again;
	}
	if (watch_new_inode(d, &c, &ino))
		snprintf(why, sizeof(why), "a new listener on app.port "
		    "(socket inode %lu), the old one gone", ino);
	else if (d->d_watch_gap)
		snprintf(why, sizeof(why), "app.port stopped listening and "
		    "listens again");
	else
		goto again;
	if (drain_app_restarted(d, why) == 0)
		return;
again:
	loop_timer_at(d->d_loop, d->d_watch_timer,
	    drain_now(d) + DRAIN_WATCH_MS);
}

int
drain_app_restarted(struct drain *d, const char *why)
{
	char port[16];

	if (d->d_sigterm || d->d_phase != DRAIN_DRAINED)
		return -1;
	/*
	 * Kubernetes API check goes here. The listener is a heuristic: a pod
	 * being deleted whose app was not listening yet when the drain began
	 * and starts listening later looks like a restart too (its endpoint
	 * stays not ready: a terminating pod's EndpointSlice entry is). With
	 * API access, read the pod: a deletionTimestamp keeps the drain
	 * (return -1), none undoes it, listener or not.
	 */
	snprintf(port, sizeof(port), "%u", d->d_cfg->cf_app_port);
	log_event(LOG_INFO, "drain undone: the app was restarted, not the "
	    "pod deleted (a liveness or startup-probe kill runs preStop too)",
	    "why", why, "app_port", port, "drain_by", d->d_by[0] ? d->d_by :
	    "-", NULL);
	drain_undo(d, DRAIN_UNDO_APP_RESTARTED, "app_restarted");
	return 0;
}
