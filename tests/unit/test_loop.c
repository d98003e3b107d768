/*
 * test_loop.c - the event loop: timers in deadline order, absolute
 * deadlines, re-arming, fd callbacks, deleting another registration in the
 * same batch, before-sleep hooks and signals through the signalfd.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/loop.h"
#include "agent/util.h"

struct rec {
	struct loop	*l;
	int		 order[16];
	int		 n;
	uint64_t	 at[16];
};

struct tmr {
	struct rec	*r;
	int		 id;
	int		 stop_after;
};

static void
tmr_cb(void *arg)
{
	struct tmr *t = arg;

	t->r->at[t->r->n] = mono_ms();
	t->r->order[t->r->n++] = t->id;
	if (t->r->n >= t->stop_after)
		loop_stop(t->r->l);
}

static void
test_timers_fire_in_deadline_order(void **state)
{
	struct rec r;
	struct tmr t[4];
	struct loop_timer *lt[4];
	static const uint64_t delay[4] = { 60, 20, 40, 0 };
	uint64_t t0;
	int i;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.l = loop_new();
	assert_non_null(r.l);
	t0 = mono_ms();
	for (i = 0; i < 4; i++) {
		t[i].r = &r;
		t[i].id = i;
		t[i].stop_after = 4;
		lt[i] = loop_timer_new(r.l, tmr_cb, &t[i]);
		assert_non_null(lt[i]);
		loop_timer_at(r.l, lt[i], t0 + delay[i]);
	}
	assert_int_equal(loop_run(r.l), 0);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.order[0], 3);
	assert_int_equal(r.order[1], 1);
	assert_int_equal(r.order[2], 2);
	assert_int_equal(r.order[3], 0);
	/* never early; late by less than a noisy machine's 50 ms */
	assert_true(r.at[3] >= t0 + 60);
	assert_in_range(r.at[3] - t0, 60, 110);
	for (i = 0; i < 4; i++)
		loop_timer_free(r.l, lt[i]);
	loop_free(r.l);
}

static void
test_timer_rearm_and_stop(void **state)
{
	struct rec r;
	struct tmr a, b;
	struct loop_timer *ta, *tb;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.l = loop_new();
	a.r = b.r = &r;
	a.id = 1;
	b.id = 2;
	a.stop_after = b.stop_after = 1;
	ta = loop_timer_new(r.l, tmr_cb, &a);
	tb = loop_timer_new(r.l, tmr_cb, &b);
	loop_timer_in(r.l, ta, 10);
	loop_timer_in(r.l, tb, 30);
	/* move a after b, then cancel it: only b fires */
	loop_timer_in(r.l, ta, 50);
	assert_true(loop_timer_armed(ta));
	loop_timer_stop(r.l, ta);
	assert_false(loop_timer_armed(ta));
	assert_int_equal(loop_run(r.l), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.order[0], 2);
	loop_timer_free(r.l, ta);
	loop_timer_free(r.l, tb);
	loop_free(r.l);
}

struct pipes {
	struct loop	*l;
	int		 p1[2], p2[2];
	struct loop_io	*io1, *io2;
	int		 calls1, calls2;
};

/* the first callback deletes the second registration: it must not run */
static void
io1_cb(int fd, uint32_t ev, void *arg)
{
	struct pipes *p = arg;
	char c;

	(void)ev;
	assert_int_equal(read(fd, &c, 1), 1);
	p->calls1++;
	if (p->io2) {
		loop_io_del(p->l, p->io2);
		p->io2 = NULL;
	}
	loop_stop(p->l);
}

static void
io2_cb(int fd, uint32_t ev, void *arg)
{
	struct pipes *p = arg;
	char c;

	(void)ev;
	assert_int_equal(read(fd, &c, 1), 1);
	p->calls2++;
	if (p->io1) {
		loop_io_del(p->l, p->io1);
		p->io1 = NULL;
	}
	loop_stop(p->l);
}

static void
test_delete_in_same_batch(void **state)
{
	struct pipes p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.l = loop_new();
	assert_int_equal(pipe(p.p1), 0);
	assert_int_equal(pipe(p.p2), 0);
	p.io1 = loop_io_add(p.l, p.p1[0], EPOLLIN, io1_cb, &p);
	p.io2 = loop_io_add(p.l, p.p2[0], EPOLLIN, io2_cb, &p);
	/* both readable before the loop looks: one batch */
	assert_int_equal(write(p.p1[1], "x", 1), 1);
	assert_int_equal(write(p.p2[1], "y", 1), 1);
	assert_int_equal(loop_run(p.l), 0);
	assert_int_equal(p.calls1 + p.calls2, 1);
	if (p.io1)
		loop_io_del(p.l, p.io1);
	if (p.io2)
		loop_io_del(p.l, p.io2);
	close(p.p1[0]); close(p.p1[1]); close(p.p2[0]); close(p.p2[1]);
	loop_free(p.l);
}

/* a closed peer (EPOLLHUP) is reported as readable */
static void
hup_cb(int fd, uint32_t ev, void *arg)
{
	int *seen = arg;

	(void)fd;
	if ((ev & EPOLLIN) && (ev & EPOLLOUT))
		*seen = 1;
}

static void
stop_cb(void *arg)
{
	loop_stop(arg);
}

static void
test_hup_is_readable_and_writable(void **state)
{
	struct loop *l = loop_new();
	struct loop_timer *t;
	struct loop_io *io;
	int p[2], seen = 0;

	(void)state;
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	io = loop_io_add(l, p[0], EPOLLIN, hup_cb, &seen);
	t = loop_timer_new(l, stop_cb, l);
	loop_timer_in(l, t, 20);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(seen, 1);
	loop_io_del(l, io);
	loop_timer_free(l, t);
	close(p[0]);
	loop_free(l);
}

static void
hook_cb(void *arg)
{
	int *n = arg;

	(*n)++;
}

static void
sig_cb(const struct signalfd_siginfo *si, void *arg)
{
	struct rec *r = arg;

	r->order[r->n++] = (int)si->ssi_signo;
	loop_stop(r->l);
}

static void
test_signal_and_hook(void **state)
{
	struct rec r;
	int hooks = 0;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.l = loop_new();
	assert_int_equal(loop_signal(r.l, SIGUSR1, sig_cb, &r), 0);
	assert_int_equal(loop_before_sleep(r.l, hook_cb, &hooks), 0);
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	assert_int_equal(loop_run(r.l), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.order[0], SIGUSR1);
	assert_true(hooks >= 1);
	assert_true(loop_iterations(r.l) >= 1);
	loop_free(r.l);
}

/* many timers: the heap grows and keeps order */
static void
test_many_timers(void **state)
{
	struct rec r;
	struct tmr t[16];
	struct loop_timer *lt[16];
	uint64_t t0 = mono_ms();
	int i;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.l = loop_new();
	for (i = 0; i < 16; i++) {
		t[i].r = &r;
		t[i].id = i;
		t[i].stop_after = 16;
		lt[i] = loop_timer_new(r.l, tmr_cb, &t[i]);
		assert_non_null(lt[i]);
		loop_timer_at(r.l, lt[i], t0 + (uint64_t)((i * 7) % 16) * 2);
	}
	assert_int_equal(loop_run(r.l), 0);
	for (i = 1; i < 16; i++)
		assert_true((t0 + (uint64_t)((r.order[i - 1] * 7) % 16) * 2) <=
		    (t0 + (uint64_t)((r.order[i] * 7) % 16) * 2));
	for (i = 0; i < 16; i++)
		loop_timer_free(r.l, lt[i]);
	loop_free(r.l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_timer_rearm_and_stop),
		cmocka_unit_test(test_delete_in_same_batch),
		cmocka_unit_test(test_hup_is_readable_and_writable),
		cmocka_unit_test(test_signal_and_hook),
		cmocka_unit_test(test_many_timers),
	};

	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
