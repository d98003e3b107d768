/*
 * conntrack_diag.c - the app.port counts and the socket walk through the
 * kernel's sock_diag (netlink, NETLINK_SOCK_DIAG), falling back to the
 * /proc/net/tcp{,6} parser of conntrack.c when netlink is refused. Only
 * sockets whose local port is the port asked for come back (a bytecode
 * filter), so a pod with tens of thousands of other sockets costs little.
 */
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conntrack.h"
#include "conntrack_priv.h"

/* from INET_DIAG_INFO's struct tcp_info: the byte counters, when
 * the kernel's is long enough to hold it (Linux 4.1 and later), and the
 * times since data last moved (drain.idle_timeout), which every kernel's
 * struct has */
static void
diag_info(const struct nlmsghdr *h, struct conntrack_sock *sk)
{
	const unsigned char *p = (const unsigned char *)h + NLMSG_HDRLEN +
	    NLMSG_ALIGN(sizeof(struct inet_diag_msg));
	const unsigned char *end = (const unsigned char *)h + h->nlmsg_len;
	const size_t hdr = sizeof(struct nlattr);	/* NLA_HDRLEN, unsigned */
	struct nlattr a;
	struct tcp_info ti;
	size_t need = offsetof(struct tcp_info, tcpi_bytes_received) +
	    sizeof(ti.tcpi_bytes_received), len;
	size_t need_idle = offsetof(struct tcp_info, tcpi_last_data_recv) +
	    sizeof(ti.tcpi_last_data_recv);

	while (p < end && (size_t)(end - p) >= sizeof(a)) {
		memcpy(&a, p, sizeof(a));
		if (a.nla_len < hdr || a.nla_len > (size_t)(end - p))
			return;
		len = a.nla_len - hdr;
		if ((a.nla_type & NLA_TYPE_MASK) == INET_DIAG_INFO) {
			memset(&ti, 0, sizeof(ti));
			memcpy(&ti, p + hdr, len < sizeof(ti) ? len :
			    sizeof(ti));
			if (len >= need) {
				sk->sk_rx = ti.tcpi_bytes_received;
				sk->sk_tx = ti.tcpi_bytes_acked;
				sk->sk_has_rx = 1;
			}
			if (len >= need_idle) {
				sk->sk_last_recv_ms = ti.tcpi_last_data_recv;
				sk->sk_last_sent_ms = ti.tcpi_last_data_sent;
				sk->sk_has_idle = 1;
			}
			return;
		}
		p += NLA_ALIGN(a.nla_len);
	}
}

/* one SOCK_DIAG_BY_FAMILY dump for family into the sink; info: ask for
 * INET_DIAG_INFO (the counters) */
static int
diag_family(int fd, int family, unsigned states, int info,
    struct ct_sink *sn)
{
	struct {
		struct nlmsghdr		nlh;
		struct inet_diag_req_v2	req;
		struct nlattr		nla;
		struct inet_diag_bc_op	ops[2];	/* sport == port */
	} rq;
	struct sockaddr_nl sa;
	const struct inet_diag_msg *m;
	const struct nlmsghdr *h;
	unsigned char buf[32768] __attribute__((aligned(8)));
	struct conntrack_sock sk;
	size_t off;
	ssize_t n;

	memset(&rq, 0, sizeof(rq));
	rq.nlh.nlmsg_len = sizeof(rq);
	rq.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	rq.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	rq.nlh.nlmsg_seq = (unsigned)family;
	rq.req.sdiag_family = (unsigned char)family;
	rq.req.sdiag_protocol = IPPROTO_TCP;
	rq.req.idiag_states = states;
	if (info)
		rq.req.idiag_ext = 1u << (INET_DIAG_INFO - 1);
	rq.nla.nla_len = (unsigned short)(sizeof(rq.nla) + sizeof(rq.ops));
	rq.nla.nla_type = INET_DIAG_REQ_BYTECODE;
	/* true: jump to the end (keep); false: past it (drop) */
	rq.ops[0].code = INET_DIAG_BC_S_EQ;
	rq.ops[0].yes = sizeof(rq.ops);
	rq.ops[0].no = sizeof(rq.ops) + 4;
	rq.ops[1].no = (unsigned short)sn->sn_port;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	if (sendto(fd, &rq, sizeof(rq), 0, (struct sockaddr *)&sa,
	    sizeof(sa)) == -1)
		return -1;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		for (off = 0; off + sizeof(*h) <= (size_t)n;
		    off += NLMSG_ALIGN(h->nlmsg_len)) {
			h = (const struct nlmsghdr *)(void *)(buf + off);
			if (h->nlmsg_len < sizeof(*h) ||
			    h->nlmsg_len > (size_t)n - off)
				break;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = (const void *)
				    ((const char *)h + NLMSG_HDRLEN);

				errno = e->error ? -e->error : EPROTO;
				return -1;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			m = (const void *)((const char *)h + NLMSG_HDRLEN);
			if (ntohs(m->id.idiag_sport) != sn->sn_port)
				continue;	/* the filter said so; trust less */
			memset(&sk, 0, sizeof(sk));
			if (family == AF_INET) {
				sk.sk_laddr[10] = sk.sk_laddr[11] = 0xff;
				memcpy(sk.sk_laddr + 12, &m->id.idiag_src[0], 4);
				sk.sk_raddr[10] = sk.sk_raddr[11] = 0xff;
				memcpy(sk.sk_raddr + 12, &m->id.idiag_dst[0], 4);
			} else {
				memcpy(sk.sk_laddr, m->id.idiag_src, 16);
				memcpy(sk.sk_raddr, m->id.idiag_dst, 16);
			}
			sk.sk_lport = sn->sn_port;
			sk.sk_rport = ntohs(m->id.idiag_dport);
			sk.sk_state = m->idiag_state;
			sk.sk_ino = m->idiag_inode;
			sk.sk_rqueue = m->idiag_rqueue;
			sk.sk_wqueue = m->idiag_wqueue;
			if (info)
				diag_info(h, &sk);
			sn->sn_fn(sn->sn_arg, &sk);
		}
	}
}

static int
read_diag(unsigned states, int info, struct ct_sink *sn)
{
	int fd, saved;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd == -1)
		return -1;
	if (diag_family(fd, AF_INET, states, info, sn) == -1 ||
	    (diag_family(fd, AF_INET6, states, info, sn) == -1 &&
	    errno != EAFNOSUPPORT && errno != ENOENT)) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

static int
read_diag_states(unsigned port, unsigned states,
    const struct conntrack_self *self, uint64_t idle_ms,
    struct conntrack_count *c)
{
	struct conntrack_count tmp;
	struct ct_count_arg ca = { self, &tmp, idle_ms };
	struct ct_sink sn = { port, conntrack_count_sock, &ca, 0 };

	memset(&tmp, 0, sizeof(tmp));
	if (read_diag(states, idle_ms > 0, &sn) == -1)
		return -1;
	tmp.ct_idle_known = idle_ms > 0;
	*c = tmp;
	return 0;
}

int
conntrack_read_diag(unsigned port, const struct conntrack_self *self,
    uint64_t idle_ms, struct conntrack_count *c)
{
	return read_diag_states(port, (1u << ST_ESTABLISHED) |
	    (1u << ST_LISTEN), self, idle_ms, c);
}

const char *const conntrack_paths[] = {
	"/proc/net/tcp", "/proc/net/tcp6", NULL
};

int
conntrack_read_listeners(unsigned port, struct conntrack_count *c)
{
	/* LISTEN alone: the kernel walks its listening table only, never
	 * the established and TIME_WAIT ones (38k sockets: 9 ms a dump) */
	if (read_diag_states(port, 1u << ST_LISTEN, NULL, 0, c) == 0)
		return 0;
	return conntrack_read_files(conntrack_paths, port, NULL, c);
}

int
conntrack_read_idle(unsigned port, uint64_t idle_ms,
    struct conntrack_count *c)
{
	struct conntrack_self self;

	/* without the list, count everything: a drain waits, never cuts */
	if (conntrack_self_read(port, &self) == -1)
		self.cs_n = 0;
	/* netlink when the kernel and the sandbox allow it, else the files
	 * DESIGN.md names; both give the same counts (test_conntrack) */
	if (conntrack_read_diag(port, &self, idle_ms, c) == 0)
		return 0;
	return conntrack_read_files(conntrack_paths, port, &self, c);
}

int
conntrack_read(unsigned port, struct conntrack_count *c)
{
	return conntrack_read_idle(port, 0, c);
}

/* the walk's sink: every state but LISTEN and CLOSE */
struct ct_walk_arg {
	conntrack_sock_fn	*wa_fn;
	void			*wa_arg;
};

static void
walk_sock(void *arg, const struct conntrack_sock *sk)
{
	const struct ct_walk_arg *wa = arg;

	if (sk->sk_state != ST_LISTEN && sk->sk_state != ST_CLOSE &&
	    sk->sk_state != 0)
		wa->wa_fn(wa->wa_arg, sk);
}

int
conntrack_walk(unsigned port, conntrack_sock_fn *fn, void *arg,
    conntrack_reset_fn *reset, int *counters)
{
	struct ct_walk_arg wa = { fn, arg };
	struct ct_sink sn = { port, walk_sock, &wa, 0 };
	unsigned states = 0xfffu & ~(1u << ST_LISTEN) & ~(1u << ST_CLOSE);

	*counters = 1;
	if (read_diag(states, 1, &sn) == 0)
		return 0;
	/* a dump that failed half way may have given some sockets */
	reset(arg);
	*counters = 0;
	return conntrack_read_paths(conntrack_paths, &sn);
}
