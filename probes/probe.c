/*
 * probe.c - the probes module: one struct probe_check per configured check,
 * each with its kind's fixed state, and the one place where a run's result
 * becomes a check record: count, rise/fall, record fields (the reason with
 * the values of ${VAR}s masked), one log line per transition,
 * health_changed().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../agent/log.h"
#include "../agent/loop.h"
#include "../config/config.h"
#include "probe_impl.h"

static const char *const probe_result_names[] = {
	[PROBE_OK] = "ok",
	[PROBE_FAIL] = "fail",
	[PROBE_TIMEOUT] = "timeout",
	[PROBE_ERROR] = "error",
};

const char *
probe_result_str(enum probe_result r)
{
	if ((unsigned)r >= PROBE_NRESULTS)
		return "unknown";
	return probe_result_names[r];
}

_Static_assert(PROBE_NRESULTS <= CHECK_NRESULTS,
    "check_record.cr_results is too small for enum probe_result");

uint64_t
probes_runs(const struct probes *p, size_t i, enum probe_result r)
{
	if (p == NULL || i >= p->p_nchecks || (unsigned)r >= PROBE_NRESULTS)
		return 0;
	/* kept in the health record: a reload does not reset the counters
	 * of a check whose definition did not change */
	return p->p_checks[i].pc_rec->cr_results[r];
}

void
probe_reason(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (len == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		out[0] = '\0';
	else if ((size_t)n >= len && len > 4)
		memcpy(out + len - 4, "...", 4);
}

/* xorshift64*: jitter only, seeded from getrandom */
uint32_t
probe_random(struct probes *p)
{
	uint64_t x = p->p_rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	p->p_rng = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

static const struct probe_ops *
probe_ops_for(enum check_kind k)
{
	switch (k) {
	case CHECK_HTTP:
		return &probe_http_ops;
	case CHECK_TCP:
		return &probe_tcp_ops;
	case CHECK_GRPC:
		return &probe_grpc_ops;
	case CHECK_EXEC:
		return &probe_exec_ops;
	case CHECK_KIND_NONE:
		break;
	}
	return NULL;
}

struct probes *
probes_new(struct loop *loop, const struct config *cfg, struct health *h)
{
	struct probes *p;
	struct probe_check *pc;
	size_t i;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_error("probes: new");
		return NULL;
	}
	p->p_loop = loop;
	p->p_cfg = cfg;
	p->p_health = h;
	if (getrandom(&p->p_rng, sizeof(p->p_rng), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(p->p_rng))
		p->p_rng = mono_us() ^ ((uint64_t)wall_ms() << 20);
	p->p_rng |= 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_errorx("probes: curl_global_init failed");
		free(p);
		return NULL;
	}
	if ((p->p_curl = pcurl_new(loop)) == NULL)
		goto fail;
	if (cfg->cf_nchecks > 0 && (p->p_checks = calloc(cfg->cf_nchecks,
	    sizeof(*p->p_checks))) == NULL) {
		log_error("probes: checks");
		goto fail;
	}
	for (i = 0; i < cfg->cf_nchecks; i++) {
		pc = &p->p_checks[i];
		pc->pc_probes = p;
		pc->pc_ck = &cfg->cf_checks[i];
		pc->pc_rec = &h->h_checks[i];
		pc->pc_index = i;
		pc->pc_log_tokens = PROBE_LOG_BURST;
		pc->pc_log_refill = mono_ms();
		p->p_nchecks = i + 1;
		if ((pc->pc_ops = probe_ops_for(pc->pc_ck->ck_kind)) == NULL) {
			log_errorx("probes: check %s has no kind",
			    pc->pc_ck->ck_name);
			goto fail;
		}
		if (sched_init(pc) == -1)
			goto fail;
		if (pc->pc_ops->po_init(pc) == -1) {
			log_errorx("probes: check %s: cannot set up its %s probe",
			    pc->pc_ck->ck_name, pc->pc_ops->po_kind);
			goto fail;
		}
	}
	if (reaper_setup(p) == -1) {
		log_errorx("probes: cannot watch SIGCHLD");
		goto fail;
	}
	return p;
fail:
	probes_free(p);
	return NULL;
}

int
probes_start(struct probes *p)
{
	uint64_t now = loop_now(p->p_loop);
	size_t i;

	if (p->p_started)
		return 0;
	p->p_started = 1;
	for (i = 0; i < p->p_nchecks; i++)
		sched_start(&p->p_checks[i], now);
	return 0;
}

void
probes_free(struct probes *p)
{
	struct probe_check *pc;
	size_t i;

	if (p == NULL)
		return;
	notify_free_all(p);
	reaper_teardown(p);
	for (i = 0; i < p->p_nchecks; i++) {
		pc = &p->p_checks[i];
		sched_stop(pc);
		if (pc->pc_kind != NULL)
			pc->pc_ops->po_free(pc);
		sched_free(pc);
	}
	pcurl_free(p->p_curl);
	free(p->p_checks);
	curl_global_cleanup();
	free(p);
}

/* may this transition be logged? refills the bucket first */
static int
probe_log_allowed(struct probe_check *pc, uint64_t now)
{
	uint64_t add;

	if (now > pc->pc_log_refill) {
		add = (now - pc->pc_log_refill) / PROBE_LOG_REFILL_MS;
		pc->pc_log_refill += add * PROBE_LOG_REFILL_MS;
		add += pc->pc_log_tokens;
		pc->pc_log_tokens = add > PROBE_LOG_BURST ? PROBE_LOG_BURST :
		    (unsigned)add;
	}
	if (pc->pc_log_tokens == 0) {
		pc->pc_log_suppressed++;
		return 0;
	}
	pc->pc_log_tokens--;
	return 1;
}

void
probe_finish(struct probe_check *pc, enum probe_result res,
    const char *reason)
{
	struct check_record *r = pc->pc_rec;
	const struct cfg_check *ck = pc->pc_ck;
	enum check_status prev = r->cr_status;
	uint64_t now_us = mono_us();
	char dur[24], late[24];
	int ok = res == PROBE_OK;

	if (!pc->pc_running)
		return;		/* a broken invariant, but never count twice */
	pc->pc_running = 0;
	sched_run_over(pc);
	r->cr_results[res]++;
	r->cr_runs++;
	r->cr_last_ok = ok;
	r->cr_time_wall = wall_ms();
	r->cr_duration_us = now_us - pc->pc_start_us;
	check_record_observe(r, r->cr_duration_us);
	if (ok) {
		r->cr_output[0] = '\0';
		r->cr_passed_once = 1;
	} else {
		probe_reason(r->cr_output, sizeof(r->cr_output), "%s",
		    reason != NULL && reason[0] != '\0' ? reason :
		    probe_result_str(res));
		/* before /ready, status and the log see it: a value from
		 * ${VAR} the check's target or command echoed back */
		env_mask_str(&pc->pc_probes->p_cfg->cf_secrets,
		    r->cr_output);
	}
	r->cr_status = threshold_step(prev, ok, ck->ck_rise, ck->ck_fall,
	    &r->cr_consec_ok, &r->cr_consec_fail);
	snprintf(dur, sizeof(dur), "%llu",
	    (unsigned long long)(r->cr_duration_us / 1000));
	snprintf(late, sizeof(late), "%llu", (unsigned long long)pc->pc_late);
	if (r->cr_status != prev) {
		r->cr_last_change = now_us / 1000;
		r->cr_transitions++;
		if (probe_log_allowed(pc, now_us / 1000)) {
			char supp[24];

			snprintf(supp, sizeof(supp), "%llu",
			    (unsigned long long)pc->pc_log_suppressed);
			pc->pc_log_suppressed = 0;
			/* a check turning failing is what an operator
			 * alerts on: warn; recovering is info */
			log_event(r->cr_status == CHECK_FAILING ? LOG_WARN :
			    LOG_INFO, "check transition", "check",
			    ck->ck_name, "from", check_status_str(prev),
			    "to", check_status_str(r->cr_status),
			    "result", probe_result_str(res),
			    "reason", ok ? "" : r->cr_output,
			    "duration_ms", dur,
			    "suppressed_before", supp, NULL);
		}
	} else
		log_event(LOG_DEBUG, "check run", "check", ck->ck_name,
		    "result", probe_result_str(res),
		    "reason", ok ? "" : r->cr_output,
		    "duration_ms", dur, "late_ms", late, NULL);
	health_changed(pc->pc_probes->p_health);
}
