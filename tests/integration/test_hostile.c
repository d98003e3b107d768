/*
 * test_hostile.c - hostile clients against a real agent: idle connections,
 * slowloris heads, a 1 MB header, pipelined garbage, half-closed sockets, a
 * flood from 1000 connections, abuse of the control socket. Each must leave
 * the agent running, /live answering a fresh client fast, its memory and
 * its file descriptors bounded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

#define NIDLE		1000
/* the goal is 100 ms; a sanitizer build runs several times slower, and
 * there the point is memory safety under the same abuse */
#define FRESH_MAX_MS	(100.0 * itest_slow_factor())
/* how long a raw client waits for an answer or a close before it gives up
 * and judges what it has (the agent's request_timeout here is 1 s) */
#define IO_MAX_MS	(5000 * itest_slow_factor())

static struct itest_agent agent;

static int
setup(void **state)
{
	struct rlimit rl;

	(void)state;
	/* the test itself holds ~1000 sockets */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return itest_agent_start(&agent,
	    "server: {max_connections: 2048, request_timeout: 1s}\n", NULL);
}

static int
teardown(void **state)
{
	(void)state;
	itest_agent_stop(&agent);
	return 0;
}

static long
proc_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = strtol(line + strlen(field) + 1, NULL, 10);
	fclose(f);
	return v;
}

static int
proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* a fresh client's GET /live: 200, and how long it took (ms) */
static double
fresh_live_ms(void)
{
	struct itest_resp r;
	char url[128];
	double ms;

	snprintf(url, sizeof(url), "%s/live", agent.a_base);
	assert_int_equal(itest_http("GET", url, NULL, &r), 0);
	assert_int_equal(r.r_code, 200);
	ms = r.r_secs * 1000.0;
	itest_resp_free(&r);
	return ms;
}

/* wait until the agent's fd count is back near base */
static void
assert_fds_return(int base, unsigned timeout_ms)
{
	uint64_t t0 = itest_now_ms();
	int n;

	while ((n = proc_fds(agent.a_pid)) > base + 4 &&
	    itest_now_ms() - t0 < timeout_ms)
		itest_sleep_ms(50);
	if (n > base + 4)
		fprintf(stderr, "fds: %d, base %d\n", n, base);
	assert_true(n <= base + 4);
}

/* 1000 connections that send nothing: /live still answers at once, and
 * request_timeout closes them all */
static void
test_idle_connections(void **state)
{
	int fds[NIDLE], base, i;
	long rss0, rss1;
	double ms;

	(void)state;
	base = proc_fds(agent.a_pid);
	rss0 = proc_kb(agent.a_pid, "VmRSS:");
	for (i = 0; i < NIDLE; i++) {
		fds[i] = itest_tcp_connect(agent.a_port, 0);
		assert_true(fds[i] != -1);
	}
	itest_sleep_ms(200);
	ms = fresh_live_ms();
	fprintf(stderr, "1000 idle connections: fresh /live in %.2f ms\n", ms);
	assert_true(ms < FRESH_MAX_MS);
	rss1 = proc_kb(agent.a_pid, "VmRSS:");
	fprintf(stderr, "VmRSS %ld -> %ld kB\n", rss0, rss1);
	assert_true(rss1 - rss0 < 32 * 1024);
	/* request_timeout 1s: the agent closes them */
	assert_fds_return(base, 4000);
	for (i = 0; i < NIDLE; i++)
		close(fds[i]);
}

/* slowloris: heads dripped a byte at a time are cut after request_timeout
 * although bytes keep coming */
static void
test_slowloris(void **state)
{
	enum { N = 100 };
	int fds[N], closed[N], nclosed = 0, i;
	uint64_t t0;
	char c;

	(void)state;
	for (i = 0; i < N; i++) {
		fds[i] = itest_tcp_connect(agent.a_port, 0);
		assert_true(fds[i] != -1);
		closed[i] = 0;
		assert_int_equal(itest_send_all(fds[i],
		    "GET /live HTTP/1.1\r\nX-a: ", 25), 0);
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
	}
	t0 = itest_now_ms();
	while (nclosed < N && itest_now_ms() - t0 < 5000) {
		for (i = 0; i < N; i++) {
			if (closed[i])
				continue;
			if (write(fds[i], "a", 1) == -1 ||
			    read(fds[i], &c, 1) == 0) {
				closed[i] = 1;
				nclosed++;
			}
		}
		itest_sleep_ms(100);
	}
	fprintf(stderr, "slowloris: %d of %d cut after %llu ms\n", nclosed, N,
	    (unsigned long long)(itest_now_ms() - t0));
	assert_int_equal(nclosed, N);
	assert_in_range(itest_now_ms() - t0, 900, 3000);
	assert_true(fresh_live_ms() < FRESH_MAX_MS);
	for (i = 0; i < N; i++)
		close(fds[i]);
}

/* 1 MB of header: refused with 431 (or closed), never buffered */
static void
test_huge_header(void **state)
{
	size_t len = 1024 * 1024;
	char *big, resp[128];
	int fd;

	(void)state;
	big = malloc(len);
	assert_non_null(big);
	memcpy(big, "GET /live HTTP/1.1\r\nX-Big: ", 27);
	memset(big + 27, 'x', len - 27);
	assert_true((fd = itest_tcp_connect(agent.a_port, IO_MAX_MS)) != -1);
	/* the agent may refuse and close before it has all: not an error */
	(void)itest_send_all(fd, big, len);
	free(big);
	if (itest_read_until_eof(fd, resp, sizeof(resp), IO_MAX_MS) > 0)
		assert_non_null(strstr(resp, " 431 "));
	close(fd);
	assert_true(fresh_live_ms() < FRESH_MAX_MS);
	assert_true(proc_kb(agent.a_pid, "VmRSS:") < 64 * 1024);
}

/* a good request pipelined with garbage: the good one is answered, the
 * garbage gets a 400 or a close */
static void
test_pipelined_garbage(void **state)
{
	static const char req[] = "GET /live HTTP/1.1\r\nHost: x\r\n\r\n"
	    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"
	    "GET /ready HTTP/1.1\r\n\r\n";
	char buf[4096];
	int fd;

	(void)state;
	assert_true((fd = itest_tcp_connect(agent.a_port, 0)) != -1);
	assert_int_equal(itest_send_all(fd, req, sizeof(req) - 1), 0);
	itest_read_until_eof(fd, buf, sizeof(buf), IO_MAX_MS);
	close(fd);
	assert_memory_equal(buf, "HTTP/1.1 200", 12);
	assert_true(strstr(buf + 12, "HTTP/1.1 200") == NULL ||
	    strstr(buf, " 400 ") != NULL);
	assert_true(fresh_live_ms() < FRESH_MAX_MS);
}

/* clients that half-close (or vanish) mid-request: no fd is kept */
static void
test_half_closed(void **state)
{
	enum { N = 200 };
	int fds[N], base, i;

	(void)state;
	base = proc_fds(agent.a_pid);
	for (i = 0; i < N; i++) {
		fds[i] = itest_tcp_connect(agent.a_port, 0);
		assert_true(fds[i] != -1);
		if (i % 2)
			assert_int_equal(itest_send_all(fds[i],
			    "GET /live HTTP/1.1\r\n", 20), 0);
		shutdown(fds[i], SHUT_WR);
	}
	itest_sleep_ms(100);
	assert_true(fresh_live_ms() < FRESH_MAX_MS);
	assert_fds_return(base, 4000);
	for (i = 0; i < N; i++)
		close(fds[i]);
}

/* a flood of /ready from 1000 keep-alive connections (wrk): a fresh
 * client's /live still answers fast */
static void
test_flood(void **state)
{
	char *wrk_argv[] = { "/usr/bin/wrk", "-t1", "-c1000", "-d4s",
	    "--timeout", "5s", NULL, NULL };
	char url[128];
	double ms, worst = 0, second = 0;
	pid_t wrk;
	int i, st;

	(void)state;
	if (access(wrk_argv[0], X_OK) != 0) {
		fprintf(stderr, "wrk not installed: flood skipped\n");
		skip();
	}
	snprintf(url, sizeof(url), "%s/ready", agent.a_base);
	wrk_argv[6] = url;
	wrk = itest_spawn(wrk_argv, "/dev/null");
	assert_true(wrk > 0);
	itest_sleep_ms(1000);
	for (i = 0; i < 20; i++) {
		ms = fresh_live_ms();
		if (ms > worst) {
			second = worst;
			worst = ms;
		} else if (ms > second)
			second = ms;
		itest_sleep_ms(100);
	}
	fprintf(stderr, "flood of 1000 connections: fresh /live of 20: "
	    "worst %.2f ms, second worst %.2f ms\n", worst, second);
	/* wrk and the agent saturate both cores: one stall of this test
	 * process itself may show as one slow sample, not two */
	assert_true(second < FRESH_MAX_MS);
	assert_true(worst < 5 * FRESH_MAX_MS);
	assert_int_equal(waitpid(wrk, &st, 0), wrk);
	assert_int_equal(kill(agent.a_pid, 0), 0);
	assert_true(proc_kb(agent.a_pid, "VmRSS:") < 64 * 1024);
}

/* 1000 concurrent control clients and oversized lines: the agent answers
 * the ones it can, refuses the rest, and a normal status works after */
static void
test_control_abuse(void **state)
{
	enum { N = 1000 };
	static char big[64 * 1024];
	char *argv[] = { NULL, "status", "--json", "--socket", agent.a_socket,
	    NULL };
	int fds[N], base, i, n = 0;
	char *out;

	(void)state;
	base = proc_fds(agent.a_pid);
	for (i = 0; i < N; i++) {
		/* a refusal is counted; a path that cannot work is a failure */
		if ((fds[i] = itest_unix_connect(agent.a_socket)) != -1)
			n++;
		else if (errno == ENAMETOOLONG)
			fail_msg("socket path too long: %s", agent.a_socket);
	}
	fprintf(stderr, "control: %d of %d connects accepted\n", n, N);
	memset(big, 'A', sizeof(big));
	for (i = 0; i < N; i += 100)
		if (fds[i] != -1)
			(void)write(fds[i], big, sizeof(big));
	assert_true(fresh_live_ms() < FRESH_MAX_MS);
	for (i = 0; i < N; i++)
		if (fds[i] != -1)
			close(fds[i]);
	assert_fds_return(base, 7000);
	argv[0] = (char *)(uintptr_t)itest_bin("nodowntime");
	assert_int_equal(itest_run(argv, &out, 5000), 0);
	assert_non_null(strstr(out, "\"phase\":\"serving\""));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_connections),
		cmocka_unit_test(test_slowloris),
		cmocka_unit_test(test_huge_header),
		cmocka_unit_test(test_pipelined_garbage),
		cmocka_unit_test(test_half_closed),
		cmocka_unit_test(test_flood),
		cmocka_unit_test(test_control_abuse),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("hostile", tests, setup, teardown);
}
