/*
 * test_drain.c - issue 4's "Done when", against a real agent, a real app
 * stand-in (a listening socket in this process, seen through the shared
 * network namespace like the app container's) and real prestop clients:
 *
 *   /ready 503 within 50 ms of prestop starting, /live stays 200;
 *   prestop returns after drain.delay (+-300 ms) with no connections;
 *   with a held connection, when it closes, or at delay + max_wait;
 *   two concurrent prestops return together;
 *   SIGKILL mid-drain + restart: still 503, the drain ends on schedule;
 *   no agent: prestop exits 0 after the fallback delay;
 *   SIGTERM while serving drains first, exits once the app stops listening;
 *   SIGTERM with no app listening (native sidecar) exits at once;
 *   nodowntime-hook (static) prestop behaves the same.
 */
#include <arpa/inet.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

#define DELAY_MS	1000
#define MAX_WAIT_MS	2000
#define SLACK_MS	300

struct app {				/* the app stand-in */
	unsigned	 ap_port;
	int		 ap_lfd;	/* listener, -1 = not listening */
	int		 ap_cfd[4];	/* client ends of held connections */
	int		 ap_sfd[4];	/* accepted ends */
};

static struct itest_agent agent;
static struct app app;
static pid_t app_child;			/* the HTTP stand-in, if any */

static int
app_listen(struct app *ap)
{
	struct sockaddr_in sin;
	int one = 1;

	if ((ap->ap_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
	    -1)
		return -1;
	setsockopt(ap->ap_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)ap->ap_port);
	if (bind(ap->ap_lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(ap->ap_lfd, 16) == -1) {
		close(ap->ap_lfd);
		ap->ap_lfd = -1;
		return -1;
	}
	return 0;
}

static void
app_unlisten(struct app *ap)
{
	if (ap->ap_lfd != -1)
		close(ap->ap_lfd);
	ap->ap_lfd = -1;
}

/* a real client holding a connection to the app: ESTABLISHED both ways */
static void
app_hold(struct app *ap, int i)
{
	struct sockaddr_in sin;

	assert_true((ap->ap_cfd[i] = socket(AF_INET, SOCK_STREAM |
	    SOCK_CLOEXEC, 0)) != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)ap->ap_port);
	assert_int_equal(connect(ap->ap_cfd[i], (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	assert_true((ap->ap_sfd[i] = accept4(ap->ap_lfd, NULL, NULL,
	    SOCK_CLOEXEC)) != -1);
}

/* the app finishes the request and closes, then the client */
static void
app_release(struct app *ap, int i)
{
	if (ap->ap_sfd[i] != -1)
		close(ap->ap_sfd[i]);
	if (ap->ap_cfd[i] != -1)
		close(ap->ap_cfd[i]);
	ap->ap_sfd[i] = ap->ap_cfd[i] = -1;
}

static int
start_agent_notify(unsigned delay, unsigned max_wait, int listen_app,
    int notify)
{
	char extra[768], nt[256] = "";
	int i;

	memset(&app, 0, sizeof(app));
	app.ap_lfd = -1;
	for (i = 0; i < 4; i++)
		app.ap_cfd[i] = app.ap_sfd[i] = -1;
	app.ap_port = itest_free_port();
	if (listen_app && app_listen(&app) == -1)
		return -1;
	if (notify)
		snprintf(nt, sizeof(nt), "  notify: {http: {url: "
		    "\"http://127.0.0.1:%u/admin/drain\", method: POST, "
		    "timeout: 1s}}\n", app.ap_port);
	snprintf(extra, sizeof(extra),
	    "app: {port: %u}\n"
	    "drain:\n"
	    "  delay: %ums\n"
	    "  wait_for_connections: true\n"
	    "  max_wait: %ums\n"
	    "  shutdown_timeout: 3s\n"
	    "%s",
	    app.ap_port, delay, max_wait, nt);
	if (itest_agent_start(&agent, extra, NULL) == -1) {
		itest_agent_stop(&agent);
		return -1;
	}
	return 0;
}

static int
start_agent(unsigned delay, unsigned max_wait, int listen_app)
{
	return start_agent_notify(delay, max_wait, listen_app, 0);
}

static int
teardown(void **state)
{
	int i;

	(void)state;
	if (app_child > 0) {
		kill(app_child, SIGKILL);
		waitpid(app_child, NULL, 0);
		app_child = 0;
	}
	for (i = 0; i < 4; i++)
		app_release(&app, i);
	app_unlisten(&app);
	itest_agent_stop(&agent);
	return 0;
}

static pid_t
spawn_client(const char *bin, const char *cmd, const char *socket,
    const char *opt, const char *optval)
{
	char log[400];
	char *argv[] = { NULL, NULL, (char *)(uintptr_t)"--socket", NULL,
	    NULL, NULL, NULL };

	argv[0] = (char *)(uintptr_t)itest_bin(bin);
	argv[1] = (char *)(uintptr_t)cmd;
	argv[3] = (char *)(uintptr_t)socket;
	argv[4] = (char *)(uintptr_t)opt;
	argv[5] = (char *)(uintptr_t)optval;
	snprintf(log, sizeof(log), "%s/client.log",
	    agent.a_dir[0] ? agent.a_dir : "/tmp");
	return itest_spawn(argv, log);
}

/* exit status of pid, or -1 if still running after timeout_ms; *when is
 * the monotonic ms at which it was seen gone */
static int
reap(pid_t pid, unsigned timeout_ms, uint64_t *when)
{
	uint64_t t0 = itest_now_ms();
	int st;

	for (;;) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			*when = itest_now_ms();
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		}
		if (itest_now_ms() - t0 > timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		itest_sleep_ms(2);
	}
}

/* poll /ready every ~1 ms until it answers 503; the ms since t0, or -1 */
static long
ready_503_since(uint64_t t0, unsigned timeout_ms)
{
	while (itest_now_ms() - t0 < timeout_ms) {
		if (itest_get_code(&agent, "/ready") == 503)
			return (long)(itest_now_ms() - t0);
		itest_sleep_ms(1);
	}
	return -1;
}

static void
assert_near(uint64_t got, uint64_t want, uint64_t slack)
{
	slack *= itest_slow_factor();	/* sanitizers, valgrind */
	if (got + slack < want || got > want + slack) {
		fprintf(stderr, "took %llu ms, wanted %llu +- %llu\n",
		    (unsigned long long)got, (unsigned long long)want,
		    (unsigned long long)slack);
		itest_agent_dump_log(&agent);
		fail();
	}
}

/* /ready 503 within 50 ms of prestop starting; /live stays 200; prestop
 * returns after the delay when the app has no connections */
static void
test_prestop_no_connections(void **state)
{
	uint64_t t0, done;
	long ms;
	pid_t pid;

	(void)state;
	assert_int_equal(start_agent(DELAY_MS, MAX_WAIT_MS, 1), 0);
	assert_int_equal(itest_get_code(&agent, "/ready"), 200);
	t0 = itest_now_ms();
	assert_true((pid = spawn_client("nodowntime", "prestop",
	    agent.a_socket, NULL, NULL)) > 0);
	ms = ready_503_since(t0, 1000);
	fprintf(stderr, "prestop -> /ready 503: %ld ms\n", ms);
	assert_true(ms >= 0 && ms <= 50 * (long)itest_slow_factor());
	assert_int_equal(itest_get_code(&agent, "/live"), 200);
	assert_int_equal(reap(pid, 5000, &done), 0);
	fprintf(stderr, "prestop returned after %llu ms (delay %u)\n",
	    (unsigned long long)(done - t0), DELAY_MS);
	assert_near(done - t0, DELAY_MS, SLACK_MS);
	/* drained: still 503, still live */
	assert_int_equal(itest_get_code(&agent, "/ready"), 503);
	assert_int_equal(itest_get_code(&agent, "/live"), 200);
}

static int
running(pid_t pid)
{
	int st;

	return waitpid(pid, &st, WNOHANG) == 0;
}

/* a held connection keeps prestop waiting until it closes */
static void
test_prestop_waits_for_held_connection(void **state)
{
	uint64_t t_rel, done;
	pid_t pid;

	(void)state;
	assert_int_equal(start_agent(DELAY_MS, MAX_WAIT_MS, 1), 0);
	app_hold(&app, 0);
	assert_true((pid = spawn_client("nodowntime", "prestop",
	    agent.a_socket, NULL, NULL)) > 0);
	itest_sleep_ms(DELAY_MS + 700);
	assert_true(running(pid));		/* quiescing on 1 connection */
	t_rel = itest_now_ms();
	app_release(&app, 0);
	assert_int_equal(reap(pid, 5000, &done), 0);
	fprintf(stderr, "prestop returned %llu ms after the connection "
	    "closed\n", (unsigned long long)(done - t_rel));
	assert_near(done - t_rel, 0, SLACK_MS);
}

/* a connection that never closes: prestop returns at delay + max_wait */
static void
test_prestop_max_wait(void **state)
{
	uint64_t t0, done;
	pid_t pid;

	(void)state;
	assert_int_equal(start_agent(DELAY_MS, MAX_WAIT_MS, 1), 0);
	app_hold(&app, 0);
	app_hold(&app, 1);
	t0 = itest_now_ms();
	assert_true((pid = spawn_client("nodowntime", "prestop",
	    agent.a_socket, NULL, NULL)) > 0);
	assert_int_equal(reap(pid, 10000, &done), 0);
	fprintf(stderr, "prestop returned after %llu ms (delay+max_wait "
	    "%u)\n", (unsigned long long)(done - t0), DELAY_MS + MAX_WAIT_MS);
	assert_near(done - t0, DELAY_MS + MAX_WAIT_MS, SLACK_MS);
}

/* two prestops (the second joins 300 ms later) return together */
static void
test_two_prestops_return_together(void **state)
{
	uint64_t t0, d1 = 0, d2 = 0, now;
	pid_t p1, p2;
	int st, left = 2;

	(void)state;
	assert_int_equal(start_agent(DELAY_MS, MAX_WAIT_MS, 1), 0);
	t0 = itest_now_ms();
	assert_true((p1 = spawn_client("nodowntime", "prestop",
	    agent.a_socket, NULL, NULL)) > 0);
	itest_sleep_ms(300);
	assert_true((p2 = spawn_client("nodowntime-hook", "prestop",
	    agent.a_socket, NULL, NULL)) > 0);
	while (left > 0 && itest_now_ms() - t0 < 5000) {
		now = itest_now_ms();
		if (d1 == 0 && waitpid(p1, &st, WNOHANG) == p1) {
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			d1 = now;
			left--;
		}
		if (d2 == 0 && waitpid(p2, &st, WNOHANG) == p2) {
			assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			d2 = now;
			left--;
		}
		itest_sleep_ms(2);
	}
	assert_int_equal(left, 0);
	fprintf(stderr, "two prestops returned %llu and %llu ms after the "
	    "first started\n", (unsigned long long)(d1 - t0),
	    (unsigned long long)(d2 - t0));
	assert_near(d1 - t0, DELAY_MS, SLACK_MS);
	/* together: the same phase change releases both (one late wake-up of
	 * this poller or a client may add a little). Not scaled for the
	 * sanitizers: a second prestop that ran its own delay would come
	 * 300 ms later. */
	assert_true(d2 + 150 >= d1 && d2 <= d1 + 150);
}

/* SIGKILL mid-drain, restart: still 503, and the drain (and the waiting
 * prestop, which reconnects) completes on the original schedule */
static void
test_sigkill_mid_drain_resumes(void **state)
{
	uint64_t t0, done;
	char *out = NULL;
	pid_t pid;

	(void)state;
	assert_int_equal(start_agent(2000, MAX_WAIT_MS, 1), 0);
	t0 = itest_now_ms();
	assert_true((pid = spawn_client("nodowntime", "prestop",
	    agent.a_socket, NULL, NULL)) > 0);
	assert_true(itest_wait_code(&agent, "/ready", 503, 1000) >= 0);
	itest_sleep_ms(500);
	assert_int_equal(itest_agent_signal(&agent, SIGKILL, 2000),
	    128 + SIGKILL);
	assert_int_equal(itest_agent_restart(&agent, NULL), 0);
	fprintf(stderr, "restarted %llu ms into the drain\n",
	    (unsigned long long)(itest_now_ms() - t0));
	assert_int_equal(itest_get_code(&agent, "/ready"), 503);
	assert_int_equal(itest_get_code(&agent, "/live"), 200);
	assert_int_equal(reap(pid, 6000, &done), 0);
	fprintf(stderr, "prestop returned after %llu ms (delay 2000)\n",
	    (unsigned long long)(done - t0));
	assert_near(done - t0, 2000, SLACK_MS);
	/* drained is never forgotten: kill and restart once more */
	assert_int_equal(itest_agent_signal(&agent, SIGKILL, 2000),
	    128 + SIGKILL);
	assert_int_equal(itest_agent_restart(&agent, NULL), 0);
	assert_int_equal(itest_get_code(&agent, "/ready"), 503);
	{
		char *argv[] = { NULL, (char *)(uintptr_t)"status",
		    (char *)(uintptr_t)"--json", (char *)(uintptr_t)"--socket",
		    agent.a_socket, NULL };

		argv[0] = (char *)(uintptr_t)itest_bin("nodowntime");
		assert_int_equal(itest_run(argv, &out, 5000), 0);
		assert_non_null(strstr(out, "\"phase\":\"drained\""));
		free(out);
	}
}

/* no agent at all: prestop sleeps the fallback delay and exits 0 */
static void
test_prestop_agent_not_running(void **state)
{
	char dir[] = "/tmp/ndt-itest-XXXXXX", sock[64], st[64];
	uint64_t t0, done;
	pid_t pid;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/ndt.sock", dir);
	snprintf(st, sizeof(st), "%s/state", dir);
	/* --fallback-delay */
	t0 = itest_now_ms();
	assert_true((pid = spawn_client("nodowntime", "prestop", sock,
	    "--fallback-delay", "700ms")) > 0);
	assert_int_equal(reap(pid, 5000, &done), 0);
	fprintf(stderr, "no agent, --fallback-delay 700ms: %llu ms\n",
	    (unsigned long long)(done - t0));
	assert_near(done - t0, 700, SLACK_MS);
	/* the delay recorded in the state file next to the socket */
	assert_non_null(f = fopen(st, "w"));
	fprintf(f, "nodowntime-state 1\nphase serving\ndelay_ms 1200\n");
	fclose(f);
	t0 = itest_now_ms();
	assert_true((pid = spawn_client("nodowntime-hook", "prestop", sock,
	    NULL, NULL)) > 0);
	assert_int_equal(reap(pid, 5000, &done), 0);
	fprintf(stderr, "no agent, state file delay 1.2s: %llu ms\n",
	    (unsigned long long)(done - t0));
	assert_near(done - t0, 1200, SLACK_MS);
	/* never longer than --timeout */
	t0 = itest_now_ms();
	assert_true((pid = spawn_client("nodowntime", "prestop", sock,
	    "--timeout", "300ms")) > 0);
	assert_int_equal(reap(pid, 5000, &done), 0);
	assert_near(done - t0, 300, 200);
	unlink(st);
	rmdir(dir);
}

/* SIGTERM while serving: drain first; exit 0 once the app stops listening */
static void
test_sigterm_drains_then_waits_for_app(void **state)
{
	uint64_t t0, done;
	long ms;
	int st;

	(void)state;
	assert_int_equal(start_agent(DELAY_MS, MAX_WAIT_MS, 1), 0);
	t0 = itest_now_ms();
	kill(agent.a_pid, SIGTERM);
	ms = ready_503_since(t0, 1000);
	fprintf(stderr, "SIGTERM -> /ready 503: %ld ms\n", ms);
	/* SIGTERM first reads /proc/net/tcp (is the app still listening?),
	 * which is slow on some kernels: a looser bound than prestop's */
	assert_true(ms >= 0 && ms <= 100 * (long)itest_slow_factor());
	/* drained at ~delay; the app still listens: the agent stays */
	itest_sleep_ms(DELAY_MS + 500);
	assert_true(running(agent.a_pid));
	assert_int_equal(itest_get_code(&agent, "/ready"), 503);
	app_unlisten(&app);
	t0 = itest_now_ms();
	/* killed if still there */
	st = reap(agent.a_pid, 5000 * itest_slow_factor(), &done);
	agent.a_pid = 0;
	assert_int_equal(st, 0);
	fprintf(stderr, "app stopped listening -> agent exit: %llu ms\n",
	    (unsigned long long)(done - t0));
	/* up to 150 ms of polling, then the exit (under valgrind, its leak
	 * scan) */
	assert_near(done - t0, 0, SLACK_MS);
}

/* an HTTP app stand-in in a child: answers 200, and writes the time of
 * each `POST /admin/drain` to the pipe */
static pid_t
app_serve_http(int lfd, int out)
{
	char req[2048];
	uint64_t now;
	ssize_t n;
	size_t len;
	pid_t pid;
	int fd;

	if ((pid = fork()) != 0)
		return pid;
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			_exit(1);
		len = 0;
		while (len < sizeof(req) - 1 &&
		    (n = read(fd, req + len, sizeof(req) - 1 - len)) > 0) {
			len += (size_t)n;
			req[len] = '\0';
			if (strstr(req, "\r\n\r\n") != NULL)
				break;
		}
		req[len] = '\0';
		if (strncmp(req, "POST /admin/drain ", 18) == 0) {
			now = itest_now_ms();
			(void)write(out, &now, sizeof(now));
		}
		(void)write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n", 57);
		close(fd);
	}
}

/* notify: the app is told when the delay ends, then the connection wait */
static void
test_notify_after_delay(void **state)
{
	uint64_t t0, done, told = 0;
	int p[2], st;
	pid_t pid, srv;

	(void)state;
	assert_int_equal(start_agent_notify(DELAY_MS, MAX_WAIT_MS, 1, 1), 0);
	assert_int_equal(pipe(p), 0);
	assert_true((srv = app_serve_http(app.ap_lfd, p[1])) > 0);
	app_child = srv;
	t0 = itest_now_ms();
	assert_true((pid = spawn_client("nodowntime", "prestop",
	    agent.a_socket, NULL, NULL)) > 0);
	assert_int_equal(reap(pid, 5000, &done), 0);
	kill(srv, SIGKILL);
	waitpid(srv, &st, 0);
	app_child = 0;
	assert_int_equal(read(p[0], &told, sizeof(told)),
	    (ssize_t)sizeof(told));
	close(p[0]);
	close(p[1]);
	fprintf(stderr, "notify %llu ms after prestop, drained at %llu ms\n",
	    (unsigned long long)(told - t0), (unsigned long long)(done - t0));
	assert_near(told - t0, DELAY_MS, SLACK_MS);
	assert_true(done >= told);
	assert_near(done - t0, DELAY_MS, SLACK_MS);
}

/* the app never stops listening: exit at drained + shutdown_timeout */
static void
test_sigterm_shutdown_timeout(void **state)
{
	uint64_t t0, done;
	int st;

	(void)state;
	assert_int_equal(start_agent(DELAY_MS, MAX_WAIT_MS, 1), 0);
	t0 = itest_now_ms();
	kill(agent.a_pid, SIGTERM);
	while (waitpid(agent.a_pid, &st, WNOHANG) == 0 &&
	    itest_now_ms() - t0 < 8000)
		itest_sleep_ms(5);
	done = itest_now_ms();
	agent.a_pid = 0;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	fprintf(stderr, "SIGTERM, app keeps listening -> exit after %llu ms "
	    "(delay + shutdown_timeout %u)\n", (unsigned long long)(done - t0),
	    DELAY_MS + 3000);
	assert_near(done - t0, DELAY_MS + 3000, SLACK_MS);
}

/* native sidecar: SIGTERM comes after the app exited: exit at once */
static void
test_sigterm_app_gone_exits_at_once(void **state)
{
	uint64_t t0;
	int rv;

	(void)state;
	assert_int_equal(start_agent(DELAY_MS, MAX_WAIT_MS, 0), 0);
	t0 = itest_now_ms();
	rv = itest_agent_signal(&agent, SIGTERM, 3000);
	fprintf(stderr, "SIGTERM, app not listening -> exit: %llu ms\n",
	    (unsigned long long)(itest_now_ms() - t0));
	assert_int_equal(rv, 0);
	assert_true(itest_now_ms() - t0 <= 200 * itest_slow_factor());
}

/*
 * A drain begun by SIGTERM is not resumed after a restart: the kubelet
 * restarts no container of a terminating pod, so a restarted agent means
 * the sidecar alone was restarted (liveness, OOM) and the pod must serve.
 * A drain begun by prestop is resumed (test_sigkill_mid_drain_resumes).
 */
static void
test_sigterm_drain_not_resumed_after_restart(void **state)
{
	(void)state;
	assert_int_equal(start_agent(DELAY_MS, MAX_WAIT_MS, 1), 0);
	kill(agent.a_pid, SIGTERM);
	assert_true(itest_wait_code(&agent, "/ready", 503, 1000) >= 0);
	assert_int_equal(itest_agent_signal(&agent, SIGKILL, 2000),
	    128 + SIGKILL);
	assert_int_equal(itest_agent_restart(&agent, NULL), 0);
	assert_true(itest_wait_code(&agent, "/ready", 200, 2000) >= 0);
	assert_int_equal(itest_get_code(&agent, "/live"), 200);
}

/* the hook binary is static (no PT_INTERP) and drains like nodowntime */
static void
test_hook_static_prestop(void **state)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint64_t t0, done;
	long ms;
	pid_t pid;
	int fd, i;

	(void)state;
	assert_true((fd = open(itest_bin("nodowntime-hook"), O_RDONLY)) !=
	    -1);
	assert_int_equal(read(fd, &eh, sizeof(eh)), (ssize_t)sizeof(eh));
	assert_memory_equal(eh.e_ident, ELFMAG, SELFMAG);
	for (i = 0; i < eh.e_phnum; i++) {
		assert_int_equal(pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff +
		    (uint64_t)i * eh.e_phentsize)), (ssize_t)sizeof(ph));
		if (getenv("NDT_BUILD") == NULL ||
		    strstr(getenv("NDT_BUILD"), "san") == NULL)
			assert_int_not_equal(ph.p_type, PT_INTERP);
	}
	close(fd);
	assert_int_equal(start_agent(DELAY_MS, MAX_WAIT_MS, 1), 0);
	t0 = itest_now_ms();
	assert_true((pid = spawn_client("nodowntime-hook", "prestop",
	    agent.a_socket, NULL, NULL)) > 0);
	ms = ready_503_since(t0, 1000);
	fprintf(stderr, "hook prestop -> /ready 503: %ld ms\n", ms);
	assert_true(ms >= 0 && ms <= 50 * (long)itest_slow_factor());
	assert_int_equal(reap(pid, 5000, &done), 0);
	assert_near(done - t0, DELAY_MS, SLACK_MS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_prestop_no_connections,
		    teardown),
		cmocka_unit_test_teardown(
		    test_prestop_waits_for_held_connection, teardown),
		cmocka_unit_test_teardown(test_prestop_max_wait, teardown),
		cmocka_unit_test_teardown(test_two_prestops_return_together,
		    teardown),
		cmocka_unit_test_teardown(test_sigkill_mid_drain_resumes,
		    teardown),
		cmocka_unit_test_teardown(test_prestop_agent_not_running,
		    teardown),
		cmocka_unit_test_teardown(
		    test_sigterm_drains_then_waits_for_app, teardown),
		cmocka_unit_test_teardown(test_notify_after_delay, teardown),
		cmocka_unit_test_teardown(test_sigterm_shutdown_timeout,
		    teardown),
		cmocka_unit_test_teardown(test_sigterm_app_gone_exits_at_once,
		    teardown),
		cmocka_unit_test_teardown(
		    test_sigterm_drain_not_resumed_after_restart, teardown),
		cmocka_unit_test_teardown(test_hook_static_prestop, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
