/*
 * validate.c - the semantic pass, after the walk has filled struct config.
 *
 * Environment overrides first (APP_BIND_ADDRESS, APP_SHUTDOWN_TIMEOUT:
 * the original service's interface), then what no single value can tell:
 * one kind per check, required fields, timeout < interval (and its
 * default), unique names, addresses, TLS files that must be readable, the
 * drain budget against grace_period, and the lint that a network
 * dependency gating /live turns its outage into a restart storm.
 */
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg_priv.h"

#define SUN_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

const struct cfg_mark *
cfg_given(const struct cfg_mark *marks, enum cfg_scope sc, const char *path)
{
	const struct cfg_mark *m = &marks[cfg_opt_lookup(sc, path)];

	return m->m_line ? m : NULL;
}

static const struct cfg_mark *
either(const struct cfg_mark *a, const struct cfg_mark *b)
{
	return a ? a : b;
}

static void
env_overrides(struct cfg_ctx *ctx)
{
	struct config *cf = ctx->c_cf;
	const char *v;
	char err[256], q[64], *p;
	uint64_t ms;
	unsigned long long sec;

	if ((v = getenv("APP_BIND_ADDRESS")) != NULL && *v != '\0') {
		if ((p = strdup(v)) == NULL) {
			cfg_oom(ctx);
			return;
		}
		free(cf->cf_listen);
		cf->cf_listen = p;
		cfg_template_note(ctx, &cf->cf_listen, NULL, 0);
		ctx->c_listen_env = 1;
	}
	if ((v = getenv("APP_SHUTDOWN_TIMEOUT")) != NULL && *v != '\0') {
		if (strspn(v, "0123456789") == strlen(v)) {
			sec = strlen(v) > 6 ? ~0ULL : strtoull(v, NULL, 10);
			if (sec > CFG_MAX_DURATION_MS / 1000) {
				cfg_error_file(ctx, "APP_SHUTDOWN_TIMEOUT",
				    "%s seconds is longer than 24h",
				    cfg_quote(v, q, sizeof(q)));
				return;
			}
			ms = sec * 1000;
		} else if (cfg_duration_parse(v, &ms, err, sizeof(err)) ==
		    -1) {
			cfg_error_file(ctx, "APP_SHUTDOWN_TIMEOUT", "expected "
			    "seconds like 30 or a duration like 30s: %s", err);
			return;
		}
		cf->cf_drain.d_shutdown_timeout_ms = ms;
		ctx->c_shutdown_env = 1;
	}
}

static void
check_listen(struct cfg_ctx *ctx)
{
	struct config *cf = ctx->c_cf;
	const struct cfg_mark *m = cfg_given(ctx->c_val, CS_ROOT, "listen");
	char q[64];
	char *host = NULL;
	unsigned port;

	if (cfg_listen_addr(cf->cf_listen, &host, &port) == -1) {
		cfg_quote(cf->cf_listen, q, sizeof(q));
		if (ctx->c_listen_env)
			cfg_error_file(ctx, "APP_BIND_ADDRESS", "invalid listen "
			    "address '%s': expected IPv4:port or [IPv6]:port, "
			    "like 0.0.0.0:3000 or [::]:3000", q);
		else
			cfg_error(ctx, m, "listen: invalid address '%s': "
			    "expected IPv4:port or [IPv6]:port, like "
			    "0.0.0.0:3000 or [::]:3000", q);
		return;
	}
	free(cf->cf_listen_host);
	cf->cf_listen_host = host;
	cf->cf_listen_port = port;
}

static void
check_path(struct cfg_ctx *ctx, const char *path, const char *value,
    int empty_ok, size_t max)
{
	const struct cfg_mark *m = cfg_given(ctx->c_val, CS_ROOT, path);

	if (value == NULL)
		return;
	if (*value == '\0' && empty_ok)
		return;
	if (value[0] != '/')
		cfg_error(ctx, m, "%s: expected an absolute path%s", path,
		    empty_ok ? " or \"\"" : "");
	else if (strlen(value) > max)
		cfg_error(ctx, m, "%s: longer than %zu bytes", path, max);
}

static int
method_ok(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");

	return n > 0 && n <= 16 && s[n] == '\0';
}

/* a URL that used ${VAR} is quoted as written: its value may be a secret
 * (a token in the query), and errors are logged at reload */
static void
check_http_url(struct cfg_ctx *ctx, const struct cfg_mark *m,
    const char *path, char *const *url)
{
	char host[256], q[64];
	const char *shown = config_template(ctx->c_cf, url);

	if (cfg_url_host(*url, host, sizeof(host)) == -1)
		cfg_error(ctx, m, "%s: expected an http:// or https:// URL "
		    "with a host, like http://127.0.0.1:8080/healthz, got '%s'",
		    path, cfg_quote(shown ? shown : *url, q, sizeof(q)));
}

static void
check_method(struct cfg_ctx *ctx, const struct cfg_mark *m,
    const char *path, const char *method)
{
	char q[64];

	if (!method_ok(method))
		cfg_error(ctx, m, "%s: expected an HTTP method in capitals "
		    "like GET, HEAD or POST, got '%s'", path,
		    cfg_quote(method, q, sizeof(q)));
}

static void
check_notify(struct cfg_ctx *ctx)
{
	struct cfg_notify *n = &ctx->c_cf->cf_drain.d_notify;
	const struct cfg_mark *v = ctx->c_val;

	if (!n->n_enabled)
		return;
	if (n->n_url == NULL) {
		cfg_error(ctx, either(cfg_given(ctx->c_key, CS_ROOT,
		    "drain.notify.http"), cfg_given(ctx->c_key, CS_ROOT,
		    "drain.notify")), "drain.notify: missing http.url (e.g. "
		    "http: {url: \"http://127.0.0.1:8080/admin/drain\"})");
		return;
	}
	check_http_url(ctx, cfg_given(v, CS_ROOT, "drain.notify.http.url"),
	    "drain.notify.http.url", &n->n_url);
	check_method(ctx, cfg_given(v, CS_ROOT, "drain.notify.http.method"),
	    "drain.notify.http.method", n->n_method);
}

static int
name_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-");

	return n > 0 && n <= CFG_NAME_MAX && s[n] == '\0';
}

/* CO_REQUIRED rows of a given section, and the name */
static void
check_required(struct cfg_ctx *ctx, struct cfg_check *ck,
    struct cfg_ckmarks *cm)
{
	const struct cfg_opt *o, *parent;
	size_t i, pi;

	for (i = 0; i < cfg_nopts; i++) {
		o = &cfg_opts[i];
		if (o->o_scope != CS_CHECK || !(o->o_flags & CO_REQUIRED) ||
		    cm->cm_val[i].m_line != 0)
			continue;
		if ((parent = cfg_opt_parent(o)) == NULL) {
			cfg_error(ctx, &ck->ck_mark, "%s has no %s; add %s: "
			    "(a-z, 0-9, _ and -, 1-63 characters)",
			    cm->cm_label, o->o_path, o->o_path);
			continue;
		}
		pi = cfg_opt_index(parent);
		if (cm->cm_key[pi].m_line == 0)
			continue;
		cfg_error(ctx, &cm->cm_key[pi], "%s: %s needs %s",
		    cm->cm_label, parent->o_path, cfg_opt_key(o));
	}
}

/*
 * A TLS file the agent is to read must be there and readable now: libcurl
 * would otherwise fail every run of the check with a TLS error, long
 * after check-config said the config was fine. Opened read-only as the
 * agent (open, not access(): the effective uid counts), non-blocking so
 * that a FIFO cannot hang the load.
 */
static void
check_tls_file(struct cfg_ctx *ctx, const struct cfg_ckmarks *cm,
    const char *pre, const char *key, const char *file)
{
	char path[CFG_PATH_MAX], q[128];
	const char *why = NULL;
	struct stat st;
	int fd;

	if (*file == '\0')
		return;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1)
		why = strerror(errno);
	else {
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
			why = "it is a directory";
		close(fd);
	}
	if (why == NULL)
		return;
	snprintf(path, sizeof(path), "%s.tls.%s", pre, key);
	cfg_error(ctx, cfg_given(cm->cm_val, CS_CHECK, path), "%s: %s '%s' cannot "
	    "be read: %s; give the path of a readable PEM file (is the Secret "
	    "mounted there?)%s", cm->cm_label, path, cfg_quote(file, q,
	    sizeof(q)), why, strcmp(key, "ca_file") == 0 ? ", or \"\" for "
	    "the system CAs" : "");
}

/* used: TLS is on for this check (an http:// URL ignores tls:) */
static void
check_tls(struct cfg_ctx *ctx, const struct cfg_ckmarks *cm,
    const struct cfg_tls *t, const char *pre, int used)
{
	char path[CFG_PATH_MAX];

	if (used) {
		check_tls_file(ctx, cm, pre, "ca_file", t->tls_ca_file);
		check_tls_file(ctx, cm, pre, "cert_file", t->tls_cert_file);
		check_tls_file(ctx, cm, pre, "key_file", t->tls_key_file);
	}

	if (*t->tls_key_file != '\0' && *t->tls_cert_file == '\0') {
		snprintf(path, sizeof(path), "%s.tls.key_file", pre);
		cfg_error(ctx, cfg_given(cm->cm_val, CS_CHECK, path), "%s: %s "
		    "needs %s.tls.cert_file too", cm->cm_label, path, pre);
	}
	if (*t->tls_cert_file != '\0' && *t->tls_key_file == '\0') {
		snprintf(path, sizeof(path), "%s.tls.cert_file", pre);
		cfg_error(ctx, cfg_given(cm->cm_val, CS_CHECK, path), "%s: %s "
		    "needs %s.tls.key_file too", cm->cm_label, path, pre);
	}
}

static void
check_kind(struct cfg_ctx *ctx, struct cfg_check *ck, struct cfg_ckmarks *cm)
{
	const struct cfg_mark *v = cm->cm_val;
	struct cfg_http *h = &ck->ck_http;
	const char *host;
	char q[64];

	switch (ck->ck_kind) {
	case CHECK_HTTP:
		if (h->h_url != NULL) {
			check_http_url(ctx, cfg_given(v, CS_CHECK, "http.url"),
			    "http.url", &h->h_url);
			if (strncasecmp(h->h_url, "https://", 8) == 0)
				h->h_tls.tls_enabled = 1;
			else if (h->h_tls.tls_enabled)
				cfg_warning(ctx, cfg_given(cm->cm_key, CS_CHECK,
				    "http.tls"), "%s: http.tls is ignored with "
				    "an http:// URL; use https://",
				    cm->cm_label);
		}
		check_method(ctx, cfg_given(v, CS_CHECK, "http.method"),
		    "http.method", h->h_method);
		if (h->h_unix_socket != NULL && (h->h_unix_socket[0] != '/' ||
		    strlen(h->h_unix_socket) > SUN_PATH_MAX))
			cfg_error(ctx, cfg_given(v, CS_CHECK, "http.unix_socket"),
			    "http.unix_socket: expected an absolute path of at "
			    "most %zu bytes", SUN_PATH_MAX);
		check_tls(ctx, cm, &h->h_tls, "http", h->h_url != NULL &&
		    strncasecmp(h->h_url, "https://", 8) == 0);
		break;
	case CHECK_TCP:
		host = ck->ck_tcp.t_host;
		if (host == NULL)
			break;
		if (*host == '\0' || strpbrk(host, " /[]") != NULL)
			cfg_error(ctx, cfg_given(v, CS_CHECK, "tcp.host"),
			    "tcp.host: expected a host name or address without "
			    "brackets, got '%s'", cfg_quote(host, q, sizeof(q)));
		else if (strchr(host, ':') != NULL && !cfg_is_loopback(host) &&
		    cfg_hostport(host, NULL, NULL) == 0)
			cfg_error(ctx, cfg_given(v, CS_CHECK, "tcp.host"),
			    "tcp.host: '%s' includes a port; give it as "
			    "port: instead", cfg_quote(host, q, sizeof(q)));
		break;
	case CHECK_GRPC:
		if (ck->ck_grpc.g_address != NULL &&
		    cfg_hostport(ck->ck_grpc.g_address, NULL, NULL) == -1)
			cfg_error(ctx, cfg_given(v, CS_CHECK, "grpc.address"),
			    "grpc.address: expected host:port like "
			    "inventory:9090 or [::1]:9090, got '%s'",
			    cfg_quote(ck->ck_grpc.g_address, q, sizeof(q)));
		check_tls(ctx, cm, &ck->ck_grpc.g_tls, "grpc",
		    ck->ck_grpc.g_tls.tls_enabled);
		break;
	default:
		break;
	}
}

/* interval / 2, at most 1 s: a short interval alone is valid */
#define TIMEOUT_DEFAULT_MAX	1000

/*
 * timeout < interval. Not written: min(1s, interval/2), which always is.
 * Written too long: said at the timeout, with both values and what fits.
 */
static void
check_timeout(struct cfg_ctx *ctx, struct cfg_check *ck,
    const struct cfg_ckmarks *cm)
{
	const struct cfg_mark *tm = cfg_given(cm->cm_val, CS_CHECK, "timeout");
	const struct cfg_mark *im = cfg_given(cm->cm_val, CS_CHECK, "interval");
	char a[32], b[32], c[32], at[48];
	uint64_t def = ck->ck_interval_ms / 2;

	if (def > TIMEOUT_DEFAULT_MAX)
		def = TIMEOUT_DEFAULT_MAX;
	if (tm == NULL) {
		ck->ck_timeout_ms = def;
		return;
	}
	if (ck->ck_timeout_ms < ck->ck_interval_ms)
		return;
	fmt_duration(ck->ck_timeout_ms, a, sizeof(a));
	fmt_duration(ck->ck_interval_ms, b, sizeof(b));
	fmt_duration(def, c, sizeof(c));
	if (im != NULL)
		snprintf(at, sizeof(at), " (at %u:%u)", im->m_line, im->m_col);
	else
		snprintf(at, sizeof(at), " (the default)");
	cfg_error(ctx, tm, "%s: timeout %s must be less than interval %s%s; "
	    "write a shorter timeout, like %s, or remove it for the default "
	    "min(1s, interval/2)", cm->cm_label, a, b, at, c);
}

static void
check_one(struct cfg_ctx *ctx, struct cfg_check *ck, struct cfg_ckmarks *cm)
{
	const struct cfg_mark *v = cm->cm_val;
	char q[CFG_NAME_MAX + 8], host[256];
	const char *target;

	if (ck->ck_name != NULL && !name_ok(ck->ck_name))
		cfg_error(ctx, cfg_given(v, CS_CHECK, "name"), "invalid check name "
		    "'%s': use 1-63 characters of a-z, 0-9, _ and -",
		    cfg_quote(ck->ck_name, q, sizeof(q)));
	if (ck->ck_kind == CHECK_KIND_NONE)
		cfg_error(ctx, &ck->ck_mark, "%s needs exactly one of http, "
		    "tcp, grpc, exec", cm->cm_label);
	check_required(ctx, ck, cm);
	check_kind(ctx, ck, cm);
	ck->ck_self = config_check_self(ctx->c_cf, ck);
	check_timeout(ctx, ck, cm);
	/* a check that is not critical never fails /live */
	if ((ck->ck_affects & AFFECT_LIVE) && ck->ck_critical &&
	    (target = cfg_live_target(ctx->c_cf, ck, host, sizeof(host))) != NULL)
		cfg_warning(ctx, either(cfg_given(v, CS_CHECK, "affects"),
		    &ck->ck_mark), "%s affects live but targets %s: a "
		    "dependency outage would restart the app (restart storm); "
		    "use affects: [ready]", cm->cm_label,
		    cfg_quote(target, q, sizeof(q)));
}

static void
check_names(struct cfg_ctx *ctx)
{
	struct config *cf = ctx->c_cf;
	const struct cfg_mark *m;
	const struct cfg_check *a, *b;
	char q[CFG_NAME_MAX + 8];
	size_t i, j;

	for (i = 1; i < cf->cf_nchecks; i++) {
		b = &cf->cf_checks[i];
		if (b->ck_name == NULL || !name_ok(b->ck_name))
			continue;
		for (j = 0; j < i; j++) {
			a = &cf->cf_checks[j];
			if (a->ck_name == NULL ||
			    strcmp(a->ck_name, b->ck_name) != 0)
				continue;
			m = cfg_given(ctx->c_ck[j].cm_val, CS_CHECK, "name");
			cfg_error(ctx, cfg_given(ctx->c_ck[i].cm_val, CS_CHECK,
			    "name"), "duplicate check name '%s' (first at "
			    "%u:%u)", cfg_quote(b->ck_name, q, sizeof(q)),
			    m ? m->m_line : 0, m ? m->m_col : 0);
			break;
		}
	}
}

/* app.port is the application's port, never the agent's own: counting the
 * agent's listener would keep every SIGTERM waiting for shutdown_timeout */
static void
check_app_port(struct cfg_ctx *ctx)
{
	struct config *cf = ctx->c_cf;

	if (cf->cf_app_port == 0 || cf->cf_app_port != cf->cf_listen_port)
		return;
	cfg_error(ctx, cfg_given(ctx->c_val, CS_ROOT, "app.port"),
	    "app.port %u is the agent's own listen port; set the port the "
	    "application serves on (or 0 to turn connection tracking off)",
	    cf->cf_app_port);
}

/* drain.<key>, written at m, watches app.port's <what>: an error when
 * app.port is 0 */
static void
need_app_port(struct cfg_ctx *ctx, const struct cfg_mark *m,
    const char *key, const char *what)
{
	if (ctx->c_cf->cf_app_port != 0)
		return;
	cfg_error(ctx, m, "drain.%s watches app.port's %s, but app.port is "
	    "0; set app.port to the port the application serves on, or "
	    "remove %s", key, what, key);
}

/*
 * The adaptive delay (drain.quiet, drain.min_delay). min_delay not written:
 * min(1s, delay), so a short delay written before these existed stays
 * valid. Written: min_delay <= delay and quiet < delay, each said at its
 * own line:col with the values and what fits. The budget below keeps
 * using delay, the worst case.
 */
static void
check_quiet(struct cfg_ctx *ctx)
{
	struct cfg_drain *d = &ctx->c_cf->cf_drain;
	const struct cfg_mark *mm = cfg_given(ctx->c_val, CS_ROOT,
	    "drain.min_delay");
	const struct cfg_mark *qm = cfg_given(ctx->c_val, CS_ROOT, "drain.quiet");
	char a[32], b[32], c[32];

	if (mm == NULL)
		d->d_min_delay_ms = d->d_delay_ms < 1000 ? d->d_delay_ms : 1000;
	fmt_duration(d->d_delay_ms, b, sizeof(b));
	if (mm != NULL && d->d_min_delay_ms > d->d_delay_ms) {
		fmt_duration(d->d_min_delay_ms, a, sizeof(a));
		cfg_error(ctx, mm, "drain.min_delay %s is longer than "
		    "drain.delay %s; write min_delay: %s or less, or a longer "
		    "delay", a, b, b);
	}
	/* min_delay alone is harmless (and check-config prints it): no
	 * warning, so the printed configuration loads back as it is */
	if (d->d_quiet_ms == 0)
		return;
	if (d->d_quiet_ms >= d->d_delay_ms) {
		fmt_duration(d->d_quiet_ms, a, sizeof(a));
		fmt_duration(d->d_delay_ms > 1 ? d->d_delay_ms / 2 : 0, c,
		    sizeof(c));
		cfg_error(ctx, qm, "drain.quiet %s must be shorter than "
		    "drain.delay %s (quiet ends the delay early); write quiet: "
		    "%s, or a delay longer than %s", a, b, c, a);
	}
	need_app_port(ctx, qm, "quiet", "traffic");
}

/*
 * drain.idle_timeout ends the connection wait early: it needs that wait
 * (wait_for_connections, app.port) and is pointless at max_wait or beyond.
 */
static void
check_idle(struct cfg_ctx *ctx)
{
	const struct config *cf = ctx->c_cf;
	const struct cfg_drain *d = &cf->cf_drain;
	const struct cfg_mark *im = cfg_given(ctx->c_val, CS_ROOT,
	    "drain.idle_timeout");
	char a[32], b[32], c[32];

	if (d->d_idle_ms == 0)
		return;
	if (!d->d_wait_for_connections)
		cfg_error(ctx, im, "drain.idle_timeout shortens the wait for "
		    "connections, but wait_for_connections is false; write "
		    "wait_for_connections: true, or remove idle_timeout");
	else if (cf->cf_app_port == 0)
		need_app_port(ctx, im, "idle_timeout", "connections");
	else if (d->d_idle_ms >= d->d_max_wait_ms) {
		fmt_duration(d->d_idle_ms, a, sizeof(a));
		fmt_duration(d->d_max_wait_ms, b, sizeof(b));
		fmt_duration(d->d_max_wait_ms > 1 ? d->d_max_wait_ms / 4 : 0,
		    c, sizeof(c));
		cfg_error(ctx, im, "drain.idle_timeout %s must be shorter "
		    "than drain.max_wait %s (it ends that wait early); write "
		    "idle_timeout: %s, or a max_wait longer than %s", a, b, c,
		    a);
	}
}

/* delay + max_wait (if waiting) + shutdown_timeout must fit grace_period */
static void
check_budget(struct cfg_ctx *ctx)
{
	const struct cfg_drain *d = &ctx->c_cf->cf_drain;
	char de[32], mw[32], st[32], gp[32], tot[32], parts[160];
	uint64_t total;

	if (d->d_grace_period_ms == 0)
		return;
	total = d->d_delay_ms + d->d_shutdown_timeout_ms;
	if (d->d_wait_for_connections)
		total += d->d_max_wait_ms;
	if (total <= d->d_grace_period_ms)
		return;
	fmt_duration(d->d_delay_ms, de, sizeof(de));
	fmt_duration(d->d_max_wait_ms, mw, sizeof(mw));
	fmt_duration(d->d_shutdown_timeout_ms, st, sizeof(st));
	fmt_duration(d->d_grace_period_ms, gp, sizeof(gp));
	/* whole seconds: what terminationGracePeriodSeconds can hold */
	fmt_duration((total + 999) / 1000 * 1000, tot, sizeof(tot));
	if (d->d_wait_for_connections)
		snprintf(parts, sizeof(parts), "delay %s + max_wait %s + "
		    "shutdown_timeout %s%s", de, mw, st, ctx->c_shutdown_env ?
		    " from APP_SHUTDOWN_TIMEOUT" : "");
	else
		snprintf(parts, sizeof(parts), "delay %s + shutdown_timeout "
		    "%s%s", de, st, ctx->c_shutdown_env ?
		    " from APP_SHUTDOWN_TIMEOUT" : "");
	fmt_duration(total, de, sizeof(de));
	cfg_error(ctx, cfg_given(ctx->c_val, CS_ROOT, "drain.grace_period"),
	    "drain budget %s (%s) exceeds grace_period %s; set "
	    "terminationGracePeriodSeconds \xe2\x89\xa5 %llu and "
	    "grace_period: %s, or shorten the drain", de, parts, gp,
	    (unsigned long long)((total + 999) / 1000), tot);
}

void
cfg_validate(struct cfg_ctx *ctx)
{
	struct config *cf = ctx->c_cf;
	size_t i;

	env_overrides(ctx);
	check_listen(ctx);
	check_path(ctx, "control_socket", cf->cf_control_socket, 0,
	    SUN_PATH_MAX);
	check_path(ctx, "state_file", cf->cf_state_file, 0, 4095);
	check_path(ctx, "hook_install_path", cf->cf_hook_install_path, 1,
	    4095);
	check_notify(ctx);
	for (i = 0; i < cf->cf_nchecks; i++)
		if (!ctx->c_ck[i].cm_bad) {
			check_one(ctx, &cf->cf_checks[i], &ctx->c_ck[i]);
		}
	check_names(ctx);
	check_app_port(ctx);
	check_quiet(ctx);
	check_idle(ctx);
	cfg_validate_kube(ctx);
	cfg_validate_agent_check(ctx);
	check_budget(ctx);
}
