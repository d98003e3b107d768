/*
 * convert.c - one YAML value -> one field, by the schema row's type.
 *
 * Every scalar value goes through ${VAR} expansion first. A value that does
 * not fit is reported at its own position, saying what to write, and the
 * field keeps its default: the walk goes on.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_priv.h"

#define FIELD(base, off, type)	((type *)(void *)((char *)(base) + (off)))

/* what the user wrote, for "got ..." */
const char *
cfg_got(const struct ynode *n, char *buf, size_t len)
{
	char q[64];

	if (n->n_type == YN_MAP)
		return "a mapping";
	if (n->n_type == YN_SEQ)
		return "a list";
	if (n->n_type == YN_BAD || n->n_str == NULL)
		return "an unsupported value";
	if (ynode_is_null(n))
		return "nothing";
	snprintf(buf, len, "'%s'", cfg_quote(n->n_str, q, sizeof(q)));
	return buf;
}

/*
 * A scalar's value after ${VAR} expansion, to be freed; NULL after an
 * error was reported ("expected <expect>" when it is not a scalar).
 */
static char *
scalar_str(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, const char *expect, int *used_var)
{
	char err[256], g[80];
	char *s;

	if (n->n_type != YN_SCALAR || ynode_is_null(n)) {
		cfg_error(ctx, &n->n_mark, "%s: expected %s, got %s",
		    o->o_path, expect, cfg_got(n, g, sizeof(g)));
		return NULL;
	}
	/* the values in strings (the callers that ask used_var) may be
	 * secrets: recorded, to be masked in check outputs */
	if (env_expand_rec(n->n_str, &s, used_var, used_var != NULL ?
	    &ctx->c_cf->cf_secrets : NULL, err, sizeof(err)) == -1) {
		cfg_error(ctx, &n->n_mark, "%s: %s", o->o_path, err);
		return NULL;
	}
	if (strlen(s) > CFG_MAX_STRING) {
		cfg_error(ctx, &n->n_mark, "%s: longer than %d bytes after "
		    "expanding variables", o->o_path, CFG_MAX_STRING);
		free(s);
		return NULL;
	}
	return s;
}

/*
 * Remember what a string field was written as when it used ${VAR}, so the
 * output can show that instead of the value; used 0 forgets an earlier one.
 */
void
cfg_template_note(struct cfg_ctx *ctx, char *const *field, const char *src,
    int used)
{
	struct config *cf = ctx->c_cf;
	struct cfg_tmpl *t;
	size_t i;

	for (i = 0; i < cf->cf_ntmpls; i++)
		if (cf->cf_tmpls[i].tm_field == field)
			break;
	if (!used) {
		if (i < cf->cf_ntmpls) {
			free(cf->cf_tmpls[i].tm_src);
			cf->cf_tmpls[i] = cf->cf_tmpls[--cf->cf_ntmpls];
		}
		return;
	}
	if (i == cf->cf_ntmpls) {
		if ((t = reallocarray(cf->cf_tmpls, cf->cf_ntmpls + 1,
		    sizeof(*t))) == NULL) {
			cfg_oom(ctx);
			return;
		}
		cf->cf_tmpls = t;
		t[i].tm_field = field;
		t[i].tm_src = NULL;
		cf->cf_ntmpls++;
	}
	free(cf->cf_tmpls[i].tm_src);
	if ((cf->cf_tmpls[i].tm_src = strdup(src)) == NULL) {
		cf->cf_tmpls[i] = cf->cf_tmpls[--cf->cf_ntmpls];
		cfg_oom(ctx);
	}
}

static void
set_string(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, void *base)
{
	char **field = FIELD(base, o->o_off, char *);
	char *s;
	int used;

	if ((s = scalar_str(ctx, o, n, "a string", &used)) == NULL)
		return;
	free(*field);
	*field = s;
	cfg_template_note(ctx, field, n->n_str, used);
}

static void
set_duration(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, void *base)
{
	char err[256], a[32], b[32];
	uint64_t ms;
	char *s;

	s = scalar_str(ctx, o, n, "a duration like 250ms, 5s, 1m or 1h30m",
	    NULL);
	if (s == NULL)
		return;
	if (cfg_duration_parse(s, &ms, err, sizeof(err)) == -1)
		cfg_error(ctx, &n->n_mark, "%s: %s", o->o_path, err);
	else if (ms < o->o_min) {
		fmt_duration(ms, a, sizeof(a));
		fmt_duration(o->o_min, b, sizeof(b));
		cfg_error(ctx, &n->n_mark, "%s: %s is too short (at least %s)",
		    o->o_path, a, b);
	} else if (ms > o->o_max) {
		fmt_duration(ms, a, sizeof(a));
		fmt_duration(o->o_max, b, sizeof(b));
		cfg_error(ctx, &n->n_mark, "%s: %s is too long (at most %s)",
		    o->o_path, a, b);
	} else
		*FIELD(base, o->o_off, uint64_t) = ms;
	free(s);
}

static void
set_uint(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, void *base)
{
	char expect[64], q[64];
	unsigned long long v;
	char *s, *p;

	snprintf(expect, sizeof(expect), "an integer from %llu to %llu",
	    (unsigned long long)o->o_min, (unsigned long long)o->o_max);
	if ((s = scalar_str(ctx, o, n, expect, NULL)) == NULL)
		return;
	for (p = s; isdigit((unsigned char)*p); p++)
		;
	if (*p != '\0' || p == s || p - s > 12) {
		cfg_error(ctx, &n->n_mark, "%s: expected %s, got '%s'",
		    o->o_path, expect, cfg_quote(s, q, sizeof(q)));
		goto done;
	}
	v = strtoull(s, NULL, 10);
	if (v < o->o_min || v > o->o_max) {
		cfg_error(ctx, &n->n_mark, "%s: %llu is out of range (%llu to "
		    "%llu)", o->o_path, v, (unsigned long long)o->o_min,
		    (unsigned long long)o->o_max);
		goto done;
	}
	if (o->o_type == CT_SIZE)
		*FIELD(base, o->o_off, size_t) = (size_t)v;
	else
		*FIELD(base, o->o_off, unsigned) = (unsigned)v;
 done:
	free(s);
}

static void
set_bool(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, void *base)
{
	char q[64];
	char *s;

	if ((s = scalar_str(ctx, o, n, "true or false", NULL)) == NULL)
		return;
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
	    strcmp(s, "TRUE") == 0)
		*FIELD(base, o->o_off, int) = 1;
	else if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 ||
	    strcmp(s, "FALSE") == 0)
		*FIELD(base, o->o_off, int) = 0;
	else
		cfg_error(ctx, &n->n_mark, "%s: expected true or false, got "
		    "'%s'", o->o_path, cfg_quote(s, q, sizeof(q)));
	free(s);
}

static void
set_enum(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, void *base)
{
	const struct cfg_enum *e;
	char expect[96], q[64];
	size_t len = 0;
	int v;
	char *s;

	expect[0] = '\0';
	for (e = o->o_enum; e->e_name != NULL; e++) {
		snprintf(expect + len, sizeof(expect) - len, "%s%s",
		    e == o->o_enum ? "one of " : ", ", e->e_name);
		len = strlen(expect);
	}
	if ((s = scalar_str(ctx, o, n, expect, NULL)) == NULL)
		return;
	if (cfg_enum_lookup(o->o_enum, s, &v) == 0)
		*FIELD(base, o->o_off, int) = v;
	else
		cfg_error(ctx, &n->n_mark, "%s: expected %s, got '%s'",
		    o->o_path, expect, cfg_quote(s, q, sizeof(q)));
	free(s);
}

static int
header_name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) &&
		    strchr("!#$%&'*+-.^_`|~", *s) == NULL)
			return 0;
	return 1;
}

static void
set_headers(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, void *base)
{
	const struct ynode *k, *v;
	struct cfg_kv *kv, *h;
	size_t i, j, nkv = 0;
	char q[64], g[80];
	int used;

	if (ynode_is_null(n))
		return;
	if (n->n_type != YN_MAP) {
		cfg_error(ctx, &n->n_mark, "%s: expected a mapping of "
		    "Header-Name: value, got %s", o->o_path, cfg_got(n, g,
		    sizeof(g)));
		return;
	}
	if ((kv = calloc(n->n_nkids / 2 + 1, sizeof(*kv))) == NULL) {
		cfg_oom(ctx);
		return;
	}
	for (i = 0; i + 1 < n->n_nkids; i += 2) {
		k = n->n_kids[i];
		v = n->n_kids[i + 1];
		if (k->n_type != YN_SCALAR || v->n_type == YN_BAD)
			continue;
		if (nkv == CFG_MAX_HEADERS) {
			cfg_error(ctx, &k->n_mark, "%s: more than %d headers",
			    o->o_path, CFG_MAX_HEADERS);
			break;
		}
		if (!header_name_ok(k->n_str)) {
			cfg_error(ctx, &k->n_mark, "%s: invalid header name "
			    "'%s'", o->o_path, cfg_quote(k->n_str, q,
			    sizeof(q)));
			continue;
		}
		for (j = 0; j < nkv; j++)
			if (strcasecmp(kv[j].kv_key, k->n_str) == 0)
				break;
		if (j < nkv) {
			cfg_error(ctx, &k->n_mark, "%s: duplicate header '%s' "
			    "(names are case-insensitive)", o->o_path,
			    cfg_quote(k->n_str, q, sizeof(q)));
			continue;
		}
		h = &kv[nkv];
		if ((h->kv_value = scalar_str(ctx, o, v, "a header value",
		    &used)) == NULL)
			continue;
		if (strpbrk(h->kv_value, "\r\n") != NULL) {
			cfg_error(ctx, &v->n_mark, "%s: header value must not "
			    "contain CR or LF", o->o_path);
			free(h->kv_value);
			h->kv_value = NULL;
			continue;
		}
		if ((h->kv_key = strdup(k->n_str)) == NULL) {
			free(h->kv_value);
			h->kv_value = NULL;
			cfg_oom(ctx);
			break;
		}
		h->kv_secret = used;
		nkv++;
	}
	*FIELD(base, o->o_off, struct cfg_kv *) = kv;
	*FIELD(base, o->o_off2, size_t) = nkv;
}

/* a list of scalars (0, items set) or one scalar (1), else -1 */
static int
scalar_list(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, const char *expect, struct ynode *const **items,
    size_t *nitems)
{
	char g[80];

	*items = NULL;
	*nitems = 1;
	if (n->n_type == YN_SEQ) {
		*items = n->n_kids;
		*nitems = n->n_nkids;
		return 0;
	}
	if (n->n_type == YN_SCALAR && !ynode_is_null(n))
		return 1;
	cfg_error(ctx, &n->n_mark, "%s: expected %s, got %s", o->o_path,
	    expect, cfg_got(n, g, sizeof(g)));
	return -1;
}

#define STATUS_EXPECT	"a status code or range like 200, \"200-399\" or " \
			"\"2xx\""

static void
set_status(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, void *base)
{
	struct ynode *const *items;
	const struct ynode *it;
	struct cfg_range *r;
	size_t i, ni;
	int single, bad = 0;
	char q[64];
	char *s;

	if ((single = scalar_list(ctx, o, n, "a list of " STATUS_EXPECT "s",
	    &items, &ni)) == -1)
		return;
	if (ni == 0 || ni > CFG_MAX_STATUS) {
		cfg_error(ctx, &n->n_mark, "%s: give 1 to %d status codes or "
		    "ranges", o->o_path, CFG_MAX_STATUS);
		return;
	}
	if ((r = calloc(ni, sizeof(*r))) == NULL) {
		cfg_oom(ctx);
		return;
	}
	for (i = 0; i < ni; i++) {
		it = single ? n : items[i];
		if (it->n_type == YN_BAD) {
			bad = 1;
			continue;
		}
		if ((s = scalar_str(ctx, o, it, STATUS_EXPECT, NULL)) == NULL) {
			bad = 1;
			continue;
		}
		if (cfg_status_parse(s, &r[i]) == -1) {
			cfg_error(ctx, &it->n_mark, "%s: expected %s (100 to "
			    "599), got '%s'", o->o_path, STATUS_EXPECT,
			    cfg_quote(s, q, sizeof(q)));
			bad = 1;
		}
		free(s);
	}
	if (bad) {
		free(r);
		return;
	}
	free(*FIELD(base, o->o_off, struct cfg_range *));
	*FIELD(base, o->o_off, struct cfg_range *) = r;
	*FIELD(base, o->o_off2, size_t) = ni;
}

static void
set_uids(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, void *base)
{
	static const char expect[] = "a uid, an integer from 0 to 4294967294";
	struct ynode *const *items;
	const struct ynode *it;
	unsigned long long v;
	unsigned *u;
	size_t i, ni;
	int single, bad = 0;
	char q[64], *s, *p;

	if ((single = scalar_list(ctx, o, n, "a list of uids like [1000]",
	    &items, &ni)) == -1)
		return;
	if (ni > CFG_MAX_UIDS) {
		cfg_error(ctx, &n->n_mark, "%s: give at most %d uids",
		    o->o_path, CFG_MAX_UIDS);
		return;
	}
	if (ni == 0)
		return;		/* [] = any peer */
	if ((u = calloc(ni, sizeof(*u))) == NULL) {
		cfg_oom(ctx);
		return;
	}
	for (i = 0; i < ni; i++) {
		it = single ? n : items[i];
		if (it->n_type == YN_BAD ||
		    (s = scalar_str(ctx, o, it, expect, NULL)) == NULL) {
			bad = 1;
			continue;
		}
		for (p = s; isdigit((unsigned char)*p); p++)
			;
		v = strtoull(s, NULL, 10);
		if (*p != '\0' || p == s || p - s > 10 || v > 4294967294ULL) {
			cfg_error(ctx, &it->n_mark, "%s: expected %s, got '%s'",
			    o->o_path, expect, cfg_quote(s, q, sizeof(q)));
			bad = 1;
		} else
			u[i] = (unsigned)v;
		free(s);
	}
	if (bad) {
		free(u);
		return;
	}
	free(*FIELD(base, o->o_off, unsigned *));
	*FIELD(base, o->o_off, unsigned *) = u;
	*FIELD(base, o->o_off2, size_t) = ni;
}

static void
set_affects(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, void *base)
{
	struct ynode *const *items;
	const struct ynode *it;
	unsigned bits = 0, bit;
	size_t i, ni;
	int single, bad = 0;
	char q[64];
	char *s;

	if ((single = scalar_list(ctx, o, n, "a list like [live, ready]",
	    &items, &ni)) == -1)
		return;
	for (i = 0; i < ni; i++) {
		it = single ? n : items[i];
		if (it->n_type == YN_BAD)
			continue;
		if ((s = scalar_str(ctx, o, it, "live, ready or startup",
		    NULL)) == NULL) {
			bad = 1;
			continue;
		}
		if (cfg_affect_lookup(s, &bit) == -1) {
			cfg_error(ctx, &it->n_mark, "%s: unknown endpoint '%s'; "
			    "use live, ready or startup", o->o_path,
			    cfg_quote(s, q, sizeof(q)));
			bad = 1;
		} else
			bits |= bit;
		free(s);
	}
	if (!bad)
		*FIELD(base, o->o_off, unsigned) = bits;
}

static void
set_argv(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *n, void *base)
{
	int used[CFG_MAX_ARGV];
	char **argv;
	size_t i, ni;
	char g[80];
	int bad = 0;

	if (n->n_type != YN_SEQ) {
		cfg_error(ctx, &n->n_mark, "%s: expected a list like "
		    "[\"/usr/local/bin/check\", \"--flag\"] (no shell), got %s",
		    o->o_path, cfg_got(n, g, sizeof(g)));
		return;
	}
	ni = n->n_nkids;
	if (ni == 0 || ni > CFG_MAX_ARGV) {
		cfg_error(ctx, &n->n_mark, "%s: give the program and at most "
		    "%d arguments in all", o->o_path, CFG_MAX_ARGV - 1);
		return;
	}
	if ((argv = calloc(ni + 1, sizeof(*argv))) == NULL) {
		cfg_oom(ctx);
		return;
	}
	for (i = 0; i < ni; i++) {
		if (n->n_kids[i]->n_type == YN_BAD ||
		    (argv[i] = scalar_str(ctx, o, n->n_kids[i], "a string",
		    &used[i])) == NULL) {
			bad = 1;
			break;
		}
	}
	if (!bad && argv[0][0] == '\0') {
		cfg_error(ctx, &n->n_kids[0]->n_mark, "%s: the program must "
		    "not be empty", o->o_path);
		bad = 1;
	}
	if (bad) {
		for (i = 0; argv[i] != NULL; i++)
			free(argv[i]);
		free(argv);
		return;
	}
	*FIELD(base, o->o_off, char **) = argv;
	*FIELD(base, o->o_off2, size_t) = ni;
	for (i = 0; i < ni; i++)
		cfg_template_note(ctx, &argv[i], n->n_kids[i]->n_str, used[i]);
}

void
cfg_set(struct cfg_ctx *ctx, const struct cfg_opt *o, const struct ynode *v,
    void *base)
{
	switch (o->o_type) {
	case CT_STRING:
		set_string(ctx, o, v, base);
		break;
	case CT_DURATION:
		set_duration(ctx, o, v, base);
		break;
	case CT_UINT:
	case CT_SIZE:
		set_uint(ctx, o, v, base);
		break;
	case CT_BOOL:
		set_bool(ctx, o, v, base);
		break;
	case CT_ENUM:
		set_enum(ctx, o, v, base);
		break;
	case CT_HEADERS:
		set_headers(ctx, o, v, base);
		break;
	case CT_STATUS:
		set_status(ctx, o, v, base);
		break;
	case CT_ARGV:
		set_argv(ctx, o, v, base);
		break;
	case CT_UIDS:
		set_uids(ctx, o, v, base);
		break;
	case CT_AFFECTS:
		set_affects(ctx, o, v, base);
		break;
	case CT_SECTION:
	case CT_CHECKS:
		abort();	/* walk.c's business */
	}
}
