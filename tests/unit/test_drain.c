/*
 * test_drain.c - the drain state machine on a real loop, without sockets:
 * start-up from the state file (none, corrupt, serving, mid-drain, past the
 * delay, drained), the remaining delay after a restart, resume, SIGTERM with
 * app.port 0, the adaptive delay (drain.quiet) on a real socket, and the
 * hook install copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "agent/drain.h"
#include "agent/health.h"
#include "agent/hookinstall.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "agent/statefile.h"
#include "agent/util.h"
#include "config/config.h"

struct fx {
	char		 dir[64];
	char		 state[128];
	struct config	 cfg;
	struct loop	*loop;
	struct health	*health;
	struct drain	*drain;
	uint64_t	 t0;
	uint64_t	 drained_at;
	int		 nphases;
	enum drain_phase phases[8];
};

static void
on_phase(void *arg, enum drain_phase p)
{
	struct fx *f = arg;

	if (f->nphases < 8)
		f->phases[f->nphases++] = p;
	if (p == DRAIN_DRAINED)
		f->drained_at = mono_ms();
}

static void
stop_cb(void *arg)
{
	loop_stop(arg);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ndt-drain-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	f->cfg.cf_state_file = f->state;
	f->cfg.cf_app_port = 0;
	f->cfg.cf_drain.d_delay_ms = 1000;
	f->cfg.cf_drain.d_wait_for_connections = 1;
	f->cfg.cf_drain.d_max_wait_ms = 2000;
	f->cfg.cf_drain.d_shutdown_timeout_ms = 3000;
	f->loop = loop_new();
	f->health = health_new(&f->cfg);
	f->drain = drain_new(f->loop, &f->cfg, f->health, NULL);
	if (f->loop == NULL || f->health == NULL || f->drain == NULL)
		return -1;
	drain_set_listener(f->drain, on_phase, f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	drain_free(f->drain);
	health_free(f->health);
	loop_free(f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* run the loop for ms (or until drain stops it) */
static void
run_for(struct fx *f, uint64_t ms)
{
	struct loop_timer *t = loop_timer_new(f->loop, stop_cb, f->loop);

	assert_non_null(t);
	loop_timer_in(f->loop, t, ms);
	assert_int_equal(loop_run(f->loop), 0);
	loop_timer_free(f->loop, t);
}

static void
write_state(struct fx *f, enum drain_phase p, int64_t ago_ms,
    int64_t phase_ago_ms)
{
	struct statefile sf;
	int64_t now = wall_ms();

	memset(&sf, 0, sizeof(sf));
	sf.sf_phase = p;
	sf.sf_drain_start = now - ago_ms;
	sf.sf_phase_start = now - phase_ago_ms;
	sf.sf_written = now;
	sf.sf_delay_ms = f->cfg.cf_drain.d_delay_ms;
	assert_int_equal(statefile_write(f->state, &sf), 0);
}

static enum drain_phase
file_phase(struct fx *f)
{
	struct statefile sf;
	char err[128];

	assert_int_equal(statefile_read(f->state, &sf, err, sizeof(err)), 0);
	return sf.sf_phase;
}

static void
test_fresh_start_records_delay(void **state)
{
	struct fx *f = *state;
	struct statefile sf;
	char err[128];

	assert_int_equal(drain_start_up(f->drain), 0);
	assert_int_equal(drain_phase(f->drain), DRAIN_SERVING);
	assert_int_equal(statefile_read(f->state, &sf, err, sizeof(err)), 0);
	assert_int_equal(sf.sf_phase, DRAIN_SERVING);
	assert_int_equal(sf.sf_delay_ms, 1000);
}

static void
test_corrupt_state_starts_serving(void **state)
{
	struct fx *f = *state;
	char bad[160];
	FILE *fp;

	assert_non_null(fp = fopen(f->state, "w"));
	fputs("nodowntime-state 1\nphase draining\n", fp);	/* no start */
	fclose(fp);
	assert_int_equal(drain_start_up(f->drain), 0);
	assert_int_equal(drain_phase(f->drain), DRAIN_SERVING);
	assert_int_equal(file_phase(f), DRAIN_SERVING);
	snprintf(bad, sizeof(bad), "%s.corrupt", f->state);
	assert_int_equal(access(bad, F_OK), 0);
	assert_true(f->health->h_ready);
}

/* killed 700 ms into a 2 s delay: 503 at once, drained ~1300 ms later */
static void
test_resume_remaining_delay(void **state)
{
	struct fx *f = *state;
	uint64_t t0, t1;

	/*
	 * The deadline is anchored at the file's stamp, taken between t0 and
	 * t1: write_state()'s fsyncs can take 100 ms on a busy disk. The
	 * remaining 1300 ms are far more than that, so a resume that ignored
	 * them (drained at once, ~t1) still fails the lower bound.
	 */
	f->cfg.cf_drain.d_delay_ms = 2000;
	t0 = mono_ms();
	write_state(f, DRAIN_DRAINING, 700, 700);
	t1 = mono_ms();
	assert_int_equal(drain_start_up(f->drain), 0);
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINING);
	assert_false(f->health->h_ready);
	assert_true(f->health->h_live);
	run_for(f, 2000);
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINED);
	assert_true(f->drained_at - t0 >= 1250);
	assert_true(f->drained_at - t1 <= 1450);
	assert_int_equal(file_phase(f), DRAIN_DRAINED);
}

/* the delay ran out while the agent was down: drained at start-up */
static void
test_resume_past_delay(void **state)
{
	struct fx *f = *state;

	write_state(f, DRAIN_DRAINING, 5000, 5000);
	assert_int_equal(drain_start_up(f->drain), 0);
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINED);
	assert_false(f->health->h_ready);
}

/* drained is never forgotten; resume clears it */
static void
test_drained_stays_until_resume(void **state)
{
	struct fx *f = *state;

	write_state(f, DRAIN_DRAINED, 60000, 50000);
	assert_int_equal(drain_start_up(f->drain), 0);
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINED);
	run_for(f, 50);
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINED);
	assert_false(f->health->h_ready);
	assert_int_equal(drain_resume(f->drain, "test"), 0);
	assert_int_equal(drain_phase(f->drain), DRAIN_SERVING);
	assert_true(f->health->h_ready);
	run_for(f, 20);			/* the state file write is deferred */
	assert_int_equal(file_phase(f), DRAIN_SERVING);
}

/* begin twice: one drain; phases in order; the listener sees each */
static void
test_phases_in_order(void **state)
{
	struct fx *f = *state;
	struct drain_info di;

	f->cfg.cf_drain.d_delay_ms = 100;
	assert_int_equal(drain_start_up(f->drain), 0);
	drain_begin(f->drain, "a");
	assert_false(f->health->h_ready);	/* the same iteration */
	drain_begin(f->drain, "b");
	run_for(f, 300);
	assert_int_equal(f->nphases, 3);
	assert_int_equal(f->phases[0], DRAIN_DRAINING);
	assert_int_equal(f->phases[1], DRAIN_QUIESCING);
	assert_int_equal(f->phases[2], DRAIN_DRAINED);
	drain_info(f->drain, &di);
	assert_int_equal(di.di_phase, DRAIN_DRAINED);
	assert_int_equal(di.di_conns, -1);	/* app.port 0 */
	assert_true(di.di_drain_ms >= 100);
}

/* SIGTERM, app.port 0: drain, then drain stops the loop itself */
static void
test_sigterm_port0_exits_when_drained(void **state)
{
	struct fx *f = *state;
	uint64_t t0;

	f->cfg.cf_drain.d_delay_ms = 200;
	assert_int_equal(drain_start_up(f->drain), 0);
	t0 = mono_ms();
	assert_int_equal(drain_sigterm(f->drain), 0);
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINING);
	assert_int_equal(drain_resume(f->drain, "test"), -1);
	run_for(f, 5000);		/* returns when drain stops it */
	assert_true(mono_ms() - t0 >= 200);
	/* well short of max_wait (2 s); room for the phases' fsyncs */
	assert_true(mono_ms() - t0 <= 800);
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINED);
	/* already drained: a SIGTERM exits at once */
	assert_int_equal(drain_sigterm(f->drain), 1);
}

/* a reload that changes drain.delay rewrites the state file's delay_ms at
 * once: the hook's fallback reads it while the agent is down */
static void
test_reconfigure_records_delay(void **state)
{
	struct fx *f = *state;
	struct config nc = f->cfg;
	struct statefile sf;
	char err[128];

	assert_int_equal(drain_start_up(f->drain), 0);
	assert_int_equal(statefile_read(f->state, &sf, err, sizeof(err)), 0);
	assert_int_equal(sf.sf_delay_ms, 1000);
	nc.cf_drain.d_delay_ms = 7000;
	drain_reconfigure(f->drain, &nc, NULL);
	assert_int_equal(statefile_read(f->state, &sf, err, sizeof(err)), 0);
	assert_int_equal(sf.sf_delay_ms, 7000);
	assert_int_equal(sf.sf_phase, DRAIN_SERVING);
	drain_reconfigure(f->drain, &f->cfg, NULL);	/* nc goes away */
}

/* one histogram observation per finished phase, per drain */
static void
test_phase_histogram(void **state)
{
	struct fx *f = *state;
	const struct drain_stats *ds;
	uint64_t n;
	int round, k;

	f->cfg.cf_drain.d_delay_ms = 100;
	assert_int_equal(drain_start_up(f->drain), 0);
	for (round = 1; round <= 2; round++) {
		drain_begin(f->drain, "prestop");
		run_for(f, 300);
		assert_int_equal(drain_phase(f->drain), DRAIN_DRAINED);
		assert_int_equal(drain_resume(f->drain, "resume"), 0);
	}
	ds = drain_stats(f->drain);
	for (n = 0, k = 0; k <= DRAIN_HIST_NBUCKETS; k++)
		n += ds->ds_hist[DRAIN_DRAINING][DRAIN_END_DELAY][k];
	assert_int_equal(n, 2);
	/* 2 x 100 ms, not a running total read twice */
	assert_true(ds->ds_hist_sum_ms[DRAIN_DRAINING][DRAIN_END_DELAY] >= 200);
	assert_true(ds->ds_hist_sum_ms[DRAIN_DRAINING][DRAIN_END_DELAY] <
	    2 * 300);
	/* each in le=0.25 (bounds[1]): a sum would be 0.2 s, then 0.3 */
	assert_true(drain_hist_bounds[1] == 0.25);
	assert_int_equal(ds->ds_hist[DRAIN_DRAINING][DRAIN_END_DELAY][0] +
	    ds->ds_hist[DRAIN_DRAINING][DRAIN_END_DELAY][1], 2);
	/* the reasons: the drained phases ended by resume, nothing else */
	for (n = 0, k = 0; k <= DRAIN_HIST_NBUCKETS; k++)
		n += ds->ds_hist[DRAIN_DRAINED][DRAIN_END_RESUME][k] +
		    ds->ds_hist[DRAIN_SERVING][DRAIN_END_RESUME][k] +
		    ds->ds_hist[DRAIN_DRAINING][DRAIN_END_QUIET][k];
	assert_int_equal(n, 2);		/* drained twice, serving never */
	assert_int_equal(ds->ds_drains[DRAIN_BY_PRESTOP], 2);
	assert_int_equal(ds->ds_undone[DRAIN_UNDO_RESUME], 2);
	assert_int_equal(ds->ds_undone[DRAIN_UNDO_APP_RESTARTED], 0);
}

static int
listener(unsigned *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)*port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/*
 * The app's listener replaced between two polls (no gap seen): a new
 * socket inode is a new app process, and the drain is undone; the same
 * listener all along is not.
 */
static void
test_new_listener_undoes(void **state)
{
	struct fx *f = *state;
	unsigned port = 0;
	int fd = listener(&port);

	f->cfg.cf_app_port = port;
	f->cfg.cf_drain.d_delay_ms = 50;
	assert_int_equal(drain_start_up(f->drain), 0);
	drain_begin(f->drain, "prestop");
	run_for(f, 700);
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINED);	/* kept */
	close(fd);
	fd = listener(&port);				/* at once */
	run_for(f, 700);
	assert_int_equal(drain_phase(f->drain), DRAIN_SERVING);
	assert_true(f->health->h_ready);
	assert_int_equal(drain_stats(f->drain)->
	    ds_undone[DRAIN_UNDO_APP_RESTARTED], 1);
	assert_int_equal(file_phase(f), DRAIN_SERVING);
	/* after SIGTERM a new listener undoes nothing */
	drain_begin(f->drain, "prestop");
	run_for(f, 300);
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINED);
	assert_int_equal(drain_sigterm(f->drain), 0);	/* still listening */
	close(fd);
	fd = listener(&port);
	assert_int_equal(drain_app_restarted(f->drain, "test"), -1);
	run_for(f, 400);
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINED);
	close(fd);
}

/*
 * A client in another process (the agent leaves its own connections to
 * app.port out): connects, then sends a byte every every_ms, or none.
 */
static pid_t
client(unsigned port, unsigned every_ms)
{
	struct sockaddr_in sin;
	pid_t pid;
	int fd;

	if ((pid = fork()) != 0) {
		assert_true(pid > 0);
		return pid;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) ==
	    -1)
		_exit(1);
	for (;;) {
		usleep(every_ms ? every_ms * 1000 : 100000);
		if (every_ms && write(fd, "x", 1) != 1)
			_exit(1);
	}
}

static void
client_stop(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/*
 * drain.quiet: with no traffic, draining ends at max(min_delay, quiet) by
 * "quiet"; a connection that keeps receiving bytes holds it to the full
 * delay, ended by "delay". Each is recorded with its length (status,
 * /ready) and in the histogram under its reason.
 */
static void
test_quiet_drain(void **state)
{
	struct fx *f = *state;
	const struct drain_stats *ds;
	struct drain_info di;
	unsigned port = 0;
	int lfd = listener(&port), afd;
	uint64_t ms;
	pid_t pid;

	f->cfg.cf_app_port = port;
	f->cfg.cf_drain.d_delay_ms = 1500;
	f->cfg.cf_drain.d_min_delay_ms = 300;
	f->cfg.cf_drain.d_quiet_ms = 200;
	f->cfg.cf_drain.d_max_wait_ms = 300;
	assert_int_equal(drain_start_up(f->drain), 0);
	/* an idle keep-alive connection: no bytes, so quiet */
	pid = client(port, 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	drain_begin(f->drain, "prestop");
	drain_info(f->drain, &di);
	assert_true(di.di_quiet_on && di.di_quiet_watching);
	assert_int_equal(di.di_quiet_counters, 1);	/* sock_diag here */
	run_for(f, 1450);
	assert_true(drain_phase(f->drain) == DRAIN_QUIESCING ||
	    drain_phase(f->drain) == DRAIN_DRAINED);
	drain_info(f->drain, &di);
	assert_true(di.di_ended[DRAIN_DRAINING].de_done);
	assert_int_equal(di.di_ended[DRAIN_DRAINING].de_by, DRAIN_END_QUIET);
	ms = di.di_ended[DRAIN_DRAINING].de_ms;
	/* min_delay, a poll later; another connection accepted anywhere in
	 * this network namespace (the host's, in a unit test) holds it
	 * longer, never past the delay */
	assert_true(ms >= 300 && ms < 1400);
	assert_false(di.di_quiet_watching);
	run_for(f, 400);		/* max_wait: the idle connection */
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINED);
	assert_int_equal(drain_resume(f->drain, "resume"), 0);
	client_stop(pid);
	close(afd);

	/* a connection that receives a byte every 50 ms */
	pid = client(port, 50);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	drain_begin(f->drain, "prestop");
	run_for(f, 1400);
	assert_int_equal(drain_phase(f->drain), DRAIN_DRAINING);
	run_for(f, 300);
	drain_info(f->drain, &di);
	assert_int_equal(di.di_ended[DRAIN_DRAINING].de_by, DRAIN_END_DELAY);
	assert_true(di.di_ended[DRAIN_DRAINING].de_ms >= 1500);
	client_stop(pid);
	ds = drain_stats(f->drain);
	assert_int_equal(ds->ds_hist_sum_ms[DRAIN_DRAINING][DRAIN_END_QUIET],
	    ms);
	assert_true(ds->ds_hist_sum_ms[DRAIN_DRAINING][DRAIN_END_DELAY] >=
	    1500);
	close(afd);
	close(lfd);
}

static void
test_hook_install(void **state)
{
	struct fx *f = *state;
	char src[160], dst[160], buf[64];
	struct stat st;
	FILE *fp;

	snprintf(src, sizeof(src), "%s/src", f->dir);
	snprintf(dst, sizeof(dst), "%s/vol/nodowntime-hook", f->dir);
	/* no source: a failure (/healthz waits for the copy) */
	assert_int_equal(hook_install_from(src, dst), -1);
	assert_int_equal(access(dst, F_OK), -1);
	assert_non_null(fp = fopen(src, "w"));
	fputs("#!/bin/sh\necho hook\n", fp);
	fclose(fp);
	assert_int_equal(hook_install_from(src, dst), 0);
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_non_null(fp = fopen(dst, "r"));
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "#!/bin/sh\n");
	/* again, over the existing copy */
	assert_int_equal(hook_install_from(src, dst), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_start_records_delay,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_corrupt_state_starts_serving, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_remaining_delay,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_past_delay, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_drained_stays_until_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phases_in_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_sigterm_port0_exits_when_drained, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reconfigure_records_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phase_histogram, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_new_listener_undoes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet_drain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hook_install, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
