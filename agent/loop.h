/*
 * loop.h - the agent's single event loop: epoll + one timerfd + signalfd.
 *
 * Every fd registration carries {fd, callback, arg}. EPOLLERR/EPOLLHUP are
 * reported as both EPOLLIN and EPOLLOUT. A callback may delete any other
 * registration or timer in the same batch: deletion marks it dead at once and
 * frees it after the batch, and dead entries are never dispatched.
 *
 * Timers are absolute CLOCK_MONOTONIC deadlines in milliseconds kept in a
 * min-heap; the timerfd is armed for the earliest one. A deadline at or before
 * "now" fires on the next iteration (never armed as 0, which would disarm).
 */
#ifndef NDT_LOOP_H
#define NDT_LOOP_H

#include <stdint.h>

struct loop;
struct loop_io;
struct loop_timer;
struct signalfd_siginfo;

typedef void	loop_io_cb(int fd, uint32_t events, void *arg);
typedef void	loop_timer_cb(void *arg);
typedef void	loop_signal_cb(const struct signalfd_siginfo *, void *arg);
typedef void	loop_hook_cb(void *arg);

struct loop	*loop_new(void);
void		 loop_free(struct loop *);
/* runs until loop_stop(); returns 0, or -1 if epoll_wait fails */
int		 loop_run(struct loop *);
void		 loop_stop(struct loop *);
/* monotonic ms, refreshed once per iteration */
uint64_t	 loop_now(const struct loop *);
/* completed iterations; /healthz uses it to show the loop is turning */
uint64_t	 loop_iterations(const struct loop *);
/* the earliest timer's deadline (monotonic ms), 0 if none is armed */
uint64_t	 loop_next_deadline(const struct loop *);
/* called once per iteration before sleeping (re-render, flush...) */
int		 loop_before_sleep(struct loop *, loop_hook_cb *, void *);

/* events: EPOLLIN|EPOLLOUT (level-triggered). The fd is not owned. */
struct loop_io	*loop_io_add(struct loop *, int fd, uint32_t events,
		    loop_io_cb *, void *arg);
int		 loop_io_mod(struct loop *, struct loop_io *, uint32_t events);
/* unregisters (before the caller closes the fd); freed after the batch */
void		 loop_io_del(struct loop *, struct loop_io *);

struct loop_timer *loop_timer_new(struct loop *, loop_timer_cb *, void *arg);
/* (re)arm at an absolute monotonic deadline in ms */
void		 loop_timer_at(struct loop *, struct loop_timer *, uint64_t);
/* (re)arm at now + ms */
void		 loop_timer_in(struct loop *, struct loop_timer *, uint64_t);
void		 loop_timer_stop(struct loop *, struct loop_timer *);
int		 loop_timer_armed(const struct loop_timer *);
void		 loop_timer_free(struct loop *, struct loop_timer *);

/* blocks signo and delivers it through the loop's signalfd */
int		 loop_signal(struct loop *, int signo, loop_signal_cb *,
		    void *arg);
/* forget that handler (the signal stays blocked: delivered to no one) */
void		 loop_signal_del(struct loop *, int signo, loop_signal_cb *,
		    void *arg);

#endif
