/*
 * drain_priv.h - the drain module's insides, shared by its two files only.
 *
 *   drain.c         the phase machine: begin, the delay, quiescing (notify,
 *                   the app.port count), SIGTERM, resume, info
 *   drainpersist.c  the state file: each phase saved, a drain that was
 *                   under way resumed at start-up
 *   drainwatch.c    a drain undone by a new app process on app.port
 *   drainquiesce.c  quiescing: the notify call, the app.port count (cached),
 *                   its end by connections, idle, max_wait or notify
 *   drainquiet.c    the adaptive delay: draining ends when app.port is
 *                   quiet (drain.quiet, quiet.c)
 *   drainstats.c    the counters and the phase histogram for /metrics
 */
#ifndef NDT_DRAIN_PRIV_H
#define NDT_DRAIN_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "conntrack.h"
#include "drain.h"
#include "quiet.h"

#define DRAIN_POLL_MS	100	/* connection and listen polls */

struct config;
struct drain_notify;
struct health;
struct loop;
struct loop_timer;
struct probes;

struct drain {
	struct loop	*d_loop;
	const struct config *d_cfg;
	struct health	*d_health;
	struct probes	*d_probes;

	enum drain_phase d_phase;
	uint64_t	 d_phase_since;		/* mono ms */
	uint64_t	 d_drain_since;		/* mono ms */
	struct loop_timer *d_timer;		/* delay end, quiesce polls */
	struct loop_timer *d_save_timer;	/* state file, next iteration */

	/* quiescing */
	uint64_t	 d_quiesce_deadline;	/* mono ms: max_wait */
	int		 d_conns_done;
	int		 d_conns;		/* last count, -1 unknown */
	int		 d_conns_warned;
	int		 d_idle_warned;		/* idle_timeout without
						 * counters, said once */
	struct conntrack_count d_ct;		/* last read, for the cache */
	uint64_t	 d_ct_at;		/* mono ms; 0 = never */
	struct drain_notify *d_notify;		/* pending notify */
	struct drain_notify *d_orphans;		/* given up, still in flight */

	/* SIGTERM */
	int		 d_sigterm;
	uint64_t	 d_sigterm_at;		/* mono ms */
	struct loop_timer *d_exit_timer;

	/* who began the drain (prestop, SIGTERM), kept in the state file */
	char		 d_by[16];
	/* why quiescing ends: the "by" of the drained phase change */
	const char	*d_why;
	int		 d_phase_live;		/* d_phase_since is this
						 * process's own: observe */

	/* the restart watch (drainwatch.c) */
	struct loop_timer *d_watch_timer;
	unsigned long	 d_watch_base[CONNTRACK_LISTEN_MAX]; /* listeners'
						 * inodes when the drain began */
	unsigned	 d_watch_nbase;
	int		 d_watch_gap;		/* app.port not listening,
						 * seen since the drain began */
	int		 d_watch_port0_warned;

	/* the adaptive delay (drainquiet.c) */
	struct quiet	 d_quiet;
	int		 d_quiet_on;		/* polling, this draining */
	int		 d_quiet_warned;	/* the fallback said once */
	int		 d_quiet_counters;	/* last poll; -1 none yet */
	drain_accepted_fn *d_accepted;		/* the agent's own accepts */
	void		*d_accepted_arg;

	/* this pod's EndpointSlices (drain_endpoints) */
	int		 d_ep_known;
	int		 d_ep_out;
	uint64_t	 d_ep_since;		/* mono ms out (or in) */
	int		 d_ep_logged;		/* this drain's flip logged */
	int64_t		 d_ep_after;		/* ... its ms from the start */
	int		 d_ep_waiting;		/* quiet, held for the flip */

	/* this drain's finished phases (status, /ready) */
	struct drain_end d_ended[DRAIN_NPHASES];

	struct drain_stats d_stats;

	drain_phase_cb	*d_cb;
	void		*d_cbarg;
};

/* drain.c */
void		 drain_ms_str(uint64_t, char *, size_t);
uint64_t	 drain_now(const struct drain *);
void		 drain_set_phase(struct drain *, enum drain_phase,
		    uint64_t since, const char *who);
/* the prestop clients return; SIGTERM's exit check, or the restart watch */
void		 drain_enter_drained(struct drain *, uint64_t since,
		    const char *why);
/* back to serving (resume, a new app process); the state file follows */
void		 drain_undo(struct drain *, enum drain_undo, const char *who);

/* drainquiesce.c */
/* draining ended (delay, quiet): notify, then the connection wait */
void		 drain_enter_quiescing(struct drain *, uint64_t since,
		    const char *who);
/* the app.port counts (cached DRAIN_COUNT_CACHE_MS); 0 or -1 */
int		 drain_count(struct drain *, struct conntrack_count *);
/* one quiescing poll (the timer, a notify answer) */
void		 drain_quiesce_tick(struct drain *);
/* stop waiting for a notify call (reload, resume, its timeout); its token
 * is freed when it ends */
void		 drain_notify_orphan(struct drain *);
/* drain_free(): the pending and orphaned notify tokens */
void		 drain_notify_free(struct drain *);

/* drainpersist.c */
void		 drain_save(struct drain *);

/* drainwatch.c */
int		 drain_watch_new(struct drain *);
void		 drain_watch_free(struct drain *);
/* a drain begins (or is resumed): the listeners it starts with; ino
 * NULL: the ones listening now */
void		 drain_watch_begin(struct drain *, const unsigned long *ino,
		    unsigned nino);
/* every app.port read during a drain: a gap in listening is remembered */
void		 drain_watch_saw(struct drain *, const struct conntrack_count *);
/* drained: poll app.port for a new listener */
void		 drain_watch_arm(struct drain *);

/* drainquiet.c: draining ends on app.port's quiet (drain.quiet) */
/* a draining phase begins or resumes: 1 when quiet polls it (the timer is
 * armed), 0 when it is the fixed delay (the caller arms it) */
int		 drain_quiet_begin(struct drain *);
void		 drain_quiet_tick(struct drain *);
/* draining ended: stop polling, free the snapshots */
void		 drain_quiet_end(struct drain *);
/* a drain begins or resumes: this pod's slices are watched for its flip */
void		 drain_ep_begin(struct drain *);

/* drainstats.c */
void		 drain_stats_phase(struct drain *, enum drain_phase,
		    enum drain_reason, uint64_t ms);
void		 drain_stats_begun(struct drain *, const char *who);

#endif
