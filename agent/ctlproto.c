/*
 * ctlproto.c - the control socket's line protocol, one client at a time
 * (docs/CONTROL.md): one request line per connection; replies are bounded
 * and the connection is closed after them. A client that sends garbage,
 * too much or nothing is answered with an error or dropped; the agent
 * carries on. A client going away mid-drain does not affect the drain.
 * The listening socket that hands the clients over is control.c.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "control.h"
#include "ctlproto.h"
#include "drain.h"
#include "log.h"
#include "loop.h"
#include "util.h"

enum cc_state {
	CC_READING,		/* waiting for the request line */
	CC_WATCHING,		/* `drain`: a line per phase until drained */
	CC_CLOSING		/* flushing the last reply */
};

struct ctl_client {
	TAILQ_ENTRY(ctl_client) cc_entry;
	struct control	*cc_ctl;
	int		 cc_fd;
	struct loop_io	*cc_io;
	struct loop_timer *cc_timer;
	enum cc_state	 cc_state;
	char		 cc_in[CONTROL_LINE_MAX];
	size_t		 cc_inlen;
	struct buf	 cc_out;
	size_t		 cc_outoff;
	int		 cc_rdeof;	/* peer shut down its writing side */
	int		 cc_forbidden;	/* uid not in control_allowed_uids */
	char		 cc_peer[64];	/* "pid=1 uid=0 gid=0" */
};

static void	client_io(int, uint32_t, void *);

enum control_cmd
control_parse_line(const char *line, size_t len)
{
	static const struct {
		const char	*name;
		enum control_cmd cmd;
	} cmds[] = {
		{ "drain", CONTROL_DRAIN },
		{ "status", CONTROL_STATUS },
		{ "status text", CONTROL_STATUS_TEXT },
		{ "resume", CONTROL_RESUME },
		{ "quit", CONTROL_QUIT },
	};
	size_t i;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strlen(cmds[i].name) == len &&
		    memcmp(cmds[i].name, line, len) == 0)
			return cmds[i].cmd;
	return CONTROL_UNKNOWN;
}

/* ---- output ---- */

static void
client_want(struct ctl_client *cc)
{
	uint32_t ev = 0;

	if (cc->cc_outoff < cc->cc_out.b_len)
		ev |= EPOLLOUT;
	if (cc->cc_state != CC_CLOSING && !cc->cc_rdeof)
		ev |= EPOLLIN;
	(void)loop_io_mod(cc->cc_ctl->c_loop, cc->cc_io, ev);
}

/* write what we can; 0, or -1 when the client is gone (freed) */
static int
client_flush(struct ctl_client *cc)
{
	ssize_t n;

	while (cc->cc_outoff < cc->cc_out.b_len) {
		n = send(cc->cc_fd, cc->cc_out.b_data + cc->cc_outoff,
		    cc->cc_out.b_len - cc->cc_outoff, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			log_event(LOG_DEBUG, "control client gone", "peer",
			    cc->cc_peer, NULL);
			control_client_free(cc);
			return -1;
		}
		cc->cc_outoff += (size_t)n;
	}
	if (cc->cc_outoff == cc->cc_out.b_len) {
		buf_reset(&cc->cc_out);
		cc->cc_outoff = 0;
		if (cc->cc_state == CC_CLOSING) {
			control_client_free(cc);
			return -1;
		}
		if (cc->cc_state == CC_WATCHING)
			loop_timer_stop(cc->cc_ctl->c_loop, cc->cc_timer);
	} else
		loop_timer_in(cc->cc_ctl->c_loop, cc->cc_timer,
		    CONTROL_WRITE_TIMEOUT_MS);
	client_want(cc);
	return 0;
}

/* what is queued is the last reply: close once it is written */
static int
client_finish(struct ctl_client *cc)
{
	cc->cc_state = CC_CLOSING;
	loop_timer_in(cc->cc_ctl->c_loop, cc->cc_timer,
	    CONTROL_WRITE_TIMEOUT_MS);
	return client_flush(cc);
}

/* queue a reply; the last one closes the connection once written */
static int
client_reply(struct ctl_client *cc, int last, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
client_reply(struct ctl_client *cc, int last, const char *fmt, ...)
{
	va_list ap;
	int rv;

	va_start(ap, fmt);
	rv = buf_vprintf(&cc->cc_out, fmt, ap);
	va_end(ap);
	if (rv == -1) {
		log_event(LOG_WARN, "control reply too large or no memory",
		    "peer", cc->cc_peer, NULL);
		control_client_free(cc);
		return -1;
	}
	if (last)
		return client_finish(cc);
	return client_flush(cc);
}

static int
phase_line(struct ctl_client *cc, const struct drain_info *di)
{
	char conns[16];

	if (di->di_conns >= 0)
		snprintf(conns, sizeof(conns), "%d", di->di_conns);
	else
		snprintf(conns, sizeof(conns), "-");
	return client_reply(cc, di->di_phase == DRAIN_DRAINED ||
	    di->di_phase == DRAIN_SERVING,
	    "phase %s elapsed_ms=%" PRIu64 " connections=%s\n",
	    drain_phase_str(di->di_phase), di->di_drain_ms, conns);
}

/* ---- requests ---- */

static void
client_command(struct ctl_client *cc, const char *line, size_t len)
{
	struct control *c = cc->cc_ctl;
	struct drain_info di;
	enum control_cmd cmd = control_parse_line(line, len);
	int rv;

	/* refused once its line is read, so the reply is not lost to a
	 * reset of a socket closed with unread data */
	if (cc->cc_forbidden) {
		log_event(LOG_WARN, "control: peer refused", "peer",
		    cc->cc_peer, NULL);
		(void)client_reply(cc, 1, "error forbidden: this uid may not "
		    "use the control socket (control_allowed_uids)\n");
		return;
	}
	switch (cmd) {
	case CONTROL_DRAIN:
		log_event(LOG_INFO, "control: drain", "peer", cc->cc_peer,
		    NULL);
		loop_timer_stop(c->c_loop, cc->cc_timer);
		/* drain_begin() tells the watchers of `draining`; this one
		 * is not a watcher yet and is told the phase right after */
		drain_begin(c->c_drain, "prestop");
		cc->cc_state = CC_WATCHING;
		drain_info_quick(c->c_drain, &di);
		(void)phase_line(cc, &di);
		return;
	case CONTROL_STATUS:
	case CONTROL_STATUS_TEXT:
		log_event(LOG_DEBUG, "control: status", "peer", cc->cc_peer,
		    NULL);
		rv = cmd == CONTROL_STATUS ?
		    control_status_json(c->c_drain, c->c_health, c->c_kube,
		    &cc->cc_out) :
		    control_status_text(c->c_drain, c->c_health, c->c_kube,
		    &cc->cc_out);
		if (rv == -1) {
			buf_reset(&cc->cc_out);
			(void)client_reply(cc, 1, "error status too large\n");
			return;
		}
		(void)client_finish(cc);
		return;
	case CONTROL_RESUME:
		log_event(LOG_INFO, "control: resume", "peer", cc->cc_peer,
		    NULL);
		if (drain_resume(c->c_drain, "resume") == -1)
			(void)client_reply(cc, 1, "error shutting down\n");
		else
			(void)client_reply(cc, 1, "ok\n");
		return;
	case CONTROL_QUIT:
		/* the app is gone for good (wrap): exit 0 now, drained or
		 * not. The reply is written before the loop stops (a send
		 * into an empty socket buffer); the state file stays. */
		log_event(LOG_INFO, "control: quit", "peer", cc->cc_peer,
		    NULL);
		(void)client_reply(cc, 1, "ok\n");
		loop_stop(c->c_loop);
		return;
	default:
		log_event(LOG_WARN, "control: unknown command", "peer",
		    cc->cc_peer, NULL);
		(void)client_reply(cc, 1, "error unknown command\n");
		return;
	}
}

/* a watcher's peer closed its end: the drain goes on without it */
static int
peer_gone(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR));
}

static void
client_read(struct ctl_client *cc)
{
	char tmp[CONTROL_LINE_MAX];
	char *nl;
	ssize_t n;
	size_t room;

	if (cc->cc_state != CC_READING) {
		/* nothing more is expected: drain and drop what comes */
		n = recv(cc->cc_fd, tmp, sizeof(tmp), 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n > 0)
			return;
		if (n == 0 && !peer_gone(cc->cc_fd)) {
			cc->cc_rdeof = 1;	/* half-close: keep writing */
			client_want(cc);
			return;
		}
		log_event(LOG_DEBUG, "control client left", "peer",
		    cc->cc_peer, NULL);
		control_client_free(cc);
		return;
	}
	room = sizeof(cc->cc_in) - cc->cc_inlen;
	n = recv(cc->cc_fd, cc->cc_in + cc->cc_inlen, room, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1) {
		control_client_free(cc);
		return;
	}
	if (n == 0) {
		cc->cc_rdeof = 1;
		if (cc->cc_inlen == 0) {
			control_client_free(cc);
			return;
		}
		/* a last line without '\n' */
		client_command(cc, cc->cc_in, cc->cc_inlen);
		return;
	}
	cc->cc_inlen += (size_t)n;
	if ((nl = memchr(cc->cc_in, '\n', cc->cc_inlen)) != NULL) {
		client_command(cc, cc->cc_in, (size_t)(nl - cc->cc_in));
		return;
	}
	if (cc->cc_inlen == sizeof(cc->cc_in)) {
		log_event(LOG_WARN, "control: request line too long", "peer",
		    cc->cc_peer, NULL);
		(void)client_reply(cc, 1, "error line too long\n");
	}
}

static void
client_io(int fd, uint32_t events, void *arg)
{
	struct ctl_client *cc = arg;

	(void)fd;
	if (events & EPOLLOUT) {
		if (client_flush(cc) == -1)
			return;
	}
	if ((events & EPOLLIN) && cc->cc_state != CC_CLOSING)
		client_read(cc);
}

static void
client_timeout(void *arg)
{
	struct ctl_client *cc = arg;

	if (cc->cc_state == CC_READING) {
		log_event(LOG_WARN, "control: no request in time", "peer",
		    cc->cc_peer, NULL);
		buf_reset(&cc->cc_out);
		(void)client_reply(cc, 1, "error timeout\n");
		/* the reply timer was re-armed: a second expiry drops it */
		return;
	}
	log_event(LOG_WARN, "control: client does not read, dropped",
	    "peer", cc->cc_peer, NULL);
	control_client_free(cc);
}

void
control_client_free(struct ctl_client *cc)
{
	struct control *c = cc->cc_ctl;

	TAILQ_REMOVE(&c->c_clients, cc, cc_entry);
	c->c_nclients--;
	if (cc->cc_io != NULL)
		loop_io_del(c->c_loop, cc->cc_io);
	if (cc->cc_timer != NULL)
		loop_timer_free(c->c_loop, cc->cc_timer);
	close(cc->cc_fd);
	buf_free(&cc->cc_out);
	free(cc);
}

/* drain told us of a phase change: every watcher gets a line */
void
control_phase(void *arg, enum drain_phase phase)
{
	struct control *c = arg;
	struct ctl_client *cc, *next;
	struct drain_info di;
	int have = 0;

	(void)phase;
	for (cc = TAILQ_FIRST(&c->c_clients); cc != NULL; cc = next) {
		next = TAILQ_NEXT(cc, cc_entry);
		if (cc->cc_state != CC_WATCHING)
			continue;
		if (!have) {
			/* no /proc read here: /ready must not wait for it */
			drain_info_quick(c->c_drain, &di);
			have = 1;
		}
		(void)phase_line(cc, &di);
	}
}

/* a client control.c accepted: it has CONTROL_READ_TIMEOUT_MS to send its
 * request line; one that cannot be registered is dropped (fd closed) */
void
control_client_add(struct control *c, int cfd, const struct ucred *uc,
    int forbidden)
{
	struct ctl_client *cc;

	if ((cc = calloc(1, sizeof(*cc))) == NULL) {
		log_error("control: calloc");
		close(cfd);
		return;
	}
	cc->cc_ctl = c;
	cc->cc_fd = cfd;
	cc->cc_state = CC_READING;
	buf_init(&cc->cc_out, CONTROL_REPLY_MAX);
	cc->cc_forbidden = forbidden;
	if (uc->pid != -1)
		snprintf(cc->cc_peer, sizeof(cc->cc_peer),
		    "pid=%ld uid=%lu gid=%lu", (long)uc->pid,
		    (unsigned long)uc->uid, (unsigned long)uc->gid);
	else
		snprintf(cc->cc_peer, sizeof(cc->cc_peer), "unknown");
	TAILQ_INSERT_TAIL(&c->c_clients, cc, cc_entry);
	c->c_nclients++;
	if ((cc->cc_timer = loop_timer_new(c->c_loop, client_timeout,
	    cc)) == NULL || (cc->cc_io = loop_io_add(c->c_loop, cfd, EPOLLIN,
	    client_io, cc)) == NULL) {
		log_error("control: cannot register a client");
		control_client_free(cc);
		return;
	}
	loop_timer_in(c->c_loop, cc->cc_timer, CONTROL_READ_TIMEOUT_MS);
	log_event(LOG_DEBUG, "control client connected", "peer", cc->cc_peer,
	    NULL);
}
