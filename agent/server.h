/* server.h - the HTTP endpoints: libmicrohttpd in external epoll mode. */
#ifndef NDT_SERVER_H
#define NDT_SERVER_H

struct config;
struct health;
struct loop;
struct metrics;
struct server;

/* binds cf_listen; NULL (logged) on failure */
struct server	*server_new(struct loop *, const struct config *,
		    struct health *, struct metrics *);
void		 server_free(struct server *);
/* a config reload (listen and server.* are kept until a restart) */
void		 server_reconfigure(struct server *, const struct config *);
/* a non-blocking listening TCP socket on host:port (a literal address;
 * addr as written, for the logs, under the key what); -1 logged */
int		 server_listen(const char *what, const char *addr,
		    const char *host, unsigned port);

#endif
