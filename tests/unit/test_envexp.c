/* test_envexp.c - env_expand(): ${VAR}, $$, and the errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"

static int
setup(void **state)
{
	(void)state;
	setenv("NDT_T_TOKEN", "s3cr3t", 1);
	setenv("NDT_T_EMPTY", "", 1);
	setenv("NDT_T_DOLLAR", "a${NDT_T_TOKEN}$$b", 1);
	unsetenv("NDT_T_UNSET");
	return 0;
}

static const struct {
	const char	*in;
	const char	*out;
	int		 used;
} good[] = {
	{ "",				"",			0 },
	{ "plain",			"plain",		0 },
	{ "${NDT_T_TOKEN}",		"s3cr3t",		1 },
	{ "Bearer ${NDT_T_TOKEN}",	"Bearer s3cr3t",	1 },
	{ "${NDT_T_TOKEN}${NDT_T_TOKEN}", "s3cr3ts3cr3t",	1 },
	{ "x${NDT_T_EMPTY}y",		"xy",			1 },
	{ "$$",				"$",			0 },
	{ "$${NDT_T_TOKEN}",		"${NDT_T_TOKEN}",	0 },
	{ "$$$${X}",			"$${X}",		0 },
	{ "10$",			"10$",			0 },
	{ "$5 and $x",			"$5 and $x",		0 },
	{ "a$",				"a$",			0 },
	{ "}{$}",			"}{$}",			0 },
	/* expansion is not recursive */
	{ "${NDT_T_DOLLAR}",		"a${NDT_T_TOKEN}$$b",	1 },
};

static const struct {
	const char	*in;
	const char	*why;
} bad[] = {
	{ "${NDT_T_UNSET}",	"environment variable NDT_T_UNSET is not set" },
	{ "x ${NDT_T_UNSET} y",	"NDT_T_UNSET" },
	{ "${",			"unterminated" },
	{ "abc ${NDT_T_TOKEN",	"unterminated" },
	{ "${}",		"invalid variable name" },
	{ "${1X}",		"invalid variable name" },
	{ "${A-B}",		"invalid variable name" },
	{ "${A B}",		"invalid variable name" },
	{ "${${X}}",		"invalid variable name" },
};

static void
test_envexp_good(void **state)
{
	char err[256], *out;
	size_t i;
	int used;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		used = -1;
		if (env_expand(good[i].in, &out, &used, err, sizeof(err)) != 0)
			fail_msg("'%s': %s", good[i].in, err);
		assert_string_equal(out, good[i].out);
		assert_int_equal(used, good[i].used);
		free(out);
	}
	/* used_var may be NULL */
	assert_int_equal(env_expand("${NDT_T_TOKEN}", &out, NULL, err,
	    sizeof(err)), 0);
	assert_string_equal(out, "s3cr3t");
	free(out);
}

static void
test_envexp_bad(void **state)
{
	char err[256], *out;
	size_t i;
	int used;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = (char *)"x";
		used = 1;
		err[0] = '\0';
		if (env_expand(bad[i].in, &out, &used, err, sizeof(err)) != -1)
			fail_msg("'%s' accepted", bad[i].in);
		assert_null(out);
		assert_int_equal(used, 0);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].in,
			    err, bad[i].why);
	}
}

static void
test_envexp_cap(void **state)
{
	char err[256], *big, *out;
	size_t n = 40000;

	(void)state;
	/* 40k * 2 expansions: past the 64 KiB cap */
	big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'a', n);
	big[n] = '\0';
	setenv("NDT_T_BIG", big, 1);
	free(big);
	assert_int_equal(env_expand("${NDT_T_BIG}${NDT_T_BIG}", &out, NULL,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));
	unsetenv("NDT_T_BIG");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envexp_good),
		cmocka_unit_test(test_envexp_bad),
		cmocka_unit_test(test_envexp_cap),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
