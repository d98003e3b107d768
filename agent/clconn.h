/*
 * clconn.h - the client's insides: the transport to the agent (clconn.c),
 * the wait for it (clwait.c) and wrap (wrap.c), shared with the
 * subcommands in client.c. libc only, like them.
 */
#ifndef NDT_CLCONN_H
#define NDT_CLCONN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_LINE_MAX		512

struct cl_opts {
	const char	*co_socket;
	uint64_t	 co_timeout_ms;
	uint64_t	 co_fallback_ms;
	int		 co_fallback_set;
	int		 co_json;
	const sigset_t	*co_sigs;	/* (blocked) signals that end a wait */
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

/* clwait.c */
enum cl_want {
	CL_WANT_READY,		/* "ready":true (wait) */
	CL_WANT_DEPS		/* "dependencies_ready":true (wrap) */
};
/*
 * Poll `status` until the agent says what is wanted: 0 (`wait` prints
 * "ready"); 1 at co_timeout_ms, having said why on stderr as cmd. A signal
 * of co_sigs during a pause between two polls ends it at once: 128 + its
 * number, which goes to *sig (else 0).
 */
int		 cl_wait(const struct cl_opts *, const char *cmd,
		    enum cl_want, int *sig);

/* wrap.c: `wrap [--socket P] [--wait-timeout D] [--no-wait] -- CMD...`;
 * argv[0] is "wrap"; the exit code */
int		 wrap_main(int argc, char **argv);

#ifdef UNITTEST
int		 cl_status_says(const char *json, enum cl_want);
void		 cl_status_summary(const char *json, enum cl_want, char *out,
		    size_t len);
int		 wrap_exit_code(int wstatus);
int		 wrap_exec_code(int err);
#endif

#endif
