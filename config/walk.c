/*
 * walk.c - binds the node tree to struct config through the schema table.
 *
 * Every key is looked up in the table (unknown: error with a suggestion),
 * every value converted by its row's type (wrong: error at the value, saying
 * what to write), and where each option was written is remembered in the
 * context's marks for the semantic pass. A bad value is reported and
 * skipped; the walk goes on, so all mistakes come out in one run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_priv.h"

#define FIELD(base, off, type)	((type *)(void *)((char *)(base) + (off)))

static void	walk_map(struct cfg_ctx *, const struct ynode *,
		    enum cfg_scope, const char *, void *, struct cfg_mark *,
		    struct cfg_mark *);

/* "in check", "in http.tls", "at the top level" */
static const char *
where(enum cfg_scope sc, const char *prefix, char *buf, size_t len)
{
	size_t n = strlen(prefix);

	if (n == 0)
		return sc == CS_CHECK ? "in check" : "at the top level";
	snprintf(buf, len, "in %.*s", (int)(n - 1), prefix);
	return buf;
}

static int
is_child(const struct cfg_opt *o, enum cfg_scope sc, const char *prefix)
{
	size_t n = strlen(prefix);

	return o->o_scope == sc && strncmp(o->o_path, prefix, n) == 0 &&
	    strchr(o->o_path + n, '.') == NULL;
}

static void
unknown_key(struct cfg_ctx *ctx, enum cfg_scope sc, const char *prefix,
    const struct ynode *k)
{
	const struct cfg_opt *o, *best = NULL, *other = NULL;
	char q[64], w[CFG_PATH_MAX + 8], known[512];
	size_t i, d, bestd = SIZE_MAX, n = strlen(prefix), len = 0;

	cfg_quote(k->n_str, q, sizeof(q));
	known[0] = '\0';
	for (i = 0; i < cfg_nopts; i++) {
		o = &cfg_opts[i];
		if (is_child(o, sc, prefix)) {
			d = cfg_edit_distance(k->n_str, o->o_path + n);
			if (d < bestd) {
				bestd = d;
				best = o;
			}
			snprintf(known + len, sizeof(known) - len, "%s%s",
			    len ? ", " : "", o->o_path + n);
			len = strlen(known);
		} else if (strcmp(cfg_opt_key(o), k->n_str) == 0 &&
		    (other == NULL || (other->o_scope != sc &&
		    o->o_scope == sc)))
			other = o;	/* same scope first */
	}
	/* close enough to be a typo: "lisen", "stauts", not "foo" */
	if (best != NULL && bestd <= 2 && bestd * 3 <= k->n_len)
		cfg_error(ctx, &k->n_mark, "unknown key '%s' %s; did you mean "
		    "'%s'?", q, where(sc, prefix, w, sizeof(w)),
		    best->o_path + n);
	else if (other != NULL)
		cfg_error(ctx, &k->n_mark, "unknown key '%s' %s; it belongs "
		    "at %s%s", q, where(sc, prefix, w, sizeof(w)),
		    other->o_scope == CS_CHECK ? "checks[]." : "",
		    other->o_path);
	else
		cfg_error(ctx, &k->n_mark, "unknown key '%s' %s; known keys: "
		    "%s", q, where(sc, prefix, w, sizeof(w)), known);
}

static void	walk_checks(struct cfg_ctx *, const struct ynode *);

static void
walk_section(struct cfg_ctx *ctx, const struct cfg_opt *o,
    const struct ynode *k, const struct ynode *v, void *base,
    struct cfg_mark *km, struct cfg_mark *vm)
{
	struct cfg_check *ck = base;
	char path[CFG_PATH_MAX + 1], g[80], *label;
	size_t i = cfg_opt_index(o);

	if (o->o_kind != CHECK_KIND_NONE) {
		label = ctx->c_ck[ck - ctx->c_cf->cf_checks].cm_label;
		if (ck->ck_kind != CHECK_KIND_NONE) {
			cfg_error(ctx, &k->n_mark, "%s needs exactly one of "
			    "http, tcp, grpc, exec; it already has %s", label,
			    check_kind_str(ck->ck_kind));
			return;
		}
		ck->ck_kind = o->o_kind;
	}
	km[i] = k->n_mark;
	vm[i] = v->n_mark;
	if (o->o_off != CFG_NO_OFF)
		*FIELD(base, o->o_off, int) = 1;
	if (ynode_is_null(v))
		return;
	if (v->n_type != YN_MAP) {
		cfg_error(ctx, &v->n_mark, "%s: expected a mapping of "
		    "key: value, got %s", o->o_path, cfg_got(v, g, sizeof(g)));
		return;
	}
	snprintf(path, sizeof(path), "%s.", o->o_path);
	walk_map(ctx, v, o->o_scope, path, base, km, vm);
}

static void
walk_map(struct cfg_ctx *ctx, const struct ynode *map, enum cfg_scope sc,
    const char *prefix, void *base, struct cfg_mark *km, struct cfg_mark *vm)
{
	const struct ynode *k, *v;
	const struct cfg_opt *o;
	char path[CFG_PATH_MAX + 1];
	size_t i, idx;

	for (i = 0; i + 1 < map->n_nkids; i += 2) {
		k = map->n_kids[i];
		v = map->n_kids[i + 1];
		if (k->n_type != YN_SCALAR)
			continue;
		if (strlen(prefix) + k->n_len >= sizeof(path))
			o = NULL;
		else {
			snprintf(path, sizeof(path), "%s%s", prefix, k->n_str);
			o = cfg_opt_find(sc, path);
		}
		if (o == NULL) {
			unknown_key(ctx, sc, prefix, k);
			continue;
		}
		if (v->n_type == YN_BAD)
			continue;
		if (o->o_type == CT_SECTION) {
			walk_section(ctx, o, k, v, base, km, vm);
			continue;
		}
		idx = cfg_opt_index(o);
		km[idx] = k->n_mark;
		vm[idx] = v->n_mark;
		if (o->o_type == CT_CHECKS)
			walk_checks(ctx, v);
		else
			cfg_set(ctx, o, v, base);
	}
}

/* "check 'app'" from the item's name: before walking, for messages */
static void
check_label(const struct ynode *item, size_t idx, char *buf, size_t len)
{
	const struct ynode *k, *v;
	char q[CFG_NAME_MAX + 8];
	size_t i;

	snprintf(buf, len, "check #%zu", idx + 1);
	if (item->n_type != YN_MAP)
		return;
	for (i = 0; i + 1 < item->n_nkids; i += 2) {
		k = item->n_kids[i];
		v = item->n_kids[i + 1];
		if (k->n_type == YN_SCALAR && strcmp(k->n_str, "name") == 0 &&
		    v->n_type == YN_SCALAR && v->n_len > 0)
			snprintf(buf, len, "check '%s'", cfg_quote(v->n_str,
			    q, sizeof(q)));
	}
}

static void
walk_checks(struct cfg_ctx *ctx, const struct ynode *n)
{
	struct config *cf = ctx->c_cf;
	struct cfg_ckmarks *cm;
	const struct ynode *item;
	struct cfg_check *ck;
	char g[80];
	size_t i;

	if (ynode_is_null(n))
		return;
	if (n->n_type != YN_SEQ) {
		cfg_error(ctx, &n->n_mark, "checks: expected a list of checks "
		    "(- name: ...), got %s", cfg_got(n, g, sizeof(g)));
		return;
	}
	if (n->n_nkids > CFG_MAX_CHECKS) {
		cfg_error(ctx, &n->n_kids[CFG_MAX_CHECKS]->n_mark, "checks: "
		    "more than %d checks", CFG_MAX_CHECKS);
		return;
	}
	if (n->n_nkids == 0)
		return;
	cf->cf_checks = calloc(n->n_nkids, sizeof(*cf->cf_checks));
	ctx->c_ck = calloc(n->n_nkids, sizeof(*ctx->c_ck));
	if (cf->cf_checks == NULL || ctx->c_ck == NULL) {
		cfg_oom(ctx);
		return;
	}
	cf->cf_nchecks = n->n_nkids;
	for (i = 0; i < n->n_nkids; i++) {
		item = n->n_kids[i];
		ck = &cf->cf_checks[i];
		cm = &ctx->c_ck[i];
		ck->ck_mark = item->n_mark;
		if (cfg_defaults(CS_CHECK, ck) == -1) {
			cfg_oom(ctx);
			return;
		}
		check_label(item, i, cm->cm_label, sizeof(cm->cm_label));
		if (item->n_type == YN_BAD) {
			cm->cm_bad = 1;
			continue;
		}
		if (item->n_type != YN_MAP) {
			cfg_error(ctx, &item->n_mark, "checks: each check is a "
			    "mapping (- name: app, http: {...}), got %s",
			    cfg_got(item, g, sizeof(g)));
			cm->cm_bad = 1;
			continue;
		}
		walk_map(ctx, item, CS_CHECK, "", ck, cm->cm_key, cm->cm_val);
	}
}

/*
 * A file with no document (zero bytes, only blanks or comments) or a null
 * one ("---", "~") is a mistake, not a request for the defaults: a volume
 * mounted empty, a template that rendered nothing. Running the embedded
 * default then would serve /ready 200 with no checks on 0.0.0.0:3000.
 */
static void
empty_config(struct cfg_ctx *ctx)
{
	static const struct cfg_mark top = { 1, 1 };

	cfg_error(ctx, &top, "the config is empty (no YAML document); write "
	    "one (e.g. listen: 0.0.0.0:3000 and checks: [...], see "
	    "config/examples/minimal.yaml), or remove this file (and any -c "
	    "or NODOWNTIME_CONFIG naming it) to run the embedded default");
}

void
cfg_walk(struct cfg_ctx *ctx, const struct ynode *root)
{
	char g[80];

	if (root == NULL || ynode_is_null(root)) {
		empty_config(ctx);
		return;
	}
	if (root->n_type == YN_BAD)
		return;
	if (root->n_type != YN_MAP) {
		cfg_error(ctx, &root->n_mark, "the top level must be a mapping "
		    "(listen: ..., checks: ...), got %s", cfg_got(root, g,
		    sizeof(g)));
		return;
	}
	walk_map(ctx, root, CS_ROOT, "", ctx->c_cf, ctx->c_key, ctx->c_val);
}
