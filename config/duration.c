/*
 * duration.c - "1h30m", "250ms", "1.5s" -> milliseconds.
 *
 * Durations are a sequence of <number>[.<fraction>]<unit> with units h, m,
 * s, ms (Go's time.ParseDuration without the sub-millisecond units), so
 * whatever fmt_duration() prints parses back. "0" alone is the only number
 * without a unit: "5" is ambiguous (seconds? milliseconds?) and refused.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cfg_priv.h"

#define US_PER_MS	1000ULL
#define MAX_US		(CFG_MAX_DURATION_MS * US_PER_MS)
#define MAX_FRAC_DIGITS	9

static const struct {
	const char	*u_name;
	uint64_t	 u_us;
} units[] = {
	{ "ms",	1000ULL },		/* before "m" */
	{ "h",	3600ULL * 1000000 },
	{ "m",	60ULL * 1000000 },
	{ "s",	1000000ULL },
};

#define EXPECT	"expected a duration like 250ms, 5s, 1m or 1h30m"

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* 0, or -1 with a message naming the value in err */
int
cfg_duration_parse(const char *s, uint64_t *ms, char *err, size_t errlen)
{
	char q[64];
	const char *p = s;
	uint64_t total = 0, ip, fp, fscale, v;
	size_t i, nd, nf;

	if (*s == '\0') {
		snprintf(err, errlen, "%s, got an empty string", EXPECT);
		return -1;
	}
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	if (*s == '-') {
		snprintf(err, errlen, "negative duration '%s' is not allowed",
		    cfg_quote(s, q, sizeof(q)));
		return -1;
	}
	if (all_digits(s)) {
		snprintf(err, errlen, "a bare number is ambiguous: write %ss "
		    "(or %sms), got '%s'", cfg_quote(s, q, sizeof(q)), q, q);
		return -1;
	}
	while (*p != '\0') {
		ip = fp = 0;
		fscale = 1;
		for (nd = 0; isdigit((unsigned char)*p); p++, nd++) {
			if (ip > MAX_US)
				goto toolong;
			ip = ip * 10 + (uint64_t)(*p - '0');
		}
		nf = 0;
		if (*p == '.') {
			for (p++; isdigit((unsigned char)*p); p++, nf++) {
				if (nf >= MAX_FRAC_DIGITS)
					goto bad;
				fp = fp * 10 + (uint64_t)(*p - '0');
				fscale *= 10;
			}
		}
		if (nd + nf == 0)
			goto bad;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strncmp(p, units[i].u_name,
			    strlen(units[i].u_name)) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			goto bad;
		p += strlen(units[i].u_name);
		if (ip > MAX_US / units[i].u_us)
			goto toolong;
		/* fp < 10^9 and u_us <= 3.6e9: fits in 64 bits */
		v = ip * units[i].u_us + fp * units[i].u_us / fscale;
		if (fp * units[i].u_us % fscale != 0)
			goto precision;
		total += v;
		if (total > MAX_US)
			goto toolong;
	}
	if (total % US_PER_MS != 0)
		goto precision;
	*ms = total / US_PER_MS;
	return 0;
 bad:
	snprintf(err, errlen, "%s, got '%s'", EXPECT, cfg_quote(s, q, sizeof(q)));
	return -1;
 toolong:
	snprintf(err, errlen, "duration '%s' is longer than 24h",
	    cfg_quote(s, q, sizeof(q)));
	return -1;
 precision:
	snprintf(err, errlen, "duration '%s' is finer than a millisecond",
	    cfg_quote(s, q, sizeof(q)));
	return -1;
}

int
duration_parse(const char *s, uint64_t *ms)
{
	char err[160];

	if (s == NULL)
		return -1;
	return cfg_duration_parse(s, ms, err, sizeof(err));
}
