/*
 * server_conn.c - the HTTP server's book of connections (struct sconn):
 * in the order they last became idle, which of them may be closed to admit
 * a new one at max_connections (server_evict), the sweep that cuts slow
 * request heads and connections whose peer has gone, and the rate-limited
 * notes that report what the server refused or closed.
 */
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "../config/config.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "server_priv.h"

#define SERVER_PEEK_MS		1000	/* between peeks at an idle one */
#define SERVER_LINGER_MS	2000	/* SC_CLOSING: reading until EOF */
#define SERVER_NOTE_MS		5000	/* one line a kind per this */

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
void
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
int
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

void
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

