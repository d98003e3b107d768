/*
 * failmalloc.c - an LD_PRELOAD shim that makes allocations fail, to test
 * the agent's ENOMEM paths (issue 8, tests/integration/test_limits.py).
 *
 *   LD_PRELOAD=build/tests/fault/failmalloc.so build/nodowntime run ...
 *
 * malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign and
 * valloc are wrapped (glibc's own internal allocations, strdup's, libcurl's,
 * libyaml's and libmicrohttpd's all go through them); the real ones are
 * glibc's __libc_* entry points, so no dlsym() bootstrap is needed. An
 * allocation fails (NULL, errno ENOMEM) when either rule says so:
 *
 *   FAILMALLOC_AFTER=N      every allocation after the first N succeeds
 *                           never again (start-up sweeps: N = 0, 1, 2, ...)
 *   FAILMALLOC_PROB=P       with probability P (0..1), but only inside the
 *   FAILMALLOC_START_MS=T0  window [T0, T1) ms after the process started
 *   FAILMALLOC_STOP_MS=T1   (default: from 0, for ever)
 *   FAILMALLOC_SEED=S       the pseudo-random sequence (default 1)
 *
 * realloc(p, 0) and free() are never made to fail. With FAILMALLOC_STATS
 * set, the numbers of calls and failures are printed to stderr at exit;
 * FAILMALLOC_TRACE=K prints the stack of the first K failures (debugging:
 * build with -g and read it with addr2line).
 * Nothing happens without one of the two rules: preloading it is harmless.
 */
#include <errno.h>
#include <execinfo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern void	*__libc_malloc(size_t);
extern void	*__libc_calloc(size_t, size_t);
extern void	*__libc_realloc(void *, size_t);
extern void	*__libc_memalign(size_t, size_t);

void	*malloc(size_t);
void	*calloc(size_t, size_t);
void	*realloc(void *, size_t);
int	 posix_memalign(void **, size_t, size_t);
void	*aligned_alloc(size_t, size_t);
void	*memalign(size_t, size_t);
void	*valloc(size_t);

static int		 fm_on;		/* a rule is set */
static uint64_t		 fm_after = UINT64_MAX;
static uint64_t		 fm_prob;	/* P scaled to 2^32 */
static uint64_t		 fm_start_ns, fm_stop_ns = UINT64_MAX;
static uint64_t		 fm_t0;
static uint64_t		 fm_seed = 1;
static uint64_t		 fm_calls, fm_fails;
static int		 fm_stats;
static uint64_t		 fm_trace;

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: one step of a counter-based generator, thread-safe */
static uint64_t
mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
fm_report(void)
{
	char line[128];
	int n;

	n = snprintf(line, sizeof(line), "failmalloc: %llu calls, %llu "
	    "failed\n", (unsigned long long)fm_calls,
	    (unsigned long long)fm_fails);
	if (n > 0)
		(void)!write(2, line, (size_t)n);
}

static uint64_t
env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 10) : dflt;
}

__attribute__((constructor))
static void
fm_init(void)
{
	const char *p = getenv("FAILMALLOC_PROB");

	fm_t0 = mono_ns();
	fm_after = env_u64("FAILMALLOC_AFTER", UINT64_MAX);
	if (p && *p) {
		double d = strtod(p, NULL);

		if (d > 0)
			fm_prob = d >= 1 ? (1ULL << 32) :
			    (uint64_t)(d * 4294967296.0);
	}
	fm_start_ns = env_u64("FAILMALLOC_START_MS", 0) * 1000000u;
	fm_stop_ns = env_u64("FAILMALLOC_STOP_MS", UINT64_MAX / 1000000u) *
	    1000000u;
	fm_seed = env_u64("FAILMALLOC_SEED", 1);
	fm_stats = getenv("FAILMALLOC_STATS") != NULL;
	fm_trace = env_u64("FAILMALLOC_TRACE", 0);
	if (fm_trace) {
		void *pc[2];

		(void)backtrace(pc, 2);	/* loads libgcc now, not when failing */
	}
	if (fm_stats)
		atexit(fm_report);
	__atomic_store_n(&fm_on, fm_after != UINT64_MAX || fm_prob != 0,
	    __ATOMIC_RELEASE);
}

/* 1: this allocation fails */
static int
fm_fail(void)
{
	uint64_t n, t;

	if (!__atomic_load_n(&fm_on, __ATOMIC_ACQUIRE))
		return 0;
	n = __atomic_fetch_add(&fm_calls, 1, __ATOMIC_RELAXED);
	if (n >= fm_after)
		goto fail;
	if (fm_prob != 0) {
		t = mono_ns() - fm_t0;
		if (t >= fm_start_ns && t < fm_stop_ns &&
		    (mix(fm_seed ^ (n * 0x2545f4914f6cdd1dULL)) >> 32) <
		    fm_prob)
			goto fail;
	}
	return 0;
fail:
	if (__atomic_fetch_add(&fm_fails, 1, __ATOMIC_RELAXED) < fm_trace) {
		void *pc[32];
		int depth = backtrace(pc, 32);

		(void)!write(2, "failmalloc: failing here\n", 25);
		backtrace_symbols_fd(pc, depth, 2);
	}
	errno = ENOMEM;
	return 1;
}

void *
malloc(size_t n)
{
	return fm_fail() ? NULL : __libc_malloc(n);
}

void *
calloc(size_t n, size_t sz)
{
	return fm_fail() ? NULL : __libc_calloc(n, sz);
}

void *
realloc(void *p, size_t n)
{
	if (p != NULL && n == 0)
		return __libc_realloc(p, n);
	return fm_fail() ? NULL : __libc_realloc(p, n);
}

void *
memalign(size_t align, size_t n)
{
	return fm_fail() ? NULL : __libc_memalign(align, n);
}

int
posix_memalign(void **pp, size_t align, size_t n)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	if (fm_fail())
		return ENOMEM;
	if ((p = __libc_memalign(align, n)) == NULL)
		return ENOMEM;
	*pp = p;
	return 0;
}

void *
aligned_alloc(size_t align, size_t n)
{
	return fm_fail() ? NULL : __libc_memalign(align, n);
}

void *
valloc(size_t n)
{
	return fm_fail() ? NULL : __libc_memalign((size_t)sysconf(_SC_PAGESIZE),
	    n);
}
