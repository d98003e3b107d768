/*
 * fuzz_config - the YAML config loader from bytes, semantic pass included.
 *
 * Properties:
 *   - config_parse() either succeeds (a struct, maybe warnings) or fails
 *     with *out NULL and at least one error;
 *   - on success config_print()'s output parses again (secrets print as
 *     "<redacted>", which is a plain string), and printing that second
 *     config gives the same text (print is a fixpoint);
 *   - the diagnostics and the drain timeline always print.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

static FILE *devnull;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* the env overrides would hide what the input says */
	unsetenv("APP_BIND_ADDRESS");
	unsetenv("APP_SHUTDOWN_TIMEOUT");
	setenv("FUZZ_TOKEN", "s3cr3t", 1);
	setenv("FUZZ_HOST", "127.0.0.1", 1);
	setenv("FUZZ_EMPTY", "", 1);
	log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
	if ((devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	return 0;
}

static char *
print_config(const struct config *cf, size_t *len)
{
	char *s = NULL;
	FILE *fp;

	if ((fp = open_memstream(&s, len)) == NULL)
		abort();
	config_print(cf, fp);
	if (fclose(fp) != 0)
		abort();
	return s;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct cfg_diags dg, dg2;
	struct config *cf = NULL, *cf2 = NULL;
	char *s1, *s2;
	size_t l1, l2;

	cfg_diags_init(&dg);
	if (config_parse("fuzz.yaml", (const char *)data, size, &cf, &dg) == -1) {
		if (cf != NULL || dg.dg_nerrors == 0) {
			fprintf(stderr, "config_parse failed without an error "
			    "(or with a config)\n");
			abort();
		}
		cfg_diags_print(&dg, devnull);
		cfg_diags_free(&dg);
		return 0;
	}
	if (cf == NULL || dg.dg_nerrors != 0)
		abort();
	cfg_diags_print(&dg, devnull);
	config_print_timeline(cf, devnull);

	s1 = print_config(cf, &l1);
	cfg_diags_init(&dg2);
	if (config_parse("fuzz.yaml", s1, l1, &cf2, &dg2) == -1) {
		fprintf(stderr, "ROUND TRIP: the printed config does not "
		    "parse:\n%s\n", s1);
		cfg_diags_print(&dg2, stderr);
		abort();
	}
	s2 = print_config(cf2, &l2);
	if (l1 != l2 || memcmp(s1, s2, l1) != 0) {
		fprintf(stderr, "ROUND TRIP: print is not a fixpoint\n"
		    "--- first:\n%s\n--- second:\n%s\n", s1, s2);
		abort();
	}
	free(s1);
	free(s2);
	config_free(cf2);
	cfg_diags_free(&dg2);
	config_free(cf);
	cfg_diags_free(&dg);
	return 0;
}
