/*
 * conntrack.c - the /proc/net/tcp{,6} parser, the agent's own connections
 * (/proc/self/fd), and /proc/net/snmp's PassiveOpens. libc only, no
 * allocation. sock_diag, tried first, is conntrack_diag.c.
 *
 * A line looks like (tcp6 has 32 hex digits of address instead of 8):
 *    0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 ...
 *   sl  local:port    remote:port   st
 * Ports are the number in hex; the state is TCP_ESTABLISHED (01) or
 * TCP_LISTEN (0A). IPv4-mapped IPv6 sockets appear in tcp6 with a
 * ::ffff:a.b.c.d address: the local port decides, so they count alike;
 * addresses matter only to recognise the agent's own connections.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conntrack.h"
#include "conntrack_priv.h"

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

/*
 * An address: 8 or 32 hex digits, then ':', then 4 hex digits of port. The
 * kernel prints each 32-bit word of the address as the hex of its value in
 * host order, so copying the words back gives the bytes in network order.
 * IPv4 comes out as ::ffff:a.b.c.d, like a v4-mapped IPv6 address.
 */
static int
addr_port(const char **p, const char *end, unsigned char addr[16],
    unsigned *port)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };
	const char *q = *p;
	unsigned long v = 0;
	uint32_t w;
	size_t n = 0, i;

	while (q < end && hexval(*q) != -1)
		q++, n++;
	if ((n != 8 && n != 32) || q >= end || *q != ':')
		return -1;
	q = *p;
	if (n == 8)
		memcpy(addr, mapped, sizeof(mapped));
	for (i = 0; i < n / 8; i++) {
		(void)hexn(&q, end, 8, &v);
		w = (uint32_t)v;
		memcpy(addr + (n == 8 ? 12 : 4 * i), &w, sizeof(w));
	}
	q++;
	if (hexn(&q, end, 4, &v) == -1)
		return -1;
	*p = q;
	*port = (unsigned)v;
	return 0;
}

static int
is_self(const struct conntrack_self *self, const unsigned char addr[16],
    unsigned port)
{
	size_t i;

	for (i = 0; self != NULL && i < self->cs_n; i++)
		if (self->cs_ep[i].ep_port == port &&
		    memcmp(self->cs_ep[i].ep_addr, addr, 16) == 0)
			return 1;
	return 0;
}

static void
skip_blanks(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

static void
add_listener(struct conntrack_count *c, unsigned long ino)
{
	c->ct_listening++;
	if (ino != 0 && c->ct_nino < CONNTRACK_LISTEN_MAX)
		c->ct_listen_ino[c->ct_nino++] = ino;
}

/* the inode: the 6th field after st (tx:rx tr:when retrnsmt uid timeout
 * inode), decimal; 0 when the line is too short to say */
static unsigned long
line_inode(const char *p, const char *end)
{
	unsigned long ino = 0;
	int field;

	for (field = 0; field < 5; field++) {
		skip_blanks(&p, end);
		while (p < end && *p != ' ' && *p != '\t')
			p++;
	}
	skip_blanks(&p, end);
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (ino > (~0UL - 9) / 10)
			return 0;
		ino = ino * 10 + (unsigned long)(*p - '0');
	}
	if (p < end && *p != ' ' && *p != '\t')
		return 0;
	return ino;
}

/* one line without its '\n', into *sk. 1 parsed, 0 not a socket line, -1
 * malformed */
static int
parse_line(const char *p, const char *end, struct conntrack_sock *sk)
{
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
	memset(sk, 0, sizeof(*sk));
	if (addr_port(&p, end, sk->sk_laddr, &sk->sk_lport) == -1)
		return -1;
	if (p >= end || *p != ' ')
		return -1;
	skip_blanks(&p, end);
	if (addr_port(&p, end, sk->sk_raddr, &sk->sk_rport) == -1)
		return -1;
	if (p >= end || *p != ' ')
		return -1;
	skip_blanks(&p, end);
	if (hexn(&p, end, 2, &st) == -1)
		return -1;
	if (p < end && *p != ' ' && *p != '\t')
		return -1;
	sk->sk_state = (unsigned)st;
	sk->sk_ino = line_inode(p, end);
	return 1;
}

int
conntrack_sock_idle(const struct conntrack_sock *sk, uint64_t idle_ms)
{
	if (sk->sk_state != ST_ESTABLISHED || !sk->sk_has_idle ||
	    !sk->sk_has_rx || sk->sk_rx == 0 || sk->sk_tx == 0)
		return 0;
	if (sk->sk_rqueue != 0 || sk->sk_wqueue != 0)
		return 0;
	if (sk->sk_last_recv_ms < idle_ms || sk->sk_last_sent_ms < idle_ms)
		return 0;
	/* "ago": a smaller last_sent is a later send, the answer */
	return sk->sk_last_sent_ms <= sk->sk_last_recv_ms;
}

/* the counting sink: ESTABLISHED (but the agent's own) and LISTEN */
void
conntrack_count_sock(void *arg, const struct conntrack_sock *sk)
{
	struct ct_count_arg *ca = arg;
	struct conntrack_count *c = ca->ca_c;

	if (sk->sk_state == ST_ESTABLISHED && is_self(ca->ca_self,
	    sk->sk_raddr, sk->sk_rport))
		c->ct_self++;
	else if (sk->sk_state == ST_ESTABLISHED) {
		c->ct_established++;
		if (ca->ca_idle_ms > 0 &&
		    conntrack_sock_idle(sk, ca->ca_idle_ms))
			c->ct_idle++;
	} else if (sk->sk_state == ST_LISTEN)
		add_listener(c, sk->sk_ino);
}

/* complete lines of text into the sink */
static void
parse_text(const char *text, size_t len, struct ct_sink *sn)
{
	const char *p = text, *end = text + len, *nl;
	struct conntrack_sock sk;
	int r;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if ((r = parse_line(p, nl, &sk)) == -1)
			sn->sn_malformed++;
		else if (r == 1 && sk.sk_lport == sn->sn_port)
			sn->sn_fn(sn->sn_arg, &sk);
		p = nl + 1;
	}
}

void
conntrack_parse_self(const char *text, size_t len, unsigned port,
    const struct conntrack_self *self, struct conntrack_count *c)
{
	struct ct_count_arg ca = { self, c, 0 };
	struct ct_sink sn = { port, conntrack_count_sock, &ca, 0 };

	parse_text(text, len, &sn);
	c->ct_malformed += sn.sn_malformed;
}

void
conntrack_parse(const char *text, size_t len, unsigned port,
    struct conntrack_count *c)
{
	conntrack_parse_self(text, len, port, NULL, c);
}

/* sockaddr -> endpoint, IPv4 as v4-mapped; 0 or -1 (not IP) */
static int
sa_endpoint(const struct sockaddr_storage *ss, struct conntrack_ep *ep)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	memset(ep, 0, sizeof(*ep));
	if (ss->ss_family == AF_INET) {
		ep->ep_addr[10] = ep->ep_addr[11] = 0xff;
		memcpy(ep->ep_addr + 12, &sin->sin_addr, 4);
		ep->ep_port = ntohs(sin->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		memcpy(ep->ep_addr, &sin6->sin6_addr, 16);
		ep->ep_port = ntohs(sin6->sin6_port);
		return 0;
	}
	return -1;
}

int
conntrack_self_read(unsigned port, struct conntrack_self *self)
{
	struct sockaddr_storage ss;
	struct conntrack_ep ep;
	struct dirent *de;
	socklen_t len;
	char *endp;
	long fd;
	DIR *d;

	self->cs_n = 0;
	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL && self->cs_n < CONNTRACK_SELF_MAX) {
		fd = strtol(de->d_name, &endp, 10);
		if (*endp != '\0' || fd < 0 || fd == dirfd(d))
			continue;
		len = sizeof(ss);
		if (getpeername((int)fd, (struct sockaddr *)&ss, &len) == -1 ||
		    sa_endpoint(&ss, &ep) == -1 || ep.ep_port != port)
			continue;
		len = sizeof(ss);
		if (getsockname((int)fd, (struct sockaddr *)&ss, &len) == -1 ||
		    sa_endpoint(&ss, &ep) == -1)
			continue;
		self->cs_ep[self->cs_n++] = ep;
	}
	closedir(d);
	return 0;
}

/*
 * Read in chunks into a fixed buffer and parse whole lines as they come, so a
 * pod with many sockets costs no memory; a line longer than the line cap is
 * malformed, a file past CONNTRACK_FILE_MAX is an error (EFBIG).
 */
static int
read_one(const char *path, struct ct_sink *sn)
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
					sn->sn_malformed++;
				skipping = 1;
				have = 0;
			}
			continue;
		}
		if (skipping) {
			/* the rest of an overlong line */
			const char *first = memchr(buf, '\n', used);

			parse_text(first + 1, used - (size_t)(first + 1 - buf),
			    sn);
			skipping = 0;
		} else
			parse_text(buf, used, sn);
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	if (have > 0 && !skipping)
		parse_text(buf, have, sn);
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

int
conntrack_read_paths(const char *const *paths, struct ct_sink *sn)
{
	size_t i;

	for (i = 0; paths[i] != NULL; i++) {
		if (read_one(paths[i], sn) == -1) {
			/* no IPv6 in this kernel/namespace: fine */
			if (errno == ENOENT && i > 0)
				continue;
			return -1;
		}
	}
	return 0;
}

int
conntrack_read_files(const char *const *paths, unsigned port,
    const struct conntrack_self *self, struct conntrack_count *c)
{
	struct conntrack_count tmp;
	struct ct_count_arg ca = { self, &tmp, 0 };
	struct ct_sink sn = { port, conntrack_count_sock, &ca, 0 };

	memset(&tmp, 0, sizeof(tmp));
	if (conntrack_read_paths(paths, &sn) == -1)
		return -1;
	tmp.ct_malformed = sn.sn_malformed;
	*c = tmp;
	return 0;
}

/*
 * /proc/net/snmp's two "Tcp:" lines, names then values: PassiveOpens, the
 * namespace's count of connections accepted by the kernel (counted when
 * the handshake completes, before accept()). 0, or -1 when the text has
 * no such column or value.
 */
int
conntrack_parse_snmp(const char *text, size_t len, uint64_t *out)
{
	const char *p = text, *end = text + len, *nl, *names = NULL, *q;
	size_t col = 0, want = 0, i;
	int found = 0;
	uint64_t v, d;

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl - p < 4 || memcmp(p, "Tcp:", 4) != 0)
			continue;
		if (names == NULL) {
			/* the names: which column PassiveOpens is */
			names = p;
			for (q = p + 4, col = 0; q < nl; col++) {
				while (q < nl && *q == ' ')
					q++;
				if (q == nl)
					break;
				if ((size_t)(nl - q) >= 12 &&
				    memcmp(q, "PassiveOpens", 12) == 0 &&
				    (q + 12 == nl || q[12] == ' ')) {
					want = col;
					found = 1;
				}
				while (q < nl && *q != ' ')
					q++;
			}
			if (!found)
				return -1;
			continue;
		}
		for (q = p + 4, i = 0; q < nl; i++) {
			while (q < nl && *q == ' ')
				q++;
			if (i == want) {
				if (q == nl || *q < '0' || *q > '9')
					return -1;
				for (v = 0; q < nl && *q >= '0' && *q <= '9'; q++) {
					d = (uint64_t)(*q - '0');
					if (v > (UINT64_MAX - d) / 10)
						return -1;
					v = v * 10 + d;
				}
				*out = v;
				return 0;
			}
			while (q < nl && *q != ' ')
				q++;
		}
		return -1;
	}
	return -1;
}

int
conntrack_passive_opens(uint64_t *out)
{
	char buf[8192];
	size_t have = 0;
	ssize_t n;
	int fd;

	if ((fd = open("/proc/net/snmp", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (have < sizeof(buf)) {
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (conntrack_parse_snmp(buf, have, out) == -1) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

