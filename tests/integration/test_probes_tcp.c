/*
 * test_probes_tcp.c - TCP checks against a listener the test opens and
 * closes itself: /ready follows it down and up on time; a name that does
 * not resolve and a port nobody listens on fail with their reason; each
 * run opens a fresh connection (nothing is kept open between runs).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"
#include "test_probes.h"

static struct itest_agent agent;

static int
listen_on(unsigned port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	/* non-blocking: drain_accepts() must not wait */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(fd != -1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	/* room for every run until drain_accepts(), however slow the host */
	assert_int_equal(listen(fd, 1024), 0);
	return fd;
}

/* accept and close whatever is queued; how many there were */
static int
drain_accepts(int fd)
{
	int c, n = 0;

	while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) !=
	    -1) {
		close(c);
		n++;
	}
	return n;
}

/*
 * Behaviour: a TCP check follows a listener going away and coming back,
 * within fall x interval + timeout and rise x interval.
 */
static void
test_tcp_up_down(void **state)
{
	char yaml[1024], out[256];
	unsigned port = itest_free_port();
	const unsigned iv = 250, to = 200, fall = 2, rise = 1;
	int fd;

	(void)state;
	fd = listen_on(port);
	snprintf(yaml, sizeof(yaml),
	    "checks:\n"
	    "  - name: db\n"
	    "    tcp: {host: 127.0.0.1, port: %u}\n"
	    "    interval: %ums\n    timeout: %ums\n"
	    "    fall: %u\n    rise: %u\n"
	    "  - name: byname\n"
	    "    tcp: {host: localhost, port: %u}\n"
	    "    interval: %ums\n    timeout: %ums\n"
	    "    critical: false\n"
	    "  - name: nodns\n"
	    "    tcp: {host: no-such-host.invalid, port: 5432}\n"
	    "    interval: 1s\n    timeout: 800ms\n    fall: 1\n"
	    "    critical: false\n",
	    port, iv, to, fall, rise, port, iv, to);
	/*
	 * byname is not critical: /ready must follow db alone. Critical, it
	 * (fall 3) could fail /ready first whenever its runs fall just after
	 * the close and db's just before, with db still passing.
	 */
	tp_agent_start(&agent, yaml, NULL);
	assert_true(itest_wait_code(&agent, "/ready", 200, 3000) >= 0);
	assert_true(tp_wait_state(&agent, "byname", "passing", 2000) >= 0);
	/* "Could not resolve host: no-such-host.invalid", or on a host
	 * whose DNS server is slow "Resolving timed out after 800 ms" */
	tp_wait_failing(&agent, "nodns", 3000, out, sizeof(out));
	assert_non_null(strcasestr(out, "resolv"));

	itest_sleep_ms(1000);
	/* every run was a connection of its own, and none stayed open:
	 * the backlog holds only what we did not accept yet */
	assert_true(drain_accepts(fd) >= 4);

	close(fd);
	tp_wait_ready(&agent, 503, fall * iv * 11 / 10 + to, "down");
	tp_assert_output(&agent, "db", "Connection refused", out,
	    sizeof(out));
	/* localhost is ::1 and 127.0.0.1: both refused, it fails too */
	tp_wait_failing(&agent, "byname", 2000, out, sizeof(out));
	assert_non_null(strstr(out, "Connection refused"));

	fd = listen_on(port);
	tp_wait_ready(&agent, 200, rise * iv * 11 / 10, "up");
	itest_agent_stop(&agent);
	close(fd);
}

/*
 * Behaviour: an address that never answers (192.0.2.1, TEST-NET-1, is
 * never routed) fails within the timeout: depending on the network the
 * connect hangs until the timeout or is refused at once.
 */
static void
test_tcp_unroutable_times_out(void **state)
{
	char yaml[512], out[256];
	long t;

	(void)state;
	snprintf(yaml, sizeof(yaml),
	    "checks:\n"
	    "  - name: far\n"
	    "    tcp: {host: 192.0.2.1, port: 5432}\n"
	    "    interval: 500ms\n    timeout: 300ms\n    fall: 1\n");
	tp_agent_start(&agent, yaml, NULL);
	t = tp_wait_failing(&agent, "far", 500 + 300 + 1000, out, sizeof(out));
	fprintf(stderr, "# far failing after %ld ms: %s\n", t, out);
	assert_true(out[0] != '\0');
	itest_agent_stop(&agent);
}

/*
 * Behaviour: initial_delay holds the first run back: the check stays
 * unknown (and /ready 503) until then, and passes right after.
 */
static void
test_initial_delay(void **state)
{
	char yaml[512], st[32];
	unsigned port = itest_free_port();
	uint64_t t0, t1;
	long t;
	int fd;

	(void)state;
	fd = listen_on(port);
	snprintf(yaml, sizeof(yaml),
	    "checks:\n"
	    "  - name: late\n"
	    "    tcp: {host: 127.0.0.1, port: %u}\n"
	    "    interval: 200ms\n    timeout: 100ms\n"
	    "    initial_delay: 1s\n", port);
	t0 = itest_now_ms();
	tp_agent_start(&agent, yaml, NULL);
	t1 = itest_now_ms();	/* up: the delay started between t0 and t1 */
	itest_sleep_ms(500);
	assert_int_equal(tp_check_field(&agent, "/ready", "late", "state", st,
	    sizeof(st)), 0);
	assert_string_equal(st, "unknown");
	assert_int_equal(itest_get_code(&agent, "/ready"), 503);
	t = tp_wait_state(&agent, "late", "passing", 3000);
	fprintf(stderr, "# passing %llu ms after start (initial_delay 1s, "
	    "interval 200ms)\n", (unsigned long long)(itest_now_ms() - t0));
	assert_true(t >= 0);
	assert_true(itest_now_ms() - t0 >= 1000);
	assert_true(itest_now_ms() - t1 <= 1000 + 200 + 700);
	itest_agent_stop(&agent);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TP_AGENT_TEST(test_tcp_up_down, &agent),
		TP_AGENT_TEST(test_tcp_unroutable_times_out, &agent),
		TP_AGENT_TEST(test_initial_delay, &agent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
