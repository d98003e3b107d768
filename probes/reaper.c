/*
 * reaper.c - what exec checks leave behind.
 *
 * An exec check's child leads its own process group, and the group is
 * signalled at a timeout and when the child exits. A process that left
 * the group with setsid(), or the grandchild of a double fork, escapes
 * that: so the agent is a child subreaper (PR_SET_CHILD_SUBREAPER; as a
 * container's PID 1 it is one anyway), and such orphans come to it
 * instead of to init. Then:
 *
 *   - at a timeout, the child's whole tree of descendants is signalled
 *     (SIGTERM, then SIGKILL after the grace), not only its group;
 *   - when a run ends, the orphans it left are killed with their trees:
 *     the children of the agent that are no check's leader and were born
 *     during the run, but before the start of every run still going (one
 *     born later may be that run's: it waits for that run's end). The
 *     leader's own group is among them then (a zombie leader's children
 *     are ours): swept before the group is signalled, so that a setsid
 *     child of a group member is found through its parent;
 *   - every child that exits is reaped (SIGCHLD), so none stays a zombie.
 *
 * Trees and ages come from /proc: /proc/PID/task/TID/children, or a scan
 * of every /proc/PID/stat where the kernel has no children files, and the
 * start time in /proc/PID/stat (clock ticks since boot). A run's end costs
 * one read of our children file when it left nothing. Limits: at most
 * REAPER_TREE_MAX processes per tree; a process that forks between our
 * reading of /proc and the signal is caught later, as an orphan, at the
 * end of a run; without /proc only the process group is signalled. An
 * orphan the agent adopts as PID 1 from elsewhere (a `kubectl exec`
 * session's) is killed only if it was born while an exec check ran.
 */
#include <sys/prctl.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../agent/log.h"
#include "../agent/loop.h"
#include "../config/config.h"
#include "probe_impl.h"

#define REAPER_TREE_MAX		256	/* processes signalled per tree */
#define REAPER_REAP_MAX		4096	/* zombies reaped per wakeup */

struct reaper_stat {
	char		 rs_state;	/* 'Z': a zombie */
	pid_t		 rs_ppid;
	pid_t		 rs_pgid;
	uint64_t	 rs_start;	/* clock ticks since boot */
};

/* does the kernel have /proc/PID/task/TID/children? (CONFIG_PROC_CHILDREN) */
static int	reaper_children_files = -1;

/* fields 3, 4, 5 and 22 of /proc/pid/stat (pid 0: ourselves); 0 or -1 */
static int
reaper_stat(pid_t pid, struct reaper_stat *rs)
{
	char path[64], buf[1024], *p;
	unsigned long long v;
	ssize_t r;
	int fd, field;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/stat");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return -1;
	buf[r] = '\0';
	/* the command name may hold anything, ')' too: the last one ends it */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return -1;
	rs->rs_state = p[2];
	p += 3;
	for (field = 4; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return -1;
		v = strtoull(p, &p, 10);
		if (field == 4)
			rs->rs_ppid = (pid_t)v;
		else if (field == 5)
			rs->rs_pgid = (pid_t)v;
		else if (field == 22)
			rs->rs_start = (uint64_t)v;
	}
	return 0;
}

/* pid's start, 0 if unknown */
static uint64_t
reaper_start(pid_t pid)
{
	struct reaper_stat rs;

	return reaper_stat(pid, &rs) == 0 ? rs.rs_start : 0;
}

/* the children of pid, where the kernel has no children files: scan */
static size_t
reaper_children_scan(pid_t pid, pid_t *out, size_t max)
{
	struct reaper_stat rs;
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (pid == 0)
		pid = getpid();
	if ((d = opendir("/proc")) == NULL)
		return 0;
	while (n < max && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (reaper_stat((pid_t)atoi(de->d_name), &rs) == 0 &&
		    rs.rs_ppid == pid)
			out[n++] = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return n;
}

/* the pids in a children file ("12 34 "), up to max; how many */
static size_t
reaper_children_file(const char *path, pid_t *out, size_t max)
{
	char buf[4096], *p, *end;
	size_t n = 0;
	ssize_t r;
	long v;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = '\0';
	/* a number cut at the end of a full buffer is not taken (at most
	 * the 4 KiB of the first ~600 children) */
	for (p = buf; n < max; p = end) {
		v = strtol(p, &end, 10);
		if (end == p || (*end == '\0' && r == sizeof(buf) - 1))
			break;
		if (v > 0)
			out[n++] = (pid_t)v;
	}
	return n;
}

/* up to max children of pid (0: ourselves) into out; how many */
static size_t
reaper_children(pid_t pid, pid_t *out, size_t max)
{
	char path[96];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (max == 0)
		return 0;
	if (!reaper_children_files)
		return reaper_children_scan(pid, out, max);
	/* ours: the loop's thread spawns the checks, and the kernel gives
	 * orphans to the first live thread, the same main thread */
	if (pid == 0)
		return reaper_children_file("/proc/thread-self/children", out,
		    max);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	/* a child belongs to the thread that forked it: every thread's */
	while (n < max && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/children",
		    (int)pid, de->d_name);
		n += reaper_children_file(path, out + n, max - n);
	}
	closedir(d);
	return n;
}

/*
 * Signal the descendants of root (not root itself), but those in process
 * group skip_pgid (signalled already as a group; 0: none skipped).
 */
void
reaper_kill_tree(pid_t root, pid_t skip_pgid, int sig)
{
	pid_t v[REAPER_TREE_MAX];
	struct reaper_stat rs;
	size_t n, i;

	if (root <= 0)
		return;
	n = reaper_children(root, v, REAPER_TREE_MAX);
	for (i = 0; i < n; i++)		/* breadth first: v grows as we go */
		n += reaper_children(v[i], v + n, REAPER_TREE_MAX - n);
	for (i = 0; i < n; i++) {
		if (skip_pgid > 0 && reaper_stat(v[i], &rs) == 0 &&
		    rs.rs_pgid == skip_pgid)
			continue;
		kill(v[i], sig);
	}
}

static int
reaper_is_leader(const struct probes *p, pid_t pid)
{
	pid_t leader;
	size_t i;

	for (i = 0; i < p->p_nchecks; i++)
		if (exec_leader(&p->p_checks[i], &leader) && leader == pid)
			return 1;
	return 0;
}

void
reaper_sweep(struct probes *p, const struct probe_check *ended)
{
	pid_t kids[REAPER_TREE_MAX], lead[REAPER_TREE_MAX], gone, l;
	uint64_t since = 0, oldest = UINT64_MAX, start;
	struct reaper_stat rs;
	size_t nk, nl = 0, i, j, more = 0;

	if (!p->p_reaper || !exec_leader(ended, &gone))
		return;
	/* the common case costs one read: our children are the leaders */
	nk = reaper_children(0, kids, REAPER_TREE_MAX);
	for (i = 0; i < p->p_nchecks; i++)
		if (exec_leader(&p->p_checks[i], &l)) {
			if (nl < REAPER_TREE_MAX)
				lead[nl++] = l;
			else
				more = 1;
		}
	for (i = 0; i < nk; i++) {
		for (j = 0; j < nl && lead[j] != kids[i]; j++)
			;
		/* with more leaders than we keep, an unknown one is spared */
		if (j < nl || more || reaper_stat(kids[i], &rs) == -1 ||
		    rs.rs_state == 'Z')
			continue;
		if (since == 0) {
			/* the ended run's span: from its leader's start (a
			 * zombie has its /proc still) to the oldest start of
			 * the other runs, whose orphans may be born there */
			if ((since = reaper_start(gone)) == 0)
				return;		/* no ages: spare them all */
			for (j = 0; j < nl; j++)
				if (lead[j] != gone && (start =
				    reaper_start(lead[j])) < oldest)
					oldest = start;
		}
		if (rs.rs_start < since || rs.rs_start >= oldest)
			continue;
		/* the tree first, while it hangs together */
		reaper_kill_tree(kids[i], 0, SIGKILL);
		kill(kids[i], SIGKILL);
	}
}

/*
 * Reap the children that exited, but a check's leader, which its pidfd
 * callback reaps: waitid(WNOWAIT) peeks without reaping, and the first
 * leader found stops the loop; that callback calls this again afterwards,
 * for whoever queued behind it.
 */
void
reaper_reap(struct probes *p)
{
	siginfo_t si;
	int i;

	if (!p->p_reaper)
		return;
	for (i = 0; i < REAPER_REAP_MAX; i++) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
		    si.si_pid == 0 || reaper_is_leader(p, si.si_pid))
			return;
		if (waitpid(si.si_pid, NULL, WNOHANG) <= 0)
			return;
	}
}

static void
reaper_sigchld_cb(const struct signalfd_siginfo *ssi, void *arg)
{
	(void)ssi;
	reaper_reap(arg);
}

int
reaper_setup(struct probes *p)
{
	size_t i;

	for (i = 0; i < p->p_nchecks; i++)
		if (p->p_checks[i].pc_ops == &probe_exec_ops)
			break;
	if (i == p->p_nchecks)
		return 0;	/* no exec check: no children */
	/* a process attribute, kept for good: a reload may bring exec
	 * checks back, and the orphans of the old ones still come to us */
	if (getpid() == 1 || prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L) == 0)
		p->p_reaper = 1;
	else {
		log_warn("probes: PR_SET_CHILD_SUBREAPER: what exec checks "
		    "leave outside their process group is not killed");
		return 0;
	}
	if (reaper_children_files == -1)
		reaper_children_files = access("/proc/thread-self/children",
		    R_OK) == 0;
	return loop_signal(p->p_loop, SIGCHLD, reaper_sigchld_cb, p);
}

void
reaper_teardown(struct probes *p)
{
	if (p->p_reaper)
		loop_signal_del(p->p_loop, SIGCHLD, reaper_sigchld_cb, p);
}
