/*
 * test_control_socket.c - the control socket against a real agent: mode,
 * the line protocol (docs/CONTROL.md), hostile clients (garbage, too long,
 * silent, too many), a client leaving mid-drain, resume, a live agent's
 * socket not stolen, the `status` / `wait` clients, and those clients
 * keeping to --timeout against a stuck agent with a full backlog.
 */
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
#include <sys/un.h>
#include <errno.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

static struct itest_agent agent;

static int
setup(void **state)
{
	(void)state;
	return itest_agent_start(&agent,
	    "drain: {delay: 500ms, max_wait: 1s}\n", NULL);
}

static int
teardown(void **state)
{
	(void)state;
	itest_agent_stop(&agent);
	return 0;
}

/* a control client, connected; optionally having sent req */
static int
ctl_connect(const char *req)
{
	int fd;

	assert_true((fd = itest_unix_connect(agent.a_socket)) != -1);
	if (req != NULL)
		assert_int_equal(itest_send_all(fd, req, strlen(req)), 0);
	return fd;
}

/* one request, and the answer until the agent closes (3 s at most) */
static void
request(const char *req, char *buf, size_t len)
{
	int fd = ctl_connect(req);

	itest_read_until_eof(fd, buf, len, 3000);
	close(fd);
}

/* the agent answers status, and is serving */
static void
assert_serving(void)
{
	char buf[8192];

	request("status\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"phase\":\"serving\""));
}

/* 0660 or stricter, and a socket */
static void
test_socket_mode(void **state)
{
	struct stat st;

	(void)state;
	assert_int_equal(lstat(agent.a_socket, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0117, 0);
}

static void
test_status_json(void **state)
{
	char buf[8192];

	(void)state;
	request("status\n", buf, sizeof(buf));
	assert_true(strncmp(buf, "{\"phase\":\"serving\"", 18) == 0);
	assert_non_null(strstr(buf, "\"ready\":true"));
	assert_non_null(strstr(buf, "\"live\":true"));
	assert_non_null(strstr(buf, "\"phase_ms\":"));
	assert_non_null(strstr(buf, "\"connections\":-1"));
	assert_non_null(strstr(buf, "\"checks\":[]"));
	/* exactly one line */
	assert_true(strchr(buf, '\n') == buf + strlen(buf) - 1);
}

static void
test_garbage_and_overlong(void **state)
{
	char buf[512], big[1000];
	int fd;

	(void)state;
	request("hello\n", buf, sizeof(buf));
	assert_string_equal(buf, "error unknown command\n");
	request("\n", buf, sizeof(buf));
	assert_string_equal(buf, "error unknown command\n");
	memset(big, 'x', sizeof(big));
	fd = ctl_connect(NULL);
	(void)itest_send_all(fd, big, sizeof(big));
	itest_read_until_eof(fd, buf, sizeof(buf), 3000);
	close(fd);
	assert_string_equal(buf, "error line too long\n");
	/* the agent carries on */
	assert_int_equal(itest_get_code(&agent, "/ready"), 200);
	assert_serving();
}

/* a client that says nothing is answered and dropped after 5 s */
static void
test_silent_client(void **state)
{
	char buf[128];
	uint64_t t0;
	int fd;

	(void)state;
	fd = ctl_connect(NULL);
	t0 = itest_now_ms();
	itest_read_until_eof(fd, buf, sizeof(buf), 7000);
	close(fd);
	assert_string_equal(buf, "error timeout\n");
	assert_true(itest_now_ms() - t0 >= 4800);
	assert_true(itest_now_ms() - t0 <= 5500);
}

/* 64 clients at once; the 65th is told "busy"; then all is well again */
static void
test_too_many_clients(void **state)
{
	int fds[64], fd, i;
	char buf[128];

	(void)state;
	for (i = 0; i < 64; i++)
		fds[i] = ctl_connect(NULL);
	itest_sleep_ms(100);
	fd = ctl_connect(NULL);
	itest_read_until_eof(fd, buf, sizeof(buf), 2000);
	close(fd);
	assert_string_equal(buf, "error busy\n");
	for (i = 0; i < 64; i++)
		close(fds[i]);
	itest_sleep_ms(100);
	assert_serving();
}

/* a prestop client that leaves mid-drain does not stop the drain; a
 * client joining later is told the current phase; resume serves again */
static void
test_client_leaves_mid_drain_and_resume(void **state)
{
	char buf[1024];
	int fd;

	(void)state;
	fd = ctl_connect("drain\n");
	itest_read_until_eof(fd, buf, sizeof(buf), 200);
	assert_true(strncmp(buf, "phase draining elapsed_ms=", 26) == 0);
	close(fd);
	assert_int_equal(itest_get_code(&agent, "/ready"), 503);
	itest_sleep_ms(800);
	request("drain\n", buf, sizeof(buf));
	assert_true(strncmp(buf, "phase drained elapsed_ms=", 25) == 0);
	request("status text\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "phase:        drained"));
	request("resume\n", buf, sizeof(buf));
	assert_string_equal(buf, "ok\n");
	assert_int_equal(itest_get_code(&agent, "/ready"), 200);
	assert_serving();
}

/* a watcher is told of every phase, and of a resume (then closed) */
static void
test_watcher_sees_phases(void **state)
{
	char buf[1024], buf2[64];
	int fd;

	(void)state;
	fd = ctl_connect("drain\n");
	itest_read_until_eof(fd, buf, sizeof(buf), 3000);
	close(fd);
	assert_non_null(strstr(buf, "phase draining "));
	assert_non_null(strstr(buf, "\nphase quiescing "));
	assert_non_null(strstr(buf, "\nphase drained "));
	/* resume while a watcher waits: it gets "phase serving" */
	request("resume\n", buf2, sizeof(buf2));
	fd = ctl_connect("drain\n");
	itest_sleep_ms(100);
	request("resume\n", buf2, sizeof(buf2));
	assert_string_equal(buf2, "ok\n");
	itest_read_until_eof(fd, buf, sizeof(buf), 2000);
	close(fd);
	assert_non_null(strstr(buf, "phase serving "));
}

/* peer credentials are logged */
static void
test_peer_credentials_logged(void **state)
{
	char buf[256], line[128], *log = NULL;
	char *argv[] = { (char *)(uintptr_t)"/bin/cat", agent.a_log, NULL };

	(void)state;
	request("status\n", buf, sizeof(buf));
	itest_sleep_ms(50);
	assert_true(itest_run(argv, &log, 2000) == 0);
	snprintf(line, sizeof(line), "pid=%ld uid=%ld", (long)getpid(),
	    (long)getuid());
	assert_non_null(strstr(log, line));
	free(log);
}

/* a second agent on the same socket is refused; the first keeps it */
static void
test_live_socket_not_stolen(void **state)
{
	char cfg[400], *out = NULL;
	char *argv[] = { NULL, (char *)(uintptr_t)"run",
	    (char *)(uintptr_t)"-c", cfg, NULL };
	FILE *f;
	int rv;

	(void)state;
	snprintf(cfg, sizeof(cfg), "%s/second.yaml", agent.a_dir);
	assert_non_null(f = fopen(cfg, "w"));
	fprintf(f, "listen: 127.0.0.1:%u\ncontrol_socket: %s\n"
	    "state_file: %s/state2\nhook_install_path: \"\"\n",
	    itest_free_port(), agent.a_socket, agent.a_dir);
	fclose(f);
	argv[0] = (char *)(uintptr_t)itest_bin("nodowntime");
	rv = itest_run(argv, &out, 5000);
	assert_int_equal(rv, 1);
	assert_non_null(strstr(out, "another agent is live"));
	free(out);
	assert_serving();
}

static int
run_client(const char *cmd, const char *opt, const char *val, char **out)
{
	char *argv[] = { NULL, (char *)(uintptr_t)cmd,
	    (char *)(uintptr_t)"--socket", agent.a_socket,
	    (char *)(uintptr_t)opt, (char *)(uintptr_t)val, NULL };

	argv[0] = (char *)(uintptr_t)itest_bin("nodowntime-hook");
	return itest_run(argv, out, 10000);
}

/* status (table, --json) and wait, through the static client */
static void
test_status_and_wait_clients(void **state)
{
	char *out = NULL, buf[256];
	uint64_t t0;

	(void)state;
	assert_int_equal(run_client("status", NULL, NULL, &out), 0);
	assert_non_null(strstr(out, "phase:        serving"));
	assert_non_null(strstr(out, "ready:        pass"));
	free(out);
	assert_int_equal(run_client("status", "--json", NULL, &out), 0);
	assert_true(strncmp(out, "{\"phase\":\"serving\"", 18) == 0);
	free(out);
	assert_int_equal(run_client("wait", NULL, NULL, &out), 0);
	free(out);
	request("drain\n", buf, sizeof(buf));
	t0 = itest_now_ms();
	assert_int_equal(run_client("wait", "--timeout", "600ms", &out), 1);
	assert_true(itest_now_ms() - t0 >= 550);
	assert_non_null(strstr(out, "not ready"));
	free(out);
	assert_int_equal(run_client("bogus", NULL, NULL, &out), 2);
	free(out);
	assert_int_equal(run_client("prestop", "--timeout", "5x", &out), 2);
	free(out);
}

/*
 * An agent that is alive but stuck (here: stopped) with its control
 * backlog full: the clients must still keep to --timeout. A blocking
 * connect() waited there for good.
 */
static void
test_stuck_agent_full_backlog(void **state)
{
	struct sockaddr_un sun;
	int fds[512], n = 0, fd, r, saved = 0;
	char *out = NULL;
	uint64_t t0, took;
	unsigned slack = 2000 * itest_slow_factor();

	(void)state;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(strlen(agent.a_socket) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, agent.a_socket, strlen(agent.a_socket));
	assert_int_equal(kill(agent.a_pid, SIGSTOP), 0);
	while (n < 512) {
		assert_true((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK,
		    0)) != -1);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
			saved = errno;
			close(fd);
			break;
		}
		fds[n++] = fd;
	}
	/* the backlog is full, not something else */
	assert_int_equal(saved, EAGAIN);

	t0 = itest_now_ms();
	r = run_client("prestop", "--timeout", "1s", &out);
	took = itest_now_ms() - t0;
	kill(agent.a_pid, SIGCONT);
	assert_int_equal(r, 1);
	assert_non_null(strstr(out, "--timeout 1s reached"));
	assert_in_range(took, 950, 1000 + slack);
	free(out);

	assert_int_equal(kill(agent.a_pid, SIGSTOP), 0);
	t0 = itest_now_ms();
	r = run_client("wait", "--timeout", "1s", &out);
	took = itest_now_ms() - t0;
	kill(agent.a_pid, SIGCONT);
	assert_int_equal(r, 1);
	assert_in_range(took, 950, 1000 + slack);
	free(out);

	while (n > 0)
		close(fds[--n]);
	itest_sleep_ms(200);
	assert_serving();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_socket_mode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_status_json, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_garbage_and_overlong,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_client, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_too_many_clients, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_client_leaves_mid_drain_and_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watcher_sees_phases,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_credentials_logged,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_socket_not_stolen,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_and_wait_clients,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuck_agent_full_backlog,
		    setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
