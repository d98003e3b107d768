/* log.h - one line per event to stderr, JSON (default) or text. */
#ifndef NDT_LOG_H
#define NDT_LOG_H

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR
};

enum log_format {
	LOG_FORMAT_JSON,
	LOG_FORMAT_TEXT
};

const char	*log_level_str(enum log_level);
const char	*log_format_str(enum log_format);
void		 log_setup(enum log_format, enum log_level);

/* printf-style messages; log_warn/log_error append strerror(errno) */
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_errorx(const char *, ...) __attribute__((format(printf, 1, 2)));
/* start-up failures and broken invariants only: logs and exit(1) */
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* error lines written so far (an exit path checks that it said why) */
unsigned long	 log_error_count(void);
/* one preformatted write(2), for when even formatting may fail:
 * "nodowntime: error: WHAT: strerror(err)" (err 0: WHAT alone) */
void		 log_emergency(const char *what, int err);

/*
 * A structured event: a message plus string key/value pairs, NULL-terminated.
 *   log_event(LOG_INFO, "check transition", "check", name, "from", "unknown",
 *       "to", "passing", NULL);
 * JSON: {"ts":"...","level":"info","msg":"check transition","check":"db",...}
 * text: 2026-11-26T13:50:55.123Z info check transition check=db from=...
 */
void	log_event(enum log_level, const char *msg, ...)
	    __attribute__((sentinel));

#ifdef UNITTEST
/* JSON logs: is this key's value a number; is this text a JSON number */
int	log_key_is_number(const char *);
int	log_is_json_number(const char *);
#endif

#endif
