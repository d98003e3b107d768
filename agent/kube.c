/*
 * kube.c - the EndpointSlice client (kube.h): where the API is and as whom
 * (the in-cluster environment, the service-account files), its start, stop
 * and reload, and the view pushed to the drain and to health. The
 * transfers themselves are kubereq.c's. LIST, then WATCH from the LIST's
 * resourceVersion, in the agent's loop:
 *
 *   off -> listing --200, decoded--> watching --ends in time--> watching
 *              ^  |                       | 410 / ERROR 410   (from kv_rv)
 *              |  +--error--> backoff <---+ other errors
 *              +---------------------------+ (LIST again)
 *
 * Each request re-reads the service-account token (kubelet rotates it, the
 * old one expires), sends it as a bearer token (never logged) and verifies
 * the API server against the service-account CA. A WATCH asks the server
 * to end it after KUBE_WATCH_S and is cut by curl at KUBE_WATCH_S + 30 s
 * if the server does not; a LIST is cut at KUBE_LIST_TIMEOUT_MS. Bodies
 * are bounded: a LIST at KUBE_LIST_MAX, a watch line at KV_LINE_MAX, an
 * error body at KUBE_ERRBODY_MAX (the rest dropped).
 *
 * Errors back off 1 s, 2 s, 4 s ... 30 s (+-20 %), are logged once per
 * kind until a LIST works again, and mark the view stale: the drain then
 * waits for nothing more than its own bounds, and fail-open engages on
 * nothing new (an engaged one holds: health.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../config/config.h"
#include "../probes/pcurl.h"
#include "drain.h"
#include "health.h"
#include "kube.h"
#include "kubeview.h"
#include "log.h"
#include "loop.h"
#include "kube_priv.h"

static const char *const kube_state_names[] = {
	[KUBE_S_OFF] = "off",
	[KUBE_S_LISTING] = "listing",
	[KUBE_S_WATCHING] = "watching",
	[KUBE_S_BACKOFF] = "backoff",
};

static const char *const kube_result_names[] = {
	[KUBE_R_OK] = "ok",
	[KUBE_R_TRANSPORT] = "transport",
	[KUBE_R_UNAUTHORIZED] = "unauthorized",
	[KUBE_R_FORBIDDEN] = "forbidden",
	[KUBE_R_GONE] = "gone",
	[KUBE_R_HTTP] = "http",
	[KUBE_R_DECODE] = "decode",
	[KUBE_R_TOOBIG] = "too_big",
	[KUBE_R_CREDENTIALS] = "credentials",
};

const char *
kube_state_str(enum kube_state s)
{
	if ((unsigned)s >= KUBE_S_N)
		return "invalid";
	return kube_state_names[s];
}

const char *
kube_result_str(enum kube_result r)
{
	if ((unsigned)r >= KUBE_R_N)
		return "invalid";
	return kube_result_names[r];
}

static const char *
env_or(const char *cfg, const char *env)
{
	const char *v;

	if (cfg != NULL && cfg[0] != '\0')
		return cfg;
	v = getenv(env);
	return v != NULL ? v : "";
}

/* a small file (namespace, token) into out, whitespace trimmed; 0 or -1 */
int
kube_read_small(const char *path, char *out, size_t len)
{
	ssize_t n;
	size_t m = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (m + 1 < len && (n = read(fd, out + m, len - 1 - m)) > 0)
		m += (size_t)n;
	close(fd);
	out[m] = '\0';
	while (m > 0 && (out[m - 1] == '\n' || out[m - 1] == '\r' ||
	    out[m - 1] == ' ' || out[m - 1] == '\t'))
		out[--m] = '\0';
	if (m == 0) {
		errno = ENODATA;
		return -1;
	}
	return 0;
}

void
kube_copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

/*
 * Where to reach the API and as whom. 0: on (ku_base, ku_ns, ku_pod/ku_ip
 * set); 1: off, ku_off_why says why.
 */
static int
kube_resolve(struct kube *k)
{
	const struct cfg_kube *ck = &k->ku_cfg->cf_kube;
	const char *api = ck->k_api != NULL ? ck->k_api : "";
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char path[600];
	size_t n;

	kube_copy_str(k->ku_sa, sizeof(k->ku_sa), ck->k_sa_dir != NULL &&
	    ck->k_sa_dir[0] != '\0' ? ck->k_sa_dir : KUBE_SA_DEFAULT);
	k->ku_off_why[0] = '\0';
	if (ck->k_enabled == KUBE_OFF) {
		kube_copy_str(k->ku_off_why, sizeof(k->ku_off_why),
		    "kubernetes.enabled is false");
		return 1;
	}
	if (api[0] != '\0')
		kube_copy_str(k->ku_base, sizeof(k->ku_base), api);
	else if (host != NULL && host[0] != '\0')
		snprintf(k->ku_base, sizeof(k->ku_base), strchr(host, ':') ?
		    "https://[%s]:%s" : "https://%s:%s", host,
		    port != NULL && port[0] != '\0' ? port : "443");
	else {
		kube_copy_str(k->ku_off_why, sizeof(k->ku_off_why), "not in a "
		    "cluster: KUBERNETES_SERVICE_HOST is not set and "
		    "kubernetes.api is \"\"");
		return 1;
	}
	n = strlen(k->ku_base);
	while (n > 0 && k->ku_base[n - 1] == '/')
		k->ku_base[--n] = '\0';
	snprintf(path, sizeof(path), "%s/token", k->ku_sa);
	/* an http:// API (a test's, a local proxy's) may take no token */
	if (access(path, R_OK) == -1 && strncasecmp(k->ku_base, "http://", 7)) {
		snprintf(k->ku_off_why, sizeof(k->ku_off_why), "no "
		    "service-account token: %s: %s (automountServiceAccountToken "
		    "false, or a projected token volume missing)", path,
		    strerror(errno));
		return 1;
	}
	if (ck->k_namespace != NULL && ck->k_namespace[0] != '\0')
		kube_copy_str(k->ku_ns, sizeof(k->ku_ns), ck->k_namespace);
	else {
		snprintf(path, sizeof(path), "%s/namespace", k->ku_sa);
		if (kube_read_small(path, k->ku_ns, sizeof(k->ku_ns)) == -1) {
			snprintf(k->ku_off_why, sizeof(k->ku_off_why), "no "
			    "namespace: %s: %s; set kubernetes.namespace", path,
			    strerror(errno));
			return 1;
		}
	}
	kube_copy_str(k->ku_pod, sizeof(k->ku_pod), env_or(ck->k_pod_name,
	    "POD_NAME"));
	kube_copy_str(k->ku_ip, sizeof(k->ku_ip), env_or(ck->k_pod_ip, "POD_IP"));
	if (k->ku_pod[0] == '\0' && k->ku_ip[0] == '\0') {
		kube_copy_str(k->ku_off_why, sizeof(k->ku_off_why), "the pod is "
		    "unknown: set POD_NAME and POD_IP from the downward API "
		    "(fieldRef metadata.name, status.podIP), or "
		    "kubernetes.pod_name");
		return 1;
	}
	return 0;
}

/* this pod's view, to the drain and to health */
void
kube_push(struct kube *k)
{
	struct kv_self s;
	int known = !k->ku_stale && k->ku_view.kv_synced;

	kv_self(&k->ku_view, &s);
	if (k->ku_drain != NULL)
		drain_endpoints(k->ku_drain, known, s.ksf_ready == 0,
		    s.ksf_changed);
	if (k->ku_health != NULL)
		health_set_kube(k->ku_health, &k->ku_view, known);
}

static void
kube_on_change(const struct kv_slice *s, void *arg)
{
	(void)arg;
	log_event(LOG_INFO, s->ks_self ? "endpointslice: this pod" :
	    "endpointslice: this pod removed", "slice", s->ks_name, "service",
	    s->ks_service[0] ? s->ks_service : "-", "ready",
	    s->ks_self ? (s->ks_ready ? "true" : "false") : "-", "serving",
	    s->ks_self ? (s->ks_serving ? "true" : "false") : "-",
	    "terminating", s->ks_self ? (s->ks_terminating ? "true" : "false") :
	    "-", NULL);
}

struct kube *
kube_new(struct loop *loop, const struct config *cfg, struct health *h,
    struct drain *d)
{
	struct kube *k;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		log_error("kubernetes: calloc");
		return NULL;
	}
	k->ku_loop = loop;
	k->ku_cfg = cfg;
	k->ku_health = h;
	k->ku_drain = d;
	k->ku_logged = -1;
	k->ku_rand = (uint32_t)mono_us() | 1u;
	buf_init(&k->ku_body, KUBE_LIST_MAX);
	buf_init(&k->ku_errbody, KUBE_ERRBODY_MAX + 1);
	if ((k->ku_timer = loop_timer_new(loop, kube_timer_cb, k)) == NULL) {
		log_error("kubernetes: timer");
		kube_free(k);
		return NULL;
	}
	return k;
}

static void
kube_stop(struct kube *k)
{
	if (k->ku_pc != NULL) {
		pcurl_req_free(k->ku_pc, &k->ku_rq);
		pcurl_free(k->ku_pc);
		k->ku_pc = NULL;
	}
	if (k->ku_timer != NULL)
		loop_timer_stop(k->ku_loop, k->ku_timer);
	curl_slist_free_all(k->ku_hdrs);
	k->ku_hdrs = NULL;
	if (k->ku_view_init) {
		kv_free(&k->ku_view);
		k->ku_view_init = 0;
	}
	buf_free(&k->ku_body);
	buf_free(&k->ku_errbody);
	k->ku_state = KUBE_S_OFF;
	if (k->ku_health != NULL)
		health_set_kube(k->ku_health, NULL, 0);
	if (k->ku_drain != NULL)
		drain_endpoints(k->ku_drain, 0, 0, 0);
}

void
kube_free(struct kube *k)
{
	if (k == NULL)
		return;
	k->ku_health = NULL;
	k->ku_drain = NULL;
	kube_stop(k);
	if (k->ku_timer != NULL)
		loop_timer_free(k->ku_loop, k->ku_timer);
	free(k);
}

/* what needs the watch, for the "off" line's level */
static int
kube_wanted(const struct config *cfg)
{
	return cfg->cf_drain.d_wait_for_endpoints || cfg->cf_fail_open_pct;
}

int
kube_start(struct kube *k)
{
	const struct cfg_kube *ck = &k->ku_cfg->cf_kube;
	char where[600];

	if (kube_resolve(k) != 0) {
		if (ck->k_enabled == KUBE_ON) {
			if (ck->k_mark.m_line)
				snprintf(where, sizeof(where), "%s:%u:%u: ",
				    k->ku_cfg->cf_file, ck->k_mark.m_line,
				    ck->k_mark.m_col);
			else
				where[0] = '\0';
			log_errorx("%skubernetes.enabled is true, but %s; run "
			    "in a pod with a service account, or write "
			    "enabled: auto (on only in a cluster)", where,
			    k->ku_off_why);
			return 1;
		}
		log_event(kube_wanted(k->ku_cfg) && ck->k_enabled != KUBE_OFF ?
		    LOG_WARN : LOG_INFO, "kubernetes: off: no EndpointSlice "
		    "watch (wait_for_endpoints and fail_open stay off)", "why",
		    k->ku_off_why, NULL);
		return 0;
	}
	if (kv_init(&k->ku_view, k->ku_pod, k->ku_ip) == -1) {
		log_error("kubernetes: the slice view");
		kv_free(&k->ku_view);
		return -1;
	}
	k->ku_view_init = 1;
	k->ku_view.kv_on_change = kube_on_change;
	k->ku_view.kv_arg = k;
	buf_init(&k->ku_body, KUBE_LIST_MAX);
	buf_init(&k->ku_errbody, KUBE_ERRBODY_MAX + 1);
	/* each request makes its easy handle (kubereq.c) */
	if ((k->ku_pc = pcurl_new(k->ku_loop)) == NULL) {
		kube_stop(k);
		return -1;
	}
	k->ku_stale = 1;
	k->ku_fails = 0;
	k->ku_logged = -1;
	k->ku_state = KUBE_S_LISTING;
	kube_request(k, 1);
	return 0;
}

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

void
kube_reconfigure(struct kube *k, const struct config *nc)
{
	const struct cfg_kube *a = &k->ku_cfg->cf_kube, *b = &nc->cf_kube;
	int same = a->k_enabled == b->k_enabled && str_eq(a->k_api, b->k_api) &&
	    str_eq(a->k_pod_name, b->k_pod_name) &&
	    str_eq(a->k_pod_ip, b->k_pod_ip) &&
	    str_eq(a->k_namespace, b->k_namespace) &&
	    str_eq(a->k_sa_dir, b->k_sa_dir);

	k->ku_cfg = nc;
	if (same) {
		if (k->ku_state != KUBE_S_OFF)
			kube_push(k);	/* health's config changed */
		return;
	}
	log_event(LOG_INFO, "kubernetes: settings changed: restarting the "
	    "watch", NULL);
	kube_stop(k);
	/* enabled: true without credentials cannot stop a running agent:
	 * kube_start() logged why, the watch stays off */
	(void)kube_start(k);
}

void
kube_info(const struct kube *k, struct kube_info *ki)
{
	memset(ki, 0, sizeof(*ki));
	ki->ki_state = k->ku_state;
	ki->ki_off_why = k->ku_off_why;
	ki->ki_synced = k->ku_view_init && !k->ku_stale &&
	    k->ku_view.kv_synced;
	ki->ki_view = k->ku_view_init ? &k->ku_view : NULL;
	ki->ki_api = k->ku_base;
	ki->ki_namespace = k->ku_ns;
	ki->ki_pod = k->ku_pod;
	ki->ki_ip = k->ku_ip;
	ki->ki_err = k->ku_err;
	ki->ki_last = k->ku_last;
	ki->ki_synced_wall = k->ku_synced_wall;
	memcpy(ki->ki_requests, k->ku_requests, sizeof(ki->ki_requests));
}
