/*
 * fuzz_kubewatch - what the API server sends about EndpointSlices
 * (agent/kubeview.c): the input's first line as a LIST body (kv_list),
 * then the whole input as a WATCH stream (kv_feed), once in one call and
 * once cut in two at a point taken from the first two bytes; then
 * kv_self() and kv_ready_percent(). The view is for pod "web-abc" at
 * 10.0.0.5 (the seeds use both).
 *
 * Properties: results in range; a failed LIST leaves the view as it was;
 * the view stays within its caps (slices, names NUL-terminated and
 * non-empty, ready <= total); every change call carries the time of the
 * call that made it; kv_err is printable; the cut stream gives exactly
 * the view, counters and calls of the whole one; kv_self and
 * kv_ready_percent agree with the slices.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/kubeview.h"

#define POD	"web-abc"
#define IP	"10.0.0.5"

int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

struct run {
	struct kubeview	 kv;
	uint64_t	 now;		/* of the call being made */
	unsigned	 calls;
	uint64_t	 hash;		/* of what the calls said */
};

static void
on_change(const struct kv_slice *s, void *arg)
{
	struct run *r = arg;
	size_t i;

	if (s->ks_changed != r->now || s->ks_changed_wall != (int64_t)r->now)
		abort();
	if (s->ks_self == 0 && (s->ks_ready || s->ks_serving ||
	    s->ks_terminating))
		abort();
	r->calls++;
	r->hash = r->hash * 31 + (unsigned)s->ks_self * 8u +
	    (unsigned)s->ks_ready * 4u + (unsigned)s->ks_serving * 2u +
	    (unsigned)s->ks_terminating;
	for (i = 0; s->ks_name[i]; i++)
		r->hash = r->hash * 31 + (unsigned char)s->ks_name[i];
}

static void
check_str(const char *s, size_t size, int nonempty)
{
	const char *nul = memchr(s, '\0', size);

	if (nul == NULL || (nonempty && nul == s))
		abort();
}

static void
check_view(const struct kubeview *kv)
{
	const struct kv_slice *s;
	struct kv_self me;
	unsigned listed = 0, r = 1234, t = 1234;
	size_t i;
	int pct;

	if (kv->kv_n > KV_SLICES_MAX)
		abort();
	check_str(kv->kv_rv, sizeof(kv->kv_rv), 0);
	check_str(kv->kv_err, sizeof(kv->kv_err), 0);
	for (i = 0; kv->kv_err[i]; i++)
		if ((unsigned char)kv->kv_err[i] < 0x20 ||
		    (unsigned char)kv->kv_err[i] >= 0x7f)
			abort();
	for (i = 0; i < kv->kv_n; i++) {
		s = &kv->kv_slices[i];
		check_str(s->ks_name, sizeof(s->ks_name), 1);
		check_str(s->ks_service, sizeof(s->ks_service), 0);
		if (s->ks_nready > s->ks_total)
			abort();
		listed += s->ks_self != 0;
	}
	kv_self(kv, &me);
	if (me.ksf_listed != listed || me.ksf_ready > listed ||
	    me.ksf_serving > listed || me.ksf_terminating > listed)
		abort();
	pct = kv_ready_percent(kv, &r, &t);
	if (pct < -1 || pct > 100 || r > t || (listed == 0 && pct != -1) ||
	    (pct >= 0 && (t == 0 || (unsigned)pct != r * 100u / t)))
		abort();
}

static void
run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	if (kv_init(&r->kv, POD, IP) == -1)
		abort();
	r->kv.kv_on_change = on_change;
	r->kv.kv_arg = r;
}

/* the first line as a LIST, in a fresh view */
static void
run_list(struct run *r, const char *t, size_t n)
{
	const char *nl = memchr(t, '\n', n);
	char rv[KV_RV_MAX];
	size_t before;
	enum kv_result res;

	if (nl)
		n = (size_t)(nl - t);
	before = r->kv.kv_n;
	memcpy(rv, r->kv.kv_rv, sizeof(rv));
	r->now = 1;
	res = kv_list(&r->kv, t, n, 1, 1);
	if (res != KV_OK && res != KV_ERROR)
		abort();
	if (res == KV_ERROR && (r->kv.kv_n != before || r->calls != 0 ||
	    memcmp(rv, r->kv.kv_rv, sizeof(rv)) != 0 || r->kv.kv_synced))
		abort();
	if (res == KV_OK && !r->kv.kv_synced)
		abort();
	check_view(&r->kv);
}

static enum kv_result
run_feed(struct run *r, const char *t, size_t n)
{
	enum kv_result res;

	r->now = 2;
	res = kv_feed(&r->kv, t, n, 2, 2);
	if ((unsigned)res > KV_ERROR || strcmp(kv_result_str(res), "unknown")
	    == 0)
		abort();
	if (res != KV_OK && r->kv.kv_line.b_len != 0)
		abort();
	if (r->kv.kv_line.b_len > KV_LINE_MAX)
		abort();
	check_view(&r->kv);
	return res;
}

static void
same(const struct run *a, const struct run *b)
{
	size_t i;
	const struct kv_slice *x, *y;

	if (a->kv.kv_n != b->kv.kv_n || a->calls != b->calls ||
	    a->hash != b->hash || a->kv.kv_events != b->kv.kv_events ||
	    a->kv.kv_bad != b->kv.kv_bad ||
	    a->kv.kv_dropped != b->kv.kv_dropped ||
	    a->kv.kv_line.b_len != b->kv.kv_line.b_len ||
	    strcmp(a->kv.kv_rv, b->kv.kv_rv) != 0)
		abort();
	for (i = 0; i < a->kv.kv_n; i++) {
		x = &a->kv.kv_slices[i];
		y = &b->kv.kv_slices[i];
		if (strcmp(x->ks_name, y->ks_name) != 0 ||
		    strcmp(x->ks_service, y->ks_service) != 0 ||
		    x->ks_self != y->ks_self || x->ks_ready != y->ks_ready ||
		    x->ks_serving != y->ks_serving ||
		    x->ks_terminating != y->ks_terminating ||
		    x->ks_changed != y->ks_changed ||
		    x->ks_total != y->ks_total || x->ks_nready != y->ks_nready)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct run *a, *b;
	enum kv_result ra, rb;
	size_t cut = 0;
	char *t;

	if (size >= 2) {
		cut = (size_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
	}
	cut = size ? cut % (size + 1) : 0;
	/* an exact-size heap copy: ASan sees any overread */
	if ((t = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(t, data, size);
	if ((a = malloc(sizeof(*a))) == NULL ||
	    (b = malloc(sizeof(*b))) == NULL) {
		free(a);
		free(t);
		return 0;
	}
	run_init(a);
	run_init(b);
	run_list(a, t, size);
	run_list(b, t, size);
	same(a, b);
	a->calls = b->calls = 0;
	a->hash = b->hash = 0;

	ra = run_feed(a, t, size);
	rb = run_feed(b, t, cut);
	if (rb == KV_OK)
		rb = run_feed(b, t + cut, size - cut);
	if (ra != rb)
		abort();
	same(a, b);

	kv_stream_reset(&a->kv);
	if (a->kv.kv_line.b_len != 0)
		abort();
	kv_free(&a->kv);
	kv_free(&b->kv);
	free(a);
	free(b);
	free(t);
	return 0;
}
