/*
 * imap-util: small pure helpers of the IMAP server, no I/O:
 *
 *  - sequence sets ("1:3,7,9:*"): parsed with overflow checks into ranges
 *    of uint32 (a "*" is kept as IMAP_SEQ_STAR and resolved later against
 *    the mailbox, where it means the largest number in use);
 *  - the IMAP date forms: date-time ("17-Jul-1996 02:44:25 -0700", APPEND
 *    and INTERNALDATE) and date ("1-Feb-1994", SEARCH);
 *  - flags: a flag is "\" followed by an atom, or a keyword atom;
 *  - rendering of strings as quoted strings or literals (8-bit, CR, LF,
 *    NUL or too long -> literal) and of NIL;
 *  - base64 decoding (AUTHENTICATE) and mailbox wildcard matching (LIST);
 *  - the line that ends IDLE (RFC 2177).
 */
#ifndef CAPMAIL_IMAP_UTIL_H
#define CAPMAIL_IMAP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

#define IMAP_SEQ_STAR UINT32_MAX
#define IMAP_SEQSET_MAX_RANGES 10000

struct imap_seq_range {
	uint32_t lo, hi;	/* as written; either may be IMAP_SEQ_STAR */
};

struct imap_seqset {
	struct imap_seq_range *r;
	size_t n;
};

/* Parse s (len bytes). Numbers are 1..4294967295 (4294967295 itself is
 * refused: it is "*"). Returns 0 or CM_EPARSE / CM_ETOOBIG / CM_ENOMEM. */
int imap_seqset_parse(const char *s, size_t len, struct imap_seqset *set_r);
void imap_seqset_free(struct imap_seqset *set);
/* Does the set contain v, with "*" meaning star_value? */
int imap_seqset_contains(const struct imap_seqset *set, uint32_t v,
    uint32_t star_value);

/* date-time -> time_t (UTC). Returns 0 or CM_EPARSE. */
int imap_datetime_parse(const char *s, size_t len, time_t *t_r);
/* date ("1-Feb-1994", day 1 or 2 digits) -> midnight UTC of that day. */
int imap_date_parse(const char *s, size_t len, time_t *t_r);
/* "dd-Mon-yyyy hh:mm:ss +0000" (26 bytes + NUL). */
void imap_datetime_format(time_t t, char out[32]);

/* Is s a valid flag (system flag or keyword)? System flags are only the
 * five of RFC 3501 (\Recent cannot be stored); a keyword is an atom of at
 * most IMAP_MAX_KEYWORD bytes. */
int imap_flag_valid(const char *s);

/* Flags given as a list's elements (atoms): checked with
 * imap_flag_valid, system flags in canonical case, duplicates dropped,
 * appended space-separated to b. CM_EPARSE for a bad flag, CM_ETOOBIG
 * for more than IMAP_MAX_FLAGS. */
#define IMAP_MAX_FLAGS 100	/* also a CHECK in the store, per message */
#define IMAP_MAX_KEYWORD 64	/* bytes; a longer keyword is invalid */
struct imap_arg;
/* Is flag (case-insensitive) in the space-separated list flags? */
int imap_flags_have(const char *flags, const char *flag);
int imap_flags_collect(const struct imap_arg *list, size_t n, struct buf *b);
/* What to print after a message's stored flags inside FLAGS (...): ""
 * when not recent, else "\\Recent" (with a space when flags is not
 * empty). \Recent is session state and never part of the stored flags. */
const char *imap_flags_recent(const char *flags, int recent);

/* Append s as an IMAP string: quoted when it can be, else a literal. */
int imap_append_string(struct buf *out, const char *s, size_t len);
/* Same, but NULL gives NIL. */
int imap_append_nstring(struct buf *out, const char *s, size_t len);
/* Append s as an astring: a bare atom when it is one, else a string. */
int imap_append_astring(struct buf *out, const char *s, size_t len);
/* Append a literal "{len}\r\n" + bytes. */
int imap_append_literal(struct buf *out, const char *s, size_t len);

/* Decode base64 (RFC 4648, padding required when the length is not a
 * multiple of 4). Returns the decoded length or CM_EPARSE. out must hold
 * len / 4 * 3 + 3 bytes. */
long imap_base64_decode(const char *in, size_t len, unsigned char *out);

/* LIST pattern matching: '*' matches anything, '%' anything but the
 * hierarchy delimiter '/'. name and pattern are NUL-terminated. */
int imap_list_match(const char *pattern, const char *name);

/* ASCII case-insensitive substring search; returns 1 when needle (nlen
 * bytes) occurs in hay (hlen bytes). An empty needle always matches. */
int imap_memcasemem(const char *hay, size_t hlen, const char *needle,
    size_t nlen);

/* Is line (len bytes, without its CRLF) the "DONE" that ends IDLE (RFC
 * 2177: exactly DONE, ASCII case-insensitive like every ABNF literal;
 * no spaces)? */
int imap_idle_done(const char *line, size_t len);

#endif
