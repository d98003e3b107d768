/*
 * drainstats.c - the drain's counters for /metrics (metrics.c renders
 * them): drains by initiator, max_wait reached, notify results, drains
 * undone, and a histogram of each finished phase's length by why it ended.
 */
#include <string.h>

#include "drain.h"
#include "drain_priv.h"

/* seconds: a 0.1 s propagation wait up to max_wait's 120 s maximum */
const double drain_hist_bounds[DRAIN_HIST_NBUCKETS] = {
	0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10, 15, 20, 30, 45, 60, 120,
};

static const char *const drain_by_names[DRAIN_BY_N] = {
	[DRAIN_BY_PRESTOP] = "prestop",
	[DRAIN_BY_SIGTERM] = "SIGTERM",
	[DRAIN_BY_OTHER] = "other",
};

static const char *const drain_undo_names[DRAIN_UNDO_N] = {
	[DRAIN_UNDO_APP_RESTARTED] = "app_restarted",
	[DRAIN_UNDO_RESUME] = "resume",
};

static const char *const drain_notify_names[DRAIN_NOTIFY_N] = {
	[DRAIN_NOTIFY_SUCCESS] = "success",
	[DRAIN_NOTIFY_FAILURE] = "failure",
	[DRAIN_NOTIFY_TIMEOUT] = "timeout",
};

static const char *const drain_reason_names[DRAIN_END_N] = {
	[DRAIN_END_DELAY] = "delay",
	[DRAIN_END_QUIET] = "quiet",
	[DRAIN_END_CONNECTIONS] = "connections",
	[DRAIN_END_MAX_WAIT] = "max_wait",
	[DRAIN_END_NO_WAIT] = "no_wait",
	[DRAIN_END_NOTIFY] = "notify",
	[DRAIN_END_NOTIFY_TIMEOUT] = "notify_timeout",
	[DRAIN_END_RESTART] = "restart",
	[DRAIN_END_RESUME] = "resume",
	[DRAIN_END_APP_RESTARTED] = "app_restarted",
	[DRAIN_END_IDLE] = "idle",
	[DRAIN_END_ENDPOINTS] = "endpoints",
	[DRAIN_END_OTHER] = "other",
};

const char *
drain_reason_str(enum drain_reason r)
{
	return (unsigned)r < DRAIN_END_N ? drain_reason_names[r] : "other";
}

/* the `by` of a phase change (drain.c's list) as a reason; anything else
 * (an initiator, a control command's word) is "other" */
enum drain_reason
drain_reason_of(const char *who)
{
	unsigned i;

	for (i = 0; who != NULL && i < DRAIN_END_OTHER; i++)
		if (strcmp(who, drain_reason_names[i]) == 0)
			return (enum drain_reason)i;
	return DRAIN_END_OTHER;
}

const char *
drain_by_str(enum drain_by b)
{
	return (unsigned)b < DRAIN_BY_N ? drain_by_names[b] : "other";
}

const char *
drain_undo_str(enum drain_undo u)
{
	return (unsigned)u < DRAIN_UNDO_N ? drain_undo_names[u] : "unknown";
}

const char *
drain_notify_result_str(enum drain_notify_result r)
{
	return (unsigned)r < DRAIN_NOTIFY_N ? drain_notify_names[r] :
	    "unknown";
}

const struct drain_stats *
drain_stats(const struct drain *d)
{
	return &d->d_stats;
}

void
drain_stats_phase(struct drain *d, enum drain_phase p, enum drain_reason r,
    uint64_t ms)
{
	struct drain_stats *ds = &d->d_stats;
	unsigned k;

	if ((unsigned)p >= DRAIN_NPHASES)
		return;
	if ((unsigned)r >= DRAIN_END_N)
		r = DRAIN_END_OTHER;
	for (k = 0; k < DRAIN_HIST_NBUCKETS; k++)
		if ((double)ms <= drain_hist_bounds[k] * 1000.0)
			break;
	ds->ds_hist[p][r][k]++;
	ds->ds_hist_sum_ms[p][r] += ms;
}

void
drain_stats_begun(struct drain *d, const char *who)
{
	enum drain_by b = DRAIN_BY_OTHER;
	unsigned i;

	for (i = 0; who != NULL && i < DRAIN_BY_OTHER; i++)
		if (strcmp(who, drain_by_names[i]) == 0)
			b = (enum drain_by)i;
	d->d_stats.ds_drains[b]++;
}
