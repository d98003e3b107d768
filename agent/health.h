/*
 * health.h - check records, aggregation into live/ready/startup, and the
 * pre-rendered application/health+json bodies.
 *
 * Data flows one way: probes write check records (after thresholds) and call
 * health_changed(); drain calls health_set_drain(); health aggregates at
 * once (the verdicts are always current) and re-renders the bodies when
 * one is next asked for, once per change however many came in between.
 * Rendering after every result cost O(checks) per result, O(checks^2) a
 * second: 79 % of the agent's CPU with 500 checks (docs/BENCHMARKS.md).
 * No sockets here: unit-tested on its own.
 */
#ifndef NDT_HEALTH_H
#define NDT_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "drain.h"
#include "util.h"

struct config;
struct cfg_check;
struct kubeview;

enum check_status {
	CHECK_UNKNOWN,		/* no result yet */
	CHECK_PASSING,
	CHECK_FAILING
};
const char	*check_status_str(enum check_status);

enum health_endpoint {
	HEALTH_LIVE,
	HEALTH_READY,
	HEALTH_STARTUP,
	HEALTH_NENDPOINTS
};
const char	*health_endpoint_str(enum health_endpoint);

#define CHECK_OUTPUT_MAX	256
#define CHECK_NRESULTS		8	/* >= PROBE_NRESULTS (probe.h) */

/* nodowntime_check_duration_seconds buckets (upper bounds, seconds) */
#define CHECK_HIST_NBUCKETS	11
extern const double check_hist_bounds[CHECK_HIST_NBUCKETS];

/* one per configured check, same index as config->cf_checks */
struct check_record {
	const struct cfg_check *cr_check;
	enum check_status cr_status;	/* after rise/fall thresholds */
	int		 cr_last_ok;	/* raw result of the last run */
	int64_t		 cr_time_wall;	/* wall ms of the last result, 0 = none */
	uint64_t	 cr_last_change;	/* mono ms of the last status change */
	uint64_t	 cr_duration_us;	/* of the last run */
	unsigned	 cr_consec_ok;
	unsigned	 cr_consec_fail;
	uint64_t	 cr_runs;
	uint64_t	 cr_skipped;		/* overlapping ticks skipped */
	uint64_t	 cr_transitions;
	char		 cr_output[CHECK_OUTPUT_MAX]; /* reason, "" on pass */
	int		 cr_passed_once;	/* for the startup latch */
	/* duration histogram: cumulative counts are computed at render */
	uint64_t	 cr_hist[CHECK_HIST_NBUCKETS + 1]; /* last: +Inf */
	uint64_t	 cr_hist_sum_us;
	uint64_t	 cr_results[CHECK_NRESULTS]; /* runs by probe result */
	/* fail_open: engaged, latched until the check passes here again */
	int		 cr_fail_open;
	uint64_t	 cr_fail_open_since;	/* mono ms */
	unsigned	 cr_fail_open_ready;	/* the endpoints it engaged at: */
	unsigned	 cr_fail_open_total;	/* ready of total */
	uint64_t	 cr_fail_open_changes;	/* engaged + released */
};

struct health_view {			/* one rendered endpoint */
	int		 hv_code;	/* 200 or 503 */
	int		 hv_warn;	/* 200 with status warn */
	struct buf	 hv_body;
};

/*
 * HAProxy's agent-check answer (agentcheck.c serves it), rendered with
 * the bodies from the same verdicts as /ready: up (200 pass), warn (200
 * warn: warn_weight), drain (any drain phase), down (503 otherwise).
 */
enum health_agent {
	HEALTH_AGENT_UP,
	HEALTH_AGENT_WARN,
	HEALTH_AGENT_DRAIN,
	HEALTH_AGENT_DOWN,
	HEALTH_AGENT_N
};
const char	*health_agent_str(enum health_agent);
#define HEALTH_AGENT_REASON_MAX	200	/* the text after "down #" */
#define HEALTH_AGENT_LINE_MAX	(HEALTH_AGENT_REASON_MAX + 16)

struct health {
	const struct config *h_cfg;
	struct check_record *h_checks;
	size_t		 h_nchecks;
	enum drain_phase h_drain;
	uint64_t	 h_drain_since;	/* mono ms */
	int		 h_startup_done;	/* latched */
	int		 h_dirty;
	uint64_t	 h_gen;		/* bumped by each render */
	int64_t		 h_drain_since_wall;
	/* the drain's finished phases: why each ended, its length */
	struct drain_end h_drain_ended[DRAIN_NPHASES];
	int		 h_live, h_ready, h_startup; /* aggregates: 1 = 200 */
	/* what wrap waits for: every critical ready check of a dependency
	 * (not ck_self) passing or failing open, whatever the drain phase
	 * and the startup latch */
	int		 h_deps_ready;
	int		 h_fail_open;	/* checks failing open now */
	/* this pod's EndpointSlices (kube.c), NULL when there is no watch */
	const struct kubeview *h_kube;
	int		 h_kube_known;	/* the view is current */
	int		 h_kube_pct;	/* the Service's ready share, -1 unknown */
	unsigned	 h_kube_ready, h_kube_total;
	struct health_view h_view[HEALTH_NENDPOINTS];
	enum health_agent h_agent;
	char		 h_agent_line[HEALTH_AGENT_LINE_MAX]; /* with '\n' */
	size_t		 h_agent_len;
};

struct health	*health_new(const struct config *);
void		 health_free(struct health *);
/*
 * A config reload: one record per check of cfg. A check whose name and
 * definition are unchanged keeps its record (status, counters, history);
 * new or changed ones start unknown. The drain phase and the startup latch
 * stay. 0, or -1 (no memory) with h unchanged.
 */
int		 health_reconfigure(struct health *, const struct config *);
/* a probe finished a run that took us: the duration histogram */
void		 check_record_observe(struct check_record *, uint64_t us);
/* a probe changed h_checks[i]: mark dirty; aggregates update at once */
void		 health_changed(struct health *);
/* ended: the drain's finished phases so far (drain.h), or NULL */
void		 health_set_drain(struct health *, enum drain_phase,
		    uint64_t since_mono, const struct drain_end *ended);
/*
 * The EndpointSlice view changed (kube.c; NULL: no watch). known 0: the
 * view is stale (the watch is failing): fail-open engages on nothing new.
 */
void		 health_set_kube(struct health *, const struct kubeview *,
		    int known);
/*
 * This pod's entry in each slice that lists it, as a JSON array (the
 * /ready body's and status's "slices"): [{"name","service","ready",
 * "serving","terminating","changed"}]; kv NULL: []. 0 or -1 (b full).
 */
int		 health_slices_json(struct buf *, const struct kubeview *);
/* recompute aggregates (cheap, no allocation) */
void		 health_aggregate(struct health *);
/* if dirty: aggregate and re-render the three bodies; 0 or -1 */
int		 health_render(struct health *);
/* the prepared answer for an endpoint (renders first if dirty) */
const struct health_view *health_view(struct health *,
		    enum health_endpoint);
/* the prepared agent-check line, '\n' included (renders first if dirty) */
const char	*health_agent_line(struct health *, size_t *len,
		    enum health_agent *);

#endif
