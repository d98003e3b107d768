/*
 * test_template.c - a string that used ${VAR} is printed as written, so
 * check-config never shows the expanded value (a token in a URL, a body,
 * an argument) and its output still parses back to the same config; and
 * how a plain string's '$' is written so that it expands back to itself.
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

#define SECRET	"hunter2-tok"

static const char yaml[] =
    "listen: \"127.0.0.1:${NDT_T_PORT}\"\n"
    "drain:\n"
    "  notify:\n"
    "    http: {url: \"http://127.0.0.1:8080/drain?key=${NDT_T_SECRET}\"}\n"
    "checks:\n"
    "- name: api\n"
    "  http:\n"
    "    url: \"http://u:${NDT_T_SECRET}@127.0.0.1:8080/h?t=${NDT_T_SECRET}"
    "&p=$$5\"\n"
    "    body: '{\"token\": \"${NDT_T_SECRET}\"}'\n"
    "    headers: {Authorization: \"Bearer ${NDT_T_SECRET}\"}\n"
    "- name: script\n"
    "  exec:\n"
    "    command: [/bin/echo, \"--token=${NDT_T_SECRET}\", \"50$$\"]\n";

static int
setup(void **state)
{
	(void)state;
	setenv("NDT_T_SECRET", SECRET, 1);
	setenv("NDT_T_PORT", "3999", 1);
	unsetenv("APP_BIND_ADDRESS");
	unsetenv("APP_SHUTDOWN_TIMEOUT");
	return 0;
}

static struct config *
must_parse(const char *text)
{
	struct cfg_diags dg;
	struct config *cf = NULL;

	cfg_diags_init(&dg);
	if (config_parse("t.yaml", text, strlen(text), &cf, &dg) != 0 ||
	    dg.dg_n != 0) {
		cfg_diags_print(&dg, stderr);
		fail_msg("expected a clean parse");
	}
	cfg_diags_free(&dg);
	assert_non_null(cf);
	return cf;
}

/* config_print (timeline too) into a string, to be freed */
static char *
printed(const struct config *cf, int timeline)
{
	char *s = NULL;
	size_t len = 0;
	FILE *fp;

	assert_non_null(fp = open_memstream(&s, &len));
	if (timeline)
		config_print_timeline(cf, fp);
	else
		config_print(cf, fp);
	assert_int_equal(fclose(fp), 0);
	return s;
}

static void
test_values_expanded(void **state)
{
	struct config *cf;

	(void)state;
	cf = must_parse(yaml);
	/* the probes get the values */
	assert_string_equal(cf->cf_listen, "127.0.0.1:3999");
	assert_string_equal(cf->cf_checks[0].ck_http.h_url,
	    "http://u:" SECRET "@127.0.0.1:8080/h?t=" SECRET "&p=$5");
	assert_string_equal(cf->cf_checks[0].ck_http.h_body,
	    "{\"token\": \"" SECRET "\"}");
	assert_string_equal(cf->cf_checks[1].ck_exec.e_argv[1],
	    "--token=" SECRET);
	assert_string_equal(cf->cf_checks[1].ck_exec.e_argv[2], "50$");
	/* the text as written is kept for exactly those that used ${VAR} */
	assert_string_equal(config_template(cf, &cf->cf_listen),
	    "127.0.0.1:${NDT_T_PORT}");
	assert_string_equal(config_template(cf,
	    &cf->cf_checks[1].ck_exec.e_argv[1]), "--token=${NDT_T_SECRET}");
	assert_null(config_template(cf, &cf->cf_checks[1].ck_exec.e_argv[0]));
	assert_null(config_template(cf, &cf->cf_checks[1].ck_exec.e_argv[2]));
	assert_null(config_template(cf, &cf->cf_checks[0].ck_name));
	config_free(cf);
}

static void
test_printed_as_written(void **state)
{
	struct config *cf;
	char *s, *t;

	(void)state;
	cf = must_parse(yaml);
	s = printed(cf, 0);
	t = printed(cf, 1);
	assert_null(strstr(s, SECRET));
	assert_null(strstr(t, SECRET));
	assert_non_null(strstr(s, "listen: \"127.0.0.1:${NDT_T_PORT}\"\n"));
	assert_non_null(strstr(s, "url: \"http://u:${NDT_T_SECRET}@127.0.0.1:"
	    "8080/h?t=${NDT_T_SECRET}&p=$$5\"\n"));
	assert_non_null(strstr(s, "body: \"{\\\"token\\\": "
	    "\\\"${NDT_T_SECRET}\\\"}\"\n"));
	assert_non_null(strstr(s, "command: [\"/bin/echo\", "
	    "\"--token=${NDT_T_SECRET}\", \"50$\"]\n"));
	assert_non_null(strstr(s, "url: \"http://127.0.0.1:8080/drain?key="
	    "${NDT_T_SECRET}\"\n"));
	/* headers keep their documented redaction */
	assert_non_null(strstr(s, "\"Authorization\": \"<redacted>\""));
	assert_non_null(strstr(t, "drain?key=${NDT_T_SECRET})"));
	free(s);
	free(t);
	config_free(cf);
}

/* the output parses back, with the variables set, to the same values */
static void
test_roundtrip(void **state)
{
	struct config *cf, *back;
	char *s;
	size_t i;

	(void)state;
	cf = must_parse(yaml);
	s = printed(cf, 0);
	setenv("NDT_T_SECRET", "other-value", 1);
	back = must_parse(s);
	assert_string_equal(back->cf_checks[0].ck_http.h_url,
	    "http://u:other-value@127.0.0.1:8080/h?t=other-value&p=$5");
	setenv("NDT_T_SECRET", SECRET, 1);
	config_free(back);
	back = must_parse(s);
	assert_string_equal(back->cf_listen, cf->cf_listen);
	assert_string_equal(back->cf_drain.d_notify.n_url,
	    cf->cf_drain.d_notify.n_url);
	assert_int_equal(back->cf_nchecks, cf->cf_nchecks);
	/* the header printed "<redacted>": all else is the same check */
	assert_true(config_check_equal(&back->cf_checks[1],
	    &cf->cf_checks[1]));
	for (i = 0; i < 3; i++)
		assert_string_equal(back->cf_checks[1].ck_exec.e_argv[i],
		    cf->cf_checks[1].ck_exec.e_argv[i]);
	assert_string_equal(back->cf_checks[0].ck_http.h_url,
	    cf->cf_checks[0].ck_http.h_url);
	assert_string_equal(back->cf_checks[0].ck_http.h_body,
	    cf->cf_checks[0].ck_http.h_body);
	free(s);
	config_free(back);
	config_free(cf);
}

/* a string without ${VAR}: written so that it expands back to itself, a
 * '$' doubled only where it would start "$$" or "${" */
static void
test_dollar_minimal(void **state)
{
	static const struct {
		const char	*yaml;		/* body as written */
		const char	*value;
		const char	*shown;		/* as check-config writes it */
	} cases[] = {
		{ "10$",	"10$",		"\"10$\"" },
		{ "$4 $x",	"$4 $x",	"\"$4 $x\"" },
		{ "$${X}",	"${X}",		"\"$${X}\"" },
		{ "$$$$",	"$$",		"\"$$$\"" },
		{ "$$$x",	"$$x",		"\"$$$x\"" },
		{ "a$$$${",	"a$${",		"\"a$$$${\"" },
	};
	struct config *cf, *back;
	char text[256], *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "checks:\n- name: a\n  http:\n"
		    "    url: http://127.0.0.1:1/\n    body: '%s'\n",
		    cases[i].yaml);
		cf = must_parse(text);
		assert_string_equal(cf->cf_checks[0].ck_http.h_body,
		    cases[i].value);
		s = printed(cf, 0);
		if (strstr(s, cases[i].shown) == NULL)
			fail_msg("case %zu: %s not in\n%s", i, cases[i].shown, s);
		back = must_parse(s);
		assert_string_equal(back->cf_checks[0].ck_http.h_body,
		    cases[i].value);
		free(s);
		config_free(back);
		config_free(cf);
	}
}

/*
 * The fuzz_config crash: an argument at the length limit with lone '$'s
 * printed longer than the limit (every '$' doubled) and did not parse back.
 */
static void
test_dollar_at_the_limit(void **state)
{
	struct config *cf, *back;
	char *text, *arg, *s;
	size_t i, n = 4096;

	(void)state;
	assert_non_null(arg = malloc(n + 1));
	for (i = 0; i < n; i++)
		arg[i] = i % 8 == 0 ? '$' : 'a';
	arg[n] = '\0';
	assert_true(asprintf(&text, "checks:\n- name: a\n  exec:\n"
	    "    command: [/bin/true, \"%s\"]\n", arg) > 0);
	cf = must_parse(text);
	assert_string_equal(cf->cf_checks[0].ck_exec.e_argv[1], arg);
	s = printed(cf, 0);
	back = must_parse(s);
	assert_string_equal(back->cf_checks[0].ck_exec.e_argv[1], arg);
	free(s);
	free(text);
	free(arg);
	config_free(back);
	config_free(cf);
}

/* APP_BIND_ADDRESS replaces listen: the text as written is not shown */
static void
test_override_forgets(void **state)
{
	struct config *cf;
	char *s;

	(void)state;
	setenv("APP_BIND_ADDRESS", "127.0.0.1:4000", 1);
	cf = must_parse(yaml);
	unsetenv("APP_BIND_ADDRESS");
	assert_string_equal(cf->cf_listen, "127.0.0.1:4000");
	assert_null(config_template(cf, &cf->cf_listen));
	s = printed(cf, 0);
	assert_non_null(strstr(s, "listen: \"127.0.0.1:4000\"\n"));
	free(s);
	config_free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_values_expanded, setup),
		cmocka_unit_test_setup(test_printed_as_written, setup),
		cmocka_unit_test_setup(test_roundtrip, setup),
		cmocka_unit_test_setup(test_override_forgets, setup),
		cmocka_unit_test_setup(test_dollar_minimal, setup),
		cmocka_unit_test_setup(test_dollar_at_the_limit, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
