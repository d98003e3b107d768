/*
 * test_kubeview.c - the EndpointSlice view (agent/kubeview.c) on LIST
 * bodies and WATCH streams shaped as kube-apiserver v1.34 sends them for
 * discovery.k8s.io/v1 (LIST items without kind/apiVersion, watch objects
 * with them, managedFields, a BOOKMARK with the initial-events annotation,
 * a 410 Status): the pod going terminating on deletion and then removed,
 * BOOKMARK, ERROR 410 and 500, every split of the stream, over-long
 * lines, garbage, wrong types, matching by IP, two Services and the
 * lowest share, terminating endpoints, the conditions' defaults, a
 * re-LIST dropping a slice, and the slice cap.
 *
 * The JSON below is written with ' for " (J() swaps them back) so that it
 * reads like what the API server sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/kubeview.h"

#define POD	"web-5d9c8b7f6-x2k4q"
#define IP	"10.244.1.17"

/* ---- helpers -------------------------------------------------------- */

#define NCALLS	16
static struct kv_slice	calls[NCALLS];
static size_t		calls_n[NCALLS];	/* kv_n (arg: the view) */
static int		ncalls;

static void
on_change(const struct kv_slice *s, void *arg)
{
	const struct kubeview *kv = arg;

	if (ncalls < NCALLS) {
		calls[ncalls] = *s;
		calls_n[ncalls] = kv ? kv->kv_n : 0;
	}
	ncalls++;
}

/* ' -> ", into a heap string the caller frees */
static char *
J(const char *s)
{
	char *d = strdup(s), *p;

	assert_non_null(d);
	for (p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

typedef enum kv_result kv_fn(struct kubeview *, const char *, size_t,
    uint64_t, int64_t);

/* kv_feed or kv_list on J(s), at now (wall: now + 1000) */
static enum kv_result
jcall(kv_fn *fn, struct kubeview *kv, const char *s, uint64_t now)
{
	char *d = J(s);
	enum kv_result r = fn(kv, d, strlen(d), now, (int64_t)now + 1000);

	free(d);
	return r;
}

#define feed(kv, s, now)	jcall(kv_feed, kv, s, now)
#define list(kv, s, now)	jcall(kv_list, kv, s, now)

static const struct kv_slice *
find(const struct kubeview *kv, const char *name)
{
	size_t i;

	for (i = 0; i < kv->kv_n; i++)
		if (strcmp(kv->kv_slices[i].ks_name, name) == 0)
			return &kv->kv_slices[i];
	return NULL;
}

/* an endpoint; pod NULL: no targetRef */
static char *
ep(char *out, size_t n, const char *ip, const char *pod, const char *cond)
{
	if (pod)
		snprintf(out, n, "{'addresses':['%s'],'conditions':{%s},"
		    "'targetRef':{'kind':'Pod','namespace':'shop','name':'%s',"
		    "'uid':'0b1f6b5e-2d7e-4c1a-9a0e-5f3c2b1a0d9e'},"
		    "'nodeName':'node-a','zone':'eu-west-1a'}", ip, cond, pod);
	else
		snprintf(out, n, "{'addresses':['%s'],'conditions':{%s}}",
		    ip, cond);
	return out;
}

#define READY	"'ready':true,'serving':true,'terminating':false"
#define UNREADY	"'ready':false,'serving':false,'terminating':false"
#define DYING	"'ready':false,'serving':true,'terminating':true"

/* a watch event line for one slice */
static char *
ev(char *out, size_t n, const char *type, const char *name, const char *svc,
    const char *rv, const char *eps)
{
	snprintf(out, n, "{'type':'%s','object':{'kind':'EndpointSlice',"
	    "'apiVersion':'discovery.k8s.io/v1','metadata':{'name':'%s',"
	    "'namespace':'shop','resourceVersion':'%s','labels':"
	    "{'kubernetes.io/service-name':'%s'}},'addressType':'IPv4',"
	    "'endpoints':[%s],'ports':[{'name':'http','protocol':'TCP',"
	    "'port':8080}]}}\n", type, name, rv, svc, eps);
	return out;
}

static int
setup(void **state)
{
	static struct kubeview kv;

	assert_int_equal(kv_init(&kv, POD, IP), 0);
	kv.kv_on_change = on_change;
	ncalls = 0;
	memset(calls, 0, sizeof(calls));
	*state = &kv;
	return 0;
}

static int
teardown(void **state)
{
	kv_free(*state);
	return 0;
}

/* ---- a recorded rollout -------------------------------------------- */

/* GET /apis/discovery.k8s.io/v1/namespaces/shop/endpointslices */
static const char list_body[] =
"{'kind':'EndpointSliceList','apiVersion':'discovery.k8s.io/v1',"
"'metadata':{'resourceVersion':'48213'},'items':["
"{'metadata':{'name':'web-8fk2l','generateName':'web-','namespace':'shop',"
"'uid':'5a3d2c1b-8e9f-4a6b-b7c8-d9e0f1a2b3c4','resourceVersion':'48102',"
"'generation':7,'creationTimestamp':'2025-09-30T08:12:44Z',"
"'labels':{'endpointslice.kubernetes.io/managed-by':"
"'endpointslice-controller.k8s.io','kubernetes.io/service-name':'web'},"
"'annotations':{'endpoints.kubernetes.io/last-change-trigger-time':"
"'2025-09-30T09:01:02Z'},'ownerReferences':[{'apiVersion':'v1',"
"'kind':'Service','name':'web','uid':'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f',"
"'controller':true,'blockOwnerDeletion':true}],'managedFields':[{"
"'manager':'kube-controller-manager','operation':'Update',"
"'apiVersion':'discovery.k8s.io/v1','time':'2025-09-30T09:01:02Z',"
"'fieldsType':'FieldsV1','fieldsV1':{'f:addressType':{},'f:endpoints':{},"
"'f:metadata':{'f:labels':{'.':{},'f:kubernetes.io/service-name':{}}},"
"'f:ports':{}}}]},'addressType':'IPv4','endpoints':["
"{'addresses':['10.244.1.17'],'conditions':{'ready':true,'serving':true,"
"'terminating':false},'targetRef':{'kind':'Pod','namespace':'shop',"
"'name':'web-5d9c8b7f6-x2k4q','uid':'0b1f6b5e-2d7e-4c1a-9a0e-5f3c2b1a0d9e'},"
"'nodeName':'node-a','zone':'eu-west-1a'},"
"{'addresses':['10.244.2.9'],'conditions':{'ready':true,'serving':true,"
"'terminating':false},'targetRef':{'kind':'Pod','namespace':'shop',"
"'name':'web-5d9c8b7f6-m7qzt','uid':'9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a'},"
"'nodeName':'node-b','zone':'eu-west-1b'},"
"{'addresses':['10.244.3.4'],'conditions':{'ready':false,'serving':false,"
"'terminating':false},'targetRef':{'kind':'Pod','namespace':'shop',"
"'name':'web-5d9c8b7f6-pp2wd','uid':'1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d'},"
"'nodeName':'node-c','zone':'eu-west-1c'}],"
"'ports':[{'name':'http','protocol':'TCP','port':8080}]},"
"{'metadata':{'name':'db-q9d7s','generateName':'db-','namespace':'shop',"
"'uid':'77aa88bb-99cc-4ddd-aeee-ffff00001111','resourceVersion':'47001',"
"'generation':2,'creationTimestamp':'2025-09-29T17:40:10Z',"
"'labels':{'endpointslice.kubernetes.io/managed-by':"
"'endpointslice-controller.k8s.io','kubernetes.io/service-name':'db'}},"
"'addressType':'IPv4','endpoints':[{'addresses':['10.244.2.30'],"
"'conditions':{'ready':true,'serving':true,'terminating':false},"
"'targetRef':{'kind':'Pod','namespace':'shop','name':'db-0',"
"'uid':'22334455-6677-4889-9aab-bccddeeff001'},'nodeName':'node-b'}],"
"'ports':[{'name':'pg','protocol':'TCP','port':5432}]}]}";

/* GET ...?watch=1&resourceVersion=48213&allowWatchBookmarks=true */
static const char watch_stream[] =
/* a new replica of web comes up (a second slice of the Service) */
"{'type':'ADDED','object':{'kind':'EndpointSlice','apiVersion':"
"'discovery.k8s.io/v1','metadata':{'name':'web-zt5vh','generateName':"
"'web-','namespace':'shop','uid':'abcdabcd-1234-4321-8888-0123456789ab',"
"'resourceVersion':'48230','generation':1,'creationTimestamp':"
"'2025-09-30T09:05:11Z','labels':{'endpointslice.kubernetes.io/managed-by':"
"'endpointslice-controller.k8s.io','kubernetes.io/service-name':'web'}},"
"'addressType':'IPv4','endpoints':[{'addresses':['10.244.2.41'],"
"'conditions':{'ready':false,'serving':false,'terminating':false},"
"'targetRef':{'kind':'Pod','namespace':'shop','name':'web-6f7c9d8b5-h4n2k',"
"'uid':'feedface-0000-4000-8000-000000000001'},'nodeName':'node-b'}],"
"'ports':[{'name':'http','protocol':'TCP','port':8080}]}}\n"
/* this pod is deleted: not ready, still serving, terminating */
"{'type':'MODIFIED','object':{'kind':'EndpointSlice','apiVersion':"
"'discovery.k8s.io/v1','metadata':{'name':'web-8fk2l','generateName':"
"'web-','namespace':'shop','uid':'5a3d2c1b-8e9f-4a6b-b7c8-d9e0f1a2b3c4',"
"'resourceVersion':'48241','generation':8,'creationTimestamp':"
"'2025-09-30T08:12:44Z','labels':{'endpointslice.kubernetes.io/managed-by':"
"'endpointslice-controller.k8s.io','kubernetes.io/service-name':'web'},"
"'annotations':{'endpoints.kubernetes.io/last-change-trigger-time':"
"'2025-09-30T09:05:20Z'}},'addressType':'IPv4','endpoints':["
"{'addresses':['10.244.1.17'],'conditions':{'ready':false,'serving':true,"
"'terminating':true},'targetRef':{'kind':'Pod','namespace':'shop',"
"'name':'web-5d9c8b7f6-x2k4q','uid':'0b1f6b5e-2d7e-4c1a-9a0e-5f3c2b1a0d9e'},"
"'nodeName':'node-a','zone':'eu-west-1a'},"
"{'addresses':['10.244.2.9'],'conditions':{'ready':true,'serving':true,"
"'terminating':false},'targetRef':{'kind':'Pod','namespace':'shop',"
"'name':'web-5d9c8b7f6-m7qzt','uid':'9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a'},"
"'nodeName':'node-b','zone':'eu-west-1b'},"
"{'addresses':['10.244.3.4'],'conditions':{'ready':true,'serving':true,"
"'terminating':false},'targetRef':{'kind':'Pod','namespace':'shop',"
"'name':'web-5d9c8b7f6-pp2wd','uid':'1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d'},"
"'nodeName':'node-c','zone':'eu-west-1c'}],"
"'ports':[{'name':'http','protocol':'TCP','port':8080}]}}\n"
"{'type':'BOOKMARK','object':{'kind':'EndpointSlice','apiVersion':"
"'discovery.k8s.io/v1','metadata':{'resourceVersion':'48250',"
"'creationTimestamp':null,'annotations':{'k8s.io/initial-events-end':"
"'true'}},'addressType':'','endpoints':null,'ports':null}}\n"
/* the Service's selector no longer matches: its slice is deleted */
"{'type':'DELETED','object':{'kind':'EndpointSlice','apiVersion':"
"'discovery.k8s.io/v1','metadata':{'name':'web-8fk2l','generateName':"
"'web-','namespace':'shop','uid':'5a3d2c1b-8e9f-4a6b-b7c8-d9e0f1a2b3c4',"
"'resourceVersion':'48262','generation':9,'creationTimestamp':"
"'2025-09-30T08:12:44Z','deletionTimestamp':'2025-09-30T09:05:31Z',"
"'deletionGracePeriodSeconds':0,'labels':{'kubernetes.io/service-name':"
"'web'}},'addressType':'IPv4','endpoints':[{'addresses':['10.244.1.17'],"
"'conditions':{'ready':false,'serving':false,'terminating':true},"
"'targetRef':{'kind':'Pod','namespace':'shop','name':"
"'web-5d9c8b7f6-x2k4q'}}],'ports':[{'name':'http','protocol':'TCP',"
"'port':8080}]}}\n";

/* the same, after list_body (calls not counted) */
static int
setup_listed(void **state)
{
	setup(state);
	assert_int_equal(list(*state, list_body, 100), KV_OK);
	ncalls = 0;
	return 0;
}

static const char gone_line[] =
"{'type':'ERROR','object':{'kind':'Status','apiVersion':'v1','metadata':{},"
"'status':'Failure','message':'too old resource version: 48213 (48990)',"
"'reason':'Expired','code':410}}\n";

static const char err500_line[] =
"{'type':'ERROR','object':{'kind':'Status','apiVersion':'v1','metadata':{},"
"'status':'Failure','message':'etcdserver: request timed out',"
"'reason':'InternalError','details':{'causes':[{'message':"
"'etcdserver: request timed out'}]},'code':500}}\n";

static void
test_list(void **state)
{
	struct kubeview *kv = *state;
	const struct kv_slice *s;
	struct kv_self me;
	unsigned r, t;

	assert_int_equal(kv->kv_synced, 0);
	assert_int_equal(list(kv, list_body, 100), KV_OK);
	assert_int_equal(kv->kv_synced, 1);
	assert_string_equal(kv->kv_rv, "48213");
	assert_int_equal(kv->kv_n, 2);
	assert_non_null(s = find(kv, "web-8fk2l"));
	assert_string_equal(s->ks_service, "web");
	assert_int_equal(s->ks_self, 1);
	assert_int_equal(s->ks_ready, 1);
	assert_int_equal(s->ks_serving, 1);
	assert_int_equal(s->ks_terminating, 0);
	assert_int_equal(s->ks_total, 3);
	assert_int_equal(s->ks_nready, 2);
	assert_int_equal(s->ks_changed, 100);
	assert_int_equal(s->ks_changed_wall, 1100);
	assert_non_null(s = find(kv, "db-q9d7s"));
	assert_int_equal(s->ks_self, 0);
	assert_int_equal(s->ks_changed, 0);
	/* the pod appeared: one call, for its slice */
	assert_int_equal(ncalls, 1);
	assert_string_equal(calls[0].ks_name, "web-8fk2l");
	assert_int_equal(calls[0].ks_self, 1);
	kv_self(kv, &me);
	assert_int_equal(me.ksf_listed, 1);
	assert_int_equal(me.ksf_ready, 1);
	assert_int_equal(me.ksf_changed, 100);
	assert_int_equal(kv_ready_percent(kv, &r, &t), 66);
	assert_int_equal(r, 2);
	assert_int_equal(t, 3);
	/* the same LIST again: nothing changed, the stamps stay */
	assert_int_equal(list(kv, list_body, 900), KV_OK);
	assert_int_equal(ncalls, 1);
	assert_int_equal(find(kv, "web-8fk2l")->ks_changed, 100);
}

static void
test_watch_rollout(void **state)
{
	struct kubeview *kv = *state;
	const struct kv_slice *s;
	struct kv_self me;
	unsigned r, t;

	/* the ADDED line alone: a slice of web, not listing the pod */
	{
		char *d = J(watch_stream);
		size_t n = (size_t)(strchr(d, '\n') - d) + 1;

		assert_int_equal(kv_feed(kv, d, n, 200, 1200), KV_OK);
		assert_int_equal(ncalls, 0);
		assert_int_equal(kv->kv_n, 3);
		assert_string_equal(kv->kv_rv, "48230");
		/* web: 2 ready of 4 */
		assert_int_equal(kv_ready_percent(kv, &r, &t), 50);
		assert_int_equal(t, 4);
		/* the rest: MODIFIED, BOOKMARK, DELETED */
		ncalls = 0;
		assert_int_equal(kv_feed(kv, d + n, strlen(d) - n, 300, 1300),
		    KV_OK);
		free(d);
	}
	assert_int_equal(kv->kv_events, 4);
	assert_int_equal(kv->kv_bad, 0);
	assert_string_equal(kv->kv_rv, "48262");
	/* MODIFIED: ready -> not ready, terminating; DELETED: gone */
	assert_int_equal(ncalls, 2);
	assert_string_equal(calls[0].ks_name, "web-8fk2l");
	assert_int_equal(calls[0].ks_self, 1);
	assert_int_equal(calls[0].ks_ready, 0);
	assert_int_equal(calls[0].ks_serving, 1);
	assert_int_equal(calls[0].ks_terminating, 1);
	assert_int_equal(calls[0].ks_changed, 300);
	assert_int_equal(calls[0].ks_changed_wall, 1300);
	/* the terminating pod is out of the totals: 2 ready of 2 */
	assert_int_equal(calls[0].ks_total, 2);
	assert_int_equal(calls[0].ks_nready, 2);
	assert_string_equal(calls[1].ks_name, "web-8fk2l");
	assert_int_equal(calls[1].ks_self, 0);
	assert_int_equal(calls[1].ks_ready, 0);
	assert_int_equal(calls[1].ks_terminating, 0);
	assert_int_equal(calls[1].ks_changed, 300);
	assert_null(find(kv, "web-8fk2l"));
	assert_int_equal(kv->kv_n, 2);
	assert_non_null(s = find(kv, "web-zt5vh"));
	kv_self(kv, &me);
	assert_int_equal(me.ksf_listed, 0);
	assert_int_equal(kv_ready_percent(kv, &r, &t), -1);
}

static void
test_modified_then_bookmark(void **state)
{
	struct kubeview *kv = *state;
	const struct kv_slice *s;
	struct kv_slice before[4];
	struct kv_self me;
	char *d = J(watch_stream), *l2, *l3, *l4;

	l2 = strchr(d, '\n') + 1;
	l3 = strchr(l2, '\n') + 1;
	l4 = strchr(l3, '\n') + 1;
	assert_int_equal(kv_feed(kv, l2, (size_t)(l3 - l2), 500, 1500),
	    KV_OK);
	assert_string_equal(kv->kv_rv, "48241");
	assert_non_null(s = find(kv, "web-8fk2l"));
	assert_int_equal(s->ks_terminating, 1);
	assert_int_equal(s->ks_changed, 500);
	kv_self(kv, &me);
	assert_int_equal(me.ksf_listed, 1);
	assert_int_equal(me.ksf_ready, 0);
	assert_int_equal(me.ksf_serving, 1);
	assert_int_equal(me.ksf_terminating, 1);
	assert_int_equal(me.ksf_changed, 500);
	/* BOOKMARK: kv_rv moves, nothing else */
	assert_int_equal(kv->kv_n, 2);
	memcpy(before, kv->kv_slices, 2 * sizeof(before[0]));
	ncalls = 0;
	assert_int_equal(kv_feed(kv, l3, (size_t)(l4 - l3), 600, 1600),
	    KV_OK);
	assert_string_equal(kv->kv_rv, "48250");
	assert_int_equal(kv->kv_n, 2);
	assert_memory_equal(before, kv->kv_slices, 2 * sizeof(before[0]));
	assert_int_equal(ncalls, 0);
	assert_int_equal(kv->kv_bad, 0);
	free(d);
}

static void
test_error_gone(void **state)
{
	struct kubeview *kv = *state;
	char line[2048];

	/* the 410, then an event that must not be applied */
	snprintf(line, sizeof(line), "%s", gone_line);
	ev(line + strlen(gone_line), sizeof(line) - strlen(gone_line),
	    "ADDED", "late-1", "web", "49000", "");
	assert_int_equal(feed(kv, line, 200), KV_GONE);
	assert_string_equal(kv_result_str(KV_GONE), "gone");
	assert_non_null(strstr(kv->kv_err, "410"));
	assert_non_null(strstr(kv->kv_err, "too old resource version"));
	assert_null(find(kv, "late-1"));
	assert_string_equal(kv->kv_rv, "48213");
	assert_int_equal(kv->kv_line.b_len, 0);
	assert_int_equal(kv->kv_events, 0);
}

static void
test_error_500(void **state)
{
	struct kubeview *kv = *state;
	char line[2048];

	snprintf(line, sizeof(line), "%s{'type':'ADDED','obj", err500_line);
	assert_int_equal(feed(kv, line, 200), KV_ERROR);
	assert_string_equal(kv_result_str(KV_ERROR), "error");
	assert_non_null(strstr(kv->kv_err, "500"));
	assert_non_null(strstr(kv->kv_err, "InternalError"));
	/* the partial line after it is not kept */
	assert_int_equal(kv->kv_line.b_len, 0);
	assert_string_equal(kv->kv_rv, "48213");
	/* a Status without a code is an error too, not a 410 */
	assert_int_equal(feed(kv, "{'type':'ERROR','object':{'kind':"
	    "'Status','status':'Failure','message':'boom'}}\n", 300), KV_ERROR);
	assert_non_null(strstr(kv->kv_err, "boom"));
	/* an ERROR whatever its object */
	assert_int_equal(feed(kv, "{'type':'ERROR','object':'boom'}\n", 300),
	    KV_ERROR);
	assert_int_equal(feed(kv, "{'type':'ERROR'}\n", 300), KV_ERROR);
	assert_int_equal(kv->kv_bad, 0);
}

/* the whole outcome of a run, for comparing two */
struct outcome {
	enum kv_result	 r;
	size_t		 n;
	struct kv_slice	 s[4];
	char		 rv[KV_RV_MAX];
	uint64_t	 events, bad;
	int		 ncalls;
	struct kv_slice	 calls[4];
};

static void
snap(const struct kubeview *kv, enum kv_result r, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->r = r;
	o->n = kv->kv_n;
	assert_true(o->n <= 4);
	memcpy(o->s, kv->kv_slices, o->n * sizeof(o->s[0]));
	memcpy(o->rv, kv->kv_rv, sizeof(o->rv));
	o->events = kv->kv_events;
	o->bad = kv->kv_bad;
	o->ncalls = ncalls;
	assert_true(ncalls <= 4);
	memcpy(o->calls, calls, (size_t)ncalls * sizeof(calls[0]));
}

/* a fresh view after list_body, no calls counted */
static void
listed(struct kubeview *kv)
{
	assert_int_equal(kv_init(kv, POD, IP), 0);
	kv->kv_on_change = on_change;
	assert_int_equal(list(kv, list_body, 100), KV_OK);
	ncalls = 0;
}

static void
test_split_every_offset(void **state)
{
	struct kubeview *kv = *state;
	struct outcome whole, part;
	char *d, *crlf, *p;
	size_t n, k, i, j;
	enum kv_result r;

	/* CRLF line ends, a blank line, a garbage line at the very end */
	crlf = malloc(2 * sizeof(watch_stream) + 64);
	assert_non_null(crlf);
	for (i = j = 0; watch_stream[i]; i++) {
		if (watch_stream[i] == '\n')
			crlf[j++] = '\r';
		crlf[j++] = watch_stream[i];
	}
	memcpy(crlf + j, "\r\n \r\nnot json\n", 15);
	d = J(crlf);
	free(crlf);
	n = strlen(d);

	kv_free(kv);
	listed(kv);
	r = kv_feed(kv, d, n, 300, 1300);
	assert_int_equal(r, KV_ERROR);
	snap(kv, r, &whole);
	assert_int_equal(whole.events, 4);
	assert_int_equal(whole.ncalls, 2);
	kv_free(kv);

	for (k = 0; k <= n; k++) {
		listed(kv);
		r = kv_feed(kv, d, k, 300, 1300);
		if (r == KV_OK)
			r = kv_feed(kv, d + k, n - k, 300, 1300);
		snap(kv, r, &part);
		assert_memory_equal(&whole, &part, sizeof(whole));
		kv_free(kv);
	}
	/* and a byte at a time */
	listed(kv);
	for (p = d, r = KV_OK; r == KV_OK && p < d + n; p++)
		r = kv_feed(kv, p, 1, 300, 1300);
	snap(kv, r, &part);
	assert_memory_equal(&whole, &part, sizeof(whole));
	free(d);
}

static void
test_line_too_long(void **state)
{
	struct kubeview *kv = *state;
	char *big;
	size_t half = KV_LINE_MAX / 2;

	big = malloc(KV_LINE_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', KV_LINE_MAX + 2);
	/* exactly KV_LINE_MAX bytes of a partial line are kept */
	assert_int_equal(kv_feed(kv, big, half, 1, 1), KV_OK);
	assert_int_equal(kv_feed(kv, big, KV_LINE_MAX - half, 1, 1), KV_OK);
	assert_int_equal(kv->kv_line.b_len, KV_LINE_MAX);
	/* one more byte is over */
	assert_int_equal(kv_feed(kv, "{", 1, 1, 1), KV_ERROR);
	assert_non_null(strstr(kv->kv_err, "line over"));
	assert_int_equal(kv->kv_line.b_len, 0);
	/* a complete line over the cap in one call, then a good one */
	big[KV_LINE_MAX + 1] = '\n';
	assert_int_equal(kv_feed(kv, big, KV_LINE_MAX + 2, 1, 1), KV_ERROR);
	assert_int_equal(kv->kv_line.b_len, 0);
	/* blank lines of exactly the cap are fine (and skipped) */
	big[KV_LINE_MAX] = '\n';
	assert_int_equal(kv_feed(kv, big, KV_LINE_MAX + 1, 1, 1), KV_OK);
	assert_int_equal(kv->kv_events, 0);
	assert_int_equal(kv->kv_bad, 0);
	free(big);
}

static void
test_garbage(void **state)
{
	struct kubeview *kv = *state;
	char line[1024];

	assert_int_equal(feed(kv, "<html>502 Bad Gateway</html>\n", 2),
	    KV_ERROR);
	assert_non_null(strstr(kv->kv_err, "not JSON"));
	assert_int_equal(feed(kv, "{'type':'ADDED',\n", 2), KV_ERROR);
	/* two values on one line */
	assert_int_equal(feed(kv, "{} {}\n", 2), KV_ERROR);
	/* JSON, but not an event: counted and skipped */
	assert_int_equal(feed(kv, "[1,2,3]\n\"x\"\n{}\n{'type':'ADDED'}\n"
	    "{'type':'SYNC','object':{'metadata':{'resourceVersion':'9'}}}\n"
	    "{'type':7,'object':{}}\n", 2), KV_OK);
	assert_int_equal(kv->kv_bad, 6);
	/* a repeated key is not trusted */
	assert_int_equal(feed(kv, "{'type':'DELETED','type':'BOOKMARK',"
	    "'object':{'metadata':{'resourceVersion':'9'}}}\n", 2), KV_OK);
	assert_int_equal(kv->kv_bad, 7);
	assert_int_equal(kv->kv_events, 0);
	assert_string_equal(kv->kv_rv, "48213");
	/* and the view is still good: a real event applies */
	ev(line, sizeof(line), "ADDED", "web-new", "web", "48300", "");
	assert_int_equal(feed(kv, line, 3), KV_OK);
	assert_non_null(find(kv, "web-new"));
	assert_string_equal(kv->kv_rv, "48300");
	/* a LIST that is not JSON, or not a list, leaves the view */
	assert_int_equal(list(kv, "{'kind':'EndpointSliceList'", 4),
	    KV_ERROR);
	assert_int_equal(list(kv, "{'kind':'Status','apiVersion':'v1',"
	    "'status':'Failure','message':'endpointslices.discovery.k8s.io is "
	    "forbidden','reason':'Forbidden','code':403}", 4), KV_ERROR);
	assert_non_null(strstr(kv->kv_err, "forbidden"));
	assert_int_equal(list(kv, "{'kind':'EndpointSliceList','metadata':"
	    "{},'items':[]}", 4), KV_ERROR);
	assert_int_equal(list(kv, "{'kind':'EndpointSliceList','metadata':"
	    "{'resourceVersion':'1'},'items':{}}", 4), KV_ERROR);
	assert_int_equal(kv->kv_n, 3);
	assert_string_equal(kv->kv_rv, "48300");
}

static void
test_wrong_types(void **state)
{
	struct kubeview *kv = *state;
	char line[2048], e[512], name[300];
	const struct kv_slice *s;
	uint64_t bad;
	size_t i;
	static const char *const bads[] = {
		"{'type':'MODIFIED','object':{'metadata':{'name':'web-8fk2l',"
		"'resourceVersion':'5'},'endpoints':[{'addresses':"
		"['10.244.1.17'],'conditions':{'ready':'yes'}}]}}\n",
		"{'type':'MODIFIED','object':{'metadata':{'name':'web-8fk2l',"
		"'resourceVersion':'5'},'endpoints':{}}}\n",
		"{'type':'MODIFIED','object':{'metadata':{'name':'web-8fk2l',"
		"'resourceVersion':'5'},'endpoints':[{'addresses':[17]}]}}\n",
		"{'type':'MODIFIED','object':{'metadata':{'name':'web-8fk2l',"
		"'resourceVersion':'5'},'endpoints':[{'addresses':'10.1.1.1'}]}}\n",
		"{'type':'MODIFIED','object':{'metadata':{'name':'web-8fk2l',"
		"'resourceVersion':'5'},'endpoints':[7]}}\n",
		"{'type':'MODIFIED','object':{'metadata':{'name':'web-8fk2l',"
		"'resourceVersion':'5'},'endpoints':[{'conditions':[]}]}}\n",
		"{'type':'MODIFIED','object':{'metadata':{'name':'web-8fk2l',"
		"'resourceVersion':'5'},'endpoints':[{'targetRef':{'name':1}}]}}\n",
		"{'type':'MODIFIED','object':{'metadata':{'name':'web-8fk2l',"
		"'resourceVersion':5},'endpoints':[]}}\n",
		"{'type':'MODIFIED','object':{'metadata':{'name':'web-8fk2l',"
		"'resourceVersion':'5','labels':[]},'endpoints':[]}}\n",
		"{'type':'MODIFIED','object':{'metadata':{'name':'web-8fk2l',"
		"'resourceVersion':'5','labels':{'kubernetes.io/service-name':"
		"true}}}}\n",
		"{'type':'MODIFIED','object':{'metadata':{'name':'',"
		"'resourceVersion':'5'}}}\n",
		"{'type':'MODIFIED','object':{'kind':'Pod','metadata':{'name':"
		"'web-8fk2l','resourceVersion':'5'}}}\n",
		"{'type':'MODIFIED','object':{'metadata':'web-8fk2l'}}\n",
		"{'type':'MODIFIED','object':[]}\n",
		"{'type':'DELETED','object':{'metadata':{'name':['web-8fk2l'],"
		"'resourceVersion':'5'}}}\n",
		"{'type':'BOOKMARK','object':{'metadata':{}}}\n",
	};

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		bad = kv->kv_bad;
		assert_int_equal(feed(kv, bads[i], 200), KV_OK);
		if (kv->kv_bad != bad + 1)
			fail_msg("not counted bad: %s", bads[i]);
	}
	/* nothing changed: the slice, kv_rv, no call */
	assert_int_equal(ncalls, 0);
	assert_string_equal(kv->kv_rv, "48213");
	assert_non_null(s = find(kv, "web-8fk2l"));
	assert_int_equal(s->ks_ready, 1);
	assert_int_equal(s->ks_total, 3);
	/* names longer than the buffers are bad, not cut */
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ev(line, sizeof(line), "ADDED", name, "web", "6", "");
	assert_int_equal(feed(kv, line, 200), KV_OK);
	ev(line, sizeof(line), "ADDED", "svc-long",
	    "a-service-name-much-longer-than-sixty-three-characters-is-refused-x",
	    "6", "");
	assert_int_equal(feed(kv, line, 200), KV_OK);
	ev(line, sizeof(line), "ADDED", "rv-long", "web",
	    "1234567890123456789012345678901234567890123456789012345678901234",
	    "");
	assert_int_equal(feed(kv, line, 200), KV_OK);
	assert_int_equal(kv->kv_bad, bad + 4);
	assert_int_equal(kv->kv_n, 2);
	/* a name of exactly KV_NAME_MAX - 1 fits */
	name[KV_NAME_MAX - 1] = '\0';
	ev(line, sizeof(line), "ADDED", name, "web", "7",
	    ep(e, sizeof(e), IP, POD, READY));
	assert_int_equal(feed(kv, line, 200), KV_OK);
	assert_non_null(find(kv, name));
	assert_int_equal(ncalls, 1);
}

static void
test_match_by_ip(void **state)
{
	struct kubeview *kv = *state;
	char line[2048], e1[512], e2[512], eps[1100];
	const struct kv_slice *s;

	/* no targetRef: the address decides */
	ev(line, sizeof(line), "ADDED", "ext-1", "ext", "10",
	    ep(e1, sizeof(e1), IP, NULL, READY));
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_non_null(s = find(kv, "ext-1"));
	assert_int_equal(s->ks_self, 1);
	/* another pod's targetRef on this IP (reused): not this pod */
	ev(line, sizeof(line), "ADDED", "ext-2", "ext", "11",
	    ep(e1, sizeof(e1), IP, "web-old-pod", READY));
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_int_equal(find(kv, "ext-2")->ks_self, 0);
	/* a targetRef in another namespace is not this pod either */
	ev(line, sizeof(line), "ADDED", "ext-3", "ext", "12",
	    "{'addresses':['10.9.9.9'],'targetRef':{'kind':'Pod',"
	    "'namespace':'other','name':'" POD "'}}");
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_int_equal(find(kv, "ext-3")->ks_self, 0);
	/* a targetRef of another kind */
	ev(line, sizeof(line), "ADDED", "ext-4", "ext", "13",
	    "{'addresses':['10.9.9.9'],'targetRef':{'kind':'Node',"
	    "'name':'" POD "'}}");
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_int_equal(find(kv, "ext-4")->ks_self, 0);
	assert_int_equal(ncalls, 1);
	kv_free(kv);

	/* no pod name: the IP only, targetRef or not; IPv6 spelled long */
	assert_int_equal(kv_init(kv, "", "fd00:10:244::11"), 0);
	ev(line, sizeof(line), "ADDED", "v6-1", "web", "20",
	    ep(e1, sizeof(e1), "fd00:10:244:0:0:0:0:11", "web-whatever",
	    UNREADY));
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_int_equal(find(kv, "v6-1")->ks_self, 1);
	assert_int_equal(find(kv, "v6-1")->ks_ready, 0);
	kv_free(kv);

	/* no IP: the name only */
	assert_int_equal(kv_init(kv, POD, ""), 0);
	snprintf(eps, sizeof(eps), "%s,%s", ep(e1, sizeof(e1), IP, NULL,
	    READY), ep(e2, sizeof(e2), "10.0.0.1", POD, DYING));
	ev(line, sizeof(line), "ADDED", "n-1", "web", "30", eps);
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_int_equal(find(kv, "n-1")->ks_self, 1);
	assert_int_equal(find(kv, "n-1")->ks_terminating, 1);
	/* too long a name or IP for the view is refused */
	kv_free(kv);
	{
		char longpod[KV_NAME_MAX + 1];

		memset(longpod, 'p', KV_NAME_MAX);
		longpod[KV_NAME_MAX] = '\0';
		assert_int_equal(kv_init(kv, longpod, IP), -1);
	}
	assert_int_equal(kv_init(kv, POD, IP), 0);
}

static void
test_two_services(void **state)
{
	struct kubeview *kv = *state;
	char line[4096], a[512], b[512], eps[2048];
	unsigned r = 99, t = 99;

	/* web: slice w1 (this pod, ready; one unready) and w2 (two ready):
	 * 3 of 4. admin: a1 (this pod, ready; one unready): 1 of 2 */
	snprintf(eps, sizeof(eps), "%s,%s", ep(a, sizeof(a), IP, POD, READY),
	    ep(b, sizeof(b), "10.244.2.9", "web-b", UNREADY));
	ev(line, sizeof(line), "ADDED", "w1", "web", "1", eps);
	assert_int_equal(feed(kv, line, 10), KV_OK);
	snprintf(eps, sizeof(eps), "%s,%s", ep(a, sizeof(a), "10.244.2.10",
	    "web-c", READY), ep(b, sizeof(b), "10.244.2.11", "web-d", READY));
	ev(line, sizeof(line), "ADDED", "w2", "web", "2", eps);
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_int_equal(kv_ready_percent(kv, &r, &t), 75);
	assert_int_equal(r, 3);
	assert_int_equal(t, 4);
	snprintf(eps, sizeof(eps), "%s,%s", ep(a, sizeof(a), IP, POD, READY),
	    ep(b, sizeof(b), "10.244.2.12", "web-e", UNREADY));
	ev(line, sizeof(line), "ADDED", "a1", "admin", "3", eps);
	assert_int_equal(feed(kv, line, 10), KV_OK);
	/* the lowest share wins, with its counts */
	assert_int_equal(kv_ready_percent(kv, &r, &t), 50);
	assert_int_equal(r, 1);
	assert_int_equal(t, 2);
	/* a slice of another Service that does not list the pod counts for
	 * nothing */
	snprintf(eps, sizeof(eps), "%s", ep(a, sizeof(a), "10.244.9.9",
	    "db-0", UNREADY));
	ev(line, sizeof(line), "ADDED", "d1", "db", "4", eps);
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_int_equal(kv_ready_percent(kv, &r, &t), 50);
	/* admin heals: web's 3 of 4 is the lowest now */
	snprintf(eps, sizeof(eps), "%s,%s", ep(a, sizeof(a), IP, POD, READY),
	    ep(b, sizeof(b), "10.244.2.12", "web-e", READY));
	ev(line, sizeof(line), "MODIFIED", "a1", "admin", "5", eps);
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_int_equal(kv_ready_percent(kv, &r, &t), 75);
	assert_int_equal(t, 4);
	/* admin's endpoints all terminating: no share there, -1 */
	snprintf(eps, sizeof(eps), "%s,%s", ep(a, sizeof(a), IP, POD, DYING),
	    ep(b, sizeof(b), "10.244.2.12", "web-e", DYING));
	ev(line, sizeof(line), "MODIFIED", "a1", "admin", "6", eps);
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_int_equal(kv_ready_percent(kv, &r, &t), -1);
	assert_int_equal(t, 0);
	/* only ready/terminating changes of this pod were calls: w1, a1
	 * appearing, a1 going terminating */
	assert_int_equal(ncalls, 3);
	assert_int_equal(calls[2].ks_terminating, 1);
	assert_int_equal(kv_ready_percent(kv, NULL, NULL), -1);
}

static void
test_terminating_left_out(void **state)
{
	struct kubeview *kv = *state;
	char line[4096], a[512], b[512], c[512], eps[2048];
	unsigned r, t;

	snprintf(eps, sizeof(eps), "%s,%s,%s", ep(a, sizeof(a), IP, POD,
	    READY), ep(b, sizeof(b), "10.244.2.9", "web-old", DYING),
	    ep(c, sizeof(c), "10.244.2.10", "web-new", UNREADY));
	ev(line, sizeof(line), "ADDED", "w1", "web", "1", eps);
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_int_equal(find(kv, "w1")->ks_total, 2);
	assert_int_equal(find(kv, "w1")->ks_nready, 1);
	assert_int_equal(kv_ready_percent(kv, &r, &t), 50);
	assert_int_equal(r, 1);
	assert_int_equal(t, 2);
}

static void
test_nil_conditions(void **state)
{
	struct kubeview *kv = *state;
	char line[2048];
	const struct kv_slice *s;

	/* conditions absent: ready, serving, not terminating */
	ev(line, sizeof(line), "ADDED", "c1", "web", "1",
	    "{'addresses':['" IP "'],'targetRef':{'kind':'Pod','name':'" POD
	    "'}}");
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_non_null(s = find(kv, "c1"));
	assert_int_equal(s->ks_self, 1);
	assert_int_equal(s->ks_ready, 1);
	assert_int_equal(s->ks_serving, 1);
	assert_int_equal(s->ks_terminating, 0);
	assert_int_equal(s->ks_nready, 1);
	/* ready false, serving nil: serving follows ready */
	ev(line, sizeof(line), "MODIFIED", "c1", "web", "2",
	    "{'addresses':['" IP "'],'conditions':{'ready':false,"
	    "'serving':null},'targetRef':{'kind':'Pod','name':'" POD "'}}");
	assert_int_equal(feed(kv, line, 20), KV_OK);
	assert_int_equal(s->ks_ready, 0);
	assert_int_equal(s->ks_serving, 0);
	assert_int_equal(s->ks_changed, 20);
	/* all null, conditions {} and null: the defaults again */
	ev(line, sizeof(line), "MODIFIED", "c1", "web", "3",
	    "{'addresses':['" IP "'],'conditions':{'ready':null,"
	    "'serving':null,'terminating':null},'targetRef':{'kind':'Pod',"
	    "'name':'" POD "'}},{'addresses':['10.1.1.1'],'conditions':{}},"
	    "{'addresses':['10.1.1.2'],'conditions':null}");
	assert_int_equal(feed(kv, line, 30), KV_OK);
	assert_int_equal(s->ks_ready, 1);
	assert_int_equal(s->ks_serving, 1);
	assert_int_equal(s->ks_total, 3);
	assert_int_equal(s->ks_nready, 3);
	assert_int_equal(s->ks_changed, 30);
	/* an empty slice: endpoints null */
	assert_int_equal(feed(kv, "{'type':'MODIFIED','object':{'metadata':"
	    "{'name':'c1','resourceVersion':'4'},'addressType':'IPv4',"
	    "'endpoints':null,'ports':null}}\n", 40), KV_OK);
	assert_int_equal(s->ks_self, 0);
	assert_int_equal(s->ks_total, 0);
	assert_int_equal(ncalls, 4);
	assert_int_equal(calls[3].ks_self, 0);
	assert_int_equal(calls[3].ks_changed, 40);
}

static void
test_relist_drops_slice(void **state)
{
	struct kubeview *kv = *state;
	struct kv_self me;

	/* a new LIST (after a 410) without the pod's slice; items null:
	 * the call sees the new view */
	kv->kv_arg = kv;
	calls_n[0] = 99;
	assert_int_equal(list(kv, "{'kind':'EndpointSliceList','apiVersion':"
	    "'discovery.k8s.io/v1','metadata':{'resourceVersion':'50001'},"
	    "'items':null}", 700), KV_OK);
	assert_int_equal(ncalls, 1);
	assert_string_equal(calls[0].ks_name, "web-8fk2l");
	assert_int_equal(calls[0].ks_self, 0);
	assert_int_equal(calls[0].ks_changed, 700);
	assert_int_equal(calls[0].ks_changed_wall, 1700);
	assert_int_equal(calls_n[0], 0);
	assert_int_equal(kv->kv_n, 0);
	assert_string_equal(kv->kv_rv, "50001");
	kv_self(kv, &me);
	assert_int_equal(me.ksf_listed, 0);
	/* a LIST with a bad item keeps the good ones and counts it */
	assert_int_equal(list(kv, "{'kind':'EndpointSliceList','metadata':"
	    "{'resourceVersion':'50002'},'items':[{'metadata':{'name':'ok'}},"
	    "{'metadata':{'name':'bad'},'endpoints':'x'},7]}", 800), KV_OK);
	assert_int_equal(kv->kv_n, 1);
	assert_non_null(find(kv, "ok"));
	assert_int_equal(kv->kv_bad, 2);
}

static void
test_slice_cap(void **state)
{
	struct kubeview *kv = *state;
	struct buf b;
	char line[2048], e[512];
	unsigned i;

	/* a LIST of KV_SLICES_MAX + 10 slices of other Services; this
	 * pod's slice last */
	buf_init(&b, 1u << 20);
	assert_int_equal(buf_puts(&b, "{\"kind\":\"EndpointSliceList\","
	    "\"metadata\":{\"resourceVersion\":\"9\"},\"items\":["), 0);
	for (i = 0; i < KV_SLICES_MAX + 10; i++)
		assert_int_equal(buf_printf(&b, "{\"metadata\":{\"name\":"
		    "\"o-%u\",\"labels\":{\"kubernetes.io/service-name\":"
		    "\"other\"}},\"endpoints\":[]},", i), 0);
	assert_int_equal(buf_printf(&b, "{\"metadata\":{\"name\":\"mine\","
	    "\"labels\":{\"kubernetes.io/service-name\":\"web\"}},"
	    "\"endpoints\":[{\"addresses\":[\"%s\"]}]}]}", IP), 0);
	assert_int_equal(kv_list(kv, b.b_data, b.b_len, 5, 6), KV_OK);
	buf_free(&b);
	assert_int_equal(kv->kv_n, KV_SLICES_MAX);
	assert_int_equal(kv->kv_dropped, 11);
	assert_non_null(find(kv, "mine"));
	assert_int_equal(find(kv, "mine")->ks_self, 1);
	assert_non_null(find(kv, "o-0"));
	assert_int_equal(ncalls, 1);

	/* full: another Service's new slice is dropped */
	ev(line, sizeof(line), "ADDED", "o-new", "other", "10", "");
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_null(find(kv, "o-new"));
	assert_int_equal(kv->kv_dropped, 12);
	/* the pod's Service's new slice is kept, replacing another's */
	ev(line, sizeof(line), "ADDED", "web-2", "web", "11",
	    ep(e, sizeof(e), "10.244.7.7", "web-peer", READY));
	assert_int_equal(feed(kv, line, 10), KV_OK);
	assert_non_null(find(kv, "web-2"));
	assert_int_equal(kv->kv_dropped, 13);
	assert_int_equal(kv->kv_n, KV_SLICES_MAX);
	/* a new slice listing the pod, of a third Service: kept too */
	ev(line, sizeof(line), "ADDED", "admin-1", "admin", "12",
	    ep(e, sizeof(e), IP, POD, READY));
	assert_int_equal(feed(kv, line, 20), KV_OK);
	assert_non_null(find(kv, "admin-1"));
	assert_int_equal(ncalls, 2);
	assert_int_equal(kv->kv_dropped, 14);
	/* nothing the pod needs was evicted */
	assert_non_null(find(kv, "mine"));
	assert_non_null(find(kv, "web-2"));
	assert_int_equal(kv_ready_percent(kv, NULL, NULL), 100);
	/* a DELETED frees a place: the next one fits */
	assert_int_equal(feed(kv, "{'type':'DELETED','object':{'metadata':"
	    "{'name':'o-0','resourceVersion':'13'}}}\n", 30), KV_OK);
	ev(line, sizeof(line), "ADDED", "o-new2", "other", "14", "");
	assert_int_equal(feed(kv, line, 30), KV_OK);
	assert_non_null(find(kv, "o-new2"));
	assert_int_equal(kv->kv_dropped, 14);
	assert_int_equal(kv->kv_n, KV_SLICES_MAX);
}

static void
test_result_str(void **state)
{
	(void)state;
	assert_string_equal(kv_result_str(KV_OK), "ok");
	assert_string_equal(kv_result_str(KV_GONE), "gone");
	assert_string_equal(kv_result_str(KV_ERROR), "error");
	assert_string_equal(kv_result_str((enum kv_result)7), "unknown");
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
#define L(f)	cmocka_unit_test_setup_teardown(f, setup_listed, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_list),
		L(test_watch_rollout),
		L(test_modified_then_bookmark),
		L(test_error_gone),
		L(test_error_500),
		T(test_split_every_offset),
		T(test_line_too_long),
		L(test_garbage),
		L(test_wrong_types),
		T(test_match_by_ip),
		T(test_two_services),
		T(test_terminating_left_out),
		T(test_nil_conditions),
		L(test_relist_drops_slice),
		T(test_slice_cap),
		cmocka_unit_test(test_result_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
