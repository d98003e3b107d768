/*
 * fuzz_duration - duration_parse() on a NUL-terminated copy of the input.
 *
 * Property: whatever parses to ms prints back (fmt_duration) as a string
 * that parses to the same ms; the printed form is a fixpoint.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"
#include "config/config.h"

int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s, out[64], out2[64];
	uint64_t ms, ms2;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (duration_parse(s, &ms) == 0) {
		fmt_duration(ms, out, sizeof(out));
		if (duration_parse(out, &ms2) != 0 || ms2 != ms) {
			fprintf(stderr, "'%s' -> %llu ms -> '%s' -> %s %llu\n",
			    s, (unsigned long long)ms, out,
			    duration_parse(out, &ms2) ? "error" : "ok",
			    (unsigned long long)ms2);
			abort();
		}
		fmt_duration(ms2, out2, sizeof(out2));
		if (strcmp(out, out2) != 0)
			abort();
	}
	free(s);
	return 0;
}
