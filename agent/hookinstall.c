/*
 * hookinstall.c - install the static client for the app's preStop hook,
 * and keep /healthz failing until it is installed.
 *
 * The native sidecar's startup probe (/healthz) is what holds the app back
 * until the agent is ready for it: an app started without its preStop
 * binary has no drain. So a failed copy is not a warning but a state:
 * /healthz answers 503 with the reason, and the copy is retried from the
 * event loop with a backoff (1 s doubling to 30 s) until it succeeds.
 *
 * One agent per process: the state is this file's (endpoints.c asks
 * hook_install_unhealthy() on each /healthz, nothing else reaches it).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../config/config.h"
#include "hookinstall.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#define HOOK_RETRY_MIN_MS	1000
#define HOOK_RETRY_MAX_MS	30000
#define HOOK_LOG_EVERY_MS	60000	/* the same failure, at most */

static struct {
	struct loop		*hi_loop;
	struct loop_timer	*hi_timer;	/* the next retry */
	int			 hi_pending;	/* not installed yet */
	char			 hi_src[PATH_MAX];
	char			 hi_dst[PATH_MAX];	/* a reload cannot move it */
	uint64_t		 hi_backoff_ms;
	unsigned		 hi_attempts;
	uint64_t		 hi_logged_at;	/* mono ms of the last warning */
	char			 hi_err[PATH_MAX + 128];	/* last failure */
	char			 hi_logged[PATH_MAX + 128];	/* last logged */
	char			 hi_body[2 * PATH_MAX + 1024];	/* /healthz */
	size_t			 hi_body_len;
} hi;

static int
copy_fd(int in, int out)
{
	char buf[65536];
	size_t total = 0;
	ssize_t n, w;
	size_t off;

	for (;;) {
		n = read(in, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		total += (size_t)n;
		if (total > HOOK_BINARY_MAX) {
			errno = EFBIG;
			return -1;
		}
		for (off = 0; off < (size_t)n; off += (size_t)w) {
			w = write(out, buf + off, (size_t)n - off);
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w == -1)
				return -1;
		}
	}
}

/* the destination's directory, one level, 0755 (the shared volume's
 * mount point normally exists already); a failure shows at the create */
static void
mkdir_parent(const char *path)
{
	char dir[PATH_MAX], *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) ||
	    (slash = strrchr(dir, '/')) == NULL || slash == dir)
		return;
	*slash = '\0';
	(void)mkdir(dir, 0755);
}

/* temp file, 0755, fsync, rename; 0, or -1 with the reason in err */
static int
hook_copy(const char *src, const char *dst, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct stat st;
	int in = -1, out = -1, created = 0;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			snprintf(err, errlen, "no " HOOK_BINARY_NAME " next to "
			    "the agent (%s)", src);
		else
			snprintf(err, errlen, "open %s: %s", src,
			    strerror(errno));
		return -1;
	}
	if (fstat(in, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", src);
		goto fail;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", dst, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errlen, "path too long: %s", dst);
		goto fail;
	}
	mkdir_parent(dst);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0700);
	if (out == -1) {
		snprintf(err, errlen, "create %s: %s", tmp, strerror(errno));
		goto fail;
	}
	created = 1;
	if (copy_fd(in, out) == -1) {
		snprintf(err, errlen, "copy to %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (fchmod(out, 0755) == -1 || fsync(out) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(out) == -1) {
		out = -1;
		snprintf(err, errlen, "close %s: %s", tmp, strerror(errno));
		goto fail;
	}
	out = -1;
	/* rename over a running copy is safe: its inode lives on */
	if (rename(tmp, dst) == -1) {
		snprintf(err, errlen, "rename to %s: %s", dst, strerror(errno));
		goto fail;
	}
	close(in);
	return 0;
fail:
	if (out != -1)
		close(out);
	if (created)
		(void)unlink(tmp);
	close(in);
	return -1;
}

int
hook_install_from(const char *src, const char *dst)
{
	char err[PATH_MAX + 128];

	if (hook_copy(src, dst, err, sizeof(err)) == -1) {
		log_event(LOG_WARN, "hook not installed", "path", dst,
		    "error", err, NULL);
		return -1;
	}
	log_event(LOG_INFO, "hook installed", "path", dst, NULL);
	return 0;
}

/* s as the inside of a JSON string into out at *off (cut to fit) */
static void
json_put(char *out, size_t len, size_t *off, const char *s)
{
	const unsigned char *p;
	char esc[8];

	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			snprintf(esc, sizeof(esc), "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
		else
			snprintf(esc, sizeof(esc), "%c", *p);
		if (*off + strlen(esc) >= len)
			return;
		memcpy(out + *off, esc, strlen(esc) + 1);
		*off += strlen(esc);
	}
}

/* the 503 body of /healthz for the last failure; nothing allocated */
static void
render_body(const char *next)
{
	static const char head[] = "{\"status\":\"fail\",\"output\":\"";
	size_t off = sizeof(head) - 1, len = sizeof(hi.hi_body) - 3;

	memcpy(hi.hi_body, head, sizeof(head));
	json_put(hi.hi_body, len, &off, "the preStop hook is not installed "
	    "at ");
	json_put(hi.hi_body, len, &off, hi.hi_dst);
	json_put(hi.hi_body, len, &off, ": ");
	json_put(hi.hi_body, len, &off, hi.hi_err);
	if (next != NULL) {
		json_put(hi.hi_body, len, &off, "; retrying in ");
		json_put(hi.hi_body, len, &off, next);
	}
	memcpy(hi.hi_body + off, "\"}\n", 4);	/* len kept room for it */
	hi.hi_body_len = off + 3;
}

/* a failure no retry can mend: /healthz fails for good, logged once */
static int
hook_cannot(const char *why)
{
	snprintf(hi.hi_err, sizeof(hi.hi_err), "%s", why);
	hi.hi_pending = 1;
	render_body(NULL);
	log_event(LOG_ERROR, "hook not installed: /healthz fails",
	    "path", hi.hi_dst, "error", hi.hi_err, NULL);
	return 0;
}

static void hook_retry(void *);

/* one attempt; on failure the next is armed and /healthz says why */
static void
hook_attempt(void)
{
	char next[32], n[16];
	uint64_t now = mono_ms();

	hi.hi_attempts++;
	snprintf(n, sizeof(n), "%u", hi.hi_attempts);
	if (hook_copy(hi.hi_src, hi.hi_dst, hi.hi_err, sizeof(hi.hi_err)) ==
	    0) {
		hi.hi_pending = 0;
		log_event(LOG_INFO, "hook installed", "path", hi.hi_dst,
		    "attempts", n, NULL);
		return;
	}
	hi.hi_pending = 1;
	fmt_duration(hi.hi_backoff_ms, next, sizeof(next));
	render_body(next);
	/* a new reason at once, the same one at most every minute */
	if (hi.hi_logged_at == 0 || strcmp(hi.hi_err, hi.hi_logged) != 0 ||
	    now - hi.hi_logged_at >= HOOK_LOG_EVERY_MS) {
		log_event(LOG_WARN, "hook not installed: /healthz fails until "
		    "it is; retrying", "path", hi.hi_dst, "error", hi.hi_err,
		    "attempts", n, "retry_in", next, NULL);
		hi.hi_logged_at = now;
		snprintf(hi.hi_logged, sizeof(hi.hi_logged), "%s", hi.hi_err);
	}
	if (hi.hi_timer != NULL)
		loop_timer_in(hi.hi_loop, hi.hi_timer, hi.hi_backoff_ms);
	hi.hi_backoff_ms = hi.hi_backoff_ms * 2 > HOOK_RETRY_MAX_MS ?
	    HOOK_RETRY_MAX_MS : hi.hi_backoff_ms * 2;
}

static void
hook_retry(void *arg)
{
	(void)arg;
	if (hi.hi_pending)
		hook_attempt();
}

int
hook_install_start(struct loop *l, const struct config *cfg)
{
	char self[PATH_MAX], *slash;
	const char *dst = cfg->cf_hook_install_path;
	ssize_t n;

	memset(&hi, 0, sizeof(hi));
	hi.hi_loop = l;
	hi.hi_backoff_ms = HOOK_RETRY_MIN_MS;
	if (dst == NULL || dst[0] == '\0')
		return 0;		/* nothing to install: /healthz passes */
	if (snprintf(hi.hi_dst, sizeof(hi.hi_dst), "%s", dst) >=
	    (int)sizeof(hi.hi_dst))
		return hook_cannot("path too long");
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		return hook_cannot("cannot find the agent's own executable "
		    "(readlink /proc/self/exe)");
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL ||
	    snprintf(hi.hi_src, sizeof(hi.hi_src), "%.*s/" HOOK_BINARY_NAME,
	    (int)(slash - self), self) >= (int)sizeof(hi.hi_src))
		return hook_cannot("the agent's directory is too long a path");
	if (strcmp(hi.hi_src, hi.hi_dst) == 0)
		return 0;		/* already where it belongs */
	if ((hi.hi_timer = loop_timer_new(l, hook_retry, NULL)) == NULL)
		return -1;		/* logged */
	hook_attempt();
	return 0;
}

void
hook_install_stop(void)
{
	if (hi.hi_timer != NULL)
		loop_timer_free(hi.hi_loop, hi.hi_timer);
	hi.hi_timer = NULL;
	hi.hi_pending = 0;
}

const char *
hook_install_unhealthy(size_t *len)
{
	if (!hi.hi_pending)
		return NULL;
	*len = hi.hi_body_len;
	return hi.hi_body;
}
