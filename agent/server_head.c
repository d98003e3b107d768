/*
 * server_head.c - a new connection's first request head, before
 * libmicrohttpd gets the connection.
 *
 * libmicrohttpd 0.9.75 answers a request it cannot parse itself (400,
 * 414, 431, 505) with a fixed HTML page, no Cache-Control, and logs the
 * whole page; it has no option or callback to replace either. So the
 * first head on each connection is peeked at here (MSG_PEEK: the bytes
 * stay in the socket for MHD) and screened for what MHD would refuse:
 * too large, a malformed request line or HTTP version, a header line
 * without a colon, a NUL byte, a Content-Length that is not a number.
 * Those get our own answer, application/health+json with no-store, and
 * one short log line (server_note, rate-limited); the connection is then
 * read until EOF (SERVER_LINGER_MS at most) so that closing it does not
 * reset the answer away. A good head is handed to MHD.
 *
 * Later requests on a kept-alive connection are MHD's to parse: a bad one
 * there still gets MHD's page (endpoints.c shortens its log line). Probes
 * (the kubelet opens a connection per probe) and scanners meet this file.
 *
 * A connection here that has received nothing is idle, and may be closed
 * to admit a new one at max_connections (server.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "server_priv.h"

#define HEAD_DRAIN_READS	16	/* recv()s per wake-up, SC_CLOSING */

static void	head_cb(int, uint32_t, void *);

void
server_head_close(struct server *sv, struct sconn *sc)
{
	if (sc->sc_lio != NULL)
		loop_io_del(sv->sv_loop, sc->sc_lio);
	close(sc->sc_fd);
	server_sconn_free(sv, sc);
}

int
server_head_start(struct server *sv, int fd,
    const struct sockaddr_storage *ss, socklen_t slen)
{
	struct sconn *sc;

	if ((sc = calloc(1, sizeof(*sc))) == NULL) {
		log_warn("http: connection");
		close(fd);
		return -1;
	}
	sc->sc_sv = sv;
	sc->sc_fd = fd;
	sc->sc_state = SC_HEAD;
	sc->sc_waiting = 1;
	sc->sc_consumed = 0;	/* any byte received: a request under way */
	sc->sc_since = loop_now(sv->sv_loop);
	memcpy(&sc->sc_ss, ss, slen);
	sc->sc_slen = slen;
	/* edge-triggered: what is peeked stays readable */
	sc->sc_lio = loop_io_add(sv->sv_loop, fd, EPOLLIN | EPOLLRDHUP |
	    EPOLLET, head_cb, sc);
	if (sc->sc_lio == NULL) {
		close(fd);
		free(sc);
		return -1;
	}
	server_sconn_add(sv, sc);
	return 0;
}

/* the length of the head (through its empty line) in b, 0 if incomplete */
static size_t
head_end(const char *b, size_t len)
{
	const char *p = b, *nl;

	while ((nl = memchr(p, '\n', len - (size_t)(p - b))) != NULL) {
		if ((size_t)(nl + 1 - b) < len && nl[1] == '\n')
			return (size_t)(nl + 2 - b);
		if ((size_t)(nl + 2 - b) < len && nl[1] == '\r' &&
		    nl[2] == '\n')
			return (size_t)(nl + 3 - b);
		p = nl + 1;
	}
	return 0;
}

/* the next line of b[*off, len) without its CR LF; its length */
static size_t
head_line(const char *b, size_t len, size_t *off, const char **line)
{
	const char *nl = memchr(b + *off, '\n', len - *off);
	size_t n;

	*line = b + *off;
	n = nl != NULL ? (size_t)(nl - *line) : len - *off;
	*off += n + (nl != NULL);
	if (n > 0 && (*line)[n - 1] == '\r')
		n--;
	return n;
}

/* "1" in "Content-Length: 1", or -1 for not a number */
static int
head_content_length_ok(const char *v, size_t n)
{
	size_t i, digits = 0;

	for (i = 0; i < n && (v[i] == ' ' || v[i] == '\t'); i++)
		;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
		digits++;
	for (; i < n && (v[i] == ' ' || v[i] == '\t'); i++)
		;
	return i == n && digits > 0 && digits <= 18 ? 0 : -1;
}

/*
 * What MHD would refuse in a complete head of len bytes: 0, or the
 * status code with *why. As lenient as MHD elsewhere (any method token,
 * spaces in the target, folded header lines), so that no head it would
 * have served is refused here.
 */
static unsigned
head_check(const char *b, size_t len, const char **why)
{
	const char *line, *sp1, *sp2, *v, *colon;
	size_t off = 0, n;

	if (memchr(b, '\0', len) != NULL) {
		*why = "bad request: NUL byte in the request head";
		return 400;
	}
	n = head_line(b, len, &off, &line);
	sp1 = memchr(line, ' ', n);
	for (sp2 = line + n; sp2 > line && sp2[-1] != ' '; sp2--)
		;
	if (sp1 == NULL || sp1 == line || sp2 - 1 <= sp1) {
		*why = "bad request: the request line is not METHOD TARGET "
		    "HTTP/1.1";
		return 400;
	}
	v = sp2;
	if (line + n - v != 8 || memcmp(v, "HTTP/", 5) != 0 ||
	    v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' ||
	    v[7] > '9') {
		*why = "bad request: malformed HTTP version (HTTP/1.1 is "
		    "spoken here)";
		return 400;
	}
	if (v[5] != '1') {
		*why = "HTTP version not supported: HTTP/1.1 is spoken here";
		return 505;
	}
	while (off < len) {
		if ((n = head_line(b, len, &off, &line)) == 0)
			break;		/* the empty line: end of the head */
		if (line[0] == ' ' || line[0] == '\t')
			continue;	/* folded onto the line before */
		colon = memchr(line, ':', n);
		if (colon == NULL || colon == line) {
			*why = "bad request: a header line without a name and "
			    "a colon";
			return 400;
		}
		if ((size_t)(colon - line) == 14 &&
		    strncasecmp(line, "Content-Length", 14) == 0 &&
		    head_content_length_ok(colon + 1,
		    n - (size_t)(colon + 1 - line)) == -1) {
			*why = "bad request: Content-Length is not a number";
			return 400;
		}
	}
	return 0;
}

static const char *
head_reason_phrase(unsigned code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 505: return "HTTP Version Not Supported";
	default:  return "Error";
	}
}

/* read and drop until EOF; closed then (or by the sweep) */
static void
head_drain(struct server *sv, struct sconn *sc)
{
	static char sink[16384];
	ssize_t n;
	int i;

	for (i = 0; i < HEAD_DRAIN_READS; i++) {
		n = recv(sc->sc_fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		server_head_close(sv, sc);
		return;
	}
}

/* our own error answer, then SC_CLOSING */
static void
head_refuse(struct server *sv, struct sconn *sc, unsigned code,
    const char *why)
{
	char body[256], resp[512], cs[8];
	int blen, rlen;

	blen = snprintf(body, sizeof(body), "{\"status\":\"fail\","
	    "\"output\":\"%s\"}\n", why);
	rlen = snprintf(resp, sizeof(resp), "HTTP/1.1 %u %s\r\n"
	    "Content-Type: " CT_HEALTH "\r\n"
	    "Cache-Control: no-store\r\n"
	    "Connection: close\r\n"
	    "Content-Length: %d\r\n\r\n%s", code, head_reason_phrase(code),
	    blen, body);
	/* a fresh socket's buffer takes it whole; if not, the close says */
	if (rlen > 0 && (size_t)rlen < sizeof(resp))
		(void)send(sc->sc_fd, resp, (size_t)rlen,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)shutdown(sc->sc_fd, SHUT_WR);
	metrics_count_http(sv->sv_metrics, MPATH_OTHER, code);
	snprintf(cs, sizeof(cs), "%u", code);
	server_note(sv, server_note_of_code(code), "code", cs, "output", why);
	sc->sc_state = SC_CLOSING;
	sc->sc_waiting = 0;
	sc->sc_since = loop_now(sv->sv_loop);
	/* level-triggered now: every byte is read and dropped */
	if (loop_io_mod(sv->sv_loop, sc->sc_lio, EPOLLIN | EPOLLRDHUP) == -1) {
		server_head_close(sv, sc);
		return;
	}
	head_drain(sv, sc);
}

/* a good head: MHD's from here (it reads what was peeked) */
static void
head_handover(struct server *sv, struct sconn *sc)
{
	enum MHD_Result rv;

	loop_io_del(sv->sv_loop, sc->sc_lio);
	sc->sc_lio = NULL;
	sv->sv_adding = sc;
	/* MHD tells its start (server_conn_notify) before this returns;
	 * on failure it closes the fd */
	rv = MHD_add_connection(sv->sv_mhd, sc->sc_fd,
	    (const struct sockaddr *)&sc->sc_ss, sc->sc_slen);
	if (sv->sv_adding == sc) {
		sv->sv_adding = NULL;
		if (rv == MHD_YES)
			log_errorx("http: connection taken without notice");
		else
			log_debug("http: connection not taken");
		server_sconn_free(sv, sc);
		return;
	}
	server_run(sv);
}

static void
head_cb(int fd, uint32_t events, void *arg)
{
	struct sconn *sc = arg;
	struct server *sv = sc->sc_sv;
	char b[SERVER_HEAD_MAX];
	const char *why;
	size_t off = 0, end;
	unsigned code;
	ssize_t n;

	if (sc->sc_state == SC_CLOSING) {
		head_drain(sv, sc);
		return;
	}
	n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR) &&
	    !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	if (n <= 0) {
		server_head_close(sv, sc);	/* gone before a request */
		return;
	}
	/* empty lines before a request line are to be ignored (RFC 9112) */
	while (off < (size_t)n && (b[off] == '\r' || b[off] == '\n'))
		off++;
	end = off < (size_t)n ? head_end(b + off, (size_t)n - off) : 0;
	if (end == 0) {
		if ((size_t)n == sizeof(b))
			head_refuse(sv, sc, memchr(b + off, '\n',
			    (size_t)n - off) != NULL ? 431 : 414,
			    memchr(b + off, '\n', (size_t)n - off) != NULL ?
			    "request head too large: over 4096 bytes" :
			    "request line too long: over 4096 bytes");
		else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			server_head_close(sv, sc);	/* half a head */
		return;
	}
	if ((code = head_check(b + off, end, &why)) != 0)
		head_refuse(sv, sc, code, why);
	else
		head_handover(sv, sc);
}
