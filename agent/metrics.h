/* metrics.h - Prometheus text exposition (format 0.0.4) for /metrics. */
#ifndef NDT_METRICS_H
#define NDT_METRICS_H

#include <stdint.h>

struct buf;
struct drain;
struct health;
struct kube;
struct loop;
struct probes;

enum metrics_path {
	MPATH_LIVE,
	MPATH_READY,
	MPATH_STARTUP,
	MPATH_HEALTHZ,
	MPATH_METRICS,
	MPATH_OTHER,
	MPATH_N
};
const char	*metrics_path_str(enum metrics_path);

enum metrics_code {		/* the status codes the server answers */
	MCODE_200,
	MCODE_400,
	MCODE_404,
	MCODE_405,
	MCODE_414,
	MCODE_431,
	MCODE_503,
	MCODE_505,
	MCODE_OTHER,
	MCODE_N
};

#define METRICS_AGENT_N	4	/* HEALTH_AGENT_N */

struct metrics {
	struct health	*m_health;
	struct loop	*m_loop;
	struct probes	*m_probes;	/* may be NULL */
	struct drain	*m_drain;	/* may be NULL */
	struct kube	*m_kube;	/* may be NULL */
	int64_t		 m_start_wall;		/* ms */
	uint64_t	 m_http[MPATH_N][MCODE_N];
	uint64_t	 m_reloads_ok;
	uint64_t	 m_reloads_failed;
	/* the HTTP server's connections (server.c) */
	uint64_t	 m_http_conns_open;
	uint64_t	 m_http_conns_evicted;	/* closed to admit a new one */
	uint64_t	 m_http_conns_refused;	/* none could be closed */
	uint64_t	 m_http_conns_accepted;	/* every accept4() that worked:
						 * the adaptive drain leaves
						 * them out of the pod's new
						 * connections */
	/* the agent-check port (agentcheck.c) */
	int		 m_agent_enabled;
	uint64_t	 m_agent_conns_accepted;	/* left out like the
							 * HTTP ones */
	uint64_t	 m_agent_conns_refused;	/* max_connections open */
	uint64_t	 m_agent_answers[METRICS_AGENT_N]; /* by enum
							 * health_agent */
};

void	metrics_init(struct metrics *, struct health *, struct loop *);
void	metrics_count_http(struct metrics *, enum metrics_path, unsigned code);
/* the whole exposition into b (reset first); 0 or -1 (b over its cap) */
int	metrics_render(struct metrics *, struct buf *b);

#endif
