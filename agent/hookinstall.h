/* hookinstall.h - copy nodowntime-hook into the shared volume at start-up. */
#ifndef NDT_HOOKINSTALL_H
#define NDT_HOOKINSTALL_H

struct config;

#define HOOK_BINARY_NAME	"nodowntime-hook"
#define HOOK_BINARY_MAX		(64u * 1024 * 1024)	/* copy cap */

/*
 * Copies the nodowntime-hook that sits next to the running executable
 * (/proc/self/exe) to cfg->cf_hook_install_path ("" = do nothing):
 * temp file in the destination's directory, mode 0755, fsync, rename.
 * A missing source is a warning. 0, or -1 (logged) on a failed copy.
 */
int	hook_install(const struct config *);
/* the same from an explicit source (tests) */
int	hook_install_from(const char *src, const char *dst);

#endif
