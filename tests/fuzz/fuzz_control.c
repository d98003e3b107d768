/*
 * fuzz_control - the control-socket line protocol (docs/CONTROL.md).
 *
 * Two layers on every input:
 *   1. control_parse_line(), the pure command parser, on the input as one
 *      line: it must agree with a plain reading of the protocol table;
 *   2. the whole path through a real control socket in-process (agent's
 *      loop, drain, health; a socket in a temporary directory): connect,
 *      write the bytes, shut down writing, read until the agent closes.
 *      This covers the line framing in ctlproto.c (client_read: the 256-byte
 *      cap, '\n' search, a last line without '\n'), which is not a pure
 *      function. The reply must be what the framing and the table say:
 *      the first line of the input decides it.
 * After a `drain` the drain is resumed so every input starts from serving.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/control.h"
#include "agent/drain.h"
#include "agent/health.h"
#include "agent/log.h"
#include "agent/loop.h"
#include "config/config.h"
#include "fuzz_client.h"

#define FUZZ_CTL_DEADLINE_MS	500

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

static struct config	*cfg;
static struct loop	*lp;
static struct health	*health;
static struct drain	*drain;
static struct control	*control;
static struct fc	 fcl;
static struct sockaddr_un ctl_addr;
static char		 tmpdir[] = "/tmp/ndt-fuzz-control-XXXXXX";

static void
cleanup(void)
{
	char p[sizeof(tmpdir) + 32];

	control_free(control);
	snprintf(p, sizeof(p), "%s/state", tmpdir);
	(void)unlink(p);
	snprintf(p, sizeof(p), "%s/state.tmp", tmpdir);
	(void)unlink(p);
	snprintf(p, sizeof(p), "%s/ctl.sock", tmpdir);
	(void)unlink(p);
	(void)rmdir(tmpdir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct cfg_diags dg;
	char yaml[512];
	int n;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	unsetenv("APP_BIND_ADDRESS");
	unsetenv("APP_SHUTDOWN_TIMEOUT");
	log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
	if (mkdtemp(tmpdir) == NULL) {
		perror("fuzz_control: mkdtemp");
		abort();
	}
	n = snprintf(yaml, sizeof(yaml),
	    "listen: 127.0.0.1:1\n"
	    "control_socket: %s/ctl.sock\n"
	    "state_file: %s/state\n"
	    "hook_install_path: \"\"\n"
	    "drain:\n  delay: 0s\n  wait_for_connections: false\n",
	    tmpdir, tmpdir);
	cfg_diags_init(&dg);
	if (config_parse("fuzz_control.yaml", yaml, (size_t)n, &cfg,
	    &dg) == -1) {
		cfg_diags_print(&dg, stderr);
		abort();
	}
	cfg_diags_free(&dg);
	if ((lp = loop_new()) == NULL || (health = health_new(cfg)) == NULL ||
	    (drain = drain_new(lp, cfg, health, NULL)) == NULL ||
	    (control = control_new(lp, cfg, drain, health)) == NULL ||
	    drain_start_up(drain) == -1)
		abort();
	atexit(cleanup);
	memset(&ctl_addr, 0, sizeof(ctl_addr));
	ctl_addr.sun_family = AF_UNIX;
	snprintf(ctl_addr.sun_path, sizeof(ctl_addr.sun_path), "%s",
	    cfg->cf_control_socket);
	fc_init(&fcl, lp);
	return 0;
}

/* the protocol table of docs/CONTROL.md, read plainly */
static enum control_cmd
table(const char *l, size_t n)
{
	if (n > 0 && l[n - 1] == '\r')
		n--;
#define IS(s)	(n == sizeof(s) - 1 && memcmp(l, s, n) == 0)
	if (IS("drain"))
		return CONTROL_DRAIN;
	if (IS("status"))
		return CONTROL_STATUS;
	if (IS("status text"))
		return CONTROL_STATUS_TEXT;
	if (IS("resume"))
		return CONTROL_RESUME;
	if (IS("quit"))
		return CONTROL_QUIT;
#undef IS
	return CONTROL_UNKNOWN;
}

static int
ctl_connect(void)
{
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    connect(fd, (struct sockaddr *)&ctl_addr, sizeof(ctl_addr)) == -1) {
		perror("fuzz_control: connect");
		abort();
	}
	return fd;
}

static void
bad_reply(const char *why, const unsigned char *data, size_t size)
{
	fprintf(stderr, "fuzz_control: %s\ninput (%zu bytes): '%.*s'\n"
	    "reply (%zu bytes%s%s): '%s'\n", why, size,
	    (int)(size > 300 ? 300 : size), (const char *)data,
	    fcl.fc_rlen, fcl.fc_timedout ? ", timed out" : "",
	    fcl.fc_err ? ", error" : "", fcl.fc_reply);
	abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *line = (const char *)data, *nl;
	const char *want;
	enum control_cmd cmd;
	size_t len;

	/* 1. the pure parser */
	if (control_parse_line(line, size) != table(line, size))
		abort();

	/* 2. the socket: the first line decides, as the agent frames it */
	nl = memchr(line, '\n', size);
	if (nl != NULL && (size_t)(nl - line) < CONTROL_LINE_MAX) {
		len = (size_t)(nl - line);
		cmd = table(line, len);
	} else if (size >= CONTROL_LINE_MAX) {
		len = 0;
		cmd = CONTROL_UNKNOWN;		/* "error line too long" */
	} else {
		len = size;
		cmd = size ? table(line, size) : CONTROL_UNKNOWN;
	}
	fc_exchange(&fcl, ctl_connect(), data, size, FUZZ_CTL_DEADLINE_MS);
	if (fcl.fc_timedout)
		bad_reply("the agent did not close in time", data, size);
	switch (cmd) {
	case CONTROL_DRAIN:
		want = "phase ";
		break;
	case CONTROL_STATUS:
		want = "{\"phase\":\"serving\"";
		break;
	case CONTROL_STATUS_TEXT:
		want = "";
		break;
	case CONTROL_RESUME:
	case CONTROL_QUIT:
		want = "ok\n";
		break;
	default:
		if (size == 0)
			want = "";
		else if (len == 0 && size >= CONTROL_LINE_MAX &&
		    (nl == NULL || (size_t)(nl - line) >= CONTROL_LINE_MAX))
			want = "error line too long\n";
		else
			want = "error unknown command\n";
		break;
	}
	/* a reset (the agent closed with input unread) may cut the reply */
	if (strncmp(fcl.fc_reply, want, strlen(want)) != 0 &&
	    !(fcl.fc_err != 0 && strncmp(fcl.fc_reply, want,
	    fcl.fc_rlen) == 0))
		bad_reply("unexpected reply", data, size);
	if (cmd == CONTROL_STATUS_TEXT && fcl.fc_rlen == 0 && !fcl.fc_err)
		bad_reply("empty status text", data, size);
	if (size == 0 && fcl.fc_rlen != 0)
		bad_reply("a reply to nothing", data, size);
	/* quit stops the agent's loop (it would exit), and nothing else does */
	if ((cmd == CONTROL_QUIT) != (fcl.fc_stopped > 0))
		bad_reply(cmd == CONTROL_QUIT ? "quit did not stop the loop" :
		    "the loop stopped without quit", data, size);
	if (drain_phase(drain) != DRAIN_SERVING &&
	    drain_resume(drain, "fuzz") == -1)
		abort();
	return 0;
}
