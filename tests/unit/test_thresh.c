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

/* a sequence of results and the status after each, for rise and fall */
struct thresh_case {
	const char	*tc_name;
	unsigned	 tc_rise;
	unsigned	 tc_fall;
	const char	*tc_seq;	/* results: P pass, F fail */
	const char	*tc_want;	/* status after each: U, P or F */
};

static const struct thresh_case cases[] = {
	{ "test_rise1_fall1_follows_every_result", 1, 1, "PFPPFF", "PFPPFF" },
	/* one pass is enough; three failures in a row to fail */
	{ "test_default_rise1_fall3", 1, 3, "PFFPFFFP", "PPPPPPFP" },
	/* from unknown, failures need `fall` too */
	{ "test_default_rise1_fall3_from_unknown", 1, 3, "FFFP", "UUFP" },
	{ "test_rise3_needs_consecutive_passes", 3, 2,
	  "PPFPPPFFP", "UUUUUPPFF" },
	/* an interrupted rise starts over */
	{ "test_rise3_interrupted_starts_over", 3, 2, "FFPPFPPP", "UFFFFFFP" },
	{ "test_zero_thresholds_act_as_one", 0, 0, "PF", "PF" },
};
#define NCASES	(sizeof(cases) / sizeof(cases[0]))

/* one row of cases[], the test's state; registered under its name */
static void
test_sequence(void **state)
{
	const struct thresh_case *tc = *state;
	char out[32];

	assert_true(strlen(tc->tc_seq) < sizeof(out));
	run_seq(tc->tc_seq, tc->tc_rise, tc->tc_fall, out);
	if (strcmp(out, tc->tc_want) != 0)
		fail_msg("%s: rise %u fall %u, results %s: status %s, want %s",
		    tc->tc_name, tc->tc_rise, tc->tc_fall, tc->tc_seq, out,
		    tc->tc_want);
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
	struct CMUnitTest tests[NCASES + 1];
	size_t i;

	for (i = 0; i < NCASES; i++)
		tests[i] = (struct CMUnitTest){ .name = cases[i].tc_name,
		    .test_func = test_sequence,
		    .initial_state = (void *)(uintptr_t)&cases[i] };
	tests[NCASES] = (struct CMUnitTest)cmocka_unit_test(test_counters);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
