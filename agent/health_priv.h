/*
 * health_priv.h - what health.c and healthwhy.c share: the words of the
 * answers (why an endpoint fails, the agent-check line).
 */
#ifndef NDT_HEALTH_PRIV_H
#define NDT_HEALTH_PRIV_H

#include <stddef.h>

#include "health.h"

/* AFFECT_* of each endpoint */
extern const unsigned health_endpoint_affect[HEALTH_NENDPOINTS];

/* healthwhy.c */
/* why an endpoint fails, for the top-level "output" ("" when it does not) */
void	health_reason(const struct health *, enum health_endpoint, char *,
	    size_t);
/* a warn answer's reason: the first check failing open */
void	health_fail_open_reason(const struct health *, char *, size_t);
/* the agent-check line from the verdicts just rendered (h_view) */
void	health_agent_render(struct health *);

#endif
