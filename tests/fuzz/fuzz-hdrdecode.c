/*
 * Fuzz target for hdr_decode_utf8() (header values from the network,
 * decoded by libetpan for SEARCH): any bytes must give NULL or a
 * NUL-terminated string, never a crash or an out-of-bounds read. The
 * input is copied to a buffer of exactly its size so that ASan catches a
 * read past len.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hdrdecode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size > 0 ? size : 1);
	char *out;

	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	out = hdr_decode_utf8(in, size);
	if (out != NULL && strlen(out) > 4 * (size_t)HDR_DECODE_MAX)
		abort();
	free(out);
	free(in);
	return 0;
}
