/*
 * validkube.c - the semantic pass over what the EndpointSlice watch
 * drives: kubernetes:, drain.wait_for_endpoints, fail_open and each
 * check's shared (validate.c runs it with the rest).
 */
#include <string.h>
#include <strings.h>

#include "cfg_priv.h"

/*
 * shared: true is for a dependency every replica reaches (fail_open); a
 * check of this pod itself (loopback, ${POD_IP}, a unix socket) is the
 * app's own health, which fail-open must never hide.
 */
static void
check_shared(struct cfg_ctx *ctx, const struct cfg_check *ck,
    const struct cfg_ckmarks *cm)
{
	const struct cfg_mark *m = cfg_given(cm->cm_val, CS_CHECK, "shared");
	char host[256];

	if (!ck->ck_shared || ck->ck_kind == CHECK_EXEC ||
	    ck->ck_kind == CHECK_KIND_NONE)
		return;
	if (cfg_live_target(ctx->c_cf, ck, host, sizeof(host)) == NULL)
		cfg_error(ctx, m, "%s: shared: true, but the check probes this "
		    "pod itself (the app's own health, which fail-open never "
		    "hides); shared is for a dependency every replica "
		    "reaches: remove shared", cm->cm_label);
	else if (!(ck->ck_affects & AFFECT_READY) || !ck->ck_critical)
		cfg_warning(ctx, m, "%s: shared has no effect: fail-open acts "
		    "on a critical check that affects ready", cm->cm_label);
}

/*
 * kubernetes:, drain.wait_for_endpoints and fail_open: the last two need
 * the watch, so kubernetes.enabled: false with either is an error. Whether
 * in-cluster credentials exist is the agent's start-up question (kube.c),
 * not check-config's: a chart's config is checked outside the cluster.
 */
void
cfg_validate_kube(struct cfg_ctx *ctx)
{
	struct config *cf = ctx->c_cf;
	const struct cfg_mark *em = cfg_given(ctx->c_val, CS_ROOT,
	    "kubernetes.enabled");
	const struct cfg_mark *wm = cfg_given(ctx->c_val, CS_ROOT,
	    "drain.wait_for_endpoints");
	const struct cfg_mark *fm = cfg_given(ctx->c_val, CS_ROOT,
	    "fail_open.min_ready_percent");
	const char *api = cf->cf_kube.k_api;
	size_t i, nshared = 0;

	if (em != NULL)
		cf->cf_kube.k_mark = *em;
	if (api != NULL && api[0] != '\0' && strncasecmp(api, "https://", 8) &&
	    strncasecmp(api, "http://", 7))
		cfg_error(ctx, cfg_given(ctx->c_val, CS_ROOT, "kubernetes.api"),
		    "kubernetes.api: expected an https:// URL like "
		    "https://10.96.0.1:443, or \"\" for the in-cluster one");
	if (cf->cf_kube.k_enabled == KUBE_OFF) {
		if (cf->cf_drain.d_wait_for_endpoints)
			cfg_error(ctx, wm, "drain.wait_for_endpoints needs the "
			    "EndpointSlice watch, but kubernetes.enabled is "
			    "false; write enabled: auto, or remove "
			    "wait_for_endpoints");
		if (cf->cf_fail_open_pct)
			cfg_error(ctx, fm, "fail_open.min_ready_percent needs "
			    "the EndpointSlice watch, but kubernetes.enabled is "
			    "false; write enabled: auto, or min_ready_percent: "
			    "0");
	}
	for (i = 0; i < cf->cf_nchecks; i++) {
		if (!ctx->c_ck[i].cm_bad)
			check_shared(ctx, &cf->cf_checks[i], &ctx->c_ck[i]);
		if (cf->cf_checks[i].ck_shared)
			nshared++;
	}
	if (cf->cf_fail_open_pct && nshared == 0)
		cfg_warning(ctx, fm, "fail_open.min_ready_percent is set, but no "
		    "check has shared: true: fail-open has nothing to act on; "
		    "mark the dependency every replica shares");
}
