/*
 * control.c - the control socket: a Unix stream socket in the shared volume,
 * the only way to start a drain (never TCP). This file makes the socket,
 * accepts its clients and checks their uid; what a client may say and what
 * it is answered is ctlproto.c.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../config/config.h"
#include "control.h"
#include "ctlproto.h"
#include "drain.h"
#include "log.h"
#include "loop.h"
#include "util.h"

/*
 * Out of file descriptors (or kernel memory), accept(2) fails while the
 * listening socket stays readable: retrying at once would spin the loop at
 * 100% CPU and write a warning per turn. Stop watching it for this long
 * instead; the pending clients wait in the backlog.
 */
#define CONTROL_ACCEPT_PAUSE_MS	100
#define CONTROL_ACCEPT_WARN_MS	10000	/* one warning per episode, at most */

static void
control_resume_accept(void *arg)
{
	struct control *c = arg;

	(void)loop_io_mod(c->c_loop, c->c_io, EPOLLIN);
}

static void
control_pause_accept(struct control *c, int err)
{
	uint64_t now = loop_now(c->c_loop);
	char n[24];

	c->c_refused++;
	if (c->c_paused_at == 0 ||
	    now - c->c_paused_at >= CONTROL_ACCEPT_WARN_MS) {
		snprintf(n, sizeof(n), "%" PRIu64, c->c_refused);
		log_event(LOG_WARN, "control: accept failed, pausing accept "
		    "(out of file descriptors or memory)", "error",
		    strerror(err), "failures", n, NULL);
		c->c_paused_at = now;
		c->c_refused = 0;
	}
	if (c->c_pause == NULL &&
	    (c->c_pause = loop_timer_new(c->c_loop, control_resume_accept,
	    c)) == NULL)
		return;		/* no timer: retry on the next readiness */
	(void)loop_io_mod(c->c_loop, c->c_io, 0);
	loop_timer_in(c->c_loop, c->c_pause, CONTROL_ACCEPT_PAUSE_MS);
}

/* control_allowed_uids: none listed = any peer the socket mode admits;
 * the agent's own uid always (status from inside the sidecar) */
UNITTEST_STATIC int
control_peer_allowed(const struct config *cfg, uid_t uid)
{
	size_t i;

	if (cfg->cf_ncontrol_uids == 0 || uid == geteuid())
		return 1;
	for (i = 0; i < cfg->cf_ncontrol_uids; i++)
		if (cfg->cf_control_uids[i] == (unsigned)uid)
			return 1;
	return 0;
}

static void
control_accept(int fd, uint32_t events, void *arg)
{
	struct control *c = arg;
	struct ucred uc;
	socklen_t ulen = sizeof(uc);
	int cfd;

	(void)events;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM)
			control_pause_accept(c, errno);
		else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control: accept");
		return;
	}
	if (c->c_nclients >= CONTROL_MAX_CLIENTS) {
		static const char busy[] = "error busy\n";

		log_event(LOG_WARN, "control: too many clients", NULL);
		(void)send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
		close(cfd);
		return;
	}
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &uc, &ulen) == -1)
		uc.pid = -1, uc.uid = (uid_t)-1, uc.gid = (gid_t)-1;
	control_client_add(c, cfd, &uc, !control_peer_allowed(c->c_cfg,
	    uc.uid));
}

/* mkdir -p of the socket's directory, 0755 */
static int
make_parent(const char *path)
{
	char dir[PATH_MAX], *p, save;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -1;
	if ((p = strrchr(dir, '/')) == NULL || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		save = *p;
		*p = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			log_warn("control: mkdir %s", dir);
			return -1;
		}
		*p = save;
		if (save == '\0')
			break;
	}
	return 0;
}

/* a socket file already there: another agent's (refuse) or stale (remove) */
static int
clear_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rv;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		log_errorx("control: %s exists and is not a socket; not "
		    "removing it", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rv = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rv == 0) {
		log_errorx("control: another agent is live on %s", path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		log_error("control: probing %s", path);
		return -1;
	}
	log_event(LOG_INFO, "control: replacing a stale socket", "path",
	    path, NULL);
	if (unlink(path) == -1 && errno != ENOENT) {
		log_error("control: unlink %s", path);
		return -1;
	}
	return 0;
}

struct control *
control_new(struct loop *loop, const struct config *cfg, struct drain *d,
    struct health *h)
{
	struct control *c;
	struct sockaddr_un sun;
	struct stat st;
	const char *path = cfg->cf_control_socket;
	mode_t old;
	int rv;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_error("control: calloc");
		return NULL;
	}
	c->c_loop = loop;
	c->c_cfg = cfg;
	c->c_drain = d;
	c->c_health = h;
	c->c_fd = -1;
	TAILQ_INIT(&c->c_clients);
	if (path == NULL || path[0] == '\0') {
		log_event(LOG_WARN, "control socket disabled: prestop cannot "
		    "reach the agent", NULL);
		return c;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_errorx("control: socket path too long (max %zu): %s",
		    sizeof(sun.sun_path) - 1, path);
		goto fail;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (make_parent(path) == -1 || clear_stale(path, &sun) == -1)
		goto fail;
	c->c_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (c->c_fd == -1) {
		log_error("control: socket");
		goto fail;
	}
	/* created 0660: the app container's user may share our group */
	old = umask(0117);
	rv = bind(c->c_fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rv == -1) {
		log_error("control: bind %s", path);
		goto fail;
	}
	snprintf(c->c_path, sizeof(c->c_path), "%s", path);
	if (chmod(path, 0660) == -1 || lstat(path, &st) == -1) {
		log_error("control: chmod %s", path);
		goto fail;
	}
	c->c_dev = st.st_dev;
	c->c_ino = st.st_ino;
	if (listen(c->c_fd, CONTROL_MAX_CLIENTS) == -1) {
		log_error("control: listen %s", path);
		goto fail;
	}
	if ((c->c_io = loop_io_add(loop, c->c_fd, EPOLLIN, control_accept,
	    c)) == NULL) {
		log_errorx("control: cannot register the socket");
		goto fail;
	}
	drain_set_listener(d, control_phase, c);
	log_event(LOG_INFO, "control socket listening", "path", path, NULL);
	return c;
fail:
	control_free(c);
	return NULL;
}

void
control_reconfigure(struct control *c, const struct config *cfg)
{
	c->c_cfg = cfg;
}

void
control_set_kube(struct control *c, struct kube *k)
{
	c->c_kube = k;
}

void
control_free(struct control *c)
{
	struct stat st;

	if (c == NULL)
		return;
	while (!TAILQ_EMPTY(&c->c_clients))
		control_client_free(TAILQ_FIRST(&c->c_clients));
	if (c->c_pause != NULL)
		loop_timer_free(c->c_loop, c->c_pause);
	if (c->c_io != NULL)
		loop_io_del(c->c_loop, c->c_io);
	if (c->c_fd != -1) {
		drain_set_listener(c->c_drain, NULL, NULL);
		close(c->c_fd);
	}
	/* remove the socket file only if it is still the one we made */
	if (c->c_path[0] != '\0' && lstat(c->c_path, &st) == 0 &&
	    st.st_dev == c->c_dev && st.st_ino == c->c_ino)
		(void)unlink(c->c_path);
	free(c);
}
