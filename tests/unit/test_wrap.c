/* test_wrap.c - what wrap decides without a process: which `status` replies
 * mean ready (for wait) or dependencies ready (for wrap), what its
 * not-ready message lists, and CMD's exit status as a shell gives it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>

#include <errno.h>
#include <string.h>

#include "agent/clconn.h"

/* the shape ctlstatus.c writes, cut to what the parsers look at */
#define TOP(ready, deps) "{\"phase\":\"serving\",\"phase_ms\":5,"	\
	"\"drain_ms\":0,\"live\":true,\"ready\":" ready ",\"startup\":false," \
	deps "\"exiting\":false,\"app_port\":8080,\"connections\":0,"	\
	"\"listening\":0,\"ended\":{},\"checks\":["
#define CHECK(name, st, crit, out, self) "{\"name\":\"" name "\","	\
	"\"status\":\"" st "\",\"critical\":" crit ",\"fail_open\":false," \
	"\"time\":null,\"duration_ms\":0.000,\"output\":\"" out "\","	\
	"\"kind\":\"tcp\",\"affects\":[\"ready\"],\"runs\":1,"		\
	"\"results\":{},\"transitions\":0,\"skipped\":0,"		\
	"\"consecutive_ok\":0,\"consecutive_fail\":1" self "}"

static void
test_says_deps(void **state)
{
	(void)state;
	assert_true(cl_status_says(TOP("false",
	    "\"dependencies_ready\":true,") "]}", CL_WANT_DEPS));
	assert_false(cl_status_says(TOP("false",
	    "\"dependencies_ready\":false,") "]}", CL_WANT_DEPS));
	/* wait still wants the whole of ready */
	assert_false(cl_status_says(TOP("false",
	    "\"dependencies_ready\":true,") "]}", CL_WANT_READY));
	assert_true(cl_status_says(TOP("true",
	    "\"dependencies_ready\":true,") "]}", CL_WANT_READY));
	/* an agent without the key: ready decides */
	assert_true(cl_status_says(TOP("true", "") "]}", CL_WANT_DEPS));
	assert_false(cl_status_says(TOP("false", "") "]}", CL_WANT_DEPS));
	/* a key inside checks[] is not the top-level one */
	assert_false(cl_status_says("{\"phase\":\"serving\",\"checks\":[{"
	    "\"dependencies_ready\":true,\"ready\":true}]}", CL_WANT_DEPS));
	assert_false(cl_status_says("error busy\n", CL_WANT_DEPS));
	assert_false(cl_status_says("", CL_WANT_READY));
}

/* the first "ready" is the pod's: a slice shown ready in the kubernetes
 * object that follows is not */
static void
test_says_slice_is_not_ready(void **state)
{
	(void)state;
	assert_false(cl_status_says("{\"phase\":\"draining\",\"ready\":false,"
	    "\"kubernetes\":{\"slices\":[{\"name\":\"s\",\"ready\":true}]},"
	    "\"checks\":[]}", CL_WANT_READY));
}

static void
test_summary(void **state)
{
	const char *json = TOP("false", "\"dependencies_ready\":false,")
	    CHECK("app", "failing", "true", "connection refused",
	    ",\"self\":true") ","
	    CHECK("db", "failing", "true", "timed out", ",\"self\":false") ","
	    CHECK("cache", "unknown", "false", "", ",\"self\":false") ","
	    CHECK("ok", "passing", "true", "", ",\"self\":false") "]}\n";
	char out[512];

	(void)state;
	cl_status_summary(json, CL_WANT_READY, out, sizeof(out));
	assert_string_equal(out, "phase serving; check app failing: "
	    "connection refused; check db failing: timed out; check cache "
	    "unknown (not critical)");
	/* wrap leaves out the app's own check */
	cl_status_summary(json, CL_WANT_DEPS, out, sizeof(out));
	assert_string_equal(out, "phase serving; check db failing: timed out; "
	    "check cache unknown (not critical)");
	/* an older agent, no "self": every check */
	cl_status_summary(TOP("false", "") CHECK("app", "failing", "true",
	    "refused", "") "]}", CL_WANT_DEPS, out, sizeof(out));
	assert_string_equal(out, "phase serving; check app failing: refused");
	/* a "self" further on belongs to the next check, not this one */
	cl_status_summary(TOP("false", "") CHECK("db", "failing", "true",
	    "x", "") "," CHECK("app", "failing", "true", "y",
	    ",\"self\":true") "]}", CL_WANT_DEPS, out, sizeof(out));
	assert_string_equal(out, "phase serving; check db failing: x");
	cl_status_summary("error forbidden: no\n", CL_WANT_DEPS, out,
	    sizeof(out));
	assert_string_equal(out, "error forbidden: no");
}

static void
test_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(wrap_exit_code(W_EXITCODE(0, 0)), 0);
	assert_int_equal(wrap_exit_code(W_EXITCODE(3, 0)), 3);
	assert_int_equal(wrap_exit_code(W_EXITCODE(255, 0)), 255);
	assert_int_equal(wrap_exit_code(W_EXITCODE(0, 9)), 137);
	assert_int_equal(wrap_exit_code(W_EXITCODE(0, 15)), 143);
	assert_int_equal(wrap_exit_code(W_EXITCODE(0, 6) | 0x80), 134);
	assert_int_equal(wrap_exec_code(ENOENT), 127);
	assert_int_equal(wrap_exec_code(ENOTDIR), 127);
	assert_int_equal(wrap_exec_code(EACCES), 126);
	assert_int_equal(wrap_exec_code(ENOEXEC), 126);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_says_deps),
		cmocka_unit_test(test_says_slice_is_not_ready),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_exit_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
