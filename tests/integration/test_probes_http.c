/*
 * test_probes_http.c - HTTP checks against a real local server
 * (tests/servers/probe_http.py) and a real agent:
 *   - /ready follows the dependency down within fall x interval + timeout
 *     and back up within rise x interval, and not before the thresholds
 *   - connections are kept alive between runs
 *   - headers (a ${VAR} secret that never reaches the log), expect.status,
 *     body_contains, redirects off by default, HEAD, unix_socket
 *   - misbehaving servers: slow drip, endless and 1 GB bodies, garbage,
 *     HTTP/0.9, a hang, refused, DNS failure, TLS to a plain server: each
 *     check fails, with a clear reason, on time; the agent's RSS stays
 *     bounded
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
#include "test_probes.h"

static struct itest_agent agent;
static pid_t srv = -1;
static unsigned srv_port;
static char srv_base[64];
static pid_t usrv = -1;		/* the unix-socket one */

static int
setup(void **state)
{
	(void)state;
	srv_port = itest_free_port();
	snprintf(srv_base, sizeof(srv_base), "http://127.0.0.1:%u", srv_port);
	if ((srv = tp_http_server(srv_port)) == -1)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	itest_kill(srv);
	srv = -1;
	return 0;
}

static void
admin(const char *what)
{
	struct itest_resp r;
	char url[128];

	snprintf(url, sizeof(url), "%s/admin/%s", srv_base, what);
	assert_int_equal(itest_http("POST", url, NULL, &r), 0);
	assert_int_equal(r.r_code, 200);
	itest_resp_free(&r);
}

/*
 * Behaviour: /ready goes 503 within fall x interval (+10 % jitter) +
 * timeout of the dependency failing, not before (fall-1) intervals, and
 * back to 200 within rise x interval.
 */
static void
test_ready_follows_dependency(void **state)
{
	char yaml[1024], out[256];
	const unsigned iv = 300, to = 200, fall = 3, rise = 2;
	long t_down, t_up;

	(void)state;
	snprintf(yaml, sizeof(yaml),
	    "checks:\n"
	    "  - name: app\n"
	    "    http: {url: \"%s/health\"}\n"
	    "    interval: %ums\n    timeout: %ums\n"
	    "    fall: %u\n    rise: %u\n", srv_base, iv, to, fall, rise);
	admin("up");
	tp_agent_start(&agent, yaml, NULL);
	/* first result within the first-run spread (<= interval) */
	assert_true(itest_wait_code(&agent, "/ready", 200,
	    rise * iv * 11 / 10 + iv + 1000) >= 0);

	admin("down");
	t_down = tp_wait_ready(&agent, 503, fall * iv * 11 / 10 + to, "down");
	assert_true(t_down >= (long)((fall - 1) * iv * 9 / 10) - 50);
	assert_int_equal(tp_check_field(&agent, "/ready", "app", "output", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "status 503 not in 200-399");

	admin("up");
	t_up = tp_wait_ready(&agent, 200, rise * iv * 11 / 10, "up");
	assert_true(t_up >= (long)((rise - 1) * iv * 9 / 10) - 50);

	/* the server going away entirely is a failure too */
	itest_kill(srv);
	srv = -1;
	tp_wait_ready(&agent, 503, fall * iv * 11 / 10 + to, "gone");
	tp_assert_output(&agent, "app", "Connection refused", out,
	    sizeof(out));
	itest_agent_stop(&agent);
}

static unsigned long
stat_value(const char *what)
{
	struct itest_resp r;
	char url[128], *p;
	unsigned long v = 0;

	snprintf(url, sizeof(url), "%s/stats", srv_base);
	assert_int_equal(itest_http("GET", url, NULL, &r), 0);
	if ((p = strstr(r.r_body, what)) != NULL)
		v = strtoul(p + strlen(what) + 1, NULL, 10);
	itest_resp_free(&r);
	return v;
}

/* Behaviour: one connection serves many runs (keep-alive). */
static void
test_keepalive_reuses_connection(void **state)
{
	char yaml[512];
	unsigned long c0, r0, c1, r1;

	(void)state;
	c0 = stat_value("connections");
	r0 = stat_value("requests");
	snprintf(yaml, sizeof(yaml),
	    "checks:\n"
	    "  - name: ka\n"
	    "    http: {url: \"%s/ok\"}\n"
	    "    interval: 200ms\n    timeout: 190ms\n", srv_base);
	tp_agent_start(&agent, yaml, NULL);
	itest_sleep_ms(2000);
	itest_agent_stop(&agent);
	/*
	 * Between the two counts: our r0 and final /stats requests, each on
	 * a connection of its own (c0's was counted before it answered).
	 * One reconnect is allowed (a run that timed out on a loaded host
	 * closes its connection); without keep-alive it would be one
	 * connection per run.
	 */
	c1 = stat_value("connections") - c0 - 2;
	r1 = stat_value("requests") - r0 - 2;
	fprintf(stderr, "# %lu requests over %lu connections\n", r1, c1);
	assert_true(r1 >= 6);
	assert_true(c1 >= 1 && c1 <= 2);
}

/*
 * Behaviour: headers are sent, a ${VAR} secret is used but never logged;
 * expect.status, body_contains, redirects (off by default, on when asked),
 * HEAD, max_body and unix_socket.
 */
static void
test_request_options(void **state)
{
	char yaml[4096], out[256], sock[300], arg[320], log[64 * 1024];
	char *env[] = { (char *)(uintptr_t)"PROBE_TOKEN=s3cr3t-t0ken", NULL };
	FILE *f;
	size_t n;

	(void)state;
	snprintf(sock, sizeof(sock), "/tmp/ndt-probe-http-%d.sock",
	    (int)getpid());
	snprintf(arg, sizeof(arg), "unix:%s", sock);
	usrv = tp_server("probe_http.py", arg, NULL, 0, sock, "/dev/null");
	assert_true(usrv != -1);
	snprintf(yaml, sizeof(yaml),
	    "checks:\n"
	    "  - name: hdr\n"
	    "    http:\n"
	    "      url: \"%s/echo-header/X-Token\"\n"
	    "      headers: {X-Token: \"${PROBE_TOKEN}\"}\n"
	    "      expect: {body_contains: \"t0ken\"}\n"
	    "    interval: 200ms\n    timeout: 150ms\n    fall: 1\n"
	    "  - name: want200\n"
	    "    http: {url: \"%s/status/204\", expect: {status: [200]}}\n"
	    "    interval: 200ms\n    timeout: 150ms\n    fall: 1\n"
	    "  - name: ranges\n"
	    "    http: {url: \"%s/status/418\", "
	    "expect: {status: [\"200-299\", 418]}}\n"
	    "    interval: 200ms\n    timeout: 150ms\n    fall: 1\n"
	    "  - name: body\n"
	    "    http: {url: \"%s/body/hello\", expect: {body_contains: ok}}\n"
	    "    interval: 200ms\n    timeout: 150ms\n    fall: 1\n"
	    "  - name: noredirect\n"
	    "    http: {url: \"%s/redirect\", expect: {status: [200]}}\n"
	    "    interval: 200ms\n    timeout: 150ms\n    fall: 1\n"
	    "  - name: redirect\n"
	    "    http: {url: \"%s/redirect\", follow_redirects: true, "
	    "expect: {status: [200], body_contains: ok}}\n"
	    "    interval: 200ms\n    timeout: 150ms\n    fall: 1\n"
	    "  - name: head\n"
	    "    http: {url: \"%s/ok\", method: HEAD}\n"
	    "    interval: 200ms\n    timeout: 150ms\n    fall: 1\n"
	    "  - name: post\n"
	    "    http: {url: \"%s/ok\", method: POST, body: \"{}\"}\n"
	    "    interval: 200ms\n    timeout: 150ms\n    fall: 1\n"
	    "  - name: small\n"
	    "    http: {url: \"%s/body/0123456789abcdef\", max_body: 8}\n"
	    "    interval: 200ms\n    timeout: 150ms\n    fall: 1\n"
	    "  - name: unix\n"
	    "    http: {url: \"http://localhost/ok\", unix_socket: \"%s\"}\n"
	    "    interval: 200ms\n    timeout: 150ms\n    fall: 1\n",
	    srv_base, srv_base, srv_base, srv_base, srv_base, srv_base,
	    srv_base, srv_base, srv_base, sock);
	tp_agent_start(&agent, yaml, env);
	assert_true(tp_wait_state(&agent, "hdr", "passing", 3000) >= 0);
	assert_true(tp_wait_state(&agent, "ranges", "passing", 3000) >= 0);
	assert_true(tp_wait_state(&agent, "redirect", "passing", 3000) >= 0);
	assert_true(tp_wait_state(&agent, "head", "passing", 3000) >= 0);
	assert_true(tp_wait_state(&agent, "post", "passing", 3000) >= 0);
	assert_true(tp_wait_state(&agent, "unix", "passing", 3000) >= 0);
	tp_wait_failing(&agent, "want200", 3000, out, sizeof(out));
	assert_string_equal(out, "status 204 not in 200");
	tp_wait_failing(&agent, "body", 3000, out, sizeof(out));
	assert_string_equal(out, "body does not contain \"ok\"");
	tp_wait_failing(&agent, "noredirect", 3000, out, sizeof(out));
	assert_string_equal(out, "status 302 not in 200");
	tp_wait_failing(&agent, "small", 3000, out, sizeof(out));
	assert_string_equal(out, "body larger than 8 bytes");
	itest_agent_stop(&agent);

	/* the secret was sent (hdr passed) but is nowhere in the log */
	tp_agent_start(&agent, yaml, env);	/* re-run to read a log */
	itest_sleep_ms(600);
	log[0] = '\0';
	if ((f = fopen(agent.a_log, "r")) != NULL) {
		n = fread(log, 1, sizeof(log) - 1, f);
		log[n] = '\0';
		fclose(f);
	}
	assert_non_null(strstr(log, "hdr"));
	assert_null(strstr(log, "s3cr3t"));
	itest_agent_stop(&agent);
	itest_kill(usrv);
	usrv = -1;
	unlink(sock);
}

struct bad {
	const char	*name;
	const char	*path;		/* on srv, or a full URL */
	const char	*want;		/* substring of the output */
};

/*
 * Behaviour: every misbehaving dependency makes its check fail with a
 * clear reason, within one interval + timeout of the first run, and the
 * agent's memory stays bounded while they go on misbehaving.
 */
static void
test_misbehaving_servers(void **state)
{
	static const struct bad bads[] = {
		{ "drip", "/drip", "timed out" },
		{ "hang", "/hang", "timed out" },
		{ "endless", "/endless", "body larger than 65536 bytes" },
		{ "big", "/big", "body larger than 65536 bytes" },
		{ "garbage", "/garbage", "" },
		{ "http09", "/http09", "HTTP/0.9" },
		{ "status", "/status/503", "status 503 not in 200-399" },
		{ "refused", "http://127.0.0.1:1/", "Connection refused" },
		{ "dns", "http://no-such-host.invalid/", "resolv" },
		{ "tls", "https", "SSL" },	/* TLS to the plain server */
	};
	char yaml[8192], url[256], out[256];
	size_t i, off = 0;
	unsigned long rss0, rss1;
	uint64_t t0;

	(void)state;
	off += (size_t)snprintf(yaml + off, sizeof(yaml) - off, "checks:\n");
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		if (strcmp(bads[i].path, "https") == 0)
			snprintf(url, sizeof(url), "https://127.0.0.1:%u/ok",
			    srv_port);
		else if (bads[i].path[0] == '/')
			snprintf(url, sizeof(url), "%s%s", srv_base,
			    bads[i].path);
		else
			snprintf(url, sizeof(url), "%s", bads[i].path);
		off += (size_t)snprintf(yaml + off, sizeof(yaml) - off,
		    "  - name: %s\n"
		    "    http: {url: \"%s\"}\n"
		    "    interval: 1500ms\n    timeout: 1s\n    fall: 1\n",
		    bads[i].name, url);
	}
	tp_agent_start(&agent, yaml, tp_rss_env());
	t0 = itest_now_ms();
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		/* first run within 1 s, + timeout 1 s, + slack */
		tp_wait_failing(&agent, bads[i].name,
		    (unsigned)(3500 - (itest_now_ms() - t0)), out, sizeof(out));
		fprintf(stderr, "# %-8s failing after %5llu ms: %s\n",
		    bads[i].name, (unsigned long long)(itest_now_ms() - t0),
		    out);
		assert_true(out[0] != '\0');
		if (strstr(out, bads[i].want) == NULL &&
		    strcasestr(out, bads[i].want) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", bads[i].name, out,
			    bads[i].want);
	}
	rss0 = tp_rss_kb(agent.a_pid);
	itest_sleep_ms(4500);	/* three more rounds of abuse */
	rss1 = tp_rss_kb(agent.a_pid);
	fprintf(stderr, "# agent RSS %lu KiB -> %lu KiB\n", rss0, rss1);
	assert_true(rss1 > 0);
	assert_true(rss1 < 64 * 1024);
	assert_true(rss1 < rss0 + 4 * 1024);
	assert_int_equal(itest_get_code(&agent, "/healthz"), 200);
	itest_agent_stop(&agent);
}

/* a failed assertion jumps out of the test: stop its agent here */
static int
stop(void **state)
{
	(void)state;
	itest_agent_stop(&agent);
	if (usrv != -1) {
		itest_kill(usrv);
		usrv = -1;
	}
	if (srv == -1)
		srv = tp_http_server(srv_port);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_ready_follows_dependency, stop),
		cmocka_unit_test_teardown(test_keepalive_reuses_connection,
		    stop),
		cmocka_unit_test_teardown(test_request_options, stop),
		cmocka_unit_test_teardown(test_misbehaving_servers, stop),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
