/*
 * kube.h - the Kubernetes API client: a LIST, then a WATCH, of this pod's
 * namespace's discovery.k8s.io/v1 EndpointSlices, over libcurl in the
 * agent's loop (a multi handle of its own, probes/pcurl.h), decoded into a
 * kubeview (kubeview.h).
 *
 * Data flows one way: every applied LIST or watch event pushes this pod's
 * slice view to the drain (drain_endpoints: drain.wait_for_endpoints) and
 * to health (health_set_kube: fail_open and the /ready body). Nothing
 * reads back from them.
 *
 * kubernetes.enabled: auto turns the client on when in-cluster credentials
 * exist (the service-account token and KUBERNETES_SERVICE_HOST, or
 * kubernetes.api); true without them is a start-up error (exit 2); false,
 * or auto without them, leaves it off, said once in the log.
 */
#ifndef NDT_KUBE_H
#define NDT_KUBE_H

#include <stdint.h>

struct config;
struct drain;
struct health;
struct kubeview;
struct loop;

enum kube_state {
	KUBE_S_OFF,		/* not configured, or no credentials */
	KUBE_S_LISTING,
	KUBE_S_WATCHING,
	KUBE_S_BACKOFF,		/* after an error: the next try is timed */
	KUBE_S_N
};
const char	*kube_state_str(enum kube_state);

/* how a request ended: the log's reason and a metric label */
enum kube_result {
	KUBE_R_OK,		/* LIST applied, or a WATCH ended in time */
	KUBE_R_TRANSPORT,	/* connect, TLS, reset, timeout */
	KUBE_R_UNAUTHORIZED,	/* 401: the token */
	KUBE_R_FORBIDDEN,	/* 403: the Role */
	KUBE_R_GONE,		/* 410, or an ERROR event 410: LIST again */
	KUBE_R_HTTP,		/* any other status */
	KUBE_R_DECODE,		/* not the JSON the API sends */
	KUBE_R_TOOBIG,		/* over a buffer's cap */
	KUBE_R_CREDENTIALS,	/* token or CA unreadable */
	KUBE_R_N
};
const char	*kube_result_str(enum kube_result);

struct kube_info {
	enum kube_state	 ki_state;
	const char	*ki_off_why;	/* when off: why, for status */
	int		 ki_synced;	/* the view is current */
	const struct kubeview *ki_view;	/* NULL when off */
	const char	*ki_api;	/* the API server's base URL */
	const char	*ki_namespace;
	const char	*ki_pod;
	const char	*ki_ip;
	const char	*ki_err;	/* the last failure, "" none */
	enum kube_result ki_last;	/* the last request's end */
	int64_t		 ki_synced_wall;	/* wall ms of the last LIST */
	uint64_t	 ki_requests[2][KUBE_R_N];	/* [0] LIST, [1] WATCH */
};

struct kube	*kube_new(struct loop *, const struct config *, struct health *,
		    struct drain *);
void		 kube_free(struct kube *);
/*
 * Resolve the credentials and start (or stay off): 0. 1 when
 * kubernetes.enabled is true and they are missing (logged: what is
 * missing and what to write: the agent exits 2); -1 when memory runs out.
 */
int		 kube_start(struct kube *);
/* a reload: restarts the client when a kubernetes key changed */
void		 kube_reconfigure(struct kube *, const struct config *);
void		 kube_info(const struct kube *, struct kube_info *);

#endif
