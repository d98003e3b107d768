/*
 * ctlproto.h - inside the control socket: what control.c (the listening
 * socket) and ctlproto.c (the per-client line protocol) share. Only those
 * two include it; the rest of the agent sees control.h.
 */
#ifndef NDT_CTLPROTO_H
#define NDT_CTLPROTO_H

#include <sys/queue.h>
#include <sys/types.h>
#include <sys/un.h>

#include <stdint.h>

#include "drain.h"

struct ctl_client;
struct ucred;

TAILQ_HEAD(ctl_clients, ctl_client);

struct control {
	struct loop	*c_loop;
	const struct config *c_cfg;
	struct drain	*c_drain;
	struct health	*c_health;
	struct kube	*c_kube;	/* NULL: none */
	int		 c_fd;
	struct loop_io	*c_io;
	char		 c_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t		 c_dev;		/* of the socket file we made */
	ino_t		 c_ino;
	struct ctl_clients c_clients;
	unsigned	 c_nclients;
	struct loop_timer *c_pause;	/* accept paused: EMFILE and the like */
	uint64_t	 c_paused_at;	/* last warning, mono ms */
	uint64_t	 c_refused;	/* accept failures since that warning */
};

/* ctlproto.c */
/* takes cfd: serves it, or closes it if it cannot */
void		 control_client_add(struct control *, int cfd,
		    const struct ucred *, int forbidden);
void		 control_client_free(struct ctl_client *);
/* the drain's listener (drain_set_listener): a line to every `drain` */
void		 control_phase(void *, enum drain_phase);

#endif
