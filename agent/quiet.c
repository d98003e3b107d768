/*
 * quiet.c - the adaptive drain's detector (quiet.h): two snapshots of
 * app.port's sockets, each sorted by 4-tuple, compared socket by socket.
 * Memory: two arrays that grow by doubling, QUIET_MAX_SOCKETS at most
 * (72 bytes a socket: 4.5 MiB each at the cap), freed when a drain's
 * draining phase ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conntrack.h"
#include "quiet.h"

static const char *const quiet_activity_names[QUIET_NACTIVITY] = {
	[QUIET_NONE] = "none",
	[QUIET_NEW] = "new_connection",
	[QUIET_BYTES] = "bytes",
	[QUIET_UNTRACKED] = "untracked",
	[QUIET_OPENED] = "opened",
};

const char *
quiet_activity_str(enum quiet_activity a)
{
	return (unsigned)a < QUIET_NACTIVITY ? quiet_activity_names[a] :
	    "unknown";
}

void
quiet_init(struct quiet *q)
{
	memset(q, 0, sizeof(*q));
}

void
quiet_free(struct quiet *q)
{
	free(q->q_prev.qs_v);
	free(q->q_cur.qs_v);
	memset(&q->q_prev, 0, sizeof(q->q_prev));
	memset(&q->q_cur, 0, sizeof(q->q_cur));
	q->q_have_prev = 0;
}

void
quiet_start(struct quiet *q, uint64_t now)
{
	q->q_prev.qs_n = q->q_cur.qs_n = 0;
	q->q_prev.qs_over = q->q_cur.qs_over = 0;
	q->q_have_prev = 0;
	q->q_counters = 0;
	q->q_since = q->q_last = now;
	memset(q->q_seen, 0, sizeof(q->q_seen));
	q->q_opens_known = q->q_have_u = 0;
}

void
quiet_opens(struct quiet *q, uint64_t passive, uint64_t own)
{
	q->q_opens_known = 1;
	q->q_passive = passive;
	q->q_own = own;
}

static int64_t
median3(int64_t a, int64_t b, int64_t c)
{
	if (a > b) {
		int64_t t = a;

		a = b;
		b = t;
	}
	/* a <= b */
	return c <= a ? a : c >= b ? b : c;
}

/*
 * The passive opens' share of a feed: QUIET_OPENED or QUIET_NONE. The
 * level is the median of the last three polls' passive - own, so a rise or
 * a dip that lasts one poll moves nothing: the kernel counts a connection
 * to the agent's listener before the agent accepts it (a rise for a
 * moment), and the agent counts its own connect before the handshake (a
 * dip). A client's connection raises the level for good, seen one or two
 * polls late: the quiet time then counts from later, never from sooner.
 */
static enum quiet_activity
feed_opens(struct quiet *q)
{
	enum quiet_activity a;
	int64_t u, level;

	if (!q->q_opens_known) {
		q->q_have_u = 0;	/* a gap: the next known one is a base */
		return QUIET_NONE;
	}
	q->q_opens_known = 0;
	u = (int64_t)(q->q_passive - q->q_own);
	if (!q->q_have_u) {
		q->q_u1 = q->q_u2 = q->q_level = u;
		q->q_have_u = 1;
		return QUIET_NONE;
	}
	level = median3(u, q->q_u1, q->q_u2);
	a = level > q->q_level ? QUIET_OPENED : QUIET_NONE;
	q->q_level = level;
	q->q_u2 = q->q_u1;
	q->q_u1 = u;
	return a;
}

static void
make_key(const struct conntrack_sock *sk, unsigned char key[QUIET_KEY_LEN])
{
	memcpy(key, sk->sk_laddr, 16);
	memcpy(key + 16, sk->sk_raddr, 16);
	key[32] = (unsigned char)(sk->sk_lport >> 8);
	key[33] = (unsigned char)sk->sk_lport;
	key[34] = (unsigned char)(sk->sk_rport >> 8);
	key[35] = (unsigned char)sk->sk_rport;
}

void
quiet_add(struct quiet *q, const struct conntrack_sock *sk, int self)
{
	struct quiet_snap *s = &q->q_cur;
	struct quiet_sock *v, *e;
	size_t cap;

	if (s->qs_over)
		return;
	if (s->qs_n == s->qs_cap) {
		cap = s->qs_cap ? s->qs_cap * 2 : 64;
		if (cap > QUIET_MAX_SOCKETS)
			cap = QUIET_MAX_SOCKETS;
		if (s->qs_n >= cap ||
		    (v = realloc(s->qs_v, cap * sizeof(*v))) == NULL) {
			s->qs_over = 1;
			return;
		}
		s->qs_v = v;
		s->qs_cap = cap;
	}
	e = &s->qs_v[s->qs_n++];
	memset(e, 0, sizeof(*e));
	make_key(sk, e->qk_key);
	e->qk_ino = sk->sk_ino;
	e->qk_rx = sk->sk_rx;
	e->qk_has_rx = sk->sk_has_rx != 0;
	e->qk_self = self != 0;
}

void
quiet_discard(struct quiet *q)
{
	q->q_cur.qs_n = 0;
	q->q_cur.qs_over = 0;
}

static int
sock_cmp(const void *a, const void *b)
{
	return memcmp(((const struct quiet_sock *)a)->qk_key,
	    ((const struct quiet_sock *)b)->qk_key, QUIET_KEY_LEN);
}

/* one socket of the new snapshot against the old one */
static enum quiet_activity
compare_one(const struct quiet_snap *prev, const struct quiet_sock *c)
{
	const struct quiet_sock *p;

	p = bsearch(c, prev->qs_v, prev->qs_n, sizeof(*c), sock_cmp);
	if (p == NULL)
		return c->qk_self ? QUIET_NONE : QUIET_NEW;
	if (p->qk_self || c->qk_self)
		return QUIET_NONE;	/* the agent's, while open or closing */
	/* a full socket where there was another, or only a TIME_WAIT or
	 * SYN_RECV entry: a new connection on that tuple */
	if (c->qk_ino != 0 && p->qk_ino != c->qk_ino)
		return QUIET_NEW;
	if (c->qk_has_rx && p->qk_has_rx && c->qk_rx != p->qk_rx)
		return QUIET_BYTES;
	return QUIET_NONE;
}

enum quiet_activity
quiet_feed(struct quiet *q, uint64_t now, int counters)
{
	struct quiet_snap tmp, *cur = &q->q_cur, *prev = &q->q_prev;
	enum quiet_activity a = QUIET_NONE, r;
	size_t i;

	if (cur->qs_n > 1)
		qsort(cur->qs_v, cur->qs_n, sizeof(*cur->qs_v), sock_cmp);
	if (cur->qs_over)
		a = QUIET_UNTRACKED;
	else if (q->q_have_prev && !prev->qs_over) {
		for (i = 0; i < cur->qs_n && a != QUIET_NEW; i++)
			if ((r = compare_one(prev, &cur->qs_v[i])) != QUIET_NONE)
				a = r;
	}
	/* without per-socket counters, bytes cannot be seen: a snapshot
	 * that lost them (the files after sock_diag) must not compare them */
	if (!counters && a == QUIET_BYTES)
		a = QUIET_NONE;
	if ((r = feed_opens(q)) != QUIET_NONE && a == QUIET_NONE)
		a = r;
	if (now < q->q_last) {
		/* the clock went back: start the quiet time again */
		q->q_since = now;
	}
	if (a != QUIET_NONE)
		q->q_since = now;
	q->q_last = now;
	q->q_counters = counters;
	q->q_seen[a]++;
	tmp = *prev;
	*prev = *cur;
	*cur = tmp;
	cur->qs_n = 0;
	cur->qs_over = 0;
	q->q_have_prev = !prev->qs_over;
	return a;
}

uint64_t
quiet_for(const struct quiet *q, uint64_t now)
{
	return now > q->q_since ? now - q->q_since : 0;
}

int
quiet_counters(const struct quiet *q)
{
	return q->q_counters;
}

/* the walk's callback: the agent's own connections marked */
struct poll_arg {
	struct quiet		*pa_q;
	struct conntrack_self	*pa_self;
};

static void
poll_sock(void *arg, const struct conntrack_sock *sk)
{
	const struct poll_arg *pa = arg;
	const struct conntrack_self *self = pa->pa_self;
	int is_self = 0;
	size_t i;

	for (i = 0; i < self->cs_n && !is_self; i++)
		is_self = self->cs_ep[i].ep_port == sk->sk_rport &&
		    memcmp(self->cs_ep[i].ep_addr, sk->sk_raddr, 16) == 0;
	quiet_add(pa->pa_q, sk, is_self);
}

static void
poll_reset(void *arg)
{
	quiet_discard(((struct poll_arg *)arg)->pa_q);
}

int
quiet_poll(struct quiet *q, unsigned port, uint64_t own_opens, uint64_t now,
    enum quiet_activity *out)
{
	struct conntrack_self self;
	struct poll_arg pa = { q, &self };
	uint64_t passive;
	int counters, saved;

	if (conntrack_self_read(port, &self) == -1)
		self.cs_n = 0;
	if (conntrack_passive_opens(&passive) == 0)
		quiet_opens(q, passive, own_opens);
	if (conntrack_walk(port, poll_sock, &pa, poll_reset, &counters) ==
	    -1) {
		saved = errno;
		quiet_discard(q);
		q->q_opens_known = q->q_have_u = 0;
		q->q_since = q->q_last = now;
		q->q_seen[QUIET_UNTRACKED]++;
		*out = QUIET_UNTRACKED;
		errno = saved;
		return -1;
	}
	*out = quiet_feed(q, now, counters);
	return 0;
}
