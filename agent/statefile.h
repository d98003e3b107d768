/*
 * statefile.h - the drain state file (state_file): survives an agent restart.
 * libc only: the static nodowntime-hook reads the recorded delay from it.
 *
 * Text, one "key value" per line, written atomically (temp file in the same
 * directory, fsync, rename, fsync of the directory):
 *   nodowntime-state 1
 *   phase draining
 *   drain_start 1764165355123      wall ms, when the drain began (0: serving)
 *   phase_start 1764165355123      wall ms, when this phase began
 *   drain_elapsed_ms 120           monotonic age of the drain when written
 *   phase_elapsed_ms 120
 *   written 1764165355243          wall ms
 *   delay_ms 5000                  the configured drain delay (prestop fallback)
 *   max_wait_ms 20000
 *   by prestop                     who began the drain: prestop, SIGTERM
 *   listen_inode 123456            0 to 8 lines: the app.port listeners'
 *                                  socket inodes when the drain began
 * Unknown keys with a number are skipped, so an older agent reads a newer
 * file; every key after phase and delay_ms may be missing (older files).
 */
#ifndef NDT_STATEFILE_H
#define NDT_STATEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "drain.h"

#define STATEFILE_MAX	4096		/* bytes read, at most */

/* the app's listeners when the drain began (a later listener with none of
 * these inodes is a new app process): "listen_inode N", once each */
#define STATEFILE_INO_MAX	8

struct statefile {
	enum drain_phase sf_phase;
	int64_t		 sf_drain_start;	/* wall ms */
	int64_t		 sf_phase_start;	/* wall ms */
	uint64_t	 sf_drain_elapsed;	/* ms, when written */
	uint64_t	 sf_phase_elapsed;	/* ms, when written */
	int64_t		 sf_written;		/* wall ms */
	uint64_t	 sf_delay_ms;
	uint64_t	 sf_max_wait_ms;
	char		 sf_by[16];		/* "" when not recorded */
	unsigned long	 sf_listen_ino[STATEFILE_INO_MAX];
	unsigned	 sf_nino;		/* 0: none recorded */
};

/* "serving"... or NULL; and back (-1 if unknown) */
const char	*statefile_phase_str(enum drain_phase);
int		 statefile_phase_parse(const char *, enum drain_phase *);

/* bytes of the file for *sf into buf; length, or -1 if it does not fit */
int		 statefile_format(const struct statefile *, char *buf,
		    size_t len);
/* 0, or -1 if the text is not a state file (a reason in err) */
int		 statefile_parse(const char *text, size_t len,
		    struct statefile *, char *err, size_t errlen);
/* 0, or -1 with errno set (ENOENT: no file; EINVAL: corrupt, see err) */
int		 statefile_read(const char *path, struct statefile *,
		    char *err, size_t errlen);
/* atomic replace; 0, or -1 with errno set */
int		 statefile_write(const char *path, const struct statefile *);

/*
 * How old the recorded drain and phase are at wall time now. Wall clocks
 * jump, so the answer is never less than what was recorded as elapsed (a
 * clock set back cannot stretch a drain that already ran).
 */
void		 statefile_elapsed(const struct statefile *, int64_t now,
		    uint64_t *drain_ms, uint64_t *phase_ms);

#endif
