/*
 * pcurl.c - one libcurl multi handle for every HTTP, gRPC and TCP check,
 * driven by the agent's loop through the multi-socket API:
 *
 *   CURLMOPT_SOCKETFUNCTION -> loop_io_add/mod/del, per-socket state kept
 *                              with curl_multi_assign()
 *   CURLMOPT_TIMERFUNCTION  -> one loop timer (-1 stops it; 0 fires on the
 *                              next loop iteration, the loop never arms 0)
 *   fd ready / timer fired  -> curl_multi_socket_action(), then
 *                              curl_multi_info_read() drained
 *
 * libcurl is never called from its own callbacks (curl_multi_assign is the
 * documented exception): the callbacks only touch the loop. Completed
 * transfers are removed from the multi handle before their done() runs, so
 * done() may start or cancel any request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "../agent/log.h"
#include "../agent/loop.h"
#include "../config/config.h"
#include "probe_impl.h"

struct pcurl_sock {
	struct pcurl		*ps_pc;
	curl_socket_t		 ps_fd;
	struct loop_io		*ps_io;
	struct pcurl_sock	*ps_prev, *ps_next;
};

struct pcurl {
	struct loop		*pm_loop;
	CURLM			*pm_multi;
	struct loop_timer	*pm_timer;
	struct pcurl_sock	*pm_socks;	/* registered with the loop */
	int			 pm_running;	/* transfers curl reports */
};

static void	pcurl_io_cb(int, uint32_t, void *);
static void	pcurl_timer_cb(void *);

static void
pcurl_sock_free(struct pcurl *pm, struct pcurl_sock *ps)
{
	if (ps->ps_io != NULL)
		loop_io_del(pm->pm_loop, ps->ps_io);
	if (ps->ps_prev != NULL)
		ps->ps_prev->ps_next = ps->ps_next;
	else
		pm->pm_socks = ps->ps_next;
	if (ps->ps_next != NULL)
		ps->ps_next->ps_prev = ps->ps_prev;
	free(ps);
}

/* CURLMOPT_SOCKETFUNCTION: what curl wants to wait for on one socket */
static int
pcurl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct pcurl *pm = userp;
	struct pcurl_sock *ps = socketp;
	uint32_t ev = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (ps != NULL)
			pcurl_sock_free(pm, ps);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= EPOLLOUT;
	if (ps == NULL) {
		if ((ps = calloc(1, sizeof(*ps))) == NULL) {
			log_error("probes: socket state");
			return -1;	/* curl fails the transfer */
		}
		ps->ps_pc = pm;
		ps->ps_fd = fd;
		if ((ps->ps_io = loop_io_add(pm->pm_loop, fd, ev, pcurl_io_cb,
		    ps)) == NULL) {
			log_error("probes: loop_io_add fd %d", fd);
			free(ps);
			return -1;
		}
		ps->ps_next = pm->pm_socks;
		if (pm->pm_socks != NULL)
			pm->pm_socks->ps_prev = ps;
		pm->pm_socks = ps;
		curl_multi_assign(pm->pm_multi, fd, ps);
		return 0;
	}
	if (loop_io_mod(pm->pm_loop, ps->ps_io, ev) == -1) {
		log_error("probes: loop_io_mod fd %d", fd);
		return -1;
	}
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer, re-armed or stopped */
static int
pcurl_timerfunc_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct pcurl *pm = userp;

	(void)multi;
	if (timeout_ms < 0)
		loop_timer_stop(pm->pm_loop, pm->pm_timer);
	else
		loop_timer_in(pm->pm_loop, pm->pm_timer, (uint64_t)timeout_ms);
	return 0;
}

/* hand every finished transfer to its owner */
static void
pcurl_drain(struct pcurl *pm)
{
	struct pcurl_req *rq;
	CURLMsg *msg;
	CURLcode rc;
	char *priv;
	int left;

	while ((msg = curl_multi_info_read(pm->pm_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		rc = msg->data.result;
		/* msg is invalid once the handle is removed */
		curl_multi_remove_handle(pm->pm_multi, msg->easy_handle);
		if ((rq = (struct pcurl_req *)(void *)priv) == NULL)
			continue;
		rq->rq_active = 0;
		rq->rq_done(rq, rc);
	}
}

static void
pcurl_action(struct pcurl *pm, curl_socket_t fd, int flags)
{
	CURLMcode mc;

	mc = curl_multi_socket_action(pm->pm_multi, fd, flags,
	    &pm->pm_running);
	if (mc != CURLM_OK)
		log_errorx("probes: curl_multi_socket_action: %s",
		    curl_multi_strerror(mc));
	pcurl_drain(pm);
}

static void
pcurl_io_cb(int fd, uint32_t events, void *arg)
{
	struct pcurl_sock *ps = arg;
	int flags = 0;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		flags |= CURL_CSELECT_ERR;
	/* ps may be freed by the socket callback inside this call */
	pcurl_action(ps->ps_pc, fd, flags);
}

static void
pcurl_timer_cb(void *arg)
{
	pcurl_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

struct pcurl *
pcurl_new(struct loop *loop)
{
	struct pcurl *pm;

	if ((pm = calloc(1, sizeof(*pm))) == NULL) {
		log_error("probes: pcurl");
		return NULL;
	}
	pm->pm_loop = loop;
	if ((pm->pm_timer = loop_timer_new(loop, pcurl_timer_cb, pm)) == NULL) {
		log_error("probes: curl timer");
		goto fail;
	}
	if ((pm->pm_multi = curl_multi_init()) == NULL) {
		log_errorx("probes: curl_multi_init failed");
		goto fail;
	}
	if (curl_multi_setopt(pm->pm_multi, CURLMOPT_SOCKETFUNCTION,
	    pcurl_socket_cb) != CURLM_OK ||
	    curl_multi_setopt(pm->pm_multi, CURLMOPT_SOCKETDATA, pm) !=
	    CURLM_OK ||
	    curl_multi_setopt(pm->pm_multi, CURLMOPT_TIMERFUNCTION,
	    pcurl_timerfunc_cb) != CURLM_OK ||
	    curl_multi_setopt(pm->pm_multi, CURLMOPT_TIMERDATA, pm) !=
	    CURLM_OK) {
		log_errorx("probes: curl_multi_setopt failed");
		goto fail;
	}
	return pm;
fail:
	pcurl_free(pm);
	return NULL;
}

/*
 * curl's documented order: every easy handle removed (and cleaned up) by
 * its owner first, then curl_multi_cleanup(), which may still call the
 * socket callback for cached connections: pm and the loop are alive then.
 */
void
pcurl_free(struct pcurl *pm)
{
	if (pm == NULL)
		return;
	if (pm->pm_multi != NULL)
		curl_multi_cleanup(pm->pm_multi);
	while (pm->pm_socks != NULL)
		pcurl_sock_free(pm, pm->pm_socks);
	if (pm->pm_timer != NULL)
		loop_timer_free(pm->pm_loop, pm->pm_timer);
	free(pm);
}

/*
 * The agent's own connections to loopback (its checks of the app, the drain
 * notify): each is a passive open in the pod's network namespace, which the
 * adaptive drain must not take for a client (drainquiet.c). Counted as the
 * socket is made, so the count never lags the kernel's PassiveOpens.
 */
static uint64_t pcurl_loopback_opens;

uint64_t
probes_loopback_opens(void)
{
	return pcurl_loopback_opens;
}

static int
is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
	const struct sockaddr_in6 *sin6 =
	    (const struct sockaddr_in6 *)(const void *)sa;
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };

	if (sa->sa_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
		return 1;
	return memcmp(sin6->sin6_addr.s6_addr, v4mapped, 12) == 0 &&
	    sin6->sin6_addr.s6_addr[12] == 127;
}

static curl_socket_t
pcurl_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	curl_socket_t fd;

	(void)arg;
	(void)purpose;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd != CURL_SOCKET_BAD && a->socktype == SOCK_STREAM &&
	    is_loopback(&a->addr))
		pcurl_loopback_opens++;
	return fd;
}

int
pcurl_req_init(struct pcurl_req *rq, pcurl_done_cb *done, void *arg)
{
	memset(rq, 0, sizeof(*rq));
	rq->rq_done = done;
	rq->rq_arg = arg;
	if ((rq->rq_easy = curl_easy_init()) == NULL) {
		log_errorx("probes: curl_easy_init failed");
		return -1;
	}
	if (curl_easy_setopt(rq->rq_easy, CURLOPT_PRIVATE, rq) != CURLE_OK ||
	    curl_easy_setopt(rq->rq_easy, CURLOPT_ERRORBUFFER, rq->rq_err) !=
	    CURLE_OK ||
	    curl_easy_setopt(rq->rq_easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(rq->rq_easy, CURLOPT_OPENSOCKETFUNCTION,
	    pcurl_opensocket) != CURLE_OK ||
	    curl_easy_setopt(rq->rq_easy, CURLOPT_USERAGENT,
	    "nodowntime/" NDT_VERSION) != CURLE_OK ||
	    curl_easy_setopt(rq->rq_easy, CURLOPT_PROTOCOLS_STR,
	    "http,https") != CURLE_OK ||
	    curl_easy_setopt(rq->rq_easy, CURLOPT_REDIR_PROTOCOLS_STR,
	    "http,https") != CURLE_OK) {
		log_errorx("probes: curl_easy_setopt failed");
		curl_easy_cleanup(rq->rq_easy);
		rq->rq_easy = NULL;
		return -1;
	}
	return 0;
}

int
pcurl_req_start(struct pcurl *pm, struct pcurl_req *rq)
{
	CURLMcode mc;

	if (rq->rq_active)
		return -1;
	rq->rq_err[0] = '\0';
	if ((mc = curl_multi_add_handle(pm->pm_multi, rq->rq_easy)) !=
	    CURLM_OK) {
		log_errorx("probes: curl_multi_add_handle: %s",
		    curl_multi_strerror(mc));
		return -1;
	}
	rq->rq_active = 1;
	return 0;
}

void
pcurl_req_cancel(struct pcurl *pm, struct pcurl_req *rq)
{
	if (!rq->rq_active)
		return;
	curl_multi_remove_handle(pm->pm_multi, rq->rq_easy);
	rq->rq_active = 0;
}

void
pcurl_req_free(struct pcurl *pm, struct pcurl_req *rq)
{
	if (rq->rq_easy == NULL)
		return;
	pcurl_req_cancel(pm, rq);
	curl_easy_cleanup(rq->rq_easy);
	rq->rq_easy = NULL;
}

void
pcurl_reason(const struct pcurl_req *rq, CURLcode rc, char *out, size_t len)
{
	long err = 0;
	size_t n;

	if (rq->rq_err[0] != '\0') {
		probe_reason(out, len, "%s", rq->rq_err);
		/* curl's messages sometimes end in a newline */
		n = strlen(out);
		while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
			out[--n] = '\0';
	} else
		probe_reason(out, len, "%s", curl_easy_strerror(rc));
	/* "Couldn't connect to server": say why */
	if (rc == CURLE_COULDNT_CONNECT && curl_easy_getinfo(rq->rq_easy,
	    CURLINFO_OS_ERRNO, &err) == CURLE_OK && err != 0 &&
	    (n = strlen(out)) + 3 < len)
		probe_reason(out + n, len - n, ": %s", strerror((int)err));
}

int
pcurl_tls(CURL *e, const struct cfg_tls *tls, const char *url,
    char **url_out, struct curl_slist **connect_to)
{
	CURLU *u = NULL;
	char *host = NULL, *port = NULL, *nurl = NULL, *line = NULL;
	size_t len;
	int rv = -1;

	*url_out = NULL;
	*connect_to = NULL;
	if (tls->tls_ca_file != NULL && tls->tls_ca_file[0] != '\0' &&
	    curl_easy_setopt(e, CURLOPT_CAINFO, tls->tls_ca_file) != CURLE_OK)
		goto fail;
	if (tls->tls_cert_file != NULL && tls->tls_cert_file[0] != '\0' &&
	    curl_easy_setopt(e, CURLOPT_SSLCERT, tls->tls_cert_file) !=
	    CURLE_OK)
		goto fail;
	if (tls->tls_key_file != NULL && tls->tls_key_file[0] != '\0' &&
	    curl_easy_setopt(e, CURLOPT_SSLKEY, tls->tls_key_file) != CURLE_OK)
		goto fail;
	if (tls->tls_insecure_skip_verify &&
	    (curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK))
		goto fail;
	if (tls->tls_server_name == NULL || tls->tls_server_name[0] == '\0')
		return 0;

	/* SNI and the verified name come from the URL: put server_name
	 * there and send the connection to the original host:port */
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK ||
	    curl_url_set(u, CURLUPART_HOST, tls->tls_server_name, 0) !=
	    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &nurl, 0) != CURLUE_OK)
		goto fail;
	len = strlen(host) + strlen(port) + 4;
	if ((line = malloc(len)) == NULL)
		goto fail;
	snprintf(line, len, "::%s:%s", host, port);
	if ((*connect_to = curl_slist_append(NULL, line)) == NULL)
		goto fail;
	if ((*url_out = strdup(nurl)) == NULL) {
		curl_slist_free_all(*connect_to);
		*connect_to = NULL;
		goto fail;
	}
	if (curl_easy_setopt(e, CURLOPT_CONNECT_TO, *connect_to) != CURLE_OK)
		goto fail;
	rv = 0;
fail:
	if (rv == -1)
		/* not the URL: it may carry a ${VAR} secret; the caller
		 * names the check */
		log_errorx("probes: cannot set the TLS options");
	free(line);
	curl_free(nurl);
	curl_free(port);
	curl_free(host);
	if (u != NULL)
		curl_url_cleanup(u);
	return rv;
}

int
pcurl_headers(const struct cfg_kv *kv, size_t n, struct curl_slist **out)
{
	struct curl_slist *l = NULL, *nl;
	char *line;
	size_t i, len;

	*out = NULL;
	for (i = 0; i < n; i++) {
		len = strlen(kv[i].kv_key) + strlen(kv[i].kv_value) + 3;
		if ((line = malloc(len)) == NULL)
			goto fail;
		/* "Name:" alone would remove a header; "Name;" sends it empty */
		if (kv[i].kv_value[0] == '\0')
			snprintf(line, len, "%s;", kv[i].kv_key);
		else
			snprintf(line, len, "%s: %s", kv[i].kv_key,
			    kv[i].kv_value);
		nl = curl_slist_append(l, line);
		free(line);
		if (nl == NULL)
			goto fail;
		l = nl;
	}
	*out = l;
	return 0;
fail:
	log_error("probes: headers");
	curl_slist_free_all(l);
	return -1;
}

int
pcurl_check_start(struct probe_check *pc, char *reason, size_t len)
{
	struct pcurl_req *req = pc->pc_kind;	/* the state's first member */

	if (pcurl_req_start(pc->pc_probes->p_curl, req) == -1) {
		probe_reason(reason, len, "cannot start the request");
		return -1;
	}
	return 0;
}

void
pcurl_check_abort(struct probe_check *pc)
{
	struct pcurl_req *req = pc->pc_kind;	/* the state's first member */
	char reason[64], d[24];

	pcurl_req_cancel(pc->pc_probes->p_curl, req);
	fmt_duration(pc->pc_ck->ck_timeout_ms, d, sizeof(d));
	probe_reason(reason, sizeof(reason), "timeout after %s", d);
	probe_finish(pc, PROBE_TIMEOUT, reason);
}
