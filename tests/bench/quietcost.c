/*
 * quietcost - what one poll of the adaptive drain's detector costs: the
 * agent's own quiet_poll() (agent/quiet.c: the agent's connections from
 * /proc/self/fd, /proc/net/snmp, conntrack_walk through sock_diag with
 * INET_DIAG_INFO, sort, compare), linked from the agent's objects.
 * For `make bench` (tests/bench/bench.py).
 *
 *   quietcost --conns N [--polls K] [--interval MS] [--own-hash B] [--files]
 *             [--idle MS]
 *
 * N TCP connections to a loopback listener, all ESTABLISHED and idle: the
 * listener and its N accepted sockets (local port = the listener's: what
 * the poll matches) live in one child process, the "app", and the N
 * client sockets in another, so each stays under a 20,000 RLIMIT_NOFILE
 * and this process holds none of them, like the agent: its /proc/self/fd
 * scan for its own connections is the real, short one. After a baseline
 * poll, K polls of the listener's port, MS apart (default 20, the shortest
 * interval drain.quiet uses), each timed on CLOCK_PROCESS_CPUTIME_ID (this
 * process's CPU, the kernel's dump work in its syscalls included) and on
 * CLOCK_MONOTONIC; user and system time over the run from getrusage.
 *
 * --own-hash B: first move into a new network namespace whose TCP hash
 * table is its own, B buckets (root only: two unshare(CLONE_NEWNET), the
 * first setting net.ipv4.tcp_child_ehash_entries for the second). A
 * namespace normally shares the host's table (a pod's does, by default),
 * and a sock_diag dump or a /proc/net/tcp read walks all of it, every
 * bucket and every socket of every namespace; in a namespace of its own
 * the poll's cost is app.port's sockets alone.
 *
 * --idle MS: time the quiescing phase's read with drain.idle_timeout MS
 * instead (conntrack_read_idle(): the counts and each connection's idle
 * times through sock_diag with INET_DIAG_INFO, every 100 ms in the agent).
 *
 * --files: socket(AF_NETLINK) fails (the link wraps socket(): -Wl,--wrap),
 * so conntrack_walk takes its /proc/net/tcp{,6} fallback, as in a sandbox
 * that refuses netlink.
 *
 * Prints a human line on stderr and one line of key=value on stdout (times
 * in µs): conns polls interval_ms cpu_mean cpu_p50 cpu_max wall_p50
 * wall_max user_mean sys_mean sockets (in the last snapshot) counters
 * (1: sock_diag's byte counters, 0: the files) quiet (polls that saw no
 * activity).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "agent/conntrack.h"
#include "agent/quiet.h"

#define QC_MAX_CONNS	50000
#define QC_MAX_POLLS	100000

/* the link's --wrap=socket: netlink refused when no_netlink is set */
int	__real_socket(int, int, int);
int	__wrap_socket(int, int, int);

static int no_netlink;

int
__wrap_socket(int domain, int type, int protocol)
{
	if (no_netlink && domain == AF_NETLINK) {
		errno = EACCES;
		return -1;
	}
	return __real_socket(domain, type, protocol);
}

static void
die(const char *what)
{
	fprintf(stderr, "quietcost: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double
clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double
tv_us(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* loopback up in the current network namespace */
static void
lo_up(void)
{
	struct ifreq ifr;
	int fd;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		die("socket");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == -1)
		die("SIOCGIFFLAGS lo");
	ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP);
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) == -1)
		die("SIOCSIFFLAGS lo");
	close(fd);
}

/* a namespace with a TCP hash table of its own, buckets entries */
static void
own_hash(long buckets)
{
	const char *path = "/proc/sys/net/ipv4/tcp_child_ehash_entries";
	char v[32];
	FILE *f;

	if (unshare(CLONE_NEWNET) == -1)
		die("unshare(CLONE_NEWNET) (--own-hash needs root)");
	snprintf(v, sizeof(v), "%ld\n", buckets);
	if ((f = fopen(path, "w")) == NULL || fputs(v, f) == EOF ||
	    fclose(f) == EOF)
		die(path);
	if (unshare(CLONE_NEWNET) == -1)
		die("unshare(CLONE_NEWNET)");
	lo_up();
}

/* room for n more descriptors than the few every process has */
static void
raise_nofile(size_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit");
	if (rl.rlim_cur >= n + 32)
		return;
	if (rl.rlim_max < n + 32) {
		/* root may raise the hard limit too */
		rl.rlim_max = n + 32;
	}
	rl.rlim_cur = n + 32;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("setrlimit RLIMIT_NOFILE (each child holds N + a few fds)");
}

static void
write_byte(int fd, char c)
{
	while (write(fd, &c, 1) == -1)
		if (errno != EINTR)
			die("pipe write");
}

/* block until the parent closes its end (or dies) */
static void
wait_eof(int fd)
{
	char c;

	while (read(fd, &c, 1) == -1 && errno == EINTR)
		;
}

/*
 * The app: listen on 127.0.0.1:0, tell the port (2 bytes) on up, accept n,
 * say 'r', hold them until hold reaches EOF.
 */
static void
run_app(size_t n, int up, int hold)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	unsigned char pb[2];
	int lfd, one = 1;
	size_t i;

	raise_nofile(n);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd == -1)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 4096) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) == -1)
		die("listen");
	memcpy(pb, &sa.sin_port, 2);
	if (write(up, pb, 2) != 2)
		die("pipe write");
	for (i = 0; i < n; i++)
		if (accept(lfd, NULL, NULL) == -1)
			die("accept");
	write_byte(up, 'r');
	wait_eof(hold);
	_exit(0);
}

/* the clients: n connections to port, 'r' on up, held until EOF on hold */
static void
run_clients(size_t n, unsigned port, int up, int hold)
{
	struct sockaddr_in sa;
	size_t i;
	int fd;

	raise_nofile(n);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < n; i++) {
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			die("socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
			die("connect");
	}
	write_byte(up, 'r');
	wait_eof(hold);
	_exit(0);
}

/* a child process and our pipes to it */
struct qc_child {
	pid_t		 ch_pid;
	int		 ch_up;		/* its messages to us */
	int		 ch_hold;	/* closed by us: it exits */
};

/* fork the app (app: 1) or the clients; other: a child already running,
 * whose pipes the new one must not hold */
static void
spawn_child(struct qc_child *ch, size_t n, unsigned port, int app,
    const struct qc_child *other)
{
	int pu[2], ph[2];

	if (pipe(pu) == -1 || pipe(ph) == -1)
		die("pipe");
	if ((ch->ch_pid = fork()) == -1)
		die("fork");
	if (ch->ch_pid == 0) {
		close(pu[0]);
		close(ph[1]);
		if (other != NULL) {
			close(other->ch_up);
			close(other->ch_hold);
		}
		if (app)
			run_app(n, pu[1], ph[0]);
		run_clients(n, port, pu[1], ph[0]);
	}
	close(pu[1]);
	close(ph[0]);
	ch->ch_up = pu[0];
	ch->ch_hold = ph[1];
}

static void
stop_child(struct qc_child *ch)
{
	int st;

	close(ch->ch_up);
	close(ch->ch_hold);
	while (waitpid(ch->ch_pid, &st, 0) == -1 && errno == EINTR)
		;
}

static void
read_full(int fd, void *buf, size_t len, const char *what)
{
	unsigned char *p = buf;
	ssize_t r;

	while (len > 0) {
		r = read(fd, p, len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "quietcost: the %s child failed\n",
			    what);
			exit(1);
		}
		p += r;
		len -= (size_t)r;
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static char *
arg(int argc, char **argv, const char *name, char *def)
{
	int i;

	for (i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return def;
}

static int
has_flag(int argc, char **argv, const char *name)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

static uint64_t
mono_ms(void)
{
	return (uint64_t)(clock_us(CLOCK_MONOTONIC) / 1e3);
}

/* one timed poll: quiet_poll(), or with idle_ms the idle read (its counts
 * into *ct); 1 when it saw no activity (quiet), 0, or -1 */
static int
poll_once(struct quiet *q, unsigned port, long idle_ms,
    struct conntrack_count *ct)
{
	enum quiet_activity a;

	if (idle_ms > 0)
		return conntrack_read_idle(port, (uint64_t)idle_ms, ct) == -1 ?
		    -1 : 0;
	if (quiet_poll(q, port, 0, mono_ms(), &a) == -1)
		return -1;
	return a == QUIET_NONE;
}

int
main(int argc, char **argv)
{
	long conns = atol(arg(argc, argv, "--conns", "1"));
	long polls = atol(arg(argc, argv, "--polls", "100"));
	long interval = atol(arg(argc, argv, "--interval", "20"));
	long buckets = atol(arg(argc, argv, "--own-hash", "0"));
	long idle_ms = atol(arg(argc, argv, "--idle", "0"));
	struct conntrack_count ct;
	double *cpu, *wall, c0, w0, sum = 0;
	struct qc_child app, cl;
	struct rusage r0, r1;
	struct quiet q;
	unsigned char pb[2];
	unsigned port;
	long i, quiet_polls = 0;
	int r;
	char c;

	if (conns < 1 || conns > QC_MAX_CONNS || polls < 1 ||
	    polls > QC_MAX_POLLS || interval < 0 || idle_ms < 0) {
		fprintf(stderr, "usage: quietcost --conns N [--polls K] "
		    "[--interval MS] [--own-hash B] [--files] [--idle MS]\n");
		return 2;
	}
	no_netlink = has_flag(argc, argv, "--files");
	if (buckets > 0)
		own_hash(buckets);
	signal(SIGPIPE, SIG_IGN);
	cpu = calloc((size_t)polls, sizeof(*cpu));
	wall = calloc((size_t)polls, sizeof(*wall));
	if (cpu == NULL || wall == NULL)
		die("calloc");

	spawn_child(&app, (size_t)conns, 0, 1, NULL);
	read_full(app.ch_up, pb, 2, "app");
	port = (unsigned)pb[0] << 8 | pb[1];
	spawn_child(&cl, (size_t)conns, port, 0, &app);
	read_full(cl.ch_up, &c, 1, "clients");
	read_full(app.ch_up, &c, 1, "app");

	/* the baseline poll, then the timed ones */
	quiet_init(&q);
	quiet_start(&q, mono_ms());
	memset(&ct, 0, sizeof(ct));
	if (poll_once(&q, port, idle_ms, &ct) == -1)
		die(idle_ms ? "conntrack_read_idle" : "quiet_poll");
	getrusage(RUSAGE_SELF, &r0);
	for (i = 0; i < polls; i++) {
		sleep_ms(interval);
		w0 = clock_us(CLOCK_MONOTONIC);
		c0 = clock_us(CLOCK_PROCESS_CPUTIME_ID);
		if ((r = poll_once(&q, port, idle_ms, &ct)) == -1)
			die(idle_ms ? "conntrack_read_idle" : "quiet_poll");
		cpu[i] = clock_us(CLOCK_PROCESS_CPUTIME_ID) - c0;
		wall[i] = clock_us(CLOCK_MONOTONIC) - w0;
		sum += cpu[i];
		quiet_polls += r;
	}
	getrusage(RUSAGE_SELF, &r1);
	stop_child(&cl);
	stop_child(&app);

	qsort(cpu, (size_t)polls, sizeof(*cpu), cmp_double);
	qsort(wall, (size_t)polls, sizeof(*wall), cmp_double);
	fprintf(stderr, "quietcost: %ld conns%s: %.1f us CPU a poll (median "
	    "%.1f, max %.1f), wall median %.1f us; %zu sockets in the "
	    "snapshot\n", conns, no_netlink ? " (files)" : idle_ms ?
	    " (idle read)" : "", sum / (double)polls, cpu[polls / 2],
	    cpu[polls - 1], wall[polls / 2], idle_ms ?
	    (size_t)ct.ct_established : q.q_prev.qs_n);
	printf("conns=%ld polls=%ld interval_ms=%ld cpu_mean=%.2f "
	    "cpu_p50=%.2f cpu_max=%.2f wall_p50=%.2f wall_max=%.2f "
	    "user_mean=%.2f sys_mean=%.2f sockets=%zu counters=%d quiet=%ld\n",
	    conns, polls, interval, sum / (double)polls, cpu[polls / 2],
	    cpu[polls - 1], wall[polls / 2], wall[polls - 1],
	    (tv_us(&r1.ru_utime) - tv_us(&r0.ru_utime)) / (double)polls,
	    (tv_us(&r1.ru_stime) - tv_us(&r0.ru_stime)) / (double)polls,
	    idle_ms ? (size_t)ct.ct_established : q.q_prev.qs_n, idle_ms ?
	    ct.ct_idle_known : quiet_counters(&q), quiet_polls);
	quiet_free(&q);
	free(cpu);
	free(wall);
	return 0;
}
