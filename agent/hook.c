/*
 * hook.c - main() of nodowntime-hook: the statically linked client that the
 * agent copies into the shared volume, so that the app container's preStop
 * can run it whatever its image holds. Only prestop, wait, status, resume
 * and wrap.
 */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "util.h"

static int
hook_usage(FILE *f, int rv)
{
	fprintf(f, "usage: nodowntime-hook COMMAND [OPTIONS]\n"
	    "\n"
	    "  prestop [--socket P] [--timeout D] [--fallback-delay D]\n"
	    "          ask the agent to drain; block until drained\n"
	    "  wait [--socket P] [--timeout D]\n"
	    "          block until the agent reports ready\n"
	    "  status [--socket P] [--json]\n"
	    "          print the agent's state\n"
	    "  resume [--socket P]\n"
	    "          back to serving after a drain (an app without app.port,\n"
	    "          as it starts again)\n"
	    "  wrap [--socket P] [--wait-timeout D] [--no-wait] -- CMD...\n"
	    "          the app's entrypoint: wait for its dependencies, run\n"
	    "          CMD (signals forwarded, zombies reaped), then tell the\n"
	    "          agent to quit; exit with CMD's status\n"
	    "\n"
	    "The socket defaults to $" CLIENT_SOCKET_ENV ", else "
	    CLIENT_DEFAULT_SOCKET ".\n");
	return rv;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		return hook_usage(stderr, 2);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return hook_usage(stdout, 0);
	if (strcmp(argv[1], "--version") == 0) {
		printf("nodowntime-hook %s\n", NDT_VERSION);
		return 0;
	}
	if (!client_is_command(argv[1])) {
		fprintf(stderr, "nodowntime-hook: unknown command: %s\n",
		    argv[1]);
		return hook_usage(stderr, 2);
	}
	return client_main(argc - 1, argv + 1);
}
