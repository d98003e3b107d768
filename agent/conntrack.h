/*
 * conntrack.h - count the app's TCP sockets from /proc/net/tcp and tcp6.
 *
 * The pod shares one network namespace, so the agent sees the app's sockets.
 * Only the LOCAL port is compared: a socket whose remote port is app.port
 * (a client of some other server on that port) is not the app's.
 */
#ifndef NDT_CONNTRACK_H
#define NDT_CONNTRACK_H

#include <stddef.h>

#define CONNTRACK_FILE_MAX	(4u * 1024 * 1024)	/* per file */
#define CONNTRACK_LINE_MAX	512

struct conntrack_count {
	unsigned	 ct_established;	/* st 01, local port == port */
	unsigned	 ct_listening;		/* st 0A, local port == port */
	unsigned	 ct_malformed;		/* lines skipped */
};

/*
 * Parse complete lines of /proc/net/tcp or tcp6 text (the header line is
 * skipped like any line that does not parse) and add to *c. A trailing
 * partial line is parsed as is. Pure: no I/O.
 */
void	conntrack_parse(const char *text, size_t len, unsigned port,
	    struct conntrack_count *c);
/* read /proc/net/tcp and /proc/net/tcp6 (bounded); a missing tcp6 (no IPv6)
 * is not an error. 0, or -1 with errno set. */
int	conntrack_read(unsigned port, struct conntrack_count *c);
/* the same for any list of files (tests); NULL-terminated */
int	conntrack_read_files(const char *const *paths, unsigned port,
	    struct conntrack_count *c);

#endif
