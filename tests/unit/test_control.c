/* test_control.c - the control protocol's request lines and the clients'
 * duration parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "agent/client.h"
#include "agent/control.h"
#include "config/config.h"

#include <unistd.h>

static enum control_cmd
parse(const char *s)
{
	return control_parse_line(s, strlen(s));
}

static void
test_commands(void **state)
{
	(void)state;
	assert_int_equal(parse("drain"), CONTROL_DRAIN);
	assert_int_equal(parse("drain\r"), CONTROL_DRAIN);
	assert_int_equal(parse("status"), CONTROL_STATUS);
	assert_int_equal(parse("status text"), CONTROL_STATUS_TEXT);
	assert_int_equal(parse("resume"), CONTROL_RESUME);
	assert_int_equal(parse("quit"), CONTROL_QUIT);
	assert_int_equal(parse("quit\r"), CONTROL_QUIT);
}

static void
test_garbage(void **state)
{
	(void)state;
	assert_int_equal(parse(""), CONTROL_UNKNOWN);
	assert_int_equal(parse("\r"), CONTROL_UNKNOWN);
	assert_int_equal(parse("DRAIN"), CONTROL_UNKNOWN);
	assert_int_equal(parse("drain "), CONTROL_UNKNOWN);
	assert_int_equal(parse(" drain"), CONTROL_UNKNOWN);
	assert_int_equal(parse("drainx"), CONTROL_UNKNOWN);
	assert_int_equal(parse("dra"), CONTROL_UNKNOWN);
	assert_int_equal(parse("status json"), CONTROL_UNKNOWN);
	assert_int_equal(parse("QUIT"), CONTROL_UNKNOWN);
	assert_int_equal(parse("quit now"), CONTROL_UNKNOWN);
	assert_int_equal(parse("GET / HTTP/1.1"), CONTROL_UNKNOWN);
	/* an embedded NUL is not "drain" */
	assert_int_equal(control_parse_line("drain\0x", 7), CONTROL_UNKNOWN);
	assert_int_equal(control_parse_line("drain\0x", 5), CONTROL_DRAIN);
}

static uint64_t
dur(const char *s)
{
	uint64_t ms = 424242;

	if (client_parse_duration(s, &ms) == -1)
		return UINT64_MAX;
	return ms;
}

static void
test_durations(void **state)
{
	(void)state;
	assert_int_equal(dur("250ms"), 250);
	assert_int_equal(dur("5s"), 5000);
	assert_int_equal(dur("1m"), 60000);
	assert_int_equal(dur("1h30m"), 5400000);
	assert_int_equal(dur("1m30s500ms"), 90500);
	assert_int_equal(dur("1.5s"), 1500);
	assert_int_equal(dur("0.25s"), 250);
	assert_int_equal(dur("0s"), 0);
	assert_int_equal(dur("10"), 10000);	/* bare: seconds */
	assert_int_equal(dur("2.5"), 2500);
}

static void
test_bad_durations(void **state)
{
	(void)state;
	assert_int_equal(dur(""), UINT64_MAX);
	assert_int_equal(dur("s"), UINT64_MAX);
	assert_int_equal(dur("5x"), UINT64_MAX);
	assert_int_equal(dur("-5s"), UINT64_MAX);
	assert_int_equal(dur("5 s"), UINT64_MAX);
	assert_int_equal(dur("1.s"), UINT64_MAX);
	assert_int_equal(dur(".5s"), UINT64_MAX);
	assert_int_equal(dur("5s10"), UINT64_MAX);
	assert_int_equal(dur("99999999999999999999s"), UINT64_MAX);
	assert_int_equal(dur("18446744073709551615h"), UINT64_MAX);
	assert_int_equal(client_parse_duration(NULL, &(uint64_t){0}), -1);
}

static void
test_commands_known(void **state)
{
	(void)state;
	assert_true(client_is_command("prestop"));
	assert_true(client_is_command("wait"));
	assert_true(client_is_command("status"));
	assert_true(client_is_command("resume"));
	assert_true(client_is_command("wrap"));
	assert_false(client_is_command("run"));
	assert_false(client_is_command(NULL));
}

/* control_allowed_uids: empty = any; else the listed and the agent's own */
static void
test_peer_allowed(void **state)
{
	unsigned uids[] = { 1000, 2000 };
	struct config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_true(control_peer_allowed(&cfg, 4242));
	cfg.cf_control_uids = uids;
	cfg.cf_ncontrol_uids = 2;
	assert_true(control_peer_allowed(&cfg, 1000));
	assert_true(control_peer_allowed(&cfg, 2000));
	assert_false(control_peer_allowed(&cfg, 4242));
	assert_false(control_peer_allowed(&cfg, (uid_t)-1));
	assert_true(control_peer_allowed(&cfg, geteuid()));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_peer_allowed),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_bad_durations),
		cmocka_unit_test(test_commands_known),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
