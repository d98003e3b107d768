/*
 * ndtbench - the precise clients of `make bench` (tests/bench/bench.py).
 *
 *   ndtbench drain  --port P --socket S [--trials N] [--prestop BIN]
 *       Time from asking for a drain to the first 503 on /ready, seen by a
 *       client polling /ready over one keep-alive connection as fast as it
 *       can. Without --prestop the request is `drain\n` written to the
 *       control socket; with it, `BIN prestop --socket S` is spawned and the
 *       clock starts just before posix_spawn. Between trials `resume\n`
 *       returns the agent to serving and the poller waits for 200 again.
 *
 *   ndtbench start  --bin AGENT --config CFG --port P [--trials N]
 *                   [--unlink FILE]...
 *       Time from posix_spawn of `AGENT run -c CFG` to the first 200 on
 *       /live (a connect + GET every 100 us). The agent is stopped with
 *       SIGINT (exits at once) and reaped after each trial; --unlink files
 *       (the state file) are removed before each start.
 *
 *   ndtbench latency --port P [--path /live] [--rate R] [--seconds S]
 *       A paced client: R requests per second, each on a new connection
 *       (as kubelet probes do), latency from the *scheduled* send time to
 *       the end of the response, so a stall is counted for every request it
 *       delays (no coordinated omission).
 *
 *   ndtbench quiet --port APP --socket S --prestop BIN [--rate R]
 *                  [--before MS] [--after MS] [--close]
 *       One trial of the adaptive drain (drain.quiet): GET / on the app
 *       at R requests per second, paced (keep-alive on one connection, or
 *       --close: a new connection and `Connection: close` each); --before
 *       ms in, `BIN prestop --socket S` is spawned, and the requests go on
 *       for --after ms more, then stop. The keep-alive connection stays
 *       open, idle, until prestop returns (drained), as a load balancer's
 *       pool would keep it. Prints, in ms from just before the spawn:
 *       last (when the last request was sent), drained (prestop's exit);
 *       the same two instants on the wall clock (req_wall, last_wall: ms
 *       since the epoch, to set against the agent's log); and requests,
 *       errors (not 200), gap_max (the longest time between two sends: a
 *       stall longer than drain.quiet would make any end a right one),
 *       prestop_rc. bench.py reads the draining phase's end from the
 *       agent's log and `status`, and resumes.
 *
 *   ndtbench exec [--trials N] -- BIN ARGS...
 *       Time from posix_spawn of BIN to its exit (the cost of starting a
 *       binary: exec, dynamic loading); a non-zero exit counts as an error.
 *
 * Every mode prints one line of `key=value` results (times in ms) for
 * bench.py, after a human line on stderr. Monotonic clock throughout.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_SAMPLES	1000000

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* sleep until the monotonic time due (ms) */
static void
sleep_until(double due)
{
	double now;

	while ((now = now_ms()) < due)
		sleep_us((long)((due - now) * 1000) > 50 ?
		    (long)((due - now) * 1000) - 50 : 1);
}

/* the wall clock, ms since the epoch: only to match the agent's log */
static double
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
die(const char *what)
{
	fprintf(stderr, "ndtbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/*
 * path with av, stderr (and stdout when quiet_out) to /dev/null; *t0 is
 * stamped just before posix_spawn, so the file actions are not timed.
 */
static pid_t
spawn_quiet(const char *path, char *const av[], int quiet_out, double *t0)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	if (quiet_out)
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
		    O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	*t0 = now_ms();
	if (posix_spawn(&pid, path, &fa, NULL, av, environ) != 0)
		die(path);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int
tcp_connect(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die("socket");
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * One request, one response on fd: returns the status code, -1 on error
 * or EOF. The response is read to the end of its Content-Length body (the
 * agent, nginx and HAProxy all send one), within a 64 KiB cap.
 */
static int
http_get(int fd, const char *path, int keepalive)
{
	char req[256], buf[65536];
	size_t have = 0;
	int status = -1;
	long clen = -1;
	char *eoh = NULL;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n",
	    path, keepalive ? "" : "Connection: close\r\n");
	if (write_all(fd, req, strlen(req)) == -1)
		return -1;
	for (;;) {
		ssize_t n;

		if (have == sizeof(buf) - 1)
			return -1;
		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		if (eoh == NULL && (eoh = strstr(buf, "\r\n\r\n")) != NULL) {
			char *cl = strcasestr(buf, "\r\ncontent-length:");

			if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
				return -1;
			if (cl != NULL && cl < eoh)
				clen = strtol(cl + 17, NULL, 10);
			else
				clen = 0;
		}
		if (eoh != NULL &&
		    (size_t)(eoh + 4 - buf) + (size_t)clen <= have)
			return status;
	}
}

static int
unix_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die("socket");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		die(path);
	return fd;
}

/* a control command whose whole answer we read and drop */
static void
control_cmd(const char *sock, const char *cmd)
{
	char buf[4096];
	int fd = unix_connect(sock);

	if (write_all(fd, cmd, strlen(cmd)) == -1)
		die("control write");
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* nearest-rank percentile of a sorted array */
static double
pct(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return -1;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static void
report(const char *mode, double *v, size_t n, long errors)
{
	double sum = 0;
	size_t i;

	qsort(v, n, sizeof(*v), cmp_double);
	for (i = 0; i < n; i++)
		sum += v[i];
	fprintf(stderr, "%s: n=%zu min=%.3f p50=%.3f p99=%.3f max=%.3f ms\n",
	    mode, n, n ? v[0] : -1, pct(v, n, 50), pct(v, n, 99),
	    n ? v[n - 1] : -1);
	printf("n=%zu errors=%ld min=%.4f mean=%.4f p50=%.4f p90=%.4f "
	    "p99=%.4f p999=%.4f max=%.4f\n", n, errors, n ? v[0] : -1,
	    n ? sum / (double)n : -1, pct(v, n, 50), pct(v, n, 90),
	    pct(v, n, 99), pct(v, n, 99.9), n ? v[n - 1] : -1);
}

static char *
arg(int argc, char **argv, const char *name, char *def)
{
	int i;

	for (i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return def;
}

/* keep-alive poller: reconnect when the server closed */
static int
poll_status(int *fd, int port, const char *path)
{
	int st;

	for (int tries = 0; tries < 3; tries++) {
		if (*fd == -1 && (*fd = tcp_connect(port)) == -1)
			return -1;
		st = http_get(*fd, path, 1);
		if (st != -1)
			return st;
		close(*fd);
		*fd = -1;
	}
	return -1;
}

static int
mode_drain(int argc, char **argv)
{
	int port = atoi(arg(argc, argv, "--port", "0"));
	char *sock = arg(argc, argv, "--socket", NULL);
	int trials = atoi(arg(argc, argv, "--trials", "100"));
	char *prestop = arg(argc, argv, "--prestop", NULL);
	double *v = calloc((size_t)trials, sizeof(double));
	long polls = 0, errors = 0;
	int fd = -1;

	if (sock == NULL || port == 0 || v == NULL)
		return 2;
	for (int t = 0; t < trials; t++) {
		double t0, t1, deadline;
		pid_t pid = -1;
		int cfd = -1, st;

		/* serving again, and the poller's connection warm */
		deadline = now_ms() + 5000;
		while ((st = poll_status(&fd, port, "/ready")) != 200) {
			if (now_ms() > deadline) {
				fprintf(stderr, "ndtbench: /ready not 200 "
				    "(%d) before trial %d\n", st, t);
				return 1;
			}
			sleep_us(1000);
		}
		if (prestop != NULL) {
			char *av[] = { prestop, "prestop", "--socket",
			    sock, "--timeout", "30s", NULL };

			pid = spawn_quiet(prestop, av, 1, &t0);
		} else {
			t0 = now_ms();
			cfd = unix_connect(sock);
			if (write_all(cfd, "drain\n", 6) == -1)
				die("control write");
		}
		deadline = t0 + 5000;
		for (;;) {
			st = poll_status(&fd, port, "/ready");
			polls++;
			if (st == 503)
				break;
			if (st != 200)
				errors++;
			if (now_ms() > deadline) {
				fprintf(stderr, "ndtbench: no 503 within 5 s\n");
				return 1;
			}
		}
		t1 = now_ms();
		v[t] = t1 - t0;
		control_cmd(sock, "resume\n");
		if (cfd != -1)
			close(cfd);
		if (pid != -1)
			waitpid(pid, NULL, 0);	/* exits 1: drain cancelled */
	}
	if (fd != -1)
		close(fd);
	fprintf(stderr, "drain: %ld polls of /ready in all\n", polls);
	report(prestop ? "prestop->503" : "drain->503", v, (size_t)trials,
	    errors);
	return 0;
}

static int
mode_start(int argc, char **argv)
{
	char *bin = arg(argc, argv, "--bin", NULL);
	char *cfg = arg(argc, argv, "--config", NULL);
	int port = atoi(arg(argc, argv, "--port", "0"));
	int trials = atoi(arg(argc, argv, "--trials", "20"));
	double *v = calloc((size_t)trials, sizeof(double));
	long errors = 0;

	if (bin == NULL || cfg == NULL || port == 0 || v == NULL)
		return 2;
	for (int t = 0; t < trials; t++) {
		char *av[] = { bin, "run", "-c", cfg, NULL };
		double t0, deadline;
		pid_t pid;
		int st = -1;

		for (int i = 2; i + 1 < argc; i++)
			if (strcmp(argv[i], "--unlink") == 0)
				unlink(argv[i + 1]);
		pid = spawn_quiet(bin, av, 0, &t0);
		deadline = t0 + 5000;
		for (;;) {
			int fd = tcp_connect(port);

			if (fd != -1) {
				st = http_get(fd, "/live", 0);
				close(fd);
				if (st == 200)
					break;
				errors++;
			}
			if (now_ms() > deadline) {
				fprintf(stderr, "ndtbench: no 200 on /live "
				    "within 5 s\n");
				kill(pid, SIGKILL);
				return 1;
			}
			sleep_us(100);
		}
		v[t] = now_ms() - t0;
		kill(pid, SIGINT);
		if (waitpid(pid, NULL, 0) == -1)
			die("waitpid");
	}
	report("start->200", v, (size_t)trials, errors);
	return 0;
}

static int
mode_latency(int argc, char **argv)
{
	int port = atoi(arg(argc, argv, "--port", "0"));
	const char *path = arg(argc, argv, "--path", "/live");
	double rate = atof(arg(argc, argv, "--rate", "500"));
	double secs = atof(arg(argc, argv, "--seconds", "10"));
	size_t n = 0, cap = (size_t)(rate * secs) + 1;
	double *v, t0;
	long errors = 0;

	if (port == 0 || rate <= 0 || cap > MAX_SAMPLES)
		return 2;
	if ((v = calloc(cap, sizeof(double))) == NULL)
		die("calloc");
	t0 = now_ms();
	for (size_t i = 0; i < cap; i++) {
		double due = t0 + (double)i * 1000.0 / rate;
		int fd, st = -1;

		sleep_until(due);
		if ((fd = tcp_connect(port)) != -1) {
			st = http_get(fd, path, 0);
			close(fd);
		}
		if (st != 200 && st != 503) {
			errors++;
			continue;
		}
		v[n++] = now_ms() - due;
	}
	report("latency", v, n, errors);
	return 0;
}

static int
mode_quiet(int argc, char **argv)
{
	int port = atoi(arg(argc, argv, "--port", "0"));
	char *sock = arg(argc, argv, "--socket", NULL);
	char *prestop = arg(argc, argv, "--prestop", NULL);
	double rate = atof(arg(argc, argv, "--rate", "50"));
	double before = atof(arg(argc, argv, "--before", "500"));
	double after = atof(arg(argc, argv, "--after", "1500"));
	int keepalive = 1, fd = -1, st, rc = -1;
	double t0, treq = -1, tlast = -1, tprev = -1, gap = 0, due, now;
	double wreq = 0, wlast = 0;
	long requests = 0, errors = 0;
	pid_t pid = -1;

	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--close") == 0)
			keepalive = 0;
	if (sock == NULL || prestop == NULL || port == 0 || rate <= 0)
		return 2;
	t0 = now_ms();
	for (long i = 0;; i++) {
		due = t0 + (double)i * 1000.0 / rate;
		if (treq >= 0 && due > treq + after)
			break;
		sleep_until(due);
		if (treq < 0 && due >= t0 + before) {
			char *av[] = { prestop, "prestop", "--socket", sock,
			    "--timeout", "60s", NULL };

			wreq = wall_ms();
			pid = spawn_quiet(prestop, av, 1, &treq);
		}
		now = now_ms();
		if (tprev >= 0 && now - tprev > gap)
			gap = now - tprev;
		tprev = now;
		if (treq >= 0) {
			tlast = now;
			wlast = wall_ms();
		}
		requests++;
		if (keepalive)
			st = poll_status(&fd, port, "/");
		else if ((fd = tcp_connect(port)) != -1) {
			st = http_get(fd, "/", 0);
			close(fd);
			fd = -1;
		} else
			st = -1;
		if (st != 200)
			errors++;
	}
	if (waitpid(pid, &st, 0) == -1)
		die("waitpid");
	now = now_ms();
	if (WIFEXITED(st))
		rc = WEXITSTATUS(st);
	if (fd != -1)
		close(fd);
	fprintf(stderr, "quiet: %ld requests (%ld errors), the last %.1f ms "
	    "after prestop, drained at %.1f ms\n", requests, errors,
	    tlast - treq, now - treq);
	printf("requests=%ld errors=%ld last=%.3f drained=%.3f req_wall=%.3f "
	    "last_wall=%.3f gap_max=%.3f prestop_rc=%d\n", requests, errors,
	    tlast - treq, now - treq, wreq, wlast, gap, rc);
	return 0;
}

/* exec -> exit of a short command: the cost of starting a binary */
static int
mode_exec(int argc, char **argv)
{
	int trials = atoi(arg(argc, argv, "--trials", "20"));
	double *v = calloc((size_t)trials, sizeof(double));
	long errors = 0;
	int i;

	for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
		;
	if (i + 1 >= argc || v == NULL)
		return 2;
	for (int t = 0; t < trials; t++) {
		double t0;
		pid_t pid;
		int st;

		pid = spawn_quiet(argv[i + 1], argv + i + 1, 1, &t0);
		if (waitpid(pid, &st, 0) == -1)
			die("waitpid");
		v[t] = now_ms() - t0;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			errors++;
	}
	report("exec", v, (size_t)trials, errors);
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "drain") == 0)
		return mode_drain(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "start") == 0)
		return mode_start(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "latency") == 0)
		return mode_latency(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "exec") == 0)
		return mode_exec(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "quiet") == 0)
		return mode_quiet(argc, argv);
	fprintf(stderr, "usage: ndtbench drain|start|latency|exec|quiet ...\n");
	return 2;
}
