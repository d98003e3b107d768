/*
 * http.c - HTTP(S) checks through the shared curl multi handle. One easy
 * handle per check, set up once and re-added for every run, so connections
 * stay alive in the multi handle's cache between runs.
 *
 * The body is never stored: the write callback counts it against max_body
 * (more is a failure, "body larger than N bytes", not memory growth) and
 * looks for body_contains with a streaming KMP matcher whose table is
 * allocated once.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../agent/log.h"
#include "../config/config.h"
#include "probe_impl.h"

struct http_state {
	struct pcurl_req	 hs_req;	/* first: pcurl_check_*() */
	struct curl_slist	*hs_headers;
	struct curl_slist	*hs_connect_to;
	char			*hs_url;	/* rewritten for SNI, or NULL */
	size_t			 hs_max;
	size_t			 hs_received;
	int			 hs_toobig;
	const char		*hs_needle;	/* body_contains, NULL = none */
	size_t			 hs_nlen;
	size_t			*hs_kmp;	/* KMP failure table */
	size_t			 hs_matched;
	int			 hs_found;
};
_Static_assert(offsetof(struct http_state, hs_req) == 0,
    "pcurl_check_start/abort find the request first");

UNITTEST_STATIC int
http_status_match(const struct cfg_range *r, size_t n, long code)
{
	size_t i;

	if (n == 0)
		return code >= 200 && code <= 399;
	for (i = 0; i < n; i++)
		if (code >= r[i].r_lo && code <= r[i].r_hi)
			return 1;
	return 0;
}

/* "200-399", "200,204-206"; cut with "..." if it does not fit */
UNITTEST_STATIC void
http_status_fmt(const struct cfg_range *r, size_t n, char *out, size_t len)
{
	size_t i, off = 0;
	int k;

	if (len == 0)
		return;
	out[0] = '\0';
	if (n == 0) {
		snprintf(out, len, "200-399");
		return;
	}
	for (i = 0; i < n; i++) {
		if (r[i].r_lo == r[i].r_hi)
			k = snprintf(out + off, len - off, "%s%d",
			    i ? "," : "", r[i].r_lo);
		else
			k = snprintf(out + off, len - off, "%s%d-%d",
			    i ? "," : "", r[i].r_lo, r[i].r_hi);
		if (k < 0 || (size_t)k >= len - off) {
			if (len > 4)
				memcpy(out + len - 4, "...", 4);
			return;
		}
		off += (size_t)k;
	}
}

static void
http_kmp_feed(struct http_state *hs, const char *p, size_t n)
{
	const char *pat = hs->hs_needle;
	size_t i, q = hs->hs_matched;

	for (i = 0; i < n && !hs->hs_found; i++) {
		while (q > 0 && pat[q] != p[i])
			q = hs->hs_kmp[q - 1];
		if (pat[q] == p[i])
			q++;
		if (q == hs->hs_nlen)
			hs->hs_found = 1;
	}
	hs->hs_matched = q;
}

static size_t
http_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_state *hs = arg;
	size_t n = size * nmemb;

	if (n > hs->hs_max - hs->hs_received) {
		hs->hs_toobig = 1;
		return 0;	/* != n: curl fails with CURLE_WRITE_ERROR */
	}
	hs->hs_received += n;
	if (hs->hs_needle != NULL && !hs->hs_found)
		http_kmp_feed(hs, ptr, n);
	return n;
}

static void
http_done(struct pcurl_req *rq, CURLcode rc)
{
	struct probe_check *pc = rq->rq_arg;
	struct http_state *hs = pc->pc_kind;
	const struct cfg_http *h = &pc->pc_ck->ck_http;
	char reason[CHECK_OUTPUT_MAX], ranges[128];
	long code = 0;

	if (hs->hs_toobig || rc == CURLE_FILESIZE_EXCEEDED) {
		probe_reason(reason, sizeof(reason), "body larger than %zu bytes",
		    hs->hs_max);
		probe_finish(pc, PROBE_FAIL, reason);
		return;
	}
	if (rc != CURLE_OK) {
		pcurl_reason(rq, rc, reason, sizeof(reason));
		probe_finish(pc, rc == CURLE_OPERATION_TIMEDOUT ?
		    PROBE_TIMEOUT : PROBE_ERROR, reason);
		return;
	}
	curl_easy_getinfo(rq->rq_easy, CURLINFO_RESPONSE_CODE, &code);
	if (!http_status_match(h->h_status, h->h_nstatus, code)) {
		http_status_fmt(h->h_status, h->h_nstatus, ranges,
		    sizeof(ranges));
		probe_reason(reason, sizeof(reason), "status %ld not in %s",
		    code, ranges);
		probe_finish(pc, PROBE_FAIL, reason);
		return;
	}
	if (hs->hs_needle != NULL && !hs->hs_found) {
		probe_reason(reason, sizeof(reason),
		    "body does not contain \"%s\"", hs->hs_needle);
		probe_finish(pc, PROBE_FAIL, reason);
		return;
	}
	probe_finish(pc, PROBE_OK, NULL);
}

static int
http_setopts(struct probe_check *pc, struct http_state *hs)
{
	const struct cfg_check *ck = pc->pc_ck;
	const struct cfg_http *h = &ck->ck_http;
	CURL *e = hs->hs_req.rq_easy;
	struct curl_slist *nl;
	const char *url = h->h_url;
	const char *method = h->h_method != NULL ? h->h_method : "GET";

	if (pcurl_headers(h->h_headers, h->h_nheaders, &hs->hs_headers) == -1)
		return -1;
	/* no "Expect: 100-continue" round trip for a request body */
	if ((nl = curl_slist_append(hs->hs_headers, "Expect:")) == NULL)
		return -1;
	hs->hs_headers = nl;
	if (h->h_tls.tls_enabled || strncasecmp(url, "https:", 6) == 0) {
		if (pcurl_tls(e, &h->h_tls, url, &hs->hs_url,
		    &hs->hs_connect_to) == -1)
			return -1;
		if (hs->hs_url != NULL)
			url = hs->hs_url;
	}
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs->hs_headers) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    (long)ck->ck_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, hs) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)hs->hs_max) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTP09_ALLOWED, 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION,
	    h->h_follow_redirects ? 1L : 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L) != CURLE_OK)
		return -1;
	if (h->h_unix_socket != NULL && h->h_unix_socket[0] != '\0' &&
	    curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, h->h_unix_socket) !=
	    CURLE_OK)
		return -1;
	if (strcmp(method, "HEAD") == 0)
		return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK ?
		    0 : -1;
	if (h->h_body != NULL) {
		if (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(h->h_body)) != CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->h_body) !=
		    CURLE_OK)
			return -1;
	} else if (strcmp(method, "POST") == 0) {
		if (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L) !=
		    CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "") != CURLE_OK)
			return -1;
	}
	if (strcmp(method, "GET") != 0 &&
	    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
		return -1;
	return 0;
}

static void
http_free(struct probe_check *pc)
{
	struct http_state *hs = pc->pc_kind;

	if (hs == NULL)
		return;
	pcurl_req_free(pc->pc_probes->p_curl, &hs->hs_req);
	curl_slist_free_all(hs->hs_headers);
	curl_slist_free_all(hs->hs_connect_to);
	free(hs->hs_url);
	free(hs->hs_kmp);
	free(hs);
	pc->pc_kind = NULL;
}

static int
http_init(struct probe_check *pc)
{
	const struct cfg_http *h = &pc->pc_ck->ck_http;
	struct http_state *hs;
	size_t i, k;

	if ((hs = calloc(1, sizeof(*hs))) == NULL)
		return -1;
	pc->pc_kind = hs;
	hs->hs_max = h->h_max_body;
	if (h->h_body_contains != NULL && h->h_body_contains[0] != '\0') {
		hs->hs_needle = h->h_body_contains;
		hs->hs_nlen = strlen(hs->hs_needle);
		if ((hs->hs_kmp = calloc(hs->hs_nlen, sizeof(size_t))) == NULL)
			goto fail;
		for (i = 1, k = 0; i < hs->hs_nlen; i++) {
			while (k > 0 && hs->hs_needle[i] != hs->hs_needle[k])
				k = hs->hs_kmp[k - 1];
			if (hs->hs_needle[i] == hs->hs_needle[k])
				k++;
			hs->hs_kmp[i] = k;
		}
	}
	if (pcurl_req_init(&hs->hs_req, http_done, pc) == -1 ||
	    http_setopts(pc, hs) == -1)
		goto fail;
	return 0;
fail:
	http_free(pc);
	return -1;
}

static int
http_run(struct probe_check *pc, char *reason, size_t len)
{
	struct http_state *hs = pc->pc_kind;

	hs->hs_received = 0;
	hs->hs_toobig = 0;
	hs->hs_matched = 0;
	hs->hs_found = 0;
	return pcurl_check_start(pc, reason, len);
}

const struct probe_ops probe_http_ops = {
	.po_kind = "http",
	.po_slack_ms = 250,
	.po_init = http_init,
	.po_run = http_run,
	.po_abort = pcurl_check_abort,
	.po_free = http_free,
};
