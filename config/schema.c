/*
 * schema.c - every configuration option, one row each (Redis config.c).
 *
 * The parser (walk.c) takes types, bounds and defaults from here;
 * config_print() and config_print_reference() print from here; so the
 * documentation, the validation and "check-config" cannot drift apart.
 * Rows are in print order; a SECTION row precedes its children.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_priv.h"

_Static_assert(sizeof(enum log_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum kube_mode) == sizeof(int), "enum size");

static const struct cfg_enum log_formats[] = {
	{ "json",	LOG_FORMAT_JSON },
	{ "text",	LOG_FORMAT_TEXT },
	{ NULL,		0 }
};

static const struct cfg_enum log_levels[] = {
	{ "debug",	LOG_DEBUG },
	{ "info",	LOG_INFO },
	{ "warn",	LOG_WARN },
	{ "error",	LOG_ERROR },
	{ NULL,		0 }
};

static const struct cfg_enum kube_modes[] = {
	{ "auto",	KUBE_AUTO },
	{ "true",	KUBE_ON },
	{ "false",	KUBE_OFF },
	{ NULL,		0 }
};

const char *
kube_mode_str(enum kube_mode m)
{
	return cfg_enum_name(kube_modes, (int)m);
}

#define MS(x)		((uint64_t)(x))
#define SEC(x)		((uint64_t)(x) * 1000)
#define DMAX		CFG_MAX_DURATION_MS
#define CF(f)		offsetof(struct config, f)
#define CK(f)		offsetof(struct cfg_check, f)
#define DR(f)		offsetof(struct config, cf_drain.f)
#define NT(f)		offsetof(struct config, cf_drain.d_notify.f)
#define KU(f)		offsetof(struct config, cf_kube.f)

#define SECTION(p, s, flag, kind, doc) \
	{ .o_path = p, .o_scope = s, .o_type = CT_SECTION, .o_off = flag, \
	  .o_kind = kind, .o_doc = doc }
#define STRING(p, s, off, fl, def, doc) \
	{ .o_path = p, .o_scope = s, .o_type = CT_STRING, .o_off = off, \
	  .o_flags = fl, .o_default = def, .o_doc = doc }
#define DURATION(p, s, off, lo, hi, def, doc) \
	{ .o_path = p, .o_scope = s, .o_type = CT_DURATION, .o_off = off, \
	  .o_min = lo, .o_max = hi, .o_default = def, .o_doc = doc }
#define UINT(p, s, off, fl, lo, hi, def, doc) \
	{ .o_path = p, .o_scope = s, .o_type = CT_UINT, .o_off = off, \
	  .o_flags = fl, .o_min = lo, .o_max = hi, .o_default = def, \
	  .o_doc = doc }
#define BOOL(p, s, off, def, doc) \
	{ .o_path = p, .o_scope = s, .o_type = CT_BOOL, .o_off = off, \
	  .o_default = def, .o_doc = doc }
#define LIST(p, s, t, off, off2, fl, def, doc) \
	{ .o_path = p, .o_scope = s, .o_type = t, .o_off = off, \
	  .o_off2 = off2, .o_flags = fl, .o_default = def, .o_doc = doc }

#define TLS_READ	"; a file that cannot be read is a config error (at " \
			"check-config, start and reload)"
#define TLS_ROWS(pre, f, what) \
	SECTION(pre ".tls", CS_CHECK, CK(f.tls_enabled), CHECK_KIND_NONE, \
	    "TLS settings; giving this mapping (even {}) turns TLS on" what), \
	STRING(pre ".tls.ca_file", CS_CHECK, CK(f.tls_ca_file), 0, "", \
	    "CA bundle to verify the server; \"\" = system CAs" TLS_READ), \
	STRING(pre ".tls.cert_file", CS_CHECK, CK(f.tls_cert_file), 0, "", \
	    "client certificate (PEM) for mutual TLS; \"\" = none" \
	    TLS_READ), \
	STRING(pre ".tls.key_file", CS_CHECK, CK(f.tls_key_file), 0, "", \
	    "client private key (PEM); needs cert_file" TLS_READ), \
	STRING(pre ".tls.server_name", CS_CHECK, CK(f.tls_server_name), 0, \
	    "", "name to send (SNI) and verify; \"\" = from the target"), \
	BOOL(pre ".tls.insecure_skip_verify", CS_CHECK, \
	    CK(f.tls_insecure_skip_verify), "false", \
	    "do not verify the server certificate (tests only)")

const struct cfg_opt cfg_opts[] = {
	STRING("listen", CS_ROOT, CF(cf_listen), 0, "0.0.0.0:3000",
	    "address:port of /live, /ready, /startup, /healthz, /metrics "
	    "(IPv6: [::]:3000); APP_BIND_ADDRESS overrides"),
	STRING("control_socket", CS_ROOT, CF(cf_control_socket), 0,
	    "/run/nodowntime/nodowntime.sock",
	    "unix socket of the prestop/wait/status clients (shared volume)"),
	LIST("control_allowed_uids", CS_ROOT, CT_UIDS, CF(cf_control_uids),
	    CF(cf_ncontrol_uids), 0, NULL,
	    "uids whose processes may use the control socket (checked with "
	    "SO_PEERCRED, besides the agent's own); none = any process the "
	    "socket's mode 0660 lets in"),
	STRING("state_file", CS_ROOT, CF(cf_state_file), 0,
	    "/run/nodowntime/state",
	    "drain state, so that a restarted agent resumes a drain"),
	STRING("hook_install_path", CS_ROOT, CF(cf_hook_install_path), 0,
	    "/run/nodowntime/nodowntime-hook",
	    "where to copy the static nodowntime-hook at start; \"\" = do not"),
	SECTION("log", CS_ROOT, CFG_NO_OFF, CHECK_KIND_NONE, "logging"),
	{ .o_path = "log.format", .o_scope = CS_ROOT, .o_type = CT_ENUM,
	  .o_off = CF(cf_log_format), .o_enum = log_formats,
	  .o_default = "json", .o_doc = "one line per event: json or text" },
	{ .o_path = "log.level", .o_scope = CS_ROOT, .o_type = CT_ENUM,
	  .o_off = CF(cf_log_level), .o_enum = log_levels,
	  .o_default = "info", .o_doc = "least severe level logged" },
	SECTION("server", CS_ROOT, CFG_NO_OFF, CHECK_KIND_NONE,
	    "the probe endpoint server"),
	UINT("server.max_connections", CS_ROOT, CF(cf_max_connections), 0,
	    1, 65536, "512", "concurrent connections to the listen port"),
	DURATION("server.request_timeout", CS_ROOT, CF(cf_request_timeout_ms),
	    MS(10), DMAX, "5s", "close a connection idle this long, or whose "
	    "request head takes longer (slowloris)"),
	SECTION("app", CS_ROOT, CFG_NO_OFF, CHECK_KIND_NONE,
	    "the application container, seen through the shared network "
	    "namespace"),
	UINT("app.port", CS_ROOT, CF(cf_app_port), 0, 0, 65535, "0",
	    "the app's serving port: its established connections are "
	    "counted during the drain; 0 = no connection tracking"),
	SECTION("drain", CS_ROOT, CFG_NO_OFF, CHECK_KIND_NONE,
	    "what happens between preStop (or SIGTERM) and the app's SIGTERM"),
	DURATION("drain.delay", CS_ROOT, DR(d_delay_ms), 0, DMAX, "5s",
	    "keep serving after /ready turns 503, while endpoints propagate"),
	DURATION("drain.min_delay", CS_ROOT, DR(d_min_delay_ms), 0, DMAX,
	    "1s", "with quiet: never end the delay before this; not written: "
	    "min(1s, delay)"),
	DURATION("drain.quiet", CS_ROOT, DR(d_quiet_ms), 0, DMAX, "0s",
	    "end the delay early once app.port has had no new connection and "
	    "no bytes received for this long (after min_delay); 0 = off, "
	    "the fixed delay"),
	SECTION("drain.notify", CS_ROOT, NT(n_enabled), CHECK_KIND_NONE,
	    "tell the app when the delay ends (optional)"),
	SECTION("drain.notify.http", CS_ROOT, NT(n_enabled), CHECK_KIND_NONE,
	    "an HTTP request to the app"),
	STRING("drain.notify.http.url", CS_ROOT, NT(n_url), 0, NULL,
	    "http:// or https:// URL, e.g. http://127.0.0.1:8080/admin/drain"),
	STRING("drain.notify.http.method", CS_ROOT, NT(n_method), 0, "POST",
	    "HTTP method"),
	DURATION("drain.notify.http.timeout", CS_ROOT, NT(n_timeout_ms),
	    MS(10), DMAX, "2s", "give up on the request after this long"),
	LIST("drain.notify.http.headers", CS_ROOT, CT_HEADERS, NT(n_headers),
	    NT(n_nheaders), 0, NULL, "request headers; ${VAR} values are "
	    "redacted in output"),
	BOOL("drain.wait_for_connections", CS_ROOT,
	    DR(d_wait_for_connections), "true",
	    "after the delay, wait until app.port has no established "
	    "connections"),
	DURATION("drain.max_wait", CS_ROOT, DR(d_max_wait_ms), 0, DMAX, "20s",
	    "upper bound of that wait"),
	DURATION("drain.idle_timeout", CS_ROOT, DR(d_idle_ms), 0, DMAX, "0s",
	    "end that wait early once every connection left is an idle "
	    "keep-alive one, answered and silent both ways for this long; "
	    "0 = off, wait for them to close"),
	DURATION("drain.shutdown_timeout", CS_ROOT,
	    DR(d_shutdown_timeout_ms), 0, DMAX, "30s",
	    "what the app needs after SIGTERM; APP_SHUTDOWN_TIMEOUT overrides"),
	DURATION("drain.grace_period", CS_ROOT, DR(d_grace_period_ms), 0,
	    DMAX, "0s", "the pod's terminationGracePeriodSeconds; when set, "
	    "delay + max_wait + shutdown_timeout must fit in it"),
	BOOL("drain.wait_for_endpoints", CS_ROOT, DR(d_wait_for_endpoints),
	    "false", "with the EndpointSlice watch (kubernetes): the delay "
	    "(and quiet) does not end before every slice that listed this "
	    "pod shows it not ready; never past delay"),
	SECTION("kubernetes", CS_ROOT, CFG_NO_OFF, CHECK_KIND_NONE,
	    "the API server: a watch of this pod's own EndpointSlices "
	    "(read-only; get, list, watch on endpointslices)"),
	{ .o_path = "kubernetes.enabled", .o_scope = CS_ROOT,
	  .o_type = CT_ENUM, .o_off = KU(k_enabled), .o_enum = kube_modes,
	  .o_default = "auto", .o_doc = "auto: on when the service account "
	  "token and KUBERNETES_SERVICE_HOST exist, else off (logged once); "
	  "true: the agent does not start without them" },
	STRING("kubernetes.api", CS_ROOT, KU(k_api), 0, "",
	    "the API server's URL; \"\" = https://$KUBERNETES_SERVICE_HOST:"
	    "$KUBERNETES_SERVICE_PORT"),
	STRING("kubernetes.pod_name", CS_ROOT, KU(k_pod_name), 0, "",
	    "this pod's name; \"\" = $POD_NAME (downward API)"),
	STRING("kubernetes.pod_ip", CS_ROOT, KU(k_pod_ip), 0, "",
	    "this pod's IP, to find it in slices without a targetRef; \"\" "
	    "= $POD_IP (downward API)"),
	STRING("kubernetes.namespace", CS_ROOT, KU(k_namespace), 0, "",
	    "the pod's namespace; \"\" = the service account's namespace "
	    "file"),
	STRING("kubernetes.service_account_dir", CS_ROOT, KU(k_sa_dir), 0,
	    "/var/run/secrets/kubernetes.io/serviceaccount",
	    "token (re-read before each request: kubelet rotates it), ca.crt, "
	    "namespace"),
	SECTION("fail_open", CS_ROOT, CFG_NO_OFF, CHECK_KIND_NONE,
	    "readiness when a dependency every replica shares fails"),
	UINT("fail_open.min_ready_percent", CS_ROOT, CF(cf_fail_open_pct), 0,
	    0, 100, "0", "a failing check with shared: true stops failing "
	    "/ready (status warn) while fewer than this share of the "
	    "Service's endpoints are ready, until it passes here again; "
	    "0 = off"),
	SECTION("agent_check", CS_ROOT, CFG_NO_OFF, CHECK_KIND_NONE,
	    "HAProxy's agent-check: one line per TCP connection, from the "
	    "state /ready answers (up ready 100%, up ready <warn_weight>, "
	    "drain, down #reason)"),
	STRING("agent_check.listen", CS_ROOT, CF(cf_agent_listen), 0, "",
	    "address:port to answer on, e.g. 0.0.0.0:3001 (HAProxy's "
	    "agent-port); \"\" = off"),
	STRING("agent_check.warn_weight", CS_ROOT, CF(cf_agent_warn), 0,
	    "50%", "the weight answered while /ready is 200 with status "
	    "warn, 0%-100% of the server's configured weight"),
	LIST("checks", CS_ROOT, CT_CHECKS, CF(cf_checks), CF(cf_nchecks), 0,
	    NULL, "the health checks, a list"),

	STRING("name", CS_CHECK, CK(ck_name), CO_REQUIRED, NULL,
	    "unique name, [a-z0-9_-], 1-63 characters"),
	SECTION("http", CS_CHECK, CFG_NO_OFF, CHECK_HTTP,
	    "an HTTP(S) request; one of http, tcp, grpc, exec"),
	STRING("http.url", CS_CHECK, CK(ck_http.h_url), CO_REQUIRED, NULL,
	    "http:// or https:// URL"),
	STRING("http.method", CS_CHECK, CK(ck_http.h_method), 0, "GET",
	    "HTTP method"),
	LIST("http.headers", CS_CHECK, CT_HEADERS, CK(ck_http.h_headers),
	    CK(ck_http.h_nheaders), 0, NULL, "request headers; ${VAR} values "
	    "are redacted in output"),
	STRING("http.body", CS_CHECK, CK(ck_http.h_body), 0, NULL,
	    "request body; none by default"),
	SECTION("http.expect", CS_CHECK, CFG_NO_OFF, CHECK_KIND_NONE,
	    "what a passing answer looks like"),
	LIST("http.expect.status", CS_CHECK, CT_STATUS, CK(ck_http.h_status),
	    CK(ck_http.h_nstatus), 0, "200-399",
	    "status codes and ranges: 200, \"200-399\", \"2xx\""),
	STRING("http.expect.body_contains", CS_CHECK,
	    CK(ck_http.h_body_contains), 0, NULL,
	    "a substring the body must contain; no body check by default"),
	{ .o_path = "http.max_body", .o_scope = CS_CHECK, .o_type = CT_SIZE,
	  .o_off = CK(ck_http.h_max_body), .o_min = 1, .o_max = 16777216,
	  .o_default = "65536", .o_doc = "bytes of body read at most" },
	BOOL("http.follow_redirects", CS_CHECK, CK(ck_http.h_follow_redirects),
	    "false", "follow 3xx answers"),
	STRING("http.unix_socket", CS_CHECK, CK(ck_http.h_unix_socket), 0,
	    NULL, "connect to this unix socket instead of the URL's host"),
	TLS_ROWS("http", ck_http.h_tls, "; an https:// URL turns it on too"),
	SECTION("tcp", CS_CHECK, CFG_NO_OFF, CHECK_TCP,
	    "a TCP connect; one of http, tcp, grpc, exec"),
	STRING("tcp.host", CS_CHECK, CK(ck_tcp.t_host), CO_REQUIRED, NULL,
	    "host name or address"),
	UINT("tcp.port", CS_CHECK, CK(ck_tcp.t_port), CO_REQUIRED, 1, 65535,
	    NULL, "port"),
	SECTION("grpc", CS_CHECK, CFG_NO_OFF, CHECK_GRPC,
	    "grpc.health.v1.Health/Check; one of http, tcp, grpc, exec"),
	STRING("grpc.address", CS_CHECK, CK(ck_grpc.g_address), CO_REQUIRED,
	    NULL, "host:port"),
	STRING("grpc.service", CS_CHECK, CK(ck_grpc.g_service), 0, "",
	    "service name to ask about; \"\" = the whole server"),
	STRING("grpc.authority", CS_CHECK, CK(ck_grpc.g_authority), 0, NULL,
	    ":authority header; default from address"),
	TLS_ROWS("grpc", ck_grpc.g_tls, "; without it: cleartext HTTP/2"),
	SECTION("exec", CS_CHECK, CFG_NO_OFF, CHECK_EXEC,
	    "run a program, exit 0 = pass; one of http, tcp, grpc, exec"),
	LIST("exec.command", CS_CHECK, CT_ARGV, CK(ck_exec.e_argv),
	    CK(ck_exec.e_argc), CO_REQUIRED, NULL,
	    "program and arguments, a list; no shell: ${VAR} is expanded "
	    "by the agent at load, and $$ is a literal $ (\"$$HOME\" "
	    "passes $HOME to the program)"),
	LIST("affects", CS_CHECK, CT_AFFECTS, CK(ck_affects), 0, 0, "ready",
	    "which endpoints the check gates: live, ready, startup"),
	BOOL("critical", CS_CHECK, CK(ck_critical), "true",
	    "false: a failure only turns the status to warn"),
	DURATION("interval", CS_CHECK, CK(ck_interval_ms), MS(100), DMAX,
	    "10s", "time between two runs: each gap is interval \xc2\xb1" "10 % "
	    "at random, planned from the previous plan (no drift), so checks "
	    "written together do not fire together; the first run comes at "
	    "initial_delay plus a random offset below min(interval, 1s)"),
	/* the default depends on interval: validate.c sets it */
	{ .o_path = "timeout", .o_scope = CS_CHECK, .o_type = CT_DURATION,
	  .o_off = CK(ck_timeout_ms), .o_min = MS(10), .o_max = DMAX,
	  .o_flags = CO_COMPUTED, .o_default = "min(1s, interval/2)",
	  .o_doc = "a run taking longer fails; must be less than interval" },
	UINT("rise", CS_CHECK, CK(ck_rise), 0, 1, 1000, "1",
	    "consecutive passes to become passing"),
	UINT("fall", CS_CHECK, CK(ck_fall), 0, 1, 1000, "3",
	    "consecutive failures to become failing"),
	DURATION("initial_delay", CS_CHECK, CK(ck_initial_delay_ms), 0, DMAX,
	    "0s", "wait this long before the first run"),
	BOOL("shared", CS_CHECK, CK(ck_shared), "false",
	    "a dependency every replica shares (a database): "
	    "fail_open.min_ready_percent applies to it"),
};

const size_t cfg_nopts = sizeof(cfg_opts) / sizeof(cfg_opts[0]);

_Static_assert(sizeof(cfg_opts) / sizeof(cfg_opts[0]) <= CFG_MAX_OPTS,
    "raise CFG_MAX_OPTS");
