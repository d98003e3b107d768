/*
 * kube.c - the EndpointSlice client (kube.h): LIST, then WATCH from the
 * LIST's resourceVersion, in the agent's loop.
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

static void	kube_next(struct kube *, int list, uint64_t in_ms);

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
static int
read_small(const char *path, char *out, size_t len)
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

static void
copy_str(char *dst, size_t len, const char *src)
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

	copy_str(k->ku_sa, sizeof(k->ku_sa), ck->k_sa_dir != NULL &&
	    ck->k_sa_dir[0] != '\0' ? ck->k_sa_dir : KUBE_SA_DEFAULT);
	k->ku_off_why[0] = '\0';
	if (ck->k_enabled == KUBE_OFF) {
		copy_str(k->ku_off_why, sizeof(k->ku_off_why),
		    "kubernetes.enabled is false");
		return 1;
	}
	if (api[0] != '\0')
		copy_str(k->ku_base, sizeof(k->ku_base), api);
	else if (host != NULL && host[0] != '\0')
		snprintf(k->ku_base, sizeof(k->ku_base), strchr(host, ':') ?
		    "https://[%s]:%s" : "https://%s:%s", host,
		    port != NULL && port[0] != '\0' ? port : "443");
	else {
		copy_str(k->ku_off_why, sizeof(k->ku_off_why), "not in a "
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
		copy_str(k->ku_ns, sizeof(k->ku_ns), ck->k_namespace);
	else {
		snprintf(path, sizeof(path), "%s/namespace", k->ku_sa);
		if (read_small(path, k->ku_ns, sizeof(k->ku_ns)) == -1) {
			snprintf(k->ku_off_why, sizeof(k->ku_off_why), "no "
			    "namespace: %s: %s; set kubernetes.namespace", path,
			    strerror(errno));
			return 1;
		}
	}
	copy_str(k->ku_pod, sizeof(k->ku_pod), env_or(ck->k_pod_name,
	    "POD_NAME"));
	copy_str(k->ku_ip, sizeof(k->ku_ip), env_or(ck->k_pod_ip, "POD_IP"));
	if (k->ku_pod[0] == '\0' && k->ku_ip[0] == '\0') {
		copy_str(k->ku_off_why, sizeof(k->ku_off_why), "the pod is "
		    "unknown: set POD_NAME and POD_IP from the downward API "
		    "(fieldRef metadata.name, status.podIP), or "
		    "kubernetes.pod_name");
		return 1;
	}
	return 0;
}

/* this pod's view, to the drain and to health */
static void
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

static uint32_t
kube_random(struct kube *k)
{
	uint32_t x = k->ku_rand;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return k->ku_rand = x;
}

static uint64_t
kube_backoff(struct kube *k)
{
	uint64_t ms = KUBE_BACKOFF_MIN_MS;
	unsigned i;

	for (i = 1; i < k->ku_fails && ms < KUBE_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > KUBE_BACKOFF_MAX_MS)
		ms = KUBE_BACKOFF_MAX_MS;
	/* +-20 %: replicas restarted together do not retry together */
	return ms * (80 + kube_random(k) % 41) / 100;
}

/* a request worked after failures, or the first LIST: say so once */
static void
kube_recovered(struct kube *k)
{
	struct kv_self s;
	char sl[16], ls[16], rd[16];

	if (k->ku_fails > 0 || k->ku_logged != -1 || k->ku_stale) {
		kv_self(&k->ku_view, &s);
		snprintf(sl, sizeof(sl), "%zu", k->ku_view.kv_n);
		snprintf(ls, sizeof(ls), "%u", s.ksf_listed);
		snprintf(rd, sizeof(rd), "%u", s.ksf_ready);
		log_event(LOG_INFO, "kubernetes: watching EndpointSlices", "api",
		    k->ku_base, "namespace", k->ku_ns, "pod", k->ku_pod[0] ?
		    k->ku_pod : "-", "slices", sl, "listing_pod", ls,
		    "showing_ready", rd, NULL);
	}
	k->ku_stale = 0;
	k->ku_fails = 0;
	k->ku_logged = -1;
}

/* the status line, "HTTP/1.1 200 OK" or "HTTP/2 200" */
static size_t
kube_header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct kube *k = arg;
	size_t n = size * nmemb, i;
	long st = 0;

	if (n > 5 && memcmp(p, "HTTP/", 5) == 0) {
		for (i = 5; i < n && p[i] != ' '; i++)
			;
		for (i++; i < n && p[i] >= '0' && p[i] <= '9' && st < 1000; i++)
			st = st * 10 + (p[i] - '0');
		k->ku_status = st;
		buf_reset(&k->ku_errbody);
	} else if ((n == 2 && p[0] == '\r') || (n == 1 && p[0] == '\n')) {
		/* the headers' end: a WATCH that the API accepted resumes
		 * from kv_rv, so the view is current again (a LIST is when
		 * its body is applied) */
		if (k->ku_watch && k->ku_status == 200 && k->ku_stale) {
			kube_recovered(k);
			kube_push(k);
		}
	}
	return n;
}

static size_t
kube_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct kube *k = arg;
	size_t n = size * nmemb;
	enum kv_result r;

	if (k->ku_status != 200) {
		/* the start of an error body, for the log; the rest dropped */
		if (k->ku_errbody.b_len < KUBE_ERRBODY_MAX)
			(void)buf_append(&k->ku_errbody, p, n <
			    KUBE_ERRBODY_MAX - k->ku_errbody.b_len ? n :
			    KUBE_ERRBODY_MAX - k->ku_errbody.b_len);
		return n;
	}
	if (!k->ku_watch) {
		if (buf_append(&k->ku_body, p, n) == -1) {
			k->ku_abort = KUBE_R_TOOBIG;
			return 0;
		}
		return n;
	}
	r = kv_feed(&k->ku_view, p, n, loop_now(k->ku_loop), wall_ms());
	if (r != KV_OK) {
		k->ku_abort = r == KV_GONE ? KUBE_R_GONE :
		    strstr(k->ku_view.kv_err, "a line over") != NULL ?
		    KUBE_R_TOOBIG : KUBE_R_DECODE;
		kube_push(k);
		return 0;
	}
	kube_push(k);
	return n;
}

/* the token, as a header: re-read each time (kubelet rotates it) */
static int
kube_headers(struct kube *k)
{
	char path[600], *tok = NULL, *hdr = NULL;
	struct curl_slist *l = NULL, *t;
	int rv = -1;

	curl_slist_free_all(k->ku_hdrs);
	k->ku_hdrs = NULL;
	if ((l = curl_slist_append(NULL, "Accept: application/json")) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/token", k->ku_sa);
	if ((tok = malloc(KUBE_TOKEN_MAX)) == NULL)
		goto out;
	if (read_small(path, tok, KUBE_TOKEN_MAX) == 0) {
		if ((hdr = malloc(strlen(tok) + 32)) == NULL)
			goto out;
		sprintf(hdr, "Authorization: Bearer %s", tok);
		t = curl_slist_append(l, hdr);
		explicit_bzero(hdr, strlen(hdr));
		if (t == NULL)
			goto out;
		l = t;
	} else if (strncasecmp(k->ku_base, "http://", 7)) {
		snprintf(k->ku_err, sizeof(k->ku_err), "cannot read the "
		    "service-account token %s: %s", path, strerror(errno));
		goto out;
	}
	k->ku_hdrs = l;
	l = NULL;
	rv = 0;
out:
	if (tok != NULL) {
		explicit_bzero(tok, KUBE_TOKEN_MAX);
		free(tok);
	}
	free(hdr);
	curl_slist_free_all(l);
	return rv;
}

static int
kube_setup_req(struct kube *k, int watch)
{
	if (watch)
		snprintf(k->ku_url, sizeof(k->ku_url), "%s/apis/discovery.k8s.io"
		    "/v1/namespaces/%s/endpointslices?watch=true&"
		    "allowWatchBookmarks=true&timeoutSeconds=%d&"
		    "resourceVersion=%s", k->ku_base, k->ku_ns, KUBE_WATCH_S,
		    k->ku_view.kv_rv);
	else
		snprintf(k->ku_url, sizeof(k->ku_url), "%s/apis/discovery.k8s.io"
		    "/v1/namespaces/%s/endpointslices", k->ku_base, k->ku_ns);
	if (kube_headers(k) == -1) {
		if (k->ku_err[0] == '\0')
			copy_str(k->ku_err, sizeof(k->ku_err), "out of memory");
		return -1;
	}
	pcurl_req_free(k->ku_pc, &k->ku_rq);
	if (pcurl_req_init(&k->ku_rq, NULL, NULL) == -1)
		return -1;
	return 0;
}

static void	kube_done(struct pcurl_req *, CURLcode);

/* start a LIST (list 1) or a WATCH from kv_rv; on failure, back off */
static void
kube_request(struct kube *k, int list)
{
	CURL *e;
	char ca[600];
	long tmo = list ? KUBE_LIST_TIMEOUT_MS :
	    (KUBE_WATCH_S + 30) * 1000L;

	k->ku_err[0] = '\0';
	if (list || k->ku_view.kv_rv[0] == '\0')
		list = 1;
	k->ku_watch = !list;
	if (kube_setup_req(k, !list) == -1) {
		k->ku_last = KUBE_R_CREDENTIALS;
		goto fail;
	}
	k->ku_rq.rq_done = kube_done;
	k->ku_rq.rq_arg = k;
	e = k->ku_rq.rq_easy;
	snprintf(ca, sizeof(ca), "%s/ca.crt", k->ku_sa);
	if (curl_easy_setopt(e, CURLOPT_URL, k->ku_url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, k->ku_hdrs) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, kube_write_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, k) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, kube_header_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, k) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)KUBE_CONNECT_MS) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, tmo) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK ||
	    /* an API server never redirects a client to elsewhere */
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    (access(ca, R_OK) == 0 &&
	    curl_easy_setopt(e, CURLOPT_CAINFO, ca) != CURLE_OK)) {
		copy_str(k->ku_err, sizeof(k->ku_err), "curl_easy_setopt "
		    "failed");
		k->ku_last = KUBE_R_CREDENTIALS;
		goto fail;
	}
	k->ku_status = 0;
	k->ku_abort = KUBE_R_OK;
	buf_reset(&k->ku_body);
	buf_reset(&k->ku_errbody);
	kv_stream_reset(&k->ku_view);
	k->ku_started = loop_now(k->ku_loop);
	k->ku_events0 = k->ku_view.kv_events;
	if (pcurl_req_start(k->ku_pc, &k->ku_rq) == -1) {
		copy_str(k->ku_err, sizeof(k->ku_err), "curl_multi_add_handle "
		    "failed");
		k->ku_last = KUBE_R_TRANSPORT;
		goto fail;
	}
	k->ku_state = list ? KUBE_S_LISTING : KUBE_S_WATCHING;
	return;
fail:
	k->ku_requests[!list][k->ku_last]++;
	k->ku_fails++;
	k->ku_state = KUBE_S_BACKOFF;
	kube_next(k, 1, kube_backoff(k));
}

static void
kube_timer_cb(void *arg)
{
	struct kube *k = arg;

	kube_request(k, k->ku_state == KUBE_S_LISTING);
}

/* the next request: a LIST (list 1) or a WATCH, in ms */
static void
kube_next(struct kube *k, int list, uint64_t in_ms)
{
	if (k->ku_state != KUBE_S_BACKOFF)
		k->ku_state = list ? KUBE_S_LISTING : KUBE_S_WATCHING;
	else if (list)
		k->ku_view.kv_rv[0] = '\0';	/* LIST when it fires */
	loop_timer_in(k->ku_loop, k->ku_timer, in_ms);
}

/* what a failed request's end says, into ku_err; never the token */
static void
kube_reason(struct kube *k, CURLcode rc, enum kube_result r)
{
	char body[160];
	size_t i, n = k->ku_errbody.b_len < sizeof(body) - 1 ?
	    k->ku_errbody.b_len : sizeof(body) - 1;
	const char *hint = "";

	if (k->ku_err[0] != '\0')
		return;
	for (i = 0; i < n; i++) {
		char c = k->ku_errbody.b_data[i];

		body[i] = c >= 0x20 && c < 0x7f ? c : ' ';
	}
	body[n] = '\0';
	switch (r) {
	case KUBE_R_TRANSPORT:
		snprintf(k->ku_err, sizeof(k->ku_err), "%s: %s", k->ku_base,
		    k->ku_rq.rq_err[0] ? k->ku_rq.rq_err :
		    curl_easy_strerror(rc));
		return;
	case KUBE_R_UNAUTHORIZED:
		hint = ": the token was refused (expired, or not this "
		    "cluster's)";
		break;
	case KUBE_R_FORBIDDEN:
		hint = ": the Role must allow get, list, watch on "
		    "endpointslices (discovery.k8s.io) in this namespace "
		    "(the chart's kubernetes.rbac.create)";
		break;
	case KUBE_R_TOOBIG:
		snprintf(k->ku_err, sizeof(k->ku_err), "%s over its cap (%s)",
		    k->ku_watch ? "a watch event" : "the LIST body",
		    k->ku_watch ? "4 MiB" : "32 MiB");
		return;
	case KUBE_R_DECODE:
	case KUBE_R_GONE:
		snprintf(k->ku_err, sizeof(k->ku_err), "%s",
		    k->ku_view.kv_err[0] ? k->ku_view.kv_err :
		    "the watch ended with 410 Gone");
		return;
	default:
		break;
	}
	snprintf(k->ku_err, sizeof(k->ku_err), "HTTP %ld%s%s%s", k->ku_status,
	    hint, n ? ": " : "", body);
}

static void
kube_log_failure(struct kube *k, enum kube_result r)
{
	char f[16];

	if (k->ku_logged == (int)r)
		return;
	k->ku_logged = (int)r;
	snprintf(f, sizeof(f), "%u", k->ku_fails);
	log_event(r == KUBE_R_GONE ? LOG_INFO : LOG_WARN, "kubernetes: "
	    "EndpointSlice request failed: retrying", "request",
	    k->ku_watch ? "watch" : "list", "result", kube_result_str(r),
	    "error", k->ku_err, "namespace", k->ku_ns, "failures", f, NULL);
}

static void
kube_done(struct pcurl_req *rq, CURLcode rc)
{
	struct kube *k = rq->rq_arg;
	enum kube_result r = KUBE_R_OK;
	uint64_t now = loop_now(k->ku_loop);
	int watch = k->ku_watch;

	if (k->ku_abort != KUBE_R_OK)
		r = k->ku_abort;
	else if (rc == CURLE_OK || (watch && k->ku_status == 200 &&
	    rc == CURLE_OPERATION_TIMEDOUT)) {
		/* a watch cut by our own timeout (the server did not end it)
		 * ends as one that the server ended */
		if (k->ku_status == 401)
			r = KUBE_R_UNAUTHORIZED;
		else if (k->ku_status == 403)
			r = KUBE_R_FORBIDDEN;
		else if (k->ku_status == 410)
			r = KUBE_R_GONE;
		else if (k->ku_status != 200)
			r = KUBE_R_HTTP;
	} else
		r = KUBE_R_TRANSPORT;
	if (r == KUBE_R_OK && !watch) {
		if (kv_list(&k->ku_view, k->ku_body.b_data ? k->ku_body.b_data :
		    "", k->ku_body.b_len, now, wall_ms()) != KV_OK)
			r = KUBE_R_DECODE;
	}
	if (r == KUBE_R_OK && watch && k->ku_view.kv_line.b_len > 0) {
		copy_str(k->ku_err, sizeof(k->ku_err), "the watch ended in "
		    "the middle of an event (not a JSON line)");
		r = KUBE_R_DECODE;
	}
	buf_reset(&k->ku_body);
	if (r == KUBE_R_OK && watch && now - k->ku_started <
	    KUBE_WATCH_SHORT_MS && k->ku_view.kv_events == k->ku_events0) {
		/* ended at once with nothing: retrying at once would spin */
		copy_str(k->ku_err, sizeof(k->ku_err), "the watch ended at "
		    "once, empty");
		r = KUBE_R_HTTP;
	}
	k->ku_requests[watch][r]++;
	k->ku_last = r;
	if (r == KUBE_R_OK) {
		if (!watch) {
			k->ku_synced_wall = wall_ms();
			kube_recovered(k);
		}
		kube_push(k);
		kube_next(k, 0, 0);
		return;
	}
	kube_reason(k, rc, r);
	if (r == KUBE_R_GONE) {
		/* the resourceVersion is too old: LIST again, now */
		kube_log_failure(k, r);
		k->ku_view.kv_rv[0] = '\0';
		kube_next(k, 1, 0);
		return;
	}
	k->ku_fails++;
	kube_log_failure(k, r);
	if (!k->ku_stale) {
		k->ku_stale = 1;
		kube_push(k);
	}
	k->ku_state = KUBE_S_BACKOFF;
	/* after a decode error the view may have missed an event: LIST */
	kube_next(k, r == KUBE_R_DECODE || r == KUBE_R_TOOBIG || !watch,
	    kube_backoff(k));
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
	if ((k->ku_pc = pcurl_new(k->ku_loop)) == NULL ||
	    pcurl_req_init(&k->ku_rq, kube_done, k) == -1) {
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
