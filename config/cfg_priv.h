/*
 * cfg_priv.h - the config module's insides, shared by the files of config/ only.
 *
 * Pipeline: parse.c turns libyaml events into a small node tree that keeps
 * every mark; walk.c binds the tree to struct config through the schema
 * table in schema.c (types, bounds, defaults, docs), convert.c turns each
 * value into its field; validate.c is the semantic pass (addr.c: its
 * addresses); print.c prints
 * from the same table; load.c drives it all.
 */
#ifndef NDT_CFG_PRIV_H
#define NDT_CFG_PRIV_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "../agent/util.h"

#define CFG_MAX_FILE		(1024 * 1024)	/* bytes of YAML */
#define CFG_MAX_DEPTH		16		/* nested collections */
#define CFG_MAX_STRING		4096		/* bytes in one scalar */
#define CFG_MAX_HEADERS		64
#define CFG_MAX_ARGV		64
#define CFG_MAX_STATUS		32		/* expect.status entries */
#define CFG_MAX_UIDS		64		/* control_allowed_uids */
#define CFG_MAX_KEYS		128		/* keys in one mapping */
#define CFG_MAX_ITEMS		4096		/* items in one sequence */
#define CFG_MAX_NODES		(256 * 1024)
#define CFG_MAX_DIAGS		64		/* per parse, then give up */
#define CFG_MAX_DURATION_MS	(24ULL * 3600 * 1000)
#define CFG_MAX_OPTS		96		/* rows in the schema table */
#define CFG_PATH_MAX		64		/* "drain.notify.http.timeout" */
#define CFG_LABEL_MAX		96		/* "check 'app'" */

/* parse.c: the node tree */
enum ynode_type {
	YN_SCALAR,
	YN_SEQ,
	YN_MAP,
	YN_BAD		/* alias, bad key...: already reported, skipped */
};

struct ynode {
	enum ynode_type	 n_type;
	struct cfg_mark	 n_mark;
	char		*n_str;		/* scalar, NUL-terminated, no NUL inside */
	size_t		 n_len;
	int		 n_plain;	/* plain style: may be null */
	struct ynode	**n_kids;	/* seq: items; map: key, value, ... */
	size_t		 n_nkids;
	size_t		 n_cap;
};

struct cfg_ckmarks {			/* where each option of one check was */
	struct cfg_mark	 cm_key[CFG_MAX_OPTS];
	struct cfg_mark	 cm_val[CFG_MAX_OPTS];
	char		 cm_label[CFG_LABEL_MAX];
	int		 cm_bad;	/* not a mapping: skip in validation */
};

struct cfg_ctx {
	const char	*c_name;	/* file name for diagnostics */
	struct cfg_diags *c_diags;
	size_t		 c_first;	/* this parse's first diagnostic */
	size_t		 c_nerrors;	/* errors in this parse */
	size_t		 c_ndiags;
	int		 c_oom;
	size_t		 c_nnodes;
	struct config	*c_cf;
	struct cfg_mark	 c_key[CFG_MAX_OPTS];	/* root scope marks */
	struct cfg_mark	 c_val[CFG_MAX_OPTS];
	struct cfg_ckmarks *c_ck;		/* [cf_nchecks] */
	int		 c_listen_env;	/* listen from APP_BIND_ADDRESS */
	int		 c_shutdown_env; /* from APP_SHUTDOWN_TIMEOUT */
};

/* schema.c: one row per option */
enum cfg_scope {
	CS_ROOT,	/* fields of struct config */
	CS_CHECK	/* fields of struct cfg_check */
};

enum cfg_type {
	CT_SECTION,	/* a mapping of further options */
	CT_STRING,	/* char * */
	CT_DURATION,	/* uint64_t ms */
	CT_UINT,	/* unsigned */
	CT_SIZE,	/* size_t */
	CT_BOOL,	/* int */
	CT_ENUM,	/* int-sized enum, names in o_enum */
	CT_HEADERS,	/* struct cfg_kv * at o_off, size_t count at o_off2 */
	CT_STATUS,	/* struct cfg_range * at o_off, count at o_off2 */
	CT_ARGV,	/* char ** at o_off, count at o_off2 */
	CT_AFFECTS,	/* unsigned AFFECT_* bits */
	CT_UIDS,	/* unsigned * at o_off, size_t count at o_off2 */
	CT_CHECKS	/* the checks list */
};

#define CO_REQUIRED	0x1u	/* must be given when its section is */
#define CO_COMPUTED	0x2u	/* default computed by validate.c from other
				 * options; o_default only describes it */

struct cfg_enum {
	const char	*e_name;
	int		 e_value;
};

#define CFG_NO_OFF	((size_t)-1)

struct cfg_opt {
	const char	*o_path;	/* "drain.max_wait", "http.tls.ca_file" */
	enum cfg_scope	 o_scope;
	enum cfg_type	 o_type;
	size_t		 o_off;		/* SECTION: int set to 1 when given */
	size_t		 o_off2;
	uint64_t	 o_min;		/* ints; durations in ms */
	uint64_t	 o_max;
	enum check_kind	 o_kind;	/* SECTION naming a check kind */
	unsigned	 o_flags;
	const struct cfg_enum *o_enum;
	const char	*o_default;	/* as YAML text; NULL = none */
	const char	*o_doc;
};

extern const struct cfg_opt	cfg_opts[];
extern const size_t		cfg_nopts;

const struct cfg_opt *cfg_opt_find(enum cfg_scope, const char *path);
size_t		 cfg_opt_index(const struct cfg_opt *);
size_t		 cfg_opt_lookup(enum cfg_scope, const char *path);
const struct cfg_opt *cfg_opt_parent(const struct cfg_opt *);
const char	*cfg_opt_key(const struct cfg_opt *);
const char	*cfg_type_str(const struct cfg_opt *);
int		 cfg_defaults(enum cfg_scope, void *base);
void		 cfg_free_fields(enum cfg_scope, void *base);
int		 cfg_enum_lookup(const struct cfg_enum *, const char *, int *);
const char	*cfg_enum_name(const struct cfg_enum *, int);
int		 cfg_status_parse(const char *, struct cfg_range *);
int		 cfg_affect_lookup(const char *, unsigned *);
size_t		 cfg_edit_distance(const char *, const char *);

/* parse.c */
int		 cfg_yaml_parse(struct cfg_ctx *, const char *, size_t,
		    struct ynode **);
void		 ynode_free(struct ynode *);
int		 ynode_is_null(const struct ynode *);

/* walk.c */
void		 cfg_walk(struct cfg_ctx *, const struct ynode *);

/* convert.c */
void		 cfg_set(struct cfg_ctx *, const struct cfg_opt *,
		    const struct ynode *, void *);
const char	*cfg_got(const struct ynode *, char *, size_t);
void		 cfg_template_note(struct cfg_ctx *, char *const *,
		    const char *, int);

/* validate.c */
void		 cfg_validate(struct cfg_ctx *);
/* a mark, or NULL when the option was not written (defaulted) */
const struct cfg_mark *cfg_given(const struct cfg_mark *, enum cfg_scope,
		    const char *path);
/* validkube.c: kubernetes, wait_for_endpoints, fail_open, shared */
void		 cfg_validate_kube(struct cfg_ctx *);

/* validagent.c: agent_check */
void		 cfg_validate_agent_check(struct cfg_ctx *);

/* addr.c */
int		 cfg_hostport(const char *, char **host, unsigned *port);
/* a listen address: IPv4:port or [IPv6]:port, literal addresses only */
int		 cfg_listen_addr(const char *, char **host, unsigned *port);
int		 cfg_is_loopback(const char *host);
int		 cfg_url_host(const char *url, char *host, size_t len);
/* the host a check reaches over the network, in buf; NULL: none, or the
 * pod itself (loopback, a unix socket, ${POD_IP} or ${HOSTNAME}) */
const char	*cfg_live_target(const struct config *,
		    const struct cfg_check *, char *buf, size_t len);

/* duration.c */
int		 cfg_duration_parse(const char *, uint64_t *, char *, size_t);

/* diag.c */
void		 cfg_error(struct cfg_ctx *, const struct cfg_mark *,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
void		 cfg_warning(struct cfg_ctx *, const struct cfg_mark *,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
void		 cfg_error_file(struct cfg_ctx *, const char *file,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
void		 cfg_diags_sort(struct cfg_diags *, size_t first);
void		 cfg_oom(struct cfg_ctx *);
/* a user's text for a message: printable ASCII/UTF-8, truncated */
const char	*cfg_quote(const char *, char *, size_t);

#endif
