/*
 * test_grpc_decode.c - the gRPC health response decoder and the
 * grpc-status / grpc-message header parser (probes/grpc.c), on handmade
 * frames and on bytes captured from a grpcio health server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "probes/probe_impl.h"

static enum grpc_decode
dec(const void *b, size_t n, int *st)
{
	return grpc_decode_response(b, n, st);
}

static void
test_serving_captured(void **state)
{
	/* grpcio 1.51 answering Check for SERVING: 00 00000002 08 01 */
	static const uint8_t b[] = { 0, 0, 0, 0, 2, 0x08, 0x01 };
	int st;

	(void)state;
	assert_int_equal(dec(b, sizeof(b), &st), GRPC_DEC_OK);
	assert_int_equal(st, 1);
	assert_string_equal(grpc_health_str(st), "SERVING");
}

static void
test_not_serving_and_others(void **state)
{
	static const uint8_t ns[] = { 0, 0, 0, 0, 2, 0x08, 0x02 };
	static const uint8_t su[] = { 0, 0, 0, 0, 2, 0x08, 0x03 };
	static const uint8_t unk[] = { 0, 0, 0, 0, 2, 0x08, 0x00 };
	static const uint8_t big[] = { 0, 0, 0, 0, 3, 0x08, 0xac, 0x02 };
	/* -1 as an int32 enum: a ten-byte varint */
	static const uint8_t neg[] = { 0, 0, 0, 0, 11, 0x08, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	int st;

	(void)state;
	assert_int_equal(dec(ns, sizeof(ns), &st), GRPC_DEC_OK);
	assert_int_equal(st, 2);
	assert_string_equal(grpc_health_str(st), "NOT_SERVING");
	assert_int_equal(dec(su, sizeof(su), &st), GRPC_DEC_OK);
	assert_int_equal(st, 3);
	assert_int_equal(dec(unk, sizeof(unk), &st), GRPC_DEC_OK);
	assert_int_equal(st, 0);
	assert_string_equal(grpc_health_str(st), "UNKNOWN");
	assert_int_equal(dec(big, sizeof(big), &st), GRPC_DEC_OK);
	assert_int_equal(st, 300);
	assert_null(grpc_health_str(st));
	/* ServingStatus has no negative values */
	assert_int_equal(dec(neg, sizeof(neg), &st), GRPC_DEC_MALFORMED);
}

static void
test_missing_field(void **state)
{
	/* proto3 leaves a zero enum out: an empty message */
	static const uint8_t empty[] = { 0, 0, 0, 0, 0 };
	/* only an unknown field 2 (varint) and field 3 (bytes) */
	static const uint8_t other[] = { 0, 0, 0, 0, 5, 0x10, 0x05, 0x1a, 0x01,
	    'x' };
	/* the last status wins; unknown fixed64/fixed32 skipped */
	static const uint8_t multi[] = { 0, 0, 0, 0, 18, 0x08, 0x02, 0x11,
	    1, 2, 3, 4, 5, 6, 7, 8, 0x1d, 1, 2, 3, 4, 0x08, 0x01 };
	int st;

	(void)state;
	assert_int_equal(dec(empty, sizeof(empty), &st), GRPC_DEC_OK);
	assert_int_equal(st, -1);
	assert_int_equal(dec(other, sizeof(other), &st), GRPC_DEC_OK);
	assert_int_equal(st, -1);
	assert_int_equal(dec(multi, sizeof(multi), &st), GRPC_DEC_OK);
	assert_int_equal(st, 1);
}

static void
test_truncated_and_empty(void **state)
{
	static const uint8_t ok[] = { 0, 0, 0, 0, 2, 0x08, 0x01 };
	static const uint8_t cutvar[] = { 0, 0, 0, 0, 2, 0x08, 0x81 };
	size_t i;
	int st;

	(void)state;
	assert_int_equal(dec(ok, 0, &st), GRPC_DEC_EMPTY);
	for (i = 1; i < sizeof(ok); i++)
		assert_int_equal(dec(ok, i, &st), GRPC_DEC_TRUNCATED);
	assert_int_equal(dec(cutvar, sizeof(cutvar), &st),
	    GRPC_DEC_MALFORMED);
}

static void
test_oversized_compressed_trailing(void **state)
{
	static const uint8_t huge[] = { 0, 0xff, 0xff, 0xff, 0xff, 0x08, 1 };
	static const uint8_t over[] = { 0, 0, 0, 0x04, 0x01, 0x08, 1 };
	static const uint8_t comp[] = { 1, 0, 0, 0, 2, 0x08, 0x01 };
	static const uint8_t flag[] = { 0x80, 0, 0, 0, 2, 0x08, 0x01 };
	static const uint8_t two[] = { 0, 0, 0, 0, 2, 0x08, 0x01, 0, 0, 0, 0,
	    0 };
	int st;

	(void)state;
	assert_int_equal(dec(huge, sizeof(huge), &st), GRPC_DEC_TOOBIG);
	assert_int_equal(dec(over, sizeof(over), &st), GRPC_DEC_TOOBIG);
	assert_int_equal(dec(comp, sizeof(comp), &st), GRPC_DEC_COMPRESSED);
	assert_int_equal(dec(flag, sizeof(flag), &st), GRPC_DEC_MALFORMED);
	assert_int_equal(dec(two, sizeof(two), &st), GRPC_DEC_TRAILING);
}

static void
test_garbage(void **state)
{
	static const uint8_t field0[] = { 0, 0, 0, 0, 2, 0x00, 0x01 };
	static const uint8_t group[] = { 0, 0, 0, 0, 2, 0x0b, 0x0c };
	static const uint8_t wt7[] = { 0, 0, 0, 0, 2, 0x0f, 0x01 };
	static const uint8_t lenover[] = { 0, 0, 0, 0, 3, 0x1a, 0x05, 'x' };
	static const uint8_t statusbytes[] = { 0, 0, 0, 0, 3, 0x0a, 0x01, 1 };
	static const uint8_t longvar[] = { 0, 0, 0, 0, 12, 0x08, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const uint8_t fix[] = { 0, 0, 0, 0, 4, 0x11, 1, 2, 3 };
	static const char http[] = "HTTP/1.1 200 OK\r\n\r\n";
	uint8_t rnd[64];
	size_t i, j;
	uint32_t x = 12345;
	int st;

	(void)state;
	assert_int_equal(dec(field0, sizeof(field0), &st), GRPC_DEC_MALFORMED);
	assert_int_equal(dec(group, sizeof(group), &st), GRPC_DEC_MALFORMED);
	assert_int_equal(dec(wt7, sizeof(wt7), &st), GRPC_DEC_MALFORMED);
	assert_int_equal(dec(lenover, sizeof(lenover), &st),
	    GRPC_DEC_MALFORMED);
	assert_int_equal(dec(statusbytes, sizeof(statusbytes), &st),
	    GRPC_DEC_MALFORMED);
	assert_int_equal(dec(longvar, sizeof(longvar), &st),
	    GRPC_DEC_MALFORMED);
	assert_int_equal(dec(fix, sizeof(fix), &st), GRPC_DEC_MALFORMED);
	assert_int_not_equal(dec(http, sizeof(http) - 1, &st), GRPC_DEC_OK);
	/* random bytes never crash and never read out of bounds (ASan) */
	for (i = 0; i < 20000; i++) {
		for (j = 0; j < sizeof(rnd); j++) {
			x = x * 1103515245u + 12345u;
			rnd[j] = (uint8_t)(x >> 16);
		}
		rnd[0] = 0;
		rnd[1] = rnd[2] = rnd[3] = 0;
		rnd[4] = (uint8_t)(x % 64);
		(void)dec(rnd, 5 + (x >> 8) % 60, &st);
	}
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(grpc_code_str(0), "OK");
	assert_string_equal(grpc_code_str(5), "NOT_FOUND");
	assert_string_equal(grpc_code_str(16), "UNAUTHENTICATED");
	assert_null(grpc_code_str(17));
	assert_null(grpc_code_str(-1));
	assert_string_equal(grpc_decode_str(GRPC_DEC_TRUNCATED),
	    "truncated response");
}

static void
test_parse_header(void **state)
{
	char msg[16];
	int code = -1;

	(void)state;
	assert_int_equal(grpc_parse_header("grpc-status: 0\r\n", 16, &code,
	    msg, sizeof(msg)), 1);
	assert_int_equal(code, 0);
	assert_int_equal(grpc_parse_header("Grpc-Status:12\r\n", 16, &code,
	    msg, sizeof(msg)), 1);
	assert_int_equal(code, 12);
	code = -1;
	assert_int_equal(grpc_parse_header("grpc-status: x1\r\n", 17, &code,
	    msg, sizeof(msg)), 0);
	assert_int_equal(grpc_parse_header("grpc-status: \r\n", 15, &code,
	    msg, sizeof(msg)), 0);
	assert_int_equal(grpc_parse_header("grpc-status: 99999999999\r\n",
	    26, &code, msg, sizeof(msg)), 0);
	assert_int_equal(code, -1);
	assert_int_equal(grpc_parse_header("content-type: application/grpc"
	    "\r\n", 32, &code, msg, sizeof(msg)), 0);
	/* percent-decoded, control bytes dropped, cut to the buffer */
	assert_int_equal(grpc_parse_header("grpc-message: unknown%20service"
	    "%0a!\r\n", 37, &code, msg, sizeof(msg)), 2);
	assert_string_equal(msg, "unknown service");
	assert_int_equal(grpc_parse_header("grpc-message: a%2", 17, &code,
	    msg, sizeof(msg)), 2);
	assert_string_equal(msg, "a%2");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serving_captured),
		cmocka_unit_test(test_not_serving_and_others),
		cmocka_unit_test(test_missing_field),
		cmocka_unit_test(test_truncated_and_empty),
		cmocka_unit_test(test_oversized_compressed_trailing),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_parse_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
