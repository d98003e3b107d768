/*
 * addr.c - the addresses in a config: host:port, the host of a URL, and
 * which targets are the pod itself (loopback, ${POD_IP}) rather than a
 * dependency, for the lint that a dependency gating /live turns its outage
 * into a restart storm (validate.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_priv.h"

/* "host:port" or "[v6]:port"; host may be NULL to validate only */
int
cfg_hostport(const char *s, char **host, unsigned *port)
{
	const char *colon, *h = s, *end;
	unsigned long p;
	char *ep;
	size_t n;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return -1;
		h = s + 1;
		n = (size_t)(end - h);
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		n = (size_t)(colon - s);
		if (memchr(s, ':', n) != NULL)	/* IPv6 needs brackets */
			return -1;
	}
	if (n == 0 || memchr(h, ' ', n) != NULL || memchr(h, '/', n) != NULL)
		return -1;
	if (!isdigit((unsigned char)colon[1]) || strlen(colon + 1) > 5)
		return -1;
	p = strtoul(colon + 1, &ep, 10);
	if (*ep != '\0' || p < 1 || p > 65535)
		return -1;
	if (host != NULL && (*host = strndup(h, n)) == NULL)
		return -1;
	if (port != NULL)
		*port = (unsigned)p;
	return 0;
}

int
cfg_listen_addr(const char *s, char **host, unsigned *port)
{
	unsigned char a[sizeof(struct in6_addr)];
	char *h = NULL;
	int ok;

	ok = cfg_hostport(s, &h, port) == 0;
	if (ok && s[0] == '[')
		ok = inet_pton(AF_INET6, h, a) == 1;
	else if (ok)
		ok = inet_pton(AF_INET, h, a) == 1;
	if (!ok) {
		free(h);
		return -1;
	}
	*host = h;
	return 0;
}

int
cfg_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) &&
		    a6.s6_addr[12] == 127);
	return 0;
}

/* the host of an http(s) URL, without brackets; -1: not such a URL */
int
cfg_url_host(const char *url, char *host, size_t len)
{
	const char *p, *end, *at;
	size_t n;

	if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return -1;
	end = p + strcspn(p, "/?#");
	if ((at = memchr(p, '@', (size_t)(end - p))) != NULL)
		p = at + 1;
	if (*p == '[') {
		p++;
		if ((at = memchr(p, ']', (size_t)(end - p))) == NULL)
			return -1;
		n = (size_t)(at - p);
	} else
		n = strcspn(p, ":/?#");
	if (n == 0 || n >= len || memchr(p, ' ', n) != NULL)
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	return 0;
}


/*
 * The host part of a check's target, from s (the value, or the text as
 * written before ${VAR} expansion); -1: none (unix socket, bad value).
 */
static int
target_host(enum check_kind kind, const char *s, char *buf, size_t len)
{
	char *host = NULL;

	switch (kind) {
	case CHECK_HTTP:
		return cfg_url_host(s, buf, len);
	case CHECK_TCP:
		snprintf(buf, len, "%s", s);
		return 0;
	case CHECK_GRPC:
		if (cfg_hostport(s, &host, NULL) == -1)
			return -1;
		snprintf(buf, len, "%s", host);
		free(host);
		return 0;
	default:
		return -1;
	}
}

/*
 * The pod itself: a loopback name or address, a host written as ${POD_IP}
 * (the Downward API's status.podIP, by convention) or ${HOSTNAME} (the pod's
 * name, which /etc/hosts maps to its IP), or the value those hold.
 */
static int
is_self(const char *host, const char *raw)
{
	static const char *const vars[] = { "POD_IP", "HOSTNAME" };
	char ref[16];
	const char *v;
	size_t i;

	if (cfg_is_loopback(host))
		return 1;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		snprintf(ref, sizeof(ref), "${%s}", vars[i]);
		if (raw != NULL && strcmp(raw, ref) == 0)
			return 1;
		if ((v = getenv(vars[i])) != NULL && *v != '\0' &&
		    strcasecmp(host, v) == 0)
			return 1;
	}
	return 0;
}

/* the network target of a check, for the live lint; NULL: the pod itself */
const char *
cfg_live_target(const struct config *cf, const struct cfg_check *ck, char *buf,
    size_t len)
{
	char *const *field;
	const char *raw;
	char rawhost[256];

	switch (ck->ck_kind) {
	case CHECK_HTTP:
		if (ck->ck_http.h_unix_socket != NULL)
			return NULL;
		field = &ck->ck_http.h_url;
		break;
	case CHECK_TCP:
		field = &ck->ck_tcp.t_host;
		break;
	case CHECK_GRPC:
		field = &ck->ck_grpc.g_address;
		break;
	default:
		return NULL;
	}
	if (*field == NULL || target_host(ck->ck_kind, *field, buf, len) == -1)
		return NULL;
	raw = config_template(cf, field);
	if (raw != NULL && target_host(ck->ck_kind, raw, rawhost,
	    sizeof(rawhost)) == -1)
		raw = NULL;
	return is_self(buf, raw != NULL ? rawhost : NULL) ? NULL : buf;
}

int
config_check_self(const struct config *cf, const struct cfg_check *ck)
{
	char host[256];

	return cfg_live_target(cf, ck, host, sizeof(host)) == NULL;
}
