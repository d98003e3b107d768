/*
 * test_quiet.c - the adaptive drain's detector (agent/quiet.c) on synthetic
 * snapshots: the baseline, new connections, bytes on a pooled connection,
 * a connection that came and went between polls (TIME_WAIT), counters
 * reset by socket reuse, a new socket on the same port, the agent's own
 * connections, the /proc/net/tcp fallback without counters, too many
 * sockets, a clock that went back, and the pod's passive opens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "agent/conntrack.h"
#include "agent/quiet.h"

#define ST_ESTABLISHED	1
#define ST_TIME_WAIT	6
#define ST_CLOSE_WAIT	8

/* a socket of app.port 8080 from 10.0.0.<host>:<rport> */
static struct conntrack_sock
sock(unsigned host, unsigned rport, unsigned state, unsigned long ino,
    uint64_t rx)
{
	struct conntrack_sock sk;

	memset(&sk, 0, sizeof(sk));
	sk.sk_laddr[10] = sk.sk_laddr[11] = 0xff;
	sk.sk_laddr[12] = 10;
	sk.sk_laddr[15] = 99;
	sk.sk_raddr[10] = sk.sk_raddr[11] = 0xff;
	sk.sk_raddr[12] = 10;
	sk.sk_raddr[15] = (unsigned char)host;
	sk.sk_lport = 8080;
	sk.sk_rport = rport;
	sk.sk_state = state;
	sk.sk_ino = ino;
	sk.sk_rx = rx;
	sk.sk_has_rx = ino != 0;	/* full sockets carry tcp_info */
	return sk;
}

static void
add(struct quiet *q, struct conntrack_sock sk)
{
	quiet_add(q, &sk, 0);
}

static void
add_self(struct quiet *q, struct conntrack_sock sk)
{
	quiet_add(q, &sk, 1);
}

static int
setup(void **state)
{
	static struct quiet q;

	quiet_init(&q);
	quiet_start(&q, 1000);
	*state = &q;
	return 0;
}

static int
teardown(void **state)
{
	quiet_free(*state);
	return 0;
}

/* the first snapshot is the baseline: what is there is not traffic */
static void
test_baseline_then_quiet(void **state)
{
	struct quiet *q = *state;

	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 1200));
	add(q, sock(2, 40001, ST_TIME_WAIT, 0, 0));
	assert_int_equal(quiet_feed(q, 1100, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, 1100), 100);	/* since the start */
	add(q, sock(2, 40001, ST_TIME_WAIT, 0, 0));
	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 1200));	/* order */
	assert_int_equal(quiet_feed(q, 1200, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, 1900), 900);
	assert_true(quiet_counters(q));
	/* a connection that closed is not traffic */
	assert_int_equal(quiet_feed(q, 1300, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, 1300), 300);
}

static void
test_new_connection(void **state)
{
	struct quiet *q = *state;

	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 10));
	assert_int_equal(quiet_feed(q, 1100, 1), QUIET_NONE);
	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 10));
	add(q, sock(3, 50000, ST_ESTABLISHED, 777, 0));	/* no bytes yet */
	assert_int_equal(quiet_feed(q, 1200, 1), QUIET_NEW);
	assert_int_equal(quiet_for(q, 1200), 0);
	assert_int_equal(quiet_for(q, 1450), 250);
}

/* requests on a pooled keep-alive connection: its counter grows */
static void
test_bytes_on_keepalive(void **state)
{
	struct quiet *q = *state;
	uint64_t t = 1000, rx = 5000;
	int i;

	add(q, sock(1, 40000, ST_ESTABLISHED, 501, rx));
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	for (i = 0; i < 5; i++) {
		add(q, sock(1, 40000, ST_ESTABLISHED, 501, rx += 120));
		assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_BYTES);
		assert_int_equal(quiet_for(q, t), 0);
	}
	/* the requests stop: quiet from the last one seen */
	add(q, sock(1, 40000, ST_ESTABLISHED, 501, rx));
	assert_int_equal(quiet_feed(q, t + 100, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, t + 100), 100);
}

/* a whole connection between two polls: only its TIME_WAIT is seen */
static void
test_came_and_went(void **state)
{
	struct quiet *q = *state;

	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 10));
	assert_int_equal(quiet_feed(q, 1100, 1), QUIET_NONE);
	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 10));
	add(q, sock(4, 41000, ST_TIME_WAIT, 0, 0));
	assert_int_equal(quiet_feed(q, 1200, 1), QUIET_NEW);
	/* a known connection closing (CLOSE_WAIT, then TIME_WAIT without
	 * its inode) is not a new one */
	add(q, sock(1, 40000, ST_CLOSE_WAIT, 501, 10));
	add(q, sock(4, 41000, ST_TIME_WAIT, 0, 0));
	assert_int_equal(quiet_feed(q, 1300, 1), QUIET_NONE);
	add(q, sock(1, 40000, ST_TIME_WAIT, 0, 0));
	add(q, sock(4, 41000, ST_TIME_WAIT, 0, 0));
	assert_int_equal(quiet_feed(q, 1400, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, 1400), 200);
}

/*
 * Socket reuse: the same inode with a counter that went down is a new
 * socket (the kernel reused the number), and so is a new socket on the
 * tuple a TIME_WAIT entry held, or another inode on the same 4-tuple.
 */
static void
test_counters_reset_by_reuse(void **state)
{
	struct quiet *q = *state;

	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 90000));
	add(q, sock(2, 40002, ST_TIME_WAIT, 0, 0));
	assert_int_equal(quiet_feed(q, 1100, 1), QUIET_NONE);
	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 300));
	add(q, sock(2, 40002, ST_TIME_WAIT, 0, 0));
	assert_int_equal(quiet_feed(q, 1200, 1), QUIET_BYTES);
	/* the TIME_WAIT tuple reused by a new connection */
	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 300));
	add(q, sock(2, 40002, ST_ESTABLISHED, 888, 0));
	assert_int_equal(quiet_feed(q, 1300, 1), QUIET_NEW);
	assert_int_equal(quiet_for(q, 1350), 50);
}

/* the same client port again, a new socket: a new connection */
static void
test_new_socket_same_port(void **state)
{
	struct quiet *q = *state;

	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 700));
	assert_int_equal(quiet_feed(q, 1100, 1), QUIET_NONE);
	add(q, sock(1, 40000, ST_ESTABLISHED, 502, 700));	/* equal rx */
	assert_int_equal(quiet_feed(q, 1200, 1), QUIET_NEW);
	/* a different client host on the same port is another tuple */
	add(q, sock(1, 40000, ST_ESTABLISHED, 502, 700));
	add(q, sock(9, 40000, ST_ESTABLISHED, 503, 0));
	assert_int_equal(quiet_feed(q, 1300, 1), QUIET_NEW);
	add(q, sock(1, 40000, ST_ESTABLISHED, 502, 700));
	add(q, sock(9, 40000, ST_ESTABLISHED, 503, 0));
	assert_int_equal(quiet_feed(q, 1400, 1), QUIET_NONE);
}

/* the agent's own checks of the app never count, open or closing */
static void
test_self_ignored(void **state)
{
	struct quiet *q = *state;

	add_self(q, sock(99, 33000, ST_ESTABLISHED, 600, 100));
	assert_int_equal(quiet_feed(q, 1100, 1), QUIET_NONE);
	add_self(q, sock(99, 33000, ST_ESTABLISHED, 600, 300));	/* a check */
	add_self(q, sock(99, 33001, ST_ESTABLISHED, 601, 0));	/* a new one */
	assert_int_equal(quiet_feed(q, 1200, 1), QUIET_NONE);
	/* the agent closed 33000: no longer in its fds, the app's side
	 * closes; still the agent's */
	add(q, sock(99, 33000, ST_CLOSE_WAIT, 600, 300));
	add_self(q, sock(99, 33001, ST_ESTABLISHED, 601, 80));
	assert_int_equal(quiet_feed(q, 1300, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, 1300), 300);
}

/* /proc/net/tcp: no counters, so only new connections count */
static void
test_no_counters(void **state)
{
	struct quiet *q = *state;
	struct conntrack_sock sk = sock(1, 40000, ST_ESTABLISHED, 501, 0);

	sk.sk_has_rx = 0;
	quiet_add(q, &sk, 0);
	assert_int_equal(quiet_feed(q, 1100, 0), QUIET_NONE);
	assert_false(quiet_counters(q));
	quiet_add(q, &sk, 0);
	assert_int_equal(quiet_feed(q, 1200, 0), QUIET_NONE);
	sk.sk_ino = 502;			/* a new socket: seen */
	quiet_add(q, &sk, 0);
	assert_int_equal(quiet_feed(q, 1300, 0), QUIET_NEW);
	/* a snapshot with counters after one without: nothing to compare */
	sk.sk_has_rx = 1;
	sk.sk_rx = 4000;
	quiet_add(q, &sk, 0);
	assert_int_equal(quiet_feed(q, 1400, 1), QUIET_NONE);
	sk.sk_rx = 4100;
	quiet_add(q, &sk, 0);
	assert_int_equal(quiet_feed(q, 1500, 1), QUIET_BYTES);
}

/* more sockets than the detector holds: cannot tell, counts as traffic */
static void
test_too_many(void **state)
{
	struct quiet *q = *state;
	unsigned i;

	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 0));
	assert_int_equal(quiet_feed(q, 1100, 1), QUIET_NONE);
	for (i = 0; i <= QUIET_MAX_SOCKETS; i++)
		add(q, sock(1 + i / 60000, 1024 + i % 60000, ST_TIME_WAIT, 0,
		    0));
	assert_int_equal(quiet_feed(q, 1200, 1), QUIET_UNTRACKED);
	assert_int_equal(quiet_for(q, 1250), 50);
	/* the next one that fits is a new baseline */
	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 0));
	assert_int_equal(quiet_feed(q, 1300, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, 1300), 100);
	assert_int_equal(q->q_seen[QUIET_UNTRACKED], 1);
}

/* a clock that went back (or wrapped) restarts the quiet time */
static void
test_clock_back(void **state)
{
	struct quiet *q = *state;

	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 10));
	assert_int_equal(quiet_feed(q, 5000, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, 5000), 4000);
	add(q, sock(1, 40000, ST_ESTABLISHED, 501, 10));
	assert_int_equal(quiet_feed(q, 200, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, 200), 0);
	assert_int_equal(quiet_for(q, 150), 0);		/* never negative */
	assert_int_equal(quiet_for(q, 900), 700);
	/* the top of the range, then past it */
	quiet_start(q, UINT64_MAX - 10);
	assert_int_equal(quiet_feed(q, UINT64_MAX - 5, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, UINT64_MAX - 5), 5);
	assert_int_equal(quiet_feed(q, 3, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, 3), 0);
	assert_int_equal(quiet_for(q, 103), 100);
}

/*
 * The pod's passive opens less the agent's own: a rise that holds for two
 * polls is a client's connection (one that came and went unseen); one the
 * agent's own accept explains a poll later is not; nor is a dip (the
 * agent's loopback connect counted before the kernel's handshake), and a
 * dip that stays (a connect that failed) is the new level.
 */
static void
test_passive_opens(void **state)
{
	struct quiet *q = *state;
	uint64_t t = 1000;

	quiet_opens(q, 500, 40);		/* the baseline: 460 */
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 500, 40);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	/* a kubelet probe the agent had not accepted yet at this poll */
	quiet_opens(q, 501, 40);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 501, 41);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 501, 41);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	/* the agent's own connect, counted before its handshake */
	quiet_opens(q, 501, 42);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 502, 42);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 502, 42);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	assert_int_equal(quiet_for(q, t), t - 1000);
	/* a client's connection that came and went: seen a poll later */
	quiet_opens(q, 503, 42);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 503, 42);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_OPENED);
	assert_int_equal(quiet_for(q, t + 50), 50);
	/* one a poll, steadily: seen at least every other poll */
	quiet_opens(q, 504, 42);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 505, 42);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_OPENED);
	quiet_opens(q, 506, 42);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_OPENED);
	/* the agent's own connect that failed (no handshake ever): a dip
	 * that stays is the new level, and the next client is seen */
	quiet_opens(q, 506, 43);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 506, 43);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 506, 43);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 507, 43);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 507, 43);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_OPENED);
	/* a poll without the count (unreadable): the next is a new base */
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 900, 42);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	quiet_opens(q, 900, 42);
	assert_int_equal(quiet_feed(q, t += 100, 1), QUIET_NONE);
	assert_int_equal(q->q_seen[QUIET_OPENED], 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_baseline_then_quiet,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_connection, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bytes_on_keepalive,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_came_and_went, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_counters_reset_by_reuse,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_socket_same_port,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_ignored, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_counters, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_too_many, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_clock_back, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_passive_opens, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
