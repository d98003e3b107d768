/*
 * reload.c - watch the config file for changes.
 *
 * Two watches. The directory: editors replace files by rename, and a
 * ConfigMap volume swaps a "..data" symlink, so the file's own inode (or
 * the symlink) is never the one that changes. And the file the path
 * resolves to now (realpath: behind "nodowntime.yaml -> ..data/..." the
 * real file lives in "..2026_.../"), for a write in place, which changes
 * no directory entry the first watch sees. That one is re-pointed after
 * every batch of events, so it follows a swap or a rename.
 *
 * Any event arms a 200 ms debounce timer, re-armed by the next, so a file
 * written in several chunks reloads once, 200 ms after the last; when it
 * fires, the file's content is hashed and a reload is asked only if the
 * hash differs from what was loaded last.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "../config/config.h"
#include "../probes/probe.h"
#include "agent.h"
#include "agentcheck.h"
#include "control.h"
#include "drain.h"
#include "health.h"
#include "kube.h"
#include "log.h"
#include "loop.h"
#include "reload.h"
#include "server.h"

#define RELOAD_DEBOUNCE_MS	200
#define RELOAD_FILE_MAX		(1024 * 1024 + 1)

struct reload {
	struct loop	*rl_loop;
	char		*rl_path;
	int		 rl_fd;		/* inotify */
	int		 rl_wd;		/* the directory of rl_path */
	int		 rl_fwd;	/* the file it resolves to; -1 none */
	struct loop_io	*rl_io;
	struct loop_timer *rl_timer;
	uint64_t	 rl_hash;	/* of the content loaded last */
	reload_cb	*rl_cb;
	void		*rl_arg;
};

uint64_t
reload_hash_file(const char *path)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned char buf[8192];
	size_t total = 0;
	ssize_t n, i;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	while (total < RELOAD_FILE_MAX &&
	    (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			return 0;
		}
		for (i = 0; i < n; i++) {
			h ^= buf[i];
			h *= 0x100000001b3ULL;
		}
		total += (size_t)n;
	}
	close(fd);
	return h ? h : 1;
}

#define RELOAD_FILE_EVENTS \
	(IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

/*
 * Point the file watch at what rl_path resolves to now. The same inode
 * gives the same descriptor back; a new one (a swap, a rename over it)
 * a new descriptor, and the old watch goes (the kernel may have dropped
 * it already with its inode: EINVAL then, harmless).
 */
static void
reload_rewatch(struct reload *rl)
{
	char *real;
	int wd;

	if ((real = realpath(rl->rl_path, NULL)) == NULL)
		return;		/* gone mid-swap: the next event retries */
	wd = inotify_add_watch(rl->rl_fd, real, RELOAD_FILE_EVENTS);
	free(real);
	if (wd == -1 || wd == rl->rl_fwd)
		return;
	if (rl->rl_fwd != -1 && rl->rl_fwd != rl->rl_wd)
		(void)inotify_rm_watch(rl->rl_fd, rl->rl_fwd);
	rl->rl_fwd = wd;
}

static void
reload_timer_cb(void *arg)
{
	struct reload *rl = arg;
	uint64_t h;

	reload_rewatch(rl);
	h = reload_hash_file(rl->rl_path);

	/* gone for a moment (mid-swap): the next event brings it back */
	if (h == 0 || h == rl->rl_hash)
		return;
	log_event(LOG_INFO, "config file changed", "path", rl->rl_path, NULL);
	rl->rl_cb(rl->rl_arg);
}

static void
reload_io_cb(int fd, uint32_t events, void *arg)
{
	struct reload *rl = arg;
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)events;
	/* the events themselves do not matter: drain them, debounce */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	reload_rewatch(rl);
	loop_timer_in(rl->rl_loop, rl->rl_timer, RELOAD_DEBOUNCE_MS);
}

struct reload *
reload_new(struct loop *l, const char *path, reload_cb *cb, void *arg)
{
	struct reload *rl;
	char *copy = NULL;

	if ((rl = calloc(1, sizeof(*rl))) == NULL) {
		log_error("reload: watch %s", path);
		return NULL;
	}
	rl->rl_fd = rl->rl_wd = rl->rl_fwd = -1;
	if ((rl->rl_path = strdup(path)) == NULL ||
	    (copy = strdup(path)) == NULL) {
		log_error("reload: watch %s", path);
		goto fail;
	}
	rl->rl_loop = l;
	rl->rl_cb = cb;
	rl->rl_arg = arg;
	rl->rl_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (rl->rl_fd == -1) {
		log_warn("reload: inotify: changes to %s need SIGHUP", path);
		goto fail;
	}
	rl->rl_wd = inotify_add_watch(rl->rl_fd, dirname(copy),
	    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
	    IN_DELETE | IN_ATTRIB);
	if (rl->rl_wd == -1) {
		log_warn("reload: cannot watch the directory of %s; changes "
		    "need SIGHUP", path);
		goto fail;
	}
	if ((rl->rl_io = loop_io_add(l, rl->rl_fd, EPOLLIN, reload_io_cb,
	    rl)) == NULL ||
	    (rl->rl_timer = loop_timer_new(l, reload_timer_cb, rl)) == NULL)
		goto fail;
	free(copy);
	reload_rewatch(rl);
	reload_loaded(rl);
	return rl;
fail:
	free(copy);
	reload_free(rl);
	return NULL;
}

void
reload_loaded(struct reload *rl)
{
	if (rl != NULL)
		rl->rl_hash = reload_hash_file(rl->rl_path);
}

void
reload_free(struct reload *rl)
{
	if (rl == NULL)
		return;
	if (rl->rl_io)
		loop_io_del(rl->rl_loop, rl->rl_io);
	if (rl->rl_timer)
		loop_timer_free(rl->rl_loop, rl->rl_timer);
	if (rl->rl_fd != -1)
		close(rl->rl_fd);
	free(rl->rl_path);
	free(rl);
}

static void
log_diags(const struct cfg_diags *d)
{
	const struct cfg_diag *g;
	char where[300];
	size_t i;

	for (i = 0; i < d->dg_n; i++) {
		g = &d->dg_v[i];
		if (g->d_line)
			snprintf(where, sizeof(where), "%s:%u:%u", g->d_file,
			    g->d_line, g->d_col);
		else
			snprintf(where, sizeof(where), "%s", g->d_file);
		log_event(g->d_warning ? LOG_WARN : LOG_ERROR,
		    g->d_warning ? "config warning" : "config error",
		    "where", where, "message", g->d_msg, NULL);
	}
}

static int
str_differs(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

/* what only a restart can change: keep the running values, say so */
static void
keep_restart_only(struct config *old, struct config *nc)
{
	static const char later[] = "changed in the config: takes effect at "
	    "the next restart";
	char *tmp;
	unsigned u;
	uint64_t ms;

#define KEEP_STR(field, key)						\
	if (str_differs(old->field, nc->field)) {			\
		log_event(LOG_WARN, later, "key", key, NULL);		\
	}								\
	tmp = old->field; old->field = nc->field; nc->field = tmp;
	KEEP_STR(cf_listen, "listen")
	KEEP_STR(cf_listen_host, "listen")
	KEEP_STR(cf_control_socket, "control_socket")
	KEEP_STR(cf_state_file, "state_file")
	KEEP_STR(cf_hook_install_path, "hook_install_path")
	KEEP_STR(cf_agent_listen, "agent_check.listen")
	KEEP_STR(cf_agent_listen_host, "agent_check.listen")
#undef KEEP_STR
	if (old->cf_listen_port != nc->cf_listen_port ||
	    old->cf_max_connections != nc->cf_max_connections ||
	    old->cf_request_timeout_ms != nc->cf_request_timeout_ms)
		log_event(LOG_WARN, later, "key", "listen/server", NULL);
	u = old->cf_listen_port;
	nc->cf_listen_port = u;
	u = old->cf_agent_listen_port;
	nc->cf_agent_listen_port = u;
	nc->cf_max_connections = old->cf_max_connections;
	ms = old->cf_request_timeout_ms;
	nc->cf_request_timeout_ms = ms;
}

void
reload_apply(struct agent *ag, const char *why)
{
	struct config *old = ag->ag_cfg, *nc = NULL;
	struct cfg_diags d;
	struct probes *np;
	char n[16], kept[16];
	size_t i, j, k = 0;

	cfg_diags_init(&d);
	/* whatever happens, do not retry this same content on its own */
	reload_loaded(ag->ag_reload);
	if (config_load(ag->ag_path, &nc, &d) == -1) {
		log_diags(&d);
		snprintf(n, sizeof(n), "%zu", d.dg_nerrors);
		log_event(LOG_ERROR, "configuration reloading FAILED: keeping "
		    "the running config", "config", ag->ag_path ? ag->ag_path :
		    CFG_EMBEDDED_NAME, "errors", n, "by", why, NULL);
		ag->ag_metrics.m_reloads_failed++;
		cfg_diags_free(&d);
		return;
	}
	log_diags(&d);
	cfg_diags_free(&d);
	keep_restart_only(old, nc);

	/*
	 * Stop the old probes first: nothing of theirs runs after this, so
	 * the check records can be rebuilt under them. A drain's pending
	 * notify is let go (its timeout bounds the wait).
	 */
	drain_reconfigure(ag->ag_drain, old, NULL);
	probes_free(ag->ag_probes);
	ag->ag_probes = ag->ag_metrics.m_probes = NULL;
	if (health_reconfigure(ag->ag_health, nc) == -1 ||
	    (np = probes_new(ag->ag_loop, nc, ag->ag_health)) == NULL) {
		log_errorx("configuration reloading FAILED: out of memory; "
		    "keeping the running config");
		ag->ag_metrics.m_reloads_failed++;
		(void)health_reconfigure(ag->ag_health, old);
		keep_restart_only(nc, old);	/* give the fields back */
		config_free(nc);
		nc = old;
		if ((np = probes_new(ag->ag_loop, old, ag->ag_health)) == NULL)
			log_errorx("reload: the checks could not be "
			    "restarted: they keep their last state");
	} else {
		for (i = 0; i < nc->cf_nchecks; i++)
			for (j = 0; j < old->cf_nchecks; j++)
				if (strcmp(nc->cf_checks[i].ck_name,
				    old->cf_checks[j].ck_name) == 0 &&
				    config_check_equal(&nc->cf_checks[i],
				    &old->cf_checks[j]))
					k++;
		ag->ag_metrics.m_reloads_ok++;
	}
	ag->ag_probes = ag->ag_metrics.m_probes = np;
	drain_reconfigure(ag->ag_drain, nc, np);
	control_reconfigure(ag->ag_control, nc);
	server_reconfigure(ag->ag_server, nc);
	agentcheck_reconfigure(ag->ag_agentcheck, nc);
	kube_reconfigure(ag->ag_kube, nc);
	if (np != NULL)
		(void)probes_start(np);
	if (nc != old) {
		ag->ag_cfg = nc;
		config_free(old);
		log_setup(nc->cf_log_format, nc->cf_log_level);
		snprintf(n, sizeof(n), "%zu", nc->cf_nchecks);
		snprintf(kept, sizeof(kept), "%zu", k);
		log_event(LOG_INFO, "config reloaded", "config", nc->cf_file,
		    "checks", n, "unchanged", kept, "by", why, NULL);
	}
}
