/*
 * clconn.h - the client's transport to the agent (clconn.c), shared with
 * the subcommands in client.c. libc only, like them.
 */
#ifndef NDT_CLCONN_H
#define NDT_CLCONN_H

#include <stddef.h>
#include <stdint.h>

#define CLIENT_LINE_MAX		512

struct cl_opts {
	const char	*co_socket;
	uint64_t	 co_timeout_ms;
	uint64_t	 co_fallback_ms;
	int		 co_fallback_set;
	int		 co_json;
};

struct cl_conn {			/* a connection and its line reader */
	int		 cn_fd;
	char		 cn_buf[CLIENT_LINE_MAX];
	size_t		 cn_len;
};

/* clconn.c */
void		 cl_sleep_ms(uint64_t);
/* --socket, else $NODOWNTIME_SOCKET, else the default */
const char	*cl_socket(const struct cl_opts *);
int		 cl_connect(const char *);
int		 cl_send(int, const char *, uint64_t deadline);
int		 cl_readline(struct cl_conn *, char *, size_t,
		    uint64_t deadline);
int		 cl_request(const char *, const char *, uint64_t deadline,
		    char **, size_t *);
/* the fallback delay, and where it came from (why, may be NULL) */
uint64_t	 cl_fallback(const struct cl_opts *, const char *path,
		    char *why, size_t whylen);
/* EACCES/EPERM on connect (forbidden NULL), or the agent's "error
 * forbidden" line: the cause and the fix, to stderr */
void		 cl_explain_denied(const char *cmd, const char *path,
		    const char *forbidden);

#endif
