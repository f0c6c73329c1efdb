/*
 * hdrdecode: RFC 2047 decoding of header values. See hdrdecode.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "hdrdecode.h"

char *
hdr_decode_utf8(const char *s, size_t len)
{
	size_t idx = 0;
	char *copy, *out = NULL;

	if (len < 8 || len > HDR_DECODE_MAX || memmem(s, len, "=?", 2) == NULL)
		return NULL;
	/* libetpan wants a string it may read to its end: give it one
	 * that has no NUL inside and ends where len says. */
	if (memchr(s, '\0', len) != NULL || (copy = strndup(s, len)) == NULL)
		return NULL;
	if (mailmime_encoded_phrase_parse("us-ascii", copy, len, &idx,
	    "utf-8", &out) != MAILIMF_NO_ERROR)
		out = NULL;
	free(copy);
	return out;
}
