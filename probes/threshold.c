/*
 * threshold.c - rise/fall: a check changes status only after `rise`
 * consecutive passes or `fall` consecutive failures. From unknown, the first
 * of the two counts to reach its threshold decides. Pure; unit-tested.
 */
#include <limits.h>

#include "probe_impl.h"

enum check_status
threshold_step(enum check_status cur, int ok, unsigned rise, unsigned fall,
    unsigned *consec_ok, unsigned *consec_fail)
{
	if (rise == 0)
		rise = 1;
	if (fall == 0)
		fall = 1;
	if (ok) {
		*consec_fail = 0;
		if (*consec_ok < UINT_MAX)
			(*consec_ok)++;
		if (cur != CHECK_PASSING && *consec_ok >= rise)
			return CHECK_PASSING;
	} else {
		*consec_ok = 0;
		if (*consec_fail < UINT_MAX)
			(*consec_fail)++;
		if (cur != CHECK_FAILING && *consec_fail >= fall)
			return CHECK_FAILING;
	}
	return cur;
}
