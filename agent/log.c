/*
 * log.c - one line per event on stderr, JSON or text. Each line is built in a
 * fixed buffer and written with one write(2), so lines never interleave and
 * logging never allocates. Overlong messages are cut and marked with "...".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define LOG_LINE_MAX	4096

static enum log_format	log_fmt = LOG_FORMAT_JSON;
static enum log_level	log_min = LOG_INFO;
static unsigned long	log_nerrors;	/* error lines written */

static const char *const log_level_names[] = {
	[LOG_DEBUG] = "debug",
	[LOG_INFO] = "info",
	[LOG_WARN] = "warn",
	[LOG_ERROR] = "error",
};

const char *
log_level_str(enum log_level l)
{
	if ((unsigned)l > LOG_ERROR)
		return "unknown";
	return log_level_names[l];
}

const char *
log_format_str(enum log_format f)
{
	return f == LOG_FORMAT_TEXT ? "text" : "json";
}

void
log_setup(enum log_format f, enum log_level l)
{
	log_fmt = f;
	log_min = l;
}

struct line {
	char	 l_buf[LOG_LINE_MAX];
	size_t	 l_len;
	int	 l_cut;
	enum log_level l_lvl;
};

static void
line_put(struct line *ln, const char *s, size_t n)
{
	size_t room = sizeof(ln->l_buf) - 8 - ln->l_len; /* keep "...\"}\n" */

	if (n > room) {
		n = room;
		ln->l_cut = 1;
	}
	memcpy(ln->l_buf + ln->l_len, s, n);
	ln->l_len += n;
}

static void
line_str(struct line *ln, const char *s)
{
	line_put(ln, s, strlen(s));
}

/* a value: JSON-escaped (without quotes) or, in text, as is */
static void
line_val(struct line *ln, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	char esc[7];

	if (log_fmt == LOG_FORMAT_TEXT) {
		for (p = (const unsigned char *)s; *p; p++) {
			char c = (*p < 0x20 || *p == 0x7f) ? '?' : (char)*p;
			line_put(ln, &c, 1);
		}
		return;
	}
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\' && *p != 0x7f) {
			line_put(ln, (const char *)p, 1);
			continue;
		}
		switch (*p) {
		case '"':  line_str(ln, "\\\""); break;
		case '\\': line_str(ln, "\\\\"); break;
		case '\n': line_str(ln, "\\n"); break;
		case '\t': line_str(ln, "\\t"); break;
		default:
			esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
			esc[4] = hex[*p >> 4]; esc[5] = hex[*p & 0xf];
			line_put(ln, esc, 6);
		}
	}
}

static void
line_begin(struct line *ln, enum log_level lvl, const char *msg)
{
	char ts[32];

	ln->l_len = 0;
	ln->l_cut = 0;
	ln->l_lvl = lvl;
	fmt_rfc3339(wall_ms(), ts, sizeof(ts));
	if (log_fmt == LOG_FORMAT_TEXT) {
		line_str(ln, ts);
		line_str(ln, " ");
		line_str(ln, log_level_str(lvl));
		line_str(ln, " ");
		line_val(ln, msg);
		return;
	}
	line_str(ln, "{\"ts\":\"");
	line_str(ln, ts);
	line_str(ln, "\",\"level\":\"");
	line_str(ln, log_level_str(lvl));
	line_str(ln, "\",\"msg\":\"");
	line_val(ln, msg);
	line_str(ln, "\"");
}

/*
 * Keys whose values are numbers: JSON gets them unquoted, so a log pipeline
 * can compare and sum them. One table, by name or by suffix; a value that
 * is not a number after all (a "-" for unknown) is written as null.
 */
static const char *const log_num_keys[] = {
	"checks", "connections", "count", "errors", "failures", "gid",
	"limit", "listening", "pid", "port", "refused", "evicted", "runs",
	"skipped", "suppressed", "uid", "unchanged", "wanted",
	"weight", "attempt", "attempts", "exit_status", "signal", "more",
	"open", "code", "slices", "listing_pod", "showing_ready", NULL
};
static const char *const log_num_suffixes[] = {
	"_ms", "_pid", "_port", "_bytes", "_count", "_total", "_before",
	"_percent", NULL
};

UNITTEST_STATIC int
log_key_is_number(const char *key)
{
	size_t n = strlen(key), m;
	int i;

	for (i = 0; log_num_keys[i] != NULL; i++)
		if (strcmp(key, log_num_keys[i]) == 0)
			return 1;
	for (i = 0; log_num_suffixes[i] != NULL; i++) {
		m = strlen(log_num_suffixes[i]);
		if (n > m && strcmp(key + n - m, log_num_suffixes[i]) == 0)
			return 1;
	}
	return 0;
}

/* a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)? (no exponent: we write none) */
UNITTEST_STATIC int
log_is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return 0;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static void
line_field(struct line *ln, const char *key, const char *val)
{
	if (log_fmt == LOG_FORMAT_TEXT) {
		int quote = strchr(val, ' ') != NULL || *val == '\0';

		line_str(ln, " ");
		line_str(ln, key);
		line_str(ln, quote ? "=\"" : "=");
		line_val(ln, val);
		if (quote)
			line_str(ln, "\"");
		return;
	}
	line_str(ln, ",\"");
	line_val(ln, key);
	if (log_key_is_number(key)) {
		line_str(ln, "\":");
		line_str(ln, log_is_json_number(val) ? val : "null");
		return;
	}
	line_str(ln, "\":\"");
	line_val(ln, val);
	line_str(ln, "\"");
}

/* the whole of buf to stderr; 0, or -1 if it could not be written */
static int
log_write_all(const char *buf, size_t len)
{
	ssize_t n;
	size_t off = 0;

	while (off < len) {
		n = write(STDERR_FILENO, buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static void
line_end(struct line *ln)
{

	/* the reserve kept by line_put leaves room for this tail */
	if (ln->l_cut) {
		memcpy(ln->l_buf + ln->l_len, "...", 3);
		ln->l_len += 3;
	}
	if (log_fmt == LOG_FORMAT_JSON)
		ln->l_buf[ln->l_len++] = '}';
	ln->l_buf[ln->l_len++] = '\n';
	if (log_write_all(ln->l_buf, ln->l_len) == 0 &&
	    ln->l_lvl >= LOG_ERROR)
		log_nerrors++;
}

unsigned long
log_error_count(void)
{
	return log_nerrors;
}

/*
 * The last word, when nothing else may work: no formatting, no allocation,
 * no locale, one write(2). "nodowntime: error: WHAT: strerror(err)\n"
 */
void
log_emergency(const char *what, int err)
{
	char buf[512];
	size_t len = 0;
	const char *parts[4];
	const char *e = err != 0 ? strerrordesc_np(err) : NULL;
	size_t i, n;

	parts[0] = "nodowntime: error: ";
	parts[1] = what;
	parts[2] = e != NULL ? ": " : "";
	parts[3] = e != NULL ? e : "";
	for (i = 0; i < 4; i++) {
		n = strlen(parts[i]);
		if (n > sizeof(buf) - 1 - len)
			n = sizeof(buf) - 1 - len;
		memcpy(buf + len, parts[i], n);
		len += n;
	}
	buf[len++] = '\n';
	if (log_write_all(buf, len) == 0)
		log_nerrors++;
}

static void	vlog(enum log_level, int, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));

static void
vlog(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
{
	struct line ln;
	char msg[LOG_LINE_MAX / 2];
	int saved = errno;

	if (lvl < log_min)
		return;
	/* vsnprintf allocates for nothing we use, but if it fails the
	 * format itself still says what happened */
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		snprintf(msg, sizeof(msg), "%s", fmt);
	line_begin(&ln, lvl, msg);
	if (with_errno)
		line_field(&ln, "error", strerror(saved));
	line_end(&ln);
	errno = saved;
}

#define LOG_FN(name, lvl, err)					\
void								\
name(const char *fmt, ...)					\
{								\
	va_list ap;						\
	va_start(ap, fmt);					\
	vlog(lvl, err, fmt, ap);				\
	va_end(ap);						\
}

LOG_FN(log_debug, LOG_DEBUG, 0)
LOG_FN(log_info, LOG_INFO, 0)
LOG_FN(log_warn, LOG_WARN, 1)
LOG_FN(log_warnx, LOG_WARN, 0)
LOG_FN(log_error, LOG_ERROR, 1)
LOG_FN(log_errorx, LOG_ERROR, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_event(enum log_level lvl, const char *msg, ...)
{
	struct line ln;
	const char *k, *v;
	va_list ap;

	if (lvl < log_min)
		return;
	line_begin(&ln, lvl, msg);
	va_start(ap, msg);
	while ((k = va_arg(ap, const char *)) != NULL) {
		if ((v = va_arg(ap, const char *)) == NULL)
			v = "";
		line_field(&ln, k, v);
	}
	va_end(ap);
	line_end(&ln);
}
