/*
 * test_health.c - aggregation rules of DESIGN.md §4, without sockets:
 * live/ready/startup from check records, critical vs warn, unknown before
 * the first result, the startup latch, draining, and the rendered bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/health.h"
#include "agent/kubeview.h"
#include "config/config.h"

struct fixture {
	struct config	 cfg;
	struct cfg_check ck[3];
	struct health	*h;
};

/* three checks: "app" (live+ready+startup), "db" (ready), "cache"
 * (ready, not critical) */
static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ck[0].ck_name = (char *)(uintptr_t)"app";
	f->ck[0].ck_kind = CHECK_HTTP;
	f->ck[0].ck_affects = AFFECT_LIVE | AFFECT_READY | AFFECT_STARTUP;
	f->ck[0].ck_critical = 1;
	f->ck[1].ck_name = (char *)(uintptr_t)"db";
	f->ck[1].ck_kind = CHECK_TCP;
	f->ck[1].ck_affects = AFFECT_READY;
	f->ck[1].ck_critical = 1;
	f->ck[2].ck_name = (char *)(uintptr_t)"cache";
	f->ck[2].ck_kind = CHECK_TCP;
	f->ck[2].ck_affects = AFFECT_READY;
	f->ck[2].ck_critical = 0;
	f->cfg.cf_checks = f->ck;
	f->cfg.cf_nchecks = 3;
	f->h = health_new(&f->cfg);
	assert_non_null(f->h);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	health_free(f->h);
	free(f);
	return 0;
}

static void
set(struct health *h, size_t i, enum check_status st, const char *out)
{
	h->h_checks[i].cr_status = st;
	if (st == CHECK_PASSING)
		h->h_checks[i].cr_passed_once = 1;
	h->h_checks[i].cr_time_wall = 1764165055123;
	h->h_checks[i].cr_duration_us = 1500;
	strncpy(h->h_checks[i].cr_output, out, CHECK_OUTPUT_MAX - 1);
	health_changed(h);
}

/* HAProxy's agent-check line, from the same verdicts as /ready */
static const char *
agent(struct health *h, enum health_agent want)
{
	enum health_agent a;
	size_t len;
	const char *line = health_agent_line(h, &len, &a);

	assert_int_equal(a, want);
	assert_true(len > 0 && len < HEALTH_AGENT_LINE_MAX);
	assert_int_equal(strlen(line), len);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));	/* one line */
	return line;
}

static void
test_unknown_fails_ready_not_live(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(f->h->h_live, 1);
	assert_int_equal(f->h->h_ready, 0);
	assert_int_equal(f->h->h_startup, 0);
	assert_int_equal(health_view(f->h, HEALTH_LIVE)->hv_code, 200);
	assert_int_equal(health_view(f->h, HEALTH_READY)->hv_code, 503);
	assert_int_equal(health_view(f->h, HEALTH_STARTUP)->hv_code, 503);
	assert_non_null(strstr(health_view(f->h, HEALTH_READY)->hv_body.b_data,
	    "\"output\":\"startup not complete: check 'app' unknown\""));
	assert_non_null(strstr(health_view(f->h, HEALTH_READY)->hv_body.b_data,
	    "\"state\":\"unknown\""));
}

static void
test_all_passing(void **state)
{
	struct fixture *f = *state;
	const char *b;

	set(f->h, 0, CHECK_PASSING, "");
	set(f->h, 1, CHECK_PASSING, "");
	set(f->h, 2, CHECK_PASSING, "");
	assert_int_equal(f->h->h_live, 1);
	assert_int_equal(f->h->h_ready, 1);
	assert_int_equal(f->h->h_startup, 1);
	b = health_view(f->h, HEALTH_READY)->hv_body.b_data;
	assert_non_null(strstr(b, "{\"status\":\"pass\""));
	assert_non_null(strstr(b, "\"app\":[{\"componentType\":\"http\","
	    "\"status\":\"pass\""));
	assert_non_null(strstr(b, "\"time\":\"2025-11-26T13:50:55.123Z\""));
	assert_non_null(strstr(b, "\"observedValue\":1.500"));
	/* /live lists only the checks that affect it */
	b = health_view(f->h, HEALTH_LIVE)->hv_body.b_data;
	assert_non_null(strstr(b, "\"app\":"));
	assert_null(strstr(b, "\"db\":"));
}

/* a non-critical failure turns status to warn, still 200 */
static void
test_noncritical_warns(void **state)
{
	struct fixture *f = *state;
	const struct health_view *v;

	set(f->h, 0, CHECK_PASSING, "");
	set(f->h, 1, CHECK_PASSING, "");
	set(f->h, 2, CHECK_FAILING, "connection refused");
	v = health_view(f->h, HEALTH_READY);
	assert_int_equal(v->hv_code, 200);
	assert_non_null(strstr(v->hv_body.b_data, "{\"status\":\"warn\""));
	assert_non_null(strstr(v->hv_body.b_data,
	    "\"output\":\"connection refused\""));
}

/* a critical ready dependency failing fails ready, never live */
static void
test_critical_ready_failure(void **state)
{
	struct fixture *f = *state;
	const struct health_view *v;

	set(f->h, 0, CHECK_PASSING, "");
	set(f->h, 1, CHECK_FAILING, "timeout after 1s");
	set(f->h, 2, CHECK_PASSING, "");
	assert_int_equal(health_view(f->h, HEALTH_LIVE)->hv_code, 200);
	v = health_view(f->h, HEALTH_READY);
	assert_int_equal(v->hv_code, 503);
	assert_non_null(strstr(v->hv_body.b_data,
	    "\"output\":\"check 'db' failing\""));
	assert_non_null(strstr(v->hv_body.b_data,
	    "\"output\":\"timeout after 1s\""));
}

/* a critical live check failing fails live (and ready) */
static void
test_live_failure(void **state)
{
	struct fixture *f = *state;

	set(f->h, 0, CHECK_PASSING, "");
	set(f->h, 1, CHECK_PASSING, "");
	set(f->h, 0, CHECK_FAILING, "status 500 not in 200-399");
	assert_int_equal(health_view(f->h, HEALTH_LIVE)->hv_code, 503);
	assert_int_equal(health_view(f->h, HEALTH_READY)->hv_code, 503);
	/* startup stays latched */
	assert_int_equal(health_view(f->h, HEALTH_STARTUP)->hv_code, 200);
}

/* startup latches once every startup check has passed once */
static void
test_startup_latch(void **state)
{
	struct fixture *f = *state;

	set(f->h, 1, CHECK_PASSING, "");
	assert_int_equal(f->h->h_startup, 0);
	set(f->h, 0, CHECK_PASSING, "");
	assert_int_equal(f->h->h_startup, 1);
	set(f->h, 0, CHECK_FAILING, "down");
	f->h->h_checks[0].cr_passed_once = 1;
	health_changed(f->h);
	assert_int_equal(f->h->h_startup, 1);
}

/* draining fails ready at once and keeps live */
static void
test_draining(void **state)
{
	struct fixture *f = *state;
	uint64_t gen;

	set(f->h, 0, CHECK_PASSING, "");
	set(f->h, 1, CHECK_PASSING, "");
	assert_int_equal(health_view(f->h, HEALTH_READY)->hv_code, 200);
	gen = f->h->h_gen;
	health_set_drain(f->h, DRAIN_DRAINING, 1000, NULL);
	assert_int_equal(f->h->h_ready, 0);
	assert_int_equal(f->h->h_live, 1);
	assert_int_equal(health_view(f->h, HEALTH_READY)->hv_code, 503);
	assert_true(f->h->h_gen > gen);
	assert_non_null(strstr(health_view(f->h, HEALTH_READY)->hv_body.b_data,
	    "\"output\":\"draining\""));
	health_set_drain(f->h, DRAIN_QUIESCING, 1500, NULL);
	assert_non_null(strstr(health_view(f->h, HEALTH_READY)->hv_body.b_data,
	    "\"output\":\"quiescing\""));
	health_set_drain(f->h, DRAIN_DRAINED, 2000, NULL);
	assert_int_equal(health_view(f->h, HEALTH_READY)->hv_code, 503);
	assert_non_null(strstr(health_view(f->h, HEALTH_READY)->hv_body.b_data,
	    "\"output\":\"drained\""));
	assert_int_equal(health_view(f->h, HEALTH_LIVE)->hv_code, 200);
}

/*
 * fail_open: "db" shared, min_ready_percent 50; the view is a real
 * kubeview fed a LIST with ready of 3 endpoints (web-1 is this pod).
 */
static void
view_ready(struct kubeview *kv, int r1, int r2, int r3, uint64_t now)
{
	char body[1024];

	snprintf(body, sizeof(body), "{\"kind\":\"EndpointSliceList\","
	    "\"metadata\":{\"resourceVersion\":\"%llu\"},\"items\":[{"
	    "\"metadata\":{\"name\":\"web-a\",\"resourceVersion\":\"1\","
	    "\"labels\":{\"kubernetes.io/service-name\":\"web\"}},"
	    "\"endpoints\":["
	    "{\"addresses\":[\"10.0.0.1\"],\"conditions\":{\"ready\":%s},"
	    "\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-1\"}},"
	    "{\"addresses\":[\"10.0.0.2\"],\"conditions\":{\"ready\":%s},"
	    "\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-2\"}},"
	    "{\"addresses\":[\"10.0.0.3\"],\"conditions\":{\"ready\":%s},"
	    "\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-3\"}}]}]}",
	    (unsigned long long)now, r1 ? "true" : "false",
	    r2 ? "true" : "false", r3 ? "true" : "false");
	assert_int_equal(kv_list(kv, body, strlen(body), now, 1000), KV_OK);
}

static void
test_fail_open(void **state)
{
	struct fixture *f = *state;
	struct kubeview kv;
	const char *body;

	assert_int_equal(kv_init(&kv, "web-1", ""), 0);
	f->cfg.cf_fail_open_pct = 50;
	f->ck[1].ck_shared = 1;
	set(f->h, 0, CHECK_PASSING, "");
	set(f->h, 1, CHECK_PASSING, "");
	view_ready(&kv, 1, 0, 0, 10);		/* 1 of 3: 33 % */
	health_set_kube(f->h, &kv, 1);
	assert_int_equal(f->h->h_kube_pct, 33);
	assert_int_equal(f->h->h_ready, 1);
	assert_int_equal(f->h->h_fail_open, 0);	/* passing: nothing held */

	/* db fails under 50 %: held off ready, warn, said in the body */
	set(f->h, 1, CHECK_FAILING, "connection refused");
	assert_int_equal(f->h->h_ready, 1);
	assert_int_equal(f->h->h_fail_open, 1);
	assert_int_equal(f->h->h_checks[1].cr_fail_open_changes, 1);
	assert_int_equal(health_view(f->h, HEALTH_READY)->hv_code, 200);
	body = health_view(f->h, HEALTH_READY)->hv_body.b_data;
	assert_non_null(strstr(body, "{\"status\":\"warn\""));
	assert_non_null(strstr(body, "\"failOpen\":true"));
	assert_non_null(strstr(body, "\"output\":\"fail-open: check 'db'"));
	assert_non_null(strstr(body, "\"readyPercent\":33"));
	f->cfg.cf_agent_warn_pct = 50;
	health_changed(f->h);
	assert_string_equal(agent(f->h, HEALTH_AGENT_WARN), "up ready 50%\n");
	/* never on live */
	assert_int_equal(f->h->h_live, 1);

	/* latched: the share back at 100 % does not release it */
	view_ready(&kv, 1, 1, 1, 20);
	health_set_kube(f->h, &kv, 1);
	assert_int_equal(f->h->h_kube_pct, 100);
	assert_int_equal(f->h->h_ready, 1);
	assert_int_equal(f->h->h_fail_open, 1);

	/* released once db passes here */
	set(f->h, 1, CHECK_PASSING, "");
	assert_int_equal(f->h->h_fail_open, 0);
	assert_int_equal(f->h->h_checks[1].cr_fail_open_changes, 2);
	/* failing alone, the others ready: a plain failure */
	set(f->h, 1, CHECK_FAILING, "refused");
	assert_int_equal(f->h->h_ready, 0);
	assert_int_equal(f->h->h_fail_open, 0);
	assert_int_equal(f->h->h_checks[1].cr_fail_open_changes, 2);

	/* a stale view engages nothing */
	view_ready(&kv, 0, 0, 0, 30);
	health_set_kube(f->h, &kv, 0);
	assert_int_equal(f->h->h_ready, 0);
	/* a current one does; a drain releases it at once */
	health_set_kube(f->h, &kv, 1);
	assert_int_equal(f->h->h_ready, 1);
	health_set_drain(f->h, DRAIN_DRAINING, 1000, NULL);
	assert_int_equal(f->h->h_fail_open, 0);
	assert_int_equal(f->h->h_ready, 0);
	health_set_drain(f->h, DRAIN_SERVING, 2000, NULL);

	/* not shared, or not critical: never held */
	f->ck[1].ck_shared = 0;
	health_changed(f->h);
	assert_int_equal(f->h->h_ready, 0);
	f->ck[1].ck_shared = 1;
	f->ck[0].ck_shared = 1;		/* app: critical, but passing */
	set(f->h, 0, CHECK_FAILING, "down");
	assert_int_equal(f->h->h_live, 0);	/* live is never held */
	health_set_kube(f->h, NULL, 0);
	kv_free(&kv);
}

/* render once per change: no re-render without health_changed() */
static void
test_render_only_when_dirty(void **state)
{
	struct fixture *f = *state;
	uint64_t gen;

	(void)health_view(f->h, HEALTH_READY);
	gen = f->h->h_gen;
	(void)health_view(f->h, HEALTH_READY);
	(void)health_render(f->h);
	assert_int_equal(f->h->h_gen, gen);
	set(f->h, 1, CHECK_PASSING, "");
	set(f->h, 2, CHECK_PASSING, "");
	(void)health_render(f->h);
	assert_int_equal(f->h->h_gen, gen + 1);
}

/* output is JSON-escaped */
static void
test_output_escaped(void **state)
{
	struct fixture *f = *state;

	set(f->h, 1, CHECK_FAILING, "bad \"quote\"\nnewline\\");
	assert_non_null(strstr(health_view(f->h, HEALTH_READY)->hv_body.b_data,
	    "\"output\":\"bad \\\"quote\\\"\\nnewline\\\\\""));
}

static void
test_agent_line_states(void **state)
{
	struct fixture *f = *state;
	const char *ready_out;

	f->cfg.cf_agent_warn_pct = 30;
	/* before any result: down, the first check not passing named */
	assert_string_equal(agent(f->h, HEALTH_AGENT_DOWN),
	    "down #app: unknown\n");
	set(f->h, 0, CHECK_PASSING, "");
	set(f->h, 1, CHECK_PASSING, "");
	/* "cache" (not critical) unknown is no warning yet */
	assert_string_equal(agent(f->h, HEALTH_AGENT_UP), "up ready 100%\n");
	/* failing: 200 with status warn, so the warn weight */
	set(f->h, 2, CHECK_FAILING, "timeout");
	assert_int_equal(health_view(f->h, HEALTH_READY)->hv_code, 200);
	assert_non_null(strstr(health_view(f->h, HEALTH_READY)->hv_body.b_data,
	    "{\"status\":\"warn\""));
	assert_string_equal(agent(f->h, HEALTH_AGENT_WARN), "up ready 30%\n");
	/* a critical failure: down with its name and output */
	set(f->h, 1, CHECK_FAILING, "connection refused");
	assert_string_equal(agent(f->h, HEALTH_AGENT_DOWN),
	    "down #db: connection refused\n");
	ready_out = health_view(f->h, HEALTH_READY)->hv_body.b_data;
	assert_non_null(strstr(ready_out, "\"status\":\"fail\""));
	/* every drain phase: drain, whatever the checks say */
	health_set_drain(f->h, DRAIN_DRAINING, 1000, NULL);
	assert_string_equal(agent(f->h, HEALTH_AGENT_DRAIN), "drain\n");
	set(f->h, 1, CHECK_PASSING, "");
	health_set_drain(f->h, DRAIN_QUIESCING, 1500, NULL);
	assert_string_equal(agent(f->h, HEALTH_AGENT_DRAIN), "drain\n");
	health_set_drain(f->h, DRAIN_DRAINED, 2000, NULL);
	assert_string_equal(agent(f->h, HEALTH_AGENT_DRAIN), "drain\n");
	/* back to serving (resume, a new app process): ready again */
	set(f->h, 2, CHECK_PASSING, "");
	health_set_drain(f->h, DRAIN_SERVING, 3000, NULL);
	assert_string_equal(agent(f->h, HEALTH_AGENT_UP), "up ready 100%\n");
	/* a reload's new weight is answered at once */
	f->cfg.cf_agent_warn_pct = 75;
	set(f->h, 2, CHECK_FAILING, "slow");
	assert_string_equal(agent(f->h, HEALTH_AGENT_WARN), "up ready 75%\n");
}

/* what wrap waits for: the dependencies, not the app's own check, in any
 * drain phase */
static void
test_deps_ready(void **state)
{
	struct fixture *f = *state;

	f->ck[0].ck_self = 1;		/* "app" probes this pod */
	assert_int_equal(f->h->h_deps_ready, 0);	/* db unknown */
	set(f->h, 1, CHECK_PASSING, "");
	assert_int_equal(f->h->h_deps_ready, 1);	/* app unknown: no matter */
	assert_int_equal(f->h->h_ready, 0);
	set(f->h, 2, CHECK_FAILING, "down");		/* not critical */
	assert_int_equal(f->h->h_deps_ready, 1);
	health_set_drain(f->h, DRAIN_DRAINED, 1000, NULL);
	assert_int_equal(f->h->h_deps_ready, 1);
	set(f->h, 1, CHECK_FAILING, "refused");
	assert_int_equal(f->h->h_deps_ready, 0);
}

/* the reason: one line of printable ASCII, at most 200 bytes */
static void
test_agent_line_sanitized(void **state)
{
	struct fixture *f = *state;
	char out[240];
	const char *line;
	size_t i;

	set(f->h, 0, CHECK_PASSING, "");
	set(f->h, 1, CHECK_FAILING, "HTTP 500\r\nX-Injected: 1\tend \xc3\xa9\x7f");
	line = agent(f->h, HEALTH_AGENT_DOWN);
	assert_string_equal(line, "down #db: HTTP 500  X-Injected: 1 end ??\n");
	memset(out, 'x', sizeof(out) - 1);
	out[sizeof(out) - 1] = '\0';
	set(f->h, 1, CHECK_FAILING, out);
	line = agent(f->h, HEALTH_AGENT_DOWN);
	assert_int_equal(strlen(line), strlen("down #") +
	    HEALTH_AGENT_REASON_MAX + 1);
	for (i = 0; line[i] != '\n'; i++)
		assert_true(line[i] >= 0x20 && line[i] < 0x7f);
	/* a check that is not critical is no reason: the next one is */
	f->ck[1].ck_critical = 0;
	set(f->h, 0, CHECK_FAILING, "");
	assert_string_equal(agent(f->h, HEALTH_AGENT_DOWN),
	    "down #app: failing\n");
}

/* with no checks at all everything passes at once */
static void
test_no_checks(void **state)
{
	struct config cfg;
	struct health *h;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	h = health_new(&cfg);
	assert_non_null(h);
	assert_int_equal(health_view(h, HEALTH_LIVE)->hv_code, 200);
	assert_int_equal(health_view(h, HEALTH_READY)->hv_code, 200);
	assert_int_equal(health_view(h, HEALTH_STARTUP)->hv_code, 200);
	health_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unknown_fails_ready_not_live,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_passing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_noncritical_warns, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_critical_ready_failure,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_failure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_startup_latch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_draining, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_only_when_dirty,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_escaped, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_agent_line_states, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_agent_line_sanitized,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_deps_ready, setup,
		    teardown),
		cmocka_unit_test(test_no_checks),
	};

	return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
