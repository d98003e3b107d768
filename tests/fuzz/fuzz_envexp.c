/*
 * fuzz_envexp - ${VAR} expansion (env_expand) on a NUL-terminated copy.
 *
 * Properties: success gives a string and no message is needed; failure
 * leaves *out NULL and *used_var 0 with a NUL-terminated message; an input
 * without '$' comes back unchanged; an input with no ${...} expands to
 * itself with every "$$" made "$" and reports no variable used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char big[70 * 1024];

	(void)argc;
	(void)argv;
	setenv("A", "x", 1);
	setenv("FUZZ_TOKEN", "s3cr3t", 1);
	setenv("EMPTY", "", 1);
	setenv("DOLLAR", "$${A}", 1);	/* not expanded again */
	/* over the 64 KiB cap on its own */
	memset(big, 'b', sizeof(big) - 1);
	setenv("BIG", big, 1);
	unsetenv("UNSET");
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s, *out = (char *)1, err[256];
	size_t i, j;
	int used = -1;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	err[0] = '\0';
	if (env_expand(s, &out, &used, err, sizeof(err)) == -1) {
		if (out != NULL || used != 0 || strlen(err) == 0 ||
		    memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		free(s);
		return 0;
	}
	if (out == NULL || (used != 0 && used != 1))
		abort();
	if (strchr(s, '$') == NULL && (used || strcmp(s, out) != 0))
		abort();
	if (strstr(s, "${") == NULL) {
		/* only "$$" escapes: the same text with one '$' each */
		for (i = j = 0; s[i] != '\0'; i++, j++) {
			if (s[i] == '$' && s[i + 1] == '$')
				i++;
			if (out[j] != s[i])
				abort();
		}
		if (out[j] != '\0' || used)
			abort();
	}
	free(out);
	free(s);
	return 0;
}
