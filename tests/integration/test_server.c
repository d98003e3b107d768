/*
 * test_server.c - the agent's HTTP endpoints, against a real
 * `nodowntime run` process: status codes, content type, JSON fields,
 * HEAD, 404/405, hostile requests and the answers to bad ones, and that it
 * keeps answering.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

/* how long a raw client waits for an answer, or for the close after it */
#define IO_MAX_MS	3000

static struct itest_agent agent;
static struct itest_agent own;		/* a fresh one, for its log */

static int
setup(void **state)
{
	(void)state;
	return itest_agent_start(&agent, NULL, NULL);
}

static int
teardown(void **state)
{
	(void)state;
	itest_agent_stop(&agent);
	return 0;
}

static void
get(const char *method, const char *path, const char *hdr,
    struct itest_resp *r)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", agent.a_base, path);
	assert_int_equal(itest_http(method, url, hdr, r), 0);
}

/* /live, /ready, /startup answer 200 with a health+json body */
static void
test_endpoints_pass_with_no_checks(void **state)
{
	static const char *const paths[] = { "/live", "/ready", "/startup" };
	static const char *const desc[] = { "\"description\":\"live\"",
	    "\"description\":\"ready\"", "\"description\":\"startup\"" };
	struct itest_resp r;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		get("GET", paths[i], NULL, &r);
		assert_int_equal(r.r_code, 200);
		assert_string_equal(r.r_ctype, "application/health+json");
		assert_string_equal(r.r_cache, "no-store");
		assert_non_null(strstr(r.r_body, "\"status\":\"pass\""));
		assert_non_null(strstr(r.r_body, desc[i]));
		assert_non_null(strstr(r.r_body,
		    "\"drain\":{\"phase\":\"serving\""));
		assert_non_null(strstr(r.r_body, "\"checks\":{}"));
		itest_resp_free(&r);
	}
}

static void
test_healthz(void **state)
{
	struct itest_resp r;

	(void)state;
	get("GET", "/healthz", NULL, &r);
	assert_int_equal(r.r_code, 200);
	assert_string_equal(r.r_body, "{\"status\":\"pass\"}\n");
	itest_resp_free(&r);
}

/* HEAD answers like GET without a body */
static void
test_head(void **state)
{
	struct itest_resp r;

	(void)state;
	get("HEAD", "/ready", NULL, &r);
	assert_int_equal(r.r_code, 200);
	assert_string_equal(r.r_ctype, "application/health+json");
	assert_int_equal(r.r_len, 0);
	itest_resp_free(&r);
}

static void
test_unknown_path_404(void **state)
{
	static const char *const paths[] = { "/", "/ready/", "/drain",
	    "/readyz", "/../etc/passwd" };
	struct itest_resp r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		get("GET", paths[i], NULL, &r);
		assert_int_equal(r.r_code, 404);
		assert_string_equal(r.r_cache, "no-store");
		itest_resp_free(&r);
	}
	/* a query string does not change the answer */
	get("GET", "/ready?verbose=1", NULL, &r);
	assert_int_equal(r.r_code, 200);
	itest_resp_free(&r);
}

/* drain is never reachable over TCP: any other method is 405 */
static void
test_other_methods_405(void **state)
{
	static const char *const methods[] = { "POST", "PUT", "DELETE",
	    "PATCH", "OPTIONS" };
	struct itest_resp r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		get(methods[i], "/ready", NULL, &r);
		assert_int_equal(r.r_code, 405);
		itest_resp_free(&r);
	}
	get("POST", "/drain", NULL, &r);
	assert_int_equal(r.r_code, 405);
	itest_resp_free(&r);
	assert_int_equal(itest_get_code(&agent, "/ready"), 200);
}

/* a 10 KB header gets a 4xx, and the agent still answers afterwards */
static void
test_oversized_header_4xx(void **state)
{
	struct itest_resp r;
	char *hdr;

	(void)state;
	hdr = malloc(10 * 1024 + 16);
	assert_non_null(hdr);
	memcpy(hdr, "X-Big: ", 7);
	memset(hdr + 7, 'a', 10 * 1024);
	hdr[7 + 10 * 1024] = '\0';
	get("GET", "/ready", hdr, &r);
	free(hdr);
	assert_in_range(r.r_code, 400, 499);
	itest_resp_free(&r);
	assert_int_equal(itest_get_code(&agent, "/live"), 200);
}

/* garbage gets a 4xx (or a close), never a crash */
static void
test_malformed_request(void **state)
{
	static const char *const reqs[] = {
		"GARBAGE\r\n\r\n",
		"GET /ready HTTP/9.9\r\n\r\n",
		"GET /ready HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
		"\x01\x02\x03\xff\xfe\r\n\r\n",
	};
	char buf[512];
	ssize_t n;
	size_t i;
	int fd;

	(void)state;
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		fd = itest_tcp_connect(agent.a_port, IO_MAX_MS);
		assert_true(fd != -1);
		assert_int_equal(itest_send_all(fd, reqs[i], strlen(reqs[i])),
		    0);
		n = read(fd, buf, sizeof(buf) - 1);	/* the first answer */
		if (n > 0) {
			buf[n] = '\0';
			assert_memory_equal(buf, "HTTP/1.", 7);
			assert_true(buf[9] == '4' || buf[9] == '5');
		}
		close(fd);
	}
	assert_int_equal(itest_get_code(&agent, "/live"), 200);
}

static int
own_setup(void **state)
{
	(void)state;
	return itest_agent_start(&own, NULL, NULL);
}

static int
own_teardown(void **state)
{
	(void)state;
	itest_agent_stop(&own);
	return 0;
}

/* the agent's log, malloc'd (64 KiB at most) */
static char *
own_log(void)
{
	char *b = calloc(1, 65536);
	FILE *f;

	assert_non_null(b);
	assert_non_null(f = fopen(own.a_log, "r"));
	(void)fread(b, 1, 65535, f);
	fclose(f);
	return b;
}

/*
 * A malformed request, an oversized header and an HTTP/3.0 request line
 * get the agent's own answers, not libmicrohttpd's HTML pages: the status,
 * application/health+json, Cache-Control: no-store, a JSON body, and one
 * short log line each, with no HTML in the log. A bad request later on a
 * kept-alive connection is libmicrohttpd's to answer (its page, see
 * docs/SECURITY.md), but its log line is short too and rate-limited.
 */
static void
test_bad_requests_answered_json_no_store(void **state)
{
	static const char malformed[] = "GET /live HTTP/1.1\r\nno colon\r\n\r\n";
	static const char v3[] = "GET /live HTTP/3.0\r\nHost: x\r\n\r\n";
	static const char pipelined[] = "GET /live HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /live HTTP/1.1\r\nno colon\r\n\r\n";
	struct {
		const char	*req;
		size_t		 len;
		const char	*status;
	} cases[3];
	char *big, buf[2048], *log, *p, *eol, want[32];
	size_t i, len = 16 * 1024;
	int fd, lines;

	(void)state;
	assert_non_null(big = malloc(len));
	memcpy(big, "GET /live HTTP/1.1\r\nX-Big: ", 27);
	memset(big + 27, 'x', len - 31);
	memcpy(big + len - 4, "\r\n\r\n", 4);
	cases[0].req = malformed;
	cases[0].len = sizeof(malformed) - 1;
	cases[0].status = "HTTP/1.1 400 ";
	cases[1].req = big;
	cases[1].len = len;
	cases[1].status = "HTTP/1.1 431 ";
	cases[2].req = v3;
	cases[2].len = sizeof(v3) - 1;
	cases[2].status = "HTTP/1.1 505 ";
	for (i = 0; i < 3; i++) {
		fd = itest_tcp_connect(own.a_port, IO_MAX_MS);
		assert_true(fd != -1);
		assert_int_equal(itest_send_all(fd, cases[i].req, cases[i].len),
		    0);
		assert_true(itest_read_until_eof(fd, buf, sizeof(buf),
		    IO_MAX_MS) > 0);
		close(fd);
		if (strncmp(buf, cases[i].status, 13) != 0)
			fail_msg("answer %zu: %s", i, buf);
		assert_non_null(strstr(buf, "\r\nContent-Type: "
		    "application/health+json\r\n"));
		assert_non_null(strstr(buf, "\r\nCache-Control: no-store\r\n"));
		assert_non_null(strstr(buf, "\r\n\r\n{\"status\":\"fail\","
		    "\"output\":\""));
	}
	free(big);
	/* the second request is libmicrohttpd's to parse */
	fd = itest_tcp_connect(own.a_port, IO_MAX_MS);
	assert_true(fd != -1);
	assert_int_equal(itest_send_all(fd, pipelined, sizeof(pipelined) - 1),
	    0);
	assert_true(itest_read_until_eof(fd, buf, sizeof(buf), IO_MAX_MS) > 0);
	close(fd);
	assert_non_null(strstr(buf, " 400 "));
	itest_sleep_ms(100);
	log = own_log();
	if (strstr(log, "<html") != NULL || strstr(log, "<HTML") != NULL)
		fail_msg("HTML in the log:\n%s", log);
	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "code=%.3s", cases[i].status + 9);
		lines = 0;
		for (p = log; (p = strstr(p, "request refused")) != NULL;
		    p = eol) {
			eol = strchr(p, '\n');
			assert_non_null(eol);
			assert_true(eol - p < 200);	/* short */
			if (memmem(p, (size_t)(eol - p), want, strlen(want)))
				lines++;
		}
		if (lines != 1)
			fail_msg("%d lines with %s:\n%s", lines, want, log);
	}
	free(log);
	assert_int_equal(itest_get_code(&own, "/live"), 200);
}

/* keep-alive: several requests on one connection */
static void
test_keepalive_pipelined(void **state)
{
	const char req[] = "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	char buf[8192];
	int fd, count = 0;
	const char *p;

	(void)state;
	assert_true((fd = itest_tcp_connect(agent.a_port, IO_MAX_MS)) != -1);
	assert_int_equal(itest_send_all(fd, req, sizeof(req) - 1), 0);
	itest_read_until_eof(fd, buf, sizeof(buf), IO_MAX_MS);
	close(fd);
	for (p = buf; (p = strstr(p, "HTTP/1.1 200")) != NULL; p++)
		count++;
	assert_int_equal(count, 2);
}

/* /metrics is Prometheus text and counts the requests served */
static void
test_metrics(void **state)
{
	struct itest_resp r;

	(void)state;
	get("GET", "/metrics", NULL, &r);
	assert_int_equal(r.r_code, 200);
	assert_non_null(strstr(r.r_ctype, "text/plain; version=0.0.4"));
	assert_non_null(strstr(r.r_body, "nodowntime_build_info{version="));
	assert_non_null(strstr(r.r_body, "nodowntime_ready 1\n"));
	assert_non_null(strstr(r.r_body,
	    "nodowntime_http_requests_total{path=\"/ready\",code=\"200\"}"));
	itest_resp_free(&r);
}

/* SIGINT exits at once with 0 */
static void
test_sigint_exits(void **state)
{
	struct itest_agent a;

	(void)state;
	assert_int_equal(itest_agent_start(&a, NULL, NULL), 0);
	assert_int_equal(itest_agent_signal(&a, SIGINT, 2000), 0);
	itest_agent_stop(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoints_pass_with_no_checks),
		cmocka_unit_test(test_healthz),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_unknown_path_404),
		cmocka_unit_test(test_other_methods_405),
		cmocka_unit_test(test_oversized_header_4xx),
		cmocka_unit_test(test_malformed_request),
		cmocka_unit_test_setup_teardown(
		    test_bad_requests_answered_json_no_store, own_setup,
		    own_teardown),
		cmocka_unit_test(test_keepalive_pipelined),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_sigint_exits),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("server", tests, setup, teardown);
}
