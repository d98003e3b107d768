/*
 * conntrack.h - count the app's TCP sockets from /proc/net/tcp and tcp6.
 *
 * The pod shares one network namespace, so the agent sees the app's sockets.
 * Only the LOCAL port is compared: a socket whose remote port is app.port
 * (a client of some other server on that port) is not the app's.
 */
#ifndef NDT_CONNTRACK_H
#define NDT_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

/*
 * per file: a bound on the time one read takes (the kernel generates
 * ~80 MB/s of it), not on memory (read in chunks). 150 bytes a socket: 16 MiB
 * is ~110k sockets. 4 MiB (27k sockets) was too little: a pod making many
 * short outgoing connections holds that many in TIME_WAIT.
 */
#define CONNTRACK_FILE_MAX	(16u * 1024 * 1024)
#define CONNTRACK_LINE_MAX	512

/*
 * The socket inodes of the listeners on port: a new app process opens a new
 * listening socket, so a set with none of the old inodes is a new listener
 * even if the gap between the old one's close and the new bind was too
 * short for any poll to see (drain.c, the restart watch).
 */
#define CONNTRACK_LISTEN_MAX	8

struct conntrack_count {
	unsigned	 ct_established;	/* st 01, local port == port */
	unsigned	 ct_listening;		/* st 0A, local port == port */
	unsigned	 ct_nino;		/* inodes in ct_listen_ino */
	unsigned long	 ct_listen_ino[CONNTRACK_LISTEN_MAX]; /* the first
						 * listeners' inodes; 0 is
						 * never stored */
	unsigned	 ct_malformed;		/* lines skipped */
	unsigned	 ct_self;		/* established, left out: the
						 * agent's own connections */
	unsigned	 ct_idle;		/* of ct_established: idle
						 * (conntrack_sock_idle) */
	int		 ct_idle_known;		/* ct_idle was read (sock_diag
						 * with counters), not 0 for
						 * want of them */
};

/*
 * The agent's own connections to the app port (its checks of the app keep
 * a keep-alive connection open): the app's side of each must not count as
 * a client still connected, or every drain would wait its full max_wait.
 * An endpoint is a 16-byte IPv6 address (IPv4 as ::ffff:a.b.c.d) and port.
 */
#define CONNTRACK_SELF_MAX	256
struct conntrack_ep {
	unsigned char	 ep_addr[16];
	unsigned	 ep_port;
};
struct conntrack_self {
	struct conntrack_ep cs_ep[CONNTRACK_SELF_MAX];
	size_t		 cs_n;
};

/*
 * Parse complete lines of /proc/net/tcp or tcp6 text (the header line is
 * skipped like any line that does not parse) and add to *c. A trailing
 * partial line is parsed as is. Pure: no I/O.
 */
void	conntrack_parse(const char *text, size_t len, unsigned port,
	    struct conntrack_count *c);
/* the same, leaving out established sockets whose remote endpoint is in
 * self (may be NULL): counted in ct_self instead */
void	conntrack_parse_self(const char *text, size_t len, unsigned port,
	    const struct conntrack_self *self, struct conntrack_count *c);
/* this process's TCP connections to port (getpeername on its own fds):
 * their local endpoints. 0, or -1 with errno set. */
int	conntrack_self_read(unsigned port, struct conntrack_self *);
/* read /proc/net/tcp and /proc/net/tcp6 (bounded), leaving out the app's
 * side of this process's own connections; a missing tcp6 (no IPv6) is not
 * an error. 0, or -1 with errno set. */
int	conntrack_read(unsigned port, struct conntrack_count *c);
/* the kernel's sock_diag (netlink) instead of the text files: only
 * ESTABLISHED and LISTEN sockets whose local port is port come back, so a
 * host or pod with tens of thousands of sockets (TIME_WAIT above all)
 * costs no parsing; idle_ms > 0 counts ct_idle too. 0, or -1 with errno
 * set (no netlink: use the files). */
int	conntrack_read_diag(unsigned port, const struct conntrack_self *self,
	    uint64_t idle_ms, struct conntrack_count *c);
/* the LISTEN sockets only (ct_listening, ct_listen_ino; the rest 0):
 * through sock_diag this costs nothing however many other sockets the
 * namespace holds. The drain's restart watch. 0, or -1 with errno set. */
int	conntrack_read_listeners(unsigned port, struct conntrack_count *c);
/*
 * One TCP socket whose local port is the port asked for, as sock_diag or
 * the files give it: the adaptive drain's view of app.port (quiet.c).
 */
struct conntrack_sock {
	unsigned char	 sk_laddr[16];	/* IPv4 as ::ffff:a.b.c.d */
	unsigned char	 sk_raddr[16];
	unsigned	 sk_lport;
	unsigned	 sk_rport;
	unsigned	 sk_state;	/* TCP_ESTABLISHED (1) .. TCP_CLOSING */
	unsigned long	 sk_ino;	/* 0: none (TIME_WAIT, SYN_RECV) */
	uint64_t	 sk_rx;		/* tcpi_bytes_received */
	int		 sk_has_rx;	/* sk_rx, sk_tx are known (sock_diag) */
	uint64_t	 sk_tx;		/* tcpi_bytes_acked: answered bytes */
	/* drain.idle_timeout (sock_diag only) */
	int		 sk_has_idle;	/* the four below are known */
	uint32_t	 sk_last_recv_ms; /* tcpi_last_data_recv: ago */
	uint32_t	 sk_last_sent_ms; /* tcpi_last_data_sent: ago */
	uint32_t	 sk_rqueue;	/* received, not read by the app */
	uint32_t	 sk_wqueue;	/* sent, not acknowledged */
};
/*
 * Whether sk is an idle keep-alive connection, one a drain need not wait
 * for (drain.idle_timeout): ESTABLISHED, it has received and sent bytes,
 * the app has read all it received and its answer is all acknowledged, the
 * last data went out after the last came in (answered), and nothing moved
 * either way for idle_ms. An unanswered request, a slow answer, a stream,
 * a connection that never carried a request: not idle. The times are in
 * kernel ticks (1-10 ms): a request that came in the same tick as the
 * previous answer went out looks answered, which is why idle_timeout must
 * be longer than the app's slowest answer (then a connection silent that
 * long holds no request). Pure.
 */
int	conntrack_sock_idle(const struct conntrack_sock *sk, uint64_t idle_ms);
/*
 * conntrack_read() that also counts, in ct_idle, the established sockets
 * conntrack_sock_idle() calls idle for idle_ms (sock_diag with
 * INET_DIAG_INFO; ct_idle_known = 1). Through the files: ct_idle 0,
 * ct_idle_known 0. 0, or -1 with errno set.
 */
int	conntrack_read_idle(unsigned port, uint64_t idle_ms,
	    struct conntrack_count *c);
typedef void	conntrack_sock_fn(void *arg, const struct conntrack_sock *);
typedef void	conntrack_reset_fn(void *arg);
/*
 * Every socket on local port port but LISTEN ones, one fn call each:
 * through sock_diag with INET_DIAG_INFO (*counters = 1: sk_rx is set on
 * each full socket), else /proc/net/tcp{,6} (*counters = 0: no per-socket
 * counters there). reset(arg) is called before the files are read, to drop
 * what a failed dump gave. 0, or -1 with errno set.
 */
int	conntrack_walk(unsigned port, conntrack_sock_fn *fn, void *arg,
	    conntrack_reset_fn *reset, int *counters);
/*
 * The pod's TCP connections accepted by the kernel so far, on any port
 * (/proc/net/snmp's Tcp PassiveOpens, per network namespace): catches a
 * connection that opened and closed between two walks. 0, or -1 with errno
 * set. conntrack_parse_snmp() is the pure parser (tests, fuzz).
 */
int	conntrack_passive_opens(uint64_t *);
int	conntrack_parse_snmp(const char *text, size_t len, uint64_t *);
/* the same for any list of files (tests); NULL-terminated; self may be
 * NULL */
int	conntrack_read_files(const char *const *paths, unsigned port,
	    const struct conntrack_self *self, struct conntrack_count *c);

#endif
