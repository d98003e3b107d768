/*
 * grpc.c - gRPC health checks (grpc.health.v1.Health/Check) over HTTP/2
 * with libcurl: h2c with prior knowledge, or TLS with ALPN h2. The request
 * is built once at start-up; the response (one length-prefixed message,
 * capped at 5 + GRPC_MSG_MAX bytes) is decoded by grpc_decode_response(), a
 * pure function that the unit tests and the fuzzer drive. grpc-status and
 * grpc-message come from the trailers, or from the headers of a
 * trailers-only response: libcurl gives both to the header callback.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../agent/log.h"
#include "../config/config.h"
#include "probe_impl.h"

#define GRPC_PATH	"/grpc.health.v1.Health/Check"
#define GRPC_MSGTXT_MAX	160

struct grpc_state {
	struct pcurl_req	 gs_req;	/* first: pcurl_check_*() */
	struct curl_slist	*gs_headers;
	struct curl_slist	*gs_connect_to;
	char			*gs_url;
	uint8_t			*gs_body;	/* the request, built once */
	size_t			 gs_body_len;
	uint8_t			 gs_resp[5 + GRPC_MSG_MAX];
	size_t			 gs_resp_len;
	int			 gs_toobig;
	int			 gs_code;	/* grpc-status, -1 = none */
	char			 gs_msg[GRPC_MSGTXT_MAX]; /* grpc-message */
};
_Static_assert(offsetof(struct grpc_state, gs_req) == 0,
    "pcurl_check_start/abort find the request first");

static const char *const grpc_decode_names[] = {
	[GRPC_DEC_OK] = "ok",
	[GRPC_DEC_EMPTY] = "empty response",
	[GRPC_DEC_TRUNCATED] = "truncated response",
	[GRPC_DEC_TOOBIG] = "response message too large",
	[GRPC_DEC_COMPRESSED] = "compressed response",
	[GRPC_DEC_TRAILING] = "more than one response message",
	[GRPC_DEC_MALFORMED] = "malformed response message",
};

static const char *const grpc_health_names[] = {
	"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"
};

static const char *const grpc_code_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
	"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE",
	"DATA_LOSS", "UNAUTHENTICATED"
};

const char *
grpc_decode_str(enum grpc_decode d)
{
	if ((unsigned)d > GRPC_DEC_MALFORMED)
		return "unknown";
	return grpc_decode_names[d];
}

const char *
grpc_health_str(int status)
{
	if (status < 0 || status > 3)
		return NULL;
	return grpc_health_names[status];
}

const char *
grpc_code_str(int code)
{
	if (code < 0 || code > 16)
		return NULL;
	return grpc_code_names[code];
}

/* a protobuf varint, at most 10 bytes; 0 or -1 */
static int
grpc_varint(const uint8_t *b, size_t n, size_t *off, uint64_t *v)
{
	uint64_t x = 0;
	unsigned shift;
	uint8_t c;

	for (shift = 0; shift < 70; shift += 7) {
		if (*off >= n)
			return -1;
		c = b[(*off)++];
		if (shift == 63 && c > 1)
			return -1;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

enum grpc_decode
grpc_decode_response(const uint8_t *b, size_t n, int *status)
{
	const uint8_t *m;
	size_t len, off = 0;
	uint64_t key, v;

	*status = -1;
	if (n == 0)
		return GRPC_DEC_EMPTY;
	if (n < 5)
		return GRPC_DEC_TRUNCATED;
	if (b[0] == 1)
		return GRPC_DEC_COMPRESSED;
	if (b[0] != 0)
		return GRPC_DEC_MALFORMED;
	len = (size_t)b[1] << 24 | (size_t)b[2] << 16 | (size_t)b[3] << 8 |
	    (size_t)b[4];
	if (len > GRPC_MSG_MAX)
		return GRPC_DEC_TOOBIG;
	if (n - 5 < len)
		return GRPC_DEC_TRUNCATED;
	if (n - 5 > len)
		return GRPC_DEC_TRAILING;
	m = b + 5;
	while (off < len) {
		if (grpc_varint(m, len, &off, &key) == -1 || (key >> 3) == 0 ||
		    (key >> 3) > 0x1fffffff)
			return GRPC_DEC_MALFORMED;
		switch (key & 7) {
		case 0:
			if (grpc_varint(m, len, &off, &v) == -1)
				return GRPC_DEC_MALFORMED;
			if ((key >> 3) != 1)
				break;
			/* status: an int32 enum; ServingStatus has no
			 * negative values, and -1 means "absent" here */
			if (v > INT32_MAX)
				return GRPC_DEC_MALFORMED;
			*status = (int)v;
			break;
		case 1:
			if (len - off < 8)
				return GRPC_DEC_MALFORMED;
			off += 8;
			break;
		case 2:
			if (grpc_varint(m, len, &off, &v) == -1 ||
			    v > len - off)
				return GRPC_DEC_MALFORMED;
			if ((key >> 3) == 1)	/* status with the wrong type */
				return GRPC_DEC_MALFORMED;
			off += (size_t)v;
			break;
		case 5:
			if (len - off < 4)
				return GRPC_DEC_MALFORMED;
			off += 4;
			break;
		default:		/* groups (3, 4) and 6, 7 */
			return GRPC_DEC_MALFORMED;
		}
	}
	return GRPC_DEC_OK;
}

static int
grpc_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * One header or trailer line as curl passes it ("name: value\r\n").
 * Returns 1 for grpc-status (*code set), 2 for grpc-message (msg set,
 * percent-decoded, control characters dropped), 0 for anything else.
 */
UNITTEST_STATIC int
grpc_parse_header(const char *line, size_t n, int *code, char *msg,
    size_t msglen)
{
	const char *v, *end = line + n;
	size_t o = 0;
	long x;
	int h1, h2, c;

	while (end > line && (end[-1] == '\r' || end[-1] == '\n' ||
	    end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if ((size_t)(end - line) > 12 &&
	    strncasecmp(line, "grpc-status:", 12) == 0) {
		v = line + 12;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		if (v == end)
			return 0;
		for (x = 0; v < end; v++) {
			if (!isdigit((unsigned char)*v) || x > 100000)
				return 0;
			x = x * 10 + (*v - '0');
		}
		*code = (int)x;
		return 1;
	}
	if ((size_t)(end - line) >= 13 &&
	    strncasecmp(line, "grpc-message:", 13) == 0) {
		if (msglen == 0)
			return 2;
		v = line + 13;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		for (; v < end && o + 1 < msglen; v++) {
			c = (unsigned char)*v;
			if (c == '%' && end - v >= 3 &&
			    (h1 = grpc_hex(v[1])) >= 0 &&
			    (h2 = grpc_hex(v[2])) >= 0) {
				c = h1 << 4 | h2;
				v += 2;
			}
			if (c < 0x20 || c == 0x7f)
				continue;
			msg[o++] = (char)c;
		}
		msg[o] = '\0';
		return 2;
	}
	return 0;
}

static size_t
grpc_header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct grpc_state *gs = arg;
	size_t n = size * nmemb;

	grpc_parse_header(p, n, &gs->gs_code, gs->gs_msg, sizeof(gs->gs_msg));
	return n;
}

static size_t
grpc_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct grpc_state *gs = arg;
	size_t n = size * nmemb;

	if (n > sizeof(gs->gs_resp) - gs->gs_resp_len) {
		gs->gs_toobig = 1;
		return 0;
	}
	memcpy(gs->gs_resp + gs->gs_resp_len, p, n);
	gs->gs_resp_len += n;
	return n;
}

static void
grpc_done(struct pcurl_req *rq, CURLcode rc)
{
	struct probe_check *pc = rq->rq_arg;
	struct grpc_state *gs = pc->pc_kind;
	const char *svc = pc->pc_ck->ck_grpc.g_service, *name;
	char reason[CHECK_OUTPUT_MAX], pre[96];
	enum grpc_decode d;
	long code = 0, ver = 0;
	int status;

	pre[0] = '\0';
	if (svc != NULL && svc[0] != '\0')
		probe_reason(pre, sizeof(pre), "service '%s': ", svc);
	if (gs->gs_toobig) {
		probe_reason(reason, sizeof(reason),
		    "response larger than %zu bytes", sizeof(gs->gs_resp));
		probe_finish(pc, PROBE_ERROR, reason);
		return;
	}
	if (rc != CURLE_OK) {
		pcurl_reason(rq, rc, reason, sizeof(reason));
		probe_finish(pc, rc == CURLE_OPERATION_TIMEDOUT ?
		    PROBE_TIMEOUT : PROBE_ERROR, reason);
		return;
	}
	curl_easy_getinfo(rq->rq_easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(rq->rq_easy, CURLINFO_HTTP_VERSION, &ver);
	if (ver != CURL_HTTP_VERSION_2_0) {
		probe_finish(pc, PROBE_ERROR, "server does not speak HTTP/2");
		return;
	}
	if (code != 200) {
		probe_reason(reason, sizeof(reason), "HTTP status %ld", code);
		probe_finish(pc, PROBE_ERROR, reason);
		return;
	}
	if (gs->gs_code == -1) {
		probe_finish(pc, PROBE_ERROR, "no grpc-status in the response");
		return;
	}
	if (gs->gs_code != 0) {
		name = grpc_code_str(gs->gs_code);
		probe_reason(reason, sizeof(reason), "%sgrpc-status %d %s%s%s",
		    pre, gs->gs_code, name != NULL ? name : "",
		    gs->gs_msg[0] != '\0' ? ": " : "", gs->gs_msg);
		probe_finish(pc, PROBE_FAIL, reason);
		return;
	}
	if ((d = grpc_decode_response(gs->gs_resp, gs->gs_resp_len,
	    &status)) != GRPC_DEC_OK) {
		probe_reason(reason, sizeof(reason), "%s%s", pre,
		    grpc_decode_str(d));
		probe_finish(pc, PROBE_ERROR, reason);
		return;
	}
	if (status == 1) {
		probe_finish(pc, PROBE_OK, NULL);
		return;
	}
	if (status == -1)
		probe_reason(reason, sizeof(reason),
		    "%shealth status missing (UNKNOWN)", pre);
	else if ((name = grpc_health_str(status)) != NULL)
		probe_reason(reason, sizeof(reason), "%sstatus %s", pre, name);
	else
		probe_reason(reason, sizeof(reason), "%sstatus %d", pre, status);
	probe_finish(pc, PROBE_FAIL, reason);
}

/* HealthCheckRequest{service = 1}, length-prefixed */
static int
grpc_build_request(struct grpc_state *gs, const char *svc)
{
	size_t sl = svc != NULL ? strlen(svc) : 0, ml, o = 0;
	uint8_t *b;

	if (sl > GRPC_MSG_MAX)
		return -1;
	ml = sl == 0 ? 0 : 1 + (sl < 128 ? 1u : 2u) + sl;
	if ((b = malloc(5 + ml)) == NULL)
		return -1;
	b[o++] = 0;
	b[o++] = 0;
	b[o++] = 0;
	b[o++] = (uint8_t)(ml >> 8);
	b[o++] = (uint8_t)ml;
	if (sl > 0) {
		b[o++] = 0x0a;		/* field 1, length-delimited */
		if (sl < 128)
			b[o++] = (uint8_t)sl;
		else {
			b[o++] = (uint8_t)(0x80 | (sl & 0x7f));
			b[o++] = (uint8_t)(sl >> 7);
		}
		memcpy(b + o, svc, sl);
		o += sl;
	}
	gs->gs_body = b;
	gs->gs_body_len = o;
	return 0;
}

static void
grpc_free(struct probe_check *pc)
{
	struct grpc_state *gs = pc->pc_kind;

	if (gs == NULL)
		return;
	pcurl_req_free(pc->pc_probes->p_curl, &gs->gs_req);
	curl_slist_free_all(gs->gs_headers);
	curl_slist_free_all(gs->gs_connect_to);
	free(gs->gs_url);
	free(gs->gs_body);
	free(gs);
	pc->pc_kind = NULL;
}

static int
grpc_add_header(struct grpc_state *gs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
grpc_add_header(struct grpc_state *gs, const char *fmt, ...)
{
	struct curl_slist *nl;
	va_list ap;
	char line[512];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	if ((nl = curl_slist_append(gs->gs_headers, line)) == NULL)
		return -1;
	gs->gs_headers = nl;
	return 0;
}

static int
grpc_init(struct probe_check *pc)
{
	const struct cfg_check *ck = pc->pc_ck;
	const struct cfg_grpc *g = &ck->ck_grpc;
	struct grpc_state *gs;
	char url[512], *tls_url = NULL;
	CURL *e;
	int n;

	if ((gs = calloc(1, sizeof(*gs))) == NULL)
		return -1;
	pc->pc_kind = gs;
	n = snprintf(url, sizeof(url), "%s://%s" GRPC_PATH,
	    g->g_tls.tls_enabled ? "https" : "http", g->g_address);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		log_errorx("probes: check %s: address too long", ck->ck_name);
		goto fail;
	}
	if (grpc_build_request(gs, g->g_service) == -1 ||
	    pcurl_req_init(&gs->gs_req, grpc_done, pc) == -1)
		goto fail;
	e = gs->gs_req.rq_easy;
	if (grpc_add_header(gs, "Content-Type: application/grpc") == -1 ||
	    grpc_add_header(gs, "TE: trailers") == -1 ||
	    grpc_add_header(gs, "Expect:") == -1 ||
	    grpc_add_header(gs, "grpc-timeout: %llum",
	    (unsigned long long)ck->ck_timeout_ms) == -1 ||
	    (g->g_authority != NULL && g->g_authority[0] != '\0' &&
	    grpc_add_header(gs, "Host: %s", g->g_authority) == -1))
		goto fail;
	/*
	 * libcurl before 8.0 breaks a reused h2c prior-knowledge connection
	 * ("Error in the HTTP2 framing layer", curl issue 10634, fixed by
	 * curl PR 10643; Debian 12 has 7.88.1): give each run its own.
	 */
	if (!g->g_tls.tls_enabled &&
	    curl_version_info(CURLVERSION_NOW)->version_num < 0x080000 &&
	    (curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK))
		goto fail;
	if (g->g_tls.tls_enabled) {
		if (pcurl_tls(e, &g->g_tls, url, &tls_url,
		    &gs->gs_connect_to) == -1)
			goto fail;
		gs->gs_url = tls_url;
	}
	if (curl_easy_setopt(e, CURLOPT_URL, gs->gs_url != NULL ? gs->gs_url :
	    url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, g->g_tls.tls_enabled ?
	    (long)CURL_HTTP_VERSION_2TLS :
	    (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, gs->gs_headers) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)gs->gs_body_len) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, gs->gs_body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    (long)ck->ck_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, grpc_write_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, gs) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, grpc_header_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, gs) != CURLE_OK)
		goto fail;
	return 0;
fail:
	grpc_free(pc);
	return -1;
}

static int
grpc_run(struct probe_check *pc, char *reason, size_t len)
{
	struct grpc_state *gs = pc->pc_kind;

	gs->gs_resp_len = 0;
	gs->gs_toobig = 0;
	gs->gs_code = -1;
	gs->gs_msg[0] = '\0';
	return pcurl_check_start(pc, reason, len);
}

const struct probe_ops probe_grpc_ops = {
	.po_kind = "grpc",
	.po_slack_ms = 250,
	.po_init = grpc_init,
	.po_run = grpc_run,
	.po_abort = pcurl_check_abort,
	.po_free = grpc_free,
};
