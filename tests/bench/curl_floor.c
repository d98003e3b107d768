/*
 * curl_floor - the least CPU that N HTTP checks a second can cost through
 * libcurl on this machine: one process, one multi handle, N easy handles
 * reused (so connections are kept alive, as the agent's are), each started
 * once a second on its own offset, curl_multi_poll() in between. No
 * rendering, no logging, no state: only libcurl and the kernel.
 *
 *   curl_floor URL_PREFIX N SECONDS
 *
 * Requests URL_PREFIX0 .. URL_PREFIX(N-1). Prints one line of key=value:
 * runs, failed runs, and CPU (ns on CPU from /proc/self/schedstat, and
 * utime+stime from getrusage) measured after a 2 s warm-up.
 * Used by `make bench` (tests/bench/bench.py) next to the agent's figures.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define WARMUP_MS	2000

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
sched_ns(void)
{
	long long ns = 0;
	FILE *f = fopen("/proc/self/schedstat", "r");

	if (f != NULL) {
		if (fscanf(f, "%lld", &ns) != 1)
			ns = 0;
		fclose(f);
	}
	return ns;
}

static double
rusage_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static size_t
sink(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	return sz * n;
}

int
main(int argc, char **argv)
{
	CURLM *m;
	CURL **h;
	long long *due, t0, end, measure_at;
	char url[512];
	int n, running = 0, *busy;
	long runs = 0, fails = 0;
	long long ns0 = 0;
	double ru0 = 0;
	int measuring = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: curl_floor URL_PREFIX N SECONDS\n");
		return 2;
	}
	n = atoi(argv[2]);
	if (n <= 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 2;
	m = curl_multi_init();
	h = calloc((size_t)n, sizeof(*h));
	due = calloc((size_t)n, sizeof(*due));
	busy = calloc((size_t)n, sizeof(*busy));
	if (m == NULL || h == NULL || due == NULL || busy == NULL)
		return 1;
	t0 = now_ms();
	measure_at = t0 + WARMUP_MS;
	end = measure_at + atoll(argv[3]) * 1000;
	for (int i = 0; i < n; i++) {
		h[i] = curl_easy_init();
		snprintf(url, sizeof(url), "%s%d", argv[1], i);
		curl_easy_setopt(h[i], CURLOPT_URL, url);
		curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(h[i], CURLOPT_TIMEOUT_MS, 500L);
		curl_easy_setopt(h[i], CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h[i], CURLOPT_PRIVATE, (char *)&busy[i]);
		due[i] = t0 + (long long)i * 1000 / n;
	}
	for (;;) {
		long long now = now_ms(), next = end;
		CURLMsg *msg;
		int left;

		if (!measuring && now >= measure_at) {
			measuring = 1;
			runs = fails = 0;
			ns0 = sched_ns();
			ru0 = rusage_s();
		}
		if (now >= end)
			break;
		for (int i = 0; i < n; i++) {
			if (due[i] <= now) {
				if (!busy[i]) {
					busy[i] = 1;
					curl_multi_add_handle(m, h[i]);
				}
				due[i] += 1000;
			}
			if (due[i] < next)
				next = due[i];
		}
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			char *priv;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    &priv);
			runs++;
			if (msg->data.result != CURLE_OK)
				fails++;
			curl_multi_remove_handle(m, msg->easy_handle);
			*(int *)(void *)priv = 0;
		}
		now = now_ms();
		if (next > now)
			curl_multi_poll(m, NULL, 0, (int)(next - now), NULL);
	}
	printf("runs=%ld fails=%ld cpu_ns=%lld cpu_rusage_s=%.4f seconds=%s\n",
	    runs, fails, sched_ns() - ns0, rusage_s() - ru0, argv[3]);
	for (int i = 0; i < n; i++) {
		if (busy[i])
			curl_multi_remove_handle(m, h[i]);
		curl_easy_cleanup(h[i]);
	}
	curl_multi_cleanup(m);
	curl_global_cleanup();
	return 0;
}
