/*
 * quiet.h - the adaptive drain's detector (drain.quiet): has app.port
 * stopped receiving traffic?
 *
 * Each poll is a snapshot of every socket on app.port but its listeners
 * (conntrack_walk): ESTABLISHED, and also SYN_RECV, CLOSE_WAIT, TIME_WAIT
 * and the other closing states, so a connection that opened and closed
 * between two polls still shows, as a tuple not seen before. Compared with
 * the snapshot before, traffic ("activity") is:
 *
 *   - a socket whose 4-tuple was not there before (a new connection, or
 *     one that came and went since), or whose inode differs (a new socket
 *     on a reused tuple);
 *   - a socket whose received-bytes counter (tcpi_bytes_received) changed,
 *     up or down (down: the inode was reused by a new socket). Pooled
 *     keep-alive connections carry requests this way.
 *
 * Also traffic: a rise in the pod's passive opens (/proc/net/snmp) that the
 * agent's own connections do not explain: a client that connected, sent
 * its request and closed between two walks, leaving no TIME_WAIT on the
 * app's side, is seen this way. It counts connections to every port of the
 * pod, so it can hold a drain longer, never end it sooner.
 *
 * The agent's own connections to app.port (its checks of the app) are in
 * the snapshot, marked, so they match across polls but never count; a
 * tuple that was the agent's stays the agent's while it closes.
 *
 * Without per-socket counters (the /proc/net/tcp fallback) only new
 * connections count: quiet_counters() says which. Pure but for
 * quiet_poll(): unit tests feed synthetic snapshots (test_quiet.c).
 */
#ifndef NDT_QUIET_H
#define NDT_QUIET_H

#include <stddef.h>
#include <stdint.h>

struct conntrack_sock;

/* beyond this many sockets on app.port a poll cannot tell: it counts as
 * activity, and the drain waits the full delay (never cut short) */
#define QUIET_MAX_SOCKETS	65536

#define QUIET_KEY_LEN		36	/* laddr, raddr, lport, rport */

struct quiet_sock {
	unsigned char	 qk_key[QUIET_KEY_LEN];
	unsigned long	 qk_ino;	/* 0: none (TIME_WAIT, SYN_RECV) */
	uint64_t	 qk_rx;
	unsigned char	 qk_has_rx;
	unsigned char	 qk_self;	/* the agent's own connection */
};

struct quiet_snap {
	struct quiet_sock *qs_v;
	size_t		 qs_n;
	size_t		 qs_cap;
	int		 qs_over;	/* a socket did not fit: untracked */
};

enum quiet_activity {
	QUIET_NONE,
	QUIET_NEW,		/* a new connection (tuple or socket) */
	QUIET_BYTES,		/* bytes received on a known connection */
	QUIET_UNTRACKED,	/* too many sockets, or no memory */
	QUIET_OPENED,		/* the pod accepted a connection the agent
				 * did not make or accept itself */
	QUIET_NACTIVITY
};
const char	*quiet_activity_str(enum quiet_activity);

struct quiet {
	struct quiet_snap q_prev;
	struct quiet_snap q_cur;	/* being built by quiet_add() */
	int		 q_have_prev;
	int		 q_counters;	/* the last snapshot had them */
	uint64_t	 q_since;	/* mono ms: the last activity, or start */
	uint64_t	 q_last;	/* mono ms: the last quiet_feed() */
	uint64_t	 q_seen[QUIET_NACTIVITY];	/* polls by outcome */
	/* the pod's passive opens not the agent's own (quiet_opens()) */
	int		 q_opens_known;	/* given for the snapshot being built */
	uint64_t	 q_passive, q_own;
	int		 q_have_u;
	int64_t		 q_u1, q_u2;	/* the last two polls' unexplained */
	int64_t		 q_level;	/* their median with the one before */
};

void	quiet_init(struct quiet *);
/* the memory both snapshots hold; the detector stays usable */
void	quiet_free(struct quiet *);
/* a new watch from now: no snapshot yet, quiet since now */
void	quiet_start(struct quiet *, uint64_t now);
/* one socket into the snapshot being built; self: the agent's own */
void	quiet_add(struct quiet *, const struct conntrack_sock *, int self);
/*
 * The pod's passive opens (conntrack_passive_opens()) and how many of them
 * the agent made or accepted itself, for the snapshot being built: a
 * connection to any port that opened and closed between two walks shows
 * as a rise of passive - own. A rise counts once it has held for two polls
 * (a median of three), so a connection the agent accepts a moment after
 * the kernel did is not taken for a client. Not called before a feed: the signal is off for it.
 */
void	quiet_opens(struct quiet *, uint64_t passive, uint64_t own);
/* drop the snapshot being built (a read that failed half way) */
void	quiet_discard(struct quiet *);
/*
 * The snapshot built since the last feed was taken at now (mono ms), with
 * per-socket counters or not: compare it with the one before and keep it.
 * The first snapshot after quiet_start() is the baseline: no activity. A
 * clock that went back (now < the last feed) restarts the quiet time.
 */
enum quiet_activity quiet_feed(struct quiet *, uint64_t now, int counters);
/* how long app.port has been quiet at now, ms */
uint64_t quiet_for(const struct quiet *, uint64_t now);
int	quiet_counters(const struct quiet *);
/* read app.port (the agent's own connections marked) and feed; -1 with
 * errno when neither sock_diag nor the files could be read: that poll
 * counts as activity */
int	quiet_poll(struct quiet *, unsigned port, uint64_t own_opens,
	    uint64_t now, enum quiet_activity *);

#endif
