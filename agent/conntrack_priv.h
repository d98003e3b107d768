/*
 * conntrack_priv.h - shared by conntrack.c (the /proc/net files, the
 * agent's own connections, /proc/net/snmp) and conntrack_diag.c (sock_diag).
 */
#ifndef NDT_CONNTRACK_PRIV_H
#define NDT_CONNTRACK_PRIV_H

#include "conntrack.h"

#define ST_ESTABLISHED	0x01
#define ST_LISTEN	0x0a
#define ST_CLOSE	0x07

/* where parsed sockets go: one callback per socket on the port */
struct ct_sink {
	unsigned		 sn_port;
	conntrack_sock_fn	*sn_fn;
	void			*sn_arg;
	unsigned		 sn_malformed;
};

/* the counting sink's argument */
struct ct_count_arg {
	const struct conntrack_self *ca_self;
	struct conntrack_count	*ca_c;
	uint64_t		 ca_idle_ms;	/* > 0: count ct_idle */
};

/* the counting sink (arg: struct ct_count_arg) */
void	conntrack_count_sock(void *arg, const struct conntrack_sock *);
/* every file of paths (NULL-terminated) into the sink; a missing second
 * file (no IPv6) is not an error. 0 or -1 */
int	conntrack_read_paths(const char *const *paths, struct ct_sink *);
/* /proc/net/tcp and /proc/net/tcp6 */
extern const char *const conntrack_paths[];

#endif
