/*
 * fuzz_grpc - what a gRPC health server sends back: the response body
 * decoder (grpc_decode_response) and the header/trailer line parser
 * (grpc_parse_header, reached with -DUNITTEST), both on the whole input.
 *
 * Properties: the decoder's result is in range, with GRPC_DEC_OK the
 * status is -1 (absent) or an int32 >= 0 (*status is only promised on
 * GRPC_DEC_OK); a grpc-status parse gives a code >= 0; grpc-message is
 * NUL-terminated within its buffer, without control characters.
 */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "probes/probe.h"
#include "probes/probe_impl.h"

int	LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	enum grpc_decode d;
	uint8_t *b;
	char *line, msg[128];
	int status = 12345, code = 12345, r;
	size_t i;

	/* exact-size heap copies: ASan sees any overread */
	if ((b = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(b, data, size);
	d = grpc_decode_response(b, size, &status);
	if ((unsigned)d > GRPC_DEC_MALFORMED || grpc_decode_str(d) == NULL)
		abort();
	if (d == GRPC_DEC_OK && status < -1)
		abort();
	(void)grpc_health_str(status);
	free(b);

	if ((line = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	memset(msg, 'X', sizeof(msg));
	r = grpc_parse_header(line, size, &code, msg, sizeof(msg));
	if (r == 1 && (code < 0 || code == 12345))
		abort();
	if (r == 1)
		(void)grpc_code_str(code);
	if (r == 2) {
		if (memchr(msg, '\0', sizeof(msg)) == NULL)
			abort();
		for (i = 0; msg[i] != '\0'; i++)
			if (iscntrl((unsigned char)msg[i]))
				abort();
	}
	free(line);
	return 0;
}
