/* test_statefile.c - the drain state file: round trip, corrupt files,
 * elapsed time across wall-clock jumps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/statefile.h"

static char dir[64];
static char path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ndt-sf-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/state", dir);
	return 0;
}

static int
teardown(void **state)
{
	char tmp[160];

	(void)state;
	unlink(path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	rmdir(dir);
	return 0;
}

static void
write_raw(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_round_trip(void **state)
{
	struct statefile in, out;
	struct stat st;
	char err[128], tmp[160];

	(void)state;
	memset(&in, 0, sizeof(in));
	in.sf_phase = DRAIN_QUIESCING;
	in.sf_drain_start = 1764165355123;
	in.sf_phase_start = 1764165360123;
	in.sf_drain_elapsed = 5120;
	in.sf_phase_elapsed = 120;
	in.sf_written = 1764165360243;
	in.sf_delay_ms = 5000;
	in.sf_max_wait_ms = 20000;
	memcpy(in.sf_by, "prestop", 8);
	assert_int_equal(statefile_write(path, &in), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);	/* renamed away */
	assert_int_equal(statefile_read(path, &out, err, sizeof(err)), 0);
	assert_memory_equal(&in, &out, sizeof(in));

	/* replaced in place */
	in.sf_phase = DRAIN_SERVING;
	in.sf_drain_start = in.sf_phase_start = 0;
	assert_int_equal(statefile_write(path, &in), 0);
	assert_int_equal(statefile_read(path, &out, err, sizeof(err)), 0);
	assert_int_equal(out.sf_phase, DRAIN_SERVING);
	assert_int_equal(out.sf_delay_ms, 5000);
	assert_string_equal(out.sf_by, "prestop");

	/* who began the drain may be unrecorded ("-") */
	in.sf_by[0] = '\0';
	assert_int_equal(statefile_write(path, &in), 0);
	assert_int_equal(statefile_read(path, &out, err, sizeof(err)), 0);
	assert_string_equal(out.sf_by, "");
}

static void
test_missing(void **state)
{
	struct statefile sf;
	char err[128];

	(void)state;
	assert_int_equal(statefile_read(path, &sf, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
}

static void
expect_corrupt(const char *text)
{
	struct statefile sf;
	char err[128] = "";

	write_raw(text);
	assert_int_equal(statefile_read(path, &sf, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_true(err[0] != '\0');
}

static void
test_corrupt(void **state)
{
	char big[STATEFILE_MAX + 10];

	(void)state;
	expect_corrupt("");
	expect_corrupt("garbage\n");
	expect_corrupt("nodowntime-state 2\nphase serving\ndelay_ms 1\n");
	expect_corrupt("nodowntime-state 1\nphase sleeping\ndelay_ms 1\n");
	expect_corrupt("nodowntime-state 1\ndelay_ms 1\n");	/* no phase */
	expect_corrupt("nodowntime-state 1\nphase serving\n"); /* no delay */
	expect_corrupt("nodowntime-state 1\nphase draining\ndelay_ms 1\n");
	expect_corrupt("nodowntime-state 1\nphase serving\ndelay_ms -5\n");
	expect_corrupt("nodowntime-state 1\nphase serving\ndelay_ms 5x\n");
	expect_corrupt("nodowntime-state 1\nphase serving\ndelay_ms "
	    "99999999999999999999999\n");
	expect_corrupt("nodowntime-state 1\nphase\n");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_corrupt(big);
}

static void
test_lenient(void **state)
{
	struct statefile sf;
	char err[128];

	(void)state;
	/* unknown keys (a newer agent) and no final newline */
	write_raw("nodowntime-state 1\nphase drained\nfuture_key 7\n"
	    "drain_start 100\ndelay_ms 250");
	assert_int_equal(statefile_read(path, &sf, err, sizeof(err)), 0);
	assert_int_equal(sf.sf_phase, DRAIN_DRAINED);
	assert_int_equal(sf.sf_drain_start, 100);
	assert_int_equal(sf.sf_delay_ms, 250);
}

/* the listener inodes: written, read back; an old file (none) still parses;
 * more than STATEFILE_INO_MAX lines keep the first ones */
static void
test_listen_inodes(void **state)
{
	struct statefile in, out;
	char err[128], text[STATEFILE_MAX];
	unsigned i;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.sf_phase = DRAIN_DRAINED;
	in.sf_drain_start = 1000;
	in.sf_delay_ms = 5000;
	in.sf_nino = 2;
	in.sf_listen_ino[0] = 31337;
	in.sf_listen_ino[1] = 4294967301UL;	/* past 32 bits */
	assert_int_equal(statefile_write(path, &in), 0);
	assert_int_equal(statefile_read(path, &out, err, sizeof(err)), 0);
	assert_int_equal(out.sf_nino, 2);
	assert_int_equal(out.sf_listen_ino[0], 31337);
	assert_int_equal(out.sf_listen_ino[1], 4294967301UL);
	assert_true(statefile_format(&in, text, sizeof(text)) > 0);
	assert_non_null(strstr(text, "\nlisten_inode 31337\n"));

	/* a file from before listen_inode: no inodes, no error */
	write_raw("nodowntime-state 1\nphase drained\ndrain_start 100\n"
	    "delay_ms 250\nby prestop\n");
	assert_int_equal(statefile_read(path, &out, err, sizeof(err)), 0);
	assert_int_equal(out.sf_nino, 0);
	assert_string_equal(out.sf_by, "prestop");

	/* too many: the first STATEFILE_INO_MAX; 0 is no inode */
	snprintf(text, sizeof(text), "nodowntime-state 1\nphase drained\n"
	    "drain_start 100\ndelay_ms 250\nlisten_inode 0\n");
	for (i = 1; i <= STATEFILE_INO_MAX + 3; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "listen_inode %u\n", i);
	write_raw(text);
	assert_int_equal(statefile_read(path, &out, err, sizeof(err)), 0);
	assert_int_equal(out.sf_nino, STATEFILE_INO_MAX);
	assert_int_equal(out.sf_listen_ino[0], 1);
	assert_int_equal(out.sf_listen_ino[STATEFILE_INO_MAX - 1],
	    STATEFILE_INO_MAX);
}

static void
test_elapsed(void **state)
{
	struct statefile sf;
	uint64_t d, p;

	(void)state;
	memset(&sf, 0, sizeof(sf));
	sf.sf_drain_start = 10000;
	sf.sf_phase_start = 12000;
	sf.sf_drain_elapsed = 3000;
	sf.sf_phase_elapsed = 1000;
	/* the wall clock says more time passed: believe it */
	statefile_elapsed(&sf, 20000, &d, &p);
	assert_int_equal(d, 10000);
	assert_int_equal(p, 8000);
	/* set back below what was already recorded: never less */
	statefile_elapsed(&sf, 11000, &d, &p);
	assert_int_equal(d, 3000);
	assert_int_equal(p, 1000);
	statefile_elapsed(&sf, 5000, &d, &p);
	assert_int_equal(d, 3000);
	assert_int_equal(p, 1000);
}

static void
test_phase_names(void **state)
{
	enum drain_phase p;

	(void)state;
	assert_string_equal(statefile_phase_str(DRAIN_DRAINING), "draining");
	assert_null(statefile_phase_str((enum drain_phase)9));
	assert_int_equal(statefile_phase_parse("quiescing", &p), 0);
	assert_int_equal(p, DRAIN_QUIESCING);
	assert_int_equal(statefile_phase_parse("Drained", &p), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lenient, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_inodes, setup,
		    teardown),
		cmocka_unit_test(test_elapsed),
		cmocka_unit_test(test_phase_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
