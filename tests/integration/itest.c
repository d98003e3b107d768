/* itest.c - integration test helpers: real agent processes, real HTTP. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "itest.h"

#define ITEST_BODY_MAX	(1024 * 1024)

extern char **environ;

const char *
itest_bin(const char *name)
{
	static char paths[8][512];
	static unsigned next;
	const char *build = getenv("NDT_BUILD");
	char *p = paths[next++ % 8];

	snprintf(p, 512, "%s/%s", build && *build ? build : "build", name);
	return p;
}

/* NDT_AGENT_WRAPPER="valgrind ..." (tests/valgrind/run.sh), or NULL */
static const char *
agent_wrapper(void)
{
	const char *w = getenv("NDT_AGENT_WRAPPER");

	return w && *w ? w : NULL;
}

unsigned
itest_slow_factor(void)
{
	const char *b = getenv("NDT_BUILD");
	size_t n = b ? strlen(b) : 0;

	if (agent_wrapper())
		return 20;	/* valgrind: 20-50x slower CPU-bound code */
	return n >= 3 && strcmp(b + n - 3, "san") == 0 ? 3 : 1;
}

uint64_t
itest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
itest_sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

unsigned
itest_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	unsigned port = 0;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

int
itest_tcp_connect(unsigned port, unsigned timeout_ms)
{
	struct timeval tv = { (time_t)(timeout_ms / 1000),
	    (suseconds_t)(timeout_ms % 1000) * 1000 };
	struct sockaddr_in sin;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (timeout_ms > 0 &&
	    (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1))
		goto fail;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

int
itest_unix_connect(const char *path)
{
	struct sockaddr_un sun;
	size_t len = strlen(path);
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (len >= sizeof(sun.sun_path)) {
		fprintf(stderr, "itest: socket path too long: %s\n", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, len + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
itest_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

size_t
itest_read_until_eof(int fd, char *buf, size_t cap, unsigned timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t deadline = itest_now_ms() + timeout_ms, now;
	size_t n = 0;
	ssize_t r;

	if (cap == 0)
		return 0;
	while (n + 1 < cap && (now = itest_now_ms()) < deadline) {
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;	/* EINTR, or the deadline */
		if ((r = read(fd, buf + n, cap - 1 - n)) == -1 &&
		    (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

struct sink {
	char	*s_data;
	size_t	 s_len;
};

static size_t
sink_write(char *ptr, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	char *p;

	if (s->s_len + len > ITEST_BODY_MAX)
		return 0;
	if ((p = realloc(s->s_data, s->s_len + len + 1)) == NULL)
		return 0;
	memcpy(p + s->s_len, ptr, len);
	s->s_data = p;
	s->s_len += len;
	p[s->s_len] = '\0';
	return len;
}

static size_t
header_cb(char *ptr, size_t size, size_t n, void *arg)
{
	struct itest_resp *r = arg;
	size_t len = size * n;
	char *dst = NULL, line[512];
	size_t cap = 0, i;
	const char *v;

	if (len >= sizeof(line))
		return len;
	memcpy(line, ptr, len);
	line[len] = '\0';
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		line[--len] = '\0';
	if (strncasecmp(line, "Content-Type:", 13) == 0) {
		dst = r->r_ctype;
		cap = sizeof(r->r_ctype);
		v = line + 13;
	} else if (strncasecmp(line, "Cache-Control:", 14) == 0) {
		dst = r->r_cache;
		cap = sizeof(r->r_cache);
		v = line + 14;
	} else
		return size * n;
	while (*v == ' ')
		v++;
	for (i = 0; i + 1 < cap && v[i]; i++)
		dst[i] = v[i];
	dst[i] = '\0';
	return size * n;
}

int
itest_http(const char *method, const char *url, const char *header,
    struct itest_resp *r)
{
	struct curl_slist *hl = NULL;
	struct sink s = { NULL, 0 };
	CURLcode rc;
	CURL *c;

	memset(r, 0, sizeof(*r));
	if ((c = curl_easy_init()) == NULL)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (header) {
		hl = curl_slist_append(hl, header);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->r_code);
		curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->r_secs);
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	if (s.s_data == NULL)
		s.s_data = calloc(1, 1);
	r->r_body = s.s_data;
	r->r_len = s.s_len;
	return rc == CURLE_OK ? 0 : -1;
}

void
itest_resp_free(struct itest_resp *r)
{
	free(r->r_body);
	r->r_body = NULL;
}

long
itest_get_code(const struct itest_agent *a, const char *path)
{
	struct itest_resp r;
	char url[512];
	long code;

	snprintf(url, sizeof(url), "%s%s", a->a_base, path);
	itest_http("GET", url, NULL, &r);
	code = r.r_code;
	itest_resp_free(&r);
	return code;
}

long
itest_wait_code(const struct itest_agent *a, const char *path, long code,
    unsigned timeout_ms)
{
	uint64_t t0 = itest_now_ms();

	for (;;) {
		if (itest_get_code(a, path) == code)
			return (long)(itest_now_ms() - t0);
		if (itest_now_ms() - t0 > timeout_ms)
			return -1;
		itest_sleep_ms(10);
	}
}

static pid_t
spawn_env(char *const argv[], const char *logfile, char *const *env)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		setpgid(0, 0);
		if (logfile) {
			fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd != -1) {
				dup2(fd, 1);
				dup2(fd, 2);
				close(fd);
			}
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd != -1) {
			dup2(fd, 0);
			close(fd);
		}
		for (; env && *env; env++)
			putenv(*env);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

pid_t
itest_spawn(char *const argv[], const char *logfile)
{
	return spawn_env(argv, logfile, NULL);
}

/* wait for pid up to timeout_ms; exit status, 128+sig, or -1 */
static int
wait_exit(pid_t pid, unsigned timeout_ms)
{
	uint64_t t0 = itest_now_ms();
	int st;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		if (r == -1)
			return -1;
		if (itest_now_ms() - t0 >= timeout_ms)
			return -1;
		itest_sleep_ms(5);
	}
}

void
itest_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	if (wait_exit(pid, 2000) == -1) {
		kill(pid, SIGKILL);
		(void)wait_exit(pid, 2000);
	}
}

int
itest_run(char *const argv[], char **out, unsigned timeout_ms)
{
	return itest_run_env(argv, NULL, out, timeout_ms);
}

int
itest_run_env(char *const argv[], char *const *env, char **out,
    unsigned timeout_ms)
{
	char tmpl[] = "/tmp/ndt-itest-out-XXXXXX";
	pid_t pid;
	int fd, rv;
	ssize_t n;
	size_t len = 0;
	char *buf;

	if ((fd = mkstemp(tmpl)) == -1)
		return -1;
	close(fd);
	if ((pid = spawn_env(argv, tmpl, env)) == -1) {
		unlink(tmpl);
		return -1;
	}
	if ((rv = wait_exit(pid, timeout_ms)) == -1) {
		kill(pid, SIGKILL);
		(void)wait_exit(pid, 2000);
	}
	if (out) {
		*out = NULL;
		if ((buf = malloc(65536 + 1)) != NULL &&
		    (fd = open(tmpl, O_RDONLY)) != -1) {
			while (len < 65536 &&
			    (n = read(fd, buf + len, 65536 - len)) > 0)
				len += (size_t)n;
			close(fd);
		}
		if (buf)
			buf[len] = '\0';
		*out = buf;
	}
	unlink(tmpl);
	return rv;
}

/*
 * The agent is started as BIN run -c CONFIG, prefixed with the words of
 * $NDT_AGENT_WRAPPER when set (split on spaces, no quoting; its first word
 * an absolute path), e.g. "/usr/bin/valgrind --log-file=DIR/vg.%p.log".
 */
static int
agent_launch(struct itest_agent *a, char *const *env)
{
	char *argv[48], wrap[1024], *w, *save = NULL;
	size_t n = 0;

	if (agent_wrapper()) {
		snprintf(wrap, sizeof(wrap), "%s", agent_wrapper());
		for (w = strtok_r(wrap, " ", &save); w != NULL && n < 43;
		    w = strtok_r(NULL, " ", &save))
			argv[n++] = w;
	}
	argv[n++] = (char *)(uintptr_t)itest_bin("nodowntime");
	argv[n++] = (char *)(uintptr_t)"run";
	argv[n++] = (char *)(uintptr_t)"-c";
	argv[n++] = a->a_config;
	argv[n] = NULL;
	if ((a->a_pid = spawn_env(argv, a->a_log, env)) == -1)
		return -1;
	if (itest_wait_code(a, "/healthz", 200,
	    5000 * itest_slow_factor()) == -1) {
		fprintf(stderr, "itest: agent did not answer /healthz\n");
		itest_agent_dump_log(a);
		return -1;
	}
	return 0;
}

int
itest_agent_start(struct itest_agent *a, const char *extra, char *const *env)
{
	FILE *f;

	memset(a, 0, sizeof(*a));
	snprintf(a->a_dir, sizeof(a->a_dir), "/tmp/ndt-itest-XXXXXX");
	if (mkdtemp(a->a_dir) == NULL) {
		a->a_dir[0] = '\0';
		return -1;
	}
	a->a_port = itest_free_port();
	snprintf(a->a_config, sizeof(a->a_config), "%s/nodowntime.yaml",
	    a->a_dir);
	snprintf(a->a_socket, sizeof(a->a_socket), "%s/ndt.sock", a->a_dir);
	snprintf(a->a_state, sizeof(a->a_state), "%s/state", a->a_dir);
	snprintf(a->a_log, sizeof(a->a_log), "%s/agent.log", a->a_dir);
	snprintf(a->a_base, sizeof(a->a_base), "http://127.0.0.1:%u",
	    a->a_port);
	if ((f = fopen(a->a_config, "w")) == NULL)
		goto fail;
	fprintf(f, "listen: 127.0.0.1:%u\n"
	    "control_socket: %s\n"
	    "state_file: %s\n"
	    "hook_install_path: \"\"\n"
	    "log: {format: text, level: debug}\n"
	    "%s", a->a_port, a->a_socket, a->a_state, extra ? extra : "");
	fclose(f);
	if (agent_launch(a, env) == -1)
		goto fail;
	return 0;
fail:
	itest_agent_stop(a);
	return -1;
}

int
itest_agent_restart(struct itest_agent *a, char *const *env)
{
	return agent_launch(a, env);
}

int
itest_agent_signal(struct itest_agent *a, int sig, unsigned timeout_ms)
{
	int rv;

	if (a->a_pid <= 0)
		return -1;
	kill(a->a_pid, sig);
	rv = wait_exit(a->a_pid, timeout_ms);
	if (rv == -1) {
		kill(a->a_pid, SIGKILL);
		(void)wait_exit(a->a_pid, 2000);
	}
	a->a_pid = 0;
	return rv;
}

void
itest_agent_dump_log(const struct itest_agent *a)
{
	char buf[4096];
	size_t n;
	FILE *f;

	if ((f = fopen(a->a_log, "r")) == NULL)
		return;
	fprintf(stderr, "---- agent log %s ----\n", a->a_log);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end of agent log ----\n");
	fclose(f);
}

void
itest_agent_stop(struct itest_agent *a)
{
	char cmd[600];

	/* under a wrapper (valgrind) exit cleanly, so it reports leaks */
	if (a->a_pid > 0 && agent_wrapper()) {
		kill(a->a_pid, SIGINT);
		if (wait_exit(a->a_pid, 20000) != -1)
			a->a_pid = 0;
	}
	if (a->a_pid > 0) {
		kill(a->a_pid, SIGKILL);
		(void)wait_exit(a->a_pid, 2000);
		a->a_pid = 0;
	}
	if (a->a_dir[0] && strncmp(a->a_dir, "/tmp/ndt-itest-", 15) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", a->a_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "itest: cannot remove %s\n", a->a_dir);
		a->a_dir[0] = '\0';
	}
}
