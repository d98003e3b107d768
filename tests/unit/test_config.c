/*
 * test_config.c - the config module: examples, defaults, every class of
 * mistake with its exact LINE:COL, env expansion and overrides, the drain
 * budget, the live lint, config_print round-trip and redaction, the empty
 * file, the timeout's default, TLS files that must be readable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "config/cfg_priv.h"

#ifndef CONFIG_EXAMPLES_DIR
#define CONFIG_EXAMPLES_DIR	"config/examples"
#endif

/* the shipped examples, in CONFIG_EXAMPLES_DIR */
static const char *const examples[] = { "minimal.yaml", "webapp.yaml",
    "http.yaml", "tcp.yaml", "grpc.yaml", "exec.yaml", "drain.yaml",
    "no-wait.yaml" };
#define NEXAMPLES	(sizeof(examples) / sizeof(examples[0]))

static void
clear_env(void)
{
	unsetenv("APP_BIND_ADDRESS");
	unsetenv("APP_SHUTDOWN_TIMEOUT");
	unsetenv("NODOWNTIME_CONFIG");
}

static int
setup(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

/*
 * The examples' TLS files (/etc/nodowntime/tls/, where a pod mounts its
 * Secret) must be readable for the config to load: tests give them in a
 * temporary directory, made by the group setup, with with_tls().
 */
#define EXAMPLE_TLS_DIR		"/etc/nodowntime/tls/"
static char tls_dir[] = "/tmp/ndt-test-config-XXXXXX";
static const char *const tls_files[] = { "ca.pem", "client.pem",
    "client-key.pem" };

static int
group_setup(void **state)
{
	char path[128];
	size_t i;
	FILE *f;

	(void)state;
	if (mkdtemp(tls_dir) == NULL)
		return -1;
	for (i = 0; i < sizeof(tls_files) / sizeof(tls_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tls_dir, tls_files[i]);
		if ((f = fopen(path, "w")) == NULL)
			return -1;
		fputs("-----BEGIN CERTIFICATE-----\n", f);
		fclose(f);
	}
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tls_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* yaml with EXAMPLE_TLS_DIR moved to tls_dir, malloc'd */
static char *
with_tls(const char *yaml, size_t len)
{
	size_t n = strlen(EXAMPLE_TLS_DIR), m = strlen(tls_dir), o = 0;
	char *out = malloc(len * 2 + 1);
	const char *p = yaml, *end = yaml + len, *hit;

	assert_non_null(out);
	while ((hit = memmem(p, (size_t)(end - p), EXAMPLE_TLS_DIR, n)) !=
	    NULL) {
		memcpy(out + o, p, (size_t)(hit - p));
		o += (size_t)(hit - p);
		memcpy(out + o, tls_dir, m);
		o += m;
		out[o++] = '/';
		p = hit + n;
	}
	memcpy(out + o, p, (size_t)(end - p));
	out[o + (size_t)(end - p)] = '\0';
	return out;
}

/* config_load() of an example, its TLS files in tls_dir */
static int
load_example(const char *path, struct config **cf, struct cfg_diags *dg)
{
	char *data, *yaml;
	long sz;
	FILE *f;
	int rv;

	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	rewind(f);
	assert_true(sz > 0);
	data = malloc((size_t)sz);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	yaml = with_tls(data, (size_t)sz);
	rv = config_parse(path, yaml, strlen(yaml), cf, dg);
	free(yaml);
	free(data);
	return rv;
}

static char	*printed(void (*)(const struct config *, FILE *),
		    const struct config *);

static int
parse(const char *yaml, struct config **cf, struct cfg_diags *dg)
{
	cfg_diags_init(dg);
	return config_parse("t.yaml", yaml, strlen(yaml), cf, dg);
}

static char *
diags_str(const struct cfg_diags *dg)
{
	char *s = NULL;
	size_t n = 0;
	FILE *fp;

	fp = open_memstream(&s, &n);
	assert_non_null(fp);
	cfg_diags_print(dg, fp);
	fclose(fp);
	return s;
}

/* the config must load: 0, no errors, no warnings */
static struct config *
must_parse(const char *yaml)
{
	struct cfg_diags dg;
	struct config *cf = NULL;
	char *s;

	if (parse(yaml, &cf, &dg) != 0 || dg.dg_n != 0) {
		s = diags_str(&dg);
		fail_msg("expected a clean parse, got:\n%s", s);
	}
	assert_non_null(cf);
	cfg_diags_free(&dg);
	return cf;
}

/*
 * The config must fail with an error at line:col whose message contains
 * want. Returns the number of errors.
 */
static size_t
expect_error(const char *yaml, unsigned line, unsigned col,
    const char *want)
{
	struct cfg_diags dg;
	struct config *cf = (struct config *)1;
	const struct cfg_diag *d;
	size_t i, n;
	int rv;
	char *s;

	if ((rv = parse(yaml, &cf, &dg)) != -1 || cf != NULL ||
	    dg.dg_nerrors == 0) {
		s = diags_str(&dg);
		fail_msg("no error at %u:%u with '%s' for:\n%s\nbut %d, %s "
		    "config, %zu errors:\n%s", line, col, want, yaml, rv,
		    cf != NULL ? "a" : "no", dg.dg_nerrors, s);
	}
	for (i = 0; i < dg.dg_n; i++) {
		d = &dg.dg_v[i];
		if (!d->d_warning && d->d_line == line && d->d_col == col &&
		    strstr(d->d_msg, want) != NULL)
			break;
	}
	if (i == dg.dg_n) {
		s = diags_str(&dg);
		fail_msg("no error at %u:%u with '%s' for:\n%s\ngot:\n%s",
		    line, col, want, yaml, s);
	}
	n = dg.dg_nerrors;
	cfg_diags_free(&dg);
	return n;
}

/* an error about a URL that used ${VAR} quotes it as written, never the
 * value: errors are logged at reload, and the value may be a token */
static void
test_url_error_as_written(void **state)
{
	(void)state;
	setenv("NDT_T_TOKEN", "s3cr3t-value", 1);
	expect_error("checks:\n  - name: a\n    http: {url: "
	    "\"htp://x/?t=${NDT_T_TOKEN}\"}\n", 3, 17,
	    "got 'htp://x/?t=${NDT_T_TOKEN}'");
	expect_error("drain:\n  notify:\n    http: {url: "
	    "\"x${NDT_T_TOKEN}\"}\n", 3, 17, "got 'x${NDT_T_TOKEN}'");
	unsetenv("NDT_T_TOKEN");
}

static void
test_examples_load(void **state)
{
	struct cfg_diags dg;
	struct config *cf;
	char path[512], *s;
	size_t i;

	(void)state;
	for (i = 0; i < NEXAMPLES; i++) {
		snprintf(path, sizeof(path), "%s/%s", CONFIG_EXAMPLES_DIR,
		    examples[i]);
		cfg_diags_init(&dg);
		if (load_example(path, &cf, &dg) != 0 || dg.dg_n != 0) {
			s = diags_str(&dg);
			fail_msg("%s:\n%s", path, s);
		}
		assert_string_equal(cf->cf_file, path);
		assert_true(cf->cf_nchecks > 0);
		config_free(cf);
		cfg_diags_free(&dg);
	}
}

static void
test_example_webapp(void **state)
{
	struct cfg_diags dg;
	struct config *cf;
	const struct cfg_check *ck;

	(void)state;
	cfg_diags_init(&dg);
	assert_int_equal(config_load(CONFIG_EXAMPLES_DIR "/webapp.yaml", &cf,
	    &dg), 0);
	assert_int_equal(cf->cf_app_port, 8080);
	assert_true(cf->cf_drain.d_notify.n_enabled);
	assert_string_equal(cf->cf_drain.d_notify.n_url,
	    "http://127.0.0.1:8080/admin/drain");
	assert_int_equal(cf->cf_drain.d_grace_period_ms, 60000);
	assert_int_equal(cf->cf_nchecks, 3);
	ck = &cf->cf_checks[0];
	assert_string_equal(ck->ck_name, "app");
	assert_int_equal(ck->ck_kind, CHECK_HTTP);
	assert_int_equal(ck->ck_affects, AFFECT_LIVE | AFFECT_READY |
	    AFFECT_STARTUP);
	assert_int_equal(ck->ck_http.h_nstatus, 1);
	assert_int_equal(ck->ck_http.h_status[0].r_lo, 200);
	assert_int_equal(ck->ck_http.h_status[0].r_hi, 200);
	assert_string_equal(ck->ck_http.h_body_contains, "ok");
	ck = &cf->cf_checks[1];
	assert_int_equal(ck->ck_kind, CHECK_TCP);
	assert_string_equal(ck->ck_tcp.t_host, "postgres");
	assert_int_equal(ck->ck_tcp.t_port, 5432);
	assert_int_equal(ck->ck_fall, 2);
	ck = &cf->cf_checks[2];
	assert_int_equal(ck->ck_http.h_tls.tls_enabled, 1);	/* https:// */
	assert_int_equal(ck->ck_critical, 0);
	config_free(cf);
	cfg_diags_free(&dg);
}

static void
test_embedded_default(void **state)
{
	struct cfg_diags dg;
	struct config *cf;
	const struct cfg_drain *d;

	(void)state;
	cfg_diags_init(&dg);
	assert_int_equal(config_load(NULL, &cf, &dg), 0);
	assert_int_equal(dg.dg_n, 0);
	assert_string_equal(cf->cf_file, CFG_EMBEDDED_NAME);
	assert_string_equal(cf->cf_listen, "0.0.0.0:3000");
	assert_string_equal(cf->cf_listen_host, "0.0.0.0");
	assert_int_equal(cf->cf_listen_port, 3000);
	assert_string_equal(cf->cf_control_socket,
	    "/run/nodowntime/nodowntime.sock");
	assert_string_equal(cf->cf_state_file, "/run/nodowntime/state");
	assert_string_equal(cf->cf_hook_install_path,
	    "/run/nodowntime/nodowntime-hook");
	assert_int_equal(cf->cf_log_format, LOG_FORMAT_JSON);
	assert_int_equal(cf->cf_log_level, LOG_INFO);
	assert_int_equal(cf->cf_max_connections, 512);
	assert_int_equal(cf->cf_request_timeout_ms, 5000);
	assert_int_equal(cf->cf_app_port, 0);
	d = &cf->cf_drain;
	assert_int_equal(d->d_delay_ms, 5000);
	assert_int_equal(d->d_notify.n_enabled, 0);
	assert_null(d->d_notify.n_url);
	assert_string_equal(d->d_notify.n_method, "POST");
	assert_int_equal(d->d_notify.n_timeout_ms, 2000);
	assert_int_equal(d->d_wait_for_connections, 1);
	assert_int_equal(d->d_max_wait_ms, 20000);
	assert_int_equal(d->d_shutdown_timeout_ms, 30000);
	assert_int_equal(d->d_grace_period_ms, 0);
	assert_int_equal(d->d_quiet_ms, 0);		/* the fixed delay */
	assert_int_equal(d->d_idle_ms, 0);		/* wait for close */
	assert_int_equal(d->d_min_delay_ms, 1000);
	assert_int_equal(cf->cf_nchecks, 0);
	assert_null(cf->cf_checks);
	config_free(cf);
	cfg_diags_free(&dg);

	/* an empty mapping is the defaults too (an empty file is an error:
	 * test_empty_file) */
	cf = must_parse("{}\n");
	assert_string_equal(cf->cf_listen, "0.0.0.0:3000");
	config_free(cf);
}

/*
 * An empty file (no YAML document, or a null one) is an error at 1:1 that
 * names the file and says how to get the embedded default; `{}` is not.
 */
static void
test_empty_file(void **state)
{
	static const char *const empty[] = { "", "\n", "  \n \n",
	    "# only a comment\n", "# one\n\n# two\n", "---\n", "---\n...\n",
	    "~\n", "null\n", "--- # nothing\n" };
	char path[] = "/tmp/ndt-test-empty-XXXXXX", want[128], *s;
	struct cfg_diags dg;
	struct config *cf;
	size_t i;
	int fd;

	(void)state;
	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		assert_int_equal(expect_error(empty[i], 1, 1, "the config is "
		    "empty (no YAML document)"), 1);
		expect_error(empty[i], 1, 1, "or remove this file (and any -c "
		    "or NODOWNTIME_CONFIG naming it) to run the embedded "
		    "default");
	}
	/* from a file: named by its path */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "# nodowntime\n\n", 14), 14);
	close(fd);
	cfg_diags_init(&dg);
	assert_int_equal(config_load(path, &cf, &dg), -1);
	assert_null(cf);
	s = diags_str(&dg);
	snprintf(want, sizeof(want), "%s:1:1: error: the config is empty",
	    path);
	if (strncmp(s, want, strlen(want)) != 0)
		fail_msg("got %s", s);
	free(s);
	cfg_diags_free(&dg);
	unlink(path);
	/* with something in it, however little, it is a config */
	config_free(must_parse("{}\n"));
	config_free(must_parse("checks: []\n"));
	config_free(must_parse("# a comment\nlisten: 0.0.0.0:3000\n"));
}

static void
test_check_defaults(void **state)
{
	struct config *cf;
	const struct cfg_check *ck;

	(void)state;
	cf = must_parse(
	    "checks:\n"
	    "  - name: web\n"
	    "    http: {url: \"http://127.0.0.1:8080/\"}\n"
	    "  - name: rpc\n"
	    "    grpc: {address: \"127.0.0.1:9090\", tls: {}}\n");
	ck = &cf->cf_checks[0];
	assert_int_equal(ck->ck_mark.m_line, 2);
	assert_int_equal(ck->ck_mark.m_col, 5);
	assert_int_equal(ck->ck_kind, CHECK_HTTP);
	assert_int_equal(ck->ck_affects, AFFECT_READY);
	assert_int_equal(ck->ck_critical, 1);
	assert_int_equal(ck->ck_interval_ms, 10000);
	assert_int_equal(ck->ck_timeout_ms, 1000);
	assert_int_equal(ck->ck_initial_delay_ms, 0);
	assert_int_equal(ck->ck_rise, 1);
	assert_int_equal(ck->ck_fall, 3);
	assert_string_equal(ck->ck_http.h_method, "GET");
	assert_int_equal(ck->ck_http.h_nstatus, 1);
	assert_int_equal(ck->ck_http.h_status[0].r_lo, 200);
	assert_int_equal(ck->ck_http.h_status[0].r_hi, 399);
	assert_int_equal(ck->ck_http.h_max_body, 65536);
	assert_int_equal(ck->ck_http.h_follow_redirects, 0);
	assert_null(ck->ck_http.h_body);
	assert_null(ck->ck_http.h_body_contains);
	assert_null(ck->ck_http.h_unix_socket);
	assert_int_equal(ck->ck_http.h_nheaders, 0);
	assert_int_equal(ck->ck_http.h_tls.tls_enabled, 0);
	assert_string_equal(ck->ck_http.h_tls.tls_ca_file, "");
	ck = &cf->cf_checks[1];
	assert_int_equal(ck->ck_kind, CHECK_GRPC);
	assert_int_equal(ck->ck_grpc.g_tls.tls_enabled, 1);	/* tls: {} */
	assert_string_equal(ck->ck_grpc.g_service, "");
	assert_null(ck->ck_grpc.g_authority);
	config_free(cf);

	/* no tls map: h2c */
	cf = must_parse("checks:\n- name: g\n  grpc: {address: \"h:1\"}\n");
	assert_int_equal(cf->cf_checks[0].ck_grpc.g_tls.tls_enabled, 0);
	config_free(cf);
}

/* yaml with every "@" replaced by dir, into buf */
static const char *
at_dir(char *buf, size_t len, const char *yaml, const char *dir)
{
	size_t o = 0;

	for (; *yaml != '\0' && o + strlen(dir) + 1 < len; yaml++)
		if (*yaml == '@') {
			memcpy(buf + o, dir, strlen(dir));
			o += strlen(dir);
		} else
			buf[o++] = *yaml;
	buf[o] = '\0';
	return buf;
}

/*
 * A TLS file that cannot be read is an error at its value, in check-config
 * as at start and reload, saying what to give instead. Only when TLS is
 * on: an http:// URL ignores tls: (a warning says so).
 */
static void
test_tls_files(void **state)
{
	char yaml[1024], dir[128], path[160];
	struct cfg_diags dg;
	struct config *cf;

	(void)state;
	snprintf(dir, sizeof(dir), "%s", tls_dir);
	/* the files there: loads */
	config_free(must_parse(at_dir(yaml, sizeof(yaml),
	    "checks:\n"
	    "- name: a\n"
	    "  http:\n"
	    "    url: https://h/\n"
	    "    tls: {ca_file: @/ca.pem, cert_file: @/client.pem, "
	    "key_file: @/client-key.pem}\n"
	    "- name: g\n"
	    "  grpc: {address: \"h:1\", tls: {ca_file: @/ca.pem}}\n", dir)));
	/* missing: at the value, with the path, errno's text and the fix */
	expect_error("checks:\n- name: a\n  http:\n    url: https://h/\n"
	    "    tls: {ca_file: /nonexistent/ca.pem}\n", 5, 20, "check 'a': "
	    "http.tls.ca_file '/nonexistent/ca.pem' cannot be read: No such "
	    "file or directory; give the path of a readable PEM file (is the "
	    "Secret mounted there?), or \"\" for the system CAs");
	assert_int_equal(expect_error("checks:\n- name: g\n  grpc:\n"
	    "    address: \"h:1\"\n    tls:\n"
	    "      cert_file: /nonexistent/c.pem\n"
	    "      key_file: /nonexistent/k.pem\n", 6, 18, "check 'g': "
	    "grpc.tls.cert_file '/nonexistent/c.pem' cannot be read: No such "
	    "file or directory; give the path of a readable PEM file (is the "
	    "Secret mounted there?)"), 2);
	expect_error("checks:\n- name: g\n  grpc:\n"
	    "    address: \"h:1\"\n    tls:\n"
	    "      cert_file: /nonexistent/c.pem\n"
	    "      key_file: /nonexistent/k.pem\n", 7, 17,
	    "grpc.tls.key_file '/nonexistent/k.pem' cannot be read");
	/* a directory opens, but is no file */
	expect_error(at_dir(yaml, sizeof(yaml), "checks:\n- name: a\n  http:"
	    "\n    url: https://h/\n    tls: {ca_file: @}\n", dir), 5, 20,
	    "cannot be read: it is a directory");
	/* unreadable (root reads anything: only as another user) */
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/unreadable.pem", dir);
		fclose(fopen(path, "w"));
		assert_int_equal(chmod(path, 0), 0);
		expect_error(at_dir(yaml, sizeof(yaml), "checks:\n- name: a\n"
		    "  http:\n    url: https://h/\n    tls: {ca_file: "
		    "@/unreadable.pem}\n", dir), 5, 20,
		    "cannot be read: Permission denied");
		unlink(path);
	}
	/* ${VAR} in the path: expanded first */
	setenv("NDT_T_TLSDIR", dir, 1);
	config_free(must_parse("checks:\n- name: a\n  http:\n    url: "
	    "https://h/\n    tls: {ca_file: \"${NDT_T_TLSDIR}/ca.pem\"}\n"));
	unsetenv("NDT_T_TLSDIR");
	/* TLS off: http:// ignores tls: (warned), the files are not read */
	assert_int_equal(parse("checks:\n- name: a\n  http:\n    url: "
	    "http://h/\n    tls: {ca_file: /nonexistent/ca.pem}\n", &cf, &dg),
	    0);
	assert_int_equal(dg.dg_nerrors, 0);
	assert_int_equal(dg.dg_nwarnings, 1);
	config_free(cf);
	cfg_diags_free(&dg);
	/* "" is no file: the system CAs */
	config_free(must_parse("checks:\n- name: a\n  http:\n    url: "
	    "https://h/\n    tls: {ca_file: \"\"}\n"));
}

/* timeout not written: min(1s, interval/2); written: as written */
static void
test_timeout_default(void **state)
{
	static const struct {
		const char	*interval;
		uint64_t	 timeout_ms;
	} t[] = {
	    { "100ms", 50 }, { "250ms", 125 }, { "1s", 500 }, { "1.5s", 750 },
	    { "2s", 1000 }, { "3s", 1000 }, { "1h", 1000 },
	};
	char yaml[256], d[32], *s;
	struct config *cf;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(yaml, sizeof(yaml), "checks:\n- name: a\n  tcp: "
		    "{host: h, port: 1}\n  interval: %s\n", t[i].interval);
		cf = must_parse(yaml);
		assert_int_equal(cf->cf_checks[0].ck_timeout_ms,
		    t[i].timeout_ms);
		/* check-config prints the timeout in effect */
		s = printed(config_print, cf);
		fmt_duration(t[i].timeout_ms, d, sizeof(d));
		snprintf(yaml, sizeof(yaml), "    timeout: %s\n", d);
		if (strstr(s, yaml) == NULL)
			fail_msg("interval %s: no '%s' in:\n%s", t[i].interval,
			    yaml, s);
		config_free(cf);
		free(s);
	}
	cf = must_parse("checks:\n- name: a\n  tcp: {host: h, port: 1}\n"
	    "  interval: 1s\n");
	s = printed(config_print, cf);
	assert_non_null(strstr(s, "    interval: 1s\n    timeout: 500ms\n"));
	free(s);
	config_free(cf);
	/* written: kept, even above the default */
	cf = must_parse("checks:\n- name: a\n  tcp: {host: h, port: 1}\n"
	    "  interval: 1s\n  timeout: 900ms\n");
	assert_int_equal(cf->cf_checks[0].ck_timeout_ms, 900);
	config_free(cf);
	cf = must_parse("checks:\n- name: a\n  tcp: {host: h, port: 1}\n"
	    "  timeout: 5s\n");
	assert_int_equal(cf->cf_checks[0].ck_timeout_ms, 5000);
	config_free(cf);
	/* too long: at the timeout, naming both and what fits */
	expect_error("checks:\n- name: x\n  tcp: {host: h, port: 1}\n"
	    "  interval: 500ms\n  timeout: 1s\n", 5, 12, "check 'x': timeout "
	    "1s must be less than interval 500ms (at 4:13); write a shorter "
	    "timeout, like 250ms, or remove it for the default min(1s, "
	    "interval/2)");
	expect_error("checks:\n- name: x\n  tcp: {host: h, port: 1}\n"
	    "  timeout: 10s\n", 4, 12, "check 'x': timeout 10s must be less "
	    "than interval 10s (the default); write a shorter timeout, like "
	    "1s");
	/* a bad timeout is one error, not two */
	assert_int_equal(expect_error("checks:\n- name: x\n  tcp: {host: h, "
	    "port: 1}\n  interval: 1s\n  timeout: soon\n", 5, 12,
	    "timeout: "), 1);
}

static void
test_values(void **state)
{
	struct config *cf;
	const struct cfg_check *ck;

	(void)state;
	cf = must_parse(
	    "listen: \"[::1]:9000\"\n"
	    "log: {format: text, level: debug}\n"
	    "server: {max_connections: 10, request_timeout: 1.5s}\n"
	    "checks:\n"
	    "  - name: a_1-b\n"
	    "    http:\n"
	    "      url: https://example.com/x\n"
	    "      method: HEAD\n"
	    "      headers: {X-A: \"1\", x-b: two}\n"
	    "      expect: {status: 204}\n"
	    "      max_body: 1\n"
	    "      follow_redirects: true\n"
	    "    affects: startup\n"
	    "    critical: false\n"
	    "    interval: 1h30m\n"
	    "    timeout: 250ms\n"
	    "    rise: 2\n"
	    "    fall: 1000\n"
	    "    initial_delay: \"0\"\n"
	    "  - name: st\n"
	    "    http:\n"
	    "      url: http://127.0.0.1/\n"
	    "      expect: {status: [\"2xx\", 304, \"400-404\"]}\n"
	    "  - name: e\n"
	    "    exec: {command: [/bin/true]}\n"
	    "    affects: []\n");
	assert_string_equal(cf->cf_listen_host, "::1");
	assert_int_equal(cf->cf_listen_port, 9000);
	assert_int_equal(cf->cf_log_format, LOG_FORMAT_TEXT);
	assert_int_equal(cf->cf_log_level, LOG_DEBUG);
	assert_int_equal(cf->cf_max_connections, 10);
	assert_int_equal(cf->cf_request_timeout_ms, 1500);
	ck = &cf->cf_checks[0];
	assert_string_equal(ck->ck_http.h_method, "HEAD");
	assert_int_equal(ck->ck_http.h_nheaders, 2);
	assert_string_equal(ck->ck_http.h_headers[1].kv_key, "x-b");
	assert_string_equal(ck->ck_http.h_headers[1].kv_value, "two");
	assert_int_equal(ck->ck_http.h_headers[1].kv_secret, 0);
	assert_int_equal(ck->ck_http.h_status[0].r_lo, 204);
	assert_int_equal(ck->ck_http.h_status[0].r_hi, 204);
	assert_int_equal(ck->ck_http.h_max_body, 1);
	assert_int_equal(ck->ck_http.h_follow_redirects, 1);
	assert_int_equal(ck->ck_http.h_tls.tls_enabled, 1);
	assert_int_equal(ck->ck_affects, AFFECT_STARTUP);
	assert_int_equal(ck->ck_critical, 0);
	assert_int_equal(ck->ck_interval_ms, 5400000);
	assert_int_equal(ck->ck_timeout_ms, 250);
	assert_int_equal(ck->ck_rise, 2);
	assert_int_equal(ck->ck_fall, 1000);
	ck = &cf->cf_checks[1];
	assert_int_equal(ck->ck_http.h_nstatus, 3);
	assert_int_equal(ck->ck_http.h_status[0].r_lo, 200);
	assert_int_equal(ck->ck_http.h_status[0].r_hi, 299);
	assert_int_equal(ck->ck_http.h_status[1].r_lo, 304);
	assert_int_equal(ck->ck_http.h_status[2].r_lo, 400);
	assert_int_equal(ck->ck_http.h_status[2].r_hi, 404);
	ck = &cf->cf_checks[2];
	assert_int_equal(ck->ck_exec.e_argc, 1);
	assert_string_equal(ck->ck_exec.e_argv[0], "/bin/true");
	assert_null(ck->ck_exec.e_argv[1]);
	assert_int_equal(ck->ck_affects, 0);
	config_free(cf);
}

/* one mistake each, and where it must be reported */
static const struct {
	const char	*yaml;
	unsigned	 line;
	unsigned	 col;
	const char	*want;
} errors[] = {
	/* unknown keys, with a suggestion */
	{ "checks:\n  - name: a\n    intervall: 5s\n"
	  "    tcp: {host: h, port: 1}\n", 3, 5,
	  "unknown key 'intervall' in check; did you mean 'interval'?" },
	{ "lisen: 0.0.0.0:1\n", 1, 1,
	  "unknown key 'lisen' at the top level; did you mean 'listen'?" },
	{ "drain:\n  max_wiat: 5s\n", 2, 3,
	  "unknown key 'max_wiat' in drain; did you mean 'max_wait'?" },
	{ "checks:\n- name: a\n  http:\n    url: http://h/\n"
	  "    expect: {stauts: 200}\n", 5, 14,
	  "unknown key 'stauts' in http.expect; did you mean 'status'?" },
	{ "checks:\n- name: a\n  url: http://h/\n", 3, 3,
	  "unknown key 'url' in check; it belongs at checks[].http.url" },
	{ "interval: 5s\n", 1, 1, "it belongs at checks[].interval" },
	{ "foo: 1\n", 1, 1, "known keys: listen, control_socket" },
	/* wrong types: at the value, saying what to write */
	{ "checks:\n- name: a\n  tcp: {host: h, port: 1}\n  interval: fast\n",
	  4, 13, "interval: expected a duration like 250ms, 5s, 1m or 1h30m, "
	  "got 'fast'" },
	{ "drain:\n  delay: 5\n", 2, 10, "a bare number is ambiguous: write 5s" },
	/* the adaptive delay: each at its own value */
	{ "app: {port: 8080}\ndrain:\n  delay: 1s\n  min_delay: 1500ms\n",
	  4, 14, "drain.min_delay 1.5s is longer than drain.delay 1s; write "
	  "min_delay: 1s or less" },
	{ "app: {port: 8080}\ndrain:\n  delay: 2s\n  quiet: 2s\n", 4, 10,
	  "drain.quiet 2s must be shorter than drain.delay 2s (quiet ends the "
	  "delay early); write quiet: 1s, or a delay longer than 2s" },
	{ "drain:\n  quiet: 1s\n", 2, 10, "drain.quiet watches app.port's "
	  "traffic, but app.port is 0; set app.port" },
	/* drain.idle_timeout: needs the connection wait, under max_wait */
	{ "app: {port: 8080}\ndrain:\n  max_wait: 2s\n  idle_timeout: 2s\n",
	  4, 17, "drain.idle_timeout 2s must be shorter than drain.max_wait 2s "
	  "(it ends that wait early); write idle_timeout: 500ms, or a max_wait "
	  "longer than 2s" },
	{ "drain:\n  idle_timeout: 1s\n", 2, 17, "drain.idle_timeout watches "
	  "app.port's connections, but app.port is 0; set app.port" },
	{ "app: {port: 8080}\ndrain:\n  wait_for_connections: false\n"
	  "  idle_timeout: 1s\n", 4, 17, "drain.idle_timeout shortens the wait "
	  "for connections, but wait_for_connections is false; write "
	  "wait_for_connections: true, or remove idle_timeout" },
	/* kubernetes, wait_for_endpoints, fail_open, shared */
	{ "kubernetes: {enabled: false}\ndrain: {wait_for_endpoints: true}\n",
	  2, 29, "drain.wait_for_endpoints needs the EndpointSlice watch, but "
	  "kubernetes.enabled is false; write enabled: auto" },
	{ "kubernetes: {enabled: false}\nfail_open: {min_ready_percent: 50}\n",
	  2, 32, "fail_open.min_ready_percent needs the EndpointSlice watch" },
	{ "kubernetes: {enabled: maybe}\n", 1, 23, "auto" },
	{ "kubernetes: {api: 10.96.0.1:443}\n", 1, 19,
	  "kubernetes.api: expected an https:// URL" },
	{ "fail_open: {min_ready_percent: 101}\n", 1, 32, "out of range" },
	{ "checks:\n- name: app\n  http: {url: 'http://127.0.0.1:8080/'}\n"
	  "  shared: true\n", 4, 11, "check 'app': shared: true, but the "
	  "check probes this pod itself" },
	{ "checks:\n- name: db\n  tcp: {host: db, port: 5432}\n"
	  "  shared: yes please\n", 4, 11, "shared" },
	/* agent_check */
	{ "agent_check: {listen: 'haproxy:3001'}\n", 1, 23,
	  "agent_check.listen: invalid address 'haproxy:3001': expected "
	  "IPv4:port or [IPv6]:port, like 0.0.0.0:3001" },
	{ "agent_check:\n  listen: 0.0.0.0:3000\n", 2, 11, "agent_check.listen: "
	  "port 3000 is the agent's own listen port" },
	{ "app: {port: 8080}\nagent_check: {listen: '[::]:8080'}\n", 2, 23,
	  "agent_check.listen: port 8080 is app.port" },
	{ "agent_check: {warn_weight: 120%}\n", 1, 28,
	  "invalid weight '120%': expected a percentage from 0% to 100%" },
	{ "agent_check: {warn_weight: half}\n", 1, 28, "like 50%" },
	{ "drain:\n  delay: -1s\n", 2, 10, "negative duration" },
	{ "drain:\n  delay: 25h\n", 2, 10, "longer than 24h" },
	{ "drain:\n  delay: [1s]\n", 2, 10,
	  "drain.delay: expected a duration like 250ms, 5s, 1m or 1h30m, got "
	  "a list" },
	{ "drain:\n  delay:\n", 2, 9, "got nothing" },
	{ "app: {port: 70000}\n", 1, 13,
	  "app.port: 70000 is out of range (0 to 65535)" },
	{ "listen: 127.0.0.1:8080\napp: {port: 8080}\n", 2, 13,
	  "app.port 8080 is the agent's own listen port; set the port the "
	  "application serves on (or 0 to turn connection tracking off)" },
	{ "app: {port: eighty}\n", 1, 13,
	  "app.port: expected an integer from 0 to 65535, got 'eighty'" },
	{ "app: {port: -1}\n", 1, 13, "expected an integer" },
	{ "server: {max_connections: 0}\n", 1, 27, "out of range (1 to 65536)" },
	{ "server: {request_timeout: 0s}\n", 1, 27,
	  "server.request_timeout: 0s is too short (at least 10ms)" },
	{ "drain: {wait_for_connections: maybe}\n", 1, 31,
	  "expected true or false, got 'maybe'" },
	{ "log: {level: verbose}\n", 1, 14,
	  "log.level: expected one of debug, info, warn, error, got 'verbose'" },
	{ "log: text\n", 1, 6, "log: expected a mapping of key: value" },
	{ "checks: {a: 1}\n", 1, 9, "checks: expected a list of checks" },
	{ "checks:\n  - just-a-string\n", 2, 5, "each check is a mapping" },
	{ "- a\n", 1, 1, "the top level must be a mapping" },
	{ "listen: [a]\n", 1, 9, "listen: expected a string, got a list" },
	/* ranges */
	{ "checks:\n- name: a\n  tcp: {host: h, port: 0}\n", 3, 24,
	  "tcp.port: 0 is out of range (1 to 65535)" },
	{ "checks:\n- name: a\n  tcp: {host: h, port: 1}\n  rise: 0\n", 4, 9,
	  "rise: 0 is out of range (1 to 1000)" },
	/* kinds */
	{ "checks:\n  - name: x\n    interval: 5s\n", 2, 5,
	  "check 'x' needs exactly one of http, tcp, grpc, exec" },
	{ "checks:\n  - name: x\n    http: {url: \"http://h/\"}\n"
	  "    tcp: {host: h, port: 1}\n", 4, 5,
	  "check 'x' needs exactly one of http, tcp, grpc, exec; it already "
	  "has http" },
	/* timeout < interval */
	{ "checks:\n- name: x\n  tcp: {host: h, port: 1}\n  interval: 2s\n"
	  "  timeout: 2s\n", 5, 12,
	  "check 'x': timeout 2s must be less than interval 2s" },
	{ "checks:\n- name: x\n  tcp: {host: h, port: 1}\n  interval: 500ms\n"
	  "  timeout: 1s\n", 5, 12,
	  "check 'x': timeout 1s must be less than interval 500ms" },
	/* names */
	{ "checks:\n- name: a\n  tcp: {host: h, port: 1}\n- name: a\n"
	  "  exec: {command: [x]}\n", 4, 9,
	  "duplicate check name 'a' (first at 2:9)" },
	{ "checks:\n- name: Web\n  tcp: {host: h, port: 1}\n", 2, 9,
	  "invalid check name 'Web': use 1-63 characters of a-z, 0-9, _ and -" },
	{ "checks:\n- name: \"\"\n  tcp: {host: h, port: 1}\n", 2, 9,
	  "invalid check name ''" },
	{ "checks:\n- name: a.b\n  tcp: {host: h, port: 1}\n", 2, 9,
	  "invalid check name 'a.b'" },
	{ "checks:\n- tcp: {host: h, port: 1}\n", 2, 3,
	  "check #1 has no name" },
	/* required fields: at the section's key */
	{ "checks:\n- name: a\n  http: {method: GET}\n", 3, 3,
	  "check 'a': http needs url" },
	{ "checks:\n- name: a\n  tcp: {port: 1}\n", 3, 3, "tcp needs host" },
	{ "checks:\n- name: a\n  tcp: {host: h}\n", 3, 3, "tcp needs port" },
	{ "checks:\n- name: a\n  grpc: {service: x}\n", 3, 3,
	  "grpc needs address" },
	{ "checks:\n- name: a\n  exec: {}\n", 3, 3, "exec needs command" },
	{ "checks:\n- name: a\n  exec:\n", 3, 3, "exec needs command" },
	/* addresses and URLs */
	{ "checks:\n- name: a\n  grpc: {address: inventory}\n", 3, 19,
	  "grpc.address: expected host:port like inventory:9090" },
	{ "checks:\n- name: a\n  grpc: {address: \"::1:9090\"}\n", 3, 19,
	  "grpc.address: expected host:port" },
	{ "checks:\n- name: a\n  http: {url: \"ftp://h/\"}\n", 3, 15,
	  "http.url: expected an http:// or https:// URL" },
	{ "checks:\n- name: a\n  http: {url: \"http:///x\"}\n", 3, 15,
	  "expected an http:// or https:// URL with a host" },
	{ "checks:\n- name: a\n  tcp: {host: \"db:5432\", port: 5432}\n", 3, 15,
	  "tcp.host: 'db:5432' includes a port" },
	{ "listen: 3000\n", 1, 9, "listen: invalid address '3000'" },
	{ "listen: \"localhost:3000\"\n", 1, 9, "invalid address" },
	{ "listen: \"::1:3000\"\n", 1, 9, "invalid address" },
	{ "listen: \"[::1]\"\n", 1, 9, "invalid address" },
	{ "listen: 0.0.0.0:0\n", 1, 9, "invalid address" },
	{ "listen: 300.0.0.1:80\n", 1, 9, "invalid address" },
	{ "control_socket: relative.sock\n", 1, 17,
	  "control_socket: expected an absolute path" },
	{ "hook_install_path: bin/hook\n", 1, 20,
	  "hook_install_path: expected an absolute path or \"\"" },
	/* exec */
	{ "checks:\n- name: a\n  exec: {command: /bin/true}\n", 3, 19,
	  "exec.command: expected a list like" },
	{ "checks:\n- name: a\n  exec: {command: []}\n", 3, 19,
	  "exec.command: give the program" },
	{ "checks:\n- name: a\n  exec: {command: [\"\"]}\n", 3, 20,
	  "the program must not be empty" },
	/* affects */
	{ "checks:\n- name: a\n  tcp: {host: h, port: 1}\n"
	  "  affects: [ready, liveness]\n", 4, 20,
	  "affects: unknown endpoint 'liveness'; use live, ready or startup" },
	/* http details */
	{ "checks:\n- name: a\n  http: {url: \"http://h/\", method: get}\n", 3,
	  36, "http.method: expected an HTTP method in capitals" },
	{ "checks:\n- name: a\n  http:\n    url: http://h/\n"
	  "    expect: {status: [200, \"600\"]}\n", 5, 28,
	  "http.expect.status: expected a status code or range" },
	{ "checks:\n- name: a\n  http:\n    url: http://h/\n"
	  "    expect: {status: \"399-200\"}\n", 5, 22, "status code or range" },
	{ "checks:\n- name: a\n  http:\n    url: http://h/\n"
	  "    expect: {status: []}\n", 5, 22, "give 1 to 32" },
	{ "checks:\n- name: a\n  http:\n    url: http://h/\n"
	  "    headers: {\"Bad Header\": x}\n", 5, 15,
	  "invalid header name 'Bad Header'" },
	{ "checks:\n- name: a\n  http:\n    url: http://h/\n"
	  "    headers: {X-A: a, x-a: b}\n", 5, 23,
	  "duplicate header 'x-a'" },
	{ "checks:\n- name: a\n  http:\n    url: http://h/\n"
	  "    headers: {X-A: \"a\\r\\nEvil: 1\"}\n", 5, 20,
	  "must not contain CR or LF" },
	{ "checks:\n- name: a\n  http:\n    url: http://h/\n"
	  "    headers: [a]\n", 5, 14, "expected a mapping of Header-Name" },
	{ "checks:\n- name: a\n  http:\n    url: http://h/\n"
	  "    tls: {key_file: /k}\n", 5, 21, "needs http.tls.cert_file" },
	{ "checks:\n- name: a\n  http:\n    url: http://h/\n"
	  "    unix_socket: rel\n", 5, 18,
	  "http.unix_socket: expected an absolute path" },
	{ "checks:\n- name: a\n  http:\n    url: http://h/\n"
	  "    max_body: 0\n", 5, 15, "out of range (1 to 16777216)" },
	/* notify */
	{ "drain:\n  notify:\n    http: {method: POST}\n", 3, 5,
	  "drain.notify: missing http.url" },
	{ "drain:\n  notify: {}\n", 2, 3, "drain.notify: missing http.url" },
	{ "drain:\n  notify:\n    http: {url: \"tcp://x\"}\n", 3, 17,
	  "drain.notify.http.url: expected an http:// or https:// URL" },
	/* YAML itself */
	{ "listen: 0.0.0.0:1\nlisten: 0.0.0.0:2\n", 2, 1,
	  "duplicate key 'listen' (first at 1:1)" },
	{ "drain: &d {delay: 1s}\n", 1, 8, "anchors (&d) are not supported" },
	{ "app: {port: 1}\ndrain: *d\n", 2, 8, "aliases (*d) are not supported" },
	{ "listen: !!str 0.0.0.0:1\n", 1, 9, "tags (tag:yaml.org,2002:str) are "
	  "not supported" },
	{ "a: 1\n---\nb: 2\n", 2, 1, "only one YAML document is allowed" },
	{ "*a\n", 1, 1, "aliases (*a) are not supported" },
	{ "? [a, b]\n: 1\n", 1, 3, "a key must be a plain string" },
	{ "checks:\n- name: a\n  tcp: {host: h, port: 1\n", 4, 1,
	  "invalid YAML: did not find expected ',' or '}' (while parsing a "
	  "flow mapping started at 3:8)" },
	{ "drain:\n  delay: 5s\n max_wait: 1s\n", 3, 2, "invalid YAML" },
	{ "listen: \"a\\0b\"\n", 1, 9, "string contains a NUL byte" },
	/* ${VAR} */
	{ "checks:\n- name: a\n  tcp: {host: \"${NDT_T_UNSET}\", port: 1}\n",
	  3, 15, "tcp.host: environment variable NDT_T_UNSET is not set" },
	{ "checks:\n- name: a\n  tcp: {host: \"${NDT_T_UNSET\", port: 1}\n",
	  3, 15, "unterminated" },
	/* the drain budget: at grace_period */
	{ "drain:\n  grace_period: 30s\n", 2, 17,
	  "drain budget 55s (delay 5s + max_wait 20s + shutdown_timeout 30s) "
	  "exceeds grace_period 30s; set terminationGracePeriodSeconds "
	  "\xe2\x89\xa5 55 and grace_period: 55s, or shorten the drain" },
};

static void
test_errors(void **state)
{
	size_t i;

	(void)state;
	unsetenv("NDT_T_UNSET");
	for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		expect_error(errors[i].yaml, errors[i].line, errors[i].col,
		    errors[i].want);
}

static void
test_three_mistakes(void **state)
{
	static const char yaml[] =
	    "checks:\n"
	    "  - name: api\n"
	    "    intervall: 5s\n"
	    "    http:\n"
	    "      url: http://127.0.0.1/\n"
	    "    timeout: fast\n"
	    "    affects: [lve]\n";
	struct cfg_diags dg;
	struct config *cf;
	char *s;

	(void)state;
	assert_int_equal(parse(yaml, &cf, &dg), -1);
	s = diags_str(&dg);
	assert_string_equal(s,
	    "t.yaml:3:5: error: unknown key 'intervall' in check; did you "
	    "mean 'interval'?\n"
	    "t.yaml:6:14: error: timeout: expected a duration like 250ms, 5s, "
	    "1m or 1h30m, got 'fast'\n"
	    "t.yaml:7:15: error: affects: unknown endpoint 'lve'; use live, "
	    "ready or startup\n");
	assert_int_equal(dg.dg_nerrors, 3);
	assert_int_equal(dg.dg_nwarnings, 0);
	free(s);
	cfg_diags_free(&dg);
}

static void
test_name_length(void **state)
{
	char yaml[256], name[80];

	(void)state;
	memset(name, 'a', 63);
	name[63] = '\0';
	snprintf(yaml, sizeof(yaml), "checks:\n- name: %s\n  exec: "
	    "{command: [x]}\n", name);
	config_free(must_parse(yaml));
	memset(name, 'a', 64);
	name[64] = '\0';
	snprintf(yaml, sizeof(yaml), "checks:\n- name: %s\n  exec: "
	    "{command: [x]}\n", name);
	expect_error(yaml, 2, 9, "invalid check name");
}

/* head, then n copies of item with each '#' in it replaced by the copy's
 * index (0, 1, ...), then tail; malloc'd */
static char *
repeated(const char *head, const char *item, size_t n, const char *tail)
{
	char *s = NULL;
	size_t len = 0, i;
	const char *p;
	FILE *fp;

	fp = open_memstream(&s, &len);
	assert_non_null(fp);
	fputs(head, fp);
	for (i = 0; i < n; i++)
		for (p = item; *p != '\0'; p++)
			if (*p == '#')
				fprintf(fp, "%zu", i);
			else
				fputc(*p, fp);
	fputs(tail, fp);
	if (fclose(fp) != 0 || s == NULL)
		fail_msg("cannot build the input");
	return s;
}

/* test_limits' inputs; LIM_HEADERS is lines 1-5, the headers follow */
#define LIM_HEADERS	"checks:\n- name: a\n  http:\n    url: http://h/\n" \
			"    headers:\n"
#define LIM_HEADER	"      X-H#: v\n"
#define LIM_ARGV	"checks:\n- name: a\n  exec:\n    command: [/bin/x"
#define LIM_CHECK	"- {name: c#, exec: {command: [x]}}\n"

/* bounded input: every limit is an error, not a crash */
static void
test_limits(void **state)
{
	/* one past a limit: head, n x item, tail; the error */
	static const struct {
		const char	*head;
		const char	*item;
		size_t		 n;
		const char	*tail;
		unsigned	 line;
		unsigned	 col;
		const char	*want;
	} over[] = {
		{ "listen: \"", "x", 4097, "\"\n", 1, 9,
		  "string longer than 4096 bytes" },
		/* at the 65th header */
		{ LIM_HEADERS, LIM_HEADER, 65, "", 6 + 64, 7,
		  "http.headers: more than 64 headers" },
		{ LIM_ARGV, ", a", 64, "]\n", 4, 14,
		  "exec.command: give the program and at most 63 arguments" },
		{ "checks:\n", LIM_CHECK, CFG_MAX_CHECKS + 1, "",
		  2 + CFG_MAX_CHECKS, 3, "checks: more than 1024 checks" },
		{ LIM_HEADERS, LIM_HEADER, 129, "", 6 + 128, 7,
		  "more than 128 keys in one mapping" },
	};
	struct cfg_diags dg;
	struct config *cf;
	char *s;
	size_t n, i;

	(void)state;
	/* nesting */
	expect_error("listen: [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]\n", 1,
	    24, "nesting deeper than 16 levels");

	for (i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
		s = repeated(over[i].head, over[i].item, over[i].n,
		    over[i].tail);
		expect_error(s, over[i].line, over[i].col, over[i].want);
		free(s);
	}

	/* at the limit: 64 argv entries, CFG_MAX_CHECKS checks are fine */
	s = repeated(LIM_ARGV, ", a", 63, "]\n");
	cf = must_parse(s);
	assert_int_equal(cf->cf_checks[0].ck_exec.e_argc, 64);
	config_free(cf);
	free(s);
	s = repeated("checks:\n", LIM_CHECK, CFG_MAX_CHECKS, "");
	cf = must_parse(s);
	assert_int_equal(cf->cf_nchecks, CFG_MAX_CHECKS);
	config_free(cf);
	free(s);

	/* more than a MiB */
	n = CFG_MAX_FILE + 1;
	s = malloc(n);
	assert_non_null(s);
	memset(s, '#', n);
	cfg_diags_init(&dg);
	assert_int_equal(config_parse("big.yaml", s, n, &cf, &dg), -1);
	assert_int_equal(dg.dg_n, 1);
	assert_int_equal(dg.dg_v[0].d_line, 0);
	assert_non_null(strstr(dg.dg_v[0].d_msg, "larger than 1048576 bytes"));
	cfg_diags_free(&dg);
	free(s);

	/* a flood of mistakes is cut short */
	s = repeated("checks:\n", "- {name: c#, tcp: {host: h, port: 0}}\n",
	    200, "");
	assert_int_equal(parse(s, &cf, &dg), -1);
	assert_int_equal(dg.dg_n, CFG_MAX_DIAGS + 1);
	assert_int_equal(dg.dg_nerrors, CFG_MAX_DIAGS + 1);
	assert_non_null(strstr(dg.dg_v[CFG_MAX_DIAGS].d_msg, "too many"));
	cfg_diags_free(&dg);
	free(s);
}

static void
test_env_expansion(void **state)
{
	struct config *cf;
	const struct cfg_http *h;

	(void)state;
	setenv("NDT_T_TOKEN", "t0k$n", 1);
	setenv("NDT_T_HOST", "127.0.0.1", 1);
	setenv("NDT_T_PORT", "5432", 1);
	setenv("NDT_T_IVAL", "3s", 1);
	cf = must_parse(
	    "checks:\n"
	    "- name: a\n"
	    "  http:\n"
	    "    url: \"http://${NDT_T_HOST}:8080/h\"\n"
	    "    headers:\n"
	    "      Authorization: \"Bearer ${NDT_T_TOKEN}\"\n"
	    "      X-Plain: \"cost $$5, $x\"\n"
	    "  interval: ${NDT_T_IVAL}\n"
	    "- name: b\n"
	    "  tcp: {host: localhost, port: \"${NDT_T_PORT}\"}\n");
	h = &cf->cf_checks[0].ck_http;
	assert_string_equal(h->h_url, "http://127.0.0.1:8080/h");
	assert_int_equal(h->h_nheaders, 2);
	assert_string_equal(h->h_headers[0].kv_value, "Bearer t0k$n");
	assert_int_equal(h->h_headers[0].kv_secret, 1);
	assert_string_equal(h->h_headers[1].kv_value, "cost $5, $x");
	assert_int_equal(h->h_headers[1].kv_secret, 0);
	assert_int_equal(cf->cf_checks[0].ck_interval_ms, 3000);
	assert_int_equal(cf->cf_checks[1].ck_tcp.t_port, 5432);
	config_free(cf);
	unsetenv("NDT_T_TOKEN");
	unsetenv("NDT_T_HOST");
	unsetenv("NDT_T_PORT");
	unsetenv("NDT_T_IVAL");

	/* keys are never expanded: "${X}" is not a header name */
	expect_error("checks:\n- name: a\n  http:\n    url: http://h/\n"
	    "    headers: {\"${NDT_T_HOST}\": x}\n", 5, 15,
	    "invalid header name '${NDT_T_HOST}'");
}

static void
test_env_overrides(void **state)
{
	struct cfg_diags dg;
	struct config *cf;
	char *s;

	(void)state;
	/* APP_BIND_ADDRESS replaces listen, even an invalid one */
	setenv("APP_BIND_ADDRESS", "127.0.0.1:4000", 1);
	cf = must_parse("listen: nonsense\n");
	assert_string_equal(cf->cf_listen, "127.0.0.1:4000");
	assert_string_equal(cf->cf_listen_host, "127.0.0.1");
	assert_int_equal(cf->cf_listen_port, 4000);
	config_free(cf);
	/* the embedded default too */
	cfg_diags_init(&dg);
	assert_int_equal(config_load(NULL, &cf, &dg), 0);
	assert_int_equal(cf->cf_listen_port, 4000);
	config_free(cf);
	cfg_diags_free(&dg);

	setenv("APP_BIND_ADDRESS", "[::]:8081", 1);
	cf = must_parse("{}");
	assert_string_equal(cf->cf_listen_host, "::");
	assert_int_equal(cf->cf_listen_port, 8081);
	config_free(cf);

	setenv("APP_BIND_ADDRESS", "bogus", 1);
	assert_int_equal(parse("listen: 0.0.0.0:3000\n", &cf, &dg), -1);
	assert_null(cf);
	assert_int_equal(dg.dg_n, 1);
	assert_string_equal(dg.dg_v[0].d_file, "APP_BIND_ADDRESS");
	assert_int_equal(dg.dg_v[0].d_line, 0);
	s = diags_str(&dg);
	assert_string_equal(s, "APP_BIND_ADDRESS: error: invalid listen "
	    "address 'bogus': expected IPv4:port or [IPv6]:port, like "
	    "0.0.0.0:3000 or [::]:3000\n");
	free(s);
	cfg_diags_free(&dg);

	/* empty = unset */
	setenv("APP_BIND_ADDRESS", "", 1);
	cf = must_parse("listen: 0.0.0.0:3001\n");
	assert_int_equal(cf->cf_listen_port, 3001);
	config_free(cf);
	unsetenv("APP_BIND_ADDRESS");

	/* APP_SHUTDOWN_TIMEOUT: seconds, or a duration */
	setenv("APP_SHUTDOWN_TIMEOUT", "45", 1);
	cf = must_parse("drain: {shutdown_timeout: 10s}\n");
	assert_int_equal(cf->cf_drain.d_shutdown_timeout_ms, 45000);
	config_free(cf);
	setenv("APP_SHUTDOWN_TIMEOUT", "1m30s", 1);
	cf = must_parse("{}");
	assert_int_equal(cf->cf_drain.d_shutdown_timeout_ms, 90000);
	config_free(cf);
	setenv("APP_SHUTDOWN_TIMEOUT", "0", 1);
	cf = must_parse("{}");
	assert_int_equal(cf->cf_drain.d_shutdown_timeout_ms, 0);
	config_free(cf);

	setenv("APP_SHUTDOWN_TIMEOUT", "soon", 1);
	assert_int_equal(parse("{}", &cf, &dg), -1);
	assert_int_equal(dg.dg_n, 1);
	assert_string_equal(dg.dg_v[0].d_file, "APP_SHUTDOWN_TIMEOUT");
	assert_int_equal(dg.dg_v[0].d_line, 0);
	assert_non_null(strstr(dg.dg_v[0].d_msg, "expected seconds like 30"));
	cfg_diags_free(&dg);
	setenv("APP_SHUTDOWN_TIMEOUT", "90000", 1);
	assert_int_equal(parse("{}", &cf, &dg), -1);
	assert_non_null(strstr(dg.dg_v[0].d_msg, "longer than 24h"));
	cfg_diags_free(&dg);
	setenv("APP_SHUTDOWN_TIMEOUT", "99999999999999999999", 1);
	assert_int_equal(parse("{}", &cf, &dg), -1);
	cfg_diags_free(&dg);

	/* applied before the budget check: 5 + 20 + 30 fits 60, 5 + 20 + 40
	 * does not */
	unsetenv("APP_SHUTDOWN_TIMEOUT");
	config_free(must_parse("drain: {grace_period: 60s}\n"));
	setenv("APP_SHUTDOWN_TIMEOUT", "40", 1);
	expect_error("drain: {grace_period: 60s}\n", 1, 23, "drain budget 1m5s "
	    "(delay 5s + max_wait 20s + shutdown_timeout 40s from "
	    "APP_SHUTDOWN_TIMEOUT) exceeds grace_period 1m");
	unsetenv("APP_SHUTDOWN_TIMEOUT");
}

static void
test_budget(void **state)
{
	struct config *cf;

	(void)state;
	/* fits exactly */
	config_free(must_parse("drain: {grace_period: 55s}\n"));
	/* max_wait only counts when waiting for connections */
	config_free(must_parse("drain:\n  wait_for_connections: false\n"
	    "  grace_period: 40s\n"));
	expect_error("drain:\n  wait_for_connections: true\n"
	    "  grace_period: 40s\n", 3, 17, "drain budget 55s (delay 5s + "
	    "max_wait 20s + shutdown_timeout 30s) exceeds grace_period 40s");
	expect_error("drain:\n  wait_for_connections: false\n"
	    "  shutdown_timeout: 40s\n  grace_period: 40s\n", 4, 17,
	    "drain budget 45s (delay 5s + shutdown_timeout 40s) exceeds "
	    "grace_period 40s; set terminationGracePeriodSeconds \xe2\x89\xa5 45 "
	    "and grace_period: 45s");
	/* rounded up to whole seconds */
	expect_error("drain:\n  delay: 1.5s\n  grace_period: 50s\n", 3, 17,
	    "drain budget 51.5s (delay 1.5s + max_wait 20s + shutdown_timeout "
	    "30s) exceeds grace_period 50s; set terminationGracePeriodSeconds "
	    "\xe2\x89\xa5 52 and grace_period: 52s");
	/* 0 = not checked */
	cf = must_parse("drain: {max_wait: 1h, grace_period: 0s}\n");
	assert_int_equal(cf->cf_drain.d_grace_period_ms, 0);
	config_free(cf);
}

static void
test_live_warning(void **state)
{
	static const char *quiet[] = {
	    "checks:\n- name: a\n  tcp: {host: 127.0.0.1, port: 1}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  tcp: {host: 127.9.9.9, port: 1}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  tcp: {host: \"::1\", port: 1}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  http: {url: \"http://localhost:8080/\"}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  http: {url: \"http://[::1]:8080/\"}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  grpc: {address: \"127.0.0.1:9090\"}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  http: {url: \"http://app/\", unix_socket: "
	    "/run/a.sock}\n  affects: [live]\n",
	    "checks:\n- name: a\n  exec: {command: [/bin/check]}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  tcp: {host: postgres, port: 5432}\n"
	    "  affects: [ready, startup]\n",
	    /* not critical: it can never fail /live */
	    "checks:\n- name: a\n  tcp: {host: postgres, port: 5432}\n"
	    "  affects: [live]\n  critical: false\n",
	    "checks:\n- name: a\n  http: {url: \"https://api.example.com/\"}\n"
	    "  affects: [live, ready]\n  critical: false\n",
	    /* the pod itself, as ${POD_IP}, ${HOSTNAME} or their value */
	    "checks:\n- name: a\n  tcp: {host: \"${POD_IP}\", port: 8080}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  http: {url: \"http://${POD_IP}:8080/"
	    "healthz\"}\n  affects: [live]\n",
	    "checks:\n- name: a\n  grpc: {address: \"${POD_IP}:9090\"}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  tcp: {host: 10.1.2.3, port: 8080}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  http: {url: \"http://${HOSTNAME}:8080/\"}"
	    "\n  affects: [live]\n",
	    "checks:\n- name: a\n  tcp: {host: WEB-7D9F, port: 8080}\n"
	    "  affects: [live]\n",
	    /* loopback, every way */
	    "checks:\n- name: a\n  http: {url: \"http://127.0.0.1:8080/\"}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  grpc: {address: \"[::1]:9090\"}\n"
	    "  affects: [live]\n",
	    "checks:\n- name: a\n  grpc: {address: \"localhost:9090\"}\n"
	    "  affects: [live]\n",
	};
	static const struct {
		const char	*yaml;
		const char	*target;
	} loud[] = {
	    { "checks:\n- name: db\n  tcp: {host: postgres, port: 5432}\n"
	      "  affects: [live]\n", "postgres" },
	    { "checks:\n- name: db\n  http: {url: \"https://u:p@api.example.com:"
	      "443/x\"}\n  affects: [live]\n", "api.example.com" },
	    { "checks:\n- name: db\n  grpc: {address: \"[fd00::1]:9090\"}\n"
	      "  affects: [live]\n", "fd00::1" },
	    { "checks:\n- name: db\n  tcp: {host: 10.0.0.1, port: 5432}\n"
	      "  affects: [live]\n", "10.0.0.1" },
	    /* another pod's address, another variable */
	    { "checks:\n- name: db\n  tcp: {host: 10.1.2.4, port: 5432}\n"
	      "  affects: [live]\n  critical: true\n", "10.1.2.4" },
	    { "checks:\n- name: db\n  tcp: {host: \"${NDT_T_DB}\", port: 1}\n"
	      "  affects: [live]\n", "db.internal" },
	    { "checks:\n- name: db\n  http: {url: \"http://${NDT_T_DB}:80/\"}\n"
	      "  affects: [live]\n", "db.internal" },
	    { "checks:\n- name: db\n  tcp: {host: \"${POD_IP}x\", port: 1}\n"
	      "  affects: [live]\n", "10.1.2.3x" },
	};
	struct cfg_diags dg;
	struct config *cf;
	char want[512], *s;
	size_t i;

	(void)state;
	setenv("POD_IP", "10.1.2.3", 1);
	setenv("HOSTNAME", "web-7d9f", 1);
	setenv("NDT_T_DB", "db.internal", 1);
	for (i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		config_free(must_parse(quiet[i]));
	for (i = 0; i < sizeof(loud) / sizeof(loud[0]); i++) {
		/* a warning does not fail the load */
		assert_int_equal(parse(loud[i].yaml, &cf, &dg), 0);
		assert_non_null(cf);
		assert_int_equal(dg.dg_nerrors, 0);
		assert_int_equal(dg.dg_nwarnings, 1);
		s = diags_str(&dg);
		snprintf(want, sizeof(want), "t.yaml:4:12: warning: check 'db' "
		    "affects live but targets %s: a dependency outage would "
		    "restart the app (restart storm); use affects: [ready]\n",
		    loud[i].target);
		assert_string_equal(s, want);
		free(s);
		cfg_diags_free(&dg);
		config_free(cf);
	}
	unsetenv("POD_IP");
	unsetenv("HOSTNAME");
	unsetenv("NDT_T_DB");
}

/* what print (config_print, config_print_timeline) writes, malloc'd */
static char *
printed(void (*print)(const struct config *, FILE *),
    const struct config *cf)
{
	char *s = NULL;
	size_t n = 0;
	FILE *fp;

	fp = open_memstream(&s, &n);
	assert_non_null(fp);
	print(cf, fp);
	if (fclose(fp) != 0 || s == NULL)
		fail_msg("cannot capture the printed config");
	return s;
}

/* the printed config parses back with the same number of warnings, and
 * prints the same again; `what` names the config in a failure */
static void
assert_roundtrip(const char *what, const struct config *cf,
    size_t nwarnings)
{
	struct cfg_diags dg;
	struct config *again;
	char *a, *b, *ea;

	a = printed(config_print, cf);
	cfg_diags_init(&dg);
	if (config_parse("printed", a, strlen(a), &again, &dg) != 0) {
		ea = diags_str(&dg);
		fail_msg("%s: printed config does not parse:\n%s\n%s", what, a,
		    ea);
	}
	if (dg.dg_nerrors != 0 || dg.dg_nwarnings != nwarnings) {
		ea = diags_str(&dg);
		fail_msg("%s: printed config has diagnostics:\n%s\n%s", what, a,
		    ea);
	}
	b = printed(config_print, again);
	/* skip the first line: it names the file */
	if (strcmp(strchr(a, '\n'), strchr(b, '\n')) != 0)
		fail_msg("%s: printed again, it differs:\n%s\n---\n%s", what, a,
		    b);
	free(a);
	free(b);
	config_free(again);
	cfg_diags_free(&dg);
}

static const char full_yaml[] =
    "listen: \"[::]:3000\"\n"
    "log: {format: text, level: warn}\n"
    "server: {max_connections: 100, request_timeout: 2.5s}\n"
    "app: {port: 8080}\n"
    "drain:\n"
    "  delay: 1m30s\n"
    "  notify:\n"
    "    http:\n"
    "      url: http://127.0.0.1:8080/admin/drain\n"
    "      method: PUT\n"
    "      timeout: 250ms\n"
    "      headers: {X-Key: \"${NDT_T_SECRET}\"}\n"
    "  wait_for_connections: false\n"
    "  max_wait: 1h\n"
    "  shutdown_timeout: 10s\n"
    "  grace_period: 2m\n"
    "checks:\n"
    "  - name: app\n"
    "    http:\n"
    "      url: https://127.0.0.1:8443/h?a=1&b=$$2\n"
    "      method: POST\n"
    "      headers:\n"
    "        Authorization: \"Bearer ${NDT_T_SECRET}\"\n"
    "        X-Quote: \"say \\\"hi\\\"\\\\ \\t\"\n"
    "      body: '{\"a\": [1, 2]}'\n"
    "      expect: {status: [\"2xx\", 304], body_contains: \"\\\"ok\\\"\"}\n"
    "      max_body: 1024\n"
    "      follow_redirects: true\n"
    "      unix_socket: /run/app.sock\n"
    "      tls: {ca_file: " EXAMPLE_TLS_DIR "ca.pem, server_name: "
    "app.local, "
    "insecure_skip_verify: true}\n"
    "    affects: [live, startup]\n"
    "    critical: false\n"
    "    interval: 1.5s\n"
    "    timeout: 1.25s\n"
    "    rise: 5\n"
    "    fall: 7\n"
    "    initial_delay: 3s\n"
    "  - name: db\n"
    "    tcp: {host: \"::1\", port: 5432}\n"
    "  - name: inv\n"
    "    grpc:\n"
    "      address: \"[::1]:9090\"\n"
    "      service: shop.v1\n"
    "      authority: inv.local\n"
    "      tls: {cert_file: " EXAMPLE_TLS_DIR "client.pem, key_file: "
    EXAMPLE_TLS_DIR "client-key.pem}\n"
    "  - name: disk\n"
    "    exec: {command: [\"/bin/sh\", \"-c\", \"echo $$HOME 50%\", "
    "\"\xc3\xa9\"]}\n"
    "    affects: []\n";

static void
test_print_roundtrip(void **state)
{
	struct cfg_diags dg;
	struct config *cf;
	char path[512], *s;
	size_t i;

	(void)state;
	setenv("NDT_T_SECRET", "hunter2-$ecret", 1);
	s = with_tls(full_yaml, strlen(full_yaml));
	cf = must_parse(s);
	free(s);
	assert_string_equal(cf->cf_checks[0].ck_http.h_url,
	    "https://127.0.0.1:8443/h?a=1&b=$2");
	assert_string_equal(cf->cf_checks[3].ck_exec.e_argv[2],
	    "echo $HOME 50%");
	assert_int_equal(cf->cf_drain.d_notify.n_headers[0].kv_secret, 1);
	s = printed(config_print, cf);
	/* the secret never shows, the redaction does */
	assert_null(strstr(s, "hunter2"));
	assert_non_null(strstr(s, "\"Authorization\": \"<redacted>\""));
	assert_non_null(strstr(s, "\"X-Key\": \"<redacted>\""));
	/* non-secret values do; a '$' that cannot start "$$" or "${" is
	 * written as it is (test_template.c has the rest of the rule) */
	assert_non_null(strstr(s, "b=$2\""));
	assert_non_null(strstr(s, "interval: 1.5s\n"));
	assert_non_null(strstr(s, "timeout: 1.25s\n"));
	assert_non_null(strstr(s, "delay: 1m30s\n"));
	assert_non_null(strstr(s, "status: [\"200-299\", \"304\"]\n"));
	assert_non_null(strstr(s, "affects: [live, startup]\n"));
	assert_non_null(strstr(s, "affects: []\n"));
	assert_null(strstr(s, "notify:\n    http:\n      url: \"\""));
	free(s);

	/* parse the output back without the secret in the environment: no
	 * ${VAR} is left in it */
	unsetenv("NDT_T_SECRET");
	assert_roundtrip("full_yaml", cf, 0);
	config_free(cf);

	for (i = 0; i < NEXAMPLES; i++) {
		snprintf(path, sizeof(path), "%s/%s", CONFIG_EXAMPLES_DIR,
		    examples[i]);
		cfg_diags_init(&dg);
		assert_int_equal(load_example(path, &cf, &dg), 0);
		assert_roundtrip(path, cf, 0);
		config_free(cf);
		cfg_diags_free(&dg);
	}
	cfg_diags_init(&dg);
	assert_int_equal(config_load(NULL, &cf, &dg), 0);
	assert_roundtrip(CFG_EMBEDDED_NAME, cf, 0);
	s = printed(config_print, cf);
	assert_non_null(strstr(s, "checks: []\n"));
	assert_null(strstr(s, "notify"));
	free(s);
	config_free(cf);
	cfg_diags_free(&dg);
}

static void
test_timeline(void **state)
{
	struct cfg_diags dg;
	struct config *cf;
	char *s;

	(void)state;
	cfg_diags_init(&dg);
	assert_int_equal(config_load(CONFIG_EXAMPLES_DIR "/webapp.yaml", &cf,
	    &dg), 0);
	s = printed(config_print_timeline, cf);
	assert_string_equal(s,
	    "drain timeline (from preStop, or SIGTERM to the agent):\n"
	    "   0s       draining   /ready -> 503, the app keeps serving "
	    "(delay 5s)\n"
	    "   5s       quiescing  notify the app (POST "
	    "http://127.0.0.1:8080/admin/drain); wait for :8080 connections "
	    "-> 0 (max_wait 20s)\n"
	    "  \xe2\x89\xa4" "25s      drained    preStop returns; the kubelet "
	    "sends SIGTERM to the app\n"
	    "  \xe2\x89\xa4" "55s      exited     the app must have exited "
	    "(shutdown_timeout 30s)\n"
	    "grace_period 1m: fits (5s spare)\n");
	free(s);
	/* as if it did not fit */
	cf->cf_drain.d_grace_period_ms = 30000;
	s = printed(config_print_timeline, cf);
	assert_non_null(strstr(s, "grace_period 30s: does NOT fit, 25s short"));
	free(s);
	config_free(cf);
	cfg_diags_free(&dg);

	cf = must_parse("drain: {wait_for_connections: false}\n");
	s = printed(config_print_timeline, cf);
	assert_non_null(strstr(s, "no connection wait"));
	assert_non_null(strstr(s, "\xe2\x89\xa4" "5s "));
	assert_non_null(strstr(s, "\xe2\x89\xa4" "35s "));
	assert_non_null(strstr(s, "grace_period not set: set "
	    "drain.grace_period to the pod's terminationGracePeriodSeconds "
	    "(at least 35s)"));
	free(s);
	config_free(cf);
}

/*
 * drain.quiet: min_delay not written is min(1s, delay), so a short delay
 * written before it existed stays valid; the timeline shows the best and
 * the worst case, and the budget uses the worst.
 */
static void
test_quiet_timeline(void **state)
{
	struct config *cf;
	char *s;

	(void)state;
	cf = must_parse("drain: {delay: 400ms}\n");
	assert_int_equal(cf->cf_drain.d_min_delay_ms, 400);
	s = printed(config_print_timeline, cf);
	assert_null(strstr(s, "best case"));
	free(s);
	config_free(cf);

	cf = must_parse("app: {port: 8080}\ndrain: {delay: 10s, min_delay: "
	    "500ms, quiet: 700ms, max_wait: 5s, shutdown_timeout: 5s, "
	    "grace_period: 20s}\n");
	assert_int_equal(cf->cf_drain.d_quiet_ms, 700);
	assert_int_equal(cf->cf_drain.d_min_delay_ms, 500);
	s = printed(config_print_timeline, cf);
	assert_non_null(strstr(s, "   0s       draining   /ready -> 503, the "
	    "app keeps serving until :8080 has been quiet for 700ms (not "
	    "before min_delay 500ms, at most delay 10s)\n"));
	assert_non_null(strstr(s, "   700ms-10s quiescing  wait for :8080 "));
	assert_non_null(strstr(s, "best case:  drained at 700ms "));
	assert_non_null(strstr(s, "worst case: drained at 15s "));
	assert_non_null(strstr(s, "grace_period 20s: fits (0s spare)"));
	free(s);
	config_free(cf);
	/* idle_timeout: the connection wait says when it ends early */
	cf = must_parse("app: {port: 8080}\ndrain: {delay: 10s, min_delay: "
	    "500ms, quiet: 700ms, max_wait: 5s, idle_timeout: 700ms}\n");
	assert_int_equal(cf->cf_drain.d_idle_ms, 700);
	s = printed(config_print_timeline, cf);
	assert_non_null(strstr(s, "quiescing  wait for :8080 connections -> 0 "
	    "or all idle for 700ms (max_wait 5s)\n"));
	assert_non_null(strstr(s, "no connection left or all idle)"));
	free(s);
	config_free(cf);
	/* min_delay above quiet: the best case is min_delay */
	cf = must_parse("app: {port: 8080}\ndrain: {delay: 10s, min_delay: "
	    "2s, quiet: 700ms}\n");
	s = printed(config_print_timeline, cf);
	assert_non_null(strstr(s, "best case:  drained at 2s "));
	free(s);
	config_free(cf);
}

static void
test_reference(void **state)
{
	char *s = NULL, want[256];
	const struct cfg_opt *o;
	size_t n = 0, i;
	FILE *fp;

	(void)state;
	fp = open_memstream(&s, &n);
	config_print_reference(fp);
	fclose(fp);
	assert_true(strncmp(s, "| key | type | default | description |\n",
	    38) == 0);
	for (i = 0; i < cfg_nopts; i++) {
		o = &cfg_opts[i];
		snprintf(want, sizeof(want), "| `%s%s` |", o->o_scope ==
		    CS_CHECK ? "checks[]." : "", o->o_path);
		if (strstr(s, want) == NULL)
			fail_msg("reference lacks %s", want);
		assert_non_null(o->o_doc);
	}
	assert_non_null(strstr(s, "| `checks[].http.url` | string | required |"));
	assert_non_null(strstr(s, "| `drain.grace_period` | duration | `0s` |"));
	assert_non_null(strstr(s, "| `checks[].affects` | list of live, ready, "
	    "startup | `[ready]` |"));
	assert_non_null(strstr(s, "| `log.format` | json \\| text | `json` |"));
	/* a default computed from interval, and the schedule's jitter */
	assert_non_null(strstr(s, "| `checks[].timeout` | duration | "
	    "`min(1s, interval/2)` |"));
	assert_non_null(strstr(s, "\xc2\xb1" "10 % at random"));
	assert_non_null(strstr(s, "random offset below min(interval, 1s)"));
	/* $$ is a literal $ */
	assert_non_null(strstr(s, "$$ is a literal $"));
	free(s);
}

static void
test_lookup_and_load(void **state)
{
	struct cfg_diags dg;
	struct config *cf = (struct config *)1;
	const char *p;
	char *s;

	(void)state;
	assert_string_equal(config_lookup("x.yaml"), "x.yaml");
	setenv("NODOWNTIME_CONFIG", "/tmp/from-env.yaml", 1);
	assert_string_equal(config_lookup("x.yaml"), "x.yaml");
	assert_string_equal(config_lookup(NULL), "/tmp/from-env.yaml");
	setenv("NODOWNTIME_CONFIG", "", 1);
	p = config_lookup(NULL);
	if (access(CFG_DEFAULT_PATH, F_OK) == 0)
		assert_string_equal(p, CFG_DEFAULT_PATH);
	else
		assert_null(p);
	unsetenv("NODOWNTIME_CONFIG");

	cfg_diags_init(&dg);
	assert_int_equal(config_load("/nonexistent/n.yaml", &cf, &dg), -1);
	assert_null(cf);
	assert_int_equal(dg.dg_n, 1);
	assert_int_equal(dg.dg_nerrors, 1);
	s = diags_str(&dg);
	assert_string_equal(s, "/nonexistent/n.yaml: error: cannot read: No "
	    "such file or directory\n");
	free(s);
	cfg_diags_free(&dg);

	cfg_diags_init(&dg);
	assert_int_equal(config_load(CONFIG_EXAMPLES_DIR, &cf, &dg), -1);
	assert_int_equal(dg.dg_n, 1);
	assert_non_null(strstr(dg.dg_v[0].d_msg, "cannot read: Is a directory"));
	cfg_diags_free(&dg);

	/* diagnostics accumulate over loads; each load counts its own */
	cfg_diags_init(&dg);
	assert_int_equal(config_parse("a.yaml", "x: 1\n", 5, &cf, &dg), -1);
	assert_int_equal(config_parse("b.yaml", "{}", 2, &cf, &dg), 0);
	config_free(cf);
	assert_int_equal(dg.dg_n, 1);
	assert_int_equal(config_parse("c.yaml", "y: 1\n", 5, &cf, &dg), -1);
	s = diags_str(&dg);
	assert_non_null(strstr(s, "a.yaml:1:1: error: unknown key 'x'"));
	assert_non_null(strstr(s, "c.yaml:1:1: error: unknown key 'y'"));
	free(s);
	cfg_diags_free(&dg);

	assert_string_equal(check_kind_str(CHECK_HTTP), "http");
	assert_string_equal(check_kind_str(CHECK_TCP), "tcp");
	assert_string_equal(check_kind_str(CHECK_GRPC), "grpc");
	assert_string_equal(check_kind_str(CHECK_EXEC), "exec");
	assert_string_equal(check_kind_str(CHECK_KIND_NONE), "none");
	config_free(NULL);
	cfg_diags_free(NULL);
}

/*
 * Any input is consistent: it loads without errors, then prints and loads
 * again (assert_roundtrip), or it fails with errors and no config. `what`
 * names the input in a failure.
 */
static void
assert_consistent(const char *what, const char *data, size_t len)
{
	struct cfg_diags dg;
	struct config *cf;

	cfg_diags_init(&dg);
	if (config_parse("m", data, len, &cf, &dg) == 0) {
		if (dg.dg_nerrors != 0)
			fail_msg("%s: loaded, with %zu errors", what,
			    dg.dg_nerrors);
		assert_roundtrip(what, cf, dg.dg_nwarnings);
		config_free(cf);
	} else if (cf != NULL || dg.dg_nerrors == 0)
		fail_msg("%s: failed with %zu errors and %s config", what,
		    dg.dg_nerrors, cf != NULL ? "a" : "no");
	cfg_diags_free(&dg);
}

/*
 * A poor man's fuzz run (the libFuzzer target does it properly): every
 * prefix of an example and single-byte mutations must neither crash nor
 * leak (ASan), be consistent, and whatever loads must print and load again.
 */
static void
test_mutations(void **state)
{
	static const char subst[] = { ':', '-', '[', '{', '\n', '"', '&', '*',
	    '\0', '$', ' ', '\t', '#', '!', '\xff' };
	char *data, *buf, what[64];
	size_t len, i, j;
	FILE *fp;
	long sz;

	(void)state;
	fp = fopen(CONFIG_EXAMPLES_DIR "/webapp.yaml", "r");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	sz = ftell(fp);
	rewind(fp);
	assert_true(sz > 0);
	len = (size_t)sz;
	data = malloc(len);
	buf = malloc(len);
	assert_non_null(data);
	assert_non_null(buf);
	assert_int_equal(fread(data, 1, len, fp), len);
	fclose(fp);

	for (i = 0; i <= len; i += 3) {
		snprintf(what, sizeof(what), "webapp.yaml's first %zu bytes",
		    i);
		assert_consistent(what, data, i);
	}
	for (i = 0; i < len; i += 5)
		for (j = 0; j < sizeof(subst); j++) {
			memcpy(buf, data, len);
			buf[i] = subst[j];
			snprintf(what, sizeof(what), "webapp.yaml, byte %zu "
			    "made 0x%02x", i, (unsigned char)subst[j]);
			assert_consistent(what, buf, len);
		}
	free(data);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_examples_load, setup),
		cmocka_unit_test_setup(test_example_webapp, setup),
		cmocka_unit_test_setup(test_embedded_default, setup),
		cmocka_unit_test_setup(test_check_defaults, setup),
		cmocka_unit_test_setup(test_empty_file, setup),
		cmocka_unit_test_setup(test_timeout_default, setup),
		cmocka_unit_test_setup(test_tls_files, setup),
		cmocka_unit_test_setup(test_values, setup),
		cmocka_unit_test_setup(test_errors, setup),
		cmocka_unit_test_setup(test_three_mistakes, setup),
		cmocka_unit_test_setup(test_name_length, setup),
		cmocka_unit_test_setup(test_limits, setup),
		cmocka_unit_test_setup(test_env_expansion, setup),
		cmocka_unit_test_setup(test_env_overrides, setup),
		cmocka_unit_test_setup(test_budget, setup),
		cmocka_unit_test_setup(test_live_warning, setup),
		cmocka_unit_test_setup(test_print_roundtrip, setup),
		cmocka_unit_test_setup(test_timeline, setup),
		cmocka_unit_test_setup(test_quiet_timeline, setup),
		cmocka_unit_test_setup(test_reference, setup),
		cmocka_unit_test_setup(test_lookup_and_load, setup),
		cmocka_unit_test_setup(test_mutations, setup),
		cmocka_unit_test_setup(test_url_error_as_written, setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
