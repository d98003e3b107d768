/*
 * load.c - where the config comes from, and the parse -> validate pipeline.
 *
 * config_parse() builds a fresh struct config from bytes and either returns
 * it complete and valid, or frees everything and returns -1 with every
 * problem in the diagnostics; the caller keeps its running config.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg_priv.h"

/*
 * With no file at all, "nodowntime run" serves /live and /ready on :3000
 * with no checks and the default drain. Parsed like any file, so the
 * defaults come from the schema table and the env overrides apply.
 */
static const char embedded_default[] =
	"# nodowntime embedded default: probe endpoints only, no checks\n"
	"listen: 0.0.0.0:3000\n"
	"checks: []\n";

const char *
check_kind_str(enum check_kind k)
{
	switch (k) {
	case CHECK_HTTP:
		return "http";
	case CHECK_TCP:
		return "tcp";
	case CHECK_GRPC:
		return "grpc";
	case CHECK_EXEC:
		return "exec";
	case CHECK_KIND_NONE:
		break;
	}
	return "none";
}

const char *
config_lookup(const char *cli_path)
{
	const char *env;
	struct stat st;

	if (cli_path != NULL && *cli_path != '\0')
		return cli_path;
	if ((env = getenv("NODOWNTIME_CONFIG")) != NULL && *env != '\0')
		return env;
	/* exists, even unreadable: then loading it reports why */
	if (stat(CFG_DEFAULT_PATH, &st) == 0)
		return CFG_DEFAULT_PATH;
	return NULL;
}

void
config_free(struct config *cf)
{
	size_t i;

	if (cf == NULL)
		return;
	for (i = 0; i < cf->cf_nchecks; i++)
		cfg_free_fields(CS_CHECK, &cf->cf_checks[i]);
	cfg_free_fields(CS_ROOT, cf);
	free(cf->cf_checks);
	for (i = 0; i < cf->cf_ntmpls; i++)
		free(cf->cf_tmpls[i].tm_src);
	free(cf->cf_tmpls);
	env_secrets_free(&cf->cf_secrets);
	free(cf->cf_listen_host);
	free(cf->cf_agent_listen_host);
	free(cf->cf_file);
	free(cf);
}

int
config_parse(const char *name, const char *data, size_t len,
    struct config **out, struct cfg_diags *dg)
{
	struct cfg_ctx *ctx;
	struct ynode *root = NULL;
	struct config *cf = NULL;
	size_t first = dg->dg_n, nerrors;
	int oom;

	*out = NULL;
	if (name == NULL)
		name = "<config>";
	if (data == NULL)
		len = 0;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		goto nomem;
	ctx->c_name = name;
	ctx->c_diags = dg;
	ctx->c_first = first;
	if (len > CFG_MAX_FILE) {
		cfg_error(ctx, NULL, "larger than %d bytes; refusing to parse",
		    CFG_MAX_FILE);
		goto fail;
	}
	if ((cf = calloc(1, sizeof(*cf))) == NULL ||
	    (cf->cf_file = strdup(name)) == NULL ||
	    cfg_defaults(CS_ROOT, cf) == -1) {
		cfg_oom(ctx);
		goto fail;
	}
	ctx->c_cf = cf;
	if (cfg_yaml_parse(ctx, data ? data : "", len, &root) == -1)
		goto fail;
	cfg_walk(ctx, root);
	if (ctx->c_oom)
		goto fail;
	cfg_validate(ctx);
 fail:
	ynode_free(root);
	nerrors = ctx->c_nerrors;
	oom = ctx->c_oom;
	free(ctx->c_ck);
	free(ctx);
	cfg_diags_sort(dg, first);
	if (oom)
		dg->dg_oom = 1;
	if (nerrors > 0 || oom) {
		config_free(cf);
		return -1;
	}
	*out = cf;
	return 0;
 nomem:
	/* not even room for a context: count it, store what we can */
	dg->dg_nerrors++;
	dg->dg_oom = 1;
	return -1;
}

/* the whole file, at most CFG_MAX_FILE + 1 bytes; -1 with errno */
static int
read_file(const char *path, char **data, size_t *len)
{
	size_t cap = CFG_MAX_FILE + 2, n = 0;
	ssize_t r;
	char *buf;
	int fd, saved;

	*data = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((buf = malloc(cap)) == NULL)
		goto fail;
	while (n < cap - 1) {
		r = read(fd, buf + n, cap - 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(fd);
	*data = buf;
	*len = n;
	return 0;
 fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

int
config_load(const char *path, struct config **out, struct cfg_diags *dg)
{
	struct cfg_ctx ctx;
	char *data;
	size_t len;
	int r, saved;

	*out = NULL;
	if (path == NULL)
		return config_parse(CFG_EMBEDDED_NAME, embedded_default,
		    sizeof(embedded_default) - 1, out, dg);
	if (read_file(path, &data, &len) == -1) {
		saved = errno;
		memset(&ctx, 0, sizeof(ctx));
		ctx.c_name = path;
		ctx.c_diags = dg;
		cfg_error(&ctx, NULL, "cannot read: %s", strerror(saved));
		return -1;
	}
	r = config_parse(path, data, len, out, dg);
	free(data);
	return r;
}
