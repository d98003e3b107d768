/*
 * agentcheck.c - the agent-check port: HAProxy (agent-check, agent-port,
 * agent-inter) connects, may send its agent-send line, reads one line
 * and closes.
 *
 * The answer is a copy of the line health rendered with the /ready body
 * (healthwhy.c), taken at accept: nothing is computed here. It is written
 * at once, then the write side is shut down (the FIN tells HAProxy the
 * answer is whole); what the peer sends is read and dropped, at most
 * AGENTCHECK_READ_MAX bytes, until it closes. Bounded: at most
 * server.max_connections connections (past it a new one is closed
 * unanswered: HAProxy counts a failed agent check as no news, its health
 * check decides), each closed at its deadline (server.request_timeout, at
 * most AGENTCHECK_TIMEOUT_MS).
 */
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../config/config.h"
#include "agentcheck.h"
#include "health.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "server.h"

#define AC_ACCEPT_BATCH		64
#define AC_PAUSE_MS		100	/* after EMFILE */

struct ac_conn {
	TAILQ_ENTRY(ac_conn) an_entry;
	struct agentcheck *an_ac;
	int		 an_fd;
	struct loop_io	*an_io;
	struct loop_timer *an_timer;
	char		 an_out[HEALTH_AGENT_LINE_MAX];
	size_t		 an_outlen, an_outoff;
	size_t		 an_read;
};

struct agentcheck {
	struct loop	*ac_loop;
	const struct config *ac_cfg;
	struct health	*ac_health;
	struct metrics	*ac_metrics;
	int		 ac_fd;
	struct loop_io	*ac_io;
	struct loop_timer *ac_pause;
	uint64_t	 ac_warned;	/* mono ms of the last EMFILE/refusal log */
	size_t		 ac_nconns;
	TAILQ_HEAD(, ac_conn) ac_conns;
};

static void	ac_conn_io(int, uint32_t, void *);

static void
ac_conn_free(struct ac_conn *an)
{
	struct agentcheck *ac = an->an_ac;

	TAILQ_REMOVE(&ac->ac_conns, an, an_entry);
	ac->ac_nconns--;
	if (an->an_io != NULL)
		loop_io_del(ac->ac_loop, an->an_io);
	if (an->an_timer != NULL)
		loop_timer_free(ac->ac_loop, an->an_timer);
	close(an->an_fd);
	free(an);
}

static void
ac_conn_timeout(void *arg)
{
	ac_conn_free(arg);
}

/* 0: all written (write side shut), 1: more to write, -1: gone */
static int
ac_conn_write(struct ac_conn *an)
{
	ssize_t n;

	while (an->an_outoff < an->an_outlen) {
		n = send(an->an_fd, an->an_out + an->an_outoff,
		    an->an_outlen - an->an_outoff, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 1;
		if (n <= 0)
			return -1;
		an->an_outoff += (size_t)n;
	}
	(void)shutdown(an->an_fd, SHUT_WR);
	return 0;
}

/* drop what the peer sends; 0 until its FIN, -1 then or past the cap */
static int
ac_conn_read(struct ac_conn *an)
{
	char tmp[AGENTCHECK_READ_MAX];
	ssize_t n;

	for (;;) {
		n = recv(an->an_fd, tmp, sizeof(tmp), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		an->an_read += (size_t)n;
		if (an->an_read > AGENTCHECK_READ_MAX)
			return -1;
	}
}

static void
ac_conn_io(int fd, uint32_t events, void *arg)
{
	struct ac_conn *an = arg;
	int w;

	(void)fd;
	if ((events & EPOLLIN) && ac_conn_read(an) == -1) {
		ac_conn_free(an);
		return;
	}
	if (an->an_outoff < an->an_outlen && (events & EPOLLOUT)) {
		if ((w = ac_conn_write(an)) == -1) {
			ac_conn_free(an);
			return;
		}
		if (w == 0)
			(void)loop_io_mod(an->an_ac->ac_loop, an->an_io,
			    EPOLLIN);
	}
}

static int
ac_conn_start(struct agentcheck *ac, int cfd)
{
	struct ac_conn *an;
	const char *line;
	enum health_agent a;
	uint64_t to;
	size_t len;
	int w;

	if ((an = calloc(1, sizeof(*an))) == NULL) {
		log_warn("agent-check: connection");
		close(cfd);
		return -1;
	}
	an->an_ac = ac;
	an->an_fd = cfd;
	TAILQ_INSERT_TAIL(&ac->ac_conns, an, an_entry);
	ac->ac_nconns++;
	line = health_agent_line(ac->ac_health, &len, &a);
	memcpy(an->an_out, line, len);
	an->an_outlen = len;
	ac->ac_metrics->m_agent_answers[a]++;
	if ((w = ac_conn_write(an)) == -1) {
		ac_conn_free(an);
		return 0;
	}
	to = ac->ac_cfg->cf_request_timeout_ms;
	if (to > AGENTCHECK_TIMEOUT_MS)
		to = AGENTCHECK_TIMEOUT_MS;
	if ((an->an_timer = loop_timer_new(ac->ac_loop, ac_conn_timeout,
	    an)) == NULL || (an->an_io = loop_io_add(ac->ac_loop, cfd,
	    w ? EPOLLIN | EPOLLOUT : EPOLLIN, ac_conn_io, an)) == NULL) {
		log_warn("agent-check: connection");
		ac_conn_free(an);
		return -1;
	}
	loop_timer_in(ac->ac_loop, an->an_timer, to);
	return 0;
}

static void
ac_pause_end(void *arg)
{
	struct agentcheck *ac = arg;

	(void)loop_io_mod(ac->ac_loop, ac->ac_io, EPOLLIN);
}

/* at most one such line per 10 s */
static int
ac_may_warn(struct agentcheck *ac)
{
	uint64_t now = loop_now(ac->ac_loop);

	if (ac->ac_warned != 0 && now - ac->ac_warned < 10000)
		return 0;
	ac->ac_warned = now;
	return 1;
}

static void
ac_accept_cb(int fd, uint32_t events, void *arg)
{
	struct agentcheck *ac = arg;
	char open[24];
	int cfd, n;

	(void)events;
	for (n = 0; n < AC_ACCEPT_BATCH; n++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				if (ac_may_warn(ac))
					log_warn("agent-check: accept: pausing "
					    "%d ms", AC_PAUSE_MS);
				(void)loop_io_mod(ac->ac_loop, ac->ac_io, 0);
				loop_timer_in(ac->ac_loop, ac->ac_pause,
				    AC_PAUSE_MS);
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("agent-check: accept");
			return;
		}
		/* the adaptive drain leaves the agent's own accepts out */
		ac->ac_metrics->m_agent_conns_accepted++;
		if (ac->ac_nconns >= ac->ac_cfg->cf_max_connections) {
			close(cfd);
			ac->ac_metrics->m_agent_conns_refused++;
			if (ac_may_warn(ac)) {
				snprintf(open, sizeof(open), "%zu",
				    ac->ac_nconns);
				log_event(LOG_WARN, "agent-check: connection "
				    "refused: server.max_connections open",
				    "open", open, NULL);
			}
			continue;
		}
		(void)ac_conn_start(ac, cfd);
	}
}

struct agentcheck *
agentcheck_new(struct loop *l, const struct config *cfg, struct health *h,
    struct metrics *m, int *failed)
{
	struct agentcheck *ac;

	*failed = 0;
	if (cfg->cf_agent_listen == NULL || cfg->cf_agent_listen[0] == '\0')
		return NULL;
	*failed = 1;
	if ((ac = calloc(1, sizeof(*ac))) == NULL) {
		log_error("agent-check");
		return NULL;
	}
	ac->ac_fd = -1;
	ac->ac_loop = l;
	ac->ac_cfg = cfg;
	ac->ac_health = h;
	ac->ac_metrics = m;
	TAILQ_INIT(&ac->ac_conns);
	if ((ac->ac_fd = server_listen("agent_check.listen",
	    cfg->cf_agent_listen, cfg->cf_agent_listen_host,
	    cfg->cf_agent_listen_port)) == -1)
		goto fail;
	if ((ac->ac_pause = loop_timer_new(l, ac_pause_end, ac)) == NULL ||
	    (ac->ac_io = loop_io_add(l, ac->ac_fd, EPOLLIN, ac_accept_cb,
	    ac)) == NULL) {
		log_error("agent-check");
		goto fail;
	}
	m->m_agent_enabled = 1;
	log_event(LOG_INFO, "agent-check listening", "listen",
	    cfg->cf_agent_listen, NULL);
	*failed = 0;
	return ac;
fail:
	agentcheck_free(ac);
	return NULL;
}

void
agentcheck_free(struct agentcheck *ac)
{
	if (ac == NULL)
		return;
	while (!TAILQ_EMPTY(&ac->ac_conns))
		ac_conn_free(TAILQ_FIRST(&ac->ac_conns));
	if (ac->ac_io != NULL)
		loop_io_del(ac->ac_loop, ac->ac_io);
	if (ac->ac_pause != NULL)
		loop_timer_free(ac->ac_loop, ac->ac_pause);
	if (ac->ac_fd != -1)
		close(ac->ac_fd);
	free(ac);
}

void
agentcheck_reconfigure(struct agentcheck *ac, const struct config *cfg)
{
	if (ac != NULL)
		ac->ac_cfg = cfg;
}
