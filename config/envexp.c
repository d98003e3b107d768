/*
 * envexp.c - ${VAR} expansion, and the values it put in: recorded with the
 * config, masked in every check output (envexp.h says why).
 *
 * Which values: those of the string fields (URLs, headers, bodies, exec
 * arguments, host names...), at least ENV_SECRET_MIN bytes long; a number
 * or a duration from ${VAR} is no secret. Every such value is masked, even
 * one that is not secret at all (${POD_IP} in a URL shows as "***" in a
 * failing check's output): the agent cannot tell a token from an address.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_priv.h"
#include "envexp.h"

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
env_expand_rec(const char *in, char **out, int *used_var,
    struct env_secrets *rec, char *err, size_t errlen)
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
		if (estr_add(&es, val, strlen(val)) == -1 ||
		    (rec != NULL && env_secrets_add(rec, val, strlen(val)) ==
		    -1))
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

int
env_expand(const char *in, char **out, int *used_var, char *err,
    size_t errlen)
{
	return env_expand_rec(in, out, used_var, NULL, err, errlen);
}

int
env_secrets_add(struct env_secrets *sc, const char *val, size_t n)
{
	struct env_secret *v;
	size_t i;
	char *copy;

	if (n < ENV_SECRET_MIN)
		return 0;
	for (i = 0; i < sc->sc_n; i++)
		if (sc->sc_v[i].sv_len == n && memcmp(sc->sc_v[i].sv_val, val,
		    n) == 0)
			return 0;
	if ((copy = malloc(n + 1)) == NULL)
		return -1;
	if ((v = reallocarray(sc->sc_v, sc->sc_n + 1, sizeof(*v))) == NULL) {
		free(copy);
		return -1;
	}
	sc->sc_v = v;
	memcpy(copy, val, n);
	copy[n] = '\0';
	/* longest first: a value inside a longer one is masked with it */
	for (i = sc->sc_n; i > 0 && v[i - 1].sv_len < n; i--)
		v[i] = v[i - 1];
	v[i].sv_val = copy;
	v[i].sv_len = n;
	sc->sc_n++;
	return 0;
}

void
env_secrets_free(struct env_secrets *sc)
{
	size_t i;

	for (i = 0; i < sc->sc_n; i++)
		free(sc->sc_v[i].sv_val);
	free(sc->sc_v);
	sc->sc_v = NULL;
	sc->sc_n = 0;
}

/* n bytes at off become ENV_MASK (fewer stars for a shorter piece, so
 * the text never grows); the new length */
static size_t
env_replace(char *buf, size_t len, size_t off, size_t n)
{
	size_t m = n < sizeof(ENV_MASK) - 1 ? n : sizeof(ENV_MASK) - 1;

	memcpy(buf + off, ENV_MASK, m);
	memmove(buf + off + m, buf + off + n, len - off - n);
	return len - n + m;
}

size_t
env_mask(const struct env_secrets *sc, char *buf, size_t len, unsigned flags)
{
	const struct env_secret *s;
	size_t i, k, off;
	char *p;

	if (sc == NULL || buf == NULL)
		return len;
	for (i = 0; i < sc->sc_n; i++) {
		s = &sc->sc_v[i];
		/* a cut-off head: the longest tail of the value there */
		for (k = s->sv_len - 1; (flags & ENV_MASK_HEAD) && k > 0; k--)
			if (k <= len && memcmp(buf, s->sv_val + s->sv_len - k,
			    k) == 0) {
				len = env_replace(buf, len, 0, k);
				break;
			}
		off = 0;
		while (off < len && (p = memmem(buf + off, len - off,
		    s->sv_val, s->sv_len)) != NULL) {
			off = (size_t)(p - buf);
			len = env_replace(buf, len, off, s->sv_len);
			off += sizeof(ENV_MASK) - 1;
		}
	}
	return len;
}

void
env_mask_str(const struct env_secrets *sc, char *s)
{
	if (s != NULL)
		s[env_mask(sc, s, strlen(s), 0)] = '\0';
}
