/*
 * drainpersist.c - the drain's state file (statefile.h): every phase is
 * saved, so an agent restarted mid-drain resumes it on the same schedule,
 * and drain_start_up() picks up a drain that was under way.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../config/config.h"
#include "drain.h"
#include "drain_priv.h"
#include "log.h"
#include "loop.h"
#include "statefile.h"
#include "util.h"

_Static_assert(STATEFILE_INO_MAX == CONNTRACK_LISTEN_MAX,
    "the state file keeps every listener inode the drain watches");

void
drain_save(struct drain *d)
{
	const struct cfg_drain *cd = &d->d_cfg->cf_drain;
	struct statefile sf;
	uint64_t now = drain_now(d);
	int64_t wall = wall_ms();

	if (d->d_cfg->cf_state_file == NULL ||
	    d->d_cfg->cf_state_file[0] == '\0')
		return;
	memset(&sf, 0, sizeof(sf));
	sf.sf_phase = d->d_phase;
	sf.sf_written = wall;
	sf.sf_delay_ms = cd->d_delay_ms;
	sf.sf_max_wait_ms = cd->d_max_wait_ms;
	memcpy(sf.sf_by, d->d_by, sizeof(sf.sf_by));
	if (d->d_phase != DRAIN_SERVING) {
		sf.sf_nino = d->d_watch_nbase;
		memcpy(sf.sf_listen_ino, d->d_watch_base,
		    sizeof(sf.sf_listen_ino));
		sf.sf_drain_elapsed = now - d->d_drain_since;
		sf.sf_phase_elapsed = now - d->d_phase_since;
		sf.sf_drain_start = wall - (int64_t)sf.sf_drain_elapsed;
		sf.sf_phase_start = wall - (int64_t)sf.sf_phase_elapsed;
	}
	if (statefile_write(d->d_cfg->cf_state_file, &sf) == -1)
		log_warn("drain: cannot write state file %s",
		    d->d_cfg->cf_state_file);
}

/* a phase begun `ago` ms before now, never before the monotonic epoch */
static uint64_t
ago(uint64_t now, uint64_t ms)
{
	return ms < now ? now - ms : 0;
}

static void
drain_resume_recorded(struct drain *d, const struct statefile *sf)
{
	const struct cfg_drain *cd = &d->d_cfg->cf_drain;
	uint64_t now = drain_now(d), drain_ms, phase_ms, qsince;
	char dms[24], pms[24];

	statefile_elapsed(sf, wall_ms(), &drain_ms, &phase_ms);
	drain_ms_str(drain_ms, dms, sizeof(dms));
	drain_ms_str(phase_ms, pms, sizeof(pms));
	log_event(LOG_INFO, "drain resumed from the state file",
	    "phase", drain_phase_str(sf->sf_phase), "drain_ms", dms,
	    "phase_ms", pms, NULL);
	d->d_drain_since = ago(now, drain_ms);
	d->d_phase_since = ago(now, phase_ms);
	/* the listeners the drain began with, else the ones there now: a
	 * new app process started while the agent was down is not seen */
	drain_watch_begin(d, sf->sf_nino ? sf->sf_listen_ino : NULL,
	    sf->sf_nino);
	switch (sf->sf_phase) {
	case DRAIN_DRAINING:
		drain_set_phase(d, DRAIN_DRAINING, d->d_phase_since,
		    "restart");
		drain_ep_begin(d);
		if (drain_ms >= cd->d_delay_ms) {
			/* the delay ran out while the agent was down */
			drain_enter_quiescing(d, d->d_drain_since +
			    cd->d_delay_ms, "restart");
		} else if (!drain_quiet_begin(d))
			loop_timer_at(d->d_loop, d->d_timer,
			    d->d_drain_since + cd->d_delay_ms);
		break;
	case DRAIN_QUIESCING:
		qsince = d->d_phase_since;
		d->d_phase = DRAIN_DRAINING;
		drain_enter_quiescing(d, qsince, "restart");
		break;
	case DRAIN_DRAINED:
		drain_set_phase(d, DRAIN_DRAINED, d->d_phase_since,
		    "restart");
		drain_watch_arm(d);
		break;
	default:
		break;
	}
}

int
drain_start_up(struct drain *d)
{
	const char *path = d->d_cfg->cf_state_file;
	struct statefile sf;
	char err[128], bad[4200];

	if (path == NULL || path[0] == '\0')
		return 0;
	if (statefile_read(path, &sf, err, sizeof(err)) == -1) {
		if (errno == ENOENT)
			log_event(LOG_DEBUG, "no drain state file", "path",
			    path, NULL);
		else {
			/*
			 * A state file we cannot read starts as serving: it is
			 * written atomically, so only damage or a foreign file
			 * gets here, and failing closed would keep a healthy
			 * pod out of its Service for good. A drain that was
			 * under way is not lost: its prestop client reconnects
			 * and asks for the drain again.
			 */
			log_event(LOG_WARN, "drain state file unreadable, "
			    "starting as serving", "path", path,
			    "reason", err, NULL);
			if (errno == EINVAL &&
			    snprintf(bad, sizeof(bad), "%s.corrupt", path) <
			    (int)sizeof(bad))
				(void)rename(path, bad);
		}
		drain_save(d);
		return 0;
	}
	if (sf.sf_phase == DRAIN_SERVING) {
		drain_save(d);		/* records the current delay */
		return 0;
	}
	if (strcmp(sf.sf_by, "SIGTERM") == 0) {
		/*
		 * A drain begun by SIGTERM to the agent, and the agent runs
		 * again: the kubelet restarts no container of a terminating
		 * pod, so this pod is not going away - the sidecar itself was
		 * restarted (its liveness probe, an OOM kill, a node hiccup).
		 * Resuming would keep a healthy pod out of its Service for
		 * good. A drain begun by prestop is kept: that is a pod being
		 * deleted, or an operator's maintenance drain.
		 */
		log_event(LOG_WARN, "drain begun by SIGTERM not resumed: the "
		    "agent was restarted, so the pod is not terminating; "
		    "serving", "path", path, "phase",
		    drain_phase_str(sf.sf_phase), NULL);
		drain_save(d);
		return 0;
	}
	memcpy(d->d_by, sf.sf_by, sizeof(d->d_by));
	drain_resume_recorded(d, &sf);
	return 0;
}
