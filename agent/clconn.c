/*
 * clconn.c - the client's side of the control socket (docs/CONTROL.md):
 * which socket, connect, send a request and read the reply under a
 * deadline, and the fallback delay when the agent cannot be reached.
 * libc only: linked statically into nodowntime-hook with client.c.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clconn.h"
#include "client.h"
#include "statefile.h"
#include "util.h"

#define CLIENT_REPLY_MAX	(1024 * 1024 + 1)

void
cl_sleep_ms(uint64_t ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* what poll() may wait until deadline: a --timeout of weeks must not wrap */
static int
poll_ms(uint64_t deadline, uint64_t now)
{
	return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

const char *
cl_socket(const struct cl_opts *o)
{
	const char *env;

	if (o->co_socket != NULL)
		return o->co_socket;
	if ((env = getenv(CLIENT_SOCKET_ENV)) != NULL && *env != '\0')
		return env;
	return CLIENT_DEFAULT_SOCKET;
}

/* a connected, non-blocking socket, or -1 with errno */
int
cl_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return -1;
	/* non-blocking: a Unix connect then never waits for the peer, and a
	 * full backlog (an agent that is alive but stuck) fails with EAGAIN
	 * at once; blocking, it would wait there past --timeout */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* the whole request; 0 or -1 */
int
cl_send(int fd, const char *req, uint64_t deadline)
{
	size_t len = strlen(req), off = 0;
	struct pollfd pfd;
	ssize_t n;
	uint64_t now;

	while (off < len) {
		n = send(fd, req + off, len - off, MSG_NOSIGNAL |
		    MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN)
			return -1;
		if ((now = mono_ms()) >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		(void)poll(&pfd, 1, poll_ms(deadline, now));
	}
	return 0;
}

/*
 * The next line (without '\n') into line, at most CLIENT_LINE_MAX - 1 bytes
 * (longer lines are cut). 1 a line, 0 EOF, -1 error (ETIMEDOUT at deadline).
 */
int
cl_readline(struct cl_conn *cn, char *line, size_t linelen,
    uint64_t deadline)
{
	struct pollfd pfd;
	char *nl;
	size_t n;
	ssize_t r;
	uint64_t now;

	for (;;) {
		if ((nl = memchr(cn->cn_buf, '\n', cn->cn_len)) != NULL ||
		    cn->cn_len == sizeof(cn->cn_buf)) {
			n = nl ? (size_t)(nl - cn->cn_buf) : cn->cn_len;
			snprintf(line, linelen, "%.*s", (int)n, cn->cn_buf);
			if (nl)
				n++;
			memmove(cn->cn_buf, cn->cn_buf + n, cn->cn_len - n);
			cn->cn_len -= n;
			return 1;
		}
		if ((now = mono_ms()) >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = cn->cn_fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, poll_ms(deadline, now)) == -1 &&
		    errno != EINTR)
			return -1;
		r = recv(cn->cn_fd, cn->cn_buf + cn->cn_len,
		    sizeof(cn->cn_buf) - cn->cn_len, MSG_DONTWAIT);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r == -1)
			return -1;
		if (r == 0) {
			if (cn->cn_len == 0)
				return 0;
			/* a last line without '\n' */
			snprintf(line, linelen, "%.*s", (int)cn->cn_len,
			    cn->cn_buf);
			cn->cn_len = 0;
			return 1;
		}
		cn->cn_len += (size_t)r;
	}
}

/* one request, the whole reply (until the agent closes) into a malloc'd
 * string; 0 or -1 with errno */
int
cl_request(const char *path, const char *req, uint64_t deadline,
    char **out, size_t *outlen)
{
	struct pollfd pfd;
	size_t len = 0, cap = 0;
	char *buf = NULL, *nb;
	ssize_t r;
	uint64_t now;
	int fd, saved;

	*out = NULL;
	if ((fd = cl_connect(path)) == -1)
		return -1;
	if (cl_send(fd, req, deadline) == -1)
		goto fail;
	for (;;) {
		if (cap - len < 4096) {
			if (cap >= CLIENT_REPLY_MAX) {
				errno = EMSGSIZE;
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			if ((nb = realloc(buf, cap + 1)) == NULL)
				goto fail;
			buf = nb;
		}
		r = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (r > 0) {
			len += (size_t)r;
			continue;
		}
		if (r == 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			goto fail;
		if ((now = mono_ms()) >= deadline) {
			errno = ETIMEDOUT;
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, poll_ms(deadline, now));
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
fail:
	saved = errno;
	close(fd);
	free(buf);
	errno = saved;
	return -1;
}

/*
 * The fallback delay: --fallback-delay, else delay_ms of the state file
 * next to the socket, else CLIENT_FALLBACK_MS. Where it came from goes to
 * why (may be NULL), truthfully: which file, and why it was not used.
 */
uint64_t
cl_fallback(const struct cl_opts *o, const char *path, char *why,
    size_t whylen)
{
	struct statefile sf;
	char state[PATH_MAX], err[128], d[32], scratch[1];
	const char *slash;

	if (why == NULL || whylen == 0) {
		why = scratch;		/* not wanted */
		whylen = sizeof(scratch);
	}
	if (o->co_fallback_set) {
		snprintf(why, whylen, "--fallback-delay");
		return o->co_fallback_ms;
	}
	if ((slash = strrchr(path, '/')) == NULL)
		snprintf(state, sizeof(state), "%s", CLIENT_STATE_NAME);
	else if (snprintf(state, sizeof(state), "%.*s/%s",
	    (int)(slash - path), path, CLIENT_STATE_NAME) >=
	    (int)sizeof(state))
		state[0] = '\0';
	fmt_duration(CLIENT_FALLBACK_MS, d, sizeof(d));
	if (state[0] == '\0') {
		snprintf(why, whylen, "the %s default: the socket path is too "
		    "long for a state file next to it", d);
		return CLIENT_FALLBACK_MS;
	}
	if (statefile_read(state, &sf, err, sizeof(err)) == 0) {
		snprintf(why, whylen, "delay_ms in the state file %s", state);
		return sf.sf_delay_ms;
	}
	if (errno == ENOENT)
		snprintf(why, whylen, "the %s default: no state file %s", d,
		    state);
	else
		snprintf(why, whylen, "the %s default: the state file %s is "
		    "unusable: %s", d, state, err);
	return CLIENT_FALLBACK_MS;
}

/*
 * Why the caller may not use the socket, and the fix, to stderr. forbidden
 * is the agent's "error forbidden" line (control_allowed_uids), or NULL for
 * a connect(2) that failed with EACCES/EPERM (the file mode, fsGroup).
 */
void
cl_explain_denied(const char *cmd, const char *path, const char *forbidden)
{
	gid_t groups[32];
	char gl[256];
	struct stat st;
	size_t off = 0;
	int n, i;

	gl[0] = '\0';
	n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
	for (i = 0; i < n && off < sizeof(gl); i++)
		off += (size_t)snprintf(gl + off, sizeof(gl) - off, "%s%u",
		    i ? "," : "", (unsigned)groups[i]);
	if (n == -1)
		snprintf(gl, sizeof(gl), "more than %zu",
		    sizeof(groups) / sizeof(groups[0]));
	else if (n == 0)
		snprintf(gl, sizeof(gl), "none");
	if (forbidden != NULL) {
		fprintf(stderr, "%s: the agent refused this process on its "
		    "control socket %s: uid %u gid %u (groups %s): %s\n"
		    "%s: fix: add uid %u to the agent's control_allowed_uids\n",
		    cmd, path, (unsigned)getuid(), (unsigned)getgid(), gl,
		    forbidden, cmd, (unsigned)getuid());
		return;
	}
	fprintf(stderr, "%s: permission denied on the agent's control socket "
	    "%s: uid %u gid %u (groups %s) may not connect", cmd, path,
	    (unsigned)getuid(), (unsigned)getgid(), gl);
	if (stat(path, &st) == 0) {
		fprintf(stderr, "; the socket is uid %u gid %u mode %04o\n",
		    (unsigned)st.st_uid, (unsigned)st.st_gid,
		    (unsigned)(st.st_mode & 07777));
		fprintf(stderr, "%s: fix: set the pod's securityContext."
		    "fsGroup: %u (the socket's group) so this container's "
		    "user can open it (or give the container that group in "
		    "supplementalGroups); if the agent sets "
		    "control_allowed_uids, add uid %u there too\n", cmd,
		    (unsigned)st.st_gid, (unsigned)getuid());
	} else {
		fprintf(stderr, "; its directory is out of reach too (%s)\n",
		    strerror(errno));
		fprintf(stderr, "%s: fix: set the pod's securityContext."
		    "fsGroup to the agent's group so this container's user "
		    "can reach the shared volume and open the socket; if the "
		    "agent sets control_allowed_uids, add uid %u there too\n",
		    cmd, (unsigned)getuid());
	}
}
