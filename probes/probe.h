/*
 * probe.h - the check scheduler and the probe kinds (http, tcp, grpc, exec),
 * all driven by the agent's event loop. Results go, after rise/fall
 * thresholds, into the health module's check records.
 */
#ifndef NDT_PROBE_H
#define NDT_PROBE_H

#include <stddef.h>
#include <stdint.h>

struct cfg_notify;
struct config;
struct health;
struct loop;
struct probes;

struct probes	*probes_new(struct loop *, const struct config *,
		    struct health *);
/* schedules every check (initial_delay, random first offset); 0 or -1 */
int		 probes_start(struct probes *);
void		 probes_free(struct probes *);

/* a one-shot HTTP request through the probes' libcurl multi handle, for the
 * drain's notify call. done() is called exactly once, from the loop. */
typedef void	 probes_done_cb(void *arg, int ok, const char *reason);
/* 0: done() will be called once, later, from the loop (ok: a 2xx answer);
 * -1: nothing started, done() is never called. A request still running at
 * probes_free() is abandoned without calling done(). */
int		 probes_notify(struct probes *, const struct cfg_notify *,
		    probes_done_cb *, void *arg);

/* the outcome of one run: log field and metric label
 * (nodowntime_check_runs_total{result}) */
enum probe_result {
	PROBE_OK,		/* passed */
	PROBE_FAIL,		/* answered, wrongly: status, body, exit code */
	PROBE_TIMEOUT,		/* no answer within the check's timeout */
	PROBE_ERROR,		/* no answer: refused, DNS, TLS, protocol */
	PROBE_NRESULTS
};
const char	*probe_result_str(enum probe_result);
/* runs of check i (config order) that ended with r, since start */
uint64_t	 probes_runs(const struct probes *, size_t i, enum probe_result);
/* TCP connections this process has opened to loopback addresses (its
 * checks of the app, the drain notify): the adaptive drain leaves them out
 * of the pod's new connections */
uint64_t	 probes_loopback_opens(void);

/*
 * grpc.health.v1 HealthCheckResponse decoding (pure, fuzzed): buf holds
 * the whole response body, one length-prefixed message. On GRPC_DEC_OK
 * *status is the status field (0 UNKNOWN, 1 SERVING, 2 NOT_SERVING,
 * 3 SERVICE_UNKNOWN, other values as sent) or -1 if the field is absent;
 * a negative value on the wire is GRPC_DEC_MALFORMED.
 */
enum grpc_decode {
	GRPC_DEC_OK,
	GRPC_DEC_EMPTY,		/* no message at all */
	GRPC_DEC_TRUNCATED,	/* prefix or message cut short */
	GRPC_DEC_TOOBIG,	/* declared length over GRPC_MSG_MAX */
	GRPC_DEC_COMPRESSED,	/* compressed flag: we never ask for it */
	GRPC_DEC_TRAILING,	/* bytes after the one message */
	GRPC_DEC_MALFORMED	/* not a valid protobuf message */
};
#define GRPC_MSG_MAX	1024
const char	*grpc_decode_str(enum grpc_decode);
enum grpc_decode grpc_decode_response(const uint8_t *, size_t, int *status);
/* "SERVING", "NOT_SERVING"...; NULL for values outside the enum */
const char	*grpc_health_str(int status);
/* "OK", "NOT_FOUND"...; NULL outside 0-16 */
const char	*grpc_code_str(int code);

#endif
