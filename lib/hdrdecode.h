/*
 * hdrdecode: header fields for searching. hdr_next() walks the fields of a
 * header block; hdr_unfold() joins a folded value; hdr_decode_utf8()
 * decodes RFC 2047 encoded words in a value to UTF-8 by
 * libetpan (mailmime_encoded_phrase_parse, iconv underneath), so that
 * SEARCH SUBJECT/FROM/... find "héllo" in "=?UTF-8?Q?h=C3=A9llo?=".
 *
 * hdr_decode_utf8() returns a malloc'd NUL-terminated UTF-8 string the
 * caller frees, or NULL when the value has no encoded word (nothing to
 * decode: use the raw value), when it cannot be decoded, or when out of
 * memory. Raw 8-bit bytes outside encoded words do not survive the
 * decoding (they are replaced), so callers match the raw value as well.
 */
#ifndef CAPMAIL_HDRDECODE_H
#define CAPMAIL_HDRDECODE_H

#include <stddef.h>

#define HDR_DECODE_MAX 65536	/* longer values are not decoded */

char *hdr_decode_utf8(const char *s, size_t len);

/* Walks the fields of the header block [h, h+len): set it->h, it->len and
 * it->pos = 0, then each hdr_next() gives a field's name (without the
 * colon or the blanks before it) and its raw value (after the colon, up to
 * and without the line end that ends the field; folded lines keep their
 * CRLF). Returns 1 for a field, 0 at the end (an empty line or the end of
 * the block). Lines without a colon are skipped. */
struct hdr_iter {
	const char *h;
	size_t len, pos;
};
int hdr_next(struct hdr_iter *it, const char **name, size_t *nlen,
    const char **value, size_t *vlen);

/* The value without its CR and LF bytes (RFC 5322 unfolding), NUL-
 * terminated, malloc'd; *len_r is its length. NULL when out of memory. */
char *hdr_unfold(const char *v, size_t vlen, size_t *len_r);

#endif
