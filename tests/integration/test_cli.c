/*
 * test_cli.c - the command line as users and scripts see it: exit codes,
 * check-config on every shipped example, config errors with FILE:LINE:COL,
 * the config lookup order and the environment overrides, an empty config
 * file, TLS files that are not there, the timeout's default.
 */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

static int
run(char *const *env, char **out, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	char *argv[6];

	argv[0] = (char *)(uintptr_t)itest_bin("nodowntime");
	argv[1] = (char *)(uintptr_t)a1;
	argv[2] = (char *)(uintptr_t)a2;
	argv[3] = (char *)(uintptr_t)a3;
	argv[4] = (char *)(uintptr_t)a4;
	argv[5] = NULL;
	return itest_run_env(argv, env, out, 10000);
}

static int
count_lines_with(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s++;
	}
	return n;
}

static void
test_version_and_help(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(run(NULL, &out, "--version", NULL, NULL, NULL), 0);
	assert_non_null(strstr(out, "nodowntime 0."));
	free(out);
	assert_int_equal(run(NULL, &out, "--help", NULL, NULL, NULL), 0);
	assert_non_null(strstr(out, "check-config"));
	assert_non_null(strstr(out, "prestop"));
	free(out);
}

static void
test_usage_errors_exit_2(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(run(NULL, &out, "frobnicate", NULL, NULL, NULL), 2);
	assert_non_null(strstr(out, "unknown command 'frobnicate'"));
	free(out);
	assert_int_equal(run(NULL, &out, "run", "--bogus", NULL, NULL), 2);
	free(out);
	assert_int_equal(run(NULL, &out, "check-config", "-c", NULL, NULL), 2);
	free(out);
}

/* a file of the given text; path is a mkstemp template */
static void
write_file(char *path, const char *text)
{
	size_t len = strlen(text);
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_true(write(fd, text, len) == (ssize_t)len);
	close(fd);
}

/*
 * check-config, and run when run_too, on a file of text: exit 2 with the
 * error "FILE:at: error: msg..." (at: "LINE:COL").
 */
static void
expect_config_error(const char *text, const char *at, const char *msg,
    int run_too)
{
	char path[] = "/tmp/ndt-cli-XXXXXX", want[512], *out;

	write_file(path, text);
	snprintf(want, sizeof(want), "%s:%s: error: %s", path, at, msg);
	assert_int_equal(run(NULL, &out, "check-config", "-c", path, NULL), 2);
	if (strstr(out, want) == NULL)
		fail_msg("no '%s' in:\n%s", want, out);
	assert_null(strstr(out, "effective configuration"));
	free(out);
	if (run_too) {
		assert_int_equal(run(NULL, &out, "run", "-c", path, NULL), 2);
		assert_non_null(strstr(out, want));
		free(out);
	}
	unlink(path);
}

/* the whole of a small file, malloc'd */
static char *
slurp(const char *path)
{
	char *buf = calloc(1, 65536);
	FILE *f = fopen(path, "r");

	assert_non_null(buf);
	assert_non_null(f);
	assert_true(fread(buf, 1, 65535, f) > 0);
	fclose(f);
	return buf;
}

/* where the examples' TLS files are (a pod's Secret mount) */
#define EXAMPLE_TLS_DIR		"/etc/nodowntime/tls/"

/*
 * Every shipped example is valid, given the files it names: an example
 * with TLS files fails check-config until they are there (one error for
 * each), and passes when they are (a copy pointing at a directory that
 * has them).
 */
static void
test_examples_pass_check_config(void **state)
{
	char path[512], dir[] = "/tmp/ndt-cli-tls-XXXXXX", copy[600], *out;
	char *text, *p, *hit, cmd[640];
	struct dirent *de;
	FILE *f;
	DIR *d;
	int n = 0, ntls, rv;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cd %s && touch ca.pem client.pem "
	    "client-key.pem", dir);
	assert_int_equal(system(cmd), 0);
	d = opendir("config/examples");
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "config/examples/%s", de->d_name);
		text = slurp(path);
		for (ntls = 0, p = text; (p = strstr(p, EXAMPLE_TLS_DIR)) !=
		    NULL; p++)
			ntls++;
		rv = run(NULL, &out, "check-config", "-c", path, NULL);
		if (ntls > 0) {
			/* not on this machine: an error at each */
			assert_int_equal(rv, 2);
			assert_int_equal(count_lines_with(out, ": error: "),
			    ntls);
			assert_int_equal(count_lines_with(out, "cannot be "
			    "read: No such file or directory"), ntls);
			free(out);
			snprintf(copy, sizeof(copy), "%s/%s", dir, de->d_name);
			f = fopen(copy, "w");
			assert_non_null(f);
			for (p = text; (hit = strstr(p, EXAMPLE_TLS_DIR)) !=
			    NULL; p = hit + strlen(EXAMPLE_TLS_DIR))
				fprintf(f, "%.*s%s/", (int)(hit - p), p, dir);
			fputs(p, f);
			fclose(f);
			rv = run(NULL, &out, "check-config", "-c", copy, NULL);
		}
		if (rv != 0)
			fprintf(stderr, "%s:\n%s\n", path, out);
		assert_int_equal(rv, 0);
		assert_non_null(strstr(out, "drain"));
		free(out);
		free(text);
		n++;
	}
	closedir(d);
	assert_true(n >= 6);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * An empty config file (nothing, only comments, a null document) is a
 * config error naming the file, in check-config and in run, never the
 * embedded default (0.0.0.0:3000, no checks, /ready always 200).
 */
static void
test_empty_config_exits_2(void **state)
{
	static const char *const empty[] = { "", "# nodowntime\n", "---\n" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
		expect_config_error(empty[i], "1:1", "the config is empty (no "
		    "YAML document); write one (e.g. listen: 0.0.0.0:3000 and "
		    "checks: [...], see config/examples/minimal.yaml), or remove "
		    "this file (and any -c or NODOWNTIME_CONFIG naming it) to "
		    "run the embedded default", 1);
}

/* a TLS file that is not there: exit 2 at its line:col, run does not
 * start */
static void
test_tls_file_missing_exits_2(void **state)
{
	(void)state;
	expect_config_error("listen: 127.0.0.1:1\n"
	    "checks:\n"
	    "  - name: billing\n"
	    "    http:\n"
	    "      url: https://billing.internal:8443/healthz\n"
	    "      tls:\n"
	    "        ca_file: /nonexistent/ndt/ca.pem\n", "7:18", "check "
	    "'billing': http.tls.ca_file '/nonexistent/ndt/ca.pem' cannot be "
	    "read: No such file or directory", 1);
}

/* interval: 1s alone is valid, and check-config shows the timeout it
 * gets; a timeout written too long is named at its line:col */
static void
test_short_interval(void **state)
{
	char path[] = "/tmp/ndt-cli-XXXXXX", *out;

	(void)state;
	write_file(path, "checks:\n"
	    "  - name: app\n"
	    "    tcp: {host: 127.0.0.1, port: 8080}\n"
	    "    interval: 1s\n");
	assert_int_equal(run(NULL, &out, "check-config", "-c", path, NULL), 0);
	assert_non_null(strstr(out, "interval: 1s\n    timeout: 500ms\n"));
	free(out);
	unlink(path);

	expect_config_error("checks:\n"
	    "  - name: app\n"
	    "    tcp: {host: 127.0.0.1, port: 8080}\n"
	    "    interval: 1s\n"
	    "    timeout: 2s\n", "5:14", "check 'app': timeout 2s must be less "
	    "than interval 1s (at 4:15); write a shorter timeout, like 500ms",
	    0);
}

/* three mistakes: three FILE:LINE:COL errors, all in one run, exit 2 */
static void
test_three_mistakes(void **state)
{
	char path[] = "/tmp/ndt-cli-XXXXXX", *out;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("listen: 0.0.0.0:3000\n"
	    "drain:\n"
	    "  delay: fast\n"			/* 3:10 bad duration */
	    "checks:\n"
	    "  - name: app\n"
	    "    http: {url: http://127.0.0.1:8080/}\n"
	    "    intervall: 2s\n"			/* 7:5 unknown key */
	    "  - name: db\n"
	    "    tcp: {host: 127.0.0.1, port: 70000}\n", f); /* 9:34 range */
	fclose(f);
	assert_int_equal(run(NULL, &out, "check-config", "-c", path, NULL), 2);
	unlink(path);
	assert_int_equal(count_lines_with(out, ": error: "), 3);
	assert_non_null(strstr(out, ":3:10: error: "));
	assert_non_null(strstr(out, ":7:5: error: "));
	assert_non_null(strstr(out, ":9:34: error: "));
	assert_non_null(strstr(out, "interval"));	/* the suggestion */
	free(out);
}

/* a missing file is a config error (2), naming the file */
static void
test_missing_file(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(run(NULL, &out, "check-config", "-c",
	    "/nonexistent/ndt.yaml", NULL), 2);
	assert_non_null(strstr(out, "/nonexistent/ndt.yaml"));
	free(out);
}

/* no file anywhere: the embedded default */
static void
test_embedded_default(void **state)
{
	char *env[] = { "NODOWNTIME_CONFIG=", NULL };
	char *out;

	(void)state;
	assert_int_equal(run(env, &out, "check-config", NULL, NULL, NULL), 0);
	assert_non_null(strstr(out, "0.0.0.0:3000"));
	free(out);
}

/* $NODOWNTIME_CONFIG is used when -c is not given; -c wins over it */
static void
test_lookup_order(void **state)
{
	char *env[] = { "NODOWNTIME_CONFIG=config/examples/minimal.yaml",
	    NULL };
	char *env_bad[] = { "NODOWNTIME_CONFIG=/nonexistent.yaml", NULL };
	char *out;

	(void)state;
	assert_int_equal(run(env, &out, "check-config", NULL, NULL, NULL), 0);
	assert_non_null(strstr(out, "minimal.yaml"));
	free(out);
	assert_int_equal(run(env_bad, &out, "check-config", NULL, NULL, NULL),
	    2);
	assert_non_null(strstr(out, "/nonexistent.yaml"));
	free(out);
	assert_int_equal(run(env_bad, &out, "check-config", "-c",
	    "config/examples/minimal.yaml", NULL), 0);
	free(out);
}

/* APP_BIND_ADDRESS moves the listener; a bad value is an error */
static void
test_app_bind_address(void **state)
{
	char env1[64], *env[] = { env1, "NODOWNTIME_CONFIG=", NULL };
	char *bad[] = { "APP_BIND_ADDRESS=nonsense", "NODOWNTIME_CONFIG=",
	    NULL };
	char dir[] = "/tmp/ndt-cli-XXXXXX", cfg[64], *out;
	char *argv[] = { NULL, "run", "-c", cfg, NULL };
	struct itest_agent a;
	unsigned port = itest_free_port();
	FILE *f;
	pid_t pid;

	(void)state;
	snprintf(env1, sizeof(env1), "APP_BIND_ADDRESS=127.0.0.1:%u", port);
	assert_int_equal(run(env, &out, "check-config", NULL, NULL, NULL), 0);
	assert_non_null(strstr(out, env1 + strlen("APP_BIND_ADDRESS=")));
	free(out);
	assert_int_equal(run(bad, &out, "check-config", NULL, NULL, NULL), 2);
	assert_non_null(strstr(out, "APP_BIND_ADDRESS"));
	free(out);

	/* a config without listen (default 0.0.0.0:3000), really serving on
	 * the moved address; the socket and state file stay private */
	assert_non_null(mkdtemp(dir));
	snprintf(cfg, sizeof(cfg), "%s/ndt.yaml", dir);
	f = fopen(cfg, "w");
	assert_non_null(f);
	fprintf(f, "control_socket: %s/ndt.sock\nstate_file: %s/state\n"
	    "hook_install_path: \"\"\n", dir, dir);
	fclose(f);
	memset(&a, 0, sizeof(a));
	snprintf(a.a_base, sizeof(a.a_base), "http://127.0.0.1:%u", port);
	argv[0] = (char *)(uintptr_t)itest_bin("nodowntime");
	setenv("APP_BIND_ADDRESS", env1 + strlen("APP_BIND_ADDRESS="), 1);
	pid = itest_spawn(argv, "/dev/null");
	unsetenv("APP_BIND_ADDRESS");
	assert_true(pid > 0);
	assert_true(itest_wait_code(&a, "/live", 200, 5000) >= 0);
	assert_int_equal(itest_get_code(&a, "/ready"), 200);
	itest_kill(pid);
	snprintf(cfg, sizeof(cfg), "rm -rf %s", dir);
	assert_int_equal(system(cfg), 0);
}

/* APP_SHUTDOWN_TIMEOUT (seconds) overrides drain.shutdown_timeout */
static void
test_app_shutdown_timeout(void **state)
{
	char *env[] = { "APP_SHUTDOWN_TIMEOUT=45", "NODOWNTIME_CONFIG=",
	    NULL };
	char *bad[] = { "APP_SHUTDOWN_TIMEOUT=soon", "NODOWNTIME_CONFIG=",
	    NULL };
	char *out;

	(void)state;
	assert_int_equal(run(env, &out, "check-config", NULL, NULL, NULL), 0);
	assert_non_null(strstr(out, "shutdown_timeout: 45s"));
	free(out);
	assert_int_equal(run(bad, &out, "check-config", NULL, NULL, NULL), 2);
	assert_non_null(strstr(out, "APP_SHUTDOWN_TIMEOUT"));
	free(out);
}

/* `run` with an invalid config exits 2 before binding anything */
static void
test_run_bad_config_exits_2(void **state)
{
	char path[] = "/tmp/ndt-cli-XXXXXX", *out;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_true(write(fd, "listen: [oops\n", 14) == 14);
	close(fd);
	assert_int_equal(run(NULL, &out, "run", "-c", path, NULL), 2);
	assert_non_null(strstr(out, ": error: "));
	unlink(path);
	free(out);
}

/* a port already taken: runtime failure, exit 1, clear message */
static void
test_bind_failure_exits_1(void **state)
{
	struct itest_agent a;
	char env1[64], *env[] = { env1, "NODOWNTIME_CONFIG=", NULL };
	char *out;

	(void)state;
	assert_int_equal(itest_agent_start(&a, NULL, NULL), 0);
	snprintf(env1, sizeof(env1), "APP_BIND_ADDRESS=127.0.0.1:%u",
	    a.a_port);
	assert_int_equal(run(env, &out, "run", NULL, NULL, NULL), 1);
	assert_non_null(strstr(out, "bind"));
	free(out);
	itest_agent_stop(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_and_help),
		cmocka_unit_test(test_usage_errors_exit_2),
		cmocka_unit_test(test_examples_pass_check_config),
		cmocka_unit_test(test_empty_config_exits_2),
		cmocka_unit_test(test_tls_file_missing_exits_2),
		cmocka_unit_test(test_short_interval),
		cmocka_unit_test(test_three_mistakes),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_embedded_default),
		cmocka_unit_test(test_lookup_order),
		cmocka_unit_test(test_app_bind_address),
		cmocka_unit_test(test_app_shutdown_timeout),
		cmocka_unit_test(test_run_bad_config_exits_2),
		cmocka_unit_test(test_bind_failure_exits_1),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
