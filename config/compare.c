/*
 * compare.c - is a check's definition unchanged across a reload? Driven by
 * the schema table, so an option added to the table is compared too.
 */
#include <string.h>

#include "cfg_priv.h"

/* copy the field at base + off into a local of its type */
#define GET(dst, base, off) \
	memcpy(&(dst), (const char *)(base) + (off), sizeof(dst))

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
opt_eq(const struct cfg_opt *o, const void *a, const void *b)
{
	struct cfg_kv *ka, *kb;
	struct cfg_range *ra, *rb;
	char **va, **vb, *sa, *sb;
	uint64_t da, db;
	unsigned ua, ub;
	size_t na, nb, i;
	int ia, ib;

	switch (o->o_type) {
	case CT_SECTION:
		if (o->o_off == CFG_NO_OFF)
			return 1;
		GET(ia, a, o->o_off);
		GET(ib, b, o->o_off);
		return ia == ib;
	case CT_STRING:
		GET(sa, a, o->o_off);
		GET(sb, b, o->o_off);
		return str_eq(sa, sb);
	case CT_DURATION:
		GET(da, a, o->o_off);
		GET(db, b, o->o_off);
		return da == db;
	case CT_UINT:
	case CT_AFFECTS:
		GET(ua, a, o->o_off);
		GET(ub, b, o->o_off);
		return ua == ub;
	case CT_SIZE:
		GET(na, a, o->o_off);
		GET(nb, b, o->o_off);
		return na == nb;
	case CT_BOOL:
	case CT_ENUM:
		GET(ia, a, o->o_off);
		GET(ib, b, o->o_off);
		return ia == ib;
	default:
		break;
	}
	/* the lists: a pointer at o_off, a count at o_off2 */
	GET(na, a, o->o_off2);
	GET(nb, b, o->o_off2);
	if (na != nb)
		return 0;
	switch (o->o_type) {
	case CT_HEADERS:
		GET(ka, a, o->o_off);
		GET(kb, b, o->o_off);
		for (i = 0; i < na; i++)
			if (!str_eq(ka[i].kv_key, kb[i].kv_key) ||
			    !str_eq(ka[i].kv_value, kb[i].kv_value))
				return 0;
		return 1;
	case CT_STATUS:
		GET(ra, a, o->o_off);
		GET(rb, b, o->o_off);
		return na == 0 || memcmp(ra, rb, na * sizeof(*ra)) == 0;
	case CT_ARGV:
		GET(va, a, o->o_off);
		GET(vb, b, o->o_off);
		for (i = 0; i < na; i++)
			if (!str_eq(va[i], vb[i]))
				return 0;
		return 1;
	default:
		return 1;
	}
}

int
config_check_equal(const struct cfg_check *a, const struct cfg_check *b)
{
	size_t i;

	if (a->ck_kind != b->ck_kind)
		return 0;
	for (i = 0; i < cfg_nopts; i++)
		if (cfg_opts[i].o_scope == CS_CHECK &&
		    !opt_eq(&cfg_opts[i], a, b))
			return 0;
	return 1;
}
