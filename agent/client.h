/*
 * client.h - the client subcommands (prestop, wait, status, resume, wrap)
 * shared by nodowntime and the static nodowntime-hook. libc only.
 */
#ifndef NDT_CLIENT_H
#define NDT_CLIENT_H

#include <stdint.h>

#define CLIENT_DEFAULT_SOCKET	"/run/nodowntime/nodowntime.sock"
#define CLIENT_SOCKET_ENV	"NODOWNTIME_SOCKET"
#define CLIENT_STATE_NAME	"state"	/* next to the socket: fallback delay */
#define CLIENT_FALLBACK_MS	5000	/* no state file either */
#define CLIENT_PRESTOP_TIMEOUT_MS (120 * 1000)
#define CLIENT_WAIT_TIMEOUT_MS	(60 * 1000)
#define CLIENT_STATUS_TIMEOUT_MS 5000

/* argv[0] is the subcommand; returns the process exit code */
int	client_main(int argc, char **argv);
/* prestop, wait, status, resume, wrap */
int	client_is_command(const char *);
/* "250ms", "5s", "1m", "1h30m", "1.5s", "10" (seconds) -> ms; 0 or -1 */
int	client_parse_duration(const char *, uint64_t *ms);

#endif
