/*
 * test_probes_grpc.c - gRPC health checks against a real grpcio health
 * server (tests/servers/probe_grpc.py, Debian's python3-grpcio) over h2c:
 * SERVING passes; NOT_SERVING (flipped by a signal) fails and /ready
 * follows within fall x interval + timeout, and back; an unknown service
 * is NOT_FOUND; a status-less answer is "missing"; a server that dies, and
 * one that closes mid-stream, fail with their reason.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"
#include "test_probes.h"

static struct itest_agent agent;
static pid_t srv = -1, cut = -1, unk = -1;
static unsigned port, cut_port, unk_port;

static pid_t
grpc_server(unsigned p, const char *mode)
{
	char a[16];

	snprintf(a, sizeof(a), "%u", p);
	return tp_server("probe_grpc.py", a, mode, p, NULL, "/dev/null");
}

static int
setup(void **state)
{
	(void)state;
	if (access(TP_PYTHON, X_OK) != 0 ||
	    itest_run((char *[]){ (char *)(uintptr_t)TP_PYTHON,
	    (char *)(uintptr_t)"-c", (char *)(uintptr_t)"import grpc", NULL },
	    NULL, 10000) != 0) {
		fprintf(stderr, "# python3-grpcio is missing: "
		    "apt-get install python3-grpcio\n");
		return -1;
	}
	port = itest_free_port();
	cut_port = itest_free_port();
	unk_port = itest_free_port();
	if ((srv = grpc_server(port, NULL)) == -1 ||
	    (cut = grpc_server(cut_port, "cut")) == -1 ||
	    (unk = grpc_server(unk_port, "unknown")) == -1)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	itest_kill(srv);
	itest_kill(cut);
	itest_kill(unk);
	return 0;
}

/*
 * Behaviour: SERVING passes, NOT_SERVING fails within fall x interval +
 * timeout and SERVING again passes within rise x interval; the server
 * killed fails with curl's reason.
 */
static void
test_grpc_serving_flip(void **state)
{
	char yaml[1024], out[256];
	const unsigned iv = 300, to = 250, fall = 2, rise = 1;

	(void)state;
	snprintf(yaml, sizeof(yaml),
	    "checks:\n"
	    "  - name: inv\n"
	    "    grpc: {address: \"127.0.0.1:%u\", service: app, "
	    "authority: inventory.internal}\n"
	    "    interval: %ums\n    timeout: %ums\n"
	    "    fall: %u\n    rise: %u\n", port, iv, to, fall, rise);
	tp_agent_start(&agent, yaml, NULL);
	assert_true(itest_wait_code(&agent, "/ready", 200, 3000) >= 0);

	kill(srv, SIGUSR1);		/* NOT_SERVING */
	tp_wait_ready(&agent, 503, fall * iv * 11 / 10 + to, "NOT_SERVING");
	tp_check_field(&agent, "/ready", "inv", "output", out, sizeof(out));
	assert_string_equal(out, "service 'app': status NOT_SERVING");

	kill(srv, SIGUSR2);		/* SERVING */
	tp_wait_ready(&agent, 200, rise * iv * 11 / 10, "SERVING");

	itest_kill(srv);		/* the server dies */
	srv = -1;
	tp_wait_ready(&agent, 503, fall * iv * 11 / 10 + to, "killed");
	tp_assert_output(&agent, "inv", "Connection refused", out,
	    sizeof(out));
	fprintf(stderr, "# killed: %s\n", out);
	itest_agent_stop(&agent);
	assert_true((srv = grpc_server(port, NULL)) != -1);
}

/*
 * Behaviour: the overall server health ("") passes; an unknown service is
 * NOT_FOUND; an answer without a status field is "missing"; a server that
 * closes the stream half-way fails; nobody listening fails.
 */
static void
test_grpc_bad_answers(void **state)
{
	char yaml[2048], out[256];
	unsigned dead = itest_free_port();

	(void)state;
	snprintf(yaml, sizeof(yaml),
	    "checks:\n"
	    "  - name: all\n"
	    "    grpc: {address: \"127.0.0.1:%u\"}\n"
	    "    interval: 600ms\n    timeout: 500ms\n    fall: 3\n"
	    "  - name: nosvc\n"
	    "    grpc: {address: \"127.0.0.1:%u\", service: billing}\n"
	    "    interval: 600ms\n    timeout: 500ms\n    fall: 1\n"
	    "  - name: nostatus\n"
	    "    grpc: {address: \"127.0.0.1:%u\"}\n"
	    "    interval: 600ms\n    timeout: 500ms\n    fall: 1\n"
	    "  - name: cut\n"
	    "    grpc: {address: \"127.0.0.1:%u\"}\n"
	    "    interval: 600ms\n    timeout: 500ms\n    fall: 1\n"
	    "  - name: dead\n"
	    "    grpc: {address: \"127.0.0.1:%u\"}\n"
	    "    interval: 600ms\n    timeout: 500ms\n    fall: 1\n",
	    port, port, unk_port, cut_port, dead);
	tp_agent_start(&agent, yaml, NULL);
	assert_true(tp_wait_state(&agent, "all", "passing", 3000) >= 0);
	tp_wait_failing(&agent, "nosvc", 3000, out, sizeof(out));
	assert_string_equal(out,
	    "service 'billing': grpc-status 5 NOT_FOUND: unknown service");
	tp_wait_failing(&agent, "nostatus", 3000, out, sizeof(out));
	assert_string_equal(out, "health status missing (UNKNOWN)");
	tp_wait_failing(&agent, "cut", 3000, out, sizeof(out));
	fprintf(stderr, "# cut mid-stream: %s\n", out);
	assert_true(out[0] != '\0');
	tp_wait_failing(&agent, "dead", 3000, out, sizeof(out));
	assert_non_null(strstr(out, "Connection refused"));
	/* many runs later the healthy one still passes: nothing wedged (fall
	 * 3: one answer slowed past the timeout by a busy host is not a
	 * wedge) */
	itest_sleep_ms(3000);	/* > fall x interval + timeout (2.3 s) */
	assert_true(tp_wait_state(&agent, "all", "passing", 10) >= 0);
	itest_agent_stop(&agent);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TP_AGENT_TEST(test_grpc_serving_flip, &agent),
		TP_AGENT_TEST(test_grpc_bad_answers, &agent),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
