/*
 * tcp.c - TCP checks: can a connection be made within the timeout?
 * Done with libcurl's CONNECT_ONLY through the shared multi handle, so the
 * name is resolved by curl's threaded resolver, never blocking the loop.
 * FORBID_REUSE closes each connection when its run ends: a TCP check must
 * open a fresh connection every time to prove anything.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../agent/log.h"
#include "../config/config.h"
#include "probe_impl.h"

struct tcp_state {
	struct pcurl_req	 ts_req;	/* first: pcurl_check_*() */
	char			 ts_url[320];
};
_Static_assert(offsetof(struct tcp_state, ts_req) == 0,
    "pcurl_check_start/abort find the request first");

static void
tcp_done(struct pcurl_req *rq, CURLcode rc)
{
	struct probe_check *pc = rq->rq_arg;
	char reason[CHECK_OUTPUT_MAX];

	if (rc == CURLE_OK) {
		probe_finish(pc, PROBE_OK, NULL);
		return;
	}
	pcurl_reason(rq, rc, reason, sizeof(reason));
	probe_finish(pc, rc == CURLE_OPERATION_TIMEDOUT ? PROBE_TIMEOUT :
	    PROBE_ERROR, reason);
}

static void
tcp_free(struct probe_check *pc)
{
	struct tcp_state *ts = pc->pc_kind;

	if (ts == NULL)
		return;
	pcurl_req_free(pc->pc_probes->p_curl, &ts->ts_req);
	free(ts);
	pc->pc_kind = NULL;
}

static int
tcp_init(struct probe_check *pc)
{
	const struct cfg_tcp *t = &pc->pc_ck->ck_tcp;
	struct tcp_state *ts;
	CURL *e;
	int n;

	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		return -1;
	pc->pc_kind = ts;
	/* an IPv6 literal needs brackets in a URL */
	if (strchr(t->t_host, ':') != NULL && t->t_host[0] != '[')
		n = snprintf(ts->ts_url, sizeof(ts->ts_url), "http://[%s]:%u/",
		    t->t_host, t->t_port);
	else
		n = snprintf(ts->ts_url, sizeof(ts->ts_url), "http://%s:%u/",
		    t->t_host, t->t_port);
	if (n < 0 || (size_t)n >= sizeof(ts->ts_url)) {
		log_errorx("probes: check %s: host name too long",
		    pc->pc_ck->ck_name);
		goto fail;
	}
	if (pcurl_req_init(&ts->ts_req, tcp_done, pc) == -1)
		goto fail;
	e = ts->ts_req.rq_easy;
	if (curl_easy_setopt(e, CURLOPT_URL, ts->ts_url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    (long)pc->pc_ck->ck_timeout_ms) != CURLE_OK)
		goto fail;
	return 0;
fail:
	tcp_free(pc);
	return -1;
}

const struct probe_ops probe_tcp_ops = {
	.po_kind = "tcp",
	.po_slack_ms = 250,
	.po_init = tcp_init,
	.po_run = pcurl_check_start,
	.po_abort = pcurl_check_abort,
	.po_free = tcp_free,
};
