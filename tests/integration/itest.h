/*
 * itest.h - helpers for integration tests: start a real `nodowntime run`
 * on a free port with a generated config, talk HTTP to it with libcurl,
 * stop it. Tests run from the repository root; the binaries are found
 * under $NDT_BUILD (default "build").
 */
#ifndef NDT_ITEST_H
#define NDT_ITEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct itest_agent {
	pid_t		 a_pid;
	unsigned	 a_port;
	char		 a_dir[256];	/* private temp dir, removed at stop */
	char		 a_config[300];	/* a_dir/nodowntime.yaml */
	char		 a_socket[300];	/* a_dir/ndt.sock (control_socket) */
	char		 a_state[300];	/* a_dir/state (state_file) */
	char		 a_log[300];	/* a_dir/agent.log (stderr) */
	char		 a_base[64];	/* "http://127.0.0.1:PORT" */
};

struct itest_resp {
	long		 r_code;	/* HTTP status, 0 on transport error */
	char		 r_ctype[128];
	char		 r_cache[128];	/* Cache-Control */
	char		*r_body;	/* malloc'd, NUL-terminated */
	size_t		 r_len;
	double		 r_secs;	/* total time */
};

/* path of a built binary: itest_bin("nodowntime") -> "build/nodowntime" */
const char	*itest_bin(const char *name);
unsigned	 itest_free_port(void);
/* 1, or 3 when testing a sanitizer build (NDT_BUILD ends in "san"), or
 * 10 when the agent runs under $NDT_AGENT_WRAPPER (valgrind): scales
 * latency bounds, never correctness */
unsigned	 itest_slow_factor(void);
uint64_t	 itest_now_ms(void);
void		 itest_sleep_ms(unsigned);

/*
 * Write a config and start the agent. The config is a base block
 *   listen: 127.0.0.1:PORT, control_socket, state_file: in a_dir,
 *   hook_install_path: "", log: {format: text, level: debug}
 * followed by `extra` (YAML top-level keys, may be NULL), then waits until
 * /healthz answers (5 s max). Extra env entries "K=V" may be given in env
 * (NULL-terminated, may be NULL). Returns 0, or -1 with nothing left
 * behind (process killed, a_dir removed; if the agent did not answer,
 * its log printed first).
 */
int	 itest_agent_start(struct itest_agent *, const char *extra,
	    char *const *env);
/* reuse a_dir/a_port of a stopped agent (restart tests) */
int	 itest_agent_restart(struct itest_agent *, char *const *env);
/* send sig and wait up to timeout_ms; returns the exit status (0-255),
 * 128+signo if killed, -1 if it did not exit (then it is SIGKILLed). */
int	 itest_agent_signal(struct itest_agent *, int sig,
	    unsigned timeout_ms);
/* SIGKILL if running, remove a_dir. Safe to call twice. */
void	 itest_agent_stop(struct itest_agent *);
/* print the agent's log to stderr (on failure) */
void	 itest_agent_dump_log(const struct itest_agent *);

/* one request; header may be NULL ("Name: value"). 0 or -1 (transport) */
int	 itest_http(const char *method, const char *url, const char *header,
	    struct itest_resp *);
void	 itest_resp_free(struct itest_resp *);
/* GET base+path, the status code (0 on transport error) */
long	 itest_get_code(const struct itest_agent *, const char *path);
/* poll GET base+path every 10 ms until it answers code; returns elapsed
 * ms, or -1 on timeout */
long	 itest_wait_code(const struct itest_agent *, const char *path,
	    long code, unsigned timeout_ms);

/*
 * Raw clients, for what libcurl will not send (half requests, garbage,
 * idle or half-closed connections) and for the control socket. They
 * report, the tests assert: -1 (errno set) on failure.
 */
/* a TCP connection to 127.0.0.1:port; with timeout_ms > 0 a read or a
 * write on it gives up after that long (SO_RCVTIMEO, SO_SNDTIMEO) */
int	 itest_tcp_connect(unsigned port, unsigned timeout_ms);
/* a connection to the unix socket at path (ENAMETOOLONG if it does not
 * fit in sun_path) */
int	 itest_unix_connect(const char *path);
/* write all of buf, short writes continued; 0, or -1 at the first error */
int	 itest_send_all(int fd, const void *buf, size_t len);
/* read until EOF, an error, a full buffer (cap - 1 bytes) or timeout_ms
 * from now, whichever comes first; buf is NUL-terminated; the byte count */
size_t	 itest_read_until_eof(int fd, char *buf, size_t cap,
	    unsigned timeout_ms);

/* run a program (argv[0] a path), capture stdout+stderr (cap 64 KiB) into
 * out (malloc'd, may be NULL); returns the exit status or -1 */
int	 itest_run(char *const argv[], char **out, unsigned timeout_ms);
/* the same with extra "K=V" environment entries (NULL-terminated) */
int	 itest_run_env(char *const argv[], char *const *env, char **out,
	    unsigned timeout_ms);
/* start a program in the background, stdout/stderr to logfile; pid or -1 */
pid_t	 itest_spawn(char *const argv[], const char *logfile);
/* SIGTERM, wait up to 2 s, then SIGKILL; reaps */
void	 itest_kill(pid_t);

#endif
