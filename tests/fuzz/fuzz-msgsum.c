/*
 * Fuzz target for msgsum_parse(): any bytes must parse (or fail only with
 * CM_ENOMEM) and give offsets within the input and renderings that are
 * non-empty parenthesised IMAP values.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msgsum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgsum *s = NULL;

	if (msgsum_parse((const char *)data, size, &s) != 0)
		return 0;
	if (s->header_len > size || s->envelope[0] != '(' ||
	    s->bodystructure[0] != '(' || s->body[0] != '(' ||
	    s->nparts > MSGSUM_MAX_PARTS)
		abort();
	for (size_t i = 0; i < s->nparts; i++) {
		const struct msgsum_part *p = &s->parts[i];
		if (p->hdr_off > p->body_off || p->body_off > p->end_off ||
		    p->end_off > size || memchr(p->path, '\0',
		    sizeof(p->path)) == NULL)
			abort();
	}
	msgsum_free(&s);
	return 0;
}
