/*
 * wrap.c - `wrap [--socket P] [--wait-timeout D] [--no-wait] -- CMD...`,
 * the app container's entrypoint (docs/CONTROL.md):
 *
 *   1. wait until the app's dependencies are ready (clwait.c): not the
 *      agent's whole /ready, whose app checks cannot pass before the app
 *      runs;
 *   2. run CMD as a child, with the signals a container gets (TERM, INT,
 *      HUP, QUIT, USR1, USR2) forwarded to it;
 *   3. reap every zombie meanwhile: as PID 1 of the app container, or as a
 *      subreaper, the orphans of CMD come to wrap;
 *   4. once CMD has exited, tell the agent `quit` (it exits 0 at once,
 *      drained or not: a Job's pod can finish);
 *   5. exit with CMD's status, 128 + N for a death by signal N.
 *
 * The signals are blocked before anything else and taken with
 * sigwaitinfo(2), no handler: as PID 1 a default disposition does nothing,
 * and work in a handler is out anyway (STYLE 10). CMD gets the original
 * mask back before execvp. An exec that fails is told to wrap through a
 * close-on-exec pipe carrying errno, so the message is wrap's own. libc
 * only: linked statically into nodowntime-hook.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clconn.h"
#include "client.h"
#include "util.h"

#define WRAP_QUIT_MS		2000	/* the `quit` request, at most */

/* what a container is sent, forwarded to CMD */
static const int wrap_forwarded[] = {
	SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
};

/* CMD's wait status as a shell's exit code */
UNITTEST_STATIC int
wrap_exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 1;
}

/* an exec that failed, as a shell says it: 126 found but not runnable,
 * 127 not found (and the rest) */
UNITTEST_STATIC int
wrap_exec_code(int err)
{
	return err == EACCES || err == ENOEXEC || err == EPERM ||
	    err == ETXTBSY ? 126 : 127;
}

static int
wrap_usage(FILE *f, int rv)
{
	fprintf(f, "usage: wrap [--socket PATH] [--wait-timeout DURATION] "
	    "[--no-wait] -- CMD [ARGS...]\n");
	return rv;
}

/* the options into o and *nowait; the index of CMD in argv, or -(exit) */
static int
wrap_args(int argc, char **argv, struct cl_opts *o, int *nowait)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "wait-timeout", required_argument, NULL, 't' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	optind = 1;
	opterr = 1;
	/* "+": the first word that is no option is CMD; "--" ends ours */
	while ((ch = getopt_long(argc, argv, "+s:t:h", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 's':
			o->co_socket = optarg;
			break;
		case 't':
			if (client_parse_duration(optarg, &o->co_timeout_ms) ==
			    -1) {
				fprintf(stderr, "wrap: bad --wait-timeout: "
				    "%s\n", optarg);
				return -wrap_usage(stderr, 2);
			}
			break;
		case 'n':
			*nowait = 1;
			break;
		case 'h':
			return -wrap_usage(stdout, 0);
		default:
			return -wrap_usage(stderr, 2);
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "wrap: no command to run\n");
		return -wrap_usage(stderr, 2);
	}
	return optind;
}

/* "SIGTERM" */
static const char *
wrap_signame(int sig)
{
	static char name[24];
	const char *s = sigabbrev_np(sig);

	if (s != NULL)
		snprintf(name, sizeof(name), "SIG%s", s);
	else
		snprintf(name, sizeof(name), "signal %d", sig);
	return name;
}

/*
 * Fork and exec cmd; forward the signals; reap every child until cmd has
 * exited: its exit code (wrap_exit_code, wrap_exec_code). *ran: cmd was
 * started or failed to exec (the app is gone: the agent is told quit);
 * 0 when wrap could not even fork.
 */
static int
wrap_run(char **cmd, const sigset_t *orig, const sigset_t *sigs, int *ran)
{
	int pfd[2], err, st, code = -1;
	pid_t child, pid;
	siginfo_t si;
	ssize_t n;

	*ran = 0;
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		fprintf(stderr, "wrap: pipe: %s\n", strerror(errno));
		return 1;
	}
	if ((child = fork()) == -1) {
		fprintf(stderr, "wrap: cannot fork to run %s: %s\n", cmd[0],
		    strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return 1;
	}
	if (child == 0) {
		close(pfd[0]);
		(void)sigprocmask(SIG_SETMASK, orig, NULL);
		execvp(cmd[0], cmd);
		err = errno;
		n = write(pfd[1], &err, sizeof(err));	/* else: EOF, 127 */
		(void)n;
		_exit(127);
	}
	*ran = 1;
	close(pfd[1]);
	/* EOF: the exec closed the pipe; an int: its errno */
	while ((n = read(pfd[0], &err, sizeof(err))) == -1 && errno == EINTR)
		;
	close(pfd[0]);
	if (n == (ssize_t)sizeof(err)) {
		fprintf(stderr, "wrap: cannot run %s: %s\n", cmd[0],
		    strerror(err));
		(void)waitpid(child, NULL, 0);
		return wrap_exec_code(err);
	}
	while (code == -1) {
		if (sigwaitinfo(sigs, &si) == -1) {
			if (errno == EINTR)
				continue;
			/* cannot happen (EINVAL); no forwarding then, but
			 * CMD's status still */
			fprintf(stderr, "wrap: sigwaitinfo: %s\n",
			    strerror(errno));
			while ((pid = waitpid(child, &st, 0)) == -1 &&
			    errno == EINTR)
				;
			return pid == child ? wrap_exit_code(st) : 1;
		}
		if (si.si_signo != SIGCHLD) {
			/* a zombie child takes it silently; ESRCH cannot be */
			if (kill(child, si.si_signo) == -1)
				fprintf(stderr, "wrap: cannot forward %s to "
				    "%s: %s\n", wrap_signame(si.si_signo),
				    cmd[0], strerror(errno));
			continue;
		}
		/* one SIGCHLD may stand for many children: reap them all */
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			if (pid == child)
				code = wrap_exit_code(st);
	}
	return code;
}

/* take the pending signals of sigs, and nothing else */
static void
wrap_drop(const sigset_t *sigs)
{
	struct timespec zero = { 0, 0 };

	while (sigtimedwait(sigs, NULL, &zero) > 0)
		;
}

/* the app is gone: the agent exits 0 now. A failure is said, not fatal */
static void
wrap_quit(const struct cl_opts *o)
{
	const char *path = cl_socket(o);
	char *reply;
	size_t len;
	int err;

	if (cl_request(path, "quit\n", mono_ms() + WRAP_QUIT_MS, &reply,
	    &len) == -1) {
		err = errno;
		fprintf(stderr, "wrap: could not tell the agent at %s to quit: "
		    "%s\n", path, strerror(err));
		if (err == EACCES || err == EPERM)
			cl_explain_denied("wrap", path, NULL);
		return;
	}
	reply[strcspn(reply, "\n")] = '\0';
	if (strncmp(reply, "error forbidden", 15) == 0)
		cl_explain_denied("wrap", path, reply);
	else if (strcmp(reply, "ok") != 0)
		fprintf(stderr, "wrap: the agent did not quit: %s\n", reply);
	free(reply);
}

int
wrap_main(int argc, char **argv)
{
	sigset_t sigs, stop, usr, orig;
	struct cl_opts o;
	int nowait = 0, i, first, sig, rv, ran;

	/* before anything else: a signal from now on waits for sigwaitinfo */
	sigemptyset(&sigs);
	sigemptyset(&stop);
	sigemptyset(&usr);
	for (i = 0; i < (int)(sizeof(wrap_forwarded) /
	    sizeof(wrap_forwarded[0])); i++) {
		sigaddset(&sigs, wrap_forwarded[i]);
		sigaddset(wrap_forwarded[i] == SIGUSR1 ||
		    wrap_forwarded[i] == SIGUSR2 ? &usr : &stop,
		    wrap_forwarded[i]);
	}
	sigaddset(&sigs, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &sigs, &orig) == -1) {
		fprintf(stderr, "wrap: sigprocmask: %s\n", strerror(errno));
		return 1;
	}
	/* an inherited SIG_IGN would reap CMD behind our back */
	(void)signal(SIGCHLD, SIG_DFL);

	memset(&o, 0, sizeof(o));
	o.co_timeout_ms = CLIENT_WAIT_TIMEOUT_MS;
	if ((first = wrap_args(argc, argv, &o, &nowait)) <= 0)
		return -first;
	/* not PID 1: the orphans of CMD come to us all the same */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		fprintf(stderr, "wrap: cannot become a subreaper (%s): orphans "
		    "of %s are reaped by init\n", strerror(errno),
		    argv[first]);
	if (!nowait) {
		/* TERM, INT, HUP or QUIT now: stop */
		o.co_sigs = &stop;
		rv = cl_wait(&o, "wrap", CL_WANT_DEPS, &sig);
		if (sig != 0) {
			fprintf(stderr, "wrap: %s while waiting for the "
			    "agent: %s not started\n", wrap_signame(sig),
			    argv[first]);
			return rv;
		}
		if (rv != 0) {
			/* no quit: CMD never ran, a restart tries again */
			fprintf(stderr, "wrap: %s not started\n", argv[first]);
			return rv;
		}
		/* a USR1 or USR2 meant for an app not yet there: dropped,
		 * rather than kill CMD before it can install its handler */
		wrap_drop(&usr);
	}
	rv = wrap_run(argv + first, &orig, &sigs, &ran);
	if (ran)
		wrap_quit(&o);
	return rv;
}
