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
	if (memchr(s, '\0', len) != NULL || (copy = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	if (mailmime_encoded_phrase_parse("us-ascii", copy, len, &idx,
	    "utf-8", &out) != MAILIMF_NO_ERROR)
		out = NULL;
	free(copy);
	return out;
}

int
hdr_next(struct hdr_iter *it, const char **name, size_t *nlen,
    const char **value, size_t *vlen)
{
	const char *h = it->h;
	size_t len = it->len;

	while (it->pos < len) {
		size_t start = it->pos, end = start, colon, n;

		if (h[start] == '\n' || (h[start] == '\r' && start + 1 < len &&
		    h[start + 1] == '\n'))
			return 0;		/* the empty line */
		/* the field runs to a line end not followed by a blank */
		for (;;) {
			const char *e = memchr(h + end, '\n', len - end);
			if (e == NULL) {
				end = len;
				break;
			}
			end = (size_t)(e - h) + 1;
			if (end >= len || (h[end] != ' ' && h[end] != '\t'))
				break;
		}
		it->pos = end;
		for (colon = start; colon < end && h[colon] != ':'; colon++)
			;
		if (colon == end)
			continue;
		n = colon - start;
		while (n > 0 && (h[start + n - 1] == ' ' ||
		    h[start + n - 1] == '\t'))
			n--;
		*name = h + start;
		*nlen = n;
		*value = h + colon + 1;
		/* without the line end that ends the field */
		if (end > colon + 1 && h[end - 1] == '\n')
			end--;
		if (end > colon + 1 && h[end - 1] == '\r')
			end--;
		*vlen = end - (colon + 1);
		return 1;
	}
	return 0;
}

char *
hdr_unfold(const char *v, size_t vlen, size_t *len_r)
{
	char *out = malloc(vlen + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < vlen; i++)
		if (v[i] != '\r' && v[i] != '\n')
			out[o++] = v[i];
	out[o] = '\0';
	*len_r = o;
	return out;
}
