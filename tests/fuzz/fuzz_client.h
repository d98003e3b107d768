/*
 * fuzz_client.h - a raw-bytes client driven by the agent's own loop, for
 * the in-process socket targets (fuzz_http, fuzz_control). Header-only:
 * each target stays one .c file plus this.
 *
 * fc_exchange() connects, writes the bytes (non-blocking, as the socket
 * takes them), shuts down its writing side, and reads the reply until the
 * server closes or the deadline passes, running loop_run() meanwhile so
 * the server side is served by the same thread. The reply is kept (capped)
 * for the caller's properties.
 *
 * The shutdown waits until the server is idle: two loop iterations after
 * the last byte is sent, and no timer due (libmicrohttpd's timeout is 0
 * while it has buffered work, e.g. pipelined requests). libmicrohttpd
 * 0.9.75 in epoll mode (edge-triggered) takes a short read as "drained":
 * a FIN that arrives together with data, or while it is busy, is unseen
 * until the next event on that socket. The agent's sweep finds such
 * connections (server.c); here that would cost the sweep's period per
 * input, so the FIN comes when a real client's would, after the server
 * has read the bytes.
 */
#ifndef FUZZ_CLIENT_H
#define FUZZ_CLIENT_H

#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/loop.h"
#include "agent/util.h"

#define FC_REPLY_MAX	(64 * 1024)
#define FC_SPIN_ITERS	10000

struct fc {
	struct loop	*fc_loop;
	struct loop_timer *fc_timer;	/* the deadline */
	struct loop_io	*fc_io;
	int		 fc_fd;
	const uint8_t	*fc_data;
	size_t		 fc_len;
	size_t		 fc_off;
	int		 fc_shut;	/* SHUT_WR done */
	int		 fc_held;	/* turns the shutdown waited, no reply */
	size_t		 fc_held_rlen;	/* fc_rlen when that count began */
	uint64_t	 fc_sent_iter;	/* loop iteration of the last byte */
	int		 fc_sent;	/* every byte is out */
	int		 fc_eof;	/* server closed (or reset) */
	int		 fc_timedout;
	int		 fc_err;	/* errno of a failed send/recv, 0 none */
	int		 fc_stopped;	/* the server stopped the loop itself
					 * (the control command quit) */
	char		 fc_reply[FC_REPLY_MAX + 1];
	size_t		 fc_rlen;
};

static void
fc_deadline(void *arg)
{
	struct fc *fc = arg;

	fc->fc_timedout = 1;
	loop_stop(fc->fc_loop);
}

static void
fc_on_io(int fd, uint32_t events, void *arg)
{
	struct fc *fc = arg;
	char tmp[4096];
	ssize_t n;

	if ((events & EPOLLOUT) && fc->fc_off < fc->fc_len) {
		n = send(fd, fc->fc_data + fc->fc_off, fc->fc_len - fc->fc_off,
		    MSG_NOSIGNAL);
		if (n > 0)
			fc->fc_off += (size_t)n;
		else if (n == -1 && errno != EAGAIN && errno != EINTR) {
			fc->fc_err = errno;
			fc->fc_off = fc->fc_len;	/* give up writing */
		}
	}
	if (fc->fc_off == fc->fc_len && !fc->fc_sent) {
		fc->fc_sent = 1;
		fc->fc_sent_iter = loop_iterations(fc->fc_loop);
		if (fc->fc_len == 0) {
			(void)shutdown(fd, SHUT_WR);
			fc->fc_shut = 1;
		}
		/* level-triggered: stop asking for EPOLLOUT */
		if (loop_io_mod(fc->fc_loop, fc->fc_io, EPOLLIN) == -1)
			abort();
	}
	for (;;) {
		n = recv(fd, tmp, sizeof(tmp), 0);
		if (n > 0) {
			size_t k = (size_t)n;

			if (k > FC_REPLY_MAX - fc->fc_rlen)
				k = FC_REPLY_MAX - fc->fc_rlen;
			memcpy(fc->fc_reply + fc->fc_rlen, tmp, k);
			fc->fc_rlen += k;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1)
			fc->fc_err = errno;
		fc->fc_eof = 1;
		loop_stop(fc->fc_loop);
		return;
	}
}

/*
 * Before the loop sleeps: the delayed shutdown. This hook must come after
 * the server's (fc_init() after server_new()), which sets its timer. A
 * server with work due at every turn for FC_SPIN_ITERS turns without a
 * byte of reply is spinning: a finding, abort.
 */
static void
fc_before_sleep(void *arg)
{
	struct fc *fc = arg;
	uint64_t next = loop_next_deadline(fc->fc_loop);

	if (fc->fc_fd == -1 || !fc->fc_sent || fc->fc_shut ||
	    loop_iterations(fc->fc_loop) < fc->fc_sent_iter + 2)
		return;
	if (next != 0 && next <= mono_ms()) {	/* work due: not idle yet */
		if (fc->fc_held == 0 || fc->fc_rlen != fc->fc_held_rlen) {
			fc->fc_held = 1;
			fc->fc_held_rlen = fc->fc_rlen;
		} else if (++fc->fc_held > FC_SPIN_ITERS) {
			fprintf(stderr, "fuzz_client: the server has work due "
			    "at every turn, %d turns without replying: it "
			    "spins\n", FC_SPIN_ITERS);
			abort();
		}
		return;
	}
	(void)shutdown(fc->fc_fd, SHUT_WR);
	fc->fc_shut = 1;
}

/*
 * One exchange on a connected non-blocking socket fd (closed here).
 * deadline_ms bounds the whole exchange.
 */
static void
fc_exchange(struct fc *fc, int fd, const uint8_t *data, size_t len,
    uint64_t deadline_ms)
{
	fc->fc_fd = fd;
	fc->fc_data = data;
	fc->fc_len = len;
	fc->fc_off = 0;
	fc->fc_shut = fc->fc_sent = fc->fc_eof = fc->fc_timedout = fc->fc_err = 0;
	fc->fc_stopped = 0;
	fc->fc_held = 0;
	fc->fc_rlen = 0;
	if ((fc->fc_io = loop_io_add(fc->fc_loop, fd, EPOLLIN | EPOLLOUT,
	    fc_on_io, fc)) == NULL)
		abort();
	loop_timer_in(fc->fc_loop, fc->fc_timer, deadline_ms);
	/* the loop stops at EOF or the deadline; any other stop is the
	 * server's own (quit): noted, and the exchange goes on to its end */
	for (;;) {
		if (loop_run(fc->fc_loop) == -1)
			abort();
		if (fc->fc_eof || fc->fc_timedout)
			break;
		fc->fc_stopped++;
	}
	loop_timer_stop(fc->fc_loop, fc->fc_timer);
	loop_io_del(fc->fc_loop, fc->fc_io);
	fc->fc_io = NULL;
	fc->fc_reply[fc->fc_rlen] = '\0';
	close(fd);
	fc->fc_fd = -1;
}

static void
fc_init(struct fc *fc, struct loop *l)
{
	memset(fc, 0, sizeof(*fc));
	fc->fc_loop = l;
	fc->fc_fd = -1;
	if ((fc->fc_timer = loop_timer_new(l, fc_deadline, fc)) == NULL ||
	    loop_before_sleep(l, fc_before_sleep, fc) == -1)
		abort();
}

#endif
