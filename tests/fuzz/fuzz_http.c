/*
 * fuzz_http - the HTTP request path: raw bytes from a TCP client against
 * the agent's server (libmicrohttpd in external-epoll mode on our loop),
 * in-process, on 127.0.0.1 and a port found free at start-up.
 *
 * Each input: connect, write the bytes, shut down writing, read until the
 * server closes or FUZZ_HTTP_DEADLINE_MS pass, close (RST, no TIME_WAIT).
 * Properties: the server never crashes; whatever it sends starts with
 * "HTTP/1."; every FUZZ_HTTP_CHECK_EVERY inputs (and on the first) a fresh
 * client's `GET /live` still gets 200.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/health.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "agent/metrics.h"
#include "agent/server.h"
#include "config/config.h"
#include "fuzz_client.h"

#define FUZZ_HTTP_DEADLINE_MS	200
#define FUZZ_HTTP_CHECK_EVERY	1000

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

static struct config	*cfg;
static struct loop	*lp;
static struct health	*health;
static struct metrics	 metrics;
static struct server	*server;
static struct fc	 fcl;
static struct sockaddr_in srv_addr;
static unsigned long	 ninputs;

static unsigned
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) == -1) {
		perror("fuzz_http: free port");
		abort();
	}
	close(fd);
	return ntohs(sin.sin_port);
}

static int
client_connect(void)
{
	struct linger lg = { 1, 0 };	/* close = RST: no TIME_WAIT pile */
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		perror("fuzz_http: socket");
		abort();
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (connect(fd, (struct sockaddr *)&srv_addr, sizeof(srv_addr)) == -1 &&
	    errno != EINPROGRESS) {
		perror("fuzz_http: connect");
		abort();
	}
	return fd;
}

/* the agent still answers a valid probe from a fresh client */
static void
check_live(void)
{
	static const char req[] =
	    "GET /live HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n";

	fc_exchange(&fcl, client_connect(), (const uint8_t *)req,
	    sizeof(req) - 1, 2000);
	if (strncmp(fcl.fc_reply, "HTTP/1.1 200 ", 13) != 0) {
		fprintf(stderr, "fuzz_http: GET /live after %lu inputs: "
		    "%s (%zu bytes%s): '%.200s'\n", ninputs,
		    fcl.fc_timedout ? "timed out" : "answered", fcl.fc_rlen,
		    fcl.fc_err ? ", error" : "", fcl.fc_reply);
		abort();
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct cfg_diags dg;
	char yaml[256];
	int n;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	unsetenv("APP_BIND_ADDRESS");
	unsetenv("APP_SHUTDOWN_TIMEOUT");
	/* the server's own debug lines would flood the fuzzer's output */
	log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
	n = snprintf(yaml, sizeof(yaml),
	    "listen: 127.0.0.1:%u\n"
	    "control_socket: /nonexistent/fuzz.sock\n"
	    "state_file: /nonexistent/fuzz.state\n"
	    "hook_install_path: \"\"\n"
	    "server:\n  max_connections: 64\n  request_timeout: 2s\n",
	    free_port());
	cfg_diags_init(&dg);
	if (config_parse("fuzz_http.yaml", yaml, (size_t)n, &cfg, &dg) == -1) {
		cfg_diags_print(&dg, stderr);
		abort();
	}
	cfg_diags_free(&dg);
	memset(&srv_addr, 0, sizeof(srv_addr));
	srv_addr.sin_family = AF_INET;
	srv_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv_addr.sin_port = htons((uint16_t)cfg->cf_listen_port);
	if ((lp = loop_new()) == NULL || (health = health_new(cfg)) == NULL)
		abort();
	metrics_init(&metrics, health, lp);
	if ((server = server_new(lp, cfg, health, &metrics)) == NULL)
		abort();
	fc_init(&fcl, lp);
	check_live();
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	fc_exchange(&fcl, client_connect(), data, size,
	    FUZZ_HTTP_DEADLINE_MS);
	if (fcl.fc_rlen > 0 && strncmp(fcl.fc_reply, "HTTP/1.", 7) != 0) {
		fprintf(stderr, "fuzz_http: reply is not HTTP: '%.200s'\n",
		    fcl.fc_reply);
		abort();
	}
	if (++ninputs % FUZZ_HTTP_CHECK_EVERY == 0)
		check_live();
	return 0;
}
