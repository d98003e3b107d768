/*
 * kube_priv.h - between kube.c (identity, lifecycle, the pushes) and
 * kubereq.c (the transfers): the client's state. Not for other files.
 */
#ifndef NDT_KUBE_PRIV_H
#define NDT_KUBE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "../probes/pcurl.h"
#include "kube.h"
#include "kubeview.h"
#include "util.h"

#define KUBE_LIST_MAX		(32u << 20)
#define KUBE_ERRBODY_MAX	2048
#define KUBE_TOKEN_MAX		(64u << 10)
#define KUBE_WATCH_S		240
#define KUBE_LIST_TIMEOUT_MS	30000
#define KUBE_CONNECT_MS		5000
#define KUBE_BACKOFF_MIN_MS	1000
#define KUBE_BACKOFF_MAX_MS	30000
#define KUBE_WATCH_SHORT_MS	1000	/* a watch that ended this fast,
					 * empty, counts as a failure */
#define KUBE_SA_DEFAULT	"/var/run/secrets/kubernetes.io/serviceaccount"

struct kube {
	struct loop		*ku_loop;
	const struct config	*ku_cfg;
	struct health		*ku_health;
	struct drain		*ku_drain;
	struct pcurl		*ku_pc;
	struct pcurl_req	 ku_rq;
	struct loop_timer	*ku_timer;	/* the next request */
	struct curl_slist	*ku_hdrs;
	struct kubeview		 ku_view;
	int			 ku_view_init;
	enum kube_state		 ku_state;
	int			 ku_watch;	/* the running request */
	int			 ku_stale;	/* the view is not current */
	char			 ku_off_why[1024];
	char			 ku_base[512];	/* no trailing slash */
	char			 ku_ns[KV_NAME_MAX];
	char			 ku_pod[KV_NAME_MAX];
	char			 ku_ip[64];
	char			 ku_sa[512];
	char			 ku_url[1024];
	/* the running request */
	long			 ku_status;	/* from the status line */
	struct buf		 ku_body;	/* a LIST's body */
	struct buf		 ku_errbody;	/* a non-200 body */
	enum kube_result	 ku_abort;	/* why the write callback cut it */
	uint64_t		 ku_started;
	uint64_t		 ku_events0;	/* kv_events at the start */
	/* history */
	unsigned		 ku_fails;	/* consecutive */
	int			 ku_logged;	/* a failure kind was logged:
						 * KUBE_R_*, -1 none */
	enum kube_result	 ku_last;
	char			 ku_err[1024];
	int64_t			 ku_synced_wall;
	uint64_t		 ku_requests[2][KUBE_R_N];
	uint32_t		 ku_rand;
};

/* kube.c */
void	kube_push(struct kube *);	/* the view to the drain and health */
/* a small file (namespace, token), whitespace trimmed: 0, or -1 (errno) */
int	kube_read_small(const char *path, char *out, size_t len);
void	kube_copy_str(char *dst, size_t len, const char *src);
/* kubereq.c */
void	kube_request(struct kube *, int list);	/* start one now */
void	kube_timer_cb(void *);			/* ku_timer: the next one */

#endif
