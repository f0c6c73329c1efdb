/*
 * Fuzz target for challenge_facts_read() (the header of a message from
 * the network): any bytes must give facts with a well-formed message_id
 * ("" or "<...>" within its buffer), never a crash or a read past len
 * (the input is copied to a buffer of exactly its size for ASan).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "challenge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size > 0 ? size : 1);
	struct challenge_facts f;
	size_t n;

	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	challenge_facts_read(in, size, &f);
	n = strnlen(f.message_id, sizeof f.message_id);
	if (n == sizeof f.message_id ||
	    (n > 0 && (f.message_id[0] != '<' || f.message_id[n - 1] != '>')))
		abort();
	(void)challenge_wanted("a@b.example", &f);
	free(in);
	return 0;
}
