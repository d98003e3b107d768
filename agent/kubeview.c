/*
 * kubeview.c - this pod's EndpointSlices from the LIST body and the WATCH
 * stream (kubeview.h). Pure: jansson, libc, the times the caller passes.
 *
 * Choices the header leaves open:
 *  - JSON is decoded with JSON_REJECT_DUPLICATES: the API server (Go's
 *    encoding/json) never repeats a key, and a repeated "ready" or "name"
 *    has no single meaning. On the watch such a line is valid JSON, so it
 *    is an event "not usable": kv_bad, skipped. A LIST is KV_ERROR.
 *  - An event is all or nothing: a slice with any field of the wrong type,
 *    a name too long for its buffer, a missing name or resourceVersion is
 *    kv_bad and changes nothing, kv_rv included. DELETED needs only the
 *    metadata, so a slice is never stuck because its last state is odd.
 *    A LIST item that is not usable is skipped and counted in kv_bad (one
 *    bad slice must not block the whole view); the LIST itself is KV_ERROR
 *    only when it is not JSON, not a list, or has no resourceVersion.
 *  - After KV_GONE or KV_ERROR the partial line is dropped too: the stream
 *    is over, the caller starts a new WATCH (kv_err also says why on GONE).
 *  - The cap: past KV_SLICES_MAX slices, a new slice that lists this pod,
 *    or belongs to a Service a kept slice lists this pod in, replaces the
 *    last kept slice that does neither; any slice not kept (the new one or
 *    the one it replaced) is counted in kv_dropped.
 *  - One endpoint per slice is this pod's: the first that matches.
 *  - A slice without the service-name label is a Service of its own in
 *    kv_ready_percent; a Service listing the pod with no endpoint left
 *    that is not terminating makes it -1 (0 of 0), whatever the others.
 *  - An ERROR event ends the watch whatever its object; KV_GONE only with
 *    code 410. kv_events counts the events applied, not bad or ERROR ones.
 *  - ksf_changed is over the kept slices: a DELETED or vanished slice
 *    takes its stamp along (its call reported it).
 *  - kv_init also fails (ENAMETOOLONG) on a pod name or IP too long for
 *    the view: cut, it would match nothing or the wrong pod.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/kubeview.h"
#include "agent/kubeview_priv.h"

#define KV_KEEP_MAX	(64u << 10)	/* line buffer kept between lines */

static const char *const kv_result_names[] = { "ok", "gone", "error" };

const char *
kv_result_str(enum kv_result r)
{
	if ((unsigned)r >= sizeof(kv_result_names) / sizeof(kv_result_names[0]))
		return "unknown";
	return kv_result_names[r];
}

/* a reason from the network: printable ASCII only */
static void __attribute__((format(printf, 2, 3)))
kv_seterr(struct kubeview *kv, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	vsnprintf(kv->kv_err, sizeof(kv->kv_err), fmt, ap);
	va_end(ap);
	for (p = kv->kv_err; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}


static struct kv_slice *
kv_find(struct kv_slice *v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].ks_name, name) == 0)
			return &v[i];
	return NULL;
}

/* does s list the pod, or share a Service with a slice that does */
static int
kv_wanted(const struct kv_slice *v, size_t n, const struct kv_slice *s,
    const struct kv_slice *extra)
{
	size_t i;

	if (s->ks_self)
		return 1;
	if (s->ks_service[0] == '\0')
		return 0;
	if (extra && extra->ks_self &&
	    strcmp(extra->ks_service, s->ks_service) == 0)
		return 1;
	for (i = 0; i < n; i++)
		if (v[i].ks_self && strcmp(v[i].ks_service, s->ks_service) == 0)
			return 1;
	return 0;
}

/* a new slice into v under the cap: its slot, or NULL (dropped) */
static struct kv_slice *
kv_store(struct kv_slice *v, size_t *n, const struct kv_slice *s,
    uint64_t *dropped)
{
	size_t i;

	if (*n < KV_SLICES_MAX) {
		v[*n] = *s;
		return &v[(*n)++];
	}
	(*dropped)++;
	if (!kv_wanted(v, *n, s, NULL))
		return NULL;
	for (i = *n; i-- > 0;)
		if (!kv_wanted(v, *n, &v[i], s)) {
			v[i] = *s;
			return &v[i];
		}
	return NULL;
}

/* this pod's entry differs between old (NULL: none) and s */
static int
kv_differs(const struct kv_slice *old, const struct kv_slice *s)
{
	if (old == NULL || !old->ks_self)
		return s->ks_self;
	return !s->ks_self || old->ks_ready != s->ks_ready ||
	    old->ks_serving != s->ks_serving ||
	    old->ks_terminating != s->ks_terminating;
}

/* s takes old's stamp, or now when this pod's entry changed (1) */
static int
kv_stamp(const struct kv_slice *old, struct kv_slice *s, uint64_t now,
    int64_t wall)
{
	if (kv_differs(old, s)) {
		s->ks_changed = now;
		s->ks_changed_wall = wall;
		return 1;
	}
	s->ks_changed = old ? old->ks_changed : 0;
	s->ks_changed_wall = old ? old->ks_changed_wall : 0;
	return 0;
}

static void
kv_notify(const struct kubeview *kv, const struct kv_slice *s)
{
	if (kv->kv_on_change)
		kv->kv_on_change(s, kv->kv_arg);
}

/* a slice that listed the pod is gone: say so with ks_self 0 */
static void
kv_notify_gone(const struct kubeview *kv, const struct kv_slice *s,
    uint64_t now, int64_t wall)
{
	struct kv_slice g = *s;

	g.ks_self = g.ks_ready = g.ks_serving = g.ks_terminating = 0;
	g.ks_changed = now;
	g.ks_changed_wall = wall;
	kv_notify(kv, &g);
}

static void
kv_upsert(struct kubeview *kv, struct kv_slice *s, uint64_t now,
    int64_t wall)
{
	struct kv_slice *old, *slot;
	int changed;

	old = kv_find(kv->kv_slices, kv->kv_n, s->ks_name);
	changed = kv_stamp(old, s, now, wall);
	if (old != NULL)
		*(slot = old) = *s;
	else
		slot = kv_store(kv->kv_slices, &kv->kv_n, s, &kv->kv_dropped);
	if (changed && slot != NULL)
		kv_notify(kv, slot);
}

static void
kv_delete(struct kubeview *kv, const char *name, uint64_t now, int64_t wall)
{
	struct kv_slice *s;
	size_t i;

	if ((s = kv_find(kv->kv_slices, kv->kv_n, name)) == NULL)
		return;
	if (s->ks_self)
		kv_notify_gone(kv, s, now, wall);
	i = (size_t)(s - kv->kv_slices);
	memmove(s, s + 1, (kv->kv_n - i - 1) * sizeof(*s));
	kv->kv_n--;
}

/* a Status (an ERROR event's, or a LIST's): KV_GONE on code 410 */
static enum kv_result
kv_status(struct kubeview *kv, const char *what, json_t *st)
{
	json_t *code = json_object_get(st, "code");
	json_t *msg = json_object_get(st, "message");
	json_t *why = json_object_get(st, "reason");
	long long c = json_is_integer(code) ? json_integer_value(code) : -1;

	kv_seterr(kv, "%s: Status %lld %s: %s", what, c,
	    json_is_string(why) ? json_string_value(why) : "",
	    json_is_string(msg) ? json_string_value(msg) : "");
	return c == 410 ? KV_GONE : KV_ERROR;
}

static json_t *
kv_parse(struct kubeview *kv, const char *what, const char *p, size_t n,
    int *dup)
{
	json_error_t je;
	json_t *j;

	if ((j = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &je)) != NULL)
		return j;
	*dup = json_error_code(&je) == json_error_duplicate_key;
	kv_seterr(kv, "%s: not JSON at byte %d: %s", what, je.position,
	    je.text);
	return NULL;
}

/* one watch line (no newline) */
static enum kv_result
kv_event(struct kubeview *kv, const char *p, size_t n, uint64_t now,
    int64_t wall)
{
	struct kv_slice s;
	char rv[KV_RV_MAX], ns[KV_NAME_MAX];
	const char *type;
	json_t *ev, *obj;
	int dup = 0, ok;

	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' ||
	    p[n - 1] == '\t'))
		n--;
	if (n == 0)
		return KV_OK;
	if ((ev = kv_parse(kv, "watch", p, n, &dup)) == NULL) {
		if (!dup)
			return KV_ERROR;
		kv->kv_bad++;
		return KV_OK;
	}
	obj = json_object_get(ev, "object");
	type = json_string_value(json_object_get(ev, "type"));
	if (type != NULL && strcmp(type, "ERROR") == 0) {
		/* whatever its object: the watch is over */
		enum kv_result r = kv_status(kv, "watch ERROR", obj);

		json_decref(ev);
		return r;
	}
	if (type == NULL || !json_is_object(obj))
		ok = 0;
	else if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
		if ((ok = kv_slice_decode(kv, obj, &s, rv, 1) == 0))
			kv_upsert(kv, &s, now, wall);
	} else if (strcmp(type, "DELETED") == 0) {
		if ((ok = kv_meta(obj, &s, rv, ns, 1, 1) == 0))
			kv_delete(kv, s.ks_name, now, wall);
	} else if (strcmp(type, "BOOKMARK") == 0)
		ok = kv_meta(obj, &s, rv, ns, 0, 1) == 0;
	else
		ok = 0;
	json_decref(ev);
	if (!ok) {
		kv->kv_bad++;
		return KV_OK;
	}
	memcpy(kv->kv_rv, rv, strlen(rv) + 1);
	kv->kv_events++;
	return KV_OK;
}

/* also after each line: a big line's buffer is not kept */
void
kv_stream_reset(struct kubeview *kv)
{
	if (kv->kv_line.b_cap > KV_KEEP_MAX)
		buf_free(&kv->kv_line);
	else
		buf_reset(&kv->kv_line);
}

enum kv_result
kv_feed(struct kubeview *kv, const char *data, size_t len, uint64_t now,
    int64_t wall)
{
	struct buf *b = &kv->kv_line;
	const char *end, *nl;
	enum kv_result r;
	size_t n;

	if (len == 0)
		return KV_OK;
	end = data + len;
	while (data < end) {
		nl = memchr(data, '\n', (size_t)(end - data));
		n = (size_t)((nl ? nl : end) - data);
		if (n > KV_LINE_MAX - b->b_len) {
			kv_seterr(kv, "watch: a line over %u bytes",
			    KV_LINE_MAX);
			kv_stream_reset(kv);
			return KV_ERROR;
		}
		if (nl == NULL || b->b_len > 0) {
			if (buf_append(b, data, n) == -1) {
				kv_seterr(kv, "watch: no memory for a line");
				kv_stream_reset(kv);
				return KV_ERROR;
			}
			if (nl == NULL)
				return KV_OK;
			r = kv_event(kv, b->b_data, b->b_len, now, wall);
		} else
			r = kv_event(kv, data, n, now, wall);
		kv_stream_reset(kv);
		if (r != KV_OK)
			return r;
		data = nl + 1;
	}
	return KV_OK;
}

enum kv_result
kv_list(struct kubeview *kv, const char *body, size_t len, uint64_t now,
    int64_t wall)
{
	struct kv_slice *nv, *old, s;
	char rv[KV_RV_MAX];
	json_t *j, *md, *items, *it;
	uint64_t bad = 0, dropped = 0;
	size_t i, n = 0, on;
	int changed[KV_SLICES_MAX];
	int dup = 0;

	if ((j = kv_parse(kv, "LIST", body, len, &dup)) == NULL)
		return KV_ERROR;
	if (json_is_object(j) && kv_js_is(j, "kind", "Status") == 1) {
		(void)kv_status(kv, "LIST", j);
		goto fail;
	}
	if (!json_is_object(j) || kv_js_obj(j, "metadata", &md) == -1 ||
	    md == NULL || !kv_js_kind(j, "EndpointSliceList") ||
	    kv_js_copy(md, "resourceVersion", rv, sizeof(rv), 1) == -1) {
		kv_seterr(kv, "LIST: not an EndpointSliceList with a "
		    "resourceVersion");
		goto fail;
	}
	items = json_object_get(j, "items");
	if (items != NULL && !json_is_null(items) && !json_is_array(items)) {
		kv_seterr(kv, "LIST: items is not an array");
		goto fail;
	}
	if ((nv = calloc(KV_SLICES_MAX, sizeof(*nv))) == NULL) {
		kv_seterr(kv, "LIST: no memory");
		goto fail;
	}
	json_array_foreach(items, i, it) {
		char irv[KV_RV_MAX];
		struct kv_slice *dst;

		if (kv_slice_decode(kv, it, &s, irv, 0) == -1) {
			bad++;
			continue;
		}
		if ((dst = kv_find(nv, n, s.ks_name)) != NULL)
			*dst = s;
		else
			(void)kv_store(nv, &n, &s, &dropped);
	}
	json_decref(j);

	/* the new view first, then the calls: a callback sees it whole */
	old = kv->kv_slices;
	on = kv->kv_n;
	for (i = 0; i < n; i++)
		changed[i] = kv_stamp(kv_find(old, on, nv[i].ks_name), &nv[i],
		    now, wall);
	kv->kv_slices = nv;
	kv->kv_n = n;
	for (i = 0; i < n; i++)
		if (changed[i])
			kv_notify(kv, &nv[i]);
	for (i = 0; i < on; i++)
		if (old[i].ks_self && kv_find(nv, n, old[i].ks_name) == NULL)
			kv_notify_gone(kv, &old[i], now, wall);
	free(old);
	kv->kv_bad += bad;
	kv->kv_dropped += dropped;
	memcpy(kv->kv_rv, rv, strlen(rv) + 1);
	kv->kv_synced = 1;
	return KV_OK;
fail:
	json_decref(j);
	return KV_ERROR;
}

void
kv_self(const struct kubeview *kv, struct kv_self *out)
{
	const struct kv_slice *s;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < kv->kv_n; i++) {
		s = &kv->kv_slices[i];
		if (s->ks_changed > out->ksf_changed)
			out->ksf_changed = s->ks_changed;
		if (!s->ks_self)
			continue;
		out->ksf_listed++;
		out->ksf_ready += s->ks_ready != 0;
		out->ksf_serving += s->ks_serving != 0;
		out->ksf_terminating += s->ks_terminating != 0;
	}
}

int
kv_ready_percent(const struct kubeview *kv, unsigned *ready, unsigned *total)
{
	const struct kv_slice *v = kv->kv_slices, *s;
	uint64_t r, t, br = 0, bt = 0;
	size_t i, k;
	int found = 0;

	for (i = 0; i < kv->kv_n; i++) {
		s = &v[i];
		if (!s->ks_self)
			continue;
		r = t = 0;
		for (k = 0; k < kv->kv_n; k++)
			if (s->ks_service[0] != '\0' ?
			    strcmp(v[k].ks_service, s->ks_service) == 0 :
			    k == i) {
				r += v[k].ks_nready;
				t += v[k].ks_total;
			}
		/* lowest share first; a Service with no endpoint left is
		 * the lowest of all (and -1) */
		if (!found || (bt != 0 && (t == 0 || r * bt < br * t))) {
			br = r;
			bt = t;
		}
		found = 1;
	}
	if (ready)
		*ready = found ? (unsigned)br : 0;
	if (total)
		*total = found ? (unsigned)bt : 0;
	if (!found || bt == 0)
		return -1;
	return (int)(br * 100 / bt);
}

int
kv_init(struct kubeview *kv, const char *pod, const char *ip)
{
	memset(kv, 0, sizeof(*kv));
	buf_init(&kv->kv_line, (size_t)KV_LINE_MAX + 1);
	if (pod == NULL)
		pod = "";
	if (ip == NULL)
		ip = "";
	/* a name that does not fit would match nothing: refuse it */
	if (strlen(pod) >= sizeof(kv->kv_pod) ||
	    strlen(ip) >= sizeof(kv->kv_ip)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(kv->kv_pod, pod, strlen(pod) + 1);
	memcpy(kv->kv_ip, ip, strlen(ip) + 1);
	if ((kv->kv_slices = calloc(KV_SLICES_MAX,
	    sizeof(*kv->kv_slices))) == NULL)
		return -1;
	return 0;
}

void
kv_free(struct kubeview *kv)
{
	free(kv->kv_slices);
	kv->kv_slices = NULL;
	kv->kv_n = 0;
	buf_free(&kv->kv_line);
}
