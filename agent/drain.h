/* drain.h - the drain state machine: serving -> draining -> quiescing -> drained */
#ifndef NDT_DRAIN_H
#define NDT_DRAIN_H

#include <stdint.h>

enum drain_phase {
	DRAIN_SERVING,
	DRAIN_DRAINING,		/* /ready 503, app still serves: delay */
	DRAIN_QUIESCING,	/* notify app, wait for app.port conns -> 0 */
	DRAIN_DRAINED
};
#define DRAIN_NPHASES	4

const char	*drain_phase_str(enum drain_phase);

struct config;
struct drain;
struct health;
struct loop;
struct probes;

struct drain	*drain_new(struct loop *, const struct config *,
		    struct health *, struct probes *);
void		 drain_free(struct drain *);
/* opens the state file: resumes a drain that was under way */
int		 drain_start_up(struct drain *);
/* start the drain (or join the one under way); who: "prestop", "SIGTERM" */
void		 drain_begin(struct drain *, const char *who);
enum drain_phase drain_phase(const struct drain *);
/*
 * SIGTERM: returns 1 if the agent should exit now. Otherwise the drain runs
 * (started here if serving) and, once drained and the app has stopped
 * listening on app.port (or drain.shutdown_timeout has passed since drained),
 * drain calls loop_stop() itself: loop_run() returns and main exits 0.
 */
int		 drain_sigterm(struct drain *);
/* a config reload: new timings apply to the next drain (one under way
 * keeps its schedule); a pending notify on the old probes is let go */
void		 drain_reconfigure(struct drain *, const struct config *,
		    struct probes *);
/* the `resume` command: back to serving. 0, or -1 while shutting down */
int		 drain_resume(struct drain *, const char *who);
/*
 * A new app process listens on app.port after a drain (drainwatch.c): the
 * kubelet restarted the container (a liveness or startup-probe kill runs
 * preStop too), the pod is not being deleted. Back to serving, logged with
 * why, saved, counted. 0, or -1 when the drain is kept (SIGTERM received,
 * not drained). The Kubernetes API check (the pod's deletionTimestamp)
 * goes here, in front of the listener heuristic.
 */
int		 drain_app_restarted(struct drain *, const char *why);

/*
 * Why a phase ended: the `by` of the next phase change, a metric label of
 * nodowntime_drain_phase_seconds and the `ended_by` of status and /ready.
 */
enum drain_reason {
	DRAIN_END_DELAY,	/* draining: the fixed delay ran out */
	DRAIN_END_QUIET,	/* draining: app.port was quiet (drain.quiet) */
	DRAIN_END_CONNECTIONS,	/* quiescing: no connection left */
	DRAIN_END_MAX_WAIT,	/* quiescing: connections left at max_wait */
	DRAIN_END_NO_WAIT,	/* quiescing: nothing to wait for */
	DRAIN_END_NOTIFY,	/* quiescing: the notify answer came last */
	DRAIN_END_NOTIFY_TIMEOUT,
	DRAIN_END_RESTART,	/* the phase ran out while the agent was down */
	DRAIN_END_RESUME,	/* the control socket's resume */
	DRAIN_END_APP_RESTARTED,
	DRAIN_END_IDLE,		/* quiescing: every connection left idle
				 * (drain.idle_timeout) */
	DRAIN_END_ENDPOINTS,	/* draining: quiet, then this pod's
				 * EndpointSlices showed it not ready
				 * (drain.wait_for_endpoints) */
	DRAIN_END_OTHER,
	DRAIN_END_N
};
const char	*drain_reason_str(enum drain_reason);
enum drain_reason drain_reason_of(const char *who);

struct drain_end {		/* one finished phase of this drain */
	int		 de_done;
	enum drain_reason de_by;
	uint64_t	 de_ms;		/* its length */
};

struct drain_info {
	enum drain_phase di_phase;
	uint64_t	 di_phase_ms;	/* time in this phase */
	uint64_t	 di_drain_ms;	/* since the drain began; 0 serving */
	int		 di_conns;	/* ESTABLISHED on app.port; -1 unknown */
	int		 di_listening;	/* LISTEN on app.port; -1 unknown */
	uint64_t	 di_idle_timeout_ms; /* drain.idle_timeout; 0 off */
	int		 di_idle;	/* of di_conns, idle that long; -1
					 * unknown (no per-socket counters) */
	unsigned	 di_app_port;
	int		 di_exiting;	/* SIGTERM received */
	/* drain.quiet: the adaptive delay */
	int		 di_quiet_on;	/* configured (quiet > 0) */
	int		 di_quiet_watching; /* draining, polling app.port */
	int		 di_quiet_counters; /* bytes seen, not only new
					 * connections (-1: no poll yet) */
	uint64_t	 di_quiet_ms;	/* quiet for, while watching */
	/* drain.wait_for_endpoints and this pod's EndpointSlices (kube.c) */
	int		 di_ep_wait;	/* configured */
	int		 di_ep_known;	/* the watch is synced */
	int		 di_ep_out;	/* no slice shows this pod ready */
	int		 di_ep_flip;	/* during a drain: out, and when */
	int64_t		 di_ep_after_ms; /* ... from the drain's start
					 * (negative: before it) */
	/* this drain's (or the last drain's) finished phases */
	struct drain_end di_ended[DRAIN_NPHASES];
};
/* reads /proc/net/tcp{,6} for the counts when app.port is set (cached
 * 50 ms); drain_info_quick() does no I/O: the counts are the last read,
 * or -1 if none */
void		 drain_info(struct drain *, struct drain_info *);
void		 drain_info_quick(const struct drain *, struct drain_info *);

/*
 * Counters for /metrics (drainstats.c). Phase durations are a histogram,
 * observed once per finished draining, quiescing or drained phase (serving
 * is not observed), by why it ended: per drain, never a sum across drains.
 */
#define DRAIN_HIST_NBUCKETS	14
extern const double drain_hist_bounds[DRAIN_HIST_NBUCKETS];	/* s */

enum drain_by {			/* who began a drain: the metric label */
	DRAIN_BY_PRESTOP,	/* the control socket's drain (the hook) */
	DRAIN_BY_SIGTERM,
	DRAIN_BY_OTHER,
	DRAIN_BY_N
};
enum drain_undo {		/* why a drain ended back in serving */
	DRAIN_UNDO_APP_RESTARTED,
	DRAIN_UNDO_RESUME,	/* the control socket's resume */
	DRAIN_UNDO_N
};
enum drain_notify_result {
	DRAIN_NOTIFY_SUCCESS,	/* a 2xx answer */
	DRAIN_NOTIFY_FAILURE,	/* any other answer, or no connection */
	DRAIN_NOTIFY_TIMEOUT,	/* no answer within notify.timeout */
	DRAIN_NOTIFY_N
};
const char	*drain_by_str(enum drain_by);
const char	*drain_undo_str(enum drain_undo);
const char	*drain_notify_result_str(enum drain_notify_result);

struct drain_stats {
	/* per bucket (not cumulative); [DRAIN_HIST_NBUCKETS] is +Inf */
	uint64_t	 ds_hist[DRAIN_NPHASES][DRAIN_END_N]
			    [DRAIN_HIST_NBUCKETS + 1];
	uint64_t	 ds_hist_sum_ms[DRAIN_NPHASES][DRAIN_END_N];
	uint64_t	 ds_drains[DRAIN_BY_N];
	uint64_t	 ds_max_wait;		/* quiescing ended by max_wait */
	uint64_t	 ds_notify[DRAIN_NOTIFY_N];
	uint64_t	 ds_undone[DRAIN_UNDO_N];
};
const struct drain_stats *drain_stats(const struct drain *);

/* the connections the agent's own listeners accepted so far (the HTTP
 * server's): drain.quiet leaves them out of the pod's new connections */
typedef uint64_t drain_accepted_fn(void *arg);
void		 drain_set_accepted(struct drain *, drain_accepted_fn *,
		    void *arg);

/*
 * This pod's EndpointSlices (kube.c), on every change: known 0 when there
 * is no synced watch (the drain then waits for nothing); out 1 when no
 * slice shows the pod ready (none lists it, or every one that does says
 * ready: false), since that mono ms. drain.wait_for_endpoints keeps the
 * adaptive delay from ending before out; the fixed delay still ends it.
 */
void		 drain_endpoints(struct drain *, int known, int out,
		    uint64_t since);

/* one listener (the control socket) told of every phase change */
typedef void	 drain_phase_cb(void *arg, enum drain_phase);
void		 drain_set_listener(struct drain *, drain_phase_cb *,
		    void *arg);

#endif
