/*
 * pause.c - the sandbox ("pause") container of the test cluster: holds the
 * pod's namespaces, reaps orphans as PID 1, and exits on SIGINT/SIGTERM.
 * Built static and packed FROM scratch by tests/k8s/images.sh, since no
 * registry is reachable to pull upstream's.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static void
pause_stop(int sig)
{
	_exit(128 + sig);
}

static void
pause_reap(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { 0 };

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "pause: takes no arguments\n");
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = pause_stop;
	if (sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1)
		return 1;
	sa.sa_handler = pause_reap;
	sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
	if (sigaction(SIGCHLD, &sa, NULL) == -1)
		return 1;
	for (;;)
		pause();
}
