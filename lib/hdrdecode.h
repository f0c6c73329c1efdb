/*
 * hdrdecode: RFC 2047 encoded words in header values, decoded to UTF-8 by
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

#endif
