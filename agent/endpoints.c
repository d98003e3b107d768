/*
 * endpoints.c - what the HTTP server answers on each path: /live /ready
 * /startup from health's state, /healthz, /metrics, 404 and 405.
 *
 * The health bodies are rendered by health.c when state changes; here each
 * is wrapped once in an MHD_Response that every request then reuses, so
 * answering a probe allocates nothing and copies nothing of ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "health.h"
#include "hookinstall.h"
#include "log.h"
#include "metrics.h"
#include "server_priv.h"
#include "util.h"

#define CT_METRICS		"text/plain; version=0.0.4; charset=utf-8"

struct MHD_Response *
server_response_new(const char *body, size_t len, const char *ctype)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return NULL;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    ctype) == MHD_NO ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store") == MHD_NO) {
		MHD_destroy_response(r);
		return NULL;
	}
	return r;
}

/* re-wrap the health bodies if health rendered since we last looked */
int
server_refresh(struct server *sv)
{
	const struct health_view *v;
	struct MHD_Response *r;
	int e;

	(void)health_render(sv->sv_health);
	if (sv->sv_gen == sv->sv_health->h_gen && sv->sv_view[0] != NULL)
		return 0;
	for (e = 0; e < HEALTH_NENDPOINTS; e++) {
		v = health_view(sv->sv_health, (enum health_endpoint)e);
		r = server_response_new(v->hv_body.b_data ?
		    v->hv_body.b_data : "", v->hv_body.b_len, CT_HEALTH);
		if (r == NULL) {
			log_errorx("server: cannot build /%s response",
			    health_endpoint_str((enum health_endpoint)e));
			return -1;
		}
		/* MHD keeps its own reference while a connection sends it */
		if (sv->sv_view[e])
			MHD_destroy_response(sv->sv_view[e]);
		sv->sv_view[e] = r;
	}
	sv->sv_gen = sv->sv_health->h_gen;
	return 0;
}

static enum MHD_Result
queue(struct server *sv, struct MHD_Connection *c, enum metrics_path p,
    unsigned code, struct MHD_Response *r)
{
	metrics_count_http(sv->sv_metrics, p, code);
	return MHD_queue_response(c, code, r);
}

static enum MHD_Result
serve_metrics(struct server *sv, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	enum MHD_Result rv;

	metrics_count_http(sv->sv_metrics, MPATH_METRICS, 200);
	if (metrics_render(sv->sv_metrics, &sv->sv_mbuf) == -1)
		log_warnx("server: /metrics over %u bytes, cut",
		    SERVER_METRICS_MAX);
	r = server_response_new(sv->sv_mbuf.b_data ? sv->sv_mbuf.b_data : "",
	    sv->sv_mbuf.b_len, CT_METRICS);
	if (r == NULL)
		return MHD_NO;
	rv = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rv;
}

/* 503 until the preStop hook is installed (hookinstall.c), with why */
static enum MHD_Result
serve_healthz(struct server *sv, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	enum MHD_Result rv;
	const char *body;
	size_t len;

	if ((body = hook_install_unhealthy(&len)) == NULL)
		return queue(sv, c, MPATH_HEALTHZ, MHD_HTTP_OK, sv->sv_healthz);
	if ((r = server_response_new(body, len, CT_HEALTH)) == NULL)
		return MHD_NO;
	rv = queue(sv, c, MPATH_HEALTHZ, MHD_HTTP_SERVICE_UNAVAILABLE, r);
	MHD_destroy_response(r);
	return rv;
}

enum MHD_Result
server_handler(void *arg, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **con_cls)
{
	static const struct {
		const char		*path;
		enum metrics_path	 mp;
	} routes[] = {
		{ "/live", MPATH_LIVE },
		{ "/ready", MPATH_READY },
		{ "/startup", MPATH_STARTUP },
		{ "/healthz", MPATH_HEALTHZ },
		{ "/metrics", MPATH_METRICS },
	};
	struct server *sv = arg;
	enum metrics_path mp = MPATH_OTHER;
	const struct health_view *v;
	size_t i;

	(void)version;
	(void)upload_data;
	/*
	 * The first call comes with the headers; answering then makes MHD
	 * close the connection. Answer on the second call, when the
	 * (ignored) body has been read, so keep-alive works.
	 */
	if (*con_cls == NULL)
		server_sconn_request(c);	/* the head is complete */
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(url, routes[i].path) == 0)
			mp = routes[i].mp;
	/* any other method: 405 at once, connection closed, body unread */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return queue(sv, c, mp, MHD_HTTP_METHOD_NOT_ALLOWED,
		    sv->sv_405);
	if (*con_cls == NULL) {
		*con_cls = sv;
		return MHD_YES;
	}
	/* a GET with a body: answer now; MHD closes instead of reading it */
	*upload_size = 0;
	switch (mp) {
	case MPATH_LIVE:
	case MPATH_READY:
	case MPATH_STARTUP:
		if (server_refresh(sv) == -1)
			return MHD_NO;
		v = health_view(sv->sv_health, (enum health_endpoint)mp);
		return queue(sv, c, mp, (unsigned)v->hv_code,
		    sv->sv_view[mp]);
	case MPATH_HEALTHZ:
		return serve_healthz(sv, c);
	case MPATH_METRICS:
		return serve_metrics(sv, c);
	default:
		return queue(sv, c, mp, MHD_HTTP_NOT_FOUND, sv->sv_404);
	}
}

void
server_logger(void *arg, const char *fmt, va_list ap)
{
	static const char errpfx[] = "Error processing request (HTTP "
	    "response code is ";
	struct server *sv = arg;
	char msg[512], code[8];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	/*
	 * MHD's own error answer, on a later request of a kept-alive
	 * connection (server_head.c screens the first): the line quotes the
	 * whole HTML page it sends. One short, rate-limited line instead.
	 */
	if (strncmp(msg, errpfx, sizeof(errpfx) - 1) == 0) {
		snprintf(code, sizeof(code), "%.3s", msg + sizeof(errpfx) - 1);
		server_note(sv, server_note_of_code((unsigned)atoi(code)),
		    "code", code, "by", "libmicrohttpd");
		return;
	}
	/* running out of something is worth seeing at the default level */
	log_event(strstr(msg, "memory") || strstr(msg, "limit") ||
	    strstr(msg, "Too many") ? LOG_WARN : LOG_DEBUG, "http server",
	    "detail", msg, NULL);
}
