/*
 * conntrack.c - /proc/net/tcp{,6} parser. libc only, no allocation.
 *
 * A line looks like (tcp6 has 32 hex digits of address instead of 8):
 *    0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 ...
 *   sl  local:port    remote:port   st
 * Ports are the number in hex; the state is TCP_ESTABLISHED (01) or
 * TCP_LISTEN (0A). IPv4-mapped IPv6 sockets appear in tcp6 with a
 * ::ffff:a.b.c.d address: only the port matters here, so they count alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "conntrack.h"

#define ST_ESTABLISHED	0x01
#define ST_LISTEN	0x0a

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* exactly n hex digits at *p (n <= 8); advances *p */
static int
hexn(const char **p, const char *end, size_t n, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;
	int h;

	if ((size_t)(end - *p) < n)
		return -1;
	for (i = 0; i < n; i++) {
		if ((h = hexval((*p)[i])) == -1)
			return -1;
		v = v << 4 | (unsigned long)h;
	}
	*p += n;
	*out = v;
	return 0;
}

/* an address: 8 or 32 hex digits, then ':', then 4 hex digits of port */
static int
addr_port(const char **p, const char *end, unsigned *port)
{
	const char *q = *p;
	unsigned long v;
	size_t n = 0;

	while (q < end && hexval(*q) != -1)
		q++, n++;
	if ((n != 8 && n != 32) || q >= end || *q != ':')
		return -1;
	q++;
	if (hexn(&q, end, 4, &v) == -1)
		return -1;
	*p = q;
	*port = (unsigned)v;
	return 0;
}

static void
skip_blanks(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

/* one line without its '\n'. 1 parsed, 0 not a socket line, -1 malformed */
static int
parse_line(const char *p, const char *end, unsigned port,
    struct conntrack_count *c)
{
	unsigned lport, rport;
	unsigned long st;
	const char *q;

	skip_blanks(&p, end);
	if (p == end)
		return 0;			/* blank line */
	/* "sl" slot number then ':' */
	for (q = p; q < end && *q >= '0' && *q <= '9'; q++)
		;
	if (q == p) {
		/* the header ("sl local_address ...") */
		if (end - p >= 2 && p[0] == 's' && p[1] == 'l')
			return 0;
		return -1;
	}
	if (q >= end || *q != ':')
		return -1;
	p = q + 1;
	skip_blanks(&p, end);
	if (addr_port(&p, end, &lport) == -1)
		return -1;
	if (p >= end || *p != ' ')
		return -1;
	skip_blanks(&p, end);
	if (addr_port(&p, end, &rport) == -1)
		return -1;
	if (p >= end || *p != ' ')
		return -1;
	skip_blanks(&p, end);
	if (hexn(&p, end, 2, &st) == -1)
		return -1;
	if (p < end && *p != ' ' && *p != '\t')
		return -1;
	(void)rport;
	if (lport != port)
		return 1;
	if (st == ST_ESTABLISHED)
		c->ct_established++;
	else if (st == ST_LISTEN)
		c->ct_listening++;
	return 1;
}

void
conntrack_parse(const char *text, size_t len, unsigned port,
    struct conntrack_count *c)
{
	const char *p = text, *end = text + len, *nl;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (parse_line(p, nl, port, c) == -1)
			c->ct_malformed++;
		p = nl + 1;
	}
}

/*
 * Read in chunks into a fixed buffer and parse whole lines as they come, so a
 * pod with many sockets costs no memory; a line longer than the line cap is
 * malformed, a file past CONNTRACK_FILE_MAX is an error (EFBIG).
 */
static int
read_one(const char *path, unsigned port, struct conntrack_count *c)
{
	char buf[16384];
	size_t have = 0, total = 0, used;
	const char *nl;
	ssize_t n;
	int fd, skipping = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	for (;;) {
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > CONNTRACK_FILE_MAX) {
			errno = EFBIG;
			goto fail;
		}
		have += (size_t)n;
		/* parse up to the last newline, keep the partial line */
		for (nl = NULL, used = have; used > 0; used--)
			if (buf[used - 1] == '\n') {
				nl = buf + used - 1;
				break;
			}
		if (nl == NULL) {
			if (have == sizeof(buf)) {	/* no newline at all */
				if (!skipping)
					c->ct_malformed++;
				skipping = 1;
				have = 0;
			}
			continue;
		}
		if (skipping) {
			/* the rest of an overlong line */
			const char *first = memchr(buf, '\n', used);

			conntrack_parse(first + 1, used - (size_t)(first + 1 -
			    buf), port, c);
			skipping = 0;
		} else
			conntrack_parse(buf, used, port, c);
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	if (have > 0 && !skipping)
		conntrack_parse(buf, have, port, c);
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

int
conntrack_read_files(const char *const *paths, unsigned port,
    struct conntrack_count *c)
{
	struct conntrack_count tmp;
	size_t i;

	memset(&tmp, 0, sizeof(tmp));
	for (i = 0; paths[i] != NULL; i++) {
		if (read_one(paths[i], port, &tmp) == -1) {
			/* no IPv6 in this kernel/namespace: fine */
			if (errno == ENOENT && i > 0)
				continue;
			return -1;
		}
	}
	*c = tmp;
	return 0;
}

int
conntrack_read(unsigned port, struct conntrack_count *c)
{
	static const char *const paths[] = {
		"/proc/net/tcp", "/proc/net/tcp6", NULL
	};

	return conntrack_read_files(paths, port, c);
}
