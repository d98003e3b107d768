/*
 * main.c - nodowntime: command line, start-up and shutdown of the agent.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../config/config.h"
#include "../probes/probe.h"
#include "agent.h"
#include "agentcheck.h"
#include "client.h"
#include "control.h"
#include "drain.h"
#include "health.h"
#include "hookinstall.h"
#include "kube.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "reload.h"
#include "server.h"
#include "util.h"

#define EXIT_RUNTIME	1
#define EXIT_USAGE	2


static const char usage_text[] =
"usage: nodowntime [run] [-c FILE]        run the agent (default command)\n"
"       nodowntime check-config [-c FILE] validate, print the effective\n"
"                                         config and the drain timeline\n"
"       nodowntime check-config --reference\n"
"                                         print every config key (Markdown)\n"
"       nodowntime prestop [--socket P] [--timeout D] [--fallback-delay D]\n"
"                                         ask the agent to drain; block until\n"
"                                         drained (the preStop hook)\n"
"       nodowntime wait [--socket P] [--timeout D]\n"
"                                         block until the agent is ready\n"
"       nodowntime status [--socket P] [--json]\n"
"                                         print checks and drain phase\n"
"       nodowntime resume [--socket P]     back to serving after a drain\n"
"       nodowntime wrap [--socket P] [--wait-timeout D] [--no-wait] -- CMD...\n"
"                                         the app's entrypoint: wait for its\n"
"                                         dependencies, run CMD, then tell\n"
"                                         the agent to quit\n"
"       nodowntime --version | --help\n"
"\n"
"Config: -c FILE, else $NODOWNTIME_CONFIG, else " CFG_DEFAULT_PATH ",\n"
"else the embedded default (listen 0.0.0.0:3000, no checks).\n"
"Environment: APP_BIND_ADDRESS overrides listen, APP_SHUTDOWN_TIMEOUT\n"
"(seconds) overrides drain.shutdown_timeout.\n"
"Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.\n";

static void
usage(FILE *f)
{
	fputs(usage_text, f);
}

/* -c FILE for run and check-config; returns the path (may be NULL) */
static int
parse_config_flag(int argc, char **argv, const char **path)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "reference", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*path = NULL;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*path = optarg;
			break;
		case 'R':
			/* the README's config reference, from the schema */
			if (strcmp(argv[0], "check-config") != 0) {
				usage(stderr);
				return -1;
			}
			config_print_reference(stdout);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nodowntime %s: unexpected argument '%s'\n",
		    argv[0], argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

/*
 * Load and validate; diagnostics to stderr. 0, or the exit code: 2 for a
 * configuration error, 1 when memory ran out (not the file's fault).
 */
static int
load_config(const char *cli_path, struct config **cfg)
{
	struct cfg_diags diags;
	const char *path;
	int rv;

	cfg_diags_init(&diags);
	path = config_lookup(cli_path);
	rv = config_load(path, cfg, &diags);
	cfg_diags_print(&diags, stderr);
	if (rv == -1 && diags.dg_nerrors > 0)
		fprintf(stderr, "%s: %zu error%s\n",
		    path ? path : CFG_EMBEDDED_NAME, diags.dg_nerrors,
		    diags.dg_nerrors == 1 ? "" : "s");
	/* memory ran out where no diagnostic could be stored: say so */
	if (rv == -1 && diags.dg_oom &&
	    diags.dg_nerrors + diags.dg_nwarnings == diags.dg_n)
		log_emergency("out of memory while loading the configuration",
		    ENOMEM);
	if (rv == -1)
		rv = diags.dg_oom ? EXIT_RUNTIME : EXIT_USAGE;
	cfg_diags_free(&diags);
	return rv;
}

static int
cmd_check_config(int argc, char **argv)
{
	struct config *cfg = NULL;
	const char *path;
	int rv;

	if (parse_config_flag(argc, argv, &path) == -1)
		return EXIT_USAGE;
	if ((rv = load_config(path, &cfg)) != 0)
		return rv;
	printf("# nodowntime %s: %s is valid\n", NDT_VERSION, cfg->cf_file);
	config_print(cfg, stdout);
	printf("\n");
	config_print_timeline(cfg, stdout);
	config_free(cfg);
	return 0;
}

static void
on_sigterm(const struct signalfd_siginfo *si, void *arg)
{
	struct agent *ag = arg;
	char pid[16];

	snprintf(pid, sizeof(pid), "%u", si->ssi_pid);
	if (++ag->ag_sigterms > 1) {
		log_event(LOG_WARN, "second SIGTERM: exiting now",
		    "sender_pid", pid, NULL);
		loop_stop(ag->ag_loop);
		return;
	}
	log_event(LOG_INFO, "SIGTERM received", "sender_pid", pid, NULL);
	if (drain_sigterm(ag->ag_drain))
		loop_stop(ag->ag_loop);
}

/* the HTTP server's accepted connections: the adaptive drain's own share
 * of the pod's passive opens */
static uint64_t
agent_accepted(void *arg)
{
	const struct metrics *m = arg;

	return m->m_http_conns_accepted + m->m_agent_conns_accepted;
}

static void
on_sigint(const struct signalfd_siginfo *si, void *arg)
{
	struct agent *ag = arg;

	(void)si;
	log_event(LOG_INFO, "SIGINT received: exiting now", NULL);
	loop_stop(ag->ag_loop);
}

static void
on_sighup(const struct signalfd_siginfo *si, void *arg)
{
	char pid[16];

	snprintf(pid, sizeof(pid), "%u", si->ssi_pid);
	log_event(LOG_INFO, "SIGHUP received: reloading the config",
	    "sender_pid", pid, NULL);
	reload_apply(arg, "SIGHUP");
}

static void
on_file_change(void *arg)
{
	reload_apply(arg, "file change");
}

/*
 * Every connection, check and control client is a file descriptor: take
 * the hard limit (as nginx, Go and systemd services do), and say so when
 * server.max_connections cannot fit in it.
 */
static void
raise_fd_limit(const struct config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((rlim_t)cfg->cf_max_connections + cfg->cf_nchecks + 64 >
	    rl.rlim_cur) {
		char lim[24], want[24];

		snprintf(lim, sizeof(lim), "%llu",
		    (unsigned long long)rl.rlim_cur);
		snprintf(want, sizeof(want), "%llu", (unsigned long long)
		    (cfg->cf_max_connections + cfg->cf_nchecks + 64));
		log_event(LOG_WARN, "open file limit below what the config "
		    "may use: new connections and checks fail with EMFILE "
		    "past it", "limit", lim, "wanted", want, NULL);
	}
}

static void
agent_free(struct agent *ag)
{
	reload_free(ag->ag_reload);
	hook_install_stop();
	agentcheck_free(ag->ag_agentcheck);
	control_free(ag->ag_control);
	kube_free(ag->ag_kube);
	drain_free(ag->ag_drain);
	probes_free(ag->ag_probes);
	server_free(ag->ag_server);
	health_free(ag->ag_health);
	loop_free(ag->ag_loop);
}

/*
 * Each start-up step that can fail, for the last word when one fails
 * without having logged why (memory ran out inside a library, say).
 */
#define RUN_STEP(ag, what)	((ag)->ag_step = (what))

static int
cmd_run(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct agent ag;
	const char *path;
	int rv, err;
	unsigned long said;
	uint64_t t0 = mono_ms();
	char nchecks[16], ms[24];

	memset(&ag, 0, sizeof(ag));
	if (parse_config_flag(argc, argv, &path) == -1)
		return EXIT_USAGE;
	if ((rv = load_config(path, &cfg)) != 0)
		return rv;
	said = log_error_count();
	ag.ag_path = config_lookup(path);
	ag.ag_cfg = cfg;
	log_setup(cfg->cf_log_format, cfg->cf_log_level);
	raise_fd_limit(cfg);
	signal(SIGPIPE, SIG_IGN);
	RUN_STEP(&ag, "start-up failed: curl_global_init");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_emergency(ag.ag_step, 0);
		config_free(cfg);
		return EXIT_RUNTIME;
	}

	ag.ag_exit = EXIT_RUNTIME;
	RUN_STEP(&ag, "start-up failed: the event loop");
	if ((ag.ag_loop = loop_new()) == NULL)
		goto out;
	RUN_STEP(&ag, "start-up failed: the health state");
	if ((ag.ag_health = health_new(cfg)) == NULL)
		goto out;
	metrics_init(&ag.ag_metrics, ag.ag_health, ag.ag_loop);
	RUN_STEP(&ag, "start-up failed: signal handling");
	if (loop_signal(ag.ag_loop, SIGTERM, on_sigterm, &ag) == -1 ||
	    loop_signal(ag.ag_loop, SIGINT, on_sigint, &ag) == -1 ||
	    loop_signal(ag.ag_loop, SIGHUP, on_sighup, &ag) == -1)
		goto out;
	RUN_STEP(&ag, "start-up failed: the HTTP server");
	if ((ag.ag_server = server_new(ag.ag_loop, cfg, ag.ag_health,
	    &ag.ag_metrics)) == NULL)
		goto out;
	RUN_STEP(&ag, "start-up failed: the agent-check port");
	ag.ag_agentcheck = agentcheck_new(ag.ag_loop, cfg, ag.ag_health,
	    &ag.ag_metrics, &rv);
	if (rv)
		goto out;
	RUN_STEP(&ag, "start-up failed: the checks");
	if ((ag.ag_probes = probes_new(ag.ag_loop, cfg, ag.ag_health)) == NULL)
		goto out;
	/* the control socket first: it refuses to start when another live
	 * agent answers there, before the state file is touched */
	RUN_STEP(&ag, "start-up failed: the drain");
	if ((ag.ag_drain = drain_new(ag.ag_loop, cfg, ag.ag_health,
	    ag.ag_probes)) == NULL)
		goto out;
	drain_set_accepted(ag.ag_drain, agent_accepted, &ag.ag_metrics);
	RUN_STEP(&ag, "start-up failed: the control socket");
	if ((ag.ag_control = control_new(ag.ag_loop, cfg, ag.ag_drain,
	    ag.ag_health)) == NULL)
		goto out;
	RUN_STEP(&ag, "start-up failed: the drain state file");
	if (drain_start_up(ag.ag_drain) == -1)
		goto out;
	RUN_STEP(&ag, "start-up failed: the Kubernetes client");
	if ((ag.ag_kube = kube_new(ag.ag_loop, cfg, ag.ag_health,
	    ag.ag_drain)) == NULL)
		goto out;
	if ((rv = kube_start(ag.ag_kube)) != 0) {
		if (rv == 1)
			ag.ag_exit = EXIT_USAGE;
		goto out;
	}
	control_set_kube(ag.ag_control, ag.ag_kube);
	ag.ag_metrics.m_kube = ag.ag_kube;
	/* until the hook is copied /healthz fails (the sidecar's startup
	 * probe holds the app back); the copy is retried from the loop */
	if (hook_install_start(ag.ag_loop, cfg) == -1)
		goto out;
	ag.ag_metrics.m_probes = ag.ag_probes;
	ag.ag_metrics.m_drain = ag.ag_drain;
	RUN_STEP(&ag, "start-up failed: starting the checks");
	if (probes_start(ag.ag_probes) == -1)
		goto out;
	/* a ConfigMap update (or an edit) reloads by itself */
	if (ag.ag_path != NULL)
		ag.ag_reload = reload_new(ag.ag_loop, ag.ag_path,
		    on_file_change, &ag);

	snprintf(nchecks, sizeof(nchecks), "%zu", cfg->cf_nchecks);
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(mono_ms() - t0));
	log_event(LOG_INFO, "nodowntime started", "version", NDT_VERSION,
	    "config", cfg->cf_file, "listen", cfg->cf_listen, "checks",
	    nchecks, "startup_ms", ms, NULL);
	RUN_STEP(&ag, "the event loop failed");
	said = log_error_count();
	if (loop_run(ag.ag_loop) == 0)
		ag.ag_exit = 0;
	log_event(LOG_INFO, "nodowntime exiting", NULL);
out:
	err = errno;
	/* every exit with a failure says why, even when the failing step
	 * could not log it (formatting or memory gave out) */
	if (ag.ag_exit != 0 && log_error_count() == said)
		log_emergency(ag.ag_step, err);
	agent_free(&ag);
	curl_global_cleanup();
	config_free(ag.ag_cfg);	/* a reload may have swapped it */
	return ag.ag_exit;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "run";

	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 ||
	    strcmp(cmd, "version") == 0) {
		printf("nodowntime %s\n", NDT_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	/* "nodowntime -c FILE" means "nodowntime run -c FILE" */
	if (argc < 2 || cmd[0] == '-')
		return cmd_run(argc, argv);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(argc - 1, argv + 1);
	if (client_is_command(cmd))
		return client_main(argc - 1, argv + 1);
	fprintf(stderr, "nodowntime: unknown command '%s'\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
