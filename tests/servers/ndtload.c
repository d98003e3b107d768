/*
 * ndtload.c - the load client of the Kubernetes e2e (tests/k8s/e2e.py):
 * HTTP/1.1 GETs over N connections, every request's outcome recorded in
 * time, so that what a rolling update loses can be counted and drawn
 * (tests/e2e/timeline.py). libc, pthread and libm only.
 *
 *   ndtload --url http://HOST[:PORT]/PATH [--connections N (16)]
 *           [--mode keepalive|close] [--out FILE.json] [--bucket-ms MS (100)]
 *           [--timeout-ms MS (5000)] [--duration S (0: until SIGINT/SIGTERM)]
 *           [--rate R (requests/s per connection, 0: as fast as possible)]
 *           [--max-requests N (keepalive: close a connection after N
 *            answers and open a new one, as pools that retire connections
 *            do; 0: never)]
 *
 * One thread per connection, blocking sockets. keepalive reuses a
 * connection until the server says "Connection: close" or closes it, then
 * reconnects; close sends "Connection: close" and connects per request.
 * Before it reuses a connection a thread polls it (as curl and Go's client
 * do): one the server has already closed is dropped, not sent on
 * (stale_reconnects). A close that races with the request is an error.
 *
 * Strict accounting: a request without a complete response (status line,
 * headers, the whole body by Content-Length, chunked or close) is an error
 * of one kind: connect (refused, unreachable, timed out), write, read (EOF
 * or reset before the end, also on a reused keep-alive connection, or a
 * malformed response), timeout (--timeout-ms for the whole request). A
 * non-2xx response counts by status. Latency (responses only) is from the
 * request's start, its connect included when it needs one, into a
 * log-linear histogram (<= 0.4 % error). The timeline counts ok / non-2xx /
 * error per --bucket-ms by completion (an error: when it was seen), bucket
 * i covering start_unix_ms + i * bucket_ms; it stops at MAX_BUCKETS (2 h of
 * 100 ms buckets) and says so. The first MAX_FAILURES failures are kept.
 *
 * On SIGINT, SIGTERM or --duration no request starts; those in flight get
 * GRACE_MS to finish, then their sockets are shut down and they count as
 * aborted_at_stop, not as errors. The JSON goes to --out (written to a
 * temporary name and renamed) or stdout, a summary line to stderr, exit 0.
 * Bad usage: exit 2; the JSON not written: exit 1.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define MAX_CONNS	1024
#define MAX_BUCKETS	72000		/* 2 h at 100 ms */
#define BUCKET_CHUNK	1024
#define MAX_FAILURES	200
#define DETAIL_LEN	112
#define RBUF_SIZE	16384		/* a header block or a chunk line fits */
#define REQ_SIZE	2048
#define GRACE_MS	1000		/* for in-flight requests at the stop */
#define CONNECT_PAUSE_MS 10		/* after a failed connect */
#define STACK_SIZE	(256 * 1024)

/* the histogram: values below HIST_LIN exact, then HIST_SUB sub-buckets per
 * power of two, each reported by its middle: <= 1/256 relative error */
#define HIST_LIN	256
#define HIST_SUB	128
#define HIST_N		(HIST_LIN + (64 - 8) * HIST_SUB)

enum ld_kind {
	LD_OK,
	LD_NON2XX,
	LD_CONNECT,
	LD_WRITE,
	LD_READ,
	LD_TIMEOUT,
	LD_ABORTED,
	LD_NKINDS,
	LD_EOF = LD_NKINDS	/* internal to the reader */
};

static const char *const ld_kind_names[LD_NKINDS] = {
	"ok", "status", "connect", "write", "read", "timeout", "aborted"
};

static const char *
ld_kind_str(enum ld_kind k)
{
	return k < LD_NKINDS ? ld_kind_names[k] : "?";
}

struct ld_failure {
	uint64_t	 lf_unix_ms;
	enum ld_kind	 lf_kind;
	char		 lf_detail[DETAIL_LEN];
};

struct ld_stats {
	pthread_mutex_t	 st_lock;
	uint64_t	 st_requests;
	uint64_t	 st_ok;
	uint64_t	 st_non2xx;
	uint64_t	 st_err[LD_NKINDS];
	uint64_t	 st_aborted;
	uint64_t	 st_stale;	/* reused connections found closed */
	uint64_t	 st_connects;
	uint64_t	 st_status[600];
	uint64_t	 st_hist[HIST_N];
	uint64_t	 st_hist_n;
	uint64_t	 st_max_us;
	uint32_t	(*st_buckets)[3];	/* ok, non2xx, error */
	size_t		 st_nbuckets;	/* used */
	size_t		 st_capbuckets;	/* allocated */
	uint64_t	 st_bucket_dropped;	/* past MAX_BUCKETS or no memory */
	struct ld_failure st_fail[MAX_FAILURES];
	size_t		 st_nfail;
	uint64_t	 st_fail_dropped;
	int		 st_closed;	/* reported: record nothing more */
};

struct ld_conn {
	pthread_t	 lc_thread;
	pthread_mutex_t	 lc_lock;	/* lc_fd, against the stop's shutdown */
	int		 lc_fd;
	atomic_int	 lc_busy;	/* a request is in flight */
	unsigned	 lc_reqs;	/* requests sent on this connection */
	uint64_t	 lc_deadline;	/* mono ns, the current request's */
	char		 lc_detail[DETAIL_LEN];
	size_t		 lc_off;	/* unread: lc_buf[lc_off..lc_len) */
	size_t		 lc_len;
	char		 lc_buf[RBUF_SIZE];
};

struct ld_resp {
	unsigned	 rs_status;
	char		 rs_reason[48];
	int		 rs_close;	/* the connection ends after it */
	int		 rs_chunked;
	int		 rs_has_len;
	uint64_t	 rs_len;
};

/* options */
static const char	*opt_url;
static unsigned		 opt_conns = 16;
static int		 opt_close;	/* --mode close */
static const char	*opt_out;
static unsigned		 opt_bucket_ms = 100;
static unsigned		 opt_timeout_ms = 5000;
static double		 opt_duration;
static double		 opt_rate;
static unsigned		 opt_max_requests;	/* per connection; 0: no cap */

static struct sockaddr_storage	 target;
static socklen_t		 target_len;
static char			 request[REQ_SIZE];
static size_t			 request_len;

static struct ld_stats	 stats = { .st_lock = PTHREAD_MUTEX_INITIALIZER };
static uint64_t		 start_mono;	/* ns */
static uint64_t		 start_unix_ms;
static atomic_int	 stopping;	/* start no request */
static atomic_int	 aborting;	/* in-flight requests are cut */
static pthread_mutex_t	 run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 run_cond;	/* CLOCK_MONOTONIC */
static unsigned		 running;	/* workers, under run_lock */

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct timespec
ns_to_ts(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
	    (long)(ns % 1000000000u) };

	return ts;
}

/* ---- histogram ---------------------------------------------------------- */

static size_t
hist_index(uint64_t v)
{
	int e;

	if (v < HIST_LIN)
		return (size_t)v;
	e = 63 - __builtin_clzll(v);		/* >= 8 */
	return HIST_LIN + (size_t)(e - 8) * HIST_SUB +
	    (size_t)((v >> (e - 7)) - HIST_SUB);
}

static uint64_t
hist_value(size_t i)
{
	size_t k;
	unsigned e;

	if (i < HIST_LIN)
		return i;
	k = i - HIST_LIN;
	e = 8 + (unsigned)(k / HIST_SUB);
	return ((HIST_SUB + k % HIST_SUB) << (e - 7)) +
	    ((uint64_t)1 << (e - 7)) / 2;
}

/* the smallest value at or above the q-quantile; caller holds st_lock */
static uint64_t
hist_quantile(double q)
{
	uint64_t rank, seen = 0, v;
	size_t i;

	if (stats.st_hist_n == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)stats.st_hist_n);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_N; i++) {
		seen += stats.st_hist[i];
		if (seen >= rank) {
			v = hist_value(i);
			return v > stats.st_max_us ? stats.st_max_us : v;
		}
	}
	return stats.st_max_us;
}

/* ---- the record --------------------------------------------------------- */

static uint64_t
unix_ms_of(uint64_t t_mono)
{
	return start_unix_ms + (t_mono - start_mono) / 1000000u;
}

/* the bucket of t_mono, allocated; NULL past the cap. Holds st_lock. */
static uint32_t *
stats_bucket(uint64_t t_mono)
{
	uint32_t (*nb)[3];
	size_t i, cap;

	i = (size_t)((t_mono - start_mono) / 1000000u / opt_bucket_ms);
	if (i >= MAX_BUCKETS)
		return NULL;
	if (i >= stats.st_capbuckets) {
		cap = (i / BUCKET_CHUNK + 1) * BUCKET_CHUNK;
		if (cap > MAX_BUCKETS)
			cap = MAX_BUCKETS;
		nb = realloc(stats.st_buckets, cap * sizeof(*nb));
		if (nb == NULL)
			return NULL;
		memset(nb + stats.st_capbuckets, 0,
		    (cap - stats.st_capbuckets) * sizeof(*nb));
		stats.st_buckets = nb;
		stats.st_capbuckets = cap;
	}
	if (i >= stats.st_nbuckets)
		stats.st_nbuckets = i + 1;
	return stats.st_buckets[i];
}

static void
stats_record(enum ld_kind kind, unsigned status, uint64_t t0, uint64_t t1,
    const char *detail)
{
	struct ld_failure *f;
	uint64_t us = (t1 - t0) / 1000u;
	uint32_t *b;

	pthread_mutex_lock(&stats.st_lock);
	if (stats.st_closed)
		goto done;
	if (kind == LD_ABORTED) {
		stats.st_aborted++;
		goto done;
	}
	stats.st_requests++;
	if (kind == LD_OK || kind == LD_NON2XX) {
		if (kind == LD_OK)
			stats.st_ok++;
		else
			stats.st_non2xx++;
		if (status < 600)
			stats.st_status[status]++;
		stats.st_hist[hist_index(us)]++;
		stats.st_hist_n++;
		if (us > stats.st_max_us)
			stats.st_max_us = us;
	} else
		stats.st_err[kind]++;
	if ((b = stats_bucket(t1)) != NULL)
		b[kind == LD_OK ? 0 : kind == LD_NON2XX ? 1 : 2]++;
	else
		stats.st_bucket_dropped++;
	if (kind != LD_OK) {
		if (stats.st_nfail < MAX_FAILURES) {
			f = &stats.st_fail[stats.st_nfail++];
			f->lf_unix_ms = unix_ms_of(t1);
			f->lf_kind = kind;
			snprintf(f->lf_detail, sizeof(f->lf_detail), "%s",
			    detail);
		} else
			stats.st_fail_dropped++;
	}
done:
	pthread_mutex_unlock(&stats.st_lock);
}

static void
stats_add(uint64_t *counter)
{
	pthread_mutex_lock(&stats.st_lock);
	(*counter)++;
	pthread_mutex_unlock(&stats.st_lock);
}

/* ---- one connection ----------------------------------------------------- */

static enum ld_kind
conn_fail(struct ld_conn *c, enum ld_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum ld_kind
conn_fail(struct ld_conn *c, enum ld_kind kind, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(c->lc_detail, sizeof(c->lc_detail), fmt, ap);
	va_end(ap);
	if (c->lc_reqs > 1 && kind == LD_READ) {	/* a keep-alive race? */
		n = strlen(c->lc_detail);
		snprintf(c->lc_detail + n, sizeof(c->lc_detail) - n,
		    " (request %u on this connection)", c->lc_reqs);
	}
	return kind;
}

static void
conn_close(struct ld_conn *c)
{
	pthread_mutex_lock(&c->lc_lock);
	if (c->lc_fd != -1)
		close(c->lc_fd);
	c->lc_fd = -1;
	pthread_mutex_unlock(&c->lc_lock);
	c->lc_reqs = 0;
	c->lc_off = c->lc_len = 0;
}

/* can an idle keep-alive connection be reused: still open, nothing unread */
static int
conn_reusable(struct ld_conn *c)
{
	struct pollfd pfd = { c->lc_fd, POLLIN | POLLRDHUP, 0 };

	if (c->lc_off != c->lc_len)
		return 0;
	return poll(&pfd, 1, 0) == 0;
}

static enum ld_kind
conn_open(struct ld_conn *c)
{
	struct timeval tv = { (time_t)(opt_timeout_ms / 1000),
	    (long)(opt_timeout_ms % 1000) * 1000 };
	int fd, one = 1, e;

	fd = socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return conn_fail(c, LD_CONNECT, "socket: %s", strerror(errno));
	/* SO_SNDTIMEO bounds connect(2) and send(2) */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&c->lc_lock);
	c->lc_fd = fd;
	pthread_mutex_unlock(&c->lc_lock);
	if (atomic_load(&aborting))
		return LD_ABORTED;
	stats_add(&stats.st_connects);
	while (connect(fd, (struct sockaddr *)&target, target_len) == -1) {
		e = errno;
		if (e == EINTR)
			continue;
		if (e == EINPROGRESS || e == EAGAIN)
			return conn_fail(c, LD_CONNECT, "connect: timed out "
			    "after %u ms", opt_timeout_ms);
		return conn_fail(c, LD_CONNECT, "connect: %s", strerror(e));
	}
	return LD_OK;
}

/* more bytes into lc_buf before the deadline; LD_EOF at the end */
static enum ld_kind
rd_recv(struct ld_conn *c)
{
	struct pollfd pfd = { c->lc_fd, POLLIN, 0 };
	uint64_t now;
	ssize_t n;
	int pr;

	if (c->lc_off == c->lc_len)
		c->lc_off = c->lc_len = 0;
	else if (c->lc_len == sizeof(c->lc_buf) && c->lc_off > 0) {
		memmove(c->lc_buf, c->lc_buf + c->lc_off, c->lc_len - c->lc_off);
		c->lc_len -= c->lc_off;
		c->lc_off = 0;
	}
	if (c->lc_len == sizeof(c->lc_buf))
		return conn_fail(c, LD_READ, "a header block or chunk line "
		    "over %zu bytes", sizeof(c->lc_buf));
	for (;;) {
		now = mono_ns();
		if (now >= c->lc_deadline)
			return conn_fail(c, LD_TIMEOUT, "no complete response "
			    "in %u ms", opt_timeout_ms);
		pr = poll(&pfd, 1, (int)((c->lc_deadline - now + 999999u) /
		    1000000u));
		if (pr == -1 && errno != EINTR)
			return conn_fail(c, LD_READ, "poll: %s",
			    strerror(errno));
		if (pr <= 0)
			continue;
		n = recv(c->lc_fd, c->lc_buf + c->lc_len,
		    sizeof(c->lc_buf) - c->lc_len, 0);
		if (n > 0) {
			c->lc_len += (size_t)n;
			return LD_OK;
		}
		if (n == 0)
			return LD_EOF;
		if (errno != EINTR && errno != EAGAIN)
			return conn_fail(c, LD_READ, "read: %s",
			    strerror(errno));
	}
}

/* one CRLF-terminated line, NUL-terminated in place */
static enum ld_kind
rd_line(struct ld_conn *c, char **line)
{
	char *p;
	enum ld_kind k;

	for (;;) {
		p = memmem(c->lc_buf + c->lc_off, c->lc_len - c->lc_off,
		    "\r\n", 2);
		if (p != NULL) {
			*p = '\0';
			*line = c->lc_buf + c->lc_off;
			c->lc_off = (size_t)(p + 2 - c->lc_buf);
			return LD_OK;
		}
		if ((k = rd_recv(c)) == LD_EOF)
			return conn_fail(c, LD_READ, "EOF in the chunked body");
		if (k != LD_OK)
			return k;
	}
}

/* discard n body bytes */
static enum ld_kind
rd_skip(struct ld_conn *c, uint64_t n, uint64_t total)
{
	size_t have;
	enum ld_kind k;

	for (;;) {
		have = c->lc_len - c->lc_off;
		if ((uint64_t)have >= n) {
			c->lc_off += (size_t)n;
			return LD_OK;
		}
		n -= have;
		c->lc_off = c->lc_len;
		if ((k = rd_recv(c)) == LD_EOF)
			return conn_fail(c, LD_READ, "EOF in the body, %llu of "
			    "%llu bytes missing", (unsigned long long)n,
			    (unsigned long long)total);
		if (k != LD_OK)
			return k;
	}
}

static enum ld_kind
rd_chunked(struct ld_conn *c)
{
	unsigned long long size;
	char *line, *end;
	enum ld_kind k;

	for (;;) {
		if ((k = rd_line(c, &line)) != LD_OK)
			return k;
		errno = 0;
		size = strtoull(line, &end, 16);
		if (end == line || errno != 0 || (*end != '\0' && *end != ';' &&
		    *end != ' ' && *end != '\t'))
			return conn_fail(c, LD_READ, "bad chunk size line");
		if (size == 0)
			break;
		if ((k = rd_skip(c, size, size)) != LD_OK ||
		    (k = rd_line(c, &line)) != LD_OK)
			return k;
		if (*line != '\0')
			return conn_fail(c, LD_READ, "no CRLF after a chunk");
	}
	do {					/* trailers, to the empty line */
		if ((k = rd_line(c, &line)) != LD_OK)
			return k;
	} while (*line != '\0');
	return LD_OK;
}

/* does the comma-separated header value hold token */
static int
has_token(const char *value, const char *token)
{
	size_t n = strlen(token);
	const char *p;

	for (p = value; (p = strcasestr(p, token)) != NULL; p += n)
		if ((p == value || p[-1] == ',' || p[-1] == ' ' ||
		    p[-1] == '\t') && (p[n] == '\0' || p[n] == ',' ||
		    p[n] == ' ' || p[n] == '\t'))
			return 1;
	return 0;
}

/* the status line and the headers, up to the empty line */
static enum ld_kind
rd_head(struct ld_conn *c, struct ld_resp *r)
{
	char *line, *end, *v;
	unsigned minor;
	enum ld_kind k;

	memset(r, 0, sizeof(*r));
	while (memmem(c->lc_buf + c->lc_off, c->lc_len - c->lc_off,
	    "\r\n\r\n", 4) == NULL) {
		if ((k = rd_recv(c)) == LD_EOF)
			return conn_fail(c, LD_READ, c->lc_off == c->lc_len ?
			    "EOF before the status line" : "EOF in the headers");
		if (k != LD_OK)
			return k;
	}
	(void)rd_line(c, &line);		/* both in the buffer now */
	if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' ||
	    line[7] > '9' || line[8] != ' ')
		return conn_fail(c, LD_READ, "bad status line");
	minor = (unsigned)(line[7] - '0');
	r->rs_status = (unsigned)strtoul(line + 9, &end, 10);
	if (end != line + 12 || r->rs_status < 100 || r->rs_status > 599 ||
	    (*end != ' ' && *end != '\0'))
		return conn_fail(c, LD_READ, "bad status line");
	snprintf(r->rs_reason, sizeof(r->rs_reason), "%s",
	    *end == ' ' ? end + 1 : "");
	r->rs_close = minor == 0;
	for (;;) {
		(void)rd_line(c, &line);
		if (*line == '\0')
			break;
		if ((v = strchr(line, ':')) == NULL)
			return conn_fail(c, LD_READ, "bad header line");
		*v++ = '\0';
		v += strspn(v, " \t");
		if (strcasecmp(line, "Content-Length") == 0) {
			errno = 0;
			r->rs_len = strtoull(v, &end, 10);
			if (end == v || errno != 0)
				return conn_fail(c, LD_READ,
				    "bad Content-Length");
			r->rs_has_len = 1;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0)
			r->rs_chunked = has_token(v, "chunked");
		else if (strcasecmp(line, "Connection") == 0) {
			if (has_token(v, "close"))
				r->rs_close = 1;
			else if (has_token(v, "keep-alive"))
				r->rs_close = 0;
		}
	}
	return LD_OK;
}

static enum ld_kind
ld_request(struct ld_conn *c, int *must_close, unsigned *status)
{
	struct ld_resp r;
	size_t off = 0;
	ssize_t n;
	enum ld_kind k;

	c->lc_deadline = mono_ns() + (uint64_t)opt_timeout_ms * 1000000u;
	c->lc_detail[0] = '\0';
	if (c->lc_fd != -1 && !conn_reusable(c)) {
		stats_add(&stats.st_stale);
		conn_close(c);
	}
	if (c->lc_fd == -1 && (k = conn_open(c)) != LD_OK)
		return k;
	c->lc_reqs++;
	while (off < request_len) {
		n = send(c->lc_fd, request + off, request_len - off,
		    MSG_NOSIGNAL);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return conn_fail(c, LD_TIMEOUT, "write: timed out "
			    "after %u ms", opt_timeout_ms);
		return conn_fail(c, LD_WRITE, "write: %s", strerror(errno));
	}
	do {					/* 1xx: the real one follows */
		if ((k = rd_head(c, &r)) != LD_OK)
			return k;
	} while (r.rs_status < 200);
	*status = r.rs_status;
	if (r.rs_status == 204 || r.rs_status == 304)
		k = LD_OK;
	else if (r.rs_chunked)
		k = rd_chunked(c);
	else if (r.rs_has_len)
		k = rd_skip(c, r.rs_len, r.rs_len);
	else {					/* the body ends at EOF */
		r.rs_close = 1;
		do
			c->lc_off = c->lc_len;
		while ((k = rd_recv(c)) == LD_OK);
		if (k == LD_EOF)
			k = LD_OK;
	}
	if (k != LD_OK)
		return k;
	*must_close = r.rs_close || opt_close;
	if (r.rs_status >= 300)
		return conn_fail(c, LD_NON2XX, "%u %s", r.rs_status,
		    r.rs_reason);
	return LD_OK;
}

/* sleep until t (mono ns) or the stop */
static void
pause_until(uint64_t t)
{
	struct timespec ts = ns_to_ts(t);

	pthread_mutex_lock(&run_lock);
	while (!atomic_load(&stopping) && mono_ns() < t)
		if (pthread_cond_timedwait(&run_cond, &run_lock, &ts) ==
		    ETIMEDOUT)
			break;
	pthread_mutex_unlock(&run_lock);
}

static void *
ld_worker(void *arg)
{
	struct ld_conn *c = arg;
	uint64_t t0, t1, next = 0, interval;
	unsigned status, on_conn = 0;
	int must_close;
	enum ld_kind k;

	interval = opt_rate > 0 ? (uint64_t)(1e9 / opt_rate) : 0;
	while (!atomic_load(&stopping)) {
		if (interval > 0) {
			if (next == 0)
				next = mono_ns();
			pause_until(next);
			if (atomic_load(&stopping))
				break;
			next += interval;
			if (mono_ns() > next + interval)
				next = mono_ns();	/* no catch-up burst */
		}
		status = 0;
		must_close = 1;
		atomic_store(&c->lc_busy, 1);
		t0 = mono_ns();
		k = ld_request(c, &must_close, &status);
		t1 = mono_ns();
		if (k != LD_OK && k != LD_NON2XX && atomic_load(&aborting))
			k = LD_ABORTED;
		stats_record(k, status, t0, t1, c->lc_detail);
		atomic_store(&c->lc_busy, 0);
		/* --max-requests: a pool that retires its connections */
		if (k == LD_OK || k == LD_NON2XX)
			on_conn++;
		if (opt_max_requests > 0 && on_conn >= opt_max_requests)
			must_close = 1;
		if ((k != LD_OK && k != LD_NON2XX) || must_close) {
			conn_close(c);
			on_conn = 0;
		}
		if (k == LD_CONNECT)
			pause_until(mono_ns() + CONNECT_PAUSE_MS * 1000000u);
	}
	conn_close(c);
	pthread_mutex_lock(&run_lock);
	running--;
	pthread_cond_broadcast(&run_cond);
	pthread_mutex_unlock(&run_lock);
	return NULL;
}

/* ---- the report --------------------------------------------------------- */

static void
json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* caller holds st_lock */
static void
json_write(FILE *f, uint64_t end_mono, uint64_t stop_mono)
{
	size_t i;
	int first = 1;

	fprintf(f, "{\n\"url\": ");
	json_str(f, opt_url);
	fprintf(f, ",\n\"mode\": \"%s\",\n\"connections\": %u,\n"
	    "\"rate\": %g,\n\"timeout_ms\": %u,\n"
	    "\"start_unix_ms\": %llu,\n\"duration_ms\": %llu,\n"
	    "\"stop_ms\": %llu,\n", opt_close ? "close" : "keepalive",
	    opt_conns, opt_rate, opt_timeout_ms,
	    (unsigned long long)start_unix_ms,
	    (unsigned long long)((end_mono - start_mono) / 1000000u),
	    (unsigned long long)((stop_mono - start_mono) / 1000000u));
	fprintf(f, "\"requests\": %llu,\n\"ok\": %llu,\n\"non2xx\": %llu,\n"
	    "\"status\": {", (unsigned long long)stats.st_requests,
	    (unsigned long long)stats.st_ok,
	    (unsigned long long)stats.st_non2xx);
	for (i = 0; i < 600; i++)
		if (stats.st_status[i] > 0) {
			fprintf(f, "%s\"%zu\": %llu", first ? "" : ", ", i,
			    (unsigned long long)stats.st_status[i]);
			first = 0;
		}
	fprintf(f, "},\n\"errors\": {\"connect\": %llu, \"write\": %llu, "
	    "\"read\": %llu, \"timeout\": %llu},\n\"aborted_at_stop\": %llu,\n"
	    "\"connects\": %llu,\n\"stale_reconnects\": %llu,\n",
	    (unsigned long long)stats.st_err[LD_CONNECT],
	    (unsigned long long)stats.st_err[LD_WRITE],
	    (unsigned long long)stats.st_err[LD_READ],
	    (unsigned long long)stats.st_err[LD_TIMEOUT],
	    (unsigned long long)stats.st_aborted,
	    (unsigned long long)stats.st_connects,
	    (unsigned long long)stats.st_stale);
	fprintf(f, "\"latency_us\": {\"n\": %llu, \"p50\": %llu, \"p90\": %llu, "
	    "\"p99\": %llu, \"p999\": %llu, \"max\": %llu},\n",
	    (unsigned long long)stats.st_hist_n,
	    (unsigned long long)hist_quantile(0.5),
	    (unsigned long long)hist_quantile(0.9),
	    (unsigned long long)hist_quantile(0.99),
	    (unsigned long long)hist_quantile(0.999),
	    (unsigned long long)stats.st_max_us);
	fprintf(f, "\"bucket_ms\": %u,\n\"buckets_truncated\": %s,\n"
	    "\"buckets_dropped\": %llu,\n\"buckets\": [", opt_bucket_ms,
	    stats.st_bucket_dropped > 0 ? "true" : "false",
	    (unsigned long long)stats.st_bucket_dropped);
	for (i = 0; i < stats.st_nbuckets; i++)
		fprintf(f, "%s[%u,%u,%u]", i == 0 ? "" : i % 8 ? "," : ",\n",
		    stats.st_buckets[i][0], stats.st_buckets[i][1],
		    stats.st_buckets[i][2]);
	fprintf(f, "],\n\"failures_dropped\": %llu,\n\"first_failures\": [",
	    (unsigned long long)stats.st_fail_dropped);
	for (i = 0; i < stats.st_nfail; i++) {
		fprintf(f, "%s\n{\"t_unix_ms\": %llu, \"kind\": \"%s\", "
		    "\"detail\": ", i == 0 ? "" : ",",
		    (unsigned long long)stats.st_fail[i].lf_unix_ms,
		    ld_kind_str(stats.st_fail[i].lf_kind));
		json_str(f, stats.st_fail[i].lf_detail);
		fputc('}', f);
	}
	fprintf(f, "]\n}\n");
}

static int
report(uint64_t end_mono, uint64_t stop_mono)
{
	char tmp[PATH_MAX];
	FILE *f = stdout;
	double secs = (double)(end_mono - start_mono) / 1e9;
	uint64_t errs;
	int rc = 0;

	pthread_mutex_lock(&stats.st_lock);
	if (opt_out != NULL) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", opt_out);
		if ((f = fopen(tmp, "we")) == NULL) {
			fprintf(stderr, "ndtload: %s: %s\n", tmp,
			    strerror(errno));
			rc = 1;
			goto done;
		}
	}
	json_write(f, end_mono, stop_mono);
	if (fflush(f) != 0 || ferror(f) || (f != stdout && fclose(f) != 0) ||
	    (opt_out != NULL && rename(tmp, opt_out) == -1)) {
		fprintf(stderr, "ndtload: writing %s: %s\n",
		    opt_out != NULL ? opt_out : "stdout", strerror(errno));
		rc = 1;
	}
	errs = stats.st_requests - stats.st_ok - stats.st_non2xx;
	fprintf(stderr, "ndtload: %llu requests in %.2f s (%.0f/s): %llu ok, "
	    "%llu non-2xx, %llu errors (connect %llu, write %llu, read %llu, "
	    "timeout %llu), %llu aborted at stop; latency p50 %.2f ms p99 "
	    "%.2f ms max %.2f ms\n", (unsigned long long)stats.st_requests,
	    secs, secs > 0 ? (double)stats.st_requests / secs : 0.0,
	    (unsigned long long)stats.st_ok,
	    (unsigned long long)stats.st_non2xx, (unsigned long long)errs,
	    (unsigned long long)stats.st_err[LD_CONNECT],
	    (unsigned long long)stats.st_err[LD_WRITE],
	    (unsigned long long)stats.st_err[LD_READ],
	    (unsigned long long)stats.st_err[LD_TIMEOUT],
	    (unsigned long long)stats.st_aborted,
	    (double)hist_quantile(0.5) / 1e3, (double)hist_quantile(0.99) / 1e3,
	    (double)stats.st_max_us / 1e3);
done:
	pthread_mutex_unlock(&stats.st_lock);
	return rc;
}

/* ---- start-up ----------------------------------------------------------- */

static void
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "ndtload: %s\n", why);
	fprintf(stderr, "usage: ndtload --url http://HOST[:PORT]/PATH "
	    "[--connections N] [--mode keepalive|close]\n"
	    "               [--out FILE.json] [--bucket-ms MS] "
	    "[--timeout-ms MS] [--duration S] [--rate R] [--max-requests N]\n");
	exit(2);
}

static unsigned
num_arg(const char *opt, const char *s, unsigned lo, unsigned hi)
{
	char why[128];
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		snprintf(why, sizeof(why), "%s: want an integer in %u..%u, "
		    "not \"%s\"", opt, lo, hi, s);
		usage(why);
	}
	return (unsigned)v;
}

static double
real_arg(const char *opt, const char *s)
{
	char why[128];
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *s == '\0' || *end != '\0' || !(v >= 0) ||
	    v > 1e7) {
		snprintf(why, sizeof(why), "%s: want a number >= 0, not \"%s\"",
		    opt, s);
		usage(why);
	}
	return v;
}

/* http://HOST[:PORT][/PATH]: the target address and the request */
static void
parse_url(const char *url)
{
	struct addrinfo hints, *res;
	char host[256], why[512];
	const char *auth, *path, *p, *port = "80";
	size_t alen, hlen;
	int e;

	if (strncmp(url, "http://", 7) != 0)
		usage("--url: want http://HOST[:PORT]/PATH");
	auth = url + 7;
	path = auth + strcspn(auth, "/?");
	alen = (size_t)(path - auth);
	if (*path == '\0')
		path = "/";
	if (alen == 0 || strcspn(path, " \r\n\t") != strlen(path) ||
	    *path == '?')
		usage("--url: want http://HOST[:PORT]/PATH");
	if (auth[0] == '[') {			/* [v6]:port */
		p = memchr(auth, ']', alen);
		if (p == NULL)
			usage("--url: no ']' after an IPv6 address");
		hlen = (size_t)(p - auth - 1);
		memcpy(host, auth + 1, hlen < sizeof(host) ? hlen : 0);
		p++;
	} else {
		p = memchr(auth, ':', alen);
		hlen = p != NULL ? (size_t)(p - auth) : alen;
		if (hlen < sizeof(host))
			memcpy(host, auth, hlen);
		if (p == NULL)
			p = auth + alen;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		usage("--url: bad host");
	host[hlen] = '\0';
	if (p < auth + alen) {
		static char portbuf[8];

		if (*p != ':' || (size_t)(auth + alen - p - 1) >=
		    sizeof(portbuf))
			usage("--url: bad port");
		memcpy(portbuf, p + 1, (size_t)(auth + alen - p - 1));
		portbuf[auth + alen - p - 1] = '\0';
		(void)num_arg("--url port", portbuf, 1, 65535);
		port = portbuf;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(why, sizeof(why), "--url: cannot resolve %s: %s",
		    host, gai_strerror(e));
		usage(why);
	}
	memcpy(&target, res->ai_addr, res->ai_addrlen);
	target_len = res->ai_addrlen;
	freeaddrinfo(res);
	e = snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\n"
	    "Host: %.*s\r\nUser-Agent: ndtload\r\n%s\r\n", path, (int)alen,
	    auth, opt_close ? "Connection: close\r\n" : "");
	if (e < 0 || (size_t)e >= sizeof(request))
		usage("--url: too long");
	request_len = (size_t)e;
}

static void
parse_args(int argc, char **argv)
{
	const char *o, *v;
	int i;

	for (i = 1; i < argc; i += 2) {
		o = argv[i];
		if (i + 1 >= argc) {
			if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0)
				usage(NULL);
			usage("every option takes a value");
		}
		v = argv[i + 1];
		if (strcmp(o, "--url") == 0)
			opt_url = v;
		else if (strcmp(o, "--connections") == 0)
			opt_conns = num_arg(o, v, 1, MAX_CONNS);
		else if (strcmp(o, "--mode") == 0) {
			if (strcmp(v, "keepalive") == 0)
				opt_close = 0;
			else if (strcmp(v, "close") == 0)
				opt_close = 1;
			else
				usage("--mode: keepalive or close");
		} else if (strcmp(o, "--out") == 0) {
			if (strlen(v) + sizeof(".tmp") > PATH_MAX)
				usage("--out: path too long");
			opt_out = v;
		}
		else if (strcmp(o, "--bucket-ms") == 0)
			opt_bucket_ms = num_arg(o, v, 1, 3600000);
		else if (strcmp(o, "--timeout-ms") == 0)
			opt_timeout_ms = num_arg(o, v, 1, 3600000);
		else if (strcmp(o, "--duration") == 0)
			opt_duration = real_arg(o, v);
		else if (strcmp(o, "--rate") == 0)
			opt_rate = real_arg(o, v);
		else if (strcmp(o, "--max-requests") == 0)
			opt_max_requests = num_arg(o, v, 0, 1000000000);
		else {
			fprintf(stderr, "ndtload: unknown option %s\n", o);
			usage(NULL);
		}
	}
	if (opt_url == NULL)
		usage("--url is required");
	parse_url(opt_url);
}

/* wait for the workers until t (mono ns): did they all end */
static int
wait_workers(uint64_t t)
{
	struct timespec ts = ns_to_ts(t);
	int done;

	pthread_mutex_lock(&run_lock);
	while (running > 0 && pthread_cond_timedwait(&run_cond, &run_lock,
	    &ts) != ETIMEDOUT)
		;
	done = running == 0;
	pthread_mutex_unlock(&run_lock);
	return done;
}

int
main(int argc, char **argv)
{
	struct ld_conn *conns;
	struct timespec rt, ts;
	pthread_condattr_t ca;
	pthread_attr_t ta;
	sigset_t set;
	uint64_t stop_mono, end_mono, until;
	unsigned i;
	int done, e;

	parse_args(argc, argv);
	if ((conns = calloc(opt_conns, sizeof(*conns))) == NULL) {
		fprintf(stderr, "ndtload: out of memory\n");
		return 1;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&run_cond, &ca);
	/* the workers inherit the mask: only sigtimedwait sees the signals */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	clock_gettime(CLOCK_REALTIME, &rt);
	start_mono = mono_ns();
	start_unix_ms = (uint64_t)rt.tv_sec * 1000u +
	    (uint64_t)rt.tv_nsec / 1000000u;
	pthread_attr_init(&ta);
	pthread_attr_setstacksize(&ta, STACK_SIZE);
	for (i = 0; i < opt_conns; i++) {
		conns[i].lc_fd = -1;
		pthread_mutex_init(&conns[i].lc_lock, NULL);
		pthread_mutex_lock(&run_lock);
		running++;
		pthread_mutex_unlock(&run_lock);
		if ((e = pthread_create(&conns[i].lc_thread, &ta, ld_worker,
		    &conns[i])) != 0) {
			fprintf(stderr, "ndtload: thread %u: %s\n", i,
			    strerror(e));
			_exit(1);
		}
	}

	until = start_mono + (uint64_t)(opt_duration * 1e9);
	for (;;) {
		if (opt_duration > 0) {
			if (mono_ns() >= until)
				break;
			ts = ns_to_ts(until - mono_ns());
		} else
			ts = ns_to_ts(3600ull * 1000000000u);
		if (sigtimedwait(&set, NULL, &ts) != -1)
			break;
	}
	stop_mono = mono_ns();
	pthread_mutex_lock(&run_lock);
	atomic_store(&stopping, 1);
	pthread_cond_broadcast(&run_cond);
	pthread_mutex_unlock(&run_lock);

	done = wait_workers(stop_mono + GRACE_MS * 1000000ull);
	if (!done) {				/* cut what is still in flight */
		atomic_store(&aborting, 1);
		for (i = 0; i < opt_conns; i++) {
			pthread_mutex_lock(&conns[i].lc_lock);
			if (conns[i].lc_fd != -1)
				shutdown(conns[i].lc_fd, SHUT_RDWR);
			pthread_mutex_unlock(&conns[i].lc_lock);
		}
		done = wait_workers(mono_ns() + GRACE_MS * 1000000ull);
	}
	end_mono = mono_ns();
	if (!done) {
		/* their requests are aborted too; later records are dropped */
		pthread_mutex_lock(&stats.st_lock);
		for (i = 0; i < opt_conns; i++)
			if (atomic_load(&conns[i].lc_busy))
				stats.st_aborted++;
		stats.st_closed = 1;
		pthread_mutex_unlock(&stats.st_lock);
		fprintf(stderr, "ndtload: workers still running 1 s after "
		    "their sockets were shut down; their requests count as "
		    "aborted\n");
	}
	e = report(end_mono, stop_mono);
	if (!done)
		_exit(e);
	for (i = 0; i < opt_conns; i++)
		pthread_join(conns[i].lc_thread, NULL);
	free(conns);
	free(stats.st_buckets);
	return e;
}
