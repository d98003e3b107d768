/*
 * validagent.c - the semantic pass over agent_check: its listen address
 * (a literal IP and a port that no other listener of the pod's agent
 * holds) and warn_weight, a percentage (validate.c runs it).
 */
#include <stdlib.h>
#include <string.h>

#include "cfg_priv.h"

/* "50%" or "50" -> 50; -1 unless 0-100 */
static int
weight_pct(const char *s, unsigned *pct)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > 3 || (s[n] != '\0' && strcmp(s + n, "%") != 0))
		return -1;
	*pct = (unsigned)strtoul(s, NULL, 10);
	return *pct <= 100 ? 0 : -1;
}

void
cfg_validate_agent_check(struct cfg_ctx *ctx)
{
	struct config *cf = ctx->c_cf;
	const struct cfg_mark *ml = cfg_given(ctx->c_val, CS_ROOT,
	    "agent_check.listen");
	char q[64];
	char *host = NULL;
	unsigned port;

	if (cf->cf_agent_warn == NULL ||
	    weight_pct(cf->cf_agent_warn, &cf->cf_agent_warn_pct) == -1) {
		cfg_error(ctx, cfg_given(ctx->c_val, CS_ROOT,
		    "agent_check.warn_weight"), "agent_check.warn_weight: "
		    "invalid weight '%s': expected a percentage from 0%% to "
		    "100%% of the server's weight in HAProxy, like 50%%",
		    cfg_quote(cf->cf_agent_warn ? cf->cf_agent_warn : "", q,
		    sizeof(q)));
		cf->cf_agent_warn_pct = 50;
	}
	if (cf->cf_agent_listen == NULL || cf->cf_agent_listen[0] == '\0')
		return;
	if (cfg_listen_addr(cf->cf_agent_listen, &host, &port) == -1) {
		cfg_error(ctx, ml, "agent_check.listen: invalid address '%s': "
		    "expected IPv4:port or [IPv6]:port, like 0.0.0.0:3001 "
		    "(or \"\" for no agent-check)",
		    cfg_quote(cf->cf_agent_listen, q, sizeof(q)));
		return;
	}
	free(cf->cf_agent_listen_host);
	cf->cf_agent_listen_host = host;
	cf->cf_agent_listen_port = port;
	if (port == cf->cf_listen_port)
		cfg_error(ctx, ml, "agent_check.listen: port %u is the agent's "
		    "own listen port (the HTTP endpoints); give the agent-check "
		    "a port of its own, like %u", port, port + 1 > 65535 ?
		    port - 1 : port + 1);
	else if (port == cf->cf_app_port)
		cfg_error(ctx, ml, "agent_check.listen: port %u is app.port, "
		    "the application's; give the agent-check a port of its "
		    "own", port);
}
