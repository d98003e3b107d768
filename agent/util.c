/* util.c - monotonic time, bounded buffers, formatting. libc only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
mono_ms(void)
{
	return mono_us() / 1000u;
}

int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
fmt_rfc3339(int64_t wall, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)(wall / 1000);
	char tmp[24];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(buf, len, "%s.%03dZ", tmp, (int)(wall % 1000));
}

void
fmt_duration(uint64_t ms, char *buf, size_t len)
{
	uint64_t h, m, s, frac;
	size_t n = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (ms == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	if (ms < 1000) {
		snprintf(buf, len, "%llums", (unsigned long long)ms);
		return;
	}
	h = ms / 3600000u;
	m = ms / 60000u % 60u;
	s = ms / 1000u % 60u;
	frac = ms % 1000u;
	if (h && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%lluh",
		    (unsigned long long)h);
	if (m && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%llum",
		    (unsigned long long)m);
	if ((s || frac) && n < len) {
		if (frac == 0)
			snprintf(buf + n, len - n, "%llus",
			    (unsigned long long)s);
		else if (frac % 100 == 0)
			snprintf(buf + n, len - n, "%llu.%01llus",
			    (unsigned long long)s,
			    (unsigned long long)(frac / 100));
		else if (frac % 10 == 0)
			snprintf(buf + n, len - n, "%llu.%02llus",
			    (unsigned long long)s,
			    (unsigned long long)(frac / 10));
		else
			snprintf(buf + n, len - n, "%llu.%03llus",
			    (unsigned long long)s, (unsigned long long)frac);
	}
}

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->b_max = max;
}

static int
buf_grow(struct buf *b, size_t need)
{
	size_t ncap;
	char *p;

	if (need + 1 > b->b_max) {
		b->b_toobig = 1;
		errno = EMSGSIZE;
		return -1;
	}
	if (need + 1 <= b->b_cap)
		return 0;
	ncap = b->b_cap ? b->b_cap : 256;
	while (ncap < need + 1)
		ncap *= 2;
	if (ncap > b->b_max)
		ncap = b->b_max;
	if ((p = realloc(b->b_data, ncap)) == NULL)
		return -1;
	b->b_data = p;
	b->b_cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	if (b->b_len + len < b->b_len || buf_grow(b, b->b_len + len) == -1)
		return -1;
	if (len)
		memcpy(b->b_data + b->b_len, data, len);
	b->b_len += len;
	b->b_data[b->b_len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_grow(b, b->b_len + (size_t)n) == -1)
		return -1;
	vsnprintf(b->b_data + b->b_len, b->b_cap - b->b_len, fmt, ap);
	b->b_len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rv;

	va_start(ap, fmt);
	rv = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rv;
}

int
buf_json_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = b->b_len;
	const unsigned char *p;
	char esc[7];

	if (buf_append(b, "\"", 1) == -1)
		goto fail;
	for (p = (const unsigned char *)s; *p; p++) {
		const unsigned char *q = p;
		size_t n;

		/* copy runs of plain characters at once */
		while (*q >= 0x20 && *q != '"' && *q != '\\' && *q != 0x7f)
			q++;
		n = (size_t)(q - p);
		if (n) {
			if (buf_append(b, p, n) == -1)
				goto fail;
			p = q;
			if (*p == '\0')
				break;
		}
		switch (*p) {
		case '"':  memcpy(esc, "\\\"", 3); break;
		case '\\': memcpy(esc, "\\\\", 3); break;
		case '\n': memcpy(esc, "\\n", 3); break;
		case '\r': memcpy(esc, "\\r", 3); break;
		case '\t': memcpy(esc, "\\t", 3); break;
		default:
			esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
			esc[4] = hex[*p >> 4]; esc[5] = hex[*p & 0xf];
			esc[6] = '\0';
			break;
		}
		if (buf_puts(b, esc) == -1)
			goto fail;
	}
	if (buf_append(b, "\"", 1) == -1)
		goto fail;
	return 0;
fail:
	b->b_len = start;
	if (b->b_data)
		b->b_data[start] = '\0';
	return -1;
}

void
buf_reset(struct buf *b)
{
	b->b_len = 0;
	b->b_toobig = 0;
	if (b->b_data)
		b->b_data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->b_data);
	b->b_data = NULL;
	b->b_len = b->b_cap = 0;
	b->b_toobig = 0;
}
