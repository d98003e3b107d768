/*
 * demo_app.c - the application of the zero-downtime e2e test (tests/e2e/).
 *
 *   demo_app [--port N] [--bind ADDR] [--delay-ms N] [--mode graceful|naive]
 *            [--name NAME] [--grace-ms N] [--exit-after-ms N]
 *
 *   --exit-after-ms N   shut down by itself after N ms, as on SIGTERM, and
 *                       exit 0: a batch job's app (a Job in tests/k8s)
 *
 *   GET /healthz        200 "ok" at once (the agent's check)
 *   GET /  (any path)   200 "hello from NAME" after --delay-ms, so requests
 *                       are in flight when the pod is told to stop
 *   POST /admin/drain   (graceful mode; the agent's drain.notify target)
 *                       answer every later request with "Connection:
 *                       close" and, from now on, close keep-alive
 *                       connections idle for IDLE_CLOSE_MS (swept every
 *                       100 ms), so keep-alive clients and proxy pools
 *                       reconnect elsewhere. The naive app does not know
 *                       it: 404.
 *
 * Shutdown on SIGTERM or SIGINT:
 *   naive     exit at once: in-flight requests and open connections die
 *             (most apps that never thought about it)
 *   graceful  stop accepting (MHD_quiesce_daemon, the listening socket is
 *             closed: new connections are refused), close idle keep-alive
 *             connections, answer what is in flight with "Connection:
 *             close", exit when nothing is in flight or after --grace-ms
 *             (what a well-behaved server does, like Go's Server.Shutdown)
 *
 * On exit a summary line goes to stderr: requests served and in flight.
 * Thread per connection: the delay is a plain sleep in the handler. Every
 * connection is on a list with a "busy" flag (a request between its
 * headers and its completion) and the time it became idle, so that idle
 * ones can be closed: shutdown(2) on the socket wakes its MHD thread, which
 * closes it. Closing an idle keep-alive races with a client that sends on it
 * at that very moment (HTTP/1.1's known race; clients retry idempotent
 * requests on such a connection). After the drain notify the load balancer
 * has stopped sending here, so only connections idle for IDLE_CLOSE_MS are
 * closed then: a busy client connection is closed by "Connection: close"
 * on its next response instead.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#define IDLE_CLOSE_MS	250	/* after /admin/drain */
#define SWEEP_MS	100

#if MHD_VERSION < 0x00097002
#define MHD_Result int
#endif

enum demo_mode { DEMO_GRACEFUL, DEMO_NAIVE };

struct demo_conn {
	MHD_socket		 dc_fd;
	int			 dc_busy;	/* a request is in progress */
	uint64_t		 dc_idle_since;	/* mono ms, when not busy */
	struct demo_conn	*dc_prev;
	struct demo_conn	*dc_next;
};

static enum demo_mode	 mode = DEMO_GRACEFUL;
static pthread_mutex_t	 conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct demo_conn	*conns;		/* open connections */
static unsigned		 delay_ms;
static const char	*app_name = "demo";
static atomic_int	 closing;	/* answer with Connection: close */
static atomic_int	 inflight;	/* requests started, not completed */
static atomic_ulong	 served;	/* requests answered */

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct demo_conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci == NULL ? NULL : ci->socket_context;
}

static void
conn_set_busy(struct MHD_Connection *c, int busy)
{
	struct demo_conn *dc = conn_of(c);

	if (dc == NULL)
		return;
	pthread_mutex_lock(&conns_lock);
	dc->dc_busy = busy;
	if (!busy)
		dc->dc_idle_since = mono_ms();
	pthread_mutex_unlock(&conns_lock);
}

/* MHD calls this before it closes the socket: under the lock, an fd on the
 * list is still open */
static void
demo_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci;
	struct demo_conn *dc;

	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || (dc = calloc(1, sizeof(*dc))) == NULL)
			return;
		dc->dc_fd = ci->connect_fd;
		dc->dc_idle_since = mono_ms();
		pthread_mutex_lock(&conns_lock);
		dc->dc_next = conns;
		if (conns != NULL)
			conns->dc_prev = dc;
		conns = dc;
		pthread_mutex_unlock(&conns_lock);
		*socket_context = dc;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED &&
	    (dc = *socket_context) != NULL) {
		pthread_mutex_lock(&conns_lock);
		if (dc->dc_prev != NULL)
			dc->dc_prev->dc_next = dc->dc_next;
		else
			conns = dc->dc_next;
		if (dc->dc_next != NULL)
			dc->dc_next->dc_prev = dc->dc_prev;
		pthread_mutex_unlock(&conns_lock);
		*socket_context = NULL;
		free(dc);
	}
}

/* close the keep-alive connections idle for min_idle_ms; how many */
static unsigned
close_idle(uint64_t min_idle_ms)
{
	struct demo_conn *dc;
	uint64_t now = mono_ms();
	unsigned n = 0;

	pthread_mutex_lock(&conns_lock);
	for (dc = conns; dc != NULL; dc = dc->dc_next) {
		if (dc->dc_busy || dc->dc_fd == MHD_INVALID_SOCKET ||
		    now - dc->dc_idle_since < min_idle_ms)
			continue;
		if (shutdown(dc->dc_fd, SHUT_RDWR) == 0)
			n++;
		dc->dc_fd = MHD_INVALID_SOCKET;	/* once is enough */
	}
	pthread_mutex_unlock(&conns_lock);
	return n;
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
	if (atomic_load(&closing))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
demo_handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **con_cls)
{
	static int started;
	char body[256];

	(void)cls;
	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) {		/* first call: headers are in */
		*con_cls = &started;
		atomic_fetch_add(&inflight, 1);
		conn_set_busy(c, 1);
		return MHD_YES;
	}
	if (*upload_size != 0) {	/* discard any body */
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/healthz") == 0)
		return reply(c, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/admin/drain") == 0 && mode == DEMO_GRACEFUL) {
		if (strcmp(method, "POST") != 0)
			return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST\n");
		atomic_store(&closing, 1);
		fprintf(stderr, "demo_app %s: drain notified, closed %u idle "
		    "keep-alive connections\n", app_name,
		    close_idle(IDLE_CLOSE_MS));
		return reply(c, MHD_HTTP_OK, "draining\n");
	}
	if (strncmp(url, "/admin/", 7) == 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found\n");
	if (delay_ms > 0)
		sleep_ms(delay_ms);
	snprintf(body, sizeof(body), "hello from %s\n", app_name);
	return reply(c, MHD_HTTP_OK, body);
}

static void
demo_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	if (*con_cls == NULL)
		return;
	*con_cls = NULL;
	conn_set_busy(c, 0);
	atomic_fetch_sub(&inflight, 1);
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		atomic_fetch_add(&served, 1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: demo_app [--port N] [--bind ADDR] "
	    "[--delay-ms N] [--mode graceful|naive] [--name NAME] "
	    "[--grace-ms N] [--exit-after-ms N]\n");
	exit(2);
}

static unsigned
num_arg(const char *s, unsigned max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v > max)
		usage();
	return (unsigned)v;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct MHD_Daemon *d;
	const char *bind_addr = "0.0.0.0";
	unsigned port = 8080, grace_ms = 10000, exit_after_ms = 0;
	sigset_t set;
	uint64_t deadline;
	MHD_socket lfd;
	int i, sig;

	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--port") == 0)
			port = num_arg(argv[++i], 65535);
		else if (strcmp(argv[i], "--bind") == 0)
			bind_addr = argv[++i];
		else if (strcmp(argv[i], "--delay-ms") == 0)
			delay_ms = num_arg(argv[++i], 60000);
		else if (strcmp(argv[i], "--grace-ms") == 0)
			grace_ms = num_arg(argv[++i], 600000);
		else if (strcmp(argv[i], "--exit-after-ms") == 0)
			exit_after_ms = num_arg(argv[++i], 86400000);
		else if (strcmp(argv[i], "--name") == 0)
			app_name = argv[++i];
		else if (strcmp(argv[i], "--mode") == 0) {
			i++;
			if (strcmp(argv[i], "graceful") == 0)
				mode = DEMO_GRACEFUL;
			else if (strcmp(argv[i], "naive") == 0)
				mode = DEMO_NAIVE;
			else
				usage();
		} else
			usage();
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, bind_addr, &sin.sin_addr) != 1)
		usage();

	/* the MHD threads inherit the mask: only sigwait sees the signals */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return 1;

	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ITC |
	    MHD_USE_ERROR_LOG, 0, NULL, NULL, demo_handler, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
	    MHD_OPTION_CONNECTION_LIMIT, 1000u,
	    MHD_OPTION_NOTIFY_COMPLETED, demo_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, demo_conn_notify, NULL,
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "demo_app %s: cannot listen on %s:%u\n",
		    app_name, bind_addr, port);
		return 1;
	}
	fprintf(stderr, "demo_app %s: listening on %s:%u, delay %ums, %s\n",
	    app_name, bind_addr, port, delay_ms,
	    mode == DEMO_NAIVE ? "naive" : "graceful");

	sigdelset(&set, SIGPIPE);
	deadline = exit_after_ms ? mono_ms() + exit_after_ms : 0;
	for (;;) {
		struct timespec ts = { 0, SWEEP_MS * 1000000L };
		unsigned n;

		sig = sigtimedwait(&set, NULL, &ts);
		if (sig != -1)
			break;
		if (deadline != 0 && mono_ms() >= deadline) {
			fprintf(stderr, "demo_app %s: --exit-after-ms %u reached\n",
			    app_name, exit_after_ms);
			sig = 0;
			break;
		}
		if (atomic_load(&closing) &&
		    (n = close_idle(IDLE_CLOSE_MS)) > 0)
			fprintf(stderr, "demo_app %s: closed %u idle "
			    "keep-alive connections\n", app_name, n);
	}

	if (mode == DEMO_NAIVE) {
		fprintf(stderr, "demo_app %s: signal %d, exiting at once "
		    "(served %lu, in flight %d)\n", app_name, sig,
		    atomic_load(&served), atomic_load(&inflight));
		_exit(0);
	}

	/* graceful: refuse new connections, finish what is in flight */
	atomic_store(&closing, 1);
	lfd = MHD_quiesce_daemon(d);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	fprintf(stderr, "demo_app %s: signal %d, stopped accepting, "
	    "closed %u idle connections, %d in flight\n", app_name, sig,
	    close_idle(0), atomic_load(&inflight));
	deadline = mono_ms() + grace_ms;
	while (atomic_load(&inflight) > 0 && mono_ms() < deadline)
		sleep_ms(10);
	fprintf(stderr, "demo_app %s: exiting (served %lu, in flight %d)\n",
	    app_name, atomic_load(&served), atomic_load(&inflight));
	MHD_stop_daemon(d);
	return 0;
}
