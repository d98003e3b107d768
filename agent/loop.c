/*
 * loop.c - epoll + timerfd + signalfd event loop (Redis ae.c, ntpd's
 * nextaction): one thread, absolute monotonic deadlines in a min-heap, the
 * timerfd armed for the earliest, signals read from a signalfd.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "util.h"

#define LOOP_MAX_EVENTS	64
#define LOOP_MAX_HOOKS	8

struct loop_io {
	int		 io_fd;
	uint32_t	 io_events;
	loop_io_cb	*io_cb;
	void		*io_arg;
	int		 io_dead;
	struct loop_io	*io_next_dead;
};

struct loop_timer {
	uint64_t	 t_deadline;
	size_t		 t_slot;	/* index in the heap, or SIZE_MAX */
	loop_timer_cb	*t_cb;
	void		*t_arg;
};

struct loop_sig {
	int		 s_signo;
	loop_signal_cb	*s_cb;
	void		*s_arg;
};

struct loop_hook {
	loop_hook_cb	*hk_cb;
	void		*hk_arg;
};

struct loop {
	int		 l_epfd;
	int		 l_timerfd;
	int		 l_sigfd;
	int		 l_running;
	uint64_t	 l_now;
	uint64_t	 l_iterations;
	uint64_t	 l_armed;	/* deadline the timerfd holds, 0 = none */
	sigset_t	 l_sigmask;
	struct loop_io	*l_timer_io;
	struct loop_io	*l_sig_io;
	struct loop_io	*l_dead;	/* freed after the batch */
	struct loop_timer **l_heap;
	size_t		 l_nheap;
	size_t		 l_heapcap;
	size_t		 l_ntimers;	/* allocated timers <= l_heapcap */
	struct loop_sig	 l_sigs[16];
	size_t		 l_nsigs;
	struct loop_hook l_hooks[LOOP_MAX_HOOKS];
	size_t		 l_nhooks;
};

static void	loop_timerfd_cb(int, uint32_t, void *);
static void	loop_sigfd_cb(int, uint32_t, void *);

struct loop *
loop_new(void)
{
	struct loop *l;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		log_error("loop: calloc");
		return NULL;
	}
	l->l_timerfd = l->l_sigfd = -1;
	sigemptyset(&l->l_sigmask);
	if ((l->l_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_error("epoll_create1");
		goto fail;
	}
	l->l_timerfd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->l_timerfd == -1) {
		log_error("timerfd_create");
		goto fail;
	}
	l->l_now = mono_ms();
	l->l_timer_io = loop_io_add(l, l->l_timerfd, EPOLLIN,
	    loop_timerfd_cb, l);
	if (l->l_timer_io == NULL)
		goto fail;
	return l;
fail:
	loop_free(l);
	return NULL;
}

static void
loop_reap(struct loop *l)
{
	struct loop_io *io;

	while ((io = l->l_dead) != NULL) {
		l->l_dead = io->io_next_dead;
		free(io);
	}
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	if (l->l_timer_io)
		loop_io_del(l, l->l_timer_io);
	if (l->l_sig_io)
		loop_io_del(l, l->l_sig_io);
	loop_reap(l);
	if (l->l_timerfd != -1)
		close(l->l_timerfd);
	if (l->l_sigfd != -1) {
		close(l->l_sigfd);
		sigprocmask(SIG_UNBLOCK, &l->l_sigmask, NULL);
	}
	if (l->l_epfd != -1)
		close(l->l_epfd);
	free(l->l_heap);
	free(l);
}

uint64_t
loop_now(const struct loop *l)
{
	return l->l_now;
}

uint64_t
loop_iterations(const struct loop *l)
{
	return l->l_iterations;
}

uint64_t
loop_next_deadline(const struct loop *l)
{
	return l->l_nheap ? l->l_heap[0]->t_deadline : 0;
}

int
loop_before_sleep(struct loop *l, loop_hook_cb *cb, void *arg)
{
	if (l->l_nhooks == LOOP_MAX_HOOKS) {
		log_errorx("loop: too many before-sleep hooks");
		return -1;
	}
	l->l_hooks[l->l_nhooks].hk_cb = cb;
	l->l_hooks[l->l_nhooks].hk_arg = arg;
	l->l_nhooks++;
	return 0;
}

struct loop_io *
loop_io_add(struct loop *l, int fd, uint32_t events, loop_io_cb *cb,
    void *arg)
{
	struct epoll_event ev;
	struct loop_io *io;

	if ((io = calloc(1, sizeof(*io))) == NULL) {
		log_error("loop: fd %d", fd);
		return NULL;
	}
	io->io_fd = fd;
	io->io_events = events;
	io->io_cb = cb;
	io->io_arg = arg;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = io;
	if (epoll_ctl(l->l_epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_error("loop: epoll_ctl add fd %d", fd);
		free(io);
		return NULL;
	}
	return io;
}

int
loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev;

	if (io->io_dead)
		return -1;
	if (io->io_events == events)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = io;
	if (epoll_ctl(l->l_epfd, EPOLL_CTL_MOD, io->io_fd, &ev) == -1) {
		log_error("loop: epoll_ctl mod fd %d", io->io_fd);
		return -1;
	}
	io->io_events = events;
	return 0;
}

void
loop_io_del(struct loop *l, struct loop_io *io)
{
	if (io == NULL || io->io_dead)
		return;
	/* the fd may already be closed by its owner: ignore EBADF/ENOENT */
	(void)epoll_ctl(l->l_epfd, EPOLL_CTL_DEL, io->io_fd, NULL);
	io->io_dead = 1;
	io->io_next_dead = l->l_dead;
	l->l_dead = io;
}

/* timers: a binary min-heap on t_deadline */

static void
heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->l_heap[a];

	l->l_heap[a] = l->l_heap[b];
	l->l_heap[b] = t;
	l->l_heap[a]->t_slot = a;
	l->l_heap[b]->t_slot = b;
}

static void
heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (l->l_heap[p]->t_deadline <= l->l_heap[i]->t_deadline)
			break;
		heap_swap(l, i, p);
		i = p;
	}
}

static void
heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;

		if (c < l->l_nheap &&
		    l->l_heap[c]->t_deadline < l->l_heap[m]->t_deadline)
			m = c;
		if (c + 1 < l->l_nheap &&
		    l->l_heap[c + 1]->t_deadline < l->l_heap[m]->t_deadline)
			m = c + 1;
		if (m == i)
			break;
		heap_swap(l, i, m);
		i = m;
	}
}

static void
heap_remove(struct loop *l, struct loop_timer *t)
{
	size_t i = t->t_slot;

	if (i == SIZE_MAX)
		return;
	t->t_slot = SIZE_MAX;
	l->l_nheap--;
	if (i == l->l_nheap)
		return;
	l->l_heap[i] = l->l_heap[l->l_nheap];
	l->l_heap[i]->t_slot = i;
	heap_down(l, i);
	heap_up(l, i);
}

struct loop_timer *
loop_timer_new(struct loop *l, loop_timer_cb *cb, void *arg)
{
	struct loop_timer *t, **nh;
	size_t ncap;

	/* reserve a heap slot now, so arming a timer never allocates */
	if (l->l_ntimers + 1 > l->l_heapcap) {
		ncap = l->l_heapcap ? l->l_heapcap * 2 : 16;
		if ((nh = realloc(l->l_heap, ncap * sizeof(*nh))) == NULL) {
			log_error("loop: timer");
			return NULL;
		}
		l->l_heap = nh;
		l->l_heapcap = ncap;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		log_error("loop: timer");
		return NULL;
	}
	t->t_slot = SIZE_MAX;
	t->t_cb = cb;
	t->t_arg = arg;
	l->l_ntimers++;
	return t;
}

void
loop_timer_at(struct loop *l, struct loop_timer *t, uint64_t deadline)
{
	if (t->t_slot != SIZE_MAX) {
		t->t_deadline = deadline;
		heap_down(l, t->t_slot);
		heap_up(l, t->t_slot);
		return;
	}
	if (l->l_nheap == l->l_heapcap) {
		/* every live timer reserved a slot; cannot happen */
		fatalx("loop: timer heap overflow");
	}
	t->t_deadline = deadline;
	t->t_slot = l->l_nheap;
	l->l_heap[l->l_nheap++] = t;
	heap_up(l, t->t_slot);
}

void
loop_timer_in(struct loop *l, struct loop_timer *t, uint64_t ms)
{
	loop_timer_at(l, t, mono_ms() + ms);
}

void
loop_timer_stop(struct loop *l, struct loop_timer *t)
{
	if (t != NULL)
		heap_remove(l, t);
}

int
loop_timer_armed(const struct loop_timer *t)
{
	return t->t_slot != SIZE_MAX;
}

void
loop_timer_free(struct loop *l, struct loop_timer *t)
{
	if (t == NULL)
		return;
	heap_remove(l, t);
	l->l_ntimers--;
	free(t);
}

/* arm the timerfd for the earliest deadline (loop_run() does not call
 * this when it is already due) */
static void
loop_arm(struct loop *l)
{
	struct itimerspec its;
	uint64_t next = l->l_nheap ? l->l_heap[0]->t_deadline : 0;

	if (next == l->l_armed)
		return;
	memset(&its, 0, sizeof(its));
	if (next != 0) {
		its.it_value.tv_sec = (time_t)(next / 1000);
		its.it_value.tv_nsec = (long)(next % 1000) * 1000000L;
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(l->l_timerfd, TFD_TIMER_ABSTIME, &its,
	    NULL) == -1) {
		log_error("loop: timerfd_settime");
		return;
	}
	l->l_armed = next;
}

static void
loop_run_timers(struct loop *l)
{
	struct loop_timer *t;
	size_t budget = l->l_nheap;

	/*
	 * Fire what is due now. A timer re-armed for "now" by its own
	 * callback waits for the next iteration (budget), so one timer
	 * cannot starve the fds.
	 */
	while (budget-- > 0 && l->l_nheap > 0) {
		t = l->l_heap[0];
		if (t->t_deadline > l->l_now)
			break;
		heap_remove(l, t);
		t->t_cb(t->t_arg);
	}
}

static void
loop_timerfd_cb(int fd, uint32_t events, void *arg)
{
	struct loop *l = arg;
	uint64_t n;

	(void)events;
	while (read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		;
	l->l_armed = 0;
	loop_run_timers(l);
}

int
loop_signal(struct loop *l, int signo, loop_signal_cb *cb, void *arg)
{
	int fd;

	if (l->l_nsigs == sizeof(l->l_sigs) / sizeof(l->l_sigs[0])) {
		log_errorx("loop: too many signals");
		return -1;
	}
	sigaddset(&l->l_sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->l_sigmask, NULL) == -1) {
		log_error("loop: sigprocmask");
		return -1;
	}
	fd = signalfd(l->l_sigfd, &l->l_sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1) {
		log_error("loop: signalfd");
		return -1;
	}
	if (l->l_sigfd == -1) {
		l->l_sigfd = fd;
		l->l_sig_io = loop_io_add(l, fd, EPOLLIN, loop_sigfd_cb, l);
		if (l->l_sig_io == NULL)
			return -1;
	}
	l->l_sigs[l->l_nsigs].s_signo = signo;
	l->l_sigs[l->l_nsigs].s_cb = cb;
	l->l_sigs[l->l_nsigs].s_arg = arg;
	l->l_nsigs++;
	return 0;
}

void
loop_signal_del(struct loop *l, int signo, loop_signal_cb *cb, void *arg)
{
	size_t i;

	for (i = 0; i < l->l_nsigs; i++)
		if (l->l_sigs[i].s_signo == signo && l->l_sigs[i].s_cb == cb &&
		    l->l_sigs[i].s_arg == arg) {
			l->l_sigs[i] = l->l_sigs[--l->l_nsigs];
			return;
		}
}

static void
loop_sigfd_cb(int fd, uint32_t events, void *arg)
{
	struct loop *l = arg;
	struct signalfd_siginfo si;
	size_t i;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (i = 0; i < l->l_nsigs; i++)
			if ((int)si.ssi_signo == l->l_sigs[i].s_signo)
				l->l_sigs[i].s_cb(&si, l->l_sigs[i].s_arg);
	}
}

void
loop_stop(struct loop *l)
{
	l->l_running = 0;
}

int
loop_run(struct loop *l)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	struct loop_io *io;
	uint64_t next;
	uint32_t ev;
	size_t i;
	int n, k, wait;

	l->l_running = 1;
	while (l->l_running) {
		l->l_now = mono_ms();
		loop_run_timers(l);
		for (i = 0; i < l->l_nhooks; i++)
			l->l_hooks[i].hk_cb(l->l_hooks[i].hk_arg);
		loop_reap(l);
		if (!l->l_running)
			break;
		/*
		 * A timer already due (re-armed for "now", as libmicrohttpd's
		 * is while it has buffered work): look at the fds without
		 * sleeping and come round again, rather than set the timerfd
		 * in the past (an immediate expiry interrupt, costly in a VM).
		 */
		next = loop_next_deadline(l);
		if (next != 0 && next <= mono_ms())
			wait = 0;
		else {
			loop_arm(l);
			wait = -1;
		}
		n = epoll_wait(l->l_epfd, evs, LOOP_MAX_EVENTS, wait);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_error("loop: epoll_wait");
			return -1;
		}
		l->l_now = mono_ms();
		for (k = 0; k < n; k++) {
			io = evs[k].data.ptr;
			if (io->io_dead)
				continue;
			ev = evs[k].events;
			if (ev & (EPOLLERR | EPOLLHUP))
				ev |= EPOLLIN | EPOLLOUT;
			io->io_cb(io->io_fd, ev, io->io_arg);
		}
		l->l_iterations++;
	}
	loop_reap(l);
	return 0;
}
