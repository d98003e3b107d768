/* hookinstall.c - install the static client for the app's preStop hook. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../config/config.h"
#include "hookinstall.h"
#include "log.h"

static int
copy_fd(int in, int out)
{
	char buf[65536];
	size_t total = 0;
	ssize_t n, w;
	size_t off;

	for (;;) {
		n = read(in, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		total += (size_t)n;
		if (total > HOOK_BINARY_MAX) {
			errno = EFBIG;
			return -1;
		}
		for (off = 0; off < (size_t)n; off += (size_t)w) {
			w = write(out, buf + off, (size_t)n - off);
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w == -1)
				return -1;
		}
	}
}

/* the destination's directory, one level, 0755 (the shared volume's
 * mount point normally exists already) */
static void
mkdir_parent(const char *path)
{
	char dir[PATH_MAX], *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) ||
	    (slash = strrchr(dir, '/')) == NULL || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		log_warn("hook install: mkdir %s", dir);
}

int
hook_install_from(const char *src, const char *dst)
{
	char tmp[PATH_MAX];
	struct stat st;
	int in = -1, out = -1, created = 0;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			log_event(LOG_WARN, "hook not installed: no "
			    HOOK_BINARY_NAME " next to the agent", "source",
			    src, NULL);
			return 0;
		}
		log_warn("hook install: open %s", src);
		return -1;
	}
	if (fstat(in, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_warnx("hook install: %s is not a regular file", src);
		goto fail;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", dst, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		log_warnx("hook install: path too long: %s", dst);
		goto fail;
	}
	mkdir_parent(dst);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0700);
	if (out == -1) {
		log_warn("hook install: create %s", tmp);
		goto fail;
	}
	created = 1;
	if (copy_fd(in, out) == -1) {
		log_warn("hook install: copy to %s", tmp);
		goto fail;
	}
	if (fchmod(out, 0755) == -1 || fsync(out) == -1) {
		log_warn("hook install: %s", tmp);
		goto fail;
	}
	if (close(out) == -1) {
		out = -1;
		log_warn("hook install: close %s", tmp);
		goto fail;
	}
	out = -1;
	/* rename over a running copy is safe: its inode lives on */
	if (rename(tmp, dst) == -1) {
		log_warn("hook install: rename to %s", dst);
		goto fail;
	}
	close(in);
	log_event(LOG_INFO, "hook installed", "path", dst, NULL);
	return 0;
fail:
	if (out != -1)
		close(out);
	if (created)
		(void)unlink(tmp);
	close(in);
	return -1;
}

int
hook_install(const struct config *cfg)
{
	char self[PATH_MAX], src[PATH_MAX], *slash;
	ssize_t n;

	if (cfg->cf_hook_install_path == NULL ||
	    cfg->cf_hook_install_path[0] == '\0')
		return 0;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n == -1) {
		log_warn("hook install: readlink /proc/self/exe");
		return -1;
	}
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return -1;
	*slash = '\0';
	if (snprintf(src, sizeof(src), "%s/" HOOK_BINARY_NAME, self) >=
	    (int)sizeof(src)) {
		log_warnx("hook install: path too long");
		return -1;
	}
	if (strcmp(src, cfg->cf_hook_install_path) == 0)
		return 0;		/* already where it belongs */
	return hook_install_from(src, cfg->cf_hook_install_path);
}
