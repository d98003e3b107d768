/*
 * config.h - the agent's configuration: YAML (libyaml) -> struct config.
 *
 * Parse -> validate -> swap: config_load() builds a fresh struct and a list of
 * diagnostics; the caller prints or logs them and keeps its running config if
 * loading failed. All diagnostics are "FILE:LINE:COL: error: MESSAGE" (1-based).
 */
#ifndef NDT_CONFIG_H
#define NDT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../agent/log.h"
#include "envexp.h"		/* env_expand(), struct env_secrets */

#define CFG_DEFAULT_PATH	"/etc/nodowntime/nodowntime.yaml"
#define CFG_EMBEDDED_NAME	"<embedded default>"
#define CFG_NAME_MAX		63	/* check names: [a-z0-9_-]{1,63} */
#define CFG_MAX_CHECKS		1024

enum check_kind {
	CHECK_KIND_NONE,
	CHECK_HTTP,
	CHECK_TCP,
	CHECK_GRPC,
	CHECK_EXEC
};
const char	*check_kind_str(enum check_kind);

#define AFFECT_LIVE	0x1u
#define AFFECT_READY	0x2u
#define AFFECT_STARTUP	0x4u

struct cfg_mark {			/* where a value was written, 1-based */
	unsigned	 m_line;
	unsigned	 m_col;
};

struct cfg_tls {
	int		 tls_enabled;	/* https:// URL, or a tls: map given */
	char		*tls_ca_file;	/* "" = system CAs */
	char		*tls_cert_file;	/* client cert for mTLS, "" = none */
	char		*tls_key_file;
	char		*tls_server_name; /* SNI / verify name, "" = from URL */
	int		 tls_insecure_skip_verify;
};

struct cfg_kv {				/* an HTTP header */
	char		*kv_key;
	char		*kv_value;	/* after ${VAR} expansion */
	int		 kv_secret;	/* value used ${VAR}: redact in output */
};

/*
 * A string field whose value used ${VAR}, and the text as written: output
 * shows that text, never the expanded value (a token in a URL's query, a
 * password in its userinfo, a secret in a body or an argument).
 */
struct cfg_tmpl {
	char *const	*tm_field;	/* the field (or argv slot) it fills */
	char		*tm_src;	/* as written, ${VAR} not expanded */
};

struct cfg_range {			/* expect.status: "200", "200-399" */
	int		 r_lo;
	int		 r_hi;
};

struct cfg_http {
	char		*h_url;
	char		*h_method;	/* default GET */
	struct cfg_kv	*h_headers;
	size_t		 h_nheaders;
	char		*h_body;	/* request body, NULL = none */
	struct cfg_range *h_status;	/* default one range 200-399 */
	size_t		 h_nstatus;
	char		*h_body_contains; /* NULL = no body check */
	size_t		 h_max_body;	/* default 65536 bytes */
	int		 h_follow_redirects; /* default 0 */
	char		*h_unix_socket;	/* NULL = TCP */
	struct cfg_tls	 h_tls;
};

struct cfg_tcp {
	char		*t_host;
	unsigned	 t_port;
};

struct cfg_grpc {
	char		*g_address;	/* host:port */
	char		*g_service;	/* "" = overall server health */
	char		*g_authority;	/* NULL = from address */
	struct cfg_tls	 g_tls;		/* tls_enabled: TLS, else h2c */
};

struct cfg_exec {
	char		**e_argv;	/* NULL-terminated, no shell */
	size_t		 e_argc;
};

struct cfg_check {
	char		*ck_name;
	enum check_kind	 ck_kind;
	unsigned	 ck_affects;	/* AFFECT_*, default AFFECT_READY */
	int		 ck_critical;	/* default 1 */
	uint64_t	 ck_interval_ms; /* default 10s */
	uint64_t	 ck_timeout_ms;	/* default min(1s, interval/2) */
	uint64_t	 ck_initial_delay_ms;
	unsigned	 ck_rise;	/* default 1 */
	unsigned	 ck_fall;	/* default 3 */
	int		 ck_shared;	/* a dependency every replica shares:
					 * fail_open applies (default 0) */
	int		 ck_self;	/* derived: probes this pod itself
					 * (config_check_self), set once at
					 * load */
	struct cfg_mark	 ck_mark;	/* the "- name:" item */
	struct cfg_http	 ck_http;
	struct cfg_tcp	 ck_tcp;
	struct cfg_grpc	 ck_grpc;
	struct cfg_exec	 ck_exec;
};

struct cfg_notify {
	int		 n_enabled;
	char		*n_url;
	char		*n_method;	/* default POST */
	uint64_t	 n_timeout_ms;	/* default 2s */
	struct cfg_kv	*n_headers;
	size_t		 n_nheaders;
};

struct cfg_drain {
	uint64_t	 d_delay_ms;		/* default 5s */
	uint64_t	 d_min_delay_ms;	/* default min(1s, delay) */
	uint64_t	 d_quiet_ms;		/* 0 = off (fixed delay) */
	struct cfg_notify d_notify;
	int		 d_wait_for_connections; /* default 1 */
	uint64_t	 d_max_wait_ms;		/* default 20s */
	uint64_t	 d_idle_ms;		/* idle_timeout; 0 = off */
	uint64_t	 d_shutdown_timeout_ms;	/* default 30s */
	uint64_t	 d_grace_period_ms;	/* 0 = budget not checked */
	int		 d_wait_for_endpoints;	/* default 0 */
};

/* kubernetes.enabled */
enum kube_mode {
	KUBE_AUTO,	/* on when in-cluster credentials exist */
	KUBE_ON,	/* on; without them the agent does not start */
	KUBE_OFF
};
const char	*kube_mode_str(enum kube_mode);

struct cfg_kube {
	enum kube_mode	 k_enabled;	/* default auto */
	char		*k_api;		/* "" = https://$KUBERNETES_SERVICE_HOST:
					 * $KUBERNETES_SERVICE_PORT */
	char		*k_pod_name;	/* "" = $POD_NAME */
	char		*k_pod_ip;	/* "" = $POD_IP */
	char		*k_namespace;	/* "" = <k_sa_dir>/namespace */
	char		*k_sa_dir;	/* token, ca.crt, namespace */
	struct cfg_mark	 k_mark;	/* where enabled was written, 0 = not */
};

struct config {
	char		*cf_file;	/* path, or CFG_EMBEDDED_NAME */
	char		*cf_listen;	/* "0.0.0.0:3000", "[::]:3000" */
	char		*cf_listen_host; /* "0.0.0.0", "::" (no brackets) */
	unsigned	 cf_listen_port;
	char		*cf_control_socket;
	unsigned	*cf_control_uids;	/* peers allowed; none = any */
	size_t		 cf_ncontrol_uids;
	char		*cf_state_file;
	char		*cf_hook_install_path;	/* "" = do not copy */
	enum log_format	 cf_log_format;
	enum log_level	 cf_log_level;
	unsigned	 cf_max_connections;	/* default 512 */
	uint64_t	 cf_request_timeout_ms;	/* default 5s */
	unsigned	 cf_app_port;		/* 0 = no connection tracking */
	struct cfg_drain cf_drain;
	struct cfg_kube	 cf_kube;
	unsigned	 cf_fail_open_pct;	/* fail_open.min_ready_percent,
						 * 0 = off */
	/* agent_check: HAProxy's agent-check (agentcheck.c) */
	char		*cf_agent_listen;	/* "" = off */
	char		*cf_agent_listen_host;	/* no brackets */
	unsigned	 cf_agent_listen_port;
	char		*cf_agent_warn;		/* warn_weight as written */
	unsigned	 cf_agent_warn_pct;	/* default 50 */
	struct cfg_check *cf_checks;
	size_t		 cf_nchecks;
	struct cfg_tmpl	*cf_tmpls;	/* strings that used ${VAR} */
	size_t		 cf_ntmpls;
	/* the values ${VAR} put into strings: masked in check outputs */
	struct env_secrets cf_secrets;
};

struct cfg_diag {
	char		*d_file;	/* file name, or an env var name */
	unsigned	 d_line;	/* 0 = not from a file position */
	unsigned	 d_col;
	int		 d_warning;	/* 0 = error */
	char		*d_msg;
};

struct cfg_diags {
	struct cfg_diag	*dg_v;
	size_t		 dg_n;
	size_t		 dg_nerrors;
	size_t		 dg_nwarnings;
	int		 dg_oom;	/* memory ran out: not the file's fault */
};

/* -c path, else $NODOWNTIME_CONFIG, else CFG_DEFAULT_PATH if it exists,
 * else NULL: use the embedded default. */
const char	*config_lookup(const char *cli_path);
/* path NULL = embedded default. Applies ${VAR}, APP_BIND_ADDRESS and
 * APP_SHUTDOWN_TIMEOUT, defaults, and the semantic pass. 0, or -1 with
 * *out NULL and at least one error in diags. Warnings may come with 0. */
int		 config_load(const char *path, struct config **out,
		    struct cfg_diags *);
/* the same from bytes (embedded default, tests, fuzzing); name is used in
 * diagnostics. Env overrides are applied here too. */
int		 config_parse(const char *name, const char *data, size_t len,
		    struct config **out, struct cfg_diags *);
void		 config_free(struct config *);

void		 cfg_diags_init(struct cfg_diags *);
void		 cfg_diags_free(struct cfg_diags *);
/* "FILE:LINE:COL: error: MESSAGE" lines, errors and warnings in order */
void		 cfg_diags_print(const struct cfg_diags *, FILE *);

/* effective config as YAML: a header value that used ${VAR} (kv_secret)
 * shown as "<redacted>", any other string that used one as written */
void		 config_print(const struct config *, FILE *);
/* what a string field (or argv slot) of cf held as written when it used
 * ${VAR}, else NULL: what output shows instead of the value */
const char	*config_template(const struct config *, char *const *);
/* when each drain phase starts and ends, and whether it fits grace_period */
void		 config_print_timeline(const struct config *, FILE *);
/* Markdown reference of every key from the schema table (README section) */
void		 config_print_reference(FILE *);

/* the same check definition (every option of the schema); for reloads,
 * which keep the state of unchanged checks */
int		 config_check_equal(const struct cfg_check *,
		    const struct cfg_check *);
/* the check probes this pod itself (loopback, a unix socket, ${POD_IP},
 * ${HOSTNAME}, an exec), not a dependency: the app's own health, which
 * cannot pass before the app runs (wrap does not wait for it) */
int		 config_check_self(const struct config *,
		    const struct cfg_check *);

/* "250ms", "5s", "1m", "1h30m", "1.5s" -> ms. 0 or -1. */
int		 duration_parse(const char *, uint64_t *ms);

#endif
