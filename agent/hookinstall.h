/*
 * hookinstall.h - copy nodowntime-hook into the shared volume, and fail
 * /healthz until it is there.
 */
#ifndef NDT_HOOKINSTALL_H
#define NDT_HOOKINSTALL_H

#include <stddef.h>

struct config;
struct loop;

#define HOOK_BINARY_NAME	"nodowntime-hook"
#define HOOK_BINARY_MAX		(64u * 1024 * 1024)	/* copy cap */

/*
 * Copies the nodowntime-hook that sits next to the running executable
 * (/proc/self/exe) to cfg->cf_hook_install_path ("" = do nothing): temp
 * file in the destination's directory, mode 0755, fsync, rename. The first
 * attempt is made now; a failed one (a missing source too) is retried from
 * the loop, 1 s doubling to 30 s, until it succeeds, and until then
 * hook_install_unhealthy() says why. The path is the one at start-up (a
 * reload does not move it). 0, or -1 when out of memory (logged).
 */
int	hook_install_start(struct loop *, const struct config *);
void	hook_install_stop(void);		/* before loop_free */
/* NULL: /healthz may pass (installed, or nothing to install); else the
 * body of its 503 (application/health+json, with the reason) */
const char *hook_install_unhealthy(size_t *len);
/* one copy from an explicit source (tests); 0, or -1 (logged) */
int	hook_install_from(const char *src, const char *dst);

#endif
