/*
 * control.h - the control socket (Unix stream, line protocol; docs/CONTROL.md).
 *
 * control_new() creates the socket at control_socket (parent directory made
 * 0755 if missing, a stale socket replaced, a live agent refused), mode 0660,
 * and serves it from the loop: `drain`, `status`, `status text`, `resume`,
 * `quit`.
 */
#ifndef NDT_CONTROL_H
#define NDT_CONTROL_H

#include <stddef.h>

struct buf;
struct config;
struct control;
struct drain;
struct health;
struct kube;
struct loop;

#define CONTROL_LINE_MAX	256	/* a request line, newline included */
#define CONTROL_MAX_CLIENTS	64
#define CONTROL_READ_TIMEOUT_MS	5000	/* for the request line */
#define CONTROL_WRITE_TIMEOUT_MS 5000	/* for a reply to be taken */
#define CONTROL_REPLY_MAX	(1024 * 1024)

enum control_cmd {
	CONTROL_UNKNOWN,
	CONTROL_DRAIN,
	CONTROL_STATUS,		/* one JSON object line */
	CONTROL_STATUS_TEXT,	/* the human table (`nodowntime status`) */
	CONTROL_RESUME,
	CONTROL_QUIT		/* exit 0 at once (wrap, once the app exited) */
};

struct control	*control_new(struct loop *, const struct config *,
		    struct drain *, struct health *);
void		 control_free(struct control *);
/* a config reload (the socket path itself is kept until a restart) */
void		 control_reconfigure(struct control *, const struct config *);

/* ctlstatus.c: the `status` and `status text` replies, appended to b;
 * 0, or -1 if b's cap was reached */
/* the Kubernetes client, for status (NULL: none) */
void		 control_set_kube(struct control *, struct kube *);
int		 control_status_json(struct drain *, struct health *,
		    const struct kube *, struct buf *);
int		 control_status_text(struct drain *, struct health *,
		    const struct kube *, struct buf *);

/* one request line without its '\n' (a trailing '\r' is allowed) */
enum control_cmd control_parse_line(const char *, size_t);

#ifdef UNITTEST
#include <sys/types.h>
int		 control_peer_allowed(const struct config *, uid_t);
#endif

#endif
