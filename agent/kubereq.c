/*
 * kubereq.c - the EndpointSlice client's transfers (kube.c has the rest):
 * one request at a time on the client's own curl multi handle, the status
 * line and body callbacks (a LIST's body buffered, a WATCH's fed to the
 * view as it comes), the bearer token read for each request, backoff,
 * and what each end means for the next request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../config/config.h"
#include "../probes/pcurl.h"
#include "kube.h"
#include "kubeview.h"
#include "log.h"
#include "loop.h"
#include "kube_priv.h"

static void	kube_next(struct kube *, int list, uint64_t in_ms);
static void	kube_done(struct pcurl_req *, CURLcode);

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
	uint64_t ev;

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
	ev = k->ku_view.kv_events;
	r = kv_feed(&k->ku_view, p, n, loop_now(k->ku_loop), wall_ms());
	/* a chunk that completed no event (most of a big one) changed
	 * nothing downstream */
	if (k->ku_view.kv_events != ev)
		kube_push(k);
	if (r != KV_OK) {
		k->ku_abort = r == KV_GONE ? KUBE_R_GONE :
		    strstr(k->ku_view.kv_err, "a line over") != NULL ?
		    KUBE_R_TOOBIG : KUBE_R_DECODE;
		return 0;
	}
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
	if (kube_read_small(path, tok, KUBE_TOKEN_MAX) == 0) {
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
			kube_copy_str(k->ku_err, sizeof(k->ku_err), "out of memory");
		return -1;
	}
	pcurl_req_free(k->ku_pc, &k->ku_rq);
	if (pcurl_req_init(&k->ku_rq, NULL, NULL) == -1)
		return -1;
	return 0;
}

/* start a LIST (list 1) or a WATCH from kv_rv; on failure, back off */
void
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
		kube_copy_str(k->ku_err, sizeof(k->ku_err), "curl_easy_setopt "
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
		kube_copy_str(k->ku_err, sizeof(k->ku_err), "curl_multi_add_handle "
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

void
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
		kube_copy_str(k->ku_err, sizeof(k->ku_err), "the watch ended in "
		    "the middle of an event (not a JSON line)");
		r = KUBE_R_DECODE;
	}
	buf_reset(&k->ku_body);
	if (r == KUBE_R_OK && watch && now - k->ku_started <
	    KUBE_WATCH_SHORT_MS && k->ku_view.kv_events == k->ku_events0) {
		/* ended at once with nothing: retrying at once would spin */
		kube_copy_str(k->ku_err, sizeof(k->ku_err), "the watch ended at "
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
