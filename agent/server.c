/*
 * server.c - /live /ready /startup /healthz /metrics over libmicrohttpd,
 * driven by our loop: MHD runs in external epoll mode, its epoll fd is
 * registered in ours, and its timeout is one of our timers. What each path
 * answers is endpoints.c's.
 *
 * The listening socket is ours, not MHD's: the loop accepts,
 * server_head.c reads the first request head, and only then is the
 * connection handed over with MHD_add_connection(). On EMFILE accepting pauses for a moment instead of
 * spinning (MHD's own accept retries at once, and may drop its listen
 * socket out of its epoll set until a MHD_run() that never comes).
 *
 * At max_connections a new connection is admitted by closing the one that
 * has been idle longest, as nginx does when it runs out of connections:
 * idle is waiting for a (first or next) request with no byte of it
 * received. One with a request under way, or a response being written, is
 * never closed; when every connection is busy the new one is refused
 * (closed at once). Waiting in the backlog instead would let a client that
 * opens max_connections idle connections hold every probe for
 * request_timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
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
#define SERVER_SWEEP_MS		250	/* request-head deadline checks */
#define SERVER_PEEK_MS		1000	/* between peeks at an idle one */
#define SERVER_ACCEPT_BATCH	64	/* accepts per wake-up */
#define SERVER_ACCEPT_PAUSE_MS	100	/* after EMFILE and the like */
/* connections shut down to make room but not yet closed by MHD: past this
 * many, new ones wait in the backlog for a moment */
#define SERVER_KILL_SLACK	64
#define SERVER_LINGER_MS	2000	/* SC_CLOSING: reading until EOF */
#define SERVER_NOTE_MS		5000	/* one line a kind per this */

static void	server_accept_on(struct server *);

/* what server_note logs, by kind */
static const struct {
	enum log_level	 level;
	const char	*msg;
} server_notes[NOTE_N] = {
	[NOTE_EVICTED] = { LOG_WARN, "http: at server.max_connections: "
	    "closed the longest-idle connection to admit a new one" },
	[NOTE_REFUSED] = { LOG_WARN, "http: at server.max_connections and "
	    "no connection idle: new connection refused" },
	/* one kind per code: a flood of one hides none of the others */
	[NOTE_BAD_400] = { LOG_INFO, "http: request refused" },
	[NOTE_BAD_414] = { LOG_INFO, "http: request refused" },
	[NOTE_BAD_431] = { LOG_INFO, "http: request refused" },
	[NOTE_BAD_505] = { LOG_INFO, "http: request refused" },
	[NOTE_BAD_OTHER] = { LOG_INFO, "http: request refused" },
};

enum server_note_kind
server_note_of_code(unsigned code)
{
	switch (code) {
	case 400: return NOTE_BAD_400;
	case 414: return NOTE_BAD_414;
	case 431: return NOTE_BAD_431;
	case 505: return NOTE_BAD_505;
	default:  return NOTE_BAD_OTHER;
	}
}

void
server_note(struct server *sv, enum server_note_kind k, const char *k1,
    const char *v1, const char *k2, const char *v2)
{
	struct server_note *sn = &sv->sv_notes[k];
	uint64_t now = loop_now(sv->sv_loop);

	if (now < sn->sn_next) {
		sn->sn_suppressed++;
		return;
	}
	sn->sn_next = now + SERVER_NOTE_MS;
	log_event(server_notes[k].level, server_notes[k].msg, k1, v1, k2, v2,
	    NULL);
}

/* the sweep: how many were not logged, once their window has passed */
static void
server_notes_flush(struct server *sv, uint64_t now)
{
	struct server_note *sn;
	char n[24], win[24];
	int k;

	for (k = 0; k < NOTE_N; k++) {
		sn = &sv->sv_notes[k];
		if (sn->sn_suppressed == 0 || now < sn->sn_next)
			continue;
		snprintf(n, sizeof(n), "%llu",
		    (unsigned long long)sn->sn_suppressed);
		snprintf(win, sizeof(win), "%d", SERVER_NOTE_MS);
		log_event(server_notes[k].level, server_notes[k].msg,
		    "more", n, "within_ms", win, NULL);
		sn->sn_suppressed = 0;
		sn->sn_next = now + SERVER_NOTE_MS;
	}
}

struct sconn *
server_sconn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* bytes the kernel has received on fd (TCP_INFO); UINT64_MAX unknown */
static uint64_t
server_rx_bytes(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) +
	    sizeof(ti.tcpi_bytes_received))
		return UINT64_MAX;
	return ti.tcpi_bytes_received;
}

static void
server_sconn_unlink(struct server *sv, struct sconn *sc)
{
	if (sc->sc_prev)
		sc->sc_prev->sc_next = sc->sc_next;
	else
		sv->sv_conns = sc->sc_next;
	if (sc->sc_next)
		sc->sc_next->sc_prev = sc->sc_prev;
	else
		sv->sv_conns_tail = sc->sc_prev;
	sc->sc_prev = sc->sc_next = NULL;
}

/* at the tail: the most recently idle */
static void
server_sconn_append(struct server *sv, struct sconn *sc)
{
	sc->sc_prev = sv->sv_conns_tail;
	sc->sc_next = NULL;
	if (sv->sv_conns_tail)
		sv->sv_conns_tail->sc_next = sc;
	else
		sv->sv_conns = sc;
	sv->sv_conns_tail = sc;
}

void
server_sconn_add(struct server *sv, struct sconn *sc)
{
	server_sconn_append(sv, sc);
	sv->sv_nconns++;
	sv->sv_metrics->m_http_conns_open = sv->sv_nconns;
}

/* forget sc (its fd is closed, or MHD's to close) */
void
server_sconn_free(struct server *sv, struct sconn *sc)
{
	server_sconn_unlink(sv, sc);
	if (sc->sc_killed)
		sv->sv_nkilled--;
	sv->sv_nconns--;
	sv->sv_metrics->m_http_conns_open = sv->sv_nconns;
	free(sc);
	server_accept_on(sv);	/* a slot freed */
}

/* the handler's first call for a request: its head is complete */
void
server_sconn_request(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;
	struct sconn *sc = server_sconn_of(c);

	if (sc == NULL)
		return;
	sc->sc_waiting = 0;	/* no sweep cuts it, nor its answer */
	ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (ci != NULL)
		sc->sc_consumed += ci->header_size;
	else
		sc->sc_consumed = UINT64_MAX;	/* unknown: never idle */
}

/* sc waits for its next request, from now */
static void
server_sconn_idle(struct server *sv, struct sconn *sc)
{
	server_sconn_unlink(sv, sc);
	server_sconn_append(sv, sc);
	sc->sc_waiting = 1;
	sc->sc_busy = 0;
	sc->sc_since = loop_now(sv->sv_loop);
	sc->sc_peek_at = sc->sc_since + SERVER_SWEEP_MS;
}

/*
 * May sc be closed to admit a new one? It waits for a request and the
 * kernel has received no byte beyond the request heads MHD has parsed
 * (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE is exact, line and CRLFs
 * included): a partial next head sits in MHD's buffer where no peek sees
 * it, and may have come before MHD finished the previous answer. Counting
 * what was parsed, not what had arrived at the end of the last answer,
 * tells it apart. Once such bytes are seen it is busy until its response
 * is out. Requests with a body never keep their connection here (405, or
 * answered at once and closed), and stray CRLFs before a request line only
 * make a connection look busy, never idle.
 */
static int
server_sconn_evictable(struct sconn *sc)
{
	if (sc->sc_state == SC_CLOSING)
		return 1;	/* answered already, reading until EOF */
	if (!sc->sc_waiting || sc->sc_killed || sc->sc_busy)
		return 0;
	if (server_rx_bytes(sc->sc_fd) != sc->sc_consumed) {
		sc->sc_busy = 1;
		return 0;
	}
	return 1;
}

/* close the longest-idle connection; 0, or -1 if none is idle */
static int
server_evict(struct server *sv)
{
	uint64_t now = loop_now(sv->sv_loop);
	struct sconn *sc;
	char idle[24];

	for (sc = sv->sv_conns; sc != NULL; sc = sc->sc_next)
		if (server_sconn_evictable(sc))
			break;
	if (sc == NULL)
		return -1;
	snprintf(idle, sizeof(idle), "%llu",
	    (unsigned long long)(now - sc->sc_since));
	sv->sv_metrics->m_http_conns_evicted++;
	server_note(sv, NOTE_EVICTED, "idle_ms", idle, NULL, NULL);
	if (sc->sc_state == SC_MHD) {
		/* MHD sees the end of the stream and closes it */
		(void)shutdown(sc->sc_fd, SHUT_RDWR);
		sc->sc_killed = 1;
		sv->sv_nkilled++;
	} else
		server_head_close(sv, sc);
	return 0;
}

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

/*
 * Has the peer closed its side, with nothing left unread? MHD's epoll
 * mode is edge-triggered and misses a FIN that came with the last request,
 * or while it worked through pipelined ones: it would hold the connection
 * until request_timeout. Asked SERVER_SWEEP_MS after a request, then every
 * SERVER_PEEK_MS while the connection waits (none on a busy keep-alive
 * connection; a recv a second per idle one).
 */
static int
server_peer_gone(struct sconn *sc, uint64_t now)
{
	char c;

	if (now < sc->sc_peek_at)
		return 0;
	sc->sc_peek_at = now + SERVER_PEEK_MS;
	return recv(sc->sc_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void
server_sweep(void *arg)
{
	struct server *sv = arg;
	uint64_t now = loop_now(sv->sv_loop);
	uint64_t limit = sv->sv_cfg->cf_request_timeout_ms;
	struct sconn *sc, *next;
	size_t cut = 0, gone = 0;
	char n[24];

	for (sc = sv->sv_conns; sc != NULL; sc = next) {
		next = sc->sc_next;
		if (sc->sc_state != SC_MHD) {
			/* ours: closed here, at once */
			if (now - sc->sc_since > (sc->sc_state == SC_HEAD ?
			    limit : SERVER_LINGER_MS)) {
				cut += sc->sc_state == SC_HEAD;
				server_head_close(sv, sc);
			}
			continue;
		}
		if (!sc->sc_waiting || sc->sc_killed)
			continue;
		if (now - sc->sc_since > limit)
			cut++;
		else if (server_peer_gone(sc, now))
			gone++;
		else
			continue;
		/* MHD sees the end of the stream and closes it */
		(void)shutdown(sc->sc_fd, SHUT_RDWR);
		sc->sc_killed = 1;
		sv->sv_nkilled++;
	}
	if (cut) {
		sv->sv_head_timeouts += cut;
		snprintf(n, sizeof(n), "%zu", cut);
		log_event(LOG_DEBUG, "http: request head too slow, "
		    "connections closed", "count", n, NULL);
	}
	if (gone) {
		snprintf(n, sizeof(n), "%zu", gone);
		log_event(LOG_DEBUG, "http: peer closed its side, connections "
		    "closed", "count", n, NULL);
	}
	server_notes_flush(sv, now);
	loop_timer_in(sv->sv_loop, sv->sv_sweep, SERVER_SWEEP_MS);
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
static void
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

static int
server_listen(const struct config *cfg)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t slen;
	int fd = -1, on = 1, off = 0;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, cfg->cf_listen_host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)cfg->cf_listen_port);
		slen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, cfg->cf_listen_host,
	    &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)cfg->cf_listen_port);
		slen = sizeof(*sin6);
	} else {
		log_errorx("listen: '%s' is not an IP address (write "
		    "0.0.0.0:3000, 127.0.0.1:3000 or [::]:3000)",
		    cfg->cf_listen);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		log_error("listen %s: socket", cfg->cf_listen);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		log_warn("listen %s: SO_REUSEADDR", cfg->cf_listen);
	/* "[::]:3000" serves IPv4 too */
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == -1)
		log_warn("listen %s: IPV6_V6ONLY", cfg->cf_listen);
	if (bind(fd, (struct sockaddr *)&ss, slen) == -1) {
		log_error("listen %s: bind", cfg->cf_listen);
		goto fail;
	}
	if (listen(fd, 1024) == -1) {
		log_error("listen %s: listen", cfg->cf_listen);
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

	if ((sv->sv_fd = server_listen(cfg)) == -1)
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
