/*
 * probe_impl.h - the probes module's insides, shared by the probes/ sources only.
 *
 *   probe.c      probes_new/start/free, results -> thresholds -> records
 *   scheduler.c  ticks (interval +-10 % jitter), hard deadlines, no overlap
 *   threshold.c  rise/fall (pure)
 *   pcurl.c      the one CURLM wired into the loop (multi-socket API)
 *   http.c tcp.c grpc.c exec.c   one kind each, behind struct probe_ops
 *   reaper.c     what exec checks leave behind: subreaper, trees, reaping
 *   notify.c     probes_notify(), the drain's one-shot HTTP call
 *
 * A kind starts a run in po_run() and ends it, later and from the loop,
 * with exactly one probe_finish(). The scheduler's deadline calls
 * po_abort(), which must lead to probe_finish() (at once, or when an exec
 * child has been reaped). Per-check memory is allocated in po_init() and
 * never grows.
 */
#ifndef NDT_PROBE_IMPL_H
#define NDT_PROBE_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "../agent/health.h"
#include "pcurl.h"
#include "probe.h"

struct cfg_check;
struct cfg_kv;
struct cfg_range;
struct cfg_tls;
struct loop;
struct loop_timer;
struct probe_check;

struct probe_ops {
	const char	*po_kind;
	/* extra time past the check's timeout before po_abort: the curl
	 * kinds let libcurl's own CURLOPT_TIMEOUT_MS speak first */
	uint64_t	 po_slack_ms;
	int		(*po_init)(struct probe_check *);	/* 0 or -1 */
	/* 0, or -1 with the reason in reason (nothing started) */
	int		(*po_run)(struct probe_check *, char *reason, size_t);
	void		(*po_abort)(struct probe_check *);
	void		(*po_free)(struct probe_check *);
};

extern const struct probe_ops probe_http_ops;
extern const struct probe_ops probe_tcp_ops;
extern const struct probe_ops probe_grpc_ops;
extern const struct probe_ops probe_exec_ops;

struct probe_check {
	struct probes		*pc_probes;
	const struct cfg_check	*pc_ck;
	struct check_record	*pc_rec;
	size_t			 pc_index;
	const struct probe_ops	*pc_ops;
	void			*pc_kind;	/* the kind's state */
	struct loop_timer	*pc_tick;
	struct loop_timer	*pc_deadline;
	uint64_t		 pc_planned;	/* mono ms of the next tick */
	uint64_t		 pc_start_us;	/* of the run under way */
	int			 pc_running;
	uint64_t		 pc_late;	/* this run's tick lateness, ms */
	uint64_t		 pc_late_max;
	/* transition logs: a token bucket, so a flapping check cannot
	 * flood the log (the metrics still count every transition) */
	unsigned		 pc_log_tokens;
	uint64_t		 pc_log_refill;	/* mono ms of the last refill */
	uint64_t		 pc_log_suppressed;
};

#define PROBE_LOG_BURST		10	/* transition logs at once */
#define PROBE_LOG_REFILL_MS	6000	/* then one per 6 s: 10 a minute */

struct pcurl;
struct probe_notify;

struct probes {
	struct loop		*p_loop;
	const struct config	*p_cfg;
	struct health		*p_health;
	struct probe_check	*p_checks;
	size_t			 p_nchecks;
	struct pcurl		*p_curl;
	struct probe_notify	*p_notify;	/* in flight */
	uint64_t		 p_rng;
	int			 p_started;
	int			 p_reaper;	/* orphans come to us: reap */
};

/* probe.c */
/* the run is over: count it, apply thresholds, update the record */
void		 probe_finish(struct probe_check *, enum probe_result,
		    const char *reason);
uint32_t	 probe_random(struct probes *);
/* snprintf into a reason buffer, cut with "..." when too long */
void		 probe_reason(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* scheduler.c */
int		 sched_init(struct probe_check *);	/* timers; 0 or -1 */
void		 sched_free(struct probe_check *);
void		 sched_start(struct probe_check *, uint64_t now);
void		 sched_stop(struct probe_check *);
/* a kind's run ended: disarm the deadline */
void		 sched_run_over(struct probe_check *);

/* threshold.c: count one result, return the new status */
enum check_status threshold_step(enum check_status, int ok, unsigned rise,
		    unsigned fall, unsigned *consec_ok, unsigned *consec_fail);

/*
 * pcurl.c: po_run and po_abort for the kinds that are one libcurl transfer (http,
 * grpc, tcp): their state (pc_kind) starts with its struct pcurl_req.
 * start: 0, or -1 with the reason; abort: the check's timeout ran out,
 * cancel the transfer and finish as PROBE_TIMEOUT.
 */
int		 pcurl_check_start(struct probe_check *, char *, size_t);
void		 pcurl_check_abort(struct probe_check *);
/* the reason for a failed transfer: curl's error buffer, else its text */
void		 pcurl_reason(const struct pcurl_req *, CURLcode, char *,
		    size_t);
/* TLS options, and SNI: with a server_name the URL's host is replaced
 * by it and the connection goes to the original host (CURLOPT_CONNECT_TO).
 * *url_out (malloc'd) and *connect_to are set when that happens. */
int		 pcurl_tls(CURL *, const struct cfg_tls *, const char *url,
		    char **url_out, struct curl_slist **connect_to);
/* "Name: value" lines; NULL on allocation failure (n == 0: *out NULL) */
int		 pcurl_headers(const struct cfg_kv *, size_t,
		    struct curl_slist **out);

/* exec.c: check pc's run under way (its leader not reaped yet): 1 with
 * the leader's pid, else 0 */
int		 exec_leader(const struct probe_check *, pid_t *);

/* reaper.c: what exec checks leave behind. setup: with exec checks, make
 * the agent a child subreaper and reap on SIGCHLD; 0 or -1 */
int		 reaper_setup(struct probes *);
/* undo the SIGCHLD watch (probes_free, before a reload makes new probes) */
void		 reaper_teardown(struct probes *);
/* reap every exited child but a running check's leader */
void		 reaper_reap(struct probes *);
/* signal root's descendants, but those in process group skip_pgid */
void		 reaper_kill_tree(pid_t root, pid_t skip_pgid, int sig);
/* check ended's run is over (its leader exited or was killed, not yet
 * reaped): SIGKILL the orphans (our children, no check's leader) born
 * since its start, but before that of every other run still going */
void		 reaper_sweep(struct probes *, const struct probe_check *ended);

/* notify.c */
void		 notify_free_all(struct probes *);

#ifdef UNITTEST
/* reached by tests/unit through UNITTEST_STATIC */
uint64_t	 sched_next_interval(uint64_t interval_ms, uint32_t rnd);
uint64_t	 sched_first_offset(uint64_t interval_ms, uint32_t rnd);
int		 http_status_match(const struct cfg_range *, size_t, long);
void		 http_status_fmt(const struct cfg_range *, size_t, char *,
		    size_t);
void		 exec_first_line(const char *, size_t, char *, size_t);
const char	*exec_last_line(const char *, size_t, size_t *len);
int		 grpc_parse_header(const char *, size_t, int *code, char *msg,
		    size_t msglen);
#endif

#endif
