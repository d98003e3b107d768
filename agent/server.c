/*
 * server.c - /live /ready /startup /healthz /metrics over libmicrohttpd,
 * driven by our loop: MHD runs in external epoll mode, its epoll fd is
 * registered in ours, and its timeout is one of our timers. What each path
 * answers is endpoints.c's.
 *
 * The listening socket is ours, not MHD's: the loop accepts,
 * server_head.c reads the first request head, and only then is the
 * connection handed over with MHD_add_connection(). On EMFILE accepting
 * pauses for a moment instead of spinning (MHD's own accept retries at
 * once, and may drop its listen socket out of its epoll set until a
 * MHD_run() that never comes).
 *
 * At max_connections a new connection is admitted by closing the one that
 * has been idle longest, as nginx does when it runs out of connections:
 * idle is waiting for a (first or next) request with no byte of it
 * received. One with a request under way, or a response being written, is
 * never closed; when every connection is busy the new one is refused
 * (closed at once). Waiting in the backlog instead would let a client that
 * opens max_connections idle connections hold every probe for
 * request_timeout. Which connection is idle is server_conn.c's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "../config/config.h"
#include "health.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "server.h"
#include "server_priv.h"
#include "util.h"

/* per-connection memory: request line + headers must fit; server_head.c
 * refuses a first head over SERVER_HEAD_MAX, MHD a later one over ~6 KiB */
#define SERVER_CONN_MEMORY	8192
#define SERVER_ACCEPT_BATCH	64	/* accepts per wake-up */
#define SERVER_ACCEPT_PAUSE_MS	100	/* after EMFILE and the like */

static void
server_conn_notify(void *arg, struct MHD_Connection *c, void **sctx,
    enum MHD_ConnectionNotificationCode toe)
{
	struct server *sv = arg;
	struct sconn *sc = *sctx;

	(void)c;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (sc == NULL)
			return;
		*sctx = NULL;
		server_sconn_free(sv, sc);
		return;
	}
	/* started: the connection server_head.c is handing over */
	if ((sc = sv->sv_adding) == NULL)
		return;
	sv->sv_adding = NULL;
	sc->sc_state = SC_MHD;
	sc->sc_busy = 1;	/* its first head is there to be read */
	*sctx = sc;
}

static void
server_completed(void *arg, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct server *sv = arg;
	struct sconn *sc = server_sconn_of(c);

	(void)con_cls;
	(void)toe;
	if (sc != NULL)
		server_sconn_idle(sv, sc);	/* for the next request */
}

void
server_run(struct server *sv)
{
	if (MHD_run(sv->sv_mhd) == MHD_NO)
		log_debug("server: MHD_run failed");
}

static void
server_io_cb(int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	server_run(arg);
}

static void
server_timer_cb(void *arg)
{
	server_run(arg);
}

/* before the loop sleeps: MHD's next timeout becomes our timer */
static void
server_before_sleep(void *arg)
{
	struct server *sv = arg;
	MHD_UNSIGNED_LONG_LONG to;

	if (MHD_get_timeout(sv->sv_mhd, &to) == MHD_YES)
		loop_timer_in(sv->sv_loop, sv->sv_timer, (uint64_t)to);
	else
		loop_timer_stop(sv->sv_loop, sv->sv_timer);
}

/* at the limit with SERVER_KILL_SLACK connections still closing: wait */
static int
server_full(const struct server *sv)
{
	return sv->sv_nconns - sv->sv_nkilled >=
	    sv->sv_cfg->cf_max_connections &&
	    sv->sv_nkilled >= SERVER_KILL_SLACK;
}

/* accept unless paused (EMFILE) or waiting for closes */
void
server_accept_on(struct server *sv)
{
	int want;

	if (sv->sv_lio == NULL || sv->sv_pause == NULL || sv->sv_mhd == NULL)
		return;		/* starting or stopping */
	want = !server_full(sv) && !loop_timer_armed(sv->sv_pause);
	if (want == sv->sv_accepting)
		return;
	if (loop_io_mod(sv->sv_loop, sv->sv_lio, want ? EPOLLIN : 0) == 0)
		sv->sv_accepting = want;
}

static void
server_pause_cb(void *arg)
{
	server_accept_on(arg);
}

static void
server_accept_cb(int fd, uint32_t events, void *arg)
{
	struct server *sv = arg;
	struct sockaddr_storage ss;
	socklen_t slen;
	char open[24];
	int cfd, n;

	(void)events;
	for (n = 0; n < SERVER_ACCEPT_BATCH && !server_full(sv); n++) {
		slen = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &slen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				uint64_t now = loop_now(sv->sv_loop);

				if (now - sv->sv_emfile_warned >= 10000 ||
				    sv->sv_emfile_warned == 0) {
					log_warn("http: accept: pausing %d ms",
					    SERVER_ACCEPT_PAUSE_MS);
					sv->sv_emfile_warned = now;
				}
				loop_timer_in(sv->sv_loop, sv->sv_pause,
				    SERVER_ACCEPT_PAUSE_MS);
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("http: accept");
			break;
		}
		sv->sv_metrics->m_http_conns_accepted++;
		if (sv->sv_nconns - sv->sv_nkilled >=
		    sv->sv_cfg->cf_max_connections && server_evict(sv) == -1) {
			close(cfd);
			sv->sv_metrics->m_http_conns_refused++;
			snprintf(open, sizeof(open), "%zu", sv->sv_nconns);
			server_note(sv, NOTE_REFUSED, "open", open, NULL, NULL);
			continue;
		}
		/* server_head.c owns cfd from here, closes it on failure */
		(void)server_head_start(sv, cfd, &ss, slen);
	}
	server_accept_on(sv);
	server_run(sv);
}

int
server_listen(const char *what, const char *addr, const char *host,
    unsigned port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t slen;
	int fd = -1, on = 1, off = 0;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		slen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host,
	    &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		slen = sizeof(*sin6);
	} else {
		log_errorx("%s: '%s' is not an IP address (write "
		    "0.0.0.0:%u, 127.0.0.1:%u or [::]:%u)", what, addr, port,
		    port, port);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		log_error("%s %s: socket", what, addr);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		log_warn("%s %s: SO_REUSEADDR", what, addr);
	/* "[::]:3000" serves IPv4 too */
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == -1)
		log_warn("%s %s: IPV6_V6ONLY", what, addr);
	if (bind(fd, (struct sockaddr *)&ss, slen) == -1) {
		log_error("%s %s: bind", what, addr);
		goto fail;
	}
	if (listen(fd, 1024) == -1) {
		log_error("%s %s: listen", what, addr);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

struct server *
server_new(struct loop *l, const struct config *cfg, struct health *h,
    struct metrics *m)
{
	static const char body404[] =
	    "{\"status\":\"fail\",\"output\":\"not found: try /live, /ready, "
	    "/startup, /healthz or /metrics\"}\n";
	static const char body405[] =
	    "{\"status\":\"fail\",\"output\":\"method not allowed: GET or "
	    "HEAD\"}\n";
	static const char bodyhz[] = "{\"status\":\"pass\"}\n";
	const union MHD_DaemonInfo *info;
	struct server *sv;
	unsigned timeout_s;

	if ((sv = calloc(1, sizeof(*sv))) == NULL) {
		log_error("server");
		return NULL;
	}
	sv->sv_loop = l;
	sv->sv_cfg = cfg;
	sv->sv_health = h;
	sv->sv_metrics = m;
	sv->sv_fd = -1;
	buf_init(&sv->sv_mbuf, SERVER_METRICS_MAX);

	sv->sv_404 = server_response_new(body404, sizeof(body404) - 1,
	    CT_HEALTH);
	sv->sv_405 = server_response_new(body405, sizeof(body405) - 1,
	    CT_HEALTH);
	sv->sv_healthz = server_response_new(bodyhz, sizeof(bodyhz) - 1,
	    CT_HEALTH);
	if (sv->sv_404 == NULL || sv->sv_405 == NULL || sv->sv_healthz == NULL ||
	    MHD_add_response_header(sv->sv_405, MHD_HTTP_HEADER_ALLOW,
	    "GET, HEAD") == MHD_NO) {
		log_errorx("server: cannot build responses");
		goto fail;
	}
	if (server_refresh(sv) == -1)
		goto fail;

	if ((sv->sv_fd = server_listen("listen", cfg->cf_listen,
	    cfg->cf_listen_host, cfg->cf_listen_port)) == -1)
		goto fail;
	/* MHD counts whole seconds: round the request timeout up */
	timeout_s = (unsigned)((cfg->cf_request_timeout_ms + 999) / 1000);
	if (timeout_s == 0)
		timeout_s = 1;
	sv->sv_mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_TURBO |
	    MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    server_handler, sv,
	    /* first, or MHD logs the options before it to stderr itself */
	    MHD_OPTION_EXTERNAL_LOGGER, server_logger, sv,
	    /* ours is the limit; MHD's leaves room for the ones closing */
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)cfg->cf_max_connections + SERVER_KILL_SLACK,
	    MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_CONN_MEMORY,
	    MHD_OPTION_NOTIFY_CONNECTION, server_conn_notify, sv,
	    MHD_OPTION_NOTIFY_COMPLETED, server_completed, sv,
	    MHD_OPTION_END);
	if (sv->sv_mhd == NULL) {
		log_errorx("server: cannot start HTTP daemon on %s",
		    cfg->cf_listen);
		goto fail;
	}
	info = MHD_get_daemon_info(sv->sv_mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL) {
		log_errorx("server: no epoll fd from libmicrohttpd");
		goto fail;
	}
	sv->sv_io = loop_io_add(l, info->epoll_fd, EPOLLIN, server_io_cb, sv);
	sv->sv_timer = loop_timer_new(l, server_timer_cb, sv);
	sv->sv_sweep = loop_timer_new(l, server_sweep, sv);
	sv->sv_pause = loop_timer_new(l, server_pause_cb, sv);
	sv->sv_lio = loop_io_add(l, sv->sv_fd, 0, server_accept_cb, sv);
	if (sv->sv_pause == NULL || sv->sv_lio == NULL)
		goto fail;
	server_accept_on(sv);
	if (sv->sv_sweep != NULL)
		loop_timer_in(l, sv->sv_sweep, SERVER_SWEEP_MS);
	if (sv->sv_io == NULL || sv->sv_timer == NULL || sv->sv_sweep == NULL ||
	    loop_before_sleep(l, server_before_sleep, sv) == -1)
		goto fail;
	return sv;
fail:
	server_free(sv);
	return NULL;
}

void
server_reconfigure(struct server *sv, const struct config *cfg)
{
	sv->sv_cfg = cfg;
}

void
server_free(struct server *sv)
{
	int e;

	if (sv == NULL)
		return;
	if (sv->sv_io)
		loop_io_del(sv->sv_loop, sv->sv_io);
	/* first: it closes every connection, and each close re-evaluates
	 * accepting (server_accept_on), which needs the timers below */
	if (sv->sv_mhd)
		MHD_stop_daemon(sv->sv_mhd);
	sv->sv_mhd = NULL;
	/* the ones MHD never had (it has told the close of all its own) */
	while (sv->sv_conns != NULL) {
		if (sv->sv_conns->sc_state == SC_MHD)
			server_sconn_free(sv, sv->sv_conns);
		else
			server_head_close(sv, sv->sv_conns);
	}
	if (sv->sv_timer)
		loop_timer_free(sv->sv_loop, sv->sv_timer);
	if (sv->sv_sweep)
		loop_timer_free(sv->sv_loop, sv->sv_sweep);
	if (sv->sv_lio)
		loop_io_del(sv->sv_loop, sv->sv_lio);
	if (sv->sv_pause)
		loop_timer_free(sv->sv_loop, sv->sv_pause);
	if (sv->sv_fd != -1)
		close(sv->sv_fd);
	for (e = 0; e < HEALTH_NENDPOINTS; e++)
		if (sv->sv_view[e])
			MHD_destroy_response(sv->sv_view[e]);
	if (sv->sv_healthz)
		MHD_destroy_response(sv->sv_healthz);
	if (sv->sv_404)
		MHD_destroy_response(sv->sv_404);
	if (sv->sv_405)
		MHD_destroy_response(sv->sv_405);
	buf_free(&sv->sv_mbuf);
	free(sv);
}
