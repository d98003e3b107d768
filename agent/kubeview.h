/*
 * kubeview.h - this pod's EndpointSlices, as the API server tells them:
 * the LIST body and the WATCH stream (one JSON event per line) of
 * discovery.k8s.io/v1 EndpointSlices in the pod's namespace, decoded with
 * jansson into a small, bounded view.
 *
 * Pure: no sockets, no clock reads (the caller passes the times), no
 * logging; unit-tested on recorded streams (tests/unit/test_kubeview.c)
 * and fuzzed (tests/fuzz/fuzz_kubewatch.c). kube.c owns the transfers.
 *
 * What is kept per slice is counts and this pod's own conditions, never the
 * endpoints: at most KV_SLICES_MAX slices whatever the namespace holds, a
 * watch line of at most KV_LINE_MAX bytes.
 *
 * Conditions follow the API's documented defaults: ready nil = true,
 * serving nil = ready, terminating nil = false. An endpoint is this pod's
 * when its targetRef is {kind: Pod, name: pod} (same namespace), or, with
 * no targetRef name, when one of its addresses is the pod's IP.
 */
#ifndef NDT_KUBEVIEW_H
#define NDT_KUBEVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define KV_LINE_MAX	(4u << 20)	/* one watch event */
#define KV_SLICES_MAX	256		/* slices kept; more are counted */
#define KV_NAME_MAX	254		/* a DNS subdomain name + NUL */
#define KV_SVC_MAX	64		/* a Service name (63) + NUL */
#define KV_RV_MAX	64		/* a resourceVersion */
#define KV_ERR_MAX	160

enum kv_result {
	KV_OK,
	KV_GONE,	/* ERROR event with code 410: LIST again */
	KV_ERROR,	/* anything else wrong: kv_err says what; the caller
			 * restarts the watch from kv_rv (or LISTs) */
};
const char	*kv_result_str(enum kv_result);

struct kv_slice {
	char		 ks_name[KV_NAME_MAX];
	char		 ks_service[KV_SVC_MAX]; /* label kubernetes.io/service-name */
	int		 ks_self;	/* this pod is one of its endpoints */
	int		 ks_ready;	/* this pod's conditions (when ks_self) */
	int		 ks_serving;
	int		 ks_terminating;
	uint64_t	 ks_changed;	/* mono ms: this pod's entry last changed
					 * (appeared, a condition, removed);
					 * 0 = never seen */
	int64_t		 ks_changed_wall; /* the same, wall ms */
	unsigned	 ks_total;	/* endpoints, terminating ones left out */
	unsigned	 ks_nready;	/* of those, ready */
};

/* called when this pod's entry in a slice changes (ks_self 0 after a
 * removal or a DELETED slice; the slice is gone after the call then) */
typedef void	 kv_change_cb(const struct kv_slice *, void *arg);

struct kubeview {
	char		 kv_pod[KV_NAME_MAX];	/* "" = match by IP only */
	char		 kv_ip[64];		/* "" = match by name only */
	struct kv_slice	*kv_slices;		/* KV_SLICES_MAX, allocated */
	size_t		 kv_n;
	char		 kv_rv[KV_RV_MAX];	/* where a WATCH resumes */
	int		 kv_synced;		/* a LIST has been applied */
	struct buf	 kv_line;		/* a partial watch line */
	uint64_t	 kv_events;		/* watch events applied */
	uint64_t	 kv_bad;		/* events that could not be used */
	uint64_t	 kv_dropped;		/* slices past KV_SLICES_MAX */
	char		 kv_err[KV_ERR_MAX];	/* the last KV_ERROR's reason */
	kv_change_cb	*kv_on_change;
	void		*kv_arg;
};

/* 0, or -1 (no memory) */
int		 kv_init(struct kubeview *, const char *pod, const char *ip);
void		 kv_free(struct kubeview *);
/*
 * A LIST body ({"kind":"EndpointSliceList","metadata":{"resourceVersion"},
 * "items":[...]}): replaces every slice (a slice that listed this pod and
 * is no longer there reports its removal), sets kv_rv and kv_synced.
 * now/wall stamp the changes. KV_OK or KV_ERROR (view unchanged).
 */
enum kv_result	 kv_list(struct kubeview *, const char *body, size_t len,
		    uint64_t now, int64_t wall);
/*
 * Bytes of the WATCH stream, any split: each complete line is one event
 * ({"type":"ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR","object":{}}),
 * applied in order; blank lines are skipped. Each event's object's
 * metadata.resourceVersion becomes kv_rv. An event that is valid JSON but
 * not a usable slice is counted in kv_bad and skipped. KV_GONE on an ERROR
 * event with code 410; KV_ERROR on an ERROR event with another code, on a
 * line that is not JSON, or a line longer than KV_LINE_MAX: the rest of
 * the data is not applied.
 */
enum kv_result	 kv_feed(struct kubeview *, const char *data, size_t len,
		    uint64_t now, int64_t wall);
/* a new WATCH starts: forget a partial line */
void		 kv_stream_reset(struct kubeview *);

/* this pod across the slices that list it */
struct kv_self {
	unsigned	 ksf_listed;	/* slices that list it */
	unsigned	 ksf_ready;	/* ... and show it ready */
	unsigned	 ksf_serving;
	unsigned	 ksf_terminating;
	uint64_t	 ksf_changed;	/* mono ms of the latest change, 0 none */
};
void		 kv_self(const struct kubeview *, struct kv_self *);
/*
 * The ready share of the Services that list this pod: for each Service
 * (slices with the same service label) that has a slice listing it,
 * ready / total over that Service's slices; the lowest share, in percent
 * (rounded down), with that Service's counts. -1 when no slice lists the
 * pod or its Service has no endpoint that is not terminating.
 */
int		 kv_ready_percent(const struct kubeview *, unsigned *ready,
		    unsigned *total);

#endif
