/*
 * client.c - `prestop`, `wait`, `status` and `resume`: talk to the agent
 * over the control socket (docs/CONTROL.md); `wrap` is wrap.c. libc only:
 * this file is also linked statically into nodowntime-hook, which runs in
 * the app's container.
 *
 * prestop is fail-safe: an agent that is not running costs a sleep of the
 * fallback delay, never a failed shutdown; one that runs but refuses this
 * process (EACCES on the socket, control_allowed_uids) costs the same sleep
 * and exit 1, with the cause and the fix on stderr, so that the kubelet
 * records a FailedPreStopHook event: the drain is off and someone must
 * know. It never blocks longer than --timeout. The transport to the socket
 * is clconn.c, the wait for ready clwait.c.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clconn.h"
#include "client.h"
#include "util.h"

#define CLIENT_RETRY_MS		100

int
client_is_command(const char *s)
{
	return s != NULL && (strcmp(s, "prestop") == 0 ||
	    strcmp(s, "wait") == 0 || strcmp(s, "status") == 0 ||
	    strcmp(s, "resume") == 0 || strcmp(s, "wrap") == 0);
}

int
client_parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char	*u;
		uint64_t	 ms;
	} units[] = {
		{ "ms", 1 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	};
	uint64_t total = 0, ip, frac, fscale, add;
	const char *p = s;
	size_t i, ul;
	int any = 0;

	if (s == NULL || *s == '\0')
		return -1;
	while (*p) {
		if (*p < '0' || *p > '9')
			return -1;
		for (ip = 0; *p >= '0' && *p <= '9'; p++) {
			if (ip > (UINT64_MAX - 9) / 10)
				return -1;
			ip = ip * 10 + (uint64_t)(*p - '0');
		}
		frac = 0;
		fscale = 1;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			for (; *p >= '0' && *p <= '9'; p++)
				if (fscale < 1000000) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					fscale *= 10;
				}
		}
		if (*p == '\0' && !any) {
			/* a bare number: seconds, like sleep(1) */
			ul = 0;
			i = 3;
		} else {
			for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
				if (strncmp(p, units[i].u,
				    strlen(units[i].u)) == 0)
					break;
			if (i == sizeof(units) / sizeof(units[0]))
				return -1;
			ul = strlen(units[i].u);
		}
		if (ip > UINT64_MAX / units[i].ms)
			return -1;
		add = ip * units[i].ms + frac * units[i].ms / fscale;
		if (total > UINT64_MAX - add)
			return -1;
		total += add;
		p += ul;
		any = 1;
	}
	*ms = total;
	return 0;
}

static int
usage(const char *cmd)
{
	if (strcmp(cmd, "prestop") == 0)
		fprintf(stderr, "usage: prestop [--socket PATH] "
		    "[--timeout DURATION] [--fallback-delay DURATION]\n");
	else if (strcmp(cmd, "wait") == 0)
		fprintf(stderr, "usage: wait [--socket PATH] "
		    "[--timeout DURATION]\n");
	else if (strcmp(cmd, "resume") == 0)
		fprintf(stderr, "usage: resume [--socket PATH]\n");
	else
		fprintf(stderr, "usage: status [--socket PATH] [--json]\n");
	return 2;
}

static int
parse_args(int argc, char **argv, struct cl_opts *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "fallback-delay", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cmd = argv[0];
	int ch;

	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "+s:t:f:jh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			o->co_socket = optarg;
			break;
		case 't':
			if (strcmp(cmd, "status") == 0 ||
			    strcmp(cmd, "resume") == 0 ||
			    client_parse_duration(optarg, &o->co_timeout_ms) ==
			    -1) {
				fprintf(stderr, "%s: bad --timeout: %s\n", cmd,
				    optarg);
				return usage(cmd);
			}
			break;
		case 'f':
			if (strcmp(cmd, "prestop") != 0 ||
			    client_parse_duration(optarg, &o->co_fallback_ms) ==
			    -1) {
				fprintf(stderr, "%s: bad --fallback-delay: "
				    "%s\n", cmd, optarg);
				return usage(cmd);
			}
			o->co_fallback_set = 1;
			break;
		case 'j':
			if (strcmp(cmd, "status") != 0)
				return usage(cmd);
			o->co_json = 1;
			break;
		case 'h':
			usage(cmd);
			return 1;
		default:
			return usage(cmd);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument: %s\n", cmd,
		    argv[optind]);
		return usage(cmd);
	}
	return 0;
}

/* "phase drained elapsed_ms=..": the phase name into ph */
static int
phase_of(const char *line, char *ph, size_t len)
{
	size_t n;

	if (strncmp(line, "phase ", 6) != 0)
		return -1;
	line += 6;
	n = strcspn(line, " ");
	if (n == 0 || n >= len)
		return -1;
	memcpy(ph, line, n);
	ph[n] = '\0';
	return 0;
}

/*
 * The fail-safe sleep, capped by --timeout, saying truthfully how long and
 * why; then rv. rv 0: the agent is not running (DESIGN §2); rv 1: it runs
 * but this process may not use it, so the drain is off: exit 1 and the
 * kubelet records a FailedPreStopHook event.
 */
static int
prestop_fallback(const struct cl_opts *o, const char *path,
    uint64_t deadline, int rv)
{
	char why[PATH_MAX + 96], d[32], t[32], cut[32];
	uint64_t ms = cl_fallback(o, path, why, sizeof(why)), now = mono_ms();
	uint64_t left = deadline > now ? deadline - now : 0;

	fmt_duration(ms, d, sizeof(d));
	if (ms > left) {
		fmt_duration(left, cut, sizeof(cut));
		fmt_duration(o->co_timeout_ms, t, sizeof(t));
		fprintf(stderr, "prestop: sleeping %s, what is left of "
		    "--timeout %s, not the fallback delay %s (%s); then "
		    "exiting %d\n", cut, t, d, why, rv);
		ms = left;
	} else
		fprintf(stderr, "prestop: sleeping the fallback delay %s "
		    "(%s); then exiting %d\n", d, why, rv);
	cl_sleep_ms(ms);
	return rv;
}

/* the agent runs but refuses this process: say so, the fail-safe sleep, 1 */
static int
prestop_denied(const struct cl_opts *o, const char *path,
    const char *forbidden, uint64_t deadline)
{
	cl_explain_denied("prestop", path, forbidden);
	fprintf(stderr, "prestop: the drain is off for this pod\n");
	return prestop_fallback(o, path, deadline, 1);
}

static int
cmd_prestop(const struct cl_opts *o)
{
	const char *path = cl_socket(o);
	uint64_t start = mono_ms(), deadline, lost = 0, window, now;
	struct cl_conn cn;
	char line[CLIENT_LINE_MAX], ph[32], d[32];
	int r, err;

	deadline = start + o->co_timeout_ms;
	for (;;) {
		if ((cn.cn_fd = cl_connect(path)) == -1) {
			err = errno;
			if (err == ENAMETOOLONG) {
				fprintf(stderr, "prestop: socket path too "
				    "long: %s\n", path);
				return 2;
			}
			if (err == EAGAIN)	/* backlog full: it is alive */
				goto retry;
			if (lost == 0 && (err == EACCES || err == EPERM))
				return prestop_denied(o, path, NULL, deadline);
			if (lost == 0) {
				fprintf(stderr, "prestop: cannot reach the "
				    "agent at %s: %s (not running?)\n", path,
				    strerror(err));
				return prestop_fallback(o, path, deadline, 0);
			}
			/* lost mid-drain: the agent restarts and resumes
			 * the drain; give it the fallback delay to return */
			window = cl_fallback(o, path, NULL, 0);
			if (window < CLIENT_FALLBACK_MS)
				window = CLIENT_FALLBACK_MS;
			if (mono_ms() - lost >= window) {
				fprintf(stderr, "prestop: the agent did not "
				    "come back: %s; exiting\n",
				    strerror(err));
				return 0;
			}
			goto retry;
		}
		cn.cn_len = 0;
		if (cl_send(cn.cn_fd, "drain\n", deadline) == -1)
			goto lost;
		while ((r = cl_readline(&cn, line, sizeof(line),
		    deadline)) == 1) {
			if (strncmp(line, "error busy", 10) == 0) {
				close(cn.cn_fd);
				goto retry;
			}
			if (strncmp(line, "error forbidden", 15) == 0) {
				close(cn.cn_fd);
				return prestop_denied(o, path, line, deadline);
			}
			if (strncmp(line, "error", 5) == 0) {
				fprintf(stderr, "prestop: the agent said: "
				    "%s\n", line);
				close(cn.cn_fd);
				return 1;
			}
			printf("%s\n", line);
			fflush(stdout);
			if (phase_of(line, ph, sizeof(ph)) == -1)
				continue;
			if (strcmp(ph, "drained") == 0) {
				close(cn.cn_fd);
				return 0;
			}
			if (strcmp(ph, "serving") == 0) {
				fprintf(stderr, "prestop: the drain was "
				    "cancelled (resume)\n");
				close(cn.cn_fd);
				return 1;
			}
			lost = 0;
		}
		if (r == -1 && errno == ETIMEDOUT) {
			close(cn.cn_fd);
			break;
		}
lost:
		close(cn.cn_fd);
		if (lost == 0) {
			lost = mono_ms();
			fprintf(stderr, "prestop: lost the agent mid-drain; "
			    "reconnecting\n");
		}
retry:
		if ((now = mono_ms()) >= deadline)
			break;
		cl_sleep_ms(deadline - now < CLIENT_RETRY_MS ? deadline - now :
		    CLIENT_RETRY_MS);
	}
	fmt_duration(o->co_timeout_ms, d, sizeof(d));
	fprintf(stderr, "prestop: --timeout %s reached before the drain "
	    "finished\n", d);
	return 1;
}

static int
cmd_wait(const struct cl_opts *o)
{
	int sig;

	return cl_wait(o, "wait", CL_WANT_READY, &sig);
}

/*
 * One request, one reply (status, resume): 0 with the reply in *reply, or
 * 1 once it has said why on stderr (unreachable, refused, an error reply).
 */
static int
cl_ask(const struct cl_opts *o, const char *cmd, const char *req,
    char **reply, size_t *len)
{
	const char *path = cl_socket(o);
	int err;

	if (cl_request(path, req, mono_ms() + CLIENT_STATUS_TIMEOUT_MS, reply,
	    len) == -1) {
		err = errno;
		fprintf(stderr, "%s: cannot reach the agent at %s: %s\n", cmd,
		    path, strerror(err));
		if (err == EACCES || err == EPERM)
			cl_explain_denied(cmd, path, NULL);
		return 1;
	}
	if (strncmp(*reply, "error forbidden", 15) == 0) {
		(*reply)[strcspn(*reply, "\n")] = '\0';
		cl_explain_denied(cmd, path, *reply);
		free(*reply);
		return 1;
	}
	if (strncmp(*reply, "error", 5) == 0) {
		fprintf(stderr, "%s: the agent said: %s", cmd, *reply);
		free(*reply);
		return 1;
	}
	return 0;
}

static int
cmd_status(const struct cl_opts *o)
{
	char *reply;
	size_t len;

	if (cl_ask(o, "status", o->co_json ? "status\n" : "status text\n",
	    &reply, &len) != 0)
		return 1;
	fwrite(reply, 1, len, stdout);
	free(reply);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * Back to serving after a drain (the control command `resume`): for an
 * app without app.port, whose restart the agent cannot see, to run as it
 * starts. Exit 1 when the agent cannot be told: the pod stays unready.
 */
static int
cmd_resume(const struct cl_opts *o)
{
	char *reply;
	size_t len;

	if (cl_ask(o, "resume", "resume\n", &reply, &len) != 0)
		return 1;
	free(reply);
	printf("resume: the agent is serving\n");
	return fflush(stdout) == 0 ? 0 : 1;
}

int
client_main(int argc, char **argv)
{
	struct cl_opts o;
	int rv;

	if (argc < 1 || !client_is_command(argv[0])) {
		fprintf(stderr, "unknown command: %s\n", argc ? argv[0] : "");
		return 2;
	}
	if (strcmp(argv[0], "wrap") == 0)
		return wrap_main(argc, argv);
	memset(&o, 0, sizeof(o));
	o.co_timeout_ms = strcmp(argv[0], "wait") == 0 ?
	    CLIENT_WAIT_TIMEOUT_MS : CLIENT_PRESTOP_TIMEOUT_MS;
	if ((rv = parse_args(argc, argv, &o)) != 0)
		return rv == 1 ? 0 : rv;
	if (strcmp(argv[0], "prestop") == 0)
		return cmd_prestop(&o);
	if (strcmp(argv[0], "wait") == 0)
		return cmd_wait(&o);
	if (strcmp(argv[0], "resume") == 0)
		return cmd_resume(&o);
	return cmd_status(&o);
}
