/*
 * drain_priv.h - the drain module's insides, shared by its two files only.
 *
 *   drain.c         the phase machine: begin, the delay, quiescing (notify,
 *                   the app.port count), SIGTERM, resume, info
 *   drainpersist.c  the state file: each phase saved, a drain that was
 *                   under way resumed at start-up
 */
#ifndef NDT_DRAIN_PRIV_H
#define NDT_DRAIN_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "conntrack.h"
#include "drain.h"

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
	/* time spent in each finished phase, for metrics */
	uint64_t	 d_phase_total[DRAIN_NPHASES];

	drain_phase_cb	*d_cb;
	void		*d_cbarg;
};

/* drain.c */
void		 drain_ms_str(uint64_t, char *, size_t);
uint64_t	 drain_now(const struct drain *);
void		 drain_set_phase(struct drain *, enum drain_phase,
		    uint64_t since, const char *who);
void		 drain_enter_quiescing(struct drain *, uint64_t since);

/* drainpersist.c */
void		 drain_save(struct drain *);

#endif
