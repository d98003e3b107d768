/*
 * test_envexp.c - env_expand(): ${VAR}, $$, and the errors; the values it
 * records from a config's strings, and env_mask(), which hides them in
 * check outputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
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

/* the values a config's strings got from ${VAR}: recorded once each,
 * longest first, not the short ones; numbers and durations are not */
static void
test_envexp_record(void **state)
{
	static const char yaml[] =
	    "checks:\n"
	    "  - name: api\n"
	    "    http:\n"
	    "      url: http://127.0.0.1:${NDT_T_PORT}/h?t=${NDT_T_TOKEN}\n"
	    "      headers: {Authorization: \"Bearer ${NDT_T_LONG}\"}\n"
	    "    interval: ${NDT_T_IV}\n"
	    "  - name: cmd\n"
	    "    exec: {command: [/bin/sh, -c, \"echo ${NDT_T_TOKEN} "
	    "${NDT_T_SHORT}\"]}\n";
	struct cfg_diags dg;
	struct config *cf;
	char err[256], *out;
	struct env_secrets sc = { NULL, 0 };

	(void)state;
	setenv("NDT_T_PORT", "18080", 1);
	setenv("NDT_T_LONG", "a-much-longer-token", 1);
	setenv("NDT_T_IV", "2500ms", 1);
	setenv("NDT_T_SHORT", "abc", 1);
	cfg_diags_init(&dg);
	if (config_parse("t.yaml", yaml, sizeof(yaml) - 1, &cf, &dg) != 0) {
		cfg_diags_print(&dg, stderr);
		fail_msg("config refused");
	}
	/* 18080 is in the URL, a string: masked like any value there */
	assert_int_equal(cf->cf_secrets.sc_n, 3);
	assert_string_equal(cf->cf_secrets.sc_v[0].sv_val,
	    "a-much-longer-token");
	assert_string_equal(cf->cf_secrets.sc_v[1].sv_val, "s3cr3t");
	assert_string_equal(cf->cf_secrets.sc_v[2].sv_val, "18080");
	config_free(cf);
	cfg_diags_free(&dg);

	/* env_expand_rec() alone */
	assert_int_equal(env_expand_rec("${NDT_T_TOKEN}:${NDT_T_TOKEN}", &out,
	    NULL, &sc, err, sizeof(err)), 0);
	free(out);
	assert_int_equal(sc.sc_n, 1);
	assert_int_equal(sc.sc_v[0].sv_len, 6);
	env_secrets_free(&sc);
	assert_int_equal(sc.sc_n, 0);
}

static void
mask(const struct env_secrets *sc, const char *in, unsigned flags,
    const char *want)
{
	char buf[256];
	size_t n = strlen(in);

	memcpy(buf, in, n + 1);
	n = env_mask(sc, buf, n, flags);
	buf[n] = '\0';
	if (strcmp(buf, want) != 0)
		fail_msg("mask('%s', %u): '%s', want '%s'", in, flags, buf,
		    want);
}

static void
test_envexp_mask(void **state)
{
	struct env_secrets sc = { NULL, 0 };
	char s[64], nul[] = "a\0tok3n\0b";

	(void)state;
	mask(&sc, "nothing recorded", 0, "nothing recorded");
	mask(NULL, "no list", 0, "no list");
	assert_int_equal(env_secrets_add(&sc, "tok3n", 5), 0);
	assert_int_equal(env_secrets_add(&sc, "abc", 3), 0);	/* too short */
	assert_int_equal(env_secrets_add(&sc, "tok3n", 5), 0);	/* known */
	assert_int_equal(env_secrets_add(&sc, "xtok3nx-long", 12), 0);
	assert_int_equal(sc.sc_n, 2);
	mask(&sc, "", 0, "");
	mask(&sc, "tok3n", 0, "***");
	mask(&sc, "Bearer tok3n, again tok3ntok3n.", 0,
	    "Bearer ***, again ******.");
	mask(&sc, "abc is short: kept", 0, "abc is short: kept");
	/* the longer value first, whole: no piece of it is left */
	mask(&sc, "[xtok3nx-long]", 0, "[***]");
	mask(&sc, "tok3", 0, "tok3");		/* not a value */
	/* a text whose head was cut off: a value's tail there goes too,
	 * with as many stars as bytes up to three */
	mask(&sc, "3n rest", ENV_MASK_HEAD, "** rest");
	mask(&sc, "k3n rest tok3n", ENV_MASK_HEAD, "*** rest ***");
	mask(&sc, "x-long: x", ENV_MASK_HEAD, "***: x");
	mask(&sc, "3n rest", 0, "3n rest");
	/* bytes: a NUL is data */
	assert_int_equal(env_mask(&sc, nul, sizeof(nul) - 1, 0), 7);
	assert_memory_equal(nul, "a\0***\0b", 7);
	snprintf(s, sizeof(s), "exit status 1: token=tok3n");
	env_mask_str(&sc, s);
	assert_string_equal(s, "exit status 1: token=***");
	env_mask_str(&sc, NULL);
	env_secrets_free(&sc);
	env_secrets_free(&sc);	/* twice: a no-op */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envexp_good),
		cmocka_unit_test(test_envexp_bad),
		cmocka_unit_test(test_envexp_cap),
		cmocka_unit_test(test_envexp_record),
		cmocka_unit_test(test_envexp_mask),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
