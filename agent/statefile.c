/* statefile.c - the drain state file. libc only (linked into the hook). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statefile.h"

#define STATEFILE_MAGIC	"nodowntime-state 1"

static const char *const sf_phase_names[DRAIN_NPHASES] = {
	[DRAIN_SERVING] = "serving",
	[DRAIN_DRAINING] = "draining",
	[DRAIN_QUIESCING] = "quiescing",
	[DRAIN_DRAINED] = "drained",
};

const char *
statefile_phase_str(enum drain_phase p)
{
	if ((unsigned)p >= DRAIN_NPHASES)
		return NULL;
	return sf_phase_names[p];
}

int
statefile_phase_parse(const char *s, enum drain_phase *p)
{
	unsigned i;

	for (i = 0; i < DRAIN_NPHASES; i++)
		if (strcmp(s, sf_phase_names[i]) == 0) {
			*p = (enum drain_phase)i;
			return 0;
		}
	return -1;
}

int
statefile_format(const struct statefile *sf, char *buf, size_t len)
{
	const char *ph = statefile_phase_str(sf->sf_phase);
	unsigned i;
	int n, m;

	if (ph == NULL)
		return -1;
	n = snprintf(buf, len, STATEFILE_MAGIC "\n"
	    "phase %s\n"
	    "drain_start %" PRId64 "\n"
	    "phase_start %" PRId64 "\n"
	    "drain_elapsed_ms %" PRIu64 "\n"
	    "phase_elapsed_ms %" PRIu64 "\n"
	    "written %" PRId64 "\n"
	    "delay_ms %" PRIu64 "\n"
	    "max_wait_ms %" PRIu64 "\n"
	    "by %s\n",
	    ph, sf->sf_drain_start, sf->sf_phase_start, sf->sf_drain_elapsed,
	    sf->sf_phase_elapsed, sf->sf_written, sf->sf_delay_ms,
	    sf->sf_max_wait_ms, sf->sf_by[0] ? sf->sf_by : "-");
	if (n < 0 || (size_t)n >= len)
		return -1;
	for (i = 0; i < sf->sf_nino && i < STATEFILE_INO_MAX; i++) {
		m = snprintf(buf + n, len - (size_t)n, "listen_inode %lu\n",
		    sf->sf_listen_ino[i]);
		if (m < 0 || (size_t)m >= len - (size_t)n)
			return -1;
		n += m;
	}
	return n;
}

/* a decimal number, all of val; 0 or -1 */
static int
parse_u64(const char *val, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*val < '0' || *val > '9')
		return -1;
	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno != 0 || *end != '\0' || v > INT64_MAX)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int
statefile_parse(const char *text, size_t len, struct statefile *sf,
    char *err, size_t errlen)
{
	char line[128], *val;
	const char *p = text, *end = text + len, *nl;
	unsigned lineno = 0, seen = 0;
	uint64_t v;
	size_t n;

	memset(sf, 0, sizeof(*sf));
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen, "NUL byte in file");
		return -1;
	}
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		lineno++;
		if (n >= sizeof(line)) {
			snprintf(err, errlen, "line %u: too long", lineno);
			return -1;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl + 1;
		if (lineno == 1) {
			if (strcmp(line, STATEFILE_MAGIC) != 0) {
				snprintf(err, errlen, "line 1: not a "
				    "nodowntime state file");
				return -1;
			}
			continue;
		}
		if (n == 0)
			continue;
		if ((val = strchr(line, ' ')) == NULL) {
			snprintf(err, errlen, "line %u: no value", lineno);
			return -1;
		}
		*val++ = '\0';
		if (strcmp(line, "phase") == 0) {
			if (statefile_phase_parse(val, &sf->sf_phase) == -1) {
				snprintf(err, errlen, "line %u: unknown phase",
				    lineno);
				return -1;
			}
			seen |= 1;
			continue;
		}
		if (strcmp(line, "by") == 0) {
			if (strcmp(val, "-") == 0)
				val = "";
			if (strlen(val) >= sizeof(sf->sf_by) ||
			    strspn(val, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-") != strlen(val)) {
				snprintf(err, errlen, "line %u: bad by",
				    lineno);
				return -1;
			}
			memcpy(sf->sf_by, val, strlen(val) + 1);
			continue;
		}
		/* unknown keys are skipped: a newer agent may add some */
		if (parse_u64(val, &v) == -1) {
			snprintf(err, errlen, "line %u: %s: bad number",
			    lineno, line);
			return -1;
		}
		if (strcmp(line, "drain_start") == 0)
			sf->sf_drain_start = (int64_t)v, seen |= 2;
		else if (strcmp(line, "phase_start") == 0)
			sf->sf_phase_start = (int64_t)v;
		else if (strcmp(line, "drain_elapsed_ms") == 0)
			sf->sf_drain_elapsed = v;
		else if (strcmp(line, "phase_elapsed_ms") == 0)
			sf->sf_phase_elapsed = v;
		else if (strcmp(line, "written") == 0)
			sf->sf_written = (int64_t)v;
		else if (strcmp(line, "delay_ms") == 0)
			sf->sf_delay_ms = v, seen |= 4;
		else if (strcmp(line, "max_wait_ms") == 0)
			sf->sf_max_wait_ms = v;
		else if (strcmp(line, "listen_inode") == 0 && v != 0 &&
		    sf->sf_nino < STATEFILE_INO_MAX)
			sf->sf_listen_ino[sf->sf_nino++] = (unsigned long)v;
	}
	if (lineno == 0) {
		snprintf(err, errlen, "empty file");
		return -1;
	}
	if ((seen & 1) == 0) {
		snprintf(err, errlen, "no phase");
		return -1;
	}
	if (sf->sf_phase != DRAIN_SERVING && (seen & 2) == 0) {
		snprintf(err, errlen, "a drain without drain_start");
		return -1;
	}
	if ((seen & 4) == 0) {
		snprintf(err, errlen, "no delay_ms");
		return -1;
	}
	return 0;
}

int
statefile_read(const char *path, struct statefile *sf, char *err,
    size_t errlen)
{
	char buf[STATEFILE_MAX];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd;

	/* the shared volume is writable by other containers: a FIFO planted
	 * here must not block the agent's start-up (nor the hook) */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		close(fd);
		errno = EINVAL;
		return -1;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len == sizeof(buf)) {
		snprintf(err, errlen, "larger than %d bytes", STATEFILE_MAX);
		errno = EINVAL;
		return -1;
	}
	if (statefile_parse(buf, len, sf, err, errlen) == -1) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
statefile_write(const char *path, const struct statefile *sf)
{
	char buf[STATEFILE_MAX], tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash;
	int fd = -1, dfd, n, saved;

	if ((n = statefile_format(sf, buf, sizeof(buf))) == -1 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* 0644: the app container (another uid) reads the recorded delay */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd == -1)
		return -1;
	if (write_all(fd, buf, (size_t)n) == -1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	/* make the rename itself durable; best effort */
	if ((slash = strrchr(path, '/')) != NULL &&
	    (size_t)(slash - path) < sizeof(dir)) {
		if (slash == path)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
			    path);
	} else
		snprintf(dir, sizeof(dir), ".");
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

static uint64_t
since(int64_t start, int64_t now, uint64_t recorded)
{
	uint64_t wall;

	if (start <= 0 || now < start)
		return recorded;
	wall = (uint64_t)(now - start);
	return wall > recorded ? wall : recorded;
}

void
statefile_elapsed(const struct statefile *sf, int64_t now,
    uint64_t *drain_ms, uint64_t *phase_ms)
{
	*drain_ms = since(sf->sf_drain_start, now, sf->sf_drain_elapsed);
	*phase_ms = since(sf->sf_phase_start, now, sf->sf_phase_elapsed);
}
