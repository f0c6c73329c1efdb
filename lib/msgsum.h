/*
 * msgsum: parse a message once at ingest (libetpan's mailimf and mailmime)
 * and produce what IMAP needs without reading the message again: the
 * ENVELOPE, BODYSTRUCTURE and BODY renderings (RFC 3501 section 7.4.2
 * grammar, ready to be sent), the Date, the size of the top-level header,
 * and byte offsets of every MIME part by IMAP section path. The same part
 * list tells the store where large leaf bodies start and end, so that they
 * can be stored as their own content-addressed objects.
 *
 * Never fails on malformed mail: what cannot be parsed is described as
 * text/plain (RFC 3501's default), and offsets always satisfy
 * hdr_off <= body_off <= end_off <= len. A multipart or message/rfc822
 * part nested deeper than MSGSUM_MAX_DEPTH is described as an opaque
 * application/octet-stream leaf; past MSGSUM_MAX_PARTS parts, the rest of
 * the message belongs to the parts still open.
 *
 * Offsets follow Dovecot byte for byte (checked against Dovecot 2.3 on the
 * shared corpus): BODY[n] is [body_off, end_off), BODY[n.MIME] is
 * [hdr_off, body_off); the [CR]LF before a delimiter line belongs to the
 * delimiter. BODYSTRUCTURE sizes and line counts are of these exact bytes
 * (Dovecot counts a bare LF as CRLF; we serve bytes as stored). Type,
 * subtype and encoding are upper case. ENVELOPE uses the last of repeated
 * fields, BODYSTRUCTURE the first Content-* field; strings that cannot be
 * quoted are literals, so a rendering may contain CRLF and 8-bit bytes,
 * never NUL (a NUL in a header is sent as 0x80, as Dovecot does).
 *
 * Paths: a message that is not multipart has one part "1" (its body:
 * hdr_off 0, body_off header_len, end_off len). A multipart message has
 * parts "1", "2", ... for its children (no entry for itself: that is
 * HEADER/TEXT), each child's children "1.1", ... A message/rfc822 part "2"
 * has entry "2" (kind MESSAGE) and the encapsulated message's parts below
 * it by the same rule: "2.1" is its body when it is not multipart, else
 * "2.1", "2.2", ... are its children. A nested multipart "1" has an entry
 * (kind MULTIPART, its body holds its children). Parts are listed
 * depth-first in document order; a part whose path would not fit in
 * path[] is left out with its children.
 *
 * The result and everything in it is owned by the caller:
 * msgsum_free(&s).
 */
#ifndef CAPMAIL_MSGSUM_H
#define CAPMAIL_MSGSUM_H

#include <stddef.h>
#include <time.h>

#define MSGSUM_MAX_DEPTH 32
#define MSGSUM_MAX_PARTS 2000

enum msgsum_kind {
	MSGSUM_LEAF,		/* text/..., application/..., ... */
	MSGSUM_MULTIPART,	/* multipart/... */
	MSGSUM_MESSAGE,		/* message/rfc822 (and message/global) */
};

struct msgsum_part {
	char path[96];		/* IMAP section path: "1", "1.2", "2.1.3" */
	enum msgsum_kind kind;
	size_t hdr_off;		/* start of the part's MIME header */
	size_t body_off;	/* start of its body */
	size_t end_off;		/* end of its body */
	size_t inner_body_off;	/* MESSAGE only: start of the encapsulated
				 * message's body */
};

struct msgsum {
	char *envelope;		/* "(date subject from sender ...)" */
	char *bodystructure;	/* with extension data */
	char *body;		/* without extension data */
	time_t date;		/* from Date:, 0 when missing or bad */
	char *subject;		/* raw Subject value, unfolded (line breaks
				 * removed), "" if none */
	size_t header_len;	/* top-level header incl. the blank line */
	struct msgsum_part *parts;
	size_t nparts;
};

/* Returns 0, or CM_ENOMEM. */
int msgsum_parse(const char *data, size_t len, struct msgsum **sum_r);
void msgsum_free(struct msgsum **sump);

#endif
