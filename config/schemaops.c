/*
 * schemaops.c - what is done with the schema table (schema.c): find an
 * option by scope and path, its key and type for messages, the enum,
 * status-range and affects words, the defaults and the freeing of a
 * struct's fields, and the edit distance behind "did you mean".
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_priv.h"

/* "json \| text": an enum's names for the reference's type column */
static const char *
enum_words(const struct cfg_enum *e)
{
	static char words[128];
	size_t off = 0;
	int n;

	words[0] = '\0';
	for (; e->e_name != NULL && off < sizeof(words); e++) {
		n = snprintf(words + off, sizeof(words) - off, "%s%s",
		    off ? " \\| " : "", e->e_name);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	return words;
}

const struct cfg_opt *
cfg_opt_find(enum cfg_scope sc, const char *path)
{
	size_t i;

	for (i = 0; i < cfg_nopts; i++)
		if (cfg_opts[i].o_scope == sc &&
		    strcmp(cfg_opts[i].o_path, path) == 0)
			return &cfg_opts[i];
	return NULL;
}

size_t
cfg_opt_index(const struct cfg_opt *o)
{
	return (size_t)(o - cfg_opts);
}

/* the row's index; the path must exist (a programming error otherwise) */
size_t
cfg_opt_lookup(enum cfg_scope sc, const char *path)
{
	const struct cfg_opt *o;

	if ((o = cfg_opt_find(sc, path)) == NULL)
		abort();
	return cfg_opt_index(o);
}

/* the SECTION row holding o, or NULL at the scope's top */
const struct cfg_opt *
cfg_opt_parent(const struct cfg_opt *o)
{
	char path[CFG_PATH_MAX];
	const char *dot;
	size_t n;

	if ((dot = strrchr(o->o_path, '.')) == NULL)
		return NULL;
	n = (size_t)(dot - o->o_path);
	if (n >= sizeof(path))
		return NULL;
	memcpy(path, o->o_path, n);
	path[n] = '\0';
	return cfg_opt_find(o->o_scope, path);
}

const char *
cfg_opt_key(const struct cfg_opt *o)
{
	const char *dot = strrchr(o->o_path, '.');

	return dot ? dot + 1 : o->o_path;
}

const char *
cfg_type_str(const struct cfg_opt *o)
{
	switch (o->o_type) {
	case CT_SECTION:
		return "mapping";
	case CT_STRING:
		return "string";
	case CT_DURATION:
		return "duration";
	case CT_UINT:
	case CT_SIZE:
		return "integer";
	case CT_BOOL:
		return "bool";
	case CT_ENUM:
		return enum_words(o->o_enum);
	case CT_HEADERS:
		return "mapping of header: value";
	case CT_STATUS:
		return "list of codes/ranges";
	case CT_ARGV:
		return "list of strings";
	case CT_UIDS:
		return "list of integers";
	case CT_AFFECTS:
		return "list of live, ready, startup";
	case CT_CHECKS:
		return "list of checks";
	}
	return "?";
}

int
cfg_enum_lookup(const struct cfg_enum *e, const char *s, int *v)
{
	for (; e->e_name != NULL; e++)
		if (strcmp(e->e_name, s) == 0) {
			*v = e->e_value;
			return 0;
		}
	return -1;
}

const char *
cfg_enum_name(const struct cfg_enum *e, int v)
{
	for (; e->e_name != NULL; e++)
		if (e->e_value == v)
			return e->e_name;
	return "?";
}

static int
three_digits(const char *s, int *v)
{
	if (s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9')
		return -1;
	*v = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	return 0;
}

/* "200", "200-399", "2xx" */
int
cfg_status_parse(const char *s, struct cfg_range *r)
{
	size_t n = strlen(s);

	if (n == 3 && s[1] == 'x' && s[2] == 'x' && s[0] >= '1' &&
	    s[0] <= '5') {
		r->r_lo = (s[0] - '0') * 100;
		r->r_hi = r->r_lo + 99;
		return 0;
	}
	if (n == 3 && three_digits(s, &r->r_lo) == 0) {
		r->r_hi = r->r_lo;
		return 0;
	}
	if (n == 7 && s[3] == '-' && three_digits(s, &r->r_lo) == 0 &&
	    three_digits(s + 4, &r->r_hi) == 0 && r->r_lo <= r->r_hi)
		return 0;
	return -1;
}

int
cfg_affect_lookup(const char *s, unsigned *bit)
{
	if (strcmp(s, "live") == 0)
		*bit = AFFECT_LIVE;
	else if (strcmp(s, "ready") == 0)
		*bit = AFFECT_READY;
	else if (strcmp(s, "startup") == 0)
		*bit = AFFECT_STARTUP;
	else
		return -1;
	return 0;
}

#define FIELD(base, off, type)	((type *)(void *)((char *)(base) + (off)))

/* the table's defaults into a zeroed struct; -1: out of memory */
int
cfg_defaults(enum cfg_scope sc, void *base)
{
	const struct cfg_opt *o;
	char err[160];
	uint64_t ms;
	unsigned bit;
	char *s;
	int v;
	size_t i;

	for (i = 0; i < cfg_nopts; i++) {
		o = &cfg_opts[i];
		if (o->o_scope != sc || o->o_default == NULL ||
		    (o->o_flags & CO_COMPUTED))
			continue;
		switch (o->o_type) {
		case CT_STRING:
			if ((s = strdup(o->o_default)) == NULL)
				return -1;
			free(*FIELD(base, o->o_off, char *));
			*FIELD(base, o->o_off, char *) = s;
			break;
		case CT_DURATION:
			if (cfg_duration_parse(o->o_default, &ms, err,
			    sizeof(err)) == -1)
				abort();
			*FIELD(base, o->o_off, uint64_t) = ms;
			break;
		case CT_UINT:
			*FIELD(base, o->o_off, unsigned) =
			    (unsigned)strtoul(o->o_default, NULL, 10);
			break;
		case CT_SIZE:
			*FIELD(base, o->o_off, size_t) =
			    (size_t)strtoull(o->o_default, NULL, 10);
			break;
		case CT_BOOL:
			*FIELD(base, o->o_off, int) =
			    strcmp(o->o_default, "true") == 0;
			break;
		case CT_ENUM:
			if (cfg_enum_lookup(o->o_enum, o->o_default, &v) == -1)
				abort();
			*FIELD(base, o->o_off, int) = v;
			break;
		case CT_AFFECTS:
			if (cfg_affect_lookup(o->o_default, &bit) == -1)
				abort();
			*FIELD(base, o->o_off, unsigned) = bit;
			break;
		case CT_STATUS:
			free(*FIELD(base, o->o_off, struct cfg_range *));
			*FIELD(base, o->o_off2, size_t) = 0;
			if ((*FIELD(base, o->o_off, struct cfg_range *) =
			    calloc(1, sizeof(struct cfg_range))) == NULL)
				return -1;
			if (cfg_status_parse(o->o_default, *FIELD(base,
			    o->o_off, struct cfg_range *)) == -1)
				abort();
			*FIELD(base, o->o_off2, size_t) = 1;
			break;
		default:
			abort();
		}
	}
	return 0;
}

/* frees what the table's rows own in base (not base itself) */
void
cfg_free_fields(enum cfg_scope sc, void *base)
{
	const struct cfg_opt *o;
	struct cfg_kv *kv;
	char **argv;
	size_t i, j, n;

	for (i = 0; i < cfg_nopts; i++) {
		o = &cfg_opts[i];
		if (o->o_scope != sc)
			continue;
		switch (o->o_type) {
		case CT_STRING:
			free(*FIELD(base, o->o_off, char *));
			*FIELD(base, o->o_off, char *) = NULL;
			break;
		case CT_HEADERS:
			kv = *FIELD(base, o->o_off, struct cfg_kv *);
			n = *FIELD(base, o->o_off2, size_t);
			for (j = 0; kv != NULL && j < n; j++) {
				free(kv[j].kv_key);
				free(kv[j].kv_value);
			}
			free(kv);
			*FIELD(base, o->o_off, struct cfg_kv *) = NULL;
			*FIELD(base, o->o_off2, size_t) = 0;
			break;
		case CT_STATUS:
			free(*FIELD(base, o->o_off, struct cfg_range *));
			*FIELD(base, o->o_off, struct cfg_range *) = NULL;
			*FIELD(base, o->o_off2, size_t) = 0;
			break;
		case CT_UIDS:
			free(*FIELD(base, o->o_off, unsigned *));
			*FIELD(base, o->o_off, unsigned *) = NULL;
			*FIELD(base, o->o_off2, size_t) = 0;
			break;
		case CT_ARGV:
			argv = *FIELD(base, o->o_off, char **);
			for (j = 0; argv != NULL && argv[j] != NULL; j++)
				free(argv[j]);
			free(argv);
			*FIELD(base, o->o_off, char **) = NULL;
			*FIELD(base, o->o_off2, size_t) = 0;
			break;
		default:
			break;
		}
	}
}

/* Levenshtein distance, for "did you mean"; keys are short */
size_t
cfg_edit_distance(const char *a, const char *b)
{
	size_t row[CFG_PATH_MAX + 1], la = strlen(a), lb = strlen(b);
	size_t i, j, prev, tmp, best;

	if (la > CFG_PATH_MAX || lb > CFG_PATH_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}
