/* agent.h - the running agent: what main.c starts and a reload swaps. */
#ifndef NDT_AGENT_H
#define NDT_AGENT_H

#include "metrics.h"

struct agentcheck;
struct config;
struct control;
struct drain;
struct health;
struct kube;
struct loop;
struct probes;
struct reload;
struct server;

struct agent {
	const char		*ag_path;	/* config file; NULL = embedded */
	struct config		*ag_cfg;	/* owned; swapped by a reload */
	struct loop		*ag_loop;
	struct health		*ag_health;
	struct metrics		 ag_metrics;
	struct server		*ag_server;
	struct agentcheck	*ag_agentcheck;	/* NULL: agent_check off */
	struct probes		*ag_probes;
	struct drain		*ag_drain;
	struct control		*ag_control;
	struct kube		*ag_kube;	/* the EndpointSlice watch */
	struct reload		*ag_reload;	/* file watch; may be NULL */
	int			 ag_sigterms;
	int			 ag_exit;
	const char		*ag_step;	/* start-up: what runs now */
};

#endif
