/* util.h - monotonic time, bounded buffers, small formatting helpers.
 * libc only: also linked into the static nodowntime-hook. */
#ifndef NDT_UTIL_H
#define NDT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef UNITTEST
#define UNITTEST_STATIC
#else
#define UNITTEST_STATIC static
#endif

#ifndef NDT_VERSION
#define NDT_VERSION "0.1.0"
#endif

uint64_t	mono_ms(void);		/* CLOCK_MONOTONIC, milliseconds */
uint64_t	mono_us(void);		/* CLOCK_MONOTONIC, microseconds */
int64_t		wall_ms(void);		/* CLOCK_REALTIME, for printing only */
/* "2026-11-26T13:50:55.123Z"; buf needs 32 bytes */
void		fmt_rfc3339(int64_t wall, char *buf, size_t len);
/* 1500 -> "1.5s", 90000 -> "1m30s", 250 -> "250ms", 0 -> "0s" */
void		fmt_duration(uint64_t ms, char *buf, size_t len);

/*
 * A growable buffer with a hard cap (curl's dynbuf "toobig"). Appending past
 * b_max fails with -1 and sets b_toobig; the content stays what it was.
 * b_data is always NUL-terminated when b_len > 0.
 */
struct buf {
	char	*b_data;
	size_t	 b_len;
	size_t	 b_cap;
	size_t	 b_max;
	int	 b_toobig;
};

void	buf_init(struct buf *, size_t max);
int	buf_append(struct buf *, const void *, size_t);
int	buf_puts(struct buf *, const char *);
int	buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	buf_vprintf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
/* a JSON string literal, quotes included, control chars escaped */
int	buf_json_str(struct buf *, const char *);
void	buf_reset(struct buf *);
void	buf_free(struct buf *);

#endif
