/*
 * test_log.c - the log lines (agent/log.c): numbers are JSON numbers (a
 * "-" for unknown is null), strings stay strings, and the emergency line
 * that every failed exit falls back on needs no formatting.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/log.h"

/* what fn writes to stderr, into buf */
static void
capture(void (*fn)(void), char *buf, size_t len)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	fn();
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, len - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
}

static void
test_number_keys(void **state)
{
	(void)state;
	assert_true(log_key_is_number("after_ms"));
	assert_true(log_key_is_number("drain_ms"));
	assert_true(log_key_is_number("checks"));
	assert_true(log_key_is_number("connections"));
	assert_true(log_key_is_number("sender_pid"));
	assert_true(log_key_is_number("app_port"));
	assert_true(log_key_is_number("suppressed_before"));
	assert_false(log_key_is_number("check"));
	assert_false(log_key_is_number("reason"));
	assert_false(log_key_is_number("by"));
	assert_false(log_key_is_number("version"));
	assert_false(log_key_is_number("_ms"));	/* a suffix alone */
}

static void
test_number_syntax(void **state)
{
	static const char *const yes[] = { "0", "7", "120", "-3", "0.5",
	    "18446744073709551615", NULL };
	static const char *const no[] = { "", "-", "01", "1.", ".5", "1e3",
	    "0x10", "12a", " 1", "1 ", "--1", NULL };
	int i;

	(void)state;
	for (i = 0; yes[i] != NULL; i++)
		assert_true(log_is_json_number(yes[i]));
	for (i = 0; no[i] != NULL; i++)
		assert_false(log_is_json_number(no[i]));
}

static void
emit_json(void)
{
	log_setup(LOG_FORMAT_JSON, LOG_DEBUG);
	log_event(LOG_INFO, "drain phase", "from", "serving", "after_ms", "15",
	    "connections", "-", "check", "123", "checks", "2", NULL);
}

static void
test_json_numbers(void **state)
{
	char buf[4096];

	(void)state;
	capture(emit_json, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"after_ms\":15,"));
	assert_non_null(strstr(buf, "\"connections\":null,"));
	assert_non_null(strstr(buf, "\"checks\":2}"));
	/* a check's name is a string even when it looks like a number */
	assert_non_null(strstr(buf, "\"check\":\"123\","));
	assert_non_null(strstr(buf, "\"from\":\"serving\","));
}

static void
emit_text(void)
{
	log_setup(LOG_FORMAT_TEXT, LOG_DEBUG);
	log_event(LOG_INFO, "drain phase", "after_ms", "15", "connections",
	    "-", NULL);
}

static void
test_text_unchanged(void **state)
{
	char buf[4096];

	(void)state;
	capture(emit_text, buf, sizeof(buf));
	assert_non_null(strstr(buf, " after_ms=15 connections=-\n"));
}

static void
emit_emergency(void)
{
	log_emergency("start-up failed: the HTTP server", ENOMEM);
	log_emergency("no errno", 0);
}

static void
test_emergency(void **state)
{
	char buf[4096];
	unsigned long before = log_error_count();

	(void)state;
	capture(emit_emergency, buf, sizeof(buf));
	assert_string_equal(buf, "nodowntime: error: start-up failed: the "
	    "HTTP server: Cannot allocate memory\n"
	    "nodowntime: error: no errno\n");
	assert_int_equal(log_error_count(), before + 2);
}

static void
emit_error(void)
{
	log_setup(LOG_FORMAT_JSON, LOG_INFO);
	log_debug("not shown");
	log_info("no error");
	log_errorx("one error");
}

static void
test_error_count(void **state)
{
	char buf[4096];
	unsigned long before = log_error_count();

	(void)state;
	capture(emit_error, buf, sizeof(buf));
	assert_int_equal(log_error_count(), before + 1);
	assert_null(strstr(buf, "not shown"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_number_keys),
		cmocka_unit_test(test_number_syntax),
		cmocka_unit_test(test_json_numbers),
		cmocka_unit_test(test_text_unchanged),
		cmocka_unit_test(test_emergency),
		cmocka_unit_test(test_error_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
