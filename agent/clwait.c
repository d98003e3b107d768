/*
 * clwait.c - waiting for the agent: poll `status` until it says ready
 * (`wait`), or until the app's dependencies are (`wrap`, which cannot wait
 * for the app's own checks before it has started the app), and say what
 * the agent last said when it never does. libc only: linked statically
 * into nodowntime-hook with client.c and wrap.c.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clconn.h"
#include "util.h"

#define CL_WAIT_POLL_MS		250
#define CL_WAIT_REQUEST_MS	2000	/* one `status` request at most */

/* "key":true among the top-level keys (they come before checks): 1, 0
 * for "key":false, -1 when the key is not there */
static int
status_bool(const char *json, const char *key)
{
	const char *checks = strstr(json, "\"checks\"");
	const char *p;
	char k[48];

	snprintf(k, sizeof(k), "\"%s\":", key);
	if ((p = strstr(json, k)) == NULL || (checks != NULL && p > checks))
		return -1;
	return strncmp(p + strlen(k), "true", 4) == 0;
}

/*
 * Does the status reply say what is wanted? "dependencies_ready" falls
 * back to "ready" with an agent older than the key.
 */
UNITTEST_STATIC int
cl_status_says(const char *json, enum cl_want want)
{
	int v;

	if (want == CL_WANT_DEPS &&
	    (v = status_bool(json, "dependencies_ready")) != -1)
		return v;
	return status_bool(json, "ready") == 1;
}

/*
 * The JSON string literal at p (at its opening quote) into out, escapes
 * decoded, control and non-ASCII characters as '?', cut to fit. A pointer
 * past the closing quote, or NULL if p holds no string.
 */
static const char *
json_str(const char *p, char *out, size_t len)
{
	size_t n = 0;
	char c;

	if (p == NULL || *p != '"')
		return NULL;
	for (p++; *p != '"'; p++) {
		if (*p == '\0')
			return NULL;
		c = *p;
		if (c == '\\') {
			switch (*++p) {
			case '\0': return NULL;
			case 'n': case 't': case 'r': case 'b': case 'f':
				c = ' ';
				break;
			case 'u':
				c = '?';
				if (strspn(p + 1, "0123456789abcdefABCDEF") < 4)
					return NULL;
				p += 4;
				break;
			default:
				c = *p;
			}
		}
		if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
			c = '?';
		if (n + 1 < len)
			out[n++] = c;
	}
	if (len > 0)
		out[n] = '\0';
	return p + 1;
}

/* the value of "key": after p, a string, into out; past it or NULL */
static const char *
json_key_str(const char *p, const char *key, char *out, size_t len)
{
	char k[32];

	snprintf(k, sizeof(k), "\"%s\":", key);
	if (p == NULL || (p = strstr(p, k)) == NULL)
		return NULL;
	return json_str(p + strlen(k), out, len);
}

/* "key":true in this check's object: between p and the next check's name */
static int
check_bool(const char *p, const char *key)
{
	const char *next = strstr(p, "\"name\":"), *v;
	char k[32];

	snprintf(k, sizeof(k), "\"%s\":", key);
	v = strstr(p, k);
	return v != NULL && (next == NULL || v < next) &&
	    strncmp(v + strlen(k), "true", 4) == 0;
}

/*
 * What a `status` reply says about readiness, for a person: "phase serving;
 * check app failing: connection refused; check db unknown". The reply's
 * shape is ours (ctlstatus.c): top-level keys, then checks[] whose keys
 * come in a fixed order; strings are skipped whole, so what they hold
 * cannot be taken for a key. CL_WANT_DEPS leaves out the checks that
 * probe the pod itself ("self":true): wrap does not wait for them.
 */
UNITTEST_STATIC void
cl_status_summary(const char *json, enum cl_want want, char *out, size_t len)
{
	char ph[32], name[64], st[16], output[160];
	const char *p, *crit;
	size_t off, shown = 0, more = 0;

	if (json_key_str(json, "phase", ph, sizeof(ph)) == NULL) {
		snprintf(out, len, "%.*s", (int)strcspn(json, "\n"), json);
		return;
	}
	off = (size_t)snprintf(out, len, "phase %s", ph);
	p = strstr(json, "\"checks\":[");
	while (p != NULL && off < len &&
	    (p = json_key_str(p, "name", name, sizeof(name))) != NULL &&
	    (p = json_key_str(p, "status", st, sizeof(st))) != NULL) {
		crit = strstr(p, "\"critical\":");
		if ((p = json_key_str(p, "output", output, sizeof(output))) ==
		    NULL)
			break;
		if (strcmp(st, "passing") == 0 ||
		    (want == CL_WANT_DEPS && check_bool(p, "self")))
			continue;
		if (shown == 3) {
			more++;
			continue;
		}
		shown++;
		off += (size_t)snprintf(out + off, len - off,
		    "; check %s %s%s%s%s", name, st, crit != NULL && crit < p &&
		    strncmp(crit + 11, "false", 5) == 0 ? " (not critical)" :
		    "", output[0] ? ": " : "", output);
	}
	if (more && off < len)
		snprintf(out + off, len - off, "; %zu more not passing", more);
}

/* sleep ms, or less when a signal of co_sigs comes: its number, else 0 */
static int
cl_pause_ms(const struct cl_opts *o, uint64_t ms)
{
	struct timespec ts;
	uint64_t end = mono_ms() + ms, now;
	int sig;

	if (o->co_sigs == NULL) {
		cl_sleep_ms(ms);
		return 0;
	}
	while ((now = mono_ms()) < end) {
		ts.tv_sec = (time_t)((end - now) / 1000);
		ts.tv_nsec = (long)((end - now) % 1000) * 1000000L;
		if ((sig = sigtimedwait(o->co_sigs, NULL, &ts)) > 0)
			return sig;
		if (errno != EINTR && errno != EAGAIN)
			break;		/* EINVAL: sleep without them */
	}
	if ((now = mono_ms()) < end)
		cl_sleep_ms(end - now);
	return 0;
}

int
cl_wait(const struct cl_opts *o, const char *cmd, enum cl_want want,
    int *sig)
{
	const char *path = cl_socket(o);
	const char *what = want == CL_WANT_DEPS ? "dependencies not ready" :
	    "not ready";
	uint64_t start = mono_ms(), deadline, now, rd;
	char *reply, last[512] = "", since[PATH_MAX + 64] = "", d[32];
	size_t len;
	int err = 0, polls = 0;

	*sig = 0;
	deadline = start + o->co_timeout_ms;
	do {
		now = mono_ms();
		rd = now + CL_WAIT_REQUEST_MS < deadline ?
		    now + CL_WAIT_REQUEST_MS : deadline;
		polls++;
		if (cl_request(path, "status\n", rd, &reply, &len) == 0) {
			if (cl_status_says(reply, want)) {
				free(reply);
				fmt_duration(mono_ms() - start, d, sizeof(d));
				if (want == CL_WANT_READY)
					printf("ready\n");
				else if (polls > 1)
					fprintf(stderr, "%s: the dependencies "
					    "are ready after %s\n", cmd, d);
				return 0;
			}
			if (strncmp(reply, "error", 5) == 0)
				snprintf(last, sizeof(last), "%.*s",
				    (int)strcspn(reply, "\n"), reply);
			else {
				snprintf(last, sizeof(last), "%s",
				    want == CL_WANT_READY ? "not ready: " : "");
				cl_status_summary(reply, want, last +
				    strlen(last), sizeof(last) - strlen(last));
			}
			free(reply);
			since[0] = '\0';
		} else if (errno != ETIMEDOUT || rd != deadline ||
		    last[0] == '\0') {
			/* (a request cut by our own deadline is no news) */
			err = errno;
			snprintf(since, sizeof(since), "%s: %s", path,
			    strerror(err));
		}
		if ((now = mono_ms()) >= deadline)
			break;
		if ((*sig = cl_pause_ms(o, deadline - now < CL_WAIT_POLL_MS ?
		    deadline - now : CL_WAIT_POLL_MS)) != 0)
			return 128 + *sig;
	} while (mono_ms() < deadline);
	fmt_duration(o->co_timeout_ms, d, sizeof(d));
	if (last[0] == '\0') {
		fprintf(stderr, "%s: %s after %s: no answer from the agent "
		    "(%s)\n", cmd, what, d, since);
		if (err == EACCES || err == EPERM)
			cl_explain_denied(cmd, path, NULL);
	} else if (since[0] != '\0')
		fprintf(stderr, "%s: %s after %s: the agent last said: %s; "
		    "since then: %s\n", cmd, what, d, last, since);
	else
		fprintf(stderr, "%s: %s after %s: the agent last said: %s\n",
		    cmd, what, d, last);
	return 1;
}
