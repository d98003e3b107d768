/*
 * pcurl.h - one libcurl multi handle driven by the agent's loop (the
 * multi-socket API): the checks' transfers (probes/), and the Kubernetes
 * API client's (agent/kube.c), each with a multi of its own.
 */
#ifndef NDT_PCURL_H
#define NDT_PCURL_H

#include <curl/curl.h>

struct loop;

struct pcurl_req;
typedef void	 pcurl_done_cb(struct pcurl_req *, CURLcode);

struct pcurl_req {
	CURL		*rq_easy;
	pcurl_done_cb	*rq_done;
	void		*rq_arg;
	int		 rq_active;	/* added to the multi handle */
	char		 rq_err[CURL_ERROR_SIZE];
};

struct pcurl	*pcurl_new(struct loop *);
void		 pcurl_free(struct pcurl *);	/* requests freed first */
/* a fresh easy handle with PRIVATE, ERRORBUFFER, NOSIGNAL set; 0 or -1 */
int		 pcurl_req_init(struct pcurl_req *, pcurl_done_cb *, void *);
int		 pcurl_req_start(struct pcurl *, struct pcurl_req *);
/* remove from the multi handle if running; done() is not called */
void		 pcurl_req_cancel(struct pcurl *, struct pcurl_req *);
void		 pcurl_req_free(struct pcurl *, struct pcurl_req *);

#endif
