/*
 * test_probes.h - helpers shared by the probes' integration tests
 * (test_probes_*.c): start the agent or fail, start the helper servers of
 * tests/servers/, read one check's fields out of the /ready body, wait for
 * a check's state or for /ready within a bound, read an agent's RSS and
 * children. Header-only (static) so that it is not linked into the other
 * integration programs; the tp_*() that assert are cmocka tests' helpers.
 */
#ifndef NDT_TEST_PROBES_H
#define NDT_TEST_PROBES_H

#include <dirent.h>
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

#define TP_UNUSED	__attribute__((unused))
/* what a noisy 2-core machine may add to a timing bound (scheduling, the
 * Python servers, our own polling every 10 ms) */
#define TP_SLACK_MS	600
/* Debian's python, where python3-grpcio lives (not a pyenv one on PATH) */
#define TP_PYTHON	"/usr/bin/python3"

/* start the agent with these checks (itest_agent_start), or fail the test */
static TP_UNUSED void
tp_agent_start(struct itest_agent *a, const char *yaml, char *const *env)
{
	if (itest_agent_start(a, yaml, env) == -1)
		fail_msg("agent did not start");
}

/*
 * The cmocka teardown of a test of one agent, the test's state: a failed
 * assertion jumps out of the test, and the agent is stopped here anyway.
 * TP_AGENT_TEST(test_x, &agent) registers test_x so (a group setup must
 * leave the group state NULL, or cmocka passes that instead).
 */
static TP_UNUSED int
tp_stop_agent(void **state)
{
	itest_agent_stop(*state);
	return 0;
}
#define TP_AGENT_TEST(f, agent) \
	cmocka_unit_test_prestate_setup_teardown(f, NULL, tp_stop_agent, agent)

/* can we connect to 127.0.0.1:port (or a unix socket path)? */
static TP_UNUSED int
tp_can_connect(unsigned port, const char *path)
{
	int fd;

	fd = path != NULL ? itest_unix_connect(path) :
	    itest_tcp_connect(port, 0);
	if (fd == -1)
		return 0;
	close(fd);
	return 1;
}

/* start tests/servers/NAME with args (NULL-terminated, at most 6); wait
 * until it accepts on port (or path); pid or -1 */
static TP_UNUSED pid_t
tp_server_v(const char *name, const char *const *args, unsigned port,
    const char *path, const char *log)
{
	char script[256];
	char *argv[9];
	uint64_t t0;
	pid_t pid;
	size_t i;

	snprintf(script, sizeof(script), "tests/servers/%s", name);
	argv[0] = (char *)(uintptr_t)TP_PYTHON;
	argv[1] = script;
	for (i = 0; i < 6 && args != NULL && args[i] != NULL; i++)
		argv[2 + i] = (char *)(uintptr_t)args[i];
	argv[2 + i] = NULL;
	if ((pid = itest_spawn(argv, log)) == -1)
		return -1;
	for (t0 = itest_now_ms(); itest_now_ms() - t0 < 10000;
	    itest_sleep_ms(20))
		if (tp_can_connect(port, path))
			return pid;
	itest_kill(pid);
	return -1;
}

static TP_UNUSED pid_t
tp_server(const char *name, const char *arg1, const char *arg2,
    unsigned port, const char *path, const char *log)
{
	const char *args[] = { arg1, arg2, NULL };

	return tp_server_v(name, args, port, path, log);
}

static TP_UNUSED pid_t
tp_http_server(unsigned port)
{
	char p[16];

	snprintf(p, sizeof(p), "%u", port);
	return tp_server("probe_http.py", p, NULL, port, NULL, "/dev/null");
}

/* a JSON string at s (after the opening quote) into out, unescaped */
static TP_UNUSED void
tp_json_str(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s != '\0' && *s != '"' && o + 1 < len; s++) {
		if (*s == '\\' && s[1] != '\0') {
			s++;
			switch (*s) {
			case 'n': out[o++] = '\n'; break;
			case 't': out[o++] = '\t'; break;
			case 'r': out[o++] = '\r'; break;
			case 'u': out[o++] = '?'; s += 4; break;
			default: out[o++] = *s; break;
			}
			continue;
		}
		out[o++] = *s;
	}
	out[o] = '\0';
}

/*
 * The string field `field` of check `name` in the body of GET path
 * (checks.<name>[0].<field>). 0, or -1 if absent (out "").
 */
static TP_UNUSED int
tp_check_field(const struct itest_agent *a, const char *path,
    const char *name, const char *field, char *out, size_t len)
{
	struct itest_resp r;
	char url[512], key[128], fkey[64], *p, *end;
	int rv = -1, depth = 0, instr = 0;

	out[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", a->a_base, path);
	if (itest_http("GET", url, NULL, &r) == -1)
		return -1;
	snprintf(key, sizeof(key), "\"%s\":[{", name);
	if (r.r_body == NULL || (p = strstr(r.r_body, key)) == NULL)
		goto out;
	p += strlen(key) - 1;
	/* the check's object ends at its matching brace */
	for (end = p; *end != '\0'; end++) {
		if (instr) {
			if (*end == '\\' && end[1] != '\0')
				end++;
			else if (*end == '"')
				instr = 0;
			continue;
		}
		if (*end == '"')
			instr = 1;
		else if (*end == '{')
			depth++;
		else if (*end == '}' && --depth == 0)
			break;
	}
	*end = '\0';
	snprintf(fkey, sizeof(fkey), "\"%s\":\"", field);
	if ((p = strstr(p, fkey)) == NULL)
		goto out;
	tp_json_str(p + strlen(fkey), out, len);
	rv = 0;
out:
	itest_resp_free(&r);
	return rv;
}

/*
 * Check `name`'s "output" (its reason) must contain `want`, or the test
 * fails saying what it was, with the agent's log. The output into out.
 */
static TP_UNUSED void
tp_assert_output(const struct itest_agent *a, const char *name,
    const char *want, char *out, size_t len)
{
	char st[32];

	tp_check_field(a, "/ready", name, "output", out, len);
	if (strstr(out, want) != NULL)
		return;
	tp_check_field(a, "/ready", name, "state", st, sizeof(st));
	itest_agent_dump_log(a);
	fail_msg("check '%s' (%s): output \"%s\" lacks \"%s\"", name, st,
	    out, want);
}

/* poll until check name's "state" is want (passing, failing, unknown);
 * elapsed ms or -1 after timeout_ms */
static TP_UNUSED long
tp_wait_state(const struct itest_agent *a, const char *name,
    const char *want, unsigned timeout_ms)
{
	uint64_t t0 = itest_now_ms();
	char st[32];

	for (;;) {
		if (tp_check_field(a, "/ready", name, "state", st,
		    sizeof(st)) == 0 && strcmp(st, want) == 0)
			return (long)(itest_now_ms() - t0);
		if (itest_now_ms() - t0 > timeout_ms)
			return -1;
		itest_sleep_ms(10);
	}
}

/*
 * Check `name` must be failing within timeout_ms, or the test fails, with
 * the agent's log; its "output" (the reason) into out. The elapsed ms.
 */
static TP_UNUSED long
tp_wait_failing(const struct itest_agent *a, const char *name,
    unsigned timeout_ms, char *out, size_t len)
{
	long t = tp_wait_state(a, name, "failing", timeout_ms);

	tp_check_field(a, "/ready", name, "output", out, len);
	if (t < 0) {
		itest_agent_dump_log(a);
		fail_msg("check '%s' not failing after %u ms (output \"%s\")",
		    name, timeout_ms, out);
	}
	return t;
}

/*
 * /ready must answer code within bound_ms (+ TP_SLACK_MS), or the test
 * fails, with the agent's log; `what` names the change in the log line
 * ("down", "up"). The elapsed ms.
 */
static TP_UNUSED long
tp_wait_ready(const struct itest_agent *a, long code, unsigned bound_ms,
    const char *what)
{
	long t = itest_wait_code(a, "/ready", code, bound_ms + 2000);

	fprintf(stderr, "# %s seen after %ld ms (bound %u)\n", what, t,
	    bound_ms);
	if (t < 0 || t > (long)(bound_ms + TP_SLACK_MS)) {
		itest_agent_dump_log(a);
		fail_msg("/ready %ld (%s) after %ld ms, bound %u + %u ms", code,
		    what, t, bound_ms, TP_SLACK_MS);
	}
	return t;
}

/*
 * Extra environment for an agent whose RSS is measured: under the
 * sanitizers (NDT_BUILD=build/san) ASan's quarantine keeps up to 256 MB of
 * freed memory, which is not ours; shrink it. NULL-terminated, static.
 */
static TP_UNUSED char *const *
tp_rss_env(void)
{
	static char opt[512];
	static char *env[2];
	const char *b = getenv("NDT_BUILD"), *cur = getenv("ASAN_OPTIONS");

	if (b == NULL || strstr(b, "san") == NULL)
		return NULL;
	snprintf(opt, sizeof(opt), "ASAN_OPTIONS=%s%squarantine_size_mb=4",
	    cur != NULL ? cur : "", cur != NULL && *cur != '\0' ? ":" : "");
	env[0] = opt;
	env[1] = NULL;
	return env;
}

/* VmRSS of pid in KiB, 0 if unknown */
static TP_UNUSED unsigned long
tp_rss_kb(pid_t pid)
{
	char path[64], line[256];
	unsigned long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* how many children of pid are zombies (state Z), and how many live; one
 * live child's pid, or -1 */
static TP_UNUSED pid_t
tp_children(pid_t pid, int *zombies, int *alive)
{
	char path[300], buf[512], *p, state;
	DIR *d;
	struct dirent *de;
	FILE *f;
	pid_t child = -1;
	int ppid;

	*zombies = *alive = 0;
	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 1, " %c %d", &state, &ppid) == 2 &&
		    ppid == (int)pid) {
			if (state == 'Z')
				(*zombies)++;
			else {
				(*alive)++;
				child = (pid_t)atoi(de->d_name);
			}
		}
		fclose(f);
	}
	closedir(d);
	return child;
}

/*
 * Processes whose command line contains needle (prefix: begins with it,
 * so "sleep 301.1" and not the shell that runs it); with sig, signalled
 * too. How many.
 */
static TP_UNUSED int
tp_procs(const char *needle, int prefix, int sig)
{
	char path[300], buf[1024];
	DIR *d;
	struct dirent *de;
	FILE *f;
	size_t n, i;
	int count = 0;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[n] = '\0';
		if (prefix ? strncmp(buf, needle, strlen(needle)) != 0 :
		    strstr(buf, needle) == NULL)
			continue;
		count++;
		if (sig != 0)
			kill((pid_t)atoi(de->d_name), sig);
	}
	closedir(d);
	return count;
}

/* processes whose command line contains needle */
static TP_UNUSED int
tp_count_procs(const char *needle)
{
	return tp_procs(needle, 0, 0);
}

#endif
