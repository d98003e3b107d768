/*
 * server_priv.h - the HTTP server's insides, shared by its two files only.
 *
 *   server.c     libmicrohttpd on our loop; our listening socket,
 *                accepting (max_connections, the EMFILE pause)
 *   server_conn.c the connections: which is idle longest and may be closed
 *                to admit a new one, the request-head deadline and the
 *                peer-gone sweep, rate-limited notes
 *   server_head.c a new connection's first request head, read (peeked)
 *                and screened before libmicrohttpd gets the connection:
 *                our own 400, 414, 431 and 505 answers
 *   endpoints.c  what each path answers: the routes, the prepared
 *                responses, /metrics, MHD's log lines
 */
#ifndef NDT_SERVER_PRIV_H
#define NDT_SERVER_PRIV_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "health.h"
#include "util.h"

#define SERVER_METRICS_MAX	(4 * 1024 * 1024)
#define CT_HEALTH		"application/health+json"
/* the first request head must fit in this many bytes (a probe sends
 * ~200); well under MHD's per-connection memory, so MHD never sees one
 * it would refuse for size */
#define SERVER_HEAD_MAX		4096
#define SERVER_SWEEP_MS		250	/* request-head deadline checks */
/* connections shut down to make room but not yet closed by MHD: past this
 * many, new ones wait in the backlog for a moment */
#define SERVER_KILL_SLACK	64

struct config;
struct loop;
struct loop_io;
struct loop_timer;
struct metrics;

enum sconn_state {
	SC_HEAD,		/* ours: waiting for its first request head */
	SC_MHD,			/* libmicrohttpd's */
	SC_CLOSING,		/* ours: answered an error, reading until EOF */
};

/*
 * One per TCP connection. It bounds how long a request head may take:
 * MHD's own timeout only closes connections that send nothing, so a client
 * that drips one header byte a second (slowloris) would hold a connection
 * slot for ever. A head not complete request_timeout after the connection
 * opened (or after its previous response) gets the socket shut down; so
 * does a waiting connection whose peer has closed its side (MHD's
 * edge-triggered epoll can miss that FIN, server.c). And it tells an idle
 * connection, which may be closed to admit a new one at max_connections,
 * from one with a request under way, which never is.
 *
 * sv_conns is in the order the connections last became idle (opened, or
 * finished a response): the head is the longest idle.
 */
struct sconn {
	struct server		*sc_sv;
	int			 sc_fd;
	enum sconn_state	 sc_state;
	int			 sc_waiting;	/* for a complete request head */
	int			 sc_killed;	/* shut down, MHD to close it */
	int			 sc_busy;	/* bytes of a next request seen */
	uint64_t		 sc_consumed;	/* bytes of the heads MHD parsed */
	uint64_t		 sc_since;	/* mono ms */
	uint64_t		 sc_peek_at;	/* mono ms: peer gone yet? */
	struct loop_io		*sc_lio;	/* SC_HEAD, SC_CLOSING */
	struct sockaddr_storage	 sc_ss;		/* the peer, for MHD */
	socklen_t		 sc_slen;
	struct sconn		*sc_prev;
	struct sconn		*sc_next;
};

/* what is logged at most once per SERVER_NOTE_MS, with a count of the
 * rest (server_note) */
enum server_note_kind {
	NOTE_EVICTED,
	NOTE_REFUSED,
	NOTE_BAD_400,
	NOTE_BAD_414,
	NOTE_BAD_431,
	NOTE_BAD_505,
	NOTE_BAD_OTHER,
	NOTE_N
};

struct server_note {
	uint64_t		 sn_next;	/* mono ms: may log again */
	uint64_t		 sn_suppressed;
};

struct server {
	struct loop		*sv_loop;
	const struct config	*sv_cfg;
	struct health		*sv_health;
	struct metrics		*sv_metrics;
	struct MHD_Daemon	*sv_mhd;
	int			 sv_fd;		/* listen socket, ours */
	struct loop_io		*sv_lio;	/* sv_fd in the loop */
	int			 sv_accepting;	/* sv_lio armed for EPOLLIN */
	struct loop_timer	*sv_pause;	/* accept again after EMFILE */
	uint64_t		 sv_emfile_warned; /* mono ms */
	struct loop_io		*sv_io;
	struct loop_timer	*sv_timer;
	uint64_t		 sv_gen;	/* health generation wrapped */
	struct MHD_Response	*sv_view[HEALTH_NENDPOINTS];
	struct MHD_Response	*sv_healthz;
	struct MHD_Response	*sv_404;
	struct MHD_Response	*sv_405;
	struct buf		 sv_mbuf;	/* /metrics, reused */
	struct sconn		*sv_conns;	/* open connections, LRU */
	struct sconn		*sv_conns_tail;
	size_t			 sv_nconns;
	size_t			 sv_nkilled;	/* of them shut down, not closed */
	struct sconn		*sv_adding;	/* being handed to MHD */
	struct server_note	 sv_notes[NOTE_N];
	uint64_t		 sv_head_timeouts; /* connections cut */
	struct loop_timer	*sv_sweep;
};

/* server.c */
void		 server_run(struct server *);
void		 server_accept_on(struct server *);

/* server_conn.c */
struct sconn	*server_sconn_of(struct MHD_Connection *);
void		 server_sconn_request(struct MHD_Connection *);
void		 server_sconn_add(struct server *, struct sconn *);
void		 server_sconn_free(struct server *, struct sconn *);
void		 server_sconn_idle(struct server *, struct sconn *);
/* close the longest-idle connection; 0, or -1 if none is idle */
int		 server_evict(struct server *);
void		 server_sweep(void *);	/* the sv_sweep timer */
/* log one event of this kind, at most one line a kind per SERVER_NOTE_MS
 * (the sweep reports how many more there were); k2/v2 and k1/v1 may be
 * NULL */
void		 server_note(struct server *, enum server_note_kind,
		    const char *k1, const char *v1, const char *k2,
		    const char *v2);
enum server_note_kind server_note_of_code(unsigned);

/* server_head.c */
int		 server_head_start(struct server *, int fd,
		    const struct sockaddr_storage *, socklen_t);
void		 server_head_close(struct server *, struct sconn *);

/* endpoints.c */
struct MHD_Response *server_response_new(const char *, size_t,
		    const char *ctype);
int		 server_refresh(struct server *);
enum MHD_Result	 server_handler(void *, struct MHD_Connection *,
		    const char *url, const char *method, const char *version,
		    const char *upload_data, size_t *upload_size,
		    void **con_cls);
void		 server_logger(void *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

#endif
