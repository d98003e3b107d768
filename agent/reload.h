/*
 * reload.h - notice that the config file changed: inotify on its directory
 * (an editor's rename, a Kubernetes ConfigMap's "..data" symlink swap) and
 * on the real file behind it (a write in place), a short debounce, and a
 * content hash so that only a real change asks for a reload. SIGHUP asks
 * for one regardless (main.c).
 */
#ifndef NDT_RELOAD_H
#define NDT_RELOAD_H

#include <stdint.h>

struct loop;
struct reload;

typedef void	 reload_cb(void *arg);

/* watch path's directory and the file it resolves to (a write in place);
 * cb when the file's content changed. NULL if the watch cannot be set up
 * (logged; SIGHUP still works). */
struct reload	*reload_new(struct loop *, const char *path, reload_cb *,
		    void *arg);
void		 reload_free(struct reload *);
/* the content just loaded: the hash of the file now (0 if unreadable) */
void		 reload_loaded(struct reload *);
struct agent;
/*
 * Parse -> validate -> swap (STYLE.md 13). A config that fails keeps the
 * running one: every error logged with its line:col, counted in
 * nodowntime_config_reloads_total{result="failure"}. A good one is swapped
 * in: checks whose definition did not change keep their state; the drain
 * phase never changes (a reload during a drain never un-drains); listen,
 * control_socket, state_file, hook_install_path and server.* take effect at
 * the next restart (said in the log). why: "SIGHUP", "file change".
 */
void		 reload_apply(struct agent *, const char *why);
/* FNV-1a 64 of the file's bytes (at most 1 MiB + 1); 0 if unreadable */
uint64_t	 reload_hash_file(const char *path);

#endif
