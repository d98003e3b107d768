/* test_conntrack.c - the /proc/net/tcp{,6} parser on captured text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "agent/conntrack.h"

/* app on 8080 (0x1F90): one listener, two established, a TIME_WAIT; the
 * agent's own client socket to 127.0.0.1:8080 (remote port 8080) must not
 * count; a socket on another port (3000 = 0x0BB8) neither */
static const char tcp4[] =
"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
"   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1 0000000000000000 100 0 0 10 0\n"
"   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 31338 1 0000000000000000 20 4 30 10 -1\n"
"   2: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 31339 1 0000000000000000 20 4 30 10 -1\n"
"   3: 0A00020F:1F90 0A000101:C001 01 00000000:00000000 02:000AFC7F 00000000  1000        0 31340 2 0000000000000000 20 4 30 10 -1\n"
"   4: 0A00020F:1F90 0A000102:C002 06 00000000:00000000 03:00001773 00000000     0        0 0 3 0000000000000000\n"
"   5: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31341 1 0000000000000000 100 0 0 10 0\n"
"   6: 0100007F:0BB8 0100007F:E001 01 00000000:00000000 00:00000000 00000000     0        0 31342 1 0000000000000000 20 4 30 10 -1\n";

/* tcp6: a listener on [::]:8080, one native IPv6 client, one v4-mapped
 * client (::ffff:10.0.1.3), and a SYN_RECV (03) that does not count */
static const char tcp6[] =
"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
"   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41337 1 0000000000000000 100 0 0 10 0\n"
"   1: 0000000000000000FFFF00000F02000A:1F90 0000000000000000FFFF00000301000A:C350 01 00000000:00000000 00:00000000 00000000  1000        0 41338 1 0000000000000000 20 4 30 10 -1\n"
"   2: B80D01200000000000000000010000000:1F90 B80D0120000000000000000002000000:C351 01 00000000:00000000 00:00000000 00000000  1000        0 41339 1 0000000000000000 20 4 30 10 -1\n"
"   3: B80D0120000000000000000001000000:1F90 B80D0120000000000000000003000000:C352 01 00000000:00000000 00:00000000 00000000  1000        0 41340 1 0000000000000000 20 4 30 10 -1\n"
"   4: B80D0120000000000000000001000000:1F90 B80D0120000000000000000004000000:C353 03 00000000:00000000 00:00000000 00000000  1000        0 41341 1 0000000000000000 20 4 30 10 -1\n";

static void
test_ipv4(void **state)
{
	struct conntrack_count c;

	(void)state;
	memset(&c, 0, sizeof(c));
	conntrack_parse(tcp4, sizeof(tcp4) - 1, 8080, &c);
	assert_int_equal(c.ct_listening, 1);
	assert_int_equal(c.ct_established, 2);	/* not the remote-port one */
	assert_int_equal(c.ct_malformed, 0);
	/* the listener's socket inode (the restart watch) */
	assert_int_equal(c.ct_nino, 1);
	assert_int_equal(c.ct_listen_ino[0], 31337);
	memset(&c, 0, sizeof(c));
	conntrack_parse(tcp4, sizeof(tcp4) - 1, 3000, &c);
	assert_int_equal(c.ct_listening, 1);
	assert_int_equal(c.ct_listen_ino[0], 31341);
	assert_int_equal(c.ct_established, 1);
	memset(&c, 0, sizeof(c));
	conntrack_parse(tcp4, sizeof(tcp4) - 1, 9999, &c);
	assert_int_equal(c.ct_listening, 0);
	assert_int_equal(c.ct_established, 0);
}

static void
test_remote_port_not_counted(void **state)
{
	static const char t[] =
	    "   0: 0100007F:D431 0100007F:1F90 01 00000000:00000000 "
	    "00:00000000 00000000     0        0 1 1 0\n";
	struct conntrack_count c;

	(void)state;
	memset(&c, 0, sizeof(c));
	conntrack_parse(t, sizeof(t) - 1, 8080, &c);
	assert_int_equal(c.ct_established, 0);
	memset(&c, 0, sizeof(c));
	conntrack_parse(t, sizeof(t) - 1, 0xD431, &c);
	assert_int_equal(c.ct_established, 1);
}

static void
test_ipv6_and_mapped(void **state)
{
	struct conntrack_count c;

	(void)state;
	memset(&c, 0, sizeof(c));
	conntrack_parse(tcp6, sizeof(tcp6) - 1, 8080, &c);
	assert_int_equal(c.ct_listening, 1);
	/* line 2 has 33 hex digits: malformed; v4-mapped + line 3 count */
	assert_int_equal(c.ct_established, 2);
	assert_int_equal(c.ct_malformed, 1);
}

static void
test_malformed(void **state)
{
	static const char t[] =
	    "garbage\n"
	    "   0: 0100007F:1F9 0100007F:D431 01 x\n"	/* 3-digit port */
	    "   1: 0100007F:1F90 0100007F:D431 1 x\n"	/* 1-digit state */
	    "   2: 0100007F:1F90 0100007F:D431 0G x\n"	/* not hex */
	    "   3 0100007F:1F90 0100007F:D431 01 x\n"	/* no colon */
	    "   4: 0100007F1F90 0100007F:D431 01 x\n"
	    "   5: 0100007F:1F90\n"			/* truncated */
	    "   6: 0100007F:1F90 0100007F:D431 011\n"	/* state too long */
	    "\n"					/* blank: skipped */
	    "   7: 0100007F:1F90 0100007F:D431 01";	/* no '\n': counts */
	struct conntrack_count c;

	(void)state;
	memset(&c, 0, sizeof(c));
	conntrack_parse(t, sizeof(t) - 1, 8080, &c);
	assert_int_equal(c.ct_malformed, 8);
	assert_int_equal(c.ct_established, 1);
	memset(&c, 0, sizeof(c));
	conntrack_parse("", 0, 8080, &c);
	assert_int_equal(c.ct_malformed + c.ct_established, 0);
}

static void
test_lowercase_hex(void **state)
{
	static const char t[] =
	    "   0: 0100007f:1f90 0100007f:d431 0a 0\n";
	struct conntrack_count c;

	(void)state;
	memset(&c, 0, sizeof(c));
	conntrack_parse(t, sizeof(t) - 1, 8080, &c);
	assert_int_equal(c.ct_listening, 1);
}

/* the chunked reader: many lines across 16 KiB chunk borders, an overlong
 * line, and a missing second file (no IPv6) */
static void
test_read_files(void **state)
{
	char path[] = "/tmp/ndt-ct-XXXXXX", line[200];
	const char *paths[3];
	struct conntrack_count c;
	FILE *f;
	int fd, i, n;

	(void)state;
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(f = fdopen(fd, "w"));
	fputs(tcp4, f);
	for (i = 0; i < 3000; i++) {
		n = snprintf(line, sizeof(line), "%4d: 0100007F:1F90 "
		    "0100007F:%04X 01 00000000:00000000 00:00000000 00000000"
		    "     0        0 1 1 0\n", i + 10, i + 1);
		assert_true(n > 0);
		fputs(line, f);
	}
	for (i = 0; i < 20000; i++)
		fputc('x', f);
	fputc('\n', f);
	fputs("   9: 0100007F:1F90 0100007F:0001 01 0\n", f);
	fclose(f);
	paths[0] = path;
	paths[1] = "/nonexistent/tcp6";
	paths[2] = NULL;
	assert_int_equal(conntrack_read_files(paths, 8080, NULL, &c), 0);
	assert_int_equal(c.ct_established, 2 + 3000 + 1);
	assert_int_equal(c.ct_listening, 1);
	assert_int_equal(c.ct_malformed, 1);
	paths[0] = "/nonexistent/tcp";
	assert_int_equal(conntrack_read_files(paths, 8080, NULL, &c), -1);
	unlink(path);
}

/* the live kernel files parse without a single malformed line */
static void
test_read_proc(void **state)
{
	struct conntrack_count c;

	(void)state;
	assert_int_equal(conntrack_read(1, &c), 0);
	assert_int_equal(c.ct_malformed, 0);
}

/*
 * The agent's own keep-alive connection to the app (its HTTP check) shows
 * as an ESTABLISHED app-side socket; it must not hold the drain open.
 * Matched by the peer endpoint, in tcp (IPv4) and tcp6 (v4-mapped) form.
 */
static void
test_self_connections_left_out(void **state)
{
	static const char t4[] =
	    "  sl  local_address rem_address   st\n"
	    /* app side of the agent's check: 127.0.0.1:8080 <- :50000 */
	    "   0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 0\n"
	    /* the agent's side: 127.0.0.1:50000 -> :8080 */
	    "   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 0\n"
	    /* a real client from 10.0.0.7:50000 (same port, other host) */
	    "   2: 0100007F:1F90 0700000A:C350 01 00000000:00000000 0\n";
	static const char t6[] =
	    "   0: 0000000000000000FFFF00000100007F:1F90 "
	    "0000000000000000FFFF00000100007F:C350 01 00000000:00000000 0\n";
	struct conntrack_self self;
	struct conntrack_count c;

	(void)state;
	memset(&self, 0, sizeof(self));
	self.cs_n = 1;
	self.cs_ep[0].ep_addr[10] = self.cs_ep[0].ep_addr[11] = 0xff;
	self.cs_ep[0].ep_addr[12] = 127;
	self.cs_ep[0].ep_addr[15] = 1;
	self.cs_ep[0].ep_port = 0xC350;

	memset(&c, 0, sizeof(c));
	conntrack_parse_self(t4, sizeof(t4) - 1, 8080, &self, &c);
	assert_int_equal(c.ct_established, 1);	/* only the real client */
	assert_int_equal(c.ct_self, 1);
	memset(&c, 0, sizeof(c));
	conntrack_parse_self(t6, sizeof(t6) - 1, 8080, &self, &c);
	assert_int_equal(c.ct_established, 0);
	assert_int_equal(c.ct_self, 1);
	/* without the list everything counts */
	memset(&c, 0, sizeof(c));
	conntrack_parse(t4, sizeof(t4) - 1, 8080, &c);
	assert_int_equal(c.ct_established, 2);
}

/* a loopback listener and one connection to it: *lfd, *cfd (the client),
 * *sfd (the accepted side); its address in *sin */
static void
loopback_pair(struct sockaddr_in *sin, int *lfd, int *cfd, int *sfd)
{
	socklen_t len = sizeof(*sin);

	*lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*lfd >= 0);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(*lfd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	assert_int_equal(listen(*lfd, 8), 0);
	assert_int_equal(getsockname(*lfd, (struct sockaddr *)sin, &len), 0);
	*cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(*cfd, (struct sockaddr *)sin, sizeof(*sin)),
	    0);
	*sfd = accept(*lfd, NULL, NULL);
	assert_true(*sfd >= 0);
}

/* a real connection of this process is found by conntrack_self_read and
 * left out of the count read from /proc */
static void
test_self_read_real_socket(void **state)
{
	struct sockaddr_in sin;
	struct conntrack_self self;
	struct conntrack_count c;
	int lfd, cfd, sfd;

	(void)state;
	loopback_pair(&sin, &lfd, &cfd, &sfd);

	assert_int_equal(conntrack_self_read(ntohs(sin.sin_port), &self), 0);
	assert_int_equal(self.cs_n, 1);
	assert_int_equal(conntrack_read(ntohs(sin.sin_port), &c), 0);
	/* the server side here is "the app", the client side "the agent" */
	assert_int_equal(c.ct_established, 0);
	assert_int_equal(c.ct_self, 1);
	assert_int_equal(c.ct_listening, 1);
	close(cfd);
	close(sfd);
	close(lfd);
}

/* sock_diag (netlink) and the /proc text give the same counts: a
 * listener, three established clients (one of them "the agent's own"),
 * over IPv4 and IPv6, with every other socket of the machine around */
static void
test_diag_matches_proc(void **state)
{
	static const char *const paths[] = { "/proc/net/tcp",
	    "/proc/net/tcp6", NULL };
	struct sockaddr_in6 s6;
	socklen_t len = sizeof(s6);
	struct conntrack_self self;
	struct conntrack_count a, b;
	int lfd, cfd[3], sfd[3], off = 0, i;
	unsigned port;

	(void)state;
	lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	s6.sin6_addr = in6addr_any;
	assert_int_equal(bind(lfd, (struct sockaddr *)&s6, sizeof(s6)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&s6, &len), 0);
	port = ntohs(s6.sin6_port);
	for (i = 0; i < 3; i++) {
		struct sockaddr_in sin;

		/* clients 0, 1 over IPv4 (v4-mapped on the server side), 2
		 * over IPv6 loopback */
		if (i < 2) {
			cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			sin.sin_port = htons((uint16_t)port);
			sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			assert_int_equal(connect(cfd[i], (struct sockaddr *)&sin,
			    sizeof(sin)), 0);
		} else {
			struct sockaddr_in6 c6 = s6;

			c6.sin6_addr = in6addr_loopback;
			cfd[i] = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
			assert_int_equal(connect(cfd[i], (struct sockaddr *)&c6,
			    sizeof(c6)), 0);
		}
		sfd[i] = accept(lfd, NULL, NULL);
		assert_true(sfd[i] >= 0);
	}
	/* all three clients are this process's: all "self" */
	assert_int_equal(conntrack_self_read(port, &self), 0);
	assert_int_equal(self.cs_n, 3);
	assert_int_equal(conntrack_read_diag(port, &self, 0, &a), 0);
	assert_int_equal(conntrack_read_files(paths, port, &self, &b), 0);
	assert_int_equal(a.ct_listening, 1);
	/* both name the listener by its socket's inode */
	{
		struct conntrack_count l;
		struct stat st;

		assert_int_equal(fstat(lfd, &st), 0);
		assert_int_equal(a.ct_nino, 1);
		assert_int_equal(b.ct_nino, 1);
		assert_int_equal(a.ct_listen_ino[0], st.st_ino);
		assert_int_equal(b.ct_listen_ino[0], st.st_ino);
		/* the listeners alone: the same one, no connection */
		assert_int_equal(conntrack_read_listeners(port, &l), 0);
		assert_int_equal(l.ct_listening, 1);
		assert_int_equal(l.ct_established + l.ct_self, 0);
		assert_int_equal(l.ct_listen_ino[0], st.st_ino);
	}
	assert_int_equal(a.ct_self, 3);
	assert_int_equal(a.ct_established, 0);
	assert_int_equal(a.ct_listening, b.ct_listening);
	assert_int_equal(a.ct_self, b.ct_self);
	assert_int_equal(a.ct_established, b.ct_established);
	/* without the self list: three clients in both */
	assert_int_equal(conntrack_read_diag(port, NULL, 0, &a), 0);
	assert_int_equal(conntrack_read_files(paths, port, NULL, &b), 0);
	assert_int_equal(a.ct_established, 3);
	assert_int_equal(b.ct_established, 3);
	for (i = 0; i < 3; i++) {
		close(cfd[i]);
		close(sfd[i]);
	}
	close(lfd);
}

/* drain.idle_timeout's rule, on synthetic sockets */
static void
test_sock_idle_rule(void **state)
{
	struct conntrack_sock sk, t;

	(void)state;
	memset(&sk, 0, sizeof(sk));
	sk.sk_state = 1;			/* ESTABLISHED */
	sk.sk_has_rx = sk.sk_has_idle = 1;
	sk.sk_rx = 120;
	sk.sk_tx = 300;
	sk.sk_last_recv_ms = 900;		/* request 900 ms ago */
	sk.sk_last_sent_ms = 880;		/* answer 880 ms ago */
	assert_int_equal(conntrack_sock_idle(&sk, 700), 1);
	assert_int_equal(conntrack_sock_idle(&sk, 880), 1);
	assert_int_equal(conntrack_sock_idle(&sk, 881), 0);	/* not long */
	t = sk;
	t.sk_last_sent_ms = 950;		/* unanswered: sent before */
	assert_int_equal(conntrack_sock_idle(&t, 700), 0);
	t = sk;
	t.sk_last_sent_ms = 900;		/* the same tick: answered */
	assert_int_equal(conntrack_sock_idle(&t, 700), 1);
	t = sk;
	t.sk_rqueue = 1;			/* not read by the app */
	assert_int_equal(conntrack_sock_idle(&t, 700), 0);
	t = sk;
	t.sk_wqueue = 4096;			/* answer not acknowledged */
	assert_int_equal(conntrack_sock_idle(&t, 700), 0);
	t = sk;
	t.sk_rx = 0;				/* never a request */
	assert_int_equal(conntrack_sock_idle(&t, 700), 0);
	t = sk;
	t.sk_tx = 0;				/* never an answer */
	assert_int_equal(conntrack_sock_idle(&t, 700), 0);
	t = sk;
	t.sk_has_rx = 0;			/* no counters */
	assert_int_equal(conntrack_sock_idle(&t, 700), 0);
	t = sk;
	t.sk_has_idle = 0;			/* the files */
	assert_int_equal(conntrack_sock_idle(&t, 700), 0);
	t = sk;
	t.sk_state = 8;				/* CLOSE_WAIT */
	assert_int_equal(conntrack_sock_idle(&t, 700), 0);
	t = sk;
	t.sk_last_recv_ms = 100;		/* a new request, unanswered */
	assert_int_equal(conntrack_sock_idle(&t, 700), 0);
	/* the counting sink counts idle ones among the established */
	{
		struct conntrack_count c;

		memset(&c, 0, sizeof(c));
		conntrack_parse("", 0, 1, &c);
		assert_int_equal(c.ct_idle, 0);
		assert_int_equal(c.ct_idle_known, 0);
	}
}

static void
ms_sleep(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) *
	    1000000L };

	while (nanosleep(&ts, &ts) == -1)
		;
}

/* sock_diag's count of idle (200 ms) sockets on port, the established
 * ones in *established (may be NULL) */
static unsigned
idle_read(unsigned port, unsigned *established)
{
	struct conntrack_count c;

	assert_int_equal(conntrack_read_diag(port, NULL, 200, &c), 0);
	assert_int_equal(c.ct_idle_known, 1);
	if (established != NULL)
		*established = c.ct_established;
	return c.ct_idle;
}

/* the same rule on real loopback sockets, read back through sock_diag */
static void
test_idle_real_sockets(void **state)
{
	struct sockaddr_in sin;
	struct conntrack_count c;
	char buf[64];
	int lfd, cfd, sfd, c2, s2;
	unsigned est, port;

	(void)state;
	loopback_pair(&sin, &lfd, &cfd, &sfd);
	port = ntohs(sin.sin_port);
	if (conntrack_read_diag(port, NULL, 200, &c) == -1) {
		print_message("no sock_diag here: skipped\n");
		goto out;
	}
	assert_int_equal(c.ct_idle_known, 1);
	assert_int_equal(c.ct_established, 1);	/* the server's side */
	assert_int_equal(c.ct_idle, 0);		/* never a request */
	/* a request, not read yet, then read but unanswered */
	assert_int_equal(write(cfd, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	ms_sleep(300);
	/* in the receive queue */
	assert_int_equal(idle_read(port, NULL), 0);
	assert_int_equal(read(sfd, buf, sizeof(buf)), 18);
	/* read, unanswered: nothing sent yet */
	assert_int_equal(idle_read(port, NULL), 0);
	/* answered: idle once 200 ms have passed, not before */
	assert_int_equal(write(sfd, "HTTP/1.1 204 \r\n\r\n", 17), 17);
	assert_int_equal(read(cfd, buf, sizeof(buf)), 17);
	assert_int_equal(idle_read(port, NULL), 0);
	ms_sleep(300);
	assert_int_equal(idle_read(port, &est), 1);
	assert_int_equal(est, 1);
	/* without idle_ms nothing is counted */
	assert_int_equal(conntrack_read_diag(port, NULL, 0, &c), 0);
	assert_int_equal(c.ct_idle, 0);
	assert_int_equal(c.ct_idle_known, 0);
	/* a second connection that carries nothing holds: 1 of 2 */
	c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c2, (struct sockaddr *)&sin, sizeof(sin)), 0);
	s2 = accept(lfd, NULL, NULL);
	assert_true(s2 >= 0);
	ms_sleep(300);
	assert_int_equal(idle_read(port, &est), 1);
	assert_int_equal(est, 2);
	close(c2);
	close(s2);
	/* traffic again: not idle, and a request read but unanswered stays
	 * so however long it waits */
	assert_int_equal(write(cfd, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	assert_int_equal(read(sfd, buf, sizeof(buf)), 18);
	assert_int_equal(idle_read(port, NULL), 0);
	ms_sleep(300);
	assert_int_equal(idle_read(port, &est), 0);
	assert_int_equal(est, 1);
	/* the agent's own path: this process's connections are left out */
	assert_int_equal(conntrack_read_idle(port, 200, &c), 0);
	assert_int_equal(c.ct_established, 0);
out:
	close(cfd);
	close(sfd);
	close(lfd);
}

/* /proc/net/snmp: PassiveOpens found by its column, whatever the order */
static void
test_snmp(void **state)
{
	static const char snmp[] =
	    "Ip: Forwarding DefaultTTL\nIp: 1 64\n"
	    "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens "
	    "AttemptFails EstabResets CurrEstab InSegs\n"
	    "Tcp: 1 200 120000 -1 63496 11185 661 356 0 712276\n"
	    "Udp: InDatagrams\nUdp: 5\n";
	static const char moved[] =
	    "Tcp: PassiveOpens MaxConn\nTcp: 18446744073709551615 -1";
	uint64_t v = 0;

	(void)state;
	assert_int_equal(conntrack_parse_snmp(snmp, sizeof(snmp) - 1, &v), 0);
	assert_int_equal(v, 11185);
	assert_int_equal(conntrack_parse_snmp(moved, sizeof(moved) - 1, &v), 0);
	assert_true(v == UINT64_MAX);
	/* no such column, no value line, garbage, too big, truncated */
	assert_int_equal(conntrack_parse_snmp("Tcp: A B\nTcp: 1 2\n", 18, &v),
	    -1);
	assert_int_equal(conntrack_parse_snmp("Tcp: PassiveOpens\n", 18, &v),
	    -1);
	assert_int_equal(conntrack_parse_snmp("Tcp: PassiveOpens\nTcp: x\n",
	    26, &v), -1);
	assert_int_equal(conntrack_parse_snmp("Tcp: PassiveOpens\n"
	    "Tcp: 99999999999999999999\n", 45, &v), -1);
	assert_int_equal(conntrack_parse_snmp("Tcp: A PassiveOpens\nTcp: 1\n",
	    28, &v), -1);
	assert_int_equal(conntrack_parse_snmp("Tcp: PassiveOpensX\nTcp: 1\n",
	    27, &v), -1);
	assert_int_equal(conntrack_parse_snmp("", 0, &v), -1);
	/* the live file */
	assert_int_equal(conntrack_passive_opens(&v), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_remote_port_not_counted),
		cmocka_unit_test(test_ipv6_and_mapped),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_lowercase_hex),
		cmocka_unit_test(test_read_files),
		cmocka_unit_test(test_read_proc),
		cmocka_unit_test(test_self_connections_left_out),
		cmocka_unit_test(test_self_read_real_socket),
		cmocka_unit_test(test_diag_matches_proc),
		cmocka_unit_test(test_snmp),
		cmocka_unit_test(test_sock_idle_rule),
		cmocka_unit_test(test_idle_real_sockets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
