/*
 * bodytext: the text of a MIME leaf as a reader sees it, for SEARCH BODY
 * and TEXT: its Content-Transfer-Encoding undone (base64, quoted-printable)
 * and its charset converted to UTF-8, by libetpan (mailmime_part_parse,
 * charconv_buffer, iconv underneath).
 *
 * bodytext_utf8() takes the part's MIME header [hdr, hdr+hlen) (for a
 * message that is not multipart, the message header) and its body. It
 * returns a malloc'd, NUL-terminated UTF-8 string (*len_r its length, the
 * caller frees it) when there is something to decode, or NULL when there
 * is not (7bit/8bit/binary text in us-ascii or utf-8: search the raw
 * bytes), when the part is not text (text/... or no Content-Type), when
 * the body is larger than BODYTEXT_MAX, or when decoding fails.
 */
#ifndef CAPMAIL_BODYTEXT_H
#define CAPMAIL_BODYTEXT_H

#include <stddef.h>

#define BODYTEXT_MAX ((size_t)32 << 20)

char *bodytext_utf8(const char *hdr, size_t hlen, const char *body,
    size_t blen, size_t *len_r);

#endif
