/*
 * exec.c - exec checks: posix_spawnp() without a shell, stdin from
 * /dev/null, stdout and stderr into one pipe. The child leads its own
 * process group, so a timeout's SIGTERM (then SIGKILL after a grace) reaches
 * its children too. Exit is seen through a pidfd in the loop and reaped with
 * waitid(P_PIDFD): never a zombie, never a blocking wait. The first 4 KiB
 * of output are kept (the reason is its first line); the rest is read and
 * discarded, so a chatty child neither blocks nor grows our memory.
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

static void	exec_reap_orphans(struct probes *);

struct exec_state {
	pid_t			 es_pid;	/* -1 = no child */
	int			 es_pidfd;
	int			 es_out;	/* pipe read end */
	struct loop_io		*es_pidio;
	struct loop_io		*es_outio;
	struct loop_timer	*es_kill;	/* SIGKILL after the grace */
	int			 es_timedout;
	char			 es_buf[EXEC_OUT_MAX];
	size_t			 es_len;
	uint64_t		 es_discarded;
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

/* read what is there, keep the first EXEC_OUT_MAX bytes; 1 at EOF */
static int
exec_read(struct exec_state *es)
{
	char scratch[4096];
	size_t total = 0, room;
	ssize_t r;

	while (total < EXEC_READ_BURST) {
		room = sizeof(es->es_buf) - es->es_len;
		if (room > 0)
			r = read(es->es_out, es->es_buf + es->es_len, room);
		else
			r = read(es->es_out, scratch, sizeof(scratch));
		if (r == 0)
			return 1;
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : 1;
		}
		if (room > 0)
			es->es_len += (size_t)r;
		else
			es->es_discarded += (uint64_t)r;
		total += (size_t)r;
	}
	return 0;
}

static void
exec_close_out(struct probes *p, struct exec_state *es)
{
	if (es->es_outio != NULL) {
		loop_io_del(p->p_loop, es->es_outio);
		es->es_outio = NULL;
	}
	if (es->es_out != -1) {
		close(es->es_out);
		es->es_out = -1;
	}
}

static void
exec_out_cb(int fd, uint32_t events, void *arg)
{
	struct probe_check *pc = arg;
	struct exec_state *es = pc->pc_kind;

	(void)fd;
	(void)events;
	if (exec_read(es))
		exec_close_out(pc->pc_probes, es);
}

/* forget the child: fds, registrations, timer */
static void
exec_clear(struct probes *p, struct exec_state *es)
{
	exec_close_out(p, es);
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

	(void)events;
	/* the leader is a zombie now, so its group id cannot be reused:
	 * take down whatever it left behind in its group */
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
	if (es->es_out != -1)
		exec_read(es);	/* what is already in the pipe */
	exec_clear(pc->pc_probes, es);
	exec_reap_orphans(pc->pc_probes);
	exec_first_line(es->es_buf, es->es_len, line, sizeof(line));
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

static int
exec_is_leader(const struct probes *p, pid_t pid)
{
	const struct exec_state *es;
	size_t i;

	for (i = 0; i < p->p_nchecks; i++) {
		if (p->p_checks[i].pc_ops != &probe_exec_ops ||
		    (es = p->p_checks[i].pc_kind) == NULL)
			continue;
		if (es->es_pid == pid)
			return 1;
	}
	return 0;
}

/*
 * When the agent is PID 1 (its container's init, as in our image), the
 * grandchildren an exec check leaves behind are re-parented to us when
 * their parent exits, and die from our SIGKILL to the group: reap them,
 * or they stay zombies for good. waitid(WNOWAIT) peeks without reaping,
 * so a leader, which its pidfd callback reaps, is left alone; that
 * callback calls this again afterwards, for whoever queued behind it.
 */
static void
exec_reap_orphans(struct probes *p)
{
	siginfo_t si;
	int i;

	if (getpid() != 1)
		return;
	for (i = 0; i < 4096; i++) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
		    si.si_pid == 0 || exec_is_leader(p, si.si_pid))
			return;
		if (waitpid(si.si_pid, NULL, WNOHANG) <= 0)
			return;
	}
}

static void
exec_sigchld_cb(const struct signalfd_siginfo *ssi, void *arg)
{
	(void)ssi;
	exec_reap_orphans(arg);
}

int
exec_reaper_setup(struct probes *p)
{
	size_t i;

	if (getpid() != 1)
		return 0;
	for (i = 0; i < p->p_nchecks; i++)
		if (p->p_checks[i].pc_ops == &probe_exec_ops)
			return loop_signal(p->p_loop, SIGCHLD, exec_sigchld_cb,
			    p);
	return 0;
}

void
exec_reaper_teardown(struct probes *p)
{
	loop_signal_del(p->p_loop, SIGCHLD, exec_sigchld_cb, p);
}

static void
exec_kill_cb(void *arg)
{
	struct probe_check *pc = arg;
	struct exec_state *es = pc->pc_kind;

	if (es->es_pid > 0)
		kill(-es->es_pid, SIGKILL);
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
	int fds[2] = { -1, -1 }, fl, err, fa_ok = 0, sa_ok = 0;
	pid_t pid;

	es->es_len = 0;
	es->es_discarded = 0;
	es->es_timedout = 0;
	/* only our end is non-blocking: the child's stays a normal pipe */
	if (pipe2(fds, O_CLOEXEC) == -1 ||
	    (fl = fcntl(fds[0], F_GETFL)) == -1 ||
	    fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) == -1) {
		err = errno;
		goto fail;
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
	    (err = posix_spawn_file_actions_adddup2(&fa, fds[1], 2)) != 0 ||
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
	close(fds[1]);
	fds[1] = -1;
	es->es_out = fds[0];
	fds[0] = -1;
	if ((es->es_pidfd = pidfd_open(pid, 0)) == -1 ||
	    (es->es_pidio = loop_io_add(p->p_loop, es->es_pidfd, EPOLLIN,
	    exec_pid_cb, pc)) == NULL ||
	    (es->es_outio = loop_io_add(p->p_loop, es->es_out, EPOLLIN,
	    exec_out_cb, pc)) == NULL) {
		err = errno;
		/* cannot watch it: do not leave it running or unreaped */
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
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
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
		kill(-es->es_pid, SIGKILL);
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
	es->es_out = -1;
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
