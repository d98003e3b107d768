/*
 * test_probes.h - helpers shared by the probes' integration tests
 * (test_probes_*.c): start the helper servers of tests/servers/, read one
 * check's fields out of the /ready body, wait for a check's state, read an
 * agent's RSS. Header-only (static) so that it is not linked into the
 * other integration programs.
 */
#ifndef NDT_TEST_PROBES_H
#define NDT_TEST_PROBES_H

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "itest.h"

#define TP_UNUSED	__attribute__((unused))
/* what a noisy 2-core machine may add to a timing bound (scheduling, the
 * Python servers, our own polling every 10 ms) */
#define TP_SLACK_MS	600
/* Debian's python, where python3-grpcio lives (not a pyenv one on PATH) */
#define TP_PYTHON	"/usr/bin/python3"

/* can we connect to 127.0.0.1:port (or a unix socket path)? */
static TP_UNUSED int
tp_can_connect(unsigned port, const char *path)
{
	struct sockaddr_in sin;
	struct sockaddr_un sun;
	int fd, rv;

	if (path != NULL) {
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return 0;
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		rv = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	} else {
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return 0;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rv = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	}
	close(fd);
	return rv == 0;
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

/* how many children of pid are zombies (state Z), and how many live */
static TP_UNUSED void
tp_children(pid_t pid, int *zombies, int *alive)
{
	char path[300], buf[512], *p, state;
	DIR *d;
	struct dirent *de;
	FILE *f;
	int ppid;

	*zombies = *alive = 0;
	if ((d = opendir("/proc")) == NULL)
		return;
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
			else
				(*alive)++;
		}
		fclose(f);
	}
	closedir(d);
}

/* processes whose command line contains needle */
static TP_UNUSED int
tp_count_procs(const char *needle)
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
		if (strstr(buf, needle) != NULL)
			count++;
	}
	closedir(d);
	return count;
}

#endif
