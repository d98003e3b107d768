/*
 * fuzz_conntrack - the /proc/net/tcp{,6} parser (conntrack_parse, pure),
 * and the /proc/net/snmp one (conntrack_parse_snmp: never reads past the
 * input, a value it returns is made of the input's digits).
 *
 * The port is taken from the first two input bytes when there are more
 * than two (so the fuzzer can aim at a port that occurs in the text), else
 * 8080; the whole input is also parsed as text for port 8080.
 *
 * Properties: the counts never exceed the number of lines; parsing is
 * line-by-line, so the text cut at any newline and parsed in two calls
 * adds up to the same counts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/conntrack.h"

int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

static size_t
nlines(const char *t, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (t[i] == '\n')
			k++;
	return n > 0 && t[n - 1] != '\n' ? k + 1 : k;
}

static void
check(const char *t, size_t n, unsigned port)
{
	struct conntrack_count a, b;
	const char *nl;
	size_t cut;

	memset(&a, 0, sizeof(a));
	conntrack_parse(t, n, port, &a);
	if ((size_t)a.ct_established + a.ct_listening + a.ct_malformed >
	    nlines(t, n))
		abort();
	/* cut after the middle newline, if any */
	if ((nl = memchr(t + n / 2, '\n', n - n / 2)) == NULL)
		return;
	cut = (size_t)(nl - t) + 1;
	memset(&b, 0, sizeof(b));
	conntrack_parse(t, cut, port, &b);
	conntrack_parse(t + cut, n - cut, port, &b);
	if (memcmp(&a, &b, sizeof(a)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	uint64_t v;
	char *t;

	if (size > CONNTRACK_FILE_MAX)
		return 0;
	/* a heap copy of exactly size bytes: ASan sees any overread */
	if ((t = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(t, data, size);
	check(t, size, 8080);
	if (conntrack_parse_snmp(t, size, &v) == 0 && size == 0)
		abort();
	if (size > 2)
		check(t + 2, size - 2, (unsigned)data[0] << 8 | data[1]);
	free(t);
	return 0;
}
