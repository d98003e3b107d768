/*
 * diag.c - configuration diagnostics: "FILE:LINE:COL: error: MESSAGE".
 *
 * Every problem found while loading is collected, not only the first; a
 * parse stops storing after CFG_MAX_DIAGS (a fuzzed file can hold thousands
 * of mistakes, a human reads the first screen).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_priv.h"

void
cfg_diags_init(struct cfg_diags *dg)
{
	memset(dg, 0, sizeof(*dg));
}

void
cfg_diags_free(struct cfg_diags *dg)
{
	size_t i;

	if (dg == NULL)
		return;
	for (i = 0; i < dg->dg_n; i++) {
		free(dg->dg_v[i].d_file);
		free(dg->dg_v[i].d_msg);
	}
	free(dg->dg_v);
	cfg_diags_init(dg);
}

void
cfg_diags_print(const struct cfg_diags *dg, FILE *fp)
{
	const struct cfg_diag *d;
	const char *kind;
	size_t i, lost;

	for (i = 0; i < dg->dg_n; i++) {
		d = &dg->dg_v[i];
		kind = d->d_warning ? "warning" : "error";
		if (d->d_line == 0)
			fprintf(fp, "%s: %s: %s\n", d->d_file, kind, d->d_msg);
		else
			fprintf(fp, "%s:%u:%u: %s: %s\n", d->d_file, d->d_line,
			    d->d_col, kind, d->d_msg);
	}
	/* counted but not stored: only when memory ran out (diag_store);
	 * say so rather than print "1 error" and nothing else */
	lost = dg->dg_nerrors + dg->dg_nwarnings - dg->dg_n;
	if (lost > 0)
		fprintf(fp, "nodowntime: error: out of memory while loading "
		    "the configuration (%zu problem%s not shown)\n", lost,
		    lost == 1 ? "" : "s");
}

/* 0, or -1 if the diagnostic could not be stored (it still counts) */
static int
diag_store(struct cfg_diags *dg, const char *file, unsigned line,
    unsigned col, int warning, const char *msg)
{
	struct cfg_diag *v, *d;

	if (warning)
		dg->dg_nwarnings++;
	else
		dg->dg_nerrors++;
	v = reallocarray(dg->dg_v, dg->dg_n + 1, sizeof(*v));
	if (v == NULL)
		return -1;
	dg->dg_v = v;
	d = &v[dg->dg_n];
	memset(d, 0, sizeof(*d));
	if ((d->d_file = strdup(file)) == NULL)
		goto fail;
	if ((d->d_msg = strdup(msg)) == NULL)
		goto fail;
	d->d_line = line;
	d->d_col = col;
	d->d_warning = warning;
	dg->dg_n++;
	return 0;
 fail:
	free(d->d_file);
	free(d->d_msg);
	return -1;
}

static void	diag_vadd(struct cfg_ctx *, const char *,
		    const struct cfg_mark *, int, const char *, va_list)
		    __attribute__((format(printf, 5, 0)));

static void
diag_vadd(struct cfg_ctx *ctx, const char *file, const struct cfg_mark *m,
    int warning, const char *fmt, va_list ap)
{
	char msg[1024];

	if (!warning)
		ctx->c_nerrors++;
	if (ctx->c_ndiags > CFG_MAX_DIAGS)
		return;
	ctx->c_ndiags++;
	if (ctx->c_ndiags > CFG_MAX_DIAGS) {
		/* sorts after every positioned diagnostic */
		if (diag_store(ctx->c_diags, ctx->c_name, 0, 0, 0,
		    "too many problems; stopped reporting here") == -1)
			ctx->c_oom = 1;
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (diag_store(ctx->c_diags, file, m ? m->m_line : 0, m ? m->m_col : 0,
	    warning, msg) == -1)
		ctx->c_oom = 1;
}

/* an error at m; m NULL or line 0: about the whole file */
void
cfg_error(struct cfg_ctx *ctx, const struct cfg_mark *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(ctx, ctx->c_name, m, 0, fmt, ap);
	va_end(ap);
}

void
cfg_warning(struct cfg_ctx *ctx, const struct cfg_mark *m, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(ctx, ctx->c_name, m, 1, fmt, ap);
	va_end(ap);
}

/* an error about something else than the file: "APP_BIND_ADDRESS: error:" */
void
cfg_error_file(struct cfg_ctx *ctx, const char *file, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(ctx, file, NULL, 0, fmt, ap);
	va_end(ap);
}

void
cfg_oom(struct cfg_ctx *ctx)
{
	if (ctx->c_oom)
		return;
	ctx->c_oom = 1;
	cfg_error(ctx, NULL, "out of memory");
}

static int
diag_before(const struct cfg_diag *a, const struct cfg_diag *b)
{
	/* positioned ones first, by position; whole-file ones keep order */
	if (a->d_line == 0 || b->d_line == 0)
		return a->d_line != 0 && b->d_line == 0;
	if (a->d_line != b->d_line)
		return a->d_line < b->d_line;
	return a->d_col < b->d_col;
}

/* stable insertion sort of dg_v[first..]: at most CFG_MAX_DIAGS + 1 */
void
cfg_diags_sort(struct cfg_diags *dg, size_t first)
{
	struct cfg_diag t;
	size_t i, j;

	for (i = first + 1; i < dg->dg_n; i++) {
		t = dg->dg_v[i];
		for (j = i; j > first && diag_before(&t, &dg->dg_v[j - 1]); j--)
			dg->dg_v[j] = dg->dg_v[j - 1];
		dg->dg_v[j] = t;
	}
}

const char *
cfg_quote(const char *s, char *buf, size_t len)
{
	size_t i, n = 0;
	unsigned char c;

	if (len == 0)
		return "";
	for (i = 0; s[i] != '\0' && n + 1 < len; i++) {
		c = (unsigned char)s[i];
		buf[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (s[i] != '\0' && n >= 4) {
		n -= 3;
		/* do not leave half a UTF-8 sequence before the dots */
		while (n > 0 && ((unsigned char)buf[n] & 0xc0) == 0x80)
			n--;
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}
