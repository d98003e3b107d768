/*
 * scheduler.c - when checks run. Each check has a tick timer and a deadline
 * timer (absolute monotonic ms in the loop's heap). Ticks are planned from
 * the previous plan, not from when a run ended, so a check never drifts:
 * next = planned + interval +- 10 % jitter. A tick that finds the previous
 * run still going is skipped and counted (cr_skipped), never overlapped.
 * The deadline is the hard timeout: the kind must end the run then.
 */
#include <stdio.h>

#include "../agent/log.h"
#include "../agent/loop.h"
#include "../config/config.h"
#include "probe_impl.h"

/*
 * The first run comes after initial_delay plus a random offset, so that
 * checks configured together do not fire together. The offset is spread
 * over the first interval but capped at 1 s: a pod's first readiness must
 * not wait a whole 10 s interval, and the per-tick jitter keeps
 * desynchronising the checks afterwards.
 */
#define SCHED_FIRST_SPREAD_MAX	1000

UNITTEST_STATIC uint64_t
sched_first_offset(uint64_t interval_ms, uint32_t rnd)
{
	uint64_t spread = interval_ms;

	if (spread > SCHED_FIRST_SPREAD_MAX)
		spread = SCHED_FIRST_SPREAD_MAX;
	if (spread == 0)
		return 0;
	return rnd % spread;
}

/* interval +- 10 %, uniformly */
UNITTEST_STATIC uint64_t
sched_next_interval(uint64_t interval_ms, uint32_t rnd)
{
	uint64_t tenth = interval_ms / 10;

	if (tenth == 0)
		return interval_ms;
	return interval_ms - tenth + rnd % (2 * tenth + 1);
}

static void
sched_run(struct probe_check *pc, uint64_t now)
{
	struct probes *p = pc->pc_probes;
	const struct cfg_check *ck = pc->pc_ck;
	char reason[CHECK_OUTPUT_MAX];

	pc->pc_running = 1;
	pc->pc_start_us = mono_us();
	loop_timer_at(p->p_loop, pc->pc_deadline,
	    now + ck->ck_timeout_ms + pc->pc_ops->po_slack_ms);
	reason[0] = '\0';
	if (pc->pc_ops->po_run(pc, reason, sizeof(reason)) == -1)
		probe_finish(pc, PROBE_ERROR, reason);
}

static void
sched_tick(void *arg)
{
	struct probe_check *pc = arg;
	struct probes *p = pc->pc_probes;
	uint64_t now = mono_ms(), iv = pc->pc_ck->ck_interval_ms, next;
	char n[24];

	pc->pc_late = now > pc->pc_planned ? now - pc->pc_planned : 0;
	if (pc->pc_late > pc->pc_late_max)
		pc->pc_late_max = pc->pc_late;
	next = pc->pc_planned + sched_next_interval(iv, probe_random(p));
	if (next <= now)	/* the loop stalled a whole interval: re-anchor */
		next = now + sched_next_interval(iv, probe_random(p));
	pc->pc_planned = next;
	loop_timer_at(p->p_loop, pc->pc_tick, next);
	if (pc->pc_running) {
		pc->pc_rec->cr_skipped++;
		snprintf(n, sizeof(n), "%llu",
		    (unsigned long long)pc->pc_rec->cr_skipped);
		log_event(LOG_DEBUG, "check skipped: previous run still going",
		    "check", pc->pc_ck->ck_name, "skipped", n, NULL);
		return;
	}
	sched_run(pc, now);
}

static void
sched_deadline(void *arg)
{
	struct probe_check *pc = arg;

	if (pc->pc_running)
		pc->pc_ops->po_abort(pc);
}

int
sched_init(struct probe_check *pc)
{
	struct loop *loop = pc->pc_probes->p_loop;

	if ((pc->pc_tick = loop_timer_new(loop, sched_tick, pc)) == NULL ||
	    (pc->pc_deadline = loop_timer_new(loop, sched_deadline, pc)) ==
	    NULL) {
		log_error("probes: timers for %s", pc->pc_ck->ck_name);
		return -1;
	}
	return 0;
}

void
sched_free(struct probe_check *pc)
{
	struct loop *loop = pc->pc_probes->p_loop;

	if (pc->pc_tick != NULL)
		loop_timer_free(loop, pc->pc_tick);
	if (pc->pc_deadline != NULL)
		loop_timer_free(loop, pc->pc_deadline);
	pc->pc_tick = pc->pc_deadline = NULL;
}

void
sched_start(struct probe_check *pc, uint64_t now)
{
	const struct cfg_check *ck = pc->pc_ck;

	pc->pc_planned = now + ck->ck_initial_delay_ms +
	    sched_first_offset(ck->ck_interval_ms,
	    probe_random(pc->pc_probes));
	loop_timer_at(pc->pc_probes->p_loop, pc->pc_tick, pc->pc_planned);
}

void
sched_stop(struct probe_check *pc)
{
	struct loop *loop = pc->pc_probes->p_loop;

	if (pc->pc_tick != NULL)
		loop_timer_stop(loop, pc->pc_tick);
	if (pc->pc_deadline != NULL)
		loop_timer_stop(loop, pc->pc_deadline);
}

void
sched_run_over(struct probe_check *pc)
{
	loop_timer_stop(pc->pc_probes->p_loop, pc->pc_deadline);
}
