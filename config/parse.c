/*
 * parse.c - libyaml events -> a small node tree that keeps every mark.
 *
 * The event API (yaml_parser_parse) gives us marks and lets us refuse what
 * we do not support as it comes: anchors, aliases, tags, several documents,
 * non-scalar keys, duplicate keys, nesting deeper than CFG_MAX_DEPTH. The
 * tree is then bound to struct config by walk.c, so that one mistake does
 * not hide the next: every value is checked, every error reported.
 *
 * Limits keep arbitrary input cheap: CFG_MAX_FILE bytes, CFG_MAX_NODES
 * nodes, CFG_MAX_KEYS keys per mapping (duplicate detection is quadratic),
 * CFG_MAX_ITEMS items per sequence, CFG_MAX_STRING bytes per scalar.
 */
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "cfg_priv.h"

struct ybuild {
	struct cfg_ctx	*b_ctx;
	const char	*b_data;
	size_t		 b_len;
	struct ynode	*b_root;
	struct ynode	*b_stack[CFG_MAX_DEPTH];
	size_t		 b_depth;
	int		 b_ndocs;
};

static struct cfg_mark
ymark(yaml_mark_t m)
{
	struct cfg_mark cm;

	cm.m_line = (unsigned)m.line + 1;
	cm.m_col = (unsigned)m.column + 1;
	return cm;
}

void
ynode_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n_nkids; i++)
		ynode_free(n->n_kids[i]);
	free(n->n_kids);
	free(n->n_str);
	free(n);
}

int
ynode_is_null(const struct ynode *n)
{
	if (n->n_type != YN_SCALAR || !n->n_plain)
		return 0;
	return n->n_len == 0 || strcmp(n->n_str, "~") == 0 ||
	    strcmp(n->n_str, "null") == 0 || strcmp(n->n_str, "Null") == 0 ||
	    strcmp(n->n_str, "NULL") == 0;
}

static struct ynode *
node_new(struct ybuild *b, enum ynode_type t, yaml_mark_t m)
{
	struct ynode *n;

	if (++b->b_ctx->c_nnodes > CFG_MAX_NODES) {
		cfg_error(b->b_ctx, NULL, "more than %d YAML nodes; refusing "
		    "to parse further", CFG_MAX_NODES);
		return NULL;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL) {
		cfg_oom(b->b_ctx);
		return NULL;
	}
	n->n_type = t;
	n->n_mark = ymark(m);
	return n;
}

static const char *
node_what(const struct ynode *n)
{
	switch (n->n_type) {
	case YN_MAP:
		return "a mapping";
	case YN_SEQ:
		return "a list";
	default:
		return "an alias";
	}
}

/* checks a new key against the mapping's earlier keys */
static void
key_check(struct ybuild *b, struct ynode *map, struct ynode *key)
{
	const struct ynode *k;
	char q[64];
	size_t i;

	if (key->n_type != YN_SCALAR) {
		if (key->n_type != YN_BAD)
			cfg_error(b->b_ctx, &key->n_mark, "a key must be a "
			    "plain string, not %s", node_what(key));
		key->n_type = YN_BAD;
		return;
	}
	for (i = 0; i < map->n_nkids; i += 2) {
		k = map->n_kids[i];
		if (k->n_type != YN_SCALAR || k->n_len != key->n_len ||
		    memcmp(k->n_str, key->n_str, k->n_len) != 0)
			continue;
		cfg_error(b->b_ctx, &key->n_mark, "duplicate key '%s' (first "
		    "at %u:%u)", cfg_quote(key->n_str, q, sizeof(q)),
		    k->n_mark.m_line, k->n_mark.m_col);
		key->n_type = YN_BAD;
		return;
	}
}

/* hands n to the tree; -1: stop parsing (n is freed) */
static int
node_attach(struct ybuild *b, struct ynode *n)
{
	struct ynode *parent, **kids;
	size_t cap, max;

	if (b->b_depth == 0) {
		b->b_root = n;
		return 0;
	}
	parent = b->b_stack[b->b_depth - 1];
	if (parent->n_type == YN_MAP) {
		max = 2 * CFG_MAX_KEYS;
		if (parent->n_nkids % 2 == 0)
			key_check(b, parent, n);
	} else
		max = CFG_MAX_ITEMS;
	if (parent->n_nkids >= max) {
		cfg_error(b->b_ctx, &n->n_mark, "more than %d %s in one %s; "
		    "refusing to parse further", parent->n_type == YN_MAP ?
		    CFG_MAX_KEYS : CFG_MAX_ITEMS, parent->n_type == YN_MAP ?
		    "keys" : "items", parent->n_type == YN_MAP ? "mapping" :
		    "list");
		ynode_free(n);
		return -1;
	}
	if (parent->n_nkids == parent->n_cap) {
		cap = parent->n_cap ? parent->n_cap * 2 : 8;
		kids = reallocarray(parent->n_kids, cap, sizeof(*kids));
		if (kids == NULL) {
			cfg_oom(b->b_ctx);
			ynode_free(n);
			return -1;
		}
		parent->n_kids = kids;
		parent->n_cap = cap;
	}
	parent->n_kids[parent->n_nkids++] = n;
	return 0;
}

static void
refuse_props(struct ybuild *b, yaml_mark_t m, const yaml_char_t *anchor,
    const yaml_char_t *tag)
{
	struct cfg_mark cm = ymark(m);
	char q[64];

	if (anchor != NULL)
		cfg_error(b->b_ctx, &cm, "anchors (&%s) are not supported; "
		    "repeat the value instead", cfg_quote((const char *)anchor,
		    q, sizeof(q)));
	if (tag != NULL)
		cfg_error(b->b_ctx, &cm, "tags (%s) are not supported; remove "
		    "it", cfg_quote((const char *)tag, q, sizeof(q)));
}

static int
on_scalar(struct ybuild *b, const yaml_event_t *ev)
{
	const unsigned char *v = ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	struct ynode *n;

	refuse_props(b, ev->start_mark, ev->data.scalar.anchor,
	    ev->data.scalar.tag);
	if ((n = node_new(b, YN_SCALAR, ev->start_mark)) == NULL)
		return -1;
	n->n_plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (len > CFG_MAX_STRING) {
		cfg_error(b->b_ctx, &n->n_mark, "string longer than %d bytes",
		    CFG_MAX_STRING);
		n->n_type = YN_BAD;
	} else if (memchr(v, '\0', len) != NULL) {
		cfg_error(b->b_ctx, &n->n_mark, "string contains a NUL byte");
		n->n_type = YN_BAD;
	} else {
		if ((n->n_str = malloc(len + 1)) == NULL) {
			cfg_oom(b->b_ctx);
			ynode_free(n);
			return -1;
		}
		memcpy(n->n_str, v, len);
		n->n_str[len] = '\0';
		n->n_len = len;
	}
	return node_attach(b, n);
}

static int
on_start(struct ybuild *b, const yaml_event_t *ev, enum ynode_type t)
{
	struct ynode *n;

	if (t == YN_MAP)
		refuse_props(b, ev->start_mark, ev->data.mapping_start.anchor,
		    ev->data.mapping_start.tag);
	else
		refuse_props(b, ev->start_mark, ev->data.sequence_start.anchor,
		    ev->data.sequence_start.tag);
	if ((n = node_new(b, t, ev->start_mark)) == NULL)
		return -1;
	if (b->b_depth >= CFG_MAX_DEPTH) {
		cfg_error(b->b_ctx, &n->n_mark, "nesting deeper than %d "
		    "levels", CFG_MAX_DEPTH);
		ynode_free(n);
		return -1;
	}
	if (node_attach(b, n) == -1)
		return -1;
	b->b_stack[b->b_depth++] = n;
	return 0;
}

static int
on_alias(struct ybuild *b, const yaml_event_t *ev)
{
	struct ynode *n;
	char q[64];

	if ((n = node_new(b, YN_BAD, ev->start_mark)) == NULL)
		return -1;
	cfg_error(b->b_ctx, &n->n_mark, "aliases (*%s) are not supported; "
	    "repeat the value instead", cfg_quote((const char *)
	    ev->data.alias.anchor, q, sizeof(q)));
	return node_attach(b, n);
}

/* libyaml's own error, with its position */
static void
syntax_error(struct ybuild *b, const yaml_parser_t *p)
{
	struct cfg_mark m, cm;
	const char *problem = p->problem ? p->problem : "syntax error";
	char q[64];
	size_t i, off;

	if (p->error == YAML_MEMORY_ERROR) {
		cfg_oom(b->b_ctx);
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		/* only an offset: count lines ourselves */
		off = p->problem_offset < b->b_len ? p->problem_offset :
		    b->b_len;
		m.m_line = 1;
		m.m_col = 1;
		for (i = 0; i < off; i++) {
			if (b->b_data[i] == '\n') {
				m.m_line++;
				m.m_col = 1;
			} else
				m.m_col++;
		}
		cfg_error(b->b_ctx, &m, "invalid YAML: %s", cfg_quote(problem,
		    q, sizeof(q)));
		return;
	}
	m = ymark(p->problem_mark);
	if (p->context != NULL) {
		cm = ymark(p->context_mark);
		cfg_error(b->b_ctx, &m, "invalid YAML: %s (%s started at "
		    "%u:%u)", problem, p->context, cm.m_line, cm.m_col);
	} else
		cfg_error(b->b_ctx, &m, "invalid YAML: %s", problem);
}

/*
 * 0 with *root the document's top node (NULL: empty document), or -1 when
 * parsing had to stop. Errors that do not stop parsing are only reported.
 */
int
cfg_yaml_parse(struct cfg_ctx *ctx, const char *data, size_t len,
    struct ynode **root)
{
	struct ybuild b;
	yaml_parser_t p;
	yaml_event_t ev;
	yaml_event_type_t type;
	struct cfg_mark m;
	int r;

	memset(&b, 0, sizeof(b));
	b.b_ctx = ctx;
	b.b_data = data;
	b.b_len = len;
	*root = NULL;
	if (!yaml_parser_initialize(&p)) {
		cfg_oom(ctx);
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			syntax_error(&b, &p);
			goto fail;
		}
		type = ev.type;
		r = 0;
		switch (type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++b.b_ndocs > 1) {
				m = ymark(ev.start_mark);
				cfg_error(ctx, &m, "only one YAML document is "
				    "allowed; remove the second '---'");
				r = -1;
			}
			break;
		case YAML_SCALAR_EVENT:
			r = on_scalar(&b, &ev);
			break;
		case YAML_ALIAS_EVENT:
			r = on_alias(&b, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			r = on_start(&b, &ev, YN_SEQ);
			break;
		case YAML_MAPPING_START_EVENT:
			r = on_start(&b, &ev, YN_MAP);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (b.b_depth > 0)
				b.b_depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (r == -1)
			goto fail;
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&p);
	*root = b.b_root;
	return 0;
 fail:
	yaml_parser_delete(&p);
	ynode_free(b.b_root);
	return -1;
}
