/*
 * test_thresh.c - rise/fall thresholds (probes/threshold.c): unknown until
 * `rise` passes or `fall` failures in a row, flips only after a full run of
 * the opposite result, counters reset and saturate.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "probes/probe_impl.h"

/* feed "PPF..." and return the status after each result as "UPF" */
static void
run_seq(const char *seq, unsigned rise, unsigned fall, char *out)
{
	enum check_status st = CHECK_UNKNOWN;
	unsigned ok = 0, fail = 0;
	size_t i;

	for (i = 0; seq[i] != '\0'; i++) {
		st = threshold_step(st, seq[i] == 'P', rise, fall, &ok, &fail);
		out[i] = st == CHECK_UNKNOWN ? 'U' :
		    st == CHECK_PASSING ? 'P' : 'F';
	}
	out[i] = '\0';
}

static void
test_rise1_fall1_follows_every_result(void **state)
{
	char out[32];

	(void)state;
	run_seq("PFPPFF", 1, 1, out);
	assert_string_equal(out, "PFPPFF");
}

static void
test_default_rise1_fall3(void **state)
{
	char out[32];

	(void)state;
	/* one pass is enough; three failures in a row to fail */
	run_seq("PFFPFFFP", 1, 3, out);
	assert_string_equal(out, "PPPPPPFP");
	/* from unknown, failures need `fall` too */
	run_seq("FFFP", 1, 3, out);
	assert_string_equal(out, "UUFP");
}

static void
test_rise3_needs_consecutive_passes(void **state)
{
	char out[32];

	(void)state;
	run_seq("PPFPPPFFP", 3, 2, out);
	assert_string_equal(out, "UUUUUPPFF");
	/* an interrupted rise starts over */
	run_seq("FFPPFPPP", 3, 2, out);
	assert_string_equal(out, "UFFFFFFP");
}

static void
test_zero_thresholds_act_as_one(void **state)
{
	char out[32];

	(void)state;
	run_seq("PF", 0, 0, out);
	assert_string_equal(out, "PF");
}

static void
test_counters(void **state)
{
	enum check_status st = CHECK_PASSING;
	unsigned ok = 5, fail = 0;

	(void)state;
	st = threshold_step(st, 0, 1, 3, &ok, &fail);
	assert_int_equal(ok, 0);
	assert_int_equal(fail, 1);
	assert_int_equal(st, CHECK_PASSING);
	ok = UINT_MAX;
	fail = 0;
	st = threshold_step(st, 1, 1, 3, &ok, &fail);
	assert_int_equal(ok, UINT_MAX);	/* saturates, never wraps */
	assert_int_equal(st, CHECK_PASSING);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rise1_fall1_follows_every_result),
		cmocka_unit_test(test_default_rise1_fall3),
		cmocka_unit_test(test_rise3_needs_consecutive_passes),
		cmocka_unit_test(test_zero_thresholds_act_as_one),
		cmocka_unit_test(test_counters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
