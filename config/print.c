/*
 * print.c - the effective config as YAML, the drain timeline, and the
 * Markdown reference, all from the schema table.
 *
 * config_print()'s output parses back to the same config: strings are
 * double-quoted with '$' doubled (the parser expands ${VAR}), durations
 * are fmt_duration()'s, every header value that came from ${VAR} is
 * "<redacted>", and any other string that came from ${VAR} is printed as
 * written (config_template), so it expands again and shows no secret.
 */
#include <stdio.h>
#include <string.h>

#include "cfg_priv.h"

#define CFIELD(base, off, type) \
	((type const *)(const void *)((const char *)(base) + (off)))

/*
 * A double-quoted YAML string. env: write it so that ${VAR} expansion
 * gives it back, and no longer than needed: a '$' becomes "$$" only where
 * it would otherwise start "$$" or "${". Doubling every '$' made a value
 * near CFG_MAX_STRING with a lone '$' ("10$") print longer than the limit,
 * so the output did not parse back (fuzz_config found it).
 */
static void
print_str(FILE *fp, const char *s, int env)
{
	unsigned char c;

	fputc('"', fp);
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", fp);
		else if (c == '\t')
			fputs("\\t", fp);
		else if (c < 0x20 || c == 0x7f)
			fprintf(fp, "\\x%02x", c);
		else if (c == '$' && env && (s[1] == '$' || s[1] == '{'))
			fputs("$$", fp);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

static int
is_child(const struct cfg_opt *o, enum cfg_scope sc, const char *prefix)
{
	size_t n = strlen(prefix);

	return o->o_scope == sc && strncmp(o->o_path, prefix, n) == 0 &&
	    strchr(o->o_path + n, '.') == NULL;
}

static int
visible(const struct cfg_opt *o, const void *base)
{
	switch (o->o_type) {
	case CT_SECTION:
		if (o->o_kind != CHECK_KIND_NONE)
			return ((const struct cfg_check *)base)->ck_kind ==
			    o->o_kind;
		if (o->o_off != CFG_NO_OFF)
			return *CFIELD(base, o->o_off, int) != 0;
		return 1;
	case CT_STRING:
		return *CFIELD(base, o->o_off, char *) != NULL;
	case CT_HEADERS:
		return *CFIELD(base, o->o_off2, size_t) != 0;
	default:
		return 1;
	}
}

static void	print_map(FILE *, const struct config *, enum cfg_scope,
		    const char *, const void *, int, int);

const char *
config_template(const struct config *cf, char *const *field)
{
	size_t i;

	for (i = 0; i < cf->cf_ntmpls; i++)
		if (cf->cf_tmpls[i].tm_field == field)
			return cf->cf_tmpls[i].tm_src;
	return NULL;
}

/* a string field: as written when it used ${VAR}, else the value */
static void
print_field(FILE *fp, const struct config *root, char *const *field)
{
	const char *t;

	if ((t = config_template(root, field)) != NULL)
		print_str(fp, t, 0);
	else
		print_str(fp, *field, 1);
}

static void
print_value(FILE *fp, const struct config *root, const struct cfg_opt *o,
    const void *base, int indent)
{
	const struct config *cf = base;
	const struct cfg_range *r;
	const struct cfg_kv *kv;
	char *const *argv;
	char d[32], path[CFG_PATH_MAX + 1];
	unsigned bits;
	size_t i, n;

	switch (o->o_type) {
	case CT_SECTION:
		fputc('\n', fp);
		snprintf(path, sizeof(path), "%s.", o->o_path);
		print_map(fp, root, o->o_scope, path, base, indent + 2, 0);
		return;
	case CT_STRING:
		print_field(fp, root, CFIELD(base, o->o_off, char *));
		break;
	case CT_DURATION:
		fmt_duration(*CFIELD(base, o->o_off, uint64_t), d, sizeof(d));
		fputs(d, fp);
		break;
	case CT_UINT:
		fprintf(fp, "%u", *CFIELD(base, o->o_off, unsigned));
		break;
	case CT_SIZE:
		fprintf(fp, "%zu", *CFIELD(base, o->o_off, size_t));
		break;
	case CT_BOOL:
		fputs(*CFIELD(base, o->o_off, int) ? "true" : "false", fp);
		break;
	case CT_ENUM:
		fputs(cfg_enum_name(o->o_enum, *CFIELD(base, o->o_off, int)),
		    fp);
		break;
	case CT_HEADERS:
		kv = *CFIELD(base, o->o_off, struct cfg_kv *);
		n = *CFIELD(base, o->o_off2, size_t);
		for (i = 0; i < n; i++) {
			fprintf(fp, "\n%*s", indent + 2, "");
			print_str(fp, kv[i].kv_key, 0);
			fputs(": ", fp);
			if (kv[i].kv_secret)
				fputs("\"<redacted>\"", fp);
			else
				print_str(fp, kv[i].kv_value, 1);
		}
		break;
	case CT_STATUS:
		r = *CFIELD(base, o->o_off, struct cfg_range *);
		n = *CFIELD(base, o->o_off2, size_t);
		fputc('[', fp);
		for (i = 0; i < n; i++) {
			if (r[i].r_lo == r[i].r_hi)
				fprintf(fp, "%s\"%d\"", i ? ", " : "", r[i].r_lo);
			else
				fprintf(fp, "%s\"%d-%d\"", i ? ", " : "",
				    r[i].r_lo, r[i].r_hi);
		}
		fputc(']', fp);
		break;
	case CT_ARGV:
		argv = *CFIELD(base, o->o_off, char **);
		fputc('[', fp);
		for (i = 0; argv != NULL && argv[i] != NULL; i++) {
			fputs(i ? ", " : "", fp);
			print_field(fp, root, &argv[i]);
		}
		fputc(']', fp);
		break;
	case CT_UIDS:
		fputc('[', fp);
		for (i = 0; i < *CFIELD(base, o->o_off2, size_t); i++)
			fprintf(fp, "%s%u", i ? ", " : "",
			    (*CFIELD(base, o->o_off, unsigned *))[i]);
		fputc(']', fp);
		break;
	case CT_AFFECTS:
		bits = *CFIELD(base, o->o_off, unsigned);
		fprintf(fp, "[%s%s%s%s%s]", bits & AFFECT_LIVE ? "live" : "",
		    (bits & AFFECT_LIVE) && (bits & ~AFFECT_LIVE) ? ", " : "",
		    bits & AFFECT_READY ? "ready" : "",
		    (bits & AFFECT_READY) && (bits & AFFECT_STARTUP) ? ", " : "",
		    bits & AFFECT_STARTUP ? "startup" : "");
		break;
	case CT_CHECKS:
		if (cf->cf_nchecks == 0) {
			fputs("[]", fp);
			break;
		}
		fputc('\n', fp);
		for (i = 0; i < cf->cf_nchecks; i++)
			print_map(fp, root, CS_CHECK, "", &cf->cf_checks[i],
			    indent + 4, 1);
		return;
	}
	fputc('\n', fp);
}

/* dash: the first key is "- key" (a list item) */
static void
print_map(FILE *fp, const struct config *root, enum cfg_scope sc,
    const char *prefix, const void *base, int indent, int dash)
{
	const struct cfg_opt *o;
	size_t i;

	for (i = 0; i < cfg_nopts; i++) {
		o = &cfg_opts[i];
		if (!is_child(o, sc, prefix) || !visible(o, base))
			continue;
		if (dash) {
			fprintf(fp, "%*s- ", indent - 2, "");
			dash = 0;
		} else
			fprintf(fp, "%*s", indent, "");
		fprintf(fp, "%s:", cfg_opt_key(o));
		if (o->o_type != CT_SECTION && o->o_type != CT_HEADERS &&
		    !(o->o_type == CT_CHECKS && ((const struct config *)
		    base)->cf_nchecks > 0))
			fputc(' ', fp);
		print_value(fp, root, o, base, indent);
	}
}

void
config_print(const struct config *cf, FILE *fp)
{
	fputs("# effective configuration, from ", fp);
	print_str(fp, cf->cf_file, 0);
	fputs("\n", fp);
	print_map(fp, cf, CS_ROOT, "", cf, 0, 0);
}

/* with drain.quiet: the soonest the delay can end (quiet from the start) */
static uint64_t
timeline_best(const struct cfg_drain *d)
{
	return d->d_quiet_ms > d->d_min_delay_ms ? d->d_quiet_ms :
	    d->d_min_delay_ms;
}

/*
 * When each drain phase starts, from the preStop hook (or SIGTERM), and
 * whether the whole fits in the pod's grace period:
 *
 *    0s      draining   /ready -> 503, the app keeps serving (delay 5s)
 *    5s      quiescing  wait for :8080 connections -> 0 (max_wait 20s)
 *   ≤25s     drained    preStop returns; the kubelet sends SIGTERM
 *   ≤55s     exited     the app must have exited (shutdown_timeout 30s)
 *   grace_period 60s: fits (5s spare)
 */
void
config_print_timeline(const struct config *cf, FILE *fp)
{
	const struct cfg_drain *d = &cf->cf_drain;
	char t[72], a[32], b[32];
	const char *url;
	uint64_t drained, total;

	drained = d->d_delay_ms + (d->d_wait_for_connections ?
	    d->d_max_wait_ms : 0);
	total = drained + d->d_shutdown_timeout_ms;

	fputs("drain timeline (from preStop, or SIGTERM to the agent):\n", fp);
	fmt_duration(d->d_delay_ms, a, sizeof(a));
	if (d->d_quiet_ms == 0) {
		fprintf(fp, "   %-8s draining   /ready -> 503, the app keeps "
		    "serving (delay %s)\n", "0s", a);
		fmt_duration(d->d_delay_ms, t, sizeof(t));
	} else {
		fmt_duration(d->d_quiet_ms, b, sizeof(b));
		fmt_duration(d->d_min_delay_ms, t, sizeof(t));
		fprintf(fp, "   %-8s draining   /ready -> 503, the app keeps "
		    "serving until :%u has been quiet for %s (not before "
		    "min_delay %s, at most delay %s)\n", "0s", cf->cf_app_port,
		    b, t, a);
		fmt_duration(timeline_best(d), b, sizeof(b));
		snprintf(t, sizeof(t), "%s-%s", b, a);
	}
	fprintf(fp, "   %-8s quiescing  ", t);
	if (d->d_notify.n_enabled && d->d_notify.n_url != NULL) {
		url = config_template(cf, &d->d_notify.n_url);
		fprintf(fp, "notify the app (%s %s); ", d->d_notify.n_method,
		    url != NULL ? url : d->d_notify.n_url);
	}
	fmt_duration(d->d_max_wait_ms, b, sizeof(b));
	if (!d->d_wait_for_connections)
		fputs("no connection wait (wait_for_connections: false)\n",
		    fp);
	else if (cf->cf_app_port == 0)
		fprintf(fp, "app.port not set: no connections to count "
		    "(max_wait %s still budgeted)\n", b);
	else if (d->d_idle_ms == 0)
		fprintf(fp, "wait for :%u connections -> 0 (max_wait %s)\n",
		    cf->cf_app_port, b);
	else {
		fmt_duration(d->d_idle_ms, a, sizeof(a));
		fprintf(fp, "wait for :%u connections -> 0 or all idle for "
		    "%s (max_wait %s)\n", cf->cf_app_port, a, b);
	}

	fmt_duration(drained, t, sizeof(t));
	fprintf(fp, "  \xe2\x89\xa4%-8s drained    preStop returns; the kubelet "
	    "sends SIGTERM to the app\n", t);
	fmt_duration(total, t, sizeof(t));
	fmt_duration(d->d_shutdown_timeout_ms, a, sizeof(a));
	fprintf(fp, "  \xe2\x89\xa4%-8s exited     the app must have exited "
	    "(shutdown_timeout %s)\n", t, a);

	if (d->d_quiet_ms != 0) {
		fmt_duration(timeline_best(d), t, sizeof(t));
		fprintf(fp, "best case:  drained at %s (no new connection or "
		    "request after /ready turns 503, no connection left%s)\n",
		    t, d->d_idle_ms != 0 ? " or all idle" : "");
		fmt_duration(drained, t, sizeof(t));
		fprintf(fp, "worst case: drained at %s (traffic until delay, "
		    "connections until max_wait); the budget uses this\n", t);
	}
	fmt_duration((total + 999) / 1000 * 1000, t, sizeof(t));
	if (d->d_grace_period_ms == 0) {
		fprintf(fp, "grace_period not set: set drain.grace_period to "
		    "the pod's terminationGracePeriodSeconds (at least %s) to "
		    "check the budget\n", t);
		return;
	}
	fmt_duration(d->d_grace_period_ms, a, sizeof(a));
	if (total <= d->d_grace_period_ms) {
		fmt_duration(d->d_grace_period_ms - total, b, sizeof(b));
		fprintf(fp, "grace_period %s: fits (%s spare)\n", a, b);
	} else {
		fmt_duration(total - d->d_grace_period_ms, b, sizeof(b));
		fprintf(fp, "grace_period %s: does NOT fit, %s short: the "
		    "kubelet would SIGKILL the app; raise it to at least %s\n",
		    a, b, t);
	}
}

static void
md_cell(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			fputc('\\', fp);
		fputc(*s, fp);
	}
}

void
config_print_reference(FILE *fp)
{
	const struct cfg_opt *o;
	size_t i;

	fputs("| key | type | default | description |\n", fp);
	fputs("|---|---|---|---|\n", fp);
	for (i = 0; i < cfg_nopts; i++) {
		o = &cfg_opts[i];
		fprintf(fp, "| `%s%s` | %s", o->o_scope == CS_CHECK ?
		    "checks[]." : "", o->o_path, cfg_type_str(o));
		if (o->o_type == CT_UINT || o->o_type == CT_SIZE)
			fprintf(fp, " %llu-%llu", (unsigned long long)o->o_min,
			    (unsigned long long)o->o_max);
		fputs(" | ", fp);
		if (o->o_default != NULL) {
			fputs("`", fp);
			if (o->o_type == CT_AFFECTS || o->o_type == CT_STATUS)
				fputs("[", fp);
			if (o->o_type == CT_STRING)
				fputs("\"", fp);
			md_cell(fp, o->o_default);
			if (o->o_type == CT_STRING)
				fputs("\"", fp);
			if (o->o_type == CT_AFFECTS || o->o_type == CT_STATUS)
				fputs("]", fp);
			fputs("`", fp);
		} else if (o->o_flags & CO_REQUIRED)
			fputs("required", fp);
		else if (o->o_type != CT_SECTION)
			fputs("none", fp);
		fputs(" | ", fp);
		md_cell(fp, o->o_doc);
		fputs(" |\n", fp);
	}
}
