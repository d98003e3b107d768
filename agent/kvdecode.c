/*
 * kvdecode.c - one EndpointSlice's JSON (jansson) into a struct kv_slice:
 * its metadata, its Service label, and this pod's endpoint and conditions
 * (kubeview.h says which endpoint is this pod's and the conditions'
 * defaults; kubeview.c says why an event is all or nothing). Pure.
 */
#include <arpa/inet.h>
#include <string.h>

#include <jansson.h>

#include "agent/kubeview.h"
#include "agent/kubeview_priv.h"

/*
 * The string at key into dst: 0 (absent or null: dst ""), -1 when of
 * another type, too long for dst, or (need) absent or empty.
 */
int
kv_js_copy(json_t *o, const char *key, char *dst, size_t size, int need)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return need ? -1 : 0;
	if (!json_is_string(v) || (n = json_string_length(v)) >= size ||
	    (need && n == 0))
		return -1;
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

/* a string at key equal to s; 0 when absent or null, -1 of another type */
int
kv_js_is(json_t *o, const char *key, const char *s)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	return strcmp(json_string_value(v), s) == 0;
}

/* a "kind" that is absent, null or want (1) */
int
kv_js_kind(json_t *o, const char *want)
{
	json_t *v = json_object_get(o, "kind");

	return v == NULL || json_is_null(v) ||
	    (json_is_string(v) && strcmp(json_string_value(v), want) == 0);
}

/* an optional object (NULL when absent or null); -1 of another type */
int
kv_js_obj(json_t *o, const char *key, json_t **out)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return -1;
	*out = v;
	return 0;
}

/* an optional boolean: def when absent or null */
static int
js_bool(json_t *o, const char *key, int def, int *out)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	*out = def;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return -1;
	*out = json_is_true(v);
	return 0;
}

/* the same address, textually or as the same bytes ("fd00::5") */
static int
kv_ip_eq(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int af;

	if (strcmp(a, b) == 0)
		return 1;
	af = strchr(a, ':') ? AF_INET6 : AF_INET;
	return inet_pton(af, a, x) == 1 && inet_pton(af, b, y) == 1 &&
	    memcmp(x, y, af == AF_INET6 ? 16 : 4) == 0;
}

/* one endpoint, counted into s (this pod's conditions if it is the first
 * endpoint that is this pod); -1 on a wrong type */
static int
kv_endpoint(const struct kubeview *kv, json_t *ep, const char *ns,
    struct kv_slice *s)
{
	json_t *cond, *ref, *addrs, *a;
	char name[KV_NAME_MAX], rns[KV_NAME_MAX];
	int ready, serving, term, self = 0, pod;
	size_t i;

	if (!json_is_object(ep) || kv_js_obj(ep, "conditions", &cond) == -1 ||
	    js_bool(cond, "ready", 1, &ready) == -1 ||
	    js_bool(cond, "serving", ready, &serving) == -1 ||
	    js_bool(cond, "terminating", 0, &term) == -1 ||
	    kv_js_obj(ep, "targetRef", &ref) == -1)
		return -1;
	addrs = json_object_get(ep, "addresses");
	if (addrs != NULL && !json_is_null(addrs) && !json_is_array(addrs))
		return -1;
	json_array_foreach(addrs, i, a)
		if (!json_is_string(a))
			return -1;
	name[0] = rns[0] = '\0';
	pod = 0;
	if (ref != NULL && (kv_js_copy(ref, "name", name, sizeof(name), 0) == -1 ||
	    kv_js_copy(ref, "namespace", rns, sizeof(rns), 0) == -1 ||
	    (pod = kv_js_is(ref, "kind", "Pod")) == -1))
		return -1;
	if (kv->kv_pod[0] != '\0' && name[0] != '\0')
		self = pod && strcmp(name, kv->kv_pod) == 0 &&
		    (rns[0] == '\0' || ns[0] == '\0' || strcmp(rns, ns) == 0);
	else if (kv->kv_ip[0] != '\0')
		json_array_foreach(addrs, i, a)
			if (kv_ip_eq(json_string_value(a), kv->kv_ip))
				self = 1;
	if (!term) {
		s->ks_total++;
		s->ks_nready += ready != 0;
	}
	if (self && !s->ks_self) {
		s->ks_self = 1;
		s->ks_ready = ready;
		s->ks_serving = serving;
		s->ks_terminating = term;
	}
	return 0;
}

/*
 * An object's metadata: the name (need_name) and the resourceVersion
 * (need_rv), wrong types or sizes -1. The namespace goes to ns.
 */
int
kv_meta(json_t *obj, struct kv_slice *s, char *rv, char *ns, int need_name,
    int need_rv)
{
	json_t *md;

	return json_is_object(obj) && kv_js_obj(obj, "metadata", &md) == 0 &&
	    md != NULL &&
	    kv_js_copy(md, "name", s->ks_name, sizeof(s->ks_name), need_name) == 0 &&
	    kv_js_copy(md, "namespace", ns, KV_NAME_MAX, 0) == 0 &&
	    kv_js_copy(md, "resourceVersion", rv, KV_RV_MAX, need_rv) == 0 ? 0 : -1;
}

/* a whole EndpointSlice into s (zeroed first) */
int
kv_slice_decode(const struct kubeview *kv, json_t *obj, struct kv_slice *s,
    char *rv, int need_rv)
{
	json_t *md, *labels, *eps, *ep;
	char ns[KV_NAME_MAX];
	size_t i;

	memset(s, 0, sizeof(*s));
	if (kv_meta(obj, s, rv, ns, 1, need_rv) == -1 ||
	    !kv_js_kind(obj, "EndpointSlice"))
		return -1;
	md = json_object_get(obj, "metadata");
	if (kv_js_obj(md, "labels", &labels) == -1 || (labels != NULL &&
	    kv_js_copy(labels, KV_SVC_LABEL, s->ks_service,
	    sizeof(s->ks_service), 0) == -1))
		return -1;
	eps = json_object_get(obj, "endpoints");
	if (eps != NULL && !json_is_null(eps) && !json_is_array(eps))
		return -1;
	json_array_foreach(eps, i, ep)
		if (kv_endpoint(kv, ep, ns, s) == -1)
			return -1;
	return 0;
}
