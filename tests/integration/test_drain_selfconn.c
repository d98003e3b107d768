/*
 * test_drain_selfconn.c - the agent's own check of the app keeps a
 * keep-alive connection to app.port; the app's side of it must not count
 * as a client, or every drain would wait its full max_wait (found by the
 * e2e run). A real app (tests/servers/demo_app, keep-alive HTTP), a real
 * agent with an HTTP check of it, a real prestop.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"

#define DELAY_MS	500
#define MAX_WAIT_MS	4000

static void
test_own_check_connection_does_not_hold_drain(void **state)
{
	struct itest_agent a;
	char port[16], extra[512], *out = NULL;
	char *app_argv[] = { NULL, "--port", port, "--bind", "127.0.0.1",
	    "--mode", "graceful", NULL };
	char *pre_argv[] = { NULL, "prestop", "--socket", a.a_socket,
	    "--timeout", "20s", NULL };
	uint64_t t0, took;
	unsigned p = itest_free_port();
	pid_t app;

	(void)state;
	snprintf(port, sizeof(port), "%u", p);
	app_argv[0] = (char *)(uintptr_t)itest_bin("tests/servers/demo_app");
	app = itest_spawn(app_argv, "/dev/null");
	assert_true(app > 0);
	snprintf(extra, sizeof(extra),
	    "app: {port: %u}\n"
	    "drain: {delay: %ums, max_wait: %ums}\n"
	    "checks:\n"
	    "  - name: app\n"
	    "    http: {url: \"http://127.0.0.1:%u/healthz\"}\n"
	    "    interval: 200ms\n"
	    "    timeout: 150ms\n", p, DELAY_MS, MAX_WAIT_MS, p);
	assert_int_equal(itest_agent_start(&a, extra, NULL), 0);
	assert_true(itest_wait_code(&a, "/ready", 200, 5000) >= 0);
	/* several check runs on the kept-alive connection */
	itest_sleep_ms(600);

	pre_argv[0] = (char *)(uintptr_t)itest_bin("nodowntime");
	pre_argv[3] = a.a_socket;
	t0 = itest_now_ms();
	assert_int_equal(itest_run(pre_argv, &out, 15000), 0);
	took = itest_now_ms() - t0;
	fprintf(stderr, "prestop took %llu ms (delay %u, max_wait %u)\n",
	    (unsigned long long)took, DELAY_MS, MAX_WAIT_MS);
	if (took >= DELAY_MS + 1500)
		itest_agent_dump_log(&a);
	/* the delay plus a few polls, far from delay + max_wait */
	assert_in_range(took, DELAY_MS, DELAY_MS + 1500);
	free(out);
	itest_agent_stop(&a);
	itest_kill(app);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_check_connection_does_not_hold_drain),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("drain_selfconn", tests, NULL,
	    NULL);
}
