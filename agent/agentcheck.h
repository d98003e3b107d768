/*
 * agentcheck.h - HAProxy's agent-check port (agent_check.listen): each
 * connection gets the line health renders (health_agent_line), then the
 * agent closes it. Off when agent_check.listen is "".
 */
#ifndef NDT_AGENTCHECK_H
#define NDT_AGENTCHECK_H

#include <stdint.h>

struct agentcheck;
struct config;
struct health;
struct loop;
struct metrics;

#define AGENTCHECK_READ_MAX	512	/* what HAProxy's agent-send may send */
#define AGENTCHECK_TIMEOUT_MS	2000	/* a connection's deadline, at most */

/* NULL with *failed 0 when off; NULL with *failed 1 (logged) on error */
struct agentcheck *agentcheck_new(struct loop *, const struct config *,
		    struct health *, struct metrics *, int *failed);
void		 agentcheck_free(struct agentcheck *);
/* a reload: the address is kept until a restart, the rest follows */
void		 agentcheck_reconfigure(struct agentcheck *,
		    const struct config *);

#endif
