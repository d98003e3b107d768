/*
 * duration.c - "1h30m", "250ms", "1.5s" -> milliseconds; ${VAR} expansion.
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

/* a small growable string for env_expand; capped */
struct estr {
	char	*es_p;
	size_t	 es_len;
	size_t	 es_cap;
	int	 es_toobig;
};

#define ENV_EXPAND_MAX	(64 * 1024)

static int
estr_add(struct estr *es, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (es->es_len + n + 1 > ENV_EXPAND_MAX) {
		es->es_toobig = 1;
		return -1;
	}
	if (es->es_len + n + 1 > es->es_cap) {
		cap = es->es_cap ? es->es_cap : 64;
		while (cap < es->es_len + n + 1)
			cap *= 2;
		if ((p = realloc(es->es_p, cap)) == NULL)
			return -1;
		es->es_p = p;
		es->es_cap = cap;
	}
	memcpy(es->es_p + es->es_len, s, n);
	es->es_len += n;
	es->es_p[es->es_len] = '\0';
	return 0;
}

static int
env_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || isdigit((unsigned char)s[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

int
env_expand(const char *in, char **out, int *used_var, char *err,
    size_t errlen)
{
	struct estr es = { NULL, 0, 0, 0 };
	char name[128], q[64];
	const char *p, *end, *val;
	size_t n;

	*out = NULL;
	if (used_var != NULL)
		*used_var = 0;
	if (estr_add(&es, "", 0) == -1)
		goto oom;
	for (p = in; *p != '\0'; ) {
		if (p[0] != '$' || (p[1] != '$' && p[1] != '{')) {
			n = strcspn(p + 1, "$") + 1;
			if (estr_add(&es, p, n) == -1)
				goto oom;
			p += n;
			continue;
		}
		if (p[1] == '$') {
			if (estr_add(&es, "$", 1) == -1)
				goto oom;
			p += 2;
			continue;
		}
		if ((end = strchr(p + 2, '}')) == NULL) {
			snprintf(err, errlen, "unterminated '${' in '%s' "
			    "(write $$ for a literal $)",
			    cfg_quote(in, q, sizeof(q)));
			goto fail;
		}
		n = (size_t)(end - (p + 2));
		if (!env_name_ok(p + 2, n) || n >= sizeof(name)) {
			snprintf(err, errlen, "invalid variable name in '%s': "
			    "use ${NAME} with letters, digits and _",
			    cfg_quote(in, q, sizeof(q)));
			goto fail;
		}
		memcpy(name, p + 2, n);
		name[n] = '\0';
		if ((val = getenv(name)) == NULL) {
			snprintf(err, errlen, "environment variable %s is not "
			    "set (used in '%s')", name,
			    cfg_quote(in, q, sizeof(q)));
			goto fail;
		}
		if (estr_add(&es, val, strlen(val)) == -1)
			goto oom;
		if (used_var != NULL)
			*used_var = 1;
		p = end + 1;
	}
	*out = es.es_p;
	return 0;
 oom:
	if (es.es_toobig)
		snprintf(err, errlen, "value is longer than %d bytes after "
		    "expanding variables", ENV_EXPAND_MAX);
	else
		snprintf(err, errlen, "out of memory");
 fail:
	free(es.es_p);
	if (used_var != NULL)
		*used_var = 0;
	return -1;
}
