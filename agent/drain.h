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

struct drain_info {
	enum drain_phase di_phase;
	uint64_t	 di_phase_ms;	/* time in this phase */
	uint64_t	 di_drain_ms;	/* since the drain began; 0 serving */
	int		 di_conns;	/* ESTABLISHED on app.port; -1 unknown */
	int		 di_listening;	/* LISTEN on app.port; -1 unknown */
	unsigned	 di_app_port;
	int		 di_exiting;	/* SIGTERM received */
	uint64_t	 di_phase_total[DRAIN_NPHASES]; /* ms in finished phases */
};
/* reads /proc/net/tcp{,6} for the counts when app.port is set (cached
 * 50 ms); drain_info_quick() does no I/O: the counts are the last read,
 * or -1 if none */
void		 drain_info(struct drain *, struct drain_info *);
void		 drain_info_quick(const struct drain *, struct drain_info *);

/* one listener (the control socket) told of every phase change */
typedef void	 drain_phase_cb(void *arg, enum drain_phase);
void		 drain_set_listener(struct drain *, drain_phase_cb *,
		    void *arg);

#endif
