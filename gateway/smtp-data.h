/*
 * smtp-data: the DATA body decoder (RFC 5321 4.1.1.4, 4.5.2), pure: it is
 * fed bytes and answers how many it consumed and whether the end-of-data
 * line was seen. No I/O, so it is tested one byte at a time and fuzzed.
 *
 * Strict CRLF: only CR LF ends a line. A bare LF or a bare CR is message
 * data, never a line end, so "\n.\n", "\r.\r" or "\n.\r\n" never end the
 * data (SMTP smuggling). The data ends with a line that is exactly "."
 * (the CRLF before it belongs to the message; the decoder starts at the
 * beginning of a line, right after the DATA command's CRLF). A leading
 * "." on any other line is removed (dot-stuffing).
 *
 * The un-dot-stuffed message is appended to the caller's buffer, at most
 * `limit` bytes. Bytes past the limit are read and discarded until the
 * end line, and `overflow` is set: the caller answers 552 5.3.4 and
 * stores nothing. Bytes after the end line are not consumed.
 *
 * smtp_data_raw() is the same limit for BDAT chunks (RFC 3030), whose
 * bytes are taken as they are: no dot-stuffing, no end line.
 */
#ifndef CAPMAIL_SMTP_DATA_H
#define CAPMAIL_SMTP_DATA_H

#include <stddef.h>

#include "buf.h"

struct smtp_data {
	int state;		/* private */
	unsigned overflow:1;	/* the message passed the limit */
	unsigned done:1;	/* the end line was seen */
	size_t limit;		/* hard limit on the message bytes in out */
	size_t len;		/* message bytes appended to out */
	struct buf *out;	/* not owned */
};

enum { SMTP_DATA_MORE = 0, SMTP_DATA_END = 1 };

void smtp_data_init(struct smtp_data *d, struct buf *out, size_t limit);
/* Feed n bytes. *consumed_r is set to the bytes used (all of them unless
 * the end line was seen within them). Returns SMTP_DATA_MORE,
 * SMTP_DATA_END, or CM_ENOMEM (then the decoder is unusable). */
int smtp_data_feed(struct smtp_data *d, const char *p, size_t n,
    size_t *consumed_r);

/* Append n raw bytes (a BDAT chunk) under the limit. Returns 0 (check
 * d->overflow) or CM_ENOMEM. */
int smtp_data_raw(struct smtp_data *d, const char *p, size_t n);

#endif
