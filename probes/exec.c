/*
 * exec.c - exec checks: posix_spawnp() without a shell, stdin from
 * /dev/null, stdout and stderr into two pipes. The child leads its own
 * process group, so a timeout's SIGTERM (then SIGKILL after a grace)
 * reaches its children too; reaper.c finds those that left the group. Exit
 * is seen through a pidfd in the loop and reaped with waitid(P_PIDFD):
 * never a zombie, never a blocking wait. The last 4 KiB of each stream are
 * kept, the rest is read and dropped, so a chatty child neither blocks nor
 * grows our memory. The reason is the last non-blank line of stderr, else
 * of stdout, with the values of ${VAR}s masked.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../agent/log.h"
#include "../agent/loop.h"
#include "../config/config.h"
#include "probe_impl.h"

#define EXEC_OUT_MAX		4096
#define EXEC_READ_BURST		(64 * 1024)	/* per wakeup, for fairness */
#define EXEC_GRACE_MIN_MS	100
#define EXEC_GRACE_MAX_MS	1000

extern char **environ;

struct exec_stream {
	int			 st_fd;		/* pipe read end, -1 = none */
	struct loop_io		*st_io;
	char			 st_buf[EXEC_OUT_MAX];	/* the last bytes */
	size_t			 st_len;
	uint64_t		 st_dropped;	/* bytes before st_buf's */
};

struct exec_state {
	pid_t			 es_pid;	/* -1 = no child */
	int			 es_pidfd;
	struct loop_io		*es_pidio;
	struct loop_timer	*es_kill;	/* SIGKILL after the grace */
	int			 es_timedout;
	struct exec_stream	 es_st[2];	/* stdout, stderr */
};

/* SIGTERM's grace before SIGKILL: a quarter of the timeout, 100 ms-1 s */
static uint64_t
exec_grace(const struct cfg_check *ck)
{
	uint64_t g = ck->ck_timeout_ms / 4;

	if (g < EXEC_GRACE_MIN_MS)
		g = EXEC_GRACE_MIN_MS;
	if (g > EXEC_GRACE_MAX_MS)
		g = EXEC_GRACE_MAX_MS;
	return g;
}

/* length of a valid UTF-8 sequence at s (at most n bytes), 0 if invalid */
static size_t
exec_utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

/*
 * The first non-blank line of a child's output, trimmed, as printable
 * text: tabs become spaces, other control bytes and invalid UTF-8 become
 * '?'. Cut to fit out (with "..."), never inside a UTF-8 sequence.
 */
UNITTEST_STATIC void
exec_first_line(const char *in, size_t n, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)in, *end;
	size_t o = 0, l;
	int cut = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	/* skip blank lines and leading white space */
	while (n > 0 && (*s == '\n' || *s == '\r' || *s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	for (end = s; end < s + n && *end != '\n' && *end != '\r'; end++)
		;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	while (s < end) {
		l = exec_utf8_len(s, (size_t)(end - s));
		if (o + (l ? l : 1) + 1 > outlen) {
			cut = 1;
			break;
		}
		if (l > 1) {
			memcpy(out + o, s, l);
			o += l;
			s += l;
			continue;
		}
		if (*s == '\t')
			out[o++] = ' ';
		else if (l == 0 || *s < 0x20 || *s == 0x7f)
			out[o++] = '?';
		else
			out[o++] = (char)*s;
		s++;
	}
	out[o] = '\0';
	if (cut && outlen > 4) {
		o = outlen - 4 < o ? outlen - 4 : o;
		/* back off to a character boundary */
		while (o > 0 && ((unsigned char)out[o] & 0xc0) == 0x80)
			o--;
		memcpy(out + o, "...", 4);
	}
}

/*
 * The last non-blank line of in[0..n) (lines end at '\n' or '\r': a
 * progress bar's last state counts), without its line end; NULL if every
 * line is blank. *len is its length.
 */
UNITTEST_STATIC const char *
exec_last_line(const char *in, size_t n, size_t *len)
{
	size_t end = n, start;

	while (end > 0 && (in[end - 1] == '\n' || in[end - 1] == '\r' ||
	    in[end - 1] == ' ' || in[end - 1] == '\t'))
		end--;
	if (end == 0)
		return NULL;
	for (start = end; start > 0 && in[start - 1] != '\n' &&
	    in[start - 1] != '\r'; start--)
		;
	*len = end - start;
	return in + start;
}

/* read what is there, keep the last EXEC_OUT_MAX bytes; 1 at EOF */
static int
exec_read(struct exec_stream *st)
{
	char scratch[EXEC_OUT_MAX];
	size_t total = 0, room, keep;
	ssize_t r;

	while (total < EXEC_READ_BURST) {
		room = sizeof(st->st_buf) - st->st_len;
		if (room > 0)
			r = read(st->st_fd, st->st_buf + st->st_len, room);
		else
			r = read(st->st_fd, scratch, sizeof(scratch));
		if (r == 0)
			return 1;
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : 1;
		}
		total += (size_t)r;
		if (room > 0) {
			st->st_len += (size_t)r;
			continue;
		}
		/* full: the oldest bytes go (the reason is the last line) */
		keep = sizeof(st->st_buf) - (size_t)r;
		memmove(st->st_buf, st->st_buf + r, keep);
		memcpy(st->st_buf + keep, scratch, (size_t)r);
		st->st_dropped += (uint64_t)r;
	}
	return 0;
}

static void
exec_close_out(struct probes *p, struct exec_stream *st)
{
	if (st->st_io != NULL) {
		loop_io_del(p->p_loop, st->st_io);
		st->st_io = NULL;
	}
	if (st->st_fd != -1) {
		close(st->st_fd);
		st->st_fd = -1;
	}
}

static void
exec_out_cb(int fd, uint32_t events, void *arg)
{
	struct probe_check *pc = arg;
	struct exec_state *es = pc->pc_kind;
	struct exec_stream *st = &es->es_st[es->es_st[0].st_fd == fd ? 0 : 1];

	(void)events;
	if (exec_read(st))
		exec_close_out(pc->pc_probes, st);
}

/*
 * The reason's text: the last non-blank line of stderr, else of stdout,
 * its ${VAR} values masked (before a cut could split one), printable.
 */
static void
exec_line(const struct probe_check *pc, const struct exec_state *es,
    char *out, size_t outlen)
{
	const struct exec_stream *st = NULL;
	char raw[EXEC_OUT_MAX];
	const char *l = NULL;
	size_t n = 0, i;

	for (i = 2; l == NULL && i-- > 0; ) {
		st = &es->es_st[i];
		l = exec_last_line(st->st_buf, st->st_len, &n);
	}
	if (l == NULL || st == NULL) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	memcpy(raw, l, n);
	/* a line longer than the 4 KiB kept begins cut: maybe in a value */
	n = env_mask(&pc->pc_probes->p_cfg->cf_secrets, raw, n,
	    l == st->st_buf && st->st_dropped > 0 ? ENV_MASK_HEAD : 0);
	exec_first_line(raw, n, out, outlen);
}

/* forget the child: fds, registrations, timer */
static void
exec_clear(struct probes *p, struct exec_state *es)
{
	exec_close_out(p, &es->es_st[0]);
	exec_close_out(p, &es->es_st[1]);
	if (es->es_pidio != NULL) {
		loop_io_del(p->p_loop, es->es_pidio);
		es->es_pidio = NULL;
	}
	if (es->es_pidfd != -1) {
		close(es->es_pidfd);
		es->es_pidfd = -1;
	}
	if (es->es_kill != NULL)
		loop_timer_stop(p->p_loop, es->es_kill);
	es->es_pid = -1;
}

static void
exec_pid_cb(int fd, uint32_t events, void *arg)
{
	struct probe_check *pc = arg;
	struct exec_state *es = pc->pc_kind;
	char reason[CHECK_OUTPUT_MAX], line[CHECK_OUTPUT_MAX], d[24];
	enum probe_result res;
	siginfo_t si;
	size_t i;

	(void)events;
	/* what the run left, now ours (reaper.c); then, while the leader
	 * is a zombie and its group id cannot be reused, its group */
	reaper_sweep(pc->pc_probes, pc);
	kill(-es->es_pid, SIGKILL);
	memset(&si, 0, sizeof(si));
	if (waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) == -1) {
		if (errno == EINTR)
			return;
		log_warn("probes: check %s: waitid", pc->pc_ck->ck_name);
		si.si_code = CLD_KILLED;
		si.si_status = 0;
	} else if (si.si_pid == 0)
		return;		/* not exited yet */
	for (i = 0; i < 2; i++)		/* what is already in the pipes */
		if (es->es_st[i].st_fd != -1)
			exec_read(&es->es_st[i]);
	exec_clear(pc->pc_probes, es);
	reaper_reap(pc->pc_probes);
	exec_line(pc, es, line, sizeof(line));
	fmt_duration(pc->pc_ck->ck_timeout_ms, d, sizeof(d));
	if (si.si_code == CLD_EXITED && si.si_status == 0 &&
	    !es->es_timedout) {
		probe_finish(pc, PROBE_OK, NULL);
		return;
	}
	res = es->es_timedout ? PROBE_TIMEOUT : PROBE_FAIL;
	if (es->es_timedout && si.si_code == CLD_EXITED)
		probe_reason(reason, sizeof(reason),
		    "exit status %d after timeout %s", si.si_status, d);
	else if (es->es_timedout)
		probe_reason(reason, sizeof(reason),
		    "killed by signal %d after timeout %s", si.si_status, d);
	else if (si.si_code == CLD_EXITED)
		probe_reason(reason, sizeof(reason), "exit status %d%s%s",
		    si.si_status, line[0] ? ": " : "", line);
	else
		probe_reason(reason, sizeof(reason), "killed by signal %d%s%s",
		    si.si_status, line[0] ? ": " : "", line);
	probe_finish(pc, res, reason);
}

int
exec_leader(const struct probe_check *pc, pid_t *pid)
{
	const struct exec_state *es;

	if (pc->pc_ops != &probe_exec_ops || (es = pc->pc_kind) == NULL ||
	    es->es_pid <= 0)
		return 0;
	*pid = es->es_pid;
	return 1;
}

static void
exec_kill_cb(void *arg)
{
	struct probe_check *pc = arg;
	struct exec_state *es = pc->pc_kind;

	/* the tree first: once the group is dead, its children are gone
	 * from it (to us, and reaper_sweep) */
	if (es->es_pid > 0) {
		reaper_kill_tree(es->es_pid, es->es_pid, SIGKILL);
		kill(-es->es_pid, SIGKILL);
	}
}

static int
exec_run(struct probe_check *pc, char *reason, size_t len)
{
	struct probes *p = pc->pc_probes;
	struct exec_state *es = pc->pc_kind;
	char *const *argv = pc->pc_ck->ck_exec.e_argv;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none, all;
	int fds[4] = { -1, -1, -1, -1 }, fl, err, fa_ok = 0, sa_ok = 0, i;
	pid_t pid;

	es->es_timedout = 0;
	/* stdout in fds[0..1], stderr in fds[2..3]; only our ends are
	 * non-blocking: the child's stay normal pipes */
	for (i = 0; i < 4; i += 2) {
		es->es_st[i / 2].st_len = 0;
		es->es_st[i / 2].st_dropped = 0;
		if (pipe2(fds + i, O_CLOEXEC) == -1 ||
		    (fl = fcntl(fds[i], F_GETFL)) == -1 ||
		    fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) == -1) {
			err = errno;
			goto fail;
		}
	}
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	if ((err = posix_spawn_file_actions_init(&fa)) != 0)
		goto fail;
	fa_ok = 1;
	if ((err = posix_spawnattr_init(&sa)) != 0)
		goto fail;
	sa_ok = 1;
	if ((err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	    O_RDONLY, 0)) != 0 ||
	    (err = posix_spawn_file_actions_adddup2(&fa, fds[1], 1)) != 0 ||
	    (err = posix_spawn_file_actions_adddup2(&fa, fds[3], 2)) != 0 ||
	    (err = posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (err = posix_spawnattr_setpgroup(&sa, 0)) != 0 ||
	    /* the loop blocks the signals it reads from its signalfd */
	    (err = posix_spawnattr_setsigmask(&sa, &none)) != 0 ||
	    (err = posix_spawnattr_setsigdefault(&sa, &all)) != 0)
		goto fail;
	if ((err = posix_spawnp(&pid, argv[0], &fa, &sa, argv, environ)) !=
	    0) {
		probe_reason(reason, len, "cannot run %s: %s", argv[0],
		    strerror(err));
		goto out;
	}
	es->es_pid = pid;
	for (i = 0; i < 2; i++) {
		close(fds[2 * i + 1]);
		fds[2 * i + 1] = -1;
		es->es_st[i].st_fd = fds[2 * i];
		fds[2 * i] = -1;
	}
	if ((es->es_pidfd = pidfd_open(pid, 0)) == -1 ||
	    (es->es_pidio = loop_io_add(p->p_loop, es->es_pidfd, EPOLLIN,
	    exec_pid_cb, pc)) == NULL ||
	    (es->es_st[0].st_io = loop_io_add(p->p_loop, es->es_st[0].st_fd,
	    EPOLLIN, exec_out_cb, pc)) == NULL ||
	    (es->es_st[1].st_io = loop_io_add(p->p_loop, es->es_st[1].st_fd,
	    EPOLLIN, exec_out_cb, pc)) == NULL) {
		err = errno;
		/* cannot watch it: do not leave it running or unreaped */
		reaper_kill_tree(pid, pid, SIGKILL);
		kill(-pid, SIGKILL);
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		exec_clear(p, es);
		goto fail;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	return 0;
fail:
	log_errorx("probes: check %s: spawn: %s", pc->pc_ck->ck_name,
	    strerror(err));
	probe_reason(reason, len, "cannot run %s: %s", argv[0], strerror(err));
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (sa_ok)
		posix_spawnattr_destroy(&sa);
	for (i = 0; i < 4; i++)
		if (fds[i] != -1)
			close(fds[i]);
	return -1;
}

/* the hard timeout: SIGTERM to the group now, SIGKILL after the grace;
 * the run ends when the pidfd says the child is gone */
static void
exec_abort(struct probe_check *pc)
{
	struct exec_state *es = pc->pc_kind;

	if (es->es_pid <= 0)
		return;
	es->es_timedout = 1;
	reaper_kill_tree(es->es_pid, es->es_pid, SIGTERM);
	kill(-es->es_pid, SIGTERM);
	loop_timer_in(pc->pc_probes->p_loop, es->es_kill,
	    exec_grace(pc->pc_ck));
}

static void
exec_free(struct probe_check *pc)
{
	struct exec_state *es = pc->pc_kind;
	struct probes *p = pc->pc_probes;

	if (es == NULL)
		return;
	if (es->es_pid > 0) {
		reaper_kill_tree(es->es_pid, es->es_pid, SIGKILL);
		kill(-es->es_pid, SIGKILL);
		reaper_sweep(p, pc);	/* its /proc is still there */
		while (waitpid(es->es_pid, NULL, 0) == -1 && errno == EINTR)
			;
	}
	exec_clear(p, es);
	if (es->es_kill != NULL)
		loop_timer_free(p->p_loop, es->es_kill);
	free(es);
	pc->pc_kind = NULL;
}

static int
exec_init(struct probe_check *pc)
{
	struct exec_state *es;

	if (pc->pc_ck->ck_exec.e_argv == NULL ||
	    pc->pc_ck->ck_exec.e_argv[0] == NULL)
		return -1;
	if ((es = calloc(1, sizeof(*es))) == NULL)
		return -1;
	pc->pc_kind = es;
	es->es_pid = -1;
	es->es_pidfd = -1;
	es->es_st[0].st_fd = -1;
	es->es_st[1].st_fd = -1;
	if ((es->es_kill = loop_timer_new(pc->pc_probes->p_loop, exec_kill_cb,
	    pc)) == NULL) {
		exec_free(pc);
		return -1;
	}
	return 0;
}

const struct probe_ops probe_exec_ops = {
	.po_kind = "exec",
	.po_slack_ms = 0,
	.po_init = exec_init,
	.po_run = exec_run,
	.po_abort = exec_abort,
	.po_free = exec_free,
};
