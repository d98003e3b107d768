/*
 * notify.c - probes_notify(): the drain's one-shot HTTP call to the app,
 * through the probes' curl multi handle. Rare (once per drain), so each
 * call allocates its request and frees it when done() has been called.
 */
#include <stdlib.h>
#include <string.h>

#include "../agent/log.h"
#include "../config/config.h"
#include "probe_impl.h"

struct probe_notify {
	struct pcurl_req	 nt_req;
	struct probes		*nt_probes;
	struct curl_slist	*nt_headers;
	probes_done_cb		*nt_done;
	void			*nt_arg;
	struct probe_notify	*nt_next;
};

static size_t
notify_discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

static void
notify_unlink_free(struct probe_notify *nt)
{
	struct probe_notify **pp;

	for (pp = &nt->nt_probes->p_notify; *pp != NULL; pp = &(*pp)->nt_next)
		if (*pp == nt) {
			*pp = nt->nt_next;
			break;
		}
	pcurl_req_free(nt->nt_probes->p_curl, &nt->nt_req);
	curl_slist_free_all(nt->nt_headers);
	free(nt);
}

static void
notify_done(struct pcurl_req *rq, CURLcode rc)
{
	struct probe_notify *nt = rq->rq_arg;
	probes_done_cb *done = nt->nt_done;
	void *arg = nt->nt_arg;
	char reason[CHECK_OUTPUT_MAX];
	long code = 0;
	int ok = 0;

	if (rc != CURLE_OK)
		pcurl_reason(rq, rc, reason, sizeof(reason));
	else {
		curl_easy_getinfo(rq->rq_easy, CURLINFO_RESPONSE_CODE, &code);
		ok = code >= 200 && code <= 299;
		probe_reason(reason, sizeof(reason), "status %ld", code);
	}
	env_mask_str(&nt->nt_probes->p_cfg->cf_secrets, reason);
	log_event(ok ? LOG_INFO : LOG_WARN, "drain notify",
	    "result", ok ? "ok" : "fail", "reason", reason, NULL);
	notify_unlink_free(nt);
	done(arg, ok, reason);
}

int
probes_notify(struct probes *p, const struct cfg_notify *n,
    probes_done_cb *done, void *arg)
{
	struct probe_notify *nt;
	struct curl_slist *nl;
	const char *method = n->n_method != NULL ? n->n_method : "POST";
	CURL *e;

	if (n->n_url == NULL || n->n_url[0] == '\0')
		return -1;
	if ((nt = calloc(1, sizeof(*nt))) == NULL) {
		log_error("probes: notify");
		return -1;
	}
	nt->nt_probes = p;
	nt->nt_done = done;
	nt->nt_arg = arg;
	if (pcurl_req_init(&nt->nt_req, notify_done, nt) == -1) {
		free(nt);
		return -1;
	}
	nt->nt_next = p->p_notify;
	p->p_notify = nt;
	e = nt->nt_req.rq_easy;
	if (pcurl_headers(n->n_headers, n->n_nheaders, &nt->nt_headers) == -1 ||
	    (nl = curl_slist_append(nt->nt_headers, "Expect:")) == NULL)
		goto fail;
	nt->nt_headers = nl;
	if (curl_easy_setopt(e, CURLOPT_URL, n->n_url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, nt->nt_headers) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    (long)(n->n_timeout_ms ? n->n_timeout_ms : 2000)) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, notify_discard) !=
	    CURLE_OK)
		goto fail;
	if (strcmp(method, "POST") == 0) {
		if (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L) !=
		    CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "") != CURLE_OK)
			goto fail;
	} else if (strcmp(method, "HEAD") == 0) {
		if (curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK)
			goto fail;
	} else if (strcmp(method, "GET") != 0 &&
	    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
		goto fail;
	if (pcurl_req_start(p->p_curl, &nt->nt_req) == -1)
		goto fail;
	return 0;
fail:
	log_errorx("probes: cannot set up the drain notify request");
	notify_unlink_free(nt);
	return -1;
}

void
notify_free_all(struct probes *p)
{
	while (p->p_notify != NULL)
		notify_unlink_free(p->p_notify);
}
