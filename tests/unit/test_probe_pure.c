/*
 * test_probe_pure.c - the probes' pure helpers: expect.status matching and
 * its text, the first line of an exec check's output, and the scheduler's
 * jitter and first-run offset bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "probes/probe_impl.h"

static void
test_status_match(void **state)
{
	struct cfg_range r[] = { { 200, 200 }, { 204, 299 }, { 418, 418 } };

	(void)state;
	/* no list: the default 200-399 */
	assert_true(http_status_match(NULL, 0, 200));
	assert_true(http_status_match(NULL, 0, 399));
	assert_false(http_status_match(NULL, 0, 199));
	assert_false(http_status_match(NULL, 0, 400));
	assert_false(http_status_match(NULL, 0, 0));
	assert_true(http_status_match(r, 3, 200));
	assert_false(http_status_match(r, 3, 201));
	assert_true(http_status_match(r, 3, 204));
	assert_true(http_status_match(r, 3, 299));
	assert_false(http_status_match(r, 3, 300));
	assert_true(http_status_match(r, 3, 418));
	assert_false(http_status_match(r, 1, 418));
}

static void
test_status_fmt(void **state)
{
	struct cfg_range def[] = { { 200, 399 } };
	struct cfg_range r[] = { { 200, 200 }, { 204, 299 }, { 418, 418 } };
	char out[64], small[12];

	(void)state;
	http_status_fmt(def, 1, out, sizeof(out));
	assert_string_equal(out, "200-399");
	http_status_fmt(NULL, 0, out, sizeof(out));
	assert_string_equal(out, "200-399");
	http_status_fmt(r, 3, out, sizeof(out));
	assert_string_equal(out, "200,204-299,418");
	http_status_fmt(r, 3, small, sizeof(small));
	assert_string_equal(small, "200,204-...");
}

static void
first(const char *in, size_t outlen, const char *want)
{
	char out[300];

	assert_true(outlen <= sizeof(out));
	exec_first_line(in, strlen(in), out, outlen);
	assert_string_equal(out, want);
}

static void
test_exec_first_line(void **state)
{
	char big[5000];

	(void)state;
	first("", 64, "");
	first("disk full\nmore\n", 64, "disk full");
	first("\n\n  \t warning: low\r\nx", 64, "warning: low");
	first("trailing   \t\n", 64, "trailing");
	first("tab\there", 64, "tab here");
	first("bell\aesc\x1b[0m", 64, "bell?esc?[0m");
	first("caf\xc3\xa9 ok", 64, "caf\xc3\xa9 ok");
	first("bad \xff\xfe utf8 \xc3", 64, "bad ?? utf8 ?");
	first("overlong \xc0\xaf", 64, "overlong ??");
	/* cut with "...", never inside a UTF-8 sequence */
	first("abcdefghijklmnop", 10, "abcdef...");
	first("abcde\xc3\xa9\xc3\xa9zz", 10, "abcde...");
	first("ab\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 10, "ab\xe2\x82\xac...");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	exec_first_line(big, sizeof(big) - 1, big, 0);	/* no room: no-op */
	{
		char out[256];

		exec_first_line(big, sizeof(big) - 1, out, sizeof(out));
		assert_int_equal(strlen(out), 255);
		assert_string_equal(out + 252, "...");
	}
}

/* exec_last_line on in; want NULL for none */
static void
last(const char *in, const char *want)
{
	const char *l;
	size_t n = 0;

	l = exec_last_line(in, strlen(in), &n);
	if (want == NULL) {
		assert_null(l);
		return;
	}
	assert_non_null(l);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(l, want, n);
}

/* the reason's line: the last non-blank one, its end not included */
static void
test_exec_last_line(void **state)
{
	(void)state;
	last("", NULL);
	last("\n\n \t\r\n", NULL);
	last("one", "one");
	last("checking...\nERROR: disk full\n", "ERROR: disk full");
	last("a\nb\n\n  \n\t\n", "b");		/* trailing blank lines */
	last("a\n  indented  \n", "  indented");	/* trimmed at the end */
	last("10%\r50%\r100%", "100%");		/* a progress bar */
	last("dos\r\nline\r\n", "line");
	last("x\n", "x");
}

static void
test_jitter_bounds(void **state)
{
	static const uint64_t ivs[] = { 1, 5, 10, 100, 200, 1000, 10000,
	    3600000 };
	uint64_t iv, v, lo, hi, sum;
	uint32_t x = 1;
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(ivs) / sizeof(ivs[0]); i++) {
		iv = ivs[i];
		lo = UINT64_MAX;
		hi = 0;
		sum = 0;
		for (k = 0; k < 20000; k++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			v = sched_next_interval(iv, x);
			assert_true(v >= iv - iv / 10);
			assert_true(v <= iv + iv / 10);
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
			sum += v;
			v = sched_first_offset(iv, x);
			assert_true(v < (iv < 1000 ? iv : 1000));
		}
		if (iv >= 100 && iv <= 10000) { /* the whole band is used */
			assert_int_equal(lo, iv - iv / 10);
			assert_int_equal(hi, iv + iv / 10);
			/* and centred on the interval: no drift on average */
			assert_true(sum / 20000 >= iv - iv / 100 - 1);
			assert_true(sum / 20000 <= iv + iv / 100 + 1);
		}
	}
	assert_int_equal(sched_next_interval(0, 7), 0);
	assert_int_equal(sched_first_offset(0, 7), 0);
	assert_int_equal(sched_next_interval(1000, 0), 900);
	assert_int_equal(sched_next_interval(1000, 200), 1100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_match),
		cmocka_unit_test(test_status_fmt),
		cmocka_unit_test(test_exec_first_line),
		cmocka_unit_test(test_exec_last_line),
		cmocka_unit_test(test_jitter_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
