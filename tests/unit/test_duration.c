/* test_duration.c - duration_parse(): the accepted forms, the refusals,
 * and that everything fmt_duration() prints parses back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"
#include "config/cfg_priv.h"
#include "agent/util.h"

static const struct {
	const char	*in;
	uint64_t	 ms;
} good[] = {
	{ "0",		0 },
	{ "0s",		0 },
	{ "0ms",	0 },
	{ "250ms",	250 },
	{ "5s",		5000 },
	{ "1m",		60000 },
	{ "1h",		3600000 },
	{ "1h30m",	5400000 },
	{ "1m30s",	90000 },
	{ "1.5s",	1500 },
	{ "0.25s",	250 },
	{ ".5s",	500 },
	{ "1.5m",	90000 },
	{ "2h0m1.001s",	7201001 },
	{ "1s500ms",	1500 },
	{ "24h",	86400000 },
	{ "1440m",	86400000 },
	{ "86400000ms",	86400000 },
};

static const struct {
	const char	*in;
	const char	*why;		/* substring of the message */
} bad[] = {
	{ "",		"empty" },
	{ "5",		"write 5s" },
	{ "30",		"write 30s" },
	{ "00",		"write 00s" },
	{ "-5s",	"negative" },
	{ "-0s",	"negative" },
	{ "fast",	"expected a duration like 250ms, 5s, 1m" },
	{ "5x",		"expected a duration" },
	{ "5 s",	"expected a duration" },
	{ " 5s",	"expected a duration" },
	{ "5s ",	"expected a duration" },
	{ "s",		"expected a duration" },
	{ ".s",		"expected a duration" },
	{ "5S",		"expected a duration" },
	{ "1d",		"expected a duration" },
	{ "5us",	"expected a duration" },
	{ "1.0000000001s", "expected a duration" },
	{ "1.5ms",	"finer than a millisecond" },
	{ "0.0001s",	"finer than a millisecond" },
	{ "25h",	"longer than 24h" },
	{ "24h1ms",	"longer than 24h" },
	{ "99999999999999999999999h", "longer than 24h" },
	{ "18446744073709551616ms", "longer than 24h" },
};

static void
test_duration_good(void **state)
{
	uint64_t ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = 12345;
		if (duration_parse(good[i].in, &ms) != 0)
			fail_msg("'%s' refused", good[i].in);
		if (ms != good[i].ms)
			fail_msg("'%s' -> %llu, want %llu", good[i].in,
			    (unsigned long long)ms,
			    (unsigned long long)good[i].ms);
	}
}

static void
test_duration_bad(void **state)
{
	char err[256];
	uint64_t ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 777;
		err[0] = '\0';
		if (cfg_duration_parse(bad[i].in, &ms, err, sizeof(err)) != -1)
			fail_msg("'%s' accepted as %llu", bad[i].in,
			    (unsigned long long)ms);
		assert_int_equal(ms, 777);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].in,
			    err, bad[i].why);
		assert_int_equal(duration_parse(bad[i].in, &ms), -1);
	}
	assert_int_equal(duration_parse(NULL, &ms), -1);
}

/* what the agent prints, the config reads: check-config round-trips */
static void
test_duration_fmt_roundtrip(void **state)
{
	static const uint64_t v[] = { 0, 1, 10, 250, 999, 1000, 1001, 1010,
	    1100, 1500, 59999, 60000, 60001, 90000, 3599999, 3600000,
	    3600500, 5400000, 7201001, 86399999, 86400000 };
	char buf[32];
	uint64_t ms, x;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		fmt_duration(v[i], buf, sizeof(buf));
		if (duration_parse(buf, &ms) != 0 || ms != v[i])
			fail_msg("%llu -> '%s' does not parse back",
			    (unsigned long long)v[i], buf);
	}
	/* and a sweep with a prime step */
	for (x = 0; x <= CFG_MAX_DURATION_MS; x += 7919 * 13) {
		fmt_duration(x, buf, sizeof(buf));
		if (duration_parse(buf, &ms) != 0 || ms != x)
			fail_msg("%llu -> '%s' does not parse back",
			    (unsigned long long)x, buf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_good),
		cmocka_unit_test(test_duration_bad),
		cmocka_unit_test(test_duration_fmt_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
