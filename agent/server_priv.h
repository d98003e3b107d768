/*
 * server_priv.h - the HTTP server's insides, shared by its two files only.
 *
 *   server.c     libmicrohttpd on our loop; our listening socket, accepting
 *                (max_connections, the EMFILE pause), the request-head
 *                deadline per connection
 *   endpoints.c  what each path answers: the routes, the prepared
 *                responses, /metrics, MHD's log lines
 */
#ifndef NDT_SERVER_PRIV_H
#define NDT_SERVER_PRIV_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "health.h"
#include "util.h"

#define SERVER_METRICS_MAX	(4 * 1024 * 1024)
#define CT_HEALTH		"application/health+json"

struct config;
struct loop;
struct loop_io;
struct loop_timer;
struct metrics;

/*
 * One per TCP connection, to bound how long a request head may take: MHD's
 * own timeout only closes connections that send nothing, so a client that
 * drips one header byte a second (slowloris) would hold a connection slot
 * for ever. A head not complete request_timeout after the connection opened
 * (or after its previous response) gets the socket shut down; so does a
 * waiting connection whose peer has closed its side (MHD's edge-triggered
 * epoll can miss that FIN, server.c).
 */
struct sconn {
	int			 sc_fd;
	int			 sc_waiting;	/* for a complete request head */
	int			 sc_killed;
	uint64_t		 sc_since;	/* mono ms */
	uint64_t		 sc_peek_at;	/* mono ms: peer gone yet? */
	struct sconn		*sc_prev;
	struct sconn		*sc_next;
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
	struct sconn		*sv_conns;	/* open connections */
	size_t			 sv_nconns;
	uint64_t		 sv_head_timeouts; /* connections cut */
	struct loop_timer	*sv_sweep;
};

/* server.c */
struct sconn	*server_sconn_of(struct MHD_Connection *);

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
