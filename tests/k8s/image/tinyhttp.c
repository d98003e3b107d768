/*
 * tinyhttp.c - the smoke test's server: answers every HTTP request on
 * 0.0.0.0:8080 with 200 and the pod's hostname, one connection at a time,
 * and closes it. Static and shell-less, so the cluster can prove a Service's
 * ClusterIP reaches a pod before the real apps arrive. SIGTERM ends it.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define TINY_PORT	8080
#define TINY_REQ_MAX	4096

/* PID 1 of its container: SIGTERM is ignored unless handled */
static void
tiny_stop(int sig)
{
	(void)sig;
	_exit(0);
}

int
main(void)
{
	struct sockaddr_in sin;
	char host[64] = "?", req[TINY_REQ_MAX], resp[256];
	int fd, c, one = 1, n;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, tiny_stop);
	signal(SIGINT, tiny_stop);
	(void)gethostname(host, sizeof(host) - 1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(TINY_PORT);
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 64) == -1) {
		perror("tinyhttp: bind/listen");
		return 1;
	}
	for (;;) {
		c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c == -1)
			continue;
		/* one read is enough for the smoke test's GET */
		(void)read(c, req, sizeof(req));
		n = snprintf(resp, sizeof(resp),
		    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
		    strlen(host) + 1, host);
		if (n > 0 && (size_t)n < sizeof(resp))
			(void)write(c, resp, (size_t)n);
		close(c);
	}
}
